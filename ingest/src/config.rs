//! Ingest settings (`[ingest]` and `[store]` in the configuration file) and their pure
//! validation. Secrets (InfluxDB token and password) come from the environment only; the
//! stations' HJ 212 access passwords from a separate secrets file or the environment
//! ([`crate::secrets`]).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use riverwatch_core::sqlite::Synchronous;

/// Environment variable holding the InfluxDB 2 API token.
pub const ENV_INFLUX_TOKEN: &str = "RIVERWATCH_INFLUX_TOKEN";
/// Environment variable holding the InfluxDB 1.x user name.
pub const ENV_INFLUX_USERNAME: &str = "RIVERWATCH_INFLUX_USERNAME";
/// Environment variable holding the InfluxDB 1.x password.
pub const ENV_INFLUX_PASSWORD: &str = "RIVERWATCH_INFLUX_PASSWORD";

/// How the ingest service subscribes, validates and batches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Stable MQTT client id of the subscriber. The broker keeps the session (and the QoS 1
    /// messages not yet acknowledged) under this id across restarts. Default
    /// `riverwatch-ingest`.
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// Shared-subscription group: when set, ingest subscribes to `$share/{group}/…` so that
    /// several ingest processes split the stations' messages. Each process still needs its
    /// own `client_id`. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_group: Option<String>,
    /// Largest accepted payload, bytes; larger ones are dead-lettered. Default 65536.
    #[serde(default = "default_max_payload_bytes")]
    pub max_payload_bytes: usize,
    /// How far in the future a reading's time may lie, seconds (clock skew). Default 600.
    #[serde(default = "default_future_tolerance_secs")]
    pub future_tolerance_secs: u64,
    /// Most readings committed in one transaction. Default 8192.
    #[serde(default = "default_max_batch_readings")]
    pub max_batch_readings: usize,
    /// Most messages buffered between the MQTT connection and the batcher (they travel in
    /// runs of up to 64, what one socket read brought); a full buffer stops reading from
    /// the broker (backpressure). Default 2048.
    #[serde(default = "default_channel_capacity")]
    pub channel_capacity: usize,
    /// Longest a batch that is not full waits for more messages once the committer is free,
    /// milliseconds. The batch goes as soon as the stream pauses for 2 ms, so a quiet
    /// network commits each message at once, while a steady stream commits in batches of
    /// hundreds of messages instead of a few (each commit syncs the WAL). 0 commits
    /// whatever is there at once. Default 20.
    #[serde(default = "default_commit_linger_ms")]
    pub commit_linger_ms: u64,
    /// How long the parts of a multi-packet HJ 212 message are held waiting for the rest,
    /// seconds; an incomplete message is then dead-lettered (`reassembly_timeout`). The
    /// parts are kept in the store and acknowledged to the broker as they arrive, so they
    /// survive a restart. Default 120.
    #[serde(default = "default_reassembly_timeout_secs")]
    pub reassembly_timeout_secs: u64,
    /// Most unfinished multi-packet HJ 212 messages held for one station; a packet that
    /// would open another is dead-lettered (`reassembly_overflow`). Default 16.
    #[serde(default = "default_reassembly_max_open_per_station")]
    pub reassembly_max_open_per_station: usize,
    /// Most unfinished multi-packet HJ 212 messages held in all; a packet that would open
    /// another is dead-lettered (`reassembly_overflow`). Default 1024.
    #[serde(default = "default_reassembly_max_open")]
    pub reassembly_max_open: usize,
    /// Most packets of unfinished HJ 212 messages held in all (each at most about 1 KiB);
    /// a packet beyond is dead-lettered (`reassembly_overflow`). Default 65536.
    #[serde(default = "default_reassembly_max_held_packets")]
    pub reassembly_max_held_packets: usize,
    /// Publish committed readings on `{prefix}/readings/{station}`. Default true.
    #[serde(default = "default_true")]
    pub publish_readings: bool,
    /// Watch the broker's `$SYS/broker/publish/messages/dropped` counter and log rises.
    /// Default true.
    #[serde(default = "default_true")]
    pub watch_broker_drops: bool,
    /// File of the stations' HJ 212 access passwords (TOML, `MN or station id =
    /// "password"`), readable by its owner only; relative to the working directory.
    /// `RIVERWATCH_HJ212_PW_<MN or station id>` variables add to it and win over it. A frame
    /// from a station with a password must carry it as `PW`. Default: none (no station has a
    /// password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub station_secrets: Option<PathBuf>,
    /// Stations (ids or MNs) whose data loggers send the air pollutants that the registry
    /// keeps in µg/m³ (SO2, NO2, O3, PM2.5, PM10) in mg/m³, the unit of the HJ 212 code
    /// table: their HJ 212 values of those parameters are multiplied by 1000
    /// (1 mg/m³ = 1000 µg/m³) before validation. Parameters the registry keeps in another
    /// unit (CO in mg/m³, water in mg/L) are left as sent. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hj212_mg_m3_stations: Vec<String>,
    /// The HJ 212 TCP listener (`[ingest.hj212_tcp]`).
    #[serde(default)]
    pub hj212_tcp: crate::tcp::Hj212TcpConfig,
}

const fn default_max_payload_bytes() -> usize {
    64 * 1024
}
const fn default_future_tolerance_secs() -> u64 {
    600
}
const fn default_max_batch_readings() -> usize {
    8192
}
const fn default_channel_capacity() -> usize {
    2048
}
const fn default_commit_linger_ms() -> u64 {
    20
}
const fn default_reassembly_timeout_secs() -> u64 {
    120
}
const fn default_reassembly_max_open_per_station() -> usize {
    16
}
const fn default_reassembly_max_open() -> usize {
    1024
}
const fn default_reassembly_max_held_packets() -> usize {
    65536
}
const fn default_true() -> bool {
    true
}
fn default_client_id() -> String {
    "riverwatch-ingest".to_string()
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            client_id: default_client_id(),
            shared_group: None,
            max_payload_bytes: default_max_payload_bytes(),
            future_tolerance_secs: default_future_tolerance_secs(),
            max_batch_readings: default_max_batch_readings(),
            channel_capacity: default_channel_capacity(),
            commit_linger_ms: default_commit_linger_ms(),
            reassembly_timeout_secs: default_reassembly_timeout_secs(),
            reassembly_max_open_per_station: default_reassembly_max_open_per_station(),
            reassembly_max_open: default_reassembly_max_open(),
            reassembly_max_held_packets: default_reassembly_max_held_packets(),
            publish_readings: true,
            watch_broker_drops: true,
            station_secrets: None,
            hj212_mg_m3_stations: Vec::new(),
            hj212_tcp: crate::tcp::Hj212TcpConfig::default(),
        }
    }
}

/// A configuration problem found before anything is started.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A numeric setting is out of its range.
    #[error("{field} must be {expected}, got {got}")]
    Range {
        /// The setting.
        field: &'static str,
        /// The allowed range.
        expected: &'static str,
        /// The value found.
        got: String,
    },
    /// The shared-subscription group name is not usable in a topic filter.
    #[error("shared_group `{0}` must be 1–64 letters, digits, - or _")]
    SharedGroup(String),
    /// A required setting is missing.
    #[error("{0}")]
    Missing(String),
}

impl IngestConfig {
    /// Fast, small settings for tests.
    pub fn test_config() -> Self {
        Self {
            max_batch_readings: 512,
            channel_capacity: 256,
            reassembly_timeout_secs: 5,
            ..Self::default()
        }
    }

    /// Pure checks.
    ///
    /// # Errors
    /// The first problem found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let range = |field, expected, got: usize, ok: bool| {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::Range {
                    field,
                    expected,
                    got: got.to_string(),
                })
            }
        };
        range(
            "max_payload_bytes",
            "between 256 and 16777216",
            self.max_payload_bytes,
            (256..=16 * 1024 * 1024).contains(&self.max_payload_bytes),
        )?;
        range(
            "max_batch_readings",
            "between 1 and 1000000",
            self.max_batch_readings,
            (1..=1_000_000).contains(&self.max_batch_readings),
        )?;
        range(
            "channel_capacity",
            "between 1 and 1000000",
            self.channel_capacity,
            (1..=1_000_000).contains(&self.channel_capacity),
        )?;
        range(
            "reassembly_max_open_per_station",
            "between 1 and 1000000",
            self.reassembly_max_open_per_station,
            (1..=1_000_000).contains(&self.reassembly_max_open_per_station),
        )?;
        range(
            "reassembly_max_open",
            "between 1 and 1000000",
            self.reassembly_max_open,
            (1..=1_000_000).contains(&self.reassembly_max_open),
        )?;
        range(
            "reassembly_max_held_packets",
            "between 1 and 100000000",
            self.reassembly_max_held_packets,
            (1..=100_000_000).contains(&self.reassembly_max_held_packets),
        )?;
        range(
            "commit_linger_ms",
            "between 0 and 1000",
            usize::try_from(self.commit_linger_ms).unwrap_or(usize::MAX),
            self.commit_linger_ms <= 1000,
        )?;
        self.hj212_tcp.validate()?;
        if let Some(g) = &self.shared_group {
            let ok = (1..=64).contains(&g.len())
                && g.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return Err(ConfigError::SharedGroup(g.clone()));
            }
        }
        Ok(())
    }

    /// Clock-skew tolerance.
    pub fn future_tolerance(&self) -> Duration {
        Duration::from_secs(self.future_tolerance_secs)
    }
}

/// Which time-series store holds the readings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// SQLite file in the data directory (the embedded default).
    #[default]
    Sqlite,
    /// InfluxDB 2.x through its v2 API.
    Influxdb2,
    /// InfluxDB 1.x through its v1 HTTP API.
    Influxdb1,
}

/// The default cap of the InfluxDB spool, bytes (1 GiB).
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 1024 * 1024 * 1024;

const fn default_spool_max_bytes() -> u64 {
    DEFAULT_SPOOL_MAX_BYTES
}

/// The store settings (`[store]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Which backend. Default `sqlite`.
    #[serde(default)]
    pub backend: Backend,
    /// SQLite settings; also used for the dead letters and the InfluxDB spool, which always
    /// live in the local database.
    #[serde(default)]
    pub sqlite: SqliteConfig,
    /// InfluxDB 2 settings, required when `backend = "influxdb2"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub influxdb2: Option<Influx2Config>,
    /// InfluxDB 1.x settings, required when `backend = "influxdb1"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub influxdb1: Option<Influx1Config>,
    /// The most line protocol the local spool holds while InfluxDB is unavailable, bytes.
    /// From 80 % of it an ERROR is logged and `influx_spool_near_cap` is 1; at the cap new
    /// batches are refused (retried, their messages stay unacknowledged with the broker),
    /// never dropped. Default 1073741824 (1 GiB).
    #[serde(default = "default_spool_max_bytes")]
    pub spool_max_bytes: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            backend: Backend::default(),
            sqlite: SqliteConfig::default(),
            influxdb2: None,
            influxdb1: None,
            spool_max_bytes: default_spool_max_bytes(),
        }
    }
}

impl StoreConfig {
    /// Pure checks.
    ///
    /// # Errors
    /// A missing section for the chosen backend.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.spool_max_bytes < 1024 * 1024 {
            return Err(ConfigError::Range {
                field: "spool_max_bytes",
                expected: "at least 1048576",
                got: self.spool_max_bytes.to_string(),
            });
        }
        match self.backend {
            Backend::Sqlite => Ok(()),
            Backend::Influxdb2 if self.influxdb2.is_none() => Err(ConfigError::Missing(
                "backend = \"influxdb2\" needs a [store.influxdb2] section".to_string(),
            )),
            Backend::Influxdb1 if self.influxdb1.is_none() => Err(ConfigError::Missing(
                "backend = \"influxdb1\" needs a [store.influxdb1] section".to_string(),
            )),
            _ => Ok(()),
        }
    }
}

/// SQLite settings (`[store.sqlite]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqliteConfig {
    /// File name, relative to the data directory. Default `readings.db`.
    #[serde(default = "default_sqlite_file")]
    pub file: String,
    /// Commit durability. Default `full`.
    #[serde(default)]
    pub synchronous: Synchronous,
    /// Page cache, MiB. Default 64.
    #[serde(default = "default_cache_mib")]
    pub cache_mib: u32,
    /// With an InfluxDB backend: how long, in hours, the readings sent to InfluxDB are
    /// remembered locally (table `influx_index`, by observation time) to tell an identical
    /// resend from one with another value (`conflicting_value`). Default 72.
    #[serde(default = "default_influx_index_hours")]
    pub influx_index_hours: u32,
    /// Dead letters kept at most, MiB (their raw messages and reasons); the oldest go first,
    /// logged and counted. Default 256.
    #[serde(default = "default_dead_letter_max_mib")]
    pub dead_letter_max_mib: u32,
    /// Dead letters are kept at most this many days after reception; older ones are
    /// dropped, logged and counted. Default 90.
    #[serde(default = "default_dead_letter_max_age_days")]
    pub dead_letter_max_age_days: u32,
}

fn default_sqlite_file() -> String {
    "readings.db".to_string()
}
const fn default_cache_mib() -> u32 {
    64
}
const fn default_influx_index_hours() -> u32 {
    72
}
const fn default_dead_letter_max_mib() -> u32 {
    256
}
const fn default_dead_letter_max_age_days() -> u32 {
    90
}

impl Default for SqliteConfig {
    fn default() -> Self {
        Self {
            file: default_sqlite_file(),
            synchronous: Synchronous::default(),
            cache_mib: default_cache_mib(),
            influx_index_hours: default_influx_index_hours(),
            dead_letter_max_mib: default_dead_letter_max_mib(),
            dead_letter_max_age_days: default_dead_letter_max_age_days(),
        }
    }
}

/// InfluxDB 2 settings (`[store.influxdb2]`). The token is read from
/// `RIVERWATCH_INFLUX_TOKEN`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Influx2Config {
    /// Base URL, e.g. `http://influx.example:8086`.
    pub url: String,
    /// Organisation.
    pub org: String,
    /// Bucket.
    pub bucket: String,
    /// Request timeout, seconds. Default 10.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// API token (from the environment, never the file).
    #[serde(skip)]
    pub token: Option<String>,
}

impl fmt::Debug for Influx2Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Influx2Config")
            .field("url", &self.url)
            .field("org", &self.org)
            .field("bucket", &self.bucket)
            .field("timeout_secs", &self.timeout_secs)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// InfluxDB 1.x settings (`[store.influxdb1]`). Credentials are read from
/// `RIVERWATCH_INFLUX_USERNAME` and `RIVERWATCH_INFLUX_PASSWORD`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Influx1Config {
    /// Base URL, e.g. `http://influx.example:8086`.
    pub url: String,
    /// Database.
    pub database: String,
    /// Retention policy; the database default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_policy: Option<String>,
    /// Request timeout, seconds. Default 10.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// User name (from the environment).
    #[serde(skip)]
    pub username: Option<String>,
    /// Password (from the environment, never the file).
    #[serde(skip)]
    pub password: Option<String>,
}

impl fmt::Debug for Influx1Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Influx1Config")
            .field("url", &self.url)
            .field("database", &self.database)
            .field("retention_policy", &self.retention_policy)
            .field("timeout_secs", &self.timeout_secs)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

const fn default_timeout_secs() -> u64 {
    10
}

impl StoreConfig {
    /// Reads the InfluxDB secrets from the environment.
    pub fn load_secrets_from_env(&mut self) {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let Some(c) = &mut self.influxdb2 {
            c.token = var(ENV_INFLUX_TOKEN);
        }
        if let Some(c) = &mut self.influxdb1 {
            c.username = var(ENV_INFLUX_USERNAME);
            c.password = var(ENV_INFLUX_PASSWORD);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_through_toml() {
        let cfg = IngestConfig::default();
        let text = toml::to_string(&cfg).unwrap();
        let back: IngestConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, cfg);
        let store = StoreConfig::default();
        let text = toml::to_string(&store).unwrap();
        let back: StoreConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, store);
        assert!(cfg.validate().is_ok());
    }

    #[test]
    fn rejects_bad_values_before_starting() {
        let cfg = IngestConfig {
            max_batch_readings: 0,
            ..IngestConfig::default()
        };
        assert!(cfg.validate().is_err());
        let cfg = IngestConfig {
            shared_group: Some("a/b".into()),
            ..IngestConfig::default()
        };
        assert!(matches!(cfg.validate(), Err(ConfigError::SharedGroup(_))));
        let store = StoreConfig {
            backend: Backend::Influxdb2,
            ..StoreConfig::default()
        };
        assert!(store.validate().is_err());
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let c = Influx2Config {
            url: "http://x".into(),
            org: "o".into(),
            bucket: "b".into(),
            timeout_secs: 1,
            token: Some("tok-123".into()),
        };
        assert!(!format!("{c:?}").contains("tok-123"));
    }
}
