//! Alerts end to end on a manual clock: grouping holds a burst to one email and the repeat
//! interval resends, one province's acknowledgement stops only its escalation, a silence
//! suppresses notification and is visible.

use std::time::Duration;

use riverwatch_alerts::AlertsConfig;
use riverwatch_alerts::config::Routing;
use riverwatch_alerts::reader::StateFilter;
use riverwatch_core::Province;
use riverwatch_core::events::EventStatus;

use crate::alerts::{addresses, exceedance, message, minute, to};
use crate::fixture::*;
use crate::util::*;

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
