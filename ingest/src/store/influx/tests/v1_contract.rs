//! The InfluxDB 1.x store and reader against the stand-in server: what goes over the wire
//! (the real 1.6.7 server is exercised in `ingest/tests/influx1_real.rs`), credentials, and
//! the status classes.

use std::sync::Arc;

use riverwatch_core::store_api::{ReadingQuery, StoreError, StoreReader, StoreWriter, WriteBatch};

use super::stub::{Answer, StubServer, parse_form};
use super::{args, clock_time, reading, v1_config, wait_until};
use crate::store::influx::{Influx1Reader, Influx1Store};

fn batch(readings: Vec<riverwatch_core::Reading>) -> Arc<WriteBatch> {
    Arc::new(WriteBatch {
        readings,
        dead_letters: Vec::new(),
        held: Vec::new(),
    })
}

#[tokio::test]
async fn sends_the_v1_write_request_with_basic_auth() {
    let server = StubServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = v1_config(&format!("{}/influx/", server.url()));
    cfg.username = Some("river".to_string());
    cfg.password = Some("pa:ss word".to_string());
    let mut store = Influx1Store::open(args(cfg, dir.path())).await.unwrap();
    let report = store
        .write(batch(vec![reading("TEST-AIR", "PM25", 0, 35.0)]))
        .await
        .unwrap();
    assert!(!report.spooled);
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    // A path prefix in the URL (a reverse proxy) is kept.
    assert_eq!(r.path, "/influx/write");
    assert_eq!(r.param("db"), Some("river db"));
    assert_eq!(r.param("rp"), Some("one year"));
    assert_eq!(r.param("precision"), Some("ms"));
    assert_eq!(r.param("u"), None, "credentials stay out of the URL");
    assert_eq!(r.param("p"), None);
    // base64("river:pa:ss word")
    assert_eq!(
        r.header("authorization"),
        Some("Basic cml2ZXI6cGE6c3Mgd29yZA==")
    );
    assert_eq!(
        r.body,
        "reading,kind=air,name_pinyin=Shuangcheng,name_zh=双城\\ 空气,parameter=PM25,\
         period=sample,province=HLJ,station=TEST-AIR \
         value=35.0,flag=\"N\",valid=true 1795305600000\n"
    );
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_missing_database_waits_in_the_spool_and_bad_data_is_refused() {
    let server = StubServer::start().await;
    server.once(Answer::Status(
        404,
        r#"{"error":"database not found: \"river db\""}"#.to_string(),
    ));
    let dir = tempfile::tempdir().unwrap();
    let mut store = Influx1Store::open(args(v1_config(&server.url()), dir.path()))
        .await
        .unwrap();
    // A setup error (no such database) keeps the data until the database exists.
    let waiting = store
        .write(batch(vec![reading("LLH-CJG", "pH", 0, 7.0)]))
        .await
        .unwrap();
    assert!(waiting.spooled);
    assert_eq!(store.rejected_len(), 0);
    wait_until(10, "the spool to drain", || store.spool_len() == 0).await;

    // Data the server cannot take is set aside with the server's message.
    server.once(Answer::Status(
        400,
        r#"{"error":"field type conflict"}"#.to_string(),
    ));
    let refused = store
        .write(batch(vec![reading("LLH-CJG", "pH", 1, 7.1)]))
        .await
        .unwrap();
    assert!(!refused.spooled);
    assert_eq!(store.rejected_len(), 1);
    let conn = rusqlite::Connection::open(dir.path().join("local.db")).unwrap();
    let (message, created_ms): (String, i64) = conn
        .query_row("SELECT message, created_ms FROM influx_rejected", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(message, "field type conflict");
    // Kept at the time of the store's clock, not the wall clock.
    assert_eq!(created_ms, clock_time().timestamp_millis());
    let statuses: Vec<u16> = server.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![404, 204, 400]);
    store.close().await.unwrap();
}

#[tokio::test]
async fn the_reader_posts_influxql_and_parses_the_json_answer() {
    let server = StubServer::start().await;
    server.always(
        200,
        r#"{"results":[{"statement_id":0,"series":[
            {"name":"reading","tags":{"parameter":"pH","period":"sample","station":"LLH-CJG"},
             "columns":["time","value","flag"],"values":[[1795305660000,7.5,"N"],[1795305600000,7,"M"]]},
            {"name":"reading","tags":{"parameter":"DO","period":"hour","station":"LLH-CJG"},
             "columns":["time","value","flag"],"values":[[1795305600000,8.25,"S"]]}]}]}"#,
    );
    let mut cfg = v1_config(&server.url());
    cfg.username = Some("reader".to_string());
    let reader = Influx1Reader::new(&cfg).unwrap();
    let q = ReadingQuery {
        station: Some("LLH-CJG".to_string()),
        ..ReadingQuery::default()
    };
    let readings = reader.query(&q).await.unwrap();
    let got: Vec<(&str, i64, f64, char, &str)> = readings
        .iter()
        .map(|r| {
            (
                r.parameter.as_str(),
                r.observed_at.timestamp_millis(),
                r.value,
                r.flag.letter(),
                r.period.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("DO", 1795305600000, 8.25, 'S', "hour"),
            ("pH", 1795305600000, 7.0, 'M', "sample"),
            ("pH", 1795305660000, 7.5, 'N', "sample"),
        ]
    );
    assert!(readings.iter().all(|r| r.received_at == r.observed_at));

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/query");
    assert_eq!(r.header("authorization"), Some("Basic cmVhZGVyOg=="));
    let form = parse_form(&r.body);
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("db"), Some("river db"));
    assert_eq!(get("epoch"), Some("ms"));
    assert_eq!(
        get("q"),
        Some(
            "SELECT \"value\", \"flag\" FROM \"one year\".\"reading\" WHERE (\"station\" = 'LLH-CJG') \
             GROUP BY \"station\", \"parameter\", \"period\""
        )
    );
}

#[tokio::test]
async fn the_reader_classifies_failures() {
    let server = StubServer::start().await;
    let reader = Influx1Reader::new(&v1_config(&server.url())).unwrap();
    let q = ReadingQuery::default();
    server.once(Answer::Status(
        200,
        r#"{"results":[{"statement_id":0,"error":"database not found: river db"}]}"#.to_string(),
    ));
    let err = reader.query(&q).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Rejected { detail, .. } if detail.contains("database not found")),
        "{err}"
    );
    server.once(Answer::Status(
        400,
        r#"{"error":"error parsing query: found EOF"}"#.to_string(),
    ));
    assert!(matches!(
        reader.query(&q).await,
        Err(StoreError::Rejected { .. })
    ));
    server.once(Answer::Status(503, String::new()));
    let err = reader.query(&q).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    server.once(Answer::Status(
        200,
        r#"{"results":[{"statement_id":0,"series":[],"partial":true}]}"#.to_string(),
    ));
    assert!(matches!(
        reader.query(&q).await,
        Err(StoreError::Rejected { .. })
    ));
}
