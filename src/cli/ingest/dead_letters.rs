//! `riverwatch dead-letters`: the rejected input with its reasons, as JSON lines (the raw
//! payload in base64) or a table; `riverwatch dead-letters replay` decodes chosen dead
//! letters again ([`riverwatch_ingest::replay`]).

use base64::Engine as _;
use chrono::SecondsFormat;
use clap::{Args, Subcommand, ValueEnum};
use riverwatch_core::ReasonCode;
use riverwatch_core::store_api::{DeadLetterQuery, StoreWriter};
use riverwatch_core::time::fmt_cst;
use riverwatch_core::time::{Clock, SystemClock};
use riverwatch_ingest::store;
use serde::Serialize;
use std::sync::Arc;

use super::{TIME_HINT, store_error};
use crate::cli::args::time_arg;
use crate::cli::render::{Table, header, json_lines};
use crate::cli::{Context, user_error};

/// Output format of `riverwatch dead-letters`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeadFormat {
    /// One JSON object per line.
    Jsonl,
    /// An aligned table.
    Table,
}

/// `riverwatch dead-letters`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DeadLettersArgs {
    /// Without a subcommand: list dead letters.
    #[command(subcommand)]
    pub command: Option<DeadLettersCommand>,
    /// Only this reason code (e.g. crc_mismatch).
    #[arg(long)]
    pub reason: Option<String>,
    /// Received at or after.
    #[arg(long)]
    pub since: Option<String>,
    /// The newest N.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DeadFormat::Jsonl)]
    pub format: DeadFormat,
}

/// `riverwatch dead-letters …` subcommands.
#[derive(Debug, Subcommand)]
pub enum DeadLettersCommand {
    /// Decode the dead letters of one reason again through the same validation as live
    /// ingest (e.g. after a wrong host clock) and store what they give now. Idempotent.
    Replay(ReplayArgs),
}

/// `riverwatch dead-letters replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The reason code to replay (e.g. timestamp_out_of_range).
    #[arg(long)]
    pub reason: String,
    /// Only dead letters received at or after.
    #[arg(long)]
    pub since: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// A dead letter as `--format jsonl` prints it.
#[derive(Serialize)]
struct DeadRow<'a> {
    received_at: String,
    topic: &'a str,
    reason_code: &'a str,
    reason: &'a str,
    station: Option<&'a str>,
    parameter: Option<&'a str>,
    payload_b64: String,
    /// When `dead-letters replay` decoded it again (absent if never).
    #[serde(skip_serializing_if = "Option::is_none")]
    replayed_at: Option<String>,
}

fn reason_code(r: &str) -> anyhow::Result<ReasonCode> {
    r.parse::<ReasonCode>().map_err(|_| {
        let all: Vec<&str> = ReasonCode::ALL.iter().map(|c| c.as_str()).collect();
        user_error(
            format!("未知原因代码 `{r}`，可选：{}", all.join("、")),
            format!("unknown reason code `{r}`; one of {}", all.join(", ")),
        )
    })
}

/// Runs `riverwatch dead-letters`.
///
/// # Errors
/// Bad arguments or a store failure.
pub async fn run(args: &DeadLettersArgs, ctx: &Context) -> anyhow::Result<()> {
    if let Some(DeadLettersCommand::Replay(r)) = &args.command {
        return replay(r, ctx).await;
    }
    let q = DeadLetterQuery {
        reason: args.reason.as_deref().map(reason_code).transpose()?,
        since: time_arg(args.since.as_deref(), "--since", TIME_HINT)?,
        limit: args.limit,
    };
    let reader = store::open_dead_letter_reader(&ctx.loaded.config.store, &ctx.data_dir)
        .map_err(|e| store_error(ctx, &e))?;
    let dead = tokio::task::spawn_blocking(move || reader.stored_dead_letters_blocking(&q, true))
        .await?
        .map_err(|e| store_error(ctx, &e))?;
    let out = match args.format {
        DeadFormat::Jsonl => {
            let b64 = base64::engine::general_purpose::STANDARD;
            json_lines(dead.iter().map(|s| {
                let d = &s.letter;
                DeadRow {
                    received_at: d.received_at.to_rfc3339_opts(SecondsFormat::Millis, true),
                    topic: &d.topic,
                    reason_code: d.reason_code.as_str(),
                    reason: &d.reason,
                    station: d.station.as_deref(),
                    parameter: d.parameter.as_deref(),
                    payload_b64: b64.encode(&d.payload),
                    replayed_at: s
                        .replayed_at
                        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true)),
                }
            }))?
        }
        DeadFormat::Table => {
            let lang = ctx.lang;
            let rows = dead.iter().map(|s| {
                let d = &s.letter;
                let replayed = s.replayed_at.map(|t| {
                    format!("{}{}", lang.pick("（已重放 ", " (replayed "), fmt_cst(t))
                        + lang.pick("）", ")")
                });
                vec![
                    fmt_cst(d.received_at),
                    d.topic.clone(),
                    format!(
                        "{} {}",
                        d.reason_code,
                        lang.pick(d.reason_code.label_zh(), d.reason_code.label_en())
                    )
                    .trim()
                    .to_string(),
                    d.reason.clone() + replayed.as_deref().unwrap_or(""),
                ]
            });
            Table::with_rows(
                &[
                    header("接收时间（北京时间）", "received (UTC+8)"),
                    header("主题", "topic"),
                    header("原因", "reason"),
                    header("说明", "detail"),
                ],
                rows,
            )
            .render(lang)
        }
    };
    print!("{out}");
    Ok(())
}

/// A replay's summary as `--json` prints it.
#[derive(Serialize)]
struct ReplaySummary<'a> {
    reason_code: &'a str,
    dead_letters: usize,
    messages: usize,
    stored: usize,
    duplicates: usize,
    replayed: usize,
    still_rejected: usize,
    skipped_masked: usize,
    skipped_split: usize,
}

/// Runs `riverwatch dead-letters replay`.
///
/// # Errors
/// Bad arguments, the stations' passwords, or a store failure.
async fn replay(args: &ReplayArgs, ctx: &Context) -> anyhow::Result<()> {
    let reason = reason_code(&args.reason)?;
    let since = time_arg(args.since.as_deref(), "--since", TIME_HINT)?;
    let config = &ctx.loaded.config;
    let registry = ctx.loaded.registry.clone();
    let passwords = riverwatch_ingest::secrets::load_configured(&config.ingest, &registry)
        .map_err(|e| {
            user_error(
                format!("无法加载站点访问密码（HJ 212 PW）：{e}"),
                format!("cannot load the stations' access passwords (HJ 212 PW): {e}"),
            )
        })?;
    let dead = store::open_dead_letter_reader(&config.store, &ctx.data_dir)
        .map_err(|e| store_error(ctx, &e))?;
    let local = store::sqlite_path(&config.store, &ctx.data_dir);
    let marker =
        store::SqliteStore::open(&local, &config.store.sqlite).map_err(|e| store_error(ctx, &e))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut writer = store::open_writer(&config.store, &ctx.data_dir, &registry, clock.clone())
        .await
        .map_err(|e| store_error(ctx, &e))?;
    let topics = config.mqtt.topics();
    let mg_m3_stations = riverwatch_ingest::mg_m3_stations(&config.ingest, &registry)
        .map_err(|e| user_error(format!("配置错误：{e}"), format!("configuration: {e}")))?;
    let replay_args = riverwatch_ingest::replay::ReplayArgs {
        reason,
        since,
        registry: &registry,
        topics: &topics,
        future_tolerance: chrono::Duration::from_std(config.ingest.future_tolerance())
            .unwrap_or(chrono::Duration::minutes(10)),
        max_payload_bytes: config.ingest.max_payload_bytes,
        passwords: &passwords,
        mg_m3_stations: &mg_m3_stations,
        clock,
    };
    let result = riverwatch_ingest::replay::replay(&replay_args, &dead, &marker, &mut writer).await;
    let closed = writer.close().await;
    let r = result.map_err(|e| store_error(ctx, &e))?;
    closed.map_err(|e| store_error(ctx, &e))?;
    if args.json {
        let summary = ReplaySummary {
            reason_code: reason.as_str(),
            dead_letters: r.dead_letters,
            messages: r.messages,
            stored: r.stored,
            duplicates: r.duplicates,
            replayed: r.replayed,
            still_rejected: r.still_rejected,
            skipped_masked: r.skipped_masked,
            skipped_split: r.skipped_split,
        };
        println!("{}", serde_json::to_string(&summary)?);
        return Ok(());
    }
    let lang = ctx.lang;
    let mut out = lang
        .pick(
            &format!(
                "重放原因为 {reason} 的死信 {} 条（{} 条消息）：新存入读数 {} 条，已存在 {} 条；\
                 标记为已重放 {} 条，仍被拒绝 {} 条（未重复记录）。\n",
                r.dead_letters, r.messages, r.stored, r.duplicates, r.replayed, r.still_rejected
            ),
            &format!(
                "replayed {} dead letters with reason {reason} ({} messages): {} readings stored, \
                 {} already stored; {} marked replayed, {} still rejected (not recorded twice).\n",
                r.dead_letters, r.messages, r.stored, r.duplicates, r.replayed, r.still_rejected
            ),
        )
        .to_string();
    if r.skipped_masked > 0 {
        out.push_str(lang.pick(
            &format!(
                "跳过 {} 条：其存储的报文中 HJ 212 访问密码（PW）已被遮蔽为 ******，无法重新解码。\n",
                r.skipped_masked
            ),
            &format!(
                "skipped {}: their stored bytes have the HJ 212 access password (PW) masked as \
                 ******, so they cannot be decoded again.\n",
                r.skipped_masked
            ),
        ));
    }
    if r.skipped_split > 0 {
        out.push_str(lang.pick(
            &format!(
                "跳过 {} 条：分包 HJ 212 消息（存储为多个报文拼接），无法单独重新解码。\n",
                r.skipped_split
            ),
            &format!(
                "skipped {}: split HJ 212 messages (stored as joined packets) cannot be \
                 decoded again on their own.\n",
                r.skipped_split
            ),
        ));
    }
    print!("{out}");
    Ok(())
}
