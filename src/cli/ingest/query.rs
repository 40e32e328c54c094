//! `riverwatch query`: stored readings of one station as CSV (the columns of the
//! simulator's recordings), a table in China Standard Time, or JSON.

use chrono::SecondsFormat;
use clap::Args;
use riverwatch_core::Reading;
use riverwatch_core::store_api::{ReadingQuery, StoreReader};
use riverwatch_core::time::fmt_cst;
use riverwatch_ingest::store;
use serde::Serialize;

use super::{TIME_HINT, store_error};
use crate::cli::args::time_arg;
use crate::cli::render::{ListFormat, Table, col, csv, header};
use crate::cli::{Context, user_error};

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
    /// Output format (CSV: `station,parameter,time_utc,value,flag`).
    #[arg(long, value_enum, default_value_t = ListFormat::Csv)]
    pub format: ListFormat,
}

/// The CSV columns of `riverwatch query` (also the simulator's recording format).
pub const CSV_COLUMNS: [&str; 5] = ["station", "parameter", "time_utc", "value", "flag"];

/// A reading as `--format json` prints it.
#[derive(Serialize)]
struct ReadingRow<'a> {
    station: &'a str,
    parameter: &'a str,
    time_utc: String,
    value: f64,
    flag: String,
    period: &'a str,
}

fn time_utc(r: &Reading) -> String {
    r.observed_at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Runs `riverwatch query`.
///
/// # Errors
/// Unknown station, bad times, or a store failure.
pub async fn run(args: &QueryArgs, ctx: &Context) -> anyhow::Result<()> {
    let registry = &ctx.loaded.registry;
    if registry.station(&args.station).is_none() {
        return Err(user_error(
            format!("未知站点 `{}`", args.station),
            format!("unknown station `{}`", args.station),
        ));
    }
    let q = ReadingQuery {
        station: Some(args.station.clone()),
        parameters: args.params.clone(),
        from: time_arg(args.from.as_deref(), "--from", TIME_HINT)?,
        to: time_arg(args.to.as_deref(), "--to", TIME_HINT)?,
        periods: vec![],
        limit: args.limit,
    };
    let reader = store::open_reader(&ctx.loaded.config.store, &ctx.data_dir, registry)
        .map_err(|e| store_error(ctx, &e))?;
    let readings = reader.query(&q).await.map_err(|e| store_error(ctx, &e))?;
    let out = match args.format {
        ListFormat::Csv => csv(
            &CSV_COLUMNS,
            readings.iter().map(|r| {
                vec![
                    r.station.to_string(),
                    r.parameter.to_string(),
                    time_utc(r),
                    r.value.to_string(),
                    r.flag.to_string(),
                ]
            }),
        ),
        ListFormat::Json => {
            let rows: Vec<ReadingRow<'_>> = readings
                .iter()
                .map(|r| ReadingRow {
                    station: r.station.as_str(),
                    parameter: r.parameter.as_str(),
                    time_utc: time_utc(r),
                    value: r.value,
                    flag: r.flag.to_string(),
                    period: r.period.as_str(),
                })
                .collect();
            serde_json::to_string_pretty(&rows)? + "\n"
        }
        ListFormat::Table => {
            let lang = ctx.lang;
            let rows = readings.iter().map(|r| {
                let p = registry.parameter(r.parameter.as_str());
                vec![
                    r.station.to_string(),
                    p.map(|p| lang.pick(&p.name_zh, &p.name_en).to_string())
                        .unwrap_or_else(|| r.parameter.to_string()),
                    fmt_cst(r.observed_at),
                    r.value.to_string(),
                    p.map(|p| p.unit.clone()).unwrap_or_default(),
                    format!("{} {}", r.flag, lang.pick(r.flag.label_zh(), ""))
                        .trim()
                        .to_string(),
                ]
            });
            Table::with_rows(
                &[
                    col::STATION,
                    col::PARAMETER,
                    header("时间（北京时间）", "time (UTC+8)"),
                    col::VALUE,
                    col::UNIT,
                    header("标记", "flag"),
                ],
                rows,
            )
            .render(lang)
        }
    };
    print!("{out}");
    Ok(())
}
