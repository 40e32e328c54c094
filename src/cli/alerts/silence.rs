//! `riverwatch alerts silence add|list|expire`: time-bounded matchers that keep alerts from
//! being notified, recorded with who and why.

use clap::{Args, Subcommand};
use riverwatch_alerts::model::Silence;
use riverwatch_alerts::operator::{SilenceRequest, add_silence};
use riverwatch_alerts::silence::parse_matchers;
use riverwatch_alerts::views::{SilenceState, silence_state};
use riverwatch_core::Lang;
use riverwatch_core::time::{Clock, SystemClock, fmt_cst};

use super::{reader, store_error, writer};
use crate::cli::args::{duration_arg, time_arg};
use crate::cli::render::{Format, Table, col, header, print_json};
use crate::cli::{Context, user_error};

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

/// Runs `riverwatch alerts silence …`.
///
/// # Errors
/// Bad arguments, no such silence, or a store failure.
pub fn run(cmd: &SilenceCommand, ctx: &Context) -> anyhow::Result<()> {
    match cmd {
        SilenceCommand::Add(a) => add(a, ctx),
        SilenceCommand::List(a) => list(a, ctx),
        SilenceCommand::Expire(a) => expire(a, ctx),
    }
}

fn add(a: &SilenceAddArgs, ctx: &Context) -> anyhow::Result<()> {
    let matchers = parse_matchers(&a.matchers)
        .map_err(|e| user_error(format!("--match 无法识别：{e}"), format!("--match: {e}")))?;
    let duration = duration_arg(Some(&a.duration), "--duration")?.unwrap_or_default();
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
    let starts_at = time_arg(
        a.start.as_deref(),
        "--start",
        "：请使用 2026-11-22 08:00（北京时间）或 RFC 3339",
    )?
    .unwrap_or(now);
    let ends_at = starts_at
        + chrono::Duration::from_std(duration)
            .map_err(|_| user_error("--duration 过长", "--duration is too long"))?;
    let request = SilenceRequest {
        matchers,
        starts_at,
        ends_at,
        by: a.by.trim().to_string(),
        reason: a.reason.trim().to_string(),
    };
    let s = add_silence(&mut writer(ctx)?, request, now).map_err(store_error)?;
    let (id, matchers, by, reason) = (&s.id, s.matchers_text(), &s.created_by, &s.reason);
    let (start, end) = (fmt_cst(s.starts_at), fmt_cst(s.ends_at));
    match ctx.lang {
        Lang::Zh => println!(
            "已创建静默 {id}：{matchers}，{start} 至 {end}（北京时间），创建人 {by}，原因：{reason}"
        ),
        Lang::En => println!(
            "silence {id} created: {matchers}, {start} to {end} (UTC+8), by {by}, reason: {reason}"
        ),
    }
    Ok(())
}

fn state_label(state: SilenceState, lang: Lang) -> &'static str {
    match state {
        SilenceState::EndedEarly => lang.pick("已提前结束", "ended early"),
        SilenceState::Active => lang.pick("生效中", "active"),
        SilenceState::Pending => lang.pick("未开始", "pending"),
        SilenceState::Expired => lang.pick("已到期", "expired"),
    }
}

fn list(a: &SilenceListArgs, ctx: &Context) -> anyhow::Result<()> {
    let silences: Vec<Silence> = reader(ctx)?.silences(a.all).map_err(store_error)?;
    if a.format == Format::Json {
        return print_json(&silences);
    }
    let lang = ctx.lang;
    let now = SystemClock.now();
    let rows = silences.iter().map(|s| {
        vec![
            s.id.clone(),
            state_label(silence_state(s, now), lang).to_string(),
            s.matchers_text(),
            fmt_cst(s.starts_at),
            fmt_cst(s.ends_at),
            s.created_by.clone(),
            s.reason.clone(),
        ]
    });
    Table::with_rows(
        &[
            col::ID,
            col::STATE,
            header("匹配条件", "matchers"),
            header("开始", "starts"),
            header("结束", "ends"),
            header("创建人", "by"),
            header("原因", "reason"),
        ],
        rows,
    )
    .print(lang);
    if silences.is_empty() {
        println!("{}", lang.pick("（无）", "(none)"));
    }
    Ok(())
}

fn expire(a: &SilenceExpireArgs, ctx: &Context) -> anyhow::Result<()> {
    let s = writer(ctx)?
        .expire_silence(a.id.trim(), a.by.trim(), SystemClock.now())
        .map_err(store_error)?;
    println!(
        "{}",
        ctx.lang.pick(
            &format!("静默 {} 已结束（{}）", s.id, s.matchers_text()),
            &format!("silence {} ended ({})", s.id, s.matchers_text()),
        )
    );
    Ok(())
}
