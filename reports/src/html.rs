//! The HTML report and email body: pure HTML tables with inline styles (no scripts, no
//! external style sheets, fonts or images, so mail clients show it as sent), classes written
//! out on their usual colours, Chinese text in the system's CJK fonts.

use riverwatch_core::Lang;

use crate::model::Report;
use crate::tables::{self, Cell, Table, class_colour};

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The CJK fonts of common systems. DejaVu Sans comes before WenQuanYi Micro Hei (the CJK
/// font of many Linux desktops) because WenQuanYi maps Ⅴ (U+2164) to an empty glyph, which
/// turns `劣Ⅴ类` into `劣 类`; DejaVu has no CJK, so the Chinese text still falls back to
/// WenQuanYi.
const FONT: &str = "font-family:'PingFang SC','Microsoft YaHei','Noto Sans CJK SC','DejaVu Sans','WenQuanYi Micro Hei',SimSun,sans-serif";
const TH: &str = "border:1px solid #999;padding:4px 6px;background:#dde6f0;text-align:left";
const TD: &str = "border:1px solid #999;padding:4px 6px";

fn cell(c: &Cell, lang: Lang) -> String {
    match c {
        Cell::Class(Some(class)) => {
            let colour = class_colour(*class);
            let text = if matches!(colour, 0x0070C0 | 0xFF0000) {
                "#fff"
            } else {
                "#000"
            };
            format!(
                "<td style=\"{TD};background:#{colour:06X};color:{text}\">{}</td>",
                esc(&c.text(lang))
            )
        }
        Cell::Number(..) => format!(
            "<td style=\"{TD};text-align:right\">{}</td>",
            esc(&c.text(lang))
        ),
        _ => format!("<td style=\"{TD}\">{}</td>", esc(&c.text(lang))),
    }
}

fn table(t: &Table, lang: Lang) -> String {
    let mut out = format!(
        "<h3 style=\"{FONT};margin:16px 0 6px\">{}</h3>\n<table style=\"border-collapse:collapse;font-size:13px;{FONT}\">\n<tr>",
        esc(&t.title)
    );
    for h in &t.headers {
        out.push_str(&format!("<th style=\"{TH}\">{}</th>", esc(h)));
    }
    out.push_str("</tr>\n");
    if t.rows.is_empty() {
        out.push_str(&format!(
            "<tr><td style=\"{TD}\" colspan=\"{}\">{}</td></tr>\n",
            t.headers.len(),
            lang.pick("无", "none")
        ));
    }
    for row in &t.rows {
        out.push_str("<tr>");
        for c in row {
            out.push_str(&cell(c, lang));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    out
}

/// The summary as an HTML table.
fn summary(r: &Report, lang: Lang) -> String {
    let mut out = format!("<table style=\"border-collapse:collapse;font-size:14px;{FONT}\">\n");
    for (k, v) in tables::summary(r, lang) {
        out.push_str(&format!(
            "<tr><th style=\"{TH}\">{}</th><td style=\"{TD}\">{}</td></tr>\n",
            esc(&k),
            esc(&v)
        ));
    }
    out.push_str("</table>\n");
    out
}

fn page(r: &Report, lang: Lang, revised: bool, body: &str) -> String {
    let title = tables::title(r, lang);
    let mark = if revised {
        lang.pick("【修订】", "[Revised] ")
    } else {
        ""
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{mark}{t}</title></head>\n<body style=\"{FONT};color:#222\">\n<h2 style=\"{FONT}\">{mark}{t}</h2>\n{body}</body></html>\n",
        lang.pick("zh-CN", "en"),
        t = esc(&title)
    )
}

/// The whole report as one HTML page: the summary, then every table.
pub fn report(r: &Report, lang: Lang, revised: bool) -> String {
    let mut body = summary(r, lang);
    for t in tables::tables(r, lang) {
        body.push_str(&table(&t, lang));
    }
    page(r, lang, revised, &body)
}

/// The email body: the summary, the sections and rivers tables, a pointer to the workbook.
pub fn email(r: &Report, lang: Lang, revised: bool, attachment: &str) -> String {
    let mut body = summary(r, lang);
    for t in tables::tables(r, lang)
        .iter()
        .filter(|t| matches!(t.key, "sections" | "rivers"))
    {
        body.push_str(&table(t, lang));
    }
    body.push_str(&format!(
        "<p style=\"{FONT};font-size:13px;color:#555\">{} {}</p>\n",
        lang.pick("完整报表见附件：", "The full workbook is attached:"),
        esc(attachment)
    ));
    page(r, lang, revised, &body)
}
