//! Connections to a plain or STARTTLS SMTP relay (`smtp://`) with TCP_NODELAY set.
//!
//! lettre's pooled transport opens its sockets itself and offers no way to turn Nagle's
//! algorithm off. Nagle holds the small second write of a command (the end of `DATA`, a
//! command after a pipelined one) until the relay acknowledges the first, and a relay that
//! delays its ACKs (Linux: 40 ms) turns every email into a ~44 ms exchange even on loopback.
//! So for `smtp://` relays the service connects the socket itself, sets TCP_NODELAY and hands
//! it to lettre's SMTP client ([`AsyncSmtpConnection::connect_with_transport`]), which then
//! does EHLO, STARTTLS (the option stays on the socket under TLS) and AUTH as before. A few
//! connections are kept open for reuse; one that went stale is replaced once, transparently.
//!
//! `smtps://` (TLS from the first byte) stays on lettre's own transport: lettre's client
//! speaks EHLO as soon as it gets a stream, so implicit TLS cannot be put in front of it
//! without a TLS stack of our own; those relays are remote, where the round trip dominates.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;

/// Idle connections kept for reuse (the sender has at most four deliveries in flight).
const MAX_IDLE: usize = 4;
/// An idle connection older than this is closed rather than reused (relays drop idle
/// clients after a minute or more; RFC 5321 asks servers to wait at least 5 minutes).
const MAX_IDLE_AGE: Duration = Duration::from_secs(30);

/// STARTTLS use on an `smtp://` relay, as lettre reads the URL's `tls` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartTls {
    /// No TLS (no `tls` parameter).
    Never,
    /// When the relay offers it (`tls=opportunistic`).
    Opportunistic,
    /// Refuse to send without it (`tls=required`).
    Required,
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

/// An `smtp://` relay reached over sockets with TCP_NODELAY.
pub struct NoDelayRelay {
    host: String,
    port: u16,
    starttls: StartTls,
    hello: ClientId,
    credentials: Option<Credentials>,
    timeout: Duration,
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
            idle: Mutex::new(Vec::new()),
        }
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

    async fn connect(&self) -> Result<AsyncSmtpConnection, RelayError> {
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
        let mut conn = AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello)
            .await
            .map_err(RelayError::Smtp)?;
        let tls = || TlsParameters::new(self.host.clone()).map_err(RelayError::Smtp);
        match self.starttls {
            StartTls::Never => {}
            StartTls::Opportunistic if !conn.can_starttls() => {}
            StartTls::Opportunistic | StartTls::Required => {
                conn.starttls(tls()?, &self.hello)
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
}

/// The parts of an `smtp://host[:port][?tls=…]` URL (already checked by the configuration):
/// host, port (25 without TLS, 587 with `tls=required` or `tls=opportunistic`, as lettre
/// reads it) and the STARTTLS mode. `None` for other schemes.
pub fn parse_smtp_url(url: &str) -> Option<(String, u16, StartTls)> {
    let rest = url.strip_prefix("smtp://")?;
    let (hostport, query) = rest.split_once('?').unwrap_or((rest, ""));
    let hostport = hostport.trim_end_matches('/');
    let starttls = match query
        .split('&')
        .find_map(|kv| kv.strip_prefix("tls="))
        .unwrap_or("")
    {
        "" => StartTls::Never,
        "opportunistic" => StartTls::Opportunistic,
        "required" => StartTls::Required,
        _ => return None,
    };
    let default_port = if starttls == StartTls::Never { 25 } else { 587 };
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
        assert_eq!(parse_smtp_url("smtps://relay.example.org"), None);
    }
}
