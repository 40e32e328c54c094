//! The alert service end to end: a real mosquitto, a real SMTP server on loopback, the
//! `riverwatch` binary (or the service in-process on a manual clock), and the alert store.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use riverwatch_alerts::config::Routing;
use riverwatch_alerts::model::{AlertView, DeliveryStatus};
use riverwatch_alerts::reader::{AlertQuery, AlertReader, NotificationQuery, StateFilter};
use riverwatch_alerts::testing::{ParsedMail, Received, SmtpServer, base_event, message_id_counts};
use riverwatch_alerts::{AlertsArgs, AlertsConfig};
use riverwatch_core::Province;
use riverwatch_core::class::WaterClass;
use riverwatch_core::events::{Attribution, Event, EventStatus, Rule, Severity};
use riverwatch_core::mqtt::MqttConfig;
use riverwatch_core::testing::{Mosquitto, MosquittoOptions};
use riverwatch_core::time::{ManualClock, SystemClock};
use rumqttc::{AsyncClient, Event as MqttEvent, Incoming, QoS};
use tokio_util::sync::CancellationToken;

use crate::util::*;

const CLIENT_ID: &str = "riverwatch-alerts";

/// Creates the alert service's persistent session before anything is published, as a
/// deployment does once: the broker then queues every event for it, even while it is down.
async fn prime_session(url: &str, client_id: &str) {
    let opts = MqttConfig::with_url(url).options(client_id, false).unwrap();
    let (client, mut eventloop) = AsyncClient::new(opts, 10);
    client
        .subscribe("rw/v1/events/+", QoS::AtLeastOnce)
        .await
        .unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), eventloop.poll()).await {
            Ok(Ok(MqttEvent::Incoming(Incoming::SubAck(_)))) => break,
            Ok(Ok(_)) => {}
            other => panic!("priming session failed: {other:?}"),
        }
    }
    client.disconnect().await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Ok(ev) = eventloop.poll().await {
            if matches!(ev, MqttEvent::Outgoing(rumqttc::Outgoing::Disconnect)) {
                break;
            }
        }
    })
    .await;
}

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

fn message(e: &Event) -> (String, Vec<u8>) {
    (
        format!("rw/v1/events/{}", e.subject),
        serde_json::to_vec(e).unwrap(),
    )
}

/// A configuration file for child processes: fast timings, email through `smtp`.
fn write_alerts_config(
    dir: &Path,
    mqtt: &str,
    smtp: &str,
    group_wait_secs: u64,
    extra: &str,
) -> PathBuf {
    let path = dir.join("riverwatch.toml");
    std::fs::write(
        &path,
        format!(
            "[mqtt]\nurl = \"{mqtt}\"\n\n[alerts]\nsmtp_url = \"{smtp}\"\nconsole_url = \"https://console.example.org\"\n\
             group_wait_secs = {group_wait_secs}\ngroup_interval_secs = 2\nrepeat_interval_secs = 3600\nretry_initial_secs = 1\n\
             retry_max_secs = 2\ntick_ms = 100\n{extra}\n"
        ),
    )
    .unwrap();
    path
}

/// Runs a `riverwatch` command to completion: (exit code, stdout, stderr).
fn cli(config: &Path, data: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(riverwatch_bin())
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env("RIVERWATCH_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn service(config: &Path, data: &Path) -> ChildProcess {
    ChildProcess::spawn(&[
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "alerts",
    ])
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

fn views(data: &Path, state: StateFilter) -> Vec<AlertView> {
    match AlertReader::open(&data.join("alerts.db"), Arc::new(SystemClock)) {
        Ok(r) => r
            .alerts(&AlertQuery {
                state,
                ..AlertQuery::default()
            })
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    }
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
    let broker = Mosquitto::start().unwrap();
    let smtp = SmtpServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_alerts_config(dir.path(), &broker.url(), &smtp.url(), 1, "");
    prime_session(&broker.url(), CLIENT_ID).await;
    let mut child = service(&config, &data);

    let t0 = minute(0);
    let e = exceedance("ev-cjg-1", EventStatus::Firing, "LLH-CJG", "NH3N", t0);
    publish_all(&broker.url(), "it-a-pub", vec![message(&e)]).await;
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
    assert!(
        smtp.wait_for(5, Duration::from_secs(30)),
        "got {}",
        smtp.count()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = smtp.received();
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
    let alert = views(&data, StateFilter::Firing).remove(0);
    assert!(received[0].parsed().text.contains(&alert.alert.id));
    let state = retained_state(&broker.url(), &alert.alert.id).await;
    assert_eq!(state["status"], "firing");
    assert_eq!(state["provinces_state"][0]["role"], "equal");

    let (code, out, _) = cli(&config, &data, &["alerts", "list"]);
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
    publish_all(&broker.url(), "it-a-pub", vec![message(&r)]).await;
    assert!(
        smtp.wait_for(10, Duration::from_secs(30)),
        "got {}",
        smtp.count()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = smtp.received();
    for addr in &want {
        let mails = to(&received, addr);
        assert_eq!(mails.len(), 2, "{addr}");
        assert!(mails[1].subject.contains("已恢复"), "{}", mails[1].subject);
        assert!(mails[1].text.contains("恢复时间："), "{}", mails[1].text);
    }
    assert_eq!(child.interrupt_and_wait().code(), Some(0));
    let (code, out, _) = cli(&config, &data, &["audit", "verify"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("审计链完整"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_internal_section_notifies_its_province_and_informs_the_other() {
    let broker = Mosquitto::start().unwrap();
    let smtp = SmtpServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_alerts_config(dir.path(), &broker.url(), &smtp.url(), 1, "");
    prime_session(&broker.url(), CLIENT_ID).await;
    let mut child = service(&config, &data);
    // 松原 on the Second Songhua: a Jilin section inside the province.
    let e = exceedance("ev-sy-1", EventStatus::Firing, "SH2-SY", "TP", minute(0));
    publish_all(&broker.url(), "it-b-pub", vec![message(&e)]).await;
    assert!(
        smtp.wait_for(4, Duration::from_secs(30)),
        "got {}",
        smtp.count()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = smtp.received();
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
    let v = views(&data, StateFilter::Firing).remove(0);
    let roles: Vec<_> = v
        .provinces_state
        .iter()
        .map(|p| (p.province, p.role))
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
    assert_eq!(child.interrupt_and_wait().code(), Some(0));
}

/// The alert service in this process, on a manual clock.
struct InProcess {
    token: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), riverwatch_alerts::Error>>,
    clock: Arc<ManualClock>,
}

impl InProcess {
    fn start(url: &str, data: &Path, config: AlertsConfig, clock: Arc<ManualClock>) -> Self {
        let _ = riverwatch_core::telemetry::init("warn");
        let token = CancellationToken::new();
        let args = AlertsArgs {
            config,
            mqtt: MqttConfig::with_url(url),
            registry: registry(),
            data_dir: data.to_path_buf(),
            lang: riverwatch_core::Lang::Zh,
            clock: clock.clone(),
        };
        let task = tokio::spawn(riverwatch_alerts::run(args, token.clone()));
        Self { token, task, clock }
    }

    fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    async fn stop(self) {
        self.token.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("alerts stop within 30 s")
            .expect("alerts task")
            .expect("alerts ran without error");
    }
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

fn manual_config(smtp: &SmtpServer) -> AlertsConfig {
    AlertsConfig {
        smtp_url: Some(smtp.url()),
        group_wait_secs: 30,
        group_interval_secs: 300,
        repeat_interval_secs: 3600,
        tick_ms: 50,
        routing: two_province_routing(86_400),
        ..AlertsConfig::default()
    }
}

/// Waits for the service to have applied `n` events.
async fn wait_applied(data: &Path, n: usize) {
    let db = data.join("alerts.db");
    let ok = wait_until(Duration::from_secs(20), || {
        rusqlite::Connection::open(&db)
            .and_then(|c| c.query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0)))
            .map(|c| c as usize >= n)
            .unwrap_or(false)
    })
    .await;
    assert!(ok, "events applied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grouping_holds_a_burst_to_one_email_and_the_repeat_interval_resends() {
    let broker = Mosquitto::start().unwrap();
    let smtp = SmtpServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Utc::now()));
    prime_session(&broker.url(), CLIENT_ID).await;
    let svc = InProcess::start(&broker.url(), dir.path(), manual_config(&smtp), clock);
    // A burst: three parameters of one section within seconds.
    let t = minute(0);
    let burst: Vec<_> = ["NH3N", "TP", "CODMn"]
        .iter()
        .enumerate()
        .map(|(i, p)| {
            message(&exceedance(
                &format!("burst-{i}"),
                EventStatus::Firing,
                "LLH-CJG",
                p,
                t,
            ))
        })
        .collect();
    publish_all(&broker.url(), "it-c-pub", burst).await;
    wait_applied(dir.path(), 3).await;
    svc.advance(29);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.count(), 0, "nothing before group_wait");
    svc.advance(1);
    assert!(smtp.wait_for(2, Duration::from_secs(10)));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = smtp.received();
    assert_eq!(
        received.len(),
        2,
        "one email per province for the whole burst"
    );
    for addr in ["duty@hlj.example.org", "duty@jl.example.org"] {
        let m = &to(&received, addr)[0];
        assert!(m.subject.contains("等 3 条"), "{}", m.subject);
        assert!(m.text.contains("告警中（3 条）"), "{}", m.text);
        for p in ["氨氮（NH3N）", "总磷（TP）", "高锰酸盐指数（CODMn）"] {
            assert!(m.text.contains(p), "{p}");
        }
    }
    // Nothing changes: quiet at each group interval until the repeat interval.
    for _ in 0..11 {
        svc.advance(300);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(smtp.count(), 2, "no resend before repeat_interval");
    svc.advance(300); // 30 s + 12 × 300 s ≥ 3600 s after the first notification
    assert!(smtp.wait_for(4, Duration::from_secs(10)), "repeat sent");
    let received = smtp.received();
    let repeat = received[2].parsed();
    assert!(repeat.subject.contains("重复提醒"), "{}", repeat.subject);
    assert!(repeat.text.contains("告警中（3 条）"));
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledgement_by_one_province_stops_only_its_escalation() {
    let broker = Mosquitto::start().unwrap();
    let smtp = SmtpServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let clock = Arc::new(ManualClock::new(Utc::now()));
    prime_session(&broker.url(), CLIENT_ID).await;
    let config = AlertsConfig {
        routing: two_province_routing(600),
        ..manual_config(&smtp)
    };
    let svc = InProcess::start(&broker.url(), &data, config, clock);
    let e = exceedance("esc-1", EventStatus::Firing, "LLH-HK", "NH3N", minute(0));
    publish_all(&broker.url(), "it-d-pub", vec![message(&e)]).await;
    wait_applied(&data, 1).await;
    svc.advance(30);
    assert!(smtp.wait_for(2, Duration::from_secs(10)));
    let id = views(&data, StateFilter::Firing).remove(0).alert.id;

    // Heilongjiang's duty officer acknowledges with the command line while the service runs.
    let cfg_file = write_alerts_config(dir.path(), &broker.url(), &smtp.url(), 1, "");
    let (code, out, err) = cli(
        &cfg_file,
        &data,
        &[
            "alerts",
            "ack",
            &id[..6],
            "--province",
            "HLJ",
            "--by",
            "王强",
            "--comment",
            "已派员核查",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("已确认"), "{out}");
    let (code, _, err) = cli(
        &cfg_file,
        &data,
        &["alerts", "ack", &id, "--province", "HLJ", "--by", "赵敏"],
    );
    assert_ne!(code, 0);
    assert!(err.contains("已确认") && err.contains("王强"), "{err}");
    tokio::time::sleep(Duration::from_millis(500)).await; // the service picks the ack up

    svc.advance(600);
    assert!(smtp.wait_for(3, Duration::from_secs(10)), "escalation sent");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = smtp.received();
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

    let v = AlertReader::open(&data.join("alerts.db"), Arc::new(SystemClock))
        .unwrap()
        .alert(&id)
        .unwrap();
    assert_eq!(v.ack(Province::Heilongjiang).unwrap().by, "王强");
    assert!(v.ack(Province::Jilin).is_none());
    let levels: Vec<u8> = v
        .provinces_state
        .iter()
        .map(|p| p.escalation_level)
        .collect();
    assert_eq!(levels, vec![0, 1]);
    svc.stop().await;
    let (code, out, _) = cli(&cfg_file, &data, &["alerts", "show", &id]);
    assert_eq!(code, 0);
    assert!(
        out.contains("escalated") && out.contains("escalation_stopped") && out.contains("王强"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silence_suppresses_notification_and_is_visible() {
    let broker = Mosquitto::start().unwrap();
    let smtp = SmtpServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_alerts_config(dir.path(), &broker.url(), &smtp.url(), 1, "");
    prime_session(&broker.url(), CLIENT_ID).await;
    let mut child = service(&config, &data);
    assert!(wait_until(Duration::from_secs(20), || data.join("alerts.db").exists()).await);
    let (code, out, err) = cli(
        &config,
        &data,
        &[
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
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let silence_id: String = out
        .split("已创建静默 ")
        .nth(1)
        .map(|s| s.chars().take(8).collect())
        .unwrap_or_default();
    assert_eq!(silence_id.len(), 8, "{out}");
    tokio::time::sleep(Duration::from_millis(500)).await;

    let e = exceedance("sil-1", EventStatus::Firing, "LLH-YS", "NH3N", minute(0));
    publish_all(&broker.url(), "it-e-pub", vec![message(&e)]).await;
    assert!(
        wait_until(Duration::from_secs(20), || !views(
            &data,
            StateFilter::Firing
        )
        .is_empty())
        .await
    );
    tokio::time::sleep(Duration::from_secs(4)).await; // past group_wait and an interval
    assert_eq!(smtp.count(), 0, "silenced");
    let (_, out, _) = cli(&config, &data, &["alerts", "list"]);
    assert!(out.contains(&format!("静默 {silence_id}")), "{out}");
    let (_, out, _) = cli(&config, &data, &["alerts", "silence", "list"]);
    assert!(
        out.contains(&silence_id)
            && out.contains("生效中")
            && out.contains("张伟")
            && out.contains("榆树站房维护"),
        "{out}"
    );

    // Ending the silence lets the alert through at the next group interval.
    let (code, _, _) = cli(
        &config,
        &data,
        &["alerts", "silence", "expire", &silence_id, "--by", "张伟"],
    );
    assert_eq!(code, 0);
    assert!(
        smtp.wait_for(1, Duration::from_secs(20)),
        "notified after the silence"
    );
    assert_eq!(child.interrupt_and_wait().code(), Some(0));
    let reader = AlertReader::open(&data.join("alerts.db"), Arc::new(SystemClock)).unwrap();
    let audit = reader.audit(&Default::default()).unwrap();
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
    let broker = Mosquitto::start().unwrap();
    let mut smtp = SmtpServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_alerts_config(
        dir.path(),
        &broker.url(),
        &smtp.url(),
        1,
        "group_by = [\"...\"]\n[alerts.routing.HLJ]\nrecipients = [{ id = \"hlj-duty\", name = \"黑龙江省生态环境厅应急值班室\", kind = \"department\", email = [\"duty@hlj.example.org\"] }]\n[alerts.routing.JL]\nrecipients = [{ id = \"jl-duty\", name = \"吉林省生态环境厅应急值班室\", kind = \"department\", email = [\"duty@jl.example.org\"] }]\n",
    );
    prime_session(&broker.url(), CLIENT_ID).await;
    smtp.stop(); // the relay is down from the start
    let mut child = service(&config, &data);
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
    publish_all(&broker.url(), "it-f-pub", events).await;
    let db = data.join("alerts.db");
    let retrying = wait_until(Duration::from_secs(30), || {
        AlertReader::open(&db, Arc::new(SystemClock))
            .and_then(|r| r.notifications(&NotificationQuery::default()))
            .map(|n| {
                n.len() == 12
                    && n.iter()
                        .all(|x| x.status == DeliveryStatus::Retrying && x.attempts >= 1)
            })
            .unwrap_or(false)
    })
    .await;
    assert!(retrying, "all 12 notifications retrying during the outage");
    tokio::time::sleep(Duration::from_secs(3)).await;
    smtp.restart().unwrap();
    assert!(
        smtp.wait_for(12, Duration::from_secs(30)),
        "got {}",
        smtp.count()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let received = smtp.received();
    let ids = deliveries(&received);
    assert_eq!(ids.len(), 12, "{ids:?}");
    assert!(ids.values().all(|n| *n == 1), "exactly once: {ids:?}");
    let log = AlertReader::open(&db, Arc::new(SystemClock))
        .unwrap()
        .notifications(&NotificationQuery::default())
        .unwrap();
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
    assert_eq!(child.interrupt_and_wait().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_service_mid_stream_loses_nothing_and_sends_nothing_twice() {
    let broker = Mosquitto::start_with(&MosquittoOptions::default()).unwrap();
    let smtp = SmtpServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_alerts_config(
        dir.path(),
        &broker.url(),
        &smtp.url(),
        0,
        "group_by = [\"...\"]\n",
    );
    prime_session(&broker.url(), CLIENT_ID).await;
    let mut child = service(&config, &data);
    let stations = [
        "LLH-NTS", "LLH-LLZ", "LLH-YS", "LLH-CJG", "LLH-HK", "SHJ-ZY",
    ];
    let params = ["NH3N", "TP", "CODMn", "COD", "BOD5"];
    let mut events = Vec::new();
    for s in stations {
        for p in params {
            events.push(message(&exceedance(
                &format!("kill-{s}-{p}"),
                EventStatus::Firing,
                s,
                p,
                minute(0),
            )));
        }
    }
    let n_alerts = events.len();
    publish_all(&broker.url(), "it-g-pub", events).await;
    // Kill as soon as some (not all) emails went out.
    assert!(smtp.wait_for(10, Duration::from_secs(60)));
    child.kill9();
    let at_kill = smtp.count();
    let mut child = service(&config, &data);
    let reader_db = data.join("alerts.db");
    let done = wait_until(Duration::from_secs(90), || {
        AlertReader::open(&reader_db, Arc::new(SystemClock))
            .and_then(|r| r.notifications(&NotificationQuery::default()))
            .map(|n| n.iter().all(|x| x.status == DeliveryStatus::Sent) && !n.is_empty())
            .unwrap_or(false)
            && views(&data, StateFilter::Firing).len() == n_alerts
    })
    .await;
    assert!(done, "every notification sent after the restart");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(child.interrupt_and_wait().code(), Some(0));
    let received = smtp.received();
    let log = AlertReader::open(&reader_db, Arc::new(SystemClock))
        .unwrap()
        .notifications(&NotificationQuery::default())
        .unwrap();
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
    let (code, out, _) = cli(&config, &data, &["audit", "verify"]);
    assert_eq!(code, 0, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_finds_a_tampered_row() {
    let broker = Mosquitto::start().unwrap();
    let smtp = SmtpServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_alerts_config(dir.path(), &broker.url(), &smtp.url(), 1, "");
    prime_session(&broker.url(), CLIENT_ID).await;
    let mut child = service(&config, &data);
    let e = exceedance("aud-1", EventStatus::Firing, "LLH-CJG", "NH3N", minute(0));
    publish_all(&broker.url(), "it-h-pub", vec![message(&e)]).await;
    assert!(smtp.wait_for(5, Duration::from_secs(30)));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(child.interrupt_and_wait().code(), Some(0));
    let (code, out, _) = cli(&config, &data, &["audit", "verify"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("审计链完整"), "{out}");

    // Someone rewrites who was notified in row 3, after dropping the append-only trigger.
    let db = data.join("alerts.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
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
    let (code, out, err) = cli(&config, &data, &["audit", "verify"]);
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("审计链在第 3 条记录处断开"), "{err}");
    assert!(err.contains("内容与哈希不符"), "{err}");
    let (_, _, err) = cli(&config, &data, &["--lang", "en", "audit", "verify"]);
    assert!(err.contains("broken at row 3"), "{err}");
}

/// A third-party SMTP server in its own process: Python's `smtpd` (Python 3.11, on every
/// machine here), printing each message it accepts.
struct PythonSmtpd {
    child: std::process::Child,
    port: u16,
    log: PathBuf,
}

impl PythonSmtpd {
    fn start(dir: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.join("smtpd.out");
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
        Self { child, port, log }
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
    let broker = Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let smtpd = PythonSmtpd::start(dir.path());
    assert!(
        wait_until(Duration::from_secs(10), || std::net::TcpStream::connect((
            "127.0.0.1",
            smtpd.port
        ))
        .is_ok())
        .await,
        "smtpd listening"
    );
    let data = dir.path().join("data");
    let url = format!("smtp://127.0.0.1:{}", smtpd.port);
    let config = write_alerts_config(dir.path(), &broker.url(), &url, 0, "");
    prime_session(&broker.url(), CLIENT_ID).await;
    let mut child = service(&config, &data);
    let e = exceedance("py-1", EventStatus::Firing, "LLH-CJG", "NH3N", minute(0));
    publish_all(&broker.url(), "it-py-pub", vec![message(&e)]).await;
    let db = data.join("alerts.db");
    let sent = wait_until(Duration::from_secs(30), || {
        AlertReader::open(&db, Arc::new(SystemClock))
            .and_then(|r| r.notifications(&NotificationQuery::default()))
            .map(|n| n.len() == 5 && n.iter().all(|x| x.status == DeliveryStatus::Sent))
            .unwrap_or(false)
    })
    .await;
    assert!(sent, "five notifications sent");
    assert_eq!(child.interrupt_and_wait().code(), Some(0));
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
    let log = AlertReader::open(&db, Arc::new(SystemClock))
        .unwrap()
        .notifications(&NotificationQuery::default())
        .unwrap();
    assert!(
        log.iter()
            .all(|n| n.last_reply.as_deref().unwrap_or("").starts_with("250")),
        "{log:?}"
    );
}

#[test]
fn the_latency_benchmark_measures_a_small_burst() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut opts = riverwatch_alerts::bench::BenchOptions::new(registry());
    opts.alerts = 10;
    let r = rt.block_on(riverwatch_alerts::bench::bench(opts)).unwrap();
    assert_eq!((r.alerts, r.emails), (10, 20));
    assert!(
        r.p50_ms > 0.0 && r.p99_ms >= r.p50_ms && r.max_ms >= r.p99_ms,
        "{r:?}"
    );
}
