//! Turning findings and window results into [`Event`]s: stable ids, severities and the
//! one-line summaries in Chinese and English.
//!
//! **Ids** are built from the rule, the subject, the parameter, the observation (or window)
//! time, the status and, for revisions, the revision number, so a restart or a redelivery
//! produces the same id and the alert service can drop the copy.
//!
//! **Severity** (the README states the same):
//! - water parameter or section: *critical* when the class is 劣V, the exceedance multiple
//!   is at least 1 (twice the Class III limit), a Table 3 item (nitrobenzene, benzene)
//!   exceeds, or a provincial-boundary section is at Class V; otherwise *warning*;
//! - hourly AQI level: *critical* at level 6 (AQI > 300), *warning* at level 5, else *info*;
//! - heavy-pollution warning: *critical* for orange and red, *warning* for blue and yellow;
//! - joint control: *critical*;
//! - outfall: *critical* at a multiple of at least 1, else *warning*;
//! - flood: *critical* above the guaranteed level, *warning* above the warning level;
//! - data completeness: *warning*; class changes and revisions: *info*;
//! - every `resolved` event: *info*.

use chrono::{DateTime, SecondsFormat, Utc};
use riverwatch_core::events::{
    Event, EventStatus, EventWindow, REGION, Rule, Severity, WindowPeriod,
};
use riverwatch_core::i18n::short_number;
use riverwatch_core::registry::{Registry, Station};
use riverwatch_core::time::{CST, fmt_cst_minutes};
use riverwatch_core::{Province, WaterClass};

use crate::live::{Bound, Finding, FindingKind, flood_state_name};
use crate::model::{AqiRecord, JointControlRecord, WarningRecord, WindowEvaluation};
use crate::standards::hj633::AqiLevel;
use crate::standards::hydrology::LevelState;
use crate::standards::warning::WarningLevel;

/// The stable event id.
pub fn event_id(
    rule: Rule,
    subject: &str,
    parameter: Option<&str>,
    at: DateTime<Utc>,
    status: EventStatus,
    revision: Option<u32>,
) -> String {
    let status = match status {
        EventStatus::Firing => "firing",
        EventStatus::Resolved => "resolved",
        EventStatus::Changed => "changed",
    };
    let mut id = format!(
        "{rule}/{subject}/{}/{}/{status}",
        parameter.unwrap_or("-"),
        at.to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    if let Some(r) = revision {
        id.push_str(&format!("/r{r}"));
    }
    id
}

/// Severity of a water parameter or section condition (see the module docs).
pub fn water_severity(
    class: Option<WaterClass>,
    multiple: Option<f64>,
    boundary: bool,
    single_limit: bool,
) -> Severity {
    let critical = class == Some(WaterClass::WorseThanV)
        || multiple.is_some_and(|m| m >= 1.0)
        || single_limit
        || (boundary && class.is_some_and(|c| c >= WaterClass::V));
    if critical {
        Severity::Critical
    } else {
        Severity::Warning
    }
}

/// Severity of a warning level.
pub fn warning_severity(level: WarningLevel) -> Severity {
    match level {
        WarningLevel::Red | WarningLevel::Orange => Severity::Critical,
        WarningLevel::Yellow | WarningLevel::Blue => Severity::Warning,
        WarningLevel::None => Severity::Info,
    }
}

/// Severity of an hourly AQI level.
pub fn aqi_severity(level: AqiLevel) -> Severity {
    match level {
        AqiLevel::SeverelyPolluted => Severity::Critical,
        AqiLevel::HeavilyPolluted => Severity::Warning,
        _ => Severity::Info,
    }
}

/// Builds events with names from the registry.
#[derive(Debug, Clone, Copy)]
pub struct EventBuilder<'a> {
    registry: &'a Registry,
    now: DateTime<Utc>,
}

struct Names {
    zh: String,
    en: String,
    provinces: Vec<Province>,
    boundary: bool,
}

impl<'a> EventBuilder<'a> {
    /// A builder stamping `emitted_at = now`.
    pub fn new(registry: &'a Registry, now: DateTime<Utc>) -> Self {
        Self { registry, now }
    }

    fn names(&self, station: &str) -> Names {
        match self.registry.station(station) {
            Some(s) => station_names(s),
            None => Names {
                zh: station.to_string(),
                en: station.to_string(),
                provinces: Vec::new(),
                boundary: false,
            },
        }
    }

    fn param(&self, code: &str) -> (String, String, String) {
        match self.registry.parameter(code) {
            Some(p) => (p.name_zh.clone(), p.name_en.clone(), p.unit.clone()),
            None => (code.to_string(), code.to_string(), String::new()),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn base(
        &self,
        rule: Rule,
        status: EventStatus,
        severity: Severity,
        subject: &str,
        parameter: Option<&str>,
        at: DateTime<Utc>,
        standard: &str,
        window: Option<EventWindow>,
    ) -> Event {
        let names = if subject == REGION {
            Names {
                zh: String::new(),
                en: String::new(),
                provinces: Province::ALL.to_vec(),
                boundary: true,
            }
        } else {
            self.names(subject)
        };
        Event {
            id: event_id(
                rule,
                subject,
                parameter,
                window.as_ref().map_or(at, |w| w.start),
                status,
                window
                    .as_ref()
                    .filter(|w| w.revision > 0)
                    .map(|w| w.revision),
            ),
            rule,
            status,
            severity: if status == EventStatus::Resolved {
                Severity::Info
            } else {
                severity
            },
            subject: subject.to_string(),
            parameter: parameter.map(str::to_string),
            provinces: names.provinces,
            cross_border: names.boundary,
            observed_at: at,
            emitted_at: self.now,
            value: None,
            unit: None,
            limit: None,
            class: None,
            target: None,
            exceedance_multiple: None,
            aqi: None,
            level: None,
            standard: standard.to_string(),
            attribution: None,
            incident: None,
            expected_next: None,
            window,
            summary_zh: String::new(),
            summary_en: String::new(),
        }
    }

    /// The event of a live finding.
    pub fn finding(&self, f: &Finding) -> Event {
        let names = self.names(&f.station);
        let when_zh = format!("{}（北京时间）", fmt_cst_minutes(f.observed_at));
        let when_en = format!("{} UTC+8", fmt_cst_minutes(f.observed_at));
        match &f.kind {
            FindingKind::ParameterExceedance(p) => {
                let single = p.class.is_none();
                let sev = water_severity(p.class, p.exceedance_multiple, names.boundary, single);
                let mut e = self.base(
                    Rule::ParameterExceedance,
                    p.status,
                    sev,
                    &f.station,
                    Some(&p.parameter),
                    f.observed_at,
                    &p.standard,
                    None,
                );
                let (pzh, pen, _) = self.param(&p.parameter);
                let (limit_zh, limit_en) = match (single, p.bound) {
                    (true, _) => ("标准限值".to_string(), "the limit".to_string()),
                    (false, Bound::Max) => (
                        format!("{}标准限值", p.target.label_zh()),
                        format!("the {} limit", p.target.label_en()),
                    ),
                    (false, Bound::Min) => (
                        format!("{}标准下限", p.target.label_zh()),
                        format!("the {} minimum", p.target.label_en()),
                    ),
                };
                let class_zh = p.class.map_or(String::new(), |c| {
                    format!("，{}（目标{}）", c.label_zh(), p.target.label_zh())
                });
                let class_en = p.class.map_or(String::new(), |c| {
                    format!(", {} (target {})", c.label_en(), p.target.label_en())
                });
                let mult_zh = p
                    .exceedance_multiple
                    .map_or(String::new(), |m| format!("，超标{}倍", short_number(m)));
                let mult_en = p
                    .exceedance_multiple
                    .map_or(String::new(), |m| format!(", {}× over", short_number(m)));
                let verb_zh = match (p.status, p.bound) {
                    (EventStatus::Resolved, _) => "恢复达标，",
                    (_, Bound::Max) => "超过",
                    (_, Bound::Min) => "低于",
                };
                let verb_en = match (p.status, p.bound) {
                    (EventStatus::Resolved, _) => "back within",
                    (_, Bound::Max) => "above",
                    (_, Bound::Min) => "below",
                };
                e.summary_zh = format!(
                    "{} {} {} {}，{}{} {} {}{}{}；{}；{}",
                    names.zh,
                    pzh,
                    short_number(p.value),
                    p.unit,
                    verb_zh,
                    limit_zh,
                    short_number(p.limit),
                    p.unit,
                    class_zh,
                    mult_zh,
                    when_zh,
                    p.standard
                );
                e.summary_en = format!(
                    "{} {} {} {} {} {} {} {}{}{}; {}; {}",
                    names.en,
                    pen,
                    short_number(p.value),
                    p.unit,
                    verb_en,
                    limit_en,
                    short_number(p.limit),
                    p.unit,
                    class_en,
                    mult_en,
                    when_en,
                    p.standard
                );
                e.value = Some(p.value);
                e.unit = Some(p.unit.clone());
                e.limit = Some(p.limit);
                e.class = p.class;
                e.target = Some(p.target);
                e.exceedance_multiple = p.exceedance_multiple;
                e
            }
            FindingKind::SectionBelowTarget(s) => {
                let multiple = s.worst.as_ref().and_then(|w| w.2);
                let sev = water_severity(Some(s.class), multiple, names.boundary, false);
                let mut e = self.base(
                    Rule::SectionBelowTarget,
                    s.status,
                    sev,
                    &f.station,
                    None,
                    f.observed_at,
                    &s.standard,
                    None,
                );
                let deciding_zh: Vec<String> = s.deciding.iter().map(|c| self.param(c).0).collect();
                let deciding_en: Vec<String> = s.deciding.iter().map(|c| self.param(c).1).collect();
                if s.status == EventStatus::Resolved {
                    e.summary_zh = format!(
                        "{} 水质恢复为{}，达到目标{}；{}；{}",
                        names.zh,
                        s.class.label_zh(),
                        s.target.label_zh(),
                        when_zh,
                        s.standard
                    );
                    e.summary_en = format!(
                        "{} back to {}, meeting its target {}; {}; {}",
                        names.en,
                        s.class.label_en(),
                        s.target.label_en(),
                        when_en,
                        s.standard
                    );
                } else {
                    e.summary_zh = format!(
                        "{} 水质{}，未达到目标{}（定类指标：{}）；{}；{}",
                        names.zh,
                        s.class.label_zh(),
                        s.target.label_zh(),
                        deciding_zh.join("、"),
                        when_zh,
                        s.standard
                    );
                    e.summary_en = format!(
                        "{} at {}, below its target {} (deciding: {}); {}; {}",
                        names.en,
                        s.class.label_en(),
                        s.target.label_en(),
                        deciding_en.join(", "),
                        when_en,
                        s.standard
                    );
                }
                if let Some((code, value, m)) = &s.worst {
                    e.value = Some(*value);
                    e.unit = Some(self.param(code).2);
                    e.exceedance_multiple = *m;
                }
                e.class = Some(s.class);
                e.target = Some(s.target);
                e
            }
            FindingKind::ClassChange {
                from,
                to,
                target,
                standard,
            } => {
                let mut e = self.base(
                    Rule::ClassChange,
                    EventStatus::Changed,
                    Severity::Info,
                    &f.station,
                    None,
                    f.observed_at,
                    standard,
                    None,
                );
                e.summary_zh = format!(
                    "{} 水质类别由{}变为{}（目标{}）；{}；{}",
                    names.zh,
                    from.label_zh(),
                    to.label_zh(),
                    target.label_zh(),
                    when_zh,
                    standard
                );
                e.summary_en = format!(
                    "{} changed from {} to {} (target {}); {}; {}",
                    names.en,
                    from.label_en(),
                    to.label_en(),
                    target.label_en(),
                    when_en,
                    standard
                );
                e.class = Some(*to);
                e.target = Some(*target);
                e
            }
            FindingKind::AqiLevel(a) => {
                let mut e = self.base(
                    Rule::AqiLevel,
                    EventStatus::Changed,
                    aqi_severity(a.to),
                    &f.station,
                    None,
                    f.observed_at,
                    &a.edition,
                    None,
                );
                let primary: Vec<&str> = a.primary.iter().map(|p| p.label()).collect();
                let primary_zh = if primary.is_empty() {
                    String::new()
                } else {
                    format!("，首要污染物 {}", primary.join("、"))
                };
                let primary_en = if primary.is_empty() {
                    String::new()
                } else {
                    format!(", primary pollutant {}", primary.join(", "))
                };
                e.summary_zh = format!(
                    "{} 小时AQI {}，由{}（{}）变为{}（{}）{}；{}；{}",
                    names.zh,
                    a.aqi,
                    a.from.level_zh(),
                    a.from.category_zh(),
                    a.to.level_zh(),
                    a.to.category_zh(),
                    primary_zh,
                    when_zh,
                    a.edition
                );
                e.summary_en = format!(
                    "{} hourly AQI {}, from level {} ({}) to level {} ({}){}; {}; {}",
                    names.en,
                    a.aqi,
                    a.from.number(),
                    a.from.category_en(),
                    a.to.number(),
                    a.to.category_en(),
                    primary_en,
                    when_en,
                    a.edition
                );
                e.aqi = Some(a.aqi);
                e.level = Some(a.to.number().to_string());
                e
            }
            FindingKind::Discharge(d) => {
                let sev = if d.exceedance_multiple.is_some_and(|m| m >= 1.0) {
                    Severity::Critical
                } else {
                    Severity::Warning
                };
                let mut e = self.base(
                    Rule::DischargeExceedance,
                    d.status,
                    sev,
                    &f.station,
                    Some(&d.parameter),
                    f.observed_at,
                    &d.standard,
                    None,
                );
                let (pzh, pen, _) = self.param(&d.parameter);
                let mult_zh = d
                    .exceedance_multiple
                    .map_or(String::new(), |m| format!("，超标{}倍", short_number(m)));
                let mult_en = d
                    .exceedance_multiple
                    .map_or(String::new(), |m| format!(", {}× over", short_number(m)));
                if d.status == EventStatus::Resolved {
                    e.summary_zh = format!(
                        "{} {} {} {}，恢复到排放限值 {} {} 以内；{}；{}",
                        names.zh,
                        pzh,
                        short_number(d.value),
                        d.unit,
                        short_number(d.limit),
                        d.unit,
                        when_zh,
                        d.standard
                    );
                    e.summary_en = format!(
                        "{} {} {} {} back within the discharge limit {} {}; {}; {}",
                        names.en,
                        pen,
                        short_number(d.value),
                        d.unit,
                        short_number(d.limit),
                        d.unit,
                        when_en,
                        d.standard
                    );
                } else {
                    e.summary_zh = format!(
                        "{} {} {} {}，超过排放限值 {} {}{}；{}；{}",
                        names.zh,
                        pzh,
                        short_number(d.value),
                        d.unit,
                        short_number(d.limit),
                        d.unit,
                        mult_zh,
                        when_zh,
                        d.standard
                    );
                    e.summary_en = format!(
                        "{} {} {} {} above the discharge limit {} {}{}; {}; {}",
                        names.en,
                        pen,
                        short_number(d.value),
                        d.unit,
                        short_number(d.limit),
                        d.unit,
                        mult_en,
                        when_en,
                        d.standard
                    );
                }
                e.value = Some(d.value);
                e.unit = Some(d.unit.clone());
                e.limit = Some(d.limit);
                e.exceedance_multiple = d.exceedance_multiple;
                e
            }
            FindingKind::Flood(fl) => {
                let sev = if fl.state == LevelState::AboveGuaranteed {
                    Severity::Critical
                } else {
                    Severity::Warning
                };
                let mut e = self.base(
                    Rule::FloodLevel,
                    fl.status,
                    sev,
                    &f.station,
                    Some(crate::standards::code::LEVEL),
                    f.observed_at,
                    "警戒水位/保证水位 (station levels)",
                    None,
                );
                let which_zh = if fl.state == LevelState::AboveGuaranteed {
                    "保证水位"
                } else {
                    "警戒水位"
                };
                let which_en = if fl.state == LevelState::AboveGuaranteed {
                    "guaranteed level"
                } else {
                    "warning level"
                };
                if fl.status == EventStatus::Resolved {
                    e.summary_zh = format!(
                        "{} 水位 {} m，回落到警戒水位 {} m 以下；{}",
                        names.zh,
                        short_number(fl.level_m),
                        short_number(fl.limit_m),
                        when_zh
                    );
                    e.summary_en = format!(
                        "{} water level {} m, back below the warning level {} m; {}",
                        names.en,
                        short_number(fl.level_m),
                        short_number(fl.limit_m),
                        when_en
                    );
                } else {
                    e.summary_zh = format!(
                        "{} 水位 {} m，超过{} {} m（{}）；{}",
                        names.zh,
                        short_number(fl.level_m),
                        which_zh,
                        short_number(fl.limit_m),
                        fl.state.label_zh(),
                        when_zh
                    );
                    e.summary_en = format!(
                        "{} water level {} m, above the {} {} m; {}",
                        names.en,
                        short_number(fl.level_m),
                        which_en,
                        short_number(fl.limit_m),
                        when_en
                    );
                }
                e.value = Some(fl.level_m);
                e.unit = Some("m".to_string());
                e.limit = Some(fl.limit_m);
                e.level = Some(flood_state_name(fl.state).to_string());
                e
            }
        }
    }

    /// A city's warning level changed on a day: firing (a level) or resolved (none).
    pub fn warning(&self, r: &WarningRecord, previous: WarningLevel, rules_edition: &str) -> Event {
        let names = self.names(&r.station);
        let status = if r.level == WarningLevel::None {
            EventStatus::Resolved
        } else {
            EventStatus::Firing
        };
        let window = EventWindow {
            period: WindowPeriod::Day,
            start: day_start(r.date),
            revision: r.revision,
        };
        let mut e = self.base(
            Rule::HeavyPollutionWarning,
            status,
            warning_severity(r.level),
            &r.station,
            None,
            window.start,
            rules_edition,
            Some(window),
        );
        let aqi = r.daily_aqi.map_or("—".to_string(), |a| a.to_string());
        if status == EventStatus::Resolved {
            e.summary_zh = format!(
                "{} {} 日AQI {}，{}解除；{}",
                names.zh,
                r.date,
                aqi,
                previous.name_zh(),
                rules_edition
            );
            e.summary_en = format!(
                "{} {} daily AQI {}, {} lifted; {}",
                names.en,
                r.date,
                aqi,
                previous.name_en(),
                rules_edition
            );
        } else {
            e.summary_zh = format!(
                "{} {} 日AQI {}，连续{}天日AQI>200（其中{}天>300），达到{}；{}",
                names.zh,
                r.date,
                aqi,
                r.run_days,
                r.severe_days,
                r.level.name_zh(),
                rules_edition
            );
            e.summary_en = format!(
                "{} {} daily AQI {}, {} consecutive days above 200 ({} above 300): {}; {}",
                names.en,
                r.date,
                aqi,
                r.run_days,
                r.severe_days,
                r.level.name_en(),
                rules_edition
            );
        }
        e.aqi = r.daily_aqi;
        e.level = Some(level_name(r.level).to_string());
        e
    }

    /// The region entered or left joint control on a day.
    pub fn joint_control(&self, r: &JointControlRecord) -> Event {
        let status = if r.active {
            EventStatus::Firing
        } else {
            EventStatus::Resolved
        };
        let window = EventWindow {
            period: WindowPeriod::Day,
            start: day_start(r.date),
            revision: r.revision,
        };
        let mut e = self.base(
            Rule::JointControl,
            status,
            Severity::Critical,
            REGION,
            None,
            window.start,
            &r.rule,
            Some(window),
        );
        let city = |ids: &[String], zh: bool| -> String {
            ids.iter()
                .map(|id| {
                    let n = self.names(id);
                    if zh { n.zh } else { n.en }
                })
                .collect::<Vec<_>>()
                .join(if zh { "、" } else { ", " })
        };
        if r.active {
            e.summary_zh = format!(
                "哈长区域 {} 启动区域联防联控：黑龙江省 {}、吉林省 {} 日AQI>200（重度污染）；规则：{}",
                r.date,
                city(&r.heavy_hlj, true),
                city(&r.heavy_jl, true),
                r.rule
            );
            e.summary_en = format!(
                "Harbin–Changchun region {}: joint control, heavy pollution in Heilongjiang ({}) and Jilin ({}); rule: {}",
                r.date,
                city(&r.heavy_hlj, false),
                city(&r.heavy_jl, false),
                r.rule
            );
        } else {
            e.summary_zh = format!(
                "哈长区域 {} 解除区域联防联控：两省不再同时出现重度污染；规则：{}",
                r.date, r.rule
            );
            e.summary_en = format!(
                "Harbin–Changchun region {}: joint control lifted, heavy pollution no longer in both provinces; rule: {}",
                r.date, r.rule
            );
        }
        e.level = Some(if r.active { "active" } else { "inactive" }.to_string());
        e
    }

    /// A day's valid-data rate fell below (firing) or came back above (resolved) the
    /// minimum.
    pub fn completeness(&self, ev: &WindowEvaluation, min_rate: f64) -> Event {
        let names = self.names(&ev.station);
        let status = if ev.sufficient {
            EventStatus::Resolved
        } else {
            EventStatus::Firing
        };
        let window = EventWindow {
            period: ev.period,
            start: ev.start,
            revision: ev.revision,
        };
        let mut e = self.base(
            Rule::DataCompleteness,
            status,
            Severity::Warning,
            &ev.station,
            None,
            ev.start,
            "有效数据率 (valid-data rate)",
            Some(window),
        );
        let date = riverwatch_core::time::cst_date(ev.start);
        e.summary_zh = format!(
            "{} {} 有效数据率 {:.0}%（{}/{}），{}要求 {:.0}%",
            names.zh,
            date,
            ev.completeness * 100.0,
            ev.valid_readings,
            ev.expected_readings,
            if ev.sufficient { "达到" } else { "低于" },
            min_rate * 100.0
        );
        e.summary_en = format!(
            "{} {} valid-data rate {:.0}% ({}/{}), {} the required {:.0}%",
            names.en,
            date,
            ev.completeness * 100.0,
            ev.valid_readings,
            ev.expected_readings,
            if ev.sufficient { "meeting" } else { "below" },
            min_rate * 100.0
        );
        e.value = Some(ev.completeness);
        e.limit = Some(min_rate);
        e
    }

    /// Late data changed the class of a window: a revision of its evaluation.
    pub fn class_revision(&self, old: &WindowEvaluation, new: &WindowEvaluation) -> Event {
        let names = self.names(&new.station);
        let window = EventWindow {
            period: new.period,
            start: new.start,
            revision: new.revision,
        };
        let mut e = self.base(
            Rule::ClassChange,
            EventStatus::Changed,
            Severity::Info,
            &new.station,
            None,
            new.start,
            &new.standard,
            Some(window),
        );
        let label_zh = |c: Option<WaterClass>| c.map_or("无类别", WaterClass::label_zh);
        let label_en = |c: Option<WaterClass>| c.map_or("no class", WaterClass::label_en);
        e.summary_zh = format!(
            "{} {}（{}）评价修订第{}版：补传数据后类别由{}变为{}；{}",
            names.zh,
            window_label(new.period, new.start),
            new.period.label_zh(),
            new.revision,
            label_zh(old.class),
            label_zh(new.class),
            new.standard
        );
        e.summary_en = format!(
            "{} {} ({}) evaluation revision {}: late data changed the class from {} to {}; {}",
            names.en,
            window_label(new.period, new.start),
            new.period,
            new.revision,
            label_en(old.class),
            label_en(new.class),
            new.standard
        );
        e.class = new.class;
        e.target = new.target;
        e
    }

    /// Late data changed the AQI level of an hour or a day: a revision.
    pub fn aqi_revision(&self, old: &AqiRecord, new: &AqiRecord) -> Event {
        let names = self.names(&new.station);
        let window = EventWindow {
            period: new.period,
            start: new.start,
            revision: new.revision,
        };
        let level = new.level.and_then(level_of_number);
        let mut e = self.base(
            Rule::AqiLevel,
            EventStatus::Changed,
            level.map_or(Severity::Info, aqi_severity),
            &new.station,
            None,
            new.start,
            &new.edition,
            Some(window),
        );
        let aqi = |r: &AqiRecord| r.aqi.map_or("—".to_string(), |a| a.to_string());
        e.summary_zh = format!(
            "{} {} AQI 修订第{}版：补传数据后由 {} 变为 {}（{}）；{}",
            names.zh,
            window_label(new.period, new.start),
            new.revision,
            aqi(old),
            aqi(new),
            new.category_zh.as_deref().unwrap_or("—"),
            new.edition
        );
        e.summary_en = format!(
            "{} {} AQI revision {}: late data changed it from {} to {} ({}); {}",
            names.en,
            window_label(new.period, new.start),
            new.revision,
            aqi(old),
            aqi(new),
            level.map_or("—", AqiLevel::category_en),
            new.edition
        );
        e.aqi = new.aqi;
        e.level = new.level.map(|l| l.to_string());
        e
    }
}

fn station_names(s: &Station) -> Names {
    Names {
        zh: s.name_zh.clone(),
        en: s.name_pinyin.clone(),
        provinces: if s.boundary {
            Province::ALL.to_vec()
        } else {
            vec![s.province]
        },
        boundary: s.boundary,
    }
}

/// The stable lower-case name of a warning level: `none`, `blue`, `yellow`, `orange`, `red`.
pub const fn level_name(level: WarningLevel) -> &'static str {
    match level {
        WarningLevel::None => "none",
        WarningLevel::Blue => "blue",
        WarningLevel::Yellow => "yellow",
        WarningLevel::Orange => "orange",
        WarningLevel::Red => "red",
    }
}

fn level_of_number(n: u8) -> Option<AqiLevel> {
    [
        AqiLevel::Excellent,
        AqiLevel::Good,
        AqiLevel::LightlyPolluted,
        AqiLevel::ModeratelyPolluted,
        AqiLevel::HeavilyPolluted,
        AqiLevel::SeverelyPolluted,
    ]
    .into_iter()
    .find(|l| l.number() == n)
}

/// The start (UTC) of a CST day.
pub fn day_start(date: chrono::NaiveDate) -> DateTime<Utc> {
    riverwatch_core::time::from_cst(date.and_time(chrono::NaiveTime::MIN))
}

/// A window as people write it: `2026-09-10 14:00`, `2026-09-10`, `2026-09`, the ISO week
/// `2026-W37`, the quarter `2026-Q3`, the year `2026`.
pub fn window_label(period: WindowPeriod, start: DateTime<Utc>) -> String {
    use chrono::Datelike;
    let local = start.with_timezone(&CST);
    match period {
        WindowPeriod::Hour => local.format("%Y-%m-%d %H:00").to_string(),
        WindowPeriod::Day => local.format("%Y-%m-%d").to_string(),
        WindowPeriod::Month => local.format("%Y-%m").to_string(),
        WindowPeriod::Week => local.format("%G-W%V").to_string(),
        WindowPeriod::Quarter => format!("{}-Q{}", local.year(), local.month0() / 3 + 1),
        WindowPeriod::Year => local.format("%Y").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::live::ParamFinding;

    #[test]
    fn ids_are_stable_and_distinguish_status_and_revision() {
        let t = Utc.with_ymd_and_hms(2026, 9, 10, 4, 0, 0).unwrap();
        let a = event_id(
            Rule::ParameterExceedance,
            "LLH-NTS",
            Some("NH3N"),
            t,
            EventStatus::Firing,
            None,
        );
        assert_eq!(
            a,
            "parameter_exceedance/LLH-NTS/NH3N/2026-09-10T04:00:00Z/firing"
        );
        let b = event_id(
            Rule::ClassChange,
            "LLH-NTS",
            None,
            t,
            EventStatus::Changed,
            Some(2),
        );
        assert_eq!(b, "class_change/LLH-NTS/-/2026-09-10T04:00:00Z/changed/r2");
    }

    #[test]
    fn exceedance_summary_names_everything_in_both_languages() {
        let reg = Registry::builtin().unwrap();
        let t = Utc.with_ymd_and_hms(2026, 9, 10, 4, 0, 0).unwrap();
        let f = Finding {
            station: "LLH-NTS".into(),
            observed_at: t,
            kind: FindingKind::ParameterExceedance(ParamFinding {
                status: EventStatus::Firing,
                started: true,
                parameter: "NH3N".into(),
                value: 2.326,
                unit: "mg/L".into(),
                limit: 1.0,
                bound: Bound::Max,
                class: Some(WaterClass::WorseThanV),
                target: WaterClass::III,
                exceedance_multiple: Some(1.326),
                standard: "GB 3838-2002".into(),
            }),
        };
        let e = EventBuilder::new(&reg, t).finding(&f);
        assert_eq!(e.severity, Severity::Critical);
        assert!(e.cross_border);
        assert_eq!(e.provinces, vec![Province::Heilongjiang, Province::Jilin]);
        assert_eq!(
            e.summary_zh,
            "牛头山大桥 氨氮 2.326 mg/L，超过Ⅲ类标准限值 1 mg/L，劣Ⅴ类（目标Ⅲ类），超标1.326倍；2026-09-10 12:00（北京时间）；GB 3838-2002"
        );
        assert!(e.summary_en.starts_with("Niutoushan Daqiao Ammonia nitrogen 2.326 mg/L above the Class III limit 1 mg/L, worse than Class V (target Class III), 1.326× over; 2026-09-10 12:00 UTC+8"), "{}", e.summary_en);
    }

    #[test]
    fn severity_mapping() {
        use WaterClass::*;
        assert_eq!(
            water_severity(Some(IV), Some(0.2), false, false),
            Severity::Warning
        );
        assert_eq!(
            water_severity(Some(IV), Some(0.2), true, false),
            Severity::Warning
        );
        assert_eq!(
            water_severity(Some(V), Some(0.4), true, false),
            Severity::Critical
        );
        assert_eq!(
            water_severity(Some(V), Some(0.4), false, false),
            Severity::Warning
        );
        assert_eq!(
            water_severity(Some(WorseThanV), None, false, false),
            Severity::Critical
        );
        assert_eq!(
            water_severity(Some(IV), Some(1.0), false, false),
            Severity::Critical
        );
        assert_eq!(
            water_severity(None, Some(0.1), false, true),
            Severity::Critical
        );
        assert_eq!(warning_severity(WarningLevel::Red), Severity::Critical);
        assert_eq!(warning_severity(WarningLevel::Yellow), Severity::Warning);
        assert_eq!(aqi_severity(AqiLevel::SeverelyPolluted), Severity::Critical);
    }
}
