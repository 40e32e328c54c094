//! `riverwatch record`: subscribe to the observation topics of a live broker and write what
//! arrives as a recording.
//!
//! JSON observations and HJ 212 frames are decoded with the core codec and the registry (MN
//! to station, pollutant code to parameter, `DataTime` from China Standard Time); packets of
//! a split HJ 212 message are joined when all have arrived. Anything that does not decode is
//! skipped and counted, and the count is logged. Values are not range-checked: the recording
//! keeps what stations sent.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use riverwatch_core::DataFlag;
use riverwatch_core::hj212::{Frame, Version, join_packets};
use riverwatch_core::mqtt::{MqttConfig, network_options};
use riverwatch_core::registry::Registry;
use riverwatch_core::topics::{TopicKind, Topics};
use rumqttc::{AsyncClient, Event, EventLoop, Packet, QoS};
use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::publish::client_id;
use crate::recording::{Row, write_rows};

/// What `record` needs.
#[derive(Debug, Clone)]
pub struct RecordConfig {
    /// The network (MN and pollutant codes).
    pub registry: Arc<Registry>,
    /// The broker.
    pub mqtt: MqttConfig,
    /// Output file, `.parquet` or `.csv`.
    pub out: PathBuf,
    /// Stop after this long (wall clock); none: until shutdown or `max_messages`.
    pub duration: Option<Duration>,
    /// Stop after this many messages.
    pub max_messages: Option<u64>,
    /// MQTT client id; `rw-record-{pid}` when `None`.
    pub client_id: Option<String>,
}

/// What `record` did.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSummary {
    /// Messages received.
    pub messages: u64,
    /// Rows written.
    pub rows: u64,
    /// Messages that did not decode.
    pub skipped: u64,
    /// The file written.
    pub out: PathBuf,
}

/// A subscribed recorder.
pub struct Recorder {
    config: RecordConfig,
    client: AsyncClient,
    eventloop: EventLoop,
    topics: Topics,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("out", &self.config.out)
            .field("prefix", &self.topics.prefix())
            .finish()
    }
}

const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(15);

impl Recorder {
    /// Connects and subscribes to `{prefix}/obs/+` and `{prefix}/hj212/+` at QoS 1, returning
    /// once the broker has acknowledged both subscriptions.
    ///
    /// # Errors
    /// Bad settings, or no subscription acknowledged within 15 s (or before `shutdown`).
    pub async fn subscribe(config: RecordConfig, shutdown: &CancellationToken) -> Result<Self> {
        let id = config
            .client_id
            .clone()
            .unwrap_or_else(|| client_id("rw-record"));
        let mut options = config.mqtt.options(&id, true)?;
        options.set_inflight(crate::publish::INFLIGHT);
        let (client, mut eventloop) = AsyncClient::new(options, 1000);
        eventloop.set_network_options(network_options());
        let topics = config.mqtt.topics();
        for kind in [TopicKind::Obs, TopicKind::Hj212] {
            client
                .subscribe(topics.filter(kind), QoS::AtLeastOnce)
                .await
                .map_err(|e| Error::MqttClient(e.to_string()))?;
        }
        let mut acked = 0;
        let deadline = tokio::time::sleep(SUBSCRIBE_TIMEOUT);
        tokio::pin!(deadline);
        while acked < 2 {
            let event = tokio::select! {
                () = shutdown.cancelled() => return Err(Error::MqttClient("shut down before subscribing".into())),
                () = &mut deadline => return Err(Error::MqttClient("no SUBACK from the broker within 15 s".into())),
                event = eventloop.poll() => event,
            };
            match event {
                Ok(Event::Incoming(Packet::SubAck(_))) => acked += 1,
                Ok(_) => {}
                Err(e) => return Err(Error::MqttClient(e.to_string())),
            }
        }
        tracing::info!(prefix = topics.prefix(), "Recording subscribed.");
        Ok(Self {
            config,
            client,
            eventloop,
            topics,
        })
    }

    /// Records until the duration, the message limit or `shutdown`, then writes the file.
    ///
    /// # Errors
    /// A file that cannot be written.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<RecordSummary> {
        let mut decoder = Decoder::new(self.config.registry.clone(), self.topics.clone());
        let mut rows = Vec::new();
        let mut messages = 0u64;
        let stop_at = self
            .config
            .duration
            .map(|d| tokio::time::Instant::now() + d);
        let mut backoff = riverwatch_core::backoff::Backoff::network();
        let mut last_log = tokio::time::Instant::now();
        loop {
            if self.config.max_messages.is_some_and(|n| messages >= n) {
                break;
            }
            let sleep = async {
                match stop_at {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            let event = tokio::select! {
                () = shutdown.cancelled() => break,
                () = sleep => break,
                event = self.eventloop.poll() => event,
            };
            match event {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    messages += 1;
                    decoder.take(&p.topic, &p.payload, &mut rows);
                    if last_log.elapsed() >= Duration::from_secs(5) {
                        last_log = tokio::time::Instant::now();
                        tracing::info!(
                            messages,
                            rows = rows.len(),
                            skipped = decoder.skipped,
                            "Recording."
                        );
                    }
                }
                Ok(Event::Incoming(Packet::ConnAck(_))) => backoff.reset(),
                Ok(_) => {}
                Err(error) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(%error, "Broker connection failed; retrying.");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
        let _ = self.client.try_disconnect();
        if decoder.skipped > 0 {
            tracing::warn!(
                skipped = decoder.skipped,
                "Messages that did not decode were skipped."
            );
        }
        let out = self.config.out.clone();
        let n = rows.len() as u64;
        let path = out.clone();
        tokio::task::spawn_blocking(move || write_rows(&path, &rows))
            .await
            .map_err(|e| Error::Task(e.to_string()))??;
        tracing::info!(messages, rows = n, skipped = decoder.skipped, file = %out.display(), "Recording written.");
        Ok(RecordSummary {
            messages,
            rows: n,
            skipped: decoder.skipped,
            out,
        })
    }
}

/// Subscribes and records (see [`Recorder`]).
///
/// # Errors
/// As [`Recorder::subscribe`] and [`Recorder::run`].
pub async fn record(config: RecordConfig, shutdown: CancellationToken) -> Result<RecordSummary> {
    Recorder::subscribe(config, &shutdown)
        .await?
        .run(shutdown)
        .await
}

/// Turns messages into rows.
#[derive(Debug)]
pub struct Decoder {
    registry: Arc<Registry>,
    topics: Topics,
    packets: HashMap<(String, String), Vec<Frame>>,
    /// Messages that did not decode.
    pub skipped: u64,
}

impl Decoder {
    /// A decoder for the network and topic layout.
    pub fn new(registry: Arc<Registry>, topics: Topics) -> Self {
        Self {
            registry,
            topics,
            packets: HashMap::new(),
            skipped: 0,
        }
    }

    /// Decodes one message into `rows` (or counts it as skipped).
    pub fn take(&mut self, topic: &str, payload: &[u8], rows: &mut Vec<Row>) {
        let ok = match self.topics.parse(topic) {
            Some((TopicKind::Obs, station)) => decode_json(station, payload, rows),
            Some((TopicKind::Hj212, _)) => self.decode_hj212(payload, rows),
            _ => false,
        };
        if !ok {
            self.skipped += 1;
            tracing::debug!(topic, "Message skipped: it does not decode.");
        }
    }

    fn decode_hj212(&mut self, payload: &[u8], rows: &mut Vec<Row>) -> bool {
        let Ok(frame) = Frame::decode(payload) else {
            return false;
        };
        let Some(station) = self.registry.station_by_mn(&frame.mn) else {
            return false;
        };
        let station_id = station.id.to_string();
        let (data, cn, legacy) = if frame.flag.packetized() {
            let key = (frame.mn.clone(), frame.qn.clone().unwrap_or_default());
            let pnum = frame.pnum.unwrap_or(1) as usize;
            let parts = self.packets.entry(key.clone()).or_default();
            parts.push(frame);
            if parts.len() < pnum {
                return true;
            }
            let parts = self.packets.remove(&key).unwrap_or_default();
            let Some(first) = parts.first() else {
                return false;
            };
            let (cn, legacy) = (first.cn.clone(), is_2005(first));
            match join_packets(&parts) {
                Ok(d) => (d, cn, legacy),
                Err(_) => return false,
            }
        } else {
            match frame.cp_data() {
                Ok(d) => (d, frame.cn.clone(), is_2005(&frame)),
                Err(_) => return false,
            }
        };
        let Some(local) = data.data_time else {
            return false;
        };
        let time = riverwatch_core::time::from_cst(local);
        let before = rows.len();
        for item in &data.items {
            let param = self
                .registry
                .parameter_by_hj212(&item.code, legacy)
                .or_else(|| self.registry.parameter_by_hj212(&item.code, !legacy));
            let (Some(param), Some((_, text))) = (param, item.value_for_cn(&cn)) else {
                rows.truncate(before);
                return false;
            };
            let Ok(value) = text.parse::<f64>() else {
                rows.truncate(before);
                return false;
            };
            let flag = match item.flag.as_deref() {
                None => DataFlag::N,
                Some(f) => match DataFlag::from_letter(f) {
                    Some(f) => f,
                    None => {
                        rows.truncate(before);
                        return false;
                    }
                },
            };
            rows.push(Row {
                station: station_id.clone(),
                parameter: param.code.clone(),
                time,
                value,
                flag,
            });
        }
        true
    }
}

fn is_2005(frame: &Frame) -> bool {
    matches!(frame.flag.version(), Ok(Version::Hj212_2005))
}

/// `values` in the order sent (serde_json's map would sort them).
struct OrderedValues(Vec<(String, f64)>);

impl<'de> Deserialize<'de> for OrderedValues {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OrderedValues;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of parameter codes to numbers")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, f64>()? {
                    out.push((k, v));
                }
                Ok(OrderedValues(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
struct Observation {
    station: Option<String>,
    ts: serde_json::Value,
    values: OrderedValues,
    #[serde(default)]
    flags: HashMap<String, String>,
}

fn decode_json(topic_station: &str, payload: &[u8], rows: &mut Vec<Row>) -> bool {
    let Ok(obs) = serde_json::from_slice::<Observation>(payload) else {
        return false;
    };
    let station = obs.station.unwrap_or_else(|| topic_station.to_string());
    if station != topic_station {
        return false;
    }
    let time: Option<DateTime<Utc>> = match &obs.ts {
        serde_json::Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        serde_json::Value::Number(n) => n.as_i64().and_then(DateTime::from_timestamp_millis),
        _ => None,
    };
    let Some(time) = time else {
        return false;
    };
    let mut out = Vec::with_capacity(obs.values.0.len());
    for (code, value) in obs.values.0 {
        let flag = match obs.flags.get(&code) {
            None => DataFlag::N,
            Some(f) => match DataFlag::from_letter(f) {
                Some(f) => f,
                None => return false,
            },
        };
        out.push(Row {
            station: station.clone(),
            parameter: code,
            time,
            value,
            flag,
        });
    }
    rows.extend(out);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_values_keep_their_order_and_flags() {
        let mut rows = Vec::new();
        let payload = br#"{"station":"LLH-CJG","ts":"2026-11-22T08:00:00+08:00","seq":1,"values":{"pH":7.62,"DO":8.4,"CODMn":4.1},"flags":{"DO":"M"}}"#;
        assert!(decode_json("LLH-CJG", payload, &mut rows));
        let codes: Vec<&str> = rows.iter().map(|r| r.parameter.as_str()).collect();
        assert_eq!(codes, ["pH", "DO", "CODMn"]);
        assert_eq!(rows[1].flag, DataFlag::M);
        assert_eq!(rows[0].time.to_rfc3339(), "2026-11-22T00:00:00+00:00");
        assert!(
            !decode_json("LLH-HK", payload, &mut rows),
            "station mismatch"
        );
        assert!(!decode_json("LLH-CJG", b"{not json", &mut rows));
    }
}
