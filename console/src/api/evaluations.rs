//! What analytics stored, through `riverwatch_analytics::views::evaluations`: window
//! evaluations (`/evaluations`: hourly, daily, monthly classes, means and valid-data rates),
//! AQI (`/aqi`), city warning levels (`/warnings`), the regional joint-control state
//! (`/joint-control`), incidents (`/incidents`) and the evaluation events (`/events`).

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use riverwatch_analytics::store::{EvaluationReader, EventQuery};
use riverwatch_analytics::views::evaluations::{Filter, Rows, View, read};
use riverwatch_core::events::{Event, Rule, WindowPeriod};
use riverwatch_core::time::parse_time;
use serde::Deserialize;

use super::Shared;
use super::auth::Auth;
use super::error::ApiError;
use super::extract::Q;
use super::stations::eval_error;

/// Most rows one request returns.
pub const MAX_ROWS: usize = 10_000;

/// The filter of the evaluation routes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationParams {
    /// Only this station.
    pub station: Option<String>,
    /// `hour`, `day` or `month`.
    pub period: Option<WindowPeriod>,
    /// From (RFC 3339, epoch ms, or China Standard Time `2026-11-22 08:00`).
    pub from: Option<String>,
    /// Before.
    pub to: Option<String>,
    /// At most this many, the latest (default and most: 10000).
    pub limit: Option<usize>,
    /// Every revision instead of the latest of each window.
    #[serde(default)]
    pub all_revisions: bool,
}

/// A time parameter.
///
/// # Errors
/// 400 naming the parameter.
pub fn time_param(value: Option<&str>, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    value
        .filter(|v| !v.trim().is_empty())
        .map(|v| {
            parse_time(v).map_err(|e| {
                ApiError::bad_request(
                    format!("参数 {name} 的时间无法识别：{e}；请使用 RFC 3339、毫秒时间戳或北京时间 2026-11-22 08:00"),
                    format!("{name}: {e}; use RFC 3339, epoch ms or China Standard Time 2026-11-22 08:00"),
                )
            })
        })
        .transpose()
}

/// A known station.
///
/// # Errors
/// 400 for an unknown one.
pub fn station_param(state: &Shared, station: Option<&str>) -> Result<(), ApiError> {
    match station {
        Some(s) if state.registry.station(s).is_none() && s != riverwatch_core::events::REGION => {
            Err(ApiError::bad_request(
                format!("未知站点 `{s}`"),
                format!("unknown station `{s}`"),
            ))
        }
        _ => Ok(()),
    }
}

fn filter(state: &Shared, p: &EvaluationParams) -> Result<Filter, ApiError> {
    station_param(state, p.station.as_deref())?;
    Ok(Filter {
        station: p.station.clone(),
        period: p.period,
        from: time_param(p.from.as_deref(), "from")?,
        to: time_param(p.to.as_deref(), "to")?,
        all_revisions: p.all_revisions,
        limit: Some(p.limit.unwrap_or(MAX_ROWS).min(MAX_ROWS)),
    })
}

async fn rows(state: &Shared, view: View, f: Filter) -> Result<Json<Rows>, ApiError> {
    let reader = EvaluationReader::open(&state.stores.analytics_db()).map_err(eval_error)?;
    let rows = read(&reader, view, &f).await.map_err(eval_error)?;
    Ok(Json(rows))
}

/// `GET /api/v1/evaluations`: window evaluations.
///
/// # Errors
/// 400 for a bad filter, 503 before analytics ran.
pub async fn classes(
    _: Auth,
    State(state): State<Shared>,
    Q(p): Q<EvaluationParams>,
) -> Result<Json<Rows>, ApiError> {
    let f = filter(&state, &p)?;
    rows(&state, View::Classes, f).await
}

/// `GET /api/v1/aqi`: hourly or daily AQI.
///
/// # Errors
/// 400 for a bad filter, 503 before analytics ran.
pub async fn aqi(
    _: Auth,
    State(state): State<Shared>,
    Q(p): Q<EvaluationParams>,
) -> Result<Json<Rows>, ApiError> {
    if p.period == Some(WindowPeriod::Month) {
        return Err(ApiError::bad_request(
            "AQI 只有小时与日两种：period=hour 或 day",
            "AQI is hourly or daily: period=hour or day",
        ));
    }
    let f = filter(&state, &p)?;
    rows(&state, View::Aqi, f).await
}

/// `GET /api/v1/warnings`: city warning levels per CST day.
///
/// # Errors
/// 400 for a bad filter, 503 before analytics ran.
pub async fn warnings(
    _: Auth,
    State(state): State<Shared>,
    Q(p): Q<EvaluationParams>,
) -> Result<Json<Rows>, ApiError> {
    let f = filter(&state, &p)?;
    rows(&state, View::Warnings, f).await
}

/// `GET /api/v1/joint-control`: the regional joint-control state per CST day.
///
/// # Errors
/// 400 for a bad filter, 503 before analytics ran.
pub async fn joint_control(
    _: Auth,
    State(state): State<Shared>,
    Q(p): Q<EvaluationParams>,
) -> Result<Json<Rows>, ApiError> {
    let f = filter(&state, &p)?;
    rows(&state, View::Joint, f).await
}

/// `GET /api/v1/incidents`: incidents moving downstream.
///
/// # Errors
/// 400 for a bad filter, 503 before analytics ran.
pub async fn incidents(
    _: Auth,
    State(state): State<Shared>,
    Q(p): Q<EvaluationParams>,
) -> Result<Json<Rows>, ApiError> {
    let f = filter(&state, &p)?;
    rows(&state, View::Incidents, f).await
}

/// The filter of `/api/v1/events`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventParams {
    /// Only this subject (station id or `REGION`).
    pub station: Option<String>,
    /// Only this rule (e.g. `parameter_exceedance`).
    pub rule: Option<Rule>,
    /// Observed at or after.
    pub from: Option<String>,
    /// Observed before.
    pub to: Option<String>,
    /// At most this many, the latest (default 500, most 10000).
    pub limit: Option<usize>,
}

/// `GET /api/v1/events`: evaluation events, oldest first.
///
/// # Errors
/// 400 for a bad filter, 503 before analytics ran.
pub async fn events(
    _: Auth,
    State(state): State<Shared>,
    Q(p): Q<EventParams>,
) -> Result<Json<Vec<Event>>, ApiError> {
    station_param(&state, p.station.as_deref())?;
    let q = EventQuery {
        subject: p.station.clone(),
        rule: p.rule,
        since: time_param(p.from.as_deref(), "from")?,
        until: time_param(p.to.as_deref(), "to")?,
        limit: Some(p.limit.unwrap_or(500).min(MAX_ROWS)),
    };
    let reader = EvaluationReader::open(&state.stores.analytics_db()).map_err(eval_error)?;
    let events = reader
        .run(move |r| r.events(&q))
        .await
        .map_err(eval_error)?;
    Ok(Json(events))
}
