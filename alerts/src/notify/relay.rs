//! Connections to an SMTP relay with TCP_NODELAY set: plain or STARTTLS (`smtp://`) and TLS
//! from the first byte (`smtps://`).
//!
//! lettre's pooled transport opens its sockets itself and offers no way to turn Nagle's
//! algorithm off. Nagle holds the small second write of a command (the end of `DATA`, a
//! command after a pipelined one) until the relay acknowledges the first, and a relay that
//! delays its ACKs (Linux: 40 ms) turns every email into a ~44 ms exchange even on loopback.
//! So the service connects the socket itself, sets TCP_NODELAY and hands it to lettre's SMTP
//! client ([`AsyncSmtpConnection::connect_with_transport`]), which then does EHLO, STARTTLS
//! (the option stays on the socket under TLS) and AUTH as before. A few connections are kept
//! open for reuse; one that went stale is replaced once, transparently.
//!
//! `smtps://`: lettre's client reads the greeting as soon as it gets a stream, so the TLS
//! handshake has to happen before. It is done by lettre's own network stream
//! (`AsyncNetworkStream::upgrade_tls`, the very code and [`TlsParameters`] — root
//! certificates, verification — its transport uses for `smtps://`) on our TCP_NODELAY socket;
//! the encrypted stream is then handed to the client like a plain one. That type is public
//! but marked deprecated in lettre 0.11 ("not meant to be made public"): should a later lettre
//! drop it, `smtp_nodelay = false` keeps `smtps://` working through lettre's transport.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
#[allow(deprecated)] // See the module documentation (`smtps://`).
use lettre::transport::smtp::client::AsyncNetworkStream;
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;

/// Idle connections kept for reuse (the sender has at most four deliveries in flight).
const MAX_IDLE: usize = 4;
/// An idle connection older than this is closed rather than reused (relays drop idle
/// clients after a minute or more; RFC 5321 asks servers to wait at least 5 minutes).
const MAX_IDLE_AGE: Duration = Duration::from_secs(30);

/// TLS use on the relay connection, as lettre reads the URL: the scheme, and for `smtp://`
/// the `tls` parameter (STARTTLS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartTls {
    /// No TLS (`smtp://` without a `tls` parameter).
    Never,
    /// STARTTLS when the relay offers it (`tls=opportunistic`).
    Opportunistic,
    /// Refuse to send without STARTTLS (`tls=required`).
    Required,
    /// TLS from the first byte (`smtps://`), no STARTTLS.
    Implicit,
}

/// Why a send failed.
#[derive(Debug)]
pub enum RelayError {
    /// The SMTP client or the relay said no.
    Smtp(lettre::transport::smtp::Error),
    /// Resolving or connecting failed.
    Connect(String),
    /// The whole exchange took longer than the timeout.
    Timeout(Duration),
}

impl std::fmt::Display for RelayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RelayError::Smtp(e) => write!(f, "{e}"),
            RelayError::Connect(e) => write!(f, "connection failed: {e}"),
            RelayError::Timeout(t) => write!(f, "no answer within {} s", t.as_secs()),
        }
    }
}

/// An `smtp://` or `smtps://` relay reached over sockets with TCP_NODELAY.
pub struct NoDelayRelay {
    host: String,
    port: u16,
    starttls: StartTls,
    hello: ClientId,
    credentials: Option<Credentials>,
    timeout: Duration,
    /// TLS settings other than lettre's defaults for the host (a private CA).
    tls: Option<TlsParameters>,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

impl NoDelayRelay {
    /// A relay at `host:port`; nothing is connected yet.
    pub fn new(
        host: String,
        port: u16,
        starttls: StartTls,
        hello: ClientId,
        credentials: Option<Credentials>,
        timeout: Duration,
    ) -> Self {
        Self {
            host,
            port,
            starttls,
            hello,
            credentials,
            timeout,
            tls: None,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Uses these TLS settings (for STARTTLS and `smtps://`) instead of lettre's defaults for
    /// the host, e.g. to trust a private certificate authority.
    #[must_use]
    pub fn with_tls_parameters(mut self, tls: TlsParameters) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sends one message and returns the relay's reply to the end of `DATA`. The whole
    /// exchange (connecting included) is bounded by the timeout.
    ///
    /// # Errors
    /// The relay's refusal, a connection that failed, or the timeout.
    pub async fn send(&self, envelope: &Envelope, email: &[u8]) -> Result<Response, RelayError> {
        match tokio::time::timeout(self.timeout, self.send_inner(envelope, email)).await {
            Ok(r) => r,
            Err(_) => Err(RelayError::Timeout(self.timeout)),
        }
    }

    async fn send_inner(&self, envelope: &Envelope, email: &[u8]) -> Result<Response, RelayError> {
        if let Some(mut conn) = self.take_idle() {
            match conn.send(envelope, email).await {
                Ok(reply) => {
                    self.put_back(conn);
                    return Ok(reply);
                }
                // A reused connection the relay closed meanwhile (no reply at all, or 421
                // "closing channel"): the message was not taken; try once on a fresh one.
                Err(e) if e.status().is_none_or(|c| c.to_string() == "421") => {
                    conn.abort().await;
                }
                Err(e) => {
                    if !conn.has_broken() {
                        self.put_back(conn);
                    }
                    return Err(RelayError::Smtp(e));
                }
            }
        }
        let mut conn = self.connect().await?;
        let reply = conn.send(envelope, email).await;
        if !conn.has_broken() {
            self.put_back(conn);
        }
        reply.map_err(RelayError::Smtp)
    }

    fn take_idle(&self) -> Option<AsyncSmtpConnection> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some((conn, since)) = idle.pop() {
            if since.elapsed() < MAX_IDLE_AGE {
                return Some(conn);
            }
            // Dropped without QUIT: the relay sees the socket close, as after a timeout.
            drop(conn);
        }
        None
    }

    fn put_back(&self, conn: AsyncSmtpConnection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push((conn, Instant::now()));
        }
    }

    fn tls_parameters(&self) -> Result<TlsParameters, RelayError> {
        match &self.tls {
            Some(t) => Ok(t.clone()),
            None => TlsParameters::new(self.host.clone()).map_err(RelayError::Smtp),
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, RelayError> {
        let stream = self.open_socket().await?;
        let transport: Box<dyn AsyncTokioStream> = if self.starttls == StartTls::Implicit {
            #[allow(deprecated)] // See the module documentation (`smtps://`).
            let mut tls = AsyncNetworkStream::use_existing_tokio1(Box::new(stream));
            tls.upgrade_tls(self.tls_parameters()?)
                .await
                .map_err(RelayError::Smtp)?;
            Box::new(TlsStream(tls))
        } else {
            Box::new(stream)
        };
        let mut conn = AsyncSmtpConnection::connect_with_transport(transport, &self.hello)
            .await
            .map_err(RelayError::Smtp)?;
        match self.starttls {
            StartTls::Never | StartTls::Implicit => {}
            StartTls::Opportunistic if !conn.can_starttls() => {}
            StartTls::Opportunistic | StartTls::Required => {
                conn.starttls(self.tls_parameters()?, &self.hello)
                    .await
                    .map_err(RelayError::Smtp)?;
            }
        }
        if let Some(c) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, c)
                .await
                .map_err(RelayError::Smtp)?;
        }
        Ok(conn)
    }

    /// A TCP connection to the relay with TCP_NODELAY set (the first address that answers).
    async fn open_socket(&self) -> Result<tokio::net::TcpStream, RelayError> {
        let addrs = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|e| RelayError::Connect(format!("{}:{}: {e}", self.host, self.port)))?;
        let mut last = None;
        let mut stream = None;
        for addr in addrs {
            match tokio::net::TcpStream::connect(addr).await {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(format!("{addr}: {e}")),
            }
        }
        let stream = stream.ok_or_else(|| {
            RelayError::Connect(last.unwrap_or_else(|| format!("{} has no address", self.host)))
        })?;
        stream
            .set_nodelay(true)
            .map_err(|e| RelayError::Connect(format!("TCP_NODELAY: {e}")))?;
        Ok(stream)
    }
}

/// lettre's TLS stream (futures' I/O traits) as the tokio stream its SMTP client takes.
#[allow(deprecated)] // See the module documentation (`smtps://`).
#[derive(Debug)]
struct TlsStream(AsyncNetworkStream);

#[allow(deprecated)]
impl AsyncTokioStream for TlsStream {
    fn peer_addr(&self) -> std::io::Result<SocketAddr> {
        self.0.peer_addr()
    }
}

impl tokio::io::AsyncRead for TlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let unfilled = buf.initialize_unfilled();
        match futures::io::AsyncRead::poll_read(Pin::new(&mut self.0), cx, unfilled) {
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl tokio::io::AsyncWrite for TlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        futures::io::AsyncWrite::poll_write(Pin::new(&mut self.0), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        futures::io::AsyncWrite::poll_flush(Pin::new(&mut self.0), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        futures::io::AsyncWrite::poll_close(Pin::new(&mut self.0), cx)
    }
}

/// The parts of an `smtp://host[:port][?tls=…]` or `smtps://host[:port]` URL (already
/// checked by the configuration): host, port (as lettre reads it: 25 without TLS, 587 with
/// `tls=required` or `tls=opportunistic`, 465 for `smtps://`) and the TLS mode. `None` for
/// other schemes.
pub fn parse_smtp_url(url: &str) -> Option<(String, u16, StartTls)> {
    let (rest, implicit) = match url.strip_prefix("smtps://") {
        Some(rest) => (rest, true),
        None => (url.strip_prefix("smtp://")?, false),
    };
    let (hostport, query) = rest.split_once('?').unwrap_or((rest, ""));
    let hostport = hostport.trim_end_matches('/');
    let tls = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("tls="))
        .unwrap_or("");
    // lettre ignores `tls` for `smtps://`: TLS from the first byte in any case.
    let starttls = match (implicit, tls) {
        (true, _) => StartTls::Implicit,
        (false, "") => StartTls::Never,
        (false, "opportunistic") => StartTls::Opportunistic,
        (false, "required") => StartTls::Required,
        _ => return None,
    };
    let default_port = match starttls {
        StartTls::Never => 25,
        StartTls::Opportunistic | StartTls::Required => 587,
        StartTls::Implicit => 465,
    };
    // `host`, `host:port`, `[v6]` or `[v6]:port`.
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.ends_with(']') => (h, p.parse().ok()?),
        _ => (hostport, default_port),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then(|| (host.to_string(), port, starttls))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use lettre::transport::smtp::client::Certificate;
    use riverwatch_testkit::{SmtpServer, TestCertificates};
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    /// An implicit-TLS front (as on port 465) for a plain SMTP server: TLS with the test
    /// certificate, then the bytes both ways. Returns its port and the count of completed
    /// handshakes.
    async fn tls_front(certs: &TestCertificates, backend: u16) -> (u16, Arc<AtomicUsize>) {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&certs.cert)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(&certs.key).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let handshakes = Arc::new(AtomicUsize::new(0));
        let counted = handshakes.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, counted) = (acceptor.clone(), counted.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    counted.fetch_add(1, Ordering::SeqCst);
                    let addr = ("127.0.0.1", backend);
                    if let Ok(mut plain) = tokio::net::TcpStream::connect(addr).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                    }
                });
            }
        });
        (port, handshakes)
    }

    fn implicit_tls_relay(port: u16) -> NoDelayRelay {
        NoDelayRelay::new(
            "127.0.0.1".into(),
            port,
            StartTls::Implicit,
            ClientId::Domain("riverwatch.example.org".into()),
            None,
            Duration::from_secs(10),
        )
    }

    fn envelope() -> Envelope {
        Envelope::new(
            Some("alerts@riverwatch.example.org".parse().unwrap()),
            vec!["duty@jl.example.org".parse().unwrap()],
        )
        .unwrap()
    }

    #[tokio::test]
    async fn smtps_relays_get_tls_from_the_first_byte_on_a_nodelay_socket() {
        let dir = tempfile::tempdir().unwrap();
        let certs = TestCertificates::create(dir.path()).unwrap();
        let smtp = SmtpServer::start().unwrap();
        let (port, handshakes) = tls_front(&certs, smtp.port()).await;
        let ca = std::fs::read(&certs.ca).unwrap();
        let tls = TlsParameters::builder("127.0.0.1".into())
            .add_root_certificate(Certificate::from_pem(&ca).unwrap())
            .build()
            .unwrap();
        let relay = implicit_tls_relay(port).with_tls_parameters(tls);
        // The socket that TLS runs over has Nagle off.
        assert!(relay.open_socket().await.unwrap().nodelay().unwrap());

        for i in 0..2 {
            let body = format!("Subject: smtps {i}\r\n\r\nbody {i}\r\n");
            let reply = relay.send(&envelope(), body.as_bytes()).await.unwrap();
            assert_eq!(reply.code().to_string(), "250");
        }
        assert!(smtp.wait_for(2, Duration::from_secs(10)));
        let got = smtp.received();
        assert_eq!(got[1].to, vec!["duty@jl.example.org".to_string()]);
        assert!(got[1].data.contains("body 1"), "{}", got[1].data);
        // Both went through one TLS session, kept open and reused.
        assert_eq!(handshakes.load(Ordering::SeqCst), 1);
        assert_eq!(smtp.sessions(), 1);

        // With lettre's default roots the test certificate is refused: the relay's
        // certificate is checked as lettre's own transport checks it.
        let untrusted = implicit_tls_relay(port);
        assert!(
            untrusted
                .send(&envelope(), b"Subject: x\r\n\r\nx\r\n")
                .await
                .is_err()
        );
        assert_eq!(smtp.count(), 2);
    }

    #[test]
    fn smtp_urls_give_host_port_and_starttls_as_lettre_reads_them() {
        assert_eq!(
            parse_smtp_url("smtp://127.0.0.1:2525"),
            Some(("127.0.0.1".into(), 2525, StartTls::Never))
        );
        assert_eq!(
            parse_smtp_url("smtp://relay.example.org?tls=required"),
            Some(("relay.example.org".into(), 587, StartTls::Required))
        );
        assert_eq!(
            parse_smtp_url("smtp://relay.example.org:25/?tls=opportunistic"),
            Some(("relay.example.org".into(), 25, StartTls::Opportunistic))
        );
        assert_eq!(
            parse_smtp_url("smtps://relay.example.org"),
            Some(("relay.example.org".into(), 465, StartTls::Implicit))
        );
        assert_eq!(
            parse_smtp_url("smtps://127.0.0.1:4650"),
            Some(("127.0.0.1".into(), 4650, StartTls::Implicit))
        );
        assert_eq!(parse_smtp_url("smtp://relay.example.org?tls=wrapper"), None);
        assert_eq!(parse_smtp_url("submission://relay.example.org"), None);
    }
}
