//! The Excel workbook (rust_xlsxwriter): a summary sheet, then one sheet per table of
//! [`crate::tables`] with frozen headers, numbers written as numbers (units in the headers),
//! classes written out on their usual colours, and a native line chart of the class of each
//! boundary section over the period (from numeric class columns, 1 = Ⅰ … 6 = 劣Ⅴ, beside the
//! written-out classes of the `trend` sheet).

use riverwatch_core::Lang;
use rust_xlsxwriter::{
    Chart, ChartMarker, ChartMarkerType, ChartType, Color, Format, FormatBorder, Workbook,
    Worksheet, XlsxError,
};

use crate::model::Report;
use crate::tables::{self, Cell, Table, class_colour};

fn header_format() -> Format {
    Format::new()
        .set_bold()
        .set_background_color(Color::RGB(0xDDE6F0))
        .set_border(FormatBorder::Thin)
        .set_text_wrap()
}

fn cell_format() -> Format {
    Format::new().set_border(FormatBorder::Thin)
}

fn number_format(decimals: usize) -> Format {
    let pattern = if decimals == 0 {
        "0".to_string()
    } else {
        format!("0.{}", "0".repeat(decimals))
    };
    cell_format().set_num_format(pattern)
}

fn class_format(colour: u32) -> Format {
    let text = if matches!(colour, 0x0070C0 | 0xFF0000) {
        0xFFFFFF
    } else {
        0x000000
    };
    cell_format()
        .set_background_color(Color::RGB(colour))
        .set_font_color(Color::RGB(text))
}

/// Excel's limit on sheet names, and the characters it refuses in them.
fn sheet_name(title: &str) -> String {
    title
        .chars()
        .filter(|c| !matches!(c, '[' | ']' | ':' | '*' | '?' | '/' | '\\'))
        .take(31)
        .collect()
}

fn write_cell(
    ws: &mut Worksheet,
    row: u32,
    col: u16,
    c: &Cell,
    lang: Lang,
) -> Result<(), XlsxError> {
    match c {
        Cell::Number(v, d) => {
            ws.write_number_with_format(row, col, *v, &number_format(*d))?;
        }
        Cell::Class(Some(class)) => {
            ws.write_string_with_format(
                row,
                col,
                c.text(lang),
                &class_format(class_colour(*class)),
            )?;
        }
        Cell::Empty | Cell::Class(None) => {
            ws.write_string_with_format(row, col, c.text(lang), &cell_format())?;
        }
        Cell::Text(t) => {
            ws.write_string_with_format(row, col, t, &cell_format())?;
        }
    }
    Ok(())
}

fn write_table(ws: &mut Worksheet, t: &Table, lang: Lang) -> Result<(), XlsxError> {
    ws.set_name(sheet_name(&t.title))?;
    for (i, h) in t.headers.iter().enumerate() {
        let col = i as u16;
        ws.write_string_with_format(0, col, h, &header_format())?;
        let width = t
            .rows
            .iter()
            .map(|r| r.get(i).map_or(0, |c| c.text(lang).chars().count()))
            .chain(std::iter::once(h.chars().count()))
            .max()
            .unwrap_or(8);
        ws.set_column_width(col, (width as f64 * 1.6 + 2.0).clamp(8.0, 60.0))?;
    }
    for (r, row) in t.rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            write_cell(ws, r as u32 + 1, c as u16, cell, lang)?;
        }
    }
    ws.set_freeze_panes(1, 0)?;
    Ok(())
}

/// The workbook of `report` as bytes.
///
/// # Errors
/// A rust_xlsxwriter failure (e.g. a sheet name it refuses).
pub fn workbook(report: &Report, lang: Lang, revised: bool) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let summary = wb.add_worksheet();
    summary.set_name(lang.pick("汇总", "Summary"))?;
    let mark = if revised {
        lang.pick("【修订】", "[Revised] ")
    } else {
        ""
    };
    summary.write_string_with_format(
        0,
        0,
        format!("{mark}{}", tables::title(report, lang)),
        &Format::new().set_bold().set_font_size(14),
    )?;
    summary.write_string_with_format(1, 0, lang.pick("项目", "item"), &header_format())?;
    summary.write_string_with_format(1, 1, lang.pick("内容", "value"), &header_format())?;
    for (i, (k, v)) in tables::summary(report, lang).iter().enumerate() {
        summary.write_string_with_format(i as u32 + 2, 0, k, &cell_format())?;
        summary.write_string_with_format(i as u32 + 2, 1, v, &cell_format())?;
    }
    summary.set_column_width(0, 24)?;
    summary.set_column_width(1, 90)?;
    summary.set_freeze_panes(2, 0)?;

    for t in tables::tables(report, lang) {
        let ws = wb.add_worksheet();
        write_table(ws, &t, lang)?;
        if t.key == "trend" && !report.trend.series.is_empty() {
            trend_chart(ws, &t, report, lang)?;
        }
    }
    wb.save_to_buffer()
}

/// Numeric class columns beside the written-out ones, and the chart over them.
fn trend_chart(ws: &mut Worksheet, t: &Table, r: &Report, lang: Lang) -> Result<(), XlsxError> {
    let series = r.trend.series.len() as u16;
    let first = series + 2; // one empty column between the blocks
    let rows = r.trend.starts.len() as u32;
    for (i, s) in r.trend.series.iter().enumerate() {
        let col = first + i as u16;
        let name = t
            .headers
            .get(i + 1)
            .cloned()
            .unwrap_or_else(|| s.station.clone());
        ws.write_string_with_format(
            0,
            col,
            format!("{name} {}", lang.pick("(类别序号)", "(class no.)")),
            &header_format(),
        )?;
        for (k, class) in s.classes.iter().enumerate() {
            if let Some(c) = class {
                ws.write_number(k as u32 + 1, col, f64::from(c.number()))?;
            }
        }
    }
    let sheet = ws.name();
    let mut chart = Chart::new(ChartType::Line);
    chart.title().set_name(lang.pick(
        "跨界断面水质类别变化（1=Ⅰ类 … 6=劣Ⅴ类）",
        "Class of each boundary section (1 = I … 6 = worse than V)",
    ));
    for i in 0..series {
        let col = first + i;
        chart
            .add_series()
            .set_name((sheet.as_str(), 0, col))
            .set_categories((sheet.as_str(), 1, 0, rows.max(1), 0))
            .set_values((sheet.as_str(), 1, col, rows.max(1), col))
            .set_marker(ChartMarker::new().set_type(ChartMarkerType::Circle));
    }
    chart
        .y_axis()
        .set_min(1)
        .set_max(6)
        .set_major_unit(1)
        .set_reverse()
        .set_name(lang.pick("类别", "class"));
    chart.set_width(900).set_height(420);
    ws.insert_chart(rows + 3, 0, &chart)?;
    Ok(())
}
