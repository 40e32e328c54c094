//! The HTTP API under `/api/v1`, the probes and the metrics: the router, the state every
//! handler shares, and the response layer that writes errors in the configured language,
//! adds the security headers and counts responses.
//!
//! The API is a view: every number comes from a service's store through its reader
//! (`riverwatch_core::store_api` readers of the readings store, `riverwatch_analytics`'s
//! [`EvaluationReader`](riverwatch_analytics::store::EvaluationReader) and views,
//! `riverwatch_alerts`'s [`AlertReader`](riverwatch_alerts::AlertReader), views and
//! operator actions). Stores are opened per request, so the console starts before the
//! services have created them and answers 503 until they have.

pub mod alerts;
pub mod auth;
pub mod error;
pub mod evaluations;
pub mod extract;
pub mod health;
pub mod openapi;
pub mod readings;
pub mod silences;
pub mod standards;
pub mod stations;
pub mod tokens;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_TYPE, HeaderName, RETRY_AFTER, WWW_AUTHENTICATE, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post};
use riverwatch_core::Lang;
use riverwatch_core::registry::Registry;
use riverwatch_core::time::Clock;
use riverwatch_ingest::config::StoreConfig;

use self::error::ApiError;
use crate::access::{Throttle, TokenStore};
use crate::config::ConsoleConfig;
use crate::metrics::Metrics;
use crate::stream::feed::Feed;
use crate::stream::source::BrokerState;

/// Where the services' stores are.
#[derive(Debug, Clone)]
pub struct Stores {
    /// The data directory.
    pub data_dir: PathBuf,
    /// The readings store (`[store]`).
    pub readings: StoreConfig,
    /// The evaluation store's file (`[analytics] store_file`).
    pub analytics_file: String,
    /// The alert store's file (`[alerts] database`).
    pub alerts_file: String,
}

impl Stores {
    /// The alert store.
    pub fn alerts_db(&self) -> PathBuf {
        self.data_dir.join(&self.alerts_file)
    }

    /// The evaluation store.
    pub fn analytics_db(&self) -> PathBuf {
        self.data_dir.join(&self.analytics_file)
    }
}

/// The console database behind a lock (short queries on a blocking thread).
#[derive(Debug)]
pub struct Tokens(Mutex<TokenStore>);

impl Tokens {
    /// Wraps an open console database.
    pub fn new(store: TokenStore) -> Self {
        Self(Mutex::new(store))
    }

    /// The database (a poisoned lock is taken over: the connection is still sound).
    pub fn lock(&self) -> MutexGuard<'_, TokenStore> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    /// `[console]`.
    pub config: ConsoleConfig,
    /// Language of error messages.
    pub lang: Lang,
    /// The network.
    pub registry: Arc<Registry>,
    /// The services' stores.
    pub stores: Stores,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Tokens and sessions.
    pub tokens: Arc<Tokens>,
    /// Bad tokens per address.
    pub throttle: Throttle,
    /// The live feed.
    pub feed: Arc<Feed>,
    /// The feed's broker connection.
    pub broker: BrokerState,
    /// Counters.
    pub metrics: Metrics,
    /// Cancelled at shutdown: open live-feed streams end, so the server can stop.
    pub stop: tokio_util::sync::CancellationToken,
}

/// The shared state.
pub type Shared = Arc<AppState>;

/// Runs blocking store work on a blocking thread.
///
/// # Errors
/// The work's error, or 500 when the thread failed.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
}

/// Content Security Policy: only the console's own scripts, styles, images and
/// connections; no inline script; no framing.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The router: `/api/v1/…`, `/healthz`, `/readyz`, `/metrics`, and the pages with their
/// assets ([`crate::pages`]).
pub fn router(state: Shared) -> Router {
    let api = Router::new()
        .route("/openapi.json", get(openapi::serve))
        .route(
            "/session",
            get(auth::whoami).post(auth::sign_in).delete(auth::sign_out),
        )
        .route("/stations", get(stations::list))
        .route("/stations/{id}", get(stations::one))
        .route("/rivers", get(stations::rivers))
        .route("/parameters", get(stations::parameters))
        .route("/limits", get(standards::limits))
        .route("/aqi-levels", get(standards::aqi_levels))
        .route("/readings", get(readings::query))
        .route("/evaluations", get(evaluations::classes))
        .route("/aqi", get(evaluations::aqi))
        .route("/warnings", get(evaluations::warnings))
        .route("/joint-control", get(evaluations::joint_control))
        .route("/incidents", get(evaluations::incidents))
        .route("/events", get(evaluations::events))
        .route("/alerts", get(alerts::list))
        .route("/alerts/{id}", get(alerts::detail))
        .route("/alerts/{id}/ack", post(alerts::acknowledge))
        .route("/silences", get(silences::list).post(silences::create))
        .route("/silences/{id}/expire", post(silences::expire))
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}", delete(tokens::revoke))
        .route("/dead-letters", get(readings::dead_letters))
        .route("/stream", get(crate::stream::sse::stream));
    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .merge(crate::pages::router())
        .fallback(|| async { ApiError::of_status(StatusCode::NOT_FOUND, 0) })
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), finish))
        .with_state(state)
}

/// The response layer: errors as JSON in the configured language (also the bare ones of
/// the HTTP layer), the security headers, the response counter and a debug log line with
/// the method, path and status (never a header or the query).
async fn finish(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = std::time::Instant::now();
    let mut response = next.run(req).await;
    let status = response.status();
    let error = response.extensions_mut().remove::<ApiError>().or_else(|| {
        let bare = (status.is_client_error() || status.is_server_error())
            && !response.headers().contains_key(CONTENT_TYPE);
        bare.then(|| ApiError::of_status(status, state.config.max_body_bytes))
    });
    if let Some(e) = error {
        let mut r = Response::new(Body::from(e.body(state.lang)));
        *r.status_mut() = e.status;
        let h = r.headers_mut();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        if e.status == StatusCode::UNAUTHORIZED {
            h.insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"riverwatch\""),
            );
        }
        if let Some(secs) = e.retry_after_secs
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            h.insert(RETRY_AFTER, v);
        }
        response = r;
    }
    let h = response.headers_mut();
    h.insert(
        HeaderName::from_static("content-security-policy"),
        HeaderValue::from_static(CSP),
    );
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(CACHE_CONTROL) {
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    let code = response.status().as_u16();
    state.metrics.answered(code);
    tracing::debug!(%method, %path, status = code, elapsed_ms = started.elapsed().as_millis() as u64, "Answered.");
    response
}
