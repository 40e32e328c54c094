//! `riverwatch report`: one river-chief report of a day, week, month, quarter or year,
//! written as Excel (default), HTML, CSV or the programs' JSON into `--out` (default
//! `<data-dir>/reports/`). The report is [`riverwatch_reports::assemble`]; this module parses,
//! calls and writes the files. With `--send`, the workbook and the HTML email body are queued
//! in the alert store's outbox ([`riverwatch_alerts::operator::queue_report`]) for each
//! recipient, and the alert service delivers them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{Datelike, NaiveDate};
use clap::{Args, ValueEnum};
use riverwatch_alerts::AlertReader;
use riverwatch_alerts::config::RecipientKind;
use riverwatch_alerts::operator::{ReportMail, ReportRecipient, queue_report};
use riverwatch_alerts::store::{Attachment, Store};
use riverwatch_analytics::store::EvaluationReader;
use riverwatch_core::events::WindowPeriod;
use riverwatch_core::time::SystemClock;
use riverwatch_core::{Lang, Province};
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
    /// Email the report (workbook attached) through the alert service instead of writing
    /// files.
    #[arg(long)]
    pub send: bool,
    /// Recipient address (repeatable); the configured river-chief offices and provincial
    /// departments when absent.
    #[arg(long, requires = "send")]
    pub to: Vec<String>,
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

/// The MIME type of an Excel workbook.
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// A report email's subject: `拉林河 2026年11月 月报`, `Lālín Hé November 2026 monthly
/// report`.
pub fn subject(report: &Report, lang: Lang) -> String {
    let scope = report
        .rivers
        .iter()
        .find(|x| Some(&x.id) == report.river.as_ref())
        .map(|x| lang.pick(&x.name_zh, &x.name_pinyin).to_string())
        .unwrap_or_else(|| lang.pick("哈长一体化区域", "Harbin–Changchun zone").into());
    let d = report.first_day;
    let (y, m) = (d.year(), d.month());
    match (lang, report.period) {
        (Lang::Zh, WindowPeriod::Day) => format!("{scope} {y}年{m}月{}日 日报", d.day()),
        (Lang::Zh, WindowPeriod::Week) => {
            format!("{scope} {d}至{} 周报", report.last_day)
        }
        (Lang::Zh, WindowPeriod::Quarter) => {
            format!("{scope} {y}年第{}季度 季报", (m - 1) / 3 + 1)
        }
        (Lang::Zh, WindowPeriod::Year) => format!("{scope} {y}年 年报"),
        (Lang::Zh, _) => format!("{scope} {y}年{m}月 月报"),
        (Lang::En, WindowPeriod::Day) => format!("{scope} {} daily report", d.format("%-d %B %Y")),
        (Lang::En, WindowPeriod::Week) => {
            format!("{scope} weekly report {d} to {}", report.last_day)
        }
        (Lang::En, WindowPeriod::Quarter) => {
            format!("{scope} Q{} {y} quarterly report", (m - 1) / 3 + 1)
        }
        (Lang::En, WindowPeriod::Year) => format!("{scope} {y} annual report"),
        (Lang::En, _) => format!("{scope} {} monthly report", d.format("%B %Y")),
    }
}

/// The default recipients of a report: the river-chief offices of its river (every office
/// for a zone report) and the provincial departments, level 0, with an address.
fn default_recipients(ctx: &Context, river: Option<&str>) -> Vec<ReportRecipient> {
    ctx.loaded
        .config
        .alerts
        .routing
        .all()
        .filter(|(_, r)| r.level == 0 && !r.email.is_empty())
        .filter(|(_, r)| match r.kind {
            RecipientKind::Department => true,
            RecipientKind::RiverChief => {
                river.is_none_or(|id| r.rivers.is_empty() || r.rivers.iter().any(|x| x == id))
            }
            RecipientKind::CityBureau | RecipientKind::Other => false,
        })
        .map(|(p, r)| ReportRecipient {
            id: r.id.clone(),
            name: r.name.clone(),
            province: p,
            addresses: r.email.clone(),
        })
        .collect()
}

/// `--to` addresses: named and filed under a province as the configured recipient holding
/// the address, or under the address itself (and 黑龙江) when none does.
fn given_recipients(ctx: &Context, to: &[String]) -> Vec<ReportRecipient> {
    to.iter()
        .map(|addr| {
            let addr = addr.trim().to_string();
            let known = ctx
                .loaded
                .config
                .alerts
                .routing
                .all()
                .find(|(_, r)| r.email.iter().any(|e| e.eq_ignore_ascii_case(&addr)));
            ReportRecipient {
                id: addr.clone(),
                name: known.map_or_else(|| addr.clone(), |(_, r)| r.name.clone()),
                province: known.map_or(Province::Heilongjiang, |(p, _)| p),
                addresses: vec![addr],
            }
        })
        .collect()
}

/// Queues the report email for each recipient and says what was queued.
async fn send(args: &ReportArgs, ctx: &Context, report: &Report) -> anyhow::Result<()> {
    let lang = ctx.lang;
    let file_name = format!("{}.xlsx", base_name(report));
    let workbook = riverwatch_reports::xlsx::workbook(report, lang, false)
        .context("cannot build the workbook")?;
    let title = riverwatch_reports::tables::title(report, lang);
    let from = &ctx.loaded.config.alerts.from;
    let mail = ReportMail {
        key: format!("{}-{lang}", base_name(report)),
        digest: riverwatch_reports::json::digest(report),
        subject: subject(report, lang),
        body_text: format!(
            "{title}\n\n{} {file_name}\n",
            lang.pick("完整报表见附件：", "The full workbook is attached:")
        ),
        body_html: riverwatch_reports::html::email(report, lang, false, &file_name),
        attachment: Attachment {
            file_name: file_name.clone(),
            content_type: XLSX.to_string(),
            bytes: workbook,
        },
        expires_at: chrono::Utc::now() + chrono::Duration::days(7),
        message_domain: from
            .rsplit('@')
            .next()
            .unwrap_or(from)
            .trim_end_matches('>')
            .to_string(),
    };
    let recipients = if args.to.is_empty() {
        default_recipients(ctx, report.river.as_deref())
    } else {
        given_recipients(ctx, &args.to)
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
        queue_report(&mut store, &mail, &recipients, chrono::Utc::now())
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
