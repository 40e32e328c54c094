//! Helpers shared by the end-to-end tests: waiting on a condition, counting what a store
//! holds, publishing, priming and watching broker sessions, test messages, child processes.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use riverwatch_core::mqtt::{MqttConfig, network_options};
use riverwatch_core::registry::Registry;
use rumqttc::{AsyncClient, Event, Incoming, Outgoing, QoS};

/// The observation topics ingest subscribes to.
pub const INGEST_FILTERS: [&str; 2] = ["rw/v1/obs/+", "rw/v1/hj212/+"];

pub fn registry() -> Arc<Registry> {
    Arc::new(Registry::builtin().expect("built-in registry"))
}

/// Polls `done` every 50 ms until it holds; when `timeout` passes first, fails the test
/// saying that `what` did not happen.
pub async fn wait_until(
    timeout: Duration,
    what: impl fmt::Display,
    mut done: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "waited {timeout:?} in vain for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A description computed only when shown, so that a failed [`wait_until`] reports the
/// state at its deadline (`Later(|| format!("stored {}", count()))`).
pub struct Later<F>(pub F);

impl<F: Fn() -> String> fmt::Display for Later<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&(self.0)())
    }
}

/// Number of stored readings in a SQLite readings file (0 when absent).
pub fn count_readings(db: &Path) -> u64 {
    if !db.exists() {
        return 0;
    }
    riverwatch_ingest::store::SqliteReader::open(db)
        .and_then(|r| r.count_blocking())
        .unwrap_or(0)
}

/// Number of dead letters.
pub fn count_dead(db: &Path) -> u64 {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return 0;
    };
    conn.query_row("SELECT count(*) FROM dead_letters", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| n as u64)
    .unwrap_or(0)
}

/// Publishes messages at QoS 1 and returns once the broker acknowledged every one.
pub async fn publish_all(url: &str, client_id: &str, messages: Vec<(String, Vec<u8>)>) {
    publish_with(&MqttConfig::with_url(url), client_id, messages).await;
}

/// [`publish_all`] through a given connection (an account, TLS).
pub async fn publish_with(mqtt: &MqttConfig, client_id: &str, messages: Vec<(String, Vec<u8>)>) {
    let mut opts = mqtt.options(client_id, true).unwrap();
    opts.set_inflight(1000);
    let (client, mut eventloop) = AsyncClient::new(opts, 2000);
    eventloop.set_network_options(network_options());
    let total = messages.len();
    let sender = tokio::spawn(async move {
        for (topic, payload) in messages {
            client
                .publish(topic, QoS::AtLeastOnce, false, payload)
                .await
                .unwrap();
        }
        client
    });
    let mut acked = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked < total {
        assert!(
            Instant::now() < deadline,
            "only {acked} of {total} published"
        );
        match tokio::time::timeout(Duration::from_secs(10), eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Incoming::PubAck(_)))) => acked += 1,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("publisher connection failed: {e}"),
            Err(_) => panic!("publisher stalled at {acked} of {total}"),
        }
    }
    let client = sender.await.unwrap();
    client.disconnect().await.ok();
    close(&mut eventloop).await;
}

/// Polls until the disconnect went out (at most 2 s).
async fn close(eventloop: &mut rumqttc::EventLoop) {
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Ok(ev) = eventloop.poll().await {
            if matches!(ev, Event::Outgoing(Outgoing::Disconnect)) {
                break;
            }
        }
    })
    .await;
}

/// Creates a service's persistent session subscribed to `filters` before anything is
/// published, as a deployment does once: the broker then queues every message for it,
/// even while the service is down.
pub async fn prime_session(mqtt: &MqttConfig, client_id: &str, filters: &[&str]) {
    let opts = mqtt.options(client_id, false).unwrap();
    let (client, mut eventloop) = AsyncClient::new(opts, 10);
    for f in filters {
        client.subscribe(*f, QoS::AtLeastOnce).await.unwrap();
    }
    let mut subacks = 0;
    while subacks < filters.len() {
        match tokio::time::timeout(Duration::from_secs(5), eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Incoming::SubAck(_)))) => subacks += 1,
            Ok(Ok(_)) => {}
            other => panic!("priming session {client_id} failed: {other:?}"),
        }
    }
    client.disconnect().await.unwrap();
    close(&mut eventloop).await;
}

/// A message as published: (topic, payload).
pub type Message = (String, Vec<u8>);

/// A subscriber that keeps every message published on a filter, for watching what a
/// service publishes. Its session is persistent, so a reconnection loses nothing.
pub struct Collector {
    messages: Arc<Mutex<Vec<Message>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Collector {
    /// Subscribes to `filter` and returns once the broker granted the subscription: every
    /// message published from then on is kept.
    pub async fn start(mqtt: &MqttConfig, client_id: &str, filter: &str) -> Self {
        let opts = mqtt.options(client_id, false).unwrap();
        let (client, mut eventloop) = AsyncClient::new(opts, 100);
        client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
        loop {
            match tokio::time::timeout(Duration::from_secs(10), eventloop.poll()).await {
                Ok(Ok(Event::Incoming(Incoming::SubAck(_)))) => break,
                Ok(Ok(_)) => {}
                other => panic!("subscribing {client_id} to {filter} failed: {other:?}"),
            }
        }
        let messages = Arc::new(Mutex::new(Vec::new()));
        let sink = messages.clone();
        let task = tokio::spawn(async move {
            let _client = client;
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Incoming::Publish(p))) => {
                        sink.lock()
                            .unwrap()
                            .push((p.topic.clone(), p.payload.to_vec()));
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        Self { messages, task }
    }

    /// What arrived so far, (topic, payload) in arrival order.
    pub fn messages(&self) -> Vec<Message> {
        self.messages.lock().unwrap().clone()
    }

    /// Whether any payload so far satisfies `f`.
    pub fn any(&self, f: impl Fn(&str, &[u8]) -> bool) -> bool {
        self.messages.lock().unwrap().iter().any(|(t, p)| f(t, p))
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A JSON observation of `station` at `t` with the given values.
pub fn json_obs(station: &str, t: DateTime<Utc>, values: &[(&str, f64)]) -> (String, Vec<u8>) {
    let values: serde_json::Map<String, serde_json::Value> = values
        .iter()
        .map(|(k, v)| ((*k).to_string(), serde_json::json!(v)))
        .collect();
    let body = serde_json::json!({"station": station, "ts": t.to_rfc3339(), "values": values});
    (
        format!("rw/v1/obs/{station}"),
        serde_json::to_vec(&body).unwrap(),
    )
}

/// `n` observations spread over the water sections, 8 values each, one minute apart per
/// station, all within physical ranges. Each message is distinct.
pub fn stream(n: usize, start: DateTime<Utc>) -> Vec<(String, Vec<u8>)> {
    let stations = [
        "LLH-WC", "LLH-NTS", "LLH-LLZ", "LLH-YS", "LLH-CJG", "LLH-HK", "SHJ-SFT", "SHJ-ZY",
    ];
    (0..n)
        .map(|i| {
            let s = stations[i % stations.len()];
            let t = start + chrono::Duration::minutes((i / stations.len()) as i64);
            let x = (i % 97) as f64 / 100.0;
            json_obs(
                s,
                t,
                &[
                    ("WT", 2.0 + x),
                    ("pH", 7.2 + x),
                    ("DO", 8.0 + x),
                    ("COND", 300.0 + x),
                    ("TURB", 10.0 + x),
                    ("CODMn", 4.0 + x),
                    ("NH3N", 0.3 + x / 10.0),
                    ("TP", 0.05 + x / 100.0),
                ],
            )
        })
        .collect()
}

/// The `riverwatch` binary built for these tests.
pub fn riverwatch_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_riverwatch"))
}

/// Runs a `riverwatch` command to completion: (exit code, stdout, stderr).
pub fn cli(config: &Path, data: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(riverwatch_bin())
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env("RIVERWATCH_LOG", "warn")
        .env_remove(riverwatch_core::keys::ENV_KEY)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A `riverwatch` child process, killed on drop.
pub struct ChildProcess(pub Option<Child>);

impl ChildProcess {
    pub fn spawn(args: &[&str]) -> Self {
        // Under umask 022, as on many systems: the modes of what riverwatch creates must not
        // depend on it.
        let child = Command::new("sh")
            .arg("-c")
            .arg("umask 022 && exec \"$0\" \"$@\"")
            .arg(riverwatch_bin())
            .args(args)
            .env("RIVERWATCH_LOG", "warn")
            .env_remove(riverwatch_core::keys::ENV_KEY)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn riverwatch");
        Self(Some(child))
    }

    /// SIGKILL: no chance to flush or ack.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.0.take() {
            c.kill().ok();
            c.wait().ok();
        }
    }

    /// SIGINT, then wait for a clean exit.
    pub fn interrupt_and_wait(&mut self) -> std::process::ExitStatus {
        let c = self.0.as_mut().expect("running");
        Command::new("kill")
            .arg("-INT")
            .arg(c.id().to_string())
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                self.0 = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "riverwatch did not stop on SIGINT"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Every folder under `data` (and `data` itself) that is not 0700 and every file that is
/// not 0600, with its mode; and the names of the files seen.
pub fn not_private(data: &Path) -> (Vec<(String, u32)>, Vec<String>) {
    use std::os::unix::fs::PermissionsExt as _;
    let mut wrong = Vec::new();
    let mut seen = Vec::new();
    let mut todo = vec![data.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        if mode != 0o700 {
            wrong.push((dir.display().to_string(), mode));
        }
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                todo.push(path);
            } else {
                let mode = meta.permissions().mode() & 0o777;
                let name = path.strip_prefix(data).unwrap().display().to_string();
                if mode != 0o600 {
                    wrong.push((name.clone(), mode));
                }
                seen.push(name);
            }
        }
    }
    seen.sort();
    (wrong, seen)
}
