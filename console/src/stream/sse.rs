//! `GET /api/v1/stream`: server-sent events `reading`, `evaluation` and `alert`, each with
//! an `id:`. A client that reconnects with `Last-Event-ID` first gets what it missed from
//! the ring, then the live items; when its last event is gone (another run of the console,
//! or older than the ring) or it falls too far behind, it gets a `resync` event telling it
//! to reload its data from the API, then the live items. Keep-alive comments keep proxies
//! from closing an idle stream; `X-Accel-Buffering: no` keeps nginx from buffering it.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use futures::StreamExt as _;
use futures::stream;
use tokio::sync::broadcast::error::RecvError;

use super::feed::{Resume, frame};
use crate::api::Shared;
use crate::api::auth::Auth;
use crate::metrics::Metrics;

/// The keep-alive comment.
const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// Counts a connected client while it lives.
struct Client(Metrics);

impl Drop for Client {
    fn drop(&mut self) {
        let g = &self.0.sse_clients;
        g.set(g.get().saturating_sub(1));
    }
}

fn resync(state: &Shared) -> Bytes {
    state.metrics.resyncs.inc();
    frame("resync", &state.feed.head_id(), "{\"reload\":true}")
}

/// `GET /api/v1/stream`. Each item goes out as the frame the feed wrote once for every
/// client ([`super::feed::Item::frame`]).
pub async fn stream(_: Auth, State(state): State<Shared>, headers: HeaderMap) -> Response {
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let (rx, resume) = state.feed.subscribe(last);
    // `sent`: the newest number the client has; live items up to it are skipped (an item
    // pushed between subscribing and the snapshot comes both ways).
    let (first, sent): (Vec<Bytes>, u64) = match resume {
        Resume::From(items) => {
            let sent = items.last().map(|i| i.seq).unwrap_or_else(|| {
                last.and_then(|l| l.rsplit_once('-'))
                    .and_then(|(_, s)| s.parse().ok())
                    .unwrap_or(0)
            });
            (items.iter().map(|i| i.frame.clone()).collect(), sent)
        }
        Resume::Resync => (vec![resync(&state)], 0),
    };
    let g = &state.metrics.sse_clients;
    g.set(g.get() + 1);
    let client = Client(state.metrics.clone());
    let keep_alive = Duration::from_secs(state.config.keep_alive_secs.max(1));
    // One timer per client, pushed back whenever something is sent.
    let timer = Box::pin(tokio::time::sleep(keep_alive));
    let live = stream::unfold(
        (rx, sent, state.clone(), client, timer),
        move |(mut rx, mut sent, state, client, mut timer)| async move {
            loop {
                // A keep-alive comment after `keep_alive` without an event; `recv` is
                // cancel-safe, so losing the race to the timer loses no item.
                let received = tokio::select! {
                    r = rx.recv() => r.map(Some),
                    () = state.stop.cancelled() => return None,
                    () = timer.as_mut() => Ok(None),
                };
                let out = match received {
                    Ok(None) => Bytes::from_static(KEEP_ALIVE),
                    Ok(Some(item)) if item.seq <= sent => continue,
                    Ok(Some(item)) => {
                        sent = item.seq;
                        item.frame.clone()
                    }
                    // Fell behind the broadcast: what it missed may be gone.
                    Err(RecvError::Lagged(_)) => resync(&state),
                    Err(RecvError::Closed) => return None,
                };
                timer
                    .as_mut()
                    .reset(tokio::time::Instant::now() + keep_alive);
                return Some((
                    Ok::<Bytes, Infallible>(out),
                    (rx, sent, state, client, timer),
                ));
            }
        },
    );
    let all = stream::iter(first.into_iter().map(Ok)).chain(live);
    let mut r = Response::new(Body::from_stream(all));
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}
