//! `riverwatch stations` (the network as CSV, a table or JSON) and `riverwatch config check`.

use clap::{Args, ValueEnum};
use riverwatch_core::Lang;
use riverwatch_core::registry::{Registry, Station, StationKind};

use super::Context;
use super::output::{csv_line, table};

/// Output format of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// Comma-separated values with a header line.
    Csv,
    /// An aligned table for reading.
    Table,
    /// A JSON array.
    Json,
}

/// `riverwatch stations`.
#[derive(Debug, Args)]
pub struct StationsArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    /// Only stations of this kind (water, air, outfall, hydrology).
    #[arg(long)]
    pub kind: Option<String>,
}

/// The CSV columns, in order.
pub const CSV_COLUMNS: [&str; 13] = [
    "id",
    "name_zh",
    "name_pinyin",
    "kind",
    "river",
    "river_km",
    "province",
    "boundary",
    "target_class",
    "mn",
    "lat",
    "lon",
    "verified",
];

fn fields(s: &Station) -> Vec<String> {
    vec![
        s.id.to_string(),
        s.name_zh.clone(),
        s.name_pinyin.clone(),
        s.kind.as_str().to_string(),
        s.river.clone().unwrap_or_default(),
        s.river_km.map(|k| format!("{k:.1}")).unwrap_or_default(),
        s.province.code().to_string(),
        s.boundary.to_string(),
        s.target_class
            .map(|c| c.as_str().to_string())
            .unwrap_or_default(),
        s.mn.clone(),
        format!("{:.4}", s.lat),
        format!("{:.4}", s.lon),
        s.verified.to_string(),
    ]
}

/// Renders the station list.
pub fn render(registry: &Registry, format: ListFormat, kind: Option<&str>, lang: Lang) -> String {
    let stations: Vec<&Station> = registry
        .stations()
        .iter()
        .filter(|s| kind.is_none_or(|k| s.kind.as_str() == k))
        .collect();
    match format {
        ListFormat::Csv => {
            let mut out = CSV_COLUMNS.join(",");
            out.push('\n');
            for s in stations {
                out.push_str(&csv_line(&fields(s)));
                out.push('\n');
            }
            out
        }
        ListFormat::Json => {
            let list: Vec<&Station> = stations;
            serde_json::to_string_pretty(&list).unwrap_or_else(|e| format!("\"{e}\"")) + "\n"
        }
        ListFormat::Table => {
            let header: Vec<&str> = match lang {
                Lang::Zh => vec![
                    "编号",
                    "名称",
                    "类型",
                    "河流",
                    "里程km",
                    "省份",
                    "省界",
                    "目标",
                    "已核实",
                ],
                Lang::En => vec![
                    "id", "name", "kind", "river", "km", "province", "boundary", "target",
                    "verified",
                ],
            };
            let rows: Vec<Vec<String>> = stations
                .iter()
                .map(|s| {
                    let river = s
                        .river
                        .as_deref()
                        .and_then(|r| registry.river(r))
                        .map(|r| lang.pick(&r.name_zh, &r.name_pinyin).to_string())
                        .unwrap_or_default();
                    let yes_no = |b: bool| {
                        lang.pick(if b { "是" } else { "否" }, if b { "yes" } else { "no" })
                            .to_string()
                    };
                    vec![
                        s.id.to_string(),
                        lang.pick(&s.name_zh, &s.name_pinyin).to_string(),
                        lang.pick(s.kind.label_zh(), s.kind.as_str()).to_string(),
                        river,
                        s.river_km.map(|k| format!("{k:.1}")).unwrap_or_default(),
                        lang.pick(s.province.name_zh(), s.province.name_en())
                            .to_string(),
                        yes_no(s.boundary),
                        s.target_class
                            .map(|c| c.as_str().to_string())
                            .unwrap_or_default(),
                        yes_no(s.verified),
                    ]
                })
                .collect();
            table(&header, &rows)
        }
    }
}

/// Runs `riverwatch stations`.
///
/// # Errors
/// An unknown `--kind`.
pub fn run(args: &StationsArgs, ctx: &Context) -> anyhow::Result<()> {
    if let Some(k) = &args.kind {
        let known = [
            StationKind::Water,
            StationKind::Air,
            StationKind::Outfall,
            StationKind::Hydrology,
        ];
        if !known.iter().any(|kind| kind.as_str() == k) {
            return Err(super::user_error(
                format!("未知站点类型 `{k}`（可选 water、air、outfall、hydrology）"),
                format!("unknown station kind `{k}` (water, air, outfall, hydrology)"),
            ));
        }
    }
    print!(
        "{}",
        render(
            &ctx.loaded.registry,
            args.format,
            args.kind.as_deref(),
            ctx.lang
        )
    );
    Ok(())
}

/// Runs `riverwatch config check`.
///
/// # Errors
/// None beyond loading, which already happened.
pub fn check(ctx: &Context) -> anyhow::Result<()> {
    let r = &ctx.loaded.registry;
    let count = |k: StationKind| r.stations().iter().filter(|s| s.kind == k).count();
    let (w, a, o, h) = (
        count(StationKind::Water),
        count(StationKind::Air),
        count(StationKind::Outfall),
        count(StationKind::Hydrology),
    );
    let unverified = r.stations().iter().filter(|s| !s.verified).count();
    match ctx.lang {
        Lang::Zh => println!(
            "配置有效：{} 个参数，{} 条河流，{} 个站点（水质断面 {w}，空气站 {a}，排口 {o}，水文站 {h}；其中 {unverified} 个位置未经核实）。数据目录：{}",
            r.parameters().len(),
            r.rivers().len(),
            r.stations().len(),
            ctx.data_dir.display()
        ),
        Lang::En => println!(
            "configuration is valid: {} parameters, {} rivers, {} stations ({w} water, {a} air, {o} outfall, {h} hydrology; {unverified} with unverified positions). Data directory: {}",
            r.parameters().len(),
            r.rivers().len(),
            r.stations().len(),
            ctx.data_dir.display()
        ),
    }
    Ok(())
}
