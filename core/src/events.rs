//! Evaluation events: what analytics publishes on `{prefix}/events/{subject}` and the alert
//! service turns into alerts. An event says that something *started*, *changed* or *ended*
//! for one rule and one subject (a station, a city, or the region), with the values, limits
//! and standard edition that decided it.
//!
//! The same `(rule, subject, parameter)` is an alert's fingerprint, so a `Firing` event and
//! the `Resolved` event that ends it name the same three things.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::class::{Province, WaterClass};

/// The rule an event comes from. Stable snake_case names: alert routing and silences match
/// on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// A water section's class is worse than its target (section level, single-factor).
    SectionBelowTarget,
    /// One parameter of a water section exceeds the limit of the section's target class.
    ParameterExceedance,
    /// A water section's class changed (informational).
    ClassChange,
    /// A city's AQI level changed (hourly).
    AqiLevel,
    /// A city's heavy-pollution warning level (blue/yellow/orange/red).
    HeavyPollutionWarning,
    /// Cities in both provinces at heavy pollution together: regional joint control.
    JointControl,
    /// An outfall exceeds its discharge limit.
    DischargeExceedance,
    /// A gauge's water level is above its warning or guaranteed level.
    FloodLevel,
    /// A station's valid-data rate fell below the required rate.
    DataCompleteness,
}

impl Rule {
    /// Every rule.
    pub const ALL: [Rule; 9] = [
        Rule::SectionBelowTarget,
        Rule::ParameterExceedance,
        Rule::ClassChange,
        Rule::AqiLevel,
        Rule::HeavyPollutionWarning,
        Rule::JointControl,
        Rule::DischargeExceedance,
        Rule::FloodLevel,
        Rule::DataCompleteness,
    ];

    /// The stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Rule::SectionBelowTarget => "section_below_target",
            Rule::ParameterExceedance => "parameter_exceedance",
            Rule::ClassChange => "class_change",
            Rule::AqiLevel => "aqi_level",
            Rule::HeavyPollutionWarning => "heavy_pollution_warning",
            Rule::JointControl => "joint_control",
            Rule::DischargeExceedance => "discharge_exceedance",
            Rule::FloodLevel => "flood_level",
            Rule::DataCompleteness => "data_completeness",
        }
    }

    /// Chinese name.
    pub const fn label_zh(self) -> &'static str {
        match self {
            Rule::SectionBelowTarget => "断面水质未达目标",
            Rule::ParameterExceedance => "水质指标超标",
            Rule::ClassChange => "断面水质类别变化",
            Rule::AqiLevel => "空气质量级别变化",
            Rule::HeavyPollutionWarning => "重污染天气预警",
            Rule::JointControl => "区域联防联控",
            Rule::DischargeExceedance => "排口超标排放",
            Rule::FloodLevel => "水位超警",
            Rule::DataCompleteness => "数据有效率不足",
        }
    }

    /// English name.
    pub const fn label_en(self) -> &'static str {
        match self {
            Rule::SectionBelowTarget => "Section below its water-quality target",
            Rule::ParameterExceedance => "Water-quality parameter exceedance",
            Rule::ClassChange => "Section class change",
            Rule::AqiLevel => "Air-quality level change",
            Rule::HeavyPollutionWarning => "Heavy-pollution weather warning",
            Rule::JointControl => "Regional joint control",
            Rule::DischargeExceedance => "Outfall discharge exceedance",
            Rule::FloodLevel => "Water level above warning",
            Rule::DataCompleteness => "Low valid-data rate",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the condition started (or still holds with new values), changed, or ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// The condition holds (start, or an update while it holds).
    Firing,
    /// The condition ended.
    Resolved,
    /// Informational change of state (class change, AQI level change); no end follows.
    Changed,
}

/// How serious an event is, for routing and escalation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// For the record.
    Info,
    /// Needs attention during the duty shift.
    Warning,
    /// Needs action now.
    Critical,
}

impl Severity {
    /// Chinese label.
    pub const fn label_zh(self) -> &'static str {
        match self {
            Severity::Info => "提示",
            Severity::Warning => "警告",
            Severity::Critical => "严重",
        }
    }
}

/// What cross-border attribution concluded about an exceedance at a section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Attribution {
    /// The upstream section showed the same exceedance one travel time earlier.
    ArrivedFromUpstream {
        /// The upstream section.
        upstream_station: String,
        /// Its province.
        upstream_province: Province,
        /// Its value one travel time earlier.
        upstream_value: f64,
        /// Travel time used, hours.
        travel_hours: f64,
    },
    /// The upstream section was within the limit one travel time earlier.
    ArisenBetween {
        /// The upstream section.
        upstream_station: String,
        /// Its province.
        upstream_province: Province,
        /// Its value one travel time earlier.
        upstream_value: f64,
        /// Travel time used, hours.
        travel_hours: f64,
    },
    /// No upstream section, or no upstream data near the time.
    Undetermined {
        /// Why.
        reason: String,
    },
}

/// The span of time a windowed evaluation covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowPeriod {
    /// One clock hour.
    Hour,
    /// One calendar day in China Standard Time (00:00–24:00 UTC+8).
    Day,
    /// One calendar month in China Standard Time.
    Month,
    /// One ISO week (Monday to Sunday) in China Standard Time: reports only, evaluated from
    /// the stored daily evaluations.
    Week,
    /// One calendar quarter in China Standard Time: reports only, from the stored days.
    Quarter,
    /// One calendar year in China Standard Time: reports only, from the stored days.
    Year,
}

impl WindowPeriod {
    /// The periods the evaluation engine computes and stores as they close, shortest first.
    pub const ALL: [WindowPeriod; 3] = [WindowPeriod::Hour, WindowPeriod::Day, WindowPeriod::Month];

    /// The periods of reports, shortest first: the day and the month as stored, the week,
    /// quarter and year from the stored days.
    pub const REPORTING: [WindowPeriod; 5] = [
        WindowPeriod::Day,
        WindowPeriod::Week,
        WindowPeriod::Month,
        WindowPeriod::Quarter,
        WindowPeriod::Year,
    ];

    /// Whether the evaluation engine stores evaluations of this period as it closes (hour,
    /// day, month); the week, quarter and year are evaluated from the stored days.
    pub fn is_stored(self) -> bool {
        Self::ALL.contains(&self)
    }

    /// The stable lower-case name: `hour`, `day`, `month`, `week`, `quarter`, `year`.
    pub const fn as_str(self) -> &'static str {
        match self {
            WindowPeriod::Hour => "hour",
            WindowPeriod::Day => "day",
            WindowPeriod::Month => "month",
            WindowPeriod::Week => "week",
            WindowPeriod::Quarter => "quarter",
            WindowPeriod::Year => "year",
        }
    }

    /// Chinese name: `小时`, `日`, `月`, `周`, `季度`, `年`.
    pub const fn label_zh(self) -> &'static str {
        match self {
            WindowPeriod::Hour => "小时",
            WindowPeriod::Day => "日",
            WindowPeriod::Month => "月",
            WindowPeriod::Week => "周",
            WindowPeriod::Quarter => "季度",
            WindowPeriod::Year => "年",
        }
    }
}

impl fmt::Display for WindowPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The evaluation window an event comes from, for events of windowed evaluations (daily
/// warning levels, joint control, data completeness, and revisions after late data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventWindow {
    /// Hour, day or month.
    pub period: WindowPeriod,
    /// Start of the window (UTC; days and months start at 00:00 UTC+8).
    pub start: DateTime<Utc>,
    /// Revision of the window's evaluation: 0 for the first, 1 and up when late data
    /// changed it. A revision never overwrites the earlier ones.
    pub revision: u32,
}

/// Where a moving pollution incident is expected next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectedArrival {
    /// The next section downstream.
    pub station: String,
    /// When the front should reach it.
    pub at: DateTime<Utc>,
}

/// One evaluation event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique id of this event (a redelivered event has the same id).
    pub id: String,
    /// The rule.
    pub rule: Rule,
    /// Firing, resolved or changed.
    pub status: EventStatus,
    /// How serious.
    pub severity: Severity,
    /// Station id, or `REGION` for regional events.
    pub subject: String,
    /// Parameter code, when the rule is per parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    /// Provinces concerned (both for boundary sections and regional events).
    pub provinces: Vec<Province>,
    /// Whether the subject is a provincial-boundary station or a regional event: both
    /// provinces are notified as equals.
    pub cross_border: bool,
    /// Observation time that decided the event.
    pub observed_at: DateTime<Utc>,
    /// When analytics emitted it.
    pub emitted_at: DateTime<Utc>,
    /// The value that decided it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Unit of `value` and `limit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The limit it was judged against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<f64>,
    /// Water class found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<WaterClass>,
    /// Target class of the section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<WaterClass>,
    /// Exceedance multiple, (C − L) / L.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exceedance_multiple: Option<f64>,
    /// AQI (air rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aqi: Option<u32>,
    /// Level name for leveled rules (AQI level 1–6 as text, warning colour, joint-control
    /// state, flood state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// The standard and edition used, e.g. `GB 3838-2002`, `HJ 633-2026`.
    pub standard: String,
    /// Cross-border attribution of a water exceedance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<Attribution>,
    /// Incident linking successive exceedances moving downstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
    /// Where the incident is expected next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_next: Option<ExpectedArrival>,
    /// The evaluation window and its revision, for events of windowed evaluations; `None`
    /// for live (per-reading) events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<EventWindow>,
    /// A one-line summary in Chinese.
    pub summary_zh: String,
    /// The same in English.
    pub summary_en: String,
}

impl Event {
    /// The alert fingerprint: rule, subject and parameter.
    pub fn fingerprint(&self) -> String {
        match &self.parameter {
            Some(p) => format!("{}:{}:{p}", self.rule, self.subject),
            None => format!("{}:{}", self.rule, self.subject),
        }
    }
}

/// Subject of regional events.
pub const REGION: &str = "REGION";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_json_with_stable_names() {
        let e = Event {
            id: "e1".into(),
            rule: Rule::ParameterExceedance,
            status: EventStatus::Firing,
            severity: Severity::Warning,
            subject: "LLH-CJG".into(),
            parameter: Some("NH3N".into()),
            provinces: vec![Province::Heilongjiang, Province::Jilin],
            cross_border: true,
            observed_at: DateTime::from_timestamp(1_795_305_600, 0).unwrap_or_default(),
            emitted_at: DateTime::from_timestamp(1_795_305_660, 0).unwrap_or_default(),
            value: Some(1.2),
            unit: Some("mg/L".into()),
            limit: Some(1.0),
            class: Some(WaterClass::IV),
            target: Some(WaterClass::III),
            exceedance_multiple: Some(0.2),
            aqi: None,
            level: None,
            standard: "GB 3838-2002".into(),
            attribution: Some(Attribution::ArisenBetween {
                upstream_station: "LLH-YS".into(),
                upstream_province: Province::Jilin,
                upstream_value: 0.4,
                travel_hours: 27.8,
            }),
            incident: Some("inc-1".into()),
            expected_next: None,
            window: None,
            summary_zh: "蔡家沟 氨氮 1.2 mg/L 超Ⅲ类".into(),
            summary_en: "Caijiagou NH3-N 1.2 mg/L above Class III".into(),
        };
        let text = serde_json::to_string(&e).unwrap();
        assert!(text.contains("\"rule\":\"parameter_exceedance\""), "{text}");
        assert!(text.contains("\"verdict\":\"arisen_between\""), "{text}");
        assert!(text.contains("\"class\":\"IV\""), "{text}");
        let back: Event = serde_json::from_str(&text).unwrap();
        assert_eq!(back, e);
        assert_eq!(e.fingerprint(), "parameter_exceedance:LLH-CJG:NH3N");
    }
}
