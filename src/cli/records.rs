//! `riverwatch query` (stored readings) and `riverwatch dead-letters` (rejected input).

use base64::Engine as _;
use clap::{Args, ValueEnum};
use riverwatch_core::pipeline::{DeadLetterQuery, DeadLetterReader, ReadingQuery, StoreReader};
use riverwatch_core::time::{fmt_cst, parse_time};
use riverwatch_core::{Lang, ReasonCode};
use riverwatch_ingest::store::{self};
use serde::Serialize;

use super::output::{csv_line, table};
use super::{Context, user_error};

/// Output format of `riverwatch query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QueryFormat {
    /// `station,parameter,time_utc,value,flag`.
    Csv,
    /// An aligned table with China Standard Time.
    Table,
    /// A JSON array.
    Json,
}

/// `riverwatch query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Station id.
    #[arg(long)]
    pub station: String,
    /// Parameter code (repeat for several).
    #[arg(long = "param")]
    pub params: Vec<String>,
    /// Observed at or after (RFC 3339, epoch ms, or China Standard Time `2026-11-22 08:00`).
    #[arg(long)]
    pub from: Option<String>,
    /// Observed before.
    #[arg(long)]
    pub to: Option<String>,
    /// At most this many readings.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = QueryFormat::Csv)]
    pub format: QueryFormat,
}

fn time_arg(
    s: &Option<String>,
    what: &str,
) -> anyhow::Result<Option<chrono::DateTime<chrono::Utc>>> {
    s.as_deref()
        .map(|t| {
            parse_time(t).map_err(|e| {
                user_error(
                    format!("--{what} 的时间 `{t}` 无法识别：请使用 2026-11-22 08:00（北京时间）或 RFC 3339"),
                    format!("--{what}: {e}"),
                )
            })
        })
        .transpose()
}

/// A store failure explained to an operator.
fn store_error(ctx: &Context, e: &riverwatch_core::pipeline::StoreError) -> anyhow::Error {
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

/// The CSV header of `riverwatch query` (also the simulator's recording format).
pub const QUERY_CSV_HEADER: &str = "station,parameter,time_utc,value,flag";

#[derive(Serialize)]
struct ReadingRow<'a> {
    station: &'a str,
    parameter: &'a str,
    time_utc: String,
    value: f64,
    flag: String,
    period: &'a str,
}

/// Runs `riverwatch query`.
///
/// # Errors
/// Unknown station, bad times, or a store failure.
pub async fn query(args: &QueryArgs, ctx: &Context) -> anyhow::Result<()> {
    if ctx.loaded.registry.station(&args.station).is_none() {
        return Err(user_error(
            format!("未知站点 `{}`", args.station),
            format!("unknown station `{}`", args.station),
        ));
    }
    let q = ReadingQuery {
        station: Some(args.station.clone()),
        parameters: args.params.clone(),
        from: time_arg(&args.from, "from")?,
        to: time_arg(&args.to, "to")?,
        periods: vec![],
        limit: args.limit,
    };
    let reader = store::open_reader(
        &ctx.loaded.config.store,
        &ctx.data_dir,
        &ctx.loaded.registry,
    )
    .map_err(|e| store_error(ctx, &e))?;
    let readings = reader.query(&q).await.map_err(|e| store_error(ctx, &e))?;
    let mut out = String::new();
    match args.format {
        QueryFormat::Csv => {
            out.push_str(QUERY_CSV_HEADER);
            out.push('\n');
            for r in &readings {
                out.push_str(&csv_line(&[
                    r.station.as_str(),
                    r.parameter.as_str(),
                    &r.observed_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    &r.value.to_string(),
                    &r.flag.to_string(),
                ]));
                out.push('\n');
            }
        }
        QueryFormat::Json => {
            let rows: Vec<ReadingRow<'_>> = readings
                .iter()
                .map(|r| ReadingRow {
                    station: r.station.as_str(),
                    parameter: r.parameter.as_str(),
                    time_utc: r
                        .observed_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    value: r.value,
                    flag: r.flag.to_string(),
                    period: r.period.as_str(),
                })
                .collect();
            out = serde_json::to_string_pretty(&rows)? + "\n";
        }
        QueryFormat::Table => {
            let header = match ctx.lang {
                Lang::Zh => vec!["站点", "参数", "时间（北京时间）", "数值", "单位", "标记"],
                Lang::En => vec![
                    "station",
                    "parameter",
                    "time (UTC+8)",
                    "value",
                    "unit",
                    "flag",
                ],
            };
            let rows: Vec<Vec<String>> = readings
                .iter()
                .map(|r| {
                    let p = ctx.loaded.registry.parameter(r.parameter.as_str());
                    vec![
                        r.station.to_string(),
                        p.map(|p| ctx.lang.pick(&p.name_zh, &p.name_en).to_string())
                            .unwrap_or_else(|| r.parameter.to_string()),
                        fmt_cst(r.observed_at),
                        r.value.to_string(),
                        p.map(|p| p.unit.clone()).unwrap_or_default(),
                        format!("{} {}", r.flag, ctx.lang.pick(r.flag.label_zh(), ""))
                            .trim()
                            .to_string(),
                    ]
                })
                .collect();
            out = table(&header, &rows);
        }
    }
    print!("{out}");
    Ok(())
}

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

/// Runs `riverwatch dead-letters`.
///
/// # Errors
/// Bad arguments or a store failure.
pub async fn dead_letters(args: &DeadLettersArgs, ctx: &Context) -> anyhow::Result<()> {
    let reason = args
        .reason
        .as_deref()
        .map(|r| {
            r.parse::<ReasonCode>().map_err(|_| {
                let all: Vec<&str> = ReasonCode::ALL.iter().map(|c| c.as_str()).collect();
                user_error(
                    format!("未知原因代码 `{r}`，可选：{}", all.join("、")),
                    format!("unknown reason code `{r}`; one of {}", all.join(", ")),
                )
            })
        })
        .transpose()?;
    let q = DeadLetterQuery {
        since: time_arg(&args.since, "since")?,
        reason,
        limit: args.limit,
    };
    let reader = store::open_dead_letter_reader(&ctx.loaded.config.store, &ctx.data_dir)
        .map_err(|e| store_error(ctx, &e))?;
    let dead = reader
        .dead_letters(&q)
        .await
        .map_err(|e| store_error(ctx, &e))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = String::new();
    match args.format {
        DeadFormat::Jsonl => {
            for d in &dead {
                let row = DeadRow {
                    received_at: d
                        .received_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    topic: &d.topic,
                    reason_code: d.reason_code.as_str(),
                    reason: &d.reason,
                    station: d.station.as_deref(),
                    parameter: d.parameter.as_deref(),
                    payload_b64: b64.encode(&d.payload),
                };
                out.push_str(&serde_json::to_string(&row)?);
                out.push('\n');
            }
        }
        DeadFormat::Table => {
            let header = match ctx.lang {
                Lang::Zh => vec!["接收时间（北京时间）", "主题", "原因", "说明"],
                Lang::En => vec!["received (UTC+8)", "topic", "reason", "detail"],
            };
            let rows: Vec<Vec<String>> = dead
                .iter()
                .map(|d| {
                    vec![
                        fmt_cst(d.received_at),
                        d.topic.clone(),
                        format!(
                            "{} {}",
                            d.reason_code,
                            ctx.lang.pick(d.reason_code.label_zh(), "")
                        )
                        .trim()
                        .to_string(),
                        d.reason.clone(),
                    ]
                })
                .collect();
            out = table(&header, &rows);
        }
    }
    print!("{out}");
    Ok(())
}
