//! The processor's event path: building it from the store, its loop over runs of event
//! messages and ticks, applying one event (MAC and time check, lifecycle, inhibition,
//! routing, grouping) and committing a run's changes in one transaction.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use riverwatch_core::Province;
use riverwatch_core::backoff::Backoff;
use riverwatch_core::events::Event;
use riverwatch_core::mqtt::auth::{Refusal, RefusalCode, Rejected};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, info_span, trace, warn};

use super::{Changes, Processor, ProcessorArgs};
use crate::audit::Entry;
use crate::grouping::{Grouper, Timing, group_key};
use crate::inhibit;
use crate::lifecycle::{self, Known, Outcome};
use crate::model::{Alert, AlertStatus, Channel, severity_str};
use crate::routing;
use crate::silence::silencing;
use crate::source::{BrokerMessage, PacketAck};
use crate::store::StoreError;

impl Processor {
    pub(super) fn new(a: ProcessorArgs) -> Result<Self, StoreError> {
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
    pub(super) fn reload(&mut self) -> Result<(), StoreError> {
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

    pub(super) async fn run(
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
    pub(super) fn handle_run(&mut self, run: &[BrokerMessage]) -> Result<(), StoreError> {
        let mut batch = Changes::default();
        for message in run {
            self.handle_event(message, &mut batch)?;
            self.timer_work(&mut batch)?;
        }
        self.commit(batch)
    }

    pub(super) fn recover(&mut self, error: StoreError) {
        error!(%error, "Cannot commit timer work; reloading state and trying again on the next tick.");
        if let Err(error) = self.reload() {
            error!(%error, "Cannot reload alert state.");
        }
    }

    pub(super) fn next_wait(&self, tick: Duration) -> Duration {
        let now = self.clock.now();
        self.grouper
            .next_due()
            .map(|at| (at - now).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(tick)
            .clamp(Duration::from_millis(1), tick)
    }

    pub(super) fn commit(&mut self, batch: Changes) -> Result<(), StoreError> {
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

    pub(super) fn acked(&self, alert_id: &str, province: Province) -> bool {
        self.acks
            .get(alert_id)
            .is_some_and(|v| v.iter().any(|a| a.province == province))
    }

    pub(super) fn silenced(&self, alert: &Alert, now: DateTime<Utc>) -> Vec<String> {
        silencing(&self.silences, alert, now)
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    /// An event message refused (no valid MAC, not an event, dated too far from the clock):
    /// kept with its reason, counted, never applied; acknowledged once kept.
    pub(super) fn refuse(
        &mut self,
        message: &BrokerMessage,
        refusal: Refusal,
        batch: &mut Changes,
    ) {
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
    pub(super) fn handle_event(
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
    pub(super) fn route_initial(&mut self, alert: &Alert, now: DateTime<Utc>) {
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
    pub(super) fn open_sorted(&self) -> Vec<&Alert> {
        let mut open: Vec<&Alert> = self.open.values().collect();
        open.sort_by(|a, b| (a.first_seen, &a.id).cmp(&(b.first_seen, &b.id)));
        open
    }

    /// The firing alerts attached to `id`, directly or through attached alerts.
    pub(super) fn attached_ids(&self, id: &str) -> Vec<String> {
        inhibit::attached_to(id, self.open_sorted())
            .into_iter()
            .map(|a| a.id.clone())
            .collect()
    }

    /// Attaches every firing alert to what inhibits it now (incident source, inhibit rules)
    /// and releases those no longer inhibited; a released alert joins its groups anew.
    pub(super) fn reinhibit(&mut self, now: DateTime<Utc>, batch: &mut Changes) {
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

    /// The alert with this id: firing ones from memory, then what the batch changed (not
    /// stored yet), then the store.
    pub(super) fn lookup(&self, id: &str, batch: &Changes) -> Option<Alert> {
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
}
