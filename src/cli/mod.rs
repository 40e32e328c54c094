//! The command line: the global options (configuration file, data directory, language, log
//! filter, shutdown deadline), one subcommand, and the errors in the configured language
//! (Chinese by default). A command parses its options, calls one function of a service
//! crate and renders the result; what several commands share is in [`args`] and [`render`].
//!
//! - [`up`]: everything in one process on the embedded defaults.
//! - [`ingest`]: the ingest service, `query`, `dead-letters`.
//! - [`analytics`]: the analytics service, `evaluate`, `evaluations …`.
//! - [`alerts`]: the alert service, `alerts list|show|ack|silence`, `audit verify`.
//! - [`console`]: the console (HTTP API and live feed), `tokens create|list|revoke`.
//! - [`report`]: the river-chief reports.
//! - [`reports`]: the report schedule alone, and the archive of issued reports.
//! - [`simulators`]: `simulate`, `record`, `replay`.
//! - [`stations`], [`config`]: the network and the configuration file.
//! - [`keys`]: the deployment key of internal messages.
//! - `bench` (feature `bench`): the benchmarks.

pub mod alerts;
pub mod analytics;
pub mod args;
#[cfg(feature = "bench")]
pub mod bench;
pub mod config;
pub mod console;
pub mod hj212;
pub mod ingest;
pub mod keys;
pub mod render;
pub mod report;
pub mod reports;
pub mod simulators;
pub mod stations;
pub mod up;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use riverwatch_core::Lang;

use self::config::ConfigCommand;
use crate::config::{ConfigError, Loaded};

/// Cross-border river and air monitoring for the Lalin and Songhua rivers.
#[derive(Debug, Parser)]
#[command(name = "riverwatch", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (TOML); the built-in defaults when absent.
    #[arg(long, global = true, env = "RIVERWATCH_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory for the SQLite files and the email outbox.
    #[arg(long, global = true, env = "RIVERWATCH_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Language of operator-facing text: zh (default) or en.
    #[arg(long, global = true, env = "RIVERWATCH_LANG")]
    pub lang: Option<Lang>,
    /// Log filter (tracing EnvFilter syntax); RUST_LOG overrides.
    #[arg(
        long,
        global = true,
        env = "RIVERWATCH_LOG",
        default_value = "info,rumqttd=error,rumqttd::router=off,rumqttd::server=off"
    )]
    pub log: String,
    /// Seconds to wait for services to drain on Ctrl-C before stopping anyway.
    #[arg(
        long,
        global = true,
        env = "RIVERWATCH_SHUTDOWN_TIMEOUT_SECS",
        default_value_t = 30
    )]
    pub shutdown_timeout_secs: u64,
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run everything on the embedded defaults: broker, ingest into SQLite, and the rest.
    Up(up::UpArgs),
    /// Run the ingest service against an external broker.
    Ingest(ingest::IngestCmdArgs),
    /// Run the analytics service: judge every stored reading, publish evaluation events.
    Analytics(analytics::AnalyticsCmdArgs),
    /// Judge values against the standards (or a run of daily AQI against the warning
    /// levels) without a service.
    Evaluate(analytics::evaluate::EvaluateArgs),
    /// Read what the analytics service stored: classes, AQI, warnings, joint control,
    /// incidents, the compensation ledger, events.
    #[command(subcommand)]
    Evaluations(analytics::evaluations::EvaluationsCommand),
    /// Run the alert service, or list, show, acknowledge and silence alerts.
    Alerts(alerts::AlertsCmdArgs),
    /// Run the console: the HTTP API and live feed for duty officers.
    Console(console::ConsoleCmdArgs),
    /// Create, list or revoke console and API tokens.
    #[command(subcommand)]
    Tokens(console::tokens::TokensCommand),
    /// Check the alert audit trail.
    #[command(subcommand)]
    Audit(alerts::audit::AuditCommand),
    /// List the stations of the network.
    Stations(stations::StationsArgs),
    /// Print or check the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The deployment key the services sign and check their internal messages with.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Read stored readings.
    Query(ingest::query::QueryArgs),
    /// Read the dead-letter table (rejected input with its reasons).
    DeadLetters(ingest::dead_letters::DeadLettersArgs),
    /// HJ 212 tools: check frames as ingest would take them.
    #[command(subcommand)]
    Hj212(hj212::Hj212Command),
    /// Benchmarks against a baseline in the same run (build with --release --features bench).
    #[cfg(feature = "bench")]
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Benchmarks: not in this build.
    #[cfg(not(feature = "bench"))]
    #[command(hide = true)]
    Bench(NoBench),
    /// Write a river-chief report of a day, week, month, quarter or year (Excel, HTML, CSV,
    /// JSON).
    Report(report::ReportArgs),
    /// The report schedule (run it alone, as `up` does) and the archive of issued reports.
    #[command(subcommand)]
    Reports(reports::ReportsCommand),
    /// Simulate stations and pollution scenarios: publish to a broker or record to a file.
    Simulate(simulators::simulate::SimulateArgs),
    /// Record the observations on a live broker to Parquet or CSV.
    Record(simulators::record::RecordArgs),
    /// Re-publish a recording as JSON observations, keeping its timing.
    Replay(simulators::replay::ReplayArgs),
}

/// `riverwatch bench …` in a build without the `bench` feature: whatever follows is taken,
/// and the command says how to build the benchmarks.
#[cfg(not(feature = "bench"))]
#[derive(Debug, clap::Args)]
pub struct NoBench {
    /// The benchmark and its options.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// What every subcommand gets: parsed global options and the loaded configuration.
#[derive(Debug, Clone)]
pub struct Context {
    /// Loaded configuration and registry.
    pub loaded: Loaded,
    /// Language of operator-facing text.
    pub lang: Lang,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Shutdown deadline.
    pub shutdown_timeout: std::time::Duration,
}

/// An error meant for an operator, with text in both languages.
#[derive(Debug, thiserror::Error)]
#[error("{en}")]
pub struct UserError {
    /// Chinese text.
    pub zh: String,
    /// English text.
    pub en: String,
}

/// Builds a [`UserError`].
pub fn user_error(zh: impl Into<String>, en: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UserError {
        zh: zh.into(),
        en: en.into(),
    })
}

fn render_error(err: &anyhow::Error, lang: Lang) -> String {
    for cause in err.chain() {
        if let Some(c) = cause.downcast_ref::<ConfigError>() {
            return c.render(lang);
        }
        if let Some(u) = cause.downcast_ref::<UserError>() {
            return lang.pick(&u.zh, &u.en).to_string();
        }
    }
    format!("{err:#}")
}

/// Parses the command line, runs the command and returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let env_lang = cli.lang.unwrap_or_default();
    if let Err(e) = riverwatch_core::telemetry::init(&cli.log) {
        eprintln!("{e}");
    }
    let lang = std::cell::Cell::new(env_lang);
    let result = (|| -> anyhow::Result<()> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        runtime.block_on(async {
            if let Command::Config(ConfigCommand::Default) = cli.command {
                let text = crate::config::default_file().context("cannot render the defaults")?;
                print!("{text}");
                return Ok(());
            }
            let ctx = context(&cli)?;
            lang.set(ctx.lang);
            run(cli.command, ctx).await
        })
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let prefix = lang.get().pick("错误：", "error: ");
            eprintln!("{prefix}{}", render_error(&e, lang.get()));
            ExitCode::from(2)
        }
    }
}

/// Loads the configuration and resolves the global options.
///
/// # Errors
/// A configuration error.
pub fn context(cli: &Cli) -> anyhow::Result<Context> {
    let mut loaded = crate::config::load(cli.config.as_deref())?;
    loaded
        .config
        .mqtt
        .load_credentials_from_env()
        .map_err(|e| user_error(format!("MQTT 凭据设置有误：{e}"), e.to_string()))?;
    loaded.config.store.load_secrets_from_env();
    let lang = cli.lang.unwrap_or(loaded.config.lang);
    let data_dir = cli
        .data_dir
        .clone()
        .or_else(|| loaded.config.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from("data"));
    Ok(Context {
        loaded,
        lang,
        data_dir,
        shutdown_timeout: std::time::Duration::from_secs(cli.shutdown_timeout_secs),
    })
}

async fn run(command: Command, ctx: Context) -> anyhow::Result<()> {
    match command {
        Command::Up(args) => up::run(&args, &ctx).await,
        Command::Ingest(args) => ingest::run(&args, &ctx).await,
        Command::Analytics(args) => analytics::run(&args, &ctx).await,
        Command::Evaluate(args) => analytics::evaluate::run(&args, &ctx),
        Command::Evaluations(cmd) => analytics::evaluations::run(&cmd, &ctx).await,
        Command::Alerts(args) => alerts::run(&args, &ctx).await,
        Command::Audit(cmd) => alerts::audit::run(&cmd, &ctx),
        Command::Console(args) => console::run(&args, &ctx).await,
        Command::Tokens(cmd) => console::tokens::run(&cmd, &ctx),
        Command::Stations(args) => stations::run(&args, &ctx),
        Command::Config(ConfigCommand::Default) => Ok(()),
        Command::Config(ConfigCommand::Check) => {
            config::check(&ctx);
            Ok(())
        }
        Command::Keys(cmd) => keys::run(&cmd, &ctx),
        Command::Query(args) => ingest::query::run(&args, &ctx).await,
        Command::DeadLetters(args) => ingest::dead_letters::run(&args, &ctx).await,
        Command::Hj212(cmd) => hj212::run(&cmd, &ctx),
        #[cfg(feature = "bench")]
        Command::Bench(cmd) => bench::run(&cmd, &ctx).await,
        #[cfg(not(feature = "bench"))]
        Command::Bench(_) => Err(user_error(
            "此构建不含基准测试（它们需要测试用的 mosquitto 与 SMTP 服务器）：请用 cargo run --release --features bench -- bench … 运行",
            "this build has no benchmarks (they need the test servers): run them with cargo run --release --features bench -- bench …",
        )),
        Command::Report(args) => report::run(&args, &ctx).await,
        Command::Reports(cmd) => reports::run(&cmd, &ctx).await,
        Command::Simulate(args) => simulators::simulate::run(&args, &ctx).await,
        Command::Record(args) => simulators::record::run(&args, &ctx).await,
        Command::Replay(args) => simulators::replay::run(&args, &ctx).await,
    }
}

/// Waits for Ctrl-C (or the service ending by itself), then stops the service and waits
/// for it to drain, up to the shutdown deadline.
///
/// # Errors
/// The service's own error, or a missed deadline.
pub async fn until_signal_then_stop<E: std::fmt::Display>(
    mut service: tokio::task::JoinHandle<Result<(), E>>,
    token: tokio_util::sync::CancellationToken,
    ctx: &Context,
) -> anyhow::Result<()> {
    let flatten = |r: Result<Result<(), E>, tokio::task::JoinError>| -> anyhow::Result<()> {
        match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(anyhow::anyhow!("{e}")),
            Err(e) => Err(anyhow::anyhow!("service task failed: {e}")),
        }
    };
    tokio::select! {
        r = &mut service => return flatten(r),
        s = riverwatch_core::shutdown::wait_for_signal() => {
            s.context("cannot listen for Ctrl-C")?;
            tracing::info!("Shutting down.");
        }
    }
    token.cancel();
    match tokio::time::timeout(ctx.shutdown_timeout, service).await {
        Ok(r) => flatten(r),
        Err(_) => Err(user_error(
            format!("服务未能在 {} 秒内停止", ctx.shutdown_timeout.as_secs()),
            format!(
                "the service did not stop within {} s",
                ctx.shutdown_timeout.as_secs()
            ),
        )),
    }
}
