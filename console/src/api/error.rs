//! API errors: a status, a stable code and the message in both languages. A handler returns
//! an [`ApiError`]; the response layer ([`crate::api::finish`]) writes it as
//! `{"error": code, "message": …}` in the configured language, and gives the bare errors
//! of the HTTP layer (unknown route, wrong method, body over the limit) the same form.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use riverwatch_core::Lang;
use serde::Serialize;

/// An API error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code, e.g. `unauthorized`.
    pub code: &'static str,
    /// Chinese message.
    pub zh: String,
    /// English message.
    pub en: String,
    /// Seconds for `Retry-After` (429, 503).
    pub retry_after_secs: Option<u64>,
}

/// The JSON body of an error.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    /// Stable code.
    pub error: &'a str,
    /// The message in the configured language.
    pub message: &'a str,
}

impl ApiError {
    /// An error with a status, a code and both messages.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        zh: impl Into<String>,
        en: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            zh: zh.into(),
            en: en.into(),
            retry_after_secs: None,
        }
    }

    /// 400: malformed input.
    pub fn bad_request(zh: impl Into<String>, en: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", zh, en)
    }

    /// 401: no valid token or session.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "需要有效的令牌：请在 Authorization: Bearer 头中提供，或先登录",
            "a valid token is required: send Authorization: Bearer, or sign in first",
        )
    }

    /// 403: the token may not do this.
    pub fn forbidden(zh: impl Into<String>, en: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", zh, en)
    }

    /// 404.
    pub fn not_found(zh: impl Into<String>, en: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", zh, en)
    }

    /// 409: the change was already made.
    pub fn conflict(zh: impl Into<String>, en: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", zh, en)
    }

    /// 413: the body is over the limit.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("请求体超过 {limit} 字节的上限"),
            format!("the request body is over the limit of {limit} bytes"),
        )
    }

    /// 429 with `Retry-After`.
    pub fn throttled(secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_failures",
            format!("无效令牌过多，请 {secs} 秒后再试"),
            format!("too many bad tokens; try again in {secs} s"),
        );
        e.retry_after_secs = Some(secs);
        e
    }

    /// 503: a store is not there yet or failed.
    pub fn unavailable(zh: impl Into<String>, en: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", zh, en);
        e.retry_after_secs = Some(5);
        e
    }

    /// 500: something that should not fail did.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "Request failed.");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "服务器内部错误，详情见日志",
            "internal error; see the log",
        )
    }

    /// The error of a bare status from the HTTP layer.
    pub fn of_status(status: StatusCode, max_body_bytes: usize) -> Self {
        match status {
            StatusCode::NOT_FOUND => Self::not_found("没有这个地址", "no such route"),
            StatusCode::METHOD_NOT_ALLOWED => Self::new(
                status,
                "method_not_allowed",
                "此地址不支持该请求方法",
                "this route does not take that method",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => Self::too_large(max_body_bytes),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::new(
                status,
                "unsupported_media_type",
                "请求体须为 JSON（Content-Type: application/json）",
                "the body must be JSON (Content-Type: application/json)",
            ),
            s if s.is_client_error() => Self::bad_request("请求有误", "bad request"),
            _ => Self::new(
                status,
                "internal",
                "服务器内部错误，详情见日志",
                "internal error; see the log",
            ),
        }
    }

    /// The JSON body in `lang`.
    pub fn body(&self, lang: Lang) -> String {
        let body = ErrorBody {
            error: self.code,
            message: lang.pick(&self.zh, &self.en),
        };
        serde_json::to_string(&body).unwrap_or_else(|_| format!("{{\"error\":\"{}\"}}", self.code))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The body is written by the response layer, which knows the language.
        let mut r = self.status.into_response();
        r.extensions_mut().insert(self);
        r
    }
}
