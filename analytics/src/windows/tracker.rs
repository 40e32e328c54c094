//! When windows close, on observation time.
//!
//! Each station has a [`Cursor`]: every hour before `closed_through` is closed. A reading
//! observed at `t` (in order) closes the hours before `t`'s hour, and with them every CST
//! day and month that ended; the service can also close a silent station's day
//! ([`Cursor::close_through`]). Nothing here looks at the wall clock, so a fast replay closes
//! the same windows in the same order as a real-time run.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::frame::{date_of_day, day_of_date, day_of_hour, hour_index, hour_start};

/// A CST month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Month {
    /// Year.
    pub year: i32,
    /// Month 1–12.
    pub month: u32,
}

impl Month {
    /// The month of a CST date.
    pub fn of(date: NaiveDate) -> Self {
        Self {
            year: date.year(),
            month: date.month(),
        }
    }

    /// Its first day.
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }

    /// The next month.
    pub fn next(self) -> Self {
        if self.month >= 12 {
            Self {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Self {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// Start (UTC) of the month.
    pub fn start(self) -> DateTime<Utc> {
        crate::describe::day_start(self.first_day())
    }

    /// End (UTC, exclusive).
    pub fn end(self) -> DateTime<Utc> {
        self.next().start()
    }

    /// Number of days.
    pub fn days(self) -> u32 {
        u32::try_from((self.next().first_day() - self.first_day()).num_days()).unwrap_or(0)
    }
}

/// Windows that closed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Closed {
    /// Closed hours `[from, to)`, if any.
    pub hours: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Closed CST days.
    pub days: Vec<NaiveDate>,
    /// Closed CST months.
    pub months: Vec<Month>,
}

impl Closed {
    /// Whether nothing closed.
    pub fn is_empty(&self) -> bool {
        self.hours.is_none() && self.days.is_empty() && self.months.is_empty()
    }
}

/// How far a station's windows are closed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Every hour before this is closed (an hour boundary).
    pub closed_through: Option<DateTime<Utc>>,
}

impl Cursor {
    /// Whether the window holding `t` is closed.
    pub fn is_closed(&self, t: DateTime<Utc>) -> bool {
        self.closed_through.is_some_and(|c| t < c)
    }

    /// Opens a station's first window at the hour of `first`, its earliest reading, if no
    /// window is open yet. A station's first step may carry days of readings (a backlog
    /// after a restart, or a burst); opening at the earliest of them, not at the newest,
    /// lets the windows they span close instead of being skipped.
    pub fn open(&mut self, first: DateTime<Utc>) {
        if self.closed_through.is_none() {
            self.closed_through = Some(hour_start(hour_index(first)));
        }
    }

    /// A reading observed at `t`: closes the hours before its hour. The first reading of a
    /// station opens its first hour and closes nothing.
    pub fn observe(&mut self, t: DateTime<Utc>) -> Closed {
        let h = hour_start(hour_index(t));
        match self.closed_through {
            None => {
                self.closed_through = Some(h);
                Closed::default()
            }
            Some(_) => self.close_through(h),
        }
    }

    /// Closes every window ending at or before `to` (rounded down to an hour).
    pub fn close_through(&mut self, to: DateTime<Utc>) -> Closed {
        let to = hour_start(hour_index(to));
        let Some(from) = self.closed_through else {
            self.closed_through = Some(to);
            return Closed::default();
        };
        if to <= from {
            return Closed::default();
        }
        self.closed_through = Some(to);
        let mut closed = Closed {
            hours: Some((from, to)),
            ..Closed::default()
        };
        // Days whose end lies in (from, to].
        let first = day_of_hour(hour_index(from));
        let last = day_of_hour(hour_index(to));
        for d in first..last {
            let end = crate::describe::day_start(date_of_day(d + 1));
            if end > from && end <= to {
                closed.days.push(date_of_day(d));
            }
        }
        let mut m = Month::of(date_of_day(first));
        while m.end() <= to {
            if m.end() > from {
                closed.months.push(m);
            }
            m = m.next();
        }
        closed
    }

    /// The end of the CST day holding `t`.
    pub fn end_of_day(t: DateTime<Utc>) -> DateTime<Utc> {
        let d = day_of_hour(hour_index(t));
        crate::describe::day_start(date_of_day(d + 1))
    }
}

/// The day index helpers re-exported for the engine.
pub fn day_index(date: NaiveDate) -> i32 {
    day_of_date(date)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at_cst(m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, m, d, h, 0, 0).unwrap() - chrono::Duration::hours(8)
    }

    #[test]
    fn readings_close_hours_days_and_months_in_observation_time() {
        let mut c = Cursor::default();
        assert!(c.observe(at_cst(9, 29, 0)).is_empty());
        let closed = c.observe(at_cst(9, 29, 4));
        assert_eq!(closed.hours, Some((at_cst(9, 29, 0), at_cst(9, 29, 4))));
        assert!(closed.days.is_empty());
        let closed = c.observe(at_cst(10, 1, 4));
        assert_eq!(
            closed.days,
            vec![
                NaiveDate::from_ymd_opt(2026, 9, 29).unwrap(),
                NaiveDate::from_ymd_opt(2026, 9, 30).unwrap()
            ]
        );
        assert_eq!(
            closed.months,
            vec![Month {
                year: 2026,
                month: 9
            }]
        );
        assert!(c.is_closed(at_cst(10, 1, 3)));
        assert!(!c.is_closed(at_cst(10, 1, 4)));
        // A reading in the same hour closes nothing more.
        assert!(
            c.observe(at_cst(10, 1, 4) + chrono::Duration::minutes(30))
                .is_empty()
        );
    }

    #[test]
    fn a_first_step_spanning_days_closes_the_days_it_spans() {
        let mut c = Cursor::default();
        c.open(at_cst(9, 7, 0));
        // The newest reading of the first step is already on the next day.
        let closed = c.observe(at_cst(9, 8, 4));
        assert_eq!(
            closed.days,
            vec![NaiveDate::from_ymd_opt(2026, 9, 7).unwrap()]
        );
        assert_eq!(closed.hours, Some((at_cst(9, 7, 0), at_cst(9, 8, 4))));
        // Opening again changes nothing once a window is open.
        c.open(at_cst(9, 1, 0));
        assert_eq!(c.closed_through, Some(at_cst(9, 8, 4)));
    }

    #[test]
    fn closing_a_silent_station_through_the_end_of_its_day() {
        let mut c = Cursor::default();
        c.observe(at_cst(9, 10, 20));
        let end = Cursor::end_of_day(at_cst(9, 10, 20));
        assert_eq!(end, at_cst(9, 11, 0));
        let closed = c.close_through(end);
        assert_eq!(
            closed.days,
            vec![NaiveDate::from_ymd_opt(2026, 9, 10).unwrap()]
        );
        assert!(c.close_through(end).is_empty());
    }

    #[test]
    fn months_know_their_days() {
        assert_eq!(
            Month {
                year: 2026,
                month: 2
            }
            .days(),
            28
        );
        assert_eq!(
            Month {
                year: 2024,
                month: 2
            }
            .days(),
            29
        );
        assert_eq!(
            Month {
                year: 2026,
                month: 12
            }
            .next(),
            Month {
                year: 2027,
                month: 1
            }
        );
    }
}
