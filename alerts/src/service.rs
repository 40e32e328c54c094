//! The alert service: [`run`] wires the event subscription, the processor, the senders and
//! the retained-state publisher, and stops them in order.
//!
//! The processor owns the alert state. For each event it applies the lifecycle, attaches
//! alerts to the alert they are inhibited by (downstream alerts of an incident to its source,
//! and what the inhibit rules say), routes the alert to both provinces and
//! puts it in each recipient's group. On each tick, and right after each run of event
//! messages, it picks up acknowledgements and silences written by the command line, escalates
//! what is overdue and flushes due groups. A run of messages (those the subscription had at
//! hand, at most [`riverwatch_core::mqtt::subscriber::RUN`]) is committed as one transaction —
//! alerts, event ids, grouping state, audit rows, refused messages and the notifications the
//! run made due in the outbox — before its messages are acknowledged to the broker: one
//! durable commit per run rather than two per event, so a burst reaches the outbox without
//! queueing behind a sync per event. Each notification is queued in the same transaction as
//! the grouping and escalation state that decided it. The senders deliver from the outbox.
//!
//! An event message is applied only when it carries analytics' MAC (core's
//! [`riverwatch_core::mqtt::auth`]) and its time lies in the window around the clock
//! (`[mqtt] internal_max_ahead_secs`, `internal_max_age_days`); any other is kept in the
//! store's `rejected_messages` with its reason, counted, and acknowledged.
//!
//! Lifecycle decisions use event time; group waits, repeats, escalation and retries use the
//! injected [`Clock`], so tests drive them with a manual clock.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use riverwatch_core::backoff::Backoff;
use riverwatch_core::events::Event;
use riverwatch_core::mqtt::auth::{Refusal, RefusalCode, Rejected, Verifier};
use riverwatch_core::mqtt::subscriber::runs_for;
use riverwatch_core::mqtt::{MqttConfig, SessionOptions};
use riverwatch_core::time::Clock;
use riverwatch_core::topics::TopicKind;
use riverwatch_core::{Lang, Province, Registry};
use serde_json::json;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, info_span, trace, warn};

use crate::Error;
use crate::audit::{Entry, SERVICE};
use crate::config::{AlertsConfig, Recipient};
use crate::escalation;
use crate::grouping::{FlushKind, Grouper, MemberNow, Timing, group_key};
use crate::inhibit::{self, InhibitRule};
use crate::lifecycle::{self, Known, Outcome};
use crate::model::{
    Acknowledgement, Alert, AlertStatus, AlertView, Channel, NotificationKind, ProvinceState, Role,
    Silence, severity_str,
};
use crate::notify::email::{SmtpNotifier, domain_of};
use crate::notify::mqtt as mqtt_notify;
use crate::notify::templates::{self, Item};
use crate::notify::webhook::{self, WebhookNotifier};
use crate::notify::{RetryPolicy, SenderArgs, sender_loop};
use crate::reader::AlertReader;
use crate::routing::{self, Target};
use crate::silence::silencing;
use crate::source::{BrokerMessage, CHANNEL_MESSAGES, DRAIN_TIMEOUT, PacketAck, Subscriber};
use crate::store::{NewNotification, Store, StoreError};
use crate::telemetry::Metrics;

/// Everything the alert service needs.
pub struct AlertsArgs {
    /// `[alerts]` settings (with `smtp_url` already overridden by `--smtp`, and the SMTP
    /// credentials loaded from the environment).
    pub config: AlertsConfig,
    /// Broker connection.
    pub mqtt: MqttConfig,
    /// Station registry (names, rivers, provinces).
    pub registry: Arc<Registry>,
    /// Data directory: `alerts.db` and `outbox/` live here.
    pub data_dir: PathBuf,
    /// Language of notifications when `[alerts] lang` is not set.
    pub lang: Lang,
    /// Wall clock for group waits, repeats, escalation and retries.
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for AlertsArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertsArgs")
            .field("config", &self.config)
            .field("mqtt", &self.mqtt)
            .field("data_dir", &self.data_dir)
            .field("lang", &self.lang)
            .finish_non_exhaustive()
    }
}

/// Deliveries in flight at once per channel.
pub const PARALLEL_SENDS: usize = 4;

/// Runs the alert service until `shutdown` fires, then stops in order: the subscription
/// stops taking events, the processor commits what it holds and the last acks go out, the
/// senders deliver what is due (pending notifications stay queued for the next start and are
/// counted in the log), the retained state is brought up to date.
///
/// # Errors
/// Configuration, store or transport problems found before starting, or a task that failed.
pub async fn run(args: AlertsArgs, shutdown: CancellationToken) -> Result<(), Error> {
    let AlertsArgs {
        config,
        mqtt,
        registry,
        data_dir,
        lang,
        clock,
    } = args;
    config.validate()?;
    let inhibit_rules = inhibit::rules(&config.inhibit_rules).map_err(|message| {
        crate::config::ConfigError::Invalid {
            field: "inhibit_rules".to_string(),
            message,
        }
    })?;
    let lang = config.lang.unwrap_or(lang);
    let db = data_dir.join(&config.database);
    let store = Store::open(&db)?;
    let email_store = Store::open(&db)?;
    let webhook_store = Store::open(&db)?;
    let mqtt_store = Store::open(&db)?;
    let reader = AlertReader::open(&db, clock.clone())?;
    let smtp = SmtpNotifier::new(&config, &data_dir)?;
    let webhooks = WebhookNotifier::new(
        config.routing.clone(),
        Duration::from_secs(config.webhook_timeout_secs),
    )
    .map_err(|e| Error::Webhook(e.to_string()))?;
    let topics = mqtt.topics();
    let filter = topics.filter(TopicKind::Events);
    let verifier = mqtt.verifier("alerts")?;
    let session = SessionOptions::new(&mqtt, &config.client_id)?;
    let metrics = Metrics::new();
    let tick = Duration::from_millis(config.tick_ms);
    let wake_email = Arc::new(Notify::new());
    let wake_webhook = Arc::new(Notify::new());
    let wake_mqtt = Arc::new(Notify::new());
    let (state_notifier, driver) = mqtt_notify::new(
        &mqtt,
        &format!("{}-out", config.client_id),
        mqtt_store,
        reader,
        wake_mqtt.clone(),
        tick,
        clock.clone(),
    )?;
    let retry = RetryPolicy {
        initial: Duration::from_secs(config.retry_initial_secs),
        max: Duration::from_secs(config.retry_max_secs),
    };
    info!(
        client_id = %config.client_id,
        filter = %filter,
        broker = %mqtt.url,
        store = %db.display(),
        email = %smtp.description(),
        "Alert service starting."
    );
    let mut processor = Processor::new(ProcessorArgs {
        message_domain: config
            .from
            .parse::<lettre::message::Mailbox>()
            .map(|m| domain_of(&m))
            .unwrap_or_else(|_| "riverwatch.local".to_string()),
        config,
        inhibit_rules,
        lang,
        registry,
        store,
        clock: clock.clone(),
        wake_email: wake_email.clone(),
        wake_webhook: wake_webhook.clone(),
        wake_mqtt: wake_mqtt.clone(),
        metrics: metrics.clone(),
        verifier,
    })?;

    let (event_tx, event_rx) = mpsc::channel(runs_for(CHANNEL_MESSAGES));
    let (ack_tx, ack_rx) = mpsc::unbounded_channel();
    let senders_stop = CancellationToken::new();
    let publisher_stop = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(
        Subscriber::new(session, vec![filter], clock.clone(), metrics.clone())
            .drain_timeout(DRAIN_TIMEOUT)
            .run(event_tx, ack_rx, shutdown.clone()),
    );
    let email_task = tokio::spawn(sender_loop(
        SenderArgs {
            deliver: smtp,
            store: email_store,
            clock: clock.clone(),
            retry,
            wake: wake_email,
            tick,
            parallel: PARALLEL_SENDS,
            metrics: metrics.clone(),
        },
        senders_stop.clone(),
    ));
    let webhook_task = tokio::spawn(sender_loop(
        SenderArgs {
            deliver: webhooks,
            store: webhook_store,
            clock: clock.clone(),
            retry,
            wake: wake_webhook,
            tick,
            parallel: PARALLEL_SENDS,
            metrics: metrics.clone(),
        },
        senders_stop.clone(),
    ));
    let state_task = tokio::spawn(state_notifier.run(senders_stop.clone()));
    let driver_task = tokio::spawn(driver.run(publisher_stop.clone()));

    processor
        .run(event_rx, ack_tx, tick, shutdown.clone())
        .await;
    let mut failure = None;
    while let Some(joined) = tasks.join_next().await {
        if let Err(e) = joined {
            failure.get_or_insert(e.to_string());
        }
    }
    senders_stop.cancel();
    for t in [email_task, webhook_task, state_task] {
        if let Err(e) = t.await {
            failure.get_or_insert(e.to_string());
        }
    }
    publisher_stop.cancel();
    if let Err(e) = driver_task.await {
        failure.get_or_insert(e.to_string());
    }
    info!("Alert service stopped.");
    match failure {
        Some(f) => Err(Error::Task(f)),
        None => Ok(()),
    }
}

struct ProcessorArgs {
    config: AlertsConfig,
    inhibit_rules: Vec<InhibitRule>,
    lang: Lang,
    registry: Arc<Registry>,
    store: Store,
    clock: Arc<dyn Clock>,
    wake_email: Arc<Notify>,
    wake_webhook: Arc<Notify>,
    wake_mqtt: Arc<Notify>,
    metrics: Metrics,
    message_domain: String,
    verifier: Verifier,
}

/// An audit entry waiting for the batch's transaction.
struct PendingAudit {
    at: DateTime<Utc>,
    actor: String,
    kind: &'static str,
    alert_id: Option<String>,
    province: Option<Province>,
    detail: serde_json::Value,
}

/// Everything one transaction writes.
#[derive(Default)]
struct Changes {
    events: Vec<(String, String, Option<String>, &'static str)>,
    alerts: BTreeMap<String, Alert>,
    audits: Vec<PendingAudit>,
    notifications: Vec<NewNotification>,
    /// Event messages refused (kept in `rejected_messages`).
    rejected: Vec<Rejected>,
}

impl Changes {
    fn audit(
        &mut self,
        at: DateTime<Utc>,
        kind: &'static str,
        alert_id: Option<&str>,
        province: Option<Province>,
        detail: serde_json::Value,
    ) {
        self.audits.push(PendingAudit {
            at,
            actor: SERVICE.to_string(),
            kind,
            alert_id: alert_id.map(str::to_string),
            province,
            detail,
        });
    }

    fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.alerts.is_empty()
            && self.audits.is_empty()
            && self.rejected.is_empty()
            && self.notifications.is_empty()
    }
}

/// The owner of the alert state.
struct Processor {
    config: AlertsConfig,
    inhibit_rules: Vec<InhibitRule>,
    lang: Lang,
    registry: Arc<Registry>,
    store: Store,
    clock: Arc<dyn Clock>,
    timing: Timing,
    grouper: Grouper,
    /// Firing alerts by id.
    open: HashMap<String, Alert>,
    /// Fingerprint → id of its firing alert.
    by_fingerprint: HashMap<String, String>,
    /// Acknowledgements of firing alerts.
    acks: HashMap<String, Vec<Acknowledgement>>,
    last_ack_seq: i64,
    silences: Vec<Silence>,
    silences_stamp: (i64, i64),
    wake_email: Arc<Notify>,
    wake_webhook: Arc<Notify>,
    wake_mqtt: Arc<Notify>,
    metrics: Metrics,
    message_domain: String,
    /// Checks the MAC and the time of every event message.
    verifier: Verifier,
}

impl Processor {
    fn new(a: ProcessorArgs) -> Result<Self, StoreError> {
        let timing = Timing {
            group_wait: a.config.group_wait(),
            group_interval: a.config.group_interval(),
            repeat_interval: a.config.repeat_interval(),
        };
        let mut p = Self {
            config: a.config,
            inhibit_rules: a.inhibit_rules,
            lang: a.lang,
            registry: a.registry,
            store: a.store,
            clock: a.clock,
            timing,
            grouper: Grouper::default(),
            open: HashMap::new(),
            by_fingerprint: HashMap::new(),
            acks: HashMap::new(),
            last_ack_seq: 0,
            silences: Vec::new(),
            silences_stamp: (0, 0),
            wake_email: a.wake_email,
            wake_webhook: a.wake_webhook,
            wake_mqtt: a.wake_mqtt,
            metrics: a.metrics,
            message_domain: a.message_domain,
            verifier: a.verifier,
        };
        p.reload()?;
        // The inhibit rules may have changed since the state was stored.
        let mut batch = Changes::default();
        p.reinhibit(p.clock.now(), &mut batch);
        p.commit(batch)?;
        info!(
            firing = p.open.len(),
            groups = p.grouper.groups().count(),
            "Alert state restored."
        );
        Ok(p)
    }

    /// Loads the whole state from the store (at start, and after a failed commit).
    fn reload(&mut self) -> Result<(), StoreError> {
        let open = self.store.alerts_with_status(AlertStatus::Firing)?;
        self.by_fingerprint = open
            .iter()
            .map(|a| (a.fingerprint.clone(), a.id.clone()))
            .collect();
        self.acks.clear();
        for a in &open {
            let acks = self.store.acks_of(&a.id)?;
            if !acks.is_empty() {
                self.acks.insert(a.id.clone(), acks);
            }
        }
        self.last_ack_seq = self
            .store
            .acks_after(0)?
            .last()
            .map(|(s, _)| *s)
            .unwrap_or(0);
        self.open = open.into_iter().map(|a| (a.id.clone(), a)).collect();
        self.silences = self.store.silences()?;
        self.silences_stamp = self.store.silences_stamp()?;
        self.grouper = Grouper::from_groups(self.store.groups()?);
        Ok(())
    }

    async fn run(
        &mut self,
        mut events: mpsc::Receiver<Vec<BrokerMessage>>,
        acks: mpsc::UnboundedSender<Vec<PacketAck>>,
        tick: Duration,
        shutdown: CancellationToken,
    ) {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10), 0x5eed);
        'run: loop {
            let wait = self.next_wait(tick);
            tokio::select! {
                run = events.recv() => {
                    let Some(run) = run else { break };
                    // A failed commit is retried after reloading the state from the store;
                    // the run's events stay unacknowledged meanwhile.
                    loop {
                        match self.handle_run(&run) {
                            Ok(()) => {
                                if backoff.attempts() > 0 {
                                    info!(attempts = backoff.attempts(), "Alert state commits again.");
                                }
                                backoff.reset();
                                let _ = acks.send(run.iter().map(PacketAck::from).collect());
                                break;
                            }
                            Err(error) => {
                                let delay = backoff.next_delay();
                                if backoff.attempts() == 1 {
                                    self.metrics.store_failed();
                                    error!(%error, retry_in_ms = delay.as_millis() as u64, "Cannot commit alert state; retrying until it succeeds.");
                                } else {
                                    debug!(%error, retry_in_ms = delay.as_millis() as u64, "Cannot commit alert state yet.");
                                }
                                // Ctrl-C ends the retries: the events in hand stay
                                // unacknowledged and the broker hands them over again after
                                // the restart.
                                tokio::select! {
                                    () = tokio::time::sleep(delay) => {}
                                    () = shutdown.cancelled() => {
                                        info!("Shutting down while the alert store fails; the events in hand stay with the broker.");
                                        break 'run;
                                    }
                                }
                                if let Err(error) = self.reload() {
                                    error!(%error, "Cannot reload alert state.");
                                }
                            }
                        }
                    }
                }
                () = tokio::time::sleep(wait) => {
                    if let Err(error) = self.tick() {
                        self.recover(error);
                    }
                }
            }
        }
        info!("Alert processor stopped; all applied events are committed and acknowledged.");
    }

    /// Applies a run of event messages, each followed by the timer work it makes due (with
    /// `group_wait_secs = 0` the groups it filled flush at once, exactly as when each event
    /// was committed on its own), and commits it all in one transaction. On an error nothing
    /// is committed and the in-memory state is ahead of the store: the caller reloads it
    /// before trying again.
    fn handle_run(&mut self, run: &[BrokerMessage]) -> Result<(), StoreError> {
        let mut batch = Changes::default();
        for message in run {
            self.handle_event(message, &mut batch)?;
            self.timer_work(&mut batch)?;
        }
        self.commit(batch)
    }

    fn recover(&mut self, error: StoreError) {
        error!(%error, "Cannot commit timer work; reloading state and trying again on the next tick.");
        if let Err(error) = self.reload() {
            error!(%error, "Cannot reload alert state.");
        }
    }

    fn next_wait(&self, tick: Duration) -> Duration {
        let now = self.clock.now();
        self.grouper
            .next_due()
            .map(|at| (at - now).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(tick)
            .clamp(Duration::from_millis(1), tick)
    }

    fn commit(&mut self, batch: Changes) -> Result<(), StoreError> {
        let changes = self.grouper.take_changes();
        if batch.is_empty() && changes.upserts.is_empty() && changes.deletes.is_empty() {
            return Ok(());
        }
        let now = self.clock.now();
        let started = std::time::Instant::now();
        let tx = self.store.write()?;
        for (id, fp, alert, outcome) in &batch.events {
            tx.mark_event(id, fp, alert.as_deref(), outcome, now)?;
        }
        for a in batch.alerts.values() {
            tx.put_alert(a)?;
        }
        for a in &batch.audits {
            tx.audit(
                a.at,
                &Entry {
                    actor: &a.actor,
                    kind: a.kind,
                    alert_id: a.alert_id.as_deref(),
                    province: a.province,
                    detail: a.detail.clone(),
                },
            )?;
        }
        let mut email = false;
        let mut hook = false;
        for n in &batch.notifications {
            tx.queue(n, now)?;
            email |= n.channel == Channel::Email;
            hook |= n.channel == Channel::Webhook;
        }
        tx.save_groups(&changes)?;
        if !batch.rejected.is_empty() {
            tx.keep_rejected(&batch.rejected)?;
        }
        tx.commit()?;
        self.metrics
            .commit_seconds
            .observe_duration(started.elapsed());
        if email {
            self.wake_email.notify_one();
        }
        if hook {
            self.wake_webhook.notify_one();
        }
        if !batch.alerts.is_empty() {
            self.wake_mqtt.notify_one();
        }
        Ok(())
    }

    fn acked(&self, alert_id: &str, province: Province) -> bool {
        self.acks
            .get(alert_id)
            .is_some_and(|v| v.iter().any(|a| a.province == province))
    }

    fn silenced(&self, alert: &Alert, now: DateTime<Utc>) -> Vec<String> {
        silencing(&self.silences, alert, now)
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    /// An event message refused (no valid MAC, not an event, dated too far from the clock):
    /// kept with its reason, counted, never applied; acknowledged once kept.
    fn refuse(&mut self, message: &BrokerMessage, refusal: Refusal, batch: &mut Changes) {
        self.metrics.bad_events.inc();
        self.verifier.count(refusal.code);
        warn!(topic = %message.publish.topic, reason = %refusal, "Event refused; kept in rejected_messages, not applied.");
        batch.rejected.push(Rejected {
            received_at: message.received_at,
            topic: message.publish.topic.clone(),
            refusal,
            payload: message.publish.payload.to_vec(),
        });
    }

    /// Applies one event message to the state and adds what it changed to `batch`. Earlier
    /// events of the same batch count as stored: a redelivered id is a duplicate, a
    /// resolution is the fingerprint's last.
    fn handle_event(
        &mut self,
        message: &BrokerMessage,
        batch: &mut Changes,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        let topic = &message.publish.topic;
        let opened = self
            .verifier
            .open(topic, &message.publish.payload)
            .and_then(|signed| {
                let event: Event = serde_json::from_slice(&signed)
                    .map_err(|e| Refusal::new(RefusalCode::Malformed, e.to_string()))?;
                self.verifier
                    .window
                    .check("event time", event.observed_at, now)?;
                Ok(event)
            });
        let event = match opened {
            Ok(e) => e,
            Err(refusal) => {
                self.refuse(message, refusal, batch);
                return Ok(());
            }
        };
        let _span =
            info_span!("event", id = %event.id, fingerprint = %event.fingerprint()).entered();
        let fp = event.fingerprint();
        let duplicate = batch.events.iter().any(|(id, ..)| *id == event.id)
            || self.store.event_seen(&event.id)?;
        let open_id = self.by_fingerprint.get(&fp).cloned();
        let open = open_id.as_ref().and_then(|id| self.open.get(id));
        let last_resolved_at = if open.is_none() {
            let in_batch = batch
                .alerts
                .values()
                .filter(|a| a.fingerprint == fp && a.status == AlertStatus::Resolved)
                .filter_map(|a| a.resolved_at)
                .max();
            self.store.last_resolved_at(&fp)?.max(in_batch)
        } else {
            None
        };
        let outcome = lifecycle::apply(
            Known {
                duplicate,
                open,
                last_resolved_at,
            },
            &event,
            &self.registry,
            now,
        );
        trace!(outcome = outcome.name(), "Event applied.");
        if outcome == Outcome::Duplicate {
            self.metrics.duplicate_events.inc();
            return Ok(());
        }
        batch.events.push((
            event.id.clone(),
            fp.clone(),
            outcome.alert().map(|a| a.id.clone()),
            outcome.name(),
        ));
        let detail = |a: &Alert| {
            json!({
                "event": event.id,
                "fingerprint": a.fingerprint,
                "severity": severity_str(a.severity),
                "observed_at": event.observed_at.to_rfc3339(),
                "value": event.value,
                "limit": event.limit,
                "class": event.class.map(|c| c.as_str()),
                "target": event.target.map(|c| c.as_str()),
                "provinces": a.provinces.iter().map(|p| p.code()).collect::<Vec<_>>(),
                "cross_border": a.cross_border,
                "incident": event.incident,
                "summary": event.summary_zh,
            })
        };
        match outcome {
            Outcome::Duplicate => {}
            Outcome::Stale(why) | Outcome::Ignored(why) => {
                batch.audit(
                    now,
                    "event_ignored",
                    open_id.as_deref(),
                    None,
                    json!({"event": event.id, "fingerprint": fp, "reason": why}),
                );
            }
            Outcome::Opened(a) | Outcome::Notice(a) => {
                self.metrics.opened.inc();
                let kind = if a.status == AlertStatus::Notice {
                    "notice"
                } else {
                    "alert_opened"
                };
                info!(alert = %a.id, fingerprint = %a.fingerprint, severity = severity_str(a.severity), "Alert opened.");
                batch.audit(now, kind, Some(&a.id), a.owner, detail(&a));
                let id = a.id.clone();
                self.route_initial(&a, now);
                if a.status == AlertStatus::Firing {
                    self.by_fingerprint
                        .insert(a.fingerprint.clone(), id.clone());
                    self.open.insert(id, a.clone());
                }
                batch.alerts.insert(a.id.clone(), a);
            }
            Outcome::Updated {
                alert,
                severity_rose,
            } => {
                if severity_rose {
                    self.grouper.touch(&alert.id);
                    batch.audit(
                        now,
                        "alert_severity_raised",
                        Some(&alert.id),
                        alert.owner,
                        detail(&alert),
                    );
                }
                self.route_initial(&alert, now);
                self.open.insert(alert.id.clone(), alert.clone());
                batch.alerts.insert(alert.id.clone(), alert);
            }
            Outcome::Resolved(mut a) => {
                self.metrics.resolved.inc();
                info!(alert = %a.id, fingerprint = %a.fingerprint, "Alert resolved.");
                batch.audit(now, "alert_resolved", Some(&a.id), a.owner, detail(&a));
                // Its resolution says how the alerts attached to it stand.
                a.attached_when_resolved = self.attached_ids(&a.id);
                self.open.remove(&a.id);
                self.by_fingerprint.remove(&a.fingerprint);
                self.acks.remove(&a.id);
                batch.alerts.insert(a.id.clone(), a);
            }
        }
        self.reinhibit(now, batch);
        Ok(())
    }

    /// Puts an alert in the groups of its level-0 and information-copy recipients.
    fn route_initial(&mut self, alert: &Alert, now: DateTime<Utc>) {
        let targets: Vec<(String, String)> =
            routing::initial_targets(alert, &self.config.routing, self.config.min_severity)
                .into_iter()
                .map(|t| {
                    (
                        t.recipient.id.clone(),
                        group_key(alert, &self.config.group_by),
                    )
                })
                .collect();
        let immediate = alert.status == AlertStatus::Notice && self.config.group_wait_secs == 0;
        for (recipient, key) in targets {
            self.grouper
                .add(&recipient, &key, &alert.id, now, &self.timing, immediate);
        }
    }

    /// The firing alerts, earliest first (a stable order for inhibition and listings).
    fn open_sorted(&self) -> Vec<&Alert> {
        let mut open: Vec<&Alert> = self.open.values().collect();
        open.sort_by(|a, b| (a.first_seen, &a.id).cmp(&(b.first_seen, &b.id)));
        open
    }

    /// The firing alerts attached to `id`, directly or through attached alerts.
    fn attached_ids(&self, id: &str) -> Vec<String> {
        inhibit::attached_to(id, self.open_sorted())
            .into_iter()
            .map(|a| a.id.clone())
            .collect()
    }

    /// Attaches every firing alert to what inhibits it now (incident source, inhibit rules)
    /// and releases those no longer inhibited; a released alert joins its groups anew.
    fn reinhibit(&mut self, now: DateTime<Utc>, batch: &mut Changes) {
        let assignments = inhibit::assign(&self.open_sorted(), &self.inhibit_rules);
        let mut released = Vec::new();
        for (id, attachment) in assignments {
            let Some(a) = self.open.get_mut(&id) else {
                continue;
            };
            let (by, why) = match attachment {
                Some((by, why)) => (Some(by), Some(why)),
                None => (None, None),
            };
            if a.inhibited_by == by && a.inhibition == why {
                continue;
            }
            let (kind, detail) = match &by {
                Some(source) => (
                    "alert_attached",
                    json!({"source": source, "inhibition": why}),
                ),
                None => (
                    "alert_released",
                    json!({"source": null, "previous_source": a.inhibited_by}),
                ),
            };
            batch.audit(now, kind, Some(&id), a.owner, detail);
            if by.is_none() {
                released.push(id.clone());
            }
            a.inhibited_by = by;
            a.inhibition = why;
            a.version += 1;
            a.updated_at = now;
            batch.alerts.insert(id, a.clone());
        }
        for id in released {
            self.grouper.rejoin(&id, now, &self.timing);
        }
    }

    /// Timer work, committed on its own.
    fn tick(&mut self) -> Result<(), StoreError> {
        let mut batch = Changes::default();
        self.timer_work(&mut batch)?;
        self.commit(batch)
    }

    /// Command-line changes, escalation, due groups.
    fn timer_work(&mut self, batch: &mut Changes) -> Result<(), StoreError> {
        let now = self.clock.now();
        self.pick_up_cli_changes(now, batch)?;
        self.escalate(now, batch);
        self.flush_groups(now, batch)
    }

    fn pick_up_cli_changes(
        &mut self,
        now: DateTime<Utc>,
        batch: &mut Changes,
    ) -> Result<(), StoreError> {
        for (seq, ack) in self.store.acks_after(self.last_ack_seq)? {
            self.last_ack_seq = seq;
            let Some(a) = self.open.get_mut(&ack.alert_id) else {
                continue;
            };
            info!(alert = %ack.alert_id, province = %ack.province, by = %ack.by, "Acknowledged.");
            let escalating = routing::acting_provinces(a).contains(&ack.province)
                && a.escalation_of(ack.province)
                    .is_some_and(|e| e.started_at.is_some());
            if escalating {
                batch.audit(
                    now,
                    "escalation_stopped",
                    Some(&ack.alert_id),
                    Some(ack.province),
                    json!({"by": ack.by, "level": a.escalation_of(ack.province).map(|e| e.level)}),
                );
            }
            a.version += 1;
            a.updated_at = now;
            batch.alerts.insert(a.id.clone(), a.clone());
            self.acks.entry(ack.alert_id.clone()).or_default().push(ack);
        }
        let stamp = self.store.silences_stamp()?;
        if stamp != self.silences_stamp {
            let before: HashMap<String, Vec<String>> = self
                .open
                .values()
                .map(|a| (a.id.clone(), self.silenced(a, now)))
                .collect();
            self.silences = self.store.silences()?;
            self.silences_stamp = stamp;
            let ids: Vec<String> = self.open.keys().cloned().collect();
            for id in ids {
                let after = self
                    .open
                    .get(&id)
                    .map(|a| self.silenced(a, now))
                    .unwrap_or_default();
                if before.get(&id) != Some(&after)
                    && let Some(a) = self.open.get_mut(&id)
                {
                    a.version += 1;
                    a.updated_at = now;
                    batch.alerts.insert(id.clone(), a.clone());
                }
            }
        }
        Ok(())
    }

    fn escalate(&mut self, now: DateTime<Utc>, batch: &mut Changes) {
        let ids: Vec<String> = self.open.keys().cloned().collect();
        for id in ids {
            let Some(alert) = self.open.get(&id) else {
                continue;
            };
            let notifiable = alert.inhibited_by.is_none() && self.silenced(alert, now).is_empty();
            let steps = escalation::due(
                alert,
                &self.config.routing,
                notifiable,
                |p| self.acked(&id, p),
                now,
            );
            if steps.is_empty() {
                continue;
            }
            let key = group_key(alert, &self.config.group_by);
            let mut alert = alert.clone();
            for step in steps {
                let targets: Vec<String> = routing::escalation_targets(
                    &alert,
                    &self.config.routing,
                    step.province,
                    step.level,
                    self.config.min_severity,
                )
                .into_iter()
                .map(|t| t.recipient.id.clone())
                .collect();
                warn!(alert = %id, province = %step.province, level = step.level, recipients = ?targets, "Not acknowledged in time; escalating.");
                for r in &targets {
                    self.grouper.add(r, &key, &id, now, &self.timing, true);
                }
                escalation::escalated(&mut alert, step, now);
                batch.audit(
                    now,
                    "escalated",
                    Some(&id),
                    Some(step.province),
                    json!({"level": step.level, "recipients": targets}),
                );
            }
            alert.version += 1;
            alert.updated_at = now;
            batch.alerts.insert(id.clone(), alert.clone());
            self.open.insert(id, alert);
        }
    }

    /// The alert with this id: firing ones from memory, then what the batch changed (not
    /// stored yet), then the store.
    fn lookup(&self, id: &str, batch: &Changes) -> Option<Alert> {
        if let Some(a) = self.open.get(id).or_else(|| batch.alerts.get(id)) {
            return Some(a.clone());
        }
        match self.store.alert(id) {
            Ok(a) => a,
            Err(error) => {
                warn!(alert = %id, %error, "Cannot read an alert.");
                None
            }
        }
    }

    fn flush_groups(&mut self, now: DateTime<Utc>, batch: &mut Changes) -> Result<(), StoreError> {
        for gid in self.grouper.due(now) {
            let Some((province, recipient)) = self.config.routing.recipient(&gid.0) else {
                // The recipient left the configuration: its groups end silently.
                let _ = self.grouper.flush(&gid, now, &self.timing, false, |_| None);
                continue;
            };
            let recipient = recipient.clone();
            let members: Vec<String> = self
                .grouper
                .get(&gid)
                .map(|g| g.members.keys().cloned().collect())
                .unwrap_or_default();
            let mut states: HashMap<String, (Alert, MemberNow)> = HashMap::new();
            for id in members {
                let Some(a) = self.lookup(&id, batch) else {
                    continue;
                };
                let silenced = self.silenced(&a, now);
                if !silenced.is_empty() && a.is_firing() {
                    self.note_muted(&a, &silenced, &recipient.id, now, batch);
                }
                let role = a.role_of(province);
                let state = MemberNow {
                    status: a.status,
                    notifiable: silenced.is_empty() && a.inhibited_by.is_none(),
                    unacked: role != Role::InfoCopy && !self.acked(&a.id, province),
                };
                states.insert(id, (a, state));
            }
            let flush = self.grouper.flush(&gid, now, &self.timing, true, |id| {
                states.get(id).map(|(_, s)| *s)
            });
            let Some(flush) = flush else { continue };
            let firing: Vec<Alert> = flush
                .firing
                .iter()
                .filter_map(|id| states.get(id).map(|(a, _)| a.clone()))
                .collect();
            let resolved: Vec<Alert> = flush
                .resolved
                .iter()
                .filter_map(|id| states.get(id).map(|(a, _)| a.clone()))
                .collect();
            let Some(first) = firing.first().or(resolved.first()) else {
                continue;
            };
            let role = first.role_of(province);
            let kind = match (flush.kind, role, recipient.level > 0) {
                (FlushKind::Resolved, _, _) => NotificationKind::Resolved,
                (FlushKind::Repeat, _, _) => NotificationKind::Repeat,
                (_, Role::InfoCopy, _) => NotificationKind::InfoCopy,
                (_, _, true) => NotificationKind::Escalation,
                (FlushKind::First, _, _) => NotificationKind::Firing,
                (FlushKind::Update, _, _) => NotificationKind::Update,
            };
            let target = Target {
                province,
                role,
                recipient: &recipient,
            };
            self.queue_notifications(&target, kind, &firing, &resolved, now, batch);
            // Level 0 of an acting province was told: its escalation clock starts.
            if recipient.level == 0 {
                for a in &firing {
                    if a.role_of(province) == Role::InfoCopy || !a.is_firing() {
                        continue;
                    }
                    if let Some(open) = self.open.get_mut(&a.id)
                        && escalation::started(open, province, now)
                    {
                        open.version += 1;
                        batch.alerts.insert(open.id.clone(), open.clone());
                    }
                }
            }
        }
        Ok(())
    }

    /// Records once per alert and silence that a silence kept it from being notified.
    fn note_muted(
        &mut self,
        alert: &Alert,
        silences: &[String],
        recipient: &str,
        now: DateTime<Utc>,
        batch: &mut Changes,
    ) {
        let Some(open) = self.open.get_mut(&alert.id) else {
            return;
        };
        for s in silences {
            if open.muted_by.contains(s) {
                continue;
            }
            open.muted_by.push(s.clone());
            open.version += 1;
            batch.audit(
                now,
                "notification_suppressed",
                Some(&alert.id),
                None,
                json!({"silence": s, "recipient": recipient}),
            );
            batch.alerts.insert(open.id.clone(), open.clone());
        }
    }

    fn items<'a>(&self, alerts: &'a [Alert], batch: &Changes) -> Vec<Item<'a>> {
        alerts
            .iter()
            .map(|a| Item {
                alert: a,
                acks: self
                    .acks
                    .get(&a.id)
                    .cloned()
                    .unwrap_or_else(|| self.store.acks_of(&a.id).unwrap_or_default()),
                attached: self.attached_alerts(a, batch),
            })
            .collect()
    }

    /// What a notification lists under an alert: the firing alerts attached to it, or for a
    /// resolved one, those attached when it resolved as they stand now.
    fn attached_alerts(&self, a: &Alert, batch: &Changes) -> Vec<Alert> {
        match a.status {
            AlertStatus::Firing => inhibit::attached_to(&a.id, self.open_sorted())
                .into_iter()
                .cloned()
                .collect(),
            AlertStatus::Resolved => a
                .attached_when_resolved
                .iter()
                .filter_map(|id| self.lookup(id, batch))
                .collect(),
            AlertStatus::Notice => Vec::new(),
        }
    }

    fn view(&self, a: &Alert, now: DateTime<Utc>) -> AlertView {
        let acks = self.acks.get(&a.id).cloned().unwrap_or_default();
        AlertView {
            alert: a.clone(),
            provinces_state: Province::ALL
                .into_iter()
                .map(|p| ProvinceState {
                    province: p,
                    role: a.role_of(p),
                    ack: acks.iter().find(|x| x.province == p).cloned(),
                    escalation_level: a.escalation_of(p).map(|e| e.level).unwrap_or(0),
                })
                .collect(),
            silenced_by: self.silenced(a, now),
            attached: self
                .open_sorted()
                .into_iter()
                .filter(|d| d.inhibited_by.as_deref() == Some(a.id.as_str()))
                .map(|d| d.id.clone())
                .collect(),
        }
    }

    fn queue_notifications(
        &self,
        target: &Target<'_>,
        kind: NotificationKind,
        firing: &[Alert],
        resolved: &[Alert],
        now: DateTime<Utc>,
        batch: &mut Changes,
    ) {
        let r: &Recipient = target.recipient;
        let ctx = templates::Context {
            lang: self.lang,
            registry: &self.registry,
            console_url: &self.config.console_url,
            recipient_name: &r.name,
            province: target.province,
            role: target.role,
            kind,
            level: r.level,
        };
        let firing_items = self.items(firing, batch);
        let resolved_items = self.items(resolved, batch);
        // The alerts notified, then those listed as attached to them (so `alerts show` of an
        // attached alert finds the notifications that carried it).
        let mut alert_ids: Vec<String> = firing
            .iter()
            .chain(resolved)
            .map(|a| a.id.clone())
            .collect();
        for item in firing_items.iter().chain(&resolved_items) {
            for d in &item.attached {
                if !alert_ids.contains(&d.id) {
                    alert_ids.push(d.id.clone());
                }
            }
        }
        let expires_at = now
            + chrono::Duration::seconds(
                i64::try_from(self.config.expire_after_secs).unwrap_or(86_400),
            );
        tracing::debug!(recipient = %r.id, kind = kind.as_str(), alerts = ?alert_ids, "Notification queued.");
        if !r.email.is_empty() {
            let mail = templates::email(&ctx, &firing_items, &resolved_items);
            batch.notifications.push(NewNotification {
                recipient_id: r.id.clone(),
                recipient_name: r.name.clone(),
                province: target.province,
                role: target.role,
                channel: Channel::Email,
                kind,
                target: r.email.join(", "),
                subject: mail.subject,
                body_text: mail.text,
                body_html: mail.html,
                alert_ids: alert_ids.clone(),
                expires_at,
                message_domain: self.message_domain.clone(),
            });
        }
        if let Some(w) = &r.webhook {
            let md = templates::markdown(&ctx, &firing_items, &resolved_items);
            let views: Vec<AlertView> = firing
                .iter()
                .chain(resolved)
                .map(|a| self.view(a, now))
                .collect();
            batch.notifications.push(NewNotification {
                recipient_id: r.id.clone(),
                recipient_name: r.name.clone(),
                province: target.province,
                role: target.role,
                channel: Channel::Webhook,
                kind,
                target: crate::config::redact_url(&w.url),
                subject: md.0.clone(),
                body_text: webhook::body(w.format, kind.as_str(), &md, &views),
                body_html: String::new(),
                alert_ids,
                expires_at,
                message_domain: self.message_domain.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GROUP_BY_ALL;
    use crate::lifecycle::tests::{event, t};
    use crate::model::NotificationKind;
    use crate::reader::NotificationQuery;
    use riverwatch_core::events::EventStatus;
    use riverwatch_core::keys::KeyRing;
    use riverwatch_core::time::ManualClock;
    use rumqttc::{Publish, QoS};

    struct Harness {
        processor: Processor,
        keys: KeyRing,
        wake_email: Arc<Notify>,
        clock: Arc<ManualClock>,
        db: PathBuf,
        _dir: tempfile::TempDir,
    }

    /// A processor on a fresh store: every alert its own group, no group wait, one duty
    /// office per province.
    fn harness() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("alerts.db");
        let mut config = AlertsConfig {
            group_by: vec![GROUP_BY_ALL.to_string()],
            group_wait_secs: 0,
            group_interval_secs: 60,
            repeat_interval_secs: 86_400,
            ..AlertsConfig::default()
        };
        config.routing.hlj.recipients.retain(|r| r.id == "hlj-duty");
        config.routing.jl.recipients.retain(|r| r.id == "jl-duty");
        let keys = KeyRing::generate().unwrap();
        let mqtt = MqttConfig {
            keys: Some(keys.clone()),
            ..MqttConfig::with_url("mqtt://127.0.0.1:1883")
        };
        let clock = Arc::new(ManualClock::new(t(1)));
        let wake_email = Arc::new(Notify::new());
        let processor = Processor::new(ProcessorArgs {
            inhibit_rules: inhibit::rules(&config.inhibit_rules).unwrap(),
            config,
            lang: Lang::Zh,
            registry: Arc::new(Registry::builtin().unwrap()),
            store: Store::open(&db).unwrap(),
            clock: clock.clone(),
            wake_email: wake_email.clone(),
            wake_webhook: Arc::new(Notify::new()),
            wake_mqtt: Arc::new(Notify::new()),
            metrics: Metrics::new(),
            message_domain: "riverwatch.example.org".into(),
            verifier: mqtt.verifier("alerts").unwrap(),
        })
        .unwrap();
        Harness {
            processor,
            keys,
            wake_email,
            clock,
            db,
            _dir: dir,
        }
    }

    impl Harness {
        /// An event as analytics publishes it: on its subject's topic, signed.
        fn message(&self, e: &Event, pkid: u16) -> BrokerMessage {
            let topic = format!("rw/v1/events/{}", e.subject);
            let payload = riverwatch_core::mqtt::auth::sign(
                &self.keys,
                &topic,
                &serde_json::to_vec(e).unwrap(),
            )
            .unwrap();
            let mut publish = Publish::new(topic, QoS::AtLeastOnce, payload);
            publish.pkid = pkid;
            BrokerMessage {
                publish,
                epoch: 1,
                received_at: self.clock.now(),
            }
        }

        /// The email notifications queued for an alert: (recipient, kind).
        fn emails(&self, alert: &str) -> Vec<(String, NotificationKind)> {
            let reader = AlertReader::open(&self.db, self.clock.clone()).unwrap();
            let q = NotificationQuery {
                alert_id: Some(alert.to_string()),
                ..Default::default()
            };
            let mut v: Vec<(String, NotificationKind)> = reader
                .notifications(&q)
                .unwrap()
                .into_iter()
                .filter(|n| n.channel == Channel::Email)
                .map(|n| (n.recipient_id, n.kind))
                .collect();
            v.sort_by(|a, b| (&a.0, a.1.as_str()).cmp(&(&b.0, b.1.as_str())));
            v
        }

        fn alert_of(&self, fingerprint: &str) -> Alert {
            let store = Store::open(&self.db).unwrap();
            let mut firing = store.alerts_with_status(AlertStatus::Firing).unwrap();
            firing.extend(store.alerts_with_status(AlertStatus::Resolved).unwrap());
            firing
                .into_iter()
                .find(|a| a.fingerprint == fingerprint)
                .unwrap()
        }
    }

    /// A water exceedance event at a provincial-boundary section: both provinces as equals.
    fn boundary(id: &str, status: EventStatus, station: &str, param: &str, min: i64) -> Event {
        let mut e = event(id, status, station, param, min);
        e.provinces = Province::ALL.to_vec();
        e.cross_border = true;
        e
    }

    fn both(kind: NotificationKind) -> Vec<(String, NotificationKind)> {
        vec![("hlj-duty".into(), kind), ("jl-duty".into(), kind)]
    }

    #[tokio::test]
    async fn a_run_of_events_is_committed_at_once_with_the_notifications_it_made_due() {
        let mut h = harness();
        let a = boundary("a", EventStatus::Firing, "LLH-CJG", "NH3N", 0);
        let b = boundary("b", EventStatus::Firing, "LLH-YS", "TP", 0);
        let mut unsigned = h.message(&b, 4);
        unsigned.publish.payload = serde_json::to_vec(&b).unwrap().into();
        // The broker hands `a` over twice in one run (a redelivery): applied once.
        let run = vec![
            h.message(&a, 1),
            h.message(&a, 2),
            h.message(&b, 3),
            unsigned,
        ];
        h.processor.handle_run(&run).unwrap();

        let (alert_a, alert_b) = (h.alert_of(&a.fingerprint()), h.alert_of(&b.fingerprint()));
        assert_eq!(h.emails(&alert_a.id), both(NotificationKind::Firing));
        assert_eq!(h.emails(&alert_b.id), both(NotificationKind::Firing));
        assert_eq!(
            alert_a.version, alert_b.version,
            "the redelivered event changed nothing"
        );
        let store = Store::open(&h.db).unwrap();
        assert!(store.event_seen("a").unwrap() && store.event_seen("b").unwrap());
        let conn = rusqlite::Connection::open(&h.db).unwrap();
        let rejected: i64 = conn
            .query_row("SELECT count(*) FROM rejected_messages", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rejected, 1, "the unsigned message is kept with its reason");
        // The email sender was told: it finds the notifications without waiting for a tick.
        tokio::time::timeout(Duration::from_secs(5), h.wake_email.notified())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn an_alert_that_fires_and_resolves_in_one_run_is_notified_as_each_event_alone_was() {
        let mut h = harness();
        let fire = boundary("f", EventStatus::Firing, "LLH-CJG", "NH3N", 0);
        let resolve = boundary("r", EventStatus::Resolved, "LLH-CJG", "NH3N", 1);
        h.processor
            .handle_run(&[h.message(&fire, 1), h.message(&resolve, 2)])
            .unwrap();
        let alert = h.alert_of(&fire.fingerprint());
        assert_eq!(alert.status, AlertStatus::Resolved);
        // The firing notification went out before the resolution was applied, as when each
        // event was committed on its own; the resolution follows a group interval later.
        assert_eq!(h.emails(&alert.id), both(NotificationKind::Firing));
        h.clock.advance(Duration::from_secs(61));
        h.processor.tick().unwrap();
        let mut want = both(NotificationKind::Firing);
        want.extend(both(NotificationKind::Resolved));
        want.sort_by(|a, b| (&a.0, a.1.as_str()).cmp(&(&b.0, b.1.as_str())));
        assert_eq!(h.emails(&alert.id), want);
    }

    #[tokio::test]
    async fn a_resolution_flushed_in_its_own_run_finds_the_alert_not_yet_committed() {
        let mut h = harness();
        let fire = boundary("f", EventStatus::Firing, "LLH-CJG", "NH3N", 0);
        h.processor.handle_run(&[h.message(&fire, 1)]).unwrap();
        // The group is due again when the resolution arrives: it is flushed in the same run,
        // before the resolved alert is in the store.
        h.clock.advance(Duration::from_secs(61));
        let resolve = boundary("r", EventStatus::Resolved, "LLH-CJG", "NH3N", 1);
        h.processor.handle_run(&[h.message(&resolve, 2)]).unwrap();
        let alert = h.alert_of(&fire.fingerprint());
        let resolved: Vec<_> = h
            .emails(&alert.id)
            .into_iter()
            .filter(|(_, k)| *k == NotificationKind::Resolved)
            .collect();
        assert_eq!(resolved, both(NotificationKind::Resolved));
    }
}
