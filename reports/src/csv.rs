//! CSV: one file per table (UTF-8 with a byte-order mark, so Excel and WPS open Chinese text
//! correctly), the headers in the operator's language.

use riverwatch_core::Lang;

use crate::tables::Table;

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// One table as CSV text.
pub fn table(t: &Table, lang: Lang) -> String {
    let mut out = String::from('\u{feff}');
    let line = |cells: Vec<String>| cells.iter().map(|c| field(c)).collect::<Vec<_>>().join(",");
    out.push_str(&line(t.headers.clone()));
    out.push_str("\r\n");
    for row in &t.rows {
        out.push_str(&line(row.iter().map(|c| c.text(lang)).collect()));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::Cell;

    #[test]
    fn fields_with_commas_and_quotes_are_quoted() {
        let t = Table {
            key: "x",
            title: "x".into(),
            headers: vec!["断面".into(), "主要超标项目(超标倍数)".into()],
            rows: vec![vec![
                Cell::Text("蔡家沟".into()),
                Cell::Text("氨氮(0.3), \"总磷\"".into()),
            ]],
        };
        let text = table(&t, Lang::Zh);
        assert_eq!(
            text,
            "\u{feff}断面,主要超标项目(超标倍数)\r\n蔡家沟,\"氨氮(0.3), \"\"总磷\"\"\"\r\n"
        );
    }
}
