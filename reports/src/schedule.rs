//! The report schedule, a service of `riverwatch up` (and `riverwatch reports run`): at each
//! due time of an enabled period (`[reports.day]` … `[reports.year]`, China Standard Time)
//! it assembles the report of the period just ended for the zone and for each river a
//! river-chief office follows, writes the workbook into the archive folder, records it in the
//! archive ([`crate::archive`]) and queues it for its recipients through the alert service's
//! durable outbox ([`riverwatch_alerts::operator::queue_report`]).
//!
//! What decides is stored, not remembered: a report already archived is not issued again;
//! one archived but not yet queued (a crash between the two) is queued again, which the
//! outbox makes idempotent per report, recipient and digest. At each run the reports that
//! fell due less than `recheck_days` ago (7 days for daily, 14 for weekly, 31 for the
//! others) are assembled again: a changed digest is re-issued as the next revision, marked
//! 修订, and re-sent; an unchanged one is left alone. On start, a report that fell due while
//! the service was down is caught up, but only the latest due period of each kind, only
//! inside its re-check window, and only if it fell due after the schedule first ran on this
//! archive (a new installation does not mail out the reports of the past).
//!
//! The clock is injected; the service looks at it every `tick_ms`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Datelike, Duration, Utc};
use riverwatch_alerts::AlertReader;
use riverwatch_alerts::AlertsConfig;
use riverwatch_alerts::operator::queue_report;
use riverwatch_alerts::store::Store as AlertStore;
use riverwatch_analytics::AnalyticsConfig;
use riverwatch_analytics::store::EvaluationReader;
use riverwatch_analytics::windows::spans::Span;
use riverwatch_core::Lang;
use riverwatch_core::events::WindowPeriod;
use riverwatch_core::registry::Registry;
use riverwatch_core::time::{Clock, cst_date, from_cst};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::archive::{Archive, ArchiveEntry, NewEntry};
use crate::config::{Due, ReportsConfig};
use crate::delivery::{base_name, mail_with_workbook, scheduled_recipients, scheduled_rivers};
use crate::{Error, Report, Request, Result, Sources};

/// When the report of `span` is due: on the day after the period (daily), the configured
/// weekday on or after the Monday after the week (weekly), the configured day of the month
/// after the period (monthly, quarterly, annual), at the configured CST time.
pub fn due_at(due: &Due, span: &Span) -> Option<DateTime<Utc>> {
    let end = span.end_day;
    let date = match due.period {
        WindowPeriod::Hour => return None,
        WindowPeriod::Day => end,
        WindowPeriod::Week => {
            let ahead =
                (due.weekday.num_days_from_monday() + 7 - end.weekday().num_days_from_monday()) % 7;
            end.checked_add_signed(Duration::days(i64::from(ahead)))?
        }
        WindowPeriod::Month | WindowPeriod::Quarter | WindowPeriod::Year => {
            end.with_day(due.day)?
        }
    };
    Some(from_cst(date.and_time(due.at)))
}

/// The latest period of `due`'s kind whose report is due at or before `now`, with its due
/// time.
pub fn latest_due(due: &Due, now: DateTime<Utc>) -> Option<(Span, DateTime<Utc>)> {
    let mut span = Span::containing(due.period, cst_date(now))?;
    // A report falls due within one period after its own (day ≤ 28, weekday ≤ 6 days), so
    // the current period's predecessor or the one before it is the answer.
    for _ in 0..4 {
        let at = due_at(due, &span)?;
        if at <= now {
            return Some((span, at));
        }
        span = span.previous()?;
    }
    None
}

/// The first due time of any of `dues` after `now`.
pub fn next_due(dues: &[Due], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    dues.iter()
        .filter_map(|due| {
            let this = Span::containing(due.period, cst_date(now))?;
            [this.previous(), Some(this)]
                .into_iter()
                .flatten()
                .filter_map(|s| due_at(due, &s))
                .filter(|t| *t > now)
                .min()
        })
        .min()
}

/// The periods of `due`'s kind a run at `now` looks at, the newest first: those that fell
/// due less than `recheck_days` ago (measured from the due time, so a report due late in the
/// month after its period is still looked at).
pub fn periods_to_check(due: &Due, now: DateTime<Utc>) -> Vec<(Span, DateTime<Utc>)> {
    let window = Duration::days(i64::from(due.recheck_days));
    let mut out = Vec::new();
    let Some((mut span, mut at)) = latest_due(due, now) else {
        return out;
    };
    // Bounded: one period per day of the window at most.
    for _ in 0..=due.recheck_days {
        if at + window <= now {
            break;
        }
        out.push((span, at));
        let Some(prev) = span.previous() else { break };
        let Some(prev_at) = due_at(due, &prev) else {
            break;
        };
        (span, at) = (prev, prev_at);
    }
    out
}

/// What the schedule needs.
#[derive(Debug, Clone)]
pub struct ScheduleArgs {
    /// `[reports]`.
    pub config: ReportsConfig,
    /// Language of the reports (`[reports] lang`, else the top-level `lang`).
    pub lang: Lang,
    /// The network.
    pub registry: Arc<Registry>,
    /// `[analytics]` (the evaluation store's file, the settings reports read with).
    pub analytics: AnalyticsConfig,
    /// `[alerts]` (the alert store's file, the sender, the recipients in `routing`).
    pub alerts: AlertsConfig,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

impl ScheduleArgs {
    /// The folder of the archived files.
    pub fn folder(&self) -> PathBuf {
        if self.config.folder.is_absolute() {
            self.config.folder.clone()
        } else {
            self.data_dir.join(&self.config.folder)
        }
    }

    /// The archive database.
    pub fn archive_path(&self) -> PathBuf {
        Archive::path_in(&self.data_dir, &self.config.store_file)
    }
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RunSummary {
    /// Reports issued for the first time.
    pub issued: u32,
    /// Revisions issued (修订).
    pub revised: u32,
    /// Reports assembled again with an unchanged digest.
    pub unchanged: u32,
    /// Archived reports queued again (the queueing had not finished).
    pub requeued: u32,
    /// Reports that failed (logged); the run is tried again after `retry_secs`.
    pub failed: u32,
}

/// Runs the schedule until `shutdown`: a run at start (the catch-up), then one at each due
/// time.
///
/// # Errors
/// An invalid `[reports]` section or an archive that cannot be opened at start. A failure
/// during a run is logged and the run tried again after `retry_secs`.
pub async fn run(args: ScheduleArgs, shutdown: CancellationToken) -> Result<()> {
    let dues = args.config.validate().map_err(Error::Config)?;
    let tick = StdDuration::from_millis(args.config.tick_ms);
    let retry = Duration::seconds(i64::try_from(args.config.retry_secs).unwrap_or(i64::MAX / 2));
    let started = args.clock.now();
    let path = args.archive_path();
    let first_start = blocking(move || Ok(Archive::open(&path)?.first_start(started)?)).await?;
    let rivers = scopes(&args);
    info!(
        periods = dues.len(),
        rivers = rivers.len().saturating_sub(1),
        first_start = %first_start,
        "Report schedule started."
    );
    let mut next = started;
    loop {
        let now = args.clock.now();
        if now >= next {
            let a = args.clone();
            let d = dues.clone();
            let token = shutdown.clone();
            let r = rivers.clone();
            let summary = blocking(move || Ok(run_once(&a, &d, &r, first_start, now, &token)))
                .await
                .unwrap_or_else(|e| {
                    warn!(error = %e, "Report run failed.");
                    RunSummary {
                        failed: 1,
                        ..RunSummary::default()
                    }
                });
            next = next_due(&dues, now).unwrap_or(now + Duration::days(366));
            if summary.failed > 0 {
                next = next.min(now + retry);
            }
        }
        // Cancel safety: both arms only wait.
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(tick) => {}
        }
    }
    info!("Report schedule stopped.");
    Ok(())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Task(e.to_string()))?
}

/// The scopes of the scheduled reports: the zone (`None`), then each river a river-chief
/// office follows that the registry knows.
fn scopes(args: &ScheduleArgs) -> Vec<Option<String>> {
    let mut out = vec![None];
    for river in scheduled_rivers(&args.alerts.routing) {
        if args.registry.river(&river).is_some() {
            out.push(Some(river));
        } else {
            warn!(river = %river, "A river-chief office follows a river the network does not have; no report for it.");
        }
    }
    out
}

/// One run at `now`: every enabled period's latest due report and those still re-checked,
/// for every scope. Blocking.
pub fn run_once(
    args: &ScheduleArgs,
    dues: &[Due],
    scopes: &[Option<String>],
    first_start: DateTime<Utc>,
    now: DateTime<Utc>,
    shutdown: &CancellationToken,
) -> RunSummary {
    let mut summary = RunSummary::default();
    let mut ctx = match RunContext::open(args) {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "Reports not made: a store is not ready.");
            summary.failed += 1;
            return summary;
        }
    };
    for due in dues {
        for (i, (span, at)) in periods_to_check(due, now).into_iter().enumerate() {
            for scope in scopes {
                if shutdown.is_cancelled() {
                    return summary;
                }
                let unit = Unit {
                    span,
                    river: scope.clone(),
                };
                // Only the latest due period is caught up, and only if it fell due after
                // the schedule first ran.
                let may_issue = i == 0 && at >= first_start;
                match ctx.check(args, &unit, may_issue, now) {
                    Ok(Outcome::Issued(0)) => summary.issued += 1,
                    Ok(Outcome::Issued(_)) => summary.revised += 1,
                    Ok(Outcome::Unchanged) => summary.unchanged += 1,
                    Ok(Outcome::Requeued) => summary.requeued += 1,
                    Ok(Outcome::Skipped) => {}
                    Err(e) => {
                        warn!(
                            period = span.period.as_str(),
                            first_day = %span.first_day,
                            river = scope.as_deref().unwrap_or("-"),
                            error = %e,
                            "Report not made."
                        );
                        summary.failed += 1;
                    }
                }
            }
        }
    }
    let what = serde_json::to_string(&summary).unwrap_or_default();
    if let Err(e) = ctx.archive.record_run(now, &what) {
        warn!(error = %e, "The run could not be recorded.");
        summary.failed += 1;
    }
    if summary != RunSummary::default() {
        info!(
            issued = summary.issued,
            revised = summary.revised,
            unchanged = summary.unchanged,
            requeued = summary.requeued,
            failed = summary.failed,
            "Report run done."
        );
    }
    summary
}

/// One report: a period and a scope.
#[derive(Debug, Clone)]
struct Unit {
    span: Span,
    river: Option<String>,
}

enum Outcome {
    /// Issued as this revision.
    Issued(u32),
    Unchanged,
    Requeued,
    /// Not archived and not to be issued (missed long ago, or before the first start).
    Skipped,
}

/// The stores of one run.
struct RunContext {
    archive: Archive,
    evaluations: EvaluationReader,
    alerts_reader: Option<AlertReader>,
    alerts: AlertStore,
}

impl RunContext {
    fn open(args: &ScheduleArgs) -> Result<Self> {
        let alerts_path = riverwatch_alerts::store::path_in(&args.data_dir, &args.alerts.database);
        Ok(Self {
            archive: Archive::open(&args.archive_path())?,
            evaluations: EvaluationReader::open_in(&args.data_dir, &args.analytics)?,
            alerts: AlertStore::open(&alerts_path)?,
            alerts_reader: AlertReader::open(&alerts_path, args.clock.clone()).ok(),
        })
    }

    fn assemble(&self, args: &ScheduleArgs, unit: &Unit, now: DateTime<Utc>) -> Result<Report> {
        crate::assemble(
            &Sources {
                registry: &args.registry,
                analytics: &args.analytics,
                evaluations: &self.evaluations,
                alerts: self.alerts_reader.as_ref(),
            },
            &Request {
                period: unit.span.period,
                date: unit.span.first_day,
                river: unit.river.clone(),
                now,
            },
        )
    }

    fn check(
        &mut self,
        args: &ScheduleArgs,
        unit: &Unit,
        may_issue: bool,
        now: DateTime<Utc>,
    ) -> Result<Outcome> {
        let lang = args.lang;
        let archived = self.archive.latest(
            unit.span.period,
            unit.span.first_day,
            unit.river.as_deref(),
            lang,
        )?;
        if archived.is_none() && !may_issue {
            return Ok(Outcome::Skipped);
        }
        let report = self.assemble(args, unit, now)?;
        let digest = crate::json::digest(&report);
        match archived {
            Some(e) if e.digest == digest => {
                if e.queued_at.is_some() {
                    return Ok(Outcome::Unchanged);
                }
                let workbook = match std::fs::read(&e.file) {
                    Ok(bytes) => bytes,
                    Err(_) => crate::xlsx::workbook(&report, lang, e.revision > 0)?,
                };
                self.queue(args, &e, &report, workbook, now)?;
                Ok(Outcome::Requeued)
            }
            archived => {
                let revision = archived.map_or(0, |e| e.revision + 1);
                let workbook = crate::xlsx::workbook(&report, lang, revision > 0)?;
                let file = archive_file(&args.folder(), &report, lang, revision);
                write_atomically(&file, &workbook)?;
                let entry = NewEntry {
                    period: report.period,
                    first_day: report.first_day,
                    last_day: report.last_day,
                    river: report.river.clone(),
                    lang,
                    revision,
                    digest,
                    file,
                    created_at: now,
                };
                let id = self.archive.insert(&entry)?;
                let stored = ArchiveEntry {
                    id,
                    period: entry.period,
                    first_day: entry.first_day,
                    last_day: entry.last_day,
                    river: entry.river,
                    lang,
                    revision,
                    digest: entry.digest,
                    file: entry.file,
                    created_at: now,
                    queued_at: None,
                    recipients: 0,
                };
                self.queue(args, &stored, &report, workbook, now)?;
                Ok(Outcome::Issued(revision))
            }
        }
    }

    /// Queues an archived report for its recipients and records that it was.
    fn queue(
        &mut self,
        args: &ScheduleArgs,
        entry: &ArchiveEntry,
        report: &Report,
        workbook: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let recipients = scheduled_recipients(&args.alerts.routing, entry.river.as_deref());
        let mut new = 0;
        if !recipients.is_empty() {
            let mail = mail_with_workbook(
                report,
                entry.lang,
                entry.revision,
                &args.alerts.from,
                now,
                workbook,
            );
            let queued = queue_report(&mut self.alerts, &mail, &recipients, now)?;
            new = queued.iter().filter(|q| q.new).count();
        }
        self.archive
            .mark_queued(entry.id, now, u32::try_from(recipients.len()).unwrap_or(0))?;
        info!(
            period = entry.period.as_str(),
            first_day = %entry.first_day,
            river = entry.river.as_deref().unwrap_or("-"),
            revision = entry.revision,
            recipients = recipients.len(),
            queued = new,
            file = %entry.file.display(),
            "Report issued."
        );
        Ok(())
    }
}

/// The archived file of a report: `<folder>/<period>/riverwatch-day-2026-11-29-lalin-zh.xlsx`,
/// `…-zh-r1.xlsx` for revision 1.
pub fn archive_file(folder: &Path, report: &Report, lang: Lang, revision: u32) -> PathBuf {
    let rev = if revision == 0 {
        String::new()
    } else {
        format!("-r{revision}")
    };
    folder
        .join(report.period.as_str())
        .join(format!("{}-{lang}{rev}.xlsx", base_name(report)))
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a crash leaves the
/// old file or the new one, never half of one.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("xlsx.tmp");
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests;
