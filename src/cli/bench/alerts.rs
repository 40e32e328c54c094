//! `riverwatch bench alerts`: alert latency from the publish of a station's reading to the
//! email accepted by an SMTP server, through the whole chain (broker → ingest → SQLite →
//! readings out → analytics → evaluation event → alert service → SMTP), p50/p99 over a burst.
//!
//! The same run measures two baselines on their own mosquitto and SMTP server: the alert
//! service alone (the clock starts at the evaluation event's publish) and lettre handing the
//! same emails straight to the SMTP server. The harness (brokers, SMTP server, matching of
//! emails to alerts) is [`super::alert_service`]; this module adds the reading trigger and
//! the ingest + analytics stage in front of it.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use clap::Args;
use riverwatch_core::events::Rule;
use riverwatch_core::mqtt::MqttConfig;
use riverwatch_core::registry::{Registry, StationKind};
use riverwatch_testkit::TempDir;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::error;

use super::alert_service::{BenchOptions, BenchResult, StartPipeline, Trigger, bench, failed};
use super::ratio;
use crate::cli::render::print_json;
use crate::cli::{Context, user_error};

/// `riverwatch bench alerts`.
#[derive(Debug, Args)]
pub struct AlertsBenchArgs {
    /// Alerts in the burst, one per water section (each notifies both provinces: as equals at
    /// boundary sections, as owner and information copy elsewhere); at most the number of
    /// water sections less one, which warms up.
    #[arg(long, default_value_t = 100)]
    pub alerts: usize,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// The alert service's `[alerts] smtp_nodelay`: `false` measures lettre's pooled
    /// transport with Nagle on, as before the option existed.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub smtp_nodelay: bool,
}

/// Parameters a reading exceeds, each at three times its GB 3838-2002 Class III limit
/// (Table 1; fecal coliforms in counts per litre).
const EXCEEDING: [(&str, f64); 20] = [
    ("CODMn", 18.0),
    ("COD", 60.0),
    ("BOD5", 12.0),
    ("NH3N", 3.0),
    ("TP", 0.6),
    ("Cu", 3.0),
    ("Zn", 3.0),
    ("F", 3.0),
    ("Se", 0.03),
    ("As", 0.15),
    ("Hg", 0.0003),
    ("Cd", 0.015),
    ("Cr6", 0.15),
    ("Pb", 0.15),
    ("CYN", 0.6),
    ("VPHEN", 0.015),
    ("OIL", 0.15),
    ("LAS", 0.6),
    ("SULF", 0.6),
    ("FCOLI", 30_000.0),
];

/// Publishes one observation per alert: a water section's reading above the Class III limit
/// of a parameter it measures, which analytics turns into a parameter-exceedance event. One
/// alert per section: the exceedances of several parameters at one section form one incident,
/// whose later alerts are attached to the first and do not page on their own.
struct ReadingTrigger {
    /// (station, parameter, value).
    pairs: Vec<(String, &'static str, f64)>,
}

impl ReadingTrigger {
    fn new(registry: &Registry) -> Self {
        let pairs = registry
            .stations()
            .iter()
            .filter(|s| s.kind == StationKind::Water && s.target_class.is_some())
            .filter_map(|s| {
                EXCEEDING
                    .iter()
                    .find(|(code, _)| s.parameters.iter().any(|p| p == code))
                    .map(|(code, value)| (s.id.as_str().to_string(), *code, *value))
            })
            .collect();
        Self { pairs }
    }

    fn capacity(&self) -> usize {
        self.pairs.len()
    }

    fn pair(&self, i: usize) -> (&str, &'static str, f64) {
        match self.pairs.get(i % self.pairs.len().max(1)) {
            Some((station, code, value)) => (station.as_str(), code, *value),
            None => ("LLH-CJG", "NH3N", 3.0),
        }
    }
}

impl Trigger for ReadingTrigger {
    fn stage(&self) -> &'static str {
        "reading"
    }

    fn messages(&self, i: usize, at: DateTime<Utc>) -> Vec<(String, Vec<u8>)> {
        let (station, code, value) = self.pair(i);
        let payload = serde_json::json!({
            "station": station,
            "ts": at.to_rfc3339_opts(SecondsFormat::Millis, true),
            "values": { code: value },
        });
        vec![(
            format!("rw/v1/obs/{station}"),
            serde_json::to_vec(&payload).unwrap_or_default(),
        )]
    }

    fn fingerprint(&self, i: usize) -> String {
        let (station, code, _) = self.pair(i);
        format!("{}:{station}:{code}", Rule::ParameterExceedance)
    }
}

/// Starts ingest (SQLite in a fresh data directory) and analytics on the benchmark's broker.
fn pipeline(ctx: &Context) -> anyhow::Result<(StartPipeline, TempDir)> {
    let dir = TempDir::new("rw-bench-alerts")?;
    let mut ctx = ctx.clone();
    ctx.data_dir = dir.path().to_path_buf();
    ctx.loaded.config.store = Default::default();
    let start: StartPipeline = Box::new(move |mqtt: MqttConfig, token: CancellationToken| {
        tokio::spawn(async move {
            let ingest = match crate::cli::ingest::ingest_args(&ctx, mqtt.clone()).await {
                Ok(a) => a,
                Err(e) => return error!(error = %e, "Benchmark ingest cannot start."),
            };
            let analytics = match crate::cli::analytics::analytics_args(&ctx, mqtt) {
                Ok(a) => a,
                Err(e) => return error!(error = %e, "Benchmark analytics cannot start."),
            };
            let i = tokio::spawn(riverwatch_ingest::run(ingest, token.clone()));
            let a = tokio::spawn(riverwatch_analytics::run(analytics, token));
            if let Ok(Err(e)) = i.await {
                error!(error = %e, "Benchmark ingest failed.");
            }
            if let Ok(Err(e)) = a.await {
                error!(error = %e, "Benchmark analytics failed.");
            }
        })
    });
    Ok((start, dir))
}

/// Both stages of one run.
#[derive(Debug, Serialize)]
struct AlertsBench {
    /// From the reading's publish, through ingest and analytics.
    reading: BenchResult,
    /// From the evaluation event's publish (the alert service alone).
    event: BenchResult,
}

/// Runs `riverwatch bench alerts`.
///
/// # Errors
/// A server cannot start, a service fails, or the emails do not arrive in time.
pub async fn run(args: &AlertsBenchArgs, ctx: &Context) -> anyhow::Result<()> {
    let registry: Arc<Registry> = ctx.loaded.registry.clone();
    let trigger = ReadingTrigger::new(&registry);
    if trigger.capacity() < 2 {
        return Err(user_error(
            "站网中没有足够的水质断面，无法进行告警基准测试。".to_string(),
            "the network has too few water sections for the benchmark".to_string(),
        ));
    }
    // One pair stays free for the warm-up.
    let alerts = args.alerts.clamp(1, trigger.capacity() - 1);
    let (start, _dir) = pipeline(ctx)?;
    let mut opts = BenchOptions::new(registry.clone());
    opts.alerts = alerts;
    opts.trigger = Some(Arc::new(trigger));
    opts.pipeline = Some(start);
    opts.smtp_nodelay = args.smtp_nodelay;
    let reading = bench(opts).await.map_err(failed)?;

    let mut opts = BenchOptions::new(registry);
    opts.alerts = alerts;
    opts.smtp_nodelay = args.smtp_nodelay;
    let event = bench(opts).await.map_err(failed)?;

    let result = AlertsBench { reading, event };
    if args.json {
        print_json(&result)?;
    } else {
        let (r, e) = (&result.reading, &result.event);
        println!("{}\n", r.render(ctx.lang));
        println!("{}\n", e.render(ctx.lang));
        println!(
            "{}",
            ctx.lang.pick(
                &format!(
                    "读数发布起算 / 事件发布起算：p50 {:.2} 倍，p99 {:.2} 倍（差值即采集入库与分析所用时间）",
                    ratio(r.p50_ms, e.p50_ms),
                    ratio(r.p99_ms, e.p99_ms)
                ),
                &format!(
                    "from the reading / from the event: p50 {:.2}x, p99 {:.2}x (the difference is ingest and analytics)",
                    ratio(r.p50_ms, e.p50_ms),
                    ratio(r.p99_ms, e.p99_ms)
                ),
            )
        );
    }
    Ok(())
}
