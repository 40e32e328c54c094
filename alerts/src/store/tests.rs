//! Tests of the alert store: outcomes and published states written together, the
//! outbox's record of decisions and deliveries, and the anchor each notification carries.

use super::*;
use crate::lifecycle::tests::{event, t};
use crate::lifecycle::{Known, Outcome, apply};
use crate::model::{AlertStatus, Channel, DeliveryStatus, NotificationKind, Role};
use riverwatch_core::Registry;
use riverwatch_core::events::EventStatus;

fn new_notification(alert: &str) -> NewNotification {
    NewNotification {
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
        alert_ids: vec![alert.into()],
        expires_at: t(600),
        message_domain: "riverwatch.example.org".into(),
    }
}

#[test]
fn outcomes_and_published_states_recorded_together_are_all_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.db");
    let reg = Registry::builtin().unwrap();
    let mut store = Store::open(&path).unwrap();
    let mut alerts = Vec::new();
    let tx = store.write().unwrap();
    for (i, station) in ["LLH-CJG", "LLH-YS"].into_iter().enumerate() {
        let e = event(&format!("e{i}"), EventStatus::Firing, station, "NH3N", 0);
        let Outcome::Opened(a) = apply(Known::default(), &e, &reg, t(1)) else {
            panic!()
        };
        tx.put_alert(&a).unwrap();
        tx.queue(&new_notification(&a.id), t(1)).unwrap();
        alerts.push(a);
    }
    tx.commit().unwrap();
    let due = store.due_notifications(Channel::Email, t(1), 10).unwrap();
    let sent = Delivery::Sent("250 OK".into());
    let retry = Delivery::Retry {
        reply: "421 later".into(),
        at: t(3),
    };
    store
        .record_deliveries(
            &[
                (&due[0].notification, &sent),
                (&due[1].notification, &retry),
            ],
            t(2),
        )
        .unwrap();
    assert_eq!(store.pending_count(Channel::Email).unwrap(), 1);
    let again = store.due_notifications(Channel::Email, t(3), 10).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].notification.id, due[1].notification.id);
    assert_eq!(again[0].notification.attempts, 1);

    assert_eq!(store.unpublished(10).unwrap().len(), 2);
    let published: Vec<(String, u64)> = alerts.iter().map(|a| (a.id.clone(), a.version)).collect();
    store.mark_published_all(&published).unwrap();
    assert!(store.unpublished(10).unwrap().is_empty());
}

#[test]
fn the_outbox_keeps_what_was_decided_and_what_was_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.db");
    let reg = Registry::builtin().unwrap();
    let Outcome::Opened(a) = apply(
        Known::default(),
        &event("e1", EventStatus::Firing, "LLH-CJG", "NH3N", 0),
        &reg,
        t(1),
    ) else {
        panic!()
    };
    let mut store = Store::open(&path).unwrap();
    let tx = store.write().unwrap();
    tx.mark_event("e1", &a.fingerprint, Some(&a.id), "alert_opened", t(1))
        .unwrap();
    tx.put_alert(&a).unwrap();
    let id = tx.queue(&new_notification(&a.id), t(1)).unwrap();
    tx.commit().unwrap();
    drop(store);

    // "Restart": the queued row is still due, with a stable Message-ID.
    let mut store = Store::open(&path).unwrap();
    assert!(store.event_seen("e1").unwrap());
    let due = store.due_notifications(Channel::Email, t(1), 10).unwrap();
    assert_eq!(due.len(), 1);
    let n = due[0].notification.clone();
    assert_eq!((n.id, n.status), (id, DeliveryStatus::Queued));
    assert!(n.message_id.starts_with(&format!("<rw-{id}-")));
    store
        .record_delivery(
            &n,
            &Delivery::Retry {
                reply: "421 try later".into(),
                at: t(2),
            },
            t(1),
        )
        .unwrap();
    assert!(
        store
            .due_notifications(Channel::Email, t(1), 10)
            .unwrap()
            .is_empty()
    );
    let again = store.due_notifications(Channel::Email, t(2), 10).unwrap();
    assert_eq!(again[0].notification.attempts, 1);
    assert_eq!(again[0].notification.message_id, n.message_id);
    store
        .record_delivery(
            &again[0].notification,
            &Delivery::Sent("250 OK".into()),
            t(2),
        )
        .unwrap();
    assert!(
        store
            .due_notifications(Channel::Email, t(100), 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.pending_count(Channel::Email).unwrap(), 0);

    // Acknowledgements are per province and once.
    let ack = Acknowledgement {
        alert_id: a.id.clone(),
        province: Province::Jilin,
        by: "李娜".into(),
        at: t(3),
        comment: Some("已通知扶余市局".into()),
    };
    store.acknowledge(&ack).unwrap();
    assert!(matches!(
        store.acknowledge(&ack),
        Err(StoreError::AlreadyAcknowledged { .. })
    ));
    assert_eq!(store.acks_after(0).unwrap().len(), 1);
    let reader = crate::reader::AlertReader::open(
        &path,
        std::sync::Arc::new(riverwatch_core::time::SystemClock),
    )
    .unwrap();
    assert_eq!(
        reader.status_counts().unwrap(),
        vec![
            (AlertStatus::Firing, 1),
            (AlertStatus::Resolved, 0),
            (AlertStatus::Notice, 0)
        ]
    );
    assert_eq!(store.resolve_alert_id(&a.id[..6]).unwrap(), a.id);
    assert!(store.resolve_alert_id("ffff0000").is_err());
}

#[test]
fn a_queued_notification_carries_the_anchor_of_its_own_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.db");
    let mut store = Store::open(&path).unwrap();
    let tx = store.write().unwrap();
    // State changes recorded before it in the same transaction.
    tx.audit(
        t(0),
        &Entry::service("alert_opened", Some("a1"), serde_json::json!({})),
    )
    .unwrap();
    let mut n = new_notification("a1");
    n.body_text = format!(
        "链头 {}，--head {}",
        audit::ANCHOR_PLACEHOLDER,
        audit::ANCHOR_ARG_PLACEHOLDER
    );
    n.body_html = format!("<p>{}</p>", audit::ANCHOR_PLACEHOLDER);
    let first = tx.queue(&n, t(0)).unwrap();
    let second = tx.queue(&n, t(0)).unwrap();
    tx.commit().unwrap();

    let reader = crate::reader::AlertReader::open(
        &path,
        std::sync::Arc::new(riverwatch_core::time::SystemClock),
    )
    .unwrap();
    let rows = reader.audit(&crate::reader::AuditQuery::default()).unwrap();
    let kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(
        kinds,
        vec!["alert_opened", "notification_queued", "notification_queued"]
    );
    for (id, row) in [(first, &rows[1]), (second, &rows[2])] {
        // The row that records this notification, by its id.
        let detail: serde_json::Value = serde_json::from_str(&row.detail).unwrap();
        assert_eq!(detail["notification"], id);
        let prefix: String = row.hash.chars().take(audit::ANCHOR_HEX_DIGITS).collect();
        let (text, html) = reader.notification_bodies(id).unwrap();
        assert_eq!(
            text,
            format!("链头 #{} {prefix}，--head {}:{prefix}", row.seq, row.seq)
        );
        assert_eq!(html, format!("<p>#{} {prefix}</p>", row.seq));
    }
    let v = reader
        .verify_audit_with(&[audit::Anchor::of(rows[2].seq, &rows[2].hash)])
        .unwrap();
    assert!(v.holds());
}
