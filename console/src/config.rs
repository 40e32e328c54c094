//! `[console]` in the configuration file: where the console listens, who may read without a
//! token, the console database, session and body limits, query bounds and the live feed's
//! buffer.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Console settings (`[console]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Address and port the HTTP server binds. Default `127.0.0.1:8080` (put a reverse proxy
    /// with TLS in front of it to serve other hosts).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// MQTT client id of the live feed's subscription (a persistent session, so a dropped
    /// connection loses no alert change). Default `riverwatch-console`.
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// The console database (tokens and sessions) in the data directory. Default
    /// `console.db`.
    #[serde(default = "default_database")]
    pub database: String,
    /// Whether requests without a token may read (as a viewer of no province). Default
    /// false.
    #[serde(default)]
    pub anonymous_read: bool,
    /// Lifetime of a page session after signing in, seconds. Default 43200 (12 h, a duty
    /// shift).
    #[serde(default = "default_session_ttl_secs")]
    pub session_ttl_secs: u64,
    /// Whether the session cookie carries `Secure` (set it when the console is served over
    /// HTTPS, e.g. behind nginx). Default false.
    #[serde(default)]
    pub secure_cookie: bool,
    /// Largest request body accepted, bytes; larger ones get 413. Default 16384.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Live-feed messages kept for clients that reconnect with `Last-Event-ID`. Default
    /// 10000.
    #[serde(default = "default_replay_events")]
    pub replay_events: usize,
    /// Seconds between keep-alive comments on the live feed. Default 15.
    #[serde(default = "default_keep_alive_secs")]
    pub keep_alive_secs: u64,
    /// A station is shown as stale when its last reading is older than this many of its
    /// reporting intervals. Default 2.
    #[serde(default = "default_stale_after_intervals")]
    pub stale_after_intervals: u32,
    /// Largest readings query, in days between `from` and `to`. Default 32.
    #[serde(default = "default_max_query_days")]
    pub max_query_days: u32,
    /// Most readings one query returns (the default and the largest `limit`); a longer
    /// result is cut and says so (`truncated`). Default 100000 (more than a station-month
    /// of one parameter at one-minute resolution).
    #[serde(default = "default_max_query_readings")]
    pub max_query_readings: usize,
    /// Header carrying the client's address when a reverse proxy sets it (e.g.
    /// `X-Real-IP`), used to slow down repeated bad tokens per client. Unset (the default):
    /// the connection's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_address_header: Option<String>,
}

fn default_listen() -> String {
    "127.0.0.1:8080".to_string()
}

fn default_client_id() -> String {
    "riverwatch-console".to_string()
}

fn default_database() -> String {
    "console.db".to_string()
}

const fn default_session_ttl_secs() -> u64 {
    12 * 3600
}

const fn default_max_body_bytes() -> usize {
    16 * 1024
}

const fn default_replay_events() -> usize {
    10_000
}

const fn default_keep_alive_secs() -> u64 {
    15
}

const fn default_stale_after_intervals() -> u32 {
    2
}

const fn default_max_query_days() -> u32 {
    32
}

const fn default_max_query_readings() -> usize {
    100_000
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            client_id: default_client_id(),
            database: default_database(),
            client_address_header: None,
            anonymous_read: false,
            session_ttl_secs: default_session_ttl_secs(),
            secure_cookie: false,
            max_body_bytes: default_max_body_bytes(),
            replay_events: default_replay_events(),
            keep_alive_secs: default_keep_alive_secs(),
            stale_after_intervals: default_stale_after_intervals(),
            max_query_days: default_max_query_days(),
            max_query_readings: default_max_query_readings(),
        }
    }
}

/// A `[console]` setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `listen` is not `address:port`.
    #[error("listen `{0}` is not address:port, e.g. 127.0.0.1:8080")]
    Listen(String),
    /// A number that must be positive is zero.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    /// The client id is not a valid MQTT client id.
    #[error("client_id: {0}")]
    ClientId(String),
    /// The database name is not a plain file name.
    #[error("database `{0}` must be a file name in the data directory")]
    Database(String),
    /// The client address header is not a header name.
    #[error("client_address_header `{0}` is not a header name")]
    Header(String),
}

impl ConsoleConfig {
    /// Fast, small settings for tests: a free loopback port, a short keep-alive, a small
    /// replay buffer.
    pub fn test_config() -> Self {
        Self {
            listen: "127.0.0.1:0".to_string(),
            keep_alive_secs: 1,
            replay_events: 256,
            ..Self::default()
        }
    }

    /// Checks what can be checked without I/O and returns the address to bind.
    ///
    /// # Errors
    /// The first problem found.
    pub fn validate(&self) -> Result<SocketAddr, ConfigError> {
        let addr: SocketAddr = self
            .listen
            .parse()
            .map_err(|_| ConfigError::Listen(self.listen.clone()))?;
        for (name, v) in [
            ("session_ttl_secs", self.session_ttl_secs),
            ("max_body_bytes", self.max_body_bytes as u64),
            ("replay_events", self.replay_events as u64),
            ("keep_alive_secs", self.keep_alive_secs),
            (
                "stale_after_intervals",
                u64::from(self.stale_after_intervals),
            ),
            ("max_query_days", u64::from(self.max_query_days)),
            ("max_query_readings", self.max_query_readings as u64),
        ] {
            if v == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        riverwatch_core::mqtt::check_client_id(&self.client_id)
            .map_err(|e| ConfigError::ClientId(e.to_string()))?;
        if self.database.is_empty()
            || self.database.contains('/')
            || self.database.contains('\\')
            || self.database.starts_with('.')
        {
            return Err(ConfigError::Database(self.database.clone()));
        }
        if let Some(h) = &self.client_address_header
            && (h.is_empty()
                || !h
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        {
            return Err(ConfigError::Header(h.clone()));
        }
        Ok(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_are_named() {
        let addr = ConsoleConfig::default().validate().unwrap();
        assert_eq!(addr.to_string(), "127.0.0.1:8080");
        let bad = ConsoleConfig {
            listen: "localhost".into(),
            ..ConsoleConfig::default()
        };
        assert!(matches!(bad.validate(), Err(ConfigError::Listen(_))));
        let bad = ConsoleConfig {
            max_body_bytes: 0,
            ..ConsoleConfig::default()
        };
        assert_eq!(bad.validate(), Err(ConfigError::Zero("max_body_bytes")));
        let bad = ConsoleConfig {
            database: "../x.db".into(),
            ..ConsoleConfig::default()
        };
        assert!(matches!(bad.validate(), Err(ConfigError::Database(_))));
        let bad = ConsoleConfig {
            client_address_header: Some("X Real".into()),
            ..ConsoleConfig::default()
        };
        assert!(matches!(bad.validate(), Err(ConfigError::Header(_))));
    }
}
