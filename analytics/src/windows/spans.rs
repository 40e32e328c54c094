//! Weeks, quarters and years: the periods of reports that the engine does not store.
//!
//! A [`Span`] is a run of whole CST days (a day, an ISO week from Monday, a calendar month,
//! quarter or year). [`evaluate_span`] evaluates a station over a span from its **stored daily
//! evaluations**, the way a month is evaluated from its days: each parameter's mean is the
//! mean of the daily means, the valid readings are the days' valid readings summed, the
//! expected readings the expected per day × parameters × days of the span (days without any
//! evaluation count as empty days), and the class, deciding items, main pollutants and
//! compliance follow from the means by the same code as every other window. So a quarterly
//! report shows exactly what the stored days say, and a month evaluated as a span agrees with
//! the stored month.

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, Utc, Weekday};
use riverwatch_core::events::WindowPeriod;
use riverwatch_core::registry::Station;

use super::frame::Mean;
use super::{Context, evaluation, expected_per_day};
use crate::model::WindowEvaluation;

/// A run of whole CST days of one reporting period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    /// Day, week, month, quarter or year.
    pub period: WindowPeriod,
    /// Its first CST day.
    pub first_day: NaiveDate,
    /// The day after its last.
    pub end_day: NaiveDate,
}

impl Span {
    /// The span of `period` that contains `date`; `None` for [`WindowPeriod::Hour`] (not a
    /// run of days) or a date at the end of the calendar.
    pub fn containing(period: WindowPeriod, date: NaiveDate) -> Option<Self> {
        let first_day = match period {
            WindowPeriod::Hour => return None,
            WindowPeriod::Day => date,
            WindowPeriod::Week => date.week(Weekday::Mon).first_day(),
            WindowPeriod::Month => date.with_day(1)?,
            WindowPeriod::Quarter => {
                NaiveDate::from_ymd_opt(date.year(), date.month0() / 3 * 3 + 1, 1)?
            }
            WindowPeriod::Year => NaiveDate::from_ymd_opt(date.year(), 1, 1)?,
        };
        let end_day = Self::advance(period, first_day, 1)?;
        Some(Self {
            period,
            first_day,
            end_day,
        })
    }

    fn advance(period: WindowPeriod, day: NaiveDate, n: u32) -> Option<NaiveDate> {
        match period {
            WindowPeriod::Hour => None,
            WindowPeriod::Day => day.checked_add_signed(Duration::days(i64::from(n))),
            WindowPeriod::Week => day.checked_add_signed(Duration::weeks(i64::from(n))),
            WindowPeriod::Month => day.checked_add_months(Months::new(n)),
            WindowPeriod::Quarter => day.checked_add_months(Months::new(3 * n)),
            WindowPeriod::Year => day.checked_add_months(Months::new(12 * n)),
        }
    }

    /// The span before this one (环比).
    pub fn previous(&self) -> Option<Self> {
        Self::containing(self.period, self.first_day.pred_opt()?)
    }

    /// The same span a year earlier (同比): the same dates for days, months, quarters and
    /// years; the same ISO week number for weeks (the nearest when the year has none).
    pub fn year_before(&self) -> Option<Self> {
        let date = match self.period {
            WindowPeriod::Week => self.first_day.checked_sub_signed(Duration::weeks(52))?,
            _ => self.first_day.checked_sub_months(Months::new(12))?,
        };
        Self::containing(self.period, date)
    }

    /// Number of days.
    pub fn days(&self) -> u32 {
        u32::try_from((self.end_day - self.first_day).num_days()).unwrap_or(0)
    }

    /// Start, UTC (00:00 UTC+8 of the first day).
    pub fn start(&self) -> DateTime<Utc> {
        crate::describe::day_start(self.first_day)
    }

    /// End, UTC (exclusive).
    pub fn end(&self) -> DateTime<Utc> {
        crate::describe::day_start(self.end_day)
    }
}

/// The evaluation of `station` over `span` from its daily evaluations (any order, any
/// revisions: the latest revision of each day inside the span counts, other windows are
/// ignored).
pub fn evaluate_span(
    ctx: &Context<'_>,
    station: &Station,
    span: &Span,
    daily: &[WindowEvaluation],
) -> WindowEvaluation {
    let (start, end) = (span.start(), span.end());
    let mut days: Vec<&WindowEvaluation> = Vec::new();
    for e in daily.iter().filter(|e| {
        e.station == station.id.as_str()
            && e.period == WindowPeriod::Day
            && e.start >= start
            && e.start < end
    }) {
        match days.iter_mut().find(|d| d.start == e.start) {
            Some(d) if d.revision < e.revision => *d = e,
            Some(_) => {}
            None => days.push(e),
        }
    }
    let means: Vec<(&str, Mean)> = station
        .parameters
        .iter()
        .filter_map(|code| {
            let values: Vec<f64> = days
                .iter()
                .filter_map(|d| d.parameters.iter().find(|p| &p.code == code))
                .map(|p| p.mean)
                .collect();
            if values.is_empty() {
                return None;
            }
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            // As a month's: the number of daily means averaged.
            let count = u32::try_from(values.len()).unwrap_or(u32::MAX);
            Some((code.as_str(), Mean { mean, count }))
        })
        .collect();
    let valid = days.iter().map(|d| d.valid_readings).sum();
    let expected = expected_per_day(ctx, station)
        .saturating_mul(station.parameters.len() as u32)
        .saturating_mul(span.days());
    evaluation(ctx, station, span.period, start, &means, valid, expected)
}
