//! `riverwatch simulate` (scenarios published to a broker or recorded), `riverwatch record`
//! (a live broker to a recording) and `riverwatch replay` (a recording back to a broker).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use riverwatch_core::Lang;
use riverwatch_core::mqtt::MqttConfig;
use riverwatch_core::time::{fmt_cst, parse_duration, parse_time};
use riverwatch_simulators::bench::{bench_generate, bench_publish};
use riverwatch_simulators::{
    Error as SimError, OutputFormat, Pacing, RecordConfig, ReplayConfig, Scenario, SimulateConfig,
};
use tokio_util::sync::CancellationToken;

use super::{Context, user_error};

/// Message format of `riverwatch simulate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// JSON observations on `rw/v1/obs/{station}`.
    Json,
    /// HJ 212 frames on `rw/v1/hj212/{station}`.
    Hj212,
    /// Per station, as the scenario says.
    Mixed,
}

impl From<FormatArg> for OutputFormat {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Json => OutputFormat::Json,
            FormatArg::Hj212 => OutputFormat::Hj212,
            FormatArg::Mixed => OutputFormat::Mixed,
        }
    }
}

/// `riverwatch simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Scenario: a built-in name (see --list) or a scenario TOML file.
    #[arg(long, default_value = "baseline")]
    pub scenario: String,
    /// List the built-in scenarios and exit.
    #[arg(long)]
    pub list: bool,
    /// Seed: one seed gives the same output, byte for byte.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Simulated start (China Standard Time `2005-11-13 00:00`, RFC 3339 or epoch ms);
    /// the scenario's default when absent.
    #[arg(long)]
    pub start: Option<String>,
    /// Simulated duration (`7d`, `36h`); the scenario's default when absent.
    #[arg(long)]
    pub duration: Option<String>,
    /// Simulated seconds per wall-clock second.
    #[arg(long, conflicts_with_all = ["fast", "wall_clock"])]
    pub speed: Option<f64>,
    /// As fast as the broker takes it (the default).
    #[arg(long)]
    pub fast: bool,
    /// Simulated time is now; publish in real time until Ctrl-C.
    #[arg(long, conflicts_with_all = ["start", "duration", "out"])]
    pub wall_clock: bool,
    /// Message format.
    #[arg(long, value_enum, default_value_t = FormatArg::Json)]
    pub format: FormatArg,
    /// Broker to publish to at QoS 1 (default: the configured broker, unless --out is given).
    #[arg(long)]
    pub mqtt: Option<String>,
    /// Record to FILE.csv or FILE.parquet; the manifest goes to FILE.manifest.json.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// One reporting interval for every station, seconds.
    #[arg(long)]
    pub interval_secs: Option<u32>,
    /// MQTT client id (default: derived from scenario, seed and process).
    #[arg(long)]
    pub client_id: Option<String>,
    /// Measure throughput: generation and encoding alone, then publishing if --mqtt is given.
    #[arg(long)]
    pub bench: bool,
}

/// `riverwatch record`.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Broker to record (default: the configured broker).
    #[arg(long)]
    pub mqtt: Option<String>,
    /// Output: FILE.parquet or FILE.csv.
    #[arg(long)]
    pub out: PathBuf,
    /// Stop after this long (wall clock); until Ctrl-C when absent.
    #[arg(long)]
    pub duration: Option<String>,
    /// Stop after this many messages.
    #[arg(long)]
    pub max_messages: Option<u64>,
    /// MQTT client id.
    #[arg(long)]
    pub client_id: Option<String>,
}

/// `riverwatch replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Recording: FILE.csv or FILE.parquet.
    pub file: PathBuf,
    /// Broker to publish to (default: the configured broker).
    #[arg(long)]
    pub mqtt: Option<String>,
    /// Simulated seconds per wall-clock second.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Move the times so the replay looks live (no time after the moment it is sent).
    #[arg(long)]
    pub shift_to_now: bool,
    /// MQTT client id.
    #[arg(long)]
    pub client_id: Option<String>,
}

/// The configured broker with `url` overriding its address (credentials and TLS kept).
fn broker(ctx: &Context, url: Option<&str>) -> anyhow::Result<MqttConfig> {
    let mut mqtt = ctx.loaded.config.mqtt.clone();
    if let Some(url) = url {
        mqtt.url = url.to_string();
    }
    mqtt.validate().map_err(|e| {
        user_error(
            format!("MQTT 代理地址 `{}` 无效：{e}", mqtt.url),
            format!("broker `{}`: {e}", mqtt.url),
        )
    })?;
    Ok(mqtt)
}

/// Operator-facing text for the simulator's errors.
fn sim_error(e: SimError) -> anyhow::Error {
    match &e {
        SimError::UnknownScenario(name) => user_error(
            format!("未知情景 `{name}`（不是内置情景，也不是文件）；用 --list 查看内置情景"),
            format!("unknown scenario `{name}` (neither built in nor a file); see --list"),
        ),
        SimError::ScenarioSyntax { origin, message } => user_error(
            format!("情景文件 {origin} 有误：{message}"),
            format!("scenario {origin}: {message}"),
        ),
        SimError::InvalidScenario { scenario, message } => user_error(
            format!("情景 {scenario} 与站点注册表不符：{message}"),
            format!("scenario {scenario}: {message}"),
        ),
        SimError::Config(message) => user_error(
            format!("模拟参数有误：{message}"),
            format!("invalid settings: {message}"),
        ),
        _ => anyhow::Error::new(e),
    }
}

fn time_arg(
    value: Option<&str>,
    flag: &str,
) -> anyhow::Result<Option<chrono::DateTime<chrono::Utc>>> {
    value
        .map(|t| {
            parse_time(t).map_err(|e| {
                user_error(
                    format!("{flag} 的时间 `{t}` 无法识别：请使用 2005-11-13 00:00（北京时间）或 RFC 3339"),
                    format!("{flag}: {e}"),
                )
            })
        })
        .transpose()
}

fn duration_arg(value: Option<&str>, flag: &str) -> anyhow::Result<Option<Duration>> {
    value
        .map(|d| {
            parse_duration(d).map_err(|e| {
                user_error(
                    format!("{flag} 的时长 `{d}` 无法识别：请使用 90s、15m、36h、7d"),
                    format!("{flag}: {e}"),
                )
            })
        })
        .transpose()
}

/// A token cancelled on Ctrl-C or SIGTERM, and the guard that stops listening.
fn signal_token() -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let token = CancellationToken::new();
    let t = token.clone();
    let listener = tokio::spawn(async move {
        if riverwatch_core::shutdown::wait_for_signal().await.is_ok() {
            tracing::info!("Stopping on signal.");
            t.cancel();
        }
    });
    (token, listener)
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
pub async fn simulate(args: &SimulateArgs, ctx: &Context) -> anyhow::Result<()> {
    if args.list {
        list(ctx.lang);
        return Ok(());
    }
    let scenario = Scenario::load(&args.scenario).map_err(sim_error)?;
    let mut config = SimulateConfig::new(scenario, ctx.loaded.registry.clone());
    config.seed = args.seed;
    config.start = time_arg(args.start.as_deref(), "--start")?;
    config.duration = duration_arg(args.duration.as_deref(), "--duration")?;
    config.format = args.format.into();
    config.interval_override_secs = args.interval_secs;
    config.client_id = args.client_id.clone();
    config.out = args.out.clone();
    config.pacing = match (args.speed, args.wall_clock) {
        (Some(x), _) => Pacing::Speed(x),
        (None, true) => Pacing::WallClock,
        (None, false) => Pacing::Fast,
    };
    if args.wall_clock {
        config.until_shutdown = true;
    }
    if args.mqtt.is_some() || args.out.is_none() {
        config.mqtt = Some(broker(ctx, args.mqtt.as_deref())?);
    }
    let (token, listener) = signal_token();
    let result = if args.bench {
        bench(config, args.mqtt.is_some(), ctx.lang, token).await
    } else {
        run(config, ctx.lang, token).await
    };
    listener.abort();
    result
}

async fn run(config: SimulateConfig, lang: Lang, token: CancellationToken) -> anyhow::Result<()> {
    let summary = riverwatch_simulators::run(config, token)
        .await
        .map_err(sim_error)?;
    let secs = summary.elapsed.as_secs_f64();
    match lang {
        Lang::Zh => println!(
            "情景 {}：模拟 {} 至 {}（北京时间），{} 条消息（代理确认 {}），{} 个读数，用时 {secs:.1} 秒{}",
            summary.scenario,
            fmt_cst(summary.start),
            fmt_cst(summary.end),
            summary.messages,
            summary.acked,
            summary.readings,
            if summary.interrupted {
                "（已中断）"
            } else {
                ""
            }
        ),
        Lang::En => println!(
            "scenario {}: simulated {} to {} (UTC+8), {} messages ({} acknowledged), {} readings, {secs:.1} s{}",
            summary.scenario,
            fmt_cst(summary.start),
            fmt_cst(summary.end),
            summary.messages,
            summary.acked,
            summary.readings,
            if summary.interrupted {
                " (interrupted)"
            } else {
                ""
            }
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

async fn bench(
    config: SimulateConfig,
    with_broker: bool,
    lang: Lang,
    token: CancellationToken,
) -> anyhow::Result<()> {
    let gen_config = config.clone();
    let report = tokio::task::spawn_blocking(move || bench_generate(&gen_config))
        .await?
        .map_err(sim_error)?;
    println!(
        "{}: {} {}, {} {}, {:.2} s, {:.0} msg/s, {:.0} {}",
        lang.pick("生成+编码（无代理）", "generate+encode (no broker)"),
        report.messages,
        lang.pick("条消息", "messages"),
        report.readings,
        lang.pick("个读数", "readings"),
        report.elapsed.as_secs_f64(),
        report.messages_per_sec(),
        report.readings_per_sec(),
        lang.pick("读数/秒", "readings/s"),
    );
    if with_broker {
        let report = bench_publish(config, token).await.map_err(sim_error)?;
        println!(
            "{}: {} {}, {} {}, {:.2} s, {:.0} msg/s",
            lang.pick(
                "发布（QoS 1，等待全部确认）",
                "publish (QoS 1, all acknowledged)"
            ),
            report.messages,
            lang.pick("条消息", "messages"),
            report.acked,
            lang.pick("条已确认", "acknowledged"),
            report.elapsed.as_secs_f64(),
            report.messages_per_sec(),
        );
    }
    Ok(())
}

/// Runs `riverwatch record`.
///
/// # Errors
/// Bad arguments, broker or file errors.
pub async fn record(args: &RecordArgs, ctx: &Context) -> anyhow::Result<()> {
    let config = RecordConfig {
        registry: ctx.loaded.registry.clone(),
        mqtt: broker(ctx, args.mqtt.as_deref())?,
        out: args.out.clone(),
        duration: duration_arg(args.duration.as_deref(), "--duration")?,
        max_messages: args.max_messages,
        client_id: args.client_id.clone(),
    };
    riverwatch_simulators::recording::FileKind::of(&config.out).map_err(sim_error)?;
    let (token, listener) = signal_token();
    let result = riverwatch_simulators::record(config, token).await;
    listener.abort();
    let summary = result.map_err(sim_error)?;
    match ctx.lang {
        Lang::Zh => println!(
            "收到 {} 条消息，写入 {} 个读数，{} 条无法解码已跳过",
            summary.messages, summary.rows, summary.skipped
        ),
        Lang::En => println!(
            "{} messages received, {} readings written, {} undecodable skipped",
            summary.messages, summary.rows, summary.skipped
        ),
    }
    println!("{}", summary.out.display());
    Ok(())
}

/// Runs `riverwatch replay`.
///
/// # Errors
/// Bad arguments, an unreadable recording, broker errors.
pub async fn replay(args: &ReplayArgs, ctx: &Context) -> anyhow::Result<()> {
    let config = ReplayConfig {
        input: args.file.clone(),
        mqtt: broker(ctx, args.mqtt.as_deref())?,
        speed: args.speed,
        shift_to_now: args.shift_to_now,
        client_id: args.client_id.clone(),
    };
    let (token, listener) = signal_token();
    let result = riverwatch_simulators::replay(config, token).await;
    listener.abort();
    let summary = result.map_err(sim_error)?;
    match ctx.lang {
        Lang::Zh => println!(
            "重放 {} 条消息（{} 个读数），代理确认 {}{}",
            summary.messages,
            summary.readings,
            summary.acked,
            if summary.interrupted {
                "（已中断）"
            } else {
                ""
            }
        ),
        Lang::En => println!(
            "replayed {} messages ({} readings), {} acknowledged{}",
            summary.messages,
            summary.readings,
            summary.acked,
            if summary.interrupted {
                " (interrupted)"
            } else {
                ""
            }
        ),
    }
    Ok(())
}
