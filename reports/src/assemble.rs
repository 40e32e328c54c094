//! A report from the stores: the period's evaluation of every section and city through
//! [`period_evaluations`] (the same function as `riverwatch evaluations classes --period` and
//! the console), the stored hourly and daily evaluations for the hours and days out of
//! target, daily AQI, warnings, joint control, incidents and the ledger through
//! [`EvaluationReader`], and the alerts and audit head through [`AlertReader`]. Grades and
//! rates come from the 2011 method's code in
//! [`riverwatch_analytics::standards::river_grade`]. Outfalls and gauges: the time beyond a
//! discharge limit or above the warning level is the time between the stored live events
//! that started and ended it (`discharge_exceedance`, `flood_level`), clipped to the period;
//! a gauge's highest level is the highest stored hourly mean (the store keeps no peaks of
//! single readings). With a river, the air rows are the cities with a station on it.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use riverwatch_alerts::AlertReader;
use riverwatch_alerts::views::read_period_alerts;
use riverwatch_analytics::AnalyticsConfig;
use riverwatch_analytics::attribution::Topology;
use riverwatch_analytics::ledger::boundary_pair;
use riverwatch_analytics::live::station_levels;
use riverwatch_analytics::model::WindowEvaluation;
use riverwatch_analytics::standards::catalog::in_force;
use riverwatch_analytics::standards::code::LEVEL;
use riverwatch_analytics::standards::gb3838::WaterBody;
use riverwatch_analytics::standards::hydrology::LevelState;
use riverwatch_analytics::standards::river_grade::{
    SectionPeriod, change_in_points, compliance_rate,
};
use riverwatch_analytics::standards::warning::WarningLevel;
use riverwatch_analytics::store::{
    DayQuery, EvaluationQuery, EvaluationReader, EventQuery, LedgerQuery,
};
use riverwatch_analytics::views::periods::{Comparison, period_evaluations};
use riverwatch_analytics::windows::spans::Span;
use riverwatch_core::WaterClass;
use riverwatch_core::events::{Event, EventStatus, Rule, WindowPeriod};
use riverwatch_core::registry::{Registry, River, Station, StationKind};

use crate::model::{
    AirRow, BoundaryRelation, BoundaryRow, ClassTrend, Exceeding, GaugeRow, OutfallRow,
    ParameterName, Report, RiverRow, SectionRow, TrendSeries,
};
use crate::{Error, Result};

/// Where a report reads from.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    /// The network.
    pub registry: &'a Registry,
    /// The analytics settings (valid-data minimum, topology, compensation).
    pub analytics: &'a AnalyticsConfig,
    /// The evaluation store.
    pub evaluations: &'a EvaluationReader,
    /// The alert store, when there is one.
    pub alerts: Option<&'a AlertReader>,
}

/// Which report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Day, week, month, quarter or year.
    pub period: WindowPeriod,
    /// Any CST day of the period.
    pub date: chrono::NaiveDate,
    /// Only this river (its sections); `None` for the whole zone.
    pub river: Option<String>,
    /// Report time (stamps weeks, quarters and years evaluated from the stored days).
    pub now: DateTime<Utc>,
}

/// Assembles the report of `req` from the stores. Blocking: call it from a blocking thread.
///
/// # Errors
/// An hourly period, an unknown river, or a store failure.
pub fn assemble(src: &Sources<'_>, req: &Request) -> Result<Report> {
    let cmp = Comparison::of(req.period, req.date).ok_or(Error::Period {
        period: req.period.as_str(),
        date: req.date,
    })?;
    let span = cmp.this;
    let registry = src.registry;
    let rivers: Vec<&River> = match &req.river {
        Some(id) => vec![
            registry
                .river(id)
                .ok_or_else(|| Error::UnknownRiver(id.clone()))?,
        ],
        None => registry.rivers().iter().collect(),
    };
    let sections: Vec<&Station> = registry
        .stations()
        .iter()
        .filter(|s| {
            s.kind == StationKind::Water
                && s.river
                    .as_deref()
                    .is_some_and(|r| rivers.iter().any(|x| x.id == r))
        })
        .collect();

    let this = by_station(period_of(src, Some(&span), req.now)?);
    let last_year = by_station(period_of(src, cmp.year_before.as_ref(), req.now)?);
    let previous = by_station(period_of(src, cmp.previous.as_ref(), req.now)?);
    let hourly = windows(src.evaluations, WindowPeriod::Hour, &span)?;
    let daily = windows(src.evaluations, WindowPeriod::Day, &span)?;

    let topology = Topology::new(registry, &src.analytics.attribution);
    let relation = |s: &Station| {
        s.boundary
            .then(|| boundary_pair(s.id.as_str(), &topology, &src.analytics.compensation))
            .flatten()
            .map(|p| BoundaryRelation {
                upstream: p.upstream,
                downstream: p.downstream,
            })
    };
    let out_of_target = |rows: &[WindowEvaluation], id: &str| {
        rows.iter()
            .filter(|e| e.station == id && e.compliant == Some(false))
            .count() as u32
    };

    let section_rows: Vec<SectionRow> = sections
        .iter()
        .map(|s| {
            let id = s.id.as_str();
            let e = this.get(id);
            let river = s.river.as_deref().and_then(|r| registry.river(r));
            SectionRow {
                station: id.to_string(),
                name_zh: s.name_zh.clone(),
                name_pinyin: s.name_pinyin.clone(),
                province: s.province,
                city_zh: s.city_zh.clone(),
                river: s.river.clone().unwrap_or_default(),
                river_zh: river.map(|r| r.name_zh.clone()).unwrap_or_default(),
                river_pinyin: river.map(|r| r.name_pinyin.clone()).unwrap_or_default(),
                boundary: relation(s),
                target: s.target_class,
                class: e.and_then(|e| e.class),
                class_last_year: last_year.get(id).and_then(|e| e.class),
                compliant: e.and_then(|e| e.compliant),
                sufficient: e.is_some_and(|e| e.sufficient),
                exceeding: e.map(|e| exceeding(e, registry)).unwrap_or_default(),
                hours_out: out_of_target(&hourly, id),
                days_out: out_of_target(&daily, id),
                valid_rate: e.map_or(0.0, |e| e.completeness),
            }
        })
        .collect();

    let river_rows = rivers
        .iter()
        .filter_map(|r| {
            let on: Vec<&Station> = sections
                .iter()
                .copied()
                .filter(|s| s.river.as_deref() == Some(r.id.as_str()))
                .collect();
            (!on.is_empty())
                .then(|| river_row(r, &on, &this, &last_year, &previous, &span, registry))
        })
        .collect();

    let incidents: Vec<_> = src
        .evaluations
        .incidents(None, None)?
        .into_iter()
        .filter(|i| {
            i.started_at < span.end()
                && i.last_at >= span.start()
                && i.sections
                    .iter()
                    .any(|x| sections.iter().any(|s| s.id.as_str() == x.station))
        })
        .collect();

    let boundary: Vec<BoundaryRow> = sections
        .iter()
        .filter(|s| s.boundary)
        .map(|s| {
            let id = s.id.as_str();
            let up = topology.upstream(id).first();
            BoundaryRow {
                station: id.to_string(),
                relation: relation(s),
                class: this.get(id).and_then(|e| e.class),
                target: s.target_class,
                upstream_station: up.map(|n| n.station.clone()),
                upstream_class: up
                    .and_then(|n| this.get(n.station.as_str()))
                    .and_then(|e| e.class),
                incidents: incidents
                    .iter()
                    .filter(|i| i.sections.iter().any(|x| x.station == id))
                    .count() as u32,
            }
        })
        .collect();

    let trend = trend(
        &span,
        if span.period == WindowPeriod::Day {
            &hourly
        } else {
            &daily
        },
        &boundary,
    );

    let last_day = span.end_day.pred_opt().unwrap_or(span.first_day);
    let ledger = src
        .evaluations
        .ledger(&LedgerQuery {
            from_month: Some(span.first_day.format("%Y-%m").to_string()),
            to_month: Some(last_day.format("%Y-%m").to_string()),
            ..LedgerQuery::default()
        })?
        .into_iter()
        .filter(|l| sections.iter().any(|s| s.id.as_str() == l.station))
        .collect();

    let on_rivers = |s: &Station| {
        s.river
            .as_deref()
            .is_some_and(|r| rivers.iter().any(|x| x.id == r))
    };
    // With a river, the cities along it: those with a station of any kind on it.
    let cities: Option<Vec<&str>> = req.river.as_ref().map(|_| {
        registry
            .stations()
            .iter()
            .filter(|s| on_rivers(s))
            .map(|s| s.city_zh.as_str())
            .collect()
    });
    let air = air_rows(src, &span, last_day, cities.as_deref())?;
    let clip_end = span.end().min(req.now);
    let outfalls = registry
        .stations()
        .iter()
        .filter(|s| s.kind == StationKind::Outfall && (req.river.is_none() || on_rivers(s)))
        .map(|s| outfall_row(src, s, &span, clip_end))
        .collect::<Result<Vec<_>>>()?;
    let gauges = registry
        .stations()
        .iter()
        .filter(|s| s.kind == StationKind::Hydrology && (req.river.is_none() || on_rivers(s)))
        .map(|s| gauge_row(src, s, &span, clip_end))
        .collect::<Result<Vec<_>>>()?;
    let joint_control_days = src
        .evaluations
        .joint_control(&DayQuery {
            from: Some(span.first_day),
            to: Some(last_day),
            ..DayQuery::default()
        })?
        .iter()
        .filter(|j| j.active)
        .count() as u32;

    let (alerts, audit_head) = match src.alerts {
        Some(reader) => (
            Some(read_period_alerts(reader, span.start(), span.end())?),
            reader.verify_audit()?.head_anchor().map(|a| a.to_string()),
        ),
        None => (None, None),
    };

    Ok(Report {
        period: span.period,
        first_day: span.first_day,
        last_day,
        start: span.start(),
        end: span.end(),
        river: req.river.clone(),
        generated_at: req.now,
        sections: section_rows,
        rivers: river_rows,
        boundary,
        trend,
        incidents,
        ledger,
        alerts,
        air,
        outfalls,
        gauges,
        joint_control_days,
        audit_head,
        parameter_names: registry
            .parameters()
            .iter()
            .map(|p| ParameterName {
                code: p.code.clone(),
                name_zh: p.name_zh.clone(),
                name_en: p.name_en.clone(),
            })
            .collect(),
    })
}

fn period_of(
    src: &Sources<'_>,
    span: Option<&Span>,
    now: DateTime<Utc>,
) -> Result<Vec<WindowEvaluation>> {
    match span {
        Some(span) => Ok(period_evaluations(
            src.evaluations,
            src.registry,
            src.analytics,
            span,
            None,
            now,
        )?),
        None => Ok(Vec::new()),
    }
}

fn by_station(rows: Vec<WindowEvaluation>) -> HashMap<String, WindowEvaluation> {
    rows.into_iter().map(|e| (e.station.clone(), e)).collect()
}

fn windows(
    reader: &EvaluationReader,
    period: WindowPeriod,
    span: &Span,
) -> Result<Vec<WindowEvaluation>> {
    Ok(reader.evaluations(&EvaluationQuery {
        period: Some(period),
        from: Some(span.start()),
        to: Some(span.end()),
        ..EvaluationQuery::default()
    })?)
}

/// The class items above Class Ⅲ over the period, the largest multiple first.
fn exceeding(e: &WindowEvaluation, registry: &Registry) -> Vec<Exceeding> {
    let mut out: Vec<Exceeding> = e
        .parameters
        .iter()
        .filter(|p| p.in_section_class)
        .filter_map(|p| {
            let multiple = p.exceedance_multiple.filter(|m| *m > 0.0)?;
            let param = registry.parameter(&p.code);
            Some(Exceeding {
                code: p.code.clone(),
                name_zh: param.map_or(p.code.clone(), |x| x.name_zh.clone()),
                name_en: param.map_or(p.code.clone(), |x| x.name_en.clone()),
                multiple,
            })
        })
        .collect();
    out.sort_by(|a, b| b.multiple.total_cmp(&a.multiple));
    out
}

/// A section's period as the river grade takes it; `None` when it was not judged (no class,
/// or too few valid data).
fn judged(e: &WindowEvaluation) -> Option<SectionPeriod> {
    let class = e.class.filter(|_| e.sufficient)?;
    let items = e.parameters.iter().filter(|p| p.in_section_class);
    Some(SectionPeriod {
        station: e.station.clone(),
        class,
        means: items.clone().map(|p| (p.code.clone(), p.mean)).collect(),
        exceeding: items
            .filter(|p| p.class.is_some_and(|c| c > WaterClass::III))
            .map(|p| p.code.clone())
            .collect(),
    })
}

fn rate(on: &[&Station], rows: &HashMap<String, WindowEvaluation>) -> Option<f64> {
    let flags: Vec<bool> = on
        .iter()
        .filter_map(|s| rows.get(s.id.as_str()))
        .filter(|e| judged(e).is_some())
        .filter_map(|e| e.compliant)
        .collect();
    compliance_rate(&flags)
}

fn river_row(
    river: &River,
    on: &[&Station],
    this: &HashMap<String, WindowEvaluation>,
    last_year: &HashMap<String, WindowEvaluation>,
    previous: &HashMap<String, WindowEvaluation>,
    span: &Span,
    registry: &Registry,
) -> RiverRow {
    let tables = in_force(span.first_day);
    let periods: Vec<SectionPeriod> = on
        .iter()
        .filter_map(|s| this.get(s.id.as_str()))
        .filter_map(judged)
        .collect();
    let grade = tables
        .method
        .river_grade(tables.water, &periods, WaterBody::River);
    let now = rate(on, this);
    let year = rate(on, last_year);
    let prev = rate(on, previous);
    let main_pollutants = grade
        .as_ref()
        .into_iter()
        .flat_map(|g| &g.main_pollutants)
        .map(|p| {
            let param = registry.parameter(&p.code);
            ParameterName {
                code: p.code.clone(),
                name_zh: param.map_or(p.code.clone(), |x| x.name_zh.clone()),
                name_en: param.map_or(p.code.clone(), |x| x.name_en.clone()),
            }
        })
        .collect();
    RiverRow {
        id: river.id.clone(),
        name_zh: river.name_zh.clone(),
        name_pinyin: river.name_pinyin.clone(),
        sections: on.len(),
        judged: periods.len(),
        grade,
        compliance_rate: now,
        compliance_rate_last_year: year,
        compliance_rate_previous: prev,
        change_year_points: change_in_points(now, year),
        change_previous_points: change_in_points(now, prev),
        main_pollutants,
    }
}

fn trend(span: &Span, rows: &[WindowEvaluation], boundary: &[BoundaryRow]) -> ClassTrend {
    let (step, len) = if span.period == WindowPeriod::Day {
        (WindowPeriod::Hour, Duration::hours(1))
    } else {
        (WindowPeriod::Day, Duration::days(1))
    };
    let mut starts = Vec::new();
    let mut t = span.start();
    while t < span.end() {
        starts.push(t);
        t += len;
    }
    let series = boundary
        .iter()
        .map(|b| TrendSeries {
            station: b.station.clone(),
            classes: starts
                .iter()
                .map(|t| {
                    rows.iter()
                        .find(|e| e.station == b.station && e.start == *t)
                        .and_then(|e| e.class)
                })
                .collect(),
        })
        .collect();
    ClassTrend {
        step: Some(step),
        starts,
        series,
    }
}

fn air_rows(
    src: &Sources<'_>,
    span: &Span,
    last_day: chrono::NaiveDate,
    cities: Option<&[&str]>,
) -> Result<Vec<AirRow>> {
    let aqi = src.evaluations.aqi(&EvaluationQuery {
        period: Some(WindowPeriod::Day),
        from: Some(span.start()),
        to: Some(span.end()),
        ..EvaluationQuery::default()
    })?;
    let warnings = src.evaluations.warnings(&DayQuery {
        from: Some(span.first_day),
        to: Some(last_day),
        ..DayQuery::default()
    })?;
    Ok(src
        .registry
        .stations()
        .iter()
        .filter(|s| {
            s.kind == StationKind::Air && cities.is_none_or(|c| c.contains(&s.city_zh.as_str()))
        })
        .map(|s| {
            let id = s.id.as_str();
            let mut days_per_level = [0u32; 6];
            let mut days_known = 0;
            for level in aqi
                .iter()
                .filter(|a| a.station == id)
                .filter_map(|a| a.level)
            {
                if let Some(slot) = days_per_level.get_mut(usize::from(level.saturating_sub(1))) {
                    *slot += 1;
                    days_known += 1;
                }
            }
            let own: Vec<WarningLevel> = warnings
                .iter()
                .filter(|w| w.station == id)
                .map(|w| w.level)
                .collect();
            AirRow {
                station: id.to_string(),
                city_zh: s.city_zh.clone(),
                name_pinyin: s.name_pinyin.clone(),
                province: s.province,
                days_per_level,
                days_known,
                heavy_days: days_per_level[4] + days_per_level[5],
                warning_days: own.iter().filter(|l| **l > WarningLevel::None).count() as u32,
                highest_warning: own.iter().copied().max().unwrap_or_default(),
            }
        })
        .collect())
}

/// A stretch of time `[from, to)`.
type Stretch = (DateTime<Utc>, DateTime<Utc>);

/// The stretches a live rule of `station` was firing, per parameter (`None` for rules
/// without one), from its stored events up to `until`: each firing event opens a stretch
/// (a firing event while one is open, such as a gauge rising past its guaranteed level,
/// continues it) and the resolved event closes it; a stretch still open ends at `until`.
fn firing_stretches(
    src: &Sources<'_>,
    station: &str,
    rule: Rule,
    until: DateTime<Utc>,
) -> Result<Vec<(Option<String>, Stretch, Event)>> {
    let mut events = src.evaluations.events(&EventQuery {
        subject: Some(station.to_string()),
        rule: Some(rule),
        until: Some(until),
        ..EventQuery::default()
    })?;
    events.sort_by_key(|e| e.observed_at);
    let mut open: HashMap<Option<String>, Event> = HashMap::new();
    let mut out = Vec::new();
    for e in events {
        match e.status {
            EventStatus::Firing => {
                open.entry(e.parameter.clone()).or_insert(e);
            }
            EventStatus::Resolved => {
                if let Some(first) = open.remove(&e.parameter) {
                    out.push((
                        e.parameter.clone(),
                        (first.observed_at, e.observed_at),
                        first,
                    ));
                }
            }
            _ => {}
        }
    }
    for (param, first) in open {
        out.push((param, (first.observed_at, until), first));
    }
    out.sort_by_key(|(_, (a, _), _)| *a);
    Ok(out)
}

/// Hours covered by the union of `stretches` inside `[from, to)`.
fn hours_within(stretches: &[Stretch], from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    let mut clipped: Vec<Stretch> = stretches
        .iter()
        .map(|(a, b)| ((*a).max(from), (*b).min(to)))
        .filter(|(a, b)| a < b)
        .collect();
    clipped.sort();
    let mut total = Duration::zero();
    let mut current: Option<Stretch> = None;
    for (a, b) in clipped {
        current = match current {
            Some((ca, cb)) if a <= cb => Some((ca, cb.max(b))),
            Some((ca, cb)) => {
                total += cb - ca;
                Some((a, b))
            }
            None => Some((a, b)),
        };
    }
    if let Some((ca, cb)) = current {
        total += cb - ca;
    }
    total.num_milliseconds() as f64 / 3_600_000.0
}

/// An outfall's exceedances of the period from its stored `discharge_exceedance` events.
fn outfall_row(
    src: &Sources<'_>,
    s: &Station,
    span: &Span,
    until: DateTime<Utc>,
) -> Result<OutfallRow> {
    let id = s.id.as_str();
    let stretches: Vec<_> = firing_stretches(src, id, Rule::DischargeExceedance, until)?
        .into_iter()
        .filter(|(_, (a, b), _)| *b > span.start() && *a < until)
        .collect();
    let mut parameters: Vec<String> = stretches.iter().filter_map(|(p, _, _)| p.clone()).collect();
    parameters.sort();
    parameters.dedup();
    let spans: Vec<Stretch> = stretches.iter().map(|(_, x, _)| *x).collect();
    Ok(OutfallRow {
        station: id.to_string(),
        name_zh: s.name_zh.clone(),
        name_pinyin: s.name_pinyin.clone(),
        province: s.province,
        city_zh: s.city_zh.clone(),
        river: s.river.clone().unwrap_or_default(),
        standard: s.discharge_standard.clone(),
        hours_beyond: hours_within(&spans, span.start(), until),
        exceedances: stretches
            .iter()
            .filter(|(_, (a, _), _)| *a >= span.start())
            .count() as u32,
        parameters,
        beyond_at_end: spans.iter().any(|(_, b)| *b >= until),
    })
}

/// A gauge's period: its highest stored hourly mean level, and its time above the warning
/// level from its stored `flood_level` events.
fn gauge_row(
    src: &Sources<'_>,
    s: &Station,
    span: &Span,
    until: DateTime<Utc>,
) -> Result<GaugeRow> {
    let id = s.id.as_str();
    let levels = station_levels(s, src.analytics);
    let hours = src.evaluations.evaluations(&EvaluationQuery {
        station: Some(id.to_string()),
        period: Some(WindowPeriod::Hour),
        from: Some(span.start()),
        to: Some(span.end()),
        ..EvaluationQuery::default()
    })?;
    let max = hours
        .iter()
        .filter_map(|e| {
            e.parameters
                .iter()
                .find(|p| p.code == LEVEL)
                .map(|p| (p.mean, e.start))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let stretches: Vec<_> = firing_stretches(src, id, Rule::FloodLevel, until)?
        .into_iter()
        .filter(|(_, (a, b), _)| *b > span.start() && *a < until)
        .collect();
    // The states reached: every firing event of the period, and a state already in force
    // when the period began.
    let events = src.evaluations.events(&EventQuery {
        subject: Some(id.to_string()),
        rule: Some(Rule::FloodLevel),
        since: Some(span.start()),
        until: Some(until),
        ..EventQuery::default()
    })?;
    let state = |e: &Event| match e.level.as_deref() {
        Some("above_guaranteed") => LevelState::AboveGuaranteed,
        Some("above_warning") => LevelState::AboveWarning,
        _ => LevelState::Normal,
    };
    let highest_state = events
        .iter()
        .filter(|e| e.status == EventStatus::Firing)
        .chain(stretches.iter().map(|(_, _, first)| first))
        .map(state)
        .max()
        .unwrap_or(LevelState::Normal);
    let spans: Vec<Stretch> = stretches.iter().map(|(_, x, _)| *x).collect();
    let warning = levels.map(|l| l.warning_level_m);
    Ok(GaugeRow {
        station: id.to_string(),
        name_zh: s.name_zh.clone(),
        name_pinyin: s.name_pinyin.clone(),
        province: s.province,
        city_zh: s.city_zh.clone(),
        river: s.river.clone().unwrap_or_default(),
        warning_level_m: warning,
        guaranteed_level_m: levels
            .map(|l| l.guaranteed_level_m)
            .filter(|g| g.is_finite() && *g < f64::MAX),
        max_level_m: max.map(|m| m.0),
        max_at: max.map(|m| m.1),
        max_above_warning_m: max
            .zip(warning)
            .map(|((m, _), w)| ((m - w) * 1000.0).round() / 1000.0),
        hours_above_warning: hours_within(&spans, span.start(), until),
        highest_state,
    })
}

#[cfg(test)]
mod tests;
