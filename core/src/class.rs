//! Water-quality classes of GB 3838-2002 (I–V and 劣V) and the provinces of the zone.
//!
//! These two small enums are shared by the registry (a section's target class, a station's
//! province) and by every service that judges or routes, so they live in the core.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A surface-water quality class per GB 3838-2002, ordered from best (I) to worst (劣V).
///
/// `WaterClass::I < WaterClass::III` holds: "better" compares as "smaller".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum WaterClass {
    /// Class I (Ⅰ类).
    #[serde(rename = "I")]
    I = 1,
    /// Class II (Ⅱ类).
    #[serde(rename = "II")]
    II = 2,
    /// Class III (Ⅲ类).
    #[serde(rename = "III")]
    III = 3,
    /// Class IV (Ⅳ类).
    #[serde(rename = "IV")]
    IV = 4,
    /// Class V (Ⅴ类).
    #[serde(rename = "V")]
    V = 5,
    /// Worse than Class V (劣Ⅴ类).
    #[serde(rename = "劣V")]
    WorseThanV = 6,
}

impl WaterClass {
    /// All classes from best to worst.
    pub const ALL: [WaterClass; 6] = [
        WaterClass::I,
        WaterClass::II,
        WaterClass::III,
        WaterClass::IV,
        WaterClass::V,
        WaterClass::WorseThanV,
    ];

    /// The class as its number 1–6 (6 = 劣V).
    pub const fn number(self) -> u8 {
        self as u8
    }

    /// The class for a number 1–6.
    pub fn from_number(n: u8) -> Option<Self> {
        Self::ALL.get(usize::from(n).checked_sub(1)?).copied()
    }

    /// The label used in data files and JSON: `I`…`V`, `劣V`.
    pub const fn as_str(self) -> &'static str {
        match self {
            WaterClass::I => "I",
            WaterClass::II => "II",
            WaterClass::III => "III",
            WaterClass::IV => "IV",
            WaterClass::V => "V",
            WaterClass::WorseThanV => "劣V",
        }
    }

    /// The label printed in Chinese reports: `Ⅰ类` … `劣Ⅴ类`.
    pub const fn label_zh(self) -> &'static str {
        match self {
            WaterClass::I => "Ⅰ类",
            WaterClass::II => "Ⅱ类",
            WaterClass::III => "Ⅲ类",
            WaterClass::IV => "Ⅳ类",
            WaterClass::V => "Ⅴ类",
            WaterClass::WorseThanV => "劣Ⅴ类",
        }
    }

    /// The label printed in English text: `Class III`, `worse than Class V`.
    pub const fn label_en(self) -> &'static str {
        match self {
            WaterClass::I => "Class I",
            WaterClass::II => "Class II",
            WaterClass::III => "Class III",
            WaterClass::IV => "Class IV",
            WaterClass::V => "Class V",
            WaterClass::WorseThanV => "worse than Class V",
        }
    }

    /// Whether this class meets a target: equal to or better than it.
    pub fn meets(self, target: WaterClass) -> bool {
        self <= target
    }
}

impl fmt::Display for WaterClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WaterClass {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "I" | "1" | "Ⅰ" | "Ⅰ类" => Ok(WaterClass::I),
            "II" | "2" | "Ⅱ" | "Ⅱ类" => Ok(WaterClass::II),
            "III" | "3" | "Ⅲ" | "Ⅲ类" => Ok(WaterClass::III),
            "IV" | "4" | "Ⅳ" | "Ⅳ类" => Ok(WaterClass::IV),
            "V" | "5" | "Ⅴ" | "Ⅴ类" => Ok(WaterClass::V),
            "劣V" | "劣Ⅴ" | "劣Ⅴ类" | "6" | ">V" => Ok(WaterClass::WorseThanV),
            other => Err(format!(
                "unknown water class `{other}` (expected I, II, III, IV, V or 劣V)"
            )),
        }
    }
}

/// A province of the Harbin–Changchun zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Province {
    /// Heilongjiang (黑龙江省).
    #[serde(rename = "HLJ")]
    Heilongjiang,
    /// Jilin (吉林省).
    #[serde(rename = "JL")]
    Jilin,
}

impl Province {
    /// Both provinces, Heilongjiang first.
    pub const ALL: [Province; 2] = [Province::Heilongjiang, Province::Jilin];

    /// The short code used in data files: `HLJ` or `JL`.
    pub const fn code(self) -> &'static str {
        match self {
            Province::Heilongjiang => "HLJ",
            Province::Jilin => "JL",
        }
    }

    /// The Chinese name, e.g. `黑龙江省`.
    pub const fn name_zh(self) -> &'static str {
        match self {
            Province::Heilongjiang => "黑龙江省",
            Province::Jilin => "吉林省",
        }
    }

    /// The English name, e.g. `Heilongjiang`.
    pub const fn name_en(self) -> &'static str {
        match self {
            Province::Heilongjiang => "Heilongjiang",
            Province::Jilin => "Jilin",
        }
    }

    /// The other province of the pair.
    pub const fn other(self) -> Province {
        match self {
            Province::Heilongjiang => Province::Jilin,
            Province::Jilin => Province::Heilongjiang,
        }
    }
}

impl fmt::Display for Province {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Province {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "HLJ" | "hlj" | "黑龙江" | "黑龙江省" => Ok(Province::Heilongjiang),
            "JL" | "jl" | "吉林" | "吉林省" => Ok(Province::Jilin),
            other => Err(format!("unknown province `{other}` (expected HLJ or JL)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_order_from_best_to_worst() {
        assert!(WaterClass::I < WaterClass::II);
        assert!(WaterClass::V < WaterClass::WorseThanV);
        assert!(WaterClass::II.meets(WaterClass::III));
        assert!(WaterClass::III.meets(WaterClass::III));
        assert!(!WaterClass::IV.meets(WaterClass::III));
    }

    #[test]
    fn class_labels_round_trip() {
        for class in WaterClass::ALL {
            assert_eq!(class.as_str().parse::<WaterClass>(), Ok(class));
            assert_eq!(WaterClass::from_number(class.number()), Some(class));
        }
        assert_eq!(WaterClass::from_number(0), None);
        assert_eq!(WaterClass::from_number(7), None);
        assert_eq!("劣Ⅴ类".parse::<WaterClass>(), Ok(WaterClass::WorseThanV));
        let json = serde_json::to_string(&WaterClass::WorseThanV).unwrap();
        assert_eq!(json, "\"劣V\"");
    }
}
