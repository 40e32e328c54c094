//! The stored evaluations by view and filter (`riverwatch evaluations …`): one call reads
//! the rows of one view from the evaluation store.

use riverwatch_core::events::{Event, WindowPeriod};
use riverwatch_core::time::cst_date;
use serde::Serialize;

use crate::describe::window_label;
use crate::model::{
    AqiRecord, CurrentStatus, Incident, JointControlRecord, LedgerEntry, WarningRecord,
    WindowEvaluation,
};
use crate::store::{DayQuery, EvaluationQuery, EvaluationReader, EventQuery, LedgerQuery, Result};

/// What to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// The latest live status of each station.
    Current,
    /// Hourly, daily or monthly classes, means and valid-data rates.
    Classes,
    /// Hourly or daily AQI.
    Aqi,
    /// City warning levels per day.
    Warnings,
    /// The regional joint-control state per day.
    Joint,
    /// Incidents moving downstream.
    Incidents,
    /// The compensation ledger.
    Ledger,
    /// Events emitted.
    Events,
}

/// Which rows of a view: the station, period, time range, revisions and count of
/// [`EvaluationQuery`]; days and months take the CST days holding `from` and `to`, events
/// the station as their subject.
pub type Filter = EvaluationQuery;

fn days(f: &Filter) -> DayQuery {
    DayQuery {
        station: f.station.clone(),
        from: f.from.map(cst_date),
        to: f.to.map(cst_date),
        all_revisions: f.all_revisions,
    }
}

fn months(f: &Filter) -> LedgerQuery {
    LedgerQuery {
        station: f.station.clone(),
        from_month: f.from.map(|t| window_label(WindowPeriod::Month, t)),
        to_month: f.to.map(|t| window_label(WindowPeriod::Month, t)),
        all_revisions: f.all_revisions,
    }
}

fn events(f: &Filter) -> EventQuery {
    EventQuery {
        subject: f.station.clone(),
        rule: None,
        since: f.from,
        until: f.to,
        limit: f.limit,
    }
}

/// The rows of one view. Serialized as the bare list of its records.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Rows {
    /// [`View::Current`].
    Current(Vec<CurrentStatus>),
    /// [`View::Classes`].
    Classes(Vec<WindowEvaluation>),
    /// [`View::Aqi`].
    Aqi(Vec<AqiRecord>),
    /// [`View::Warnings`].
    Warnings(Vec<WarningRecord>),
    /// [`View::Joint`].
    Joint(Vec<JointControlRecord>),
    /// [`View::Incidents`].
    Incidents(Vec<Incident>),
    /// [`View::Ledger`].
    Ledger(Vec<LedgerEntry>),
    /// [`View::Events`].
    Events(Vec<Event>),
}

/// Reads the rows of `view` that `filter` selects, on a blocking thread.
///
/// # Errors
/// Any store failure.
pub async fn read(reader: &EvaluationReader, view: View, filter: &Filter) -> Result<Rows> {
    let f = filter.clone();
    reader
        .run(move |r| {
            Ok(match view {
                View::Current => Rows::Current(r.current(f.station.as_deref())?),
                View::Classes => Rows::Classes(r.evaluations(&f)?),
                View::Aqi => Rows::Aqi(r.aqi(&f)?),
                View::Warnings => Rows::Warnings(r.warnings(&days(&f))?),
                View::Joint => Rows::Joint(r.joint_control(&days(&f))?),
                View::Incidents => Rows::Incidents(r.incidents(f.station.as_deref(), f.from)?),
                View::Ledger => Rows::Ledger(r.ledger(&months(&f))?),
                View::Events => Rows::Events(r.events(&events(&f))?),
            })
        })
        .await
}
