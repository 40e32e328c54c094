//! The simulator's error type.

use std::path::PathBuf;

/// Everything that can go wrong while loading a scenario, simulating, recording or replaying.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A scenario name that is neither built in nor a readable file.
    #[error("unknown scenario `{0}` (not built in and not a file)")]
    UnknownScenario(String),
    /// A scenario file that does not parse.
    #[error("scenario {origin}: {message}")]
    ScenarioSyntax {
        /// File or built-in name.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// A scenario that parses but does not fit the station registry or is inconsistent.
    #[error("scenario {scenario}: {message}")]
    InvalidScenario {
        /// Scenario name.
        scenario: String,
        /// What is wrong.
        message: String,
    },
    /// A run configuration that cannot work (e.g. a recording without an end).
    #[error("invalid simulation settings: {0}")]
    Config(String),
    /// Broker settings rejected before connecting.
    #[error("MQTT settings: {0}")]
    Mqtt(#[from] riverwatch_core::mqtt::MqttConfigError),
    /// The MQTT client's request channel closed (its event loop stopped).
    #[error("MQTT client stopped: {0}")]
    MqttClient(String),
    /// Reading or writing a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A recording that cannot be read.
    #[error("recording {path}: {message}")]
    Recording {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Parquet via polars.
    #[error("parquet {path}: {message}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The polars error text.
        message: String,
    },
    /// Serialising the manifest.
    #[error("manifest: {0}")]
    Json(#[from] serde_json::Error),
    /// A blocking task panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(String),
}

impl Error {
    /// Whether trying again later may succeed (a broker or file system problem), as opposed
    /// to a mistake in the scenario or the settings.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::MqttClient(_) | Error::Io { .. } | Error::Task(_)
        )
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(scenario: &str, message: impl Into<String>) -> Self {
        Error::InvalidScenario {
            scenario: scenario.to_string(),
            message: message.into(),
        }
    }
}

/// Result with the simulator's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
