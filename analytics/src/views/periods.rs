//! Every station's evaluation over one reporting period (`riverwatch evaluations periods`,
//! the console's period tables and the river-chief reports): the stored day or month as it is,
//! and weeks, quarters and years from the stored days ([`crate::windows::spans`]). One
//! function, so the report, the console and the terminal show the same numbers.

use chrono::{DateTime, NaiveDate, Utc};
use riverwatch_core::events::WindowPeriod;
use riverwatch_core::registry::{Registry, StationKind};

use crate::AnalyticsConfig;
use crate::model::WindowEvaluation;
use crate::store::{EvaluationQuery, EvaluationReader, Result};
use crate::windows::Context;
use crate::windows::spans::{Span, evaluate_span};

/// The evaluations of `span` for every water and air station of the registry (or `station`
/// alone), in registry order. A station with no stored day in the span is left out.
///
/// Days and months are read as the engine stored them (latest revision); weeks, quarters and
/// years are evaluated from the stored days of the span, stamped `now`.
///
/// # Errors
/// Any store failure.
pub fn period_evaluations(
    reader: &EvaluationReader,
    registry: &Registry,
    config: &AnalyticsConfig,
    span: &Span,
    station: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<WindowEvaluation>> {
    let stored = span.period.is_stored();
    let rows = reader.evaluations(&EvaluationQuery {
        station: station.map(str::to_string),
        period: Some(if stored {
            span.period
        } else {
            WindowPeriod::Day
        }),
        from: Some(span.start()),
        to: Some(span.end()),
        all_revisions: false,
        limit: None,
    })?;
    let ctx = Context {
        registry,
        config,
        now,
    };
    let mut out = Vec::new();
    for s in registry.stations() {
        if !matches!(s.kind, StationKind::Water | StationKind::Air)
            || station.is_some_and(|id| id != s.id.as_str())
        {
            continue;
        }
        let own: Vec<WindowEvaluation> = rows
            .iter()
            .filter(|e| e.station == s.id.as_str())
            .cloned()
            .collect();
        if own.is_empty() {
            continue;
        }
        if stored {
            out.extend(own.into_iter().filter(|e| e.start == span.start()));
        } else {
            out.push(evaluate_span(&ctx, s, span, &own));
        }
    }
    Ok(out)
}

/// The span of `period` holding the CST `date`, with the spans before it (环比) and a year
/// earlier (同比): what a report compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Comparison {
    /// The period itself.
    pub this: Span,
    /// The period before (环比).
    pub previous: Option<Span>,
    /// The same period a year earlier (同比).
    pub year_before: Option<Span>,
}

impl Comparison {
    /// The comparison for `period` and `date`; `None` for hours.
    pub fn of(period: WindowPeriod, date: NaiveDate) -> Option<Self> {
        let this = Span::containing(period, date)?;
        Some(Self {
            this,
            previous: this.previous(),
            year_before: this.year_before(),
        })
    }
}

#[cfg(test)]
mod tests {
    //! The period view over a real SQLite evaluation store: revisions, stored months, and a
    //! week worked out by hand from the days written.

    use chrono::TimeZone;
    use riverwatch_core::WaterClass;

    use super::*;
    use crate::model::ParameterMean;
    use crate::store::{AnalyticsStore, Commit};

    /// A stored daily evaluation of LLH-NTS (9 parameters every 4 h: 54 readings expected)
    /// whose NH3N mean is `nh3n` (CODMn 3.0, Class II, so NH3N decides above 0.5).
    fn day(date: NaiveDate, nh3n: f64, revision: u32) -> WindowEvaluation {
        let start = crate::describe::day_start(date);
        WindowEvaluation {
            station: "LLH-NTS".into(),
            period: WindowPeriod::Day,
            start,
            revision,
            computed_at: start,
            standard: "GB 3838-2002; 环办〔2011〕22号".into(),
            class: None,
            target: Some(WaterClass::III),
            compliant: None,
            deciding: vec![],
            main_pollutants: vec![],
            completeness: 1.0,
            valid_readings: 54,
            expected_readings: 54,
            sufficient: true,
            parameters: vec![
                ParameterMean {
                    code: "NH3N".into(),
                    mean: nh3n,
                    count: 6,
                    class: None,
                    exceedance_multiple: None,
                    in_section_class: true,
                },
                ParameterMean {
                    code: "CODMn".into(),
                    mean: 3.0,
                    count: 6,
                    class: None,
                    exceedance_multiple: None,
                    in_section_class: true,
                },
            ],
        }
    }

    fn date(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
    }

    #[test]
    fn a_week_is_judged_from_the_latest_revision_of_its_stored_days() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("analytics.db");
        let store = AnalyticsStore::open(&path).unwrap();
        // Week 2026-W48: Monday 23 to Sunday 29 November. Five days of NH3N 0.8; the 25th was
        // first stored as 0.8 and revised to 2.3 by late data; the 29th has no data. The
        // 30th belongs to the next week.
        let mut evaluations: Vec<WindowEvaluation> =
            (23..=28).map(|d| day(date(d), 0.8, 0)).collect();
        evaluations.push(day(date(25), 2.3, 1));
        evaluations.push(day(date(30), 9.0, 0));
        store
            .commit(&Commit {
                evaluations,
                ..Commit::default()
            })
            .unwrap();

        let reader = EvaluationReader::open(&path).unwrap();
        let registry = Registry::builtin().unwrap();
        let config = AnalyticsConfig::default();
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        let week = Comparison::of(WindowPeriod::Week, date(26)).unwrap();
        assert_eq!(week.this.first_day, date(23));
        let rows = period_evaluations(
            &reader,
            &registry,
            &config,
            &week.this,
            Some("LLH-NTS"),
            now,
        )
        .unwrap();
        assert_eq!(rows.len(), 1);
        let w = &rows[0];
        assert_eq!(w.period, WindowPeriod::Week);
        // NH3N: (5 × 0.8 + 2.3) / 6 = 1.05 → Class IV (1.0 < 1.05 ≤ 1.5), not compliant with
        // its Class III target; its exceedance multiple (1.05 − 1.0) / 1.0 = 0.05.
        let nh3n = w.parameters.iter().find(|p| p.code == "NH3N").unwrap();
        assert!((nh3n.mean - 1.05).abs() < 1e-9, "{}", nh3n.mean);
        assert_eq!(nh3n.count, 6);
        assert_eq!(w.class, Some(WaterClass::IV));
        assert_eq!(w.compliant, Some(false));
        assert_eq!(w.main_pollutants, vec!["NH3N".to_string()]);
        assert!((nh3n.exceedance_multiple.unwrap() - 0.05).abs() < 1e-9);
        // 6 of 7 days delivered all 54 readings.
        assert_eq!((w.valid_readings, w.expected_readings), (324, 378));

        // Nothing stored for the week before: no row.
        let before = week.previous.unwrap();
        assert!(
            period_evaluations(&reader, &registry, &config, &before, None, now)
                .unwrap()
                .is_empty()
        );
        // A stored day is returned as stored (latest revision).
        let d25 = Span::containing(WindowPeriod::Day, date(25)).unwrap();
        let rows =
            period_evaluations(&reader, &registry, &config, &d25, Some("LLH-NTS"), now).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].revision, 1);
        assert_eq!(rows[0].parameters[0].mean, 2.3);
    }
}
