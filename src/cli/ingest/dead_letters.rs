//! `riverwatch dead-letters`: the rejected input with its reasons, as JSON lines (the raw
//! payload in base64) or a table.

use base64::Engine as _;
use chrono::SecondsFormat;
use clap::{Args, ValueEnum};
use riverwatch_core::ReasonCode;
use riverwatch_core::store_api::{DeadLetterQuery, DeadLetterReader};
use riverwatch_core::time::fmt_cst;
use riverwatch_ingest::store;
use serde::Serialize;

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
pub struct DeadLettersArgs {
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
    let q = DeadLetterQuery {
        reason: args.reason.as_deref().map(reason_code).transpose()?,
        since: time_arg(args.since.as_deref(), "--since", TIME_HINT)?,
        limit: args.limit,
    };
    let reader = store::open_dead_letter_reader(&ctx.loaded.config.store, &ctx.data_dir)
        .map_err(|e| store_error(ctx, &e))?;
    let dead = reader
        .dead_letters(&q)
        .await
        .map_err(|e| store_error(ctx, &e))?;
    let out = match args.format {
        DeadFormat::Jsonl => {
            let b64 = base64::engine::general_purpose::STANDARD;
            json_lines(dead.iter().map(|d| DeadRow {
                received_at: d.received_at.to_rfc3339_opts(SecondsFormat::Millis, true),
                topic: &d.topic,
                reason_code: d.reason_code.as_str(),
                reason: &d.reason,
                station: d.station.as_deref(),
                parameter: d.parameter.as_deref(),
                payload_b64: b64.encode(&d.payload),
            }))?
        }
        DeadFormat::Table => {
            let lang = ctx.lang;
            let rows = dead.iter().map(|d| {
                vec![
                    fmt_cst(d.received_at),
                    d.topic.clone(),
                    format!(
                        "{} {}",
                        d.reason_code,
                        lang.pick(d.reason_code.label_zh(), "")
                    )
                    .trim()
                    .to_string(),
                    d.reason.clone(),
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
