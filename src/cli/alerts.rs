//! `riverwatch alerts` (the alert service, or `list|show|ack|silence|bench` against the alert
//! store in the data directory) and `riverwatch audit verify` (the hash chain).

use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use riverwatch_alerts::model::{AlertStatus, AlertView, Role, Silence};
use riverwatch_alerts::reader::{
    AlertQuery, AlertReader, AuditQuery, NotificationQuery, StateFilter,
};
use riverwatch_alerts::store::{Store, StoreError};
use riverwatch_alerts::{AlertsArgs, AlertsConfig};
use riverwatch_core::mqtt::MqttConfig;
use riverwatch_core::time::{Clock, SystemClock, fmt_cst, parse_duration, parse_time};
use riverwatch_core::{Lang, Province};
use tokio_util::sync::CancellationToken;

use super::ingest::mqtt_with_override;
use super::output::table;
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
    List(ListArgs),
    /// Show one alert: values, provinces, notifications sent, audit trail.
    Show(ShowArgs),
    /// Acknowledge an alert for one province.
    Ack(AckArgs),
    /// Create, list or end silences.
    #[command(subcommand)]
    Silence(SilenceCommand),
    /// Latency from an event's publish to the email accepted by a loopback SMTP server.
    Bench(BenchArgs),
}

/// Output format of the listing commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// An aligned table in China Standard Time.
    Table,
    /// JSON (the reader's typed records).
    Json,
}

/// Which alerts to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StateArg {
    /// Firing.
    Firing,
    /// Resolved.
    Resolved,
    /// Informational notices.
    Notice,
    /// Everything.
    All,
}

/// `riverwatch alerts list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Which alerts.
    #[arg(long, value_enum, default_value_t = StateArg::Firing)]
    pub state: StateArg,
    /// Only alerts this province acts on (HLJ or JL).
    #[arg(long)]
    pub province: Option<Province>,
    /// Only alerts changed since (RFC 3339, epoch ms, or China Standard Time).
    #[arg(long)]
    pub since: Option<String>,
    /// At most this many.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `riverwatch alerts show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Alert id (or a unique prefix of at least 4 digits).
    pub id: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `riverwatch alerts ack`.
#[derive(Debug, Args)]
pub struct AckArgs {
    /// Alert id (or a unique prefix).
    pub id: String,
    /// The province acknowledging for its own side: HLJ or JL.
    #[arg(long)]
    pub province: Province,
    /// Name of the duty officer.
    #[arg(long)]
    pub by: String,
    /// Comment (what was done).
    #[arg(long)]
    pub comment: Option<String>,
}

/// `riverwatch alerts silence …`.
#[derive(Debug, Subcommand)]
pub enum SilenceCommand {
    /// Silence matching alerts for a while.
    Add(SilenceAddArgs),
    /// List active and future silences (`--all`: ended ones too).
    List(SilenceListArgs),
    /// End a silence now.
    Expire(SilenceExpireArgs),
}

/// `riverwatch alerts silence add`.
#[derive(Debug, Args)]
pub struct SilenceAddArgs {
    /// Matchers `label=value,label!=value` (labels: rule, subject, parameter, severity,
    /// province, river, city, incident, fingerprint, id; `*` is a wildcard).
    #[arg(long = "match")]
    pub matchers: String,
    /// How long, e.g. `4h`, `90m`, `2d`.
    #[arg(long)]
    pub duration: String,
    /// Start (default now).
    #[arg(long)]
    pub start: Option<String>,
    /// Who silences.
    #[arg(long)]
    pub by: String,
    /// Why (e.g. station under maintenance).
    #[arg(long)]
    pub reason: String,
}

/// `riverwatch alerts silence list`.
#[derive(Debug, Args)]
pub struct SilenceListArgs {
    /// Include ended silences.
    #[arg(long)]
    pub all: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `riverwatch alerts silence expire`.
#[derive(Debug, Args)]
pub struct SilenceExpireArgs {
    /// Silence id.
    pub id: String,
    /// Who ends it.
    #[arg(long)]
    pub by: String,
}

/// `riverwatch alerts bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Alerts in the burst.
    #[arg(long, default_value_t = 200)]
    pub alerts: usize,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `riverwatch audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the alert audit trail's hash chain and report the first broken link.
    Verify(VerifyArgs),
}

/// `riverwatch audit verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
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
        mqtt,
        registry: ctx.loaded.registry.clone(),
        data_dir: ctx.data_dir.clone(),
        lang: ctx.lang,
        clock: Arc::new(SystemClock),
    })
}

fn db_path(ctx: &Context) -> std::path::PathBuf {
    ctx.data_dir.join(&ctx.loaded.config.alerts.database)
}

fn store_error(ctx: &Context, e: StoreError) -> anyhow::Error {
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
    let _ = ctx;
    user_error(zh, e.to_string())
}

fn reader(ctx: &Context) -> anyhow::Result<AlertReader> {
    AlertReader::open(&db_path(ctx), Arc::new(SystemClock)).map_err(|e| store_error(ctx, e))
}

fn writer(ctx: &Context) -> anyhow::Result<Store> {
    let path = db_path(ctx);
    if !path.exists() {
        return Err(store_error(ctx, StoreError::Missing(path)));
    }
    Store::open(&path).map_err(|e| store_error(ctx, e))
}

/// Runs `riverwatch alerts` and its subcommands.
///
/// # Errors
/// Operator errors in the configured language.
pub async fn run(args: &AlertsCmdArgs, ctx: &Context) -> anyhow::Result<()> {
    match &args.command {
        None => serve(args, ctx).await,
        Some(AlertsCommand::List(a)) => list(a, ctx),
        Some(AlertsCommand::Show(a)) => show(a, ctx),
        Some(AlertsCommand::Ack(a)) => ack(a, ctx),
        Some(AlertsCommand::Silence(SilenceCommand::Add(a))) => silence_add(a, ctx),
        Some(AlertsCommand::Silence(SilenceCommand::List(a))) => silence_list(a, ctx),
        Some(AlertsCommand::Silence(SilenceCommand::Expire(a))) => silence_expire(a, ctx),
        Some(AlertsCommand::Bench(a)) => bench(a, ctx).await,
    }
}

async fn serve(args: &AlertsCmdArgs, ctx: &Context) -> anyhow::Result<()> {
    let mqtt = mqtt_with_override(ctx, args.mqtt.as_deref())?;
    let mut service = alerts_args(ctx, mqtt, args.smtp.as_deref())?;
    if let Some(id) = &args.client_id {
        service.config.client_id = id.clone();
    }
    let email = match service.config.transport() {
        riverwatch_alerts::config::EmailTransport::Outbox => ctx
            .lang
            .pick(
                &format!("邮件写入 {}", ctx.data_dir.join("outbox").display()),
                &format!("email to {}", ctx.data_dir.join("outbox").display()),
            )
            .to_string(),
        riverwatch_alerts::config::EmailTransport::Smtp(url) => {
            let url = riverwatch_alerts::config::redact_url(&url);
            ctx.lang
                .pick(
                    &format!("邮件经 SMTP 中继 {url} 发送"),
                    &format!("email through {url}"),
                )
                .to_string()
        }
    };
    eprintln!(
        "{}",
        ctx.lang.pick(
            &format!(
                "告警服务已启动：告警库 {}，{email}。按 Ctrl-C 停止。",
                db_path(ctx).display()
            ),
            &format!(
                "alert service running: store {}, {email}. Press Ctrl-C to stop.",
                db_path(ctx).display()
            ),
        )
    );
    let token = CancellationToken::new();
    let task = tokio::spawn(riverwatch_alerts::run(service, token.clone()));
    super::until_signal_then_stop(task, token, ctx).await
}

fn state_label(v: &AlertView, lang: Lang) -> String {
    match lang {
        Lang::Zh => v.alert.status.label_zh().to_string(),
        Lang::En => v.alert.status.as_str().to_string(),
    }
}

fn province_cell(v: &AlertView, p: Province, lang: Lang) -> String {
    let Some(s) = v.provinces_state.iter().find(|s| s.province == p) else {
        return String::new();
    };
    let base = match (&s.ack, s.role, lang) {
        (Some(a), _, Lang::Zh) => format!("已确认（{}）", a.by),
        (Some(a), _, Lang::En) => format!("acked ({})", a.by),
        (None, Role::InfoCopy, Lang::Zh) => "知会".to_string(),
        (None, Role::InfoCopy, Lang::En) => "informed".to_string(),
        (None, _, Lang::Zh) if v.alert.status == AlertStatus::Notice => "—".to_string(),
        (None, _, Lang::En) if v.alert.status == AlertStatus::Notice => "—".to_string(),
        (None, _, Lang::Zh) => "未确认".to_string(),
        (None, _, Lang::En) => "not acked".to_string(),
    };
    if s.escalation_level > 0 {
        match lang {
            Lang::Zh => format!("{base}，已升级{}级", s.escalation_level),
            Lang::En => format!("{base}, escalated to {}", s.escalation_level),
        }
    } else {
        base
    }
}

fn value_cell(v: &AlertView) -> String {
    let e = &v.alert.event;
    let unit = e.unit.as_deref().filter(|u| *u != "-").unwrap_or("");
    match (e.value, e.limit, e.aqi) {
        (Some(x), Some(l), _) => format!("{x} / {l} {unit}").trim_end().to_string(),
        (Some(x), None, _) => format!("{x} {unit}").trim_end().to_string(),
        (None, _, Some(aqi)) => format!("AQI {aqi}"),
        _ => e.level.clone().unwrap_or_default(),
    }
}

fn list(a: &ListArgs, ctx: &Context) -> anyhow::Result<()> {
    let reader = reader(ctx)?;
    let since = a
        .since
        .as_deref()
        .map(|t| {
            parse_time(t).map_err(|e| {
                user_error(
                    format!("--since 的时间 `{t}` 无法识别"),
                    format!("--since: {e}"),
                )
            })
        })
        .transpose()?;
    let views = reader
        .alerts(&AlertQuery {
            state: match a.state {
                StateArg::Firing => StateFilter::Firing,
                StateArg::Resolved => StateFilter::Resolved,
                StateArg::Notice => StateFilter::Notice,
                StateArg::All => StateFilter::All,
            },
            province: a.province,
            subject: None,
            since,
            limit: a.limit,
        })
        .map_err(|e| store_error(ctx, e))?;
    if a.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&views)?);
        return Ok(());
    }
    let lang = ctx.lang;
    let header = if lang == Lang::Zh {
        vec![
            "编号",
            "状态",
            "级别",
            "告警",
            "监测值/限值",
            "首次发现",
            "黑龙江",
            "吉林",
            "静默/关联",
        ]
    } else {
        vec![
            "id",
            "state",
            "severity",
            "alert",
            "value/limit",
            "first seen",
            "HLJ",
            "JL",
            "silenced/attached",
        ]
    };
    let rows: Vec<Vec<String>> = views
        .iter()
        .map(|v| {
            let mut notes = Vec::new();
            if !v.silenced_by.is_empty() {
                notes.push(format!(
                    "{}{}",
                    lang.pick("静默 ", "silenced "),
                    v.silenced_by.join(",")
                ));
            }
            if let Some(up) = &v.alert.inhibited_by {
                notes.push(format!("{}{up}", lang.pick("附属于 ", "attached to ")));
            }
            vec![
                v.alert.id.clone(),
                state_label(v, lang),
                match lang {
                    Lang::Zh => v.alert.severity.label_zh().to_string(),
                    Lang::En => {
                        riverwatch_alerts::model::severity_str(v.alert.severity).to_string()
                    }
                },
                alert_title(v, ctx),
                value_cell(v),
                fmt_cst(v.alert.first_seen),
                province_cell(v, Province::Heilongjiang, lang),
                province_cell(v, Province::Jilin, lang),
                notes.join("; "),
            ]
        })
        .collect();
    print!("{}", table(&header, &rows));
    if views.is_empty() {
        println!("{}", lang.pick("（无）", "(none)"));
    }
    Ok(())
}

fn alert_title(v: &AlertView, ctx: &Context) -> String {
    let lang = ctx.lang;
    let a = &v.alert;
    let rule = match lang {
        Lang::Zh => a.rule.label_zh(),
        Lang::En => a.rule.label_en(),
    };
    let param = a
        .parameter
        .as_deref()
        .map(|p| match (ctx.loaded.registry.parameter(p), lang) {
            (Some(x), Lang::Zh) => format!(" {}", x.name_zh),
            (Some(x), Lang::En) => format!(" {}", x.name_en),
            (None, _) => format!(" {p}"),
        })
        .unwrap_or_default();
    format!("{}{param} {rule}", a.place_name(lang))
}

fn show(a: &ShowArgs, ctx: &Context) -> anyhow::Result<()> {
    let reader = reader(ctx)?;
    let view = reader.alert(&a.id).map_err(|e| store_error(ctx, e))?;
    let notifications = reader
        .notifications(&NotificationQuery {
            alert_id: Some(view.alert.id.clone()),
            ..NotificationQuery::default()
        })
        .map_err(|e| store_error(ctx, e))?;
    let audit = reader
        .audit(&AuditQuery {
            alert_id: Some(view.alert.id.clone()),
            ..AuditQuery::default()
        })
        .map_err(|e| store_error(ctx, e))?;
    if a.format == Format::Json {
        let out =
            serde_json::json!({ "alert": view, "notifications": notifications, "audit": audit });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let lang = ctx.lang;
    let al = &view.alert;
    let e = &al.event;
    let kv = |k_zh: &str, k_en: &str, v: String| {
        println!("{}{}{v}", lang.pick(k_zh, k_en), lang.pick("：", ": "))
    };
    println!("{}", alert_title(&view, ctx));
    kv("编号", "Id", al.id.clone());
    kv("指纹", "Fingerprint", al.fingerprint.clone());
    kv("状态", "State", state_label(&view, lang));
    kv(
        "级别",
        "Severity",
        riverwatch_alerts::model::severity_str(al.severity).to_string(),
    );
    kv("跨界", "Cross-border", al.cross_border.to_string());
    kv("监测值/限值", "Value/limit", value_cell(&view));
    if let (Some(c), Some(t)) = (e.class, e.target) {
        kv(
            "水质类别",
            "Class",
            format!("{} / {}", c.label_zh(), t.label_zh()),
        );
    }
    if let Some(m) = e.exceedance_multiple {
        kv("超标倍数", "Exceedance multiple", m.to_string());
    }
    if let Some(inc) = &e.incident {
        kv("污染事件", "Incident", inc.clone());
    }
    kv("首次发现", "First seen", fmt_cst(al.first_seen));
    kv("最近监测", "Last seen", fmt_cst(al.last_seen));
    if let Some(r) = al.resolved_at {
        kv("恢复时间", "Resolved at", fmt_cst(r));
    }
    kv(
        "摘要",
        "Summary",
        lang.pick(&e.summary_zh, &e.summary_en).to_string(),
    );
    for p in Province::ALL {
        kv(p.name_zh(), p.name_en(), province_cell(&view, p, lang));
        if let Some(ack) = view.ack(p) {
            kv(
                "  确认",
                "  acknowledged",
                format!(
                    "{} {} {}",
                    ack.by,
                    fmt_cst(ack.at),
                    ack.comment.clone().unwrap_or_default()
                ),
            );
        }
    }
    if !view.silenced_by.is_empty() {
        kv("静默", "Silenced by", view.silenced_by.join(", "));
    }
    if let Some(up) = &al.inhibited_by {
        kv("附属于上游告警", "Attached to", up.clone());
    }
    if !view.attached.is_empty() {
        kv(
            "关联下游告警",
            "Attached downstream",
            view.attached.join(", "),
        );
    }
    println!("\n{}", lang.pick("通知记录：", "Notifications:"));
    let rows: Vec<Vec<String>> = notifications
        .iter()
        .map(|n| {
            vec![
                n.id.to_string(),
                fmt_cst(n.created_at),
                n.recipient_id.clone(),
                n.channel.as_str().to_string(),
                n.kind.as_str().to_string(),
                match lang {
                    Lang::Zh => n.status.label_zh().to_string(),
                    Lang::En => n.status.as_str().to_string(),
                },
                n.attempts.to_string(),
                n.sent_at.map(fmt_cst).unwrap_or_default(),
                n.last_reply.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let header = if lang == Lang::Zh {
        vec![
            "序号",
            "决定时间",
            "接收方",
            "渠道",
            "类型",
            "状态",
            "尝试",
            "发送时间",
            "最后应答",
        ]
    } else {
        vec![
            "#",
            "queued",
            "recipient",
            "channel",
            "kind",
            "status",
            "attempts",
            "sent",
            "last reply",
        ]
    };
    print!("{}", table(&header, &rows));
    println!("\n{}", lang.pick("审计记录：", "Audit trail:"));
    for r in audit {
        println!(
            "  #{} {} {} {} {}",
            r.seq,
            fmt_cst(r.at),
            r.actor,
            r.kind,
            r.detail
        );
    }
    Ok(())
}

fn ack(a: &AckArgs, ctx: &Context) -> anyhow::Result<()> {
    let by = a.by.trim();
    if by.is_empty() {
        return Err(user_error(
            "--by 需填写确认人姓名",
            "--by needs the officer's name",
        ));
    }
    let mut store = writer(ctx)?;
    let id = store
        .resolve_alert_id(&a.id)
        .map_err(|e| store_error(ctx, e))?;
    let ack = riverwatch_alerts::model::Ack {
        alert_id: id.clone(),
        province: a.province,
        by: by.to_string(),
        at: SystemClock.now(),
        comment: a.comment.clone().filter(|c| !c.trim().is_empty()),
    };
    store.acknowledge(&ack).map_err(|e| store_error(ctx, e))?;
    println!(
        "{}",
        ctx.lang.pick(
            &format!(
                "已确认：告警 {id}，{}，确认人 {}，时间 {}（北京时间）。本省升级通知停止。",
                a.province.name_zh(),
                ack.by,
                fmt_cst(ack.at)
            ),
            &format!(
                "acknowledged: alert {id} for {} by {} at {} (UTC+8); this province's escalation stops.",
                a.province.name_en(),
                ack.by,
                fmt_cst(ack.at)
            ),
        )
    );
    Ok(())
}

fn silence_add(a: &SilenceAddArgs, ctx: &Context) -> anyhow::Result<()> {
    let matchers = riverwatch_alerts::silence::parse_matchers(&a.matchers)
        .map_err(|e| user_error(format!("--match 无法识别：{e}"), format!("--match: {e}")))?;
    let duration = parse_duration(&a.duration).map_err(|e| {
        user_error(
            format!("--duration 无法识别：{e}"),
            format!("--duration: {e}"),
        )
    })?;
    if duration.is_zero() {
        return Err(user_error(
            "--duration 必须大于 0",
            "--duration must be positive",
        ));
    }
    if a.by.trim().is_empty() || a.reason.trim().is_empty() {
        return Err(user_error(
            "--by 与 --reason 不能为空",
            "--by and --reason cannot be empty",
        ));
    }
    let now = SystemClock.now();
    let start = match &a.start {
        Some(t) => parse_time(t)
            .map_err(|e| user_error(format!("--start 无法识别：{e}"), format!("--start: {e}")))?,
        None => now,
    };
    let end = start + chrono::Duration::from_std(duration).context("duration out of range")?;
    let silence = riverwatch_alerts::silence::new_silence(
        matchers,
        start,
        end,
        a.by.trim(),
        a.reason.trim(),
        now,
    );
    let mut store = writer(ctx)?;
    store
        .add_silence(&silence)
        .map_err(|e| store_error(ctx, e))?;
    println!(
        "{}",
        ctx.lang.pick(
            &format!(
                "已创建静默 {}：{}，{} 至 {}（北京时间），创建人 {}，原因：{}",
                silence.id,
                silence.matchers_text(),
                fmt_cst(silence.starts_at),
                fmt_cst(silence.ends_at),
                silence.created_by,
                silence.reason
            ),
            &format!(
                "silence {} created: {}, {} to {} (UTC+8), by {}, reason: {}",
                silence.id,
                silence.matchers_text(),
                fmt_cst(silence.starts_at),
                fmt_cst(silence.ends_at),
                silence.created_by,
                silence.reason
            ),
        )
    );
    Ok(())
}

fn silence_rows(silences: &[Silence], lang: Lang) -> Vec<Vec<String>> {
    let now = SystemClock.now();
    silences
        .iter()
        .map(|s| {
            let state = if s.expired_at.is_some() {
                lang.pick("已提前结束", "ended early")
            } else if s.is_active(now) {
                lang.pick("生效中", "active")
            } else if s.starts_at > now {
                lang.pick("未开始", "pending")
            } else {
                lang.pick("已到期", "expired")
            };
            vec![
                s.id.clone(),
                state.to_string(),
                s.matchers_text(),
                fmt_cst(s.starts_at),
                fmt_cst(s.ends_at),
                s.created_by.clone(),
                s.reason.clone(),
            ]
        })
        .collect()
}

fn silence_list(a: &SilenceListArgs, ctx: &Context) -> anyhow::Result<()> {
    let silences = reader(ctx)?
        .silences(a.all)
        .map_err(|e| store_error(ctx, e))?;
    if a.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&silences)?);
        return Ok(());
    }
    let header = if ctx.lang == Lang::Zh {
        vec!["编号", "状态", "匹配条件", "开始", "结束", "创建人", "原因"]
    } else {
        vec!["id", "state", "matchers", "starts", "ends", "by", "reason"]
    };
    print!("{}", table(&header, &silence_rows(&silences, ctx.lang)));
    if silences.is_empty() {
        println!("{}", ctx.lang.pick("（无）", "(none)"));
    }
    Ok(())
}

fn silence_expire(a: &SilenceExpireArgs, ctx: &Context) -> anyhow::Result<()> {
    let mut store = writer(ctx)?;
    let s = store
        .expire_silence(a.id.trim(), a.by.trim(), SystemClock.now())
        .map_err(|e| store_error(ctx, e))?;
    println!(
        "{}",
        ctx.lang.pick(
            &format!("静默 {} 已结束（{}）", s.id, s.matchers_text()),
            &format!("silence {} ended ({})", s.id, s.matchers_text()),
        )
    );
    Ok(())
}

async fn bench(a: &BenchArgs, ctx: &Context) -> anyhow::Result<()> {
    let mut opts = riverwatch_alerts::bench::BenchOptions::new(ctx.loaded.registry.clone());
    opts.alerts = a.alerts;
    let result = riverwatch_alerts::bench::bench(opts).await.map_err(|e| {
        user_error(
            format!("基准测试失败：{e:#}"),
            format!("benchmark failed: {e:#}"),
        )
    })?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        println!("{}", result.render(ctx.lang));
    }
    Ok(())
}

/// Runs `riverwatch audit verify`: exit code 0 when the chain holds, non-zero with the first
/// broken link otherwise.
///
/// # Errors
/// A broken chain, or a store that cannot be read.
pub fn audit(cmd: &AuditCommand, ctx: &Context) -> anyhow::Result<()> {
    let AuditCommand::Verify(a) = cmd;
    let v = reader(ctx)?
        .verify_audit()
        .map_err(|e| store_error(ctx, e))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    }
    let head = v
        .head
        .as_ref()
        .map(|(s, h)| format!("#{s} {h}"))
        .unwrap_or_else(|| "—".to_string());
    match &v.broken {
        None => {
            if !a.json {
                println!(
                    "{}",
                    ctx.lang.pick(
                        &format!("审计链完整：共 {} 条记录，链头 {head}", v.rows),
                        &format!("audit trail intact: {} rows, head {head}", v.rows),
                    )
                );
            }
            Ok(())
        }
        Some(b) => {
            let r = &b.row;
            let row = format!(
                "#{} {} {} {} {} {}",
                r.seq,
                fmt_cst(r.at),
                r.actor,
                r.kind,
                r.alert_id.clone().unwrap_or_default(),
                r.detail
            );
            Err(user_error(
                format!(
                    "审计链在第 {} 条记录处断开：{}\n  记录：{row}\n  此前 {} 条记录完好，最后完好的链头 {head}",
                    b.seq,
                    b.reason.describe_zh(),
                    v.rows
                ),
                format!(
                    "audit trail broken at row {}: {}\n  row: {row}\n  {} rows before it are intact, last good head {head}",
                    b.seq,
                    b.reason.describe_en(),
                    v.rows
                ),
            ))
        }
    }
}
