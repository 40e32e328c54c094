//! `riverwatch analytics` (the analytics service), and the commands that read its results:
//! `riverwatch evaluate` ([`evaluate`]) and `riverwatch evaluations …` ([`evaluations`]).

pub mod evaluate;
pub mod evaluations;

use std::sync::Arc;

use clap::Args;
use riverwatch_analytics::AnalyticsArgs;
use riverwatch_core::mqtt::MqttConfig;
use riverwatch_core::time::SystemClock;
use riverwatch_ingest::store::{self, AnyReader};
use tokio_util::sync::CancellationToken;

use super::args::{broker, keyed};
use super::{Context, user_error};

/// `riverwatch analytics`.
#[derive(Debug, Args)]
pub struct AnalyticsCmdArgs {
    /// Broker URL (`mqtt://host:port` or `mqtts://host:port`); overrides `[mqtt] url`.
    #[arg(long)]
    pub mqtt: Option<String>,
    /// MQTT client id (stable across restarts); overrides `[analytics] client_id`.
    #[arg(long)]
    pub client_id: Option<String>,
}

/// Builds the analytics service's arguments from the configuration: the configured
/// readings store (SQLite or InfluxDB) and the evaluation store in the data directory.
///
/// # Errors
/// When the readings store cannot be opened.
pub fn analytics_args(ctx: &Context, mqtt: MqttConfig) -> anyhow::Result<AnalyticsArgs<AnyReader>> {
    Ok(AnalyticsArgs {
        config: ctx.loaded.config.analytics.clone(),
        mqtt: keyed(ctx, mqtt, false)?,
        reader: open_readings(ctx)?,
        registry: ctx.loaded.registry.clone(),
        data_dir: ctx.data_dir.clone(),
        clock: Arc::new(SystemClock),
        control: None,
    })
}

fn open_readings(ctx: &Context) -> anyhow::Result<AnyReader> {
    let sqlite = store::sqlite_path(&ctx.loaded.config.store, &ctx.data_dir);
    if ctx.loaded.config.store.backend == riverwatch_ingest::config::Backend::Sqlite
        && !sqlite.exists()
    {
        // A fresh data directory: create the readings database so the reader can open it.
        store::SqliteStore::open(&sqlite, &ctx.loaded.config.store.sqlite)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    store::open_reader(
        &ctx.loaded.config.store,
        &ctx.data_dir,
        &ctx.loaded.registry,
    )
    .map_err(|e| {
        user_error(
            format!(
                "无法打开读数存储（数据目录 {}）：{e}",
                ctx.data_dir.display()
            ),
            format!(
                "cannot open the readings store in {}: {e}",
                ctx.data_dir.display()
            ),
        )
    })
}

/// Runs `riverwatch analytics` until Ctrl-C.
///
/// # Errors
/// Configuration or store problems.
pub async fn run(args: &AnalyticsCmdArgs, ctx: &Context) -> anyhow::Result<()> {
    let mqtt = broker(ctx, args.mqtt.as_deref())?;
    let mut a = analytics_args(ctx, mqtt)?;
    if let Some(id) = &args.client_id {
        a.config.client_id = id.clone();
    }
    let token = CancellationToken::new();
    let service = tokio::spawn(riverwatch_analytics::run(a, token.clone()));
    super::until_signal_then_stop(service, token, ctx).await
}
