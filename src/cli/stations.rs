//! `riverwatch stations`: the network as CSV, a table or JSON.

use clap::Args;
use riverwatch_core::Lang;
use riverwatch_core::registry::{Registry, Station, StationKind};

use super::render::{ListFormat, Table, col, csv, header, province, yes_no};
use super::{Context, user_error};

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

fn river_km(s: &Station) -> String {
    s.river_km.map(|k| format!("{k:.1}")).unwrap_or_default()
}

fn target(s: &Station) -> String {
    s.target_class
        .map(|c| c.as_str().to_string())
        .unwrap_or_default()
}

fn csv_fields(s: &Station) -> Vec<String> {
    vec![
        s.id.to_string(),
        s.name_zh.clone(),
        s.name_pinyin.clone(),
        s.kind.as_str().to_string(),
        s.river.clone().unwrap_or_default(),
        river_km(s),
        s.province.code().to_string(),
        s.boundary.to_string(),
        target(s),
        s.mn.clone(),
        format!("{:.4}", s.lat),
        format!("{:.4}", s.lon),
        s.verified.to_string(),
    ]
}

fn table_fields(s: &Station, registry: &Registry, lang: Lang) -> Vec<String> {
    let river = s
        .river
        .as_deref()
        .and_then(|r| registry.river(r))
        .map(|r| lang.pick(&r.name_zh, &r.name_pinyin).to_string())
        .unwrap_or_default();
    vec![
        s.id.to_string(),
        lang.pick(&s.name_zh, &s.name_pinyin).to_string(),
        lang.pick(s.kind.label_zh(), s.kind.as_str()).to_string(),
        river,
        river_km(s),
        province(s.province, lang).to_string(),
        yes_no(s.boundary, lang),
        target(s),
        yes_no(s.verified, lang),
    ]
}

/// Renders the station list.
///
/// # Errors
/// When the JSON cannot be written.
pub fn render(
    registry: &Registry,
    format: ListFormat,
    kind: Option<&str>,
    lang: Lang,
) -> anyhow::Result<String> {
    let stations: Vec<&Station> = registry
        .stations()
        .iter()
        .filter(|s| kind.is_none_or(|k| s.kind.as_str() == k))
        .collect();
    Ok(match format {
        ListFormat::Csv => csv(&CSV_COLUMNS, stations.iter().map(|s| csv_fields(s))),
        ListFormat::Json => serde_json::to_string_pretty(&stations)? + "\n",
        ListFormat::Table => Table::with_rows(
            &[
                col::ID,
                col::NAME,
                header("类型", "kind"),
                header("河流", "river"),
                header("里程km", "km"),
                header("省份", "province"),
                header("省界", "boundary"),
                col::TARGET,
                header("已核实", "verified"),
            ],
            stations.iter().map(|s| table_fields(s, registry, lang)),
        )
        .render(lang),
    })
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
            return Err(user_error(
                format!("未知站点类型 `{k}`（可选 water、air、outfall、hydrology）"),
                format!("unknown station kind `{k}` (water, air, outfall, hydrology)"),
            ));
        }
    }
    let text = render(
        &ctx.loaded.registry,
        args.format,
        args.kind.as_deref(),
        ctx.lang,
    )?;
    print!("{text}");
    Ok(())
}
