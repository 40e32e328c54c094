//! Tests of the processor: a run of events committed at once with the notifications it
//! made due, and runs in which an alert fires and resolves.

use super::*;
use crate::config::GROUP_BY_ALL;
use crate::lifecycle::tests::{event, t};
use crate::model::{AlertStatus, Channel, NotificationKind};
use crate::reader::NotificationQuery;
use crate::source::BrokerMessage;
use riverwatch_core::events::{Event, EventStatus};
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
        let payload =
            riverwatch_core::mqtt::auth::sign(&self.keys, &topic, &serde_json::to_vec(e).unwrap())
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
