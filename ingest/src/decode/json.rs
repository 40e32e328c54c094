//! JSON observations (`{prefix}/obs/{station}`):
//! `{"station":"LLH-CJG","ts":"2026-11-22T08:00:00+08:00","seq":1842,"values":{"pH":7.62},
//! "flags":{"TP":"M"}}`. `ts` is RFC 3339 with an offset, or epoch milliseconds; `station`
//! may be left out (the topic names it) but must match the topic when present; `period`
//! (`sample`, `minute`, `hour`, `day`) is optional and defaults to `sample`.
//!
//! A key repeated inside `values` or `flags` (`{"NH3N":2.5,"NH3N":0.1}`) is not resolved by
//! keeping one of the values, as a plain JSON map would: the parameter gets a `duplicate_key`
//! dead letter naming every value given, and no reading.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;

use chrono::{DateTime, Utc};
use riverwatch_core::{Period, ReasonCode};
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue as JsonRaw;

use super::{Message, Outcome, RawValue, Validator, excerpt};

/// The members of a JSON object in the order sent, repeated keys included (a map type would
/// silently keep only one of them).
#[derive(Default)]
struct Entries<'a>(Vec<(Cow<'a, str>, &'a JsonRaw)>);

impl<'a> Entries<'a> {
    /// The values given for `key`.
    fn all<'s>(&'s self, key: &'s str) -> impl Iterator<Item = &'a JsonRaw> + 's {
        self.0
            .iter()
            .filter(move |(k, _)| k.as_ref() == key)
            .map(|(_, v)| *v)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Entries<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some((k, v)) = map.next_entry::<Cow<'de, str>, &'de JsonRaw>()? {
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(EntriesVisitor)
    }
}

#[derive(Deserialize)]
struct Observation<'a> {
    #[serde(default, borrow)]
    station: Option<Cow<'a, str>>,
    #[serde(borrow)]
    ts: Option<&'a JsonRaw>,
    #[serde(default, borrow)]
    values: Option<Entries<'a>>,
    #[serde(default, borrow)]
    flags: Entries<'a>,
    #[serde(default)]
    period: Option<Period>,
}

/// Reads `ts`: an RFC 3339 string with offset, or integer epoch milliseconds.
fn parse_ts(raw: &JsonRaw) -> Result<DateTime<Utc>, String> {
    let text = raw.get().trim();
    if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        return DateTime::parse_from_rfc3339(inner)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                format!(
                    "ts `{}` is not RFC 3339 with an offset: {e}",
                    excerpt(inner)
                )
            });
    }
    text.parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_millis)
        .ok_or_else(|| {
            format!(
                "ts `{}` is neither an RFC 3339 string nor epoch milliseconds",
                excerpt(text)
            )
        })
}

/// A JSON value as a [`RawValue`]: numbers are parsed, anything else is kept as text.
fn raw_number(raw: &JsonRaw) -> RawValue<'_> {
    let text = raw.get().trim();
    match text.as_bytes().first() {
        Some(b'-' | b'0'..=b'9') => RawValue::parse(text),
        _ => RawValue::Text(text),
    }
}

/// A JSON flag value: the letter inside a string, or the raw text (rejected later).
fn flag_text(raw: &JsonRaw) -> &str {
    let text = raw.get().trim();
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text)
}

/// Decodes one JSON observation.
pub fn decode(v: &Validator<'_>, msg: &Message<'_>, topic_station: &str) -> Outcome {
    let mut out = Outcome::default();
    let station = match v.station_of_topic(msg, topic_station) {
        Ok(s) => s,
        Err(d) => {
            out.dead_letters.push(*d);
            return out;
        }
    };
    let sid = Some(station.id.as_str());
    let malformed = |reason: String| v.reject(msg, ReasonCode::MalformedJson, reason, sid);
    let text = match std::str::from_utf8(msg.payload) {
        Ok(t) => t,
        Err(e) => {
            out.dead_letters
                .push(malformed(format!("payload is not UTF-8: {e}")));
            return out;
        }
    };
    let obs: Observation<'_> = match serde_json::from_str(text) {
        Ok(o) => o,
        Err(e) => {
            out.dead_letters
                .push(malformed(format!("not a JSON observation: {e}")));
            return out;
        }
    };
    if let Some(named) = &obs.station
        && named.as_ref() != station.id.as_str()
    {
        out.dead_letters.push(malformed(format!(
            "payload station `{}` does not match topic station `{}`",
            excerpt(named),
            station.id
        )));
        return out;
    }
    let Some(ts) = obs.ts else {
        out.dead_letters.push(malformed("missing `ts`".to_string()));
        return out;
    };
    let at = match parse_ts(ts) {
        Ok(t) => t,
        Err(reason) => {
            out.dead_letters.push(malformed(reason));
            return out;
        }
    };
    let values = match obs.values {
        Some(values) if !values.0.is_empty() => values,
        Some(_) => {
            out.dead_letters
                .push(malformed("`values` is empty".to_string()));
            return out;
        }
        None => {
            out.dead_letters
                .push(malformed("missing `values`".to_string()));
            return out;
        }
    };
    if let Err(d) = v.check_time(msg, station, at) {
        out.dead_letters.push(*d);
        return out;
    }
    let period = obs.period.unwrap_or_default();
    // How often each key is given: a repeated one is reported once, at its first occurrence.
    let mut seen: HashMap<&str, (usize, usize)> = HashMap::with_capacity(values.0.len());
    for (k, _) in &values.0 {
        seen.entry(k.as_ref()).or_default().0 += 1;
    }
    for (k, _) in &obs.flags.0 {
        seen.entry(k.as_ref()).or_default().1 += 1;
    }
    let flag_of: HashMap<&str, &JsonRaw> =
        obs.flags.0.iter().map(|(k, f)| (k.as_ref(), *f)).collect();
    let mut reported: HashSet<&str> = HashSet::new();
    for (code, raw) in &values.0 {
        let (n_values, n_flags) = seen.get(code.as_ref()).copied().unwrap_or((1, 0));
        if n_values > 1 || n_flags > 1 {
            if reported.insert(code.as_ref()) {
                let given: Vec<&JsonRaw> = values.all(code).collect();
                let flags: Vec<&JsonRaw> = obs.flags.all(code).collect();
                out.dead_letters
                    .push(duplicate(v, msg, station, code, &given, &flags));
            }
            continue;
        }
        let flag = flag_of.get(code.as_ref()).map(|f| flag_text(f));
        v.value(
            msg,
            station,
            code,
            raw_number(raw),
            flag,
            at,
            period,
            &mut out,
        );
    }
    out
}

/// The `duplicate_key` dead letter of a parameter given more than once.
fn duplicate(
    v: &Validator<'_>,
    msg: &Message<'_>,
    station: &riverwatch_core::Station,
    code: &str,
    values: &[&JsonRaw],
    flags: &[&JsonRaw],
) -> riverwatch_core::DeadLetter {
    let list = |raws: &[&JsonRaw]| {
        raws.iter()
            .map(|r| excerpt(r.get().trim()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let reason = if values.len() > 1 {
        format!(
            "`values` gives `{}` {} times ({}); none is stored",
            excerpt(code),
            values.len(),
            list(values)
        )
    } else {
        format!(
            "`flags` gives `{}` {} times ({}); its value {} is not stored",
            excerpt(code),
            flags.len(),
            list(flags),
            list(values)
        )
    };
    let mut dead = v.reject(
        msg,
        ReasonCode::DuplicateKey,
        reason,
        Some(station.id.as_str()),
    );
    dead.parameter = Some(code.to_string());
    dead
}
