//! Who is asking: the [`Auth`] extractor takes `Authorization: Bearer …` or the session
//! cookie, refuses an address that sent too many bad tokens (429), and gives the handler
//! the [`Principal`]; the sign-in endpoints turn a token into an HttpOnly, SameSite=Strict
//! session cookie and back. A request signed in by cookie that changes something must also
//! come from the console's own origin. Neither the token nor the cookie is ever logged.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::header::{AUTHORIZATION, COOKIE, HOST, ORIGIN, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::extract::JsonBody;
use super::{Shared, blocking};
use crate::access::{Principal, TokenInfo};

/// Name of the session cookie.
pub const COOKIE_NAME: &str = "rw_session";

/// The principal of a request.
#[derive(Debug, Clone)]
pub struct Auth(pub Principal);

impl Auth {
    /// The principal, who must hold a token (not an anonymous reader).
    ///
    /// # Errors
    /// 401 for an anonymous reader.
    pub fn holder(&self) -> Result<&Principal, ApiError> {
        if self.0.token_id.is_none() {
            return Err(ApiError::unauthorized());
        }
        Ok(&self.0)
    }

    /// An admin's principal.
    ///
    /// # Errors
    /// 401 for an anonymous reader, 403 for another role.
    pub fn admin(&self) -> Result<&Principal, ApiError> {
        let p = self.holder()?;
        if !p.role.is_admin() {
            return Err(ApiError::forbidden(
                "此操作需要管理员令牌",
                "this needs an admin token",
            ));
        }
        Ok(p)
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The session cookie's value.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value)
}

/// The client's address: the configured proxy header, else the connection's.
pub fn client_address(parts: &Parts, state: &Shared) -> IpAddr {
    if let Some(h) = &state.config.client_address_header
        && let Some(ip) = parts
            .headers
            .get(h.as_str())
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok())
    {
        return ip;
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// Whether a cookie-signed change comes from the console's own pages: a browser sends
/// `Origin` on such requests, and it must name the host the request went to.
fn same_origin(headers: &HeaderMap) -> bool {
    if headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v != "same-origin" && v != "none")
    {
        return false;
    }
    match (headers.get(ORIGIN), headers.get(HOST)) {
        (None, _) => true,
        (Some(origin), Some(host)) => {
            let (Ok(origin), Ok(host)) = (origin.to_str(), host.to_str()) else {
                return false;
            };
            origin
                .split_once("://")
                .is_some_and(|(_, rest)| rest.trim_end_matches('/') == host)
        }
        (Some(_), None) => false,
    }
}

enum Credential {
    Token(String),
    Session(String),
}

impl FromRequestParts<Shared> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        let credential = match (bearer(&parts.headers), session_cookie(&parts.headers)) {
            (Some(t), _) => Credential::Token(t.to_string()),
            (None, Some(s)) => Credential::Session(s.to_string()),
            (None, None) if state.config.anonymous_read => return Ok(Auth(Principal::anonymous())),
            (None, None) => {
                state.metrics.auth_failures.inc();
                return Err(ApiError::unauthorized());
            }
        };
        let addr = client_address(parts, state);
        if let Some(wait) = state.throttle.wait(addr, Instant::now()) {
            state.metrics.throttled.inc();
            return Err(ApiError::throttled(wait.as_secs().max(1)));
        }
        let unsafe_method = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if matches!(credential, Credential::Session(_))
            && unsafe_method
            && !same_origin(&parts.headers)
        {
            return Err(ApiError::forbidden(
                "跨站请求被拒绝",
                "cross-site request refused",
            ));
        }
        let now = state.clock.now();
        let tokens = state.tokens.clone();
        let found: Option<TokenInfo> = blocking(move || {
            let mut store = tokens.lock();
            match credential {
                Credential::Token(t) => store.authenticate(&t, now),
                Credential::Session(s) => store.session(&s, now),
            }
            .map_err(ApiError::internal)
        })
        .await?;
        match found {
            Some(info) => {
                state.throttle.succeeded(addr);
                Ok(Auth(info.principal()))
            }
            None => {
                state.throttle.failed(addr, Instant::now());
                state.metrics.auth_failures.inc();
                Err(ApiError::unauthorized())
            }
        }
    }
}

/// `POST /api/v1/session`: a token.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// The token.
    pub token: String,
}

/// Who is signed in.
#[derive(Debug, Serialize)]
pub struct Me {
    /// The token's name.
    pub name: String,
    /// Its province (`HLJ`, `JL`; none for an anonymous reader).
    pub province: Option<riverwatch_core::Province>,
    /// Its role.
    pub role: crate::access::Role,
    /// The province it acknowledges for.
    pub acknowledges_for: Option<riverwatch_core::Province>,
    /// Whether it manages silences and tokens.
    pub admin: bool,
}

impl From<&Principal> for Me {
    fn from(p: &Principal) -> Self {
        Self {
            name: p.name.clone(),
            province: p.province,
            role: p.role,
            acknowledges_for: p.acknowledges_for(),
            admin: p.role.is_admin() && p.token_id.is_some(),
        }
    }
}

fn cookie(state: &Shared, value: &str, max_age_secs: u64) -> Result<HeaderValue, ApiError> {
    let secure = if state.config.secure_cookie {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
    ))
    .map_err(ApiError::internal)
}

/// `POST /api/v1/session`: signs in with a token; sets the session cookie.
///
/// # Errors
/// 400 for a malformed body, 401 for a bad token, 429 after too many.
pub async fn sign_in(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SignIn>,
) -> Result<Response, ApiError> {
    let addr = state
        .config
        .client_address_header
        .as_ref()
        .and_then(|h| headers.get(h.as_str()))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.trim().parse::<IpAddr>().ok())
        .unwrap_or(peer.ip());
    if let Some(wait) = state.throttle.wait(addr, Instant::now()) {
        state.metrics.throttled.inc();
        return Err(ApiError::throttled(wait.as_secs().max(1)));
    }
    let now = state.clock.now();
    let ttl = state.config.session_ttl_secs;
    let expires = now + Duration::seconds(i64::try_from(ttl).unwrap_or(i64::MAX / 1000));
    let tokens = state.tokens.clone();
    let started = blocking(move || {
        let mut store = tokens.lock();
        let Some(info) = store
            .authenticate(body.token.trim(), now)
            .map_err(ApiError::internal)?
        else {
            return Ok(None);
        };
        let session = store
            .start_session(&info.id, now, expires)
            .map_err(ApiError::internal)?;
        Ok(Some((info, session)))
    })
    .await?;
    let Some((info, session)) = started else {
        state.throttle.failed(addr, Instant::now());
        state.metrics.auth_failures.inc();
        return Err(ApiError::unauthorized());
    };
    state.throttle.succeeded(addr);
    tracing::info!(token = %info.id, name = %info.name, "Signed in.");
    let mut r = (StatusCode::OK, Json(Me::from(&info.principal()))).into_response();
    r.headers_mut()
        .insert(SET_COOKIE, cookie(&state, &session, ttl)?);
    Ok(r)
}

/// `GET /api/v1/session`: who the token or cookie belongs to.
pub async fn whoami(auth: Auth) -> Json<Me> {
    Json(Me::from(&auth.0))
}

/// `DELETE /api/v1/session`: signs out; clears the cookie.
///
/// # Errors
/// A database failure.
pub async fn sign_out(
    State(state): State<Shared>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(s) = session_cookie(&headers).map(str::to_string) {
        let tokens = state.tokens.clone();
        blocking(move || tokens.lock().end_session(&s).map_err(ApiError::internal)).await?;
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(SET_COOKIE, cookie(&state, "", 0)?);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_found_and_cross_site_changes_refused() {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer rwt_abc"));
        h.insert(COOKIE, HeaderValue::from_static("a=1; rw_session=xyz; b=2"));
        assert_eq!(bearer(&h), Some("rwt_abc"));
        assert_eq!(session_cookie(&h), Some("xyz"));
        h.insert(HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_origin(&h));
        h.insert(ORIGIN, HeaderValue::from_static("http://127.0.0.1:8080"));
        assert!(same_origin(&h));
        h.insert(ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(!same_origin(&h));
        h.remove(ORIGIN);
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&h));
    }
}
