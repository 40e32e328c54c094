//! `riverwatch report`: one river-chief report of a day, week, month, quarter or year,
//! written as Excel (default), HTML, CSV or the programs' JSON into `--out` (default
//! `<data-dir>/reports/`). The report is [`riverwatch_reports::assemble`]; this module parses,
//! calls and writes the files. With `--send`, the email of [`riverwatch_reports::delivery`]
//! (the workbook and the HTML body) is queued in the alert store's outbox
//! ([`riverwatch_alerts::operator::queue_report`]) for each recipient, and the alert service
//! delivers it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use chrono::NaiveDate;
use clap::{Args, ValueEnum};
use riverwatch_alerts::AlertReader;
use riverwatch_alerts::operator::queue_report;
use riverwatch_alerts::store::Store;
use riverwatch_analytics::store::EvaluationReader;
use riverwatch_core::Lang;
use riverwatch_core::events::WindowPeriod;
use riverwatch_core::time::SystemClock;
use riverwatch_reports::{Report, Request, Sources, delivery};

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
    /// Email the report (workbook attached) through the alert service instead of writing
    /// files.
    #[arg(long)]
    pub send: bool,
    /// Recipient address (repeatable); the configured river-chief offices and provincial
    /// departments when absent.
    #[arg(long, requires = "send")]
    pub to: Vec<String>,
}

/// Parses `day`, `week`, `month`, `quarter` or `year`.
pub(crate) fn parse_period(s: &str) -> Result<WindowPeriod, String> {
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
    let base = delivery::base_name(report);
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
    if args.send {
        return send(args, ctx, &report).await;
    }
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| ctx.data_dir.join("reports"));
    for path in write(&report, args.format, &dir, ctx.lang)? {
        println!("{}", path.display());
    }
    Ok(())
}

/// Queues the report email for each recipient and says what was queued.
async fn send(args: &ReportArgs, ctx: &Context, report: &Report) -> anyhow::Result<()> {
    let lang = ctx.lang;
    let now = chrono::Utc::now();
    let mail = delivery::report_mail(report, lang, 0, &ctx.loaded.config.alerts.from, now)
        .context("cannot build the workbook")?;
    let file_name = mail.attachment.file_name.clone();
    let routing = &ctx.loaded.config.alerts.routing;
    let recipients = if args.to.is_empty() {
        delivery::default_recipients(routing, report.river.as_deref())
    } else {
        delivery::given_recipients(routing, &args.to)
    };
    if recipients.is_empty() {
        return Err(user_error(
            "配置中没有河长办或省厅的邮件地址：请用 --to 指定收件人",
            "no river-chief office or department address in the configuration: use --to",
        ));
    }
    let path = riverwatch_alerts::store::path_in(&ctx.data_dir, &ctx.loaded.config.alerts.database);
    let shown = recipients.clone();
    let queued = tokio::task::spawn_blocking(move || {
        let mut store = Store::open(&path)?;
        queue_report(&mut store, &mail, &recipients, now)
    })
    .await
    .context("report task failed")??;
    for (q, r) in queued.iter().zip(&shown) {
        let what = if q.new {
            lang.pick("已加入发送队列", "queued")
        } else {
            lang.pick("此前已加入队列，未重复", "already queued, not again")
        };
        println!(
            "{what} #{} {} {} <{}> {file_name}",
            q.notification,
            r.id,
            r.name,
            r.addresses.join(", ")
        );
    }
    Ok(())
}
