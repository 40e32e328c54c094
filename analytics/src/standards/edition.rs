//! Which edition of a standard a table belongs to, and the dates it is in force.
//!
//! Every limit table in [`crate::standards`] carries an [`Edition`], so a re-evaluation of
//! old observations can pick the table that applied on the observation date instead of
//! today's.

use std::borrow::Cow;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// One edition of a standard or official document, with the dates it is in force.
///
/// The strings are [`Cow`] so the built-in tables are compile-time constants while a table
/// loaded from configuration can own its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edition {
    /// The document number, e.g. `GB 3838-2002` or `环办〔2011〕22号`.
    pub code: Cow<'static, str>,
    /// The Chinese title, e.g. `地表水环境质量标准`.
    pub title_zh: Cow<'static, str>,
    /// The English title, e.g. `Environmental quality standards for surface water`.
    pub title_en: Cow<'static, str>,
    /// The first day the edition applies (a date in China Standard Time), inclusive.
    pub in_force_from: NaiveDate,
    /// The last day the edition applies, inclusive; `None` while it is still in force.
    pub in_force_until: Option<NaiveDate>,
}

impl Edition {
    /// Whether the edition applies on `date` (both ends inclusive).
    pub fn in_force_on(&self, date: NaiveDate) -> bool {
        self.in_force_from <= date && self.in_force_until.is_none_or(|until| date <= until)
    }
}

/// A calendar date for a built-in table, checked when the constant is evaluated.
///
/// Only call this in `const`/`static` initialisers: an invalid date then fails the build
/// instead of panicking at run time.
pub(crate) const fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(year, month, day) {
        Some(date) => date,
        None => panic!("invalid date in a built-in standards table"),
    }
}
