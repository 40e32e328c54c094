//! `riverwatch simulate`: a scenario published to a broker at QoS 1 or recorded to a file
//! with its manifest, or the list of built-in scenarios.

use std::path::PathBuf;

use clap::Args;
use riverwatch_core::Lang;
use riverwatch_core::time::fmt_cst;
use riverwatch_simulators::{Pacing, Scenario};

use super::{ScenarioArgs, describe_live, live_plan, sim_error, until_signal};
use crate::cli::Context;
use crate::cli::args::broker;

/// `riverwatch simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// What to simulate.
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// List the built-in scenarios and exit.
    #[arg(long)]
    pub list: bool,
    /// Simulated seconds per wall-clock second. With --wall-clock: the speed at which the
    /// re-dated scenario's past is replayed until it meets the wall clock (at least 1,
    /// default 3600).
    #[arg(long, conflicts_with = "fast")]
    pub speed: Option<f64>,
    /// As fast as the broker takes it (the default).
    #[arg(long)]
    pub fast: bool,
    /// Live until Ctrl-C: the scenario is re-dated so that its replay (at --speed) reaches
    /// its first event a few seconds after start-up and meets the wall clock at its end;
    /// then simulated time is the wall clock. Nothing is sent before its time.
    #[arg(long, conflicts_with_all = ["start", "duration", "out"])]
    pub wall_clock: bool,
    /// Broker to publish to at QoS 1 (default: the configured broker, unless --out is given).
    #[arg(long)]
    pub mqtt: Option<String>,
    /// Run the HJ 212 stations as data loggers connecting over TCP to HOST:PORT (one
    /// connection each, 9014 awaited, reconnect and resend); JSON stations still publish
    /// to the broker. Use with --format hj212 for every station.
    #[arg(long, value_name = "HOST:PORT")]
    pub hj212_tcp: Option<String>,
    /// Record to FILE.csv or FILE.parquet; the manifest goes to FILE.manifest.json.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn list(lang: Lang) {
    let scenarios = Scenario::list(lang);
    let width = scenarios.iter().map(|s| s.name.len()).max().unwrap_or(0);
    for s in scenarios {
        println!("{:width$}  {}", s.name, s.description);
    }
}

/// Runs `riverwatch simulate`.
///
/// # Errors
/// Unknown scenario, bad arguments, broker or file errors.
pub async fn run(args: &SimulateArgs, ctx: &Context) -> anyhow::Result<()> {
    if args.list {
        list(ctx.lang);
        return Ok(());
    }
    let mut config = args.scenario.config(ctx)?;
    config.out = args.out.clone();
    config.pacing = match args.speed {
        Some(x) => Pacing::Speed(x),
        None => Pacing::Fast,
    };
    if args.mqtt.is_some() || args.out.is_none() {
        config.mqtt = Some(broker(ctx, args.mqtt.as_deref())?);
    }
    config.hj212_tcp = args.hj212_tcp.clone();
    if config.hj212_tcp.is_some() && config.mqtt.is_none() {
        config.mqtt = Some(broker(ctx, args.mqtt.as_deref())?);
    }
    if args.wall_clock {
        config
            .scenario
            .validate(&ctx.loaded.registry)
            .map_err(sim_error)?;
        let plan = live_plan(&config, args.speed)?;
        config.play_live(&plan);
        eprintln!("{}", describe_live(&plan, &ctx.loaded.registry, ctx.lang));
    }
    let summary = until_signal(|token| riverwatch_simulators::run(config, token))
        .await
        .map_err(sim_error)?;
    let lang = ctx.lang;
    let secs = summary.elapsed.as_secs_f64();
    let (scenario, start, end) = (
        &summary.scenario,
        fmt_cst(summary.start),
        fmt_cst(summary.end),
    );
    let (messages, acked, readings) = (summary.messages, summary.acked, summary.readings);
    let interrupted = if summary.interrupted {
        lang.pick("（已中断）", " (interrupted)")
    } else {
        ""
    };
    match lang {
        Lang::Zh => println!(
            "情景 {scenario}：模拟 {start} 至 {end}（北京时间），{messages} 条消息（代理确认 {acked}），{readings} 个读数，用时 {secs:.1} 秒{interrupted}"
        ),
        Lang::En => println!(
            "scenario {scenario}: simulated {start} to {end} (UTC+8), {messages} messages ({acked} acknowledged), {readings} readings, {secs:.1} s{interrupted}"
        ),
    }
    if summary.lost > 0 {
        eprintln!(
            "{}",
            lang.pick(
                &format!("警告：代理丢失会话，{} 条消息未送达", summary.lost),
                &format!(
                    "warning: the broker lost the session; {} messages were lost",
                    summary.lost
                )
            )
        );
    }
    if let Some(out) = &summary.out {
        println!("{}", out.display());
    }
    if let Some(m) = &summary.manifest {
        println!("{}", m.display());
    }
    Ok(())
}
