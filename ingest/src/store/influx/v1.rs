//! InfluxDB 1.x through its v1 HTTP API: the store posts line protocol to
//! `/write?db=&rp=&precision=ms` (204 on success), the reader sends InfluxQL to `/query`
//! and reads the JSON answer. Credentials, when set, go in an HTTP Basic `Authorization`
//! header rather than the `u`/`p` query parameters, so they never appear in URLs or logs.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use riverwatch_core::store_api::{ReadingQuery, StoreError, StoreReader};
use riverwatch_core::{DataFlag, ParamCode, Reading, StationId};
use serde::Deserialize;

use super::line_protocol::{
    FIELD_FLAG, FIELD_VALUE, MEASUREMENT, TAG_PARAMETER, TAG_PERIOD, TAG_STATION,
};
use super::spool::SpoolingWriter;
use super::{
    InfluxError, InfluxStoreArgs, SendError, Transport, classify_status, endpoint_url, error_chain,
    finish_readings, parse_base_url, period_from_str, point_reading, query_error, server_message,
};
use crate::config::Influx1Config;

const BACKEND: &str = "influxdb1";

/// User name and optional password for HTTP Basic authentication.
#[derive(Clone)]
struct Credentials {
    username: String,
    password: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What the transport and the reader share: the HTTP client, the base URL and the login.
#[derive(Debug, Clone)]
struct Endpoint {
    http: reqwest::Client,
    base: reqwest::Url,
    database: String,
    retention_policy: Option<String>,
    credentials: Option<Credentials>,
}

impl Endpoint {
    fn new(cfg: &Influx1Config) -> Result<Self, InfluxError> {
        let base = parse_base_url(BACKEND, &cfg.url)?;
        let config = |detail: String| InfluxError::Config {
            backend: BACKEND,
            detail,
        };
        if cfg.database.is_empty() {
            return Err(config("database must not be empty".to_string()));
        }
        let credentials = match (&cfg.username, &cfg.password) {
            (Some(u), p) => Some(Credentials {
                username: u.clone(),
                password: p.clone(),
            }),
            (None, Some(_)) => {
                return Err(config(
                    "a password is set but no user name: set RIVERWATCH_INFLUX_USERNAME"
                        .to_string(),
                ));
            }
            (None, None) => None,
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.timeout_secs.max(1)))
            .build()
            .map_err(|e| config(format!("cannot build the HTTP client: {}", error_chain(&e))))?;
        Ok(Self {
            http,
            base,
            database: cfg.database.clone(),
            retention_policy: cfg.retention_policy.clone().filter(|rp| !rp.is_empty()),
            credentials,
        })
    }

    fn request(&self, method: reqwest::Method, endpoint: &str) -> reqwest::RequestBuilder {
        let req = self
            .http
            .request(method, endpoint_url(&self.base, endpoint));
        match &self.credentials {
            Some(c) => req.basic_auth(&c.username, c.password.as_deref()),
            None => req,
        }
    }
}

fn unavailable(e: reqwest::Error) -> SendError {
    SendError::Unavailable {
        detail: error_chain(&e),
    }
}

/// Sends line protocol to `/write`.
#[derive(Debug)]
pub(crate) struct V1Transport {
    conn: Endpoint,
    target: String,
}

impl Transport for V1Transport {
    const BACKEND: &'static str = BACKEND;

    fn target(&self) -> &str {
        &self.target
    }

    async fn send(&self, body: &str) -> Result<(), SendError> {
        let mut query = vec![("db", self.conn.database.as_str()), ("precision", "ms")];
        if let Some(rp) = &self.conn.retention_policy {
            query.push(("rp", rp.as_str()));
        }
        let response = self
            .conn
            .request(reqwest::Method::POST, "write")
            .query(&query)
            .header("Content-Type", "text/plain; charset=utf-8")
            .body(body.to_owned())
            .send()
            .await
            .map_err(unavailable)?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.map_err(unavailable)?;
        Err(classify_status(status.as_u16(), &text))
    }
}

/// The inputs of [`Influx1Store::open`].
pub type Influx1StoreArgs = InfluxStoreArgs<Influx1Config>;

/// Writes readings to an InfluxDB 1.x database, spooling locally while it is unavailable
/// (see the [module docs](super) for delivery, refused data and `WriteReport`).
#[derive(Debug)]
pub struct Influx1Store {
    inner: SpoolingWriter<V1Transport>,
}

impl Influx1Store {
    /// Opens the local spool and starts the drain task on the current tokio runtime. The
    /// database must exist; riverwatch does not create it.
    ///
    /// # Errors
    /// [`InfluxError::Config`] for a bad URL or database name; [`InfluxError::Store`] when
    /// the local database cannot be opened.
    pub async fn open(args: Influx1StoreArgs) -> Result<Self, InfluxError> {
        let conn = Endpoint::new(&args.config)?;
        let target = format!(
            "{} db={}{}",
            args.config.url,
            conn.database,
            conn.retention_policy
                .as_deref()
                .map(|rp| format!(" rp={rp}"))
                .unwrap_or_default()
        );
        let transport = V1Transport { conn, target };
        Ok(Self {
            inner: SpoolingWriter::open(transport, args).await?,
        })
    }
}

spooling_store!(Influx1Store);

/// An InfluxQL string literal: single quotes, with backslash, single quote and newline
/// escaped as InfluxQL's scanner reads them (any other escape is a syntax error there).
pub fn influxql_string(s: &str) -> String {
    influxql_quoted(s, '\'')
}

/// An InfluxQL identifier, always double-quoted, escaped like a string literal.
pub fn influxql_ident(s: &str) -> String {
    influxql_quoted(s, '"')
}

fn influxql_quoted(s: &str, quote: char) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// `("column" = 'a' OR "column" = 'b')`.
fn any_of<'a>(column: &str, values: impl IntoIterator<Item = &'a str>) -> String {
    let terms: Vec<String> = values
        .into_iter()
        .map(|v| format!("{} = {}", influxql_ident(column), influxql_string(v)))
        .collect();
    format!("({})", terms.join(" OR "))
}

/// The InfluxQL statement for a [`ReadingQuery`]: value and flag per (station, parameter,
/// period) series, in time order, from the retention policy `rp` (the database's default
/// when `None`). Times are epoch milliseconds (`…ms` duration literals).
pub fn influxql_query(q: &ReadingQuery, rp: Option<&str>) -> String {
    let from = match rp {
        Some(rp) => format!("{}.{}", influxql_ident(rp), influxql_ident(MEASUREMENT)),
        None => influxql_ident(MEASUREMENT),
    };
    let mut conditions = Vec::new();
    if let Some(t) = q.from {
        conditions.push(format!("time >= {}ms", t.timestamp_millis()));
    }
    if let Some(t) = q.to {
        conditions.push(format!("time < {}ms", t.timestamp_millis()));
    }
    if let Some(station) = &q.station {
        conditions.push(any_of(TAG_STATION, [station.as_str()]));
    }
    if !q.parameters.is_empty() {
        conditions.push(any_of(
            TAG_PARAMETER,
            q.parameters.iter().map(String::as_str),
        ));
    }
    if !q.periods.is_empty() {
        conditions.push(any_of(TAG_PERIOD, q.periods.iter().map(|p| p.as_str())));
    }
    let mut sql = format!(
        "SELECT {}, {} FROM {from}",
        influxql_ident(FIELD_VALUE),
        influxql_ident(FIELD_FLAG)
    );
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    sql.push_str(&format!(
        " GROUP BY {}, {}, {}",
        influxql_ident(TAG_STATION),
        influxql_ident(TAG_PARAMETER),
        influxql_ident(TAG_PERIOD)
    ));
    // Per series; the reader sorts across series and applies the overall limit.
    if let Some(limit) = q.limit {
        sql.push_str(&format!(" LIMIT {limit}"));
    }
    sql
}

/// Reads readings from an InfluxDB 1.x database with InfluxQL.
#[derive(Debug, Clone)]
pub struct Influx1Reader {
    conn: Endpoint,
    /// The local database whose commit log lists the readings written, when attached.
    index: Option<crate::store::SqliteReader>,
}

impl Influx1Reader {
    /// A reader for the configured server and database.
    ///
    /// # Errors
    /// [`InfluxError::Config`] for a bad URL, an empty database name, or an HTTP client
    /// that cannot be built.
    pub fn new(cfg: &Influx1Config) -> Result<Self, InfluxError> {
        Ok(Self {
            conn: Endpoint::new(cfg)?,
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

    /// Runs one InfluxQL statement against the configured database and returns the JSON
    /// answer, with times in epoch milliseconds.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the server cannot be reached or answers 5xx;
    /// [`StoreError::Rejected`] when it refuses the statement.
    pub async fn raw_query(&self, influxql: &str) -> Result<serde_json::Value, StoreError> {
        let text = self.post_query(influxql).await?;
        serde_json::from_str(&text).map_err(|e| StoreError::Rejected {
            backend: BACKEND,
            detail: format!("the answer is not JSON: {e}"),
        })
    }

    async fn post_query(&self, influxql: &str) -> Result<String, StoreError> {
        // POST with a form body: no URL length limit, and 1.x accepts SELECT this way.
        let response = self
            .conn
            .request(reqwest::Method::POST, "query")
            .form(&[
                ("q", influxql),
                ("db", self.conn.database.as_str()),
                ("epoch", "ms"),
            ])
            .send()
            .await
            .map_err(|e| query_error(BACKEND, unavailable(e)))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| query_error(BACKEND, unavailable(e)))?;
        if status.is_success() {
            Ok(text)
        } else {
            Err(query_error(
                BACKEND,
                classify_status(status.as_u16(), &text),
            ))
        }
    }
}

/// The JSON answer of `/query`.
#[derive(Debug, Deserialize)]
struct QueryAnswer {
    #[serde(default)]
    results: Vec<StatementAnswer>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct StatementAnswer {
    #[serde(default)]
    series: Vec<Series>,
    #[serde(default)]
    error: Option<String>,
    /// Set when the server cut the answer short (its `max-row-limit`).
    #[serde(default)]
    partial: bool,
}

#[derive(Debug, Deserialize)]
struct Series {
    #[serde(default)]
    tags: HashMap<String, String>,
    columns: Vec<String>,
    #[serde(default)]
    values: Vec<Vec<serde_json::Value>>,
}

/// Turns the JSON answer of [`influxql_query`] into readings (the reception time is not
/// stored in InfluxDB, so `received_at` is set to `observed_at`).
///
/// # Errors
/// A description when the answer is an error, was cut short, or is malformed.
pub(crate) fn parse_query_answer(text: &str) -> Result<Vec<Reading>, String> {
    let answer: QueryAnswer = serde_json::from_str(text)
        .map_err(|e| format!("the answer is not the expected JSON: {e}"))?;
    if let Some(e) = answer.error {
        return Err(format!("the query failed: {}", server_message(&e)));
    }
    let mut out = Vec::new();
    for statement in answer.results {
        if let Some(e) = statement.error {
            return Err(format!("the query failed: {}", server_message(&e)));
        }
        if statement.partial {
            return Err(
                "the server cut the answer short (max-row-limit); ask for a shorter range"
                    .to_string(),
            );
        }
        for series in statement.series {
            let tag = |name: &str| -> Result<&str, String> {
                series
                    .tags
                    .get(name)
                    .map(String::as_str)
                    .ok_or_else(|| format!("a series has no `{name}` tag"))
            };
            let station = StationId::new(tag(TAG_STATION)?);
            let parameter = ParamCode::new(tag(TAG_PARAMETER)?);
            let period_text = tag(TAG_PERIOD)?;
            let period = period_from_str(period_text)
                .ok_or_else(|| format!("unknown period `{period_text}`"))?;
            let column = |name: &str| {
                series
                    .columns
                    .iter()
                    .position(|c| c == name)
                    .ok_or_else(|| format!("the answer has no `{name}` column"))
            };
            let (ti, vi, fi) = (column("time")?, column(FIELD_VALUE)?, column(FIELD_FLAG)?);
            for row in &series.values {
                let cell = |i: usize| row.get(i).unwrap_or(&serde_json::Value::Null);
                // A point without a value (written by something else) is not a reading.
                let Some(value) = cell(vi).as_f64() else {
                    continue;
                };
                let ms = cell(ti)
                    .as_i64()
                    .ok_or_else(|| format!("bad time {} (expected epoch ms)", cell(ti)))?;
                let observed_at = chrono::DateTime::from_timestamp_millis(ms)
                    .ok_or_else(|| format!("time {ms} ms is out of range"))?;
                let flag_text = cell(fi).as_str().unwrap_or("");
                let flag = DataFlag::from_letter(flag_text)
                    .ok_or_else(|| format!("unknown flag `{flag_text}`"))?;
                out.push(point_reading(
                    station.clone(),
                    parameter.clone(),
                    observed_at,
                    value,
                    flag,
                    period,
                ));
            }
        }
    }
    Ok(out)
}

impl StoreReader for Influx1Reader {
    async fn query(&self, q: &ReadingQuery) -> Result<Vec<Reading>, StoreError> {
        if q.limit == Some(0) {
            return Ok(Vec::new());
        }
        let statement = influxql_query(q, self.conn.retention_policy.as_deref());
        let text = self.post_query(&statement).await?;
        let readings = parse_query_answer(&text).map_err(|detail| StoreError::Rejected {
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
