//! The alert service end to end: a real mosquitto, a real SMTP server on loopback, the
//! `riverwatch` binary (or the service in-process on a manual clock), and the alert store.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, Utc};
use riverwatch_alerts::AlertsConfig;
use riverwatch_alerts::config::Routing;
use riverwatch_alerts::model::DeliveryStatus;
use riverwatch_alerts::reader::StateFilter;
use riverwatch_core::Province;
use riverwatch_core::class::WaterClass;
use riverwatch_core::events::{Attribution, Event, EventStatus, Rule, Severity};
use riverwatch_core::mqtt::MqttConfig;
use rumqttc::{AsyncClient, Event as MqttEvent, Incoming, QoS};

use crate::fixture::*;
use crate::util::*;

fn minute(offset_min: i64) -> DateTime<Utc> {
    let t = Utc::now() - chrono::Duration::hours(3);
    DateTime::from_timestamp(t.timestamp() / 60 * 60, 0).unwrap()
        + chrono::Duration::minutes(offset_min)
}

/// A water exceedance event.
fn exceedance(
    id: &str,
    status: EventStatus,
    station: &str,
    param: &str,
    at: DateTime<Utc>,
) -> Event {
    let reg = registry();
    let s = reg.station(station).unwrap();
    let provinces = if s.boundary {
        Province::ALL.to_vec()
    } else {
        vec![s.province]
    };
    let mut e = base_event(
        id,
        Rule::ParameterExceedance,
        status,
        Severity::Critical,
        station,
        &provinces,
        s.boundary,
        at,
    );
    e.parameter = Some(param.into());
    e.value = Some(1.62);
    e.unit = Some("mg/L".into());
    e.limit = Some(1.0);
    e.class = Some(WaterClass::V);
    e.target = Some(WaterClass::III);
    e.exceedance_multiple = Some(0.62);
    e.standard = "GB 3838-2002".into();
    e.attribution = Some(Attribution::ArisenBetween {
        upstream_station: "LLH-YS".into(),
        upstream_province: Province::Jilin,
        upstream_value: 0.41,
        travel_hours: 27.8,
    });
    e.summary_zh = format!("{} {param} 1.62 mg/L，超Ⅲ类标准 0.62 倍", s.name_zh);
    e.summary_en = format!("{} {param} 1.62 mg/L", s.name_pinyin);
    e
}

/// An event as analytics publishes it: on its subject's topic, signed.
fn message(e: &Event) -> (String, Vec<u8>) {
    signed(
        format!("rw/v1/events/{}", e.subject),
        &serde_json::to_vec(e).unwrap(),
    )
}

/// Messages accepted for one address.
fn to(received: &[Received], addr: &str) -> Vec<ParsedMail> {
    received
        .iter()
        .filter(|r| r.to.iter().any(|t| t == addr))
        .map(Received::parsed)
        .collect()
}

fn addresses(received: &[Received]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in received {
        for t in &r.to {
            *out.entry(t.clone()).or_insert(0) += 1;
        }
    }
    out
}

async fn retained_state(url: &str, id: &str) -> serde_json::Value {
    let opts = MqttConfig::with_url(url)
        .options(&format!("it-retained-{id}"), true)
        .unwrap();
    let (client, mut eventloop) = AsyncClient::new(opts, 10);
    client
        .subscribe(format!("rw/v1/alerts/{id}"), QoS::AtLeastOnce)
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(MqttEvent::Incoming(Incoming::Publish(p))) = eventloop.poll().await {
                assert!(p.retain, "alert state is retained");
                return serde_json::from_slice::<serde_json::Value>(&p.payload).unwrap();
            }
        }
    })
    .await
    .expect("retained alert state");
    let _ = client.disconnect().await;
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_boundary_exceedance_emails_each_province_once_with_the_content_and_its_resolution() {
    let mut p = Pipeline::builder()
        .with_alerts_process(AlertsFile::new(1))
        .start()
        .await;

    let t0 = minute(0);
    let e = exceedance("ev-cjg-1", EventStatus::Firing, "LLH-CJG", "NH3N", t0);
    p.publish("it-a-pub", vec![message(&e)]).await;
    // 蔡家沟 (Jilin, boundary, Lalin): both duty offices, Songyuan's bureau (扶余市), both
    // provinces' Lalin river-chief offices.
    let want: BTreeSet<&str> = [
        "duty@hlj.example.org",
        "lalin-hzb@hlj.example.org",
        "duty@jl.example.org",
        "songyuan@jl.example.org",
        "lalin-hzb@jl.example.org",
    ]
    .into();
    p.wait_emails(5, Duration::from_secs(30)).await;
    let received = p.smtp().received();
    let got = addresses(&received);
    assert_eq!(
        got.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        want,
        "{got:?}"
    );
    assert!(
        got.values().all(|n| *n == 1),
        "one email per recipient: {got:?}"
    );
    for addr in &want {
        let mail = &to(&received, addr)[0];
        assert!(
            mail.subject.contains("蔡家沟（拉林河）"),
            "{}",
            mail.subject
        );
        assert!(mail.subject.contains("跨界"), "{}", mail.subject);
        for needle in [
            "省界断面或区域性事件：黑龙江省、吉林省同等通报",
            "站点：蔡家沟 Caijiagou（LLH-CJG），吉林省 扶余市，省界断面",
            "河流：拉林河",
            "指标：氨氮（NH3N）",
            "监测值：1.62 mg/L",
            "限值：1 mg/L（Ⅲ类标准）",
            "水质类别：Ⅴ类（目标 Ⅲ类）",
            "超标倍数：0.62",
            "跨界归因：产生于两断面之间：上游 榆树（LLH-YS，吉林省）",
            "首次发现：",
            "https://console.example.org/alerts/",
            "黑龙江省 未确认；吉林省 未确认",
        ] {
            assert!(
                mail.text.contains(needle),
                "{addr} lacks `{needle}`:\n{}",
                mail.text
            );
        }
        assert!(mail.html.contains("<table"), "HTML part");
        assert!(mail.html.contains("氨氮（NH3N）"));
    }
    let alert = p.alert_views(StateFilter::Firing).remove(0);
    assert!(received[0].parsed().text.contains(&alert.alert.id));
    let state = retained_state(&p.url(), &alert.alert.id).await;
    assert_eq!(state["status"], "firing");
    assert_eq!(state["provinces_state"][0]["role"], "equal");

    let (code, out, _) = p.cli(&["alerts", "list"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(&alert.alert.id) && out.contains("未确认"),
        "{out}"
    );

    // Resolution is notified to the same recipients.
    let r = exceedance(
        "ev-cjg-2",
        EventStatus::Resolved,
        "LLH-CJG",
        "NH3N",
        minute(60),
    );
    p.publish("it-a-pub", vec![message(&r)]).await;
    p.wait_emails(10, Duration::from_secs(30)).await;
    let received = p.smtp().received();
    for addr in &want {
        let mails = to(&received, addr);
        assert_eq!(mails.len(), 2, "{addr}");
        assert!(mails[1].subject.contains("已恢复"), "{}", mails[1].subject);
        assert!(mails[1].text.contains("恢复时间："), "{}", mails[1].text);
    }
    p.stop_alerts().await;
    let (code, out, _) = p.cli(&["audit", "verify"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("审计链完整"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_internal_section_notifies_its_province_and_informs_the_other() {
    let mut p = Pipeline::builder()
        .with_alerts_process(AlertsFile::new(1))
        .start()
        .await;
    // 松原 on the Second Songhua: a Jilin section inside the province.
    let e = exceedance("ev-sy-1", EventStatus::Firing, "SH2-SY", "TP", minute(0));
    p.publish("it-b-pub", vec![message(&e)]).await;
    p.wait_emails(4, Duration::from_secs(30)).await;
    let received = p.smtp().received();
    let got = addresses(&received);
    assert_eq!(
        got.keys().map(String::as_str).collect::<Vec<_>>(),
        vec![
            "duty@hlj.example.org",
            "duty@jl.example.org",
            "songhua-hzb@jl.example.org",
            "songyuan@jl.example.org",
        ]
    );
    let jl = &to(&received, "duty@jl.example.org")[0];
    assert!(jl.subject.contains("【告警·严重】"), "{}", jl.subject);
    assert!(
        jl.text
            .contains("本告警属吉林省辖内断面/站点，由本省负责处置"),
        "{}",
        jl.text
    );
    assert!(
        jl.text.contains("riverwatch alerts ack"),
        "owner is asked to acknowledge"
    );
    let hlj = &to(&received, "duty@hlj.example.org")[0];
    assert!(hlj.subject.contains("【知会·严重】"), "{}", hlj.subject);
    assert!(
        hlj.text.contains("知会抄送：本告警属吉林省辖内断面/站点"),
        "{}",
        hlj.text
    );
    assert!(
        !hlj.text.contains("riverwatch alerts ack"),
        "no acknowledgement asked"
    );
    let v = p.alert_views(StateFilter::Firing).remove(0);
    let roles: Vec<_> = v
        .provinces_state
        .iter()
        .map(|s| (s.province, s.role))
        .collect();
    assert_eq!(
        roles,
        vec![
            (
                Province::Heilongjiang,
                riverwatch_alerts::model::Role::InfoCopy
            ),
            (Province::Jilin, riverwatch_alerts::model::Role::Owner)
        ]
    );
    p.stop_alerts().await;
}

/// One duty office per province, plus a level-1 leader each.
fn two_province_routing(escalate_after_secs: u64) -> Routing {
    let mut r = Routing::default();
    for p in [&mut r.hlj, &mut r.jl] {
        p.recipients
            .retain(|x| x.id.ends_with("-duty") || x.id.ends_with("-leader"));
        p.escalate_after_secs = vec![escalate_after_secs];
    }
    r
}

/// Alerts on the manual clock: timings as in production, one duty office and one leader per
/// province (email goes to the fixture's SMTP server).
fn manual_config() -> AlertsConfig {
    AlertsConfig {
        group_wait_secs: 30,
        group_interval_secs: 300,
        repeat_interval_secs: 3600,
        tick_ms: 50,
        routing: two_province_routing(86_400),
        ..AlertsConfig::default()
    }
}

/// Waits for the service to have applied `n` events.
async fn wait_applied(p: &Pipeline, n: usize) {
    let db = p.alerts_db();
    wait_until(
        Duration::from_secs(20),
        format!("{n} events applied"),
        || {
            rusqlite::Connection::open(&db)
                .and_then(|c| {
                    c.query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))
                })
                .map(|c| c as usize >= n)
                .unwrap_or(false)
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grouping_holds_a_burst_to_one_email_and_the_repeat_interval_resends() {
    let mut p = Pipeline::builder()
        .with_alerts(manual_config())
        .start()
        .await;
    // A burst: three parameters of one section within seconds.
    let t = minute(0);
    let burst: Vec<_> = ["NH3N", "TP", "CODMn"]
        .iter()
        .enumerate()
        .map(|(i, param)| {
            message(&exceedance(
                &format!("burst-{i}"),
                EventStatus::Firing,
                "LLH-CJG",
                param,
                t,
            ))
        })
        .collect();
    p.publish("it-c-pub", burst).await;
    wait_applied(&p, 3).await;
    p.advance(29);
    // A tick that sends nothing leaves no trace to wait for: give the service (tick 50 ms)
    // half a second on the new time.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(p.smtp().count(), 0, "nothing before group_wait");
    p.advance(1);
    p.wait_emails(2, Duration::from_secs(10)).await;
    let received = p.smtp().received();
    assert_eq!(
        received.len(),
        2,
        "one email per province for the whole burst"
    );
    for addr in ["duty@hlj.example.org", "duty@jl.example.org"] {
        let m = &to(&received, addr)[0];
        assert!(m.subject.contains("等 3 条"), "{}", m.subject);
        assert!(m.text.contains("告警中（3 条）"), "{}", m.text);
        for param in ["氨氮（NH3N）", "总磷（TP）", "高锰酸盐指数（CODMn）"] {
            assert!(m.text.contains(param), "{param}");
        }
    }
    // Nothing changes: quiet at each group interval until the repeat interval. As above, a
    // group interval that sends nothing leaves no trace: a few ticks on each new time.
    for _ in 0..11 {
        p.advance(300);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(p.smtp().count(), 2, "no resend before repeat_interval");
    p.advance(300); // 30 s + 12 × 300 s ≥ 3600 s after the first notification
    wait_until(Duration::from_secs(10), "the repeat sent", || {
        p.smtp().count() >= 4
    })
    .await;
    let received = p.smtp().received();
    let repeat = received[2].parsed();
    assert!(repeat.subject.contains("重复提醒"), "{}", repeat.subject);
    assert!(repeat.text.contains("告警中（3 条）"));
    p.stop_alerts().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledgement_by_one_province_stops_only_its_escalation() {
    let config = AlertsConfig {
        routing: two_province_routing(600),
        ..manual_config()
    };
    let mut p = Pipeline::builder().with_alerts(config).start().await;
    let e = exceedance("esc-1", EventStatus::Firing, "LLH-HK", "NH3N", minute(0));
    p.publish("it-d-pub", vec![message(&e)]).await;
    wait_applied(&p, 1).await;
    p.advance(30);
    wait_until(Duration::from_secs(10), "the first two emails", || {
        p.smtp().count() >= 2
    })
    .await;
    let id = p.alert_views(StateFilter::Firing).remove(0).alert.id;
    let version = || p.alert_reader().unwrap().alert(&id).unwrap().alert.version;
    let before = version();

    // Heilongjiang's duty officer acknowledges with the command line while the service runs.
    let (code, out, err) = p.cli(&[
        "alerts",
        "ack",
        &id[..6],
        "--province",
        "HLJ",
        "--by",
        "王强",
        "--comment",
        "已派员核查",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("已确认"), "{out}");
    let (code, _, err) = p.cli(&["alerts", "ack", &id, "--province", "HLJ", "--by", "赵敏"]);
    assert_ne!(code, 0);
    assert!(err.contains("已确认") && err.contains("王强"), "{err}");
    // The service takes the acknowledgement up on its next tick and stores the alert anew.
    wait_until(
        Duration::from_secs(10),
        "the service took the acknowledgement up",
        || version() > before,
    )
    .await;

    p.advance(600);
    p.wait_emails(3, Duration::from_secs(10)).await;
    let received = p.smtp().received();
    let got = addresses(&received);
    assert_eq!(got.get("leader@jl.example.org"), Some(&1), "{got:?}");
    assert_eq!(got.get("leader@hlj.example.org"), None, "{got:?}");
    let up = &to(&received, "leader@jl.example.org")[0];
    assert!(up.subject.contains("升级告警"), "{}", up.subject);
    assert!(
        up.text
            .contains("升级通知（第 1 级）：以下告警在规定时间内未获吉林省确认"),
        "{}",
        up.text
    );
    assert!(up.text.contains("黑龙江省 已确认（王强"), "{}", up.text);

    let v = p.alert_reader().unwrap().alert(&id).unwrap();
    assert_eq!(v.ack(Province::Heilongjiang).unwrap().by, "王强");
    assert!(v.ack(Province::Jilin).is_none());
    let levels: Vec<u8> = v
        .provinces_state
        .iter()
        .map(|s| s.escalation_level)
        .collect();
    assert_eq!(levels, vec![0, 1]);
    p.stop_alerts().await;
    let (code, out, _) = p.cli(&["alerts", "show", &id]);
    assert_eq!(code, 0);
    assert!(
        out.contains("escalated") && out.contains("escalation_stopped") && out.contains("王强"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silence_suppresses_notification_and_is_visible() {
    let mut p = Pipeline::builder()
        .with_alerts_process(AlertsFile::new(1))
        .start()
        .await;
    wait_until(Duration::from_secs(20), "the alert store created", || {
        p.alerts_db().exists()
    })
    .await;
    let (code, out, err) = p.cli(&[
        "alerts",
        "silence",
        "add",
        "--match",
        "subject=LLH-YS",
        "--duration",
        "4h",
        "--by",
        "张伟",
        "--reason",
        "榆树站房维护",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let silence_id: String = out
        .split("已创建静默 ")
        .nth(1)
        .map(|s| s.chars().take(8).collect())
        .unwrap_or_default();
    assert_eq!(silence_id.len(), 8, "{out}");

    // The service reads the silences right after each event, before it notifies anyone, so
    // the event can follow at once.
    let e = exceedance("sil-1", EventStatus::Firing, "LLH-YS", "NH3N", minute(0));
    p.publish("it-e-pub", vec![message(&e)]).await;
    wait_until(Duration::from_secs(20), "the alert firing", || {
        !p.alert_views(StateFilter::Firing).is_empty()
    })
    .await;
    let audited = |kind: &str| {
        p.alert_reader()
            .and_then(|r| r.audit(&Default::default()).ok())
            .is_some_and(|rows| rows.iter().any(|r| r.kind == kind))
    };
    // At group_wait the service holds the notification back and records that.
    wait_until(
        Duration::from_secs(20),
        "the notification suppressed at group_wait",
        || audited("notification_suppressed"),
    )
    .await;
    // A group interval later it would notify if it lost the silence; an interval that sends
    // nothing leaves no trace to wait for, so this waits one interval (2 s) and a tick.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(p.smtp().count(), 0, "silenced");
    let (_, out, _) = p.cli(&["alerts", "list"]);
    assert!(out.contains(&format!("静默 {silence_id}")), "{out}");
    let (_, out, _) = p.cli(&["alerts", "silence", "list"]);
    assert!(
        out.contains(&silence_id)
            && out.contains("生效中")
            && out.contains("张伟")
            && out.contains("榆树站房维护"),
        "{out}"
    );

    // Ending the silence lets the alert through at the next group interval.
    let (code, _, _) = p.cli(&["alerts", "silence", "expire", &silence_id, "--by", "张伟"]);
    assert_eq!(code, 0);
    wait_until(
        Duration::from_secs(20),
        "notified after the silence",
        || p.smtp().count() >= 1,
    )
    .await;
    p.stop_alerts().await;
    let audit = p
        .alert_reader()
        .unwrap()
        .audit(&Default::default())
        .unwrap();
    let kinds: Vec<&str> = audit.iter().map(|r| r.kind.as_str()).collect();
    assert!(kinds.contains(&"silence_created"), "{kinds:?}");
    assert!(kinds.contains(&"notification_suppressed"), "{kinds:?}");
    assert!(kinds.contains(&"silence_expired"), "{kinds:?}");
    assert!(
        audit
            .iter()
            .any(|r| r.kind == "silence_created" && r.actor == "张伟")
    );
}

/// Every (recipient, alert) delivered, judged by Message-ID.
fn deliveries(received: &[Received]) -> BTreeMap<String, usize> {
    message_id_counts(received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_outage_is_retried_until_every_notification_is_delivered_exactly_once() {
    let mut p = Pipeline::builder()
        .with_alerts_process(AlertsFile::new(1).extra(
            "group_by = [\"...\"]\n[alerts.routing.HLJ]\nrecipients = [{ id = \"hlj-duty\", name = \"黑龙江省生态环境厅应急值班室\", kind = \"department\", email = [\"duty@hlj.example.org\"] }]\n[alerts.routing.JL]\nrecipients = [{ id = \"jl-duty\", name = \"吉林省生态环境厅应急值班室\", kind = \"department\", email = [\"duty@jl.example.org\"] }]\n",
        ))
        .start()
        .await;
    p.smtp_mut().stop(); // the relay is down before the first event
    let stations = [
        "LLH-NTS", "LLH-LLZ", "LLH-YS", "LLH-CJG", "LLH-HK", "SHJ-ZY",
    ];
    let events: Vec<_> = stations
        .iter()
        .enumerate()
        .map(|(i, s)| {
            message(&exceedance(
                &format!("out-{i}"),
                EventStatus::Firing,
                s,
                "NH3N",
                minute(0),
            ))
        })
        .collect();
    p.publish("it-f-pub", events).await;
    // All 12 retrying during the outage; the relay stays down until each one has failed
    // again on a retry.
    for (attempts, what) in [
        (1, "all 12 notifications retrying during the outage"),
        (2, "every notification retried during the outage"),
    ] {
        wait_until(Duration::from_secs(30), what, || {
            let n = p.notifications();
            n.len() == 12
                && n.iter()
                    .all(|x| x.status == DeliveryStatus::Retrying && x.attempts >= attempts)
        })
        .await;
    }
    p.smtp_mut().restart().unwrap();
    p.wait_emails(12, Duration::from_secs(30)).await;
    let received = p.smtp().received();
    let ids = deliveries(&received);
    assert_eq!(ids.len(), 12, "{ids:?}");
    assert!(ids.values().all(|n| *n == 1), "exactly once: {ids:?}");
    let log = p.notifications();
    assert!(
        log.iter()
            .all(|n| n.status == DeliveryStatus::Sent && n.attempts >= 2),
        "{log:?}"
    );
    assert!(
        log.iter()
            .all(|n| n.last_reply.as_deref().unwrap_or("").starts_with("250")),
        "{log:?}"
    );
    p.stop_alerts().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_service_mid_stream_loses_nothing_and_sends_nothing_twice() {
    let mut p = Pipeline::builder()
        .with_alerts_process(AlertsFile::new(0).extra("group_by = [\"...\"]\n"))
        .start()
        .await;
    let stations = [
        "LLH-NTS", "LLH-LLZ", "LLH-YS", "LLH-CJG", "LLH-HK", "SHJ-ZY",
    ];
    let params = ["NH3N", "TP", "CODMn", "COD", "BOD5"];
    let mut events = Vec::new();
    for s in stations {
        for param in params {
            events.push(message(&exceedance(
                &format!("kill-{s}-{param}"),
                EventStatus::Firing,
                s,
                param,
                minute(0),
            )));
        }
    }
    let n_alerts = events.len();
    p.publish("it-g-pub", events).await;
    // Kill as soon as some (not all) emails went out.
    wait_until(Duration::from_secs(60), "the first 10 emails", || {
        p.smtp().count() >= 10
    })
    .await;
    p.alerts_process().kill9();
    let at_kill = p.smtp().count();
    p.alerts_process().restart();
    wait_until(
        Duration::from_secs(90),
        "every notification sent after the restart",
        || {
            let n = p.notifications();
            n.iter().all(|x| x.status == DeliveryStatus::Sent)
                && !n.is_empty()
                && p.alert_views(StateFilter::Firing).len() == n_alerts
        },
    )
    .await;
    // A notification decided twice would go out at the next group interval (2 s); nothing
    // marks its absence, so this waits one interval.
    tokio::time::sleep(Duration::from_secs(2)).await;
    p.stop_alerts().await;
    let received = p.smtp().received();
    let log = p.notifications();
    // Each boundary section reaches both duty offices, the bureau of its city and both
    // Lalin (or Songhua) river-chief offices; nothing was decided twice.
    let mut per_recipient_alert = BTreeMap::new();
    for n in &log {
        for a in &n.alert_ids {
            *per_recipient_alert
                .entry((n.recipient_id.clone(), a.clone()))
                .or_insert(0) += 1;
        }
    }
    assert!(
        per_recipient_alert.values().all(|c| *c == 1),
        "a notification was decided twice"
    );
    let ids = deliveries(&received);
    let logged: BTreeSet<String> = log.iter().map(|n| n.message_id.clone()).collect();
    assert_eq!(
        ids.keys().cloned().collect::<BTreeSet<_>>(),
        logged,
        "every decided email arrived, nothing else"
    );
    let dups: usize = ids.values().map(|n| n - 1).sum();
    // A kill between the relay's 250 and the commit of `sent` resends that one message with
    // the same Message-ID; four deliveries run in parallel, so at most four.
    assert!(
        dups <= 4,
        "{dups} duplicates (emails before the kill: {at_kill})"
    );
    let (code, out, _) = p.cli(&["audit", "verify"]);
    assert_eq!(code, 0, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_finds_a_tampered_row() {
    let mut p = Pipeline::builder()
        .with_alerts_process(AlertsFile::new(1))
        .start()
        .await;
    let e = exceedance("aud-1", EventStatus::Firing, "LLH-CJG", "NH3N", minute(0));
    p.publish("it-h-pub", vec![message(&e)]).await;
    p.wait_emails(5, Duration::from_secs(30)).await;
    p.stop_alerts().await;
    let (code, out, _) = p.cli(&["audit", "verify"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("审计链完整"), "{out}");

    // Someone rewrites who was notified in row 3, after dropping the append-only trigger.
    let conn = rusqlite::Connection::open(p.alerts_db()).unwrap();
    assert!(
        conn.execute("UPDATE audit SET actor = 'x' WHERE seq = 3", [])
            .is_err(),
        "append-only"
    );
    conn.execute_batch("DROP TRIGGER audit_no_update;").unwrap();
    conn.execute(
        "UPDATE audit SET detail = replace(detail, 'example.org', 'example.net') WHERE seq = 3",
        [],
    )
    .unwrap();
    drop(conn);
    let (code, out, err) = p.cli(&["audit", "verify"]);
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("审计链在第 3 条记录处断开"), "{err}");
    assert!(err.contains("内容与哈希不符"), "{err}");
    let (_, _, err) = p.cli(&["--lang", "en", "audit", "verify"]);
    assert!(err.contains("broken at row 3"), "{err}");
}

/// A third-party SMTP server in its own process: Python's `smtpd` (Python 3.11, on every
/// machine here), printing each message it accepts.
struct PythonSmtpd {
    child: std::process::Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl PythonSmtpd {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.path().join("smtpd.out");
        let child = Command::new("python3")
            .args([
                "-u",
                "-W",
                "ignore",
                "-m",
                "smtpd",
                "-n",
                "-c",
                "DebuggingServer",
            ])
            .arg(format!("127.0.0.1:{port}"))
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 with the smtpd module (Python 3.11)");
        Self {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    fn messages(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for PythonSmtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_goes_through_a_third_party_smtp_server_process() {
    let smtpd = PythonSmtpd::start();
    wait_until(Duration::from_secs(10), "smtpd listening", || {
        std::net::TcpStream::connect(("127.0.0.1", smtpd.port)).is_ok()
    })
    .await;
    let url = format!("smtp://127.0.0.1:{}", smtpd.port);
    let mut p = Pipeline::builder()
        .with_alerts_process(AlertsFile::new(0).smtp_url(&url))
        .start()
        .await;
    let e = exceedance("py-1", EventStatus::Firing, "LLH-CJG", "NH3N", minute(0));
    p.publish("it-py-pub", vec![message(&e)]).await;
    wait_until(Duration::from_secs(30), "five notifications sent", || {
        let n = p.notifications();
        n.len() == 5 && n.iter().all(|x| x.status == DeliveryStatus::Sent)
    })
    .await;
    p.stop_alerts().await;
    let out = smtpd.messages();
    assert_eq!(out.matches("MESSAGE FOLLOWS").count(), 5, "{out}");
    for addr in [
        "duty@hlj.example.org",
        "duty@jl.example.org",
        "lalin-hzb@jl.example.org",
    ] {
        assert!(out.contains(addr), "{addr}");
    }
    assert!(out.contains("Message-ID: <rw-"), "{out}");
    let log = p.notifications();
    assert!(
        log.iter()
            .all(|n| n.last_reply.as_deref().unwrap_or("").starts_with("250")),
        "{log:?}"
    );
}

/// The addresses the built-in recipients give 蔡家沟 (LLH-CJG, a Jilin boundary section on
/// the Lalin): both duty offices, Songyuan's bureau (扶余市) and both provinces' Lalin
/// river-chief offices.
const CJG_RECIPIENTS: [&str; 5] = [
    "duty@hlj.example.org",
    "lalin-hzb@hlj.example.org",
    "duty@jl.example.org",
    "songyuan@jl.example.org",
    "lalin-hzb@jl.example.org",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_reading_above_the_limit_at_a_boundary_section_sends_one_email_per_recipient() {
    // The whole chain: a station's reading through mosquitto, ingest (SQLite) and analytics
    // to the alert service with the built-in routing and timings, on the manual clock.
    let mut p = Pipeline::builder()
        .with_ingest("it-one-ingest")
        .with_analytics("it-one-analytics")
        .with_alerts(AlertsConfig {
            tick_ms: 50,
            ..AlertsConfig::default()
        })
        .start()
        .await;
    // NH3-N 1.62 mg/L: above the Class III limit of 1.0 mg/L and within Class V (1.5 <
    // c ≤ 2.0, GB 3838-2002 Table 1), (1.62 − 1.0) / 1.0 = 0.62 times over. Analytics
    // raises the parameter alert and the section's class alert (Class V against III).
    let t0 = minute(0) - chrono::Duration::hours(9);
    p.publish(
        "it-one-pub",
        vec![json_obs("LLH-CJG", t0, &[("NH3N", 1.62)])],
    )
    .await;
    let rules = |views: &[riverwatch_alerts::model::AlertView]| -> BTreeSet<Rule> {
        views.iter().map(|v| v.alert.rule).collect()
    };
    wait_until(
        Duration::from_secs(30),
        Later(|| {
            format!(
                "both alerts firing (now {:?})",
                rules(&p.alert_views(StateFilter::Firing))
            )
        }),
        || {
            rules(&p.alert_views(StateFilter::Firing))
                == [Rule::SectionBelowTarget, Rule::ParameterExceedance].into()
        },
    )
    .await;
    let firing = p.alert_views(StateFilter::Firing);
    let find = |rule: Rule| {
        firing
            .iter()
            .find(|v| v.alert.rule == rule)
            .unwrap()
            .alert
            .clone()
    };
    let param = find(Rule::ParameterExceedance);
    let section = find(Rule::SectionBelowTarget);
    assert_eq!(section.inhibited_by.as_deref(), Some(param.id.as_str()));

    // group_wait (30 s) later: one email per recipient, for the whole problem.
    p.advance(30);
    p.wait_emails(5, Duration::from_secs(20)).await;
    // Another notification would be decided on the same tick; give the service a few.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = p.smtp().received();
    let got = addresses(&received);
    assert_eq!(
        got.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        CJG_RECIPIENTS.into(),
        "{got:?}"
    );
    assert!(got.values().all(|n| *n == 1), "one email each: {got:?}");
    for addr in CJG_RECIPIENTS {
        let mail = &to(&received, addr)[0];
        for needle in [
            "蔡家沟（拉林河）",
            "氨氮（NH3N）",
            "1.62 mg/L（限值 1 mg/L，超标 0.62 倍）",
            "断面水质未达目标 Ⅴ类（目标 Ⅲ类）",
        ] {
            assert!(
                mail.subject.contains(needle),
                "{addr}: {needle} in {}",
                mail.subject
            );
        }
        for needle in [
            "监测值：1.62 mg/L",
            "限值：1 mg/L（Ⅲ类标准）",
            "超标倍数：0.62",
            &format!(
                "关联告警（不单独通知）：蔡家沟（拉林河） 断面水质未达目标 [{}]：Ⅴ类（目标 Ⅲ类）",
                section.id
            ),
            "原因：抑制规则 parameter_over_section",
            "审计链头：#",
        ] {
            assert!(
                mail.text.contains(needle),
                "{addr} lacks `{needle}`:\n{}",
                mail.text
            );
        }
        assert!(mail.html.contains("断面水质未达目标"), "HTML part");
    }

    // Both alerts are listed; the section's says why it was not sent on its own, and it
    // takes an acknowledgement like any other.
    let (code, out, _) = p.cli(&["alerts", "list"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(&param.id) && out.contains(&section.id),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "附属于 {}（抑制规则 parameter_over_section）",
            param.id
        )),
        "{out}"
    );
    let (code, out, _) = p.cli(&["alerts", "show", &section.id]);
    assert_eq!(code, 0);
    assert!(out.contains("未单独通知"), "{out}");
    assert!(out.contains(&param.id), "{out}");
    // The notifications that carried it, one per recipient.
    assert!(
        out.contains("hlj-duty") && out.contains("jl-hzb-lalin"),
        "{out}"
    );
    let carried = p
        .alert_reader()
        .unwrap()
        .notifications(&riverwatch_alerts::reader::NotificationQuery {
            alert_id: Some(section.id.clone()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(carried.len(), 5, "{carried:?}");
    let (code, out, err) = p.cli(&[
        "alerts",
        "ack",
        &section.id,
        "--province",
        "JL",
        "--by",
        "李娜",
    ]);
    assert_eq!(code, 0, "{out}{err}");

    // Two readings clearly back within the limit end both (clear after 2 readings at least
    // 5 % inside it): one resolution email per recipient, saying so for both.
    p.publish(
        "it-one-pub",
        vec![
            json_obs("LLH-CJG", t0 + chrono::Duration::hours(4), &[("NH3N", 0.3)]),
            json_obs("LLH-CJG", t0 + chrono::Duration::hours(8), &[("NH3N", 0.3)]),
        ],
    )
    .await;
    wait_until(Duration::from_secs(30), "both alerts resolved", || {
        p.alert_views(StateFilter::Firing).is_empty()
            && p.alert_views(StateFilter::Resolved).len() == 2
    })
    .await;
    p.advance(300);
    p.wait_emails(10, Duration::from_secs(20)).await;
    // The section alert, released when the parameter alert resolved, would go out on its
    // own a group_wait later if it had not resolved too.
    p.advance(30);
    tokio::time::sleep(Duration::from_millis(500)).await;
    p.advance(300);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = p.smtp().received();
    assert_eq!(received.len(), 10, "{:?}", addresses(&received));
    for addr in CJG_RECIPIENTS {
        let mails = to(&received, addr);
        assert_eq!(mails.len(), 2, "{addr}");
        let r = &mails[1];
        for needle in [
            "已恢复",
            "氨氮（NH3N）",
            "0.3 mg/L（限值 1 mg/L）",
            "断面水质已达标 Ⅱ类（目标 Ⅲ类）",
        ] {
            assert!(
                r.subject.contains(needle),
                "{addr}: {needle} in {}",
                r.subject
            );
        }
        assert!(r.text.contains(&section.id), "{}", r.text);
    }
    p.stop_alerts().await;
    let (code, out, _) = p.cli(&["audit", "verify"]);
    assert_eq!(code, 0, "{out}");
}

/// The anchor (`#seq hash`) an email carries, as `seq:hash`.
fn anchor_of(mail: &ParsedMail) -> (i64, String) {
    let rest = mail
        .text
        .split("审计链头：#")
        .nth(1)
        .unwrap_or_else(|| panic!("no audit head in:\n{}", mail.text));
    let mut parts = rest.split([' ', '（']);
    let seq = parts.next().unwrap().parse().unwrap();
    let hash = parts.next().unwrap().to_string();
    assert!(
        mail.html.contains(&format!("#{seq} {hash}")),
        "the HTML part carries the same head"
    );
    (seq, hash)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_head_in_an_email_shows_rows_deleted_from_the_end() {
    let mut p = Pipeline::builder()
        .with_alerts_process(AlertsFile::new(1))
        .start()
        .await;
    let e = exceedance("head-1", EventStatus::Firing, "LLH-CJG", "NH3N", minute(0));
    p.publish("it-head-pub", vec![message(&e)]).await;
    p.wait_emails(5, Duration::from_secs(30)).await;
    p.stop_alerts().await;
    let received = p.smtp().received();
    let mails: Vec<ParsedMail> = received.iter().map(Received::parsed).collect();
    // Each email's head is the audit row recording that very email.
    let reader = p.alert_reader().unwrap();
    let rows = reader.audit(&Default::default()).unwrap();
    let mut heads = Vec::new();
    for m in &mails {
        let (seq, hash) = anchor_of(m);
        assert_eq!(hash.len(), 20, "80 bits");
        let row = rows.iter().find(|r| r.seq == seq).unwrap();
        assert!(row.hash.starts_with(&hash));
        assert_eq!(row.kind, "notification_queued");
        let detail: serde_json::Value = serde_json::from_str(&row.detail).unwrap();
        assert_eq!(
            detail["message_id"],
            m.message_id.as_str(),
            "{}",
            row.detail
        );
        heads.push((seq, hash));
    }
    let (seq, hash) = heads.iter().max().unwrap().clone();
    let head = format!("{seq}:{hash}");
    let (code, out, err) = p.cli(&["audit", "verify", "--head", &head]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("包含链头 #{seq} {hash}")), "{out}");
    // As the email shows it, too.
    let (code, _, _) = p.cli(&["audit", "verify", "--head", &format!("#{seq} {hash}")]);
    assert_eq!(code, 0);

    // Someone deletes the last rows (from the newest email's record on), dropping the
    // append-only trigger first.
    let conn = rusqlite::Connection::open(p.alerts_db()).unwrap();
    assert!(
        conn.execute("DELETE FROM audit WHERE seq >= ?1", [seq])
            .is_err(),
        "append-only"
    );
    conn.execute_batch("DROP TRIGGER audit_no_delete;").unwrap();
    let deleted = conn
        .execute("DELETE FROM audit WHERE seq >= ?1", [seq])
        .unwrap();
    assert!(deleted >= 1);
    drop(conn);
    // What is left is a valid chain: plain verification cannot tell.
    let (code, out, _) = p.cli(&["audit", "verify"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("审计链完整"), "{out}");
    // The head from the email can.
    let (code, out, err) = p.cli(&["audit", "verify", "--head", &head]);
    assert_eq!(code, 2, "{out}");
    assert!(
        err.contains(&format!("审计链不包含链头 #{seq} {hash}")) && err.contains("末尾被截短"),
        "{err}"
    );
    let (code, _, err) = p.cli(&["--lang", "en", "audit", "verify", "--head", &head]);
    assert_eq!(code, 2);
    assert!(err.contains("no longer contains head"), "{err}");
    // An earlier email's head is still there.
    let (earlier, h) = heads.iter().min().unwrap().clone();
    if earlier < seq {
        let (code, out, err) = p.cli(&["audit", "verify", "--head", &format!("{earlier}:{h}")]);
        assert_eq!(code, 0, "{out}{err}");
    }
    // A head that is not one is refused in both languages.
    let (code, _, err) = p.cli(&["audit", "verify", "--head", "12:abc"]);
    assert_eq!(code, 2);
    assert!(err.contains("--head `12:abc` 格式有误"), "{err}");
}

/// A relay that accepts connections and never says a word (a hung mail server): every
/// delivery waits for its greeting until the SMTP timeout.
struct SilentRelay {
    port: u16,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SilentRelay {
    fn start() -> Self {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (a, s) = (accepted.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        a.fetch_add(1, Ordering::SeqCst);
                        held.push(conn);
                    }
                    // Nothing to await here: the listener is polled until the test ends.
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self {
            port,
            accepted,
            stop,
            thread: Some(thread),
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for SilentRelay {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_with_a_hung_relay_stops_promptly_and_keeps_every_notification() {
    let relay = SilentRelay::start();
    let port = relay.port;
    let mut p = Pipeline::builder()
        .with_alerts_process(
            AlertsFile::new(0)
                .smtp_url(&format!("smtp://127.0.0.1:{port}"))
                .extra(
                    // A relay that hangs is waited for 10 minutes per message.
                    "group_by = [\"...\"]\nsmtp_timeout_secs = 600\n[alerts.routing.HLJ]\nrecipients = [{ id = \"hlj-duty\", name = \"黑龙江省生态环境厅应急值班室\", kind = \"department\", email = [\"duty@hlj.example.org\"] }]\n[alerts.routing.JL]\nrecipients = [{ id = \"jl-duty\", name = \"吉林省生态环境厅应急值班室\", kind = \"department\", email = [\"duty@jl.example.org\"] }]\n",
                ),
        )
        .start()
        .await;
    let stations = ["LLH-NTS", "LLH-LLZ", "LLH-YS"];
    let events: Vec<_> = stations
        .iter()
        .enumerate()
        .map(|(i, s)| {
            message(&exceedance(
                &format!("hung-{i}"),
                EventStatus::Firing,
                s,
                "NH3N",
                minute(0),
            ))
        })
        .collect();
    p.publish("it-hung-pub", events).await;
    wait_until(
        Duration::from_secs(30),
        "six notifications queued, deliveries waiting on the relay",
        || p.notifications().len() == 6 && relay.accepted() >= 1,
    )
    .await;
    let started = std::time::Instant::now();
    let status = p.alerts_process().interrupt();
    let took = started.elapsed();
    assert!(status.success(), "{status:?}");
    // The senders drain for at most 10 s; the hung relay's 600 s are not waited for.
    assert!(took < Duration::from_secs(20), "shutdown took {took:?}");
    let log = p.notifications();
    assert_eq!(log.len(), 6, "{log:?}");
    assert!(
        log.iter()
            .all(|n| matches!(n.status, DeliveryStatus::Queued | DeliveryStatus::Retrying)),
        "nothing given up: {log:?}"
    );
    // The relay comes back on the same port: the restarted service delivers all six once.
    drop(relay);
    let server = riverwatch_testkit::SmtpServer::start_on(port).unwrap();
    p.alerts_process().restart();
    wait_until(
        Duration::from_secs(30),
        "all six delivered after the restart",
        || {
            server.count() >= 6
                && p.notifications()
                    .iter()
                    .all(|n| n.status == DeliveryStatus::Sent)
        },
    )
    .await;
    let ids = deliveries(&server.received());
    let logged: BTreeSet<String> = log.iter().map(|n| n.message_id.clone()).collect();
    assert_eq!(ids.keys().cloned().collect::<BTreeSet<_>>(), logged);
    assert!(ids.values().all(|n| *n == 1), "{ids:?}");
    p.stop_alerts().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_store_at_start_is_refused_by_name_and_left_as_it_is() {
    let p = Pipeline::builder().start().await;
    let data = p.data_dir();
    std::fs::create_dir_all(&data).unwrap();
    // Not a database: 8 KiB that do not start with SQLite's header.
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 + 13) as u8).collect();
    // Analytics reads the readings store: a sound one, until its own turn comes.
    drop(
        riverwatch_ingest::store::SqliteStore::open(
            &p.readings_db(),
            &riverwatch_ingest::store::sqlite::test_sqlite_config(),
        )
        .unwrap(),
    );
    for (command, file) in [
        ("analytics", "analytics.db"),
        ("alerts", "alerts.db"),
        ("ingest", "readings.db"),
    ] {
        let path = data.join(file);
        std::fs::write(&path, &garbage).unwrap();
        let (code, _, err) = p.cli(&["--lang", "en", command]);
        assert_eq!(code, 2, "{command}: {err}");
        assert!(err.contains(file), "{command} names the file: {err}");
        assert!(
            err.contains("move it aside"),
            "{command} says what to do: {err}"
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            garbage,
            "{command} left {file} as it was"
        );
    }
}

/// The base64 body of the attachment named `file_name` in a raw email.
fn attachment_bytes(raw: &str, file_name: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let raw = raw.replace("\r\n", "\n");
    // The name also appears in the HTML part (quoted-printable, so only when no soft line
    // break falls inside it): look for it after the attachment's header.
    let header = raw.find("Content-Disposition: attachment")?;
    let at = header + raw[header..].find(file_name)?;
    let rest = &raw[at..];
    let body = &rest[rest.find("\n\n")? + 2..];
    let end = body.find("\n--")?;
    let compact: String = body[..end].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sent_report_arrives_once_with_its_workbook_attached() {
    let p = Pipeline::builder()
        .with_alerts_process(AlertsFile::new(1))
        .start()
        .await;
    // An evaluation store without evaluations yet: the report lists the sections unjudged.
    drop(riverwatch_analytics::store::AnalyticsStore::open(&p.analytics_db()).unwrap());
    let send = |to: &str| {
        p.cli(&[
            "report",
            "--period",
            "month",
            "--date",
            "2026-11-15",
            "--river",
            "lalin",
            "--send",
            "--to",
            to,
        ])
    };
    let (code, out, err) = send("lalin-hzb@hlj.example.org");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("已加入发送队列"), "{out}");
    p.wait_emails(1, Duration::from_secs(30)).await;

    // The same report to the same recipient again: nothing new is queued.
    let (code, out, err) = send("lalin-hzb@hlj.example.org");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("此前已加入队列"), "{out}");
    // Another recipient afterwards; once it has arrived, the outbox held nothing else.
    let (code, out, err) = send("lalin-hzb@jl.example.org");
    assert_eq!(code, 0, "{out}{err}");
    p.wait_emails(2, Duration::from_secs(30)).await;
    let received = p.smtp().received();
    assert_eq!(
        addresses(&received).get("lalin-hzb@hlj.example.org"),
        Some(&1)
    );
    assert_eq!(received.len(), 2);

    let mails = to(&received, "lalin-hzb@hlj.example.org");
    let mail = &mails[0];
    assert_eq!(mail.subject, "拉林河 2026年11月 月报");
    assert!(
        mail.html
            .contains("拉林河 河长制水质月报（2026-11-01 至 2026-11-30）"),
        "{}",
        mail.html
    );
    assert!(mail.text.contains("完整报表见附件"), "{}", mail.text);
    let raw = &received
        .iter()
        .find(|r| r.to.iter().any(|t| t.contains("lalin-hzb@hlj")))
        .unwrap()
        .data;
    assert!(raw.contains("multipart/mixed"), "{raw}");
    let xlsx = attachment_bytes(raw, "riverwatch-month-2026-11-01-lalin.xlsx")
        .unwrap_or_else(|| panic!("the workbook is attached: {raw}"));
    assert!(xlsx.starts_with(b"PK\x03\x04"), "a ZIP file");
    assert!(xlsx.len() > 1000, "{} bytes", xlsx.len());
}
