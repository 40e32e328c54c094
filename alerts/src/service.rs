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
//!
//! This file holds [`run`] and the processor's state; its work is in `service/processor.rs`
//! (the event path and the commit), `service/timers.rs` (command-line changes, escalation)
//! and `service/flush.rs` (due groups become notifications).

mod flush;
mod processor;
mod timers;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use riverwatch_core::mqtt::auth::{Rejected, Verifier};
use riverwatch_core::mqtt::subscriber::runs_for;
use riverwatch_core::mqtt::{MqttConfig, SessionOptions};
use riverwatch_core::time::Clock;
use riverwatch_core::topics::TopicKind;
use riverwatch_core::{Lang, Province, Registry};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::Error;
use crate::audit::SERVICE;
use crate::config::AlertsConfig;
use crate::grouping::{Grouper, Timing};
use crate::inhibit::{self, InhibitRule};
use crate::model::{Acknowledgement, Alert, Silence};
use crate::notify::email::{SmtpNotifier, domain_of};
use crate::notify::mqtt as mqtt_notify;
use crate::notify::webhook::WebhookNotifier;
use crate::notify::{RetryPolicy, SenderArgs, sender_loop};
use crate::reader::AlertReader;
use crate::source::{CHANNEL_MESSAGES, DRAIN_TIMEOUT, Subscriber};
use crate::store::{NewNotification, Store};
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

#[cfg(test)]
mod tests;
