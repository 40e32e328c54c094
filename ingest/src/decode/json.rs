//! JSON observations (`{prefix}/obs/{station}`):
//! `{"station":"LLH-CJG","ts":"2026-11-22T08:00:00+08:00","seq":1842,"values":{"pH":7.62},
//! "flags":{"TP":"M"}}`. `ts` is RFC 3339 with an offset, or epoch milliseconds; `station`
//! may be left out (the topic names it) but must match the topic when present; `period`
//! (`sample`, `minute`, `hour`, `day`) is optional and defaults to `sample`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use riverwatch_core::{Period, ReasonCode};
use serde::Deserialize;
use serde_json::value::RawValue as JsonRaw;

use super::{Message, Outcome, RawValue, Validator, excerpt};

#[derive(Deserialize)]
struct Observation<'a> {
    #[serde(default, borrow)]
    station: Option<Cow<'a, str>>,
    #[serde(borrow)]
    ts: Option<&'a JsonRaw>,
    #[serde(default, borrow)]
    values: Option<BTreeMap<Cow<'a, str>, &'a JsonRaw>>,
    #[serde(default, borrow)]
    flags: BTreeMap<Cow<'a, str>, &'a JsonRaw>,
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
        Some(values) if !values.is_empty() => values,
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
    for (code, raw) in &values {
        let flag = obs.flags.get(code).map(|f| flag_text(f));
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
