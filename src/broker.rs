//! The embedded MQTT broker (rumqttd) that `riverwatch up` runs on 127.0.0.1, so a new user
//! needs nothing installed. It keeps no state across restarts; production deployments use
//! a persistent broker such as mosquitto (see `deploy/mosquitto.conf`).

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};

/// Largest payload the embedded broker accepts, bytes (ingest dead-letters above 64 KiB).
const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;

/// Why the embedded broker did not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// Something else already listens on the port.
    #[error(
        "port {port} on 127.0.0.1 is already in use ({source}); pick another with --mqtt-port or stop the other broker"
    )]
    PortInUse {
        /// The port.
        port: u16,
        /// The bind error.
        source: std::io::Error,
    },
    /// The broker thread could not start or did not come up.
    #[error("the embedded broker did not start: {0}")]
    Start(String),
}

/// A running embedded broker. Its threads end with the process.
#[derive(Debug)]
pub struct EmbeddedBroker {
    port: u16,
}

impl EmbeddedBroker {
    /// The broker URL for clients.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

fn config(port: u16) -> Config {
    let listen = SocketAddr::from(([127, 0, 0, 1], port));
    let server = ServerSettings {
        name: "riverwatch-v4".to_string(),
        listen,
        tls: None,
        next_connection_delay_ms: 1,
        connections: ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size: MAX_PAYLOAD_BYTES,
            max_inflight_count: 1000,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    };
    let mut v4 = HashMap::new();
    v4.insert("1".to_string(), server);
    Config {
        id: 0,
        router: RouterConfig {
            max_connections: 1000,
            max_outgoing_packet_count: 1000,
            max_segment_size: 100 * 1024 * 1024,
            max_segment_count: 10,
            custom_segment: None,
            initialized_filters: None,
            shared_subscriptions_strategy: Default::default(),
        },
        v4: Some(v4),
        ..Config::default()
    }
}

/// Starts the broker on 127.0.0.1:`port` and waits until it accepts connections.
///
/// # Errors
/// [`BrokerError::PortInUse`] when the port is taken; [`BrokerError::Start`] otherwise.
pub fn start(port: u16) -> Result<EmbeddedBroker, BrokerError> {
    // rumqttd reports a taken port only in its log; check first for a clear error.
    drop(
        TcpListener::bind(("127.0.0.1", port))
            .map_err(|source| BrokerError::PortInUse { port, source })?,
    );
    let mut broker = Broker::new(config(port));
    std::thread::Builder::new()
        .name("rumqttd".to_string())
        .spawn(move || {
            if let Err(error) = broker.start() {
                tracing::error!(%error, "Embedded broker stopped.");
            }
        })
        .map_err(|e| BrokerError::Start(e.to_string()))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !answers_mqtt(addr) {
        if std::time::Instant::now() > deadline {
            return Err(BrokerError::Start(format!(
                "no MQTT answer on {addr} after 10 s"
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(EmbeddedBroker { port })
}

/// Whether an MQTT 3.1.1 broker accepts a CONNECT on `addr`. A bare TCP probe would be
/// logged by the broker as a failed connection, so the probe speaks the protocol.
fn answers_mqtt(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    const CONNECT: [u8; 19] = [
        0x10, 17, // CONNECT, remaining length
        0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, // protocol name and level 4
        0x02, // clean session
        0x00, 0x0A, // keep-alive 10 s
        0x00, 0x05, b'p', b'r', b'o', b'b', b'e', // client id
    ];
    const DISCONNECT: [u8; 2] = [0xE0, 0x00];
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200))
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut connack = [0u8; 4];
    let ok = stream.write_all(&CONNECT).is_ok()
        && stream.read_exact(&mut connack).is_ok()
        && connack[0] == 0x20
        && connack[3] == 0x00;
    let _ = stream.write_all(&DISCONNECT);
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_gives_a_clear_error() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let err = start(port).unwrap_err();
        assert!(matches!(err, BrokerError::PortInUse { .. }));
        assert!(err.to_string().contains("--mqtt-port"), "{err}");
    }
}
