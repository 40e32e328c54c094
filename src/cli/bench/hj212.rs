//! `riverwatch bench hj212`: HJ 212 frames over the loggers' TCP path against the same frames
//! through MQTT, in one run on one ingest (in this process, SQLite with durable commits).
//!
//! (a) TCP: one connection per station, each keeping up to `--window` frames in flight;
//! the latency of a frame runs from its write to the arrival of its 9014 (sent after the
//! commit). (b) MQTT: the same frames (other hours, so nothing is a duplicate) published at
//! QoS 1 to `rw/v1/hj212/{station}` with the same window per station; the latency runs from
//! the publish to the arrival of the frame's readings on `rw/v1/readings/{station}`
//! (published after the commit). Each side reports frames/s and the p50/p99 latency; the
//! store must hold every reading once at the end.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use riverwatch_core::hj212::stream::{Deframer, Piece};
use riverwatch_core::hj212::{CpData, CpItem, Flag, Frame, Version};
use riverwatch_core::mqtt::MqttConfig;
use riverwatch_core::registry::Registry;
use riverwatch_core::store_api::ReadingQuery;
use riverwatch_core::time::SystemClock;
use riverwatch_ingest::config::IngestConfig;
use riverwatch_ingest::tcp::Hj212TcpConfig;
use riverwatch_testkit::{Mosquitto, TempDir, free_port};
use rumqttc::{AsyncClient, Event, Incoming, QoS};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::Latencies;
use crate::cli::render::print_json;

/// `riverwatch bench hj212`.
#[derive(Debug, Args)]
pub struct Hj212BenchArgs {
    /// Frames per side (4 readings each), spread over the water sections.
    #[arg(long, default_value_t = 20_000)]
    pub frames: usize,
    /// Frames in flight per station (unacknowledged on TCP, unstored on MQTT).
    #[arg(long, default_value_t = 16)]
    pub window: usize,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The figures of one run.
#[derive(Debug, Serialize)]
pub struct Hj212Bench {
    /// Frames per side.
    pub frames: usize,
    /// Stations (connections on TCP).
    pub stations: usize,
    /// Frames in flight per station.
    pub window: usize,
    /// (a) TCP frames per second, first write to last 9014.
    pub tcp_frames_per_sec: f64,
    /// (a) write → 9014, median, ms.
    pub tcp_p50_ms: f64,
    /// (a) write → 9014, 99th percentile, ms.
    pub tcp_p99_ms: f64,
    /// (b) MQTT frames per second, first publish to last readings-out.
    pub mqtt_frames_per_sec: f64,
    /// (b) publish → readings out, median, ms.
    pub mqtt_p50_ms: f64,
    /// (b) publish → readings out, 99th percentile, ms.
    pub mqtt_p99_ms: f64,
    /// Readings in the store at the end (both sides).
    pub stored: usize,
}

/// What the MQTT side reads of a readings-out message.
#[derive(serde::Deserialize)]
struct ReadingsOut {
    station: String,
    readings: Vec<ReadingTime>,
}

#[derive(serde::Deserialize)]
struct ReadingTime {
    observed_at: DateTime<Utc>,
}

const STATIONS: [&str; 8] = [
    "LLH-WC", "LLH-NTS", "LLH-LLZ", "LLH-YS", "LLH-CJG", "LLH-HK", "SHJ-SFT", "SHJ-ZY",
];
const READINGS_PER_FRAME: usize = 4;

/// One station's frames in send order: (observation hour, encoded frame).
type StationFrames = Vec<(DateTime<Utc>, Vec<u8>)>;

/// Per station, its frames in send order.
fn frames(
    registry: &Registry,
    n: usize,
    start: DateTime<Utc>,
) -> anyhow::Result<Vec<StationFrames>> {
    let mut out = vec![Vec::new(); STATIONS.len()];
    for i in 0..n {
        let s = i % STATIONS.len();
        let station = registry
            .station(STATIONS[s])
            .with_context(|| format!("station {} in the registry", STATIONS[s]))?;
        let at = start + chrono::Duration::hours((i / STATIONS.len()) as i64);
        let local = (at + chrono::Duration::hours(8)).naive_utc();
        let x = (i % 89) as f64 / 100.0;
        let items = [
            ("w21003", 0.3 + x / 10.0),
            ("w01001", 7.2 + x),
            ("w01009", 8.0 + x),
            ("w01019", 4.0 + x),
        ]
        .into_iter()
        .map(|(code, v)| {
            let mut item = CpItem::new(code);
            item.avg = Some(format!("{v:.3}"));
            item.flag = Some("N".into());
            item
        })
        .collect();
        let frame = Frame {
            qn: Some(format!("{}{:03}", local.format("%Y%m%d%H%M%S"), i % 1000)),
            st: "21".into(),
            cn: "2061".into(),
            pw: "123456".into(),
            mn: station.mn.clone(),
            flag: Flag::new(Version::Hj212_2017, true, false),
            pnum: None,
            pno: None,
            cp: CpData {
                data_time: Some(local),
                items,
                extra: Vec::new(),
            }
            .render(),
        };
        out[s].push((at, frame.encode().into_bytes()));
    }
    Ok(out)
}

/// Runs `riverwatch bench hj212`.
///
/// # Errors
/// A server cannot start, a side fails or stalls, or the store misses readings.
pub async fn run(args: &Hj212BenchArgs) -> anyhow::Result<()> {
    if args.frames == 0 || args.window == 0 {
        bail!("--frames and --window must be at least 1");
    }
    let registry = Arc::new(Registry::builtin()?);
    let broker = tokio::task::spawn_blocking(Mosquitto::start).await??;
    let dir = TempDir::new("riverwatch-bench-hj212")?;
    let db = dir.path().join("readings.db");
    let addr = format!("127.0.0.1:{}", free_port()?);
    let mut mqtt = MqttConfig::with_url(&broker.url());
    // Ingest signs what it publishes (readings out) with a deployment key.
    mqtt.keys = Some(riverwatch_core::keys::KeyRing::generate()?);
    let store = riverwatch_ingest::store::SqliteStore::open(&db, &Default::default())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let config = IngestConfig {
        client_id: "rw-bench-hj212".into(),
        watch_broker_drops: false,
        hj212_tcp: Hj212TcpConfig {
            listen: Some(addr.clone()),
            max_frames_per_sec: 1_000_000,
            backfill_requests: false,
            ..Hj212TcpConfig::default()
        },
        ..IngestConfig::default()
    };
    // The readings-out watcher first, so nothing it waits for is missed.
    let (watch, mut watch_loop) =
        AsyncClient::new(mqtt.options("rw-bench-hj212-watch", true)?, 1024);
    watch.subscribe("rw/v1/readings/+", QoS::AtMostOnce).await?;
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(10), watch_loop.poll())
            .await
            .context("subscribing to readings out")??;
        if let Event::Incoming(Incoming::SubAck(_)) = ev {
            break;
        }
    }
    // Ingest's persistent session exists before anything is published to it.
    let (prime, mut prime_loop) = AsyncClient::new(mqtt.options("rw-bench-hj212", false)?, 16);
    prime.subscribe("rw/v1/obs/+", QoS::AtLeastOnce).await?;
    prime.subscribe("rw/v1/hj212/+", QoS::AtLeastOnce).await?;
    let mut acks = 0;
    while acks < 2 {
        let ev = tokio::time::timeout(Duration::from_secs(10), prime_loop.poll())
            .await
            .context("priming ingest's session")??;
        if let Event::Incoming(Incoming::SubAck(_)) = ev {
            acks += 1;
        }
    }
    prime.disconnect().await?;
    let _ = tokio::time::timeout(Duration::from_secs(2), prime_loop.poll()).await;
    let token = CancellationToken::new();
    let ingest = tokio::spawn(riverwatch_ingest::run(
        riverwatch_ingest::IngestArgs {
            config,
            mqtt: mqtt.clone(),
            store,
            registry: registry.clone(),
            clock: Arc::new(SystemClock),
        },
        token.clone(),
    ));
    // Whole hours: the frames' DataTime has no fraction, and readings out are matched on it.
    let base = Utc::now() - chrono::Duration::days(800);
    let base = DateTime::<Utc>::from_timestamp(base.timestamp() / 3600 * 3600, 0).unwrap_or(base);
    let hours = (args.frames / STATIONS.len() + 1) as i64;
    let tcp_frames = frames(&registry, args.frames, base)?;
    let mqtt_frames = frames(
        &registry,
        args.frames,
        base + chrono::Duration::hours(hours + 24),
    )?;

    // (a) TCP.
    let began = Instant::now();
    let mut sides = tokio::task::JoinSet::new();
    for list in tcp_frames {
        let addr = addr.clone();
        let window = args.window;
        sides.spawn(async move { tcp_station(&addr, list, window).await });
    }
    let mut tcp = Latencies::new()?;
    while let Some(r) = sides.join_next().await {
        for d in r?? {
            tcp.record(d);
        }
    }
    let tcp_secs = began.elapsed().as_secs_f64();

    // (b) MQTT.
    let (client, mut eventloop) = AsyncClient::new(mqtt.options("rw-bench-hj212-pub", true)?, 4096);
    let publisher = tokio::spawn(async move {
        loop {
            if eventloop.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    let began = Instant::now();
    let mut queues: Vec<VecDeque<(DateTime<Utc>, Vec<u8>)>> =
        mqtt_frames.into_iter().map(VecDeque::from).collect();
    let mut in_flight: HashMap<(String, DateTime<Utc>), Instant> = HashMap::new();
    let mut per_station = vec![0usize; STATIONS.len()];
    let mut mqtt_lat = Latencies::new()?;
    let mut done = 0usize;
    while done < args.frames {
        for (s, q) in queues.iter_mut().enumerate() {
            while per_station[s] < args.window
                && let Some((at, bytes)) = q.pop_front()
            {
                in_flight.insert((STATIONS[s].to_string(), at), Instant::now());
                per_station[s] += 1;
                client
                    .publish(
                        format!("rw/v1/hj212/{}", STATIONS[s]),
                        QoS::AtLeastOnce,
                        false,
                        bytes,
                    )
                    .await?;
            }
        }
        let ev = tokio::time::timeout(Duration::from_secs(60), watch_loop.poll())
            .await
            .context("no readings out for 60 s on the MQTT side")??;
        if let Event::Incoming(Incoming::Publish(p)) = ev {
            // The station and the readings' times (the MAC member is not needed here).
            let Ok(m) = serde_json::from_slice::<ReadingsOut>(&p.payload) else {
                continue;
            };
            let mut seen: Vec<DateTime<Utc>> = m.readings.iter().map(|r| r.observed_at).collect();
            seen.dedup();
            for at in seen {
                if let Some(sent) = in_flight.remove(&(m.station.clone(), at)) {
                    mqtt_lat.record(sent.elapsed());
                    if let Some(s) = STATIONS.iter().position(|x| *x == m.station) {
                        per_station[s] -= 1;
                    }
                    done += 1;
                }
            }
        }
    }
    let mqtt_secs = began.elapsed().as_secs_f64();
    publisher.abort();
    token.cancel();
    ingest.await?.map_err(|e| anyhow::anyhow!("{e}"))?;
    let stored = riverwatch_ingest::store::SqliteReader::open(&db)
        .and_then(|r| r.query_blocking(&ReadingQuery::default()))
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .len();
    if stored != 2 * args.frames * READINGS_PER_FRAME {
        bail!(
            "the store holds {stored} readings; {} were sent",
            2 * args.frames * READINGS_PER_FRAME
        );
    }
    let r = Hj212Bench {
        frames: args.frames,
        stations: STATIONS.len(),
        window: args.window,
        tcp_frames_per_sec: args.frames as f64 / tcp_secs,
        tcp_p50_ms: tcp.quantile_us(0.5) / 1e3,
        tcp_p99_ms: tcp.quantile_us(0.99) / 1e3,
        mqtt_frames_per_sec: args.frames as f64 / mqtt_secs,
        mqtt_p50_ms: mqtt_lat.quantile_us(0.5) / 1e3,
        mqtt_p99_ms: mqtt_lat.quantile_us(0.99) / 1e3,
        stored,
    };
    if args.json {
        print_json(&r)?;
    } else {
        println!(
            "HJ 212, {} frames per side over {} stations, window {}:\n  TCP  (write → 9014):          {:>9.0} frames/s  p50 {:.2} ms  p99 {:.2} ms\n  MQTT (publish → readings out): {:>9.0} frames/s  p50 {:.2} ms  p99 {:.2} ms\n  stored {} readings (each once)",
            r.frames,
            r.stations,
            r.window,
            r.tcp_frames_per_sec,
            r.tcp_p50_ms,
            r.tcp_p99_ms,
            r.mqtt_frames_per_sec,
            r.mqtt_p50_ms,
            r.mqtt_p99_ms,
            r.stored
        );
    }
    Ok(())
}

/// One station's frames over one connection, `window` unacknowledged at most: each frame's
/// time from write to 9014.
async fn tcp_station(
    addr: &str,
    list: StationFrames,
    window: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut stream = None;
    for _ in 0..200 {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    }
    let stream = stream.context("the HJ 212 listener does not accept connections")?;
    stream.set_nodelay(true)?;
    let (mut read, mut write) = stream.into_split();
    let mut pending: VecDeque<(String, Instant)> = VecDeque::new();
    let mut out = Vec::with_capacity(list.len());
    let mut next = list.into_iter();
    let mut deframer = Deframer::new(4096);
    let mut buf = vec![0u8; 16 * 1024];
    let total = next.len();
    while out.len() < total {
        while pending.len() < window
            && let Some((_, bytes)) = next.next()
        {
            let frame = Frame::decode(&bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
            pending.push_back((frame.qn.unwrap_or_default(), Instant::now()));
            write.write_all(&bytes).await?;
        }
        let n = tokio::time::timeout(Duration::from_secs(60), read.read(&mut buf))
            .await
            .context("no 9014 for 60 s on the TCP side")??;
        if n == 0 {
            bail!("the listener closed a connection");
        }
        deframer.push(&buf[..n]);
        while let Some(piece) = deframer.next_piece() {
            let Piece::Frame(bytes) = piece else { continue };
            let reply = Frame::decode(&bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
            if reply.cn != "9014" {
                continue;
            }
            if let Some(at) = pending
                .iter()
                .position(|(qn, _)| Some(qn) == reply.qn.as_ref())
                && let Some((_, sent)) = pending.remove(at)
            {
                out.push(sent.elapsed());
            }
        }
    }
    Ok(out)
}
