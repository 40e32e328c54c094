//! Silences: time-bounded matchers (e.g. `subject=LLH-CJG` while the station is under
//! maintenance) that keep matching alerts from being notified. A silence never hides an
//! alert: it is still stored, published and listed, with the silence named next to it.
//! Created from the command line (or the store API) with who and why; both are kept.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::config::LABELS;
use crate::lifecycle::hex;
use crate::model::{Alert, MatchOp, Matcher, Silence};

/// Parses `label=value,label!=value,…` (values may use `*` as a wildcard).
///
/// # Errors
/// An unknown label, a missing operator or an empty list.
pub fn parse_matchers(text: &str) -> Result<Vec<Matcher>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (label, op, value) = if let Some((l, v)) = part.split_once("!=") {
            (l, MatchOp::Ne, v)
        } else if let Some((l, v)) = part.split_once('=') {
            (l, MatchOp::Eq, v)
        } else {
            return Err(format!("`{part}` is not label=value or label!=value"));
        };
        let label = label.trim();
        if !LABELS.contains(&label) {
            return Err(format!(
                "unknown label `{label}` (known: {})",
                LABELS.join(", ")
            ));
        }
        out.push(Matcher {
            label: label.to_string(),
            op,
            value: value.trim().to_string(),
        });
    }
    if out.is_empty() {
        return Err("give at least one matcher, e.g. subject=LLH-CJG".to_string());
    }
    Ok(out)
}

/// `*` matches any run of characters; everything else literally.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// Whether one matcher holds for an alert. `province` holds when any concerned province
/// matches.
pub fn matcher_holds(m: &Matcher, alert: &Alert) -> bool {
    let hit = if m.label == "province" {
        alert.provinces.iter().any(|p| glob(&m.value, p.code()))
    } else {
        glob(&m.value, &alert.label(&m.label))
    };
    match m.op {
        MatchOp::Eq => hit,
        MatchOp::Ne => !hit,
    }
}

impl Silence {
    /// Whether the silence is in force at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.expired_at.is_none() && self.starts_at <= now && now < self.ends_at
    }

    /// Whether every matcher holds for the alert.
    pub fn matches(&self, alert: &Alert) -> bool {
        self.matchers.iter().all(|m| matcher_holds(m, alert))
    }

    /// The matchers as typed on the command line.
    pub fn matchers_text(&self) -> String {
        self.matchers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A new silence with an id derived from its content and creation time.
pub fn new_silence(
    matchers: Vec<Matcher>,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    created_by: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Silence {
    let text = matchers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let digest = Sha256::digest(
        format!(
            "{text}|{}|{}|{created_by}|{reason}|{}",
            starts_at.timestamp_millis(),
            ends_at.timestamp_millis(),
            now.timestamp_nanos_opt().unwrap_or_default()
        )
        .as_bytes(),
    );
    Silence {
        id: hex(&digest[..4]),
        matchers,
        starts_at,
        ends_at,
        created_by: created_by.to_string(),
        reason: reason.to_string(),
        created_at: now,
        expired_at: None,
        expired_by: None,
    }
}

/// The ids of the active silences matching an alert.
pub fn silencing<'a>(silences: &'a [Silence], alert: &Alert, now: DateTime<Utc>) -> Vec<&'a str> {
    silences
        .iter()
        .filter(|s| s.is_active(now) && s.matches(alert))
        .map(|s| s.id.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::tests::{event, t};
    use crate::lifecycle::{Known, Outcome, apply};
    use riverwatch_core::Registry;
    use riverwatch_core::events::EventStatus;

    fn alert() -> Alert {
        let reg = Registry::builtin().unwrap();
        match apply(
            Known::default(),
            &event("e", EventStatus::Firing, "LLH-CJG", "NH3N", 0),
            &reg,
            t(0),
        ) {
            Outcome::Opened(a) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_and_matches() {
        let a = alert();
        let m = parse_matchers("rule=parameter_exceedance, subject=LLH-CJG").unwrap();
        let s = new_silence(m, t(0), t(240), "张伟", "站房维护", t(0));
        assert_eq!(s.id.len(), 8);
        assert!(s.matches(&a));
        assert!(s.is_active(t(10)));
        assert!(!s.is_active(t(240)));
        assert_eq!(
            s.matchers_text(),
            "rule=parameter_exceedance,subject=LLH-CJG"
        );

        for (text, hit) in [
            ("subject=LLH-*", true),
            ("subject=SHJ-*", false),
            ("parameter!=NH3N", false),
            ("province=HLJ", true),
            ("river=lalin,city=扶余*", true),
            ("severity=critical", false),
        ] {
            let s = new_silence(parse_matchers(text).unwrap(), t(0), t(1), "x", "y", t(0));
            assert_eq!(s.matches(&a), hit, "{text}");
        }
        assert!(parse_matchers("colour=red").is_err());
        assert!(parse_matchers("subject").is_err());
        assert!(parse_matchers("").is_err());
    }

    #[test]
    fn globs() {
        assert!(glob("a*c", "abbbc"));
        assert!(glob("*", ""));
        assert!(glob("LLH-*-X", "LLH-CJG-X"));
        assert!(!glob("a*c", "abbb"));
        assert!(glob("abc", "abc"));
    }
}
