//! `riverwatch bench console`: the console's HTTP API and live feed, each against a
//! baseline measured in the same run.
//!
//! (a) Readings query: a real SQLite readings store is seeded through the store API with a
//! month of 1-minute readings of one station (every parameter it measures); the console
//! serves it on a loopback port and `--clients` concurrent clients send `--requests`
//! `GET /api/v1/readings?station=…&from=…&to=…` for the whole month with a bearer token
//! (requests/s, p50/p99). Baseline: the same query on the store's reader alone (no HTTP, no
//! JSON), with the same concurrency.
//!
//! (b) Live feed: a real mosquitto; the console's feed subscribes to it as under `up`;
//! `--sse-clients` clients follow `GET /api/v1/stream`; `--readings` signed readings
//! messages are published on `rw/v1/readings/{station}` one every `--interval-ms`; the
//! latency is from each publish to its `reading` event at each client (p50/p99 over every
//! client and message). Baseline: the same publishes received by a plain MQTT subscriber
//! (`--baseline-subscribers` of them), before the console starts.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use clap::Args;
use riverwatch_console::access::{Role, TokenStore};
use riverwatch_console::{ConsoleArgs, ConsoleConfig, Stores};
use riverwatch_core::keys::KeyRing;
use riverwatch_core::mqtt::{MqttConfig, auth, network_options};
use riverwatch_core::reading::{ReadingOut, ReadingsMessage};
use riverwatch_core::store_api::{ReadingQuery, StoreReader as _, WriteBatch};
use riverwatch_core::time::SystemClock;
use riverwatch_core::{DataFlag, Lang, ParamCode, Period, Province, Reading, Registry, StationId};
use riverwatch_ingest::config::StoreConfig;
use riverwatch_ingest::store::{self, SqliteStore};
use riverwatch_testkit::{Mosquitto, TempDir};
use rumqttc::{AsyncClient, Event, Incoming, QoS};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::{Latencies, ratio};
use crate::cli::render::print_json;
use crate::cli::{Context, user_error};

/// `riverwatch bench console`.
#[derive(Debug, Args)]
pub struct ConsoleBenchArgs {
    /// The station whose month is queried.
    #[arg(long, default_value = "LLH-CJG")]
    pub station: String,
    /// Days of 1-minute readings seeded and queried.
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// Readings queries in (a), over all clients.
    #[arg(long, default_value_t = 200)]
    pub requests: usize,
    /// Concurrent clients in (a).
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Live-feed clients in (b).
    #[arg(long, default_value_t = 200)]
    pub sse_clients: usize,
    /// Readings messages published in (b).
    #[arg(long, default_value_t = 200)]
    pub readings: usize,
    /// Pause between two publishes in (b), ms.
    #[arg(long, default_value_t = 20)]
    pub interval_ms: u64,
    /// Plain MQTT subscribers of the baseline of (b).
    #[arg(long, default_value_t = 1)]
    pub baseline_subscribers: usize,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// (a): the readings query.
#[derive(Debug, Serialize)]
pub struct QueryBench {
    /// Station queried.
    pub station: String,
    /// Parameters it measures (all queried).
    pub parameters: usize,
    /// Days queried.
    pub days: u32,
    /// Readings each answer holds.
    pub readings_per_answer: usize,
    /// Bytes of one JSON answer.
    pub answer_bytes: usize,
    /// Queries sent.
    pub requests: usize,
    /// Concurrent clients.
    pub clients: usize,
    /// Over HTTP: answers per second.
    pub http_per_sec: f64,
    /// Over HTTP: median, ms.
    pub http_p50_ms: f64,
    /// Over HTTP: 99th percentile, ms.
    pub http_p99_ms: f64,
    /// Baseline, the store's reader alone: queries per second.
    pub store_per_sec: f64,
    /// Baseline: median, ms.
    pub store_p50_ms: f64,
    /// Baseline: 99th percentile, ms.
    pub store_p99_ms: f64,
}

/// (b): the live feed.
#[derive(Debug, Serialize)]
pub struct FeedBench {
    /// Live-feed clients.
    pub sse_clients: usize,
    /// Readings messages published.
    pub readings: usize,
    /// Pause between publishes, ms.
    pub interval_ms: u64,
    /// `reading` events received (clients × messages).
    pub events: usize,
    /// Publish → `reading` event: median, ms.
    pub sse_p50_ms: f64,
    /// Publish → `reading` event: 99th percentile, ms.
    pub sse_p99_ms: f64,
    /// Publish → `reading` event: largest, ms.
    pub sse_max_ms: f64,
    /// Baseline subscribers.
    pub baseline_subscribers: usize,
    /// Baseline, publish → plain subscriber: median, ms.
    pub mqtt_p50_ms: f64,
    /// Baseline: 99th percentile, ms.
    pub mqtt_p99_ms: f64,
}

/// Both parts.
#[derive(Debug, Serialize)]
pub struct ConsoleBench {
    /// (a).
    pub query: QueryBench,
    /// (b).
    pub feed: FeedBench,
}

/// Seeds `days` of 1-minute readings of every parameter of `station`, ending at `to`,
/// through the store's writer; returns how many.
fn seed(
    db: &Path,
    station: &str,
    parameters: &[String],
    days: u32,
    to: DateTime<Utc>,
) -> anyhow::Result<usize> {
    let store = SqliteStore::open(db, &Default::default())?;
    let minutes = i64::from(days) * 1440;
    let from = to - chrono::Duration::minutes(minutes);
    let id = StationId::new(station);
    let mut batch = Vec::with_capacity(50_000);
    let mut total = 0;
    for m in 0..minutes {
        let t = from + chrono::Duration::minutes(m);
        for (k, p) in parameters.iter().enumerate() {
            batch.push(Reading {
                station: id.clone(),
                parameter: ParamCode::new(p),
                observed_at: t,
                received_at: t + chrono::Duration::seconds(2),
                value: 1.0 + ((m as usize * 7 + k * 13) % 97) as f64 / 100.0,
                flag: DataFlag::N,
                period: Period::Minute,
            });
        }
        if batch.len() >= 50_000 || m + 1 == minutes {
            total += batch.len();
            let write = WriteBatch {
                readings: std::mem::take(&mut batch),
                dead_letters: Vec::new(),
                held: Vec::new(),
            };
            store.write_blocking(&write)?;
        }
    }
    Ok(total)
}

/// Runs `n` jobs over `clients` workers; each job's latency and the whole span.
async fn concurrently<F, Fut>(
    n: usize,
    clients: usize,
    job: F,
) -> anyhow::Result<(Latencies, Duration)>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let job = Arc::new(job);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..clients.max(1) {
        let (job, next) = (job.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut took = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                let t0 = Instant::now();
                job().await?;
                took.push(t0.elapsed());
            }
            Ok::<_, anyhow::Error>(took)
        }));
    }
    let mut hist = Latencies::new()?;
    for w in workers {
        for d in w.await?? {
            hist.record(d);
        }
    }
    Ok((hist, start.elapsed()))
}

/// A reading event or message, reduced to the value that numbers it.
#[derive(serde::Deserialize)]
struct Numbered {
    readings: Vec<NumberedReading>,
}

#[derive(serde::Deserialize)]
struct NumberedReading {
    value: f64,
}

/// The number of a bench message (its reading's value), if it is one.
fn number_of(json: &[u8]) -> Option<usize> {
    let m: Numbered = serde_json::from_slice(json).ok()?;
    let v = m.readings.first()?.value;
    (v >= 0.0 && v.fract() == 0.0).then_some(v as usize)
}

/// The messages of (b): readings of one station and parameter, signed as ingest signs them.
struct Messages<'a> {
    keys: &'a KeyRing,
    station: &'a str,
    parameter: &'a str,
}

/// Message `i` of (b); the warm-up message is number `n`.
fn feed_message(m: &Messages<'_>, i: usize) -> (String, Vec<u8>) {
    let Messages {
        keys,
        station,
        parameter,
    } = *m;
    let at = Utc::now();
    let msg = ReadingsMessage {
        station: StationId::new(station),
        readings: vec![ReadingOut {
            parameter: ParamCode::new(parameter),
            value: i as f64,
            unit: String::new(),
            observed_at: at,
            received_at: at,
            flag: DataFlag::N,
            valid: true,
            period: Period::Sample,
        }],
    };
    let topic = format!("rw/v1/readings/{station}");
    let body = msg.to_json();
    let signed = auth::sign(keys, &topic, &body).unwrap_or(body);
    (topic, signed)
}

/// Publishes the warm-up message until `ready` says every receiver has it, then the `n`
/// messages one every `interval`; returns each message's publish time.
async fn publish_all(
    url: &str,
    id: &str,
    messages: &Messages<'_>,
    n: usize,
    interval: Duration,
    ready: impl Fn() -> bool,
) -> anyhow::Result<Vec<Instant>> {
    let opts = MqttConfig::with_url(url).options(id, true)?;
    let (client, mut el) = AsyncClient::new(opts, 1000);
    el.set_network_options(network_options());
    let mut driver = tokio::spawn(async move {
        loop {
            match el.poll().await {
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => break,
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (topic, body) = feed_message(messages, n);
        client.publish(topic, QoS::AtLeastOnce, false, body).await?;
        let until = Instant::now() + Duration::from_secs(2);
        while !ready() && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if ready() {
            break;
        }
        if Instant::now() > deadline {
            driver.abort();
            bail!("the receivers never got the warm-up message");
        }
    }
    let mut sent = Vec::with_capacity(n);
    let mut tick = tokio::time::interval(interval.max(Duration::from_millis(1)));
    for i in 0..n {
        tick.tick().await;
        let (topic, body) = feed_message(messages, i);
        sent.push(Instant::now());
        client.publish(topic, QoS::AtLeastOnce, false, body).await?;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = client.disconnect().await;
    if tokio::time::timeout(Duration::from_secs(5), &mut driver)
        .await
        .is_err()
    {
        driver.abort();
    }
    Ok(sent)
}

/// Receipts of one receiver: (message number, when).
type Receipts = Vec<(usize, Instant)>;

/// Waits until every receiver has all `n` messages (or `timeout`), then the latencies.
async fn collect(
    receivers: Vec<tokio::task::JoinHandle<Receipts>>,
    sent: &[Instant],
    stop: &CancellationToken,
    timeout: Duration,
) -> anyhow::Result<(Latencies, usize)> {
    let mut hist = Latencies::new()?;
    let mut events = 0;
    let mut per_message = vec![0usize; sent.len()];
    let mut per_receiver = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    let timer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(deadline).await;
            stop.cancel();
        })
    };
    for r in receivers {
        let got = r.await?;
        per_receiver.push(got.len());
        for (i, at) in got {
            if let Some(t0) = sent.get(i) {
                hist.record(at.saturating_duration_since(*t0));
                events += 1;
                per_message[i] += 1;
            }
        }
    }
    timer.abort();
    let want = per_receiver.len() * sent.len();
    if events != want {
        let short: Vec<String> = per_message
            .iter()
            .enumerate()
            .filter(|(_, c)| **c < per_receiver.len())
            .take(10)
            .map(|(i, c)| format!("#{i}: {c}"))
            .collect();
        let receivers_short = per_receiver.iter().filter(|c| **c < sent.len()).count();
        bail!(
            "{events} of {want} arrived in {} s; {receivers_short} receivers short; messages short (number: receivers): {}",
            timeout.as_secs(),
            short.join(", ")
        );
    }
    Ok((hist, events))
}

/// A plain MQTT subscriber of the readings topics: the message numbers it receives, until
/// it has `n` or `stop`.
async fn plain_subscriber(
    url: String,
    id: String,
    n: usize,
    warm: Arc<std::sync::atomic::AtomicUsize>,
    subscribed: tokio::sync::oneshot::Sender<()>,
    stop: CancellationToken,
) -> Receipts {
    let mut got = Vec::with_capacity(n);
    let Ok(opts) = MqttConfig::with_url(&url).options(&id, true) else {
        return got;
    };
    let (client, mut el) = AsyncClient::new(opts, 100);
    el.set_network_options(network_options());
    if client
        .subscribe("rw/v1/readings/+", QoS::AtLeastOnce)
        .await
        .is_err()
    {
        return got;
    }
    let mut subscribed = Some(subscribed);
    let mut warmed = false;
    loop {
        // Polled only here: a poll cut off by `stop` ends the subscriber anyway.
        let ev = tokio::select! {
            ev = el.poll() => ev,
            () = stop.cancelled() => break,
        };
        match ev {
            Ok(Event::Incoming(Incoming::SubAck(_))) => {
                if let Some(s) = subscribed.take() {
                    let _ = s.send(());
                }
            }
            Ok(Event::Incoming(Incoming::Publish(p))) => {
                let at = Instant::now();
                // The payload is `{…,"mac":…}` around the message: the numbers parse from it.
                match number_of(&p.payload) {
                    Some(i) if i == n && !warmed => {
                        warmed = true;
                        warm.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Some(i) if i == n => {}
                    Some(i) => {
                        got.push((i, at));
                        if got.len() == n {
                            break;
                        }
                    }
                    None => {}
                }
            }
            Ok(_) => {}
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let _ = client.disconnect().await;
    got
}

/// A live-feed client: the numbers of the `reading` events it receives, until it has `n`
/// or `stop`.
async fn sse_client(
    http: reqwest::Client,
    url: String,
    token: String,
    n: usize,
    warm: Arc<std::sync::atomic::AtomicUsize>,
    stop: CancellationToken,
) -> anyhow::Result<Receipts> {
    let mut got = Vec::with_capacity(n);
    let mut r = http
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .context("live feed")?;
    if !r.status().is_success() {
        bail!("live feed: {}", r.status());
    }
    let mut buf: Vec<u8> = Vec::new();
    let mut warmed = false;
    loop {
        let chunk = tokio::select! {
            c = r.chunk() => c.context("live feed")?,
            () = stop.cancelled() => break,
        };
        let Some(chunk) = chunk else { break };
        let at = Instant::now();
        buf.extend_from_slice(&chunk);
        // Whole events end with a blank line.
        while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = buf.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&event);
            if !text.lines().any(|l| l == "event: reading") {
                continue;
            }
            let Some(data) = text.lines().find_map(|l| l.strip_prefix("data: ")) else {
                continue;
            };
            match number_of(data.as_bytes()) {
                Some(i) if i == n && !warmed => {
                    warmed = true;
                    warm.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Some(i) if i == n => {}
                Some(i) => got.push((i, at)),
                None => {}
            }
        }
        if got.len() >= n {
            break;
        }
    }
    Ok(got)
}

/// Runs `riverwatch bench console`.
///
/// # Errors
/// A server cannot start, a request fails, or events do not arrive in time.
pub async fn run(args: &ConsoleBenchArgs, ctx: &Context) -> anyhow::Result<()> {
    let registry: Arc<Registry> = ctx.loaded.registry.clone();
    let Some(station) = registry.station(&args.station) else {
        return Err(user_error(
            format!("未知站点 `{}`", args.station),
            format!("unknown station `{}`", args.station),
        ));
    };
    let parameters = station.parameters.clone();
    let Some(first_parameter) = parameters.first().cloned() else {
        bail!("station {} measures nothing", args.station);
    };
    let dir = TempDir::new("rw-console-bench")?;
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data)?;
    let stores = Stores {
        data_dir: data.clone(),
        readings: StoreConfig::default(),
        analytics_file: "analytics.db".into(),
        alerts_file: "alerts.db".into(),
    };
    let db = store::sqlite_path(&stores.readings, &data);
    let to = DateTime::from_timestamp(Utc::now().timestamp() / 60 * 60, 0).unwrap_or_default();
    let days = args.days.clamp(1, 366);
    let from = to - chrono::Duration::days(i64::from(days));
    tracing::info!(station = %args.station, parameters = parameters.len(), days, "Seeding the readings store.");
    let seeded = {
        let (db, station, parameters) = (db.clone(), args.station.clone(), parameters.clone());
        tokio::task::spawn_blocking(move || seed(&db, &station, &parameters, days, to)).await??
    };

    // The console's token, made as `riverwatch tokens create` makes it.
    let config = ConsoleConfig {
        listen: "127.0.0.1:0".into(),
        client_id: format!("rw-console-bench-{}", std::process::id()),
        max_query_days: days + 1,
        max_query_readings: seeded + 1,
        ..ConsoleConfig::default()
    };
    let (token, _) = TokenStore::open(&data.join(&config.database))?.create(
        "基准测试",
        Province::Heilongjiang,
        Role::Viewer,
        Utc::now(),
    )?;

    let broker = tokio::task::spawn_blocking(Mosquitto::start)
        .await?
        .context("cannot start mosquitto (apt-get install -y mosquitto)")?;
    let keys = KeyRing::generate()?;
    let mqtt = MqttConfig {
        keys: Some(keys.clone()),
        ..MqttConfig::with_url(&broker.url())
    };

    let messages = Messages {
        keys: &keys,
        station: &args.station,
        parameter: &first_parameter,
    };
    // (b)'s baseline first, before the console exists: plain subscribers of the same
    // publishes.
    let n = args.readings.max(1);
    let interval = Duration::from_millis(args.interval_ms);
    let k = args.baseline_subscribers.max(1);
    let stop = CancellationToken::new();
    let warm = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut subs = Vec::new();
    for s in 0..k {
        let (tx, rx) = tokio::sync::oneshot::channel();
        subs.push(tokio::spawn(plain_subscriber(
            broker.url(),
            format!("rw-console-bench-sub-{s}"),
            n,
            warm.clone(),
            tx,
            stop.clone(),
        )));
        rx.await.context("a plain subscriber never subscribed")?;
    }
    let w = warm.clone();
    let sent = publish_all(
        &broker.url(),
        "rw-console-bench-pub-mqtt",
        &messages,
        n,
        interval,
        move || w.load(std::sync::atomic::Ordering::Relaxed) >= k,
    )
    .await?;
    let (mqtt_hist, mqtt_events) = collect(subs, &sent, &stop, Duration::from_secs(60)).await?;
    if mqtt_events != n * k {
        bail!(
            "the plain subscribers received {mqtt_events} of {} messages",
            n * k
        );
    }

    let console = riverwatch_console::bind(ConsoleArgs {
        config,
        mqtt,
        registry: registry.clone(),
        stores: stores.clone(),
        lang: Lang::Zh,
        clock: Arc::new(SystemClock),
    })
    .await
    .map_err(|e| anyhow::anyhow!("console: {e}"))?;
    let base = console.url();
    let shutdown = CancellationToken::new();
    let served = tokio::spawn(console.run(shutdown.clone()));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients.max(args.sse_clients) + 8)
        .build()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r: serde_json::Value = http
            .get(format!("{base}/readyz"))
            .send()
            .await?
            .json()
            .await?;
        if r["broker"] == true {
            break;
        }
        if Instant::now() > deadline {
            bail!("the console never connected to the broker: {r}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // (a) over HTTP.
    let query_url = format!(
        "{base}/api/v1/readings?station={}&from={}&to={}",
        args.station,
        from.to_rfc3339_opts(SecondsFormat::Secs, true),
        to.to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    let one = http
        .get(&query_url)
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    let answer: Numbers = serde_json::from_slice(&one).context("the readings answer")?;
    if answer.truncated || answer.readings.len() != seeded {
        bail!(
            "the answer holds {} of {seeded} readings",
            answer.readings.len()
        );
    }
    let requests = args.requests.max(1);
    let clients = args.clients.max(1);
    let (http_hist, http_span) = {
        let (http, url, token) = (http.clone(), query_url.clone(), token.clone());
        concurrently(requests, clients, move || {
            let (http, url, token) = (http.clone(), url.clone(), token.clone());
            async move {
                let body = http
                    .get(&url)
                    .bearer_auth(&token)
                    .send()
                    .await?
                    .error_for_status()?
                    .bytes()
                    .await?;
                if body.len() < 1000 {
                    bail!("a short answer: {} bytes", body.len());
                }
                Ok(())
            }
        })
        .await?
    };
    // (a)'s baseline: the handler's query on the store's reader, no HTTP.
    let (store_hist, store_span) = {
        let reader = store::open_reader(&stores.readings, &data, &registry)?;
        let q = ReadingQuery {
            station: Some(args.station.clone()),
            parameters: Vec::new(),
            from: Some(from),
            to: Some(to),
            periods: vec![],
            limit: Some(seeded + 2),
        };
        let reader = Arc::new(reader);
        concurrently(requests, clients, move || {
            let (reader, q) = (reader.clone(), q.clone());
            async move {
                let got = reader.query(&q).await?;
                if got.len() != seeded {
                    bail!("the store gave {} of {seeded} readings", got.len());
                }
                Ok(())
            }
        })
        .await?
    };

    // (b) through the console.
    let m = args.sse_clients.max(1);
    let stop = CancellationToken::new();
    let warm = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut clients_b = Vec::new();
    for _ in 0..m {
        let (http, url, token, warm, stop) = (
            http.clone(),
            format!("{base}/api/v1/stream"),
            token.clone(),
            warm.clone(),
            stop.clone(),
        );
        clients_b.push(tokio::spawn(async move {
            match sse_client(http, url, token, n, warm, stop).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "A live-feed client failed.");
                    Vec::new()
                }
            }
        }));
    }
    let w = warm.clone();
    let sent = publish_all(
        &broker.url(),
        "rw-console-bench-pub-sse",
        &messages,
        n,
        interval,
        move || w.load(std::sync::atomic::Ordering::Relaxed) >= m,
    )
    .await?;
    let collected = collect(clients_b, &sent, &stop, Duration::from_secs(120)).await;
    if collected.is_err() {
        tracing::warn!(log = %broker.log(), "Broker log.");
    }
    let (sse_hist, sse_events) = collected?;
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(30), served).await;
    if sse_events != n * m {
        bail!(
            "the live-feed clients received {sse_events} of {} events",
            n * m
        );
    }

    let result = ConsoleBench {
        query: QueryBench {
            station: args.station.clone(),
            parameters: parameters.len(),
            days,
            readings_per_answer: seeded,
            answer_bytes: one.len(),
            requests,
            clients,
            http_per_sec: requests as f64 / http_span.as_secs_f64().max(1e-9),
            http_p50_ms: http_hist.quantile_ms(0.5),
            http_p99_ms: http_hist.quantile_ms(0.99),
            store_per_sec: requests as f64 / store_span.as_secs_f64().max(1e-9),
            store_p50_ms: store_hist.quantile_ms(0.5),
            store_p99_ms: store_hist.quantile_ms(0.99),
        },
        feed: FeedBench {
            sse_clients: m,
            readings: n,
            interval_ms: args.interval_ms,
            events: sse_events,
            sse_p50_ms: sse_hist.quantile_ms(0.5),
            sse_p99_ms: sse_hist.quantile_ms(0.99),
            sse_max_ms: sse_hist.max_ms(),
            baseline_subscribers: k,
            mqtt_p50_ms: mqtt_hist.quantile_ms(0.5),
            mqtt_p99_ms: mqtt_hist.quantile_ms(0.99),
        },
    };
    drop(dir);
    if args.json {
        return print_json(&result);
    }
    println!("{}", render(&result, ctx.lang));
    Ok(())
}

/// The readings answer, counted.
#[derive(serde::Deserialize)]
struct Numbers {
    truncated: bool,
    readings: Vec<serde::de::IgnoredAny>,
}

fn render(r: &ConsoleBench, lang: Lang) -> String {
    let q = &r.query;
    let f = &r.feed;
    let mib = q.answer_bytes as f64 / (1024.0 * 1024.0);
    let rate = ratio(q.http_per_sec, q.store_per_sec);
    let q99 = ratio(q.http_p99_ms, q.store_p99_ms);
    let f50 = ratio(f.sse_p50_ms, f.mqtt_p50_ms);
    let f99 = ratio(f.sse_p99_ms, f.mqtt_p99_ms);
    let p = |zh: &'static str, en: &'static str| lang.pick(zh, en);
    let mut out = String::new();
    out += &format!(
        "{} {}, {} {}, {} {}, {} {} (JSON {mib:.1} MiB), {} {}, {} {}\n",
        p("(a) 读数查询：", "(a) readings query:"),
        q.station,
        q.days,
        p("天的 1 分钟数据", "day(s) at 1-minute resolution"),
        q.parameters,
        p("个参数", "parameters"),
        q.readings_per_answer,
        p("个读数/次", "readings per answer"),
        q.requests,
        p("次请求", "requests"),
        q.clients,
        p("个并发客户端", "concurrent clients"),
    );
    out += &format!(
        "  HTTP GET /api/v1/readings: {:.1} {}, p50 {:.1} ms, p99 {:.1} ms\n",
        q.http_per_sec,
        p("次/秒", "req/s"),
        q.http_p50_ms,
        q.http_p99_ms,
    );
    out += &format!(
        "  {}: {:.1} {}, p50 {:.1} ms, p99 {:.1} ms\n",
        p(
            "基线（读数库读取器直接查询，无 HTTP）",
            "baseline (the store's reader alone, no HTTP)"
        ),
        q.store_per_sec,
        p("次/秒", "queries/s"),
        q.store_p50_ms,
        q.store_p99_ms,
    );
    out += &format!(
        "  {}: {} {rate:.2}x, p99 {q99:.2}x\n",
        p("比值", "ratio"),
        p("吞吐", "throughput"),
    );
    out += &format!(
        "{} {} {}, {} {}, {} {} ms, {} {}\n",
        p("(b) 实时推送：", "(b) live feed:"),
        f.sse_clients,
        p("个 SSE 客户端", "SSE clients"),
        f.readings,
        p("条读数消息", "readings messages"),
        p("间隔", "one every"),
        f.interval_ms,
        f.events,
        p("个事件", "events"),
    );
    out += &format!(
        "  {}: p50 {:.1} ms, p99 {:.1} ms, {} {:.1} ms\n",
        p("代理发布 → reading 事件", "broker publish → reading event"),
        f.sse_p50_ms,
        f.sse_p99_ms,
        p("最大", "max"),
        f.sse_max_ms,
    );
    out += &format!(
        "  {} ({} {}): p50 {:.1} ms, p99 {:.1} ms\n",
        p("基线", "baseline"),
        f.baseline_subscribers,
        p(
            "个普通 MQTT 订阅者接收同样的消息",
            "plain MQTT subscriber(s) receiving the same publishes"
        ),
        f.mqtt_p50_ms,
        f.mqtt_p99_ms,
    );
    out += &format!("  {}: p50 {f50:.1}x, p99 {f99:.1}x", p("比值", "ratio"));
    out
}
