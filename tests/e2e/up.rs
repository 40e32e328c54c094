//! `riverwatch up --scenario` as a new user runs it: the whole system in one child process
//! (embedded broker on a free port, a temporary data directory), the scenario re-dated and
//! replayed at the speed the README recommends, and its first boundary alert within seconds.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use riverwatch_alerts::model::AlertView;
use riverwatch_alerts::reader::{AlertQuery, AlertReader, StateFilter};
use riverwatch_core::Province;
use riverwatch_core::store_api::ReadingQuery;
use riverwatch_ingest::store::SqliteReader;

use crate::util::*;

/// The speed the README recommends for `up --scenario` (one simulated hour per second).
const RECOMMENDED_SPEED: &str = "3600";

/// `riverwatch up` as a child process with its stderr kept; SIGINT and a clean exit at the
/// end, SIGKILL if the test fails first.
struct Up {
    child: Option<Child>,
    stderr: Arc<Mutex<String>>,
}

impl Up {
    fn start(data: &Path, args: &[&str]) -> Self {
        // Under the permissive umask many systems default to: the modes of what `up`
        // creates must not depend on it.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("umask 022 && exec \"$0\" \"$@\"")
            .arg(riverwatch_bin())
            .arg("--data-dir")
            .arg(data)
            .args(["--lang", "en", "up"])
            .args(args)
            .env("RIVERWATCH_LOG", "warn,rumqttd=off")
            .env_remove(riverwatch_core::keys::ENV_KEY)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn riverwatch up");
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                eprintln!("[up] {line}");
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Self {
            child: Some(child),
            stderr,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// SIGINT (Ctrl-C), then the exit code.
    fn interrupt(&mut self) -> Option<i32> {
        let mut c = self.child.take().expect("running");
        Command::new("kill")
            .arg("-INT")
            .arg(c.id().to_string())
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "riverwatch up did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().ok();
        }
    }
}

fn alerts_of(db: &Path, station: &str) -> Vec<AlertView> {
    AlertReader::open(db, std::sync::Arc::new(riverwatch_core::time::SystemClock))
        .and_then(|r| {
            r.alerts(&AlertQuery {
                state: StateFilter::All,
                subject: Some(station.to_string()),
                ..AlertQuery::default()
            })
        })
        .unwrap_or_default()
}

/// The time after `label` on the first screen: `2026-11-26 16:21:35` in UTC+8.
fn screen_time(screen: &str, label: &str) -> DateTime<Utc> {
    let line = screen
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no `{label}` line on the first screen:\n{screen}"));
    let text = &line[label.len()..label.len() + 19];
    riverwatch_core::time::parse_time(text).unwrap()
}

/// The Lalin discharge, re-dated by `up` into the recent past and replayed at 3600×: the
/// first screen names the scenario, its release and the boundary section the plume reaches
/// first, with their times in UTC+8; an alert of LLH-NTS (the Jilin boundary section) is in
/// the alert store well within a minute, dated where the plume's travel puts it after the
/// release, and `alerts list --format json` shows it. No reading carries a time later than
/// its reception. Started under umask 022, `up` keeps its data private: the data directory
/// and its folders 0700, every file in them (databases with their `-wal` and `-shm` files,
/// the internal message key) 0600.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_with_a_scenario_shows_its_first_boundary_alert_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let started_at = Utc::now();
    let started = Instant::now();
    let mut up = Up::start(
        &data,
        &[
            "--mqtt-port",
            &port,
            "--scenario",
            "lalin-boundary-ammonia",
            "--speed",
            RECOMMENDED_SPEED,
            "--http-port",
            "0",
        ],
    );
    let alerts_db = data.join("alerts.db");
    wait_until(
        Duration::from_secs(60),
        Later(|| format!("an alert of LLH-NTS; riverwatch up said:\n{}", up.stderr())),
        || !alerts_of(&alerts_db, "LLH-NTS").is_empty(),
    )
    .await;
    let seen_after = started.elapsed();
    let seen_at = Utc::now();
    eprintln!("first LLH-NTS alert after {seen_after:?}");

    // The first screen: what the scenario is and when its events come.
    let screen = up.stderr();
    assert!(
        screen.contains("scenario lalin-boundary-ammonia: "),
        "{screen}"
    );
    let release = screen_time(&screen, "first event: ");
    let front = screen_time(&screen, "first section: ");
    assert!(screen.contains("(LLH-NTS)"), "{screen}");
    // The console's address, and it answers there.
    let console = screen
        .split("console http://")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("no console URL on the first screen: {screen}"));
    let health = reqwest::get(format!("http://{console}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let api = reqwest::get(format!("http://{console}/api/v1/alerts"))
        .await
        .unwrap();
    assert_eq!(api.status(), 401, "the API needs a token");
    assert!(release < front && front < started_at, "{release} {front}");

    // The alert: the boundary section, both provinces, observed where the plume's travel
    // puts it. LLH-NTS lies 30 km below the release at 2 km/h: the centroid arrives 15 h
    // after the release starts, the front a few spreads earlier (σ = 1 h + 0.08 × 15 h =
    // 2.2 h) and the peak by the middle of the 10-hour release, 20 h after its start.
    let alerts = alerts_of(&alerts_db, "LLH-NTS");
    let first = alerts.iter().min_by_key(|a| a.alert.first_seen).unwrap();
    let a = &first.alert;
    assert!(a.cross_border, "{a:?}");
    assert!(
        a.provinces.contains(&Province::Heilongjiang) && a.provinces.contains(&Province::Jilin)
    );
    let after_release = (a.first_seen - release).num_minutes() as f64 / 60.0;
    assert!(
        (15.0 - 3.0 * 2.2..=20.0).contains(&after_release),
        "first seen {after_release:.1} h after the release"
    );
    // Replayed, not invented: observed in the past, before the alert was read.
    assert!(a.first_seen < seen_at);

    // The operator's view of the same alert.
    let out = Command::new(riverwatch_bin())
        .arg("--data-dir")
        .arg(&data)
        .args(["alerts", "list", "--state", "all", "--format", "json"])
        .env("RIVERWATCH_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        listed
            .iter()
            .any(|v| v["id"] == a.id.as_str() && v["subject"] == "LLH-NTS"),
        "{listed:?}"
    );

    // No reading from the future: each was stamped no later than ingest received it.
    let readings = SqliteReader::open(&data.join("readings.db"))
        .unwrap()
        .query_blocking(&ReadingQuery::default())
        .unwrap();
    assert!(readings.len() > 1000, "{} readings", readings.len());
    for r in &readings {
        assert!(
            r.observed_at <= r.received_at,
            "{} {} observed {} received {}",
            r.station,
            r.parameter,
            r.observed_at,
            r.received_at
        );
    }

    // Private files, whatever the umask (the outbox's emails: `trust::…private…`; with
    // this scenario's speed each alert resolves within its group wait and none is sent).
    let (wrong, seen) = not_private(&data);
    assert!(wrong.is_empty(), "not private: {wrong:?}");
    for name in [
        "internal.key",
        "readings.db",
        "readings.db-wal",
        "readings.db-shm",
        "analytics.db",
        "alerts.db",
        "alerts.db-wal",
    ] {
        assert!(seen.iter().any(|s| s == name), "{name} in {seen:?}");
    }

    assert_eq!(up.interrupt(), Some(0), "a clean stop on Ctrl-C");
}
