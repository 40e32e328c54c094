//! The polars part of the window jobs: readings → a DataFrame → hourly, daily and monthly
//! means and counts per station and parameter.
//!
//! The frame holds only valid readings (flags N and S; daily means from data loggers are
//! left out, the windows make their own). Keys are small integers computed once per
//! reading: station and parameter indexes, the clock hour, the CST day and the CST month.
//!
//! - hourly mean: mean of the readings of the hour;
//! - daily mean: mean of the day's **hourly means** (each hour weighs the same, so the
//!   hourly emergency sampling during an incident does not outweigh the rest of the day);
//!   its count is the number of hours with data;
//! - monthly mean: mean of the month's daily means (each day weighs the same); its count is
//!   the number of days with data;
//! - raw daily counts (valid readings per parameter and day) for the valid-data rate.
//!
//! The aggregations use polars' eager `GroupBy` (`mean`, `count`). polars marks the eager
//! `mean` deprecated in favour of its lazy engine; the lazy engine would add polars-lazy,
//! -plan, -expr and -mem-engine (about 150 000 lines) to every build of the workspace on
//! our two-core CI, for the same kernels, so this module allows the deprecation.
#![allow(deprecated)]

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use polars::prelude::*;

use super::WindowError;

/// Seconds in an hour.
const HOUR_SECS: i64 = 3600;
/// CST offset, hours.
const CST_HOURS: i64 = 8;

/// The clock hour of a time, as hours since the epoch.
pub fn hour_index(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(HOUR_SECS)
}

/// The start of an hour index.
pub fn hour_start(h: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(h * HOUR_SECS, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The CST day of an hour index, as days since 1970-01-01 (CST).
pub fn day_of_hour(h: i64) -> i32 {
    (h + CST_HOURS).div_euclid(24) as i32
}

/// The CST date of a day index.
pub fn date_of_day(d: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(d + EPOCH_CE).unwrap_or(NaiveDate::MIN)
}

/// The day index of a CST date.
pub fn day_of_date(date: NaiveDate) -> i32 {
    date.num_days_from_ce() - EPOCH_CE
}

/// 1970-01-01 in days from the common era.
const EPOCH_CE: i32 = 719_163;

/// The month index (year × 12 + month − 1) of a CST date.
pub fn month_of_date(date: NaiveDate) -> i32 {
    date.year() * 12 + date.month0() as i32
}

/// One valid reading reduced to keys and a value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// Station index.
    pub station: u32,
    /// Parameter index.
    pub param: u32,
    /// Observation time.
    pub at: DateTime<Utc>,
    /// Value.
    pub value: f64,
}

/// A mean and the number of values behind it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mean {
    /// The mean.
    pub mean: f64,
    /// Values averaged.
    pub count: u32,
}

/// What the aggregations give, keyed by (station, parameter, bucket).
#[derive(Debug, Clone, Default)]
pub struct Aggregates {
    /// Hourly means (only for the stations asked for).
    pub hourly: HashMap<(u32, u32, i64), Mean>,
    /// Daily means of hourly means; count = hours with data.
    pub daily: HashMap<(u32, u32, i32), Mean>,
    /// Valid readings per day.
    pub daily_readings: HashMap<(u32, u32, i32), u32>,
    /// Monthly means of daily means; count = days with data.
    pub monthly: HashMap<(u32, u32, i32), Mean>,
}

/// A polars row count as `u32` (`IdxSize` is `u32` unless polars is built with `bigidx`).
#[allow(clippy::useless_conversion)]
fn idx_u32(c: IdxSize) -> u32 {
    u32::try_from(c).unwrap_or(u32::MAX)
}

fn col<'a>(df: &'a DataFrame, name: &str) -> Result<&'a Column, WindowError> {
    Ok(df.column(name)?)
}

fn means_and_counts(
    df: &DataFrame,
    keys: &[&str],
    value: &str,
) -> Result<(DataFrame, DataFrame), WindowError> {
    let g = df.group_by(keys)?.select([value]);
    Ok((g.mean()?, g.count()?))
}

/// Runs the aggregations. `hourly_for[station]` says whether the hourly means of that
/// station are wanted in the output (they are always computed). `cancelled` is checked
/// between stages.
pub fn aggregate(
    rows: &[Row],
    hourly_for: &[bool],
    cancelled: &dyn Fn() -> bool,
) -> Result<Aggregates, WindowError> {
    let mut out = Aggregates::default();
    if rows.is_empty() {
        return Ok(out);
    }
    let n = rows.len();
    let mut st = Vec::with_capacity(n);
    let mut pa = Vec::with_capacity(n);
    let mut hour = Vec::with_capacity(n);
    let mut day = Vec::with_capacity(n);
    let mut month = Vec::with_capacity(n);
    let mut value = Vec::with_capacity(n);
    let mut last_day = i32::MIN;
    let mut last_month = 0;
    for r in rows {
        let h = hour_index(r.at);
        let d = day_of_hour(h);
        if d != last_day {
            last_day = d;
            last_month = month_of_date(date_of_day(d));
        }
        st.push(r.station);
        pa.push(r.param);
        hour.push(h);
        day.push(d);
        month.push(last_month);
        value.push(r.value);
    }
    let raw = DataFrame::new(
        n,
        vec![
            Column::new("st".into(), st),
            Column::new("p".into(), pa),
            Column::new("hour".into(), hour),
            Column::new("day".into(), day),
            Column::new("month".into(), month),
            Column::new("value".into(), value),
        ],
    )?;
    if cancelled() {
        return Err(WindowError::Cancelled);
    }

    // Valid readings per day, for the valid-data rate.
    let counts = raw
        .group_by(["st", "p", "day"])?
        .select(["value"])
        .count()?;
    {
        let (s, p, d, c) = (
            col(&counts, "st")?.u32()?,
            col(&counts, "p")?.u32()?,
            col(&counts, "day")?.i32()?,
            col(&counts, "value_count")?.idx()?,
        );
        for (((s, p), d), c) in s.iter().zip(p.iter()).zip(d.iter()).zip(c.iter()) {
            if let (Some(s), Some(p), Some(d), Some(c)) = (s, p, d, c) {
                out.daily_readings.insert((s, p, d), idx_u32(c));
            }
        }
    }
    if cancelled() {
        return Err(WindowError::Cancelled);
    }

    // Hourly means.
    let (mut hourly, hourly_n) =
        means_and_counts(&raw, &["st", "p", "hour", "day", "month"], "value")?;
    hourly.rename("value_mean", "value".into())?;
    {
        let (s, p, h, m, c) = (
            col(&hourly, "st")?.u32()?,
            col(&hourly, "p")?.u32()?,
            col(&hourly, "hour")?.i64()?,
            col(&hourly, "value")?.f64()?,
            col(&hourly_n, "value_count")?.idx()?,
        );
        for ((((s, p), h), m), c) in s
            .iter()
            .zip(p.iter())
            .zip(h.iter())
            .zip(m.iter())
            .zip(c.iter())
        {
            if let (Some(s), Some(p), Some(h), Some(m), Some(c)) = (s, p, h, m, c)
                && hourly_for.get(s as usize).copied().unwrap_or(false)
            {
                out.hourly.insert(
                    (s, p, h),
                    Mean {
                        mean: m,
                        count: idx_u32(c),
                    },
                );
            }
        }
    }
    if cancelled() {
        return Err(WindowError::Cancelled);
    }

    // Daily means of the hourly means.
    let (mut daily, daily_n) = means_and_counts(&hourly, &["st", "p", "day", "month"], "value")?;
    daily.rename("value_mean", "value".into())?;
    {
        let (s, p, d, m, c) = (
            col(&daily, "st")?.u32()?,
            col(&daily, "p")?.u32()?,
            col(&daily, "day")?.i32()?,
            col(&daily, "value")?.f64()?,
            col(&daily_n, "value_count")?.idx()?,
        );
        for ((((s, p), d), m), c) in s
            .iter()
            .zip(p.iter())
            .zip(d.iter())
            .zip(m.iter())
            .zip(c.iter())
        {
            if let (Some(s), Some(p), Some(d), Some(m), Some(c)) = (s, p, d, m, c) {
                out.daily.insert(
                    (s, p, d),
                    Mean {
                        mean: m,
                        count: idx_u32(c),
                    },
                );
            }
        }
    }
    if cancelled() {
        return Err(WindowError::Cancelled);
    }

    // Monthly means of the daily means.
    let (monthly, monthly_n) = means_and_counts(&daily, &["st", "p", "month"], "value")?;
    {
        let (s, p, mo, m, c) = (
            col(&monthly, "st")?.u32()?,
            col(&monthly, "p")?.u32()?,
            col(&monthly, "month")?.i32()?,
            col(&monthly, "value_mean")?.f64()?,
            col(&monthly_n, "value_count")?.idx()?,
        );
        for ((((s, p), mo), m), c) in s
            .iter()
            .zip(p.iter())
            .zip(mo.iter())
            .zip(m.iter())
            .zip(c.iter())
        {
            if let (Some(s), Some(p), Some(mo), Some(m), Some(c)) = (s, p, mo, m, c) {
                out.monthly.insert(
                    (s, p, mo),
                    Mean {
                        mean: m,
                        count: idx_u32(c),
                    },
                );
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        // CST time → UTC.
        Utc.with_ymd_and_hms(2026, 9, d, h, m, 0).unwrap() - chrono::Duration::hours(8)
    }

    #[test]
    fn days_and_months_are_cst() {
        let h = hour_index(at(10, 0, 0));
        assert_eq!(
            date_of_day(day_of_hour(h)),
            NaiveDate::from_ymd_opt(2026, 9, 10).unwrap()
        );
        let h = hour_index(at(9, 23, 59));
        assert_eq!(
            date_of_day(day_of_hour(h)),
            NaiveDate::from_ymd_opt(2026, 9, 9).unwrap()
        );
        let d = NaiveDate::from_ymd_opt(2026, 9, 1).unwrap();
        assert_eq!(date_of_day(day_of_date(d)), d);
        assert_eq!(month_of_date(d), 2026 * 12 + 8);
    }

    #[test]
    fn daily_means_weigh_hours_equally_and_monthly_means_days() {
        let rows = vec![
            // 10th: hour 00 has two readings (mean 2), hour 04 one (4) → daily 3.
            Row {
                station: 0,
                param: 0,
                at: at(10, 0, 0),
                value: 1.0,
            },
            Row {
                station: 0,
                param: 0,
                at: at(10, 0, 30),
                value: 3.0,
            },
            Row {
                station: 0,
                param: 0,
                at: at(10, 4, 0),
                value: 4.0,
            },
            // 11th: 7 → month mean (3 + 7) / 2 = 5.
            Row {
                station: 0,
                param: 0,
                at: at(11, 8, 0),
                value: 7.0,
            },
        ];
        let a = aggregate(&rows, &[true], &|| false).unwrap();
        let d10 = day_of_date(NaiveDate::from_ymd_opt(2026, 9, 10).unwrap());
        assert_eq!(
            a.daily[&(0, 0, d10)],
            Mean {
                mean: 3.0,
                count: 2
            }
        );
        assert_eq!(a.daily_readings[&(0, 0, d10)], 3);
        let m = month_of_date(NaiveDate::from_ymd_opt(2026, 9, 10).unwrap());
        assert_eq!(
            a.monthly[&(0, 0, m)],
            Mean {
                mean: 5.0,
                count: 2
            }
        );
        assert_eq!(
            a.hourly[&(0, 0, hour_index(at(10, 0, 0)))],
            Mean {
                mean: 2.0,
                count: 2
            }
        );
        assert!(matches!(
            aggregate(&rows, &[true], &|| true),
            Err(WindowError::Cancelled)
        ));
        let none = aggregate(&rows, &[false], &|| false).unwrap();
        assert!(none.hourly.is_empty());
    }
}
