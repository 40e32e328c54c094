//! `GET /api/v1/stream`: server-sent events `reading`, `evaluation` and `alert`, each with
//! an `id:`. A client that reconnects with `Last-Event-ID` first gets what it missed from
//! the ring, then the live items; when its last event is gone (another run of the console,
//! or older than the ring) or it falls too far behind, it gets a `resync` event telling it
//! to reload its data from the API, then the live items. Keep-alive comments keep proxies
//! from closing an idle stream; `X-Accel-Buffering: no` keeps nginx from buffering it.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use futures::stream::{self, Stream};
use tokio::sync::broadcast::error::RecvError;

use super::feed::{Item, Resume};
use crate::api::Shared;
use crate::api::auth::Auth;
use crate::metrics::Metrics;

/// Counts a connected client while it lives.
struct Client(Metrics);

impl Drop for Client {
    fn drop(&mut self) {
        let g = &self.0.sse_clients;
        g.set(g.get().saturating_sub(1));
    }
}

fn event(state: &Shared, item: &Item) -> Event {
    Event::default()
        .event(item.kind.as_str())
        .id(state.feed.id(item.seq))
        .data(&*item.data)
}

fn resync(state: &Shared) -> Event {
    state.metrics.resyncs.inc();
    Event::default()
        .event("resync")
        .id(state.feed.head_id())
        .data("{\"reload\":true}")
}

/// `GET /api/v1/stream`.
pub async fn stream(_: Auth, State(state): State<Shared>, headers: HeaderMap) -> Response {
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let (rx, resume) = state.feed.subscribe(last);
    // `sent`: the newest number the client has; live items up to it are skipped (an item
    // pushed between subscribing and the snapshot comes both ways).
    let (first, sent): (Vec<Event>, u64) = match resume {
        Resume::From(items) => {
            let sent = items.last().map(|i| i.seq).unwrap_or_else(|| {
                last.and_then(|l| l.rsplit_once('-'))
                    .and_then(|(_, s)| s.parse().ok())
                    .unwrap_or(0)
            });
            (items.iter().map(|i| event(&state, i)).collect(), sent)
        }
        Resume::Resync => (vec![resync(&state)], 0),
    };
    let g = &state.metrics.sse_clients;
    g.set(g.get() + 1);
    let client = Client(state.metrics.clone());
    let live = stream::unfold(
        (rx, sent, state.clone(), client),
        |(mut rx, mut sent, state, client)| async move {
            loop {
                let received = tokio::select! {
                    r = rx.recv() => r,
                    () = state.stop.cancelled() => return None,
                };
                match received {
                    Ok(item) if item.seq <= sent => continue,
                    Ok(item) => {
                        sent = item.seq;
                        let e = event(&state, &item);
                        return Some((Ok::<Event, Infallible>(e), (rx, sent, state, client)));
                    }
                    Err(RecvError::Lagged(_)) => {
                        // Fell behind the broadcast: what it missed may be gone.
                        let e = resync(&state);
                        return Some((Ok(e), (rx, sent, state, client)));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        },
    );
    let all: std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>> =
        Box::pin(stream::iter(first.into_iter().map(Ok)).chain(live));
    let keep_alive = KeepAlive::new()
        .interval(Duration::from_secs(state.config.keep_alive_secs))
        .text("keep-alive");
    let mut r = Sse::new(all).keep_alive(keep_alive).into_response();
    let h = r.headers_mut();
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}
