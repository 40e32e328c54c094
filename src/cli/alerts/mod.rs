//! `riverwatch alerts` (the alert service), its subcommands against the alert store in the
//! data directory — [`list`], [`show`], [`ack`], [`silence`] — and `riverwatch audit verify`
//! ([`audit`]).

pub mod ack;
pub mod audit;
pub mod list;
pub mod show;
pub mod silence;

use std::sync::Arc;

use clap::{Args, Subcommand};
use riverwatch_alerts::config::EmailTransport;
use riverwatch_alerts::reader::AlertReader;
use riverwatch_alerts::store::{Store, StoreError};
use riverwatch_alerts::{AlertsArgs, AlertsConfig};
use riverwatch_core::mqtt::MqttConfig;
use riverwatch_core::time::{SystemClock, fmt_cst};
use tokio_util::sync::CancellationToken;

use super::args::{broker, keyed};
use super::{Context, user_error};

/// `riverwatch alerts`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AlertsCmdArgs {
    /// Without a subcommand: run the alert service.
    #[command(subcommand)]
    pub command: Option<AlertsCommand>,
    /// Send email through this SMTP relay instead of the outbox: `smtp://host:port`
    /// (STARTTLS when offered; `?tls=required` insists), `smtps://host:port` (TLS).
    /// Credentials from RIVERWATCH_SMTP_USERNAME / RIVERWATCH_SMTP_PASSWORD.
    #[arg(long, env = "RIVERWATCH_SMTP")]
    pub smtp: Option<String>,
    /// Broker URL (`mqtt://host:port` or `mqtts://host:port`); overrides `[mqtt] url`.
    #[arg(long)]
    pub mqtt: Option<String>,
    /// MQTT client id (stable across restarts); overrides `[alerts] client_id`.
    #[arg(long)]
    pub client_id: Option<String>,
}

/// `riverwatch alerts …` subcommands.
#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// List alerts with both provinces' acknowledgement state.
    List(list::ListArgs),
    /// Show one alert: values, provinces, notifications sent, audit trail.
    Show(show::ShowArgs),
    /// Acknowledge an alert for one province.
    Ack(ack::AckArgs),
    /// Create, list or end silences.
    #[command(subcommand)]
    Silence(silence::SilenceCommand),
}

/// Runs `riverwatch alerts` and its subcommands.
///
/// # Errors
/// Operator errors in the configured language.
pub async fn run(args: &AlertsCmdArgs, ctx: &Context) -> anyhow::Result<()> {
    match &args.command {
        None => serve(args, ctx).await,
        Some(AlertsCommand::List(a)) => list::run(a, ctx),
        Some(AlertsCommand::Show(a)) => show::run(a, ctx),
        Some(AlertsCommand::Ack(a)) => ack::run(a, ctx),
        Some(AlertsCommand::Silence(c)) => silence::run(c, ctx),
    }
}

/// The alert service's arguments from the configuration, with `--smtp` applied and the
/// SMTP credentials read from the environment. `riverwatch up` uses this too.
///
/// # Errors
/// Bad SMTP settings or credentials.
pub fn alerts_args(
    ctx: &Context,
    mqtt: MqttConfig,
    smtp: Option<&str>,
) -> anyhow::Result<AlertsArgs> {
    let mut config: AlertsConfig = ctx.loaded.config.alerts.clone();
    if let Some(url) = smtp {
        config.smtp_url = Some(url.to_string());
    }
    config
        .load_credentials_from_env()
        .map_err(|e| user_error(format!("SMTP 凭据设置有误：{e}"), e.to_string()))?;
    config
        .validate()
        .map_err(|e| user_error(format!("告警配置有误：{e}"), format!("[alerts] {e}")))?;
    Ok(AlertsArgs {
        config,
        mqtt: keyed(ctx, mqtt, false)?,
        registry: ctx.loaded.registry.clone(),
        data_dir: ctx.data_dir.clone(),
        lang: ctx.lang,
        clock: Arc::new(SystemClock),
    })
}

/// Where email goes: the outbox folder, or the SMTP relay's address without credentials.
pub fn email_destination(ctx: &Context, transport: EmailTransport) -> String {
    match transport {
        EmailTransport::Outbox => ctx.data_dir.join("outbox").display().to_string(),
        EmailTransport::Smtp(url) => riverwatch_alerts::config::redact_url(&url),
    }
}

async fn serve(args: &AlertsCmdArgs, ctx: &Context) -> anyhow::Result<()> {
    let mqtt = broker(ctx, args.mqtt.as_deref())?;
    let mut service = alerts_args(ctx, mqtt, args.smtp.as_deref())?;
    if let Some(id) = &args.client_id {
        service.config.client_id = id.clone();
    }
    let transport = service.config.transport();
    let outbox = matches!(transport, EmailTransport::Outbox);
    let to = email_destination(ctx, transport);
    let email = match (outbox, ctx.lang) {
        (true, riverwatch_core::Lang::Zh) => format!("邮件写入 {to}"),
        (true, riverwatch_core::Lang::En) => format!("email to {to}"),
        (false, riverwatch_core::Lang::Zh) => format!("邮件经 SMTP 中继 {to} 发送"),
        (false, riverwatch_core::Lang::En) => format!("email through {to}"),
    };
    let db = db_path(ctx);
    eprintln!(
        "{}",
        ctx.lang.pick(
            &format!(
                "告警服务已启动：告警库 {}，{email}。按 Ctrl-C 停止。",
                db.display()
            ),
            &format!(
                "alert service running: store {}, {email}. Press Ctrl-C to stop.",
                db.display()
            ),
        )
    );
    let token = CancellationToken::new();
    let task = tokio::spawn(riverwatch_alerts::run(service, token.clone()));
    super::until_signal_then_stop(task, token, ctx).await
}

fn db_path(ctx: &Context) -> std::path::PathBuf {
    ctx.data_dir.join(&ctx.loaded.config.alerts.database)
}

/// An alert-store failure explained to an operator.
fn store_error(e: StoreError) -> anyhow::Error {
    let zh = match &e {
        StoreError::Missing(p) => {
            format!("告警库 {} 尚不存在（告警服务首次运行时创建）", p.display())
        }
        StoreError::NotFound { what: "alert", id } => format!("没有编号为 `{id}` 的告警"),
        StoreError::NotFound {
            what: "silence",
            id,
        } => format!("没有编号为 `{id}` 的静默规则"),
        StoreError::Ambiguous(p) => format!("`{p}` 对应多条告警，请输入更多位编号"),
        StoreError::AlreadyAcknowledged {
            alert_id,
            province,
            by,
            at,
        } => format!(
            "{}已确认告警 {alert_id}（{by}，{}），无需重复确认",
            province.name_zh(),
            fmt_cst(*at)
        ),
        other => format!("告警库出错：{other}"),
    };
    user_error(zh, e.to_string())
}

/// The read-only view of the alert store.
fn reader(ctx: &Context) -> anyhow::Result<AlertReader> {
    AlertReader::open(&db_path(ctx), Arc::new(SystemClock)).map_err(store_error)
}

/// The alert store for a change (it must exist: the service creates it).
fn writer(ctx: &Context) -> anyhow::Result<Store> {
    let path = db_path(ctx);
    if !path.exists() {
        return Err(store_error(StoreError::Missing(path)));
    }
    Store::open(&path).map_err(store_error)
}
