//! The station and parameter registry: what is monitored, where, and by which rules.
//!
//! The registry is loaded from TOML (`[[parameter]]`, `[[river]]`, `[[station]]` tables,
//! usually inside the service configuration file) and validated once at start-up. Every
//! problem is reported with the file, the line, the item and the field, in Chinese or
//! English. When a file leaves one of the three lists out, the built-in default network
//! ([`DEFAULT_NETWORK_TOML`]) supplies it.

mod model;
mod validate;

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use toml::Spanned;

pub use model::{Medium, Parameter, River, Station, StationKind, WaterBody};

use crate::i18n::Lang;

/// The built-in network: real rivers in order, the zone's air stations, outfalls and gauges.
/// Printed by `riverwatch config default`.
pub const DEFAULT_NETWORK_TOML: &str = include_str!("../../network/default.toml");

/// Name under which errors in the built-in network are reported.
pub const DEFAULT_NETWORK_ORIGIN: &str = "<built-in network>";

/// The three registry lists as they appear in a TOML file, with their positions kept so
/// that validation errors can name the line.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkDef {
    /// `[[parameter]]` tables.
    #[serde(default)]
    pub parameter: Vec<Spanned<Parameter>>,
    /// `[[river]]` tables.
    #[serde(default)]
    pub river: Vec<Spanned<River>>,
    /// `[[station]]` tables.
    #[serde(default)]
    pub station: Vec<Spanned<Station>>,
}

/// The text a [`NetworkDef`] was read from, to turn byte positions into line numbers.
#[derive(Debug, Clone, Copy)]
pub struct SourceText<'a> {
    /// File name shown in errors.
    pub origin: &'a str,
    /// Full text of the file.
    pub text: &'a str,
}

impl SourceText<'_> {
    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }
}

/// One problem found in a network definition.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryIssue {
    /// File the item was read from.
    pub origin: String,
    /// Line of the item's table, when known.
    pub line: Option<usize>,
    /// The item, e.g. `station LLH-CJG`.
    pub item: String,
    /// The field at fault, when one is.
    pub field: Option<String>,
    /// What is wrong, in Chinese.
    pub message_zh: String,
    /// What is wrong, in English.
    pub message_en: String,
}

impl RegistryIssue {
    /// The issue as one line in the given language.
    pub fn render(&self, lang: Lang) -> String {
        let place = match self.line {
            Some(line) => format!("{}:{}", self.origin, line),
            None => self.origin.clone(),
        };
        let field = match (&self.field, lang) {
            (Some(f), Lang::Zh) => format!("，字段 `{f}`"),
            (Some(f), Lang::En) => format!(", field `{f}`"),
            (None, _) => String::new(),
        };
        let message = lang.pick(&self.message_zh, &self.message_en);
        match lang {
            Lang::Zh => format!("{place}：{}{field}：{message}", self.item),
            Lang::En => format!("{place}: {}{field}: {message}", self.item),
        }
    }
}

/// Every problem found while loading a network definition.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryError {
    /// The problems, in file order.
    pub issues: Vec<RegistryIssue>,
}

impl RegistryError {
    /// All problems, one per line, in the given language.
    pub fn render(&self, lang: Lang) -> String {
        let head = match lang {
            Lang::Zh => format!("站点注册表有 {} 处错误：", self.issues.len()),
            Lang::En => format!("the station registry has {} error(s):", self.issues.len()),
        };
        let mut out = head;
        for issue in &self.issues {
            out.push_str("\n  ");
            out.push_str(&issue.render(lang));
        }
        out
    }
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(Lang::En))
    }
}

impl std::error::Error for RegistryError {}

/// The validated network: parameters, rivers and stations with lookup indexes.
#[derive(Debug, Clone)]
pub struct Registry {
    parameters: Vec<Parameter>,
    rivers: Vec<River>,
    stations: Vec<Station>,
    param_by_code: HashMap<String, usize>,
    /// Shared codes, one per parameter, so readings clone an `Arc` instead of allocating.
    param_codes: Vec<crate::reading::ParamCode>,
    param_by_hj212: HashMap<String, usize>,
    param_by_hj212_2005: HashMap<String, usize>,
    river_by_id: HashMap<String, usize>,
    station_by_id: HashMap<String, usize>,
    station_by_mn: HashMap<String, usize>,
}

impl Registry {
    /// The built-in default network.
    ///
    /// # Errors
    /// Only if the built-in file is broken, which a unit test rules out.
    pub fn builtin() -> Result<Self, RegistryError> {
        Self::from_toml(DEFAULT_NETWORK_TOML, DEFAULT_NETWORK_ORIGIN)
    }

    /// Parses and validates a network file; lists missing from it come from the built-in
    /// network.
    ///
    /// # Errors
    /// A [`RegistryError`] listing every syntax or consistency problem with its line.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, RegistryError> {
        let def: NetworkDef = toml::from_str(text).map_err(|e| syntax_error(origin, text, &e))?;
        Self::from_def(def, SourceText { origin, text })
    }

    /// Validates a definition read from `source`; empty lists are taken from the built-in
    /// network.
    ///
    /// # Errors
    /// A [`RegistryError`] listing every consistency problem with its line.
    pub fn from_def(def: NetworkDef, source: SourceText<'_>) -> Result<Self, RegistryError> {
        let builtin_source = SourceText {
            origin: DEFAULT_NETWORK_ORIGIN,
            text: DEFAULT_NETWORK_TOML,
        };
        let needs_builtin =
            def.parameter.is_empty() || def.river.is_empty() || def.station.is_empty();
        let builtin = if needs_builtin {
            let b: NetworkDef = toml::from_str(DEFAULT_NETWORK_TOML)
                .map_err(|e| syntax_error(DEFAULT_NETWORK_ORIGIN, DEFAULT_NETWORK_TOML, &e))?;
            Some(b)
        } else {
            None
        };
        let (b_param, b_river, b_station) = match builtin {
            Some(b) => (b.parameter, b.river, b.station),
            None => (Vec::new(), Vec::new(), Vec::new()),
        };
        let parameters = pick(def.parameter, b_param, source, builtin_source);
        let rivers = pick(def.river, b_river, source, builtin_source);
        let stations = pick(def.station, b_station, source, builtin_source);
        validate::build(parameters, rivers, stations)
    }

    /// Every parameter, in file order.
    pub fn parameters(&self) -> &[Parameter] {
        &self.parameters
    }

    /// The parameter with this code.
    pub fn parameter(&self, code: &str) -> Option<&Parameter> {
        self.param_by_code.get(code).map(|&i| &self.parameters[i])
    }

    /// The parameter with this code and its shared [`ParamCode`](crate::reading::ParamCode).
    pub fn parameter_with_code(
        &self,
        code: &str,
    ) -> Option<(&Parameter, &crate::reading::ParamCode)> {
        self.param_by_code
            .get(code)
            .map(|&i| (&self.parameters[i], &self.param_codes[i]))
    }

    /// The parameter with this HJ 212 pollutant code; `legacy_2005` selects the HJ/T
    /// 212-2005 code table.
    pub fn parameter_by_hj212(&self, code: &str, legacy_2005: bool) -> Option<&Parameter> {
        let index = if legacy_2005 {
            &self.param_by_hj212_2005
        } else {
            &self.param_by_hj212
        };
        index.get(code).map(|&i| &self.parameters[i])
    }

    /// Every river, in file order.
    pub fn rivers(&self) -> &[River] {
        &self.rivers
    }

    /// The river with this id.
    pub fn river(&self, id: &str) -> Option<&River> {
        self.river_by_id.get(id).map(|&i| &self.rivers[i])
    }

    /// Every station, in file order.
    pub fn stations(&self) -> &[Station] {
        &self.stations
    }

    /// The station with this id.
    pub fn station(&self, id: &str) -> Option<&Station> {
        self.station_by_id.get(id).map(|&i| &self.stations[i])
    }

    /// The station whose data logger has this HJ 212 MN.
    pub fn station_by_mn(&self, mn: &str) -> Option<&Station> {
        self.station_by_mn.get(mn).map(|&i| &self.stations[i])
    }

    /// Water-quality sections on a river, from upstream to downstream.
    pub fn sections_on(&self, river: &str) -> Vec<&Station> {
        let mut out: Vec<&Station> = self
            .stations
            .iter()
            .filter(|s| s.kind == StationKind::Water && s.river.as_deref() == Some(river))
            .collect();
        out.sort_by(|a, b| {
            a.river_km
                .unwrap_or(0.0)
                .total_cmp(&b.river_km.unwrap_or(0.0))
        });
        out
    }
}

/// A list from the file, or the built-in one when the file has none.
fn pick<'a, T>(
    own: Vec<Spanned<T>>,
    builtin: Vec<Spanned<T>>,
    source: SourceText<'a>,
    builtin_source: SourceText<'a>,
) -> (Vec<Spanned<T>>, SourceText<'a>) {
    if own.is_empty() {
        (builtin, builtin_source)
    } else {
        (own, source)
    }
}

fn syntax_error(origin: &str, text: &str, error: &toml::de::Error) -> RegistryError {
    let source = SourceText { origin, text };
    let line = error.span().map(|span| source.line_of(span.start));
    let message = error.message().to_string();
    RegistryError {
        issues: vec![RegistryIssue {
            origin: origin.to_string(),
            line,
            item: "TOML".to_string(),
            field: None,
            message_zh: format!("语法或类型错误：{message}"),
            message_en: format!("syntax or type error: {message}"),
        }],
    }
}

#[cfg(test)]
mod tests;
