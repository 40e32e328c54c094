//! `riverwatch ingest`: the ingest service alone, against an external broker and the
//! configured store.

use std::sync::Arc;

use clap::Args;
use riverwatch_core::mqtt::MqttConfig;
use riverwatch_core::time::{Clock, SystemClock};
use riverwatch_ingest::{IngestArgs, store};
use tokio_util::sync::CancellationToken;

use super::{Context, user_error};

/// `riverwatch ingest`.
#[derive(Debug, Args)]
pub struct IngestCmdArgs {
    /// Broker URL (`mqtt://host:port` or `mqtts://host:port`); overrides `[mqtt] url`.
    #[arg(long)]
    pub mqtt: Option<String>,
    /// MQTT client id (stable across restarts); overrides `[ingest] client_id`.
    #[arg(long)]
    pub client_id: Option<String>,
    /// Share the load with other ingest processes through `$share/GROUP/...`.
    #[arg(long)]
    pub shared_group: Option<String>,
}

/// The broker settings after command-line overrides.
pub fn mqtt_with_override(ctx: &Context, url: Option<&str>) -> anyhow::Result<MqttConfig> {
    let mut mqtt = ctx.loaded.config.mqtt.clone();
    if let Some(url) = url {
        mqtt.url = url.to_string();
    }
    mqtt.validate().map_err(|e| {
        user_error(
            format!("MQTT 代理地址 `{}` 无效：{e}", mqtt.url),
            e.to_string(),
        )
    })?;
    Ok(mqtt)
}

/// Builds the ingest service's arguments from the configuration.
pub async fn ingest_args(
    ctx: &Context,
    mqtt: MqttConfig,
) -> anyhow::Result<IngestArgs<store::AnyWriter>> {
    let registry = ctx.loaded.registry.clone();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let writer = store::open_writer(
        &ctx.loaded.config.store,
        &ctx.data_dir,
        &registry,
        clock.clone(),
    )
    .await
    .map_err(|e| {
        user_error(
            format!(
                "无法打开数据存储（数据目录 {}）：{e}",
                ctx.data_dir.display()
            ),
            format!("cannot open the store in {}: {e}", ctx.data_dir.display()),
        )
    })?;
    Ok(IngestArgs {
        config: ctx.loaded.config.ingest.clone(),
        mqtt,
        store: writer,
        registry,
        clock,
    })
}

/// Runs `riverwatch ingest` until Ctrl-C.
///
/// # Errors
/// Configuration or store problems.
pub async fn run(args: &IngestCmdArgs, ctx: &Context) -> anyhow::Result<()> {
    let mqtt = mqtt_with_override(ctx, args.mqtt.as_deref())?;
    let mut ingest = ingest_args(ctx, mqtt).await?;
    if let Some(id) = &args.client_id {
        ingest.config.client_id = id.clone();
    }
    if let Some(g) = &args.shared_group {
        ingest.config.shared_group = Some(g.clone());
    }
    let token = CancellationToken::new();
    let service = tokio::spawn(riverwatch_ingest::run(ingest, token.clone()));
    super::until_signal_then_stop(service, token, ctx).await
}
