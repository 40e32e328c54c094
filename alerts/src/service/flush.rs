//! Flushing due groups: which members a recipient is told about (muted ones noted in the
//! audit trail), the template items and views, and the notifications queued per channel.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use riverwatch_core::Province;
use serde_json::json;

use super::{Changes, Processor};
use crate::config::Recipient;
use crate::escalation;
use crate::grouping::{FlushKind, MemberNow};
use crate::inhibit;
use crate::model::{Alert, AlertStatus, AlertView, Channel, NotificationKind, ProvinceState, Role};
use crate::notify::templates::{self, Item};
use crate::notify::webhook;
use crate::routing::Target;
use crate::store::{NewNotification, StoreError};

impl Processor {
    pub(super) fn flush_groups(
        &mut self,
        now: DateTime<Utc>,
        batch: &mut Changes,
    ) -> Result<(), StoreError> {
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
    pub(super) fn note_muted(
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

    pub(super) fn items<'a>(&self, alerts: &'a [Alert], batch: &Changes) -> Vec<Item<'a>> {
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
    pub(super) fn attached_alerts(&self, a: &Alert, batch: &Changes) -> Vec<Alert> {
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

    pub(super) fn view(&self, a: &Alert, now: DateTime<Utc>) -> AlertView {
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

    pub(super) fn queue_notifications(
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
