//! The programs' view of a report (`riverwatch report --format json`): `period` {start,
//! end} (CST days, both inclusive), `sections` (id, target_class, class, compliant,
//! exceeding [{code, multiple}], valid_rate), `rivers` (id, grade, shares of Ⅰ–Ⅲ / Ⅳ–Ⅴ /
//! 劣Ⅴ, compliance_rate, main_pollutants), `air` (per city: days per level, heavy days,
//! warnings), `outfalls` (hours beyond limits), `gauges` (highest level against the
//! warning level). Language-neutral: classes as `I`…`劣V`, grades as snake_case names.

use chrono::NaiveDate;
use riverwatch_core::WaterClass;
use serde::Serialize;

use crate::model::Report;

/// The programs' view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgramView {
    /// The period.
    pub period: PeriodView,
    /// One per section.
    pub sections: Vec<SectionView>,
    /// One per river.
    pub rivers: Vec<RiverView>,
    /// One per city.
    pub air: Vec<AirView>,
    /// One per outfall.
    pub outfalls: Vec<OutfallView>,
    /// One per gauge.
    pub gauges: Vec<GaugeView>,
}

/// One outfall.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutfallView {
    /// Outfall station id.
    pub id: String,
    /// Hours of the period beyond a discharge limit.
    pub hours_beyond: f64,
    /// Exceedances started in the period.
    pub exceedances: u32,
    /// Parameter codes beyond their limits.
    pub parameters: Vec<String>,
}

/// One gauge.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GaugeView {
    /// Gauge station id.
    pub id: String,
    /// Highest stored hourly mean level, m.
    pub max_level_m: Option<f64>,
    /// Warning level, m.
    pub warning_level_m: Option<f64>,
    /// Highest level minus the warning level, m.
    pub max_above_warning_m: Option<f64>,
    /// Hours above the warning level.
    pub hours_above_warning: f64,
}

/// The period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodView {
    /// `day`, `week`, `month`, `quarter` or `year`.
    pub kind: &'static str,
    /// First CST day.
    pub start: NaiveDate,
    /// Last CST day (inclusive).
    pub end: NaiveDate,
}

/// One section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SectionView {
    /// Station id.
    pub id: String,
    /// Target class.
    pub target_class: Option<WaterClass>,
    /// Class over the period.
    pub class: Option<WaterClass>,
    /// Whether it meets the target.
    pub compliant: Option<bool>,
    /// Items above Class Ⅲ with their exceedance multiples.
    pub exceeding: Vec<ExceedingView>,
    /// Valid-data rate, 0–1.
    pub valid_rate: f64,
}

/// One exceeding item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExceedingView {
    /// Parameter code.
    pub code: String,
    /// Exceedance multiple.
    pub multiple: f64,
}

/// One river.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiverView {
    /// River id.
    pub id: String,
    /// Grade (`excellent`, `good`, `lightly_polluted`, …); `None` when not judged.
    pub grade: Option<String>,
    /// Shares of judged sections per class group, 0–1.
    pub shares: Option<SharesView>,
    /// 达标率, 0–1.
    pub compliance_rate: Option<f64>,
    /// Main pollutant codes, the largest share of exceeding sections first.
    pub main_pollutants: Vec<String>,
}

/// Class-group shares.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SharesView {
    /// Ⅰ–Ⅲ.
    pub i_to_iii: f64,
    /// Ⅳ–Ⅴ.
    pub iv_to_v: f64,
    /// 劣Ⅴ.
    pub worse_than_v: f64,
}

/// One city.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AirView {
    /// Air station id.
    pub id: String,
    /// City, Chinese.
    pub city: String,
    /// Days per AQI level: `"1"` (优) … `"6"` (严重污染).
    pub days_per_level: std::collections::BTreeMap<String, u32>,
    /// Days with daily AQI above 200.
    pub heavy_days: u32,
    /// Days with a heavy-pollution warning in force.
    pub warnings: u32,
}

/// The programs' view of `report`.
pub fn view(report: &Report) -> ProgramView {
    ProgramView {
        period: PeriodView {
            kind: report.period.as_str(),
            start: report.first_day,
            end: report.last_day,
        },
        sections: report
            .sections
            .iter()
            .map(|s| SectionView {
                id: s.station.clone(),
                target_class: s.target,
                class: s.class,
                compliant: s.compliant,
                exceeding: s
                    .exceeding
                    .iter()
                    .map(|x| ExceedingView {
                        code: x.code.clone(),
                        multiple: x.multiple,
                    })
                    .collect(),
                valid_rate: s.valid_rate,
            })
            .collect(),
        rivers: report
            .rivers
            .iter()
            .map(|r| RiverView {
                id: r.id.clone(),
                grade: r
                    .grade
                    .as_ref()
                    .and_then(|g| serde_json::to_value(g.grade).ok())
                    .and_then(|v| v.as_str().map(str::to_string)),
                shares: r.grade.as_ref().map(|g| SharesView {
                    i_to_iii: g.shares.i_to_iii,
                    iv_to_v: g.shares.iv_to_v,
                    worse_than_v: g.shares.worse_than_v,
                }),
                compliance_rate: r.compliance_rate,
                main_pollutants: r
                    .grade
                    .iter()
                    .flat_map(|g| g.main_pollutants.iter().map(|p| p.code.clone()))
                    .collect(),
            })
            .collect(),
        air: report
            .air
            .iter()
            .map(|a| AirView {
                id: a.station.clone(),
                city: a.city_zh.clone(),
                days_per_level: (1..=6)
                    .map(|l| (l.to_string(), a.days_per_level[l - 1]))
                    .collect(),
                heavy_days: a.heavy_days,
                warnings: a.warning_days,
            })
            .collect(),
        outfalls: report
            .outfalls
            .iter()
            .map(|o| OutfallView {
                id: o.station.clone(),
                hours_beyond: o.hours_beyond,
                exceedances: o.exceedances,
                parameters: o.parameters.clone(),
            })
            .collect(),
        gauges: report
            .gauges
            .iter()
            .map(|g| GaugeView {
                id: g.station.clone(),
                max_level_m: g.max_level_m,
                warning_level_m: g.warning_level_m,
                max_above_warning_m: g.max_above_warning_m,
                hours_above_warning: g.hours_above_warning,
            })
            .collect(),
    }
}

/// The programs' view as pretty JSON text.
///
/// # Errors
/// Never in practice (every field serializes); a serializer error otherwise.
pub fn to_string(report: &Report) -> serde_json::Result<String> {
    serde_json::to_string_pretty(&view(report))
}

/// A digest of the report's numbers (the programs' view, the boundary, incidents, ledger
/// and air counts; not the report time or the audit head): two reports of one period with
/// the same digest say the same, so a changed digest is a revision (修订).
pub fn digest(report: &Report) -> String {
    use sha2::{Digest, Sha256};
    let numbers = serde_json::json!({
        "view": view(report),
        "boundary": report.boundary,
        "incidents": report.incidents.iter().map(|i| (&i.id, i.sections.len())).collect::<Vec<_>>(),
        "ledger": report.ledger.iter().map(|l| (&l.station, &l.month, l.revision)).collect::<Vec<_>>(),
        "joint": report.joint_control_days,
        "rivers": report.rivers.iter().map(|r| (r.change_year_points, r.change_previous_points)).collect::<Vec<_>>(),
        "out": report.sections.iter().map(|s| (s.hours_out, s.days_out, s.class_last_year)).collect::<Vec<_>>(),
    });
    let hash = Sha256::digest(numbers.to_string().as_bytes());
    hash.iter().map(|b| format!("{b:02x}")).collect()
}
