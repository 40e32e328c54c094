//! `riverwatch evaluate`: values at a station judged against the standards in force at a time
//! (or a run of daily AQI against the warning levels), as a table or JSON. The judging is
//! [`riverwatch_analytics::views::evaluate`].

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use riverwatch_analytics::views::evaluate::{
    self, AirCheck, Check, GaugeCheck, OutfallCheck, WarningRun, WaterCheck,
};
use riverwatch_core::Lang;
use riverwatch_core::i18n::short_number;
use riverwatch_core::registry::{Registry, Station};
use riverwatch_core::time::fmt_cst;

use crate::cli::args::time_arg;
use crate::cli::render::{
    Format, Table, class_label, col, header, num_or_dash, print_json, yes_no,
};
use crate::cli::{Context, user_error};

/// How `evaluate` reads air values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Averaging {
    /// 1-hour values: the real-time AQI.
    Hourly,
    /// 24-hour means (O3: the daily maximum 8-hour mean): the daily AQI.
    Daily,
}

impl From<Averaging> for evaluate::Averaging {
    fn from(a: Averaging) -> Self {
        match a {
            Averaging::Hourly => evaluate::Averaging::Hourly,
            Averaging::Daily => evaluate::Averaging::Daily,
        }
    }
}

/// `riverwatch evaluate`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct EvaluateArgs {
    /// What else to evaluate.
    #[command(subcommand)]
    pub command: Option<EvaluateCommand>,
    /// Station id, e.g. `LLH-NTS` or `AIR-SC`.
    #[arg(long, required = true)]
    pub station: Option<String>,
    /// Observation time (picks the editions in force): RFC 3339, epoch ms or China
    /// Standard Time `2026-09-10 12:00`. Default: now.
    #[arg(long)]
    pub at: Option<String>,
    /// Values, `CODE=value,…` in the registry's units, e.g. `NH3N=1.2,DO=4.1,TP=0.25`.
    #[arg(long, required = true)]
    pub values: Option<String>,
    /// Air values are 1-hour values (real-time AQI) or 24-hour means (daily AQI).
    #[arg(long, value_enum, default_value_t = Averaging::Hourly)]
    pub averaging: Averaging,
    /// Output format; a readable table when absent.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

/// `riverwatch evaluate …` subcommands.
#[derive(Debug, Subcommand)]
pub enum EvaluateCommand {
    /// The heavy-pollution warning level a run of daily AQI gives.
    Warning(WarningArgs),
}

/// `riverwatch evaluate warning`.
#[derive(Debug, Args)]
pub struct WarningArgs {
    /// Consecutive daily AQI values, oldest first, e.g. `180,215,260,310`.
    #[arg(long, value_delimiter = ',', required = true)]
    pub daily_aqi: Vec<u32>,
    /// Output format; a readable table when absent.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

/// Parses `CODE=value,CODE=value` and checks each value against the parameter's physical
/// range.
fn parse_values(s: &str, registry: &Registry) -> anyhow::Result<Vec<(String, f64)>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((code, value)) = part.split_once('=') else {
            return Err(user_error(
                format!("`{part}` 应写作 代码=数值，例如 NH3N=1.2"),
                format!("`{part}` must be CODE=value, e.g. NH3N=1.2"),
            ));
        };
        let code = code.trim();
        let Some(param) = registry.parameter(code) else {
            return Err(user_error(
                format!(
                    "未知参数代码 `{code}`（见 riverwatch stations 或配置文件中的 [[parameter]]）"
                ),
                format!("unknown parameter code `{code}`"),
            ));
        };
        let value: f64 = value.trim().parse().map_err(|_| {
            user_error(
                format!("`{part}` 的数值无法识别"),
                format!("`{part}`: the value is not a number"),
            )
        })?;
        if !(value.is_finite() && value >= param.min && value <= param.max) {
            return Err(user_error(
                format!(
                    "{code} = {value} 超出物理范围 {}–{} {}",
                    param.min, param.max, param.unit
                ),
                format!(
                    "{code} = {value} is outside the physical range {}–{} {}",
                    param.min, param.max, param.unit
                ),
            ));
        }
        out.push((code.to_string(), value));
    }
    if out.is_empty() {
        return Err(user_error("没有给出任何数值", "no values given"));
    }
    Ok(out)
}

/// Runs `riverwatch evaluate`.
///
/// # Errors
/// Unknown station or parameter, bad values or time.
pub fn run(args: &EvaluateArgs, ctx: &Context) -> anyhow::Result<()> {
    if let Some(EvaluateCommand::Warning(w)) = &args.command {
        return warning(w, ctx);
    }
    let registry = &ctx.loaded.registry;
    let id = args.station.as_deref().unwrap_or_default();
    let Some(station) = registry.station(id) else {
        return Err(user_error(
            format!("未知站点 `{id}`"),
            format!("unknown station `{id}`"),
        ));
    };
    let at = time_arg(
        args.at.as_deref(),
        "--at",
        "：请使用 2026-09-10 12:00（北京时间）或 RFC 3339",
    )?
    .unwrap_or_else(Utc::now);
    let values = parse_values(args.values.as_deref().unwrap_or_default(), registry)?;
    let check = evaluate::check(
        station,
        &values,
        at,
        args.averaging.into(),
        registry,
        &ctx.loaded.config.analytics,
    );
    if args.format == Some(Format::Json) {
        return print_json(&check);
    }
    let lang = ctx.lang;
    match &check {
        Check::Water(w) => water(w, station, at, registry, lang),
        Check::Air(a) => air(a, station, at, lang),
        Check::Outfall(o) => outfall(o, station, lang),
        Check::Gauge(g) => gauge(g, station, lang),
    }
    Ok(())
}

fn water(w: &WaterCheck, station: &Station, at: DateTime<Utc>, registry: &Registry, lang: Lang) {
    let name = lang.pick(&station.name_zh, &station.name_pinyin);
    match lang {
        Lang::Zh => println!(
            "{name}（{}）{}（北京时间），{}，{}",
            station.id,
            fmt_cst(at),
            w.standard,
            w.method
        ),
        Lang::En => println!(
            "{name} ({}) {} UTC+8, {}, {}",
            station.id,
            fmt_cst(at),
            w.standard,
            w.method
        ),
    }
    let rows = w.parameters.iter().map(|p| {
        let s = &p.status;
        let name = registry
            .parameter(&s.code)
            .map(|x| lang.pick(&x.name_zh, &x.name_en).to_string())
            .unwrap_or_default();
        vec![
            format!("{name} {}", s.code),
            short_number(s.value),
            s.unit.clone(),
            class_label(s.class, lang),
            num_or_dash(s.exceedance_multiple),
            yes_no(p.in_section_class, lang),
        ]
    });
    Table::with_rows(
        &[
            col::PARAMETER,
            col::VALUE,
            col::UNIT,
            header("类别", "class"),
            header("超标倍数(对Ⅲ类)", "multiple (vs III)"),
            header("参与定类", "decides"),
        ],
        rows,
    )
    .print(lang);
    let verdict = match (w.compliant, lang) {
        (Some(true), Lang::Zh) => "达标",
        (Some(false), Lang::Zh) => "未达标",
        (None, Lang::Zh) => "无法判定",
        (Some(true), Lang::En) => "meets its target",
        (Some(false), Lang::En) => "below its target",
        (None, Lang::En) => "not judged",
    };
    let (class, target) = (class_label(w.class, lang), class_label(w.target, lang));
    match lang {
        Lang::Zh => println!("断面水质：{class}（目标 {target}），{verdict}"),
        Lang::En => println!("Section class: {class} (target {target}), {verdict}"),
    }
}

fn air(a: &AirCheck, station: &Station, at: DateTime<Utc>, lang: Lang) {
    println!(
        "{}（{}）{}（北京时间），{}",
        lang.pick(&station.name_zh, &station.name_pinyin),
        station.id,
        fmt_cst(at),
        a.edition
    );
    let rows = a.pollutants.iter().map(|p| {
        let label = p.pollutant.label();
        vec![
            lang.pick(p.pollutant.name_zh(), label).to_string() + " " + label,
            num_or_dash(p.concentration),
            p.pollutant.unit().to_string(),
            p.iaqi.to_string(),
        ]
    });
    Table::with_rows(
        &[
            header("污染物", "pollutant"),
            header("浓度", "concentration"),
            col::UNIT,
            header("IAQI", "IAQI"),
        ],
        rows,
    )
    .print(lang);
    let primary: Vec<&str> = a
        .pollutants
        .iter()
        .filter(|p| a.primary.iter().any(|c| c == p.pollutant.code()))
        .map(|p| p.pollutant.label())
        .collect();
    match (a.aqi, a.aqi_level, lang) {
        (Some(aqi), Some(level), Lang::Zh) => println!(
            "AQI {aqi}，{}（{}），首要污染物：{}",
            level.level_zh(),
            level.category_zh(),
            if primary.is_empty() {
                "无".to_string()
            } else {
                primary.join("、")
            }
        ),
        (Some(aqi), Some(level), Lang::En) => println!(
            "AQI {aqi}, level {} ({}), primary pollutant: {}",
            level.number(),
            level.category_en(),
            if primary.is_empty() {
                "none".to_string()
            } else {
                primary.join(", ")
            }
        ),
        _ => println!("{}", lang.pick("无法计算 AQI", "no AQI")),
    }
}

fn outfall(o: &OutfallCheck, station: &Station, lang: Lang) {
    println!(
        "{}（{}）{}",
        lang.pick(&station.name_zh, &station.name_pinyin),
        station.id,
        o.standard
    );
    let rows = o.parameters.iter().map(|p| {
        vec![
            p.code.clone(),
            short_number(p.value),
            num_or_dash(p.limit),
            yes_no(p.exceeds, lang),
            num_or_dash(p.exceedance_multiple),
        ]
    });
    Table::with_rows(
        &[
            col::PARAMETER,
            col::VALUE,
            header("排放限值", "limit"),
            header("超标", "exceeds"),
            header("超标倍数", "multiple"),
        ],
        rows,
    )
    .print(lang);
}

fn gauge(g: &GaugeCheck, station: &Station, lang: Lang) {
    println!(
        "{}（{}）{} {} m：{}（警戒水位 {} m，保证水位 {} m）",
        station.name_zh,
        station.id,
        lang.pick("水位", "level"),
        num_or_dash(g.level_m),
        g.flood_state
            .map_or("—", |s| lang.pick(s.label_zh(), s.label_en())),
        num_or_dash(g.warning_level_m),
        num_or_dash(g.guaranteed_level_m)
    );
}

fn warning(args: &WarningArgs, ctx: &Context) -> anyhow::Result<()> {
    let run: WarningRun =
        evaluate::warning_run(&ctx.loaded.config.analytics.warning, &args.daily_aqi);
    if args.format == Some(Format::Json) {
        return print_json(&run);
    }
    let lang = ctx.lang;
    let yes = |b: bool| if b { lang.pick("是", "yes") } else { "" }.to_string();
    let rows = run.days.iter().enumerate().map(|(i, d)| {
        vec![
            (i + 1).to_string(),
            d.daily_aqi.to_string(),
            yes(d.heavy),
            yes(d.severe),
            lang.pick(d.level.name_zh(), d.level.name_en()).to_string(),
        ]
    });
    Table::with_rows(
        &[
            header("日序", "day"),
            col::DAILY_AQI,
            header("重度及以上(>200)", "> 200"),
            header("严重(>300)", "> 300"),
            header("当日预警", "warning that day"),
        ],
        rows,
    )
    .print(lang);
    let code = riverwatch_analytics::describe::level_name(run.level);
    let roman = run
        .level
        .roman()
        .map_or(String::new(), |r| format!("（{r}级）"));
    match lang {
        Lang::Zh => println!(
            "预警等级：{}{roman}，`{code}`；连续 {} 天日AQI>200，其中 {} 天>300",
            run.level.name_zh(),
            run.run_days,
            run.severe_days
        ),
        Lang::En => println!(
            "Warning level: {} (`{code}`); {} consecutive days above 200, {} above 300",
            run.level.name_en(),
            run.run_days,
            run.severe_days
        ),
    }
    if run.level == riverwatch_analytics::standards::warning::WarningLevel::None && lang == Lang::Zh
    {
        println!("（无预警）");
    }
    Ok(())
}
