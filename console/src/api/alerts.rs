//! `/api/v1/alerts` (list, one with its notifications and audit trail) and the
//! acknowledgement `POST /api/v1/alerts/{id}/ack`, for the token's province only, through
//! `riverwatch_alerts::operator` (so it is audited and shows in `riverwatch alerts show`).
//! [`AlertJson`] is the alert's form in the API and on the live feed.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use riverwatch_alerts::model::{AlertStatus, AlertView, AuditRow, Notification, Place, Role};
use riverwatch_alerts::operator::acknowledge as store_acknowledge;
use riverwatch_alerts::reader::{AlertQuery, AlertReader, StateFilter};
use riverwatch_alerts::store::{Store, StoreError};
use riverwatch_alerts::views::{Standing, alert_detail, province_side};
use riverwatch_core::Province;
use riverwatch_core::events::{Event, Rule, Severity};
use riverwatch_core::time::fmt_cst;
use serde::{Deserialize, Serialize};

use super::auth::Auth;
use super::error::ApiError;
use super::evaluations::time_param;
use super::extract::{JsonBody, Q};
use super::{Shared, blocking};

/// One province's acknowledgement.
#[derive(Debug, Clone, Serialize)]
pub struct AckJson {
    /// Who.
    pub by: String,
    /// When (UTC).
    pub at: DateTime<Utc>,
    /// What was done.
    pub comment: Option<String>,
}

/// One province's side of an alert.
#[derive(Debug, Clone, Serialize)]
pub struct SideJson {
    /// Equal (cross-border), owner, or information copy.
    pub role: Role,
    /// Acknowledged, informed, notice or unacknowledged.
    pub standing: Standing,
    /// Escalation level reached (0: none).
    pub escalation_level: u8,
}

/// An alert as the API and the live feed give it.
#[derive(Debug, Clone, Serialize)]
pub struct AlertJson {
    /// Id (12 hex digits).
    pub id: String,
    /// `firing`, `resolved` or `notice`.
    pub state: AlertStatus,
    /// The rule.
    pub rule: Rule,
    /// Station id or `REGION`.
    pub subject: String,
    /// Parameter code for per-parameter rules.
    pub parameter: Option<String>,
    /// The latest value.
    pub value: Option<f64>,
    /// The limit it is judged against.
    pub limit: Option<f64>,
    /// Unit of value and limit.
    pub unit: Option<String>,
    /// Observation time of the first firing event.
    pub first_seen: DateTime<Utc>,
    /// Observation time of the latest event.
    pub last_seen: DateTime<Utc>,
    /// Observation time of the resolving event.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Severity.
    pub severity: Severity,
    /// Boundary section or regional event.
    pub cross_border: bool,
    /// Provinces concerned.
    pub provinces: Vec<Province>,
    /// The subject's place (names, province, river and km).
    pub place: Option<Place>,
    /// Each province's acknowledgement (`null` while none).
    pub acks: BTreeMap<&'static str, Option<AckJson>>,
    /// Each province's side.
    pub sides: BTreeMap<&'static str, SideJson>,
    /// Silences muting it now.
    pub silenced_by: Vec<String>,
    /// The alert it is attached to (not notified on its own).
    pub inhibited_by: Option<String>,
    /// Alerts attached to it.
    pub attached: Vec<String>,
    /// The latest event in full (class vs target, exceedance multiple, attribution,
    /// incident and expected arrival downstream, summaries).
    pub event: Event,
    /// Last change (wall clock).
    pub updated_at: DateTime<Utc>,
    /// Incremented on every change.
    pub version: u64,
}

impl AlertJson {
    /// The API form of an alert view.
    pub fn from_view(v: &AlertView) -> Self {
        let a = &v.alert;
        let e = &a.event;
        let mut acks = BTreeMap::new();
        let mut sides = BTreeMap::new();
        for p in Province::ALL {
            acks.insert(
                p.code(),
                v.ack(p).map(|k| AckJson {
                    by: k.by.clone(),
                    at: k.at,
                    comment: k.comment.clone(),
                }),
            );
            if let Some(side) = province_side(v, p) {
                sides.insert(
                    p.code(),
                    SideJson {
                        role: a.role_of(p),
                        standing: side.standing,
                        escalation_level: side.escalation_level,
                    },
                );
            }
        }
        Self {
            id: a.id.clone(),
            state: a.status,
            rule: a.rule,
            subject: a.subject.clone(),
            parameter: a.parameter.clone(),
            value: e.value,
            limit: e.limit,
            unit: e.unit.clone(),
            first_seen: a.first_seen,
            last_seen: a.last_seen,
            resolved_at: a.resolved_at,
            severity: a.severity,
            cross_border: a.cross_border,
            provinces: a.provinces.clone(),
            place: a.place.clone(),
            acks,
            sides,
            silenced_by: v.silenced_by.clone(),
            inhibited_by: a.inhibited_by.clone(),
            attached: v.attached.clone(),
            event: e.clone(),
            updated_at: a.updated_at,
            version: a.version,
        }
    }
}

/// An alert-store failure as an API error.
pub fn alert_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Missing(_) => ApiError::unavailable(
            "告警库尚不存在（告警服务首次运行时创建）",
            "the alert store does not exist yet (the alert service creates it)",
        ),
        StoreError::NotFound { what, id } => ApiError::not_found(
            format!(
                "没有编号为 `{id}` 的{}",
                if what == "silence" {
                    "静默规则"
                } else {
                    "告警"
                }
            ),
            format!("no {what} `{id}`"),
        ),
        StoreError::Ambiguous(p) => ApiError::bad_request(
            format!("`{p}` 对应多条告警，请给出更多位编号"),
            format!("`{p}` matches several alerts; give more digits"),
        ),
        StoreError::AlreadyAcknowledged {
            alert_id,
            province,
            by,
            at,
        } => ApiError::conflict(
            format!(
                "{}已确认告警 {alert_id}（{by}，{}），无需重复确认",
                province.name_zh(),
                fmt_cst(at)
            ),
            format!(
                "{} already acknowledged alert {alert_id} ({by}, {at})",
                province.name_en()
            ),
        ),
        other => ApiError::internal(other),
    }
}

/// The read-only alert store.
pub fn reader(state: &Shared) -> Result<AlertReader, ApiError> {
    AlertReader::open(&state.stores.alerts_db(), state.clock.clone()).map_err(alert_error)
}

/// `state=` of `/api/v1/alerts`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StateParam {
    /// Firing (the default).
    #[default]
    Firing,
    /// Resolved.
    Resolved,
    /// Notices.
    Notice,
    /// Everything.
    All,
}

/// The parameters of `/api/v1/alerts`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertParams {
    /// Which alerts.
    #[serde(default)]
    pub state: StateParam,
    /// Only alerts this province acts on (`HLJ` or `JL`).
    pub province: Option<Province>,
    /// Only this station (or `REGION`).
    pub station: Option<String>,
    /// Only alerts changed since.
    pub since: Option<String>,
    /// At most this many, most recently changed first (default 500, most 10000).
    pub limit: Option<usize>,
}

/// `GET /api/v1/alerts`.
///
/// # Errors
/// 400 for a bad filter, 503 before the alert service ran.
pub async fn list(
    _: Auth,
    State(state): State<Shared>,
    Q(p): Q<AlertParams>,
) -> Result<Json<Vec<AlertJson>>, ApiError> {
    let q = AlertQuery {
        state: match p.state {
            StateParam::Firing => StateFilter::Firing,
            StateParam::Resolved => StateFilter::Resolved,
            StateParam::Notice => StateFilter::Notice,
            StateParam::All => StateFilter::All,
        },
        province: p.province,
        subject: p.station,
        since: time_param(p.since.as_deref(), "since")?,
        limit: Some(p.limit.unwrap_or(500).min(10_000)),
    };
    let views = blocking(move || reader(&state)?.alerts(&q).map_err(alert_error)).await?;
    Ok(Json(views.iter().map(AlertJson::from_view).collect()))
}

/// One alert with everything recorded about it.
#[derive(Debug, Serialize)]
pub struct AlertDetailJson {
    /// The alert.
    pub alert: AlertJson,
    /// Its notifications (who was told how, and the outcome), newest first.
    pub notifications: Vec<Notification>,
    /// Its audit rows, oldest first.
    pub audit: Vec<AuditRow>,
}

/// `GET /api/v1/alerts/{id}`.
///
/// # Errors
/// 404 for an unknown alert, 503 before the alert service ran.
pub async fn detail(
    _: Auth,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<AlertDetailJson>, ApiError> {
    let d = blocking(move || alert_detail(&reader(&state)?, &id).map_err(alert_error)).await?;
    Ok(Json(AlertDetailJson {
        alert: AlertJson::from_view(&d.alert),
        notifications: d.notifications,
        audit: d.audit,
    }))
}

/// Longest acknowledgement comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 2000;

/// The body of `POST /api/v1/alerts/{id}/ack`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckBody {
    /// What was done.
    #[serde(default)]
    pub comment: Option<String>,
    /// The province acknowledging; when given it must be the token's.
    #[serde(default)]
    pub province: Option<Province>,
}

/// `POST /api/v1/alerts/{id}/ack`: the token's province acknowledges.
///
/// # Errors
/// 401, 403 (viewer, or another province), 400 (bad body), 404, 409 (already
/// acknowledged by this province), 503.
pub async fn acknowledge(
    auth: Auth,
    State(state): State<Shared>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<AckBody>,
) -> Result<Json<AlertJson>, ApiError> {
    let p = auth.holder()?;
    let Some(province) = p.acknowledges_for() else {
        return Err(ApiError::forbidden(
            "只读令牌不能确认告警",
            "a viewer token cannot acknowledge alerts",
        ));
    };
    if let Some(asked) = body.province
        && asked != province
    {
        return Err(ApiError::forbidden(
            format!(
                "此令牌只能代表{}确认，不能代表{}",
                province.name_zh(),
                asked.name_zh()
            ),
            format!(
                "this token acknowledges for {} only, not for {}",
                province.name_en(),
                asked.name_en()
            ),
        ));
    }
    if body
        .comment
        .as_deref()
        .is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS)
    {
        return Err(ApiError::bad_request(
            format!("备注不能超过 {MAX_COMMENT_CHARS} 个字符"),
            format!("the comment may not exceed {MAX_COMMENT_CHARS} characters"),
        ));
    }
    let by = p.name.clone();
    let now = state.clock.now();
    let path = state.stores.alerts_db();
    let s = state.clone();
    let view = blocking(move || {
        if !path.exists() {
            return Err(alert_error(StoreError::Missing(path)));
        }
        let mut store = Store::open(&path).map_err(alert_error)?;
        let ack = store_acknowledge(&mut store, &id, province, &by, body.comment.as_deref(), now)
            .map_err(alert_error)?;
        reader(&s)?.alert(&ack.alert_id).map_err(alert_error)
    })
    .await?;
    tracing::info!(alert = %view.alert.id, province = %province, by = %p.name, "Acknowledged through the API.");
    Ok(Json(AlertJson::from_view(&view)))
}
