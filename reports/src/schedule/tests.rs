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
    // Daily, 7 days: the 29th (just due) back to the 23rd, which ended 6 days 8 hours ago.
    let days = firsts(WindowPeriod::Day, "2026-11-30T08:00:00+08:00");
    assert_eq!(days.len(), 7, "{days:?}");
    assert_eq!(days[0], d("2026-11-29"));
    assert_eq!(days[6], d("2026-11-23"));
    // Weekly, 14 days: the weeks of the 23rd and the 16th; the 9th's ended 14 days ago.
    assert_eq!(
        firsts(WindowPeriod::Week, "2026-11-30T08:00:00+08:00"),
        vec![d("2026-11-23"), d("2026-11-16")]
    );
    // Annual, 31 days: in December the 2025 report is no longer looked at.
    assert!(firsts(WindowPeriod::Year, "2026-12-01T08:00:00+08:00").is_empty());
    assert_eq!(
        firsts(WindowPeriod::Year, "2027-01-20T08:00:00+08:00"),
        vec![d("2026-01-01")]
    );
}
