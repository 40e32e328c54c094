//! The simulator's commands: `riverwatch simulate` ([`simulate`]), `riverwatch record`
//! ([`record`]) and `riverwatch replay` ([`replay`]), with what they share: the scenario
//! options, the simulator's errors in both languages, and stopping on a signal.

pub mod record;
pub mod replay;
pub mod simulate;

use clap::{Args, ValueEnum};
use riverwatch_simulators::{Error as SimError, OutputFormat, Scenario, SimulateConfig};
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
