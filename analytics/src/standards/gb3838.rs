//! GB 3838-2002 surface-water quality classes and the 2011 evaluation method.
//!
//! [`GB_3838_2002`] holds Table 1 (24 basic items, five class limits each) and the two
//! Table 3 items the project watches (nitrobenzene, benzene). [`classify`] gives one
//! value's class I–V or 劣V; [`exceedance_multiple`] gives its multiple over the Class III
//! limit. [`METHOD_2011`] is the 地表水环境质量评价办法(试行) (环办〔2011〕22号): which items
//! decide a section's class (single-factor method), the main pollutants, and the
//! qualitative grade.
//!
//! Classes come from [`riverwatch_core::WaterClass`], which orders from best (I) to worst
//! (劣V). Where two classes share a limit (COD I = II = 15 mg/L) a value at that limit gets
//! the better class, as the standard's tables are read in practice.

use std::borrow::Cow;

use riverwatch_core::WaterClass;
use serde::{Deserialize, Serialize};

use super::code;
use super::edition::{Edition, ymd};

/// The kind of water body, which selects the TP limits: the registry's own type, so a
/// station's `water_body` is passed as it is. GB 3838-2002 gives total phosphorus one set of
/// limits for rivers and a stricter one for lakes and reservoirs (湖、库); `Lake` stands for
/// both.
pub use riverwatch_core::registry::WaterBody;

/// How an item is judged: the shape of its limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    /// The value must be at most the limit ("≤"); limits for classes I, II, III, IV, V.
    AtMost([f64; 5]),
    /// The value must be at least the limit ("≥", dissolved oxygen); limits for classes
    /// I, II, III, IV, V.
    AtLeast([f64; 5]),
    /// The value must lie in `min..=max` for every class (pH 6–9); outside it is 劣V.
    Range {
        /// Lowest acceptable value, inclusive.
        min: f64,
        /// Highest acceptable value, inclusive.
        max: f64,
    },
    /// No class limits, only a limit on man-made change (water temperature): the weekly
    /// mean maximum rise and fall, in °C, the same for every class. Values are not classed.
    TemperatureChange {
        /// 周平均最大温升, the largest allowed rise of the weekly mean, °C.
        max_weekly_mean_rise_c: f64,
        /// 周平均最大温降, the largest allowed fall of the weekly mean, °C.
        max_weekly_mean_fall_c: f64,
    },
    /// One limit and no classes (GB 3838 Table 3 items for drinking-water sources, "≤").
    SingleLimit(f64),
}

/// One item of the standard with its names, unit and limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// The registry's parameter code, e.g. `NH3N`.
    pub code: Cow<'static, str>,
    /// The Chinese name, e.g. `氨氮`.
    pub name_zh: Cow<'static, str>,
    /// The English name, e.g. `Ammonia nitrogen`.
    pub name_en: Cow<'static, str>,
    /// The unit of the limits, e.g. `mg/L`.
    pub unit: Cow<'static, str>,
    /// The limits for rivers (and for lakes unless `lake_criterion` is set).
    pub criterion: Criterion,
    /// Limits that replace `criterion` for lakes and reservoirs (TP only in GB 3838-2002).
    #[serde(default)]
    pub lake_criterion: Option<Criterion>,
}

impl Item {
    /// The limits that apply to this kind of water body.
    pub fn criterion_for(&self, body: WaterBody) -> &Criterion {
        match (body, &self.lake_criterion) {
            (WaterBody::Lake, Some(lake)) => lake,
            _ => &self.criterion,
        }
    }
}

/// A surface-water quality standard: its edition and its items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurfaceWaterStandard {
    /// The edition this table belongs to.
    pub edition: Edition,
    /// The items, keyed by their `code`.
    pub items: Cow<'static, [Item]>,
}

const MG_L: Cow<'static, str> = Cow::Borrowed("mg/L");

const fn item(
    code: &'static str,
    name_zh: &'static str,
    name_en: &'static str,
    criterion: Criterion,
) -> Item {
    Item {
        code: Cow::Borrowed(code),
        name_zh: Cow::Borrowed(name_zh),
        name_en: Cow::Borrowed(name_en),
        unit: MG_L,
        criterion,
        lake_criterion: None,
    }
}

/// GB 3838-2002 地表水环境质量标准, in force from 2002-06-01 (no successor found).
///
/// Table 1 (all 24 basic items) and two Table 3 items, all ✅ verified in the reference
/// sheet (§1). Notes on single items:
/// - `WT`: no class limits. Man-made change of water temperature is limited to a weekly
///   mean maximum rise of 1 °C and fall of 2 °C; judging it needs a weekly baseline, so
///   `WT` is never classed.
/// - `pH`: 6–9 for every class; a value inside is Class I, outside 劣V.
/// - `DO` is a lower bound ("≥"). Class I reads "饱和率90% (或7.5)": 90 % saturation **or**
///   7.5 mg/L. The table uses the 7.5 mg/L figure; the saturation alternative needs the
///   water temperature and pressure and is not applied here.
/// - `TP`: rivers 0.02/0.1/0.2/0.3/0.4, lakes and reservoirs 0.01/0.025/0.05/0.1/0.2.
/// - `TN`: the limits are written for lakes and reservoirs. For rivers the 2011 method uses
///   TN as a reference indicator: [`classify`] still classes it (for information) with the
///   same limits, and [`EvaluationMethod::section_class`] leaves it out of the section class.
/// - `FCOLI` is in count/L (个/L).
/// - `NB` (nitrobenzene, 0.017 mg/L) and `BENZ` (benzene, 0.01 mg/L) are Table 3 items for
///   drinking-water sources: one limit, no classes.
pub static GB_3838_2002: SurfaceWaterStandard = SurfaceWaterStandard {
    edition: Edition {
        code: Cow::Borrowed("GB 3838-2002"),
        title_zh: Cow::Borrowed("地表水环境质量标准"),
        title_en: Cow::Borrowed("Environmental quality standards for surface water"),
        in_force_from: ymd(2002, 6, 1),
        in_force_until: None,
    },
    items: Cow::Borrowed(&[
        Item {
            code: Cow::Borrowed(code::WT),
            name_zh: Cow::Borrowed("水温"),
            name_en: Cow::Borrowed("Water temperature"),
            unit: Cow::Borrowed("°C"),
            criterion: Criterion::TemperatureChange {
                max_weekly_mean_rise_c: 1.0,
                max_weekly_mean_fall_c: 2.0,
            },
            lake_criterion: None,
        },
        Item {
            code: Cow::Borrowed(code::PH),
            name_zh: Cow::Borrowed("pH值"),
            name_en: Cow::Borrowed("pH"),
            unit: Cow::Borrowed("dimensionless"),
            criterion: Criterion::Range { min: 6.0, max: 9.0 },
            lake_criterion: None,
        },
        item(
            code::DO,
            "溶解氧",
            "Dissolved oxygen",
            Criterion::AtLeast([7.5, 6.0, 5.0, 3.0, 2.0]),
        ),
        item(
            code::CODMN,
            "高锰酸盐指数",
            "Permanganate index",
            Criterion::AtMost([2.0, 4.0, 6.0, 10.0, 15.0]),
        ),
        item(
            code::COD,
            "化学需氧量",
            "Chemical oxygen demand",
            Criterion::AtMost([15.0, 15.0, 20.0, 30.0, 40.0]),
        ),
        item(
            code::BOD5,
            "五日生化需氧量",
            "Five-day biochemical oxygen demand",
            Criterion::AtMost([3.0, 3.0, 4.0, 6.0, 10.0]),
        ),
        item(
            code::NH3N,
            "氨氮",
            "Ammonia nitrogen",
            Criterion::AtMost([0.15, 0.5, 1.0, 1.5, 2.0]),
        ),
        Item {
            code: Cow::Borrowed(code::TP),
            name_zh: Cow::Borrowed("总磷"),
            name_en: Cow::Borrowed("Total phosphorus"),
            unit: MG_L,
            criterion: Criterion::AtMost([0.02, 0.1, 0.2, 0.3, 0.4]),
            lake_criterion: Some(Criterion::AtMost([0.01, 0.025, 0.05, 0.1, 0.2])),
        },
        item(
            code::TN,
            "总氮",
            "Total nitrogen",
            Criterion::AtMost([0.2, 0.5, 1.0, 1.5, 2.0]),
        ),
        item(
            code::CU,
            "铜",
            "Copper",
            Criterion::AtMost([0.01, 1.0, 1.0, 1.0, 1.0]),
        ),
        item(
            code::ZN,
            "锌",
            "Zinc",
            Criterion::AtMost([0.05, 1.0, 1.0, 2.0, 2.0]),
        ),
        item(
            code::F,
            "氟化物",
            "Fluoride",
            Criterion::AtMost([1.0, 1.0, 1.0, 1.5, 1.5]),
        ),
        item(
            code::SE,
            "硒",
            "Selenium",
            Criterion::AtMost([0.01, 0.01, 0.01, 0.02, 0.02]),
        ),
        item(
            code::AS,
            "砷",
            "Arsenic",
            Criterion::AtMost([0.05, 0.05, 0.05, 0.1, 0.1]),
        ),
        item(
            code::HG,
            "汞",
            "Mercury",
            Criterion::AtMost([0.00005, 0.00005, 0.0001, 0.001, 0.001]),
        ),
        item(
            code::CD,
            "镉",
            "Cadmium",
            Criterion::AtMost([0.001, 0.005, 0.005, 0.005, 0.01]),
        ),
        item(
            code::CR6,
            "铬(六价)",
            "Chromium (VI)",
            Criterion::AtMost([0.01, 0.05, 0.05, 0.05, 0.1]),
        ),
        item(
            code::PB,
            "铅",
            "Lead",
            Criterion::AtMost([0.01, 0.01, 0.05, 0.05, 0.1]),
        ),
        item(
            code::CYN,
            "氰化物",
            "Cyanide",
            Criterion::AtMost([0.005, 0.05, 0.2, 0.2, 0.2]),
        ),
        item(
            code::VPHEN,
            "挥发酚",
            "Volatile phenol",
            Criterion::AtMost([0.002, 0.002, 0.005, 0.01, 0.1]),
        ),
        item(
            code::OIL,
            "石油类",
            "Petroleum",
            Criterion::AtMost([0.05, 0.05, 0.05, 0.5, 1.0]),
        ),
        item(
            code::LAS,
            "阴离子表面活性剂",
            "Anionic surfactant",
            Criterion::AtMost([0.2, 0.2, 0.2, 0.3, 0.3]),
        ),
        item(
            code::SULF,
            "硫化物",
            "Sulfide",
            Criterion::AtMost([0.05, 0.1, 0.2, 0.5, 1.0]),
        ),
        Item {
            code: Cow::Borrowed(code::FCOLI),
            name_zh: Cow::Borrowed("粪大肠菌群"),
            name_en: Cow::Borrowed("Fecal coliform"),
            unit: Cow::Borrowed("count/L"),
            criterion: Criterion::AtMost([200.0, 2000.0, 10000.0, 20000.0, 40000.0]),
            lake_criterion: None,
        },
        item(
            code::NB,
            "硝基苯",
            "Nitrobenzene",
            Criterion::SingleLimit(0.017),
        ),
        item(code::BENZ, "苯", "Benzene", Criterion::SingleLimit(0.01)),
    ]),
};

/// Whether `value` can be a measurement of a GB 3838 quantity: finite and not negative.
fn is_measurement(value: f64) -> bool {
    value.is_finite() && value >= 0.0
}

impl SurfaceWaterStandard {
    /// The item with this parameter code, if the standard has one.
    pub fn item(&self, code: &str) -> Option<&Item> {
        self.items.iter().find(|item| item.code == code)
    }

    /// The class of one value of one item, or `None` when it has no class.
    ///
    /// `None` for: an unknown code, `WT` (no class limits), Table 3 items (`NB`, `BENZ`:
    /// one limit, no classes), and a value that is not finite or is negative (no GB 3838
    /// quantity is negative; such a value is a bad reading, not a class). A value worse
    /// than the Class V limit, or a pH outside 6–9, is [`WaterClass::WorseThanV`]. Equal
    /// limits give the better class.
    pub fn classify(&self, code: &str, value: f64, body: WaterBody) -> Option<WaterClass> {
        if !is_measurement(value) {
            return None;
        }
        let class = match self.item(code)?.criterion_for(body) {
            Criterion::AtMost(limits) => first_class(limits, |limit| value <= limit),
            Criterion::AtLeast(limits) => first_class(limits, |limit| value >= limit),
            Criterion::Range { min, max } => {
                if (*min..=*max).contains(&value) {
                    WaterClass::I
                } else {
                    WaterClass::WorseThanV
                }
            }
            Criterion::TemperatureChange { .. } | Criterion::SingleLimit(_) => return None,
        };
        Some(class)
    }

    /// The exceedance multiple (超标倍数) of one value, or `None` when there is none.
    ///
    /// For a classed "≤" item it is (C − C_III) / C_III against the Class III limit for
    /// this body (the 2011 evaluation method); for a Table 3 item it is (C − S) / S against
    /// its single limit S. `None` when the value does not exceed that limit, for `WT`, `pH`
    /// and `DO` (the 2011 method gives them no multiple), for unknown codes, for a value
    /// that is not finite or is negative, and for a limit that is not positive. A finite
    /// but absurd value near `f64::MAX` can give `Some(f64::INFINITY)`.
    pub fn exceedance_multiple(&self, code: &str, value: f64, body: WaterBody) -> Option<f64> {
        if !is_measurement(value) {
            return None;
        }
        let limit = match self.item(code)?.criterion_for(body) {
            Criterion::AtMost(limits) => limits[2],
            Criterion::SingleLimit(limit) => *limit,
            Criterion::AtLeast(_)
            | Criterion::Range { .. }
            | Criterion::TemperatureChange { .. } => {
                return None;
            }
        };
        (limit > 0.0 && value > limit).then(|| (value - limit) / limit)
    }
}

/// The best class whose limit `meets`, or 劣V when none does.
fn first_class(limits: &[f64; 5], meets: impl Fn(f64) -> bool) -> WaterClass {
    WaterClass::ALL
        .iter()
        .zip(limits)
        .find(|(_, limit)| meets(**limit))
        .map_or(WaterClass::WorseThanV, |(class, _)| *class)
}

/// The class of one value under [`GB_3838_2002`]; see [`SurfaceWaterStandard::classify`].
pub fn classify(code: &str, value: f64, body: WaterBody) -> Option<WaterClass> {
    GB_3838_2002.classify(code, value, body)
}

/// The exceedance multiple of one value under [`GB_3838_2002`]; see
/// [`SurfaceWaterStandard::exceedance_multiple`].
pub fn exceedance_multiple(code: &str, value: f64, body: WaterBody) -> Option<f64> {
    GB_3838_2002.exceedance_multiple(code, value, body)
}

/// Whether a class meets its target class (达标): equal to or better than it.
pub fn compliant(class: WaterClass, target: WaterClass) -> bool {
    class.meets(target)
}

/// The evaluation method: which items decide a section's class and how it is reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationMethod {
    /// The document this method comes from.
    pub edition: Edition,
    /// The items whose classes decide a section's class (single-factor method).
    pub class_items: Cow<'static, [Cow<'static, str>]>,
    /// Items classed and reported for information that do not decide the section class.
    pub reference_items: Cow<'static, [Cow<'static, str>]>,
    /// How many main pollutants to name at most.
    pub max_main_pollutants: usize,
}

const fn s(text: &'static str) -> Cow<'static, str> {
    Cow::Borrowed(text)
}

/// 地表水环境质量评价办法(试行), 环办〔2011〕22号, dated 2011-03-09.
///
/// The 21 class items are every GB 3838 Table 1 item except water temperature, total
/// nitrogen and fecal coliform, for rivers and for lakes/reservoirs alike (for lakes TN
/// feeds the trophic evaluation, which is not modelled here). TN and fecal coliform are
/// reference items: classed and reported, never deciding. At most three main pollutants
/// are named; that rule is ❌ UNVERIFIED in the reference sheet (§2), see
/// [`SectionClass::main_pollutants`].
pub static METHOD_2011: EvaluationMethod = EvaluationMethod {
    edition: Edition {
        code: Cow::Borrowed("环办〔2011〕22号"),
        title_zh: Cow::Borrowed("地表水环境质量评价办法(试行)"),
        title_en: Cow::Borrowed("Surface water environmental quality assessment method (trial)"),
        in_force_from: ymd(2011, 3, 9),
        in_force_until: None,
    },
    class_items: Cow::Borrowed(&[
        s(code::PH),
        s(code::DO),
        s(code::CODMN),
        s(code::COD),
        s(code::BOD5),
        s(code::NH3N),
        s(code::TP),
        s(code::CU),
        s(code::ZN),
        s(code::F),
        s(code::SE),
        s(code::AS),
        s(code::HG),
        s(code::CD),
        s(code::CR6),
        s(code::PB),
        s(code::CYN),
        s(code::VPHEN),
        s(code::OIL),
        s(code::LAS),
        s(code::SULF),
    ]),
    reference_items: Cow::Borrowed(&[s(code::TN), s(code::FCOLI)]),
    max_main_pollutants: 3,
};

/// One parameter's class within a section evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamClass {
    /// The parameter code.
    pub code: String,
    /// The value judged, in the item's unit.
    pub value: f64,
    /// Its class.
    pub class: WaterClass,
    /// Its exceedance multiple over Class III, if any (see
    /// [`SurfaceWaterStandard::exceedance_multiple`]).
    pub exceedance_multiple: Option<f64>,
    /// Whether it takes part in the section class (`false` for reference items: TN, FCOLI).
    pub in_section_class: bool,
}

/// The class of a monitoring section from one set of values (single-factor method).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SectionClass {
    /// The section's class: the worst class among the class items.
    pub class: WaterClass,
    /// The class items at that worst class (each code once, in input order).
    pub deciding: Vec<String>,
    /// Every classed parameter, class items and reference items, in input order.
    pub parameters: Vec<ParamClass>,
    /// The main pollutants (主要污染指标), empty unless the section is worse than Class III.
    ///
    /// ❌ UNVERIFIED rule (reference sheet §2), implemented as: among the class items worse
    /// than Class III, the worst by class, ties broken by the larger exceedance multiple
    /// (items without a multiple, `DO` and `pH`, rank after those with one at the same
    /// class), then by input order; each code once, at most
    /// [`EvaluationMethod::max_main_pollutants`].
    pub main_pollutants: Vec<String>,
}

impl SectionClass {
    /// The qualitative grade of the section class.
    pub fn grade(&self) -> QualityGrade {
        QualityGrade::for_class(self.class)
    }

    /// Whether the section meets its target class.
    pub fn compliant(&self, target: WaterClass) -> bool {
        compliant(self.class, target)
    }
}

impl EvaluationMethod {
    /// The class of a section from its values (`(code, value)` pairs).
    ///
    /// Pairs whose code is neither a class item nor a reference item (`WT`, `NB`, unknown
    /// codes) are ignored, as are values the standard does not class (not finite,
    /// negative). A code given twice is judged twice. Returns `None` when no class item
    /// has a usable value, so reference items alone never give a section class.
    pub fn section_class(
        &self,
        standard: &SurfaceWaterStandard,
        values: &[(&str, f64)],
        body: WaterBody,
    ) -> Option<SectionClass> {
        let parameters: Vec<ParamClass> = values
            .iter()
            .filter_map(|&(code, value)| {
                let in_section_class = contains(&self.class_items, code);
                if !in_section_class && !contains(&self.reference_items, code) {
                    return None;
                }
                Some(ParamClass {
                    code: code.to_owned(),
                    value,
                    class: standard.classify(code, value, body)?,
                    exceedance_multiple: standard.exceedance_multiple(code, value, body),
                    in_section_class,
                })
            })
            .collect();
        let deciding_params = || parameters.iter().filter(|p| p.in_section_class);
        let class = deciding_params().map(|p| p.class).max()?;

        let mut deciding = Vec::new();
        for p in deciding_params().filter(|p| p.class == class) {
            push_unique(&mut deciding, &p.code);
        }

        let mut main_pollutants = Vec::new();
        if class > WaterClass::III {
            let mut candidates: Vec<&ParamClass> = deciding_params()
                .filter(|p| p.class > WaterClass::III)
                .collect();
            // Stable sort: equal keys keep input order.
            candidates.sort_by(|a, b| {
                b.class.cmp(&a.class).then_with(|| {
                    match (a.exceedance_multiple, b.exceedance_multiple) {
                        (Some(x), Some(y)) => y.total_cmp(&x),
                        (Some(_), None) => std::cmp::Ordering::Less,
                        (None, Some(_)) => std::cmp::Ordering::Greater,
                        (None, None) => std::cmp::Ordering::Equal,
                    }
                })
            });
            for p in candidates {
                if main_pollutants.len() >= self.max_main_pollutants {
                    break;
                }
                push_unique(&mut main_pollutants, &p.code);
            }
        }

        Some(SectionClass {
            class,
            deciding,
            parameters,
            main_pollutants,
        })
    }
}

fn contains(codes: &[Cow<'static, str>], code: &str) -> bool {
    codes.iter().any(|c| c == code)
}

fn push_unique(codes: &mut Vec<String>, code: &str) {
    if !codes.iter().any(|c| c == code) {
        codes.push(code.to_owned());
    }
}

/// The class of a section under [`GB_3838_2002`] and [`METHOD_2011`]; see
/// [`EvaluationMethod::section_class`].
pub fn section_class(values: &[(&str, f64)], body: WaterBody) -> Option<SectionClass> {
    METHOD_2011.section_class(&GB_3838_2002, values, body)
}

/// The qualitative grade (水质状况) of a section class.
///
/// ❌ UNVERIFIED in the reference sheet (§2, from memory; the 2011 method's table was not
/// retrieved): I–II 优, III 良好, IV 轻度污染, V 中度污染, 劣V 重度污染, and the display
/// colours blue, green, yellow, orange, red.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QualityGrade {
    /// 优 (Classes I–II).
    Excellent,
    /// 良好 (Class III).
    Good,
    /// 轻度污染 (Class IV).
    LightlyPolluted,
    /// 中度污染 (Class V).
    ModeratelyPolluted,
    /// 重度污染 (劣V).
    HeavilyPolluted,
}

impl QualityGrade {
    /// The grade of a class (❌ UNVERIFIED mapping, see the type's docs).
    pub const fn for_class(class: WaterClass) -> Self {
        match class {
            WaterClass::I | WaterClass::II => QualityGrade::Excellent,
            WaterClass::III => QualityGrade::Good,
            WaterClass::IV => QualityGrade::LightlyPolluted,
            WaterClass::V => QualityGrade::ModeratelyPolluted,
            WaterClass::WorseThanV => QualityGrade::HeavilyPolluted,
        }
    }

    /// The Chinese label, e.g. `轻度污染`.
    pub const fn label_zh(self) -> &'static str {
        match self {
            QualityGrade::Excellent => "优",
            QualityGrade::Good => "良好",
            QualityGrade::LightlyPolluted => "轻度污染",
            QualityGrade::ModeratelyPolluted => "中度污染",
            QualityGrade::HeavilyPolluted => "重度污染",
        }
    }

    /// The English label, e.g. `lightly polluted`.
    pub const fn label_en(self) -> &'static str {
        match self {
            QualityGrade::Excellent => "excellent",
            QualityGrade::Good => "good",
            QualityGrade::LightlyPolluted => "lightly polluted",
            QualityGrade::ModeratelyPolluted => "moderately polluted",
            QualityGrade::HeavilyPolluted => "heavily polluted",
        }
    }

    /// The display colour's English name (❌ UNVERIFIED): blue, green, yellow, orange, red.
    pub const fn colour_en(self) -> &'static str {
        match self {
            QualityGrade::Excellent => "blue",
            QualityGrade::Good => "green",
            QualityGrade::LightlyPolluted => "yellow",
            QualityGrade::ModeratelyPolluted => "orange",
            QualityGrade::HeavilyPolluted => "red",
        }
    }
}
