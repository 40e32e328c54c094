//! One MQTT 3.1.1 connection for a service's subscription ([`super::subscriber`]): rumqttc's
//! packet codec over a tokio socket (TCP, or TLS through rustls), with the acknowledgements of
//! a whole commit written in one system call.
//!
//! rumqttc's event loop writes and flushes every queued request on its own, so acking after
//! the commit cost one `writev` and one TCP segment per message on both ends of the
//! connection, about a sixth of ingest's CPU at full load. Here the acks of a commit are
//! encoded into one buffer and written at once. The connection does only what the
//! subscriber needs: CONNECT with a persistent session, SUBSCRIBE, incoming PUBLISH,
//! outgoing PUBACK, and keep-alive pings.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rumqttc::tokio_rustls::TlsConnector;
use rumqttc::tokio_rustls::rustls::ClientConfig;
use rumqttc::tokio_rustls::rustls::pki_types::ServerName;
use rumqttc::{
    ConnectReturnCode, Login, Packet, Protocol, PubAck, QoS, Subscribe, SubscribeFilter,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{MqttConfig, MqttConfigError, check_client_id};

/// What can go wrong on the connection; every kind ends it, and the source reconnects.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// Socket or TLS failure.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The failure.
        source: std::io::Error,
    },
    /// The broker took too long.
    #[error("{0} timed out")]
    Timeout(&'static str),
    /// The broker closed the connection.
    #[error("the broker closed the connection")]
    Closed,
    /// The broker refused the connection.
    #[error("the broker refused the connection: {0:?}")]
    Refused(ConnectReturnCode),
    /// A packet that does not parse, or one out of place.
    #[error("protocol: {0}")]
    Protocol(String),
}

fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> SessionError {
    move |source| SessionError::Io { context, source }
}

/// How to open a session, derived from the `[mqtt]` settings.
#[derive(Clone)]
pub struct SessionOptions {
    host: String,
    port: u16,
    tls: Option<Arc<ClientConfig>>,
    client_id: String,
    keep_alive: Duration,
    login: Option<Login>,
    max_packet_bytes: usize,
    connect_timeout: Duration,
}

impl std::fmt::Debug for SessionOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionOptions")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls.is_some())
            .field("client_id", &self.client_id)
            .field("keep_alive", &self.keep_alive)
            .finish_non_exhaustive()
    }
}

impl SessionOptions {
    /// Options for a persistent session (`clean_session = false`) under `client_id`.
    ///
    /// # Errors
    /// A bad URL or client id, or TLS settings that cannot be built.
    pub fn new(mqtt: &MqttConfig, client_id: &str) -> Result<Self, MqttConfigError> {
        // The same checks every other connection gets (URL, packet size, client id).
        let addr = mqtt.validate()?;
        check_client_id(client_id)?;
        let tls = if addr.tls {
            Some(mqtt.tls_config()?)
        } else {
            None
        };
        Ok(Self {
            host: addr.host,
            port: addr.port,
            tls,
            client_id: client_id.to_string(),
            keep_alive: Duration::from_secs(mqtt.keep_alive_secs),
            login: mqtt
                .credentials
                .as_ref()
                .map(|c| Login::new(c.username.clone(), c.password.clone())),
            max_packet_bytes: mqtt.max_packet_bytes,
            connect_timeout: Duration::from_secs(10),
        })
    }

    /// The keep-alive interval (zero: no pings).
    pub fn keep_alive(&self) -> Duration {
        self.keep_alive
    }
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// An open connection.
pub struct Session {
    stream: Box<dyn Stream>,
    read: BytesMut,
    write: BytesMut,
    max_packet_bytes: usize,
}

impl Session {
    /// Connects, sends CONNECT (persistent session) and SUBSCRIBE (QoS 1 for every filter),
    /// and waits for the CONNACK. Returns whether the broker still had the session; the
    /// SUBACK arrives later through [`Session::next_packet`].
    ///
    /// # Errors
    /// A network, TLS or protocol failure, a refusal, or no answer within the timeout.
    pub async fn open(
        opts: &SessionOptions,
        filters: &[String],
    ) -> Result<(Self, bool), SessionError> {
        tokio::time::timeout(opts.connect_timeout, Self::handshake(opts, filters))
            .await
            .map_err(|_| SessionError::Timeout("connecting to the broker"))?
    }

    async fn handshake(
        opts: &SessionOptions,
        filters: &[String],
    ) -> Result<(Self, bool), SessionError> {
        let tcp = TcpStream::connect((opts.host.as_str(), opts.port))
            .await
            .map_err(io("connecting to the broker"))?;
        // Acks and pings are small and written once per commit: Nagle would only delay them.
        tcp.set_nodelay(true).map_err(io("setting TCP_NODELAY"))?;
        let stream: Box<dyn Stream> = match &opts.tls {
            Some(config) => {
                let name =
                    ServerName::try_from(opts.host.clone()).map_err(|e| SessionError::Io {
                        context: "TLS server name",
                        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
                    })?;
                let tls = TlsConnector::from(config.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(io("TLS handshake"))?;
                Box::new(tls)
            }
            None => Box::new(tcp),
        };
        let mut session = Self {
            stream,
            read: BytesMut::with_capacity(64 * 1024),
            write: BytesMut::with_capacity(16 * 1024),
            max_packet_bytes: opts.max_packet_bytes,
        };
        let connect = rumqttc::Connect {
            protocol: Protocol::V4,
            keep_alive: u16::try_from(opts.keep_alive.as_secs()).unwrap_or(u16::MAX),
            client_id: opts.client_id.clone(),
            clean_session: false,
            last_will: None,
            login: opts.login.clone(),
        };
        session.queue(&Packet::Connect(connect))?;
        session.flush().await?;
        let session_present = match session.next_packet().await? {
            Packet::ConnAck(ack) if ack.code == ConnectReturnCode::Success => ack.session_present,
            Packet::ConnAck(ack) => return Err(SessionError::Refused(ack.code)),
            other => {
                return Err(SessionError::Protocol(format!(
                    "expected CONNACK, got {other:?}"
                )));
            }
        };
        let subscribe = Subscribe {
            pkid: 1,
            filters: filters
                .iter()
                .map(|f| SubscribeFilter::new(f.clone(), QoS::AtLeastOnce))
                .collect(),
        };
        session.queue(&Packet::Subscribe(subscribe))?;
        session.flush().await?;
        Ok((session, session_present))
    }

    /// The next packet from the broker. Cancel-safe: bytes already read stay buffered.
    ///
    /// # Errors
    /// The connection closed or failed, or a packet did not parse.
    pub async fn next_packet(&mut self) -> Result<Packet, SessionError> {
        loop {
            if let Some(packet) = self.buffered_packet()? {
                return Ok(packet);
            }
            let n = self
                .stream
                .read_buf(&mut self.read)
                .await
                .map_err(io("reading from the broker"))?;
            if n == 0 {
                return Err(SessionError::Closed);
            }
        }
    }

    /// The next packet if the bytes already read hold a whole one; never reads the socket.
    ///
    /// # Errors
    /// A packet that does not parse.
    pub fn buffered_packet(&mut self) -> Result<Option<Packet>, SessionError> {
        match Packet::read(&mut self.read, self.max_packet_bytes) {
            Ok(packet) => Ok(Some(packet)),
            Err(rumqttc::Error::InsufficientBytes(more)) => {
                self.read.reserve(more.max(4096));
                Ok(None)
            }
            Err(e) => Err(SessionError::Protocol(e.to_string())),
        }
    }

    /// Adds a PUBACK for `pkid` to the pending writes.
    pub fn queue_ack(&mut self, pkid: u16) -> Result<(), SessionError> {
        self.queue(&Packet::PubAck(PubAck::new(pkid)))
    }

    /// Adds a PINGREQ to the pending writes.
    pub fn queue_ping(&mut self) -> Result<(), SessionError> {
        self.queue(&Packet::PingReq)
    }

    fn queue(&mut self, packet: &Packet) -> Result<(), SessionError> {
        packet
            .write(&mut self.write, self.max_packet_bytes)
            .map(|_| ())
            .map_err(|e| SessionError::Protocol(e.to_string()))
    }

    /// Writes everything pending in one go.
    ///
    /// # Errors
    /// The socket failed or did not take the bytes within 30 s.
    pub async fn flush(&mut self) -> Result<(), SessionError> {
        if self.write.is_empty() {
            return Ok(());
        }
        let write = async {
            self.stream
                .write_all(&self.write)
                .await
                .map_err(io("writing to the broker"))?;
            self.stream
                .flush()
                .await
                .map_err(io("writing to the broker"))
        };
        tokio::time::timeout(Duration::from_secs(30), write)
            .await
            .map_err(|_| SessionError::Timeout("writing to the broker"))??;
        self.write.clear();
        Ok(())
    }

    /// Sends DISCONNECT (the broker keeps the session) and closes the socket.
    pub async fn close(mut self) {
        if self.queue(&Packet::Disconnect).is_ok() {
            let _ = self.flush().await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), self.stream.shutdown()).await;
    }
}
