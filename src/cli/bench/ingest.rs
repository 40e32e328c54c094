//! `riverwatch bench ingest`: ingest throughput as a ratio to the broker's own delivery
//! rate, measured in one run on one mosquitto.
//!
//! N QoS 1 observations (8 readings each) go through (a) a plain rumqttc subscriber that
//! only counts, and (b) `riverwatch ingest` (a child process of this binary, SQLite with
//! durable commits and the dedup key in force). In `drain` mode they are queued on a
//! persistent session first and each side takes the whole queue; in `live` mode the load
//! generator publishes while the side runs. (b) is done when ingest has published the
//! readings of the last message's station on its readings-out topic (which it does after
//! the commit, in arrival order) and the store holds every reading. Rounds of (a) then (b)
//! give medians of the rates; the ratio b/a is the figure, with readings/s, ingest's CPU per
//! message and its peak RSS (VmHWM).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use riverwatch_core::mqtt::{MqttConfig, network_options};
use riverwatch_testkit::{Mosquitto, MosquittoOptions, TempDir};
use rumqttc::{AsyncClient, Event, Incoming, QoS};
use serde::Serialize;

use super::median;
use crate::cli::render::print_json;

/// `riverwatch bench ingest`.
#[derive(Debug, Args)]
pub struct IngestBenchArgs {
    /// Observations to send (8 readings each).
    #[arg(long, default_value_t = 100_000)]
    pub messages: usize,
    /// Use this mosquitto instead of starting one (it must keep queued messages for offline
    /// persistent sessions: max_queued_messages ≥ --messages).
    #[arg(long)]
    pub mqtt: Option<String>,
    /// `live`: the load generator publishes while the consumer runs (the broker, the load
    /// generator and the consumer share the machine); `drain`: the messages are queued first
    /// and the consumer drains the queue.
    #[arg(long, value_enum, default_value_t = Mode::Live)]
    pub mode: Mode,
    /// Rounds of (a) then (b), each on fresh sessions and a fresh database; medians are
    /// reported.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Run the ingest child under this command, e.g. a profiler
    /// (`--wrap "perf record -e cpu-clock -g -o ingest.perf --"`).
    #[arg(long, hide = true)]
    pub wrap: Option<String>,
}

/// How the load meets the consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Publish while consuming.
    Live,
    /// Queue first, then consume.
    Drain,
}

/// The figures of one run.
#[derive(Debug, Serialize)]
pub struct IngestBench {
    /// How the load met the consumer.
    pub mode: Mode,
    /// Observations sent.
    pub messages: usize,
    /// Readings per observation.
    pub readings_per_message: usize,
    /// Rounds of (a) then (b); the rates are medians over them.
    pub rounds: usize,
    /// (a) broker to a plain subscriber, messages/s.
    pub broker_msgs_per_sec: f64,
    /// (b) broker to riverwatch ingest into SQLite, messages/s.
    pub ingest_msgs_per_sec: f64,
    /// (b) in readings/s.
    pub ingest_readings_per_sec: f64,
    /// b / a of the medians.
    pub ratio: f64,
    /// Lowest b / a of a single round.
    pub ratio_min: f64,
    /// Highest b / a of a single round.
    pub ratio_max: f64,
    /// Peak resident memory of the ingest process, MiB.
    pub ingest_peak_rss_mib: f64,
    /// CPU time (user + system) the ingest process spent per message, µs.
    pub ingest_cpu_us_per_msg: f64,
}

const READINGS_PER_MESSAGE: usize = 8;
const FILTER: &str = "rw/v1/obs/+";

/// The load: observations spread over the water sections, one minute apart per station.
fn load(n: usize) -> Vec<(String, Vec<u8>)> {
    let stations = [
        "LLH-WC", "LLH-NTS", "LLH-LLZ", "LLH-YS", "LLH-CJG", "LLH-HK", "SHJ-SFT", "SHJ-ZY",
        "SHJ-SJT", "SHJ-BYG", "SH2-BQ", "SH2-SY",
    ];
    let start = chrono::Utc::now() - chrono::Duration::days(400);
    (0..n)
        .map(|i| {
            let station = stations[i % stations.len()];
            let t = start + chrono::Duration::minutes((i / stations.len()) as i64);
            let x = (i % 89) as f64 / 100.0;
            let body = format!(
                r#"{{"station":"{station}","ts":"{}","seq":{i},"values":{{"WT":{:.2},"pH":{:.2},"DO":{:.2},"COND":{:.1},"TURB":{:.1},"CODMn":{:.2},"NH3N":{:.3},"TP":{:.3}}}}}"#,
                t.to_rfc3339(),
                2.0 + x,
                7.2 + x,
                8.0 + x,
                300.0 + x,
                10.0 + x,
                4.0 + x,
                0.3 + x / 10.0,
                0.05 + x / 100.0
            );
            (format!("rw/v1/obs/{station}"), body.into_bytes())
        })
        .collect()
}

async fn drive_until<F>(eventloop: &mut rumqttc::EventLoop, mut done: F) -> anyhow::Result<()>
where
    F: FnMut(&Event) -> bool,
{
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(30), eventloop.poll())
            .await
            .context("the broker went quiet for 30 s")?
            .context("broker connection failed")?;
        if done(&ev) {
            return Ok(());
        }
    }
}

/// Creates a persistent session subscribed to the observations, so the broker queues them.
async fn prime(url: &str, client_id: &str) -> anyhow::Result<()> {
    let opts = MqttConfig::with_url(url).options(client_id, false)?;
    let (client, mut el) = AsyncClient::new(opts, 10);
    client.subscribe(FILTER, QoS::AtLeastOnce).await?;
    drive_until(&mut el, |e| {
        matches!(e, Event::Incoming(Incoming::SubAck(_)))
    })
    .await?;
    client.disconnect().await?;
    let _ = drive_until(&mut el, |e| {
        matches!(e, Event::Outgoing(rumqttc::Outgoing::Disconnect))
    })
    .await;
    Ok(())
}

async fn publish(url: &str, messages: Vec<(String, Vec<u8>)>) -> anyhow::Result<()> {
    let mut opts = MqttConfig::with_url(url).options("riverwatch-bench-pub", true)?;
    opts.set_inflight(1000);
    let (client, mut el) = AsyncClient::new(opts, 5000);
    el.set_network_options(network_options());
    let total = messages.len();
    let sender = tokio::spawn(async move {
        for (topic, body) in messages {
            client.publish(topic, QoS::AtLeastOnce, false, body).await?;
        }
        Ok::<_, rumqttc::ClientError>(client)
    });
    let mut acked = 0;
    drive_until(&mut el, |e| {
        if matches!(e, Event::Incoming(Incoming::PubAck(_))) {
            acked += 1;
        }
        acked == total
    })
    .await?;
    let client = sender.await??;
    client.disconnect().await?;
    Ok(())
}

/// (a): a subscriber that acknowledges on receipt and only counts. In live mode the load is
/// published once the subscriber is connected; the clock starts with the first publish.
async fn plain_subscriber(
    url: &str,
    client_id: &str,
    messages: Vec<(String, Vec<u8>)>,
    mode: Mode,
) -> anyhow::Result<Duration> {
    let n = messages.len();
    let mut messages = Some(messages);
    if mode == Mode::Drain
        && let Some(m) = messages.take()
    {
        publish(url, m).await?;
    }
    let opts = MqttConfig::with_url(url).options(client_id, false)?;
    let (_client, mut el) = AsyncClient::new(opts, 5000);
    el.set_network_options(network_options());
    drive_until(&mut el, |e| {
        matches!(e, Event::Incoming(Incoming::ConnAck(_)))
    })
    .await?;
    let start = Instant::now();
    let publisher = messages.take().map(|m| {
        let url = url.to_string();
        tokio::spawn(async move { publish(&url, m).await })
    });
    let mut got = 0;
    drive_until(&mut el, |e| {
        if matches!(e, Event::Incoming(Incoming::Publish(_))) {
            got += 1;
        }
        got == n
    })
    .await?;
    let elapsed = start.elapsed();
    if let Some(p) = publisher {
        p.await??;
    }
    Ok(elapsed)
}

/// Waits for a service's retained `online` status.
async fn wait_online(url: &str, client_id: &str) -> anyhow::Result<()> {
    let opts = MqttConfig::with_url(url).options("riverwatch-bench-watch", true)?;
    let (client, mut el) = AsyncClient::new(opts, 10);
    client
        .subscribe(format!("rw/v1/status/{client_id}"), QoS::AtMostOnce)
        .await?;
    drive_until(&mut el, |e| match e {
        Event::Incoming(Incoming::Publish(p)) => {
            String::from_utf8_lossy(&p.payload).contains("\"online\"")
        }
        _ => false,
    })
    .await?;
    let _ = client.disconnect().await;
    Ok(())
}

/// A readings-out message, counted without decoding the readings.
#[derive(serde::Deserialize)]
struct ReadingsCount {
    readings: Vec<serde::de::IgnoredAny>,
}

/// A clean-session subscription to the readings ingest publishes after each commit for one
/// station.
async fn readings_watch(
    url: &str,
    station: &str,
) -> anyhow::Result<(AsyncClient, rumqttc::EventLoop)> {
    let opts = MqttConfig::with_url(url).options("riverwatch-bench-readings", true)?;
    let (client, mut el) = AsyncClient::new(opts, 10);
    el.set_network_options(network_options());
    client
        .subscribe(format!("rw/v1/readings/{station}"), QoS::AtLeastOnce)
        .await?;
    drive_until(&mut el, |e| {
        matches!(e, Event::Incoming(Incoming::SubAck(_)))
    })
    .await?;
    Ok((client, el))
}

fn count(db: &Path) -> u64 {
    riverwatch_ingest::store::SqliteReader::open(db)
        .and_then(|r| r.count_blocking())
        .unwrap_or(0)
}

/// User + system CPU seconds of a process so far (`/proc/PID/stat`, clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name, which is in parentheses and may hold spaces.
            let rest = s.rsplit_once(") ")?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = f.get(11)?.parse().ok()?;
            let stime: f64 = f.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(f64::NAN)
}

fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// (b): `riverwatch ingest` as a child process until every reading is stored.
async fn ingest_child(
    url: &str,
    client_id: &str,
    dir: &Path,
    messages: Vec<(String, Vec<u8>)>,
    mode: Mode,
    wrap: Option<&str>,
) -> anyhow::Result<(Duration, f64, f64)> {
    let n = messages.len();
    let station_of = |topic: &str| topic.rsplit('/').next().unwrap_or_default().to_string();
    let last_station = messages
        .last()
        .map(|(topic, _)| station_of(topic))
        .unwrap_or_default();
    let station_want = (messages
        .iter()
        .filter(|(topic, _)| station_of(topic) == last_station)
        .count()
        * READINGS_PER_MESSAGE) as u64;
    let mut messages = Some(messages);
    if mode == Mode::Drain
        && let Some(m) = messages.take()
    {
        publish(url, m).await?;
    }
    let config = dir.join("bench.toml");
    std::fs::write(
        &config,
        format!("[mqtt]\nurl = \"{url}\"\n\n[ingest]\nclient_id = \"{client_id}\"\n"),
    )?;
    let data = dir.join("data");
    let db = data.join("readings.db");
    // The key ingest signs its readings with, as `riverwatch up` would create it.
    let key = data.join(riverwatch_core::keys::KEY_FILE);
    if !key.exists() {
        riverwatch_core::keys::KeyRing::create_file(&key)?;
    }
    let exe = std::env::current_exe().context("cannot find this binary")?;
    let mut start = Instant::now();
    let mut command = match wrap {
        Some(w) => {
            let mut parts = w.split_whitespace();
            let mut c = Command::new(parts.next().unwrap_or("env"));
            c.args(parts).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    let mut child = command
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(&data)
        .arg("ingest")
        .env("RIVERWATCH_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .context("cannot start riverwatch ingest")?;
    let want = (n * READINGS_PER_MESSAGE) as u64;
    // Completion is watched on the readings-out topic of the station of the last message:
    // ingest commits in arrival order and publishes after the commit, so when that station
    // has all its readings out, every message before it is stored. Watching one station
    // keeps the harness light (the broker forwards a twelfth of readings-out to it, and it
    // parses only that): polling the database, or taking every readings-out message, would
    // take CPU from the process under test. The store is then counted, and waited for in
    // the unlikely case it is still short, so the figure never counts an unstored reading.
    let (watch, mut watch_el) = readings_watch(url, &last_station).await?;
    let mut publisher = None;
    if let Some(m) = messages.take() {
        wait_online(url, &format!("{client_id}-out")).await?;
        start = Instant::now();
        let url = url.to_string();
        publisher = Some(tokio::spawn(async move { publish(&url, m).await }));
    }
    // The watch's event loop runs in a task of its own: `poll` is not cancel-safe, so it is
    // never raced against the timers below (a publish cut off mid-read would be lost, and
    // the harness would wait for it forever).
    let (progress_tx, mut progress) = tokio::sync::watch::channel(Ok::<u64, String>(0));
    let watcher = tokio::spawn(async move {
        let mut published: u64 = 0;
        loop {
            match watch_el.poll().await {
                Ok(Event::Incoming(Incoming::Publish(p))) => {
                    match serde_json::from_slice::<ReadingsCount>(&p.payload) {
                        Ok(message) => published += message.readings.len() as u64,
                        Err(e) => {
                            let _ = progress_tx.send(Err(format!(
                                "ingest published readings that do not parse: {e}"
                            )));
                            return;
                        }
                    }
                    if progress_tx.send(Ok(published)).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = progress_tx
                        .send(Err(format!("lost the broker while watching readings: {e}")));
                    return;
                }
            }
        }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    loop {
        let published = match &*progress.borrow_and_update() {
            Ok(n) => *n,
            Err(e) => bail!("{e}"),
        };
        if published >= station_want {
            break;
        }
        tokio::select! {
            changed = progress.changed() => {
                if changed.is_err() {
                    bail!("the readings watch stopped");
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                let _ = child.kill();
                bail!("ingest published only {published} of {station_want} readings of {last_station} in 10 minutes");
            }
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                if let Ok(Some(status)) = child.try_wait() {
                    bail!("ingest exited early: {status}");
                }
            }
        }
    }
    let mut stored = count(&db);
    while stored < want && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
        stored = count(&db);
    }
    let elapsed = start.elapsed();
    let _ = watch.disconnect().await;
    watcher.abort();
    if let Some(p) = publisher {
        p.await??;
    }
    if stored != want {
        let _ = child.kill();
        bail!("the store holds {stored} of {want} readings");
    }
    let rss = peak_rss_mib(child.id());
    let cpu = cpu_seconds(child.id());
    let _ = Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status();
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    Ok((elapsed, rss, cpu))
}

/// Runs `riverwatch bench ingest`.
///
/// # Errors
/// When mosquitto cannot start or a side does not finish.
pub async fn run(args: &IngestBenchArgs) -> anyhow::Result<()> {
    let n = args.messages;
    let broker;
    let url = match &args.mqtt {
        Some(u) => u.clone(),
        None => {
            let opts = MosquittoOptions {
                max_queued_messages: (n as u64).max(1_000_000),
                max_inflight_messages: 1000,
                ..MosquittoOptions::default()
            };
            broker = tokio::task::spawn_blocking(move || Mosquitto::start_with(&opts))
                .await?
                .context("cannot start mosquitto (apt-get install -y mosquitto)")?;
            broker.url()
        }
    };
    let dir = TempDir::new("riverwatch-bench")?;
    tracing::info!(messages = n, broker = %url, "Generating the load.");
    let messages = load(n);

    // (a) and (b) alternate, each round on fresh sessions and a fresh database; medians are
    // reported, since a shared 2-core machine varies from run to run.
    let rounds = args.rounds.max(1);
    let mut rates_a = Vec::with_capacity(rounds);
    let mut rates_b = Vec::with_capacity(rounds);
    let mut ratios = Vec::with_capacity(rounds);
    let mut cpus = Vec::with_capacity(rounds);
    let mut rss: f64 = 0.0;
    for round in 0..rounds {
        let plain = format!("riverwatch-bench-plain-{round}");
        prime(&url, &plain).await?;
        let a = plain_subscriber(&url, &plain, messages.clone(), args.mode).await?;
        let ingest_id = format!("riverwatch-bench-ingest-{round}");
        prime(&url, &ingest_id).await?;
        let round_dir = dir.path().join(format!("round-{round}"));
        std::fs::create_dir_all(&round_dir)?;
        let (b, peak, cpu) = ingest_child(
            &url,
            &ingest_id,
            &round_dir,
            messages.clone(),
            args.mode,
            args.wrap.as_deref(),
        )
        .await?;
        let rate_a = n as f64 / a.as_secs_f64();
        let rate_b = n as f64 / b.as_secs_f64();
        tracing::info!(
            round,
            rate_a,
            rate_b,
            ratio = rate_b / rate_a,
            "Round done."
        );
        rates_a.push(rate_a);
        rates_b.push(rate_b);
        ratios.push(rate_b / rate_a);
        cpus.push(cpu * 1e6 / n as f64);
        rss = rss.max(peak);
    }
    let rate_a = median(&mut rates_a);
    let rate_b = median(&mut rates_b);
    let result = IngestBench {
        mode: args.mode,
        messages: n,
        readings_per_message: READINGS_PER_MESSAGE,
        rounds,
        broker_msgs_per_sec: rate_a,
        ingest_msgs_per_sec: rate_b,
        ingest_readings_per_sec: rate_b * READINGS_PER_MESSAGE as f64,
        ratio: rate_b / rate_a,
        ratio_min: ratios.iter().copied().fold(f64::INFINITY, f64::min),
        ratio_max: ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        ingest_peak_rss_mib: rss,
        ingest_cpu_us_per_msg: median(&mut cpus),
    };
    drop(dir);
    if args.json {
        print_json(&result)?;
    } else {
        println!(
            "{:?} mode, messages {n} x {READINGS_PER_MESSAGE} readings, median of {rounds} rounds\n\
             (a) broker -> plain subscriber : {rate_a:>10.0} msg/s\n\
             (b) broker -> riverwatch ingest: {rate_b:>10.0} msg/s ({:.0} readings/s into SQLite, synchronous=FULL)\n\
             b/a = {:.2} (rounds {:.2} - {:.2})\n\
             ingest peak RSS: {rss:.1} MiB, CPU {:.1} µs per message",
            args.mode,
            result.ingest_readings_per_sec,
            result.ratio,
            result.ratio_min,
            result.ratio_max,
            result.ingest_cpu_us_per_msg
        );
    }
    Ok(())
}
