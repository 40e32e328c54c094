//! The benchmarks on a small load, through the `riverwatch` binary built with the `bench`
//! feature (`cargo test --features bench --test bench`): each harness runs its sides against
//! real servers it starts itself (mosquitto, the loopback SMTP server) and reports figures
//! that must hang together.

// A test binary: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

/// Runs `riverwatch bench ARGS --json` to completion and returns its JSON result.
fn bench(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_riverwatch"))
        .arg("bench")
        .args(args)
        .arg("--json")
        .env("RIVERWATCH_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_throughput_benchmark_runs_both_sides_and_checks_the_store() {
    let r = bench(&[
        "ingest",
        "--messages",
        "3000",
        "--rounds",
        "2",
        "--mode",
        "drain",
    ]);
    assert_eq!(r["messages"], 3000);
    assert_eq!(r["rounds"], 2);
    let (a, b) = (
        r["broker_msgs_per_sec"].as_f64().unwrap(),
        r["ingest_msgs_per_sec"].as_f64().unwrap(),
    );
    assert!(a > 0.0 && b > 0.0, "{r}");
    assert!((r["ratio"].as_f64().unwrap() - b / a).abs() < 1e-9, "{r}");
    assert!(r["ratio_min"].as_f64().unwrap() <= r["ratio_max"].as_f64().unwrap());
    assert!(r["ingest_peak_rss_mib"].as_f64().unwrap() > 1.0, "{r}");
}

#[test]
fn the_latency_benchmark_measures_a_small_burst() {
    let r = bench(&["alert-service", "--alerts", "10"]);
    assert_eq!(
        (r["alerts"].as_u64(), r["emails"].as_u64()),
        (Some(10), Some(20))
    );
    let (p50, p99, max) = (
        r["p50_ms"].as_f64().unwrap(),
        r["p99_ms"].as_f64().unwrap(),
        r["max_ms"].as_f64().unwrap(),
    );
    assert!(p50 > 0.0 && p99 >= p50 && max >= p99, "{r}");
    // The stages of each email: from the event to its outbox row, from the row to the `250`;
    // each is part of the whole (wall-clock times, the row's in ms).
    let stages = r["stages"].as_array().unwrap();
    let names: Vec<&str> = stages
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["event→queued", "queued→250"], "{r}");
    for s in stages {
        let (s50, s99) = (s["p50_ms"].as_f64().unwrap(), s["p99_ms"].as_f64().unwrap());
        assert!(s99 >= s50 && s99 <= max + 2.0, "{r}");
    }
}

#[test]
fn the_hj212_benchmark_times_tcp_and_mqtt_and_stores_every_reading_once() {
    let r = bench(&["hj212", "--frames", "400", "--window", "4"]);
    assert_eq!(r["frames"], 400);
    // 4 readings per frame, both sides.
    assert_eq!(r["stored"], 3200);
    for side in ["tcp", "mqtt"] {
        let rate = r[format!("{side}_frames_per_sec")].as_f64().unwrap();
        let (p50, p99) = (
            r[format!("{side}_p50_ms")].as_f64().unwrap(),
            r[format!("{side}_p99_ms")].as_f64().unwrap(),
        );
        assert!(rate > 0.0 && p50 > 0.0 && p99 >= p50, "{r}");
    }
}

#[test]
fn the_console_benchmark_queries_a_stored_span_and_follows_the_live_feed() {
    let r = bench(&[
        "console",
        "--days",
        "1",
        "--requests",
        "6",
        "--clients",
        "2",
        "--sse-clients",
        "10",
        "--readings",
        "10",
    ]);
    let q = &r["query"];
    // One day of 1-minute readings of every parameter of 蔡家沟, each answer whole.
    let params = q["parameters"].as_u64().unwrap();
    assert!(params > 1, "{r}");
    assert_eq!(q["readings_per_answer"].as_u64(), Some(1440 * params));
    assert!(
        q["answer_bytes"].as_u64().unwrap() > 1440 * params * 50,
        "{r}"
    );
    for side in ["http", "store"] {
        let rate = q[format!("{side}_per_sec")].as_f64().unwrap();
        let (p50, p99) = (
            q[format!("{side}_p50_ms")].as_f64().unwrap(),
            q[format!("{side}_p99_ms")].as_f64().unwrap(),
        );
        assert!(rate > 0.0 && p50 > 0.0 && p99 >= p50, "{r}");
    }
    let f = &r["feed"];
    // Every client got every message.
    assert_eq!(f["events"], 100);
    for side in ["sse", "mqtt"] {
        let (p50, p99) = (
            f[format!("{side}_p50_ms")].as_f64().unwrap(),
            f[format!("{side}_p99_ms")].as_f64().unwrap(),
        );
        assert!(p50 > 0.0 && p99 >= p50, "{r}");
    }
}

#[test]
fn the_report_benchmark_measures_the_report_against_recomputing_the_month() {
    // Two days of hourly readings of the 38 stations of the default network.
    let r = bench(&["report", "--interval-secs", "3600", "--days", "2"]);
    assert_eq!(r["stations"], 38);
    assert_eq!(r["month"], "2026-11");
    let readings = r["readings"].as_u64().unwrap();
    assert!(readings > 38 * 48, "{r}");
    // The baseline reads back every reading written and computes each station's 48 hours,
    // 2 days and the month.
    assert_eq!(r["recompute"]["readings"].as_u64(), Some(readings));
    assert_eq!(r["recompute"]["evaluations"], 38 * (48 + 2 + 1));
    // The report covers the 23 sections and comes out as a workbook.
    assert_eq!(r["report"]["sections"], 23);
    assert!(r["report"]["xlsx_bytes"].as_u64().unwrap() > 5_000, "{r}");
    for side in ["report", "recompute"] {
        let (secs, rss) = (
            r[side]["secs"].as_f64().unwrap(),
            r[side]["peak_rss_mib"].as_f64().unwrap(),
        );
        assert!(secs > 0.0 && rss > 1.0, "{side}: {r}");
    }
    let ratio = r["time_vs_recompute"].as_f64().unwrap();
    let expected = r["report"]["secs"].as_f64().unwrap() / r["recompute"]["secs"].as_f64().unwrap();
    assert!((ratio - expected).abs() < 1e-9, "{r}");
}
