//! `/api/v1/tokens` (admins): the console's tokens listed without their secrets, created
//! (the secret in the answer, once) and revoked, through the same [`TokenStore`] calls as
//! `riverwatch tokens create|list|revoke`, so the same rules hold: only the SHA-256 is
//! stored, a name of 1 to 100 characters, a revoked token's sessions end at once. An admin
//! creates and revokes tokens of their own province only: a token acts for its province,
//! and one province's admin does not make the other's officers.
//!
//! [`TokenStore`]: crate::access::TokenStore

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use riverwatch_core::Province;
use serde::{Deserialize, Serialize};

use super::auth::Auth;
use super::error::ApiError;
use super::extract::JsonBody;
use super::{Shared, blocking};
use crate::access::store::MAX_NAME_CHARS;
use crate::access::{Principal, Role, TokenInfo, TokenStoreError};

fn store_error(e: TokenStoreError) -> ApiError {
    match e {
        TokenStoreError::NotFound(id) => ApiError::not_found(
            format!("没有编号为 `{id}` 的令牌"),
            format!("no token `{id}`"),
        ),
        TokenStoreError::BadName => ApiError::bad_request(
            format!("name 需填写持有人姓名（不超过 {MAX_NAME_CHARS} 个字符）"),
            format!("name needs the holder's name (at most {MAX_NAME_CHARS} characters)"),
        ),
        other => ApiError::internal(other),
    }
}

/// 403 unless the admin acts for `province`.
fn own_province(admin: &Principal, province: Province) -> Result<(), ApiError> {
    if admin.province == Some(province) {
        return Ok(());
    }
    Err(ApiError::forbidden(
        format!(
            "只能管理本省（{}）的令牌",
            admin.province.map_or("—", Province::name_zh)
        ),
        format!(
            "an admin manages the tokens of their own province ({}) only",
            admin.province.map_or("—", Province::code)
        ),
    ))
}

/// `GET /api/v1/tokens` (admins): every token of both provinces, oldest first, without
/// secrets.
///
/// # Errors
/// 401/403.
pub async fn list(
    auth: Auth,
    State(state): State<Shared>,
) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    auth.admin()?;
    let tokens = state.tokens.clone();
    let all = blocking(move || tokens.lock().list().map_err(store_error)).await?;
    Ok(Json(all))
}

/// The body of `POST /api/v1/tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// The province it acts for (`HLJ`, `JL`): the admin's own.
    pub province: Province,
    /// `viewer`, `duty` or `admin`.
    pub role: Role,
    /// Who holds it (shown as who acknowledged).
    pub name: String,
}

/// A new token: the secret, shown this once, and its record.
#[derive(Debug, Serialize)]
pub struct Created {
    /// The token (`rwt_…`); only its SHA-256 is kept.
    pub token: String,
    /// Its record, as listed.
    #[serde(flatten)]
    pub info: TokenInfo,
}

/// `POST /api/v1/tokens` (admins): 201 with the new token.
///
/// # Errors
/// 401/403 (another province's token too), 400 for a bad body or name.
pub async fn create(
    auth: Auth,
    State(state): State<Shared>,
    JsonBody(body): JsonBody<NewToken>,
) -> Result<Response, ApiError> {
    let admin = auth.admin()?.clone();
    own_province(&admin, body.province)?;
    let now = state.clock.now();
    let tokens = state.tokens.clone();
    let (token, info) = blocking(move || {
        tokens
            .lock()
            .create(&body.name, body.province, body.role, now)
            .map_err(store_error)
    })
    .await?;
    tracing::info!(token = %info.id, name = %info.name, role = %info.role, by = %admin.name, "Token created.");
    Ok((StatusCode::CREATED, Json(Created { token, info })).into_response())
}

/// `DELETE /api/v1/tokens/{id}` (admins): revokes a token of the admin's province; its
/// sessions end at once. Revoking twice keeps the first time.
///
/// # Errors
/// 401/403 (another province's token too), 404 for an unknown id.
pub async fn revoke(
    auth: Auth,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<TokenInfo>, ApiError> {
    let admin = auth.admin()?.clone();
    let by = admin.name.clone();
    let now = state.clock.now();
    let tokens = state.tokens.clone();
    let revoked = blocking(move || {
        let mut store = tokens.lock();
        let id = id.trim();
        let Some(t) = store.get(id).map_err(store_error)? else {
            return Err(store_error(TokenStoreError::NotFound(id.to_string())));
        };
        own_province(&admin, t.province)?;
        store.revoke(id, now).map_err(store_error)
    })
    .await?;
    tracing::info!(token = %revoked.id, name = %revoked.name, %by, "Token revoked.");
    Ok(Json(revoked))
}
