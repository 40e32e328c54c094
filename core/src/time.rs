//! Time: an injectable clock, China Standard Time for display, and the parsing of the
//! times and durations operators type on the command line. Everything is stored in UTC.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Utc};

/// China Standard Time, UTC+8 (no daylight saving). Evaluated at compile time.
pub const CST: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+8 is a valid offset"),
};

/// China Standard Time, UTC+8.
pub fn cst() -> FixedOffset {
    CST
}

/// Formats a UTC time as China Standard Time, `2026-11-22 08:00:00`.
pub fn fmt_cst(t: DateTime<Utc>) -> String {
    t.with_timezone(&cst())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// Formats a UTC time as China Standard Time to the minute, `2026-11-22 08:00`: the form of
/// event summaries and email lines.
pub fn fmt_cst_minutes(t: DateTime<Utc>) -> String {
    t.with_timezone(&cst()).format("%Y-%m-%d %H:%M").to_string()
}

/// Formats a UTC time as China Standard Time with the offset, RFC 3339.
pub fn rfc3339_cst(t: DateTime<Utc>) -> String {
    t.with_timezone(&cst()).to_rfc3339()
}

/// Interprets a local China Standard Time as UTC.
pub fn from_cst(local: NaiveDateTime) -> DateTime<Utc> {
    (local - chrono::Duration::hours(8)).and_utc()
}

/// The calendar date in China Standard Time of a UTC instant.
pub fn cst_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&cst()).date_naive()
}

/// A source of the current time, injectable so tests and simulators control it.
pub trait Clock: std::fmt::Debug + Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Sets the time.
    pub fn set(&self, t: DateTime<Utc>) {
        // std Mutex: held for an assignment only, never across an await.
        if let Ok(mut now) = self.now.lock() {
            *now = t;
        }
    }

    /// Moves the time forward.
    pub fn advance(&self, by: Duration) {
        if let Ok(mut now) = self.now.lock() {
            *now += chrono::Duration::from_std(by).unwrap_or(chrono::Duration::zero());
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.now
            .lock()
            .map(|t| *t)
            .unwrap_or_else(|e| *e.into_inner())
    }
}

/// Parses a time given by an operator: RFC 3339 with offset, epoch milliseconds, or a local
/// China Standard Time `YYYY-MM-DD[ HH:MM[:SS]]` / `YYYY-MM-DDTHH:MM[:SS]`.
///
/// # Errors
/// A message naming the accepted forms.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if s.len() >= 10
        && s.bytes().all(|b| b.is_ascii_digit())
        && let Some(t) = s
            .parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_millis)
    {
        return Ok(t);
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(local) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(from_cst(local));
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(from_cst(date.and_time(chrono::NaiveTime::MIN)));
    }
    Err(format!(
        "cannot read time `{s}`: use RFC 3339 (2026-11-22T08:00:00+08:00), epoch milliseconds, \
         or China Standard Time 2026-11-22 08:00"
    ))
}

/// Parses a duration such as `90s`, `15m`, `36h`, `7d`, `2w` or a bare number of seconds.
///
/// # Errors
/// A message naming the accepted units.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("cannot read duration `{s}`: use e.g. 90s, 15m, 36h, 7d, 2w"))?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86_400.0,
        "w" => n * 7.0 * 86_400.0,
        other => {
            return Err(format!(
                "unknown duration unit `{other}` in `{s}` (s, m, h, d, w)"
            ));
        }
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("duration `{s}` is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn cst_is_utc_plus_eight() {
        let t = Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap();
        assert_eq!(fmt_cst(t), "2026-11-22 08:00:00");
        assert_eq!(rfc3339_cst(t), "2026-11-22T08:00:00+08:00");
        let late = Utc.with_ymd_and_hms(2026, 11, 21, 16, 30, 0).unwrap();
        assert_eq!(
            cst_date(late),
            NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
        );
    }

    #[test]
    fn parses_operator_times() {
        let want = Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap();
        assert_eq!(parse_time("2026-11-22T08:00:00+08:00"), Ok(want));
        assert_eq!(parse_time("2026-11-22T00:00:00Z"), Ok(want));
        assert_eq!(parse_time("2026-11-22 08:00"), Ok(want));
        assert_eq!(parse_time("2026-11-22T08:00:00"), Ok(want));
        assert_eq!(parse_time(&want.timestamp_millis().to_string()), Ok(want));
        assert_eq!(
            parse_time("2026-11-22"),
            Ok(Utc.with_ymd_and_hms(2026, 11, 21, 16, 0, 0).unwrap())
        );
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("36h"), Ok(Duration::from_secs(36 * 3600)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("120"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("3 fortnights").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::from_secs(60));
        assert_eq!(clock.now(), start + chrono::Duration::seconds(60));
    }
}
