//! Consistency checks of a network definition, run once at start-up.
//!
//! Syntax and type errors are caught by the TOML reader; this module checks what a type
//! cannot say: unique ids and MNs, references between tables, ranges, and the fields each
//! kind of station needs. It collects every problem instead of stopping at the first, so an
//! integrator fixes a file in one pass.

use std::collections::HashMap;

use toml::Spanned;

use super::model::{Medium, Parameter, River, Station, StationKind};
use super::{Registry, RegistryError, RegistryIssue, SourceText};

struct Issues {
    list: Vec<RegistryIssue>,
}

/// Where an item sits, for error messages.
struct At<'a> {
    source: SourceText<'a>,
    line: usize,
    item: String,
}

impl Issues {
    fn push(&mut self, at: &At<'_>, field: Option<&str>, zh: String, en: String) {
        self.list.push(RegistryIssue {
            origin: at.source.origin.to_string(),
            line: Some(at.line),
            item: at.item.clone(),
            field: field.map(str::to_string),
            message_zh: zh,
            message_en: en,
        });
    }
}

/// Short ASCII ids are MQTT topic segments and file names: keep them to a safe alphabet.
fn valid_station_id(id: &str) -> bool {
    (2..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-')
}

fn valid_code(code: &str) -> bool {
    (1..=16).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn valid_mn(mn: &str) -> bool {
    (1..=24).contains(&mn.len())
        && mn
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub(super) fn build(
    parameters: (Vec<Spanned<Parameter>>, SourceText<'_>),
    rivers: (Vec<Spanned<River>>, SourceText<'_>),
    stations: (Vec<Spanned<Station>>, SourceText<'_>),
) -> Result<Registry, RegistryError> {
    let mut issues = Issues { list: Vec::new() };

    let (param_src, param_text) = parameters;
    let mut param_by_code = HashMap::new();
    let mut param_by_hj212 = HashMap::new();
    let mut param_by_hj212_2005 = HashMap::new();
    let mut params = Vec::with_capacity(param_src.len());
    for spanned in param_src {
        let at = At {
            source: param_text,
            line: param_text.line_of(spanned.span().start),
            item: format!("parameter {}", spanned.get_ref().code),
        };
        let p = spanned.into_inner();
        check_parameter(&p, &at, &mut issues);
        let index = params.len();
        if param_by_code.insert(p.code.clone(), index).is_some() {
            issues.push(
                &at,
                Some("code"),
                format!("参数代码 `{}` 重复", p.code),
                format!("duplicate parameter code `{}`", p.code),
            );
        }
        if let Some(code) = &p.hj212
            && param_by_hj212.insert(code.clone(), index).is_some()
        {
            issues.push(
                &at,
                Some("hj212"),
                format!("HJ 212 编码 `{code}` 已被其他参数使用"),
                format!("HJ 212 code `{code}` is already used by another parameter"),
            );
        }
        if let Some(code) = &p.hj212_2005
            && param_by_hj212_2005.insert(code.clone(), index).is_some()
        {
            issues.push(
                &at,
                Some("hj212_2005"),
                format!("HJ/T 212-2005 编码 `{code}` 已被其他参数使用"),
                format!("HJ/T 212-2005 code `{code}` is already used by another parameter"),
            );
        }
        params.push(p);
    }

    let (river_src, river_text) = rivers;
    let mut river_by_id = HashMap::new();
    let mut river_list = Vec::with_capacity(river_src.len());
    let mut river_at = Vec::with_capacity(river_src.len());
    for spanned in river_src {
        let at = At {
            source: river_text,
            line: river_text.line_of(spanned.span().start),
            item: format!("river {}", spanned.get_ref().id),
        };
        let r = spanned.into_inner();
        if !valid_code(&r.id.replace('-', "_")) {
            issues.push(
                &at,
                Some("id"),
                format!(
                    "河流编号 `{}` 只能由字母、数字、- 和 _ 组成（1–16 个字符）",
                    r.id
                ),
                format!("river id `{}` must be 1–16 letters, digits, - or _", r.id),
            );
        }
        if !(r.length_km.is_finite() && r.length_km > 0.0) {
            issues.push(
                &at,
                Some("length_km"),
                format!("河长必须为正数，当前为 {}", r.length_km),
                format!("length must be positive, got {}", r.length_km),
            );
        }
        if river_by_id.insert(r.id.clone(), river_list.len()).is_some() {
            issues.push(
                &at,
                Some("id"),
                format!("河流编号 `{}` 重复", r.id),
                format!("duplicate river id `{}`", r.id),
            );
        }
        river_list.push(r);
        river_at.push(at);
    }
    for (r, at) in river_list.iter().zip(&river_at) {
        match (&r.flows_into, r.confluence_km) {
            (Some(target), Some(km)) => match river_by_id.get(target) {
                Some(&i) => {
                    let len = river_list[i].length_km;
                    if !(0.0..=len).contains(&km) {
                        issues.push(
                            at,
                            Some("confluence_km"),
                            format!("汇入点 {km} km 不在 `{target}` 的 0–{len} km 范围内"),
                            format!("confluence at {km} km is outside `{target}`'s 0–{len} km"),
                        );
                    }
                    if target == &r.id {
                        issues.push(
                            at,
                            Some("flows_into"),
                            "河流不能汇入自身".to_string(),
                            "a river cannot flow into itself".to_string(),
                        );
                    }
                }
                None => issues.push(
                    at,
                    Some("flows_into"),
                    format!("未知河流 `{target}`"),
                    format!("unknown river `{target}`"),
                ),
            },
            (Some(_), None) => issues.push(
                at,
                Some("confluence_km"),
                "设置了 flows_into 时必须给出汇入点里程".to_string(),
                "required when flows_into is set".to_string(),
            ),
            (None, Some(_)) => issues.push(
                at,
                Some("flows_into"),
                "给出了汇入点里程但未说明汇入哪条河".to_string(),
                "confluence_km is set but flows_into is not".to_string(),
            ),
            (None, None) => {}
        }
    }

    let (station_src, station_text) = stations;
    let mut station_by_id = HashMap::new();
    let mut station_by_mn = HashMap::new();
    let mut station_list = Vec::with_capacity(station_src.len());
    for spanned in station_src {
        let at = At {
            source: station_text,
            line: station_text.line_of(spanned.span().start),
            item: format!("station {}", spanned.get_ref().id),
        };
        let s = spanned.into_inner();
        check_station(
            &s,
            &at,
            &params,
            &param_by_code,
            &river_list,
            &river_by_id,
            &mut issues,
        );
        let index = station_list.len();
        if station_by_id.insert(s.id.to_string(), index).is_some() {
            issues.push(
                &at,
                Some("id"),
                format!("站点编号 `{}` 重复", s.id),
                format!("duplicate station id `{}`", s.id),
            );
        }
        if station_by_mn.insert(s.mn.clone(), index).is_some() {
            issues.push(
                &at,
                Some("mn"),
                format!("MN `{}` 已被其他站点使用", s.mn),
                format!("MN `{}` is already used by another station", s.mn),
            );
        }
        station_list.push(s);
    }

    if !issues.list.is_empty() {
        return Err(RegistryError {
            issues: issues.list,
        });
    }
    let param_codes = params
        .iter()
        .map(|p| crate::reading::ParamCode::new(&p.code))
        .collect();
    Ok(Registry {
        param_codes,
        parameters: params,
        rivers: river_list,
        stations: station_list,
        param_by_code,
        param_by_hj212,
        param_by_hj212_2005,
        river_by_id,
        station_by_id,
        station_by_mn,
    })
}

fn check_parameter(p: &Parameter, at: &At<'_>, issues: &mut Issues) {
    if !valid_code(&p.code) {
        issues.push(
            at,
            Some("code"),
            format!("参数代码 `{}` 只能由 1–16 个字母、数字或 _ 组成", p.code),
            format!(
                "parameter code `{}` must be 1–16 letters, digits or _",
                p.code
            ),
        );
    }
    if !(p.min.is_finite() && p.max.is_finite() && p.min < p.max) {
        issues.push(
            at,
            Some("min"),
            format!(
                "有效范围必须满足 min < max 且为有限数，当前为 {}–{}",
                p.min, p.max
            ),
            format!(
                "valid range needs finite min < max, got {}–{}",
                p.min, p.max
            ),
        );
    }
    if p.unit.trim().is_empty() {
        issues.push(
            at,
            Some("unit"),
            "单位不能为空（无量纲请写 \"-\"）".to_string(),
            "unit must not be empty (write \"-\" when dimensionless)".to_string(),
        );
    }
    for (field, code) in [("hj212", &p.hj212), ("hj212_2005", &p.hj212_2005)] {
        if let Some(code) = code
            && !valid_code(code)
        {
            issues.push(
                at,
                Some(field),
                format!("HJ 212 编码 `{code}` 格式不正确"),
                format!("HJ 212 code `{code}` is not a valid code"),
            );
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn check_station(
    s: &Station,
    at: &At<'_>,
    params: &[Parameter],
    param_by_code: &HashMap<String, usize>,
    rivers: &[River],
    river_by_id: &HashMap<String, usize>,
    issues: &mut Issues,
) {
    if !valid_station_id(s.id.as_str()) {
        issues.push(
            at,
            Some("id"),
            format!("站点编号 `{}` 须为 2–32 个大写字母、数字或 -", s.id),
            format!(
                "station id `{}` must be 2–32 upper-case letters, digits or -",
                s.id
            ),
        );
    }
    if !valid_mn(&s.mn) {
        issues.push(
            at,
            Some("mn"),
            format!("MN `{}` 须为 1–24 个字母、数字、_ 或 -", s.mn),
            format!("MN `{}` must be 1–24 letters, digits, _ or -", s.mn),
        );
    }
    if !(-90.0..=90.0).contains(&s.lat) || !(-180.0..=180.0).contains(&s.lon) {
        issues.push(
            at,
            Some("lat"),
            format!("坐标 ({}, {}) 超出范围", s.lat, s.lon),
            format!("coordinates ({}, {}) are out of range", s.lat, s.lon),
        );
    }
    if s.report_interval_secs == 0 {
        issues.push(
            at,
            Some("report_interval_secs"),
            "上报间隔必须大于 0".to_string(),
            "reporting interval must be greater than 0".to_string(),
        );
    }
    if s.parameters.is_empty() {
        issues.push(
            at,
            Some("parameters"),
            "站点至少要监测一个参数".to_string(),
            "a station must report at least one parameter".to_string(),
        );
    }
    let medium = s.kind.medium();
    for code in &s.parameters {
        match param_by_code.get(code) {
            None => issues.push(
                at,
                Some("parameters"),
                format!("未知参数 `{code}`"),
                format!("unknown parameter `{code}`"),
            ),
            Some(&i) => {
                let pm = params[i].medium;
                // Outfalls report effluent quality and flow; hydrology gauges may carry
                // water temperature. Anything else across media is a typo.
                let allowed = pm == medium
                    || (s.kind == StationKind::Outfall && pm == Medium::Hydrology)
                    || (s.kind == StationKind::Hydrology && code == "WT");
                if !allowed {
                    issues.push(
                        at,
                        Some("parameters"),
                        format!("参数 `{code}` 不适用于{}", s.kind.label_zh()),
                        format!("parameter `{code}` does not apply to a {} station", s.kind),
                    );
                }
            }
        }
    }

    let needs_river = matches!(
        s.kind,
        StationKind::Water | StationKind::Outfall | StationKind::Hydrology
    );
    match (&s.river, s.river_km) {
        (Some(river), km) => match river_by_id.get(river) {
            None => issues.push(
                at,
                Some("river"),
                format!("未知河流 `{river}`"),
                format!("unknown river `{river}`"),
            ),
            Some(&i) => {
                let len = rivers[i].length_km;
                match km {
                    Some(km) if !(0.0..=len).contains(&km) => issues.push(
                        at,
                        Some("river_km"),
                        format!("里程 {km} km 不在 `{river}` 的 0–{len} km 范围内"),
                        format!("{km} km is outside `{river}`'s 0–{len} km"),
                    ),
                    None => issues.push(
                        at,
                        Some("river_km"),
                        "给出了河流时必须给出里程".to_string(),
                        "required when river is set".to_string(),
                    ),
                    _ => {}
                }
            }
        },
        (None, _) if needs_river => issues.push(
            at,
            Some("river"),
            format!("{}必须指明所在河流", s.kind.label_zh()),
            format!("a {} station needs a river", s.kind),
        ),
        (None, Some(_)) => issues.push(
            at,
            Some("river"),
            "给出了里程但未指明河流".to_string(),
            "river_km is set but river is not".to_string(),
        ),
        (None, None) => {}
    }

    match s.kind {
        StationKind::Water if s.target_class.is_none() => issues.push(
            at,
            Some("target_class"),
            "水质断面必须给出目标水质类别（如 \"III\"）".to_string(),
            "a water section needs a target class (e.g. \"III\")".to_string(),
        ),
        StationKind::Hydrology => match (s.warning_level_m, s.guaranteed_level_m) {
            (Some(w), Some(g)) if w.is_finite() && g.is_finite() && w < g => {}
            (Some(w), Some(g)) => issues.push(
                at,
                Some("guaranteed_level_m"),
                format!("保证水位 {g} m 必须高于警戒水位 {w} m"),
                format!("guaranteed level {g} m must be above warning level {w} m"),
            ),
            _ => issues.push(
                at,
                Some("warning_level_m"),
                "水文站必须给出警戒水位和保证水位".to_string(),
                "a hydrology gauge needs warning_level_m and guaranteed_level_m".to_string(),
            ),
        },
        _ => {}
    }
    if s.kind != StationKind::Water && s.target_class.is_some() {
        issues.push(
            at,
            Some("target_class"),
            "只有水质断面才有目标水质类别".to_string(),
            "only water sections have a target class".to_string(),
        );
    }
    for (code, limit) in &s.discharge_limits {
        if !param_by_code.contains_key(code) {
            issues.push(
                at,
                Some("discharge_limits"),
                format!("未知参数 `{code}`"),
                format!("unknown parameter `{code}`"),
            );
        }
        if !(limit.is_finite() && *limit > 0.0) {
            issues.push(
                at,
                Some("discharge_limits"),
                format!("`{code}` 的排放限值必须为正数"),
                format!("discharge limit for `{code}` must be positive"),
            );
        }
    }
    if s.kind != StationKind::Outfall
        && (s.discharge_standard.is_some() || !s.discharge_limits.is_empty())
    {
        issues.push(
            at,
            Some("discharge_standard"),
            "只有排口才有排放标准".to_string(),
            "only outfalls have a discharge standard".to_string(),
        );
    }
}
