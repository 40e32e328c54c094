//! The processor's clock-driven work: acknowledgements and silences written by the command
//! line, and escalation of what stays unacknowledged.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::json;
use tracing::{info, warn};

use super::{Changes, Processor};
use crate::escalation;
use crate::grouping::group_key;
use crate::routing;
use crate::store::StoreError;

impl Processor {
    /// Timer work, committed on its own.
    pub(super) fn tick(&mut self) -> Result<(), StoreError> {
        let mut batch = Changes::default();
        self.timer_work(&mut batch)?;
        self.commit(batch)
    }

    /// Command-line changes, escalation, due groups.
    pub(super) fn timer_work(&mut self, batch: &mut Changes) -> Result<(), StoreError> {
        let now = self.clock.now();
        self.pick_up_cli_changes(now, batch)?;
        self.escalate(now, batch);
        self.flush_groups(now, batch)
    }

    pub(super) fn pick_up_cli_changes(
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

    pub(super) fn escalate(&mut self, now: DateTime<Utc>, batch: &mut Changes) {
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
}
