//! The console's pages in headless Chromium against the real services (mosquitto, ingest,
//! analytics, the alert service) and a console in this process: signing in with a token,
//! the overview labelling every section with its class, a reading published on the broker
//! recolouring its section and adding the alert to the list without a reload, and the
//! acknowledge button working for the signed-in province only. Screenshots of the overview,
//! a station page and an alert page are saved under `{CARGO_TARGET_TMPDIR}/console-screenshots/`.
//!
//! Classes are those of GB 3838-2002 Table 1: the clean observation is Class II in every
//! deciding item or better (DO 7.0 ≥ 6; CODMn 3.0 ≤ 4; NH3-N 0.3 ≤ 0.5; TP 0.02, Class I
//! in a river and Class II in the 磨盘山 reservoir, whose TP limits are the lakes' ≤ 0.025;
//! TN 0.4 ≤ 0.5 where it counts, in the reservoir), and NH3-N 1.62 mg/L is Class V
//! (1.5 < 1.62 ≤ 2.0) against the Class III target of 蔡家沟.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use riverwatch_alerts::reader::StateFilter;
use riverwatch_core::Province;
use riverwatch_core::registry::StationKind;
use serde_json::{Value, json};

use crate::cdp::{Browser, Page};
use crate::console::{Console, create_token};
use crate::fixture::*;
use crate::util::*;

/// Where the screenshots go.
pub fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots")
}

/// A Class II observation of the station's parameters, with `over` replacing values.
fn observation(
    station: &str,
    parameters: &[String],
    t: DateTime<Utc>,
    over: &[(&str, f64)],
) -> (String, Vec<u8>) {
    let clean = [
        ("WT", 8.0),
        ("pH", 7.5),
        ("DO", 7.0),
        ("COND", 300.0),
        ("TURB", 10.0),
        ("CODMn", 3.0),
        ("NH3N", 0.3),
        ("TP", 0.02),
        ("TN", 0.4),
        ("NB", 0.001),
    ];
    let values: Vec<(&str, f64)> = clean
        .iter()
        .filter(|(c, _)| parameters.iter().any(|p| p == c))
        .map(|&(c, v)| (c, over.iter().find(|(o, _)| *o == c).map_or(v, |o| o.1)))
        .collect();
    json_obs(station, t, &values)
}

async fn sign_in(page: &mut Page, console: &Console, token: &str) {
    page.call("Page.navigate", json!({"url": console.at("/")}))
        .await;
    // Not signed in: sent to the sign-in page.
    page.wait_for(
        "the sign-in page",
        "location.pathname === '/signin' && document.body.dataset.ready === '1'",
        Duration::from_secs(30),
    )
    .await;
    page.eval(&format!(
        "document.getElementById('token').value = {}; document.querySelector('#signin button').click(); true",
        json!(token)
    ))
    .await;
    page.wait_for(
        "the overview after signing in",
        "location.pathname === '/' && document.body.dataset.ready === '1'",
        Duration::from_secs(30),
    )
    .await;
}

/// `[station, label]` of every section mark on the schematic.
async fn labels(page: &mut Page) -> Vec<(String, String)> {
    let v = page
        .eval(
            "[...document.querySelectorAll('#rivers g.section')]\
             .map(g => [g.dataset.station, g.querySelector('text.cls').textContent])",
        )
        .await;
    serde_json::from_value(v).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_follow_the_network_live_and_acknowledge_for_the_signed_in_province_only() {
    let p = Pipeline::builder()
        .with_ingest("it-browser-ingest")
        .with_analytics("it-browser-analytics")
        .with_alerts_process(AlertsFile::new(1))
        .start()
        .await;
    let console = Console::start(&p, "it-browser-console").await;
    let hlj = create_token(&p, "HLJ", "duty", "张伟");
    let jl = create_token(&p, "JL", "duty", "李娜");
    let http = reqwest::Client::new();

    // One clean observation of every water section, then wait until analytics has classed
    // them all.
    let reg = registry();
    let water: Vec<_> = reg
        .stations()
        .iter()
        .filter(|s| s.kind == StationKind::Water)
        .collect();
    let t0 = Utc::now() - chrono::Duration::minutes(30);
    let t0 = DateTime::from_timestamp(t0.timestamp() / 60 * 60, 0).unwrap();
    p.publish(
        "it-b-pub",
        water
            .iter()
            .map(|s| observation(s.id.as_str(), &s.parameters, t0, &[]))
            .collect(),
    )
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let r = http
            .get(console.at("/api/v1/stations"))
            .bearer_auth(&hlj)
            .send()
            .await
            .unwrap();
        let list: Vec<Value> = r.json().await.unwrap();
        let classed = list
            .iter()
            .filter(|s| s["station"]["kind"] == "water" && s["current"]["class"].is_string())
            .count();
        if classed == water.len() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {classed} of {} sections classed",
            water.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let browser = Browser::launch().await;
    let mut page = browser.page().await;
    sign_in(&mut page, &console, &hlj).await;

    // Every section of the registry is on the schematic, labelled Ⅱ (GB 3838 Table 1).
    let shown = labels(&mut page).await;
    assert_eq!(shown.len(), water.len(), "{shown:?}");
    for s in &water {
        let label = shown.iter().find(|(id, _)| id == s.id.as_str());
        assert_eq!(
            label.map(|l| l.1.as_str()),
            Some("Ⅱ"),
            "{} on the schematic: {shown:?}",
            s.id
        );
    }
    // Province and boundary reach are drawn; a section's target is outlined.
    assert_eq!(
        page.eval("document.querySelectorAll('#rivers rect.boundary').length >= 1 && document.querySelectorAll('#rivers g.section rect.target').length")
            .await,
        json!(water.len())
    );
    assert!(
        page.eval("document.querySelector('#rivers g.section[data-station=\"LLH-CJG\"] text.name').textContent")
            .await
            .as_str()
            .unwrap()
            .ends_with("·吉")
    );
    // No alert yet.
    assert_eq!(
        page.eval("document.querySelectorAll('#alerts li[data-alert-id]').length")
            .await,
        json!(0)
    );

    // A mark that a reload would wipe out.
    page.eval("window.__stillHere = 1").await;
    let t1 = t0 + chrono::Duration::minutes(10);
    let cjg = reg.station("LLH-CJG").unwrap();
    p.publish(
        "it-b-pub",
        vec![observation(
            "LLH-CJG",
            &cjg.parameters,
            t1,
            &[("NH3N", 1.62)],
        )],
    )
    .await;
    let alert_id = page
        .wait_for(
            "蔡家沟 relabelled Ⅴ and its alert listed with the banner",
            "document.querySelector('#rivers g.section[data-station=\"LLH-CJG\"] text.cls').textContent === 'Ⅴ' \
             && !document.getElementById('banner').hidden \
             && document.querySelector('#alerts li[data-subject=\"LLH-CJG\"]')?.dataset.alertId",
            Duration::from_secs(60),
        )
        .await
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(page.eval("window.__stillHere").await, json!(1), "no reload");
    assert!(
        page.eval("document.querySelector('#rivers g.section[data-station=\"LLH-CJG\"] rect.mark').classList.contains('c5')")
            .await
            .as_bool()
            .unwrap()
    );
    // The other sections still show Ⅱ.
    let shown = labels(&mut page).await;
    assert!(
        shown
            .iter()
            .all(|(id, l)| (id == "LLH-CJG" && l == "Ⅴ") || (id != "LLH-CJG" && l == "Ⅱ")),
        "{shown:?}"
    );
    let dir = screenshot_dir();
    page.screenshot(&dir.join("overview.png")).await;

    // The station page: a chart per parameter, the exceedance marked against the Class III
    // limit of NH3-N (1.0 mg/L).
    page.open(&console.at("/station/LLH-CJG"), "/station/LLH-CJG")
        .await;
    assert_eq!(
        page.eval("document.querySelectorAll('#charts .chart').length")
            .await,
        json!(cjg.parameters.len())
    );
    let nh3n = page
        .eval("(() => { const c = document.querySelector('.chart[data-param=\"NH3N\"]'); return [c.querySelectorAll('.pt-over').length, c.querySelector('.limit-text').textContent]; })()")
        .await;
    assert_eq!(nh3n[0], json!(1), "{nh3n}");
    assert!(nh3n[1].as_str().unwrap().ends_with("≤ 1"), "{nh3n}");
    page.screenshot(&dir.join("station.png")).await;

    // The alert page: signed in for Heilongjiang, the form is on Heilongjiang's side only.
    let path = format!("/alert/{alert_id}");
    page.open(&console.at(&path), &path).await;
    assert_eq!(
        page.eval("[!!document.querySelector('.side[data-province=\"HLJ\"] #ack-form'), !!document.querySelector('.side[data-province=\"JL\"] form')]")
            .await,
        json!([true, false])
    );
    page.eval(
        "document.getElementById('ack-comment').value = '已通知双城区局现场核查'; \
         document.getElementById('ack-button').click(); true",
    )
    .await;
    page.wait_for(
        "Heilongjiang's acknowledgement on the page",
        "document.querySelector('.side[data-province=\"HLJ\"] .ack-who')?.textContent.includes('张伟')",
        Duration::from_secs(30),
    )
    .await;
    let view = p
        .alert_views(StateFilter::All)
        .into_iter()
        .find(|v| v.alert.id == alert_id)
        .unwrap();
    let ack = view
        .ack(Province::Heilongjiang)
        .expect("Heilongjiang acknowledged");
    assert_eq!(ack.by, "张伟");
    assert_eq!(ack.comment.as_deref(), Some("已通知双城区局现场核查"));
    assert!(view.ack(Province::Jilin).is_none());
    // The page cannot acknowledge for Jilin with this session.
    let refused = page
        .eval(&format!(
            "fetch('/api/v1/alerts/{alert_id}/ack', {{method: 'POST', headers: {{'Content-Type': 'application/json'}}, body: JSON.stringify({{province: 'JL'}})}}).then(r => r.status)"
        ))
        .await;
    assert_eq!(refused, json!(403));
    page.screenshot(&dir.join("alert.png")).await;

    // Signed in for Jilin: the form is on Jilin's side, Heilongjiang's shows its
    // acknowledgement.
    page.eval("fetch('/api/v1/session', {method: 'DELETE'}).then(r => r.status)")
        .await;
    sign_in(&mut page, &console, &jl).await;
    page.open(&console.at(&path), &path).await;
    assert_eq!(
        page.eval("[!!document.querySelector('.side[data-province=\"HLJ\"] form'), !!document.querySelector('.side[data-province=\"JL\"] #ack-form'), document.querySelector('.side[data-province=\"HLJ\"] .ack-who').textContent.includes('张伟')]")
            .await,
        json!([false, true, true])
    );
    drop(page);
    drop(browser);
    console.stop().await;
}
