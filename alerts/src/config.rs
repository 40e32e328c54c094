//! The `[alerts]` section: who is notified in each province (with escalation levels), how
//! alerts are grouped and repeated, how deliveries are retried, and where email goes (an SMTP
//! relay, or `.eml` files in `<data-dir>/outbox/` by default). The default recipients are
//! data: `core/network/recipients.toml`, embedded as [`DEFAULT_RECIPIENTS_TOML`].
//!
//! Validation is pure ([`AlertsConfig::validate`]); secrets (SMTP user name and password)
//! come from the environment only and never appear in `Debug` output.
//!
//! The recipients are in `config/routing.rs`, the checks in `config/validate.rs`.

mod routing;
mod validate;

use std::fmt;
use std::time::Duration;

use riverwatch_core::Lang;
use riverwatch_core::events::Severity;
use serde::{Deserialize, Serialize};

pub use routing::{
    ProvinceRouting, Recipient, RecipientKind, Routing, Webhook, WebhookFormat, redact_url,
};
pub use validate::ConfigError;

/// Environment variable holding the SMTP user name.
pub const ENV_SMTP_USERNAME: &str = "RIVERWATCH_SMTP_USERNAME";
/// Environment variable holding the SMTP password.
pub const ENV_SMTP_PASSWORD: &str = "RIVERWATCH_SMTP_PASSWORD";

/// Labels an alert can be grouped and silenced by.
pub const LABELS: [&str; 10] = [
    "rule",
    "subject",
    "parameter",
    "severity",
    "province",
    "river",
    "city",
    "incident",
    "fingerprint",
    "id",
];

/// The built-in recipients of both provinces, the default of `[alerts.routing]`: placeholder
/// offices (example.org addresses) in the tables of the configuration file, kept as data
/// beside the built-in network.
pub const DEFAULT_RECIPIENTS_TOML: &str = include_str!("../../core/network/recipients.toml");

/// `group_by = ["..."]`: every alert in a group of its own (as in Alertmanager).
pub const GROUP_BY_ALL: &str = "...";

/// The alert service settings (`[alerts]`).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// Stable MQTT client id of the event subscriber; the broker keeps its session (and the
    /// events not yet acknowledged) under this id. Default `riverwatch-alerts`.
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// Language of emails and webhook texts; the top-level `lang` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<Lang>,
    /// SQLite file of the alert store, relative to the data directory. Default `alerts.db`.
    #[serde(default = "default_database")]
    pub database: String,
    /// SMTP relay: `smtp://host:port` (STARTTLS when the relay offers it; `?tls=required`
    /// insists on it), or `smtps://host:port` (TLS from the first byte). Credentials come
    /// from `RIVERWATCH_SMTP_USERNAME` / `RIVERWATCH_SMTP_PASSWORD`. Absent (the default):
    /// emails are written as `.eml` files to `<data-dir>/outbox/`. `--smtp` overrides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_url: Option<String>,
    /// Sender address. Default `riverwatch 告警 <alerts@riverwatch.example.org>`.
    #[serde(default = "default_from")]
    pub from: String,
    /// Base URL of the console; emails link to `{console_url}/alerts/{id}`. Default
    /// `http://127.0.0.1:8080`.
    #[serde(default = "default_console_url")]
    pub console_url: String,
    /// Events below this severity are recorded, published and listed but not notified.
    /// Default `warning`.
    #[serde(default = "default_min_severity")]
    pub min_severity: Severity,
    /// Labels whose values make a group (`rule`, `subject`, `parameter`, `severity`,
    /// `province`, `river`, `city`, `incident`); `["..."]` puts every alert in its own group.
    /// Groups are per recipient. Default `["rule", "subject"]`.
    #[serde(default = "default_group_by")]
    pub group_by: Vec<String>,
    /// Inhibition (Alertmanager's `inhibit_rules`): while an alert matching a rule's
    /// `source_matchers` fires, alerts matching its `target_matchers` with the same values of
    /// the `equal` labels are not notified on their own; they are attached to the source and
    /// listed in its notifications. Default: one rule, `parameter_over_section`: a section's
    /// class alert (`rule=section_below_target`) waits behind a parameter alert of the same
    /// section (`rule=parameter_exceedance`, `equal = ["subject"]`), so one exceedance makes
    /// one email per recipient. `inhibit_rules = []` notifies both.
    #[serde(default = "default_inhibit_rules")]
    pub inhibit_rules: Vec<InhibitRuleConfig>,
    /// How long a new group waits for more alerts before its first notification, seconds.
    /// Default 30.
    #[serde(default = "default_group_wait_secs")]
    pub group_wait_secs: u64,
    /// How long a group waits after a notification before notifying about changes (new
    /// alerts, resolutions), seconds. Default 300.
    #[serde(default = "default_group_interval_secs")]
    pub group_interval_secs: u64,
    /// How long after a notification the same still-firing, unacknowledged alerts are sent
    /// again, seconds. Default 14400 (4 h).
    #[serde(default = "default_repeat_interval_secs")]
    pub repeat_interval_secs: u64,
    /// First retry delay of a failed delivery, seconds; doubles up to `retry_max_secs`.
    /// Default 5.
    #[serde(default = "default_retry_initial_secs")]
    pub retry_initial_secs: u64,
    /// Longest retry delay, seconds. Default 300.
    #[serde(default = "default_retry_max_secs")]
    pub retry_max_secs: u64,
    /// A notification not delivered this long after it was queued expires (recorded as
    /// `expired`), seconds. Default 86400 (24 h).
    #[serde(default = "default_expire_after_secs")]
    pub expire_after_secs: u64,
    /// How often timers (group waits, repeats, escalation) and the acknowledgements and
    /// silences written by the command line are checked, milliseconds. Default 1000.
    #[serde(default = "default_tick_ms")]
    pub tick_ms: u64,
    /// Timeout of one SMTP conversation, seconds. Default 30.
    #[serde(default = "default_smtp_timeout_secs")]
    pub smtp_timeout_secs: u64,
    /// Reach the relay (`smtp://` or `smtps://`) over a socket with TCP_NODELAY (Nagle off;
    /// otherwise each email waits about 40 ms for the relay's delayed ACK). `false` uses
    /// lettre's own pooled transport, with Nagle on. Default true.
    #[serde(default = "default_smtp_nodelay")]
    pub smtp_nodelay: bool,
    /// Timeout of one webhook request, seconds. Default 10.
    #[serde(default = "default_webhook_timeout_secs")]
    pub webhook_timeout_secs: u64,
    /// Recipients of each province.
    #[serde(default)]
    pub routing: Routing,
    /// SMTP user name and password, from the environment only.
    #[serde(skip)]
    pub smtp_credentials: Option<SmtpCredentials>,
}

/// SMTP credentials. The password never appears in `Debug` output.
#[derive(Clone, PartialEq)]
pub struct SmtpCredentials {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl fmt::Debug for SmtpCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl fmt::Debug for AlertsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlertsConfig")
            .field("client_id", &self.client_id)
            .field("lang", &self.lang)
            .field("database", &self.database)
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("from", &self.from)
            .field("console_url", &self.console_url)
            .field("min_severity", &self.min_severity)
            .field("group_by", &self.group_by)
            .field("inhibit_rules", &self.inhibit_rules)
            .field("group_wait_secs", &self.group_wait_secs)
            .field("group_interval_secs", &self.group_interval_secs)
            .field("repeat_interval_secs", &self.repeat_interval_secs)
            .field("retry_initial_secs", &self.retry_initial_secs)
            .field("retry_max_secs", &self.retry_max_secs)
            .field("expire_after_secs", &self.expire_after_secs)
            .field("tick_ms", &self.tick_ms)
            .field("routing", &self.routing)
            .field("smtp_credentials", &self.smtp_credentials)
            .finish()
    }
}

/// One inhibition rule (`[[alerts.inhibit_rules]]`), with Alertmanager's semantics: an
/// alert matching every target matcher is inhibited while another alert that matches every
/// source matcher fires and has the same values of the `equal` labels. An alert that matches
/// both sides cannot be inhibited by another alert that does too (nor by itself), so a rule
/// never silences both of two alerts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRuleConfig {
    /// Name shown with the alerts the rule inhibits (`alerts list`, `alerts show`, emails).
    pub name: String,
    /// Matchers of the inhibiting alert: `label=value` or `label!=value` (`*` matches any
    /// run of characters); every one must hold.
    pub source_matchers: Vec<String>,
    /// Matchers of the inhibited alert, as `source_matchers`.
    pub target_matchers: Vec<String>,
    /// Labels whose values source and target must share (e.g. `subject`: the same station).
    #[serde(default)]
    pub equal: Vec<String>,
}

fn default_client_id() -> String {
    "riverwatch-alerts".to_string()
}
fn default_database() -> String {
    "alerts.db".to_string()
}
fn default_from() -> String {
    "riverwatch 告警 <alerts@riverwatch.example.org>".to_string()
}
fn default_console_url() -> String {
    "http://127.0.0.1:8080".to_string()
}
const fn default_min_severity() -> Severity {
    Severity::Warning
}
fn default_group_by() -> Vec<String> {
    vec!["rule".to_string(), "subject".to_string()]
}
/// Name of the default inhibition rule.
pub const PARAMETER_OVER_SECTION: &str = "parameter_over_section";

fn default_inhibit_rules() -> Vec<InhibitRuleConfig> {
    vec![InhibitRuleConfig {
        name: PARAMETER_OVER_SECTION.to_string(),
        source_matchers: vec!["rule=parameter_exceedance".to_string()],
        target_matchers: vec!["rule=section_below_target".to_string()],
        equal: vec!["subject".to_string()],
    }]
}
const fn default_group_wait_secs() -> u64 {
    30
}
const fn default_group_interval_secs() -> u64 {
    300
}
const fn default_repeat_interval_secs() -> u64 {
    4 * 3600
}
const fn default_retry_initial_secs() -> u64 {
    5
}
const fn default_retry_max_secs() -> u64 {
    300
}
const fn default_expire_after_secs() -> u64 {
    24 * 3600
}
const fn default_tick_ms() -> u64 {
    1000
}
const fn default_smtp_timeout_secs() -> u64 {
    30
}
const fn default_smtp_nodelay() -> bool {
    true
}
const fn default_webhook_timeout_secs() -> u64 {
    10
}
fn default_escalate_after_secs() -> Vec<u64> {
    vec![900, 1800]
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            client_id: default_client_id(),
            lang: None,
            database: default_database(),
            smtp_url: None,
            from: default_from(),
            console_url: default_console_url(),
            min_severity: default_min_severity(),
            group_by: default_group_by(),
            inhibit_rules: default_inhibit_rules(),
            group_wait_secs: default_group_wait_secs(),
            group_interval_secs: default_group_interval_secs(),
            repeat_interval_secs: default_repeat_interval_secs(),
            retry_initial_secs: default_retry_initial_secs(),
            retry_max_secs: default_retry_max_secs(),
            expire_after_secs: default_expire_after_secs(),
            tick_ms: default_tick_ms(),
            smtp_timeout_secs: default_smtp_timeout_secs(),
            smtp_nodelay: default_smtp_nodelay(),
            webhook_timeout_secs: default_webhook_timeout_secs(),
            routing: Routing::default(),
            smtp_credentials: None,
        }
    }
}

/// How email leaves the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailTransport {
    /// `.eml` files in `<data-dir>/outbox/`.
    Outbox,
    /// An SMTP relay at this URL (credentials from the environment).
    Smtp(String),
}

impl AlertsConfig {
    /// Fast settings for tests: short waits and intervals, quick retries.
    pub fn test_config() -> Self {
        Self {
            group_wait_secs: 1,
            group_interval_secs: 2,
            repeat_interval_secs: 3600,
            retry_initial_secs: 1,
            retry_max_secs: 2,
            expire_after_secs: 600,
            tick_ms: 100,
            smtp_timeout_secs: 5,
            webhook_timeout_secs: 5,
            ..Self::default()
        }
    }

    /// Reads the SMTP user name and password from the environment.
    ///
    /// # Errors
    /// When only one of the two is set.
    pub fn load_credentials_from_env(&mut self) -> Result<(), ConfigError> {
        let user = std::env::var(ENV_SMTP_USERNAME)
            .ok()
            .filter(|s| !s.is_empty());
        let pass = std::env::var(ENV_SMTP_PASSWORD)
            .ok()
            .filter(|s| !s.is_empty());
        self.smtp_credentials = match (user, pass) {
            (Some(username), Some(password)) => Some(SmtpCredentials { username, password }),
            (None, None) => None,
            _ => return Err(ConfigError::HalfCredentials),
        };
        Ok(())
    }

    /// Where email goes.
    pub fn transport(&self) -> EmailTransport {
        match self.smtp_url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => EmailTransport::Smtp(url.to_string()),
            _ => EmailTransport::Outbox,
        }
    }

    /// The group wait.
    pub fn group_wait(&self) -> Duration {
        Duration::from_secs(self.group_wait_secs)
    }

    /// The group interval.
    pub fn group_interval(&self) -> Duration {
        Duration::from_secs(self.group_interval_secs)
    }

    /// The repeat interval.
    pub fn repeat_interval(&self) -> Duration {
        Duration::from_secs(self.repeat_interval_secs)
    }
}

#[cfg(test)]
mod tests;
