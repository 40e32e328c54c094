//! `riverwatch ingest` (the ingest service alone, against an external broker and the
//! configured store), and the commands that read what it stored: `riverwatch query`
//! ([`query`]) and `riverwatch dead-letters` ([`dead_letters`]).

pub mod dead_letters;
pub mod query;

use std::sync::Arc;

use clap::Args;
use riverwatch_core::mqtt::MqttConfig;
use riverwatch_core::time::{Clock, SystemClock};
use riverwatch_ingest::{IngestArgs, store};
use tokio_util::sync::CancellationToken;

use super::args::{broker, keyed};
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
    /// Listen for HJ 212 data loggers over TCP on this address (e.g. `0.0.0.0:9212`);
    /// overrides `[ingest.hj212_tcp] listen`.
    #[arg(long, value_name = "ADDR")]
    pub hj212_listen: Option<String>,
}

/// Stops the command at once, in the operator's language, when the HJ 212 listening
/// address cannot be bound (the service binds it again when it starts).
///
/// # Errors
/// The address does not parse or is taken.
pub fn check_listen(addr: &str) -> anyhow::Result<()> {
    std::net::TcpListener::bind(addr).map(drop).map_err(|e| {
        user_error(
            format!("无法在 {addr} 上监听 HJ 212 数采仪连接：{e}。请换一个端口或地址。"),
            format!("cannot listen for HJ 212 data loggers on {addr}: {e}; choose another port or address"),
        )
    })
}

/// Builds the ingest service's arguments from the configuration.
///
/// # Errors
/// When the stations' access passwords cannot be loaded or the store cannot be opened.
pub async fn ingest_args(
    ctx: &Context,
    mqtt: MqttConfig,
) -> anyhow::Result<IngestArgs<store::AnyWriter>> {
    let registry = ctx.loaded.registry.clone();
    // `run` loads them again; checked here first so that a mistake stops the command at
    // once, explained in the operator's language.
    riverwatch_ingest::secrets::load_configured(&ctx.loaded.config.ingest, &registry).map_err(
        |e| {
            user_error(
                format!("无法加载站点访问密码（HJ 212 PW）：{e}"),
                format!("cannot load the stations' access passwords (HJ 212 PW): {e}"),
            )
        },
    )?;
    let mqtt = if ctx.loaded.config.ingest.publish_readings {
        keyed(ctx, mqtt, false)?
    } else {
        mqtt
    };
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
    let mqtt = broker(ctx, args.mqtt.as_deref())?;
    let mut ingest = ingest_args(ctx, mqtt).await?;
    if let Some(id) = &args.client_id {
        ingest.config.client_id = id.clone();
    }
    if let Some(g) = &args.shared_group {
        ingest.config.shared_group = Some(g.clone());
    }
    if let Some(addr) = &args.hj212_listen {
        ingest.config.hj212_tcp.listen = Some(addr.clone());
    }
    if let Some(addr) = &ingest.config.hj212_tcp.listen {
        check_listen(addr)?;
    }
    let token = CancellationToken::new();
    let service = tokio::spawn(riverwatch_ingest::run(ingest, token.clone()));
    super::until_signal_then_stop(service, token, ctx).await
}

/// A failure reading the store, explained to an operator (a missing database names the
/// data directory and how to fill it).
fn store_error(ctx: &Context, e: &riverwatch_core::store_api::StoreError) -> anyhow::Error {
    let db = store::sqlite_path(&ctx.loaded.config.store, &ctx.data_dir);
    if !db.exists() {
        return user_error(
            format!(
                "数据目录 {} 中还没有数据库 {}：请先运行 riverwatch up 或 riverwatch ingest，或用 --data-dir 指定数据目录",
                ctx.data_dir.display(),
                db.display()
            ),
            format!(
                "there is no database {} in the data directory {} yet: run riverwatch up or riverwatch ingest first, or pass --data-dir",
                db.display(),
                ctx.data_dir.display()
            ),
        );
    }
    user_error(
        format!("读取数据存储失败：{e}"),
        format!("reading the store failed: {e}"),
    )
}

/// The hint after a time that does not parse.
const TIME_HINT: &str = "：请使用 2026-11-22 08:00（北京时间）或 RFC 3339";
