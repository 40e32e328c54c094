//! `/api/v1/stations` (every station of the registry with its current status from the
//! evaluation store: latest values, class against target or AQI, and how old they are),
//! `/api/v1/rivers` and `/api/v1/parameters` (the network the pages draw).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use riverwatch_analytics::model::CurrentStatus;
use riverwatch_analytics::store::{EvaluationReader, StoreError as EvalError};
use riverwatch_core::registry::{Parameter, River, Station};
use riverwatch_core::sqlite::OpenError;
use serde::Serialize;

use super::auth::Auth;
use super::error::ApiError;
use super::{Shared, blocking};

/// A station and where it stands now.
#[derive(Debug, Serialize)]
pub struct StationStatus {
    /// The registry's station (names, kind, province, river and km, target class,
    /// coordinates, parameters, reporting interval).
    pub station: Station,
    /// The latest live status analytics stored (none before its first reading).
    pub current: Option<CurrentStatus>,
    /// Observation time of the latest values.
    pub last_observed_at: Option<DateTime<Utc>>,
    /// Seconds since then.
    pub age_secs: Option<i64>,
    /// Whether the latest values are older than `[console] stale_after_intervals`
    /// reporting intervals (or there are none).
    pub stale: bool,
}

/// An evaluation-store failure as an API error: missing → 503, else 500.
pub fn eval_error(e: EvalError) -> ApiError {
    match e {
        EvalError::Open(OpenError::Missing { .. }) => ApiError::unavailable(
            "评价库尚不存在（分析服务首次运行时创建）",
            "the evaluation store does not exist yet (the analytics service creates it)",
        ),
        other => ApiError::internal(other),
    }
}

/// The current status of every station (none when analytics has not run yet).
fn current_all(state: &Shared) -> Result<HashMap<String, CurrentStatus>, ApiError> {
    match EvaluationReader::open(&state.stores.analytics_db()) {
        Ok(r) => Ok(r
            .current(None)
            .map_err(eval_error)?
            .into_iter()
            .map(|c| (c.station.clone(), c))
            .collect()),
        Err(EvalError::Open(OpenError::Missing { .. })) => Ok(HashMap::new()),
        Err(e) => Err(eval_error(e)),
    }
}

fn status(state: &Shared, station: &Station, current: Option<CurrentStatus>) -> StationStatus {
    let now = state.clock.now();
    let last = current.as_ref().map(|c| c.observed_at);
    let age = last.map(|t| (now - t).num_seconds());
    let limit =
        i64::from(station.report_interval_secs) * i64::from(state.config.stale_after_intervals);
    StationStatus {
        station: station.clone(),
        current,
        last_observed_at: last,
        age_secs: age,
        stale: age.is_none_or(|a| a > limit),
    }
}

/// `GET /api/v1/stations`.
///
/// # Errors
/// 401, or a store failure.
pub async fn list(
    _: Auth,
    State(state): State<Shared>,
) -> Result<Json<Vec<StationStatus>>, ApiError> {
    let s = state.clone();
    let mut current = blocking(move || current_all(&s)).await?;
    Ok(Json(
        state
            .registry
            .stations()
            .iter()
            .map(|st| status(&state, st, current.remove(st.id.as_str())))
            .collect(),
    ))
}

/// `GET /api/v1/stations/{id}`.
///
/// # Errors
/// 401, 404 for an unknown station, or a store failure.
pub async fn one(
    _: Auth,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<StationStatus>, ApiError> {
    let Some(station) = state.registry.station(&id).cloned() else {
        return Err(ApiError::not_found(
            format!("未知站点 `{id}`"),
            format!("unknown station `{id}`"),
        ));
    };
    let s = state.clone();
    let mut current = blocking(move || current_all(&s)).await?;
    Ok(Json(status(&state, &station, current.remove(&id))))
}

/// `GET /api/v1/rivers`.
pub async fn rivers(_: Auth, State(state): State<Shared>) -> Json<Vec<River>> {
    Json(state.registry.rivers().to_vec())
}

/// `GET /api/v1/parameters`.
pub async fn parameters(_: Auth, State(state): State<Shared>) -> Json<Vec<Parameter>> {
    Json(state.registry.parameters().to_vec())
}
