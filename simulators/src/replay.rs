//! `riverwatch replay`: re-publish a recording (CSV or Parquet) as JSON observations, one
//! message per station and time, keeping the recording's relative timing at a chosen speed.
//!
//! With `shift_to_now` every time moves by one offset chosen so that no message carries a
//! time later than the moment it is sent: at speed ≥ 1 the last reading is stamped with the
//! wall-clock time it goes out (earlier ones lie in the past, at their original spacing); at
//! speed ≤ 1 the first one is. Ingest's "no more than 10 minutes in the future" check is then
//! never tripped by the shift itself.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use riverwatch_core::DataFlag;
use riverwatch_core::mqtt::MqttConfig;
use tokio_util::sync::CancellationToken;

use crate::encode::number_text;
use crate::error::{Error, Result};
use crate::publish::{Publisher, client_id};
use crate::recording::{Row, read_rows};

/// What `replay` needs.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    /// The recording.
    pub input: PathBuf,
    /// The broker.
    pub mqtt: MqttConfig,
    /// Simulated seconds per wall-clock second (> 0).
    pub speed: f64,
    /// Shift the times towards now (see the module docs).
    pub shift_to_now: bool,
    /// MQTT client id; `rw-replay-{pid}` when `None`.
    pub client_id: Option<String>,
}

/// What `replay` did.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplaySummary {
    /// Messages published.
    pub messages: u64,
    /// Readings in them.
    pub readings: u64,
    /// Messages the broker acknowledged.
    pub acked: u64,
    /// Offset added to every time.
    pub shift: chrono::Duration,
    /// Whether the shutdown token ended the replay early.
    pub interrupted: bool,
}

/// One message to replay: the readings of one station at one time.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayMessage {
    /// Station.
    pub station: String,
    /// Time (before any shift).
    pub time: DateTime<Utc>,
    /// (parameter, value, flag) in recording order.
    pub values: Vec<(String, f64, DataFlag)>,
}

/// Groups rows into messages: one per station and time, in time order (recording order
/// among equal times). A parameter repeated for one station and time (a duplicate resend)
/// starts another message.
pub fn group(rows: &[Row]) -> Vec<ReplayMessage> {
    let mut messages: Vec<ReplayMessage> = Vec::new();
    let mut open: HashMap<(String, DateTime<Utc>), usize> = HashMap::new();
    for row in rows {
        let key = (row.station.clone(), row.time);
        let index = match open.get(&key) {
            Some(&i) if !messages[i].values.iter().any(|v| v.0 == row.parameter) => i,
            _ => {
                messages.push(ReplayMessage {
                    station: row.station.clone(),
                    time: row.time,
                    values: Vec::new(),
                });
                open.insert(key, messages.len() - 1);
                messages.len() - 1
            }
        };
        messages[index]
            .values
            .push((row.parameter.clone(), row.value, row.flag));
    }
    // Stable: equal times keep recording order.
    messages.sort_by_key(|m| m.time);
    messages
}

/// The shift that keeps every replayed time at or before its send time (see module docs).
pub fn shift_to_now(
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    now: DateTime<Utc>,
    speed: f64,
) -> chrono::Duration {
    let span_secs = (last - first).num_milliseconds() as f64 / 1000.0;
    let lag_secs = if speed >= 1.0 {
        span_secs * (1.0 - 1.0 / speed)
    } else {
        0.0
    };
    (now - first) - chrono::Duration::milliseconds((lag_secs * 1000.0).round() as i64)
}

/// The JSON observation of a message.
pub fn payload(message: &ReplayMessage, time: DateTime<Utc>, seq: u64) -> String {
    let mut out = String::new();
    let ts = time
        .with_timezone(&riverwatch_core::time::cst())
        .to_rfc3339_opts(SecondsFormat::AutoSi, false);
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    let _ = write!(
        out,
        "{{\"station\":{},\"ts\":\"{ts}\",\"seq\":{seq},\"values\":{{",
        quote(&message.station)
    );
    for (i, (code, value, _)) in message.values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{}:{}", quote(code), number_text(*value));
    }
    out.push('}');
    let flagged: Vec<&(String, f64, DataFlag)> = message
        .values
        .iter()
        .filter(|v| v.2 != DataFlag::N)
        .collect();
    if !flagged.is_empty() {
        out.push_str(",\"flags\":{");
        for (i, (code, _, flag)) in flagged.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{}:\"{flag}\"", quote(code));
        }
        out.push('}');
    }
    out.push('}');
    out
}

/// Replays a recording.
///
/// # Errors
/// A recording that cannot be read, a bad speed, or a broker client that stopped.
pub async fn replay(config: ReplayConfig, shutdown: CancellationToken) -> Result<ReplaySummary> {
    if !(config.speed.is_finite() && config.speed > 0.0) {
        return Err(Error::Config("--speed must be a positive number".into()));
    }
    let input = config.input.clone();
    let rows = tokio::task::spawn_blocking(move || read_rows(&input))
        .await
        .map_err(|e| Error::Task(e.to_string()))??;
    let messages = group(&rows);
    let (Some(first), Some(last)) = (messages.first(), messages.last()) else {
        return Ok(ReplaySummary {
            messages: 0,
            readings: 0,
            acked: 0,
            shift: chrono::Duration::zero(),
            interrupted: false,
        });
    };
    let (t0, t_last) = (first.time, last.time);
    let shift = if config.shift_to_now {
        shift_to_now(t0, t_last, Utc::now(), config.speed)
    } else {
        chrono::Duration::zero()
    };
    let topics = config.mqtt.topics();
    let id = config
        .client_id
        .clone()
        .unwrap_or_else(|| client_id("rw-replay"));
    let publisher = Publisher::start(&config.mqtt, &id)?;
    tracing::info!(
        file = %config.input.display(),
        messages = messages.len(),
        speed = config.speed,
        shift_secs = shift.num_seconds(),
        "Replay started."
    );
    let wall0 = tokio::time::Instant::now();
    let mut seq: HashMap<&str, u64> = HashMap::new();
    let (mut sent, mut readings, mut interrupted) = (0u64, 0u64, false);
    let mut last_log = tokio::time::Instant::now();
    let mut failure = None;
    for m in &messages {
        let offset = (m.time - t0).to_std().unwrap_or_default();
        let target = wall0 + offset.div_f64(config.speed);
        tokio::select! {
            () = shutdown.cancelled() => { interrupted = true; break; }
            () = tokio::time::sleep_until(target) => {}
        }
        let n = seq.entry(m.station.as_str()).or_insert(0);
        *n += 1;
        let body = payload(m, m.time + shift, *n);
        if let Err(e) = publisher
            .publish(&topics.obs(&m.station), body.into_bytes())
            .await
        {
            failure = Some(e);
            break;
        }
        sent += 1;
        readings += m.values.len() as u64;
        if last_log.elapsed() >= Duration::from_secs(5) {
            last_log = tokio::time::Instant::now();
            tracing::info!(
                sim_time = %riverwatch_core::time::fmt_cst(m.time),
                sent,
                acked = publisher.counts().acked,
                "Replaying."
            );
        }
    }
    let counts = publisher.finish(&shutdown).await?;
    if let Some(e) = failure {
        return Err(e);
    }
    tracing::info!(sent, acked = counts.acked, interrupted, "Replay finished.");
    Ok(ReplaySummary {
        messages: sent,
        readings,
        acked: counts.acked,
        shift,
        interrupted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn rows_group_per_station_and_time_and_duplicates_split() {
        let row = |st: &str, p: &str, t: &str| Row {
            station: st.into(),
            parameter: p.into(),
            time: at(t),
            value: 1.0,
            flag: DataFlag::N,
        };
        let rows = vec![
            row("A", "pH", "2026-01-01T01:00:00Z"),
            row("A", "DO", "2026-01-01T01:00:00Z"),
            row("B", "pH", "2026-01-01T00:00:00Z"),
            row("A", "pH", "2026-01-01T01:00:00Z"),
        ];
        let g = group(&rows);
        assert_eq!(g.len(), 3);
        assert_eq!(g[0].station, "B");
        assert_eq!(g[1].values.len(), 2);
        assert_eq!(g[2].values.len(), 1);
    }

    #[test]
    fn the_shift_never_puts_a_time_after_its_send_time() {
        let (first, last) = (at("2005-11-13T00:00:00Z"), at("2005-11-23T00:00:00Z"));
        let now = at("2026-01-01T00:00:00Z");
        for speed in [0.5, 1.0, 60.0, 3600.0] {
            let shift = shift_to_now(first, last, now, speed);
            for t in [first, at("2005-11-18T00:00:00Z"), last] {
                let send = now
                    + chrono::Duration::milliseconds(
                        ((t - first).num_milliseconds() as f64 / speed) as i64,
                    );
                assert!(
                    t + shift <= send + chrono::Duration::seconds(1),
                    "speed {speed}"
                );
            }
        }
        assert_eq!(shift_to_now(first, last, now, 1.0), now - first);
    }
}
