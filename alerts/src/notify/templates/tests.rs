//! Tests of the notification texts: the Chinese and English emails (subject, text and HTML
//! kept as snapshots in `snapshots/`), the robots' markdown, the console as the only link,
//! and HTML escaping.

use super::*;
use crate::lifecycle::tests::{event, t};
use crate::lifecycle::{Known, Outcome, apply};
use riverwatch_core::class::WaterClass;
use riverwatch_core::events::{Attribution, EventStatus, ExpectedArrival, Rule};

fn boundary_alert(reg: &Registry) -> Alert {
    let mut e = event("e1", EventStatus::Firing, "LLH-CJG", "NH3N", 0);
    e.severity = Severity::Critical;
    e.provinces = vec![Province::Heilongjiang, Province::Jilin];
    e.cross_border = true;
    e.value = Some(1.62);
    e.limit = Some(1.0);
    e.class = Some(WaterClass::V);
    e.target = Some(WaterClass::III);
    e.exceedance_multiple = Some(0.62);
    e.attribution = Some(Attribution::ArisenBetween {
        upstream_station: "LLH-YS".into(),
        upstream_province: Province::Jilin,
        upstream_value: 0.41,
        travel_hours: 27.8,
    });
    e.incident = Some("inc-20261122-01".into());
    e.expected_next = Some(ExpectedArrival {
        station: "LLH-HK".into(),
        at: t(600),
    });
    e.summary_zh = "蔡家沟断面氨氮 1.62 mg/L，超Ⅲ类标准 0.62 倍".into();
    e.summary_en = "Caijiagou NH3-N 1.62 mg/L, 0.62 times above the Class III limit".into();
    match apply(Known::default(), &e, reg, t(1)) {
        Outcome::Opened(a) => a,
        other => panic!("{other:?}"),
    }
}

fn ctx<'a>(reg: &'a Registry, lang: Lang, role: Role, kind: NotificationKind) -> Context<'a> {
    Context {
        lang,
        registry: reg,
        console_url: "http://127.0.0.1:8080",
        recipient_name: match lang {
            Lang::Zh => "黑龙江省生态环境厅应急值班室",
            Lang::En => "Heilongjiang duty office",
        },
        province: Province::Heilongjiang,
        role,
        kind,
        level: 0,
    }
}

/// The class alert analytics sends with the exceedance: 蔡家沟 at Class V against its
/// Class III target, NH3-N deciding (GB 3838-2002 Table 1: NH3-N 1.62 mg/L lies in
/// Class V, 1.5 < c ≤ 2.0), held behind the parameter alert by the default inhibit rule.
fn section_alert(reg: &Registry, source: &Alert) -> Alert {
    let mut e = event("e2", EventStatus::Firing, "LLH-CJG", "NH3N", 0);
    e.rule = Rule::SectionBelowTarget;
    e.parameter = None;
    e.severity = Severity::Critical;
    e.provinces = vec![Province::Heilongjiang, Province::Jilin];
    e.cross_border = true;
    e.value = Some(1.62);
    e.limit = None;
    e.class = Some(WaterClass::V);
    e.target = Some(WaterClass::III);
    e.exceedance_multiple = Some(0.62);
    e.summary_zh = "蔡家沟 水质Ⅴ类，未达到目标Ⅲ类（定类指标：氨氮）".into();
    e.summary_en = "Caijiagou at Class V, below its target Class III (deciding: NH3-N)".into();
    let Outcome::Opened(mut a) = apply(Known::default(), &e, reg, t(1)) else {
        panic!()
    };
    a.inhibited_by = Some(source.id.clone());
    a.inhibition = Some(crate::model::Inhibition::Rule {
        name: "parameter_over_section".into(),
        equal: vec![("subject".into(), "LLH-CJG".into())],
    });
    a
}

/// A resolution as the lifecycle records it.
fn resolve(a: &Alert, value: f64, class: WaterClass, summary_zh: &str) -> Alert {
    let mut r = a.clone();
    let mut e = a.event.clone();
    e.status = EventStatus::Resolved;
    e.observed_at = t(480);
    e.value = Some(value);
    e.class = Some(class);
    e.exceedance_multiple = None;
    e.summary_zh = summary_zh.into();
    e.summary_en = summary_zh.into();
    r.status = AlertStatus::Resolved;
    r.resolved_at = Some(t(480));
    r.resolution = Some(e);
    r
}

/// The anchor the store writes in place of the placeholders.
fn recorded(mut mail: Email) -> Email {
    let anchor = crate::audit::Anchor::of(
        57,
        "3f0c9a1d2b7e4d5a60c1d2aabbccddeeff00112233445566778899aabbccddee",
    );
    mail.text = crate::audit::fill_anchor(&mail.text, &anchor);
    mail.html = crate::audit::fill_anchor(&mail.html, &anchor);
    mail
}

#[test]
fn boundary_exceedance_email_in_chinese() {
    let reg = Registry::builtin().unwrap();
    let a = boundary_alert(&reg);
    let acks = vec![Acknowledgement {
        alert_id: a.id.clone(),
        province: Province::Jilin,
        by: "李娜".into(),
        at: t(10),
        comment: Some("已通知扶余市局现场核查".into()),
    }];
    let item = Item {
        alert: &a,
        acks,
        attached: vec![section_alert(&reg, &a)],
    };
    let mail = recorded(email(
        &ctx(&reg, Lang::Zh, Role::Equal, NotificationKind::Firing),
        &[item],
        &[],
    ));
    // One email for the problem: the parameter with value, limit and multiple, and the
    // section's class against its target.
    for needle in [
        "氨氮（NH3N）",
        "1.62 mg/L（限值 1 mg/L，超标 0.62 倍）",
        "断面水质未达目标 Ⅴ类（目标 Ⅲ类）",
    ] {
        assert!(mail.subject.contains(needle), "{needle}: {}", mail.subject);
    }
    for needle in [
        "监测值：1.62 mg/L",
        "限值：1 mg/L（Ⅲ类标准）",
        "超标倍数：0.62",
        "关联告警（不单独通知）：蔡家沟（拉林河） 断面水质未达目标",
        "Ⅴ类（目标 Ⅲ类）",
        "原因：抑制规则 parameter_over_section，相同 subject=LLH-CJG",
        "审计链头：#57 3f0c9a1d2b7e4d5a60c1",
        "riverwatch audit verify --head 57:3f0c9a1d2b7e4d5a60c1",
    ] {
        assert!(mail.text.contains(needle), "{needle}:\n{}", mail.text);
    }
    assert!(mail.html.contains("#57 3f0c9a1d2b7e4d5a60c1"));
    insta::assert_snapshot!("boundary_zh_subject", mail.subject);
    insta::assert_snapshot!("boundary_zh_text", mail.text);
    insta::assert_snapshot!("boundary_zh_html", mail.html);
}

#[test]
fn one_problem_in_english_and_its_resolution_in_one_email() {
    let reg = Registry::builtin().unwrap();
    let a = boundary_alert(&reg);
    let sec = section_alert(&reg, &a);
    let item = Item {
        alert: &a,
        acks: vec![],
        attached: vec![sec.clone()],
    };
    let mail = recorded(email(
        &ctx(&reg, Lang::En, Role::Equal, NotificationKind::Firing),
        &[item],
        &[],
    ));
    assert_eq!(
        mail.subject,
        "[riverwatch] Alert (critical, cross-border): Caijiagou (Lālín Hé): Water-quality \
         parameter exceedance, Ammonia nitrogen (NH3N) 1.62 mg/L (limit 1 mg/L, 0.62× over); Section \
         below its water-quality target: Class V (target Class III)"
    );
    assert!(
        mail.text.contains("Audit head: #57 3f0c9a1d2b7e4d5a60c1"),
        "{}",
        mail.text
    );

    // Both end with one reading (NH3-N 0.4 mg/L: Class II, 0.15 < c ≤ 0.5): one email
    // says so for both.
    let r = resolve(&a, 0.4, WaterClass::II, "蔡家沟 氨氮 0.4 mg/L，恢复达标");
    let sr = resolve(
        &sec,
        0.4,
        WaterClass::II,
        "蔡家沟 水质恢复为Ⅱ类，达到目标Ⅲ类",
    );
    let item = Item {
        alert: &r,
        acks: vec![],
        attached: vec![sr],
    };
    let mail = recorded(email(
        &ctx(&reg, Lang::Zh, Role::Equal, NotificationKind::Resolved),
        &[],
        &[item],
    ));
    assert_eq!(
        mail.subject,
        "[riverwatch]【已恢复·严重｜跨界】蔡家沟（拉林河） 氨氮（NH3N） 水质指标超标 \
         0.4 mg/L（限值 1 mg/L）；断面水质已达标 Ⅱ类（目标 Ⅲ类）"
    );
    assert!(
        mail.text
            .contains("已恢复：Ⅱ类（目标 Ⅲ类）；蔡家沟 水质恢复为Ⅱ类，达到目标Ⅲ类"),
        "{}",
        mail.text
    );
    insta::assert_snapshot!("resolved_with_section_zh_text", mail.text);
}

#[test]
fn information_copy_and_resolution_in_english() {
    let reg = Registry::builtin().unwrap();
    // 松原 on the Second Songhua: TP 0.35 mg/L against the Class III river limit of
    // 0.2 mg/L (GB 3838-2002 Table 1), (0.35 − 0.2) / 0.2 = 0.75 times over.
    let mut e = event("e9", EventStatus::Firing, "SH2-SY", "TP", 0);
    e.rule = Rule::ParameterExceedance;
    e.value = Some(0.35);
    e.limit = Some(0.2);
    e.class = Some(WaterClass::V);
    e.exceedance_multiple = Some(0.75);
    let Outcome::Opened(a) = apply(Known::default(), &e, &reg, t(1)) else {
        panic!()
    };
    let r = resolve(
        &a,
        0.15,
        WaterClass::III,
        "Songyuan TP 0.15 mg/L, back within",
    );
    let item = Item {
        alert: &r,
        acks: vec![],
        attached: vec![],
    };
    let mail = recorded(email(
        &ctx(&reg, Lang::En, Role::InfoCopy, NotificationKind::Resolved),
        &[],
        &[item],
    ));
    insta::assert_snapshot!("info_copy_resolved_en_text", mail.text);
    assert!(
        mail.subject.starts_with("[riverwatch] Resolved"),
        "{}",
        mail.subject
    );
    assert!(
        mail.subject.ends_with("0.15 mg/L (limit 0.2 mg/L)"),
        "{}",
        mail.subject
    );
}

#[test]
fn robot_markdown_keeps_the_key_fields() {
    let reg = Registry::builtin().unwrap();
    let a = boundary_alert(&reg);
    let item = Item {
        alert: &a,
        acks: vec![],
        attached: vec![section_alert(&reg, &a)],
    };
    let (title, md) = markdown(
        &ctx(&reg, Lang::Zh, Role::Equal, NotificationKind::Firing),
        &[item],
        &[],
    );
    assert!(title.contains("蔡家沟（拉林河）"), "{title}");
    assert!(
        title.contains("断面水质未达目标 Ⅴ类（目标 Ⅲ类）"),
        "{title}"
    );
    assert!(md.contains(crate::audit::ANCHOR_PLACEHOLDER), "{md}");
    insta::assert_snapshot!("robot_markdown_zh", md);
}

#[test]
fn the_only_link_is_the_console_whatever_the_event_says() {
    // An event whose text fields carry URLs (a forged event, or a station name from a
    // bad registry): none becomes a link; the console row is the one `href`, and it
    // points at the configured console_url.
    let reg = Registry::builtin().unwrap();
    let mut a = boundary_alert(&reg);
    a.event.summary_zh = "https://evil.example.org/login".into();
    a.event.summary_en = "http://evil.example.org/login".into();
    a.event.unit = Some("https://evil.example.org/u".into());
    for lang in [Lang::Zh, Lang::En] {
        let item = Item {
            alert: &a,
            acks: vec![],
            attached: vec![],
        };
        let mail = email(
            &ctx(&reg, lang, Role::Equal, NotificationKind::Firing),
            &[item],
            &[],
        );
        assert!(mail.html.contains("evil.example.org"), "{}", mail.html);
        let hrefs: Vec<&str> = mail
            .html
            .split("href=\"")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap_or(""))
            .collect();
        assert_eq!(
            hrefs,
            vec![format!("http://127.0.0.1:8080/alerts/{}", a.id)],
            "{}",
            mail.html
        );
    }
}

#[test]
fn html_is_escaped() {
    assert_eq!(
        esc("<a href=\"x\">&'"),
        "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
    );
}
