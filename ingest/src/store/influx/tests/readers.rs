//! The readers' query text (quoting of user-supplied station ids and parameter codes) and
//! the parsing of both answer formats; the Flux reader against the stand-in server.

use chrono::{TimeZone, Utc};
use riverwatch_core::store_api::{ReadingQuery, StoreError, StoreReader};
use riverwatch_core::{DataFlag, Period};

use super::stub::{Answer, StubServer};
use super::{reading, v2_config};
use crate::store::influx::Influx2Reader;
use crate::store::influx::finish_readings;
use crate::store::influx::v1::{influxql_ident, influxql_query, influxql_string};
use crate::store::influx::v2::{flux_query, flux_string, parse_annotated_csv};

fn flux(s: &str) -> String {
    let mut out = String::new();
    flux_string(s, &mut out);
    out
}

#[test]
fn flux_strings_escape_quotes_backslashes_newlines_and_interpolation() {
    assert_eq!(flux("LLH-CJG"), r#""LLH-CJG""#);
    assert_eq!(flux(r#"a"b\c"#), r#""a\"b\\c""#);
    assert_eq!(flux("x\ny\tz\r"), r#""x\ny\tz\r""#);
    assert_eq!(flux("cost ${price} $5 {x}"), r#""cost \${price} $5 {x}""#);
    assert_eq!(flux("松花江"), "\"松花江\"");
}

#[test]
fn the_flux_query_filters_ranges_pivots_and_limits() {
    let q = ReadingQuery {
        station: Some(r#"X" or r._field != "y"#.to_string()),
        parameters: vec!["pH".to_string(), "NH3N".to_string()],
        from: Some(Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap()),
        to: Some(Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()),
        periods: vec![Period::Hour, Period::Day],
        limit: Some(10),
    };
    assert_eq!(
        flux_query("lalin/readings", &q),
        r#"from(bucket: "lalin/readings")
  |> range(start: 2026-11-22T00:00:00.000Z, stop: 2026-11-23T00:00:00.000Z)
  |> filter(fn: (r) => r["_measurement"] == "reading")
  |> filter(fn: (r) => r["_field"] == "value" or r["_field"] == "flag")
  |> filter(fn: (r) => r["station"] == "X\" or r._field != \"y")
  |> filter(fn: (r) => r["parameter"] == "pH" or r["parameter"] == "NH3N")
  |> filter(fn: (r) => r["period"] == "hour" or r["period"] == "day")
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> group(columns: ["station", "parameter", "period"])
  |> sort(columns: ["_time"])
  |> limit(n: 10)
  |> keep(columns: ["_time", "station", "parameter", "period", "value", "flag"])"#
    );
    let open = flux_query("b", &ReadingQuery::default());
    assert!(
        open.contains("range(start: 1970-01-01T00:00:00Z, stop: 2262-04-11T00:00:00Z)"),
        "{open}"
    );
    assert!(!open.contains("r[\"station\"]"));
    assert!(!open.contains("limit("));
}

#[test]
fn influxql_quotes_identifiers_and_escapes_literals() {
    assert_eq!(influxql_string("LLH-CJG"), "'LLH-CJG'");
    assert_eq!(influxql_string(r"a'b\c"), r"'a\'b\\c'");
    assert_eq!(influxql_string("x\ny"), r"'x\ny'");
    assert_eq!(influxql_string(r#"say "hi""#), r#"'say "hi"'"#);
    assert_eq!(influxql_ident(r#"one "year""#), r#""one \"year\"""#);
    assert_eq!(influxql_ident("它's"), r#""它's""#);
}

#[test]
fn the_influxql_query_cannot_be_widened_by_a_station_id() {
    let q = ReadingQuery {
        station: Some("X' OR '1'='1".to_string()),
        parameters: vec!["pH".to_string()],
        from: Some(Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap()),
        to: Some(Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()),
        periods: vec![Period::Sample],
        limit: Some(5),
    };
    assert_eq!(
        influxql_query(&q, None),
        "SELECT \"value\", \"flag\" FROM \"reading\" WHERE time >= 1795305600000ms \
         AND time < 1795392000000ms AND (\"station\" = 'X\\' OR \\'1\\'=\\'1') \
         AND (\"parameter\" = 'pH') AND (\"period\" = 'sample') \
         GROUP BY \"station\", \"parameter\", \"period\" LIMIT 5"
    );
    assert_eq!(
        influxql_query(&ReadingQuery::default(), Some("autogen")),
        "SELECT \"value\", \"flag\" FROM \"autogen\".\"reading\" \
         GROUP BY \"station\", \"parameter\", \"period\""
    );
}

/// An answer shaped like InfluxDB 2's: two tables of different schema, the second using a
/// `#default` for its period, a CSV-quoted station id and a Chinese parameter code.
const CSV_ANSWER: &str = "\
#datatype,string,long,dateTime:RFC3339,string,string,string,double,string\r
#group,false,false,false,true,true,true,false,false\r
#default,_result,,,,,,,\r
,result,table,_time,station,parameter,period,value,flag\r
,,0,2026-11-22T00:01:00Z,LLH-CJG,pH,sample,7.5,N\r
,,0,2026-11-22T00:00:00.000Z,LLH-CJG,pH,sample,7,M\r
,,1,2026-11-22T00:00:00Z,LLH-CJG,DO,hour,8.25,S\r
\r
#datatype,string,long,string,string,string,dateTime:RFC3339,string,double\r
#group,false,false,true,true,true,false,false,false\r
#default,_result,,,,day,,,\r
,result,table,station,parameter,period,_time,flag,value\r
,,2,\"A,\"\"B\"\"\",总磷,,2026-11-21T16:00:00+00:00,N,0.125\r
\r
";

#[test]
fn annotated_csv_tables_become_readings() {
    let readings = finish_readings(parse_annotated_csv(CSV_ANSWER).unwrap(), None);
    let got: Vec<(&str, &str, String, f64, DataFlag, Period)> = readings
        .iter()
        .map(|r| {
            (
                r.station.as_str(),
                r.parameter.as_str(),
                r.observed_at.to_rfc3339(),
                r.value,
                r.flag,
                r.period,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                r#"A,"B""#,
                "总磷",
                "2026-11-21T16:00:00+00:00".to_string(),
                0.125,
                DataFlag::N,
                Period::Day
            ),
            (
                "LLH-CJG",
                "DO",
                "2026-11-22T00:00:00+00:00".to_string(),
                8.25,
                DataFlag::S,
                Period::Hour
            ),
            (
                "LLH-CJG",
                "pH",
                "2026-11-22T00:00:00+00:00".to_string(),
                7.0,
                DataFlag::M,
                Period::Sample
            ),
            (
                "LLH-CJG",
                "pH",
                "2026-11-22T00:01:00+00:00".to_string(),
                7.5,
                DataFlag::N,
                Period::Sample
            ),
        ]
    );
}

#[test]
fn a_flux_error_table_or_a_bad_cell_is_an_error() {
    let error = "#datatype,string,string\n#group,true,true\n#default,,\n,error,reference\n\
                 ,\"failed to initialize execute state: bucket \"\"x\"\" not found\",\n";
    let e = parse_annotated_csv(error).unwrap_err();
    assert!(e.contains("bucket \"x\" not found"), "{e}");
    let bad = "#datatype,string,long,dateTime:RFC3339,string,string,string,double,string\n\
               ,result,table,_time,station,parameter,period,value,flag\n\
               ,,0,yesterday,LLH-CJG,pH,sample,7.5,N\n";
    assert!(parse_annotated_csv(bad).unwrap_err().contains("bad time"));
    let no_flag = ",result,table,_time,station,parameter,period,value\n\
                   ,,0,2026-11-22T00:00:00Z,LLH-CJG,pH,sample,7.5\n";
    assert!(parse_annotated_csv(no_flag).unwrap_err().contains("`flag`"));
    assert_eq!(parse_annotated_csv("").unwrap(), vec![]);
}

#[test]
fn readings_are_ordered_deduplicated_and_limited() {
    let a = reading("B", "pH", 1, 1.0);
    let b = reading("A", "pH", 2, 2.0);
    let c = reading("A", "DO", 3, 3.0);
    // The same reading from a second series (the station's name tags changed).
    let d = reading("A", "pH", 2, 2.0);
    let out = finish_readings(vec![a.clone(), b.clone(), c.clone(), d], None);
    assert_eq!(out, vec![c.clone(), b.clone(), a]);
    assert_eq!(
        finish_readings(vec![b.clone(), c.clone()], Some(1)),
        vec![c]
    );
}

#[tokio::test]
async fn the_flux_reader_sends_the_query_and_parses_the_answer() {
    let server = StubServer::start().await;
    server.always(200, CSV_ANSWER);
    let reader = Influx2Reader::new(&v2_config(&server.url())).unwrap();
    let q = ReadingQuery {
        station: Some("LLH-CJG".to_string()),
        limit: Some(3),
        ..ReadingQuery::default()
    };
    let readings = reader.query(&q).await.unwrap();
    assert_eq!(readings.len(), 3, "the overall limit applies after sorting");
    assert_eq!(readings[0].station.as_str(), r#"A,"B""#);

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/api/v2/query");
    assert_eq!(r.param("org"), Some("river org"));
    assert_eq!(r.header("authorization"), Some("Token tok-3x+/="));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["type"], "flux");
    assert_eq!(body["query"], flux_query("lalin/readings", &q));
    assert_eq!(
        body["dialect"]["annotations"],
        serde_json::json!(["datatype", "group", "default"])
    );
    assert!(!format!("{reader:?}").contains("tok-3x"), "token in Debug");

    server.once(Answer::Status(
        404,
        r#"{"code":"not found","message":"bucket \"lalin/readings\" not found"}"#.to_string(),
    ));
    let err = reader.query(&q).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Unavailable { detail, .. } if detail.contains("not found")),
        "{err}"
    );
    server.once(Answer::Status(500, "internal error".to_string()));
    assert!(matches!(
        reader.query(&q).await,
        Err(StoreError::Unavailable { .. })
    ));
}
