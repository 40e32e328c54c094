//! Inhibition, pure: a pollution front moving downstream raises an alert at each section it
//! reaches, and analytics links them with one `incident` id. Only the incident's *source*
//! pages — its earliest firing alert (ties broken by river kilometre, then id), which for a
//! front moving downstream is the upstream one. Every other firing alert of the incident is
//! attached to the source (`inhibited_by`) and is not notified on its own while the source
//! fires; the source's notifications list them. When the source resolves, the next earliest
//! firing alert becomes the source and pages.

use crate::model::Alert;

fn key(a: &Alert) -> (chrono::DateTime<chrono::Utc>, i64, &str) {
    let km = a
        .place
        .as_ref()
        .and_then(|p| p.river_km)
        .map(|k| (k * 1000.0) as i64)
        .unwrap_or(i64::MAX);
    (a.first_seen, km, a.id.as_str())
}

/// For the firing alerts of one incident, the id each one should be attached to (`None`
/// for the source). Alerts without an incident are never inhibited.
pub fn assign<'a>(firing: &[&'a Alert]) -> Vec<(&'a str, Option<String>)> {
    let source = firing
        .iter()
        .filter(|a| a.is_firing() && a.event.incident.is_some())
        .min_by(|a, b| key(a).cmp(&key(b)));
    firing
        .iter()
        .map(|a| {
            let by = match source {
                Some(s) if a.is_firing() && a.event.incident.is_some() && s.id != a.id => {
                    Some(s.id.clone())
                }
                _ => None,
            };
            (a.id.as_str(), by)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::tests::event;
    use crate::lifecycle::{Known, Outcome, apply};
    use crate::model::AlertStatus;
    use riverwatch_core::Registry;
    use riverwatch_core::events::EventStatus;

    fn alert(subject: &str, min: i64, incident: Option<&str>) -> Alert {
        let reg = Registry::builtin().unwrap();
        let mut e = event(
            &format!("e-{subject}"),
            EventStatus::Firing,
            subject,
            "NB",
            min,
        );
        e.incident = incident.map(str::to_string);
        match apply(Known::default(), &e, &reg, e.observed_at) {
            Outcome::Opened(a) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn downstream_alerts_attach_to_the_upstream_source() {
        let up = alert("LLH-YS", 0, Some("inc-1"));
        let down = alert("LLH-CJG", 300, Some("inc-1"));
        let other = alert("LLH-HK", 10, None);
        let got = assign(&[&down, &up, &other]);
        assert_eq!(
            got,
            vec![
                (down.id.as_str(), Some(up.id.clone())),
                (up.id.as_str(), None),
                (other.id.as_str(), None),
            ]
        );
        // The source resolved: the downstream alert becomes the source and pages.
        let mut up_resolved = up.clone();
        up_resolved.status = AlertStatus::Resolved;
        let got = assign(&[&down, &up_resolved]);
        assert_eq!(got, vec![(down.id.as_str(), None), (up.id.as_str(), None)]);
    }

    #[test]
    fn simultaneous_alerts_break_ties_by_river_kilometre() {
        let a = alert("LLH-CJG", 0, Some("inc-2"));
        let b = alert("LLH-NTS", 0, Some("inc-2"));
        let got = assign(&[&a, &b]);
        // 牛头山大桥 lies upstream of 蔡家沟 on the Lalin.
        assert_eq!(got[0], (a.id.as_str(), Some(b.id.clone())));
        assert_eq!(got[1], (b.id.as_str(), None));
    }
}
