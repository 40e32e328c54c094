//! The standards' own tables as the pages draw them: `/api/v1/limits?station=` (the
//! GB 3838 limits of a water section's parameters and the one of its target class, from the
//! edition analytics applies today) and `/api/v1/aqi-levels` (the HJ 633 levels with their
//! names and colours). Both come from `riverwatch_analytics::standards`; nothing is
//! computed here but picking the target class's column.

use axum::Json;
use axum::extract::State;
use riverwatch_analytics::standards::gb3838::{Criterion, WaterBody};
use riverwatch_analytics::standards::hj633::AqiLevel;
use riverwatch_analytics::standards::in_force;
use riverwatch_core::WaterClass;
use riverwatch_core::time::cst_date;
use serde::{Deserialize, Serialize};

use super::Shared;
use super::auth::Auth;
use super::error::ApiError;
use super::extract::Q;

/// The parameters of `/api/v1/limits`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitParams {
    /// Station id (required).
    pub station: Option<String>,
}

/// The limit a value is judged against at the section's target class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TargetLimit {
    /// The value must be at most `value`.
    AtMost {
        /// The limit.
        value: f64,
    },
    /// The value must be at least `value` (dissolved oxygen).
    AtLeast {
        /// The limit.
        value: f64,
    },
    /// The value must lie in `min..=max` (pH).
    Range {
        /// Lowest acceptable value.
        min: f64,
        /// Highest acceptable value.
        max: f64,
    },
}

/// One parameter of the station with its standard's limits.
#[derive(Debug, Clone, Serialize)]
pub struct ParameterLimit {
    /// Parameter code.
    pub code: String,
    /// Chinese name (the registry's).
    pub name_zh: String,
    /// English name (the registry's).
    pub name_en: String,
    /// Unit (the registry's, the limits' too when there are some).
    pub unit: String,
    /// The item's criterion for the section's water body (class limits I–V, a range, a
    /// single limit, or a temperature change), when the standard has the item.
    pub criterion: Option<Criterion>,
    /// The limit of the target class, when the item has class limits.
    pub target_limit: Option<TargetLimit>,
}

/// The answer of `/api/v1/limits`.
#[derive(Debug, Clone, Serialize)]
pub struct Limits {
    /// Station id.
    pub station: String,
    /// The standard and edition, e.g. `GB 3838-2002` (none for stations it does not judge).
    pub standard: Option<String>,
    /// The section's target class.
    pub target: Option<WaterClass>,
    /// River or lake/reservoir (which total-phosphorus limits apply).
    pub water_body: WaterBody,
    /// The station's parameters, in the registry's order.
    pub parameters: Vec<ParameterLimit>,
}

/// The target class's limit of a criterion.
pub fn target_limit(criterion: &Criterion, target: WaterClass) -> Option<TargetLimit> {
    // Classes I–V are the five columns; 劣V has no limit of its own.
    let column = (target as usize).checked_sub(1).filter(|c| *c < 5)?;
    match criterion {
        Criterion::AtMost(l) => Some(TargetLimit::AtMost { value: l[column] }),
        Criterion::AtLeast(l) => Some(TargetLimit::AtLeast { value: l[column] }),
        Criterion::Range { min, max } => Some(TargetLimit::Range {
            min: *min,
            max: *max,
        }),
        Criterion::SingleLimit(v) => Some(TargetLimit::AtMost { value: *v }),
        Criterion::TemperatureChange { .. } => None,
    }
}

/// `GET /api/v1/limits?station=`.
///
/// # Errors
/// 400 for a missing or unknown station.
pub async fn limits(
    _: Auth,
    State(state): State<Shared>,
    Q(p): Q<LimitParams>,
) -> Result<Json<Limits>, ApiError> {
    let Some(id) = p
        .station
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    else {
        return Err(ApiError::bad_request(
            "缺少参数 station（站点编号）",
            "missing parameter station (station id)",
        ));
    };
    let Some(station) = state.registry.station(id) else {
        return Err(ApiError::bad_request(
            format!("未知站点 `{id}`"),
            format!("unknown station `{id}`"),
        ));
    };
    let tables = in_force(cst_date(state.clock.now()));
    let judged = station.target_class.is_some();
    let parameters = station
        .parameters
        .iter()
        .map(|code| {
            let registry = state.registry.parameter(code);
            let item = judged.then(|| tables.water.item(code)).flatten();
            let criterion = item.map(|i| i.criterion_for(station.water_body).clone());
            ParameterLimit {
                code: code.clone(),
                name_zh: registry.map(|r| r.name_zh.clone()).unwrap_or_default(),
                name_en: registry.map(|r| r.name_en.clone()).unwrap_or_default(),
                unit: registry.map(|r| r.unit.clone()).unwrap_or_default(),
                target_limit: criterion
                    .as_ref()
                    .zip(station.target_class)
                    .and_then(|(c, t)| target_limit(c, t)),
                criterion,
            }
        })
        .collect();
    Ok(Json(Limits {
        station: station.id.to_string(),
        standard: judged.then(|| tables.water.edition.code.to_string()),
        target: station.target_class,
        water_body: station.water_body,
        parameters,
    }))
}

/// One HJ 633 level.
#[derive(Debug, Clone, Serialize)]
pub struct AqiLevelJson {
    /// 1–6.
    pub level: u8,
    /// Lowest AQI of the level.
    pub from_aqi: u32,
    /// Highest AQI of the level (none for the last).
    pub to_aqi: Option<u32>,
    /// E.g. `三级`.
    pub level_zh: &'static str,
    /// E.g. `轻度污染`.
    pub category_zh: &'static str,
    /// E.g. `Lightly polluted`.
    pub category_en: &'static str,
    /// E.g. `橙色`.
    pub colour_zh: &'static str,
    /// E.g. `orange`.
    pub colour_en: &'static str,
    /// E.g. `#FF7E00`.
    pub hex: &'static str,
}

/// `GET /api/v1/aqi-levels`.
pub async fn aqi_levels(_: Auth) -> Json<Vec<AqiLevelJson>> {
    const BOUNDS: [(u32, Option<u32>); 6] = [
        (0, Some(50)),
        (51, Some(100)),
        (101, Some(150)),
        (151, Some(200)),
        (201, Some(300)),
        (301, None),
    ];
    Json(
        BOUNDS
            .iter()
            .map(|&(from, to)| {
                let l = AqiLevel::from_aqi(from);
                AqiLevelJson {
                    level: l.number(),
                    from_aqi: from,
                    to_aqi: to,
                    level_zh: l.level_zh(),
                    category_zh: l.category_zh(),
                    category_en: l.category_en(),
                    colour_zh: l.colour_zh(),
                    colour_en: l.colour_en(),
                    hex: l.hex(),
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use riverwatch_analytics::standards::gb3838::GB_3838_2002;

    fn item(code: &str) -> Criterion {
        GB_3838_2002
            .item(code)
            .unwrap()
            .criterion_for(WaterBody::River)
            .clone()
    }

    #[test]
    fn the_target_column_is_the_standards_own() {
        // GB 3838-2002 Table 1: NH3-N Class III ≤ 1.0 mg/L, DO Class III ≥ 5 mg/L,
        // CODMn Class II ≤ 4 mg/L, pH 6–9 for every class.
        assert_eq!(
            target_limit(&item("NH3N"), WaterClass::III),
            Some(TargetLimit::AtMost { value: 1.0 })
        );
        assert_eq!(
            target_limit(&item("DO"), WaterClass::III),
            Some(TargetLimit::AtLeast { value: 5.0 })
        );
        assert_eq!(
            target_limit(&item("CODMn"), WaterClass::II),
            Some(TargetLimit::AtMost { value: 4.0 })
        );
        assert_eq!(
            target_limit(&item("pH"), WaterClass::I),
            Some(TargetLimit::Range { min: 6.0, max: 9.0 })
        );
        assert_eq!(target_limit(&item("WT"), WaterClass::III), None);
        assert_eq!(target_limit(&item("NH3N"), WaterClass::WorseThanV), None);
    }
}
