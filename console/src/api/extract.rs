//! Request extraction that answers in the API's own error form: query strings and JSON
//! bodies that do not parse are 400 with the reason, bodies over the limit 413.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::Shared;
use super::error::ApiError;

/// A query string parsed into `T`.
#[derive(Debug)]
pub struct Q<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<Shared> for Q<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &Shared) -> Result<Self, ApiError> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(q)| Q(q))
            .map_err(|e| {
                let why = e.body_text();
                ApiError::bad_request(format!("查询参数有误：{why}"), format!("bad query: {why}"))
            })
    }
}

/// A JSON body parsed into `T`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequest<Shared> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Shared) -> Result<Self, ApiError> {
        let limit = state.config.max_body_bytes;
        let json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("application/json"));
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large(limit)
            } else {
                ApiError::bad_request("无法读取请求体", "cannot read the request body")
            }
        })?;
        if !json {
            return Err(ApiError::of_status(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                limit,
            ));
        }
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            ApiError::bad_request(
                format!("请求体不是有效的 JSON：{e}"),
                format!("the body is not valid JSON: {e}"),
            )
        })
    }
}
