//! Backfill (补传): the hours a logger's hourly data (CN 2061) skipped are asked for again.
//!
//! Every hourly frame moves its station's latest hour forward. A frame more than an hour
//! after the latest one leaves a gap: the platform sends the logger, on the connection the
//! frame came on, a request for the missing hours (CN 2061, `CP=&&BeginTime=…;EndTime=…&&`,
//! times in China Standard Time, at most [`MAX_SPAN_HOURS`] back), and tracks the answer by
//! its `QN`: the logger's 9011 (`QnRtn=1` accepted, anything else refused), the hours it
//! sends, and its 9012 (`ExeRtn`). The history itself is ordinary data: decoded, validated,
//! de-duplicated and committed like any frame; analytics re-opens the closed windows late
//! readings fall in.
//!
//! The latest hour is kept in memory: after a restart of ingest, the first hour of each
//! station starts the watch again (a gap spanning the restart is not requested).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, Utc};
use riverwatch_core::StationId;
use riverwatch_core::hj212::{Flag, Frame, Version};
use tracing::{info, warn};

/// The longest gap requested, hours (a week); older history is not asked for.
pub const MAX_SPAN_HOURS: i64 = 24 * 7;

/// Where a backfill request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Sent; no answer yet.
    Sent,
    /// The logger answered 9011 `QnRtn=1`.
    Accepted,
    /// The logger answered 9011 with another `QnRtn`.
    Refused(u16),
    /// The logger sent its 9012 with this `ExeRtn` (1: success, 100: no data).
    Done(u16),
}

/// One request for missing hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The station asked.
    pub station: StationId,
    /// The request's QN.
    pub qn: String,
    /// First missing hour.
    pub begin: DateTime<Utc>,
    /// Last missing hour.
    pub end: DateTime<Utc>,
    /// Hourly frames received so far for hours in the range.
    pub hours_received: u32,
    /// Its state.
    pub state: State,
}

/// The stations' latest hours and the requests sent.
#[derive(Debug)]
pub struct Backfill {
    enabled: bool,
    latest: Mutex<HashMap<StationId, DateTime<Utc>>>,
    requests: Mutex<Vec<Request>>,
    last_qn: AtomicU64,
}

impl Backfill {
    /// Requests are sent when `enabled`; gaps are watched either way.
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            latest: Mutex::new(HashMap::new()),
            requests: Mutex::new(Vec::new()),
            last_qn: AtomicU64::new(0),
        }
    }

    /// An hourly frame of `station` for the hour `at` arrived: the missing hours before it
    /// (first, last), when its latest hour was more than an hour earlier and requests are
    /// enabled. Hours at or before the latest count towards open requests.
    pub fn observe_hour(
        &self,
        station: &StationId,
        at: DateTime<Utc>,
    ) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let previous = {
            let Ok(mut latest) = self.latest.lock() else {
                return None;
            };
            let entry = latest.entry(station.clone()).or_insert(at);
            let previous = *entry;
            if at > previous {
                *entry = at;
            }
            previous
        };
        if at <= previous {
            if let Ok(mut requests) = self.requests.lock() {
                for r in requests
                    .iter_mut()
                    .filter(|r| &r.station == station && (r.begin..=r.end).contains(&at))
                {
                    r.hours_received += 1;
                }
            }
            return None;
        }
        let first = previous + Duration::hours(1);
        let last = at - Duration::hours(1);
        if !self.enabled || first > last {
            return None;
        }
        let first = first.max(last - Duration::hours(MAX_SPAN_HOURS - 1));
        Some((first, last))
    }

    /// The request (CN 2061) for the hours `first..=last`, built after the logger's own
    /// data frame `like` (its ST, PW, MN and edition), recorded as sent.
    pub fn request(
        &self,
        station: &StationId,
        like: &Frame,
        first: DateTime<Utc>,
        last: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Frame {
        let qn = self.next_qn(now);
        let version = like.flag.version().unwrap_or(Version::Hj212_2017);
        let fmt = |t: DateTime<Utc>| {
            t.with_timezone(&riverwatch_core::time::cst())
                .format("%Y%m%d%H%M%S")
                .to_string()
        };
        let mut cp = format!("BeginTime={};EndTime={}", fmt(first), fmt(last));
        let header_qn = if version == Version::Hj212_2005 {
            cp = format!("QN={qn};{cp}");
            None
        } else {
            Some(qn.clone())
        };
        let frame = Frame {
            qn: header_qn,
            st: like.st.clone(),
            cn: "2061".to_string(),
            pw: like.pw.clone(),
            mn: like.mn.clone(),
            flag: Flag::new(version, true, false),
            pnum: None,
            pno: None,
            cp,
        };
        info!(station = %station, %qn, from = %first, to = %last, "Hourly data missing: asking the logger to send it again (补传).");
        if let Ok(mut requests) = self.requests.lock() {
            // Only the recent ones are kept.
            if requests.len() >= 10_000 {
                requests.remove(0);
            }
            requests.push(Request {
                station: station.clone(),
                qn,
                begin: first,
                end: last,
                hours_received: 0,
                state: State::Sent,
            });
        }
        frame
    }

    /// A 9011 or 9012 from a logger: the answer to one of the requests, matched by QN.
    /// Returns whether it matched one.
    pub fn answer(&self, frame: &Frame) -> bool {
        let fields: Vec<(&str, &str)> = frame
            .cp
            .split(';')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        let field = |k: &str| fields.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
        let Some(qn) = frame.qn.as_deref().or_else(|| field("QN")) else {
            return false;
        };
        let Ok(mut requests) = self.requests.lock() else {
            return false;
        };
        let Some(r) = requests.iter_mut().find(|r| r.qn == qn) else {
            return false;
        };
        let code = |k| field(k).and_then(|v| v.trim().parse::<u16>().ok());
        match frame.cn.as_str() {
            "9011" => match code("QnRtn") {
                Some(1) => r.state = State::Accepted,
                other => {
                    let c = other.unwrap_or(100);
                    warn!(station = %r.station, qn, qn_rtn = c, "The logger refused the request for missing hours.");
                    r.state = State::Refused(c);
                }
            },
            "9012" => {
                let c = code("ExeRtn").unwrap_or(100);
                info!(station = %r.station, qn, exe_rtn = c, hours = r.hours_received, "The logger finished sending the missing hours.");
                r.state = State::Done(c);
            }
            _ => return false,
        }
        true
    }

    /// The requests sent (the most recent 10 000), oldest first.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// A QN (`YYYYMMDDhhmmsszzz`, China Standard Time) not given before: the time of `now`,
    /// moved on by a millisecond when it would repeat one.
    fn next_qn(&self, now: DateTime<Utc>) -> String {
        let ms = u64::try_from(now.timestamp_millis()).unwrap_or(0);
        let mut prev = self.last_qn.load(Ordering::Relaxed);
        let ms = loop {
            let next = ms.max(prev + 1);
            match self
                .last_qn
                .compare_exchange(prev, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => break next,
                Err(p) => prev = p,
            }
        };
        let t = DateTime::<Utc>::from_timestamp_millis(i64::try_from(ms).unwrap_or(0))
            .unwrap_or(now)
            .with_timezone(&riverwatch_core::time::cst());
        t.format("%Y%m%d%H%M%S%3f").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn hour(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, h, 0, 0).unwrap()
    }

    fn like(version: Version) -> Frame {
        Frame {
            qn: Some("20260501090000000".into()),
            st: "32".into(),
            cn: "2061".into(),
            pw: "123456".into(),
            mn: "23018421000101".into(),
            flag: Flag::new(version, true, false),
            pnum: None,
            pno: None,
            cp: String::new(),
        }
    }

    #[test]
    fn a_skipped_hour_is_requested_with_cst_times_and_tracked() {
        let b = Backfill::new(true);
        let s = StationId::from("LLH-MPS");
        assert_eq!(b.observe_hour(&s, hour(1)), None);
        assert_eq!(b.observe_hour(&s, hour(2)), None);
        // 03:00 and 04:00 UTC are missing when 05:00 arrives.
        let gap = b.observe_hour(&s, hour(5)).unwrap();
        assert_eq!(gap, (hour(3), hour(4)));
        let req = b.request(&s, &like(Version::Hj212_2017), gap.0, gap.1, hour(5));
        // 03:00 UTC is 11:00 China Standard Time.
        assert_eq!(req.cp, "BeginTime=20260501110000;EndTime=20260501120000");
        assert_eq!(req.cn, "2061");
        assert_eq!(req.qn.as_deref(), Some("20260501130000000"));
        assert!(req.flag.ack_required());
        // The logger accepts, sends both hours (and a repeat), then finishes.
        let mut answer = like(Version::Hj212_2017);
        answer.cn = "9011".into();
        answer.qn = req.qn.clone();
        answer.cp = "QnRtn=1".into();
        assert!(b.answer(&answer));
        assert_eq!(b.requests()[0].state, State::Accepted);
        assert_eq!(b.observe_hour(&s, hour(3)), None);
        assert_eq!(b.observe_hour(&s, hour(4)), None);
        answer.cn = "9012".into();
        answer.cp = "ExeRtn=1".into();
        assert!(b.answer(&answer));
        let r = &b.requests()[0];
        assert_eq!((r.state, r.hours_received), (State::Done(1), 2));
        // An answer to nothing asked is not matched.
        answer.qn = Some("20200101000000000".into());
        assert!(!b.answer(&answer));
    }

    #[test]
    fn no_request_when_disabled_and_the_2005_edition_puts_qn_in_cp() {
        let off = Backfill::new(false);
        let s = StationId::from("LLH-MPS");
        off.observe_hour(&s, hour(1));
        assert_eq!(off.observe_hour(&s, hour(9)), None);
        let on = Backfill::new(true);
        let req = on.request(&s, &like(Version::Hj212_2005), hour(1), hour(1), hour(9));
        assert_eq!(req.qn, None);
        assert!(req.cp.starts_with("QN=20260501170000000;BeginTime="));
        // Two requests in the same millisecond get different QNs.
        let again = on.request(&s, &like(Version::Hj212_2005), hour(1), hour(1), hour(9));
        assert!(
            again.cp.starts_with("QN=20260501170000001;"),
            "{}",
            again.cp
        );
    }
}
