//! Alerts end to end, who is told what: a boundary exceedance emails each province once with
//! its content and resolution, an internal section informs the other province, and one
//! reading above the limit sends one email per recipient with the retained MQTT state.

use std::collections::BTreeSet;
use std::time::Duration;

use riverwatch_alerts::AlertsConfig;
use riverwatch_alerts::reader::StateFilter;
use riverwatch_core::Province;
use riverwatch_core::events::{EventStatus, Rule};
use riverwatch_core::mqtt::MqttConfig;
use rumqttc::{AsyncClient, Event as MqttEvent, Incoming, QoS};

use crate::alerts::{addresses, exceedance, message, minute, to};
use crate::fixture::*;
use crate::util::*;

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
