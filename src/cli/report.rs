//! `riverwatch report`: one river-chief report of a day, week, month, quarter or year,
//! written as Excel (default), HTML, CSV or the programs' JSON into `--out` (default
//! `<data-dir>/reports/`). The report is [`riverwatch_reports::assemble`]; this module parses,
//! calls and writes the files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use chrono::NaiveDate;
use clap::{Args, ValueEnum};
use riverwatch_alerts::AlertReader;
use riverwatch_analytics::store::EvaluationReader;
use riverwatch_core::Lang;
use riverwatch_core::events::WindowPeriod;
use riverwatch_core::time::SystemClock;
use riverwatch_reports::{Report, Request, Sources};

use crate::cli::{Context, user_error};

/// A report's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Excel workbook.
    Xlsx,
    /// One HTML page.
    Html,
    /// One CSV file per table.
    Csv,
    /// The programs' view.
    Json,
}

/// Options of `riverwatch report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// day, week, month, quarter or year.
    #[arg(long, value_parser = parse_period)]
    pub period: WindowPeriod,
    /// Any day of the period (China Standard Time), e.g. 2026-11-30.
    #[arg(long)]
    pub date: NaiveDate,
    /// Only this river's sections (registry river id, e.g. lalin).
    #[arg(long)]
    pub river: Option<String>,
    /// File format.
    #[arg(long, value_enum, default_value = "xlsx")]
    pub format: ReportFormat,
    /// Output folder; `<data-dir>/reports` when absent.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn parse_period(s: &str) -> Result<WindowPeriod, String> {
    WindowPeriod::REPORTING
        .into_iter()
        .find(|p| p.as_str() == s.trim())
        .ok_or_else(|| format!("`{s}`: use day, week, month, quarter or year"))
}

/// Reads the stores and assembles the report (on a blocking thread).
///
/// # Errors
/// A missing evaluation store, an unknown river, a store failure.
pub async fn assemble(ctx: &Context, request: Request) -> anyhow::Result<Report> {
    let reader =
        EvaluationReader::open_in(&ctx.data_dir, &ctx.loaded.config.analytics).map_err(|e| {
            user_error(
                format!("尚无评价结果（{e}）：请先运行 riverwatch analytics 或 riverwatch up"),
                format!(
                    "no evaluations yet ({e}): run riverwatch analytics or riverwatch up first"
                ),
            )
        })?;
    let alerts_path =
        riverwatch_alerts::store::path_in(&ctx.data_dir, &ctx.loaded.config.alerts.database);
    let registry = ctx.loaded.registry.clone();
    let analytics = ctx.loaded.config.analytics.clone();
    let report = tokio::task::spawn_blocking(move || {
        // Without an alert store (analytics alone) the report has no alert section.
        let alerts = AlertReader::open(&alerts_path, Arc::new(SystemClock)).ok();
        riverwatch_reports::assemble(
            &Sources {
                registry: &registry,
                analytics: &analytics,
                evaluations: &reader,
                alerts: alerts.as_ref(),
            },
            &request,
        )
    })
    .await
    .context("report task failed")?;
    report.map_err(|e| match e {
        riverwatch_reports::Error::UnknownRiver(id) => user_error(
            format!("未知河流 `{id}`：请用 riverwatch stations 查看河流编号"),
            format!("unknown river `{id}`: see riverwatch stations for the river ids"),
        ),
        other => anyhow::Error::new(other),
    })
}

/// The base file name of a report: `riverwatch-month-2026-11-01[-lalin]`.
pub fn base_name(report: &Report) -> String {
    let river = report
        .river
        .as_deref()
        .map_or(String::new(), |r| format!("-{r}"));
    format!(
        "riverwatch-{}-{}{river}",
        report.period.as_str(),
        report.first_day
    )
}

/// Writes `report` in `format` into `dir`; the files written.
///
/// # Errors
/// A folder or file that cannot be written.
pub fn write(
    report: &Report,
    format: ReportFormat,
    dir: &Path,
    lang: Lang,
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the folder {}", dir.display()))?;
    let base = base_name(report);
    let files: Vec<(PathBuf, Vec<u8>)> = match format {
        ReportFormat::Xlsx => vec![(
            dir.join(format!("{base}.xlsx")),
            riverwatch_reports::xlsx::workbook(report, lang, false)
                .context("cannot build the workbook")?,
        )],
        ReportFormat::Html => vec![(
            dir.join(format!("{base}.html")),
            riverwatch_reports::html::report(report, lang, false).into_bytes(),
        )],
        ReportFormat::Json => vec![(
            dir.join(format!("{base}.json")),
            riverwatch_reports::json::to_string(report)?.into_bytes(),
        )],
        ReportFormat::Csv => riverwatch_reports::tables::tables(report, lang)
            .iter()
            .map(|t| {
                (
                    dir.join(format!("{base}-{}.csv", t.key)),
                    riverwatch_reports::csv::table(t, lang).into_bytes(),
                )
            })
            .collect(),
    };
    let mut written = Vec::new();
    for (path, bytes) in files {
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// Runs `riverwatch report`.
///
/// # Errors
/// Bad options, a missing store, a file that cannot be written.
pub async fn run(args: &ReportArgs, ctx: &Context) -> anyhow::Result<()> {
    let report = assemble(
        ctx,
        Request {
            period: args.period,
            date: args.date,
            river: args.river.clone(),
            now: chrono::Utc::now(),
        },
    )
    .await?;
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| ctx.data_dir.join("reports"));
    for path in write(&report, args.format, &dir, ctx.lang)? {
        println!("{}", path.display());
    }
    Ok(())
}
