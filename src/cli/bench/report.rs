//! `riverwatch bench report`: the monthly river-chief report of the whole default network
//! (November 2026) at a 1-minute reporting interval by default, about 17 million readings,
//! against recomputing the same month from the raw readings, in the same run.
//!
//! Set-up (not measured): the simulator's baseline models write the month into a temporary
//! SQLite readings store in large batches through the store API (`write_blocking`), then the
//! evaluations are filled by analytics' own window computation (`windows::compute`: hourly,
//! daily and monthly evaluations and AQI, one station at a time) and committed to the
//! evaluation store. Then two phases run, each in a child process of this binary, so each
//! one's peak memory (VmHWM) is its own:
//! - **report** — assembling the month's report from the stored evaluations and rendering it
//!   as Excel, HTML and JSON (what `riverwatch report` does);
//! - **recompute** (the baseline) — reading the month's raw readings back and computing the
//!   hourly, daily and monthly evaluations and AQI the report shows, one station at a time.
//!
//! `--interval-secs` and `--days` set the size (the small-load test uses hourly readings
//! over two days).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, ValueEnum};
use riverwatch_analytics::AnalyticsConfig;
use riverwatch_analytics::store::{AnalyticsStore, Commit, EvaluationReader};
use riverwatch_analytics::windows::{self, Month, Request, Results};
use riverwatch_core::events::WindowPeriod;
use riverwatch_core::registry::Registry;
use riverwatch_core::store_api::{ReadingQuery, WriteBatch};
use riverwatch_core::{Lang, ParamCode, Reading, StationId};
use riverwatch_testkit::TempDir;
use serde::{Deserialize, Serialize};

use crate::cli::Context;
use crate::cli::render::print_json;

/// The month reported: November 2026 (30 CST days).
const YEAR: i32 = 2026;
const MONTH: u32 = 11;
const MONTH_DAYS: u32 = 30;
/// Readings per write transaction while seeding.
const WRITE_BATCH: usize = 100_000;

/// `riverwatch bench report`.
#[derive(Debug, Args)]
pub struct ReportBenchArgs {
    /// Reporting interval of every station, seconds (60: about 17 million readings in the
    /// month).
    #[arg(long, default_value_t = 60)]
    pub interval_secs: u32,
    /// Days of the month with readings, from the 1st (1–30).
    #[arg(long, default_value_t = MONTH_DAYS)]
    pub days: u32,
    /// Seed of the generated readings.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Internal: run one measured phase over the stores in `--dir` and print its figures.
    #[arg(long, value_enum, hide = true, requires = "dir")]
    pub phase: Option<Phase>,
    /// Internal: the folder of the stores.
    #[arg(long, hide = true)]
    pub dir: Option<PathBuf>,
}

/// A measured phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Phase {
    /// The report from the stored evaluations.
    Report,
    /// The month recomputed from the raw readings.
    Recompute,
}

/// The figures of one phase, as its child process prints them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhaseFigures {
    /// Wall time of the phase, seconds.
    pub secs: f64,
    /// Peak resident memory of the process (VmHWM), MiB.
    pub peak_rss_mib: f64,
    /// Report: seconds assembling the report from the stores.
    pub assemble_secs: f64,
    /// Report: seconds rendering Excel, HTML and JSON.
    pub render_secs: f64,
    /// Report: bytes of the workbook.
    pub xlsx_bytes: usize,
    /// Report: section rows.
    pub sections: usize,
    /// Recompute: readings read back.
    pub readings: usize,
    /// Recompute: hourly, daily and monthly evaluations computed.
    pub evaluations: usize,
    /// Recompute: seconds reading the readings back.
    pub read_secs: f64,
}

/// The figures of one benchmark run.
#[derive(Debug, Serialize)]
pub struct ReportBench {
    /// Stations of the network.
    pub stations: usize,
    /// The month, `YYYY-MM`.
    pub month: String,
    /// Days with readings.
    pub days: u32,
    /// Reporting interval, seconds.
    pub interval_secs: u32,
    /// Readings stored.
    pub readings: usize,
    /// Set-up: seconds writing the readings.
    pub seed_secs: f64,
    /// Set-up: seconds filling the evaluation store (analytics' window computation).
    pub fill_secs: f64,
    /// Evaluations and AQI records stored.
    pub stored_evaluations: usize,
    /// (a) The report from the stored evaluations.
    pub report: PhaseFigures,
    /// (b) The baseline: the month recomputed from the raw readings.
    pub recompute: PhaseFigures,
    /// `report.secs ÷ recompute.secs`.
    pub time_vs_recompute: f64,
    /// `report.peak_rss_mib ÷ recompute.peak_rss_mib`.
    pub memory_vs_recompute: f64,
}

fn month_start() -> DateTime<Utc> {
    riverwatch_core::time::from_cst(
        NaiveDate::from_ymd_opt(YEAR, MONTH, 1)
            .unwrap_or(NaiveDate::MIN)
            .and_time(chrono::NaiveTime::MIN),
    )
}

/// The analytics settings of the run: every station expected at the benchmark's interval,
/// so valid-data rates are those of the readings written.
fn bench_config(
    registry: &Registry,
    base: &AnalyticsConfig,
    interval_secs: u32,
) -> AnalyticsConfig {
    let mut config = base.clone();
    for s in registry.stations() {
        config
            .completeness
            .expected_interval_secs
            .insert(s.id.to_string(), interval_secs);
    }
    config
}

/// Runs `riverwatch bench report` (or, with `--phase`, one phase of it).
///
/// # Errors
/// A store that cannot be written or read, a failed computation or child process.
pub async fn run(args: &ReportBenchArgs, ctx: &Context) -> anyhow::Result<()> {
    let registry = ctx.loaded.registry.clone();
    let interval = args.interval_secs.max(1);
    let days = args.days.clamp(1, MONTH_DAYS);
    let config = Arc::new(bench_config(
        &registry,
        &ctx.loaded.config.analytics,
        interval,
    ));
    if let (Some(phase), Some(dir)) = (args.phase, &args.dir) {
        let dir = dir.clone();
        let figures = tokio::task::spawn_blocking(move || match phase {
            Phase::Report => report_phase(&registry, &config, &dir),
            Phase::Recompute => recompute_phase(&registry, &config, &dir, days),
        })
        .await??;
        return print_json(&figures);
    }

    let dir = TempDir::new("riverwatch-bench-report")?;
    let path = dir.path().to_path_buf();
    tracing::info!(
        days,
        interval,
        stations = registry.stations().len(),
        "Writing the month's readings."
    );
    let (readings, seed_secs) = {
        let (registry, path) = (registry.clone(), path.clone());
        let seed = args.seed;
        tokio::task::spawn_blocking(move || {
            let t = Instant::now();
            seed_readings(&registry, &path, days, interval, seed).map(|n| (n, t.elapsed()))
        })
        .await??
    };
    tracing::info!(readings, "Filling the evaluation store.");
    let (stored_evaluations, fill_secs) = {
        let (registry, config, path) = (registry.clone(), config.clone(), path.clone());
        tokio::task::spawn_blocking(move || {
            let t = Instant::now();
            fill_evaluations(&registry, &config, &path, days).map(|n| (n, t.elapsed()))
        })
        .await??
    };
    tracing::info!("Measuring the report and the recomputation.");
    let report = child(Phase::Report, &path).await?;
    let recompute = child(Phase::Recompute, &path).await?;
    drop(dir);
    let result = ReportBench {
        stations: registry.stations().len(),
        month: format!("{YEAR}-{MONTH:02}"),
        days,
        interval_secs: interval,
        readings,
        seed_secs: seed_secs.as_secs_f64(),
        fill_secs: fill_secs.as_secs_f64(),
        stored_evaluations,
        time_vs_recompute: super::ratio(report.secs, recompute.secs),
        memory_vs_recompute: super::ratio(report.peak_rss_mib, recompute.peak_rss_mib),
        report,
        recompute,
    };
    if args.json {
        return print_json(&result);
    }
    let (a, b) = (&result.report, &result.recompute);
    println!(
        "{} stations, {} days of {}, one reading per {} s = {} readings (SQLite)\n\
         set-up: readings written {:.2} s, evaluations filled {:.2} s ({} stored)\n\
         report from stored evaluations:  {:>8.3} s  peak {:>7.1} MiB  (assemble {:.3} s, render xlsx+html+json {:.3} s; {} sections, workbook {} bytes)\n\
         baseline, recompute from raw:    {:>8.3} s  peak {:>7.1} MiB  (read {:.2} s; {} readings, {} evaluations)\n\
         report / recompute:              time {:.3} ×, peak memory {:.2} ×",
        result.stations,
        days,
        result.month,
        interval,
        result.readings,
        result.seed_secs,
        result.fill_secs,
        result.stored_evaluations,
        a.secs,
        a.peak_rss_mib,
        a.assemble_secs,
        a.render_secs,
        a.sections,
        a.xlsx_bytes,
        b.secs,
        b.peak_rss_mib,
        b.read_secs,
        b.readings,
        b.evaluations,
        result.time_vs_recompute,
        result.memory_vs_recompute,
    );
    Ok(())
}

/// Runs one phase in a child process of this binary, with the same global options, and
/// reads its figures.
async fn child(phase: Phase, dir: &Path) -> anyhow::Result<PhaseFigures> {
    let exe = std::env::current_exe().context("cannot find the riverwatch binary")?;
    let name = match phase {
        Phase::Report => "report",
        Phase::Recompute => "recompute",
    };
    let mut cmd = std::process::Command::new(exe);
    cmd.args(std::env::args_os().skip(1).filter(|a| a != "--json"))
        .args(["--phase", name, "--dir"])
        .arg(dir)
        .stderr(std::process::Stdio::inherit());
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await?
        .with_context(|| format!("cannot start the {name} phase"))?;
    anyhow::ensure!(
        out.status.success(),
        "the {name} phase failed ({})",
        out.status
    );
    serde_json::from_slice(&out.stdout)
        .with_context(|| format!("the {name} phase printed no figures"))
}

/// This process's peak resident memory (VmHWM), MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Writes the baseline scenario's readings of the month's first `days` days into
/// `readings.db`; the number written.
fn seed_readings(
    registry: &Arc<Registry>,
    dir: &Path,
    days: u32,
    interval_secs: u32,
    seed: u64,
) -> anyhow::Result<usize> {
    use riverwatch_simulators::{Scenario, SimulateConfig};
    let store = riverwatch_ingest::store::SqliteStore::open(
        &dir.join("readings.db"),
        &riverwatch_ingest::store::sqlite::test_sqlite_config(),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut config = SimulateConfig::new(
        Scenario::builtin("baseline").map_err(|e| anyhow::anyhow!("{e}"))?,
        registry.clone(),
    );
    config.seed = seed;
    config.start = Some(month_start());
    config.duration = Some(Duration::from_secs(u64::from(days) * 86_400));
    config.interval_override_secs = Some(interval_secs);
    let generator =
        riverwatch_simulators::simulate::generator(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let stations: Vec<(StationId, Vec<ParamCode>)> = generator
        .stations()
        .iter()
        .map(|s| {
            (
                s.station.id.clone(),
                s.params.iter().map(|p| ParamCode::new(&p.code)).collect(),
            )
        })
        .collect();
    let write = |readings: Vec<Reading>| -> anyhow::Result<usize> {
        let n = readings.len();
        store
            .write_blocking(&WriteBatch {
                readings,
                dead_letters: Vec::new(),
                held: Vec::new(),
            })
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(n)
    };
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    let mut written = 0;
    for obs in generator {
        let (id, codes) = &stations[obs.station];
        for v in &obs.values {
            batch.push(Reading {
                station: id.clone(),
                parameter: codes[v.param].clone(),
                observed_at: obs.stamped_at,
                received_at: obs.sent_at,
                value: v.value,
                flag: v.flag,
                period: riverwatch_core::Period::Sample,
            });
        }
        if batch.len() >= WRITE_BATCH {
            written += write(std::mem::replace(
                &mut batch,
                Vec::with_capacity(WRITE_BATCH),
            ))?;
        }
    }
    written += write(batch)?;
    Ok(written)
}

/// The windows of the month for one station: its hours and days with data, and the month.
fn month_request(station: &str, days: u32) -> Request {
    let start = month_start();
    let first = riverwatch_core::time::cst_date(start);
    Request {
        station: station.to_string(),
        hours: Some((start, start + chrono::Duration::days(i64::from(days)))),
        days: (0..days)
            .map(|d| first + chrono::Duration::days(i64::from(d)))
            .collect(),
        months: vec![Month::of(first)],
    }
}

/// The month's readings of one station, and its windows computed from them.
fn compute_station(
    reader: &riverwatch_ingest::store::SqliteReader,
    registry: &Registry,
    config: &AnalyticsConfig,
    station: &str,
    days: u32,
) -> anyhow::Result<(usize, Duration, Results)> {
    let start = month_start();
    let t = Instant::now();
    let readings = reader
        .query_blocking(&ReadingQuery {
            station: Some(station.to_string()),
            from: Some(start),
            to: Some(start + chrono::Duration::days(i64::from(MONTH_DAYS))),
            ..ReadingQuery::default()
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let read = t.elapsed();
    let ctx = windows::Context {
        registry,
        config,
        now: Utc::now(),
    };
    let results = windows::compute(&ctx, &readings, &[month_request(station, days)], &|| false)?;
    Ok((readings.len(), read, results))
}

/// Fills `analytics.db` with the month's evaluations by analytics' window computation; the
/// number of evaluations and AQI records stored.
fn fill_evaluations(
    registry: &Registry,
    config: &AnalyticsConfig,
    dir: &Path,
    days: u32,
) -> anyhow::Result<usize> {
    let reader = riverwatch_ingest::store::SqliteReader::open(&dir.join("readings.db"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = AnalyticsStore::open(&dir.join("analytics.db"))?;
    let mut stored = 0;
    for s in registry.stations() {
        let (_, _, r) = compute_station(&reader, registry, config, s.id.as_str(), days)?;
        let commit = Commit {
            evaluations: [r.hourly, r.daily, r.monthly].concat(),
            aqi: [r.aqi_hourly, r.aqi_daily].concat(),
            ..Commit::default()
        };
        stored += commit.evaluations.len() + commit.aqi.len();
        store.commit(&commit)?;
    }
    Ok(stored)
}

/// (a) The month's report of the whole zone from the stored evaluations, rendered.
fn report_phase(
    registry: &Registry,
    config: &AnalyticsConfig,
    dir: &Path,
) -> anyhow::Result<PhaseFigures> {
    let t = Instant::now();
    let reader = EvaluationReader::open(&dir.join("analytics.db"))?;
    let report = riverwatch_reports::assemble(
        &riverwatch_reports::Sources {
            registry,
            analytics: config,
            evaluations: &reader,
            alerts: None,
        },
        &riverwatch_reports::Request {
            period: WindowPeriod::Month,
            date: riverwatch_core::time::cst_date(month_start()),
            river: None,
            now: Utc::now(),
        },
    )?;
    let assemble_secs = t.elapsed().as_secs_f64();
    let r = Instant::now();
    let xlsx = riverwatch_reports::xlsx::workbook(&report, Lang::Zh, false)?;
    let html = riverwatch_reports::html::report(&report, Lang::Zh, false);
    let json = riverwatch_reports::json::to_string(&report)?;
    std::hint::black_box((&html, &json));
    let render_secs = r.elapsed().as_secs_f64();
    Ok(PhaseFigures {
        secs: t.elapsed().as_secs_f64(),
        peak_rss_mib: peak_rss_mib(),
        assemble_secs,
        render_secs,
        xlsx_bytes: xlsx.len(),
        sections: report.sections.len(),
        readings: 0,
        evaluations: 0,
        read_secs: 0.0,
    })
}

/// (b) The baseline: the month recomputed from the raw readings, one station at a time.
fn recompute_phase(
    registry: &Registry,
    config: &AnalyticsConfig,
    dir: &Path,
    days: u32,
) -> anyhow::Result<PhaseFigures> {
    let t = Instant::now();
    let reader = riverwatch_ingest::store::SqliteReader::open(&dir.join("readings.db"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (mut readings, mut evaluations, mut read) = (0, 0, Duration::ZERO);
    let mut kept = Vec::new();
    for s in registry.stations() {
        let (n, r, results) = compute_station(&reader, registry, config, s.id.as_str(), days)?;
        readings += n;
        read += r;
        evaluations += results.hourly.len() + results.daily.len() + results.monthly.len();
        // What the report needs is kept, as the report would keep it.
        kept.push(results);
    }
    std::hint::black_box(&kept);
    Ok(PhaseFigures {
        secs: t.elapsed().as_secs_f64(),
        peak_rss_mib: peak_rss_mib(),
        assemble_secs: 0.0,
        render_secs: 0.0,
        xlsx_bytes: 0,
        sections: 0,
        readings,
        evaluations,
        read_secs: read.as_secs_f64(),
    })
}
