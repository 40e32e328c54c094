//! `riverwatch bench simulator`: the simulator's throughput — generation and encoding alone
//! (JSON or HJ 212), then, with `--mqtt`, publishing at QoS 1 until the broker acknowledged
//! every message.

use std::time::{Duration, Instant};

use clap::Args;
use riverwatch_core::Lang;
use riverwatch_core::topics::Topics;
use riverwatch_simulators::encode::encode;
use riverwatch_simulators::simulate::generator;
use riverwatch_simulators::{Pacing, SimulateConfig};

use crate::cli::Context;
use crate::cli::args::broker;
use crate::cli::simulators::{ScenarioArgs, sim_error, until_signal};

/// `riverwatch bench simulator`.
#[derive(Debug, Args)]
pub struct SimulatorBenchArgs {
    /// What to simulate.
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Also publish to this broker at QoS 1 and measure the rate it takes them.
    #[arg(long)]
    pub mqtt: Option<String>,
}

/// Measured throughput.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Throughput {
    messages: u64,
    readings: u64,
    acked: u64,
    elapsed: Duration,
}

impl Throughput {
    fn messages_per_sec(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn readings_per_sec(&self) -> f64 {
        self.readings as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// `label: N messages, COUNT what, T s, R msg/s` in the language.
    fn line(&self, lang: Lang, label: (&str, &str), count: u64, what: (&str, &str)) -> String {
        format!(
            "{}: {} {}, {count} {}, {:.2} s, {:.0} msg/s",
            lang.pick(label.0, label.1),
            self.messages,
            lang.pick("条消息", "messages"),
            lang.pick(what.0, what.1),
            self.elapsed.as_secs_f64(),
            self.messages_per_sec()
        )
    }
}

/// Generates and encodes `config`'s run as fast as possible, without I/O.
fn generate(config: &SimulateConfig) -> riverwatch_simulators::Result<Throughput> {
    let topics = config
        .mqtt
        .as_ref()
        .map_or_else(Topics::default, |m| m.topics());
    let mut generator = generator(config)?;
    let started = Instant::now();
    let (mut messages, mut readings) = (0u64, 0u64);
    while let Some(obs) = generator.next() {
        let station = &generator.stations()[obs.station];
        messages += encode(station, &obs, &topics).len() as u64;
        readings += obs.values.len() as u64;
    }
    Ok(Throughput {
        messages,
        readings,
        acked: 0,
        elapsed: started.elapsed(),
    })
}

/// Runs `riverwatch bench simulator`.
///
/// # Errors
/// Unknown scenario, bad arguments, broker errors.
pub async fn run(args: &SimulatorBenchArgs, ctx: &Context) -> anyhow::Result<()> {
    let mut config = args.scenario.config(ctx)?;
    config.pacing = Pacing::Fast;
    // The topics (and so the message sizes) are the configured broker's, as in a real run.
    config.mqtt = Some(broker(ctx, args.mqtt.as_deref())?);
    let lang = ctx.lang;
    let gen_config = config.clone();
    let report = tokio::task::spawn_blocking(move || generate(&gen_config))
        .await?
        .map_err(sim_error)?;
    println!(
        "{}, {:.0} {}",
        report.line(
            lang,
            ("生成+编码（无代理）", "generate+encode (no broker)"),
            report.readings,
            ("个读数", "readings")
        ),
        report.readings_per_sec(),
        lang.pick("读数/秒", "readings/s"),
    );
    if args.mqtt.is_some() {
        let summary = until_signal(|token| riverwatch_simulators::run(config, token))
            .await
            .map_err(sim_error)?;
        let report = Throughput {
            messages: summary.messages,
            readings: summary.readings,
            acked: summary.acked,
            elapsed: summary.elapsed,
        };
        println!(
            "{}",
            report.line(
                lang,
                (
                    "发布（QoS 1，等待全部确认）",
                    "publish (QoS 1, all acknowledged)"
                ),
                report.acked,
                ("条已确认", "acknowledged")
            )
        );
    }
    Ok(())
}
