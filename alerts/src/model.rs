//! The typed records of the alert service: alerts with both provinces' acknowledgement and
//! escalation state, notifications and their delivery state, silences, and audit rows.
//! These are what the store keeps and what [`crate::reader::AlertReader`] hands to the
//! console and the river-chief reports (they serialize to stable snake_case JSON).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use riverwatch_core::events::{Event, Rule, Severity};
use riverwatch_core::{Province, Registry};
use serde::{Deserialize, Serialize};

/// Where an alert's subject is: the registry's view of the station (or nothing for the
/// region), copied into the alert so readers need no registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Place {
    /// Chinese name of the station or city, e.g. `蔡家沟`.
    pub name_zh: String,
    /// Pinyin name, e.g. `Caijiagou`.
    pub name_pinyin: String,
    /// Province operating the station.
    pub province: Province,
    /// City or county, e.g. `扶余市`.
    pub city_zh: String,
    /// Whether the station is a provincial-boundary station.
    pub boundary: bool,
    /// River id, e.g. `lalin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub river: Option<String>,
    /// River name in Chinese, e.g. `拉林河`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub river_zh: Option<String>,
    /// River name in pinyin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub river_pinyin: Option<String>,
    /// Position along the river, km from its head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub river_km: Option<f64>,
}

impl Place {
    /// The registry's view of a station, when it is one.
    pub fn of(registry: &Registry, station: &str) -> Option<Place> {
        let s = registry.station(station)?;
        let river = s.river.as_deref().and_then(|r| registry.river(r));
        Some(Place {
            name_zh: s.name_zh.clone(),
            name_pinyin: s.name_pinyin.clone(),
            province: s.province,
            city_zh: s.city_zh.clone(),
            boundary: s.boundary,
            river: s.river.clone(),
            river_zh: river.map(|r| r.name_zh.clone()),
            river_pinyin: river.map(|r| r.name_pinyin.clone()),
            river_km: s.river_km,
        })
    }
}

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// The condition holds.
    Firing,
    /// The condition ended.
    Resolved,
    /// A one-off informational change (class change, AQI level change): notified, never
    /// resolved, never escalated.
    Notice,
}

impl AlertStatus {
    /// Stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
            AlertStatus::Notice => "notice",
        }
    }

    /// Chinese label.
    pub const fn label_zh(self) -> &'static str {
        match self {
            AlertStatus::Firing => "告警中",
            AlertStatus::Resolved => "已恢复",
            AlertStatus::Notice => "通知",
        }
    }
}

impl FromStr for AlertStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "firing" => Ok(AlertStatus::Firing),
            "resolved" => Ok(AlertStatus::Resolved),
            "notice" => Ok(AlertStatus::Notice),
            other => Err(format!("unknown alert status `{other}`")),
        }
    }
}

/// How a province is concerned by an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A boundary section or a regional event: both provinces are notified as equals.
    Equal,
    /// The province that owns an internal station.
    Owner,
    /// The other province, informed of an internal alert (no escalation).
    InfoCopy,
}

impl Role {
    /// Chinese label.
    pub const fn label_zh(self) -> &'static str {
        match self {
            Role::Equal => "跨界同等通报",
            Role::Owner => "属地负责",
            Role::InfoCopy => "知会抄送",
        }
    }

    /// English label.
    pub const fn label_en(self) -> &'static str {
        match self {
            Role::Equal => "cross-border, notified as equals",
            Role::Owner => "owning province",
            Role::InfoCopy => "information copy",
        }
    }
}

/// One province's escalation state for an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    /// The province.
    pub province: Province,
    /// Highest recipient level notified so far.
    pub level: u8,
    /// When level 0 was first notified (the escalation clock starts then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// When the current level was notified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level_at: Option<DateTime<Utc>>,
}

/// An alert: one fingerprint (rule, subject, parameter) from its first firing event to its
/// resolution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable id (12 hex digits), also the last segment of `{prefix}/alerts/{id}`.
    pub id: String,
    /// `rule:subject[:parameter]`.
    pub fingerprint: String,
    /// The rule.
    pub rule: Rule,
    /// Station id, or `REGION`.
    pub subject: String,
    /// Parameter code for per-parameter rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    /// Firing, resolved or notice.
    pub status: AlertStatus,
    /// Severity of the latest firing event.
    pub severity: Severity,
    /// Provinces concerned.
    pub provinces: Vec<Province>,
    /// Boundary section or regional event: both provinces as equals.
    pub cross_border: bool,
    /// The province that owns the station (none for regional events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Province>,
    /// The registry's view of the subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<Place>,
    /// Observation time of the first firing event (event time).
    pub first_seen: DateTime<Utc>,
    /// Observation time of the latest event.
    pub last_seen: DateTime<Utc>,
    /// Observation time of the resolving event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
    /// Wall-clock time the service opened the alert.
    pub opened_at: DateTime<Utc>,
    /// Wall-clock time of the last change.
    pub updated_at: DateTime<Utc>,
    /// Events applied.
    pub event_count: u32,
    /// The latest firing (or notice) event: values, limits, class vs target, attribution,
    /// incident, summaries.
    pub event: Event,
    /// The resolving event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Event>,
    /// The alert this one is attached to (inhibited by): it is not notified on its own while
    /// that one fires, and is listed in that one's notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inhibited_by: Option<String>,
    /// Why it is attached to `inhibited_by` (absent in stores written before inhibit rules:
    /// read as the incident's downstream alert).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inhibition: Option<Inhibition>,
    /// The alerts attached to this one when it resolved, so its resolution can say how they
    /// stand.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attached_when_resolved: Vec<String>,
    /// Escalation state of each province with an owner or equal role.
    #[serde(default)]
    pub escalation: Vec<Escalation>,
    /// Silences that kept this alert from being notified at some time (each recorded once
    /// in the audit trail).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub muted_by: Vec<String>,
    /// Incremented on every change.
    pub version: u64,
}

/// Why an alert is attached to another one and not notified on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Inhibition {
    /// A later (downstream) alert of a pollution incident, attached to the incident's source.
    Incident {
        /// The incident id.
        incident: String,
    },
    /// An inhibit rule of the configuration (`[[alerts.inhibit_rules]]`).
    Rule {
        /// The rule's name.
        name: String,
        /// The `equal` labels with the values source and target share.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        equal: Vec<(String, String)>,
    },
}

impl Inhibition {
    /// Why, in a few words, in the language.
    pub fn describe(&self, lang: riverwatch_core::Lang) -> String {
        let zh = lang == riverwatch_core::Lang::Zh;
        match self {
            Inhibition::Incident { incident } => {
                if zh {
                    format!("同一污染事件 {incident} 的下游告警")
                } else {
                    format!("downstream alert of incident {incident}")
                }
            }
            Inhibition::Rule { name, equal } => {
                let same = equal
                    .iter()
                    .map(|(l, v)| format!("{l}={v}"))
                    .collect::<Vec<_>>()
                    .join(",");
                match (zh, same.is_empty()) {
                    (true, true) => format!("抑制规则 {name}"),
                    (true, false) => format!("抑制规则 {name}，相同 {same}"),
                    (false, true) => format!("inhibit rule {name}"),
                    (false, false) => format!("inhibit rule {name}, same {same}"),
                }
            }
        }
    }
}

impl Alert {
    /// How `province` is concerned.
    pub fn role_of(&self, province: Province) -> Role {
        if self.cross_border || self.owner.is_none() {
            Role::Equal
        } else if self.owner == Some(province) {
            Role::Owner
        } else {
            Role::InfoCopy
        }
    }

    /// Whether the alert is firing.
    pub fn is_firing(&self) -> bool {
        self.status == AlertStatus::Firing
    }

    /// Escalation state of a province (created on first use).
    pub fn escalation_mut(&mut self, province: Province) -> &mut Escalation {
        let at = match self.escalation.iter().position(|e| e.province == province) {
            Some(i) => i,
            None => {
                self.escalation.push(Escalation {
                    province,
                    level: 0,
                    started_at: None,
                    level_at: None,
                });
                self.escalation.len() - 1
            }
        };
        &mut self.escalation[at]
    }

    /// Escalation state of a province.
    pub fn escalation_of(&self, province: Province) -> Option<&Escalation> {
        self.escalation.iter().find(|e| e.province == province)
    }

    /// The value of a grouping or silencing label (`""` when the alert has none).
    pub fn label(&self, name: &str) -> String {
        match name {
            "rule" => self.rule.as_str().to_string(),
            "subject" => self.subject.clone(),
            "parameter" => self.parameter.clone().unwrap_or_default(),
            "severity" => severity_str(self.severity).to_string(),
            "province" => self
                .provinces
                .iter()
                .map(|p| p.code())
                .collect::<Vec<_>>()
                .join(","),
            "river" => self
                .place
                .as_ref()
                .and_then(|p| p.river.clone())
                .unwrap_or_default(),
            "city" => self
                .place
                .as_ref()
                .map(|p| p.city_zh.clone())
                .unwrap_or_default(),
            "incident" => self.event.incident.clone().unwrap_or_default(),
            "fingerprint" => self.fingerprint.clone(),
            "id" => self.id.clone(),
            _ => String::new(),
        }
    }

    /// Display name of the subject: `蔡家沟（拉林河）`, or the subject id.
    pub fn place_name(&self, lang: riverwatch_core::Lang) -> String {
        match (&self.place, lang) {
            (Some(p), riverwatch_core::Lang::Zh) => match &p.river_zh {
                Some(r) => format!("{}（{r}）", p.name_zh),
                None => p.name_zh.clone(),
            },
            (Some(p), riverwatch_core::Lang::En) => match &p.river_pinyin {
                Some(r) => format!("{} ({r})", p.name_pinyin),
                None => p.name_pinyin.clone(),
            },
            (None, riverwatch_core::Lang::Zh)
                if self.subject == riverwatch_core::events::REGION =>
            {
                "哈长城市群（区域）".to_string()
            }
            (None, riverwatch_core::Lang::En)
                if self.subject == riverwatch_core::events::REGION =>
            {
                "Harbin–Changchun zone (regional)".to_string()
            }
            (None, _) => self.subject.clone(),
        }
    }
}

/// The stable name of a severity (`info`, `warning`, `critical`).
pub const fn severity_str(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    }
}

/// A province's acknowledgement of an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    /// The alert.
    pub alert_id: String,
    /// The province acknowledging for its own side.
    pub province: Province,
    /// Who (name of the duty officer).
    pub by: String,
    /// When (UTC).
    pub at: DateTime<Utc>,
    /// Comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// One province's view of an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvinceState {
    /// The province.
    pub province: Province,
    /// How it is concerned.
    pub role: Role,
    /// Its acknowledgement, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<Acknowledgement>,
    /// Highest escalation level notified.
    pub escalation_level: u8,
}

/// An alert as the console shows it: the alert, both provinces' acknowledgement state, the
/// silences muting it now and the downstream alerts attached to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertView {
    /// The alert.
    #[serde(flatten)]
    pub alert: Alert,
    /// Heilongjiang then Jilin.
    pub provinces_state: Vec<ProvinceState>,
    /// Ids of the active silences matching the alert.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub silenced_by: Vec<String>,
    /// Ids of the downstream alerts of the same incident attached to this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attached: Vec<String>,
}

impl AlertView {
    /// The acknowledgement of one province.
    pub fn ack(&self, province: Province) -> Option<&Acknowledgement> {
        self.provinces_state
            .iter()
            .find(|p| p.province == province)
            .and_then(|p| p.ack.as_ref())
    }
}

/// How a notification travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Email (SMTP relay or outbox file).
    Email,
    /// Webhook (generic JSON, DingTalk, WeCom).
    Webhook,
}

impl Channel {
    /// Stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Webhook => "webhook",
        }
    }
}

impl FromStr for Channel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "email" => Ok(Channel::Email),
            "webhook" => Ok(Channel::Webhook),
            other => Err(format!("unknown channel `{other}`")),
        }
    }
}

/// Delivery state of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Decided, not yet tried.
    Queued,
    /// Tried, failed for a reason that may pass; tried again later.
    Retrying,
    /// Accepted by the relay (or written to the outbox, or answered 2xx by the webhook).
    Sent,
    /// Refused for good (e.g. SMTP 5xx, webhook 4xx); not retried.
    Failed,
    /// Not delivered before its expiry.
    Expired,
}

impl DeliveryStatus {
    /// Stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Queued => "queued",
            DeliveryStatus::Retrying => "retrying",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Expired => "expired",
        }
    }

    /// Chinese label.
    pub const fn label_zh(self) -> &'static str {
        match self {
            DeliveryStatus::Queued => "待发送",
            DeliveryStatus::Retrying => "重试中",
            DeliveryStatus::Sent => "已发送",
            DeliveryStatus::Failed => "发送失败",
            DeliveryStatus::Expired => "已过期",
        }
    }

    /// Whether the sender still has work to do on it.
    pub const fn is_pending(self) -> bool {
        matches!(self, DeliveryStatus::Queued | DeliveryStatus::Retrying)
    }
}

impl FromStr for DeliveryStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "queued" => Ok(DeliveryStatus::Queued),
            "retrying" => Ok(DeliveryStatus::Retrying),
            "sent" => Ok(DeliveryStatus::Sent),
            "failed" => Ok(DeliveryStatus::Failed),
            "expired" => Ok(DeliveryStatus::Expired),
            other => Err(format!("unknown delivery status `{other}`")),
        }
    }
}

/// Why a notification was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// First notification of a group.
    Firing,
    /// The group changed (alerts joined or resolved).
    Update,
    /// Nothing changed; the firing, unacknowledged alerts are sent again.
    Repeat,
    /// Every alert of the notification is resolved.
    Resolved,
    /// Unacknowledged too long: the next recipient level of the province.
    Escalation,
    /// Information copy to the other province.
    InfoCopy,
    /// A river-chief report (河长制报告) with its workbook attached; no alert.
    Report,
}

impl NotificationKind {
    /// Stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            NotificationKind::Firing => "firing",
            NotificationKind::Update => "update",
            NotificationKind::Repeat => "repeat",
            NotificationKind::Resolved => "resolved",
            NotificationKind::Escalation => "escalation",
            NotificationKind::InfoCopy => "info_copy",
            NotificationKind::Report => "report",
        }
    }

    /// Chinese label (email subject prefix).
    pub const fn label_zh(self) -> &'static str {
        match self {
            NotificationKind::Firing => "告警",
            NotificationKind::Update => "告警更新",
            NotificationKind::Repeat => "重复提醒",
            NotificationKind::Resolved => "已恢复",
            NotificationKind::Escalation => "升级告警",
            NotificationKind::InfoCopy => "知会",
            NotificationKind::Report => "报告",
        }
    }

    /// English label.
    pub const fn label_en(self) -> &'static str {
        match self {
            NotificationKind::Firing => "Alert",
            NotificationKind::Update => "Alert update",
            NotificationKind::Repeat => "Reminder",
            NotificationKind::Resolved => "Resolved",
            NotificationKind::Escalation => "Escalated alert",
            NotificationKind::InfoCopy => "For information",
            NotificationKind::Report => "Report",
        }
    }
}

impl FromStr for NotificationKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "firing" => Ok(NotificationKind::Firing),
            "update" => Ok(NotificationKind::Update),
            "repeat" => Ok(NotificationKind::Repeat),
            "resolved" => Ok(NotificationKind::Resolved),
            "escalation" => Ok(NotificationKind::Escalation),
            "info_copy" => Ok(NotificationKind::InfoCopy),
            "report" => Ok(NotificationKind::Report),
            other => Err(format!("unknown notification kind `{other}`")),
        }
    }
}

/// One notification to one recipient over one channel, with its delivery state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Sequence number in the store.
    pub id: i64,
    /// When it was decided (queued).
    pub created_at: DateTime<Utc>,
    /// Recipient id from the configuration.
    pub recipient_id: String,
    /// Recipient display name.
    pub recipient_name: String,
    /// The recipient's province.
    pub province: Province,
    /// How that province is concerned.
    pub role: Role,
    /// Email or webhook.
    pub channel: Channel,
    /// Why it was sent.
    pub kind: NotificationKind,
    /// Email addresses (comma-separated) or the webhook URL without its query.
    pub target: String,
    /// Email subject (or webhook title).
    pub subject: String,
    /// The alerts it carries: those notified, then those listed as attached to them.
    pub alert_ids: Vec<String>,
    /// Delivery state.
    pub status: DeliveryStatus,
    /// Delivery attempts made.
    pub attempts: u32,
    /// When the next attempt is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When it was last tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When it was delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<DateTime<Utc>>,
    /// When it stops being retried.
    pub expires_at: DateTime<Utc>,
    /// The last answer: the SMTP reply, the webhook's HTTP status and body, or the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reply: Option<String>,
    /// The email's Message-ID (stable across retries, so a receiver can drop a duplicate).
    pub message_id: String,
}

/// How a silence matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchOp {
    /// `label=value` (`*` in the value matches any run of characters).
    Eq,
    /// `label!=value`.
    Ne,
}

/// One `label=value` condition of a silence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matcher {
    /// Label name (see [`crate::config::LABELS`]).
    pub label: String,
    /// Comparison.
    pub op: MatchOp,
    /// Value; `*` matches any run of characters.
    pub value: String,
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            MatchOp::Eq => "=",
            MatchOp::Ne => "!=",
        };
        write!(f, "{}{op}{}", self.label, self.value)
    }
}

/// A time-bounded silence: alerts matching every matcher are not notified while it is active.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    /// Id (8 hex digits).
    pub id: String,
    /// Every matcher must hold.
    pub matchers: Vec<Matcher>,
    /// Start (UTC).
    pub starts_at: DateTime<Utc>,
    /// End (UTC).
    pub ends_at: DateTime<Utc>,
    /// Who created it.
    pub created_by: String,
    /// Why (e.g. station under maintenance).
    pub reason: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was ended early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expired_at: Option<DateTime<Utc>>,
    /// Who ended it early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expired_by: Option<String>,
}

/// One row of the hash-chained audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// When (UTC, milliseconds).
    pub at: DateTime<Utc>,
    /// Who: `service`, or the operator named on the command line.
    pub actor: String,
    /// What happened, e.g. `alert_opened`, `notification_sent`, `ack`.
    pub kind: String,
    /// The alert concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_id: Option<String>,
    /// The province concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub province: Option<Province>,
    /// Details as canonical JSON text.
    pub detail: String,
    /// Hash of the previous row (64 zeros for the first).
    pub prev_hash: String,
    /// SHA-256 of `prev_hash` and this row's canonical content, hex.
    pub hash: String,
}
