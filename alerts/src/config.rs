//! The `[alerts]` section: who is notified in each province (with escalation levels), how
//! alerts are grouped and repeated, how deliveries are retried, and where email goes (an SMTP
//! relay, or `.eml` files in `<data-dir>/outbox/` by default). The default recipients are
//! data: `core/network/recipients.toml`, embedded as [`DEFAULT_RECIPIENTS_TOML`].
//!
//! Validation is pure ([`AlertsConfig::validate`]); secrets (SMTP user name and password)
//! come from the environment only and never appear in `Debug` output.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::LazyLock;
use std::time::Duration;

use riverwatch_core::events::Severity;
use riverwatch_core::{Lang, Province};
use serde::{Deserialize, Serialize};

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

/// The recipients of both provinces (`[alerts.routing.HLJ]`, `[alerts.routing.JL]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    /// Heilongjiang.
    #[serde(rename = "HLJ", default = "default_hlj")]
    pub hlj: ProvinceRouting,
    /// Jilin.
    #[serde(rename = "JL", default = "default_jl")]
    pub jl: ProvinceRouting,
}

impl Default for Routing {
    /// The built-in recipients ([`DEFAULT_RECIPIENTS_TOML`]).
    ///
    /// # Panics
    /// Only if the embedded file does not parse, which its unit test rules out (the file is
    /// fixed at compile time; nothing read at run time reaches this).
    fn default() -> Self {
        static BUILTIN: LazyLock<Routing> = LazyLock::new(|| {
            #[allow(clippy::expect_used)] // compile-time data, checked by a unit test
            let file: BuiltinRouting = toml::from_str(DEFAULT_RECIPIENTS_TOML)
                .expect("the built-in recipients.toml parses (see its unit test)");
            Routing {
                hlj: file.hlj,
                jl: file.jl,
            }
        });
        BUILTIN.clone()
    }
}

/// The shape of [`DEFAULT_RECIPIENTS_TOML`]: [`Routing`] with both provinces required, so a
/// province missing from the file is a parse error rather than a fall-back to this same
/// default.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BuiltinRouting {
    #[serde(rename = "HLJ")]
    hlj: ProvinceRouting,
    #[serde(rename = "JL")]
    jl: ProvinceRouting,
}

impl Routing {
    /// The routing of one province.
    pub fn province(&self, p: Province) -> &ProvinceRouting {
        match p {
            Province::Heilongjiang => &self.hlj,
            Province::Jilin => &self.jl,
        }
    }

    /// Every recipient of both provinces with its province.
    pub fn all(&self) -> impl Iterator<Item = (Province, &Recipient)> {
        Province::ALL
            .into_iter()
            .flat_map(move |p| self.province(p).recipients.iter().map(move |r| (p, r)))
    }

    /// A recipient by id.
    pub fn recipient(&self, id: &str) -> Option<(Province, &Recipient)> {
        self.all().find(|(_, r)| r.id == id)
    }
}

/// One province's recipients and escalation delays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvinceRouting {
    /// Escalation: while this province has not acknowledged a firing alert, level `n`
    /// recipients are notified `escalate_after_secs[n-1]` seconds after level `n-1` was.
    /// Default `[900, 1800]` (level 1 after 15 min, level 2 after another 30 min).
    #[serde(default = "default_escalate_after_secs")]
    pub escalate_after_secs: Vec<u64>,
    /// The recipients (`[[alerts.routing.HLJ.recipients]]`).
    #[serde(default)]
    pub recipients: Vec<Recipient>,
}

/// What kind of office a recipient is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientKind {
    /// Provincial department of ecology and environment (生态环境厅).
    Department,
    /// City or county bureau (市/县生态环境局).
    CityBureau,
    /// River-chief office (河长办).
    RiverChief,
    /// Anyone else.
    Other,
}

impl RecipientKind {
    /// Chinese label.
    pub const fn label_zh(self) -> &'static str {
        match self {
            RecipientKind::Department => "省生态环境厅",
            RecipientKind::CityBureau => "市县生态环境局",
            RecipientKind::RiverChief => "河长办",
            RecipientKind::Other => "其他",
        }
    }
}

/// One recipient: an office with email addresses and an optional group-robot webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipient {
    /// Stable id, unique across both provinces (the notification log names it).
    pub id: String,
    /// Display name, e.g. `黑龙江省生态环境厅应急值班室`.
    pub name: String,
    /// Kind of office.
    pub kind: RecipientKind,
    /// Escalation level: 0 is notified first; level `n` only after escalation. Default 0.
    #[serde(default)]
    pub level: u8,
    /// Email addresses (one message to all of them).
    #[serde(default)]
    pub email: Vec<String>,
    /// Group-robot or generic webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<Webhook>,
    /// Only alerts of stations in these cities (prefix match on the registry's `city_zh`,
    /// so `哈尔滨市` covers `哈尔滨市双城区`); empty: every city.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cities: Vec<String>,
    /// Only alerts of stations on these rivers (registry river ids); empty: every river.
    /// Regional events carry no river and reach only recipients without this filter.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rivers: Vec<String>,
    /// Receives the information copy of the other province's internal alerts. Default false.
    #[serde(default)]
    pub info_copy: bool,
    /// Only alerts at least this severe; the service's `min_severity` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_severity: Option<Severity>,
}

/// A webhook target.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// URL (`http://` or `https://`). Robot URLs carry an access token in the query, so the
    /// query is never logged or shown.
    pub url: String,
    /// Body format. Default `generic`.
    #[serde(default)]
    pub format: WebhookFormat,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &redact_url(&self.url))
            .field("format", &self.format)
            .finish()
    }
}

/// The body a webhook receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// riverwatch's JSON: the notification with its alerts as typed records.
    #[default]
    Generic,
    /// DingTalk group robot (钉钉群机器人), markdown message.
    Dingtalk,
    /// WeCom group robot (企业微信群机器人), markdown message.
    Wecom,
}

/// A URL with user info and query removed, for logs and the notification log.
pub fn redact_url(url: &str) -> String {
    let no_query = url.split(['?', '#']).next().unwrap_or(url);
    match no_query.split_once("://") {
        Some((scheme, rest)) => {
            let rest = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
            format!("{scheme}://{rest}")
        }
        None => no_query.to_string(),
    }
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
fn default_hlj() -> ProvinceRouting {
    Routing::default().hlj
}
fn default_jl() -> ProvinceRouting {
    Routing::default().jl
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

/// A configuration problem found before anything starts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting is out of its range or malformed.
    #[error("{field}: {message}")]
    Invalid {
        /// The setting, e.g. `routing.HLJ.recipients[2].email`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Only one of the SMTP user name and password is set.
    #[error("set both {ENV_SMTP_USERNAME} and {ENV_SMTP_PASSWORD}, or neither")]
    HalfCredentials,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        message: message.into(),
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

    /// Pure checks of every setting.
    ///
    /// # Errors
    /// The first problem found, naming the setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let id_ok = (1..=64).contains(&self.client_id.len())
            && self
                .client_id
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'+' && b != b'#');
        if !id_ok {
            return Err(invalid(
                "client_id",
                "must be 1–64 printable ASCII characters without spaces, + or #",
            ));
        }
        if self.database.trim().is_empty() {
            return Err(invalid("database", "must name a file"));
        }
        if let EmailTransport::Smtp(url) = self.transport() {
            check_smtp_url(&url, self.smtp_credentials.is_some())
                .map_err(|m| invalid("smtp_url", m))?;
        }
        if self.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(invalid(
                "from",
                format!("`{}` is not a mail address", self.from),
            ));
        }
        if !(self.console_url.starts_with("http://") || self.console_url.starts_with("https://")) {
            return Err(invalid(
                "console_url",
                "must start with http:// or https://",
            ));
        }
        if self.group_by.is_empty() {
            return Err(invalid("group_by", "name at least one label, or \"...\""));
        }
        for label in &self.group_by {
            if label != GROUP_BY_ALL && !LABELS.contains(&label.as_str()) {
                return Err(invalid(
                    "group_by",
                    format!("unknown label `{label}` (known: {})", LABELS.join(", ")),
                ));
            }
        }
        let mut names = BTreeSet::new();
        for (i, rule) in self.inhibit_rules.iter().enumerate() {
            let field = |f: &str| format!("inhibit_rules[{i}].{f}");
            if rule.name.trim().is_empty() {
                return Err(invalid(field("name"), "give the rule a name"));
            }
            if !names.insert(rule.name.as_str()) {
                return Err(invalid(
                    field("name"),
                    format!("`{}` is used twice", rule.name),
                ));
            }
            crate::inhibit::InhibitRule::from_config(rule)
                .map_err(|(f, m)| invalid(field(f), m))?;
        }
        if self.group_interval_secs == 0 {
            return Err(invalid("group_interval_secs", "must be at least 1"));
        }
        if self.repeat_interval_secs < self.group_interval_secs {
            return Err(invalid(
                "repeat_interval_secs",
                "must be at least group_interval_secs",
            ));
        }
        if self.retry_initial_secs == 0 || self.retry_max_secs < self.retry_initial_secs {
            return Err(invalid(
                "retry_initial_secs",
                "must be at least 1 and at most retry_max_secs",
            ));
        }
        if self.expire_after_secs == 0 {
            return Err(invalid("expire_after_secs", "must be at least 1"));
        }
        if !(10..=60_000).contains(&self.tick_ms) {
            return Err(invalid("tick_ms", "must be between 10 and 60000"));
        }
        if self.smtp_timeout_secs == 0 || self.webhook_timeout_secs == 0 {
            return Err(invalid(
                "smtp_timeout_secs",
                "timeouts must be at least 1 s",
            ));
        }
        let mut ids = BTreeSet::new();
        for p in Province::ALL {
            let routing = self.routing.province(p);
            let levels = routing.escalate_after_secs.len();
            for (i, r) in routing.recipients.iter().enumerate() {
                let field = |f: &str| format!("routing.{p}.recipients[{i}].{f}");
                if r.id.is_empty()
                    || !r
                        .id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    return Err(invalid(field("id"), "use letters, digits, - and _"));
                }
                if !ids.insert(r.id.clone()) {
                    return Err(invalid(field("id"), format!("`{}` is used twice", r.id)));
                }
                if r.email.is_empty() && r.webhook.is_none() {
                    return Err(invalid(
                        field("email"),
                        "give an email address or a webhook",
                    ));
                }
                for addr in &r.email {
                    if addr.parse::<lettre::Address>().is_err() {
                        return Err(invalid(
                            field("email"),
                            format!("`{addr}` is not a mail address"),
                        ));
                    }
                }
                if let Some(w) = &r.webhook
                    && !(w.url.starts_with("http://") || w.url.starts_with("https://"))
                {
                    return Err(invalid(field("webhook.url"), "must be http:// or https://"));
                }
                if usize::from(r.level) > levels {
                    return Err(invalid(
                        field("level"),
                        format!(
                            "level {} needs {} escalation delays in routing.{p}.escalate_after_secs",
                            r.level, r.level
                        ),
                    ));
                }
            }
            if !routing.recipients.iter().any(|r| r.level == 0) {
                return Err(invalid(
                    format!("routing.{p}.recipients"),
                    "at least one recipient of level 0 is needed",
                ));
            }
        }
        Ok(())
    }
}

/// Checks an SMTP relay URL without connecting.
fn check_smtp_url(url: &str, with_credentials: bool) -> Result<(), String> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        format!(
            "`{}` is not smtp://host:port or smtps://host:port",
            redact_url(url)
        )
    })?;
    if scheme != "smtp" && scheme != "smtps" {
        return Err(format!("unknown scheme `{scheme}` (smtp or smtps)"));
    }
    if rest.contains('@') {
        return Err(format!(
            "put credentials in {ENV_SMTP_USERNAME} / {ENV_SMTP_PASSWORD}, not in the URL"
        ));
    }
    let (hostport, query) = rest.split_once('?').unwrap_or((rest, ""));
    let hostport = hostport.trim_end_matches('/');
    let host = match hostport.rsplit_once(':') {
        Some((h, p)) => {
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("bad port `{p}`"))?;
            h
        }
        None => hostport,
    };
    if host.is_empty() || host.contains('/') {
        return Err("no host".to_string());
    }
    let tls = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("tls="))
        .unwrap_or("");
    if !matches!(tls, "" | "required" | "opportunistic") {
        return Err(format!(
            "tls=`{tls}`: use tls=required or tls=opportunistic"
        ));
    }
    if scheme == "smtp" && with_credentials && tls != "required" {
        return Err(
            "credentials are only sent over TLS: use smtps://, or smtp://…?tls=required"
                .to_string(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip_through_toml() {
        let cfg = AlertsConfig::default();
        cfg.validate().unwrap();
        let text = toml::to_string(&cfg).unwrap();
        let back: AlertsConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, cfg);
        assert_eq!(cfg.transport(), EmailTransport::Outbox);
        assert!(text.contains("duty@hlj.example.org"), "{text}");
        assert!(text.contains("duty@jl.example.org"), "{text}");
        AlertsConfig::test_config().validate().unwrap();
    }

    #[test]
    fn the_builtin_recipients_parse_and_every_province_has_a_list() {
        let file: BuiltinRouting = toml::from_str(DEFAULT_RECIPIENTS_TOML).unwrap();
        let routing = Routing {
            hlj: file.hlj,
            jl: file.jl,
        };
        assert_eq!(routing, Routing::default());
        for p in Province::ALL {
            let list = &routing.province(p).recipients;
            assert!(!list.is_empty(), "{p} has no recipients");
            assert!(list.iter().any(|r| r.level == 0), "{p}: nobody at level 0");
            assert!(
                list.iter().all(|r| !r.email.is_empty()),
                "{p}: a recipient without an address"
            );
            assert!(
                list.iter().any(|r| r.info_copy),
                "{p}: nobody receives the other province's information copies"
            );
        }
        AlertsConfig::default().validate().unwrap();
    }

    #[test]
    fn a_partial_section_keeps_the_default_recipients() {
        let cfg: AlertsConfig = toml::from_str("group_wait_secs = 10\n").unwrap();
        assert_eq!(cfg.group_wait_secs, 10);
        assert_eq!(cfg.routing, Routing::default());
    }

    #[test]
    fn rejects_bad_settings_naming_the_field() {
        let mut cfg = AlertsConfig::default();
        cfg.routing.hlj.recipients[1].email = vec!["not an address".into()];
        let err = cfg.validate().unwrap_err();
        assert!(
            err.to_string().contains("routing.HLJ.recipients[1].email"),
            "{err}"
        );

        let mut cfg = AlertsConfig::default();
        cfg.routing.jl.recipients[0].id = "hlj-duty".into();
        assert!(cfg.validate().unwrap_err().to_string().contains("twice"));

        let mut cfg = AlertsConfig::default();
        cfg.routing.jl.escalate_after_secs = vec![60];
        assert!(cfg.validate().unwrap_err().to_string().contains("level 2"));

        let cfg = AlertsConfig {
            group_by: vec!["colour".into()],
            ..AlertsConfig::default()
        };
        assert!(cfg.validate().is_err());

        for bad in [
            "http://x",
            "smtp://",
            "smtp://u:p@h:25",
            "smtp://h:0",
            "smtp://h?tls=maybe",
        ] {
            let cfg = AlertsConfig {
                smtp_url: Some(bad.into()),
                ..AlertsConfig::default()
            };
            assert!(cfg.validate().is_err(), "{bad}");
        }
        for good in [
            "smtp://127.0.0.1:2525",
            "smtps://relay.example.org",
            "smtp://h:587?tls=required",
        ] {
            let cfg = AlertsConfig {
                smtp_url: Some(good.into()),
                ..AlertsConfig::default()
            };
            cfg.validate().unwrap();
        }
        let cfg = AlertsConfig {
            smtp_url: Some("smtp://relay:25".into()),
            smtp_credentials: Some(SmtpCredentials {
                username: "u".into(),
                password: "p".into(),
            }),
            ..AlertsConfig::default()
        };
        assert!(cfg.validate().unwrap_err().to_string().contains("TLS"));
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let mut cfg = AlertsConfig {
            smtp_url: Some("smtps://relay.example.org:465".into()),
            smtp_credentials: Some(SmtpCredentials {
                username: "hlj-alerts".into(),
                password: "s3cret-pw".into(),
            }),
            ..AlertsConfig::default()
        };
        cfg.routing.hlj.recipients[0].webhook = Some(Webhook {
            url: "https://oapi.dingtalk.com/robot/send?access_token=tok-123".into(),
            format: WebhookFormat::Dingtalk,
        });
        let shown = format!("{cfg:?}");
        assert!(shown.contains("hlj-alerts"));
        assert!(!shown.contains("s3cret-pw"), "{shown}");
        assert!(!shown.contains("tok-123"), "{shown}");
    }
}
