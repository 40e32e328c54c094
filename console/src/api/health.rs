//! `/healthz` (the process answers), `/readyz` (the feed's broker connection is up, the
//! console database takes a write, the services' stores can be opened) and `/metrics`
//! (Prometheus text: every counter of the process, and the alerts by state read from the
//! alert store at scrape time).

use std::fmt::Write as _;

use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use riverwatch_alerts::AlertReader;
use riverwatch_analytics::store::EvaluationReader;
use riverwatch_ingest::store;
use serde::Serialize;

use super::{Shared, blocking};

/// `GET /healthz`.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// The checks of `/readyz`.
#[derive(Debug, Serialize)]
pub struct Ready {
    /// Whether every check passed.
    pub ready: bool,
    /// The live feed's broker connection is up.
    pub broker: bool,
    /// The console database takes a write.
    pub console_db: bool,
    /// The readings store opens.
    pub readings_store: bool,
    /// The evaluation store opens.
    pub evaluation_store: bool,
    /// The alert store opens.
    pub alert_store: bool,
}

/// `GET /readyz`: 200 when ready, 503 otherwise, with the checks.
pub async fn readyz(State(state): State<Shared>) -> Response {
    let broker = state.broker.is_up();
    let s = state.clone();
    let checks = blocking(move || {
        let console_db = s.tokens.lock().check_writable().is_ok();
        let readings_store =
            store::open_dead_letter_reader(&s.stores.readings, &s.stores.data_dir).is_ok();
        let evaluation_store = EvaluationReader::open(&s.stores.analytics_db()).is_ok();
        let alert_store = AlertReader::open(&s.stores.alerts_db(), s.clock.clone()).is_ok();
        Ok((console_db, readings_store, evaluation_store, alert_store))
    })
    .await
    .unwrap_or((false, false, false, false));
    let (console_db, readings_store, evaluation_store, alert_store) = checks;
    let ready = broker && console_db && readings_store && evaluation_store && alert_store;
    let body = Ready {
        ready,
        broker,
        console_db,
        readings_store,
        evaluation_store,
        alert_store,
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// `GET /metrics`.
pub async fn metrics(State(state): State<Shared>) -> Response {
    state.metrics.sse_clients.set(state.feed.receivers() as u64);
    let s = state.clone();
    let counts = blocking(move || {
        Ok(AlertReader::open(&s.stores.alerts_db(), s.clock.clone())
            .and_then(|r| r.status_counts())
            .ok())
    })
    .await
    .ok()
    .flatten();
    let mut text = riverwatch_core::telemetry::render_prometheus(crate::metrics::help);
    if let Some(counts) = counts {
        let name = crate::metrics::ALERTS_BY_STATE;
        let help = crate::metrics::help(name).unwrap_or_default();
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (status, n) in counts {
            let _ = writeln!(text, "{name}{{state=\"{}\"}} {n}", status.as_str());
        }
    }
    let mut r = text.into_response();
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}
