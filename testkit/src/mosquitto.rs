//! A real mosquitto broker on a free loopback port, with its data in a temporary folder,
//! stopped when dropped.

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::certs::TestCertificates;
use crate::tempdir::TempDir;

/// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
pub fn free_port() -> std::io::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Waits until something accepts TCP connections on `port`.
pub fn wait_for_port(port: u16, timeout: Duration) -> std::io::Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let start = Instant::now();
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if start.elapsed() > timeout {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("nothing listens on 127.0.0.1:{port} after {timeout:?}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How to run the test broker.
#[derive(Debug, Clone)]
pub struct MosquittoOptions {
    /// Keep sessions and queued messages on disk across restarts.
    pub persistence: bool,
    /// Largest queue per offline or slow subscriber (mosquitto's default 1000 loses data).
    pub max_queued_messages: u64,
    /// Unacknowledged QoS 1/2 messages in flight per client.
    pub max_inflight_messages: u32,
    /// Serve TLS (`mqtts://`) with this certificate instead of plain MQTT.
    pub tls: Option<TestCertificates>,
}

impl Default for MosquittoOptions {
    fn default() -> Self {
        Self {
            persistence: false,
            max_queued_messages: 1_000_000,
            max_inflight_messages: 1000,
            tls: None,
        }
    }
}

/// A mosquitto process owned by a test.
#[derive(Debug)]
pub struct Mosquitto {
    child: Option<Child>,
    tls: bool,
    port: u16,
    dir: PathBuf,
    conf: PathBuf,
    _tmp: TempDir,
}

impl Mosquitto {
    /// Starts a broker with the default test options.
    ///
    /// # Errors
    /// When mosquitto is not installed or does not start.
    pub fn start() -> std::io::Result<Self> {
        Self::start_with(&MosquittoOptions::default())
    }

    /// Starts a broker.
    ///
    /// # Errors
    /// When mosquitto is not installed or does not start.
    pub fn start_with(opts: &MosquittoOptions) -> std::io::Result<Self> {
        let tmp = TempDir::new("rw-mosquitto")?;
        let port = free_port()?;
        let dir = tmp.path().to_path_buf();
        // Started as root, mosquitto drops to its own user, which must be able to write
        // the persistence file.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))?;
        }
        let conf = dir.join("mosquitto.conf");
        let mut f = std::fs::File::create(&conf)?;
        writeln!(f, "listener {port} 127.0.0.1")?;
        if let Some(tls) = &opts.tls {
            writeln!(f, "certfile {}", tls.cert.display())?;
            writeln!(f, "keyfile {}", tls.key.display())?;
        }
        writeln!(f, "allow_anonymous true")?;
        writeln!(f, "max_queued_messages {}", opts.max_queued_messages)?;
        writeln!(f, "max_inflight_messages {}", opts.max_inflight_messages)?;
        writeln!(f, "set_tcp_nodelay true")?;
        writeln!(f, "sys_interval 1")?;
        if opts.persistence {
            writeln!(f, "persistence true")?;
            writeln!(f, "persistence_location {}/", dir.display())?;
            writeln!(f, "autosave_interval 1")?;
        } else {
            writeln!(f, "persistence false")?;
        }
        drop(f);
        let mut m = Self {
            child: None,
            tls: opts.tls.is_some(),
            port,
            dir,
            conf,
            _tmp: tmp,
        };
        m.spawn()?;
        Ok(m)
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let child = Command::new(mosquitto_binary())
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "cannot start mosquitto ({e}); install it with `apt-get install -y mosquitto`"
                    ),
                )
            })?;
        self.child = Some(child);
        wait_for_port(self.port, Duration::from_secs(10))
    }

    /// The broker URL, `mqtt://127.0.0.1:PORT` (`mqtts://` when serving TLS).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The broker's data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops the broker gracefully (SIGTERM, so a persistent broker saves its state).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().to_string();
            let _ = Command::new("kill").arg("-TERM").arg(&pid).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Restarts the broker on the same port and data directory.
    ///
    /// # Errors
    /// When it does not come back.
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.stop();
        self.spawn()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn mosquitto_binary() -> PathBuf {
    for p in [
        "/usr/sbin/mosquitto",
        "/usr/bin/mosquitto",
        "/usr/local/sbin/mosquitto",
    ] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    PathBuf::from("mosquitto")
}
