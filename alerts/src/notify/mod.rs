//! Notifiers. Each owns its loop: the email and webhook senders take due rows from the
//! outbox (the `notifications` table), deliver them, and record the outcome in the same
//! store (sent with the relay's reply, retrying with backoff, failed, or expired); the MQTT
//! notifier keeps the retained alert state on `{prefix}/alerts/{id}` current.
//!
//! - [`templates`]: subject, plain text, HTML and robot markdown, Chinese or English.
//! - [`email`]: lettre, SMTP relay (STARTTLS or TLS) or `.eml` files in the outbox folder.
//! - [`relay`]: `smtp://` relay connections with TCP_NODELAY, kept open for reuse.
//! - [`webhook`]: generic JSON, DingTalk and WeCom group robots.
//! - [`mqtt`]: retained alert state and the service status.

pub mod email;
pub mod mqtt;
pub mod relay;
pub mod templates;
pub mod webhook;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use riverwatch_core::backoff::Backoff;
use riverwatch_core::time::Clock;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::model::Channel;
use crate::store::{Delivery, Outgoing, Store};
use crate::telemetry::Metrics;

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Accepted; the server's reply.
    Delivered(String),
    /// Failed in a way that may pass (relay down, 4xx, timeout); the reply or error.
    Transient(String),
    /// Refused for good (5xx for the recipient, webhook 4xx); the reply.
    Permanent(String),
}

/// A way of delivering queued notifications of one channel.
pub trait Deliver: Send + Sync {
    /// The channel it serves.
    fn channel(&self) -> Channel;
    /// Tries to deliver one notification.
    fn deliver(&self, out: &Outgoing) -> impl Future<Output = Attempt> + Send;
}

/// Retry timing.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// First delay.
    pub initial: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl RetryPolicy {
    /// The delay after `attempts` failed attempts: doubling from `initial` up to `max`,
    /// with jitter seeded by the notification id (reproducible, and not in step with others).
    pub fn delay(&self, attempts: u32, id: i64) -> Duration {
        let mut b = Backoff::new(self.initial * 2, self.max * 2, id as u64);
        let mut d = self.initial;
        for _ in 0..attempts.max(1) {
            d = b.next_delay();
        }
        d.clamp(self.initial, self.max)
    }
}

/// What a sender loop needs.
pub struct SenderArgs<D> {
    /// The delivery method.
    pub deliver: D,
    /// Its own connection to the store.
    pub store: Store,
    /// Wall clock for due times, retries and expiry.
    pub clock: Arc<dyn Clock>,
    /// Retry timing.
    pub retry: RetryPolicy,
    /// Rung when new notifications are queued.
    pub wake: Arc<Notify>,
    /// Longest sleep between looks at the outbox.
    pub tick: Duration,
    /// Deliveries in flight at once.
    pub parallel: usize,
    /// Counters.
    pub metrics: Metrics,
}

/// How long shutdown keeps delivering what is due.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

fn outcome(attempt: Attempt, o: &Outgoing, retry: &RetryPolicy, now: DateTime<Utc>) -> Delivery {
    let n = &o.notification;
    match attempt {
        Attempt::Delivered(reply) => Delivery::Sent(reply),
        Attempt::Permanent(reply) => Delivery::Failed(reply),
        Attempt::Transient(reply) => {
            let at = now
                + chrono::Duration::from_std(retry.delay(n.attempts + 1, n.id))
                    .unwrap_or(chrono::Duration::seconds(60));
            if at >= n.expires_at {
                Delivery::Expired(format!("not delivered before expiry; last reply: {reply}"))
            } else {
                Delivery::Retry { reply, at }
            }
        }
    }
}

/// Delivers due notifications until `stop` fires, then keeps delivering what is due for a
/// short while (draining, at most 10 s even while a relay hangs) and logs what
/// stays pending for the next start.
///
/// Each outcome is committed as soon as its delivery returns, which keeps the window in
/// which an accepted message is not yet recorded as sent to a few milliseconds.
pub async fn sender_loop<D: Deliver>(args: SenderArgs<D>, stop: CancellationToken) {
    let SenderArgs {
        deliver,
        mut store,
        clock,
        retry,
        wake,
        tick,
        parallel,
        metrics,
    } = args;
    let channel = deliver.channel();
    let mut drain_until: Option<tokio::time::Instant> = None;
    loop {
        if stop.is_cancelled() && drain_until.is_none() {
            drain_until = Some(tokio::time::Instant::now() + DRAIN_TIMEOUT);
        }
        if drain_until.is_some_and(|d| tokio::time::Instant::now() >= d) {
            break;
        }
        let now = clock.now();
        let due = match store.due_notifications(channel, now, parallel.max(1) * 4) {
            Ok(d) => d,
            Err(error) => {
                error!(channel = channel.as_str(), %error, "Cannot read the outbox.");
                tokio::select! {
                    () = tokio::time::sleep(tick) => {}
                    () = stop.cancelled(), if drain_until.is_none() => {}
                }
                continue;
            }
        };
        if due.is_empty() {
            if drain_until.is_some() {
                break;
            }
            let wait = match store.next_attempt(channel) {
                Ok(Some(at)) => (at - now).to_std().unwrap_or(Duration::ZERO).min(tick),
                _ => tick,
            };
            // Cancel safety: `notified` and `sleep` may be dropped freely; a wake-up lost
            // to the race is caught by the next look at the outbox one tick later.
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(wait.max(Duration::from_millis(5))) => {}
                () = stop.cancelled() => {}
            }
            continue;
        }
        let mut in_flight = FuturesUnordered::new();
        let mut queue = due.into_iter();
        let mut any_failed = false;
        let mut abandoned = 0;
        loop {
            while in_flight.len() < parallel.max(1) {
                let Some(o) = queue.next() else { break };
                if o.notification.expires_at <= now {
                    let d = Delivery::Expired("not delivered before expiry".to_string());
                    record(&mut store, &o, &d, clock.now(), &metrics);
                    continue;
                }
                let deliver = &deliver;
                in_flight.push(async move {
                    let attempt = deliver.deliver(&o).await;
                    (o, attempt)
                });
            }
            // Cancel safety: dropping the in-flight deliveries leaves their rows queued or
            // retrying in the store; a relay that accepted one before the drop sees it again
            // after the restart with the same Message-ID.
            let next = tokio::select! {
                next = in_flight.next() => next,
                () = stop.cancelled(), if drain_until.is_none() => {
                    drain_until = Some(tokio::time::Instant::now() + DRAIN_TIMEOUT);
                    continue;
                }
                () = sleep_until_or_never(drain_until) => {
                    abandoned = in_flight.len();
                    break;
                }
            };
            let Some((o, attempt)) = next else {
                break;
            };
            let now = clock.now();
            let d = outcome(attempt, &o, &retry, now);
            any_failed |= !matches!(d, Delivery::Sent(_));
            record(&mut store, &o, &d, now, &metrics);
        }
        if abandoned > 0 {
            warn!(
                channel = channel.as_str(),
                abandoned, "Shutdown: deliveries still waiting for the relay were left pending."
            );
            break;
        }
        if drain_until.is_some() && any_failed {
            // The relay is failing: waiting for it would only hold up shutdown.
            break;
        }
    }
    match store.pending_count(channel) {
        Ok(0) => info!(
            channel = channel.as_str(),
            "Sender stopped; nothing pending."
        ),
        Ok(n) => info!(
            channel = channel.as_str(),
            pending = n,
            "Sender stopped; pending notifications are sent after the next start."
        ),
        Err(error) => {
            warn!(channel = channel.as_str(), %error, "Sender stopped; cannot count pending notifications.")
        }
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until_or_never(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn record(store: &mut Store, o: &Outgoing, d: &Delivery, now: DateTime<Utc>, metrics: &Metrics) {
    let n = &o.notification;
    let channel = n.channel.as_str();
    match d {
        Delivery::Sent(reply) => {
            metrics.sent(channel);
            debug!(id = n.id, channel, recipient = %n.recipient_id, %reply, "Notification delivered.");
        }
        Delivery::Retry { reply, at } => {
            metrics.retried(channel);
            warn!(id = n.id, channel, recipient = %n.recipient_id, %reply, retry_at = %at, "Delivery failed; will retry.");
        }
        Delivery::Failed(reply) => {
            metrics.failed(channel);
            error!(id = n.id, channel, recipient = %n.recipient_id, %reply, "Delivery refused for good.");
        }
        Delivery::Expired(reply) => {
            metrics.expired(channel);
            error!(id = n.id, channel, recipient = %n.recipient_id, %reply, "Notification expired undelivered.");
        }
    }
    // A failed commit leaves the row pending: it is tried again (at most one duplicate).
    let mut tries = 0;
    while let Err(error) = store.record_delivery(n, d, now) {
        tries += 1;
        if tries >= 3 || !error.is_retryable() {
            error!(id = n.id, %error, "Cannot record a delivery outcome; the notification stays pending.");
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_grow_and_stay_bounded() {
        let p = RetryPolicy {
            initial: Duration::from_secs(5),
            max: Duration::from_secs(300),
        };
        let first = p.delay(1, 7);
        assert!(
            first >= Duration::from_secs(5) && first <= Duration::from_secs(10),
            "{first:?}"
        );
        let late = p.delay(20, 7);
        assert!(
            late <= Duration::from_secs(300) && late >= Duration::from_secs(150),
            "{late:?}"
        );
        assert_eq!(p.delay(3, 9), p.delay(3, 9));
    }
}
