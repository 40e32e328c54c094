//! Tests of the InfluxDB adapters that need no real server: the exact requests both
//! versions send, outage and refusal behaviour against a stand-in HTTP server, and the
//! readers' query text and answer parsing.

mod readers;
mod stub;
mod v1_contract;
mod v2_contract;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use riverwatch_core::backoff::Backoff;
use riverwatch_core::registry::Registry;
use riverwatch_core::time::ManualClock;
use riverwatch_core::{DataFlag, ParamCode, Period, Reading, StationId};

use super::InfluxStoreArgs;
use crate::config::{Influx1Config, Influx2Config};
use crate::store::sqlite::test_sqlite_config;

/// The built-in network plus two stations whose names need escaping.
pub(crate) fn registry() -> Arc<Registry> {
    let text = r#"
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
name_zh = "双城 空气"
name_pinyin = "Shuangcheng"
kind = "air"
province = "HLJ"
city_zh = "双城区"
mn = "T0002"
lat = 45.4
lon = 126.3
verified = false
parameters = ["PM25"]
report_interval_secs = 3600
"#;
    Arc::new(Registry::from_toml(text, "test.toml").unwrap())
}

pub(crate) fn reading(station: &str, parameter: &str, minute: i64, value: f64) -> Reading {
    let t =
        Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap() + chrono::Duration::minutes(minute);
    Reading {
        station: StationId::new(station),
        parameter: ParamCode::new(parameter),
        observed_at: t,
        received_at: t + chrono::Duration::seconds(2),
        value,
        flag: DataFlag::N,
        period: Period::Sample,
    }
}

/// Short delays so outage tests take milliseconds, seeded for reproducible jitter.
pub(crate) fn fast_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(5), Duration::from_millis(40), 7)
}

pub(crate) fn v2_config(url: &str) -> Influx2Config {
    Influx2Config {
        url: url.to_string(),
        org: "river org".to_string(),
        bucket: "lalin/readings".to_string(),
        timeout_secs: 5,
        token: Some("tok-3x+/=".to_string()),
    }
}

pub(crate) fn v1_config(url: &str) -> Influx1Config {
    Influx1Config {
        url: url.to_string(),
        database: "river db".to_string(),
        retention_policy: Some("one year".to_string()),
        timeout_secs: 5,
        username: None,
        password: None,
    }
}

/// The time of the stores' manual clock: spooled and refused rows carry it.
pub(crate) fn clock_time() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 1, 0, 0).unwrap()
}

pub(crate) fn args<C>(config: C, dir: &Path) -> InfluxStoreArgs<C> {
    InfluxStoreArgs {
        config,
        registry: registry(),
        sqlite_path: dir.join("local.db"),
        sqlite: test_sqlite_config(),
        backoff: fast_backoff(),
        clock: Arc::new(ManualClock::new(clock_time())),
        spool_max_bytes: crate::config::DEFAULT_SPOOL_MAX_BYTES,
    }
}

/// Polls `check` every 5 ms until it holds, failing after `secs` seconds.
pub(crate) async fn wait_until(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Rows of a local table, through a connection of the test's own.
pub(crate) fn count_rows(dir: &Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(dir.join("local.db")).unwrap();
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}
