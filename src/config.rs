//! The configuration file: one TOML file with a section per service and, optionally, the
//! network (`[[parameter]]`, `[[river]]`, `[[station]]`). Lists the file leaves out come from
//! the built-in network. `riverwatch config default` prints a complete file to start from.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use riverwatch_core::Lang;
use riverwatch_core::mqtt::MqttConfig;
use riverwatch_core::registry::{
    DEFAULT_NETWORK_TOML, NetworkDef, Parameter, Registry, RegistryError, River, SourceText,
    Station,
};
use riverwatch_ingest::config::{IngestConfig, StoreConfig};
use serde::{Deserialize, Serialize};
use toml::Spanned;

/// The whole configuration file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiverwatchConfig {
    /// Language of operator-facing text: `zh` (default) or `en`.
    #[serde(default)]
    pub lang: Lang,
    /// Data directory (SQLite files, outbox); `--data-dir` overrides. Default `./data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// Broker connection.
    #[serde(default)]
    pub mqtt: MqttConfig,
    /// Ingest service.
    #[serde(default)]
    pub ingest: IngestConfig,
    /// Time-series store.
    #[serde(default)]
    pub store: StoreConfig,
    /// Analytics service.
    #[serde(default)]
    pub analytics: riverwatch_analytics::AnalyticsConfig,
    /// Alert service: recipients of both provinces, grouping, escalation, email.
    #[serde(default)]
    pub alerts: riverwatch_alerts::AlertsConfig,
    /// Console: HTTP API and live feed.
    #[serde(default)]
    pub console: riverwatch_console::ConsoleConfig,
    /// River-chief reports: the schedule, language and archive.
    #[serde(default)]
    pub reports: riverwatch_reports::ReportsConfig,
    /// Parameters (built-in list when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameter: Vec<Spanned<Parameter>>,
    /// Rivers (built-in list when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub river: Vec<Spanned<River>>,
    /// Stations (built-in list when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub station: Vec<Spanned<Station>>,
}

/// A configuration that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Syntax or type error.
    #[error("{path}:{line}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Line of the error (0 when unknown).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Problems in the network.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A service section is inconsistent.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl ConfigError {
    /// The error for an operator, in their language.
    pub fn render(&self, lang: Lang) -> String {
        match (self, lang) {
            (ConfigError::Read { path, source }, Lang::Zh) => {
                format!("无法读取配置文件 {}：{source}", path.display())
            }
            (
                ConfigError::Syntax {
                    path,
                    line,
                    message,
                },
                Lang::Zh,
            ) => {
                format!(
                    "配置文件 {}:{line} 有语法或类型错误：{message}",
                    path.display()
                )
            }
            (ConfigError::Registry(e), lang) => e.render(lang),
            (ConfigError::Invalid { path, message }, Lang::Zh) => {
                format!("配置文件 {} 有误：{message}", path.display())
            }
            (other, Lang::En) => other.to_string(),
        }
    }
}

/// A loaded, validated configuration.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Service settings (the network lists are moved into `registry`).
    pub config: RiverwatchConfig,
    /// The validated network.
    pub registry: Arc<Registry>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Parses and validates configuration text.
///
/// # Errors
/// [`ConfigError`] naming the file and line.
pub fn parse(text: &str, path: &Path) -> Result<Loaded, ConfigError> {
    let mut config: RiverwatchConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
        path: path.to_path_buf(),
        line: e.span().map(|s| line_of(text, s.start)).unwrap_or(0),
        message: e.message().to_string(),
    })?;
    let invalid = |message: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    config
        .ingest
        .validate()
        .map_err(|e| invalid(format!("[ingest] {e}")))?;
    config
        .store
        .validate()
        .map_err(|e| invalid(format!("[store] {e}")))?;
    config
        .mqtt
        .validate()
        .map_err(|e| invalid(format!("[mqtt] {e}")))?;
    config
        .analytics
        .validate()
        .map_err(|e| invalid(format!("[analytics] {e}")))?;
    config
        .alerts
        .validate()
        .map_err(|e| invalid(format!("[alerts] {e}")))?;
    config
        .console
        .validate()
        .map_err(|e| invalid(format!("[console] {e}")))?;
    config
        .reports
        .validate()
        .map_err(|e| invalid(format!("[reports] {e}")))?;
    let def = NetworkDef {
        parameter: std::mem::take(&mut config.parameter),
        river: std::mem::take(&mut config.river),
        station: std::mem::take(&mut config.station),
    };
    let origin = path.display().to_string();
    let registry = Registry::from_def(
        def,
        SourceText {
            origin: &origin,
            text,
        },
    )?;
    config
        .analytics
        .validate_against(&registry)
        .map_err(|e| invalid(format!("[analytics] {e}")))?;
    Ok(Loaded {
        config,
        registry: Arc::new(registry),
    })
}

/// Loads the configuration file, or the built-in defaults when `path` is `None`.
///
/// # Errors
/// [`ConfigError`] naming the file and line.
pub fn load(path: Option<&Path>) -> Result<Loaded, ConfigError> {
    match path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.to_path_buf(),
                source,
            })?;
            parse(&text, p)
        }
        None => parse("", Path::new("<defaults>")),
    }
}

/// A complete default configuration file: every service section with its defaults, then
/// the built-in network.
///
/// # Errors
/// Only if the defaults cannot be serialised, which a test rules out.
pub fn default_file() -> Result<String, toml::ser::Error> {
    let services = toml::to_string_pretty(&RiverwatchConfig::default())?;
    Ok(format!(
        "# riverwatch configuration. Secrets come from the environment:\n\
         # RIVERWATCH_MQTT_USERNAME / RIVERWATCH_MQTT_PASSWORD, RIVERWATCH_INFLUX_TOKEN,\n\
         # RIVERWATCH_INFLUX_USERNAME / RIVERWATCH_INFLUX_PASSWORD,\n\
         # RIVERWATCH_SMTP_USERNAME / RIVERWATCH_SMTP_PASSWORD. Stations' HJ 212 access\n\
         # passwords: a file named by [ingest] station_secrets (chmod 600) or\n\
         # RIVERWATCH_HJ212_PW_<MN or station id>. The internal message key:\n\
         # RIVERWATCH_INTERNAL_KEY or <data-dir>/internal.key (riverwatch keys init).\n\n{services}\n{DEFAULT_NETWORK_TOML}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_file_round_trips_to_the_builtin_network() {
        let text = default_file().unwrap();
        let loaded = parse(&text, Path::new("default.toml")).unwrap();
        let builtin = Registry::builtin().unwrap();
        assert_eq!(loaded.registry.stations(), builtin.stations());
        assert_eq!(loaded.registry.parameters(), builtin.parameters());
        assert_eq!(loaded.config.ingest, IngestConfig::default());
        assert_eq!(loaded.config.mqtt, MqttConfig::default());
        assert_eq!(
            loaded.config.analytics,
            riverwatch_analytics::AnalyticsConfig::default()
        );
        assert_eq!(
            loaded.config.alerts,
            riverwatch_alerts::AlertsConfig::default()
        );
        assert_eq!(
            loaded.config.console,
            riverwatch_console::ConsoleConfig::default()
        );
        assert_eq!(
            loaded.config.reports,
            riverwatch_reports::ReportsConfig::default()
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_line() {
        let err = parse("[ingest]\nclinet_id = \"x\"\n", Path::new("a.toml")).unwrap_err();
        assert!(matches!(err, ConfigError::Syntax { line: 2, .. }), "{err}");
        let err = parse("[ingest]\nmax_batch_readings = 0\n", Path::new("a.toml")).unwrap_err();
        assert!(err.render(Lang::Zh).contains("max_batch_readings"), "{err}");
        let err = parse("[mqtt]\nurl = \"http://x\"\n", Path::new("a.toml")).unwrap_err();
        assert!(err.render(Lang::En).contains("[mqtt]"), "{err}");
        let err = parse(
            "[analytics.joint_control]\nmin_cities_per_province = 0\n",
            Path::new("a.toml"),
        )
        .unwrap_err();
        assert!(err.render(Lang::En).contains("[analytics]"), "{err}");
        let err = parse(
            "[analytics.completeness.expected_interval_secs]\nNOPE = 60\n",
            Path::new("a.toml"),
        )
        .unwrap_err();
        assert!(err.render(Lang::En).contains("NOPE"), "{err}");
        let err = parse("[reports.week]\nweekday = \"mond\"\n", Path::new("a.toml")).unwrap_err();
        assert!(
            err.render(Lang::En).contains("[reports] week.weekday"),
            "{err}"
        );
    }
}
