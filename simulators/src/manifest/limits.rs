//! Which limits apply to a reading: GB 3838 classes (river or lake), GB 18918 for outfalls
//! (with the cold-water NH3-N limit), pH ranges, the gauge's levels and GB 3095 24-hour
//! limits by phase, and the particulate IAQI of the edition in force; all from [`super::tables`].

use chrono::NaiveDate;
use riverwatch_core::WaterClass;
use riverwatch_core::registry::StationKind;

use super::tables::*;
use crate::generate::SimStation;
use crate::model::Code;

/// A limit for one reading.
#[derive(Debug, Clone)]
pub(super) struct Limit {
    pub(super) check: &'static str,
    pub(super) standard: String,
    pub(super) limit: f64,
    pub(super) max: bool,
}

/// A date of the tables.
fn date_of((y, m, d): (i32, u32, u32)) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
}

/// GB 3838-2002 Table 1 limits, Classes I–V, for the items a section's model produces.
pub(super) fn gb3838(code: Code, lake: bool) -> Option<([f64; 5], bool)> {
    let lake_items = if lake { &GB3838_LAKE[..] } else { &[] };
    lake_items
        .iter()
        .chain(GB3838_RIVER.iter())
        .find(|(c, _, _)| Code::of(c) == code)
        .map(|&(_, limits, max)| (limits, max))
}

/// GB 18918-2002 Grade 1A.
pub(super) fn gb18918(code: &str, cold: bool) -> Option<f64> {
    if code == "NH3N" && cold {
        return Some(GB18918_NH3N_COLD_MG_L);
    }
    GB18918_GRADE_1A
        .iter()
        .find(|(c, _)| *c == code)
        .map(|&(_, limit)| limit)
}

pub(super) const GB18918: &str = "GB 18918-2002 一级A";

pub(super) fn limits_for(st: &SimStation, param: usize, wt: Option<f64>) -> Vec<Limit> {
    let p = &st.params[param];
    let s = &st.station;
    match s.kind {
        StationKind::Water => {
            let lake = s.water_body == riverwatch_core::registry::WaterBody::Lake;
            let target = s.target_class.unwrap_or(WaterClass::III);
            if p.model == Code::Nb {
                return vec![Limit {
                    check: "water_specific",
                    standard: "GB 3838-2002 表3 硝基苯".into(),
                    limit: GB3838_NITROBENZENE_MG_L,
                    max: true,
                }];
            }
            if p.model == Code::Ph {
                return ph_limits("GB 3838-2002 表1 pH 6–9", GB3838_PH);
            }
            let Some((table, max)) = gb3838(p.model, lake) else {
                return Vec::new();
            };
            let idx = usize::from(target.number().clamp(1, 5)) - 1;
            vec![Limit {
                check: "water_class",
                standard: format!("GB 3838-2002 表1 {}", target.label_zh()),
                limit: table[idx],
                max,
            }]
        }
        StationKind::Outfall => {
            let standard = s
                .discharge_standard
                .clone()
                .unwrap_or_else(|| GB18918.into());
            if p.model == Code::Ph {
                return ph_limits(&format!("{standard} pH 6–9"), GB18918_PH);
            }
            let cold = wt.is_some_and(|t| t <= GB18918_COLD_AT_OR_BELOW_C);
            let limit = s
                .discharge_limits
                .get(&p.code)
                .copied()
                .or_else(|| gb18918(&p.code, cold));
            limit
                .map(|limit| Limit {
                    check: "discharge",
                    standard: standard.clone(),
                    limit,
                    max: true,
                })
                .into_iter()
                .collect()
        }
        StationKind::Hydrology if p.model == Code::Level => {
            let mut out = Vec::new();
            if let Some(w) = s.warning_level_m {
                out.push(Limit {
                    check: "warning_level",
                    standard: "警戒水位".into(),
                    limit: w,
                    max: true,
                });
            }
            if let Some(g) = s.guaranteed_level_m {
                out.push(Limit {
                    check: "guaranteed_level",
                    standard: "保证水位".into(),
                    limit: g,
                    max: true,
                });
            }
            out
        }
        _ => Vec::new(),
    }
}

fn ph_limits(standard: &str, (low, high): (f64, f64)) -> Vec<Limit> {
    vec![
        Limit {
            check: "water_class",
            standard: standard.to_string(),
            limit: high,
            max: true,
        },
        Limit {
            check: "water_class",
            standard: standard.to_string(),
            limit: low,
            max: false,
        },
    ]
}

/// Date from which HJ 633-2026 and GB 3095-2026 apply.
pub(super) fn edition_2026_from() -> NaiveDate {
    date_of(EDITIONS_2026_FROM)
}

/// IAQI of a 24-h PM concentration (HJ 633, the edition in force on `date`).
pub(super) fn iaqi_pm(code: Code, c: f64, date: NaiveDate) -> f64 {
    let new = date >= edition_2026_from();
    let bp = match (code, new) {
        (Code::Pm25, false) => HJ633_2012_PM25,
        (Code::Pm25, true) => HJ633_2026_PM25,
        (_, false) => HJ633_2012_PM10,
        (_, true) => HJ633_2026_PM10,
    };
    let iaqi = HJ633_IAQI;
    for i in 1..8 {
        if c <= bp[i] {
            return iaqi[i - 1] + (iaqi[i] - iaqi[i - 1]) / (bp[i] - bp[i - 1]) * (c - bp[i - 1]);
        }
    }
    500.0
}

pub(super) fn category_zh(aqi: u32) -> &'static str {
    AQI_CATEGORIES
        .iter()
        .find(|(top, _)| aqi <= *top)
        .map_or("严重污染", |(_, name)| name)
}

/// GB 3095 Grade II 24-h limit in force on `date`.
pub(super) fn gb3095_24h(code: Code, date: NaiveDate) -> Option<(f64, &'static str)> {
    if code == Code::Pm25 && date >= date_of(GB3095_2026_FINAL_FROM) {
        return Some((
            GB3095_II_24H_PM25_2026_FINAL,
            "GB 3095-2026 二级 24小时平均",
        ));
    }
    if code == Code::Pm25 && date >= edition_2026_from() {
        return Some((
            GB3095_II_24H_PM25_2026_PHASE1,
            "GB 3095-2026 二级 24小时平均（过渡期）",
        ));
    }
    // The 2026 PM10, SO2 and NO2 limits could not be verified; the 2012 values are kept.
    GB3095_II_24H_2012
        .iter()
        .find(|(c, _)| Code::of(c) == code)
        .map(|&(_, limit)| (limit, "GB 3095-2012 二级 24小时平均"))
}
