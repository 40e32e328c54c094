//! Due times on a fixed clock, checked against the calendar: 2026-11-30 is a Monday,
//! 2026-10-01 and 2027-01-01 start quarters, and 08:00 in UTC+8 is 00:00 UTC.

use chrono::{NaiveDate, NaiveTime, Weekday};

use super::*;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn due(period: WindowPeriod) -> Due {
    let config = ReportsConfig::default();
    let all = config.validate().unwrap();
    *all.iter().find(|x| x.period == period).unwrap()
}

/// The (first day, last day) of the latest period due at `now`.
fn latest(period: WindowPeriod, now: &str) -> (NaiveDate, NaiveDate) {
    let (span, _) = latest_due(&due(period), t(now)).unwrap();
    (span.first_day, span.end_day.pred_opt().unwrap())
}

#[test]
fn the_daily_report_of_a_day_is_due_at_eight_the_next_morning_china_time() {
    let day = |s| (d(s), d(s));
    assert_eq!(
        latest(WindowPeriod::Day, "2026-11-30T08:00:00+08:00"),
        day("2026-11-29")
    );
    // 08:00 UTC+8 is midnight UTC.
    assert_eq!(
        latest(WindowPeriod::Day, "2026-11-30T00:00:00Z"),
        day("2026-11-29")
    );
    assert_eq!(
        latest(WindowPeriod::Day, "2026-11-30T07:59:59+08:00"),
        day("2026-11-28")
    );
    // 16:30 UTC on the 29th is already the 30th in China, before eight: the 28th's report.
    assert_eq!(
        latest(WindowPeriod::Day, "2026-11-29T16:30:00Z"),
        day("2026-11-28")
    );
    let (span, at) = latest_due(&due(WindowPeriod::Day), t("2026-11-30T12:00:00+08:00")).unwrap();
    assert_eq!(span.first_day, d("2026-11-29"));
    assert_eq!(at, t("2026-11-30T00:00:00Z"));
}

#[test]
fn the_weekly_report_is_due_on_monday_for_the_week_before() {
    // Monday 30 November 2026, 08:00: the week of Monday 23 to Sunday 29 November.
    assert_eq!(
        latest(WindowPeriod::Week, "2026-11-30T08:00:00+08:00"),
        (d("2026-11-23"), d("2026-11-29"))
    );
    assert_eq!(
        latest(WindowPeriod::Week, "2026-11-30T07:59:00+08:00"),
        (d("2026-11-16"), d("2026-11-22"))
    );
    // Sunday evening: still the week before last.
    assert_eq!(
        latest(WindowPeriod::Week, "2026-11-29T20:00:00+08:00"),
        (d("2026-11-16"), d("2026-11-22"))
    );
    // Saturday: still the week that ended on Sunday the 29th.
    assert_eq!(
        latest(WindowPeriod::Week, "2026-12-05T10:00:00+08:00"),
        (d("2026-11-23"), d("2026-11-29"))
    );
    // A Wednesday 09:30 schedule: the week of the 23rd falls due on Wednesday 2 December.
    let wed = Due {
        weekday: Weekday::Wed,
        at: NaiveTime::from_hms_opt(9, 30, 0).unwrap(),
        ..due(WindowPeriod::Week)
    };
    let week = Span::containing(WindowPeriod::Week, d("2026-11-25")).unwrap();
    assert_eq!(due_at(&wed, &week), Some(t("2026-12-02T09:30:00+08:00")));
}

#[test]
fn monthly_quarterly_and_annual_reports_fall_due_at_the_start_of_the_next_period() {
    assert_eq!(
        latest(WindowPeriod::Month, "2026-12-01T08:00:00+08:00"),
        (d("2026-11-01"), d("2026-11-30"))
    );
    assert_eq!(
        latest(WindowPeriod::Month, "2026-12-01T07:59:00+08:00"),
        (d("2026-10-01"), d("2026-10-31"))
    );
    // February of a common year ends on the 28th.
    assert_eq!(
        latest(WindowPeriod::Month, "2027-03-01T09:00:00+08:00"),
        (d("2027-02-01"), d("2027-02-28"))
    );
    assert_eq!(
        latest(WindowPeriod::Quarter, "2026-10-01T08:00:00+08:00"),
        (d("2026-07-01"), d("2026-09-30"))
    );
    assert_eq!(
        latest(WindowPeriod::Quarter, "2027-01-01T08:00:00+08:00"),
        (d("2026-10-01"), d("2026-12-31"))
    );
    // 23:59 UTC on New Year's Eve is 07:59 on 1 January in China: not yet.
    assert_eq!(
        latest(WindowPeriod::Quarter, "2026-12-31T23:59:00Z"),
        (d("2026-07-01"), d("2026-09-30"))
    );
    assert_eq!(
        latest(WindowPeriod::Year, "2027-01-01T08:00:00+08:00"),
        (d("2026-01-01"), d("2026-12-31"))
    );
    assert_eq!(
        latest(WindowPeriod::Year, "2026-12-31T23:59:00Z"),
        (d("2025-01-01"), d("2025-12-31"))
    );
    // The 5th of the month instead of the 1st.
    let fifth = Due {
        day: 5,
        ..due(WindowPeriod::Month)
    };
    let november = Span::containing(WindowPeriod::Month, d("2026-11-15")).unwrap();
    assert_eq!(
        due_at(&fifth, &november),
        Some(t("2026-12-05T08:00:00+08:00"))
    );
}

#[test]
fn the_next_run_is_the_first_due_time_after_now() {
    let all = ReportsConfig::default().validate().unwrap();
    // Sunday noon: Monday 08:00 (the day's and the week's report).
    assert_eq!(
        next_due(&all, t("2026-11-29T12:00:00+08:00")),
        Some(t("2026-11-30T08:00:00+08:00"))
    );
    // At a due time exactly: the next one.
    assert_eq!(
        next_due(&all, t("2026-11-30T08:00:00+08:00")),
        Some(t("2026-12-01T08:00:00+08:00"))
    );
    // Only the annual report enabled: next New Year's morning.
    let year = [due(WindowPeriod::Year)];
    assert_eq!(
        next_due(&year, t("2026-11-30T08:00:00+08:00")),
        Some(t("2027-01-01T08:00:00+08:00"))
    );
}

#[test]
fn a_run_rechecks_the_periods_that_ended_within_the_window() {
    let firsts = |period, now| {
        periods_to_check(&due(period), t(now))
            .into_iter()
            .map(|(s, _)| s.first_day)
            .collect::<Vec<_>>()
    };
    // Daily, 7 days: the 29th (just due) back to the 23rd, due 6 days ago; the 22nd fell
    // due exactly 7 days ago.
    let days = firsts(WindowPeriod::Day, "2026-11-30T08:00:00+08:00");
    assert_eq!(days.len(), 7, "{days:?}");
    assert_eq!(days[0], d("2026-11-29"));
    assert_eq!(days[6], d("2026-11-23"));
    // Weekly, 14 days: the weeks of the 23rd and the 16th; the 9th's fell due 14 days ago.
    assert_eq!(
        firsts(WindowPeriod::Week, "2026-11-30T08:00:00+08:00"),
        vec![d("2026-11-23"), d("2026-11-16")]
    );
    // Annual, 31 days: in December the 2025 report is no longer looked at.
    assert!(firsts(WindowPeriod::Year, "2026-12-01T08:00:00+08:00").is_empty());
    // A monthly report due on the 28th is looked at from then on, whatever recheck_days.
    let late = Due {
        day: 28,
        recheck_days: 1,
        ..due(WindowPeriod::Month)
    };
    let months = |now| {
        periods_to_check(&late, t(now))
            .into_iter()
            .map(|(s, _)| s.first_day)
            .collect::<Vec<_>>()
    };
    assert_eq!(months("2026-12-28T08:00:00+08:00"), vec![d("2026-11-01")]);
    assert!(months("2026-12-29T08:00:00+08:00").is_empty());
    assert_eq!(
        firsts(WindowPeriod::Year, "2027-01-20T08:00:00+08:00"),
        vec![d("2026-01-01")]
    );
}

/// The schedule over real SQLite files (an empty evaluation store, an alert store): a
/// report archived but never queued (a crash between the two) is queued at the next run and
/// not issued again; a second run queues nothing; the next day's run issues the next day.
#[test]
fn a_report_archived_but_not_queued_is_queued_once_and_runs_repeat_nothing() {
    use riverwatch_alerts::model::Channel;
    use riverwatch_core::time::ManualClock;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    let off = |s: &crate::config::PeriodSchedule| crate::config::PeriodSchedule {
        enabled: false,
        ..s.clone()
    };
    let defaults = ReportsConfig::default();
    let config = ReportsConfig {
        week: off(&defaults.week),
        month: off(&defaults.month),
        quarter: off(&defaults.quarter),
        year: off(&defaults.year),
        ..ReportsConfig::test_config()
    };
    let args = ScheduleArgs {
        config,
        lang: Lang::Zh,
        registry: Arc::new(Registry::builtin().unwrap()),
        analytics: AnalyticsConfig::default(),
        alerts: AlertsConfig::default(),
        data_dir: data.clone(),
        clock: Arc::new(ManualClock::new(t("2026-11-30T07:00:00+08:00"))),
    };
    drop(riverwatch_analytics::store::AnalyticsStore::open(&data.join("analytics.db")).unwrap());
    let alerts_db = data.join("alerts.db");
    drop(AlertStore::open(&alerts_db).unwrap());
    let dues = args.config.validate().unwrap();
    let scopes = scopes(&args);
    // The built-in routing: the zone, lalin, songhua, second-songhua.
    assert_eq!(scopes.len(), 4, "{scopes:?}");
    let first_start = t("2026-11-30T07:00:00+08:00");
    let at8 = t("2026-11-30T08:00:00+08:00");

    // A crash after archiving the Lalin report of the 29th, before queueing it.
    let unit = Unit {
        span: Span::containing(WindowPeriod::Day, d("2026-11-29")).unwrap(),
        river: Some("lalin".into()),
    };
    let ctx = RunContext::open(&args).unwrap();
    let report = ctx.assemble(&args, &unit, at8).unwrap();
    let mut archive = Archive::open(&args.archive_path()).unwrap();
    archive
        .insert(&NewEntry {
            period: WindowPeriod::Day,
            first_day: d("2026-11-29"),
            last_day: d("2026-11-29"),
            river: Some("lalin".into()),
            lang: Lang::Zh,
            revision: 0,
            digest: crate::json::digest(&report),
            file: data.join("lost.xlsx"),
            created_at: at8,
        })
        .unwrap();
    drop(ctx);

    let never = CancellationToken::new();
    let queued = || {
        AlertStore::open(&alerts_db)
            .unwrap()
            .due_notifications(Channel::Email, t("2026-12-31T00:00:00Z"), 100)
            .unwrap()
    };
    let run = run_once(&args, &dues, &scopes, first_start, at8, &never);
    assert_eq!(
        (run.issued, run.requeued, run.revised, run.failed),
        (3, 1, 0, 0),
        "{run:?}"
    );
    // Lalin: two offices; the zone two departments; Songhua two offices; Second Songhua one.
    assert_eq!(queued().len(), 7);
    let lalin = archive
        .latest(WindowPeriod::Day, d("2026-11-29"), Some("lalin"), Lang::Zh)
        .unwrap()
        .unwrap();
    assert_eq!(lalin.revision, 0);
    assert_eq!(lalin.queued_at, Some(at8));
    assert_eq!(lalin.recipients, 2);

    // The same morning again (a restart): nothing new.
    let again = run_once(
        &args,
        &dues,
        &scopes,
        first_start,
        t("2026-11-30T08:05:00+08:00"),
        &never,
    );
    assert_eq!((again.issued, again.unchanged, again.requeued), (0, 4, 0));
    assert_eq!(queued().len(), 7);

    // Tuesday: the 30th is issued, the 29th re-checked and unchanged, the 28th (due before
    // the first start) never issued.
    let tuesday = run_once(
        &args,
        &dues,
        &scopes,
        first_start,
        t("2026-12-01T08:00:00+08:00"),
        &never,
    );
    assert_eq!((tuesday.issued, tuesday.unchanged), (4, 4), "{tuesday:?}");
    assert_eq!(queued().len(), 14);
    assert!(
        archive
            .latest(WindowPeriod::Day, d("2026-11-28"), None, Lang::Zh)
            .unwrap()
            .is_none()
    );
    let (last, what) = archive.last_run().unwrap().unwrap();
    assert_eq!(last, t("2026-12-01T08:00:00+08:00"));
    assert!(what.contains("\"issued\":4"), "{what}");
}
