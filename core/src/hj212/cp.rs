//! The CP part of a data segment: `DataTime` and the per-pollutant `code-Suffix=value` fields.
//!
//! Values stay the raw text that was sent, so the ingest can reject one bad value (say
//! `w01001-Avg=abc`) and still store the others of the same frame. Pollutant codes are carried,
//! not interpreted: HJ/T 212-2005 codes (`011` COD, `060` NH3-N) pass as well as 2017 ones.

use std::fmt;

use chrono::{NaiveDate, NaiveDateTime};

use super::error::{FrameError, excerpt_str};

const DATA_TIME: &str = "DataTime";
const DATA_TIME_DIGITS: usize = 14;
const DATA_TIME_FORMAT: &str = "%Y%m%d%H%M%S";

const RTD: &str = "Rtd";
const AVG: &str = "Avg";
const MIN: &str = "Min";
const MAX: &str = "Max";
const COU: &str = "Cou";
const FLAG: &str = "Flag";

const CN_REAL_TIME: &str = "2011";
const CN_MINUTE: &str = "2051";
const CN_HOURLY: &str = "2061";
const CN_DAILY: &str = "2031";

/// The parsed CP part of one frame (or of one message joined from packets).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpData {
    /// `DataTime`, the time the values refer to: China Standard Time as sent, since the
    /// protocol carries no offset. Converting to UTC is the caller's job.
    pub data_time: Option<NaiveDateTime>,
    /// One entry per pollutant code, in the order the codes first appear.
    pub items: Vec<CpItem>,
    /// Other `key=value` fields, those without a `code-Suffix` name (such as `RtdInterval`,
    /// `BeginTime`, `QnRtn`), in the order sent.
    pub extra: Vec<(String, String)>,
}

/// The fields of one pollutant code, each value the raw text sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpItem {
    /// The pollutant code, e.g. `w01010` (2017) or `060` (2005).
    pub code: String,
    /// `-Rtd`, the real-time value.
    pub rtd: Option<String>,
    /// `-Avg`, the average over the reporting interval.
    pub avg: Option<String>,
    /// `-Min`, the minimum over the reporting interval.
    pub min: Option<String>,
    /// `-Max`, the maximum over the reporting interval.
    pub max: Option<String>,
    /// `-Cou`, the cumulative value (累计值).
    pub cou: Option<String>,
    /// `-Flag`, the data flag (`N` normal, `M` maintenance, `D` fault, …), uninterpreted.
    pub flag: Option<String>,
    /// Fields with any other suffix (e.g. `ZsRtd`, `SampleTime`), as (suffix, value), in the
    /// order sent.
    pub extra: Vec<(String, String)>,
}

impl CpItem {
    /// An item with a code and no fields.
    pub fn new(code: impl Into<String>) -> CpItem {
        CpItem {
            code: code.into(),
            ..CpItem::default()
        }
    }

    /// The value a frame with command code `cn` reports for this pollutant, with the suffix it
    /// came from (`"Rtd"` or `"Avg"`).
    ///
    /// Real-time data (CN 2011) reports `Rtd`; minute, hourly and daily data (CN 2051, 2061,
    /// 2031) report `Avg`, falling back to `Rtd` for senders that put the value there. Other
    /// commands carry no measurement, so they give `None`.
    pub fn value_for_cn(&self, cn: &str) -> Option<(&'static str, &str)> {
        let rtd = self.rtd.as_deref().map(|value| (RTD, value));
        match cn {
            CN_REAL_TIME => rtd,
            CN_MINUTE | CN_HOURLY | CN_DAILY => {
                self.avg.as_deref().map(|value| (AVG, value)).or(rtd)
            }
            _ => None,
        }
    }

    /// The fields that are set, as (suffix, value): `Rtd`, `Avg`, `Min`, `Max`, `Cou`, `Flag`,
    /// then the extra suffixes in order.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        [
            (RTD, &self.rtd),
            (AVG, &self.avg),
            (MIN, &self.min),
            (MAX, &self.max),
            (COU, &self.cou),
            (FLAG, &self.flag),
        ]
        .into_iter()
        .filter_map(|(suffix, value)| value.as_deref().map(|value| (suffix, value)))
        .chain(
            self.extra
                .iter()
                .map(|(suffix, value)| (suffix.as_str(), value.as_str())),
        )
    }

    /// Sets one field; a field may be given only once.
    fn insert(&mut self, suffix: &str, value: &str) -> Result<(), &'static str> {
        let slot = match suffix {
            RTD => &mut self.rtd,
            AVG => &mut self.avg,
            MIN => &mut self.min,
            MAX => &mut self.max,
            COU => &mut self.cou,
            FLAG => &mut self.flag,
            _ if self.extra.iter().any(|(known, _)| known == suffix) => return Err(REPEATED),
            _ => {
                self.extra.push((suffix.to_owned(), value.to_owned()));
                return Ok(());
            }
        };
        if slot.is_some() {
            return Err(REPEATED);
        }
        *slot = Some(value.to_owned());
        Ok(())
    }
}

const REPEATED: &str = "field appears more than once";

impl CpData {
    /// The CP text for these data: `DataTime` first, then the extra fields, then one
    /// `;`-separated group per item with its fields in the order of [`CpItem::fields`].
    ///
    /// [`parse_cp`] reads it back to equal data, except that items without any field are left
    /// out, and provided no name or value contains `;` or `,` and no name contains `=`.
    pub fn render(&self) -> String {
        self.to_string()
    }

    /// Adds one `code-Suffix=value` field to the item of that code, creating it if needed.
    pub(crate) fn insert(
        &mut self,
        code: &str,
        suffix: &str,
        value: &str,
    ) -> Result<(), &'static str> {
        if let Some(item) = self.items.iter_mut().find(|item| item.code == code) {
            return item.insert(suffix, value);
        }
        let mut item = CpItem::new(code);
        item.insert(suffix, value)?;
        self.items.push(item);
        Ok(())
    }
}

impl fmt::Display for CpData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut group_sep = "";
        if let Some(time) = self.data_time {
            write!(f, "{DATA_TIME}={}", time.format(DATA_TIME_FORMAT))?;
            group_sep = ";";
        }
        if !self.extra.is_empty() {
            f.write_str(group_sep)?;
            group_sep = ";";
            let mut field_sep = "";
            for (key, value) in &self.extra {
                write!(f, "{field_sep}{key}={value}")?;
                field_sep = ",";
            }
        }
        for item in &self.items {
            let mut fields = item.fields().peekable();
            if fields.peek().is_none() {
                continue;
            }
            f.write_str(group_sep)?;
            group_sep = ";";
            let mut field_sep = "";
            for (suffix, value) in fields {
                write!(f, "{field_sep}{}-{suffix}={value}", item.code)?;
                field_sep = ",";
            }
        }
        Ok(())
    }
}

/// Parses CP text (without the `CP=&&` … `&&` delimiters).
///
/// Fields are `key=value`, separated by `;` between items and `,` within one; both are read
/// alike, and the fields of one code are gathered into one [`CpItem`] wherever they stand.
/// Empty fields (as left by a trailing `;`) are skipped, and empty CP gives empty data. A name
/// of the form `code-Suffix` (split at the last `-`) belongs to an item; `DataTime` must be
/// `YYYYMMDDhhmmss`; any other name goes to [`CpData::extra`]. Values are not checked.
///
/// # Errors
///
/// [`FrameError::MalformedCp`] for a field without `=`, an empty name, code or suffix, a
/// `DataTime` that is not a valid time, or a field given twice.
pub fn parse_cp(cp: &str) -> Result<CpData, FrameError> {
    let mut data = CpData::default();
    for field in cp.split([';', ',']).filter(|field| !field.is_empty()) {
        let malformed = |why| FrameError::MalformedCp {
            why,
            near: excerpt_str(field),
        };
        let Some((key, value)) = field.split_once('=') else {
            return Err(malformed("field has no '='"));
        };
        if key == DATA_TIME {
            let time = parse_data_time(value)
                .ok_or_else(|| malformed("DataTime is not a valid YYYYMMDDhhmmss time"))?;
            if data.data_time.replace(time).is_some() {
                return Err(malformed(REPEATED));
            }
        } else if let Some((code, suffix)) = key.rsplit_once('-') {
            if code.is_empty() || suffix.is_empty() {
                return Err(malformed("field name is not of the form code-Suffix"));
            }
            data.insert(code, suffix, value).map_err(malformed)?;
        } else if key.is_empty() {
            return Err(malformed("field has an empty name"));
        } else {
            data.extra.push((key.to_owned(), value.to_owned()));
        }
    }
    Ok(data)
}

fn parse_data_time(value: &str) -> Option<NaiveDateTime> {
    if value.len() != DATA_TIME_DIGITS || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number = |at: usize, len: usize| value.get(at..at + len)?.parse::<u32>().ok();
    let year = i32::try_from(number(0, 4)?).ok()?;
    NaiveDate::from_ymd_opt(year, number(4, 2)?, number(6, 2)?)?.and_hms_opt(
        number(8, 2)?,
        number(10, 2)?,
        number(12, 2)?,
    )
}
