//! Notifiers. Each owns its loop: the email and webhook senders take due rows from the
//! outbox (the `notifications` table), deliver them, and record the outcome in the same
//! store (sent with the relay's reply, retrying with backoff, failed, or expired); the MQTT
//! notifier keeps the retained alert state on `{prefix}/alerts/{id}` current.
//!
//! - [`templates`]: subject, plain text, HTML and robot markdown, Chinese or English.
//! - [`email`]: lettre, SMTP relay (STARTTLS or TLS) or `.eml` files in the outbox folder.
//! - [`relay`]: `smtp://` and `smtps://` relay connections with TCP_NODELAY, kept open for
//!   reuse.
//! - [`webhook`]: generic JSON, DingTalk and WeCom group robots.
//! - [`mqtt`]: retained alert state and the service status.

pub mod email;
pub mod mqtt;
pub mod relay;
pub mod templates;
pub mod webhook;

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt as _;
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
/// which an accepted message is not yet recorded as sent to a few milliseconds; outcomes
/// that are in together share one transaction (one durable commit for several deliveries).
/// Notifications queued while deliveries are in flight start as soon as a slot is free:
/// the wake-up from the processor makes the loop look at the outbox again at once, without
/// waiting for the deliveries in hand or for the tick.
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
        // Ids in the local queue or in flight: a fresh look at the outbox still lists them
        // as pending until their outcome is committed.
        let mut in_hand: HashSet<i64> = due.iter().map(|o| o.notification.id).collect();
        let mut queue: VecDeque<Outgoing> = due.into();
        let mut any_failed = false;
        let mut abandoned = 0;
        loop {
            while in_flight.len() < parallel.max(1) {
                let Some(o) = queue.pop_front() else { break };
                if o.notification.expires_at <= now {
                    let d = Delivery::Expired("not delivered before expiry".to_string());
                    in_hand.remove(&o.notification.id);
                    record(&mut store, &[(&o, &d)], clock.now(), &metrics);
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
            // after the restart with the same Message-ID. `notified` may be dropped freely
            // (a permit it did not take stays for the next look).
            let room = in_flight.len() < parallel.max(1) && queue.is_empty();
            let next = tokio::select! {
                next = in_flight.next() => next,
                () = wake.notified(), if room && drain_until.is_none() => {
                    // Newly queued notifications: take them into the free slots now.
                    match store.due_notifications(channel, clock.now(), parallel.max(1) * 4) {
                        Ok(more) => {
                            for o in more {
                                if in_hand.insert(o.notification.id) {
                                    queue.push_back(o);
                                }
                            }
                        }
                        Err(error) => {
                            error!(channel = channel.as_str(), %error, "Cannot read the outbox.");
                        }
                    }
                    continue;
                }
                () = stop.cancelled(), if drain_until.is_none() => {
                    drain_until = Some(tokio::time::Instant::now() + DRAIN_TIMEOUT);
                    continue;
                }
                () = sleep_until_or_never(drain_until) => {
                    abandoned = in_flight.len();
                    break;
                }
            };
            let Some(first) = next else {
                break;
            };
            // The deliveries that finished meanwhile are recorded with this one.
            let mut done = vec![first];
            while let Some(Some(more)) = in_flight.next().now_or_never() {
                done.push(more);
            }
            let now = clock.now();
            let outcomes: Vec<(Outgoing, Delivery)> = done
                .into_iter()
                .map(|(o, attempt)| {
                    let d = outcome(attempt, &o, &retry, now);
                    (o, d)
                })
                .collect();
            for (o, d) in &outcomes {
                any_failed |= !matches!(d, Delivery::Sent(_));
                in_hand.remove(&o.notification.id);
            }
            let pairs: Vec<(&Outgoing, &Delivery)> = outcomes.iter().map(|(o, d)| (o, d)).collect();
            record(&mut store, &pairs, now, &metrics);
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

/// Logs and counts each outcome and commits them all in one transaction.
fn record(
    store: &mut Store,
    outcomes: &[(&Outgoing, &Delivery)],
    now: DateTime<Utc>,
    metrics: &Metrics,
) {
    for (o, d) in outcomes {
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
    }
    let rows: Vec<(&crate::model::Notification, &Delivery)> = outcomes
        .iter()
        .map(|(o, d)| (&o.notification, *d))
        .collect();
    // A failed commit leaves the rows pending: they are tried again (at most one duplicate
    // each).
    let mut tries = 0;
    while let Err(error) = store.record_deliveries(&rows, now) {
        tries += 1;
        if tries >= 3 || !error.is_retryable() {
            let ids: Vec<i64> = rows.iter().map(|(n, _)| n.id).collect();
            error!(?ids, %error, "Cannot record delivery outcomes; the notifications stay pending.");
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::tests::{event, t};
    use crate::lifecycle::{Known, Outcome, apply};
    use crate::model::{NotificationKind, Role};
    use crate::store::NewNotification;
    use riverwatch_core::events::EventStatus;
    use riverwatch_core::time::ManualClock;
    use riverwatch_core::{Province, Registry};
    use tokio::sync::mpsc;

    /// Delivers at once, except the notifications in `held`, which wait for `release`;
    /// reports every attempt's notification id as it starts.
    struct Gated {
        held: Vec<i64>,
        release: Arc<Notify>,
        started: mpsc::UnboundedSender<i64>,
    }

    impl Deliver for Gated {
        fn channel(&self) -> Channel {
            Channel::Email
        }

        async fn deliver(&self, out: &Outgoing) -> Attempt {
            let id = out.notification.id;
            let _ = self.started.send(id);
            if self.held.contains(&id) {
                self.release.notified().await;
            }
            Attempt::Delivered("250 OK".into())
        }
    }

    /// Queues one email notification for a new alert at `station`; returns its id.
    fn queue_one(store: &mut Store, station: &str, now: DateTime<Utc>) -> i64 {
        let reg = Registry::builtin().unwrap();
        let id = format!("e-{station}");
        let Outcome::Opened(a) = apply(
            Known::default(),
            &event(&id, EventStatus::Firing, station, "NH3N", 0),
            &reg,
            now,
        ) else {
            panic!("a new alert")
        };
        let tx = store.write().unwrap();
        tx.put_alert(&a).unwrap();
        let n = tx
            .queue(
                &NewNotification {
                    recipient_id: "jl-duty".into(),
                    recipient_name: "吉林省生态环境厅应急值班室".into(),
                    province: Province::Jilin,
                    role: Role::Equal,
                    channel: Channel::Email,
                    kind: NotificationKind::Firing,
                    target: "duty@jl.example.org".into(),
                    subject: "告警".into(),
                    body_text: "正文".into(),
                    body_html: "<p>正文</p>".into(),
                    alert_ids: vec![a.id.clone()],
                    expires_at: now + chrono::Duration::hours(1),
                    message_domain: "riverwatch.example.org".into(),
                },
                now,
            )
            .unwrap();
        tx.commit().unwrap();
        n
    }

    async fn next(rx: &mut mpsc::UnboundedReceiver<i64>) -> i64 {
        let within = Duration::from_secs(10);
        tokio::time::timeout(within, rx.recv())
            .await
            .unwrap()
            .unwrap()
    }

    #[tokio::test]
    async fn a_woken_sender_delivers_new_notifications_while_others_are_in_flight() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("alerts.db");
        let mut writer = Store::open(&db).unwrap();
        let clock = Arc::new(ManualClock::new(t(1)));
        let first = queue_one(&mut writer, "LLH-CJG", t(1));
        let (started_tx, mut started) = mpsc::unbounded_channel();
        let release = Arc::new(Notify::new());
        let wake = Arc::new(Notify::new());
        let stop = CancellationToken::new();
        let sender = tokio::spawn(sender_loop(
            SenderArgs {
                deliver: Gated {
                    held: vec![first],
                    release: release.clone(),
                    started: started_tx,
                },
                store: Store::open(&db).unwrap(),
                clock: clock.clone(),
                retry: RetryPolicy {
                    initial: Duration::from_secs(5),
                    max: Duration::from_secs(60),
                },
                wake: wake.clone(),
                // Far longer than the test may take: only the wake-up can start a delivery.
                tick: Duration::from_secs(3600),
                parallel: 4,
                metrics: Metrics::new(),
            },
            stop.clone(),
        ));
        let within = Duration::from_secs(10);
        assert_eq!(next(&mut started).await, first);
        // The first delivery hangs at the relay; a notification queued meanwhile goes out
        // at once, without waiting for it or for the tick.
        let second = queue_one(&mut writer, "LLH-YS", t(1));
        wake.notify_one();
        assert_eq!(next(&mut started).await, second);
        let sent = |id: i64| {
            let reader = crate::reader::AlertReader::open(&db, clock.clone()).unwrap();
            let q = crate::reader::NotificationQuery::default();
            reader
                .notifications(&q)
                .unwrap()
                .iter()
                .any(|n| n.id == id && n.status == crate::model::DeliveryStatus::Sent)
        };
        let deadline = tokio::time::Instant::now() + within;
        while !sent(second) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the second is recorded as sent"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(!sent(first), "the first is still at the relay");
        release.notify_one();
        stop.cancel();
        tokio::time::timeout(within, sender).await.unwrap().unwrap();
        assert!(sent(first));
        assert_eq!(writer.pending_count(Channel::Email).unwrap(), 0);
    }

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
