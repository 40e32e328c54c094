//! Grouping, pure and clock-driven, with the semantics Alertmanager users know. Groups are
//! per recipient, keyed by the values of the `group_by` labels.
//!
//! - A new group waits `group_wait` for more alerts, then sends its first notification.
//! - After a notification the group is looked at every `group_interval`: when alerts joined
//!   or resolved since the last notification, an update is sent (resolved alerts once, then
//!   they leave the group).
//! - When nothing changed for `repeat_interval`, the still-firing alerts that the
//!   recipient's province has not acknowledged are sent again.
//! - Silenced and inhibited alerts are left out at notification time; when that ends they
//!   count as joining.
//! - Escalation and notices join with `immediate`, so the group is flushed at once.
//!
//! Group state is plain data (serde), persisted by the store in the same transaction as the
//! state change or the notifications it causes, so a restart resumes every group exactly
//! where it was. Times come from the caller's clock.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::GROUP_BY_ALL;
use crate::model::{Alert, AlertStatus};

/// Group timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Wait before a new group's first notification.
    pub group_wait: Duration,
    /// Wait between notifications about changes.
    pub group_interval: Duration,
    /// Wait before re-sending unchanged firing alerts.
    pub repeat_interval: Duration,
}

fn add(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// A group's identity: recipient and label values.
pub type GroupId = (String, String);

/// What a recipient was last told about an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Told {
    /// That it fires.
    Firing,
}

/// One alert in a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// When it joined.
    pub joined_at: DateTime<Utc>,
    /// What the recipient was last told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub told: Option<Told>,
    /// Something worth an update happened since (severity rose).
    #[serde(default)]
    pub dirty: bool,
}

/// One group of one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Recipient id.
    pub recipient_id: String,
    /// `label=value,…`.
    pub key: String,
    /// When the group was created.
    pub created_at: DateTime<Utc>,
    /// When it is looked at next.
    pub next_flush_at: DateTime<Utc>,
    /// When it last sent a notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sent_at: Option<DateTime<Utc>>,
    /// Alerts by id.
    pub members: BTreeMap<String, Member>,
}

/// An alert's state as a flush sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberNow {
    /// Firing, resolved or notice.
    pub status: AlertStatus,
    /// Neither silenced nor inhibited now.
    pub notifiable: bool,
    /// The recipient's province has not acknowledged it.
    pub unacked: bool,
}

/// What kind of notification a flush makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushKind {
    /// The group's first notification.
    First,
    /// Alerts joined or resolved.
    Update,
    /// Nothing changed for `repeat_interval`.
    Repeat,
    /// Only resolutions.
    Resolved,
}

/// A notification decided by a flush.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flush {
    /// Recipient id.
    pub recipient_id: String,
    /// Group key.
    pub key: String,
    /// Why.
    pub kind: FlushKind,
    /// Firing alerts (and notices) to include.
    pub firing: Vec<String>,
    /// Resolved alerts to include.
    pub resolved: Vec<String>,
}

/// The group key of an alert.
pub fn group_key(alert: &Alert, group_by: &[String]) -> String {
    if group_by.iter().any(|l| l == GROUP_BY_ALL) {
        return format!("id={}", alert.id);
    }
    group_by
        .iter()
        .map(|l| format!("{l}={}", alert.label(l)))
        .collect::<Vec<_>>()
        .join(",")
}

/// All groups of all recipients, with a record of which changed since the last
/// [`Grouper::take_changes`].
#[derive(Debug, Clone, Default)]
pub struct Grouper {
    groups: BTreeMap<GroupId, Group>,
    changed: BTreeSet<GroupId>,
}

/// Group changes to persist.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Groups created or changed.
    pub upserts: Vec<Group>,
    /// Groups that ended.
    pub deletes: Vec<GroupId>,
}

impl Grouper {
    /// Groups restored from the store.
    pub fn from_groups(groups: Vec<Group>) -> Self {
        Self {
            groups: groups
                .into_iter()
                .map(|g| ((g.recipient_id.clone(), g.key.clone()), g))
                .collect(),
            changed: BTreeSet::new(),
        }
    }

    /// Every group.
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    /// One group.
    pub fn get(&self, id: &GroupId) -> Option<&Group> {
        self.groups.get(id)
    }

    /// Adds an alert to a recipient's group (creating it). `immediate` flushes the group at
    /// once (escalation, notices); otherwise a new group waits `group_wait` and an existing
    /// one reports the new member at its next interval.
    pub fn add(
        &mut self,
        recipient_id: &str,
        key: &str,
        alert_id: &str,
        now: DateTime<Utc>,
        timing: &Timing,
        immediate: bool,
    ) {
        let id = (recipient_id.to_string(), key.to_string());
        let group = self.groups.entry(id.clone()).or_insert_with(|| Group {
            recipient_id: recipient_id.to_string(),
            key: key.to_string(),
            created_at: now,
            next_flush_at: if immediate {
                now
            } else {
                add(now, timing.group_wait)
            },
            last_sent_at: None,
            members: BTreeMap::new(),
        });
        let mut changed = false;
        if !group.members.contains_key(alert_id) {
            group.members.insert(
                alert_id.to_string(),
                Member {
                    joined_at: now,
                    told: None,
                    dirty: false,
                },
            );
            changed = true;
        }
        if immediate && group.next_flush_at > now {
            group.next_flush_at = now;
            changed = true;
        }
        if changed {
            self.changed.insert(id);
        }
    }

    /// Marks an alert in every group as worth an update (its severity rose).
    pub fn touch(&mut self, alert_id: &str) {
        for (id, g) in &mut self.groups {
            if let Some(m) = g.members.get_mut(alert_id)
                && m.told.is_some()
                && !m.dirty
            {
                m.dirty = true;
                self.changed.insert(id.clone());
            }
        }
    }

    /// An alert released from inhibition joins its groups anew: where the recipient was
    /// never told about it, the group waits at least `group_wait` from now before notifying
    /// it. So an alert that ends with its source (the usual case: one reading ends both) is
    /// never notified on its own in between.
    pub fn rejoin(&mut self, alert_id: &str, now: DateTime<Utc>, timing: &Timing) {
        let hold = add(now, timing.group_wait);
        for (id, g) in &mut self.groups {
            if let Some(m) = g.members.get_mut(alert_id)
                && m.told.is_none()
            {
                m.joined_at = now;
                g.next_flush_at = g.next_flush_at.max(hold);
                self.changed.insert(id.clone());
            }
        }
    }

    /// Whether a recipient's group holds an alert.
    pub fn contains(&self, recipient_id: &str, alert_id: &str) -> bool {
        self.groups
            .values()
            .any(|g| g.recipient_id == recipient_id && g.members.contains_key(alert_id))
    }

    /// Groups whose time has come.
    pub fn due(&self, now: DateTime<Utc>) -> Vec<GroupId> {
        self.groups
            .iter()
            .filter(|(_, g)| g.next_flush_at <= now)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The earliest time any group is due.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.groups.values().map(|g| g.next_flush_at).min()
    }

    /// Looks at a due group and decides what to send. `view` gives each member's state now
    /// (`None`: the alert is gone). `repeat` allows reminders (not for information copies).
    pub fn flush(
        &mut self,
        id: &GroupId,
        now: DateTime<Utc>,
        timing: &Timing,
        repeat: bool,
        view: impl Fn(&str) -> Option<MemberNow>,
    ) -> Option<Flush> {
        let group = self.groups.get_mut(id)?;
        if group.next_flush_at > now {
            return None;
        }
        self.changed.insert(id.clone());
        let mut firing = Vec::new();
        let mut resolved = Vec::new();
        let mut unacked_firing = Vec::new();
        let mut changed = false;
        let mut gone = Vec::new();
        for (alert_id, m) in &group.members {
            let Some(v) = view(alert_id) else {
                gone.push(alert_id.clone());
                continue;
            };
            match v.status {
                AlertStatus::Firing | AlertStatus::Notice => {
                    if v.notifiable {
                        firing.push(alert_id.clone());
                        if v.unacked && v.status == AlertStatus::Firing {
                            unacked_firing.push(alert_id.clone());
                        }
                        if m.told.is_none() || m.dirty {
                            changed = true;
                        }
                    }
                }
                AlertStatus::Resolved => {
                    if m.told == Some(Told::Firing) {
                        resolved.push(alert_id.clone());
                        changed = true;
                    } else {
                        gone.push(alert_id.clone());
                    }
                }
            }
        }
        for g in &gone {
            group.members.remove(g);
        }
        let is_repeat = !changed
            && repeat
            && !unacked_firing.is_empty()
            && group
                .last_sent_at
                .is_some_and(|last| add(last, timing.repeat_interval) <= now);
        let out = if changed {
            let kind = if group.last_sent_at.is_none() {
                FlushKind::First
            } else if firing.is_empty() {
                FlushKind::Resolved
            } else {
                FlushKind::Update
            };
            Some((kind, firing, resolved))
        } else if is_repeat {
            Some((FlushKind::Repeat, unacked_firing, Vec::new()))
        } else {
            None
        };
        group.next_flush_at = add(now, timing.group_interval);
        let result = out.map(|(kind, firing, resolved)| {
            group.last_sent_at = Some(now);
            for f in &firing {
                if let Some(m) = group.members.get_mut(f) {
                    m.told = Some(Told::Firing);
                    m.dirty = false;
                }
            }
            for r in &resolved {
                group.members.remove(r);
            }
            Flush {
                recipient_id: group.recipient_id.clone(),
                key: group.key.clone(),
                kind,
                firing,
                resolved,
            }
        });
        // Notices are one-off: once told, they leave. A group with nothing left ends.
        let notices: Vec<String> = group
            .members
            .iter()
            .filter(|(a, m)| {
                m.told.is_some() && view(a).is_some_and(|v| v.status == AlertStatus::Notice)
            })
            .map(|(a, _)| a.clone())
            .collect();
        for n in notices {
            group.members.remove(&n);
        }
        if group.members.is_empty() {
            self.groups.remove(id);
        }
        result
    }

    /// The groups changed or ended since the last call.
    pub fn take_changes(&mut self) -> Changes {
        let mut out = Changes::default();
        for id in std::mem::take(&mut self.changed) {
            match self.groups.get(&id) {
                Some(g) => out.upserts.push(g.clone()),
                None => out.deletes.push(id),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::tests::t;
    use std::collections::HashMap;
    use std::sync::Mutex;

    fn timing() -> Timing {
        Timing {
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(3600),
        }
    }

    fn secs(s: i64) -> DateTime<Utc> {
        t(0) + chrono::Duration::seconds(s)
    }

    struct World(Mutex<HashMap<String, MemberNow>>);

    impl World {
        fn new() -> Self {
            Self(Mutex::new(HashMap::new()))
        }
        fn set(&self, id: &str, status: AlertStatus, notifiable: bool, unacked: bool) {
            self.0.lock().unwrap().insert(
                id.into(),
                MemberNow {
                    status,
                    notifiable,
                    unacked,
                },
            );
        }
        fn view(&self) -> impl Fn(&str) -> Option<MemberNow> + '_ {
            move |id| self.0.lock().unwrap().get(id).copied()
        }
    }

    /// Flushes every due group at `now`.
    fn tick(g: &mut Grouper, w: &World, now: DateTime<Utc>) -> Vec<Flush> {
        let mut out = Vec::new();
        for id in g.due(now) {
            out.extend(g.flush(&id, now, &timing(), true, w.view()));
        }
        out
    }

    #[test]
    fn a_burst_waits_group_wait_and_goes_out_as_one_notification() {
        let mut g = Grouper::default();
        let w = World::new();
        for (i, id) in ["a1", "a2", "a3"].iter().enumerate() {
            w.set(id, AlertStatus::Firing, true, true);
            g.add("hlj-duty", "k", id, secs(i as i64 * 5), &timing(), false);
        }
        assert!(tick(&mut g, &w, secs(29)).is_empty());
        let f = tick(&mut g, &w, secs(30));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, FlushKind::First);
        assert_eq!(f[0].firing, vec!["a1", "a2", "a3"]);
        // Nothing changed: nothing until the repeat interval.
        assert!(tick(&mut g, &w, secs(330)).is_empty());
        let changes = g.take_changes();
        assert_eq!(changes.upserts.len(), 1);
    }

    #[test]
    fn joins_and_resolutions_wait_for_the_group_interval() {
        let mut g = Grouper::default();
        let w = World::new();
        w.set("a1", AlertStatus::Firing, true, true);
        g.add("r", "k", "a1", secs(0), &timing(), false);
        assert_eq!(tick(&mut g, &w, secs(30)).len(), 1);
        w.set("a2", AlertStatus::Firing, true, true);
        g.add("r", "k", "a2", secs(40), &timing(), false);
        assert!(
            tick(&mut g, &w, secs(100)).is_empty(),
            "not before group_interval"
        );
        let f = tick(&mut g, &w, secs(330));
        assert_eq!(
            (f[0].kind, f[0].firing.clone()),
            (FlushKind::Update, vec!["a1".into(), "a2".into()])
        );
        w.set("a1", AlertStatus::Resolved, true, true);
        let f = tick(&mut g, &w, secs(630));
        assert_eq!(f[0].kind, FlushKind::Update);
        assert_eq!(
            (f[0].firing.clone(), f[0].resolved.clone()),
            (vec!["a2".to_string()], vec!["a1".to_string()])
        );
        w.set("a2", AlertStatus::Resolved, true, true);
        let f = tick(&mut g, &w, secs(930));
        assert_eq!(
            (f[0].kind, f[0].resolved.clone()),
            (FlushKind::Resolved, vec!["a2".to_string()])
        );
        assert_eq!(g.groups().count(), 0, "an empty group ends");
        assert_eq!(g.take_changes().deletes.len(), 1);
    }

    #[test]
    fn repeats_only_unacknowledged_firing_alerts() {
        let mut g = Grouper::default();
        let w = World::new();
        w.set("a1", AlertStatus::Firing, true, true);
        w.set("a2", AlertStatus::Firing, true, true);
        g.add("r", "k", "a1", secs(0), &timing(), false);
        g.add("r", "k", "a2", secs(0), &timing(), false);
        tick(&mut g, &w, secs(30));
        // Ticks every 300 s; the repeat falls due at the first tick ≥ 30 + 3600.
        let mut at = 30;
        let mut repeats = Vec::new();
        while at < 30 + 3600 + 300 {
            at += 300;
            if at > 2000 {
                w.set("a2", AlertStatus::Firing, true, false); // acknowledged
            }
            repeats.extend(tick(&mut g, &w, secs(at)).into_iter().map(|f| (at, f)));
        }
        assert_eq!(repeats.len(), 1, "{repeats:?}");
        assert_eq!(repeats[0].0, 3630);
        assert_eq!(repeats[0].1.kind, FlushKind::Repeat);
        assert_eq!(repeats[0].1.firing, vec!["a1"]);
    }

    #[test]
    fn silenced_alerts_are_left_out_and_count_as_new_when_the_silence_ends() {
        let mut g = Grouper::default();
        let w = World::new();
        w.set("a1", AlertStatus::Firing, false, true);
        g.add("r", "k", "a1", secs(0), &timing(), false);
        assert!(tick(&mut g, &w, secs(30)).is_empty());
        assert!(tick(&mut g, &w, secs(330)).is_empty());
        w.set("a1", AlertStatus::Firing, true, true);
        let f = tick(&mut g, &w, secs(630));
        assert_eq!(
            (f[0].kind, f[0].firing.clone()),
            (FlushKind::First, vec!["a1".to_string()])
        );
        // A silenced alert that resolves was never told: it leaves quietly.
        w.set("a2", AlertStatus::Firing, false, true);
        g.add("r2", "k", "a2", secs(700), &timing(), false);
        w.set("a2", AlertStatus::Resolved, false, true);
        assert!(tick(&mut g, &w, secs(800)).is_empty());
        assert!(g.get(&("r2".into(), "k".into())).is_none());
    }

    #[test]
    fn immediate_joins_flush_at_once_and_notices_leave_after_being_told() {
        let mut g = Grouper::default();
        let w = World::new();
        w.set("n1", AlertStatus::Notice, true, true);
        g.add("r", "k", "n1", secs(0), &timing(), true);
        let f = tick(&mut g, &w, secs(0));
        assert_eq!(f[0].firing, vec!["n1"]);
        assert!(g.get(&("r".into(), "k".into())).is_none());
    }

    #[test]
    fn a_released_alert_waits_group_wait_so_it_can_end_with_its_source() {
        let mut g = Grouper::default();
        let w = World::new();
        // The section alert is inhibited from the start: its group sends nothing.
        w.set("sec", AlertStatus::Firing, false, true);
        g.add("r", "k", "sec", secs(0), &timing(), false);
        assert!(tick(&mut g, &w, secs(30)).is_empty());
        // Its source resolves just before the group's interval falls due: released, it
        // waits group_wait rather than going out at the interval.
        w.set("sec", AlertStatus::Firing, true, true);
        g.rejoin("sec", secs(329), &timing());
        assert!(
            tick(&mut g, &w, secs(330)).is_empty(),
            "held for group_wait"
        );
        // It resolves with its source (the same reading): it leaves without a word.
        w.set("sec", AlertStatus::Resolved, true, true);
        assert!(tick(&mut g, &w, secs(359)).is_empty());
        assert!(g.get(&("r".into(), "k".into())).is_none());

        // Released and still firing after group_wait: notified on its own.
        w.set("s2", AlertStatus::Firing, false, true);
        g.add("r", "k2", "s2", secs(0), &timing(), false);
        tick(&mut g, &w, secs(30));
        w.set("s2", AlertStatus::Firing, true, true);
        g.rejoin("s2", secs(100), &timing());
        assert!(tick(&mut g, &w, secs(129)).is_empty());
        let f = tick(&mut g, &w, secs(330));
        assert_eq!(
            (f[0].kind, f[0].firing.clone()),
            (FlushKind::First, vec!["s2".to_string()])
        );
        // Told alerts are not held back again.
        g.rejoin("s2", secs(400), &timing());
        assert_eq!(
            g.get(&("r".into(), "k2".into())).unwrap().next_flush_at,
            secs(630)
        );
    }

    #[test]
    fn touched_alerts_make_an_update() {
        let mut g = Grouper::default();
        let w = World::new();
        w.set("a1", AlertStatus::Firing, true, true);
        g.add("r", "k", "a1", secs(0), &timing(), false);
        tick(&mut g, &w, secs(30));
        g.touch("a1");
        let f = tick(&mut g, &w, secs(330));
        assert_eq!(f[0].kind, FlushKind::Update);
    }

    #[test]
    fn groups_restore_from_their_persisted_form() {
        let mut g = Grouper::default();
        let w = World::new();
        w.set("a1", AlertStatus::Firing, true, true);
        g.add("r", "k", "a1", secs(0), &timing(), false);
        let saved: Vec<Group> = g
            .take_changes()
            .upserts
            .into_iter()
            .map(|gr| serde_json::from_str(&serde_json::to_string(&gr).unwrap()).unwrap())
            .collect();
        let mut restored = Grouper::from_groups(saved);
        assert_eq!(tick(&mut restored, &w, secs(30)).len(), 1);
    }
}
