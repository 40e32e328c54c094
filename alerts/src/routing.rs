//! Routing, pure: who gets what. Alerts at provincial-boundary sections and regional events
//! go to both provinces as equals; other alerts go to the owning province, and the other
//! province's information-copy recipients are informed. Within a province, city bureaus and
//! river-chief offices receive only the alerts of their cities and rivers, and recipients of
//! level `n > 0` only by escalation.

use riverwatch_core::Province;
use riverwatch_core::events::Severity;

use crate::config::{Recipient, Routing};
use crate::model::{Alert, Role};

/// One recipient that gets an alert, with its province and role.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target<'a> {
    /// The recipient's province.
    pub province: Province,
    /// How that province is concerned.
    pub role: Role,
    /// The recipient.
    pub recipient: &'a Recipient,
}

/// Whether a recipient's city, river and severity filters let the alert through.
pub fn accepts(recipient: &Recipient, alert: &Alert, min_severity: Severity) -> bool {
    let floor = recipient.min_severity.unwrap_or(min_severity);
    if alert.severity < floor {
        return false;
    }
    let place = alert.place.as_ref();
    let city_ok = recipient.cities.is_empty()
        || place.is_some_and(|p| {
            recipient
                .cities
                .iter()
                .any(|c| p.city_zh.starts_with(c.as_str()))
        });
    let river_ok = recipient.rivers.is_empty()
        || place
            .and_then(|p| p.river.as_deref())
            .is_some_and(|r| recipient.rivers.iter().any(|x| x == r));
    city_ok && river_ok
}

/// The provinces that must act on an alert (equal or owner role), which acknowledge and
/// escalate.
pub fn acting_provinces(alert: &Alert) -> Vec<Province> {
    Province::ALL
        .into_iter()
        .filter(|p| alert.role_of(*p) != Role::InfoCopy)
        .collect()
}

/// The first notification's recipients (level 0, plus information copies).
pub fn initial_targets<'a>(
    alert: &Alert,
    routing: &'a Routing,
    min_severity: Severity,
) -> Vec<Target<'a>> {
    let mut out = Vec::new();
    for province in Province::ALL {
        let role = alert.role_of(province);
        for r in &routing.province(province).recipients {
            let wanted = match role {
                Role::Equal | Role::Owner => r.level == 0,
                Role::InfoCopy => r.info_copy,
            };
            if wanted && accepts(r, alert, min_severity) {
                out.push(Target {
                    province,
                    role,
                    recipient: r,
                });
            }
        }
    }
    out
}

/// The recipients of escalation level `level` (≥ 1) of one acting province.
pub fn escalation_targets<'a>(
    alert: &Alert,
    routing: &'a Routing,
    province: Province,
    level: u8,
    min_severity: Severity,
) -> Vec<Target<'a>> {
    let role = alert.role_of(province);
    if role == Role::InfoCopy {
        return Vec::new();
    }
    routing
        .province(province)
        .recipients
        .iter()
        .filter(|r| r.level == level && accepts(r, alert, min_severity))
        .map(|recipient| Target {
            province,
            role,
            recipient,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AlertsConfig;
    use crate::lifecycle::tests::event;
    use crate::lifecycle::{Known, Outcome, apply};
    use riverwatch_core::Registry;
    use riverwatch_core::events::{EventStatus, REGION, Rule};

    fn alert(subject: &str) -> Alert {
        let reg = Registry::builtin().unwrap();
        let mut e = event("e1", EventStatus::Firing, subject, "NH3N", 0);
        if subject == REGION {
            e.rule = Rule::JointControl;
            e.provinces = vec![Province::Heilongjiang, Province::Jilin];
        }
        match apply(Known::default(), &e, &reg, e.observed_at) {
            Outcome::Opened(a) => a,
            other => panic!("{other:?}"),
        }
    }

    fn ids(targets: &[Target<'_>]) -> Vec<(String, Role)> {
        targets
            .iter()
            .map(|t| (t.recipient.id.clone(), t.role))
            .collect()
    }

    #[test]
    fn a_boundary_section_reaches_both_provinces_as_equals() {
        let cfg = AlertsConfig::default();
        let a = alert("LLH-CJG"); // 蔡家沟, 扶余市 (JL), boundary, Lalin
        let got = ids(&initial_targets(&a, &cfg.routing, cfg.min_severity));
        assert_eq!(
            got,
            vec![
                ("hlj-duty".to_string(), Role::Equal),
                ("hlj-hzb-lalin".to_string(), Role::Equal),
                ("jl-duty".to_string(), Role::Equal),
                ("jl-songyuan".to_string(), Role::Equal),
                ("jl-hzb-lalin".to_string(), Role::Equal),
            ]
        );
        assert_eq!(acting_provinces(&a), Province::ALL.to_vec());
    }

    #[test]
    fn an_internal_section_notifies_its_owner_and_informs_the_other() {
        let cfg = AlertsConfig::default();
        let a = alert("SH2-SY"); // 松原, JL, Second Songhua, internal
        let got = ids(&initial_targets(&a, &cfg.routing, cfg.min_severity));
        assert_eq!(
            got,
            vec![
                ("hlj-duty".to_string(), Role::InfoCopy),
                ("jl-duty".to_string(), Role::Owner),
                ("jl-songyuan".to_string(), Role::Owner),
                ("jl-hzb-songhua".to_string(), Role::Owner),
            ]
        );
        assert_eq!(acting_provinces(&a), vec![Province::Jilin]);
        assert!(
            escalation_targets(
                &a,
                &cfg.routing,
                Province::Heilongjiang,
                1,
                cfg.min_severity
            )
            .is_empty()
        );
        let up = ids(&escalation_targets(
            &a,
            &cfg.routing,
            Province::Jilin,
            1,
            cfg.min_severity,
        ));
        assert_eq!(up, vec![("jl-leader".to_string(), Role::Owner)]);
    }

    #[test]
    fn regional_events_skip_river_and_city_recipients() {
        let cfg = AlertsConfig::default();
        let a = alert(REGION);
        let got = ids(&initial_targets(&a, &cfg.routing, cfg.min_severity));
        assert_eq!(
            got,
            vec![
                ("hlj-duty".to_string(), Role::Equal),
                ("jl-duty".to_string(), Role::Equal),
            ]
        );
    }

    #[test]
    fn severity_floors_apply() {
        let cfg = AlertsConfig::default();
        let mut a = alert("LLH-CJG");
        a.severity = Severity::Info;
        assert!(initial_targets(&a, &cfg.routing, cfg.min_severity).is_empty());
    }
}
