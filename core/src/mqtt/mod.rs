//! The broker connections every service shares: the settings (URL, credentials from the
//! environment, TLS, and the checks riverwatch makes before handing values to rumqttc, whose
//! setters panic on bad values), and the two kinds of connection a service opens.
//!
//! - [`subscriber`]: the input, one persistent-session QoS 1 subscription whose messages are
//!   acknowledged to the broker only after the service committed what they produced, over
//!   [`session`], a connection of its own that writes a commit's acks in one go.
//! - [`publisher`]: the output, QoS 1 publishes and the retained service status with its last
//!   will, through rumqttc, each signed with the deployment key.
//! - [`auth`]: the MAC of internal messages, checked by every consumer, and the refused
//!   messages' table.

pub mod auth;
pub mod publisher;
pub mod session;
pub mod subscriber;

pub use publisher::{Publication, Publisher, PublisherArgs, PublisherDriver, PublisherHooks};
pub use session::SessionOptions;
pub use subscriber::{
    AckSource, BrokerMessage, PacketAck, Subscriber, SubscriberHooks, ack_channel,
};

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use rumqttc::{MqttOptions, TlsConfiguration, Transport};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};

use crate::keys::KeyRing;

/// Environment variable holding the broker user name.
pub const ENV_USERNAME: &str = "RIVERWATCH_MQTT_USERNAME";
/// Environment variable holding the broker password.
pub const ENV_PASSWORD: &str = "RIVERWATCH_MQTT_PASSWORD";

/// Broker connection settings (`[mqtt]` in the configuration file).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// Broker URL: `mqtt://host:port` or `mqtts://host:port` (TLS). Default
    /// `mqtt://127.0.0.1:1883`.
    #[serde(default = "default_url")]
    pub url: String,
    /// Topic prefix. Default `rw/v1`.
    #[serde(default = "default_topic_prefix")]
    pub topic_prefix: String,
    /// Keep-alive interval, seconds (0 disables). Whole seconds only, because the MQTT
    /// client rejects sub-second values. Default 30.
    #[serde(default = "default_keep_alive_secs")]
    pub keep_alive_secs: u64,
    /// PEM file with the CA certificate(s) for `mqtts://`; the system roots when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Largest packet read from or sent to the broker, bytes. It must exceed the largest
    /// packet the broker delivers: its payload limit (mosquitto's `message_size_limit`, 1 MiB
    /// in `deploy/mosquitto.conf`) plus the topic and header, up to 64 KiB more. A packet
    /// over it cannot be read: the connection fails and the broker sends the same message
    /// again on the next one. Default 2 MiB, so that every payload the shipped broker passes
    /// reaches ingest, which dead-letters those over its own `max_payload_bytes`.
    #[serde(default = "default_max_packet_bytes")]
    pub max_packet_bytes: usize,
    /// How far ahead of a consumer's clock an internal message's time (an event's
    /// `observed_at`, a reading's time) may lie before it is refused, seconds. Default 3600.
    #[serde(default = "default_internal_max_ahead_secs")]
    pub internal_max_ahead_secs: u64,
    /// How far behind a consumer's clock an event's time may lie before the alert service
    /// refuses it, days. Default 90.
    #[serde(default = "default_internal_max_age_days")]
    pub internal_max_age_days: u64,
    /// User name and password; read from `RIVERWATCH_MQTT_USERNAME` /
    /// `RIVERWATCH_MQTT_PASSWORD`, never from the file.
    #[serde(skip)]
    pub credentials: Option<Credentials>,
    /// The deployment key ring that signs and checks internal messages; from
    /// `RIVERWATCH_INTERNAL_KEY` or the key file, never from this file. The services refuse
    /// to start without it.
    #[serde(skip)]
    pub keys: Option<KeyRing>,
}

const fn default_internal_max_ahead_secs() -> u64 {
    3600
}

const fn default_internal_max_age_days() -> u64 {
    90
}

const fn default_keep_alive_secs() -> u64 {
    30
}

const fn default_max_packet_bytes() -> usize {
    2 * 1024 * 1024
}

fn default_url() -> String {
    "mqtt://127.0.0.1:1883".to_string()
}

fn default_topic_prefix() -> String {
    crate::topics::DEFAULT_PREFIX.to_string()
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            url: default_url(),
            topic_prefix: default_topic_prefix(),
            keep_alive_secs: default_keep_alive_secs(),
            ca_file: None,
            max_packet_bytes: default_max_packet_bytes(),
            internal_max_ahead_secs: default_internal_max_ahead_secs(),
            internal_max_age_days: default_internal_max_age_days(),
            credentials: None,
            keys: None,
        }
    }
}

impl fmt::Debug for MqttConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttConfig")
            .field("url", &self.url)
            .field("topic_prefix", &self.topic_prefix)
            .field("keep_alive_secs", &self.keep_alive_secs)
            .field("ca_file", &self.ca_file)
            .field("max_packet_bytes", &self.max_packet_bytes)
            .field("internal_max_ahead_secs", &self.internal_max_ahead_secs)
            .field("internal_max_age_days", &self.internal_max_age_days)
            .field("keys", &self.keys)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|c| &c.username),
            )
            .finish()
    }
}

/// Broker user name and password. The password never appears in `Debug` output.
#[derive(Clone, PartialEq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A broker configuration problem.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MqttConfigError {
    /// The URL is not `mqtt://host:port` or `mqtts://host:port`.
    #[error("broker URL `{0}` is not mqtt://host:port or mqtts://host:port")]
    BadUrl(String),
    /// The client id is empty or too long.
    #[error("client id `{0}` must be 1–64 printable ASCII characters without spaces")]
    ClientId(String),
    /// Only one of user name and password is set.
    #[error("set both {ENV_USERNAME} and {ENV_PASSWORD}, or neither")]
    HalfCredentials,
    /// The CA file cannot be read.
    #[error("cannot read CA file {path}: {reason}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No usable TLS trust roots, or TLS settings rustls refuses.
    #[error("TLS: {0}")]
    Tls(String),
    /// Packet limit too small to be useful.
    #[error("max_packet_bytes must be at least 1024")]
    PacketSize,
    /// No deployment key to sign and check internal messages with.
    #[error(
        "no internal message key: set {} or create the key file with `riverwatch keys init`",
        crate::keys::ENV_KEY
    )]
    NoKey,
}

/// Where to connect, after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddress {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Whether to use TLS.
    pub tls: bool,
}

impl MqttConfig {
    /// A configuration for `url`, other settings at their defaults.
    pub fn with_url(url: &str) -> Self {
        Self {
            url: url.to_string(),
            ..Self::default()
        }
    }

    /// Reads user name and password from the environment.
    ///
    /// # Errors
    /// When only one of the two is set.
    pub fn load_credentials_from_env(&mut self) -> Result<(), MqttConfigError> {
        let user = std::env::var(ENV_USERNAME).ok().filter(|s| !s.is_empty());
        let pass = std::env::var(ENV_PASSWORD).ok().filter(|s| !s.is_empty());
        self.credentials = match (user, pass) {
            (Some(username), Some(password)) => Some(Credentials { username, password }),
            (None, None) => None,
            _ => return Err(MqttConfigError::HalfCredentials),
        };
        Ok(())
    }

    /// Parses and checks the URL.
    ///
    /// # Errors
    /// When the URL is not `mqtt://host:port` or `mqtts://host:port`.
    pub fn address(&self) -> Result<BrokerAddress, MqttConfigError> {
        let bad = || MqttConfigError::BadUrl(self.url.clone());
        let (tls, rest) = if let Some(rest) = self.url.strip_prefix("mqtt://") {
            (false, rest)
        } else if let Some(rest) = self.url.strip_prefix("mqtts://") {
            (true, rest)
        } else {
            return Err(bad());
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad())?),
            None => (rest, if tls { 8883 } else { 1883 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains('/') || host.contains('@') || port == 0 {
            return Err(bad());
        }
        Ok(BrokerAddress {
            host: host.to_string(),
            port,
            tls,
        })
    }

    /// Checks everything that can be checked without I/O.
    ///
    /// # Errors
    /// The first problem found.
    pub fn validate(&self) -> Result<BrokerAddress, MqttConfigError> {
        if self.max_packet_bytes < 1024 {
            return Err(MqttConfigError::PacketSize);
        }
        self.address()
    }

    /// Builds rumqttc options for one connection.
    ///
    /// `clean_session = false` with a stable `client_id` keeps the broker-side session (and
    /// its queue of unacknowledged QoS 1 messages) across restarts.
    ///
    /// # Errors
    /// A bad URL, client id, or unreadable CA file.
    pub fn options(
        &self,
        client_id: &str,
        clean_session: bool,
    ) -> Result<MqttOptions, MqttConfigError> {
        let addr = self.validate()?;
        check_client_id(client_id)?;
        let mut opts = MqttOptions::new(client_id, addr.host.clone(), addr.port);
        opts.set_keep_alive(Duration::from_secs(self.keep_alive_secs));
        opts.set_clean_session(clean_session);
        opts.set_max_packet_size(self.max_packet_bytes, self.max_packet_bytes);
        if let Some(c) = &self.credentials {
            opts.set_credentials(c.username.clone(), c.password.clone());
        }
        if addr.tls {
            let config = self.tls_config()?;
            opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(config)));
        }
        Ok(opts)
    }

    /// The TLS client settings for `mqtts://`: the certificates of `ca_file`, or the
    /// system's trust roots. The cryptography provider (aws-lc-rs, rumqttc's) is named explicitly, so no
    /// process-wide default has to be installed first.
    ///
    /// # Errors
    /// An unreadable CA file, one without a certificate, or no system roots.
    pub fn tls_config(&self) -> Result<Arc<ClientConfig>, MqttConfigError> {
        let mut roots = RootCertStore::empty();
        match &self.ca_file {
            Some(path) => {
                let bad = |reason: String| MqttConfigError::CaFile {
                    path: path.clone(),
                    reason,
                };
                let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
                for cert in CertificateDer::pem_slice_iter(&pem) {
                    let cert = cert.map_err(|e| bad(e.to_string()))?;
                    roots.add(cert).map_err(|e| bad(e.to_string()))?;
                }
                if roots.is_empty() {
                    return Err(bad("no PEM certificate in the file".to_string()));
                }
            }
            None => {
                let native = rustls_native_certs::load_native_certs();
                let (added, _) = roots.add_parsable_certificates(native.certs);
                if added == 0 {
                    return Err(MqttConfigError::Tls(
                        "no system trust roots found; set mqtt.ca_file".to_string(),
                    ));
                }
            }
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| MqttConfigError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }

    /// The window around a consumer's clock that internal messages' times must lie in.
    pub fn time_window(&self) -> auth::TimeWindow {
        auth::TimeWindow {
            max_ahead: Duration::from_secs(self.internal_max_ahead_secs),
            max_age: Duration::from_secs(self.internal_max_age_days.saturating_mul(86_400)),
        }
    }

    /// The checks a consumer (`service`, its name in the metrics) makes on internal
    /// messages.
    ///
    /// # Errors
    /// [`MqttConfigError::NoKey`] when no key ring is set.
    pub fn verifier(&self, service: &'static str) -> Result<auth::Verifier, MqttConfigError> {
        let keys = self.keys.clone().ok_or(MqttConfigError::NoKey)?;
        Ok(auth::Verifier::new(service, keys, self.time_window()))
    }

    /// The topic layout under this configuration's prefix.
    pub fn topics(&self) -> crate::topics::Topics {
        crate::topics::Topics::new(&self.topic_prefix)
    }
}

/// Network options every riverwatch connection uses: Nagle's algorithm off, since batching
/// small QoS 1 packets behind it cost 15–30 ms of latency per message on loopback.
pub fn network_options() -> rumqttc::NetworkOptions {
    let mut net = rumqttc::NetworkOptions::new();
    net.set_tcp_nodelay(true);
    net.set_connection_timeout(10);
    net
}

/// Checks an MQTT client id: 1–64 printable ASCII characters, no spaces or wildcards.
///
/// # Errors
/// [`MqttConfigError::ClientId`] otherwise.
pub fn check_client_id(client_id: &str) -> Result<(), MqttConfigError> {
    let ok = (1..=64).contains(&client_id.len())
        && client_id
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'+' && b != b'#');
    if ok {
        Ok(())
    } else {
        Err(MqttConfigError::ClientId(client_id.to_string()))
    }
}

#[cfg(test)]
mod broker_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_broker_urls() {
        let a = MqttConfig::with_url("mqtt://127.0.0.1:18830")
            .address()
            .unwrap();
        assert_eq!(
            (a.host.as_str(), a.port, a.tls),
            ("127.0.0.1", 18830, false)
        );
        let a = MqttConfig::with_url("mqtts://broker.example.org")
            .address()
            .unwrap();
        assert_eq!(
            (a.host.as_str(), a.port, a.tls),
            ("broker.example.org", 8883, true)
        );
        let a = MqttConfig::with_url("mqtt://localhost").address().unwrap();
        assert_eq!(a.port, 1883);
        for bad in [
            "tcp://x:1",
            "mqtt://",
            "mqtt://h:0",
            "mqtt://h:99999",
            "mqtt://u@h:1",
        ] {
            assert!(MqttConfig::with_url(bad).address().is_err(), "{bad}");
        }
    }

    #[test]
    fn rejects_bad_client_ids_instead_of_panicking() {
        let cfg = MqttConfig::default();
        assert!(cfg.options("", false).is_err());
        assert!(cfg.options("has space", false).is_err());
        assert!(cfg.options("riverwatch-ingest", false).is_ok());
    }

    #[test]
    fn password_is_not_in_debug_output() {
        let cfg = MqttConfig {
            credentials: Some(Credentials {
                username: "hlj".into(),
                password: "s3cret".into(),
            }),
            ..MqttConfig::default()
        };
        let shown = format!("{cfg:?}");
        assert!(shown.contains("hlj"));
        assert!(!shown.contains("s3cret"));
    }
}
