//! The InfluxDB 1.x store and reader against a real server: the Debian `influxdb` package
//! (1.6.7), started by this test on free loopback ports with its data in a temporary
//! folder, and killed when the test ends, even on a panic.
//!
//! It checks that points written through `Influx1Store` read back through `Influx1Reader`
//! with their values, flags, times and tags (names with spaces, commas, equals signs,
//! quotes, backslashes and Chinese), that user-supplied station ids cannot widen an
//! InfluxQL query, and that killing the server mid-stream spools batches which are all
//! delivered, exactly once, after it restarts on the same data.
//!
//! When `influxd` is missing the test fails (it does not skip): CI installs it with
//! `apt-get install -y influxdb`.

// A failed set-up step (a port, a file, the server) should fail the test with its error;
// clippy's test exemption does not reach the helpers of an integration-test file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use riverwatch_core::backoff::Backoff;
use riverwatch_core::registry::Registry;
use riverwatch_core::store_api::{ReadingQuery, StoreReader, StoreWriter, WriteBatch};
use riverwatch_core::time::SystemClock;
use riverwatch_core::{DataFlag, ParamCode, Period, Reading, StationId};
use riverwatch_ingest::config::Influx1Config;
use riverwatch_ingest::store::influx::{Influx1Reader, Influx1Store, InfluxStoreArgs};
use riverwatch_ingest::store::sqlite::test_sqlite_config;
use serde_json::Value;

const DATABASE: &str = "riverwatch test";

/// The `influxd` binary, or a failure that says how to install it.
fn influxd_binary() -> PathBuf {
    let from_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("influxd"))
        .find(|p| p.is_file());
    match from_path.or_else(|| {
        let p = PathBuf::from("/usr/bin/influxd");
        p.is_file().then_some(p)
    }) {
        Some(p) => p,
        None => panic!(
            "influxd (InfluxDB 1.x) is not installed; this test needs the real server: \
             apt-get install -y influxdb"
        ),
    }
}

/// A free loopback port (the listener is closed again before the server binds it).
fn free_ports() -> (u16, u16) {
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let b = TcpListener::bind("127.0.0.1:0").unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

/// A running `influxd`, killed when dropped.
struct Influxd {
    child: Option<Child>,
    dir: PathBuf,
    http_port: u16,
}

impl Influxd {
    /// Starts `influxd` with its config, data and log under `dir` (reusing the data of an
    /// earlier start).
    fn start(dir: &Path, http_port: u16, rpc_port: u16) -> Self {
        let d = dir.display();
        let config = format!(
            "reporting-enabled = false\n\
             bind-address = \"127.0.0.1:{rpc_port}\"\n\
             [meta]\n  dir = \"{d}/meta\"\n\
             [data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n\
             [http]\n  bind-address = \"127.0.0.1:{http_port}\"\n  log-enabled = false\n\
             [monitor]\n  store-enabled = false\n"
        );
        let config_path = dir.join("influxd.conf");
        std::fs::write(&config_path, config).unwrap();
        let log = File::options()
            .create(true)
            .append(true)
            .open(dir.join("influxd.log"))
            .unwrap();
        let child = Command::new(influxd_binary())
            .arg("-config")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Self {
            child: Some(child),
            dir: dir.to_path_buf(),
            http_port,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("influxd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Polls `/ping` until it answers 204.
    async fn wait_ready(&mut self) {
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http.get(format!("{}/ping", self.url())).send().await
                && r.status().as_u16() == 204
            {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("influxd exited with {status}:\n{}", self.log_tail());
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "influxd did not answer /ping within 30 s:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL, like a crash or a power cut of the server.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Influxd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs an InfluxQL statement that changes the server (CREATE DATABASE).
async fn admin(url: &str, statement: &str) {
    let r = reqwest::Client::new()
        .post(format!("{url}/query"))
        .form(&[("q", statement)])
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body = r.text().await.unwrap();
    assert!(
        status.is_success() && !body.contains("\"error\""),
        "{statement}: {status} {body}"
    );
}

const NETWORK: &str = r#"
[[station]]
id = "TEST-ESC"
name_zh = "拉林河 蔡家沟,断面=1"
name_pinyin = 'Cai "jia" gou\x'
kind = "water"
province = "JL"
city_zh = "扶余市"
river = "lalin"
river_km = 12.0
target_class = "III"
mn = "T0001"
lat = 45.0
lon = 126.0
verified = false
parameters = ["pH", "NH3N"]
report_interval_secs = 600

[[station]]
id = "TEST-AIR"
name_zh = "双城=空气 站"
name_pinyin = 'Trailing\'
kind = "air"
province = "HLJ"
city_zh = "双城区"
mn = "T0002"
lat = 45.4
lon = 126.3
verified = false
parameters = ["PM25"]
report_interval_secs = 3600

[[station]]
id = "TEST-STREAM"
name_zh = "牛头山 大桥"
name_pinyin = "Niutoushan Daqiao"
kind = "water"
province = "JL"
city_zh = "榆树市"
river = "lalin"
river_km = 230.0
target_class = "III"
mn = "T0003"
lat = 45.05
lon = 126.98
verified = false
parameters = ["pH", "DO", "NH3N"]
report_interval_secs = 600
"#;

/// A station id the registry does not know, with characters InfluxQL must escape.
const ODD_STATION: &str = r#"ODD "X'Y\Z""#;

fn reading(
    station: &str,
    parameter: &str,
    at: DateTime<Utc>,
    value: f64,
    flag: DataFlag,
    period: Period,
) -> Reading {
    Reading {
        station: StationId::new(station),
        parameter: ParamCode::new(parameter),
        observed_at: at,
        received_at: at + TimeDelta::seconds(3),
        value,
        flag,
        period,
    }
}

/// What the reader returns for a written reading: InfluxDB keeps no reception time.
fn as_read(r: &Reading) -> Reading {
    Reading {
        received_at: r.observed_at,
        ..r.clone()
    }
}

fn sorted(readings: &[Reading]) -> Vec<Reading> {
    let mut out: Vec<Reading> = readings.iter().map(as_read).collect();
    out.sort_by(|a, b| {
        (&a.station, &a.parameter, a.observed_at, a.period).cmp(&(
            &b.station,
            &b.parameter,
            b.observed_at,
            b.period,
        ))
    });
    out
}

fn batch(readings: Vec<Reading>) -> Arc<WriteBatch> {
    Arc::new(WriteBatch {
        readings,
        dead_letters: Vec::new(),
        held: Vec::new(),
    })
}

/// The first series of a raw InfluxQL answer as (column → value) rows.
fn rows(answer: &Value) -> Vec<serde_json::Map<String, Value>> {
    let series = &answer["results"][0]["series"];
    let Some(series) = series.as_array() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for s in series {
        let columns: Vec<&str> = s["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        for row in s["values"].as_array().unwrap() {
            let row = row.as_array().unwrap();
            out.push(
                columns
                    .iter()
                    .zip(row)
                    .map(|(c, v)| (c.to_string(), v.clone()))
                    .collect(),
            );
        }
    }
    out
}

async fn wait_for_empty_spool(store: &Influx1Store) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while store.spool_len() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the spool did not drain within 30 s ({} batches left)",
            store.spool_len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn influxdb_1_6_round_trip_and_outage() {
    let dir = tempfile::tempdir().unwrap();
    let server_dir = dir.path().join("influxd");
    std::fs::create_dir_all(&server_dir).unwrap();
    let (http_port, rpc_port) = free_ports();
    let mut server = Influxd::start(&server_dir, http_port, rpc_port);
    server.wait_ready().await;
    admin(&server.url(), &format!("CREATE DATABASE \"{DATABASE}\"")).await;

    let config = Influx1Config {
        url: server.url(),
        database: DATABASE.to_string(),
        retention_policy: Some("autogen".to_string()),
        timeout_secs: 5,
        username: None,
        password: None,
    };
    let registry = Arc::new(Registry::from_toml(NETWORK, "influx1_real.toml").unwrap());
    let mut store = Influx1Store::open(InfluxStoreArgs {
        config: config.clone(),
        registry,
        sqlite_path: dir.path().join("local.db"),
        sqlite: test_sqlite_config(),
        backoff: Backoff::new(Duration::from_millis(10), Duration::from_millis(200), 11),
        clock: Arc::new(SystemClock),
        spool_max_bytes: riverwatch_ingest::config::DEFAULT_SPOOL_MAX_BYTES,
    })
    .await
    .unwrap();
    let reader = Influx1Reader::new(&config).unwrap();

    // ---- Round trip: values, flags, times, periods and tags.
    let t0 = (Utc::now() - TimeDelta::hours(2))
        .duration_trunc(TimeDelta::minutes(1))
        .unwrap()
        + TimeDelta::milliseconds(123);
    let m = |n: i64| t0 + TimeDelta::minutes(n);
    let first = vec![
        reading("TEST-ESC", "pH", m(0), 7.0, DataFlag::N, Period::Sample),
        reading("TEST-ESC", "pH", m(1), 7.25, DataFlag::M, Period::Sample),
        reading("TEST-ESC", "pH", m(2), 6.5, DataFlag::S, Period::Sample),
        reading("TEST-ESC", "NH3N", m(0), 0.38, DataFlag::N, Period::Hour),
        reading("TEST-AIR", "PM25", m(0), 35.0, DataFlag::D, Period::Sample),
        reading("TEST-AIR", "PM25", m(0), 0.001, DataFlag::N, Period::Day),
        reading(ODD_STATION, "pH", m(0), 7.75, DataFlag::C, Period::Sample),
    ];
    let report = store.write(batch(first.clone())).await.unwrap();
    assert!(!report.spooled);
    assert_eq!(report.inserted, vec![true; first.len()]);
    assert_eq!(store.rejected_len(), 0, "the server refused the batch");

    let all = reader.query(&ReadingQuery::default()).await.unwrap();
    assert_eq!(all, sorted(&first));

    // ---- A resend: identical values are duplicates, another value is a conflict that
    // never reaches InfluxDB (which would replace the stored point with it).
    let mut changed = first[0].clone();
    changed.value = 7.9;
    let report = store
        .write(batch(vec![changed, first[1].clone()]))
        .await
        .unwrap();
    assert_eq!(report.inserted, vec![false, false]);
    assert_eq!(report.duplicates, 1);
    assert_eq!(report.conflicts.len(), 1);
    assert_eq!(report.conflicts[0].index, 0);
    assert_eq!(report.conflicts[0].stored_value, 7.0);
    let all = reader.query(&ReadingQuery::default()).await.unwrap();
    assert_eq!(all, sorted(&first), "InfluxDB keeps the first value");

    let window = ReadingQuery {
        station: Some("TEST-ESC".to_string()),
        parameters: vec!["pH".to_string()],
        from: Some(m(0)),
        to: Some(m(2)),
        ..ReadingQuery::default()
    };
    assert_eq!(
        reader.query(&window).await.unwrap(),
        sorted(&first[0..2]),
        "from is inclusive, to exclusive"
    );
    let hourly = ReadingQuery {
        periods: vec![Period::Hour],
        ..ReadingQuery::default()
    };
    assert_eq!(reader.query(&hourly).await.unwrap(), sorted(&first[3..4]));
    let limited = ReadingQuery {
        limit: Some(2),
        ..ReadingQuery::default()
    };
    assert_eq!(
        reader.query(&limited).await.unwrap(),
        sorted(&first)[..2].to_vec()
    );

    // Station ids come from users: quotes and backslashes match exactly, and cannot
    // widen the statement.
    let odd = ReadingQuery {
        station: Some(ODD_STATION.to_string()),
        ..ReadingQuery::default()
    };
    assert_eq!(reader.query(&odd).await.unwrap(), sorted(&first[6..7]));
    for hostile in [
        "X' OR '1'='1",
        "TEST-ESC' OR \"station\" =~ /.*/ OR '",
        r"\",
    ] {
        let q = ReadingQuery {
            station: Some(hostile.to_string()),
            ..ReadingQuery::default()
        };
        assert_eq!(reader.query(&q).await.unwrap(), vec![], "{hostile}");
    }

    // The raw tags and fields, as InfluxDB stored them.
    let raw = reader
        .raw_query(
            "SELECT * FROM \"autogen\".\"reading\" WHERE \"station\" = 'TEST-ESC' \
             AND \"parameter\" = 'pH' AND \"flag\" = 'M'",
        )
        .await
        .unwrap();
    let esc = rows(&raw);
    assert_eq!(esc.len(), 1, "{raw}");
    let row = &esc[0];
    assert_eq!(row["kind"], "water");
    assert_eq!(row["name_zh"], "拉林河 蔡家沟,断面=1");
    assert_eq!(row["name_pinyin"], r#"Cai "jia" gou\x"#);
    assert_eq!(row["parameter"], "pH");
    assert_eq!(row["period"], "sample");
    assert_eq!(row["province"], "JL");
    assert_eq!(row["river"], "lalin");
    assert_eq!(row["river_zh"], "拉林河");
    assert_eq!(row["station"], "TEST-ESC");
    assert_eq!(row["value"], 7.25);
    assert_eq!(row["flag"], "M");
    assert_eq!(row["valid"], false);
    assert_eq!(row["time"], m(1).timestamp_millis());

    let raw = reader
        .raw_query("SELECT * FROM \"autogen\".\"reading\" WHERE \"station\" = 'TEST-AIR'")
        .await
        .unwrap();
    let air = rows(&raw);
    assert_eq!(air.len(), 2, "{raw}");
    for row in &air {
        assert_eq!(row["name_zh"], "双城=空气 站");
        // A trailing backslash cannot be carried by line protocol (see line_protocol.rs).
        assert_eq!(row["name_pinyin"], "Trailing＼");
        assert_eq!(row["province"], "HLJ");
        assert_eq!(row["kind"], "air");
        assert_eq!(row["river"], Value::Null, "an air station has no river tag");
    }
    let raw = reader
        .raw_query(&format!(
            "SELECT * FROM \"autogen\".\"reading\" WHERE \"station\" = '{}'",
            ODD_STATION.replace('\\', "\\\\").replace('\'', "\\'")
        ))
        .await
        .unwrap();
    let odd_rows = rows(&raw);
    assert_eq!(odd_rows.len(), 1, "{raw}");
    assert_eq!(
        odd_rows[0]["name_zh"],
        Value::Null,
        "unknown station: no name tags"
    );
    assert_eq!(odd_rows[0]["station"], ODD_STATION);

    let fields = rows(
        &reader
            .raw_query("SHOW FIELD KEYS FROM \"reading\"")
            .await
            .unwrap(),
    );
    let types: Vec<(String, String)> = fields
        .iter()
        .map(|r| {
            (
                r["fieldKey"].as_str().unwrap().to_string(),
                r["fieldType"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        types,
        vec![
            ("flag".to_string(), "string".to_string()),
            ("valid".to_string(), "boolean".to_string()),
            ("value".to_string(), "float".to_string()),
        ]
    );

    // ---- Outage: the server is killed mid-stream and restarted on the same data.
    let stream: Vec<Vec<Reading>> = (0..12)
        .map(|i| {
            ["pH", "DO", "NH3N"]
                .iter()
                .enumerate()
                .map(|(j, p)| {
                    reading(
                        "TEST-STREAM",
                        p,
                        m(10 + i),
                        f64::from(i as u32) + 0.5 * j as f64,
                        DataFlag::N,
                        Period::Sample,
                    )
                })
                .collect()
        })
        .collect();
    for (i, readings) in stream.iter().enumerate() {
        if i == 4 {
            server.kill();
        }
        let report = store.write(batch(readings.clone())).await.unwrap();
        assert_eq!(report.spooled, i >= 4, "batch {i}");
        assert_eq!(store.spool_len(), i.saturating_sub(3), "batch {i}");
    }
    assert_eq!(store.spool_len(), 8);

    let mut server = Influxd::start(&server_dir, http_port, rpc_port);
    server.wait_ready().await;
    wait_for_empty_spool(&store).await;

    // A redelivered batch is rewritten as identical points: still stored once.
    let again = store.write(batch(stream[2].clone())).await.unwrap();
    assert!(!again.spooled);

    let expected: Vec<Reading> = stream.concat();
    let q = ReadingQuery {
        station: Some("TEST-STREAM".to_string()),
        ..ReadingQuery::default()
    };
    assert_eq!(reader.query(&q).await.unwrap(), sorted(&expected));
    let counts = rows(
        &reader
            .raw_query(
                "SELECT count(\"value\") FROM \"autogen\".\"reading\" \
                 WHERE \"station\" = 'TEST-STREAM' GROUP BY \"parameter\"",
            )
            .await
            .unwrap(),
    );
    assert_eq!(counts.len(), 3);
    assert!(counts.iter().all(|r| r["count"] == 12), "{counts:?}");
    // The points acknowledged before the kill survived it.
    assert_eq!(
        reader.query(&ReadingQuery::default()).await.unwrap().len(),
        first.len() + expected.len()
    );
    assert_eq!(store.rejected_len(), 0);

    store.close().await.unwrap();
    server.kill();
}
