//! `riverwatch bench alert-service`: alert latency from the publish of what makes an alert
//! fire to the email accepted (`250` after `DATA`) by a real SMTP server on loopback, over a
//! burst, as p50/p99/max, against lettre handing the same emails to the same server.
//!
//! It starts its own mosquitto and SMTP server and runs the alert service in-process against
//! them with `group_wait = 0` and `group_by = ["..."]` (every alert its own notification: a
//! grouping wait would measure the configuration, not the service), one duty-office
//! recipient per province, and the default durable store (`synchronous=FULL`). The trigger
//! is pluggable: [`EventTrigger`] publishes evaluation events on `{prefix}/events/{station}`;
//! a trigger that publishes readings (with [`BenchOptions::pipeline`] starting analytics on
//! the same broker) measures from the reading instead.
//!
//! Each email's latency is also split into stages, so the figure is explained: the reading's
//! publish → its evaluation event seen on the broker (by a subscriber of the benchmark's own),
//! the event → the notification's row in the outbox (its `created_at`), and that row → the
//! server's `250`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clap::Args;
use riverwatch_alerts::AlertsArgs;
use riverwatch_alerts::config::{AlertsConfig, GROUP_BY_ALL, Routing};
use riverwatch_alerts::model::Channel;
use riverwatch_alerts::reader::{AlertQuery, AlertReader, NotificationQuery, StateFilter};
use riverwatch_alerts::service::PARALLEL_SENDS;
use riverwatch_core::events::{Event, EventStatus, Rule, Severity};
use riverwatch_core::keys::KeyRing;
use riverwatch_core::mqtt::{MqttConfig, auth, network_options};
use riverwatch_core::time::SystemClock;
use riverwatch_core::topics::{TopicKind, Topics};
use riverwatch_core::{Lang, Province, Registry, StationKind};
use riverwatch_testkit::{Mosquitto, SmtpServer, TempDir, base_event};
use rumqttc::{AsyncClient, Event as MqttEvent, Incoming, QoS};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::{Latencies, ratio};
use crate::cli::{Context, user_error};

/// `riverwatch bench alert-service`.
#[derive(Debug, Args)]
pub struct AlertServiceBenchArgs {
    /// Alerts in the burst.
    #[arg(long, default_value_t = 200)]
    pub alerts: usize,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `riverwatch bench alert-service`.
///
/// # Errors
/// A server cannot start, the service fails, or the emails do not arrive in time.
pub async fn run(a: &AlertServiceBenchArgs, ctx: &Context) -> anyhow::Result<()> {
    let mut opts = BenchOptions::new(ctx.loaded.registry.clone());
    opts.alerts = a.alerts;
    let result = bench(opts).await.map_err(failed)?;
    if a.json {
        crate::cli::render::print_json(&result)
    } else {
        println!("{}", result.render(ctx.lang));
        Ok(())
    }
}

/// A failed run explained in both languages.
pub fn failed(e: BenchError) -> anyhow::Error {
    user_error(
        format!("基准测试失败：{e:#}"),
        format!("benchmark failed: {e:#}"),
    )
}

/// What the benchmark publishes to make alert `i` fire, and which alert that opens.
pub trait Trigger: Send + Sync {
    /// Where the clock starts: `event` or `reading`.
    fn stage(&self) -> &'static str;
    /// The messages (topic, payload) that make alert `i` fire.
    fn messages(&self, i: usize, at: DateTime<Utc>) -> Vec<(String, Vec<u8>)>;
    /// The fingerprint (`rule:subject[:parameter]`) of the alert those messages open; the
    /// benchmark finds the alert's id in the alert store by it.
    fn fingerprint(&self, i: usize) -> String;
}

/// Publishes evaluation events directly (the alert service alone).
#[derive(Debug, Clone)]
pub struct EventTrigger {
    stations: Vec<String>,
    parameters: Vec<String>,
    run: String,
}

impl EventTrigger {
    /// Events on the registry's provincial-boundary water sections, one fingerprint each.
    pub fn new(registry: &Registry) -> Self {
        let stations: Vec<String> = registry
            .stations()
            .iter()
            .filter(|s| s.kind == StationKind::Water && s.boundary)
            .map(|s| s.id.as_str().to_string())
            .collect();
        let parameters = registry
            .parameters()
            .iter()
            .map(|p| p.code.clone())
            .collect();
        Self {
            stations,
            parameters,
            run: format!("{}", Utc::now().timestamp_millis()),
        }
    }

    fn parts(&self, i: usize) -> (Rule, &str, &str) {
        let s = self.stations.len().max(1);
        let p = self.parameters.len().max(1);
        let rule = Rule::ALL[(i / (s * p)) % Rule::ALL.len()];
        let station = self
            .stations
            .get(i % s)
            .map(String::as_str)
            .unwrap_or("LLH-CJG");
        let param = self
            .parameters
            .get((i / s) % p)
            .map(String::as_str)
            .unwrap_or("NH3N");
        (rule, station, param)
    }

    fn event_id(&self, i: usize) -> String {
        format!("bench-{}-{i}", self.run)
    }

    /// The event for alert `i`.
    pub fn event(&self, i: usize, at: DateTime<Utc>) -> Event {
        let (rule, station, param) = self.parts(i);
        let mut e = base_event(
            &self.event_id(i),
            rule,
            EventStatus::Firing,
            Severity::Warning,
            station,
            &Province::ALL,
            true,
            at,
        );
        e.parameter = Some(param.to_string());
        e.value = Some(1.6);
        e.unit = Some("mg/L".into());
        e.limit = Some(1.0);
        e.exceedance_multiple = Some(0.6);
        e.standard = "GB 3838-2002".into();
        e.summary_zh = format!("{station} {param} 超标（基准测试）");
        e.summary_en = format!("{station} {param} above limit (benchmark)");
        e
    }
}

impl Trigger for EventTrigger {
    fn stage(&self) -> &'static str {
        "event"
    }

    fn messages(&self, i: usize, at: DateTime<Utc>) -> Vec<(String, Vec<u8>)> {
        let e = self.event(i, at);
        let topic = format!("rw/v1/events/{}", e.subject);
        vec![(topic, serde_json::to_vec(&e).unwrap_or_default())]
    }

    fn fingerprint(&self, i: usize) -> String {
        let (rule, station, param) = self.parts(i);
        format!("{rule}:{station}:{param}")
    }
}

/// Starts what turns the trigger's messages into events (e.g. analytics) on the broker URL.
/// It gets the broker settings with the benchmark's key ring.
pub type StartPipeline =
    Box<dyn FnOnce(MqttConfig, CancellationToken) -> tokio::task::JoinHandle<()> + Send>;

/// Benchmark settings.
pub struct BenchOptions {
    /// Alerts in the burst.
    pub alerts: usize,
    /// Station registry.
    pub registry: Arc<Registry>,
    /// What is published (events by default).
    pub trigger: Option<Arc<dyn Trigger>>,
    /// Started before the burst (analytics, for a reading trigger).
    pub pipeline: Option<StartPipeline>,
    /// Give up after this long.
    pub timeout: Duration,
    /// `[alerts] smtp_nodelay`: TCP_NODELAY on the relay socket (the default), or lettre's
    /// pooled transport with Nagle on (the transport before the option existed).
    pub smtp_nodelay: bool,
}

impl BenchOptions {
    /// A burst of 200 events on the given network.
    pub fn new(registry: Arc<Registry>) -> Self {
        Self {
            alerts: 200,
            registry,
            trigger: None,
            pipeline: None,
            timeout: Duration::from_secs(300),
            smtp_nodelay: true,
        }
    }
}

/// The figures of one run.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    /// Where the clock starts (`event` or `reading`).
    pub stage: String,
    /// Alerts in the burst.
    pub alerts: usize,
    /// Emails accepted (one per province per alert).
    pub emails: usize,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Largest, ms.
    pub max_ms: f64,
    /// From the first publish to the last acceptance, ms.
    pub burst_ms: f64,
    /// Emails per second over the burst.
    pub emails_per_sec: f64,
    /// Baseline, same run and server: the same number of emails handed straight to lettre
    /// at once (as many in flight as the service uses), median latency, ms.
    pub smtp_burst_p50_ms: f64,
    /// Baseline burst, 99th percentile, ms.
    pub smtp_burst_p99_ms: f64,
    /// Baseline: one email at a time through lettre, median latency, ms.
    pub smtp_single_p50_ms: f64,
    /// The latency split into the stages of the chain, per email.
    pub stages: Vec<StageFigures>,
}

/// One stage of the chain: `reading→event` (the reading's publish to its evaluation event
/// on the broker; only from a reading), `event→queued` (to the notification's outbox row) and
/// `queued→250` (from the row to the SMTP server's acceptance).
#[derive(Debug, Clone, Serialize)]
pub struct StageFigures {
    /// The stage's name.
    pub stage: String,
    /// Median, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
}

impl BenchResult {
    /// The figures as text.
    pub fn render(&self, lang: Lang) -> String {
        let Self {
            stage,
            alerts,
            emails,
            p50_ms,
            p99_ms,
            max_ms,
            burst_ms,
            emails_per_sec,
            smtp_burst_p50_ms,
            smtp_burst_p99_ms,
            smtp_single_p50_ms,
            stages,
        } = self;
        let r50 = ratio(*p50_ms, *smtp_burst_p50_ms);
        let r99 = ratio(*p99_ms, *smtp_burst_p99_ms);
        let stages: String = stages
            .iter()
            .map(|s| {
                let StageFigures {
                    stage,
                    p50_ms,
                    p99_ms,
                } = s;
                let zh = format!("\n  {stage}：p50 {p50_ms:.1} ms，p99 {p99_ms:.1} ms");
                let en = format!("\n  {stage}: p50 {p50_ms:.1} ms, p99 {p99_ms:.1} ms");
                lang.pick(&zh, &en).to_string()
            })
            .collect();
        let figures = match lang {
            Lang::Zh => format!(
                "告警延迟（{stage} 发布 → SMTP 服务器接受邮件），突发 {alerts} 条告警、{emails} 封邮件：\n  p50 {p50_ms:.1} ms，p99 {p99_ms:.1} ms，最大 {max_ms:.1} ms；整批 {burst_ms:.0} ms，{emails_per_sec:.0} 封/秒\n\
                 基线（同一 SMTP 服务器，lettre 直接发送同样数量的邮件，同样并发）：\n  p50 {smtp_burst_p50_ms:.1} ms，p99 {smtp_burst_p99_ms:.1} ms；逐封发送 p50 {smtp_single_p50_ms:.1} ms\n\
                 比值：p50 {r50:.1} 倍，p99 {r99:.1} 倍"
            ),
            Lang::En => format!(
                "alert latency ({stage} publish → email accepted by the SMTP server), burst of {alerts} alerts, {emails} emails:\n  p50 {p50_ms:.1} ms, p99 {p99_ms:.1} ms, max {max_ms:.1} ms; whole burst {burst_ms:.0} ms, {emails_per_sec:.0} emails/s\n\
                 baseline (same SMTP server, the same number of emails handed straight to lettre, same concurrency):\n  p50 {smtp_burst_p50_ms:.1} ms, p99 {smtp_burst_p99_ms:.1} ms; one at a time p50 {smtp_single_p50_ms:.1} ms\n\
                 ratio: p50 {r50:.1}x, p99 {r99:.1}x"
            ),
        };
        let head = lang.pick("分段（每封邮件）：", "by stage (per email):");
        format!("{figures}\n{head}{stages}")
    }
}

/// A benchmark failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// A server could not be started.
    #[error("cannot start {what}: {source}")]
    Start {
        /// mosquitto or SMTP.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// The service failed.
    #[error("alert service: {0}")]
    Service(String),
    /// Publishing failed.
    #[error("publishing: {0}")]
    Publish(String),
    /// Not every email arrived in time.
    #[error("only {got} of {want} emails arrived within {secs} s")]
    Timeout {
        /// Received.
        got: usize,
        /// Expected.
        want: usize,
        /// The limit.
        secs: u64,
    },
}

fn bench_routing() -> Routing {
    let mut r = Routing::default();
    r.hlj.recipients.retain(|x| x.id == "hlj-duty");
    r.jl.recipients.retain(|x| x.id == "jl-duty");
    r
}

/// Runs the benchmark.
///
/// # Errors
/// mosquitto or the SMTP server cannot start, the service fails, or emails do not arrive.
pub async fn bench(opts: BenchOptions) -> Result<BenchResult, BenchError> {
    let broker = Mosquitto::start().map_err(|source| BenchError::Start {
        what: "mosquitto",
        source,
    })?;
    let smtp = SmtpServer::start().map_err(|source| BenchError::Start {
        what: "the SMTP server",
        source,
    })?;
    let dir = TempDir::new("rw-alerts-bench").map_err(|source| BenchError::Start {
        what: "a temporary directory",
        source,
    })?;
    run_bench(opts, &broker, &smtp, dir.path().to_path_buf()).await
}

async fn run_bench(
    opts: BenchOptions,
    broker: &Mosquitto,
    smtp: &SmtpServer,
    dir: PathBuf,
) -> Result<BenchResult, BenchError> {
    let trigger: Arc<dyn Trigger> = match &opts.trigger {
        Some(t) => t.clone(),
        None => Arc::new(EventTrigger::new(&opts.registry)),
    };
    let config = AlertsConfig {
        client_id: format!("rw-alerts-bench-{}", std::process::id()),
        group_by: vec![GROUP_BY_ALL.to_string()],
        group_wait_secs: 0,
        group_interval_secs: 3600,
        repeat_interval_secs: 86_400,
        smtp_url: Some(smtp.url()),
        smtp_nodelay: opts.smtp_nodelay,
        routing: bench_routing(),
        ..AlertsConfig::default()
    };
    // A key ring of the run: the alert service checks what the trigger (signed below) or
    // the pipeline publishes.
    let keys = KeyRing::generate().map_err(|e| BenchError::Publish(e.to_string()))?;
    let mqtt = MqttConfig {
        keys: Some(keys.clone()),
        ..MqttConfig::with_url(&broker.url())
    };
    let (seen, watcher) = watch_events(&mqtt, keys.clone()).await?;
    let sign = move |topic: String, payload: Vec<u8>| -> (String, Vec<u8>) {
        let internal = matches!(
            Topics::default().parse(&topic),
            Some((TopicKind::Events, _))
        );
        match internal.then(|| auth::sign(&keys, &topic, &payload)) {
            Some(Ok(signed)) => (topic, signed),
            _ => (topic, payload),
        }
    };
    let token = CancellationToken::new();
    let service = tokio::spawn(riverwatch_alerts::run(
        AlertsArgs {
            config,
            mqtt: mqtt.clone(),
            registry: opts.registry.clone(),
            data_dir: dir.clone(),
            lang: Lang::Zh,
            clock: Arc::new(SystemClock),
        },
        token.clone(),
    ));
    let pipeline = opts
        .pipeline
        .map(|start| start(mqtt.clone(), token.clone()));

    let mut mopts = MqttConfig::with_url(&broker.url())
        .options(&format!("rw-alerts-bench-pub-{}", std::process::id()), true)
        .map_err(|e| BenchError::Publish(e.to_string()))?;
    mopts.set_inflight(1000);
    let (client, mut eventloop) = AsyncClient::new(mopts, 10_000);
    eventloop.set_network_options(network_options());
    let driver = tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(MqttEvent::Incoming(Incoming::Disconnect)) => break,
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });

    // Warm-up: one alert end to end (subscription in place, SMTP connection pooled). An
    // evaluation event that reached the broker before the alert service had subscribed is
    // lost to it, and analytics does not announce the same exceedance again: once the
    // watcher has seen the warm-up's event, a retry publishes that event itself.
    let warm = opts.alerts;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut warmed = false;
    while Instant::now() < deadline {
        let seen_event = seen
            .lock()
            .ok()
            .and_then(|s| s.raw.get(&trigger.fingerprint(warm)).cloned());
        let messages = match seen_event {
            Some(event) => vec![event],
            None => trigger
                .messages(warm, Utc::now())
                .into_iter()
                .map(|(topic, payload)| sign(topic, payload))
                .collect(),
        };
        for (topic, payload) in messages {
            client
                .publish(topic, QoS::AtLeastOnce, false, payload)
                .await
                .map_err(|e| BenchError::Publish(e.to_string()))?;
        }
        if wait_emails(smtp, 2, Duration::from_secs(3)).await {
            warmed = true;
            break;
        }
    }
    if !warmed {
        token.cancel();
        return Err(BenchError::Timeout {
            got: smtp.count(),
            want: 2,
            secs: 60,
        });
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = smtp.count();

    let mut published: HashMap<String, Instant> = HashMap::new();
    let mut published_at: HashMap<String, DateTime<Utc>> = HashMap::new();
    let start = Instant::now();
    let start_utc = Utc::now();
    for i in 0..opts.alerts {
        let at = Utc::now();
        published_at.insert(trigger.fingerprint(i), at);
        published.insert(trigger.fingerprint(i), Instant::now());
        for (topic, payload) in trigger.messages(i, at) {
            let (topic, payload) = sign(topic, payload);
            client
                .publish(topic, QoS::AtLeastOnce, false, payload)
                .await
                .map_err(|e| BenchError::Publish(e.to_string()))?;
        }
    }
    // Every alert of the burst notifies both provinces: wait for two emails carrying each
    // alert's id (other emails, e.g. a section's class alert that the same reading opens, are
    // not counted).
    let db = dir.join(AlertsConfig::default().database);
    let ids = wait_alert_emails(smtp, &db, &published, before, opts.timeout).await;
    let arrived = ids.len() == published.len();
    let received = smtp.received();
    token.cancel();
    let _ = client.disconnect().await;
    let stopped = service.await;
    driver.abort();
    watcher.abort();
    if let Some(p) = pipeline {
        let _ = p.await;
    }
    if !arrived {
        return Err(BenchError::Timeout {
            got: ids.len() * 2,
            want: opts.alerts * 2,
            secs: opts.timeout.as_secs(),
        });
    }
    match stopped {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(BenchError::Service(e.to_string())),
        Err(e) => return Err(BenchError::Service(e.to_string())),
    }
    let mut hist = Latencies::new().map_err(|e| BenchError::Service(e.to_string()))?;
    let mut last = start;
    let mut emails = 0;
    let by_id: Vec<(&String, &Instant)> = ids
        .iter()
        .filter_map(|(fp, id)| published.get(fp).map(|t0| (id, t0)))
        .collect();
    for r in received.iter().skip(before) {
        let text = r.parsed().text;
        let Some((_, t0)) = by_id.iter().find(|(id, _)| text.contains(id.as_str())) else {
            continue;
        };
        hist.record(r.accepted_at.saturating_duration_since(**t0));
        last = last.max(r.accepted_at);
        emails += 1;
    }
    let burst = last.saturating_duration_since(start);
    let seen = seen.lock().map(|s| s.first.clone()).unwrap_or_default();
    let stages = stage_figures(StageInputs {
        from_reading: trigger.stage() == "reading",
        db: &db,
        ids: &ids,
        published_at: &published_at,
        seen: &seen,
        received: &received[before.min(received.len())..],
        clock_pair: (start, start_utc),
    })?;
    let (smtp_burst, smtp_single) = smtp_baseline(smtp, emails.max(1)).await?;
    Ok(BenchResult {
        stage: trigger.stage().to_string(),
        alerts: opts.alerts,
        emails,
        p50_ms: hist.quantile_ms(0.5),
        p99_ms: hist.quantile_ms(0.99),
        max_ms: hist.max_ms(),
        burst_ms: burst.as_secs_f64() * 1000.0,
        emails_per_sec: emails as f64 / burst.as_secs_f64().max(1e-9),
        smtp_burst_p50_ms: smtp_burst.quantile_ms(0.5),
        smtp_burst_p99_ms: smtp_burst.quantile_ms(0.99),
        smtp_single_p50_ms: smtp_single.quantile_ms(0.5),
        stages,
    })
}

/// The evaluation events seen on the broker, by fingerprint.
#[derive(Default)]
struct SeenEvents {
    /// When the first arrived.
    first: HashMap<String, DateTime<Utc>>,
    /// The first as published (topic, signed payload).
    raw: HashMap<String, (String, Vec<u8>)>,
}

type Seen = Arc<std::sync::Mutex<SeenEvents>>;

/// Subscribes to the evaluation events (as the alert service does) and notes when each
/// fingerprint's first event arrives; returns once the subscription is in place.
async fn watch_events(
    mqtt: &MqttConfig,
    keys: KeyRing,
) -> Result<(Seen, tokio::task::JoinHandle<()>), BenchError> {
    let fail = |e: String| BenchError::Publish(format!("event watcher: {e}"));
    let opts = mqtt
        .options(
            &format!("rw-alerts-bench-watch-{}", std::process::id()),
            true,
        )
        .map_err(|e| fail(e.to_string()))?;
    let (client, mut eventloop) = AsyncClient::new(opts, 100);
    eventloop.set_network_options(network_options());
    let filter = mqtt.topics().filter(TopicKind::Events);
    client
        .subscribe(filter, QoS::AtMostOnce)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let seen = Seen::default();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let noted = seen.clone();
    let task = tokio::spawn(async move {
        // Owned here so the connection lives as long as the task.
        let _client = client;
        let mut ready = Some(ready_tx);
        loop {
            match eventloop.poll().await {
                Ok(MqttEvent::Incoming(Incoming::SubAck(_))) => {
                    if let Some(r) = ready.take() {
                        let _ = r.send(());
                    }
                }
                Ok(MqttEvent::Incoming(Incoming::Publish(p))) => {
                    let at = Utc::now();
                    let event = auth::verify(&keys, &p.topic, &p.payload)
                        .ok()
                        .and_then(|body| serde_json::from_slice::<Event>(&body).ok());
                    if let (Some(e), Ok(mut seen)) = (event, noted.lock()) {
                        let fp = e.fingerprint();
                        seen.first.entry(fp.clone()).or_insert(at);
                        seen.raw
                            .entry(fp)
                            .or_insert_with(|| (p.topic.clone(), p.payload.to_vec()));
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    match tokio::time::timeout(Duration::from_secs(10), ready_rx).await {
        Ok(Ok(())) => Ok((seen, task)),
        _ => {
            task.abort();
            Err(fail("no SUBACK within 10 s".into()))
        }
    }
}

/// What the stages are computed from.
struct StageInputs<'a> {
    from_reading: bool,
    db: &'a std::path::Path,
    /// Fingerprint → alert id.
    ids: &'a HashMap<String, String>,
    published_at: &'a HashMap<String, DateTime<Utc>>,
    seen: &'a HashMap<String, DateTime<Utc>>,
    received: &'a [riverwatch_testkit::Received],
    /// One instant and the wall-clock time at it, to place the server's accept times.
    clock_pair: (Instant, DateTime<Utc>),
}

/// Per email: publish → event on the broker (from a reading only), event → outbox row,
/// outbox row → `250`. Wall-clock times throughout (the outbox row's time is stored in ms).
fn stage_figures(i: StageInputs<'_>) -> Result<Vec<StageFigures>, BenchError> {
    let fail = |e: String| BenchError::Service(format!("stage figures: {e}"));
    let reader = AlertReader::open(i.db, Arc::new(SystemClock)).map_err(|e| fail(e.to_string()))?;
    let new_hist = || Latencies::new().map_err(|e| fail(e.to_string()));
    let (mut to_event, mut to_queued, mut to_accepted) = (new_hist()?, new_hist()?, new_hist()?);
    let span = |from: DateTime<Utc>, to: DateTime<Utc>| (to - from).to_std().unwrap_or_default();
    let (t_ref, utc_ref) = i.clock_pair;
    for (fp, id) in i.ids {
        let Some(&published) = i.published_at.get(fp) else {
            continue;
        };
        let event = match (i.from_reading, i.seen.get(fp)) {
            (false, _) => published,
            (true, Some(&seen)) => seen,
            (true, None) => continue,
        };
        let query = NotificationQuery {
            alert_id: Some(id.clone()),
            ..Default::default()
        };
        let notifications = reader
            .notifications(&query)
            .map_err(|e| fail(e.to_string()))?;
        for n in notifications.iter().filter(|n| n.channel == Channel::Email) {
            let Some(r) = i.received.iter().find(|r| r.data.contains(&n.message_id)) else {
                continue;
            };
            let accepted = utc_ref
                + chrono::Duration::from_std(r.accepted_at.saturating_duration_since(t_ref))
                    .unwrap_or_default();
            if i.from_reading {
                to_event.record(span(published, event));
            }
            to_queued.record(span(event, n.created_at));
            to_accepted.record(span(n.created_at, accepted));
        }
    }
    let figures = |stage: &str, h: &Latencies| StageFigures {
        stage: stage.to_string(),
        p50_ms: h.quantile_ms(0.5),
        p99_ms: h.quantile_ms(0.99),
    };
    let mut stages = Vec::new();
    if i.from_reading {
        stages.push(figures("reading→event", &to_event));
    }
    stages.push(figures("event→queued", &to_queued));
    stages.push(figures("queued→250", &to_accepted));
    Ok(stages)
}

/// The raw SMTP baseline on the same server: `n` emails of the same size handed to lettre at
/// once with the service's concurrency (latency from the start of the burst to each `250`),
/// then 50 sent one at a time.
async fn smtp_baseline(smtp: &SmtpServer, n: usize) -> Result<(Latencies, Latencies), BenchError> {
    use futures::StreamExt as _;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    let fail = |e: String| BenchError::Service(format!("SMTP baseline: {e}"));
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&smtp.url())
        .map_err(|e| fail(e.to_string()))?
        .build();
    let sample = smtp
        .received()
        .last()
        .map(|r| r.parsed().text)
        .unwrap_or_default();
    let message = |i: usize| {
        Message::builder()
            .from(
                "riverwatch <alerts@riverwatch.example.org>"
                    .parse()
                    .map_err(|_| fail("from".into()))?,
            )
            .to("duty@hlj.example.org"
                .parse()
                .map_err(|_| fail("to".into()))?)
            .subject(format!("基线 {i}"))
            .body(sample.clone())
            .map_err(|e| fail(e.to_string()))
    };
    let new_hist = || Latencies::new().map_err(|e| fail(e.to_string()));
    let mut burst = new_hist()?;
    let messages = (0..n).map(message).collect::<Result<Vec<_>, _>>()?;
    let start = Instant::now();
    let mut sends = futures::stream::iter(messages.into_iter().map(|m| {
        let t = &transport;
        async move { t.send(m).await.map(|_| Instant::now()) }
    }))
    .buffer_unordered(PARALLEL_SENDS);
    while let Some(done) = sends.next().await {
        let at = done.map_err(|e| fail(e.to_string()))?;
        burst.record(at.saturating_duration_since(start));
    }
    drop(sends);
    let mut single = new_hist()?;
    for i in 0..50 {
        let m = message(i)?;
        let t0 = Instant::now();
        transport.send(m).await.map_err(|e| fail(e.to_string()))?;
        single.record(t0.elapsed());
    }
    Ok((burst, single))
}

/// Waits until each published fingerprint has an alert in the store and two emails (one per
/// province) carrying its id; returns fingerprint → alert id for those that did.
async fn wait_alert_emails(
    smtp: &SmtpServer,
    db: &std::path::Path,
    published: &HashMap<String, Instant>,
    before: usize,
    timeout: Duration,
) -> HashMap<String, String> {
    let start = Instant::now();
    let mut done: HashMap<String, String> = HashMap::new();
    loop {
        if let Ok(reader) = AlertReader::open(db, Arc::new(SystemClock)) {
            let query = AlertQuery {
                state: StateFilter::All,
                ..Default::default()
            };
            let alerts = reader.alerts(&query).unwrap_or_default();
            let texts: Vec<String> = smtp
                .received()
                .iter()
                .skip(before)
                .map(|r| r.parsed().text)
                .collect();
            for a in alerts.iter().map(|v| &v.alert) {
                if !published.contains_key(&a.fingerprint) || done.contains_key(&a.fingerprint) {
                    continue;
                }
                if texts.iter().filter(|t| t.contains(a.id.as_str())).count() >= 2 {
                    done.insert(a.fingerprint.clone(), a.id.clone());
                }
            }
        }
        if done.len() == published.len() || start.elapsed() >= timeout {
            return done;
        }
        // Polling reads the store and parses the emails; not too often, so as not to load
        // the machine being measured (the latency comes from the server's accept times).
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn wait_emails(smtp: &SmtpServer, n: usize, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if smtp.count() >= n {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    smtp.count() >= n
}
