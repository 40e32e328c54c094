//! A real SMTP server on a loopback port, speaking the protocol (RFC 5321: greeting,
//! EHLO/HELO, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT, reply codes and command
//! order), that records every message it accepts with the time it answered `250`. It can be
//! stopped and restarted on the same port (an outage), or told to answer `451` for a while.
//! [`Received::parsed`] decodes a message with [`crate::mail`].

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::mail::{ParsedMail, parse_mail};

/// A message the server accepted.
#[derive(Debug, Clone)]
pub struct Received {
    /// `MAIL FROM` address.
    pub from: String,
    /// `RCPT TO` addresses.
    pub to: Vec<String>,
    /// The message as sent (dot-unstuffed), headers and body.
    pub data: String,
    /// When the server answered `250` to the data.
    pub accepted_at: Instant,
}

impl Received {
    /// The decoded message.
    pub fn parsed(&self) -> ParsedMail {
        parse_mail(&self.data)
    }
}

#[derive(Debug, Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    stop: AtomicBool,
    tempfail: AtomicBool,
    connections: Mutex<Vec<TcpStream>>,
    sessions: AtomicU64,
}

/// A loopback SMTP server owned by a test.
#[derive(Debug)]
pub struct SmtpServer {
    port: u16,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl SmtpServer {
    /// Starts on a free loopback port.
    ///
    /// # Errors
    /// When no port can be bound.
    pub fn start() -> std::io::Result<Self> {
        Self::start_on(0)
    }

    /// Starts on a given port (0: any free one).
    ///
    /// # Errors
    /// When the port cannot be bound.
    pub fn start_on(port: u16) -> std::io::Result<Self> {
        let mut s = Self {
            port,
            shared: Arc::new(Shared::default()),
            accept: None,
        };
        s.listen()?;
        Ok(s)
    }

    fn listen(&mut self) -> std::io::Result<()> {
        let listener = bind_retrying(self.port)?;
        self.port = listener.local_addr()?.port();
        listener.set_nonblocking(true)?;
        self.shared.stop.store(false, Ordering::SeqCst);
        let shared = self.shared.clone();
        self.accept = Some(std::thread::spawn(move || accept_loop(listener, shared)));
        Ok(())
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Stops listening and drops every open connection (an outage).
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        if let Ok(mut conns) = self.shared.connections.lock() {
            for c in conns.drain(..) {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
    }

    /// Listens again on the same port, keeping what was received.
    ///
    /// # Errors
    /// When the port cannot be bound again.
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.stop();
        self.listen()
    }

    /// Answer `451` (try again later) to `MAIL FROM` while `on`.
    pub fn set_tempfail(&self, on: bool) {
        self.shared.tempfail.store(on, Ordering::SeqCst);
    }

    /// Every accepted message, in order.
    pub fn received(&self) -> Vec<Received> {
        self.shared
            .received
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// How many messages were accepted.
    pub fn count(&self) -> usize {
        self.shared.received.lock().map(|r| r.len()).unwrap_or(0)
    }

    /// How many SMTP sessions were opened.
    pub fn sessions(&self) -> u64 {
        self.shared.sessions.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` messages were accepted.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.count() >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.count() >= n
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn bind_retrying(port: u16) -> std::io::Result<TcpListener> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let start = Instant::now();
    loop {
        match TcpListener::bind(addr) {
            Ok(l) => return Ok(l),
            Err(e) if port != 0 && start.elapsed() < Duration::from_secs(10) => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut workers = Vec::new();
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_nodelay(true);
                if let Ok(clone) = stream.try_clone()
                    && let Ok(mut conns) = shared.connections.lock()
                {
                    conns.push(clone);
                }
                shared.sessions.fetch_add(1, Ordering::SeqCst);
                let shared = shared.clone();
                workers.push(std::thread::spawn(move || {
                    let _ = session(stream, &shared);
                }));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    drop(listener);
    if let Ok(mut conns) = shared.connections.lock() {
        for c in conns.drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
    for w in workers {
        let _ = w.join();
    }
}

fn reply(out: &mut TcpStream, text: &str) -> std::io::Result<()> {
    out.write_all(text.as_bytes())?;
    out.write_all(b"\r\n")?;
    out.flush()
}

fn address(arg: &str) -> String {
    match (arg.find('<'), arg.find('>')) {
        (Some(a), Some(b)) if a < b => arg[a + 1..b].to_string(),
        _ => arg.split_whitespace().next().unwrap_or("").to_string(),
    }
}

fn session(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut out = stream.try_clone()?;
    let mut input = BufReader::new(stream);
    reply(&mut out, "220 127.0.0.1 ESMTP riverwatch test server")?;
    let mut greeted = false;
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 || shared.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        let cmd = line.trim_end_matches(['\r', '\n']);
        let upper = cmd.to_ascii_uppercase();
        let verb = upper.split_whitespace().next().unwrap_or("");
        match verb {
            "EHLO" => {
                greeted = true;
                from = None;
                to.clear();
                reply(&mut out, "250-127.0.0.1 greets you")?;
                reply(&mut out, "250-8BITMIME")?;
                reply(&mut out, "250-SMTPUTF8")?;
                reply(&mut out, "250 SIZE 10485760")?;
            }
            "HELO" => {
                greeted = true;
                from = None;
                to.clear();
                reply(&mut out, "250 127.0.0.1")?;
            }
            "MAIL" if upper.starts_with("MAIL FROM:") => {
                if !greeted {
                    reply(&mut out, "503 5.5.1 Send EHLO first")?;
                } else if from.is_some() {
                    reply(&mut out, "503 5.5.1 Nested MAIL command")?;
                } else if shared.tempfail.load(Ordering::SeqCst) {
                    reply(&mut out, "451 4.3.0 Temporary failure, try again later")?;
                } else {
                    from = Some(address(&cmd[10..]));
                    reply(&mut out, "250 2.1.0 Ok")?;
                }
            }
            "RCPT" if upper.starts_with("RCPT TO:") => {
                if from.is_none() {
                    reply(&mut out, "503 5.5.1 Need MAIL first")?;
                } else {
                    to.push(address(&cmd[8..]));
                    reply(&mut out, "250 2.1.5 Ok")?;
                }
            }
            "DATA" => {
                if from.is_none() || to.is_empty() {
                    reply(&mut out, "503 5.5.1 Need RCPT first")?;
                    continue;
                }
                reply(&mut out, "354 End data with <CR><LF>.<CR><LF>")?;
                let mut data = String::new();
                loop {
                    let mut l = String::new();
                    if input.read_line(&mut l)? == 0 {
                        return Ok(());
                    }
                    if l == ".\r\n" || l == ".\n" {
                        break;
                    }
                    let l = l.strip_prefix('.').unwrap_or(&l);
                    data.push_str(l);
                }
                let n = {
                    let mut r = shared
                        .received
                        .lock()
                        .map_err(|_| std::io::Error::other("poisoned"))?;
                    r.push(Received {
                        from: from.take().unwrap_or_default(),
                        to: std::mem::take(&mut to),
                        data,
                        accepted_at: Instant::now(),
                    });
                    r.len()
                };
                reply(&mut out, &format!("250 2.0.0 Ok: queued as T{n}"))?;
            }
            "RSET" => {
                from = None;
                to.clear();
                reply(&mut out, "250 2.0.0 Ok")?;
            }
            "NOOP" => reply(&mut out, "250 2.0.0 Ok")?,
            "VRFY" => reply(&mut out, "252 2.0.0 Cannot VRFY user")?,
            "QUIT" => {
                reply(&mut out, "221 2.0.0 Bye")?;
                return Ok(());
            }
            _ => reply(&mut out, "502 5.5.2 Command not recognized")?,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn talk(port: u16, lines: &[&str]) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        for l in lines {
            s.write_all(l.as_bytes()).unwrap();
            s.write_all(b"\r\n").unwrap();
        }
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    #[test]
    fn speaks_smtp_in_order_and_unstuffs_dots() {
        let mut server = SmtpServer::start().unwrap();
        let out = talk(
            server.port(),
            &[
                "MAIL FROM:<a@x.org>",
                "EHLO client",
                "DATA",
                "MAIL FROM:<a@x.org> BODY=8BITMIME",
                "RCPT TO:<b@y.org>",
                "DATA",
                "Subject: =?utf-8?b?5ZGK6K2m?=",
                "",
                "..leading dot",
                ".",
                "QUIT",
            ],
        );
        let codes: Vec<&str> = out.lines().map(|l| &l[..3]).collect();
        assert_eq!(
            codes,
            [
                "220", "503", "250", "250", "250", "250", "503", "250", "250", "354", "250", "221"
            ]
        );
        let got = server.received();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].to, vec!["b@y.org".to_string()]);
        assert!(
            got[0].data.contains("\r\n.leading dot"),
            "{:?}",
            got[0].data
        );
        assert_eq!(got[0].parsed().subject, "告警");
        let port = server.port();
        server.stop();
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
        server.restart().unwrap();
        assert_eq!(server.port(), port);
        server.set_tempfail(true);
        let out = talk(port, &["HELO c", "MAIL FROM:<a@x.org>", "QUIT"]);
        assert!(out.contains("451"), "{out}");
    }
}
