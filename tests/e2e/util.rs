use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use riverwatch_core::mqtt::{MqttConfig, network_options};
use riverwatch_core::registry::Registry;
use riverwatch_core::time::SystemClock;
use riverwatch_ingest::config::IngestConfig;
use riverwatch_ingest::store::SqliteStore;
use riverwatch_ingest::store::sqlite::test_sqlite_config;
use rumqttc::{AsyncClient, Event, Incoming, QoS};
use tokio_util::sync::CancellationToken;

pub fn registry() -> Arc<Registry> {
    Arc::new(Registry::builtin().expect("built-in registry"))
}

/// Polls `f` every 50 ms until it returns true or `timeout` passes.
pub async fn wait_until<F: FnMut() -> bool>(timeout: Duration, mut f: F) -> bool {
    let start = Instant::now();
    loop {
        if f() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Number of stored readings in a data directory's SQLite file (0 when absent).
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
    let mut opts = MqttConfig::with_url(url).options(client_id, true).unwrap();
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
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Ok(ev) = eventloop.poll().await {
            if matches!(ev, Event::Outgoing(rumqttc::Outgoing::Disconnect)) {
                break;
            }
        }
    })
    .await;
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

/// An ingest service running in this process on a SQLite file.
pub struct InProcessIngest {
    pub token: CancellationToken,
    pub task: tokio::task::JoinHandle<Result<(), riverwatch_ingest::Error>>,
}

impl InProcessIngest {
    pub fn start(url: &str, db: &Path, config: IngestConfig) -> Self {
        Self::start_with(MqttConfig::with_url(url), db, config)
    }

    pub fn start_with(mqtt: MqttConfig, db: &Path, config: IngestConfig) -> Self {
        let _ = riverwatch_core::telemetry::init("warn");
        let store = SqliteStore::open(db, &test_sqlite_config()).unwrap();
        let token = CancellationToken::new();
        let args = riverwatch_ingest::IngestArgs {
            config,
            mqtt,
            store,
            registry: registry(),
            clock: Arc::new(SystemClock),
        };
        let task = tokio::spawn(riverwatch_ingest::run(args, token.clone()));
        Self { token, task }
    }

    pub async fn stop(self) {
        self.token.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("ingest stops within 30 s")
            .expect("ingest task")
            .expect("ingest ran without error");
    }
}

/// The `riverwatch` binary built for these tests.
pub fn riverwatch_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_riverwatch"))
}

/// A `riverwatch` child process, killed on drop.
pub struct ChildProcess(pub Option<Child>);

impl ChildProcess {
    pub fn spawn(args: &[&str]) -> Self {
        let child = Command::new(riverwatch_bin())
            .args(args)
            .env("RIVERWATCH_LOG", "warn")
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

/// Writes a configuration file for child processes.
pub fn write_config(dir: &Path, url: &str, ingest_extra: &str) -> PathBuf {
    let path = dir.join("riverwatch.toml");
    std::fs::write(
        &path,
        format!(
            "[mqtt]\nurl = \"{url}\"\n\n[ingest]\n{ingest_extra}\n\n[store.sqlite]\nsynchronous = \"normal\"\n"
        ),
    )
    .unwrap();
    path
}
