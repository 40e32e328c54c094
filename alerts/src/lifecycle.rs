//! The alert lifecycle, a pure state machine: an evaluation event and the alert currently
//! open for its fingerprint give the next alert state. No I/O, no clock of its own: the
//! caller passes the wall-clock time it records, and decisions use *event* time
//! (`observed_at`), so a late or redelivered event never reopens or reorders an alert.
//!
//! - A duplicate event id (redelivery) changes nothing.
//! - `Firing` with no open alert opens one; with an open alert it updates values (when not
//!   older than what the alert holds) and reports whether the severity rose.
//! - `Resolved` ends the open alert; with none open it is ignored.
//! - A `Firing` event observed before the fingerprint's last resolution is stale.
//! - `Changed` makes a one-off notice.

use chrono::{DateTime, Utc};
use riverwatch_core::Registry;
use riverwatch_core::events::{Event, EventStatus, REGION};
use sha2::{Digest, Sha256};

use crate::model::{Alert, AlertStatus, Place};

/// What applying an event did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The event id was applied before (redelivery): nothing changes.
    Duplicate,
    /// The event is older than what is known (e.g. firing before the last resolution).
    Stale(&'static str),
    /// A `Resolved` event without an open alert.
    Ignored(&'static str),
    /// A new alert.
    Opened(Alert),
    /// The open alert got new values; `severity_rose` asks for a new notification.
    Updated {
        /// The alert after the event.
        alert: Alert,
        /// The severity is higher than before.
        severity_rose: bool,
    },
    /// The alert ended.
    Resolved(Alert),
    /// A one-off informational notice.
    Notice(Alert),
}

impl Outcome {
    /// The alert the outcome produced, if any.
    pub fn alert(&self) -> Option<&Alert> {
        match self {
            Outcome::Opened(a)
            | Outcome::Updated { alert: a, .. }
            | Outcome::Resolved(a)
            | Outcome::Notice(a) => Some(a),
            _ => None,
        }
    }

    /// Stable name for logs and the audit trail.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Duplicate => "duplicate",
            Outcome::Stale(_) => "stale",
            Outcome::Ignored(_) => "ignored",
            Outcome::Opened(_) => "alert_opened",
            Outcome::Updated { .. } => "alert_updated",
            Outcome::Resolved(_) => "alert_resolved",
            Outcome::Notice(_) => "notice",
        }
    }
}

/// What the lifecycle knows about a fingerprint before the event.
#[derive(Debug, Clone, Copy, Default)]
pub struct Known<'a> {
    /// The event id was applied before.
    pub duplicate: bool,
    /// The fingerprint's open (firing) alert.
    pub open: Option<&'a Alert>,
    /// Event time of the fingerprint's last resolution.
    pub last_resolved_at: Option<DateTime<Utc>>,
}

/// A stable alert id: 12 hex digits of SHA-256 over the fingerprint and the id of the event
/// that opened the alert (so a redelivered opening event names the same alert).
pub fn alert_id(fingerprint: &str, opening_event: &str) -> String {
    let digest = Sha256::digest(format!("{fingerprint}|{opening_event}").as_bytes());
    hex(&digest[..6])
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Applies one event.
pub fn apply(known: Known<'_>, event: &Event, registry: &Registry, now: DateTime<Utc>) -> Outcome {
    if known.duplicate {
        return Outcome::Duplicate;
    }
    match event.status {
        EventStatus::Changed => {
            Outcome::Notice(new_alert(event, registry, now, AlertStatus::Notice))
        }
        EventStatus::Firing => match known.open {
            None => {
                if known
                    .last_resolved_at
                    .is_some_and(|resolved| event.observed_at <= resolved)
                {
                    return Outcome::Stale("firing event observed before the last resolution");
                }
                Outcome::Opened(new_alert(event, registry, now, AlertStatus::Firing))
            }
            Some(open) => {
                let mut alert = open.clone();
                alert.event_count = alert.event_count.saturating_add(1);
                alert.updated_at = now;
                alert.version += 1;
                alert.first_seen = alert.first_seen.min(event.observed_at);
                let mut severity_rose = false;
                if event.observed_at >= alert.last_seen {
                    severity_rose = event.severity > alert.severity;
                    alert.last_seen = event.observed_at;
                    alert.severity = event.severity;
                    alert.provinces = merged_provinces(&alert, event);
                    alert.cross_border |= event.cross_border;
                    alert.event = event.clone();
                }
                Outcome::Updated {
                    alert,
                    severity_rose,
                }
            }
        },
        EventStatus::Resolved => match known.open {
            None => Outcome::Ignored("resolved event without a firing alert"),
            Some(open) if event.observed_at < open.first_seen => {
                Outcome::Stale("resolved event observed before the alert began")
            }
            Some(open) => {
                let mut alert = open.clone();
                alert.status = AlertStatus::Resolved;
                alert.resolved_at = Some(event.observed_at);
                alert.last_seen = alert.last_seen.max(event.observed_at);
                alert.updated_at = now;
                alert.event_count = alert.event_count.saturating_add(1);
                alert.version += 1;
                alert.resolution = Some(event.clone());
                Outcome::Resolved(alert)
            }
        },
    }
}

fn merged_provinces(alert: &Alert, event: &Event) -> Vec<riverwatch_core::Province> {
    let mut all = alert.provinces.clone();
    for p in &event.provinces {
        if !all.contains(p) {
            all.push(*p);
        }
    }
    all.sort();
    all
}

fn new_alert(event: &Event, registry: &Registry, now: DateTime<Utc>, status: AlertStatus) -> Alert {
    let fingerprint = event.fingerprint();
    let place = Place::of(registry, &event.subject);
    let owner = match &place {
        Some(p) => Some(p.province),
        None if event.provinces.len() == 1 => event.provinces.first().copied(),
        None => None,
    };
    let cross_border =
        event.cross_border || event.subject == REGION || place.as_ref().is_some_and(|p| p.boundary);
    let mut provinces = if cross_border {
        riverwatch_core::Province::ALL.to_vec()
    } else {
        event.provinces.clone()
    };
    if let Some(o) = owner
        && !provinces.contains(&o)
    {
        provinces.push(o);
    }
    provinces.sort();
    provinces.dedup();
    Alert {
        id: alert_id(&fingerprint, &event.id),
        fingerprint,
        rule: event.rule,
        subject: event.subject.clone(),
        parameter: event.parameter.clone(),
        status,
        severity: event.severity,
        provinces,
        cross_border,
        owner,
        place,
        first_seen: event.observed_at,
        last_seen: event.observed_at,
        resolved_at: None,
        opened_at: now,
        updated_at: now,
        event_count: 1,
        event: event.clone(),
        resolution: None,
        inhibited_by: None,
        inhibition: None,
        attached_when_resolved: Vec::new(),
        escalation: Vec::new(),
        muted_by: Vec::new(),
        version: 1,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use riverwatch_core::Province;
    use riverwatch_core::class::WaterClass;
    use riverwatch_core::events::{Rule, Severity};

    pub(crate) fn t(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap() + chrono::Duration::minutes(min)
    }

    pub(crate) fn event(
        id: &str,
        status: EventStatus,
        subject: &str,
        param: &str,
        min: i64,
    ) -> Event {
        let mut e = riverwatch_testkit::base_event(
            id,
            Rule::ParameterExceedance,
            status,
            Severity::Warning,
            subject,
            &[Province::Jilin],
            false,
            t(min),
        );
        e.parameter = Some(param.into());
        e.value = Some(1.6);
        e.unit = Some("mg/L".into());
        e.limit = Some(1.0);
        e.class = Some(WaterClass::V);
        e.target = Some(WaterClass::III);
        e.exceedance_multiple = Some(0.6);
        e.standard = "GB 3838-2002".into();
        e.summary_zh = format!("{subject} {param} 超标");
        e.summary_en = format!("{subject} {param} above limit");
        e
    }

    fn reg() -> Registry {
        Registry::builtin().unwrap()
    }

    #[test]
    fn firing_opens_updates_and_resolves_on_event_time() {
        let reg = reg();
        let e1 = event("e1", EventStatus::Firing, "LLH-CJG", "NH3N", 0);
        let Outcome::Opened(a) = apply(Known::default(), &e1, &reg, t(1)) else {
            panic!()
        };
        assert_eq!(a.fingerprint, "parameter_exceedance:LLH-CJG:NH3N");
        assert_eq!(a.id.len(), 12);
        // Caijiagou is a boundary section: both provinces, as equals, owned by Jilin.
        assert!(a.cross_border);
        assert_eq!(a.owner, Some(Province::Jilin));
        assert_eq!(
            a.place.as_ref().unwrap().river_zh.as_deref(),
            Some("拉林河")
        );

        let mut e2 = event("e2", EventStatus::Firing, "LLH-CJG", "NH3N", 60);
        e2.severity = Severity::Critical;
        e2.value = Some(2.5);
        let known = Known {
            open: Some(&a),
            ..Known::default()
        };
        let Outcome::Updated {
            alert: b,
            severity_rose,
        } = apply(known, &e2, &reg, t(61))
        else {
            panic!()
        };
        assert!(severity_rose);
        assert_eq!(
            (b.first_seen, b.last_seen, b.event.value),
            (t(0), t(60), Some(2.5))
        );
        assert_eq!(b.id, a.id);

        // An older firing event (out of order) counts but does not overwrite values.
        let e_old = event("e0", EventStatus::Firing, "LLH-CJG", "NH3N", 30);
        let known = Known {
            open: Some(&b),
            ..Known::default()
        };
        let Outcome::Updated {
            alert: c,
            severity_rose,
        } = apply(known, &e_old, &reg, t(62))
        else {
            panic!()
        };
        assert!(!severity_rose);
        assert_eq!(
            (c.last_seen, c.event.value, c.event_count),
            (t(60), Some(2.5), 3)
        );

        let r = event("e3", EventStatus::Resolved, "LLH-CJG", "NH3N", 120);
        let known = Known {
            open: Some(&c),
            ..Known::default()
        };
        let Outcome::Resolved(d) = apply(known, &r, &reg, t(121)) else {
            panic!()
        };
        assert_eq!(
            (d.status, d.resolved_at),
            (AlertStatus::Resolved, Some(t(120)))
        );
    }

    #[test]
    fn duplicates_stale_and_orphan_events_change_nothing() {
        let reg = reg();
        let e = event("e1", EventStatus::Firing, "LLH-CJG", "NH3N", 0);
        let known = Known {
            duplicate: true,
            ..Known::default()
        };
        assert_eq!(apply(known, &e, &reg, t(0)), Outcome::Duplicate);
        let known = Known {
            last_resolved_at: Some(t(10)),
            ..Known::default()
        };
        assert!(matches!(apply(known, &e, &reg, t(11)), Outcome::Stale(_)));
        let r = event("e2", EventStatus::Resolved, "LLH-CJG", "NH3N", 5);
        assert!(matches!(
            apply(Known::default(), &r, &reg, t(11)),
            Outcome::Ignored(_)
        ));
    }

    #[test]
    fn internal_sections_are_owned_and_regional_events_are_shared() {
        let reg = reg();
        let e = event("e1", EventStatus::Firing, "SH2-SY", "TP", 0);
        let Outcome::Opened(a) = apply(Known::default(), &e, &reg, t(0)) else {
            panic!()
        };
        assert!(!a.cross_border);
        assert_eq!(a.owner, Some(Province::Jilin));
        let mut e = event("e2", EventStatus::Firing, REGION, "PM25", 0);
        e.rule = Rule::JointControl;
        e.parameter = None;
        e.provinces = vec![Province::Heilongjiang, Province::Jilin];
        let Outcome::Opened(a) = apply(Known::default(), &e, &reg, t(0)) else {
            panic!()
        };
        assert!(a.cross_border);
        assert_eq!(a.owner, None);
        assert_eq!(a.fingerprint, "joint_control:REGION");
    }

    proptest! {
        /// Replaying any sequence of events with its redeliveries gives the same alert as
        /// applying it once: duplicates never change state, and a firing event older than
        /// a resolution never reopens the alert.
        #[test]
        fn redelivery_never_changes_the_outcome(
            steps in proptest::collection::vec((any::<bool>(), 0i64..100, any::<bool>()), 1..30)
        ) {
            let reg = reg();
            let events: Vec<Event> = steps.iter().enumerate().map(|(i, (firing, min, _))| {
                let status = if *firing { EventStatus::Firing } else { EventStatus::Resolved };
                event(&format!("e{i}"), status, "LLH-YS", "TP", *min)
            }).collect();
            let run = |redeliver: bool| {
                let mut seen = std::collections::HashSet::new();
                let mut open: Option<Alert> = None;
                let mut resolved: Vec<Alert> = Vec::new();
                let mut last_resolved_at = None;
                for (e, (_, _, again)) in events.iter().zip(&steps) {
                    let copies = if redeliver && *again { 2 } else { 1 };
                    for _ in 0..copies {
                        let known = Known { duplicate: seen.contains(&e.id), open: open.as_ref(), last_resolved_at };
                        let out = apply(known, e, &reg, t(0));
                        seen.insert(e.id.clone());
                        match out {
                            Outcome::Opened(a) | Outcome::Updated { alert: a, .. } => open = Some(a),
                            Outcome::Resolved(a) => {
                                last_resolved_at = a.resolved_at;
                                open = None;
                                resolved.push(a);
                            }
                            _ => {}
                        }
                    }
                }
                (open, resolved)
            };
            prop_assert_eq!(run(false), run(true));
        }
    }
}
