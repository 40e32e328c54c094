//! `[alerts.routing]`: the recipients of each province (duty offices, people and group
//! robots) with their escalation levels and webhooks; the built-in list is
//! [`super::DEFAULT_RECIPIENTS_TOML`].

use std::fmt;
use std::sync::LazyLock;

use riverwatch_core::Province;
use riverwatch_core::events::Severity;
use serde::{Deserialize, Serialize};

use super::{DEFAULT_RECIPIENTS_TOML, default_escalate_after_secs};

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
pub(super) struct BuiltinRouting {
    #[serde(rename = "HLJ")]
    pub(super) hlj: ProvinceRouting,
    #[serde(rename = "JL")]
    pub(super) jl: ProvinceRouting,
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

fn default_hlj() -> ProvinceRouting {
    Routing::default().hlj
}
fn default_jl() -> ProvinceRouting {
    Routing::default().jl
}
