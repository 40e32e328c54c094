//! A real mosquitto broker on a free loopback port, with its data in a temporary folder,
//! stopped when dropped: with test settings ([`Mosquitto::start_with`]), or with a production
//! configuration file moved onto loopback ports ([`Mosquitto::start_from_config`]), whose
//! password files [`password_file`] makes with `mosquitto_passwd`.

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
    /// Largest publish payload the broker accepts, bytes (`message_size_limit`); 0 is
    /// mosquitto's default, no limit beyond MQTT's.
    pub message_size_limit: u64,
}

impl Default for MosquittoOptions {
    fn default() -> Self {
        Self {
            persistence: false,
            max_queued_messages: 1_000_000,
            max_inflight_messages: 1000,
            tls: None,
            message_size_limit: 0,
        }
    }
}

/// One listener of a test broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listener {
    /// The port the configuration names (for [`Mosquitto::start_with`], the port itself).
    pub configured_port: u16,
    /// The loopback port it listens on.
    pub port: u16,
    /// Whether it serves TLS.
    pub tls: bool,
}

impl Listener {
    /// `mqtt://127.0.0.1:PORT`, or `mqtts://` when it serves TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }
}

/// Where a production configuration keeps the files it names.
const ETC: &str = "/etc/mosquitto/";

/// A mosquitto process owned by a test.
#[derive(Debug)]
pub struct Mosquitto {
    child: Option<Child>,
    listeners: Vec<Listener>,
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
        writeln!(f, "message_size_limit {}", opts.message_size_limit)?;
        writeln!(f, "log_dest file {}", dir.join("mosquitto.log").display())?;
        writeln!(f, "log_type error")?;
        writeln!(f, "log_type warning")?;
        writeln!(f, "log_type notice")?;
        writeln!(f, "log_type information")?;
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
            listeners: vec![Listener {
                configured_port: port,
                port,
                tls: opts.tls.is_some(),
            }],
            dir,
            conf,
            _tmp: tmp,
        };
        m.spawn()?;
        Ok(m)
    }

    /// Starts a broker from a production configuration file's text (`deploy/mosquitto.conf`),
    /// changed only where a test must: every `listener` moves to a free port on 127.0.0.1
    /// (TLS where the file gives it a `certfile`), `persistence_location` to the broker's
    /// temporary folder, and every path under `/etc/mosquitto/` to the file `files` gives for
    /// it, by its path below that folder (`("certs/server.crt", pem)`, `("riverwatch.acl",
    /// text)`, `("stations.passwd", password_file(…)?)`). Everything else (accounts, ACL,
    /// per-listener settings, limits) is as shipped. The broker logs everything to a file,
    /// [`Mosquitto::log`].
    ///
    /// # Errors
    /// The file names a path under `/etc/mosquitto/` that `files` does not give, or
    /// mosquitto does not start.
    pub fn start_from_config(conf_text: &str, files: &[(&str, &[u8])]) -> std::io::Result<Self> {
        let tmp = TempDir::new("rw-mosquitto")?;
        let dir = tmp.path().to_path_buf();
        #[cfg(unix)]
        use std::os::unix::fs::PermissionsExt;
        // Started as root, mosquitto drops to its own user, which must be able to write the
        // persistence file and the log, and read the files (test data only, so 0644 is fine).
        #[cfg(unix)]
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))?;
        let etc = dir.join("etc");
        for (name, bytes) in files {
            let path = etc.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
                #[cfg(unix)]
                for d in parent.ancestors().take_while(|d| d.starts_with(&etc)) {
                    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))?;
                }
            }
            std::fs::write(&path, bytes)?;
            #[cfg(unix)]
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
        }
        let mut listeners = Vec::new();
        let mut out = String::new();
        for line in conf_text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let rewritten = match words.as_slice() {
                ["listener", port, ..] => {
                    let configured_port = port.parse().map_err(|_| {
                        std::io::Error::new(
                            std::io::ErrorKind::InvalidInput,
                            format!("listener port `{port}` is not a number"),
                        )
                    })?;
                    let port = free_port()?;
                    listeners.push(Listener {
                        configured_port,
                        port,
                        tls: false,
                    });
                    format!("listener {port} 127.0.0.1")
                }
                ["persistence_location", _] => format!("persistence_location {}/", dir.display()),
                [key, value] if value.starts_with(ETC) => {
                    let name = value.trim_start_matches(ETC);
                    if !files.iter().any(|(n, _)| *n == name) {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidInput,
                            format!(
                                "the configuration names {value}, which the test does not give"
                            ),
                        ));
                    }
                    if *key == "certfile"
                        && let Some(l) = listeners.last_mut()
                    {
                        l.tls = true;
                    }
                    format!("{key} {}", etc.join(name).display())
                }
                _ => line.to_string(),
            };
            out.push_str(&rewritten);
            out.push('\n');
        }
        if listeners.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the configuration has no listener",
            ));
        }
        out.push_str(&format!(
            "log_dest file {}\nlog_type all\n",
            dir.join("mosquitto.log").display()
        ));
        let conf = dir.join("mosquitto.conf");
        std::fs::write(&conf, out)?;
        let mut m = Self {
            child: None,
            listeners,
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
        for l in &self.listeners {
            wait_for_port(l.port, Duration::from_secs(10))?;
        }
        Ok(())
    }

    /// The first listener's URL, `mqtt://127.0.0.1:PORT` (`mqtts://` when serving TLS).
    pub fn url(&self) -> String {
        self.first().url()
    }

    /// The first listener's TCP port.
    pub fn port(&self) -> u16 {
        self.first().port
    }

    fn first(&self) -> Listener {
        // Both constructors refuse to start without a listener.
        self.listeners.first().copied().unwrap_or(Listener {
            configured_port: 0,
            port: 0,
            tls: false,
        })
    }

    /// The listener the configuration put on `configured_port`.
    pub fn listener(&self, configured_port: u16) -> Option<Listener> {
        self.listeners
            .iter()
            .copied()
            .find(|l| l.configured_port == configured_port)
    }

    /// What the broker logged so far (everything with [`Mosquitto::start_from_config`];
    /// errors, warnings, notices and connections with [`Mosquitto::start_with`]).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
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

/// A mosquitto password file with these (user name, password) accounts, made by
/// `mosquitto_passwd` (installed with mosquitto), for [`Mosquitto::start_from_config`].
///
/// # Errors
/// When `mosquitto_passwd` cannot be run or fails.
pub fn password_file(accounts: &[(&str, &str)]) -> std::io::Result<Vec<u8>> {
    let tmp = TempDir::new("rw-passwd")?;
    let file = tmp.path().join("passwd");
    std::fs::write(&file, "")?;
    for (user, password) in accounts {
        let out = Command::new(binary("mosquitto_passwd", &["/usr/bin", "/usr/local/bin"]))
            .arg("-b")
            .arg(&file)
            .arg(user)
            .arg(password)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "cannot run mosquitto_passwd ({e}); it comes with `apt-get install -y mosquitto`"
                    ),
                )
            })?;
        if !out.status.success() {
            return Err(std::io::Error::other(format!(
                "mosquitto_passwd for {user} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
    }
    std::fs::read(&file)
}

fn mosquitto_binary() -> PathBuf {
    binary("mosquitto", &["/usr/sbin", "/usr/bin", "/usr/local/sbin"])
}

/// `name` in the first of `dirs` that has it, else `name` for the search path.
fn binary(name: &str, dirs: &[&str]) -> PathBuf {
    for d in dirs {
        let p = Path::new(d).join(name);
        if p.exists() {
            return p;
        }
    }
    PathBuf::from(name)
}
