//! The simulator's commands: `riverwatch simulate` ([`simulate`]), `riverwatch record`
//! ([`record`]) and `riverwatch replay` ([`replay`]), with what they share: the scenario
//! options, the live plan of a scenario and its description (also shown by `riverwatch up`),
//! the simulator's errors in both languages, and stopping on a signal.

pub mod record;
pub mod replay;
pub mod simulate;

use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use riverwatch_core::Lang;
use riverwatch_core::registry::Registry;
use riverwatch_core::time::fmt_cst;
use riverwatch_simulators::redate::timeline;
use riverwatch_simulators::simulate::backfill_secs;
use riverwatch_simulators::{
    Error as SimError, LivePlan, MilestoneKind, OutputFormat, RECOMMENDED_SPEED, Scenario,
    SimulateConfig,
};
use tokio_util::sync::CancellationToken;

use super::args::{duration_arg, time_arg};
use super::{Context, user_error};

/// Message format of the simulator.
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

/// What to simulate: the options `riverwatch simulate` and the simulator benchmark share.
#[derive(Debug, Args)]
pub struct ScenarioArgs {
    /// Scenario: a built-in name (see --list) or a scenario TOML file.
    #[arg(long, default_value = "baseline")]
    pub scenario: String,
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
    /// Message format.
    #[arg(long, value_enum, default_value_t = FormatArg::Json)]
    pub format: FormatArg,
    /// One reporting interval for every station, seconds.
    #[arg(long)]
    pub interval_secs: Option<u32>,
    /// MQTT client id (default: derived from scenario, seed and process).
    #[arg(long)]
    pub client_id: Option<String>,
}

impl ScenarioArgs {
    /// The simulator's settings for these options on the configured network (no broker, no
    /// output file, as fast as possible).
    ///
    /// # Errors
    /// An unknown scenario, or a bad time or duration.
    pub fn config(&self, ctx: &Context) -> anyhow::Result<SimulateConfig> {
        let scenario = Scenario::load(&self.scenario).map_err(sim_error)?;
        let mut config = SimulateConfig::new(scenario, ctx.loaded.registry.clone());
        config.seed = self.seed;
        config.start = time_arg(
            self.start.as_deref(),
            "--start",
            "：请使用 2005-11-13 00:00（北京时间）或 RFC 3339",
        )?;
        config.duration = duration_arg(self.duration.as_deref(), "--duration")?;
        config.format = self.format.into();
        config.interval_override_secs = self.interval_secs;
        config.client_id = self.client_id.clone();
        Ok(config)
    }
}

/// The live plan of `config`'s scenario from now, replayed at `speed` (the recommended
/// [`RECOMMENDED_SPEED`] when absent) until it meets the wall clock.
///
/// # Errors
/// A speed below 1, or a scenario whose dates cannot move that far.
pub fn live_plan(config: &SimulateConfig, speed: Option<f64>) -> anyhow::Result<LivePlan> {
    let speed = speed.unwrap_or(RECOMMENDED_SPEED);
    if !(speed.is_finite() && speed >= 1.0) {
        return Err(user_error(
            format!(
                "--speed {speed} 无效：实时运行的回放倍速必须是不小于 1 的数（推荐 {RECOMMENDED_SPEED}）"
            ),
            format!(
                "--speed {speed}: the replay speed of a live run must be a number of at least 1 (recommended {RECOMMENDED_SPEED})"
            ),
        ));
    }
    LivePlan::new(&config.scenario, Utc::now(), speed, backfill_secs(config)).map_err(sim_error)
}

/// "in about 17 s" / "约 17 秒后" from now to `then`; "sent at start-up" when it is now.
fn wait(now: DateTime<Utc>, then: DateTime<Utc>, lang: Lang) -> String {
    let secs = (then - now).num_seconds();
    if secs <= 0 {
        return lang.pick("启动时即发送", "sent at start-up").to_string();
    }
    let (n, zh, en) = match secs {
        0..120 => (secs, "秒", "s"),
        120..7200 => ((secs + 30) / 60, "分钟", "min"),
        7200..172_800 => ((secs + 1800) / 3600, "小时", "h"),
        _ => ((secs + 43_200) / 86_400, "天", "d"),
    };
    match lang {
        Lang::Zh => format!("约 {n} {zh}后"),
        Lang::En => format!("in about {n} {en}"),
    }
}

/// The first screen of a live scenario run: what the scenario is, how it is replayed, and
/// when its first event and the first arrival at a section come (UTC+8), one line each.
pub fn describe_live(plan: &LivePlan, registry: &Registry, lang: Lang) -> String {
    let s = &plan.scenario;
    let mut lines = vec![match lang {
        Lang::Zh => format!("情景 {}：{}", s.name, s.description_zh),
        Lang::En => format!("scenario {}: {}", s.name, s.description_en),
    }];
    let timeline = timeline(s, registry);
    let Some(first) = timeline.first() else {
        lines.push(
            lang.pick(
                "该情景没有事件，模拟时间即当前时间。",
                "the scenario has no events; simulated time is the wall clock.",
            )
            .to_string(),
        );
        return lines.join("\n");
    };
    let (start, caught_up) = (fmt_cst(plan.run_start), fmt_cst(plan.caught_up_at()));
    let speed = plan.speed;
    lines.push(if speed > 1.0 {
        match lang {
            Lang::Zh => format!(
                "回放：情景整体平移到当前时间之前，模拟时间从 {start} 起以 {speed} 倍速回放，{}（{caught_up}）追上当前时间，之后按实时运行；每个读数的时间都不晚于其发送时刻。",
                wait(plan.now, plan.caught_up_at(), lang)
            ),
            Lang::En => format!(
                "replay: the scenario is moved into the recent past; simulated time runs from {start} at {speed}× and catches up with the wall clock {} ({caught_up}), then follows it; no reading is stamped later than it is sent.",
                wait(plan.now, plan.caught_up_at(), lang)
            ),
        }
    } else {
        match lang {
            Lang::Zh => format!(
                "实时：情景平移到启动时刻，模拟时间即当前时间（启动时补发 {start} 以来的读数）。"
            ),
            Lang::En => format!(
                "real time: the scenario is moved to start-up; simulated time is the wall clock (readings since {start} are sent at once)."
            ),
        }
    });
    let original = fmt_cst(first.at - plan.shift);
    let (at, when) = (
        fmt_cst(first.at),
        wait(plan.now, plan.sent_at(first.at), lang),
    );
    lines.push(match lang {
        Lang::Zh => format!(
            "首个事件：{at}（北京时间，UTC+8；情景文件中为 {original}），{when}：{}",
            first.what_zh
        ),
        Lang::En => format!(
            "first event: {at} (UTC+8; {original} in the scenario file), {when}: {}",
            first.what_en
        ),
    });
    if let Some(arrival) = timeline.iter().find(|m| m.kind == MilestoneKind::Arrival) {
        let (at, when) = (
            fmt_cst(arrival.at),
            wait(plan.now, plan.sent_at(arrival.at), lang),
        );
        lines.push(match lang {
            Lang::Zh => format!("首个断面：{at}（北京时间），{when}：{}", arrival.what_zh),
            Lang::En => format!("first section: {at} (UTC+8), {when}: {}", arrival.what_en),
        });
    }
    lines.join("\n")
}

/// Operator-facing text for the simulator's errors.
pub fn sim_error(e: SimError) -> anyhow::Error {
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

/// Runs `f` with a token that Ctrl-C or SIGTERM cancels.
pub async fn until_signal<T, F, Fut>(f: F) -> T
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: Future<Output = T>,
{
    let token = CancellationToken::new();
    let t = token.clone();
    let listener = tokio::spawn(async move {
        if riverwatch_core::shutdown::wait_for_signal().await.is_ok() {
            tracing::info!("Stopping on signal.");
            t.cancel();
        }
    });
    let out = f(token).await;
    listener.abort();
    out
}
