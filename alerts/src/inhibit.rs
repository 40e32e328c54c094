//! Inhibition, pure: which firing alerts are attached to another one and not notified on
//! their own while it fires. Two kinds, applied in this order:
//!
//! - **Incidents.** A pollution front moving downstream raises an alert at each section it
//!   reaches, and analytics links them with one `incident` id. Only the incident's *source*
//!   pages — its earliest firing alert (ties broken by river kilometre, then id), which for a
//!   front moving downstream is the upstream one; the others are attached to it. When the
//!   source resolves, the next earliest firing alert becomes the source and pages.
//! - **Inhibit rules** (`[[alerts.inhibit_rules]]`, Alertmanager's semantics): an alert
//!   matching a rule's target matchers is attached to a firing alert that matches its source
//!   matchers and has the same values of its `equal` labels. An alert matching both sides
//!   cannot be inhibited by another alert that does too (nor by itself). Among several
//!   sources the earliest (as above) is taken; the first rule with a source wins.
//!
//! Attached alerts stay stored, listed and acknowledgeable; the source's notifications list
//! them. A cycle that rules could make (A inhibits B, B inhibits A) is broken by releasing
//! its earliest alert, so something of it is always notified.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use crate::config::{InhibitRuleConfig, LABELS};
use crate::model::{Alert, Inhibition, Matcher};
use crate::silence::{matcher_holds, parse_matchers};

/// A validated inhibit rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InhibitRule {
    /// Name (shown with the alerts it inhibits).
    pub name: String,
    /// Every one must hold for the source.
    pub source: Vec<Matcher>,
    /// Every one must hold for the target.
    pub target: Vec<Matcher>,
    /// Labels source and target must share.
    pub equal: Vec<String>,
}

impl InhibitRule {
    /// The rule of a configuration entry.
    ///
    /// # Errors
    /// The offending field (`source_matchers`, `target_matchers`, `equal`) and what is wrong.
    pub fn from_config(c: &InhibitRuleConfig) -> Result<Self, (&'static str, String)> {
        let matchers = |field: &'static str, list: &[String]| {
            if list.is_empty() {
                return Err((field, "give at least one matcher, e.g. rule=…".to_string()));
            }
            let mut out = Vec::new();
            for m in list {
                out.extend(parse_matchers(m).map_err(|e| (field, e))?);
            }
            Ok(out)
        };
        let source = matchers("source_matchers", &c.source_matchers)?;
        let target = matchers("target_matchers", &c.target_matchers)?;
        for l in &c.equal {
            if !LABELS.contains(&l.as_str()) {
                return Err((
                    "equal",
                    format!("unknown label `{l}` (known: {})", LABELS.join(", ")),
                ));
            }
        }
        Ok(Self {
            name: c.name.clone(),
            source,
            target,
            equal: c.equal.clone(),
        })
    }

    fn is_source(&self, a: &Alert) -> bool {
        self.source.iter().all(|m| matcher_holds(m, a))
    }

    fn is_target(&self, a: &Alert) -> bool {
        self.target.iter().all(|m| matcher_holds(m, a))
    }

    /// Whether firing `source` inhibits `target` under this rule.
    pub fn inhibits(&self, source: &Alert, target: &Alert) -> bool {
        if source.id == target.id || !source.is_firing() || !target.is_firing() {
            return false;
        }
        if !self.is_source(source) || !self.is_target(target) {
            return false;
        }
        // Alertmanager: an alert on both sides is not inhibited by another one on both sides.
        if self.is_source(target) && self.is_target(source) {
            return false;
        }
        self.equal
            .iter()
            .all(|l| source.label(l) == target.label(l))
    }
}

/// The rules of the configuration.
///
/// # Errors
/// The first bad rule: its index, the field and what is wrong.
pub fn rules(config: &[InhibitRuleConfig]) -> Result<Vec<InhibitRule>, String> {
    config
        .iter()
        .enumerate()
        .map(|(i, c)| {
            InhibitRule::from_config(c).map_err(|(f, m)| format!("inhibit_rules[{i}].{f}: {m}"))
        })
        .collect()
}

fn key(a: &Alert) -> (DateTime<Utc>, i64, &str) {
    let km = a
        .place
        .as_ref()
        .and_then(|p| p.river_km)
        .map(|k| (k * 1000.0) as i64)
        .unwrap_or(i64::MAX);
    (a.first_seen, km, a.id.as_str())
}

/// What one alert is attached to: the source's id and why; `None` when it is notified on
/// its own.
pub type Attachment = Option<(String, Inhibition)>;

/// For each firing alert, what it should be attached to, in the order given. Resolved and
/// notice alerts in `alerts` are never attached and never inhibit.
pub fn assign(alerts: &[&Alert], rules: &[InhibitRule]) -> Vec<(String, Attachment)> {
    let firing: Vec<&Alert> = alerts.iter().copied().filter(|a| a.is_firing()).collect();
    // Incidents first: the earliest firing alert of each incident is its source.
    let mut sources: BTreeMap<&str, &Alert> = BTreeMap::new();
    for a in &firing {
        if let Some(inc) = a.event.incident.as_deref() {
            let e = sources.entry(inc).or_insert(a);
            if key(a) < key(e) {
                *e = a;
            }
        }
    }
    // Each rule's sides once per alert, and its sources by their `equal` values, so an event
    // costs about one pass over the firing alerts per rule (it runs on every event).
    let sides: Vec<RuleSides<'_>> = rules.iter().map(|r| RuleSides::of(r, &firing)).collect();
    let mut out: HashMap<&str, Attachment> = HashMap::new();
    for (i, a) in firing.iter().enumerate() {
        let by_incident = a.event.incident.as_deref().and_then(|inc| {
            let s = sources.get(inc)?;
            (s.id != a.id).then(|| {
                (
                    s.id.clone(),
                    Inhibition::Incident {
                        incident: inc.to_string(),
                    },
                )
            })
        });
        let attachment = by_incident.or_else(|| {
            sides.iter().find_map(|r| {
                let s = r.source_of(i, &firing)?;
                Some((
                    s.id.clone(),
                    Inhibition::Rule {
                        name: r.rule.name.clone(),
                        equal: r
                            .rule
                            .equal
                            .iter()
                            .cloned()
                            .zip(r.values[i].iter().cloned())
                            .collect(),
                    },
                ))
            })
        });
        out.insert(a.id.as_str(), attachment);
    }
    break_cycles(&firing, &mut out);
    alerts
        .iter()
        .map(|a| (a.id.clone(), out.get(a.id.as_str()).cloned().flatten()))
        .collect()
}

/// One rule evaluated over the firing alerts: which are sources, which targets, their
/// `equal` values, and the sources grouped by those values.
struct RuleSides<'r> {
    rule: &'r InhibitRule,
    source: Vec<bool>,
    target: Vec<bool>,
    values: Vec<Vec<String>>,
    sources_by_values: HashMap<Vec<String>, Vec<usize>>,
}

impl<'r> RuleSides<'r> {
    fn of(rule: &'r InhibitRule, firing: &[&Alert]) -> Self {
        let source: Vec<bool> = firing.iter().map(|a| rule.is_source(a)).collect();
        let target: Vec<bool> = firing.iter().map(|a| rule.is_target(a)).collect();
        let values: Vec<Vec<String>> = firing
            .iter()
            .enumerate()
            .map(|(i, a)| {
                if source[i] || target[i] {
                    rule.equal.iter().map(|l| a.label(l)).collect()
                } else {
                    Vec::new()
                }
            })
            .collect();
        let mut sources_by_values: HashMap<Vec<String>, Vec<usize>> = HashMap::new();
        for (i, is) in source.iter().enumerate() {
            if *is {
                sources_by_values
                    .entry(values[i].clone())
                    .or_default()
                    .push(i);
            }
        }
        Self {
            rule,
            source,
            target,
            values,
            sources_by_values,
        }
    }

    /// The earliest source inhibiting target `i` under the rule (as [`InhibitRule::inhibits`]).
    fn source_of<'a>(&self, i: usize, firing: &[&'a Alert]) -> Option<&'a Alert> {
        if !self.target[i] {
            return None;
        }
        let both = self.source[i];
        self.sources_by_values
            .get(&self.values[i])?
            .iter()
            .filter(|&&j| j != i && !(both && self.target[j]))
            .map(|&j| firing[j])
            .min_by(|x, y| key(x).cmp(&key(y)))
    }
}

/// Releases the earliest alert of every cycle of attachments.
fn break_cycles<'a>(firing: &[&'a Alert], out: &mut HashMap<&'a str, Attachment>) {
    let by_id: HashMap<&'a str, &'a Alert> = firing.iter().map(|a| (a.id.as_str(), *a)).collect();
    let mut order: Vec<&'a Alert> = firing.to_vec();
    order.sort_by(|x, y| key(x).cmp(&key(y)));
    for start in order {
        let mut path = vec![start.id.as_str()];
        let mut at = start.id.as_str();
        while let Some(Some((next, _))) = out.get(at) {
            let Some(next) = by_id.get(next.as_str()).map(|a| a.id.as_str()) else {
                break;
            };
            if let Some(pos) = path.iter().position(|p| *p == next) {
                let earliest = path[pos..]
                    .iter()
                    .filter_map(|id| by_id.get(id))
                    .min_by(|x, y| key(x).cmp(&key(y)))
                    .map(|a| a.id.as_str());
                if let Some(e) = earliest {
                    out.insert(e, None);
                }
                break;
            }
            path.push(next);
            at = next;
        }
    }
}

/// The ids of the alerts attached to `source`, directly or through attached alerts, in
/// `alerts` order.
pub fn attached_to<'a>(
    source: &str,
    alerts: impl IntoIterator<Item = &'a Alert>,
) -> Vec<&'a Alert> {
    let alerts: Vec<&Alert> = alerts.into_iter().collect();
    let mut out: Vec<&Alert> = Vec::new();
    let mut frontier = vec![source.to_string()];
    while let Some(s) = frontier.pop() {
        for a in &alerts {
            if a.inhibited_by.as_deref() == Some(s.as_str())
                && a.id != source
                && !out.iter().any(|o| o.id == a.id)
            {
                out.push(a);
                frontier.push(a.id.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AlertsConfig;
    use crate::lifecycle::tests::event;
    use crate::lifecycle::{Known, Outcome, apply};
    use crate::model::AlertStatus;
    use riverwatch_core::Registry;
    use riverwatch_core::class::WaterClass;
    use riverwatch_core::events::{EventStatus, Rule};

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

    /// The class alert of a section, as analytics sends it with a parameter exceedance.
    fn section(subject: &str, min: i64) -> Alert {
        let reg = Registry::builtin().unwrap();
        let mut e = event(
            &format!("s-{subject}-{min}"),
            EventStatus::Firing,
            subject,
            "NH3N",
            min,
        );
        e.rule = Rule::SectionBelowTarget;
        e.parameter = None;
        e.limit = None;
        e.class = Some(WaterClass::V);
        e.target = Some(WaterClass::III);
        match apply(Known::default(), &e, &reg, e.observed_at) {
            Outcome::Opened(a) => a,
            other => panic!("{other:?}"),
        }
    }

    fn parameter(subject: &str, param: &str, min: i64) -> Alert {
        let reg = Registry::builtin().unwrap();
        let e = event(
            &format!("p-{subject}-{param}-{min}"),
            EventStatus::Firing,
            subject,
            param,
            min,
        );
        match apply(Known::default(), &e, &reg, e.observed_at) {
            Outcome::Opened(a) => a,
            other => panic!("{other:?}"),
        }
    }

    fn default_rules() -> Vec<InhibitRule> {
        rules(&AlertsConfig::default().inhibit_rules).unwrap()
    }

    fn by(got: &[(String, Attachment)], id: &str) -> Option<String> {
        got.iter()
            .find(|(a, _)| a == id)
            .and_then(|(_, x)| x.as_ref().map(|(s, _)| s.clone()))
    }

    fn rule(name: &str, source: &[&str], target: &[&str], equal: &[&str]) -> InhibitRule {
        InhibitRule::from_config(&InhibitRuleConfig {
            name: name.into(),
            source_matchers: source.iter().map(|s| (*s).to_string()).collect(),
            target_matchers: target.iter().map(|s| (*s).to_string()).collect(),
            equal: equal.iter().map(|s| (*s).to_string()).collect(),
        })
        .unwrap()
    }

    #[test]
    fn downstream_alerts_attach_to_the_upstream_source() {
        let up = alert("LLH-YS", 0, Some("inc-1"));
        let down = alert("LLH-CJG", 300, Some("inc-1"));
        let other = alert("LLH-HK", 10, None);
        let got = assign(&[&down, &up, &other], &[]);
        assert_eq!(by(&got, &down.id), Some(up.id.clone()));
        assert_eq!(by(&got, &up.id), None);
        assert_eq!(by(&got, &other.id), None);
        assert_eq!(
            got[0].1.as_ref().map(|(_, why)| why.clone()),
            Some(Inhibition::Incident {
                incident: "inc-1".into()
            })
        );
        // The source resolved: the downstream alert becomes the source and pages.
        let mut up_resolved = up.clone();
        up_resolved.status = AlertStatus::Resolved;
        let got = assign(&[&down, &up_resolved], &[]);
        assert_eq!(got, vec![(down.id.clone(), None), (up.id.clone(), None)]);
    }

    #[test]
    fn simultaneous_alerts_break_ties_by_river_kilometre() {
        let a = alert("LLH-CJG", 0, Some("inc-2"));
        let b = alert("LLH-NTS", 0, Some("inc-2"));
        let got = assign(&[&a, &b], &[]);
        // 牛头山大桥 lies upstream of 蔡家沟 on the Lalin.
        assert_eq!(by(&got, &a.id), Some(b.id.clone()));
        assert_eq!(by(&got, &b.id), None);
    }

    #[test]
    fn the_default_rule_attaches_a_section_alert_to_its_parameter_alerts() {
        let rules = default_rules();
        let nh3n = parameter("LLH-CJG", "NH3N", 0);
        let tp = parameter("LLH-CJG", "TP", 5);
        let sec = section("LLH-CJG", 0);
        // Another section's parameter alert does not cover this section.
        let elsewhere = parameter("LLH-HK", "NH3N", 0);
        let got = assign(&[&sec, &tp, &nh3n, &elsewhere], &rules);
        // The earliest parameter alert of the same section is the source; parameter alerts
        // are never targets of the rule.
        assert_eq!(by(&got, &sec.id), Some(nh3n.id.clone()));
        assert_eq!(by(&got, &nh3n.id), None);
        assert_eq!(by(&got, &tp.id), None);
        assert_eq!(
            got[0].1.as_ref().map(|(_, why)| why.clone()),
            Some(Inhibition::Rule {
                name: "parameter_over_section".into(),
                equal: vec![("subject".into(), "LLH-CJG".into())],
            })
        );
        // A section alert of a station without a firing parameter alert pages on its own.
        let lone = section("LLH-HK", 0);
        let got = assign(&[&lone], &rules);
        assert_eq!(by(&got, &lone.id), None);
        // Once the parameter alerts resolve, the section alert is released.
        let mut n = nh3n.clone();
        n.status = AlertStatus::Resolved;
        let mut t = tp.clone();
        t.status = AlertStatus::Resolved;
        let got = assign(&[&sec, &n, &t], &rules);
        assert_eq!(by(&got, &sec.id), None);
        // Without rules, nothing is inhibited.
        assert_eq!(by(&assign(&[&sec, &nh3n], &[]), &sec.id), None);
    }

    #[test]
    fn an_alert_on_both_sides_is_not_inhibited_by_another_on_both_sides() {
        // Every parameter alert inhibits the other parameter alerts of its station: as in
        // Alertmanager, two alerts matching both sides do not silence each other.
        let r = rule(
            "same_station",
            &["rule=parameter_exceedance"],
            &["rule=parameter_exceedance"],
            &["subject"],
        );
        let a = parameter("LLH-CJG", "NH3N", 0);
        let b = parameter("LLH-CJG", "TP", 1);
        let got = assign(&[&a, &b], std::slice::from_ref(&r));
        assert_eq!((by(&got, &a.id), by(&got, &b.id)), (None, None));
        // A rule whose source side the target does not match does inhibit.
        let r = rule(
            "tp_under_nh3n",
            &["parameter=NH3N"],
            &["parameter=TP"],
            &["subject"],
        );
        let got = assign(&[&a, &b], std::slice::from_ref(&r));
        assert_eq!(by(&got, &b.id), Some(a.id.clone()));
    }

    #[test]
    fn equal_labels_must_match_and_negative_matchers_apply() {
        let r = rule(
            "critical_over_warning",
            &["severity=critical"],
            &["severity!=critical"],
            &["river"],
        );
        let mut hot = parameter("LLH-CJG", "NH3N", 0);
        hot.severity = riverwatch_core::events::Severity::Critical;
        let lalin = parameter("LLH-HK", "TP", 0);
        let songhua = parameter("SH2-SY", "TP", 0);
        let got = assign(&[&hot, &lalin, &songhua], std::slice::from_ref(&r));
        assert_eq!(by(&got, &lalin.id), Some(hot.id.clone()), "same river");
        assert_eq!(by(&got, &songhua.id), None, "another river");
        assert_eq!(by(&got, &hot.id), None);
    }

    #[test]
    fn assignment_agrees_with_the_rule_for_every_pair() {
        let rules = vec![
            rule(
                "warning_under_critical",
                &["severity=critical"],
                &["severity=warning"],
                &["river"],
            ),
            default_rules().remove(0),
        ];
        let mut alerts = Vec::new();
        for (i, s) in ["LLH-NTS", "LLH-CJG", "LLH-HK", "SH2-SY"]
            .iter()
            .enumerate()
        {
            let mut p = parameter(s, "NH3N", i as i64);
            if i % 2 == 0 {
                p.severity = riverwatch_core::events::Severity::Critical;
            }
            alerts.push(p);
            alerts.push(section(s, i as i64));
        }
        let refs: Vec<&Alert> = alerts.iter().collect();
        let got = assign(&refs, &rules);
        for (id, attachment) in &got {
            let a = alerts.iter().find(|x| &x.id == id).unwrap();
            // The first rule with any source decides, and takes its earliest source.
            let want = rules.iter().find_map(|r| {
                alerts
                    .iter()
                    .filter(|s| r.inhibits(s, a))
                    .min_by(|x, y| key(x).cmp(&key(y)))
                    .map(|s| s.id.clone())
            });
            assert_eq!(
                attachment.as_ref().map(|(s, _)| s.clone()),
                want,
                "{}",
                a.fingerprint
            );
        }
        assert!(got.iter().filter(|(_, x)| x.is_some()).count() >= 4);
    }

    #[test]
    fn a_cycle_between_rules_releases_its_earliest_alert() {
        let r1 = rule("a", &["parameter=NH3N"], &["parameter=TP"], &["subject"]);
        let r2 = rule("b", &["parameter=TP"], &["parameter=NH3N"], &["subject"]);
        let a = parameter("LLH-CJG", "NH3N", 0);
        let b = parameter("LLH-CJG", "TP", 1);
        let got = assign(&[&a, &b], &[r1, r2]);
        assert_eq!(by(&got, &a.id), None, "the earliest pages");
        assert_eq!(by(&got, &b.id), Some(a.id.clone()));
    }

    #[test]
    fn attached_alerts_are_found_through_chains() {
        let up = alert("LLH-YS", 0, Some("inc-1"));
        let mut down = alert("LLH-CJG", 300, Some("inc-1"));
        down.inhibited_by = Some(up.id.clone());
        let mut sec = section("LLH-CJG", 300);
        sec.inhibited_by = Some(down.id.clone());
        let all = [up.clone(), down.clone(), sec.clone()];
        let ids: Vec<&str> = attached_to(&up.id, &all)
            .into_iter()
            .map(|a| a.id.as_str())
            .collect();
        assert_eq!(ids, vec![down.id.as_str(), sec.id.as_str()]);
        assert!(attached_to(&sec.id, &all).is_empty());
    }

    #[test]
    fn bad_rules_name_the_field() {
        let mut c = AlertsConfig::default().inhibit_rules.remove(0);
        c.target_matchers = vec!["colour=red".into()];
        assert_eq!(
            InhibitRule::from_config(&c).unwrap_err().0,
            "target_matchers"
        );
        let mut c = AlertsConfig::default().inhibit_rules.remove(0);
        c.source_matchers.clear();
        assert_eq!(
            InhibitRule::from_config(&c).unwrap_err().0,
            "source_matchers"
        );
        let mut c = AlertsConfig::default().inhibit_rules.remove(0);
        c.equal = vec!["station".into()];
        assert_eq!(InhibitRule::from_config(&c).unwrap_err().0, "equal");
    }
}
