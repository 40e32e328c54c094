//! The console's HTTP API over real HTTP on a loopback port, in this process, against the
//! real services (mosquitto, ingest, the alert service as a child process) and their
//! stores: access control (401, 403, 400, 413, 409), an acknowledgement through the API as
//! `riverwatch alerts show` reports it, the live feed resumed after a disconnect without a
//! missed alert change, readings as CSV like `riverwatch query`, `/metrics` moving when
//! readings arrive (in the text format with HELP and TYPE, the commit-latency histogram
//! counting), and admins' token management as `riverwatch tokens` sees it.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use riverwatch_alerts::reader::StateFilter;
use riverwatch_console::{ConsoleArgs, ConsoleConfig, Stores};
use riverwatch_core::Province;
use riverwatch_core::class::WaterClass;
use riverwatch_core::events::{Event, EventStatus, Rule, Severity};
use riverwatch_core::time::SystemClock;
use riverwatch_ingest::config::StoreConfig;
use tokio_util::sync::CancellationToken;

use crate::fixture::*;
use crate::util::*;

/// A console in this process on a free loopback port; stopped when dropped.
pub(crate) struct Console {
    url: String,
    token: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Console {
    pub(crate) async fn start(p: &Pipeline, client_id: &str) -> Self {
        let args = ConsoleArgs {
            config: ConsoleConfig {
                client_id: client_id.to_string(),
                max_body_bytes: 1024,
                ..ConsoleConfig::test_config()
            },
            mqtt: p.mqtt(),
            registry: registry(),
            stores: Stores {
                data_dir: p.data_dir(),
                readings: StoreConfig::default(),
                analytics_file: "analytics.db".into(),
                alerts_file: "alerts.db".into(),
            },
            lang: riverwatch_core::Lang::Zh,
            clock: Arc::new(SystemClock),
        };
        let console = riverwatch_console::bind(args).await.unwrap();
        let url = console.url();
        let token = CancellationToken::new();
        let run = console.run(token.clone());
        let task = tokio::spawn(async move { run.await.unwrap() });
        let c = Self {
            url,
            token,
            task: Some(task),
        };
        // Ready once its broker connection is up (the stores may come later).
        let http = reqwest::Client::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let r = http.get(format!("{}/readyz", c.url)).send().await.unwrap();
            let body: serde_json::Value = r.json().await.unwrap();
            if body["broker"] == true {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "console never connected: {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        c
    }

    pub(crate) fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub(crate) async fn stop(mut self) {
        self.token.cancel();
        let task = self.task.take().unwrap();
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("the console stops")
            .unwrap();
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

/// `riverwatch tokens create …`: the token, the last line of the output.
pub(crate) fn create_token(p: &Pipeline, province: &str, role: &str, name: &str) -> String {
    let (code, out, err) = p.cli(&[
        "tokens",
        "create",
        "--province",
        province,
        "--role",
        role,
        "--name",
        name,
    ]);
    assert_eq!(code, 0, "{err}");
    let token = out.lines().last().unwrap().trim().to_string();
    assert!(token.starts_with("rwt_"), "{out}");
    token
}

fn minute(offset_min: i64) -> DateTime<Utc> {
    let t = Utc::now() - chrono::Duration::hours(3);
    DateTime::from_timestamp(t.timestamp() / 60 * 60, 0).unwrap()
        + chrono::Duration::minutes(offset_min)
}

/// An ammonia exceedance at 蔡家沟 (LLH-CJG, the Lalin boundary section: both provinces).
fn exceedance(id: &str, status: EventStatus, at: DateTime<Utc>) -> (String, Vec<u8>) {
    let mut e: Event = base_event(
        id,
        Rule::ParameterExceedance,
        status,
        Severity::Critical,
        "LLH-CJG",
        &Province::ALL,
        true,
        at,
    );
    e.parameter = Some("NH3N".into());
    e.value = Some(1.62);
    e.unit = Some("mg/L".into());
    e.limit = Some(1.0);
    e.class = Some(WaterClass::V);
    e.target = Some(WaterClass::III);
    // Signed as analytics signs it: the alert service and the console refuse anything else.
    signed(
        "rw/v1/events/LLH-CJG".to_string(),
        &serde_json::to_vec(&e).unwrap(),
    )
}

async fn error_of(r: reqwest::Response) -> (u16, serde_json::Value) {
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(ct.starts_with("application/json"), "{status}: {ct}");
    (status, r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_is_by_token_province_and_role_and_an_api_acknowledgement_is_audited() {
    let p = Pipeline::builder()
        .with_alerts_process(AlertsFile::new(1))
        .start()
        .await;
    let console = Console::start(&p, "it-console-access").await;
    let viewer = create_token(&p, "JL", "viewer", "王芳");
    let hlj_duty = create_token(&p, "HLJ", "duty", "张伟");
    let http = reqwest::Client::new();

    p.publish(
        "it-c-pub",
        vec![exceedance("ev-c-1", EventStatus::Firing, minute(0))],
    )
    .await;
    wait_until(Duration::from_secs(30), "the alert is stored", || {
        !p.alert_views(StateFilter::Firing).is_empty()
    })
    .await;
    let id = p.alert_views(StateFilter::Firing)[0].alert.id.clone();

    // No token: 401, a JSON error in Chinese, and the security headers.
    let r = http.get(console.at("/api/v1/alerts")).send().await.unwrap();
    let h = r.headers().clone();
    let (status, body) = error_of(r).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "unauthorized");
    assert!(body["message"].as_str().unwrap().contains("令牌"), "{body}");
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    assert!(
        !h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("unsafe-inline")
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    // A wrong token: 401.
    let r = http
        .get(console.at("/api/v1/alerts"))
        .bearer_auth("rwt_0000000000000000000000000000000000000000000")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Both provinces read everything: a Jilin viewer sees the alert with both sides.
    let r = http
        .get(console.at("/api/v1/alerts?state=firing"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let alerts: Vec<serde_json::Value> = r.json().await.unwrap();
    let a = alerts.iter().find(|a| a["id"] == id.as_str()).unwrap();
    assert_eq!(a["state"], "firing");
    assert_eq!(a["rule"], "parameter_exceedance");
    assert_eq!(a["subject"], "LLH-CJG");
    assert_eq!(a["parameter"], "NH3N");
    assert_eq!(a["value"], 1.62);
    assert_eq!(a["limit"], 1.0);
    assert!(a["first_seen"].is_string());
    assert!(
        a["acks"]["HLJ"].is_null() && a["acks"]["JL"].is_null(),
        "{a}"
    );

    let ack = console.at(&format!("/api/v1/alerts/{id}/ack"));
    // A viewer cannot acknowledge: 403.
    let r = http
        .post(&ack)
        .bearer_auth(&viewer)
        .json(&serde_json::json!({"comment": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 403);
    // A Heilongjiang duty officer cannot acknowledge for Jilin: 403.
    let r = http
        .post(&ack)
        .bearer_auth(&hlj_duty)
        .json(&serde_json::json!({"comment": "x", "province": "JL"}))
        .send()
        .await
        .unwrap();
    let (status, body) = error_of(r).await;
    assert_eq!(status, 403);
    assert!(body["message"].as_str().unwrap().contains("吉林"), "{body}");
    // Malformed input: 400 with a JSON error.
    let r = http
        .post(&ack)
        .bearer_auth(&hlj_duty)
        .header("content-type", "application/json")
        .body("{\"comment\": ")
        .send()
        .await
        .unwrap();
    let (status, body) = error_of(r).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "bad_request");
    let r = http
        .get(console.at("/api/v1/readings?station=NOPE"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 400);
    // A body over the limit (1024 bytes here): 413.
    let r = http
        .post(&ack)
        .bearer_auth(&hlj_duty)
        .json(&serde_json::json!({"comment": "长".repeat(2000)}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 413);
    // Silences are for admins.
    let r = http
        .post(console.at("/api/v1/silences"))
        .bearer_auth(&hlj_duty)
        .json(
            &serde_json::json!({"matchers": "subject=LLH-CJG", "duration": "1h", "reason": "检修"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 403);

    // Heilongjiang acknowledges for itself.
    let r = http
        .post(&ack)
        .bearer_auth(&hlj_duty)
        .json(&serde_json::json!({"comment": "已通知双城区局现场核查"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let a: serde_json::Value = r.json().await.unwrap();
    assert_eq!(a["acks"]["HLJ"]["by"], "张伟");
    assert_eq!(a["acks"]["HLJ"]["comment"], "已通知双城区局现场核查");
    assert!(a["acks"]["JL"].is_null());
    // Once per province: 409.
    let r = http
        .post(&ack)
        .bearer_auth(&hlj_duty)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 409);

    // The command line shows it, and the audit trail has it under the officer's name.
    let (code, out, err) = p.cli(&["alerts", "show", &id, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    let states = shown["alert"]["provinces_state"].as_array().unwrap();
    let hlj = states.iter().find(|s| s["province"] == "HLJ").unwrap();
    assert_eq!(hlj["ack"]["by"], "张伟");
    assert_eq!(hlj["ack"]["comment"], "已通知双城区局现场核查");
    let jl = states.iter().find(|s| s["province"] == "JL").unwrap();
    assert!(jl["ack"].is_null(), "{jl}");
    assert!(
        shown["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "ack" && r["actor"] == "张伟" && r["province"] == "HLJ"),
        "{out}"
    );

    // Signing in: an HttpOnly, SameSite=Strict cookie that then authenticates.
    let r = http
        .post(console.at("/api/v1/session"))
        .json(&serde_json::json!({"token": viewer}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_string();
    let r = http
        .get(console.at("/api/v1/session"))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    let me: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (me["name"].as_str(), me["role"].as_str()),
        (Some("王芳"), Some("viewer"))
    );
    // Revoking the token ends its session.
    let (code, list, _) = p.cli(&["tokens", "list", "--format", "json"]);
    assert_eq!(code, 0);
    let list: Vec<serde_json::Value> = serde_json::from_str(&list).unwrap();
    let viewer_id = list.iter().find(|t| t["name"] == "王芳").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !serde_json::to_string(&list).unwrap().contains("rwt_"),
        "no token in the list"
    );
    assert_eq!(p.cli(&["tokens", "revoke", &viewer_id]).0, 0);
    let r = http
        .get(console.at("/api/v1/session"))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Repeated bad tokens from one address are slowed down.
    let mut last = 0;
    for _ in 0..8 {
        last = http
            .get(console.at("/api/v1/stations"))
            .bearer_auth("rwt_1111111111111111111111111111111111111111111")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
    }
    assert_eq!(last, 429);
    console.stop().await;
}

/// One server-sent event.
#[derive(Debug, Clone)]
struct Sse {
    id: String,
    event: String,
    data: String,
}

/// Reads events from a stream until `done` says enough (or the timeout fails the test).
async fn read_events(
    r: &mut reqwest::Response,
    buf: &mut String,
    timeout: Duration,
    done: impl Fn(&[Sse]) -> bool,
) -> Vec<Sse> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut e = Sse {
                id: String::new(),
                event: String::new(),
                data: String::new(),
            };
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    e.id = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("event:") {
                    e.event = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    e.data.push_str(v.trim_start());
                }
            }
            if !e.event.is_empty() {
                out.push(e);
            }
        }
        if done(&out) {
            return out;
        }
        let chunk = tokio::time::timeout_at(deadline, r.chunk())
            .await
            .unwrap_or_else(|_| panic!("events in time; got {out:?}"))
            .unwrap()
            .expect("the stream stays open");
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
}

fn seq(id: &str) -> u64 {
    id.rsplit_once('-').unwrap().1.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_feed_resumes_after_a_disconnect_without_missing_an_alert_change() {
    let p = Pipeline::builder()
        .with_alerts_process(AlertsFile::new(1))
        .start()
        .await;
    let console = Console::start(&p, "it-console-sse").await;
    let duty = create_token(&p, "JL", "duty", "李娜");
    let http = reqwest::Client::new();
    let stream = console.at("/api/v1/stream");

    let mut r = http.get(&stream).bearer_auth(&duty).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-accel-buffering"], "no");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut buf = String::new();
    p.publish(
        "it-s-pub",
        vec![exceedance("ev-s-1", EventStatus::Firing, minute(0))],
    )
    .await;
    let first = read_events(&mut r, &mut buf, Duration::from_secs(30), |e| {
        e.iter().any(|e| e.event == "alert")
    })
    .await;
    let fired = first.iter().find(|e| e.event == "alert").unwrap().clone();
    let v: serde_json::Value = serde_json::from_str(&fired.data).unwrap();
    assert_eq!(
        (v["state"].as_str(), v["subject"].as_str()),
        (Some("firing"), Some("LLH-CJG"))
    );
    let id = v["id"].as_str().unwrap().to_string();
    let last_id = first.last().unwrap().id.clone();
    // Disconnect.
    drop(r);

    // While away: Jilin acknowledges, the condition ends.
    let ack = http
        .post(console.at(&format!("/api/v1/alerts/{id}/ack")))
        .bearer_auth(&duty)
        .json(&serde_json::json!({"comment": "扶余市局已到场"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ack.status(), 200);
    p.publish(
        "it-s-pub",
        vec![exceedance("ev-s-2", EventStatus::Resolved, minute(5))],
    )
    .await;
    wait_until(Duration::from_secs(30), "the alert resolved", || {
        p.alert_views(StateFilter::Resolved)
            .iter()
            .any(|v| v.alert.id == id)
    })
    .await;
    // Let the retained state of the resolution go out before reconnecting.
    let store_version = p.alert_views(StateFilter::Resolved)[0].alert.version;

    // Back with Last-Event-ID: everything after it, numbered without a gap, up to the
    // resolved state carrying the acknowledgement.
    let mut r = http
        .get(&stream)
        .bearer_auth(&duty)
        .header("Last-Event-ID", &last_id)
        .send()
        .await
        .unwrap();
    let mut buf = String::new();
    let resumed = read_events(&mut r, &mut buf, Duration::from_secs(30), |e| {
        e.iter().any(|e| {
            e.event == "alert"
                && serde_json::from_str::<serde_json::Value>(&e.data)
                    .is_ok_and(|v| v["version"].as_u64() == Some(store_version))
        })
    })
    .await;
    assert!(resumed.iter().all(|e| e.event != "resync"), "{resumed:?}");
    let numbers: Vec<u64> = resumed.iter().map(|e| seq(&e.id)).collect();
    let expected: Vec<u64> = (seq(&last_id) + 1..=seq(&last_id) + numbers.len() as u64).collect();
    assert_eq!(numbers, expected, "no event skipped");
    let changes: Vec<serde_json::Value> = resumed
        .iter()
        .filter(|e| e.event == "alert")
        .map(|e| serde_json::from_str(&e.data).unwrap())
        .collect();
    let last = changes.last().unwrap();
    assert_eq!(last["state"], "resolved");
    assert_eq!(last["acks"]["JL"]["by"], "李娜");
    let versions: BTreeSet<u64> = changes
        .iter()
        .map(|c| c["version"].as_u64().unwrap())
        .collect();
    assert!(versions.iter().all(|v| *v > v_of(&fired)), "{versions:?}");
    drop(r);

    // An id from another run of the console: told to reload.
    let mut r = http
        .get(&stream)
        .bearer_auth(&duty)
        .header("Last-Event-ID", "1-1")
        .send()
        .await
        .unwrap();
    let mut buf = String::new();
    let told = read_events(&mut r, &mut buf, Duration::from_secs(10), |e| !e.is_empty()).await;
    assert_eq!(told[0].event, "resync");
    drop(r);
    console.stop().await;
}

fn v_of(e: &Sse) -> u64 {
    serde_json::from_str::<serde_json::Value>(&e.data).unwrap()["version"]
        .as_u64()
        .unwrap()
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_when_readings_arrive_and_readings_come_as_riverwatch_query_prints_them() {
    let p = Pipeline::builder()
        .with_ingest("it-console-ingest")
        .start()
        .await;
    let console = Console::start(&p, "it-console-metrics").await;
    let viewer = create_token(&p, "HLJ", "viewer", "刘洋");
    let http = reqwest::Client::new();
    let scrape = || async {
        let r = http.get(console.at("/metrics")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    };
    let before = scrape().await;
    let stored = metric(&before, "ingest_readings_stored_total ");
    let fed = metric(&before, "console_feed_messages_total{kind=\"reading\"} ");

    let start = minute(0);
    p.publish("it-m-pub", stream(16, start)).await;
    p.wait_readings(Duration::from_secs(30), "16 observations stored", |n| {
        n >= 16 * 8
    })
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let after = loop {
        let text = scrape().await;
        if metric(&text, "console_feed_messages_total{kind=\"reading\"} ") > fed {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the console never counted: {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        metric(&after, "ingest_readings_stored_total ") >= stored + 16 * 8,
        "{after}"
    );
    assert!(after.contains("console_sse_clients"), "{after}");

    // CSV with the columns and rows of `riverwatch query`.
    let from = start.to_rfc3339();
    let to = (start + chrono::Duration::hours(1)).to_rfc3339();
    let r = http
        .get(console.at("/api/v1/readings"))
        .query(&[
            ("station", "LLH-CJG"),
            ("from", from.as_str()),
            ("to", to.as_str()),
            ("format", "csv"),
        ])
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-riverwatch-truncated"], "false");
    let csv = r.text().await.unwrap();
    let (code, out, err) = p.cli(&[
        "query",
        "--station",
        "LLH-CJG",
        "--from",
        &from,
        "--to",
        &to,
        "--format",
        "csv",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(csv, out);
    assert_eq!(csv.lines().count(), 1 + 2 * 8, "{csv}");
    // Bounded by the limit, and it says so.
    let r = http
        .get(console.at("/api/v1/readings"))
        .query(&[
            ("station", "LLH-CJG"),
            ("from", from.as_str()),
            ("to", to.as_str()),
            ("limit", "3"),
        ])
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["truncated"], true);
    assert_eq!(body["readings"].as_array().unwrap().len(), 3);
    // The JSON rows hold what the CSV lines hold.
    for (row, line) in body["readings"]
        .as_array()
        .unwrap()
        .iter()
        .zip(csv.lines().skip(1))
    {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(row["station"], f[0]);
        assert_eq!(row["parameter"], f[1]);
        assert_eq!(row["time_utc"], f[2]);
        assert_eq!(row["value"].as_f64().unwrap(), f[3].parse::<f64>().unwrap());
        assert_eq!(row["flag"], f[4]);
        assert_eq!(row["period"], "sample", "{row}");
    }

    // The stations with their latest values need no computation of the console: before
    // analytics ran, none is current and every one is stale.
    let r = http
        .get(console.at("/api/v1/stations"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    let stations: Vec<serde_json::Value> = r.json().await.unwrap();
    assert_eq!(stations.len(), registry().stations().len());
    assert!(
        stations
            .iter()
            .all(|s| s["stale"] == true && s["current"].is_null())
    );
    console.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_manage_their_provinces_tokens_over_the_api_with_the_rules_of_riverwatch_tokens() {
    let p = Pipeline::builder().start().await;
    let console = Console::start(&p, "it-console-tokens").await;
    let hlj_admin = create_token(&p, "HLJ", "admin", "赵敏");
    let jl_admin = create_token(&p, "JL", "admin", "孙丽");
    let hlj_duty = create_token(&p, "HLJ", "duty", "张伟");
    let http = reqwest::Client::new();
    let tokens = console.at("/api/v1/tokens");
    let body = serde_json::json!({"province": "HLJ", "role": "duty", "name": "周强"});

    // No token: 401; a duty officer: 403; for each of the three routes.
    let r = http.get(&tokens).send().await.unwrap();
    assert_eq!(error_of(r).await.0, 401);
    let r = http.post(&tokens).json(&body).send().await.unwrap();
    assert_eq!(error_of(r).await.0, 401);
    let r = http
        .delete(format!("{tokens}/0000000000000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 401);
    let r = http
        .get(&tokens)
        .bearer_auth(&hlj_duty)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 403);
    let r = http
        .post(&tokens)
        .bearer_auth(&hlj_duty)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 403);

    // An admin creates a token of their province: 201, the secret once, and it works.
    let r = http
        .post(&tokens)
        .bearer_auth(&hlj_admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: serde_json::Value = r.json().await.unwrap();
    let secret = created["token"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap().to_string();
    assert!(
        secret.starts_with("rwt_") && secret.len() == 47,
        "{created}"
    );
    assert_eq!(
        (&created["name"], &created["province"], &created["role"]),
        (&"周强".into(), &"HLJ".into(), &"duty".into())
    );
    let r = http
        .get(console.at("/api/v1/session"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    let me: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (&me["name"], &me["acknowledges_for"]),
        (&"周强".into(), &"HLJ".into())
    );

    // The list has every token of both provinces, and no secret.
    let r = http
        .get(&tokens)
        .bearer_auth(&jl_admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    for t in [&secret, &hlj_admin, &jl_admin, &hlj_duty] {
        assert!(!text.contains(t.as_str()), "a secret is listed: {text}");
    }
    assert!(!text.contains("hash"), "{text}");
    let listed: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(listed.len(), 4);
    assert!(listed.iter().any(|t| t["id"] == id.as_str()));
    // The same store as `riverwatch tokens list`.
    let (code, out, err) = p.cli(&["tokens", "list", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let cli: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(cli, listed);

    // The rules of `riverwatch tokens create`: a name is needed; the admin's province only.
    for bad in [
        serde_json::json!({"province": "HLJ", "role": "duty", "name": "  "}),
        serde_json::json!({"province": "HLJ", "role": "root", "name": "周强"}),
        serde_json::json!({"province": "HLJ", "role": "duty"}),
        serde_json::json!({"province": "HLJ", "role": "duty", "name": "名".repeat(101)}),
    ] {
        let r = http
            .post(&tokens)
            .bearer_auth(&hlj_admin)
            .json(&bad)
            .send()
            .await
            .unwrap();
        let (status, e) = error_of(r).await;
        assert_eq!(status, 400, "{bad}: {e}");
    }
    let r = http
        .post(&tokens)
        .bearer_auth(&hlj_admin)
        .json(&serde_json::json!({"province": "JL", "role": "admin", "name": "钱进"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 403);
    // Jilin's admin cannot revoke a Heilongjiang token; unknown ids are 404.
    let r = http
        .delete(format!("{tokens}/{id}"))
        .bearer_auth(&jl_admin)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 403);
    let r = http
        .delete(format!("{tokens}/ffffffffffffffff"))
        .bearer_auth(&hlj_admin)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 404);

    // Revoked by its province's admin: the token stops working at once.
    let r = http
        .delete(format!("{tokens}/{id}"))
        .bearer_auth(&hlj_admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let revoked: serde_json::Value = r.json().await.unwrap();
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    let r = http
        .get(console.at("/api/v1/session"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 401);
    let (code, out, _) = p.cli(&["tokens", "list", "--format", "json"]);
    assert_eq!(code, 0);
    let cli: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let t = cli.iter().find(|t| t["id"] == id.as_str()).unwrap();
    assert_eq!(t["revoked_at"], revoked["revoked_at"]);
    console.stop().await;
}

/// One metric family of a Prometheus text exposition.
#[derive(Debug, Default)]
struct Family {
    help: Option<String>,
    kind: Option<String>,
    /// (series name with labels, value).
    samples: Vec<(String, f64)>,
}

/// Parses the text format: `# HELP` and `# TYPE` lines must come before their family's
/// samples; a sample belongs to the family whose name it starts with (a histogram's
/// `_bucket`, `_sum`, `_count`).
fn parse_prometheus(text: &str) -> std::collections::BTreeMap<String, Family> {
    let mut families: std::collections::BTreeMap<String, Family> = Default::default();
    let mut current: Option<String> = None;
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap();
            let f = families.entry(name.to_string()).or_default();
            assert!(f.help.is_none() && f.samples.is_empty(), "{line}");
            f.help = Some(help.to_string());
            current = Some(name.to_string());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert_eq!(current.as_deref(), Some(name), "TYPE without HELP: {line}");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            families.get_mut(name).unwrap().kind = Some(kind.to_string());
        } else {
            let name = current.as_deref().expect("a sample before any HELP");
            let (series, value) = line.rsplit_once(' ').unwrap();
            let bare = series.split('{').next().unwrap();
            let f = families.get_mut(name).unwrap();
            let ok = match f.kind.as_deref() {
                Some("histogram") => ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| bare == format!("{name}{s}")),
                Some(_) => bare == name,
                None => false,
            };
            assert!(ok, "sample {line} outside its family {name}");
            let value = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap(),
            };
            f.samples.push((series.to_string(), value));
        }
    }
    families
}

/// A histogram's count, after checking its buckets are cumulative and end at `+Inf` with
/// the count.
fn histogram_count(f: &Family, name: &str) -> f64 {
    assert_eq!(f.kind.as_deref(), Some("histogram"), "{name}");
    let buckets: Vec<f64> = f
        .samples
        .iter()
        .filter(|(s, _)| s.starts_with(&format!("{name}_bucket{{")))
        .map(|(_, v)| *v)
        .collect();
    assert!(buckets.len() > 1, "{name}: {:?}", f.samples);
    assert!(
        buckets.windows(2).all(|w| w[0] <= w[1]),
        "{name}: {buckets:?}"
    );
    let inf = f
        .samples
        .iter()
        .find(|(s, _)| s.contains("le=\"+Inf\""))
        .map(|(_, v)| *v)
        .unwrap();
    let count = f
        .samples
        .iter()
        .find(|(s, _)| s == &format!("{name}_count"))
        .map(|(_, v)| *v)
        .unwrap();
    assert_eq!(inf, count, "{name}");
    assert!(
        f.samples.iter().any(|(s, _)| s == &format!("{name}_sum")),
        "{name}"
    );
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_have_help_and_type_lines_and_the_commit_latency_histogram_counts_commits() {
    let p = Pipeline::builder()
        .with_ingest("it-console-hist-ingest")
        .start()
        .await;
    let console = Console::start(&p, "it-console-hist").await;
    let http = reqwest::Client::new();
    let scrape = || async {
        let r = http.get(console.at("/metrics")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain; version=0.0.4")
        );
        parse_prometheus(&r.text().await.unwrap())
    };
    let before = scrape().await;
    // Every family of a running ingest and console is described, none by the fallback.
    for (name, f) in &before {
        let help = f.help.as_deref().unwrap_or_default();
        assert!(
            !help.is_empty() && !help.starts_with("riverwatch metric "),
            "{name} has no help text of its own"
        );
        assert!(f.kind.is_some(), "{name} has no TYPE");
    }
    assert_eq!(
        before["ingest_readings_stored_total"].kind.as_deref(),
        Some("counter")
    );
    assert_eq!(before["console_sse_clients"].kind.as_deref(), Some("gauge"));
    let commits = histogram_count(&before["ingest_commit_seconds"], "ingest_commit_seconds");

    p.publish("it-h-pub", stream(12, minute(0))).await;
    p.wait_readings(Duration::from_secs(30), "12 observations stored", |n| {
        n >= 12 * 8
    })
    .await;
    let after = scrape().await;
    let now = histogram_count(&after["ingest_commit_seconds"], "ingest_commit_seconds");
    assert!(now > commits, "{commits} → {now}");
    assert!(after["ingest_commits_total"].samples[0].1 > 0.0);
    let sum = after["ingest_commit_seconds"]
        .samples
        .iter()
        .find(|(s, _)| s == "ingest_commit_seconds_sum")
        .unwrap()
        .1;
    assert!(sum > 0.0, "{sum}");
    console.stop().await;
}
