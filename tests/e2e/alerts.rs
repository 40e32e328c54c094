//! Alerts end to end, what the alert tests share: events of a boundary exceedance, their
//! messages on the broker, and the emails received per address. The tests are in
//! `alerts_notify.rs`, `alerts_lifecycle.rs`, `alerts_delivery.rs` and `alerts_audit.rs`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use riverwatch_core::Province;
use riverwatch_core::class::WaterClass;
use riverwatch_core::events::{Attribution, Event, EventStatus, Rule, Severity};

use crate::fixture::*;
use crate::util::*;

pub(crate) fn minute(offset_min: i64) -> DateTime<Utc> {
    let t = Utc::now() - chrono::Duration::hours(3);
    DateTime::from_timestamp(t.timestamp() / 60 * 60, 0).unwrap()
        + chrono::Duration::minutes(offset_min)
}

/// A water exceedance event.
pub(crate) fn exceedance(
    id: &str,
    status: EventStatus,
    station: &str,
    param: &str,
    at: DateTime<Utc>,
) -> Event {
    let reg = registry();
    let s = reg.station(station).unwrap();
    let provinces = if s.boundary {
        Province::ALL.to_vec()
    } else {
        vec![s.province]
    };
    let mut e = base_event(
        id,
        Rule::ParameterExceedance,
        status,
        Severity::Critical,
        station,
        &provinces,
        s.boundary,
        at,
    );
    e.parameter = Some(param.into());
    e.value = Some(1.62);
    e.unit = Some("mg/L".into());
    e.limit = Some(1.0);
    e.class = Some(WaterClass::V);
    e.target = Some(WaterClass::III);
    e.exceedance_multiple = Some(0.62);
    e.standard = "GB 3838-2002".into();
    e.attribution = Some(Attribution::ArisenBetween {
        upstream_station: "LLH-YS".into(),
        upstream_province: Province::Jilin,
        upstream_value: 0.41,
        travel_hours: 27.8,
    });
    e.summary_zh = format!("{} {param} 1.62 mg/L，超Ⅲ类标准 0.62 倍", s.name_zh);
    e.summary_en = format!("{} {param} 1.62 mg/L", s.name_pinyin);
    e
}

/// An event as analytics publishes it: on its subject's topic, signed.
pub(crate) fn message(e: &Event) -> (String, Vec<u8>) {
    signed(
        format!("rw/v1/events/{}", e.subject),
        &serde_json::to_vec(e).unwrap(),
    )
}

/// Messages accepted for one address.
pub(crate) fn to(received: &[Received], addr: &str) -> Vec<ParsedMail> {
    received
        .iter()
        .filter(|r| r.to.iter().any(|t| t == addr))
        .map(Received::parsed)
        .collect()
}

pub(crate) fn addresses(received: &[Received]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in received {
        for t in &r.to {
            *out.entry(t.clone()).or_insert(0) += 1;
        }
    }
    out
}
