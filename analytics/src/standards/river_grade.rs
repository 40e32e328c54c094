//! River and basin grades (河流、流域水质状况) by the 2011 evaluation method
//! (环办〔2011〕22号), the share of sections meeting their target (达标率), and the change of a
//! share against an earlier period in percentage points (同比, 环比).
//!
//! The bands, as the reference sheet gives them (`reference/standards.md` §2, "River/basin
//! grade", ⚠️ one source, the Shenzhen EEB Q&A):
//!
//! | sections | method |
//! |---|---|
//! | 5 or more | **class proportions** (水质类别比例法): share of sections in Ⅰ–Ⅲ ≥ 90 % → 优; 75 % ≤ Ⅰ–Ⅲ < 90 % → 良好; Ⅰ–Ⅲ < 75 % and 劣Ⅴ < 20 % → 轻度污染; Ⅰ–Ⅲ < 75 % and 20 % ≤ 劣Ⅴ < 40 % → 中度污染; Ⅰ–Ⅲ < 75 % and 劣Ⅴ ≥ 40 % → 重度污染 |
//! | fewer than 5 | the **mean of each item over the sections**, then the single-factor method ([`EvaluationMethod::section_class`]); the grade is that class's qualitative grade |
//!
//! The method's own text also writes the 重度污染 band as "Ⅰ–Ⅲ < 60 % and 劣Ⅴ ≥ 40 %"; the two
//! readings differ only when exactly 60 % are Ⅰ–Ⅲ and exactly 40 % 劣Ⅴ, which both readings
//! must place somewhere: it is 重度污染 here, as in the reference sheet. The source phrases the
//! section threshold as "> 5" once; the method's "5 or more" is used.
//!
//! **Main pollutants of a river** (主要污染指标): for each class item, the share of sections
//! where that item is worse than Class Ⅲ (断面超标率); the items with a non-zero share, the
//! largest first (ties in the order of the method's item list), at most
//! [`EvaluationMethod::max_main_pollutants`]. ❌ UNVERIFIED in the reference sheet, like the
//! section-level rule ([`super::gb3838::SectionClass::main_pollutants`]).

use serde::{Deserialize, Serialize};

use riverwatch_core::WaterClass;

use super::gb3838::{EvaluationMethod, QualityGrade, SurfaceWaterStandard, WaterBody};

/// From this many sections on, a river is graded by class proportions.
pub const MIN_SECTIONS_FOR_PROPORTIONS: usize = 5;

/// The shares of a river's sections in Ⅰ–Ⅲ, Ⅳ–Ⅴ and 劣Ⅴ, as fractions of the sections judged.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassShares {
    /// Sections judged (those with a class).
    pub sections: usize,
    /// Sections in Classes Ⅰ–Ⅲ.
    pub i_to_iii_sections: usize,
    /// Sections worse than Class Ⅴ.
    pub worse_than_v_sections: usize,
    /// Share in Classes Ⅰ–Ⅲ (0–1).
    pub i_to_iii: f64,
    /// Share in Classes Ⅳ–Ⅴ (0–1).
    pub iv_to_v: f64,
    /// Share worse than Class Ⅴ (0–1).
    pub worse_than_v: f64,
}

impl ClassShares {
    /// The shares of `classes` (one per section); `None` for no sections.
    pub fn of(classes: &[WaterClass]) -> Option<Self> {
        if classes.is_empty() {
            return None;
        }
        let n = classes.len();
        let count = |f: fn(WaterClass) -> bool| classes.iter().filter(|c| f(**c)).count();
        let good = count(|c| c <= WaterClass::III);
        let worst = count(|c| c == WaterClass::WorseThanV);
        Some(Self {
            sections: n,
            i_to_iii_sections: good,
            worse_than_v_sections: worst,
            i_to_iii: share(good, n),
            iv_to_v: share(n - good - worst, n),
            worse_than_v: share(worst, n),
        })
    }

    /// The grade these shares give under the class-proportion method. Counts are compared
    /// exactly (9 of 10 sections is 90 %), not through rounded percentages.
    pub fn grade(&self) -> QualityGrade {
        // Integer comparisons: share ≥ p % ⇔ 100 · count ≥ p · n.
        let n = self.sections;
        let good = self.i_to_iii_sections;
        let worst = self.worse_than_v_sections;
        if 100 * good >= 90 * n {
            QualityGrade::Excellent
        } else if 100 * good >= 75 * n {
            QualityGrade::Good
        } else if 100 * worst < 20 * n {
            QualityGrade::LightlyPolluted
        } else if 100 * worst < 40 * n {
            QualityGrade::ModeratelyPolluted
        } else {
            QualityGrade::HeavilyPolluted
        }
    }
}

fn share(count: usize, of: usize) -> f64 {
    count as f64 / of as f64
}

/// One section of a river over a period, as the stored evaluation has it.
#[derive(Debug, Clone, PartialEq)]
pub struct SectionPeriod {
    /// Station id.
    pub station: String,
    /// The section's class over the period.
    pub class: WaterClass,
    /// The period mean of each item (`(code, mean)`).
    pub means: Vec<(String, f64)>,
    /// Items worse than Class Ⅲ over the period.
    pub exceeding: Vec<String>,
}

/// How a river's grade was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GradeMethod {
    /// 5 or more sections: class proportions.
    ClassProportions,
    /// Fewer than 5 sections: mean of each item, then the single-factor method.
    MeanValues,
}

/// One item's share of sections worse than Class Ⅲ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemShare {
    /// Parameter code.
    pub code: String,
    /// Sections where it is worse than Class Ⅲ ÷ sections judged (0–1).
    pub share: f64,
}

/// A river's grade over a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiverGrade {
    /// The method used (decided by the number of sections).
    pub method: GradeMethod,
    /// The qualitative grade.
    pub grade: QualityGrade,
    /// The shares of sections per class group (reported by either method).
    pub shares: ClassShares,
    /// With [`GradeMethod::MeanValues`]: the class of the river's mean values.
    pub mean_class: Option<WaterClass>,
    /// The main pollutants, largest share first.
    pub main_pollutants: Vec<ItemShare>,
}

impl EvaluationMethod {
    /// The grade of a river from its sections over one period; `None` without sections (or,
    /// below five sections, when the means give no class).
    pub fn river_grade(
        &self,
        standard: &SurfaceWaterStandard,
        sections: &[SectionPeriod],
        body: WaterBody,
    ) -> Option<RiverGrade> {
        let classes: Vec<WaterClass> = sections.iter().map(|s| s.class).collect();
        let shares = ClassShares::of(&classes)?;
        let (method, grade, mean_class) = if sections.len() >= MIN_SECTIONS_FOR_PROPORTIONS {
            (GradeMethod::ClassProportions, shares.grade(), None)
        } else {
            let means = item_means(sections);
            let pairs: Vec<(&str, f64)> = means.iter().map(|(c, v)| (c.as_str(), *v)).collect();
            let class = self.section_class(standard, &pairs, body)?.class;
            (
                GradeMethod::MeanValues,
                QualityGrade::for_class(class),
                Some(class),
            )
        };
        Some(RiverGrade {
            method,
            grade,
            shares,
            mean_class,
            main_pollutants: self.main_pollutants_of(sections),
        })
    }

    /// The river's main pollutants: class items by their share of sections worse than
    /// Class Ⅲ, largest first, ties in the method's item order, at most
    /// [`EvaluationMethod::max_main_pollutants`].
    pub fn main_pollutants_of(&self, sections: &[SectionPeriod]) -> Vec<ItemShare> {
        if sections.is_empty() {
            return Vec::new();
        }
        let mut shares: Vec<ItemShare> = self
            .class_items
            .iter()
            .filter_map(|code| {
                let exceeding = sections
                    .iter()
                    .filter(|s| s.exceeding.iter().any(|c| c == code.as_ref()))
                    .count();
                (exceeding > 0).then(|| ItemShare {
                    code: code.to_string(),
                    share: share(exceeding, sections.len()),
                })
            })
            .collect();
        // Stable: equal shares keep the item order.
        shares.sort_by(|a, b| b.share.total_cmp(&a.share));
        shares.truncate(self.max_main_pollutants);
        shares
    }
}

/// The mean of each item over the sections that report it, in first-seen order.
fn item_means(sections: &[SectionPeriod]) -> Vec<(String, f64)> {
    let mut sums: Vec<(String, f64, u32)> = Vec::new();
    for (code, value) in sections.iter().flat_map(|s| s.means.iter()) {
        if !value.is_finite() {
            continue;
        }
        match sums.iter_mut().find(|(c, _, _)| c == code) {
            Some(entry) => {
                entry.1 += value;
                entry.2 += 1;
            }
            None => sums.push((code.clone(), *value, 1)),
        }
    }
    sums.into_iter()
        .map(|(code, sum, n)| (code, sum / f64::from(n)))
        .collect()
}

/// The share of sections meeting their target (达标率), 0–1: `compliant` holds one flag per
/// section judged. `None` for no sections.
pub fn compliance_rate(compliant: &[bool]) -> Option<f64> {
    if compliant.is_empty() {
        return None;
    }
    Some(share(
        compliant.iter().filter(|c| **c).count(),
        compliant.len(),
    ))
}

/// The change of a share against an earlier period, in percentage points (同比 against the
/// same period a year earlier, 环比 against the previous period): `None` when either is
/// missing.
pub fn change_in_points(now: Option<f64>, before: Option<f64>) -> Option<f64> {
    Some((now? - before?) * 100.0)
}
