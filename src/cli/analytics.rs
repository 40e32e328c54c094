//! `riverwatch analytics` (the analytics service), `riverwatch evaluate` (a quick check of
//! values against the standards, or of a run of daily AQI against the warning levels),
//! `riverwatch evaluations …` (what the service stored) and `riverwatch bench analytics`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Subcommand, ValueEnum};
use riverwatch_analytics::events::{level_name, num, window_label};
use riverwatch_analytics::live::{
    LiveEvaluator, discharge_limits, flood_state_name, station_levels,
};
use riverwatch_analytics::standards::gb3838::WaterBody;
use riverwatch_analytics::standards::hj633::{DailySample, HourlySample, Pollutant};
use riverwatch_analytics::standards::hydrology::level_state;
use riverwatch_analytics::standards::in_force;
use riverwatch_analytics::standards::warning::{self, WarningLevel};
use riverwatch_analytics::store::{
    DayQuery, EvaluationQuery, EvaluationReader, EventQuery, LedgerQuery,
};
use riverwatch_analytics::windows::{self, Month, Request};
use riverwatch_analytics::{AnalyticsArgs, AnalyticsConfig};
use riverwatch_core::events::WindowPeriod;
use riverwatch_core::mqtt::MqttConfig;
use riverwatch_core::pipeline::{ReadingQuery, StoreReader, WriteBatch};
use riverwatch_core::registry::{Registry, Station, StationKind};
use riverwatch_core::time::{SystemClock, cst_date, fmt_cst, parse_time};
use riverwatch_core::{Lang, ParamCode, Reading, StationId, WaterClass};
use riverwatch_ingest::store::{self, AnyReader};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::ingest::mqtt_with_override;
use super::output::table;
use super::{Context, user_error};

/// `riverwatch analytics`.
#[derive(Debug, Args)]
pub struct AnalyticsCmdArgs {
    /// Broker URL (`mqtt://host:port` or `mqtts://host:port`); overrides `[mqtt] url`.
    #[arg(long)]
    pub mqtt: Option<String>,
    /// MQTT client id (stable across restarts); overrides `[analytics] client_id`.
    #[arg(long)]
    pub client_id: Option<String>,
}

/// Builds the analytics service's arguments from the configuration: the configured
/// readings store (SQLite or InfluxDB) and the evaluation store in the data directory.
///
/// # Errors
/// When the readings store cannot be opened.
pub fn analytics_args(ctx: &Context, mqtt: MqttConfig) -> anyhow::Result<AnalyticsArgs<AnyReader>> {
    let registry = ctx.loaded.registry.clone();
    let reader = open_readings(ctx)?;
    Ok(AnalyticsArgs {
        config: ctx.loaded.config.analytics.clone(),
        mqtt,
        reader,
        registry,
        data_dir: ctx.data_dir.clone(),
        clock: Arc::new(SystemClock),
        control: None,
    })
}

/// Runs the analytics service until `token` fires: the entry `riverwatch up` uses.
///
/// # Errors
/// Configuration or store problems.
pub async fn run_service(
    ctx: &Context,
    mqtt: MqttConfig,
    token: CancellationToken,
) -> anyhow::Result<()> {
    let args = analytics_args(ctx, mqtt)?;
    riverwatch_analytics::run(args, token)
        .await
        .context("analytics service")
}

fn open_readings(ctx: &Context) -> anyhow::Result<AnyReader> {
    let sqlite = store::sqlite_path(&ctx.loaded.config.store, &ctx.data_dir);
    if ctx.loaded.config.store.backend == riverwatch_ingest::config::Backend::Sqlite
        && !sqlite.exists()
    {
        // A fresh data directory: create the readings database so the reader can open it.
        riverwatch_ingest::store::SqliteStore::open(&sqlite, &ctx.loaded.config.store.sqlite)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    store::open_reader(
        &ctx.loaded.config.store,
        &ctx.data_dir,
        &ctx.loaded.registry,
    )
    .map_err(|e| {
        user_error(
            format!(
                "无法打开读数存储（数据目录 {}）：{e}",
                ctx.data_dir.display()
            ),
            format!(
                "cannot open the readings store in {}: {e}",
                ctx.data_dir.display()
            ),
        )
    })
}

/// Runs `riverwatch analytics` until Ctrl-C.
///
/// # Errors
/// Configuration or store problems.
pub async fn run(args: &AnalyticsCmdArgs, ctx: &Context) -> anyhow::Result<()> {
    let mqtt = mqtt_with_override(ctx, args.mqtt.as_deref())?;
    let mut a = analytics_args(ctx, mqtt)?;
    if let Some(id) = &args.client_id {
        a.config.client_id = id.clone();
    }
    let token = CancellationToken::new();
    let service = tokio::spawn(riverwatch_analytics::run(a, token.clone()));
    super::until_signal_then_stop(service, token, ctx).await
}

/// Output format of `evaluate` and `evaluations`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// JSON.
    Json,
    /// A readable table (Chinese by default).
    Table,
}

/// How `evaluate` reads air values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Averaging {
    /// 1-hour values: the real-time AQI.
    Hourly,
    /// 24-hour means (O3: the daily maximum 8-hour mean): the daily AQI.
    Daily,
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

#[derive(Serialize)]
struct WaterParam {
    code: String,
    value: f64,
    unit: String,
    class: Option<WaterClass>,
    exceedance_multiple: Option<f64>,
    in_section_class: bool,
}

#[derive(Serialize)]
struct WaterResult {
    station: String,
    observed_at: String,
    standard: String,
    method: String,
    water_body: &'static str,
    parameters: Vec<WaterParam>,
    class: Option<WaterClass>,
    target: Option<WaterClass>,
    compliant: Option<bool>,
    deciding: Vec<String>,
}

#[derive(Serialize)]
struct AirResult {
    station: String,
    observed_at: String,
    averaging: &'static str,
    edition: String,
    iaqi: BTreeMap<String, u32>,
    aqi: Option<u32>,
    level: Option<u8>,
    category_zh: Option<String>,
    primary: Vec<String>,
}

#[derive(Serialize)]
struct OutfallParam {
    code: String,
    value: f64,
    limit: Option<f64>,
    exceeds: bool,
    exceedance_multiple: Option<f64>,
}

#[derive(Serialize)]
struct OutfallResult {
    station: String,
    observed_at: String,
    standard: String,
    parameters: Vec<OutfallParam>,
    compliant: bool,
}

#[derive(Serialize)]
struct GaugeResult {
    station: String,
    observed_at: String,
    level_m: Option<f64>,
    state: Option<&'static str>,
    warning_level_m: Option<f64>,
    guaranteed_level_m: Option<f64>,
}

#[derive(Serialize)]
struct WarningResult {
    daily_aqi: Vec<u32>,
    level: &'static str,
    run_days: u32,
    severe_days: u32,
}

/// Parses `CODE=value,CODE=value`.
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

fn body(s: &Station) -> WaterBody {
    match s.water_body {
        riverwatch_core::registry::WaterBody::River => WaterBody::River,
        riverwatch_core::registry::WaterBody::Lake => WaterBody::Lake,
    }
}

fn print_json<T: Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn class_label(c: Option<WaterClass>, lang: Lang) -> String {
    c.map_or("—".to_string(), |c| {
        lang.pick(c.label_zh(), c.label_en()).to_string()
    })
}

fn opt(v: Option<f64>) -> String {
    v.map_or("—".to_string(), num)
}

/// Runs `riverwatch evaluate`.
///
/// # Errors
/// Unknown station or parameter, bad values or time.
pub fn evaluate(args: &EvaluateArgs, ctx: &Context) -> anyhow::Result<()> {
    if let Some(EvaluateCommand::Warning(w)) = &args.command {
        return evaluate_warning(w, ctx);
    }
    let registry = &ctx.loaded.registry;
    let id = args.station.as_deref().unwrap_or_default();
    let Some(station) = registry.station(id) else {
        return Err(user_error(
            format!("未知站点 `{id}`"),
            format!("unknown station `{id}`"),
        ));
    };
    let at = match &args.at {
        Some(t) => parse_time(t).map_err(|e| {
            user_error(
                format!(
                    "--at 的时间 `{t}` 无法识别：请使用 2026-09-10 12:00（北京时间）或 RFC 3339"
                ),
                format!("--at: {e}"),
            )
        })?,
        None => Utc::now(),
    };
    let values = parse_values(args.values.as_deref().unwrap_or_default(), registry)?;
    let lang = ctx.lang;
    let date = cst_date(at);
    let std = in_force(date);
    match station.kind {
        StationKind::Water => {
            let b = body(station);
            let pairs: Vec<(&str, f64)> = values.iter().map(|(c, v)| (c.as_str(), *v)).collect();
            let sc = std.method.section_class(std.water, &pairs, b);
            let target = station.target_class;
            let result = WaterResult {
                station: station.id.to_string(),
                observed_at: riverwatch_core::time::rfc3339_cst(at),
                standard: std.water.edition.code.to_string(),
                method: std.method.edition.code.to_string(),
                water_body: match b {
                    WaterBody::River => "river",
                    WaterBody::Lake => "lake",
                },
                parameters: values
                    .iter()
                    .map(|(c, v)| WaterParam {
                        code: c.clone(),
                        value: *v,
                        unit: registry
                            .parameter(c)
                            .map(|p| p.unit.clone())
                            .unwrap_or_default(),
                        class: std.water.classify(c, *v, b),
                        exceedance_multiple: std
                            .water
                            .exceedance_multiple(c, *v, b)
                            .map(|m| (m * 1e4).round() / 1e4),
                        in_section_class: std.method.class_items.iter().any(|x| x == c),
                    })
                    .collect(),
                class: sc.as_ref().map(|s| s.class),
                target,
                compliant: sc.as_ref().zip(target).map(|(s, t)| s.class.meets(t)),
                deciding: sc.map(|s| s.deciding).unwrap_or_default(),
            };
            if args.format == Some(Format::Json) {
                return print_json(&result);
            }
            let header = match lang {
                Lang::Zh => vec![
                    "参数",
                    "数值",
                    "单位",
                    "类别",
                    "超标倍数(对Ⅲ类)",
                    "参与定类",
                ],
                Lang::En => vec![
                    "parameter",
                    "value",
                    "unit",
                    "class",
                    "multiple (vs III)",
                    "decides",
                ],
            };
            let rows: Vec<Vec<String>> = result
                .parameters
                .iter()
                .map(|p| {
                    let name = registry
                        .parameter(&p.code)
                        .map(|x| lang.pick(&x.name_zh, &x.name_en).to_string())
                        .unwrap_or_default();
                    vec![
                        format!("{name} {}", p.code),
                        num(p.value),
                        p.unit.clone(),
                        class_label(p.class, lang),
                        opt(p.exceedance_multiple),
                        lang.pick(
                            if p.in_section_class { "是" } else { "否" },
                            if p.in_section_class { "yes" } else { "no" },
                        )
                        .to_string(),
                    ]
                })
                .collect();
            let name = lang.pick(&station.name_zh, &station.name_pinyin);
            println!(
                "{}",
                match lang {
                    Lang::Zh => format!(
                        "{name}（{}）{}（北京时间），{}，{}",
                        station.id,
                        fmt_cst(at),
                        result.standard,
                        result.method
                    ),
                    Lang::En => format!(
                        "{name} ({}) {} UTC+8, {}, {}",
                        station.id,
                        fmt_cst(at),
                        result.standard,
                        result.method
                    ),
                }
            );
            print!("{}", table(&header, &rows));
            let verdict = match (result.compliant, lang) {
                (Some(true), Lang::Zh) => "达标",
                (Some(false), Lang::Zh) => "未达标",
                (None, Lang::Zh) => "无法判定",
                (Some(true), Lang::En) => "meets its target",
                (Some(false), Lang::En) => "below its target",
                (None, Lang::En) => "not judged",
            };
            match lang {
                Lang::Zh => println!(
                    "断面水质：{}（目标 {}），{}",
                    class_label(result.class, lang),
                    class_label(result.target, lang),
                    verdict
                ),
                Lang::En => println!(
                    "Section class: {} (target {}), {}",
                    class_label(result.class, lang),
                    class_label(result.target, lang),
                    verdict
                ),
            }
            Ok(())
        }
        StationKind::Air => {
            let get = |p: Pollutant| values.iter().find(|(c, _)| c == p.code()).map(|(_, v)| *v);
            let result = match args.averaging {
                Averaging::Hourly => std.aqi.hourly_aqi(&HourlySample {
                    so2_ug_m3: get(Pollutant::So2),
                    no2_ug_m3: get(Pollutant::No2),
                    co_mg_m3: get(Pollutant::Co),
                    o3_ug_m3: get(Pollutant::O3),
                    pm25_ug_m3: get(Pollutant::Pm25),
                    pm10_ug_m3: get(Pollutant::Pm10),
                    so2_24h_ug_m3: None,
                }),
                Averaging::Daily => std.aqi.daily_aqi(&DailySample {
                    so2_ug_m3: get(Pollutant::So2),
                    no2_ug_m3: get(Pollutant::No2),
                    co_mg_m3: get(Pollutant::Co),
                    pm25_ug_m3: get(Pollutant::Pm25),
                    pm10_ug_m3: get(Pollutant::Pm10),
                    o3_8h_max_ug_m3: get(Pollutant::O3),
                    o3_1h_max_ug_m3: None,
                }),
            };
            let out = AirResult {
                station: station.id.to_string(),
                observed_at: riverwatch_core::time::rfc3339_cst(at),
                averaging: match args.averaging {
                    Averaging::Hourly => "hourly",
                    Averaging::Daily => "daily",
                },
                edition: result.edition.code.to_string(),
                iaqi: result
                    .iaqi
                    .iter()
                    .map(|(p, i)| (p.code().to_string(), *i))
                    .collect(),
                aqi: result.aqi,
                level: result.level.map(|l| l.number()),
                category_zh: result.level.map(|l| l.category_zh().to_string()),
                primary: result
                    .primary
                    .iter()
                    .map(|p| p.code().to_string())
                    .collect(),
            };
            if args.format == Some(Format::Json) {
                return print_json(&out);
            }
            let header = match lang {
                Lang::Zh => vec!["污染物", "浓度", "单位", "IAQI"],
                Lang::En => vec!["pollutant", "concentration", "unit", "IAQI"],
            };
            let rows: Vec<Vec<String>> = result
                .iaqi
                .iter()
                .map(|(p, i)| {
                    vec![
                        lang.pick(p.name_zh(), p.label()).to_string() + " " + p.label(),
                        opt(get(*p)),
                        p.unit().to_string(),
                        i.to_string(),
                    ]
                })
                .collect();
            println!(
                "{}（{}）{}（北京时间），{}",
                lang.pick(&station.name_zh, &station.name_pinyin),
                station.id,
                fmt_cst(at),
                out.edition
            );
            print!("{}", table(&header, &rows));
            let primary: Vec<&str> = result.primary.iter().map(|p| p.label()).collect();
            match (result.aqi, result.level, lang) {
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
            Ok(())
        }
        StationKind::Outfall => {
            let limits = discharge_limits(station, &ctx.loaded.config.analytics);
            let wt = values.iter().find(|(c, _)| c == "WT").map(|(_, v)| *v);
            let params: Vec<OutfallParam> = values
                .iter()
                .map(|(c, v)| {
                    let judged = limits.judge(c, *v, wt).ok().flatten();
                    OutfallParam {
                        code: c.clone(),
                        value: *v,
                        limit: judged
                            .map(|e| e.limit)
                            .or_else(|| match limits.limit_for(c) {
                                Some(
                                    riverwatch_analytics::standards::discharge::DischargeLimit::Max(
                                        m,
                                    ),
                                ) => Some(*m),
                                _ => None,
                            }),
                        exceeds: judged.is_some(),
                        exceedance_multiple: judged.and_then(|e| e.multiple),
                    }
                })
                .collect();
            let out = OutfallResult {
                station: station.id.to_string(),
                observed_at: riverwatch_core::time::rfc3339_cst(at),
                standard: format!("{} 一级A", limits.edition().code),
                compliant: params.iter().all(|p| !p.exceeds),
                parameters: params,
            };
            if args.format == Some(Format::Json) {
                return print_json(&out);
            }
            let header = match lang {
                Lang::Zh => vec!["参数", "数值", "排放限值", "超标", "超标倍数"],
                Lang::En => vec!["parameter", "value", "limit", "exceeds", "multiple"],
            };
            let rows: Vec<Vec<String>> = out
                .parameters
                .iter()
                .map(|p| {
                    vec![
                        p.code.clone(),
                        num(p.value),
                        opt(p.limit),
                        lang.pick(
                            if p.exceeds { "是" } else { "否" },
                            if p.exceeds { "yes" } else { "no" },
                        )
                        .to_string(),
                        opt(p.exceedance_multiple),
                    ]
                })
                .collect();
            println!(
                "{}（{}）{}",
                lang.pick(&station.name_zh, &station.name_pinyin),
                station.id,
                out.standard
            );
            print!("{}", table(&header, &rows));
            Ok(())
        }
        StationKind::Hydrology => {
            let levels = station_levels(station, &ctx.loaded.config.analytics);
            let level = values.iter().find(|(c, _)| c == "LEVEL").map(|(_, v)| *v);
            let state = level.zip(levels).and_then(|(l, s)| level_state(l, &s));
            let out = GaugeResult {
                station: station.id.to_string(),
                observed_at: riverwatch_core::time::rfc3339_cst(at),
                level_m: level,
                state: state.map(flood_state_name),
                warning_level_m: levels.map(|l| l.warning_level_m),
                guaranteed_level_m: levels.map(|l| l.guaranteed_level_m),
            };
            if args.format == Some(Format::Json) {
                return print_json(&out);
            }
            println!(
                "{}（{}）{} {} m：{}（警戒水位 {} m，保证水位 {} m）",
                station.name_zh,
                station.id,
                lang.pick("水位", "level"),
                opt(level),
                state.map_or("—", |s| lang.pick(s.label_zh(), s.label_en())),
                opt(out.warning_level_m),
                opt(out.guaranteed_level_m)
            );
            Ok(())
        }
    }
}

fn evaluate_warning(args: &WarningArgs, ctx: &Context) -> anyhow::Result<()> {
    let rules = &ctx.loaded.config.analytics.warning;
    let days: Vec<(NaiveDate, Option<u32>)> = args
        .daily_aqi
        .iter()
        .enumerate()
        .map(|(i, a)| (NaiveDate::MIN + chrono::Duration::days(i as i64), Some(*a)))
        .collect();
    let last = days.last().map_or(NaiveDate::MIN, |d| d.0);
    let w = riverwatch_analytics::warning::city_warning(rules, &days, last);
    debug_assert_eq!(w.level, warning::level(rules, &args.daily_aqi));
    let out = WarningResult {
        daily_aqi: args.daily_aqi.clone(),
        level: level_name(w.level),
        run_days: w.run_days,
        severe_days: w.severe_days,
    };
    if args.format == Some(Format::Json) {
        return print_json(&out);
    }
    let lang = ctx.lang;
    let header = match lang {
        Lang::Zh => vec![
            "日序",
            "日AQI",
            "重度及以上(>200)",
            "严重(>300)",
            "当日预警",
        ],
        Lang::En => vec!["day", "daily AQI", "> 200", "> 300", "warning that day"],
    };
    let per_day = warning::level_over_history(rules, &args.daily_aqi);
    let yes = lang.pick("是", "yes");
    let rows: Vec<Vec<String>> = args
        .daily_aqi
        .iter()
        .zip(&per_day)
        .enumerate()
        .map(|(i, (a, l))| {
            vec![
                (i + 1).to_string(),
                a.to_string(),
                if *a > rules.heavy_above_aqi {
                    yes.to_string()
                } else {
                    String::new()
                },
                if *a > rules.severe_above_aqi {
                    yes.to_string()
                } else {
                    String::new()
                },
                lang.pick(l.name_zh(), l.name_en()).to_string(),
            ]
        })
        .collect();
    print!("{}", table(&header, &rows));
    let roman = w
        .level
        .roman()
        .map_or(String::new(), |r| format!("（{r}级）"));
    match lang {
        Lang::Zh => println!(
            "预警等级：{}{roman}，`{}`；连续 {} 天日AQI>200，其中 {} 天>300",
            w.level.name_zh(),
            out.level,
            w.run_days,
            w.severe_days
        ),
        Lang::En => println!(
            "Warning level: {} (`{}`); {} consecutive days above 200, {} above 300",
            w.level.name_en(),
            out.level,
            w.run_days,
            w.severe_days
        ),
    }
    if w.level == WarningLevel::None && lang == Lang::Zh {
        println!("（无预警）");
    }
    Ok(())
}

/// `riverwatch evaluations …`.
#[derive(Debug, Subcommand)]
pub enum EvaluationsCommand {
    /// Current (latest live) status of the stations.
    Current(ReadArgs),
    /// Hourly, daily or monthly classes, means and valid-data rates.
    Classes(ReadArgs),
    /// Hourly or daily AQI.
    Aqi(ReadArgs),
    /// City heavy-pollution warning levels per day.
    Warnings(ReadArgs),
    /// The regional joint-control state per day.
    Joint(ReadArgs),
    /// Pollution incidents moving downstream.
    Incidents(ReadArgs),
    /// The cross-border ecological compensation ledger.
    Ledger(ReadArgs),
    /// Events emitted.
    Events(ReadArgs),
}

/// Options of `riverwatch evaluations …`.
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// Station id (or `REGION` for events).
    #[arg(long)]
    pub station: Option<String>,
    /// `hour`, `day` or `month` (classes, AQI).
    #[arg(long, value_parser = parse_period)]
    pub period: Option<WindowPeriod>,
    /// From (RFC 3339, epoch ms, or China Standard Time `2026-09-01`).
    #[arg(long)]
    pub from: Option<String>,
    /// To (exclusive for times, inclusive for days and months).
    #[arg(long)]
    pub to: Option<String>,
    /// Every revision, not only the latest of each window.
    #[arg(long)]
    pub all_revisions: bool,
    /// At most this many (the latest).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Output format; a readable table when absent.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

fn parse_period(s: &str) -> Result<WindowPeriod, String> {
    WindowPeriod::ALL
        .into_iter()
        .find(|p| p.as_str() == s.trim())
        .ok_or_else(|| format!("`{s}`: use hour, day or month"))
}

fn time_opt(s: &Option<String>, what: &str) -> anyhow::Result<Option<DateTime<Utc>>> {
    s.as_deref()
        .map(|t| {
            parse_time(t).map_err(|e| {
                user_error(
                    format!("--{what} 的时间 `{t}` 无法识别：请使用 2026-09-01 或 2026-09-10 12:00（北京时间）"),
                    format!("--{what}: {e}"),
                )
            })
        })
        .transpose()
}

/// Runs `riverwatch evaluations …`.
///
/// # Errors
/// A missing store or bad options.
pub async fn evaluations(cmd: &EvaluationsCommand, ctx: &Context) -> anyhow::Result<()> {
    let cfg = &ctx.loaded.config.analytics;
    let reader = EvaluationReader::open_in(&ctx.data_dir, cfg).map_err(|e| {
        user_error(
            format!("尚无评价结果（{e}）：请先运行 riverwatch analytics 或 riverwatch up"),
            format!("no evaluations yet ({e}): run riverwatch analytics or riverwatch up first"),
        )
    })?;
    let lang = ctx.lang;
    let args = match cmd {
        EvaluationsCommand::Current(a)
        | EvaluationsCommand::Classes(a)
        | EvaluationsCommand::Aqi(a)
        | EvaluationsCommand::Warnings(a)
        | EvaluationsCommand::Joint(a)
        | EvaluationsCommand::Incidents(a)
        | EvaluationsCommand::Ledger(a)
        | EvaluationsCommand::Events(a) => a,
    };
    let from = time_opt(&args.from, "from")?;
    let to = time_opt(&args.to, "to")?;
    let json = args.format == Some(Format::Json);
    let registry = ctx.loaded.registry.clone();
    let name = move |id: &str| {
        registry
            .station(id)
            .map(|s| lang.pick(&s.name_zh, &s.name_pinyin).to_string())
            .unwrap_or_else(|| id.to_string())
    };
    let q = EvaluationQuery {
        station: args.station.clone(),
        period: args.period,
        from,
        to,
        all_revisions: args.all_revisions,
        limit: args.limit,
    };
    let days = DayQuery {
        station: args.station.clone(),
        from: from.map(cst_date),
        to: to.map(cst_date),
        all_revisions: args.all_revisions,
    };
    match cmd {
        EvaluationsCommand::Current(_) => {
            let station = args.station.clone();
            let rows = reader.run(move |r| r.current(station.as_deref())).await?;
            if json {
                return print_json(&rows);
            }
            let header = match lang {
                Lang::Zh => vec![
                    "站点",
                    "名称",
                    "观测时间（北京时间）",
                    "类别/AQI",
                    "目标",
                    "达标",
                ],
                Lang::En => vec![
                    "station",
                    "name",
                    "observed (UTC+8)",
                    "class / AQI",
                    "target",
                    "meets",
                ],
            };
            let rows: Vec<Vec<String>> = rows
                .iter()
                .map(|s| {
                    vec![
                        s.station.clone(),
                        name(&s.station),
                        fmt_cst(s.observed_at),
                        match (s.class, s.aqi, &s.flood_state) {
                            (Some(c), _, _) => class_label(Some(c), lang),
                            (None, Some(a), _) => format!("AQI {a}"),
                            (None, None, Some(f)) => flood_label(f, lang),
                            _ => "—".into(),
                        },
                        class_label(s.target, lang),
                        s.compliant.map_or("—".into(), |c| {
                            lang.pick(if c { "是" } else { "否" }, if c { "yes" } else { "no" })
                                .to_string()
                        }),
                    ]
                })
                .collect();
            print!("{}", table(&header, &rows));
        }
        EvaluationsCommand::Classes(_) => {
            let rows = reader.run(move |r| r.evaluations(&q)).await?;
            if json {
                return print_json(&rows);
            }
            let header = match lang {
                Lang::Zh => vec![
                    "站点",
                    "名称",
                    "时段",
                    "窗口（北京时间）",
                    "版本",
                    "类别",
                    "目标",
                    "达标",
                    "有效数据率",
                    "定类指标",
                ],
                Lang::En => vec![
                    "station",
                    "name",
                    "period",
                    "window (UTC+8)",
                    "rev",
                    "class",
                    "target",
                    "meets",
                    "valid rate",
                    "deciding",
                ],
            };
            let rows: Vec<Vec<String>> = rows
                .iter()
                .map(|e| {
                    vec![
                        e.station.clone(),
                        name(&e.station),
                        lang.pick(e.period.label_zh(), e.period.as_str())
                            .to_string(),
                        window_label(e.period, e.start),
                        e.revision.to_string(),
                        class_label(e.class, lang),
                        class_label(e.target, lang),
                        e.compliant.map_or("—".into(), |c| {
                            lang.pick(if c { "是" } else { "否" }, if c { "yes" } else { "no" })
                                .to_string()
                        }),
                        format!("{:.0}%", e.completeness * 100.0),
                        e.deciding.join(","),
                    ]
                })
                .collect();
            print!("{}", table(&header, &rows));
        }
        EvaluationsCommand::Aqi(_) => {
            let rows = reader.run(move |r| r.aqi(&q)).await?;
            if json {
                return print_json(&rows);
            }
            let header = match lang {
                Lang::Zh => vec![
                    "站点",
                    "名称",
                    "时段",
                    "时间（北京时间）",
                    "版本",
                    "AQI",
                    "级别",
                    "类别",
                    "首要污染物",
                    "标准",
                ],
                Lang::En => vec![
                    "station",
                    "name",
                    "period",
                    "time (UTC+8)",
                    "rev",
                    "AQI",
                    "level",
                    "category",
                    "primary",
                    "edition",
                ],
            };
            let rows: Vec<Vec<String>> = rows
                .iter()
                .map(|a| {
                    vec![
                        a.station.clone(),
                        name(&a.station),
                        lang.pick(a.period.label_zh(), a.period.as_str())
                            .to_string(),
                        window_label(a.period, a.start),
                        a.revision.to_string(),
                        a.aqi.map_or("—".into(), |x| x.to_string()),
                        a.level.map_or("—".into(), |x| x.to_string()),
                        a.category_zh.clone().unwrap_or_default(),
                        a.primary.join(","),
                        a.edition.clone(),
                    ]
                })
                .collect();
            print!("{}", table(&header, &rows));
        }
        EvaluationsCommand::Warnings(_) => {
            let rows = reader.run(move |r| r.warnings(&days)).await?;
            if json {
                return print_json(&rows);
            }
            let header = match lang {
                Lang::Zh => vec![
                    "站点",
                    "城市",
                    "日期",
                    "版本",
                    "日AQI",
                    "连续重污染天数",
                    ">300天数",
                    "预警",
                ],
                Lang::En => vec![
                    "station",
                    "city",
                    "date",
                    "rev",
                    "daily AQI",
                    "run > 200",
                    "> 300",
                    "warning",
                ],
            };
            let rows: Vec<Vec<String>> = rows
                .iter()
                .map(|w| {
                    vec![
                        w.station.clone(),
                        w.city_zh.clone(),
                        w.date.to_string(),
                        w.revision.to_string(),
                        w.daily_aqi.map_or("—".into(), |a| a.to_string()),
                        w.run_days.to_string(),
                        w.severe_days.to_string(),
                        lang.pick(w.level.name_zh(), w.level.name_en()).to_string(),
                    ]
                })
                .collect();
            print!("{}", table(&header, &rows));
        }
        EvaluationsCommand::Joint(_) => {
            let rows = reader.run(move |r| r.joint_control(&days)).await?;
            if json {
                return print_json(&rows);
            }
            let header = match lang {
                Lang::Zh => vec![
                    "日期",
                    "版本",
                    "联防联控",
                    "黑龙江重污染城市",
                    "吉林重污染城市",
                ],
                Lang::En => vec![
                    "date",
                    "rev",
                    "joint control",
                    "heavy in HLJ",
                    "heavy in JL",
                ],
            };
            let rows: Vec<Vec<String>> = rows
                .iter()
                .map(|j| {
                    vec![
                        j.date.to_string(),
                        j.revision.to_string(),
                        lang.pick(
                            if j.active { "启动" } else { "—" },
                            if j.active { "active" } else { "—" },
                        )
                        .to_string(),
                        j.heavy_hlj
                            .iter()
                            .map(|s| name(s))
                            .collect::<Vec<_>>()
                            .join("、"),
                        j.heavy_jl
                            .iter()
                            .map(|s| name(s))
                            .collect::<Vec<_>>()
                            .join("、"),
                    ]
                })
                .collect();
            print!("{}", table(&header, &rows));
        }
        EvaluationsCommand::Incidents(_) => {
            let station = args.station.clone();
            let rows = reader
                .run(move |r| r.incidents(station.as_deref(), from))
                .await?;
            if json {
                return print_json(&rows);
            }
            for i in &rows {
                println!(
                    "{} {} {}（{}）{}",
                    i.id,
                    lang.pick("起始", "origin"),
                    name(&i.origin_station),
                    i.origin_station,
                    fmt_cst(i.started_at)
                );
                let header = match lang {
                    Lang::Zh => vec![
                        "断面",
                        "省份",
                        "参数",
                        "首次超标（北京时间）",
                        "数值",
                        "溯源结论",
                    ],
                    Lang::En => vec![
                        "section",
                        "province",
                        "parameter",
                        "first exceedance (UTC+8)",
                        "value",
                        "attribution",
                    ],
                };
                let rows: Vec<Vec<String>> = i
                    .sections
                    .iter()
                    .map(|s| {
                        vec![
                            format!("{} {}", s.station, name(&s.station)),
                            lang.pick(s.province.name_zh(), s.province.name_en())
                                .to_string(),
                            s.parameter.clone(),
                            fmt_cst(s.first_at),
                            num(s.value),
                            verdict(&s.attribution, lang),
                        ]
                    })
                    .collect();
                print!("{}", table(&header, &rows));
                if let Some(n) = &i.expected_next {
                    println!(
                        "{} {} {}",
                        lang.pick("预计到达", "expected at"),
                        n.station,
                        fmt_cst(n.at)
                    );
                }
            }
        }
        EvaluationsCommand::Ledger(_) => {
            let lq = LedgerQuery {
                station: args.station.clone(),
                from_month: from.map(|t| window_label(WindowPeriod::Month, t)),
                to_month: to.map(|t| window_label(WindowPeriod::Month, t)),
                all_revisions: args.all_revisions,
            };
            let rows = reader.run(move |r| r.ledger(&lq)).await?;
            if json {
                return print_json(&rows);
            }
            let header = match lang {
                Lang::Zh => vec![
                    "断面",
                    "名称",
                    "月份",
                    "版本",
                    "月均类别",
                    "目标",
                    "达标",
                    "付款方",
                    "收款方",
                    "金额（元）",
                ],
                Lang::En => vec![
                    "section", "name", "month", "rev", "class", "target", "meets", "payer",
                    "payee", "yuan",
                ],
            };
            let rows: Vec<Vec<String>> = rows
                .iter()
                .map(|l| {
                    let prov = |p: Option<riverwatch_core::Province>| {
                        p.map_or("—".to_string(), |p| {
                            lang.pick(p.name_zh(), p.name_en()).to_string()
                        })
                    };
                    vec![
                        l.station.clone(),
                        name(&l.station),
                        l.month.clone(),
                        l.revision.to_string(),
                        class_label(l.class, lang),
                        class_label(Some(l.target), lang),
                        match l.compliant {
                            Some(c) => lang
                                .pick(if c { "是" } else { "否" }, if c { "yes" } else { "no" })
                                .to_string(),
                            None => lang.pick("数据不足", "not assessed").to_string(),
                        },
                        prov(l.payer),
                        prov(l.payee),
                        format!("{:.0}", l.amount_yuan),
                    ]
                })
                .collect();
            print!("{}", table(&header, &rows));
            println!("{}", lang.pick("注：金额为示例规则（豫鲁黄河协议类别差模型按月折算），需按两省协议配置。", "Note: the amounts follow an example rule (the Henan–Shandong class-step model per month); configure the agreed figures."));
        }
        EvaluationsCommand::Events(_) => {
            let eq = EventQuery {
                subject: args.station.clone(),
                rule: None,
                since: from,
                until: to,
                limit: args.limit,
            };
            let rows = reader.run(move |r| r.events(&eq)).await?;
            if json {
                return print_json(&rows);
            }
            for e in &rows {
                println!(
                    "{} [{}] {}",
                    fmt_cst(e.observed_at),
                    lang.pick(e.severity.label_zh(), &format!("{:?}", e.severity)),
                    lang.pick(&e.summary_zh, &e.summary_en)
                );
            }
        }
    }
    Ok(())
}

fn verdict(a: &riverwatch_core::events::Attribution, lang: Lang) -> String {
    use riverwatch_core::events::Attribution;
    match a {
        Attribution::ArrivedFromUpstream {
            upstream_station,
            upstream_province,
            ..
        } => match lang {
            Lang::Zh => format!(
                "来自上游 {upstream_station}（{}）",
                upstream_province.name_zh()
            ),
            Lang::En => format!(
                "arrived from {upstream_station} ({})",
                upstream_province.name_en()
            ),
        },
        Attribution::ArisenBetween {
            upstream_station,
            upstream_province,
            ..
        } => match lang {
            Lang::Zh => format!(
                "产生于 {upstream_station}（{}）与本断面之间",
                upstream_province.name_zh()
            ),
            Lang::En => format!(
                "arisen between {upstream_station} ({}) and here",
                upstream_province.name_en()
            ),
        },
        Attribution::Undetermined { .. } => lang
            .pick("无法判定（上游无数据）", "undetermined")
            .to_string(),
    }
}

/// A stored flood state (`normal`, `above_warning`, `above_guaranteed`) in the language.
fn flood_label(state: &str, lang: Lang) -> String {
    match state {
        "normal" => lang.pick("正常", "normal"),
        "above_warning" => lang.pick("超警戒水位", "above warning level"),
        "above_guaranteed" => lang.pick("超保证水位", "above guaranteed level"),
        other => other,
    }
    .to_string()
}

/// `riverwatch bench analytics`.
#[derive(Debug, Args)]
pub struct AnalyticsBenchArgs {
    /// Days of hourly data for the whole default network.
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The figures of one benchmark run.
#[derive(Debug, Serialize)]
pub struct AnalyticsBench {
    /// Stations of the network.
    pub stations: usize,
    /// Days of hourly data.
    pub days: u32,
    /// Readings stored and evaluated.
    pub readings: usize,
    /// Seconds to read them back from SQLite.
    pub read_secs: f64,
    /// Seconds of the daily and monthly evaluation with polars (means, classes, valid-data
    /// rates, daily AQI).
    pub evaluate_secs: f64,
    /// Readings per second through the evaluation.
    pub evaluate_readings_per_sec: f64,
    /// Baseline, same readings, same run: seconds of a plain one-pass hourly → daily →
    /// monthly mean per station and parameter in `HashMap`s (no classes, no AQI, no
    /// completeness), the least any window evaluation must do.
    pub baseline_means_secs: f64,
    /// `evaluate_secs ÷ baseline_means_secs`.
    pub evaluate_vs_baseline: f64,
    /// Daily evaluations produced.
    pub daily_evaluations: usize,
    /// Monthly evaluations produced.
    pub monthly_evaluations: usize,
    /// Daily AQI records produced.
    pub daily_aqi: usize,
    /// Live path: readings judged per second (one reading per call).
    pub live_readings_per_sec: f64,
    /// Live path: median latency per reading, µs.
    pub live_p50_us: f64,
    /// Live path: 99th percentile latency per reading, µs.
    pub live_p99_us: f64,
    /// Live path: findings (events) raised.
    pub live_findings: usize,
    /// Baseline, same readings, same run: decoding each reading's `readings` message (the
    /// JSON ingest publishes, one reading per message), which the service must do for every
    /// reading anyway; readings per second.
    pub baseline_decode_readings_per_sec: f64,
    /// Baseline: median decode latency per reading, µs.
    pub baseline_decode_p50_us: f64,
    /// Baseline: 99th percentile decode latency per reading, µs.
    pub baseline_decode_p99_us: f64,
    /// `live_p99_us ÷ baseline_decode_p99_us`.
    pub live_p99_vs_decode: f64,
    /// `baseline_decode_readings_per_sec ÷ live_readings_per_sec` (how many times longer
    /// judging a reading takes than decoding it).
    pub live_time_vs_decode: f64,
}

/// Runs `riverwatch bench analytics`: one year (by default) of hourly data for the whole
/// default network, generated by the simulator's baseline models, written to a temporary
/// SQLite store through `SqliteStore`, then (a) read back and evaluated by day and month
/// with polars, (b) fed reading by reading through the live evaluator.
///
/// # Errors
/// When the store cannot be written or the evaluation fails.
pub async fn bench(args: &AnalyticsBenchArgs, ctx: &Context) -> anyhow::Result<()> {
    let registry = ctx.loaded.registry.clone();
    let config = ctx.loaded.config.analytics.clone();
    let days = args.days.max(1);
    let seed = args.seed;
    let dir =
        std::env::temp_dir().join(format!("riverwatch-bench-analytics-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("readings.db");
    let start = riverwatch_core::time::from_cst(
        NaiveDate::from_ymd_opt(2025, 1, 1)
            .unwrap_or(NaiveDate::MIN)
            .and_time(chrono::NaiveTime::MIN),
    );
    let end = start + chrono::Duration::days(i64::from(days));
    tracing::info!(
        days,
        stations = registry.stations().len(),
        "Generating hourly data."
    );
    let reg = registry.clone();
    let db2 = db.clone();
    let written =
        tokio::task::spawn_blocking(move || generate(&reg, &db2, start, days, seed)).await??;

    // (a) Daily and monthly evaluation over the readings store.
    let reader =
        riverwatch_ingest::store::SqliteReader::open(&db).map_err(|e| anyhow::anyhow!("{e}"))?;
    let t0 = Instant::now();
    let readings = reader
        .query(&ReadingQuery {
            from: Some(start),
            to: Some(end),
            ..ReadingQuery::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let read_secs = t0.elapsed().as_secs_f64();
    let dates: Vec<NaiveDate> = (0..days)
        .map(|d| cst_date(start) + chrono::Duration::days(i64::from(d)))
        .collect();
    let mut months: Vec<Month> = dates.iter().map(|d| Month::of(*d)).collect();
    months.dedup();
    let months: Vec<Month> = months.into_iter().filter(|m| m.end() <= end).collect();
    let requests: Vec<Request> = registry
        .stations()
        .iter()
        .map(|s| Request {
            station: s.id.to_string(),
            hours: None,
            days: dates.clone(),
            months: months.clone(),
        })
        .collect();
    let n = readings.len();
    let (results, evaluate_secs, readings) = {
        let registry = registry.clone();
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            let ctx = windows::Context {
                registry: &registry,
                config: &config,
                now: Utc::now(),
            };
            let t = Instant::now();
            let r = windows::compute(&ctx, &readings, &requests, &|| false);
            let secs = t.elapsed().as_secs_f64();
            (r, secs, readings)
        })
        .await?
    };
    let results = results?;
    let (baseline_means_secs, readings) =
        tokio::task::spawn_blocking(move || (baseline_means(&readings), readings)).await?;

    // (b) The live path, one reading per call, in observation order.
    let (live_rate, p50, p99, findings, decode) = {
        let registry = registry.clone();
        let config = Arc::new(config.clone());
        tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let decode = decode_bench(&registry, &readings)?;
            let (rate, p50, p99, findings) = live_bench(registry, config, readings)?;
            Ok((rate, p50, p99, findings, decode))
        })
        .await??
    };
    let _ = std::fs::remove_dir_all(&dir);
    let result = AnalyticsBench {
        stations: registry.stations().len(),
        days,
        readings: n.max(written),
        read_secs,
        evaluate_secs,
        evaluate_readings_per_sec: n as f64 / evaluate_secs.max(1e-9),
        baseline_means_secs,
        evaluate_vs_baseline: evaluate_secs / baseline_means_secs.max(1e-9),
        daily_evaluations: results.daily.len(),
        monthly_evaluations: results.monthly.len(),
        daily_aqi: results.aqi_daily.len(),
        live_readings_per_sec: live_rate,
        live_p50_us: p50,
        live_p99_us: p99,
        live_findings: findings,
        baseline_decode_readings_per_sec: decode.0,
        baseline_decode_p50_us: decode.1,
        baseline_decode_p99_us: decode.2,
        live_p99_vs_decode: p99 / decode.2.max(1e-9),
        live_time_vs_decode: decode.0 / live_rate.max(1e-9),
    };
    if args.json {
        return print_json(&result);
    }
    println!(
        "{} stations x {} days of hourly data = {} readings (SQLite)\n\
         read back:                {:>8.2} s\n\
         daily + monthly (polars): {:>8.2} s  ({:.0} readings/s; {} daily, {} monthly evaluations, {} daily AQI)\n\
         baseline, plain means:    {:>8.2} s  → evaluation = {:.1} × baseline\n\
         live path:                {:>8.0} readings/s, p50 {:.1} µs, p99 {:.1} µs per reading ({} findings)\n\
         baseline, JSON decode:    {:>8.0} readings/s, p50 {:.1} µs, p99 {:.1} µs per reading\n\
         live / decode:            p99 {:.1} ×, time per reading {:.1} ×",
        result.stations,
        days,
        result.readings,
        read_secs,
        evaluate_secs,
        result.evaluate_readings_per_sec,
        result.daily_evaluations,
        result.monthly_evaluations,
        result.daily_aqi,
        baseline_means_secs,
        result.evaluate_vs_baseline,
        live_rate,
        p50,
        p99,
        findings,
        result.baseline_decode_readings_per_sec,
        result.baseline_decode_p50_us,
        result.baseline_decode_p99_us,
        result.live_p99_vs_decode,
        result.live_time_vs_decode,
    );
    Ok(())
}

/// Writes the baseline scenario's hourly values for every station into a SQLite store.
fn generate(
    registry: &Arc<Registry>,
    db: &std::path::Path,
    start: DateTime<Utc>,
    days: u32,
    seed: u64,
) -> anyhow::Result<usize> {
    use riverwatch_simulators::{Scenario, SimulateConfig};
    let store = riverwatch_ingest::store::SqliteStore::open(
        db,
        &riverwatch_ingest::store::sqlite::test_sqlite_config(),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut config = SimulateConfig::new(
        Scenario::builtin("baseline").map_err(|e| anyhow::anyhow!("{e}"))?,
        registry.clone(),
    );
    config.seed = seed;
    config.start = Some(start);
    config.duration = Some(Duration::from_secs(u64::from(days) * 86_400));
    config.interval_override_secs = Some(3600);
    let generator =
        riverwatch_simulators::simulate::generator(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let stations: Vec<(StationId, Vec<ParamCode>)> = generator
        .stations()
        .iter()
        .map(|s| {
            (
                s.station.id.clone(),
                s.params.iter().map(|p| ParamCode::new(&p.code)).collect(),
            )
        })
        .collect();
    let mut batch = Vec::with_capacity(20_000);
    let mut written = 0;
    for obs in generator {
        let (id, codes) = &stations[obs.station];
        for v in &obs.values {
            batch.push(Reading {
                station: id.clone(),
                parameter: codes[v.param].clone(),
                observed_at: obs.stamped_at,
                received_at: obs.sent_at,
                value: v.value,
                flag: v.flag,
                period: riverwatch_core::Period::Hour,
            });
        }
        if batch.len() >= 20_000 {
            written += batch.len();
            store
                .write_blocking(&WriteBatch {
                    readings: std::mem::take(&mut batch),
                    dead_letters: vec![],
                })
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    written += batch.len();
    store
        .write_blocking(&WriteBatch {
            readings: batch,
            dead_letters: vec![],
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(written)
}

/// The baseline of the window evaluation: hourly means, daily means of hourly means and
/// monthly means of daily means per station and parameter with `HashMap`s, one pass over
/// the valid readings. Returns seconds.
fn baseline_means(readings: &[Reading]) -> f64 {
    use std::collections::HashMap;
    let t = Instant::now();
    let mut hourly: HashMap<(&str, &str, i64), (f64, u32)> = HashMap::new();
    for r in readings.iter().filter(|r| r.flag.is_valid()) {
        let h = windows::frame::hour_index(r.observed_at);
        let e = hourly
            .entry((r.station.as_str(), r.parameter.as_str(), h))
            .or_default();
        e.0 += r.value;
        e.1 += 1;
    }
    let mut daily: HashMap<(&str, &str, i32), (f64, u32)> = HashMap::new();
    for ((s, p, h), (sum, n)) in &hourly {
        let e = daily
            .entry((s, p, windows::frame::day_of_hour(*h)))
            .or_default();
        e.0 += sum / f64::from(*n);
        e.1 += 1;
    }
    let mut monthly: HashMap<(&str, &str, i32), (f64, u32)> = HashMap::new();
    for ((s, p, d), (sum, n)) in &daily {
        let month = windows::frame::month_of_date(windows::frame::date_of_day(*d));
        let e = monthly.entry((s, p, month)).or_default();
        e.0 += sum / f64::from(*n);
        e.1 += 1;
    }
    std::hint::black_box(monthly.len());
    t.elapsed().as_secs_f64()
}

/// The baseline of the live path: each reading encoded as the one-reading `readings`
/// message ingest publishes, then timed while serde decodes it back. Returns readings/s,
/// p50 µs and p99 µs.
fn decode_bench(registry: &Registry, readings: &[Reading]) -> anyhow::Result<(f64, f64, f64)> {
    use riverwatch_core::reading::{ReadingOut, ReadingsMessage};
    let payloads: Vec<Vec<u8>> = readings
        .iter()
        .map(|r| {
            ReadingsMessage {
                station: r.station.clone(),
                readings: vec![ReadingOut {
                    parameter: r.parameter.clone(),
                    value: r.value,
                    unit: registry
                        .parameter(r.parameter.as_str())
                        .map(|p| p.unit.to_string())
                        .unwrap_or_default(),
                    observed_at: r.observed_at,
                    received_at: r.received_at,
                    flag: r.flag,
                    valid: r.flag.is_valid(),
                    period: r.period,
                }],
            }
            .to_json()
        })
        .collect();
    let mut hist = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)
        .context("histogram bounds")?;
    let total = Instant::now();
    for p in &payloads {
        let t = Instant::now();
        let m: ReadingsMessage = serde_json::from_slice(p).context("decode a readings message")?;
        std::hint::black_box(m.into_readings());
        let ns = u64::try_from(t.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .max(1);
        let _ = hist.record(ns.min(60_000_000));
    }
    let secs = total.elapsed().as_secs_f64();
    Ok((
        payloads.len() as f64 / secs.max(1e-9),
        hist.value_at_quantile(0.5) as f64 / 1000.0,
        hist.value_at_quantile(0.99) as f64 / 1000.0,
    ))
}

fn live_bench(
    registry: Arc<Registry>,
    config: Arc<AnalyticsConfig>,
    mut readings: Vec<Reading>,
) -> anyhow::Result<(f64, f64, f64, usize)> {
    readings.sort_by(|a, b| {
        a.observed_at
            .cmp(&b.observed_at)
            .then_with(|| a.station.cmp(&b.station))
    });
    let mut live = LiveEvaluator::new(registry.clone(), config);
    let mut hist = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)
        .context("histogram bounds")?;
    let now = Utc::now();
    let mut findings = 0;
    let total = Instant::now();
    for r in &readings {
        let t = Instant::now();
        let out = live.evaluate(std::slice::from_ref(r), now);
        if !out.findings.is_empty() {
            let builder = riverwatch_analytics::events::EventBuilder::new(&registry, now);
            for f in &out.findings {
                let _ = builder.finding(f);
            }
            findings += out.findings.len();
        }
        let ns = u64::try_from(t.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .max(1);
        let _ = hist.record(ns.min(60_000_000));
    }
    let secs = total.elapsed().as_secs_f64();
    Ok((
        readings.len() as f64 / secs.max(1e-9),
        hist.value_at_quantile(0.5) as f64 / 1000.0,
        hist.value_at_quantile(0.99) as f64 / 1000.0,
        findings,
    ))
}
