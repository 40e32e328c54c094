//! Output shared by the commands: tables under Chinese or English column headers rendered as
//! aligned text, CSV, JSON, and the cells several tables show (yes/no, a water class, a
//! number or a dash).

use riverwatch_core::{Lang, Province, WaterClass};
use serde::Serialize;

/// A column header in both languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Chinese.
    pub zh: &'static str,
    /// English.
    pub en: &'static str,
}

/// A header from its Chinese and English text.
pub const fn header(zh: &'static str, en: &'static str) -> Header {
    Header { zh, en }
}

/// Headers several tables share.
pub mod col {
    use super::{Header, header};

    /// Station id.
    pub const STATION: Header = header("站点", "station");
    /// Station name.
    pub const NAME: Header = header("名称", "name");
    /// Parameter.
    pub const PARAMETER: Header = header("参数", "parameter");
    /// Value.
    pub const VALUE: Header = header("数值", "value");
    /// Unit.
    pub const UNIT: Header = header("单位", "unit");
    /// Hour, day or month.
    pub const PERIOD: Header = header("时段", "period");
    /// Revision of a window's result.
    pub const REVISION: Header = header("版本", "rev");
    /// Target class.
    pub const TARGET: Header = header("目标", "target");
    /// Whether the target is met.
    pub const MEETS: Header = header("达标", "meets");
    /// Calendar date.
    pub const DATE: Header = header("日期", "date");
    /// Daily AQI.
    pub const DAILY_AQI: Header = header("日AQI", "daily AQI");
    /// A water section.
    pub const SECTION: Header = header("断面", "section");
    /// Id of an alert or silence.
    pub const ID: Header = header("编号", "id");
    /// State of an alert or silence.
    pub const STATE: Header = header("状态", "state");
}

/// Output format of the commands that print a table or JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned table (China Standard Time; Chinese headers, English with --lang en).
    Table,
    /// JSON (the typed records).
    Json,
}

/// Output format of the listings that also print CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    /// Comma-separated values with a header line.
    Csv,
    /// An aligned table for reading.
    Table,
    /// A JSON array.
    Json,
}

/// Rows of text cells under bilingual headers.
#[derive(Debug, Clone)]
pub struct Table {
    headers: Vec<Header>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these columns and no rows.
    pub fn new(headers: &[Header]) -> Self {
        Self {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    /// A table with these columns and rows.
    pub fn with_rows(headers: &[Header], rows: impl IntoIterator<Item = Vec<String>>) -> Self {
        let mut t = Self::new(headers);
        t.rows.extend(rows);
        t
    }

    /// Adds a row.
    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// The table as aligned text under the headers in `lang`, one line per row.
    pub fn render(&self, lang: Lang) -> String {
        let header: Vec<&str> = self.headers.iter().map(|h| lang.pick(h.zh, h.en)).collect();
        aligned(&header, &self.rows)
    }

    /// Prints [`Table::render`] to stdout.
    pub fn print(&self, lang: Lang) {
        print!("{}", self.render(lang));
    }
}

/// Display width of text in a terminal: CJK characters take two columns.
fn width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            if (c as u32) >= 0x1100 && !c.is_ascii() {
                2
            } else {
                1
            }
        })
        .sum()
}

/// Rows under a header as an aligned text table.
fn aligned(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(width(cell));
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths
                .get(i)
                .copied()
                .unwrap_or(0)
                .saturating_sub(width(cell));
            out.push_str(cell);
            if i + 1 < cells.len() {
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        out.trim_end().to_string()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// Quotes a CSV field when it holds a comma, quote or line break (RFC 4180).
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// CSV text: the header line, then one line per row.
pub fn csv<S: AsRef<str>>(header: &[&str], rows: impl IntoIterator<Item = Vec<S>>) -> String {
    let line = |fields: &[S]| {
        fields
            .iter()
            .map(|f| csv_field(f.as_ref()))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut out = header.join(",");
    out.push('\n');
    for row in rows {
        out.push_str(&line(&row));
        out.push('\n');
    }
    out
}

/// Prints a value as indented JSON.
///
/// # Errors
/// When the value cannot be serialized.
pub fn print_json<T: Serialize + ?Sized>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// One compact JSON object per line.
///
/// # Errors
/// When a row cannot be serialized.
pub fn json_lines<T: Serialize>(rows: impl IntoIterator<Item = T>) -> anyhow::Result<String> {
    let mut out = String::new();
    for row in rows {
        out.push_str(&serde_json::to_string(&row)?);
        out.push('\n');
    }
    Ok(out)
}

/// The cell of a missing value.
pub const DASH: &str = "—";

/// `是`/`否` or `yes`/`no`.
pub fn yes_no(b: bool, lang: Lang) -> String {
    lang.pick(if b { "是" } else { "否" }, if b { "yes" } else { "no" })
        .to_string()
}

/// A water class in the language (`Ⅲ类` or `III`), a dash when there is none.
pub fn class_label(c: Option<WaterClass>, lang: Lang) -> String {
    c.map_or(DASH.to_string(), |c| {
        lang.pick(c.label_zh(), c.label_en()).to_string()
    })
}

/// A number without trailing zeros (at most four decimals), a dash when there is none.
pub fn num_or_dash(v: Option<f64>) -> String {
    v.map_or(DASH.to_string(), riverwatch_core::i18n::short_number)
}

/// A province's name in the language.
pub fn province(p: Province, lang: Lang) -> &'static str {
    lang.pick(p.name_zh(), p.name_en())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_only_when_needed() {
        assert_eq!(csv_field("LLH-CJG"), "LLH-CJG");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv(&["x", "y"], [vec!["a", "b,c"]]), "x,y\na,\"b,c\"\n");
    }

    #[test]
    fn tables_align_chinese_text() {
        let t = Table::with_rows(
            &[header("站点", "station"), header("id", "id")],
            [vec!["蔡家沟".into(), "LLH-CJG".into()]],
        );
        let zh = t.render(Lang::Zh);
        let lines: Vec<&str> = zh.lines().collect();
        assert_eq!(lines[0], "站点    id");
        assert_eq!(lines[1], "蔡家沟  LLH-CJG");
        assert_eq!(t.render(Lang::En).lines().next(), Some("station  id"));
    }
}
