//! The report schedule end to end: readings through a real mosquitto, ingest and analytics
//! into the evaluation store, the schedule on the manual clock issuing the daily reports into
//! its archive and the alert service's outbox, the alert service delivering them to the
//! loopback SMTP server; a restart, then a late reading that changes a day's numbers.

use std::time::Duration;

use chrono::{DateTime, Utc};
use riverwatch_alerts::AlertsConfig;
use riverwatch_alerts::model::{DeliveryStatus, Notification, NotificationKind};
use riverwatch_analytics::AnalyticsConfig;
use riverwatch_analytics::store::EvaluationQuery;
use riverwatch_core::Lang;
use riverwatch_core::events::WindowPeriod;
use riverwatch_reports::ReportsConfig;
use riverwatch_reports::archive::{Archive, ArchiveQuery};
use riverwatch_reports::config::PeriodSchedule;
use riverwatch_reports::schedule::ScheduleArgs;
use tokio_util::sync::CancellationToken;

use crate::fixture::*;
use crate::util::*;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The schedule with the daily report only (the other periods off, so a Monday and a 1st
/// add nothing), in this process on the pipeline's clock.
struct Schedule {
    token: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), riverwatch_reports::Error>>,
}

impl Schedule {
    fn start(p: &Pipeline) -> Self {
        let off = PeriodSchedule {
            enabled: false,
            weekday: None,
            day: None,
            recheck_days: None,
            ..ReportsConfig::default().day
        };
        let args = ScheduleArgs {
            config: ReportsConfig {
                week: off.clone(),
                month: off.clone(),
                quarter: off.clone(),
                year: off,
                ..ReportsConfig::test_config()
            },
            lang: Lang::Zh,
            registry: registry(),
            analytics: AnalyticsConfig::test_config(),
            alerts: AlertsConfig::test_config(),
            data_dir: p.data_dir(),
            clock: p.clock(),
        };
        let token = CancellationToken::new();
        let task = tokio::spawn(riverwatch_reports::schedule::run(args, token.clone()));
        Self { token, task }
    }

    async fn stop(self) {
        self.token.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the schedule stops")
            .unwrap()
            .unwrap();
    }
}

fn archive(p: &Pipeline) -> Option<Archive> {
    Archive::open_reader(&p.data_dir().join("reports.db")).ok()
}

/// Waits until the schedule has finished a run at clock time `at`.
async fn wait_run(p: &Pipeline, at: DateTime<Utc>) {
    wait_until(
        Duration::from_secs(60),
        format!("a report run at {at}"),
        || {
            archive(p)
                .and_then(|a| a.last_run().ok().flatten())
                .is_some_and(|(t, _)| t >= at)
        },
    )
    .await;
}

/// The revisions of LLH-CJG's evaluation of 29 November (CST) in the store.
fn day_revisions(p: &Pipeline) -> Vec<u32> {
    let Ok(reader) = riverwatch_analytics::store::EvaluationReader::open(&p.analytics_db()) else {
        return Vec::new();
    };
    reader
        .evaluations(&EvaluationQuery {
            station: Some("LLH-CJG".into()),
            period: Some(WindowPeriod::Day),
            from: Some(t("2026-11-29T00:00:00+08:00")),
            to: Some(t("2026-11-30T00:00:00+08:00")),
            all_revisions: true,
            ..EvaluationQuery::default()
        })
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.start == t("2026-11-29T00:00:00+08:00"))
        .map(|e| e.revision)
        .collect()
}

/// The report emails the SMTP server received (the alerts the readings raise aside), with
/// their raw text.
fn report_emails(p: &Pipeline) -> Vec<(Vec<String>, ParsedMail, String)> {
    p.smtp()
        .received()
        .into_iter()
        .map(|r| (r.to.clone(), r.parsed(), r.data))
        .filter(|(_, m, _)| m.subject.contains("日报"))
        .collect()
}

/// The subjects of the report emails to `addr`, sorted.
fn subjects(p: &Pipeline, addr: &str) -> Vec<String> {
    let mut out: Vec<String> = report_emails(p)
        .into_iter()
        .filter(|(to, _, _)| to.iter().any(|x| x == addr))
        .map(|(_, m, _)| m.subject)
        .collect();
    out.sort();
    out
}

fn report_notifications(p: &Pipeline) -> Vec<Notification> {
    p.notifications()
        .into_iter()
        .filter(|n| n.kind == NotificationKind::Report)
        .collect()
}

/// Waits until `n` report emails are queued, sent and received.
async fn wait_reports(p: &Pipeline, n: usize) {
    wait_until(
        Duration::from_secs(60),
        Later(|| format!("{n} report emails (got {})", report_emails(p).len())),
        || {
            let log = report_notifications(p);
            log.len() >= n
                && log.iter().all(|x| x.status == DeliveryStatus::Sent)
                && report_emails(p).len() >= n
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daily_report_is_sent_once_across_a_restart_and_revised_when_late_data_changes_it() {
    // Sunday 29 November 2026 (CST) is the reported day; the schedule starts on Monday the
    // 30th at 07:59, a minute before the daily report falls due.
    let p = Pipeline::builder()
        .clock_at(t("2026-11-30T07:59:00+08:00"))
        .with_ingest("it-rep-ingest")
        .with_analytics("it-rep-analytics")
        .with_alerts(AlertsConfig::test_config())
        .start()
        .await;

    // 蔡家沟 (LLH-CJG, Lalin River, target Class III): hourly readings all day, NH3-N 0.3
    // mg/L (Class II, GB 3838-2002 Table 1: ≤ 0.5), then one after midnight closes the day.
    let values = [("NH3N", 0.3), ("DO", 8.0), ("CODMn", 3.0), ("TP", 0.05)];
    let mut messages: Vec<(String, Vec<u8>)> = (0..24)
        .map(|h| {
            json_obs(
                "LLH-CJG",
                t("2026-11-29T00:00:00+08:00") + chrono::Duration::hours(h),
                &values,
            )
        })
        .collect();
    messages.push(json_obs("LLH-CJG", t("2026-11-30T00:30:00+08:00"), &values));
    p.publish("it-rep-station", messages).await;
    wait_until(
        Duration::from_secs(60),
        "the day of the 29th evaluated",
        || day_revisions(&p) == vec![0],
    )
    .await;

    let schedule = Schedule::start(&p);
    wait_run(&p, t("2026-11-30T07:59:00+08:00")).await;
    assert!(
        archive(&p)
            .unwrap()
            .list(&ArchiveQuery::default())
            .unwrap()
            .is_empty(),
        "nothing is due before 08:00, and the 28th fell due before the first start"
    );

    // 08:00: the daily reports of the 29th. The built-in routing has, at level 0 with an
    // address, two provincial departments (the zone's report), two Lalin offices, two
    // Songhua offices and one of them also for the Second Songhua: 7 emails.
    p.clock().set(t("2026-11-30T08:00:00+08:00"));
    wait_reports(&p, 7).await;
    let lalin = subjects(&p, "lalin-hzb@hlj.example.org");
    assert_eq!(lalin, vec!["拉林河 2026年11月29日 日报".to_string()]);
    assert_eq!(
        subjects(&p, "duty@hlj.example.org"),
        vec!["哈长一体化区域 2026年11月29日 日报".to_string()]
    );
    let (_, _, raw) = report_emails(&p)
        .into_iter()
        .find(|(to, _, _)| to.iter().any(|x| x == "lalin-hzb@hlj.example.org"))
        .unwrap();
    assert!(
        raw.contains("riverwatch-day-2026-11-29-lalin.xlsx"),
        "the workbook is attached"
    );
    let rows = archive(&p).unwrap().list(&ArchiveQuery::default()).unwrap();
    assert_eq!(
        rows.len(),
        4,
        "zone, lalin, songhua, second-songhua: {rows:?}"
    );
    assert!(rows.iter().all(|r| r.revision == 0
        && r.first_day == "2026-11-29".parse().unwrap()
        && r.queued_at.is_some()
        && r.file.exists()));

    // A restart a few minutes later: the archive says the day's reports went out.
    schedule.stop().await;
    p.clock().set(t("2026-11-30T08:05:00+08:00"));
    let schedule = Schedule::start(&p);
    wait_run(&p, t("2026-11-30T08:05:00+08:00")).await;
    assert_eq!(report_notifications(&p).len(), 7, "nothing queued again");
    assert_eq!(report_emails(&p).len(), 7);

    // A late reading of the 29th (a logger's backlog): NH3-N 5.0 mg/L at 12:30. Analytics
    // stores the day's next revision; its numbers differ, so the next run re-issues the
    // Lalin and zone reports marked 修订. The Songhua reports do not change.
    p.publish(
        "it-rep-station",
        vec![json_obs(
            "LLH-CJG",
            t("2026-11-29T12:30:00+08:00"),
            &[("NH3N", 5.0), ("DO", 8.0), ("CODMn", 3.0), ("TP", 0.05)],
        )],
    )
    .await;
    wait_until(
        Duration::from_secs(60),
        "the day of the 29th revised",
        || day_revisions(&p).contains(&1),
    )
    .await;
    // The next run, Tuesday 08:00: the 30th's 7 reports, and 4 revisions of the 29th.
    p.clock().set(t("2026-12-01T08:00:00+08:00"));
    wait_reports(&p, 18).await;
    wait_run(&p, t("2026-12-01T08:00:00+08:00")).await;
    assert_eq!(
        subjects(&p, "lalin-hzb@hlj.example.org"),
        vec![
            "【修订】拉林河 2026年11月29日 日报（第1次修订）".to_string(),
            "拉林河 2026年11月29日 日报".to_string(),
            "拉林河 2026年11月30日 日报".to_string(),
        ]
    );
    assert!(
        subjects(&p, "songhua-hzb@hlj.example.org")
            .iter()
            .all(|s| !s.contains("修订")),
        "the Songhua report of the 29th did not change"
    );
    let (_, mail, raw) = report_emails(&p)
        .into_iter()
        .filter(|(to, _, _)| to.iter().any(|x| x == "lalin-hzb@hlj.example.org"))
        .find(|(_, m, _)| m.subject.starts_with("【修订】"))
        .unwrap();
    assert!(
        mail.html
            .contains("【修订】拉林河 河长制水质日报（2026-11-29 至 2026-11-29）"),
        "{}",
        mail.html
    );
    assert!(mail.text.contains("第1次修订"), "{}", mail.text);
    assert!(raw.contains("riverwatch-day-2026-11-29-lalin-r1.xlsx"));
    assert_eq!(report_emails(&p).len(), 18, "no other report was sent");
    assert_eq!(report_notifications(&p).len(), 18);

    let lalin_rows = archive(&p)
        .unwrap()
        .list(&ArchiveQuery {
            river: Some("lalin".into()),
            from: Some("2026-11-29".parse().unwrap()),
            ..ArchiveQuery::default()
        })
        .unwrap();
    let of_29th: Vec<_> = lalin_rows
        .iter()
        .filter(|r| r.first_day == "2026-11-29".parse().unwrap())
        .collect();
    assert_eq!(
        of_29th.iter().map(|r| r.revision).collect::<Vec<_>>(),
        vec![0, 1]
    );
    assert_ne!(of_29th[0].digest, of_29th[1].digest);
    assert!(
        of_29th[1]
            .file
            .ends_with("riverwatch-day-2026-11-29-lalin-zh-r1.xlsx")
    );
    schedule.stop().await;

    let (code, out, err) = p.cli(&["reports", "list", "--river", "lalin"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("修订1") && out.contains("原版"), "{out}");
}
