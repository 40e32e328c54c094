//! `riverwatch console` (the HTTP API and live feed alone, against the configured broker
//! and the stores in the data directory) and `riverwatch tokens …` ([`tokens`]).

pub mod tokens;

use std::sync::Arc;

use clap::Args;
use riverwatch_console::{ConsoleArgs, Stores};
use riverwatch_core::mqtt::MqttConfig;
use riverwatch_core::time::SystemClock;
use tokio_util::sync::CancellationToken;

use super::args::{broker, keyed};
use super::{Context, user_error};

/// `riverwatch console`.
#[derive(Debug, Args)]
pub struct ConsoleCmdArgs {
    /// Address and port to listen on; overrides `[console] listen` (default
    /// 127.0.0.1:8080).
    #[arg(long)]
    pub listen: Option<String>,
    /// Port on the configured address; overrides the port of `[console] listen`.
    #[arg(long)]
    pub http_port: Option<u16>,
    /// Broker URL (`mqtt://host:port` or `mqtts://host:port`); overrides `[mqtt] url`.
    #[arg(long)]
    pub mqtt: Option<String>,
}

/// The console's arguments from the configuration, with `--listen` / `--http-port`
/// applied. `riverwatch up` uses this too.
///
/// # Errors
/// Bad `[console]` settings.
pub fn console_args(
    ctx: &Context,
    mqtt: MqttConfig,
    listen: Option<&str>,
    http_port: Option<u16>,
) -> anyhow::Result<ConsoleArgs> {
    let mut config = ctx.loaded.config.console.clone();
    if let Some(l) = listen {
        config.listen = l.to_string();
    }
    if let Some(port) = http_port {
        let host = config
            .listen
            .rsplit_once(':')
            .map_or("127.0.0.1", |(h, _)| h)
            .to_string();
        config.listen = format!("{host}:{port}");
    }
    config
        .validate()
        .map_err(|e| user_error(format!("控制台配置有误：{e}"), format!("[console] {e}")))?;
    Ok(ConsoleArgs {
        config,
        mqtt: keyed(ctx, mqtt, false)?,
        registry: ctx.loaded.registry.clone(),
        stores: Stores {
            data_dir: ctx.data_dir.clone(),
            readings: ctx.loaded.config.store.clone(),
            analytics_file: ctx.loaded.config.analytics.store_file.clone(),
            alerts_file: ctx.loaded.config.alerts.database.clone(),
        },
        lang: ctx.lang,
        clock: Arc::new(SystemClock),
    })
}

/// A console that cannot start, explained to an operator.
pub fn console_error(e: &riverwatch_console::Error) -> anyhow::Error {
    match e {
        riverwatch_console::Error::Bind { addr, source } => user_error(
            format!(
                "控制台无法监听 {addr}：{source}。请用 --http-port 或 [console] listen 指定其他端口。"
            ),
            e.to_string(),
        ),
        other => user_error(format!("控制台无法启动：{other}"), other.to_string()),
    }
}

/// Runs `riverwatch console` until Ctrl-C.
///
/// # Errors
/// Bad settings, a taken port.
pub async fn run(args: &ConsoleCmdArgs, ctx: &Context) -> anyhow::Result<()> {
    let mqtt = broker(ctx, args.mqtt.as_deref())?;
    let console_args = console_args(ctx, mqtt, args.listen.as_deref(), args.http_port)?;
    let console = riverwatch_console::bind(console_args)
        .await
        .map_err(|e| console_error(&e))?;
    let url = console.url();
    eprintln!(
        "{}",
        ctx.lang.pick(
            &format!("控制台已启动：{url}（API 文档 {url}/api/v1/openapi.json；令牌用 riverwatch tokens create 创建）。按 Ctrl-C 停止。"),
            &format!("console running: {url} (API description {url}/api/v1/openapi.json; create tokens with riverwatch tokens create). Press Ctrl-C to stop."),
        )
    );
    let token = CancellationToken::new();
    let task = tokio::spawn(console.run(token.clone()));
    super::until_signal_then_stop(task, token, ctx).await
}
