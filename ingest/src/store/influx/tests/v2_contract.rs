//! The InfluxDB 2 store against the stand-in server: the exact write request, and what
//! happens on 503, refused connections, 429, 400 and a hung server.

use std::sync::Arc;

use bytes::Bytes;
use riverwatch_core::store_api::{DeadLetterQuery, DeadLetterReader, StoreWriter, WriteBatch};
use riverwatch_core::{DeadLetter, ReasonCode};

use super::stub::{Answer, StubServer};
use super::{args, count_rows, reading, registry, v2_config, wait_until};
use crate::store::SqliteReader;
use crate::store::influx::line_protocol::encode_batch;
use crate::store::influx::{Influx2Store, InfluxError};

fn batch(readings: Vec<riverwatch_core::Reading>) -> Arc<WriteBatch> {
    Arc::new(WriteBatch {
        readings,
        dead_letters: Vec::new(),
        held: Vec::new(),
    })
}

/// Every line of the accepted bodies, in the order the server accepted them.
fn accepted_lines(server: &StubServer) -> Vec<String> {
    server
        .accepted_bodies()
        .iter()
        .flat_map(|b| b.lines().map(str::to_string).collect::<Vec<_>>())
        .collect()
}

fn lines_of(batches: &[&Arc<WriteBatch>]) -> Vec<String> {
    let reg = registry();
    batches
        .iter()
        .flat_map(|b| {
            encode_batch(&reg, &b.readings)
                .body
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn sends_the_exact_v2_write_request() {
    let server = StubServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut store = Influx2Store::open(args(v2_config(&server.url()), dir.path()))
        .await
        .unwrap();
    let mut flagged = reading("TEST-ESC", "pH", 0, 7.0);
    flagged.flag = riverwatch_core::DataFlag::M;
    // LLH-CJG is not in the test registry: only the reading's own tags.
    let b = batch(vec![flagged, reading("LLH-CJG", "NH3N", 0, 0.38)]);
    let report = store.write(Arc::clone(&b)).await.unwrap();
    assert_eq!(report.inserted, vec![true, true]);
    assert_eq!(report.duplicates, 0);
    assert!(!report.spooled);
    assert_eq!(store.spool_len(), 0);

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/api/v2/write");
    assert_eq!(r.param("org"), Some("river org"));
    assert_eq!(r.param("bucket"), Some("lalin/readings"));
    assert_eq!(r.param("precision"), Some("ms"));
    assert_eq!(r.header("authorization"), Some("Token tok-3x+/="));
    assert_eq!(
        r.body,
        "reading,kind=water,name_pinyin=Cai\\ \"jia\"\\ gou\\x,\
         name_zh=拉林河\\ 蔡家沟\\,断面\\=1,parameter=pH,period=sample,province=JL,\
         river=lalin,river_zh=拉林河,station=TEST-ESC value=7.0,flag=\"M\",valid=false \
         1795305600000\n\
         reading,parameter=NH3N,period=sample,station=LLH-CJG \
         value=0.38,flag=\"N\",valid=true 1795305600000\n"
    );
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_conflicting_resend_is_reported_and_not_sent_an_identical_one_is_sent_again() {
    let server = StubServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut store = Influx2Store::open(args(v2_config(&server.url()), dir.path()))
        .await
        .unwrap();
    let first = batch(vec![reading("LLH-CJG", "NH3N", 0, 2.5)]);
    let report = store.write(Arc::clone(&first)).await.unwrap();
    assert_eq!(report.inserted, vec![true]);
    assert!(report.conflicts.is_empty());

    let resend = batch(vec![
        reading("LLH-CJG", "NH3N", 0, 0.1),
        reading("LLH-CJG", "NH3N", 0, 2.5),
        reading("LLH-CJG", "pH", 0, 7.5),
    ]);
    let report = store.write(Arc::clone(&resend)).await.unwrap();
    assert_eq!(report.inserted, vec![false, false, true]);
    assert_eq!(report.duplicates, 1);
    assert_eq!(report.conflicts.len(), 1);
    assert_eq!(report.conflicts[0].index, 0);
    assert_eq!(report.conflicts[0].stored_value, 2.5);

    // InfluxDB never saw 0.1: it would have replaced 2.5. The identical resend went again.
    let lines = accepted_lines(&server);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines.iter().all(|l| !l.contains("value=0.1")), "{lines:?}");
    assert_eq!(lines.iter().filter(|l| l.contains("value=2.5")).count(), 2);
    store.close().await.unwrap();
}

/// The store logs what it accepted in its local database in the same transaction as the
/// index, before the send: a batch InfluxDB is not taking (spooled) is logged all the same,
/// resends are not logged again, and the reader with that log hands the commits over with
/// their values; without it, it offers no log.
#[tokio::test]
async fn accepted_readings_are_in_the_local_commit_log_before_influxdb_has_them() {
    use riverwatch_core::store_api::StoreReader;

    let server = StubServer::start().await;
    server.always(
        503,
        r#"{"code":"unavailable","message":"engine is restarting"}"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let config = v2_config(&server.url());
    let mut store = Influx2Store::open(args(config.clone(), dir.path()))
        .await
        .unwrap();
    let first = batch(vec![
        reading("LLH-CJG", "NH3N", 0, 2.5),
        reading("LLH-CJG", "pH", 0, 7.5),
    ]);
    assert!(store.write(Arc::clone(&first)).await.unwrap().spooled);
    // The identical resend (a redelivery after a crash before the acknowledgement).
    let report = store.write(Arc::clone(&first)).await.unwrap();
    assert_eq!(report.duplicates, 2);
    store
        .write(batch(vec![reading("LLH-NTS", "NH3N", 1, 0.4)]))
        .await
        .unwrap();

    let without = crate::store::Influx2Reader::new(&config).unwrap();
    assert!(without.commits_after(0, 10).await.unwrap().is_none());
    let reader = crate::store::Influx2Reader::new(&config)
        .unwrap()
        .with_commit_log(SqliteReader::open(&dir.path().join("local.db")).unwrap());
    let commits = reader.commits_after(0, 10).await.unwrap().unwrap();
    let got: Vec<(u64, Vec<riverwatch_core::Reading>)> = commits
        .into_iter()
        .map(|c| {
            let mut r = c.readings;
            r.sort_by(|a, b| a.parameter.cmp(&b.parameter));
            (c.seq, r)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                1,
                vec![
                    reading("LLH-CJG", "NH3N", 0, 2.5),
                    reading("LLH-CJG", "pH", 0, 7.5)
                ]
            ),
            (2, vec![reading("LLH-NTS", "NH3N", 1, 0.4)]),
        ]
    );
    assert!(
        reader
            .commits_after(2, 10)
            .await
            .unwrap()
            .unwrap()
            .is_empty()
    );
    assert!(store.spool_len() > 0, "InfluxDB has none of them yet");
    store.close().await.unwrap();
}

#[tokio::test]
async fn an_outage_spools_batches_and_the_drain_delivers_each_once_in_order() {
    let mut server = StubServer::start().await;
    server.always(
        503,
        r#"{"code":"unavailable","message":"engine is restarting"}"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let mut store = Influx2Store::open(args(v2_config(&server.url()), dir.path()))
        .await
        .unwrap();

    let b1 = batch(vec![
        reading("LLH-CJG", "pH", 0, 7.1),
        reading("LLH-CJG", "DO", 0, 8.4),
    ]);
    let b2 = batch(vec![reading("LLH-CJG", "pH", 1, 7.2)]);
    let b3 = batch(vec![reading("TEST-ESC", "NH3N", 2, 0.5)]);
    let b4 = batch(vec![reading("TEST-AIR", "PM25", 3, 35.0)]);

    let r1 = store.write(Arc::clone(&b1)).await.unwrap();
    assert!(r1.spooled, "a 503 spools the batch");
    assert_eq!(r1.inserted, vec![true, true]);
    assert_eq!(store.spool_len(), 1);
    assert!(server.requests().iter().any(|r| r.status == 503));

    let r2 = store.write(Arc::clone(&b2)).await.unwrap();
    assert!(r2.spooled);
    assert_eq!(store.spool_len(), 2);

    // Now the server is gone altogether: connections are refused.
    server.stop().await;
    let r3 = store.write(Arc::clone(&b3)).await.unwrap();
    assert!(r3.spooled);
    assert_eq!(store.spool_len(), 3);
    assert_eq!(count_rows(dir.path(), "influx_spool"), 3);
    assert!(server.accepted_bodies().is_empty());

    // Back, and healthy.
    server.always(204, "");
    server.restart().await;
    wait_until(10, "the spool to drain", || store.spool_len() == 0).await;
    assert_eq!(count_rows(dir.path(), "influx_spool"), 0);

    // Once the spool is empty a write goes straight through.
    let r4 = store.write(Arc::clone(&b4)).await.unwrap();
    assert!(!r4.spooled);

    assert_eq!(accepted_lines(&server), lines_of(&[&b1, &b2, &b3, &b4]));
    for r in server.requests() {
        assert_eq!(r.path, "/api/v2/write");
        assert_eq!(r.param("precision"), Some("ms"));
    }
    assert_eq!(store.rejected_len(), 0);
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_429_is_spooled_and_retried() {
    let server = StubServer::start().await;
    server.once(Answer::Status(
        429,
        r#"{"code":"too many requests","message":"slow down"}"#.to_string(),
    ));
    let dir = tempfile::tempdir().unwrap();
    let mut store = Influx2Store::open(args(v2_config(&server.url()), dir.path()))
        .await
        .unwrap();
    let b = batch(vec![reading("LLH-CJG", "pH", 0, 7.3)]);
    let report = store.write(Arc::clone(&b)).await.unwrap();
    assert!(report.spooled);
    wait_until(10, "the spool to drain", || store.spool_len() == 0).await;
    let statuses: Vec<u16> = server.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![429, 204]);
    assert_eq!(accepted_lines(&server), lines_of(&[&b]));
    assert_eq!(store.rejected_len(), 0);
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_400_is_kept_locally_and_not_retried() {
    let server = StubServer::start().await;
    let message = "failure writing points to database: partial write: field type conflict";
    server.once(Answer::Status(
        400,
        format!(r#"{{"code":"invalid","message":"{message}"}}"#),
    ));
    let dir = tempfile::tempdir().unwrap();
    let mut store = Influx2Store::open(args(v2_config(&server.url()), dir.path()))
        .await
        .unwrap();
    let refused = batch(vec![reading("LLH-CJG", "pH", 0, 7.4)]);
    let report = store.write(Arc::clone(&refused)).await.unwrap();
    assert!(!report.spooled, "refused data is not spooled");
    assert_eq!(report.inserted, vec![true]);
    assert_eq!(store.spool_len(), 0);
    assert_eq!(store.rejected_len(), 1);

    let conn = rusqlite::Connection::open(dir.path().join("local.db")).unwrap();
    let (backend, status, stored_message, points, body): (String, i64, String, i64, String) = conn
        .query_row(
            "SELECT backend, status, message, points, body FROM influx_rejected",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(backend, "influxdb2");
    assert_eq!(status, 400);
    assert_eq!(stored_message, message);
    assert_eq!(points, 1);
    assert_eq!(body, encode_batch(&registry(), &refused.readings).body);

    // The next batch goes through; the refused one was sent once and never again (the
    // send lock orders this write after anything the drain task could have sent).
    let next = batch(vec![reading("LLH-CJG", "pH", 1, 7.5)]);
    assert!(!store.write(Arc::clone(&next)).await.unwrap().spooled);
    let sent: Vec<u16> = server.requests().iter().map(|r| r.status).collect();
    assert_eq!(sent, vec![400, 204]);
    assert_eq!(accepted_lines(&server), lines_of(&[&next]));
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_refused_batch_in_a_merged_drain_is_isolated_and_the_others_delivered() {
    let server = StubServer::start().await;
    server.always(503, "");
    let dir = tempfile::tempdir().unwrap();
    let mut store = Influx2Store::open(args(v2_config(&server.url()), dir.path()))
        .await
        .unwrap();
    let a = batch(vec![reading("LLH-CJG", "pH", 0, 7.0)]);
    let bad = batch(vec![reading("BAD", "pH", 1, 7.0)]);
    let c = batch(vec![reading("LLH-CJG", "pH", 2, 7.0)]);
    for b in [&a, &bad, &c] {
        assert!(store.write(Arc::clone(b)).await.unwrap().spooled);
    }
    // Any body holding the bad station is refused; the rest is accepted.
    server.respond(|r| {
        if r.body.contains("station=BAD ") {
            Answer::Status(
                400,
                r#"{"code":"invalid","message":"bad point"}"#.to_string(),
            )
        } else {
            Answer::Status(204, String::new())
        }
    });
    wait_until(10, "the spool to drain", || store.spool_len() == 0).await;
    assert_eq!(store.rejected_len(), 1);
    assert_eq!(count_rows(dir.path(), "influx_rejected"), 1);
    assert_eq!(accepted_lines(&server), lines_of(&[&a, &c]));
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_hung_server_times_out_and_the_batch_is_spooled() {
    let server = StubServer::start().await;
    server.once(Answer::Hang);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = v2_config(&server.url());
    cfg.timeout_secs = 1;
    let mut store = Influx2Store::open(args(cfg, dir.path())).await.unwrap();
    let b = batch(vec![reading("LLH-CJG", "pH", 0, 7.0)]);
    let started = std::time::Instant::now();
    let report = store.write(Arc::clone(&b)).await.unwrap();
    assert!(report.spooled);
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    wait_until(10, "the spool to drain", || store.spool_len() == 0).await;
    assert_eq!(accepted_lines(&server), lines_of(&[&b]));
    store.close().await.unwrap();
}

fn dead_letter(payload: &str) -> DeadLetter {
    DeadLetter {
        received_at: super::clock_time(),
        topic: "rw/v1/obs/LLH-CJG".into(),
        payload: Bytes::from(payload.to_string()),
        reason_code: ReasonCode::OutOfRange,
        reason: "pH 15 is above 14".into(),
        station: Some("LLH-CJG".into()),
        parameter: Some("pH".into()),
    }
}

#[tokio::test]
async fn dead_letters_stay_in_the_local_database() {
    let server = StubServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut store = Influx2Store::open(args(v2_config(&server.url()), dir.path()))
        .await
        .unwrap();
    let only_dead = Arc::new(WriteBatch {
        readings: Vec::new(),
        dead_letters: vec![dead_letter(r#"{"pH":15}"#)],
        held: Vec::new(),
    });
    let report = store.write(only_dead).await.unwrap();
    assert!(report.inserted.is_empty());
    assert!(server.requests().is_empty(), "no request for dead letters");

    let mixed = Arc::new(WriteBatch {
        readings: vec![reading("LLH-CJG", "pH", 0, 7.0)],
        dead_letters: vec![dead_letter(r#"{"DO":-1}"#)],
        held: Vec::new(),
    });
    store.write(mixed).await.unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert!(!requests[0].body.contains("DO"), "{}", requests[0].body);

    let reader = SqliteReader::open(&dir.path().join("local.db")).unwrap();
    let dead = reader
        .dead_letters(&DeadLetterQuery::default())
        .await
        .unwrap();
    let payloads: Vec<&[u8]> = dead.iter().map(|d| d.payload.as_ref()).collect();
    assert_eq!(payloads, vec![&b"{\"pH\":15}"[..], &b"{\"DO\":-1}"[..]]);
    store.close().await.unwrap();
}

#[tokio::test]
async fn unencodable_readings_are_kept_and_the_rest_written() {
    let server = StubServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut store = Influx2Store::open(args(v2_config(&server.url()), dir.path()))
        .await
        .unwrap();
    let good = reading("LLH-CJG", "pH", 0, 7.0);
    let b = batch(vec![good.clone(), reading("LLH-CJG", "DO", 0, f64::NAN)]);
    let report = store.write(b).await.unwrap();
    assert_eq!(report.inserted, vec![true, true]);
    assert_eq!(store.rejected_len(), 1);
    let conn = rusqlite::Connection::open(dir.path().join("local.db")).unwrap();
    let (status, body): (Option<i64>, String) = conn
        .query_row("SELECT status, body FROM influx_rejected", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(status, None);
    assert!(body.contains("\"DO\""), "{body}");
    assert_eq!(accepted_lines(&server), lines_of(&[&batch(vec![good])]));
    store.close().await.unwrap();
}

#[tokio::test]
async fn dropping_the_store_stops_its_drain_task() {
    let mut server = StubServer::start().await;
    server.stop().await;
    let dir = tempfile::tempdir().unwrap();
    let mut store = Influx2Store::open(args(v2_config(&server.url()), dir.path()))
        .await
        .unwrap();
    assert!(
        store
            .write(batch(vec![reading("LLH-CJG", "pH", 0, 7.0)]))
            .await
            .unwrap()
            .spooled
    );
    let shared = store.writer().shared_weak();
    drop(store);
    // The drain task held the last other reference; it ends once it sees the cancellation.
    wait_until(5, "the drain task to end", || shared.upgrade().is_none()).await;
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_closed_store_refuses_writes_and_the_next_one_sends_the_spool() {
    let mut server = StubServer::start().await;
    server.stop().await;
    let dir = tempfile::tempdir().unwrap();
    let mut store = Influx2Store::open(args(v2_config(&server.url()), dir.path()))
        .await
        .unwrap();
    let b = batch(vec![reading("LLH-CJG", "pH", 0, 7.0)]);
    assert!(store.write(Arc::clone(&b)).await.unwrap().spooled);
    store.close().await.unwrap();
    assert!(matches!(
        store.write(Arc::clone(&b)).await,
        Err(riverwatch_core::store_api::StoreError::Shutdown)
    ));
    assert_eq!(store.spool_len(), 1);

    server.restart().await;
    let mut next = Influx2Store::open(args(v2_config(&server.url()), dir.path()))
        .await
        .unwrap();
    assert_eq!(next.spool_len(), 1, "the spool survives a restart");
    wait_until(10, "the spool to drain", || next.spool_len() == 0).await;
    assert_eq!(accepted_lines(&server), lines_of(&[&b]));
    next.close().await.unwrap();
}

#[tokio::test]
async fn bad_settings_are_configuration_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = v2_config("http://127.0.0.1:9");
    cfg.token = None;
    let err = Influx2Store::open(args(cfg, dir.path())).await.unwrap_err();
    assert!(
        matches!(&err, InfluxError::Config { detail, .. } if detail.contains("RIVERWATCH_INFLUX_TOKEN")),
        "{err}"
    );
    for url in [
        "not a url",
        "ftp://host/",
        "unix:/tmp/x",
        "http://host:8086/influx",
    ] {
        let err = Influx2Store::open(args(v2_config(url), dir.path()))
            .await
            .unwrap_err();
        assert!(matches!(err, InfluxError::Config { .. }), "{url}: {err}");
    }
}

#[tokio::test]
async fn a_full_spool_refuses_batches_for_a_retry_and_never_drops_one() {
    let mut server = StubServer::start().await;
    server.always(503, r#"{"code":"unavailable","message":"down"}"#);
    let dir = tempfile::tempdir().unwrap();
    let batches: Vec<Arc<WriteBatch>> = (0..4)
        .map(|i| batch(vec![reading("LLH-CJG", "pH", i, 7.0)]))
        .collect();
    let one = encode_batch(&registry(), &batches[0].readings).body.len() as u64;
    let mut a = args(v2_config(&server.url()), dir.path());
    // Room for two batches and a half: the third is refused.
    a.spool_max_bytes = one * 5 / 2;
    let mut store = Influx2Store::open(a).await.unwrap();
    assert!(store.write(Arc::clone(&batches[0])).await.unwrap().spooled);
    assert!(store.write(Arc::clone(&batches[1])).await.unwrap().spooled);
    let refused = store.write(Arc::clone(&batches[2])).await.unwrap_err();
    assert!(refused.is_retryable(), "{refused}");
    assert!(refused.to_string().contains("spool is full"), "{refused}");
    assert_eq!(
        count_rows(dir.path(), "influx_spool"),
        2,
        "nothing dropped, nothing added"
    );
    assert_eq!(
        riverwatch_core::telemetry::gauge("influx_spool_near_cap", &[("backend", "influxdb2")])
            .get(),
        1,
        "near the cap is reported"
    );
    assert!(
        riverwatch_core::telemetry::counter(
            "influx_spool_refused_batches_total",
            &[("backend", "influxdb2")]
        )
        .get()
            >= 1
    );

    // InfluxDB is back: the spool drains, and the refused batch, written again as the
    // committer does, goes through; every batch arrives once, in order.
    server.always(204, "");
    server.restart().await;
    wait_until(10, "the spool to drain", || store.spool_len() == 0).await;
    assert!(!store.write(Arc::clone(&batches[2])).await.unwrap().spooled);
    assert!(!store.write(Arc::clone(&batches[3])).await.unwrap().spooled);
    let all: Vec<&Arc<WriteBatch>> = batches.iter().collect();
    assert_eq!(accepted_lines(&server), lines_of(&all));
    store.close().await.unwrap();
}
