//! From observations to MQTT messages: JSON observations and HJ 212 frames.
//!
//! A JSON observation is `{"station","ts","seq","values","flags"}` with `ts` in China
//! Standard Time with its offset and `flags` listing only values not flagged `N`. An HJ 212
//! frame carries the station's MN, the edition's `Flag`, `DataTime` in China Standard Time,
//! CN 2011 (`-Rtd`) or 2061 (`-Avg`), and a `-Flag` per pollutant; a message longer than the
//! 1024-byte data segment is split into packets. Parameters without a pollutant code in the
//! station's edition (nitrobenzene, level, flow, rain; SS in 2017/2025) go out as a JSON
//! observation with the same time, so nothing is lost.
//!
//! Values are written with the decimals the generator rounded them to, so the number a
//! receiver decodes equals the number in the recording.

use std::fmt::Write as _;

use chrono::SecondsFormat;
use riverwatch_core::hj212::{CpData, CpItem, Flag, Frame, MAX_SEGMENT_LEN, split_packets};
use riverwatch_core::registry::{Station, StationKind};
use riverwatch_core::topics::Topics;
use serde::{Deserialize, Serialize};

use crate::generate::{Observation, SimStation, SimValue};
use crate::scenario::{Edition, PublishDef};

/// How a run publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// Every station sends JSON observations.
    #[default]
    Json,
    /// Every station sends HJ 212 frames (JSON for parameters without a code).
    Hj212,
    /// Each station as the scenario's `publish.hj212_stations` says.
    Mixed,
}

impl OutputFormat {
    /// `json`, `hj212` or `mixed`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Json => "json",
            OutputFormat::Hj212 => "hj212",
            OutputFormat::Mixed => "mixed",
        }
    }
}

/// How one station publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StationFormat {
    /// JSON observations.
    Json,
    /// HJ 212 frames.
    Hj212 {
        /// Edition.
        edition: Edition,
        /// Command code, `2011` or `2061`.
        cn: String,
        /// System code (21 surface water, 22 air, 32 water pollution source).
        st: String,
        /// Password.
        pw: String,
        /// The station's MN.
        mn: String,
    },
}

impl StationFormat {
    /// The format of a station; `hj212` asks for frames (a station kind without an HJ 212
    /// system code, hydrology, always sends JSON).
    pub fn new(station: &Station, hj212: bool, publish: &PublishDef) -> Self {
        let st = match station.kind {
            StationKind::Water => "21",
            StationKind::Air => "22",
            StationKind::Outfall => "32",
            StationKind::Hydrology => return StationFormat::Json,
        };
        if !hj212 {
            return StationFormat::Json;
        }
        StationFormat::Hj212 {
            edition: publish.edition_of(station.id.as_str()),
            cn: publish.cn_of(station.kind).to_string(),
            st: st.to_string(),
            pw: publish.password.clone(),
            mn: station.mn.clone(),
        }
    }
}

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// `{prefix}/obs/{station}`.
    Obs,
    /// `{prefix}/hj212/{station}`.
    Hj212,
}

/// One MQTT message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutMessage {
    /// Topic.
    pub topic: String,
    /// Payload.
    pub payload: Vec<u8>,
    /// JSON or HJ 212.
    pub channel: Channel,
}

/// The pollutant code of a parameter in an edition: the 2005 table falls back to the 2017
/// code (ingest tries both tables for 2005 frames); 2017 and 2025 use the 2017 table.
fn code_for<'a>(st: &'a SimStation, v: &SimValue, edition: Edition) -> Option<&'a str> {
    let p = st.params.get(v.param)?;
    match edition {
        Edition::Hj2005 => p.hj212_2005.as_deref().or(p.hj212.as_deref()),
        Edition::Hj2017 | Edition::Hj2025 => p.hj212.as_deref(),
    }
}

/// The values of an observation in the order they are sent: those going into HJ 212 frames
/// first, then those going into JSON.
pub fn split_values<'o>(
    st: &SimStation,
    obs: &'o Observation,
) -> (Vec<&'o SimValue>, Vec<&'o SimValue>) {
    match &st.format {
        StationFormat::Json => (Vec::new(), obs.values.iter().collect()),
        StationFormat::Hj212 { edition, .. } => obs
            .values
            .iter()
            .partition(|v| code_for(st, v, *edition).is_some()),
    }
}

/// Writes a float as its shortest round-trip decimal text (as `riverwatch query` does).
pub fn number_text(value: f64) -> String {
    value.to_string()
}

fn json_string(out: &mut String, s: &str) {
    match serde_json::to_string(s) {
        Ok(quoted) => out.push_str(&quoted),
        Err(_) => out.push_str("\"\""),
    }
}

/// The JSON observation of some values of an observation.
pub fn json_payload(st: &SimStation, obs: &Observation, values: &[&SimValue]) -> String {
    let mut out = String::with_capacity(64 + values.len() * 16);
    out.push_str("{\"station\":");
    json_string(&mut out, st.station.id.as_str());
    out.push_str(",\"ts\":\"");
    out.push_str(
        &obs.stamped_at
            .with_timezone(&riverwatch_core::time::cst())
            .to_rfc3339_opts(SecondsFormat::Secs, false),
    );
    let _ = write!(out, "\",\"seq\":{},\"values\":{{", obs.seq);
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(&mut out, &st.params[v.param].code);
        out.push(':');
        out.push_str(&number_text(v.value));
    }
    out.push('}');
    let flagged: Vec<&&SimValue> = values
        .iter()
        .filter(|v| v.flag != Default::default())
        .collect();
    if !flagged.is_empty() {
        out.push_str(",\"flags\":{");
        for (i, v) in flagged.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json_string(&mut out, &st.params[v.param].code);
            let _ = write!(out, ":\"{}\"", v.flag);
        }
        out.push('}');
    }
    out.push('}');
    out
}

/// The HJ 212 frames of some values of an observation (several when split into packets).
pub fn hj212_frames(st: &SimStation, obs: &Observation, values: &[&SimValue]) -> Vec<String> {
    let StationFormat::Hj212 {
        edition,
        cn,
        st: system,
        pw,
        mn,
    } = &st.format
    else {
        return Vec::new();
    };
    let local = obs
        .stamped_at
        .with_timezone(&riverwatch_core::time::cst())
        .naive_local();
    let template = Frame {
        qn: Some(format!("{}000", local.format("%Y%m%d%H%M%S"))),
        st: system.clone(),
        cn: cn.clone(),
        pw: pw.clone(),
        mn: mn.clone(),
        flag: Flag::new(edition.version(), false, false),
        pnum: None,
        pno: None,
        cp: String::new(),
    };
    let hourly = cn == "2061";
    let items = values
        .iter()
        .filter_map(|v| {
            let code = code_for(st, v, *edition)?;
            let decimals = usize::try_from(st.params[v.param].decimals).unwrap_or(4);
            let text = format!("{:.*}", decimals, v.value);
            let mut item = CpItem::new(code);
            if hourly {
                item.avg = Some(text);
            } else {
                item.rtd = Some(text);
            }
            item.flag = Some(v.flag.to_string());
            Some(item)
        })
        .collect();
    let data = CpData {
        data_time: Some(local),
        items,
        extra: Vec::new(),
    };
    split_packets(&template, &data, MAX_SEGMENT_LEN)
        .iter()
        .map(Frame::encode)
        .collect()
}

/// Every message of one observation, in publication order.
pub fn encode(st: &SimStation, obs: &Observation, topics: &Topics) -> Vec<OutMessage> {
    let (framed, json) = split_values(st, obs);
    let id = st.station.id.as_str();
    let mut out = Vec::new();
    if !framed.is_empty() {
        let topic = topics.hj212(id);
        for frame in hj212_frames(st, obs, &framed) {
            out.push(OutMessage {
                topic: topic.clone(),
                payload: frame.into_bytes(),
                channel: Channel::Hj212,
            });
        }
    }
    if !json.is_empty() {
        out.push(OutMessage {
            topic: topics.obs(id),
            payload: json_payload(st, obs, &json).into_bytes(),
            channel: Channel::Obs,
        });
    }
    out
}
