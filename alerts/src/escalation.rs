//! Escalation per province, pure: while a province has not acknowledged a firing alert
//! that it was notified of, its next recipient level is notified after that province's
//! configured delay (`escalate_after_secs[level]`, counted from when the current level was
//! notified). An acknowledgement by one province stops only that province's escalation.
//! Information copies, silenced and inhibited alerts never escalate.

use chrono::{DateTime, Utc};
use riverwatch_core::Province;

use crate::config::Routing;
use crate::model::Alert;
use crate::routing::acting_provinces;

/// An escalation step that is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// The province escalating.
    pub province: Province,
    /// The level to notify now (≥ 1).
    pub level: u8,
}

/// When each acting, unacknowledged province of an alert escalates next.
pub fn schedule(
    alert: &Alert,
    routing: &Routing,
    notifiable: bool,
    acked: impl Fn(Province) -> bool,
) -> Vec<(Step, DateTime<Utc>)> {
    if !alert.is_firing() || !notifiable {
        return Vec::new();
    }
    acting_provinces(alert)
        .into_iter()
        .filter(|p| !acked(*p))
        .filter_map(|p| {
            let esc = alert.escalation_of(p)?;
            let since = esc.level_at.or(esc.started_at)?;
            let delay = *routing
                .province(p)
                .escalate_after_secs
                .get(usize::from(esc.level))?;
            let at =
                since + chrono::Duration::seconds(i64::try_from(delay).unwrap_or(i64::MAX / 2));
            Some((
                Step {
                    province: p,
                    level: esc.level + 1,
                },
                at,
            ))
        })
        .collect()
}

/// The steps due at `now`.
pub fn due(
    alert: &Alert,
    routing: &Routing,
    notifiable: bool,
    acked: impl Fn(Province) -> bool,
    now: DateTime<Utc>,
) -> Vec<Step> {
    schedule(alert, routing, notifiable, acked)
        .into_iter()
        .filter(|(_, at)| *at <= now)
        .map(|(s, _)| s)
        .collect()
}

/// Records that level 0 of a province was notified (starts the escalation clock once).
pub fn started(alert: &mut Alert, province: Province, now: DateTime<Utc>) -> bool {
    let esc = alert.escalation_mut(province);
    if esc.started_at.is_some() {
        return false;
    }
    esc.started_at = Some(now);
    esc.level_at = Some(now);
    true
}

/// Records that a level was notified.
pub fn escalated(alert: &mut Alert, step: Step, now: DateTime<Utc>) {
    let esc = alert.escalation_mut(step.province);
    esc.level = esc.level.max(step.level);
    esc.level_at = Some(now);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AlertsConfig;
    use crate::lifecycle::tests::{event, t};
    use crate::lifecycle::{Known, Outcome, apply};
    use riverwatch_core::Registry;
    use riverwatch_core::events::EventStatus;

    fn alert(subject: &str) -> Alert {
        let reg = Registry::builtin().unwrap();
        match apply(
            Known::default(),
            &event("e", EventStatus::Firing, subject, "NH3N", 0),
            &reg,
            t(0),
        ) {
            Outcome::Opened(a) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_province_escalates_until_it_acknowledges() {
        let cfg = AlertsConfig::default(); // 900 s then 1800 s
        let mut a = alert("LLH-CJG");
        assert!(
            due(&a, &cfg.routing, true, |_| false, t(100)).is_empty(),
            "not notified yet"
        );
        for p in Province::ALL {
            started(&mut a, p, t(0));
        }
        assert!(due(&a, &cfg.routing, true, |_| false, t(14)).is_empty());
        let steps = due(&a, &cfg.routing, true, |_| false, t(15));
        assert_eq!(steps.len(), 2);
        // Heilongjiang acknowledged: only Jilin escalates.
        let hlj_acked = |p: Province| p == Province::Heilongjiang;
        let steps = due(&a, &cfg.routing, true, hlj_acked, t(15));
        assert_eq!(
            steps,
            vec![Step {
                province: Province::Jilin,
                level: 1
            }]
        );
        escalated(&mut a, steps[0], t(15));
        assert!(due(&a, &cfg.routing, true, hlj_acked, t(44)).is_empty());
        let steps = due(&a, &cfg.routing, true, hlj_acked, t(45));
        assert_eq!(steps[0].level, 2);
        escalated(&mut a, steps[0], t(45));
        assert!(
            due(&a, &cfg.routing, true, hlj_acked, t(10_000)).is_empty(),
            "no level 3"
        );
        // Silenced or resolved alerts do not escalate.
        assert!(due(&a, &cfg.routing, false, |_| false, t(100)).is_empty());
    }

    #[test]
    fn information_copies_never_escalate() {
        let cfg = AlertsConfig::default();
        let mut a = alert("SH2-SY");
        for p in Province::ALL {
            started(&mut a, p, t(0));
        }
        let steps = due(&a, &cfg.routing, true, |_| false, t(60));
        assert_eq!(
            steps,
            vec![Step {
                province: Province::Jilin,
                level: 1
            }]
        );
    }
}
