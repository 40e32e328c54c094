//! The language of operator-facing text (Simplified Chinese by default, English on request)
//! and the one way such text writes a measured number.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A measured value as operator-facing text (summaries, emails, tables): at most four
/// decimals without trailing zeros, and three significant digits below 0.001 so trace
/// limits such as mercury's 0.00005 mg/L stay readable; `—` for a value that is not a number.
pub fn short_number(v: f64) -> String {
    if !v.is_finite() {
        return "—".to_string();
    }
    let magnitude = v.abs();
    let decimals = if magnitude > 0.0 && magnitude < 0.001 {
        // -log10 of a positive finite value below 0.001 lies in (3, 324): the cast is exact.
        ((-magnitude.log10()).floor() as usize + 3).min(12)
    } else {
        4
    };
    let text = format!("{v:.decimals$}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

/// Language of console pages, emails, reports and operator error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Lang {
    /// Simplified Chinese (the default).
    #[default]
    #[serde(rename = "zh")]
    Zh,
    /// English.
    #[serde(rename = "en")]
    En,
}

impl Lang {
    /// Picks the text for this language.
    pub fn pick<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.pick("zh", "en"))
    }
}

impl FromStr for Lang {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "zh" | "zh-cn" | "zh_cn" | "cn" | "中文" => Ok(Lang::Zh),
            "en" | "en-us" | "en_us" | "english" => Ok(Lang::En),
            other => Err(format!("unknown language `{other}` (expected zh or en)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::short_number;

    #[test]
    fn numbers_are_short_and_trace_limits_readable() {
        assert_eq!(short_number(2.5), "2.5");
        assert_eq!(short_number(1.23456), "1.2346");
        assert_eq!(short_number(15.0), "15");
        assert_eq!(short_number(0.0001), "0.0001");
        assert_eq!(short_number(0.00005), "0.00005");
        assert_eq!(short_number(-0.00001), "-0.00001");
        assert_eq!(short_number(-0.0), "0");
        assert_eq!(short_number(f64::NAN), "—");
    }
}
