//! The console's pages: hand-written HTML, CSS and JavaScript under `console/assets/`,
//! embedded at compile time and served by the binary itself (no CDN, no build step).
//!
//! The pages are static shells; their scripts read everything from the HTTP API
//! ([`crate::api`]) with the session cookie and follow the live feed, so a page holds no
//! data the API would not give its signed-in principal. No inline script or style (the
//! CSP forbids them); charts and the river schematic are SVG drawn by the scripts.
//! Simplified Chinese by default, English with `?lang=en` (kept in a cookie); times in
//! UTC+8.

use axum::Router;
use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::api::Shared;
use crate::api::error::ApiError;

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Its name under `/assets/`.
    pub name: &'static str,
    /// Its media type.
    pub content_type: &'static str,
    /// Its content.
    pub body: &'static str,
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";

/// The files under `/assets/`.
pub const ASSETS: &[Asset] = &[
    Asset {
        name: "console.css",
        content_type: CSS,
        body: include_str!("../assets/console.css"),
    },
    Asset {
        name: "common.js",
        content_type: JS,
        body: include_str!("../assets/common.js"),
    },
    Asset {
        name: "signin.js",
        content_type: JS,
        body: include_str!("../assets/signin.js"),
    },
    Asset {
        name: "overview.js",
        content_type: JS,
        body: include_str!("../assets/overview.js"),
    },
    Asset {
        name: "station.js",
        content_type: JS,
        body: include_str!("../assets/station.js"),
    },
    Asset {
        name: "alert.js",
        content_type: JS,
        body: include_str!("../assets/alert.js"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        body: include_str!("../assets/icon.svg"),
    },
];

/// The pages: path in the router, and the HTML shell.
pub const PAGES: &[(&str, &str)] = &[
    ("/", include_str!("../assets/overview.html")),
    ("/signin", include_str!("../assets/signin.html")),
    ("/station/{id}", include_str!("../assets/station.html")),
    ("/alert/{id}", include_str!("../assets/alert.html")),
];

fn serve(content_type: &'static str, body: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Revalidate every time: a new binary serves new files under the same names.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => serve(a.content_type, a.body),
        None => ApiError::of_status(StatusCode::NOT_FOUND, 0).into_response(),
    }
}

/// The routes of the pages and their assets (no credentials needed: the shells hold no
/// data; their scripts sign in or are sent to `/signin`).
pub fn router() -> Router<Shared> {
    let mut r = Router::new().route("/assets/{name}", get(asset));
    for &(path, html) in PAGES {
        r = r.route(path, get(move || async move { serve(HTML, html) }));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether a file names anything outside the console (the SVG namespace is a name,
    /// not a resource).
    fn outside(text: &str) -> bool {
        let text = text.replace("http://www.w3.org/2000/svg", "");
        text.contains("http://") || text.contains("https://") || text.contains("//cdn")
    }

    #[test]
    fn every_page_names_only_embedded_scripts_and_has_no_inline_code() {
        for (path, html) in PAGES {
            assert!(
                html.contains("/assets/common.js"),
                "{path} loads the common script"
            );
            for part in html.split("src=\"/assets/").skip(1) {
                let name = &part[..part.find('"').unwrap_or(0)];
                assert!(
                    ASSETS.iter().any(|a| a.name == name),
                    "{path}: /assets/{name} is not embedded"
                );
            }
            // Every <script> has a src and no body; no inline handlers or styles.
            for part in html.split("<script").skip(1) {
                let tag_end = part.find('>').unwrap();
                assert!(part[..tag_end].contains("src="), "{path}: inline script");
                assert!(
                    part[tag_end + 1..].starts_with("</script>"),
                    "{path}: script body"
                );
            }
            assert!(!html.contains(" onclick="), "{path}: inline handler");
            assert!(!html.contains(" style="), "{path}: inline style");
            assert!(!html.contains("<style"), "{path}: style element");
            assert!(!outside(html), "{path}: outside resource");
        }
        for a in ASSETS {
            assert!(!outside(a.body), "{}: outside resource", a.name);
        }
    }
}
