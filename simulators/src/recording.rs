//! Recordings: readings as rows with exactly the columns of `riverwatch query`
//! (`station,parameter,time_utc,value,flag`), in CSV or Parquet.
//!
//! `time_utc` is RFC 3339 UTC with milliseconds (`2026-11-22T00:00:00.000Z`) and `value` the
//! shortest decimal that reads back to the same number; Parquet stores the same five columns
//! (time as that text, value as Float64), so both formats hold identical content. Rows come
//! in the order the readings were sent.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use polars::prelude::{Column, DataFrame, ParquetReader, ParquetWriter, PlSmallStr, SerReader};
use riverwatch_core::DataFlag;

use crate::encode::{number_text, split_values};
use crate::error::{Error, Result};
use crate::generate::{Observation, SimStation};

/// The CSV header (the same as `riverwatch query`).
pub const CSV_HEADER: &str = "station,parameter,time_utc,value,flag";

/// The column names, in order.
pub const COLUMNS: [&str; 5] = ["station", "parameter", "time_utc", "value", "flag"];

/// One reading of a recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Station id.
    pub station: String,
    /// Parameter code.
    pub parameter: String,
    /// Time written in the message (UTC).
    pub time: DateTime<Utc>,
    /// Value.
    pub value: f64,
    /// Data flag.
    pub flag: DataFlag,
}

impl Row {
    /// `time_utc` as written in a recording.
    pub fn time_text(&self) -> String {
        self.time.to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    /// The row as one CSV line (without the line break).
    pub fn csv_line(&self) -> String {
        [
            csv_field(&self.station),
            csv_field(&self.parameter),
            self.time_text(),
            number_text(self.value),
            self.flag.to_string(),
        ]
        .join(",")
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The rows of one observation, in the order its messages carry them.
pub fn rows_of(st: &SimStation, obs: &Observation) -> Vec<Row> {
    let (framed, json) = split_values(st, obs);
    framed
        .into_iter()
        .chain(json)
        .map(|v| Row {
            station: st.station.id.to_string(),
            parameter: st.params[v.param].code.clone(),
            time: obs.stamped_at,
            value: v.value,
            flag: v.flag,
        })
        .collect()
}

/// The format of a recording file, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `.csv`
    Csv,
    /// `.parquet`
    Parquet,
}

impl FileKind {
    /// The kind of `path` by extension.
    ///
    /// # Errors
    /// [`Error::Config`] for another extension.
    pub fn of(path: &Path) -> Result<Self> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("csv") => Ok(FileKind::Csv),
            Some("parquet") => Ok(FileKind::Parquet),
            _ => Err(Error::Config(format!(
                "{}: a recording ends in .csv or .parquet",
                path.display()
            ))),
        }
    }
}

/// The manifest written beside a recording: `FILE.csv` → `FILE.manifest.json`.
pub fn manifest_path(recording: &Path) -> PathBuf {
    recording.with_extension("manifest.json")
}

/// Writes rows as CSV while they are produced.
#[derive(Debug)]
pub struct CsvWriter {
    path: PathBuf,
    out: BufWriter<std::fs::File>,
    rows: u64,
}

impl CsvWriter {
    /// Creates the file and writes the header.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn create(path: &Path) -> Result<Self> {
        let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        let mut out = BufWriter::new(file);
        writeln!(out, "{CSV_HEADER}").map_err(|e| Error::io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            out,
            rows: 0,
        })
    }

    /// Appends rows.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn write(&mut self, rows: &[Row]) -> Result<()> {
        for row in rows {
            writeln!(self.out, "{}", row.csv_line()).map_err(|e| Error::io(&self.path, e))?;
        }
        self.rows += rows.len() as u64;
        Ok(())
    }

    /// Flushes and closes; returns the number of rows.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn finish(mut self) -> Result<u64> {
        self.out.flush().map_err(|e| Error::io(&self.path, e))?;
        Ok(self.rows)
    }
}

/// Writes rows to a file of either kind (blocking).
///
/// # Errors
/// [`Error::Io`] or [`Error::Parquet`].
pub fn write_rows(path: &Path, rows: &[Row]) -> Result<()> {
    match FileKind::of(path)? {
        FileKind::Csv => {
            let mut w = CsvWriter::create(path)?;
            w.write(rows)?;
            w.finish().map(|_| ())
        }
        FileKind::Parquet => write_parquet(path, rows),
    }
}

/// Writes rows as Parquet (blocking; call from `spawn_blocking` in async code).
///
/// # Errors
/// [`Error::Io`] or [`Error::Parquet`].
pub fn write_parquet(path: &Path, rows: &[Row]) -> Result<()> {
    let perr = |e: polars::prelude::PolarsError| Error::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let text = |f: &dyn Fn(&Row) -> String| rows.iter().map(f).collect::<Vec<String>>();
    let columns = vec![
        Column::new(
            PlSmallStr::from_static(COLUMNS[0]),
            text(&|r| r.station.clone()),
        ),
        Column::new(
            PlSmallStr::from_static(COLUMNS[1]),
            text(&|r| r.parameter.clone()),
        ),
        Column::new(PlSmallStr::from_static(COLUMNS[2]), text(&Row::time_text)),
        Column::new(
            PlSmallStr::from_static(COLUMNS[3]),
            rows.iter().map(|r| r.value).collect::<Vec<f64>>(),
        ),
        Column::new(
            PlSmallStr::from_static(COLUMNS[4]),
            text(&|r| r.flag.to_string()),
        ),
    ];
    let mut df = DataFrame::new(rows.len(), columns).map_err(perr)?;
    let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    ParquetWriter::new(file).finish(&mut df).map_err(perr)?;
    Ok(())
}

/// Reads a recording of either kind (blocking).
///
/// # Errors
/// [`Error::Io`], [`Error::Parquet`] or [`Error::Recording`] for a malformed row.
pub fn read_rows(path: &Path) -> Result<Vec<Row>> {
    match FileKind::of(path)? {
        FileKind::Csv => read_csv(path),
        FileKind::Parquet => read_parquet(path),
    }
}

fn bad(path: &Path, message: String) -> Error {
    Error::Recording {
        path: path.to_path_buf(),
        message,
    }
}

fn parse_row(path: &Path, line_no: usize, fields: [&str; 5]) -> Result<Row> {
    let [station, parameter, time, value, flag] = fields;
    let time = DateTime::parse_from_rfc3339(time)
        .map_err(|e| bad(path, format!("line {line_no}: time `{time}`: {e}")))?
        .with_timezone(&Utc);
    let value = value
        .parse::<f64>()
        .map_err(|e| bad(path, format!("line {line_no}: value `{value}`: {e}")))?;
    let flag = DataFlag::from_letter(flag)
        .ok_or_else(|| bad(path, format!("line {line_no}: flag `{flag}`")))?;
    Ok(Row {
        station: station.to_string(),
        parameter: parameter.to_string(),
        time,
        value,
        flag,
    })
}

/// Splits one CSV line into fields (RFC 4180 quoting).
fn split_csv(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    fields.push(cur);
    fields
}

fn read_csv(path: &Path) -> Result<Vec<Row>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut rows = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        let line = line.trim_end_matches('\r');
        if i == 0 {
            if line != CSV_HEADER {
                return Err(bad(path, format!("header is not `{CSV_HEADER}`")));
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let fields = split_csv(line);
        let [a, b, c, d, e] = fields.as_slice() else {
            return Err(bad(path, format!("line {}: expected 5 fields", i + 1)));
        };
        rows.push(parse_row(path, i + 1, [a, b, c, d, e])?);
    }
    Ok(rows)
}

fn read_parquet(path: &Path) -> Result<Vec<Row>> {
    let perr = |e: polars::prelude::PolarsError| Error::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let df = ParquetReader::new(file).finish().map_err(perr)?;
    let text_col = |name: &str| -> Result<Vec<String>> {
        let col = df.column(name).map_err(perr)?;
        let s = col.str().map_err(perr)?;
        s.iter()
            .map(|v| {
                v.map(str::to_string)
                    .ok_or_else(|| bad(path, format!("null in column {name}")))
            })
            .collect()
    };
    let stations = text_col(COLUMNS[0])?;
    let params = text_col(COLUMNS[1])?;
    let times = text_col(COLUMNS[2])?;
    let flags = text_col(COLUMNS[4])?;
    let values: Vec<f64> = {
        let col = df.column(COLUMNS[3]).map_err(perr)?;
        col.f64()
            .map_err(perr)?
            .iter()
            .map(|v| v.ok_or_else(|| bad(path, "null value".to_string())))
            .collect::<Result<_>>()?
    };
    let mut rows = Vec::with_capacity(values.len());
    for i in 0..values.len() {
        let value = number_text(values[i]);
        rows.push(parse_row(
            path,
            i + 1,
            [&stations[i], &params[i], &times[i], &value, &flags[i]],
        )?);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Row> {
        vec![
            Row {
                station: "LLH-CJG".into(),
                parameter: "NH3N".into(),
                time: DateTime::parse_from_rfc3339("2026-11-22T00:00:00Z")
                    .unwrap()
                    .with_timezone(&Utc),
                value: 0.382,
                flag: DataFlag::N,
            },
            Row {
                station: "AIR-CC".into(),
                parameter: "PM25".into(),
                time: DateTime::parse_from_rfc3339("2026-11-22T01:00:00Z")
                    .unwrap()
                    .with_timezone(&Utc),
                value: 35.0,
                flag: DataFlag::C,
            },
        ]
    }

    #[test]
    fn csv_lines_have_the_query_format() {
        let rows = sample();
        assert_eq!(
            rows[0].csv_line(),
            "LLH-CJG,NH3N,2026-11-22T00:00:00.000Z,0.382,N"
        );
        assert_eq!(
            rows[1].csv_line(),
            "AIR-CC,PM25,2026-11-22T01:00:00.000Z,35,C"
        );
        assert_eq!(split_csv("\"a,b\",\"x\"\"y\",z"), vec!["a,b", "x\"y", "z"]);
    }

    #[test]
    fn csv_and_parquet_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["r.csv", "r.parquet"] {
            let path = dir.path().join(name);
            write_rows(&path, &sample()).unwrap();
            assert_eq!(read_rows(&path).unwrap(), sample(), "{name}");
        }
        assert!(FileKind::of(Path::new("x.json")).is_err());
        assert_eq!(
            manifest_path(Path::new("/tmp/run.csv")),
            Path::new("/tmp/run.manifest.json")
        );
    }
}
