//! `GET /api/v1/openapi.json`: the hand-written OpenAPI 3 description of every route
//! (`openapi.json` next to this file, embedded at compile time; a test checks that it names
//! every route of the router).

use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

/// The document.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// `GET /api/v1/openapi.json`.
pub async fn serve() -> Response {
    let mut r = OPENAPI_JSON.into_response();
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_parses_and_names_every_route() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI_JSON).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        let router = include_str!("mod.rs");
        // Every `.route("…"` of the router, with the `/api/v1` of the nested ones.
        let mut seen = 0;
        for part in router.split(".route(").skip(1) {
            let rest = part.trim_start().strip_prefix('"').unwrap();
            let route = &rest[..rest.find('"').unwrap()];
            let full = if ["/healthz", "/readyz", "/metrics"].contains(&route) {
                route.to_string()
            } else {
                format!("/api/v1{route}")
            };
            assert!(paths.contains_key(&full), "{full} is not documented");
            seen += 1;
        }
        assert_eq!(seen, paths.len(), "documented routes that do not exist");
    }
}
