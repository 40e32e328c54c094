//! `/api/v1/readings` (stored readings of one station through the configured store's
//! reader, JSON or CSV with the columns of `riverwatch query`, bounded in time span and
//! count) and `/api/v1/dead-letters` (admins: rejected input with its reasons).

use axum::Json;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use riverwatch_core::store_api::{
    DeadLetterQuery, DeadLetterReader, ReadingQuery, StoreError, StoreReader,
};
use riverwatch_core::{Reading, ReasonCode};
use riverwatch_ingest::store;
use serde::{Deserialize, Serialize};

use super::Shared;
use super::auth::Auth;
use super::error::ApiError;
use super::evaluations::time_param;
use super::extract::Q;

/// The CSV columns: those of `riverwatch query`.
pub const CSV_COLUMNS: [&str; 5] = ["station", "parameter", "time_utc", "value", "flag"];

/// Header saying a result was cut at its limit.
pub const TRUNCATED_HEADER: &str = "x-riverwatch-truncated";

/// Output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// JSON (the default).
    #[default]
    Json,
    /// CSV.
    Csv,
}

/// The parameters of `/api/v1/readings`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadingParams {
    /// Station id (required).
    pub station: Option<String>,
    /// Parameter codes, comma-separated (all when absent).
    pub param: Option<String>,
    /// Observed at or after (default: a day before `to`).
    pub from: Option<String>,
    /// Observed before (default: now).
    pub to: Option<String>,
    /// `json` or `csv`.
    #[serde(default)]
    pub format: Format,
    /// At most this many (default and most: `[console] max_query_readings`).
    pub limit: Option<usize>,
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A readings-store failure: missing → 503, else 500.
fn store_error(e: StoreError) -> ApiError {
    let text = e.to_string();
    if text.contains("does not exist") {
        ApiError::unavailable(
            "读数库尚不存在（接入服务首次运行时创建）",
            "the readings store does not exist yet (the ingest service creates it)",
        )
    } else {
        ApiError::internal(text)
    }
}

/// `GET /api/v1/readings`.
///
/// # Errors
/// 400 for a missing or unknown station, an unknown parameter, bad times or a span over
/// `[console] max_query_days`; 503 before ingest ran.
pub async fn query(
    _: Auth,
    State(state): State<Shared>,
    Q(p): Q<ReadingParams>,
) -> Result<Response, ApiError> {
    let Some(station) = p
        .station
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    else {
        return Err(ApiError::bad_request(
            "缺少参数 station（站点编号）",
            "missing parameter station (station id)",
        ));
    };
    if state.registry.station(station).is_none() {
        return Err(ApiError::bad_request(
            format!("未知站点 `{station}`"),
            format!("unknown station `{station}`"),
        ));
    }
    let params: Vec<String> = p
        .param
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if let Some(bad) = params
        .iter()
        .find(|c| state.registry.parameter(c).is_none())
    {
        return Err(ApiError::bad_request(
            format!("未知参数 `{bad}`"),
            format!("unknown parameter `{bad}`"),
        ));
    }
    let to = time_param(p.to.as_deref(), "to")?.unwrap_or_else(|| state.clock.now());
    let from = time_param(p.from.as_deref(), "from")?.unwrap_or(to - Duration::days(1));
    if from >= to {
        return Err(ApiError::bad_request(
            "from 须早于 to",
            "from must be before to",
        ));
    }
    let max_days = i64::from(state.config.max_query_days);
    if to - from > Duration::days(max_days) {
        return Err(ApiError::bad_request(
            format!("查询时间跨度不能超过 {max_days} 天"),
            format!("the time span may not exceed {max_days} days"),
        ));
    }
    let max = state.config.max_query_readings;
    let limit = p.limit.unwrap_or(max).clamp(1, max);
    let q = ReadingQuery {
        station: Some(station.to_string()),
        parameters: params,
        from: Some(from),
        to: Some(to),
        periods: vec![],
        limit: Some(limit + 1),
    };
    let reader = store::open_reader(
        &state.stores.readings,
        &state.stores.data_dir,
        &state.registry,
    )
    .map_err(store_error)?;
    let mut readings = reader.query(&q).await.map_err(store_error)?;
    let truncated = readings.len() > limit;
    readings.truncate(limit);
    // A month of a station is hundreds of thousands of rows: they are written on a
    // blocking thread, straight from the stored readings, so a large answer never holds up
    // the runtime's workers (other requests, the live feed).
    let station = station.to_string();
    let format = p.format;
    let (body, content_type) = super::blocking(move || {
        let mut out = Vec::with_capacity(readings.len() * 110 + 256);
        let content_type = match format {
            Format::Csv => {
                write_csv(&mut out, &readings);
                "text/csv; charset=utf-8"
            }
            Format::Json => {
                let answer = ReadingsRef {
                    station: &station,
                    from,
                    to,
                    truncated,
                    readings: Rows(&readings),
                };
                serde_json::to_writer(&mut out, &answer).map_err(ApiError::internal)?;
                "application/json"
            }
        };
        Ok((out, content_type))
    })
    .await?;
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers_mut().insert(
        TRUNCATED_HEADER,
        HeaderValue::from_static(if truncated { "true" } else { "false" }),
    );
    Ok(response)
}

/// The time of a row: RFC 3339 UTC with milliseconds, written into the output.
struct Time(DateTime<Utc>);

impl Serialize for Time {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0.format(TIME_FORMAT))
    }
}

/// `2026-11-22T08:00:00.000Z`, as `to_rfc3339_opts(Millis, true)` writes it.
const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3fZ";

/// One reading of the JSON answer, written from the stored reading: `station`,
/// `parameter`, `time_utc` (RFC 3339 UTC with milliseconds), `value` (the registry's unit),
/// `flag` (the data flag letter), `period` (what span of time the value stands for).
struct RowRef<'a>(&'a Reading);

impl Serialize for RowRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let r = self.0;
        let mut row = s.serialize_struct("ReadingRow", 6)?;
        row.serialize_field("station", r.station.as_str())?;
        row.serialize_field("parameter", r.parameter.as_str())?;
        row.serialize_field("time_utc", &Time(r.observed_at))?;
        row.serialize_field("value", &r.value)?;
        row.serialize_field("flag", &Flag(r.flag))?;
        row.serialize_field("period", r.period.as_str())?;
        row.end()
    }
}

struct Flag(riverwatch_core::DataFlag);

impl Serialize for Flag {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

struct Rows<'a>(&'a [Reading]);

impl Serialize for Rows<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(RowRef))
    }
}

/// The JSON answer, written from the stored readings.
#[derive(Serialize)]
struct ReadingsRef<'a> {
    /// Station id.
    station: &'a str,
    /// Start of the range.
    from: DateTime<Utc>,
    /// End of the range (exclusive).
    to: DateTime<Utc>,
    /// Whether the result was cut at the limit.
    truncated: bool,
    /// The readings, by parameter and time.
    readings: Rows<'a>,
}

/// The CSV answer: the header and one line per reading, as `riverwatch query` prints them.
fn write_csv(out: &mut Vec<u8>, readings: &[Reading]) {
    use std::io::Write as _;
    out.extend_from_slice(CSV_COLUMNS.join(",").as_bytes());
    out.push(b'\n');
    for r in readings {
        let fields = [
            csv_field(r.station.as_str()),
            csv_field(r.parameter.as_str()),
        ];
        let _ = writeln!(
            out,
            "{},{},{},{},{}",
            fields[0],
            fields[1],
            r.observed_at.format(TIME_FORMAT),
            r.value,
            csv_field(&r.flag.to_string())
        );
    }
}

/// The parameters of `/api/v1/dead-letters`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterParams {
    /// Only this reason code (e.g. `crc_mismatch`).
    pub reason: Option<String>,
    /// Received at or after.
    pub since: Option<String>,
    /// The newest N (default 100, most 10000).
    pub limit: Option<usize>,
}

/// One dead letter.
#[derive(Debug, Serialize)]
pub struct DeadLetterRow {
    /// When it was received.
    pub received_at: DateTime<Utc>,
    /// Its topic.
    pub topic: String,
    /// Stable reason code.
    pub reason_code: String,
    /// What was wrong.
    pub reason: String,
    /// Station, when known.
    pub station: Option<String>,
    /// Parameter, when known.
    pub parameter: Option<String>,
    /// The raw payload, base64.
    pub payload_b64: String,
}

/// `GET /api/v1/dead-letters` (admins).
///
/// # Errors
/// 401/403, 400 for an unknown reason code, 503 before ingest ran.
pub async fn dead_letters(
    auth: Auth,
    State(state): State<Shared>,
    Q(p): Q<DeadLetterParams>,
) -> Result<Json<Vec<DeadLetterRow>>, ApiError> {
    auth.admin()?;
    let reason = p
        .reason
        .as_deref()
        .map(|r| {
            r.parse::<ReasonCode>().map_err(|_| {
                ApiError::bad_request(
                    format!("未知原因代码 `{r}`"),
                    format!("unknown reason code `{r}`"),
                )
            })
        })
        .transpose()?;
    let q = DeadLetterQuery {
        since: time_param(p.since.as_deref(), "since")?,
        reason,
        limit: Some(p.limit.unwrap_or(100).min(10_000)),
    };
    let reader = store::open_dead_letter_reader(&state.stores.readings, &state.stores.data_dir)
        .map_err(store_error)?;
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(Json(
        reader
            .dead_letters(&q)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|d| DeadLetterRow {
                received_at: d.received_at,
                topic: d.topic,
                reason_code: d.reason_code.as_str().to_string(),
                reason: d.reason,
                station: d.station,
                parameter: d.parameter,
                payload_b64: b64.encode(&d.payload),
            })
            .collect(),
    ))
}
