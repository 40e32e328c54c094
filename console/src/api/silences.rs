//! `/api/v1/silences`: the silences with their state (everyone), and creating and ending
//! them (admins), through `riverwatch_alerts::operator` and the alert store, audited with
//! the token's name.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use riverwatch_alerts::model::Silence;
use riverwatch_alerts::operator::{SilenceRequest, add_silence};
use riverwatch_alerts::silence::parse_matchers;
use riverwatch_alerts::store::{Store, StoreError};
use riverwatch_alerts::views::{SilenceState, silence_state};
use riverwatch_core::time::parse_duration;
use serde::{Deserialize, Serialize};

use super::alerts::{alert_error, reader};
use super::auth::Auth;
use super::error::ApiError;
use super::evaluations::time_param;
use super::extract::{JsonBody, Q};
use super::{Shared, blocking};

/// A silence with its state now.
#[derive(Debug, Serialize)]
pub struct SilenceJson {
    /// The silence.
    #[serde(flatten)]
    pub silence: Silence,
    /// Its matchers as text (`rule=…,subject=…`).
    pub matchers_text: String,
    /// Active, pending, expired or ended early.
    pub state: SilenceState,
}

fn json(s: Silence, now: DateTime<Utc>) -> SilenceJson {
    SilenceJson {
        matchers_text: s.matchers_text(),
        state: silence_state(&s, now),
        silence: s,
    }
}

/// The parameters of `GET /api/v1/silences`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Include ended silences.
    #[serde(default)]
    pub all: bool,
}

/// `GET /api/v1/silences`.
///
/// # Errors
/// 503 before the alert service ran.
pub async fn list(
    _: Auth,
    State(state): State<Shared>,
    Q(p): Q<ListParams>,
) -> Result<Json<Vec<SilenceJson>>, ApiError> {
    let now = state.clock.now();
    let all = blocking(move || reader(&state)?.silences(p.all).map_err(alert_error)).await?;
    Ok(Json(all.into_iter().map(|s| json(s, now)).collect()))
}

/// The body of `POST /api/v1/silences`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSilence {
    /// Matchers `label=value,label!=value` (labels: rule, subject, parameter, severity,
    /// province, river, city, incident, fingerprint, id; `*` is a wildcard).
    pub matchers: String,
    /// How long, e.g. `4h`, `90m`, `2d`.
    pub duration: String,
    /// Start (default now).
    #[serde(default)]
    pub starts_at: Option<String>,
    /// Why.
    pub reason: String,
}

fn alert_store(state: &Shared) -> Result<Store, ApiError> {
    let path = state.stores.alerts_db();
    if !path.exists() {
        return Err(alert_error(StoreError::Missing(path)));
    }
    Store::open(&path).map_err(alert_error)
}

/// `POST /api/v1/silences` (admins).
///
/// # Errors
/// 401/403, 400 for bad matchers, duration or reason.
pub async fn create(
    auth: Auth,
    State(state): State<Shared>,
    JsonBody(body): JsonBody<NewSilence>,
) -> Result<Json<SilenceJson>, ApiError> {
    let by = auth.admin()?.name.clone();
    let matchers = parse_matchers(&body.matchers).map_err(|e| {
        ApiError::bad_request(format!("matchers 无法识别：{e}"), format!("matchers: {e}"))
    })?;
    let duration = parse_duration(&body.duration)
        .ok()
        .filter(|d| !d.is_zero())
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .ok_or_else(|| {
            ApiError::bad_request(
                "duration 须为正的时长，如 4h、90m、2d",
                "duration must be a positive span such as 4h, 90m, 2d",
            )
        })?;
    let reason = body.reason.trim().to_string();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::bad_request(
            "reason 不能为空，且不超过 500 个字符",
            "reason must be given, at most 500 characters",
        ));
    }
    let now = state.clock.now();
    let starts_at = time_param(body.starts_at.as_deref(), "starts_at")?.unwrap_or(now);
    let request = SilenceRequest {
        matchers,
        starts_at,
        ends_at: starts_at + duration,
        by,
        reason,
    };
    let s = blocking(move || {
        let mut store = alert_store(&state)?;
        add_silence(&mut store, request, now).map_err(alert_error)
    })
    .await?;
    Ok(Json(json(s, now)))
}

/// `POST /api/v1/silences/{id}/expire` (admins): ends a silence now.
///
/// # Errors
/// 401/403, 404 for an unknown silence.
pub async fn expire(
    auth: Auth,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<SilenceJson>, ApiError> {
    let by = auth.admin()?.name.clone();
    let now = state.clock.now();
    let s = blocking(move || {
        alert_store(&state)?
            .expire_silence(id.trim(), &by, now)
            .map_err(alert_error)
    })
    .await?;
    Ok(Json(json(s, now)))
}
