//! InfluxDB 2.x: the store writes through the `influxdb2` crate
//! (`POST /api/v2/write?org=&bucket=&precision=ms`, `Authorization: Token …`); the reader
//! sends Flux to `POST /api/v2/query` and parses the annotated CSV answer.
//!
//! The reader uses plain HTTP (reqwest) rather than the crate's `query_raw`: that method
//! unwraps the response body and every CSV cell it converts (`f64`, RFC 3339 times), so a
//! truncated or unexpected answer would panic inside the store, and it has no request
//! timeout. Our parser turns every such case into a [`StoreError`].

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use influxdb2::RequestError;
use influxdb2::api::write::TimestampPrecision;
use riverwatch_core::store_api::{ReadingQuery, StoreError, StoreReader};
use riverwatch_core::{DataFlag, ParamCode, Reading, StationId};

use super::line_protocol::{
    FIELD_FLAG, FIELD_VALUE, MEASUREMENT, TAG_PARAMETER, TAG_PERIOD, TAG_STATION,
};
use super::spool::SpoolingWriter;
use super::{
    InfluxError, InfluxStoreArgs, SendError, Transport, classify_status, endpoint_url, error_chain,
    finish_readings, parse_base_url, period_from_str, point_reading, query_error, server_message,
};
use crate::config::{ENV_INFLUX_TOKEN, Influx2Config};

const BACKEND: &str = "influxdb2";

/// Earliest and latest `range()` bounds used when a query leaves them open: the epoch
/// (readings before 2000 are rejected at ingest) and the end of InfluxDB's time range
/// (readings may lie a little in the future, so `now()` is not a safe default).
const RANGE_START: &str = "1970-01-01T00:00:00Z";
const RANGE_STOP: &str = "2262-04-11T00:00:00Z";

/// The base URL of an InfluxDB 2 server. It may not carry a path: the `influxdb2` client
/// replaces the path with `/api/v2/write`, so a proxy prefix would be silently lost.
fn base_url(cfg: &Influx2Config) -> Result<reqwest::Url, InfluxError> {
    let base = parse_base_url(BACKEND, &cfg.url)?;
    if !matches!(base.path(), "" | "/") {
        return Err(InfluxError::Config {
            backend: BACKEND,
            detail: format!(
                "url `{}` has a path; the InfluxDB 2 client cannot use a path prefix",
                cfg.url
            ),
        });
    }
    Ok(base)
}

fn token(cfg: &Influx2Config) -> Result<&str, InfluxError> {
    cfg.token
        .as_deref()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| InfluxError::Config {
            backend: BACKEND,
            detail: format!("no API token: set {ENV_INFLUX_TOKEN}"),
        })
}

/// Sends line protocol with the `influxdb2` client.
#[derive(Debug)]
pub(crate) struct V2Transport {
    client: influxdb2::Client,
    org: String,
    bucket: String,
    timeout: Duration,
    target: String,
}

impl V2Transport {
    fn new(cfg: &Influx2Config) -> Result<Self, InfluxError> {
        let base = base_url(cfg)?;
        let token = token(cfg)?;
        // `Client::new` panics on a bad URL or TLS set-up; the builder returns an error,
        // and the URL was checked above so its own parse cannot fail.
        let client = influxdb2::ClientBuilder::new(base.as_str(), &cfg.org, token)
            .build()
            .map_err(|e| InfluxError::Config {
                backend: BACKEND,
                detail: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(Self {
            client,
            org: cfg.org.clone(),
            bucket: cfg.bucket.clone(),
            timeout: Duration::from_secs(cfg.timeout_secs.max(1)),
            target: format!("{} org={} bucket={}", cfg.url, cfg.org, cfg.bucket),
        })
    }
}

impl Transport for V2Transport {
    const BACKEND: &'static str = BACKEND;

    fn target(&self) -> &str {
        &self.target
    }

    async fn send(&self, body: &str) -> Result<(), SendError> {
        let write = self.client.write_line_protocol_with_precision(
            &self.org,
            &self.bucket,
            body.to_owned(),
            TimestampPrecision::Milliseconds,
        );
        // The crate sets no timeout of its own. A write cut off here may still have been
        // applied; it is then sent again as identical points.
        match tokio::time::timeout(self.timeout, write).await {
            Err(_) => Err(SendError::Unavailable {
                detail: format!("no answer within {} s", self.timeout.as_secs()),
            }),
            Ok(Ok(())) => Ok(()),
            // The crate treats any status but 204 as an error; another 2xx still means
            // the points were accepted.
            Ok(Err(RequestError::Http { status, .. })) if status.is_success() => Ok(()),
            Ok(Err(RequestError::Http { status, text })) => {
                Err(classify_status(status.as_u16(), &text))
            }
            Ok(Err(RequestError::ReqwestProcessing { source })) => Err(SendError::Unavailable {
                detail: error_chain(&source),
            }),
            Ok(Err(other)) => Err(SendError::Unavailable {
                detail: other.to_string(),
            }),
        }
    }
}

/// The inputs of [`Influx2Store::open`].
pub type Influx2StoreArgs = InfluxStoreArgs<Influx2Config>;

/// Writes readings to an InfluxDB 2.x bucket, spooling locally while it is unavailable
/// (see the [module docs](super) for delivery, refused data and `WriteReport`).
#[derive(Debug)]
pub struct Influx2Store {
    inner: SpoolingWriter<V2Transport>,
}

impl Influx2Store {
    /// Opens the local spool and starts the drain task on the current tokio runtime.
    /// Nothing is sent to InfluxDB until the first write (or a spool left by an earlier
    /// run).
    ///
    /// # Errors
    /// [`InfluxError::Config`] for a bad URL (or one with a path) or a missing token;
    /// [`InfluxError::Store`] when the local database cannot be opened.
    pub async fn open(args: Influx2StoreArgs) -> Result<Self, InfluxError> {
        let transport = V2Transport::new(&args.config)?;
        Ok(Self {
            inner: SpoolingWriter::open(transport, args).await?,
        })
    }

    #[cfg(test)]
    pub(crate) fn writer(&self) -> &SpoolingWriter<V2Transport> {
        &self.inner
    }
}

spooling_store!(Influx2Store);

/// Appends a Flux string literal: backslash, double quote, newline, carriage return, tab
/// and the interpolation opener `${` are escaped as the Flux specification lists them.
pub(crate) fn flux_string(s: &str, out: &mut String) {
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn flux_time(t: Option<DateTime<Utc>>, open: &str) -> String {
    t.map_or_else(
        || open.to_string(),
        |t| t.to_rfc3339_opts(SecondsFormat::Millis, true),
    )
}

/// `|> filter(fn: (r) => r.<column> == "a" or r.<column> == "b")`.
fn flux_any_of<'a>(column: &str, values: impl IntoIterator<Item = &'a str>, out: &mut String) {
    out.push_str("\n  |> filter(fn: (r) => ");
    for (i, v) in values.into_iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push_str("r[");
        flux_string(column, out);
        out.push_str("] == ");
        flux_string(v, out);
    }
    out.push(')');
}

/// The Flux query for a [`ReadingQuery`] on `bucket`: one table per (station, parameter,
/// period) with `value` and `flag` pivoted into columns, sorted by time.
pub fn flux_query(bucket: &str, q: &ReadingQuery) -> String {
    let mut f = String::from("from(bucket: ");
    flux_string(bucket, &mut f);
    f.push_str(")\n  |> range(start: ");
    f.push_str(&flux_time(q.from, RANGE_START));
    f.push_str(", stop: ");
    f.push_str(&flux_time(q.to, RANGE_STOP));
    f.push(')');
    flux_any_of("_measurement", [MEASUREMENT], &mut f);
    flux_any_of("_field", [FIELD_VALUE, FIELD_FLAG], &mut f);
    if let Some(station) = &q.station {
        flux_any_of(TAG_STATION, [station.as_str()], &mut f);
    }
    if !q.parameters.is_empty() {
        flux_any_of(
            TAG_PARAMETER,
            q.parameters.iter().map(String::as_str),
            &mut f,
        );
    }
    if !q.periods.is_empty() {
        flux_any_of(TAG_PERIOD, q.periods.iter().map(|p| p.as_str()), &mut f);
    }
    f.push_str(
        "\n  |> pivot(rowKey: [\"_time\"], columnKey: [\"_field\"], valueColumn: \"_value\")\
         \n  |> group(columns: [\"station\", \"parameter\", \"period\"])\
         \n  |> sort(columns: [\"_time\"])",
    );
    // Per table; the reader sorts across tables and applies the overall limit.
    if let Some(limit) = q.limit {
        f.push_str(&format!("\n  |> limit(n: {limit})"));
    }
    f.push_str(
        "\n  |> keep(columns: \
         [\"_time\", \"station\", \"parameter\", \"period\", \"value\", \"flag\"])",
    );
    f
}

/// Reads readings from an InfluxDB 2.x bucket with Flux.
#[derive(Clone)]
pub struct Influx2Reader {
    http: reqwest::Client,
    query_url: reqwest::Url,
    org: String,
    bucket: String,
    token: String,
    /// The local database whose commit log lists the readings written, when attached.
    index: Option<crate::store::SqliteReader>,
}

impl fmt::Debug for Influx2Reader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Influx2Reader")
            .field("query_url", &self.query_url.as_str())
            .field("org", &self.org)
            .field("bucket", &self.bucket)
            .field("token", &"<redacted>")
            .field("index", &self.index)
            .finish()
    }
}

impl Influx2Reader {
    /// A reader for the configured server, org and bucket.
    ///
    /// # Errors
    /// [`InfluxError::Config`] for a bad URL (or one with a path), a missing token, or an
    /// HTTP client that cannot be built.
    pub fn new(cfg: &Influx2Config) -> Result<Self, InfluxError> {
        let base = base_url(cfg)?;
        let token = token(cfg)?.to_string();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.timeout_secs.max(1)))
            .build()
            .map_err(|e| InfluxError::Config {
                backend: BACKEND,
                detail: format!("cannot build the HTTP client: {}", error_chain(&e)),
            })?;
        Ok(Self {
            http,
            query_url: endpoint_url(&base, "api/v2/query"),
            org: cfg.org.clone(),
            bucket: cfg.bucket.clone(),
            token,
            index: None,
        })
    }

    /// The same reader, also offering the commit log the InfluxDB store keeps in its local
    /// database (`index`, opened with [`SqliteReader::open`](crate::store::SqliteReader::open)),
    /// so analytics judges exactly the committed readings.
    #[must_use]
    pub fn with_commit_log(mut self, index: crate::store::SqliteReader) -> Self {
        self.index = Some(index);
        self
    }

    async fn run(&self, flux: String) -> Result<String, SendError> {
        let body = serde_json::json!({
            "query": flux,
            "type": "flux",
            "dialect": {
                "header": true,
                "delimiter": ",",
                "annotations": ["datatype", "group", "default"],
                "dateTimeFormat": "RFC3339",
            },
        });
        let unavailable = |e: reqwest::Error| SendError::Unavailable {
            detail: error_chain(&e),
        };
        let response = self
            .http
            .post(self.query_url.clone())
            .query(&[("org", self.org.as_str())])
            .header("Authorization", format!("Token {}", self.token))
            .header("Accept", "application/csv")
            .json(&body)
            .send()
            .await
            .map_err(unavailable)?;
        let status = response.status();
        let text = response.text().await.map_err(unavailable)?;
        if status.is_success() {
            Ok(text)
        } else {
            Err(classify_status(status.as_u16(), &text))
        }
    }
}

impl StoreReader for Influx2Reader {
    async fn query(&self, q: &ReadingQuery) -> Result<Vec<Reading>, StoreError> {
        if q.limit == Some(0) {
            return Ok(Vec::new());
        }
        let text = self
            .run(flux_query(&self.bucket, q))
            .await
            .map_err(|e| query_error(BACKEND, e))?;
        let readings = parse_annotated_csv(&text).map_err(|detail| StoreError::Rejected {
            backend: BACKEND,
            detail,
        })?;
        Ok(finish_readings(readings, q.limit))
    }

    async fn commits_after(
        &self,
        after: u64,
        max: usize,
    ) -> Result<Option<Vec<riverwatch_core::store_api::Committed>>, StoreError> {
        super::index_commits(self.index.as_ref(), after, max).await
    }
}

/// The columns of one table of an annotated CSV answer that a reading is made of.
#[derive(Debug, Default)]
struct Columns {
    time: Option<usize>,
    station: Option<usize>,
    parameter: Option<usize>,
    period: Option<usize>,
    value: Option<usize>,
    flag: Option<usize>,
    /// Whether this table is Flux's error table (`error`, `reference`).
    error: Option<usize>,
}

/// Parses the annotated CSV of a Flux answer into readings (the reception time is not
/// stored in InfluxDB, so `received_at` is set to `observed_at`). Tables may follow one
/// another, each with its own annotations and header; empty cells take the `#default`
/// annotation.
///
/// # Errors
/// A description when the answer is malformed, lacks a column, or is Flux's error table.
pub(crate) fn parse_annotated_csv(text: &str) -> Result<Vec<Reading>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    let mut defaults: Vec<String> = Vec::new();
    let mut columns: Option<Columns> = None;
    let mut in_annotations = false;
    for (line, record) in reader.records().enumerate() {
        let record = record.map_err(|e| format!("CSV row {}: {e}", line + 1))?;
        let first = record.get(0).unwrap_or("");
        if record.len() <= 1 && first.is_empty() {
            // A blank line separates tables.
            columns = None;
            continue;
        }
        if first.starts_with('#') {
            if !in_annotations {
                defaults.clear();
                columns = None;
                in_annotations = true;
            }
            if first == "#default" {
                defaults = record.iter().map(str::to_string).collect();
            }
            continue;
        }
        in_annotations = false;
        // Without annotations a header may also follow the previous table directly.
        let repeated_header = columns
            .as_ref()
            .and_then(|c| c.time)
            .is_some_and(|i| record.get(i) == Some("_time"));
        if repeated_header {
            columns = None;
        }
        let Some(cols) = &columns else {
            // The header of a new table.
            let mut c = Columns::default();
            for (i, name) in record.iter().enumerate() {
                match name {
                    "_time" => c.time = Some(i),
                    "station" => c.station = Some(i),
                    "parameter" => c.parameter = Some(i),
                    "period" => c.period = Some(i),
                    "value" => c.value = Some(i),
                    "flag" => c.flag = Some(i),
                    "error" => c.error = Some(i),
                    _ => {}
                }
            }
            columns = Some(c);
            continue;
        };
        let cell = |i: Option<usize>, name: &str| -> Result<&str, String> {
            let i = i.ok_or_else(|| format!("the answer has no `{name}` column"))?;
            let v = record.get(i).unwrap_or("");
            Ok(if v.is_empty() {
                defaults.get(i).map_or("", String::as_str)
            } else {
                v
            })
        };
        if cols.error.is_some() {
            let message = cell(cols.error, "error")?;
            return Err(format!("the query failed: {}", server_message(message)));
        }
        let time = cell(cols.time, "_time")?;
        let observed_at = DateTime::parse_from_rfc3339(time)
            .map_err(|e| format!("CSV row {}: bad time `{time}`: {e}", line + 1))?
            .with_timezone(&Utc);
        let value_text = cell(cols.value, FIELD_VALUE)?;
        if value_text.is_empty() {
            // A point without a value field (written by something else): not a reading.
            continue;
        }
        let value: f64 = value_text
            .parse()
            .map_err(|e| format!("CSV row {}: bad value `{value_text}`: {e}", line + 1))?;
        let flag_text = cell(cols.flag, FIELD_FLAG)?;
        let flag = DataFlag::from_letter(flag_text)
            .ok_or_else(|| format!("CSV row {}: unknown flag `{flag_text}`", line + 1))?;
        let period_text = cell(cols.period, TAG_PERIOD)?;
        let period = period_from_str(period_text)
            .ok_or_else(|| format!("CSV row {}: unknown period `{period_text}`", line + 1))?;
        out.push(point_reading(
            StationId::new(cell(cols.station, TAG_STATION)?),
            ParamCode::new(cell(cols.parameter, TAG_PARAMETER)?),
            observed_at,
            value,
            flag,
            period,
        ));
    }
    Ok(out)
}
