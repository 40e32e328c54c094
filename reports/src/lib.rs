//! riverwatch-reports: the river-chief reports (河长制报告). A report of a day, week, month,
//! quarter or year is assembled from what the services stored — the evaluations of each
//! section and city through [`riverwatch_analytics::views::periods`] and
//! [`riverwatch_analytics::store::EvaluationReader`], the alerts of the period through
//! [`riverwatch_alerts::views`], the audit head through [`riverwatch_alerts::AlertReader`] —
//! and computes nothing of its own beyond counting and grading the stored classes, so a
//! number is the same in the report, on the console and in `riverwatch evaluations`.
//!
//! Data flow: [`assemble`] (stores → typed [`model::Report`]) → [`json`] (the programs'
//! view) and [`tables`] (titled tables in the operator's language) → [`csv`], [`html`], [`xlsx`];
//! [`delivery`] makes the email and picks the recipients; [`schedule`] issues the reports at
//! their due times into the [`archive`] and the alert service's outbox.
//!
//! # Layout
//! - [`model`]: the typed report: section rows, rivers, boundary sections, incidents, the
//!   ledger, alerts, air, outfalls, gauges, the audit head.
//! - [`assemble`]: reads the stores and builds a [`model::Report`] for a period and date.
//! - [`json`]: the programs' view (`--format json`) and the digest that tells a revision.
//! - [`tables`]: the report as titled tables of typed cells, headers with units; the
//!   summary; class colours.
//! - [`csv`]: one CSV file per table.
//! - [`html`]: the HTML report and the email body (inline styles only).
//! - [`xlsx`]: the Excel workbook: summary, one sheet per table, the boundary-class chart.
//! - [`delivery`]: file name, outbox key, subject (修订 marks), the report email, and the
//!   recipients from the alert routing; shared by `riverwatch report --send` and the schedule.
//! - [`config`]: `[reports]`: the schedule of each period, language, archive folder.
//! - [`archive`]: `reports.db`, one row per issued report and revision.
//! - [`schedule`]: the service: due times (UTC+8), catch-up after a restart, re-checks and
//!   revisions, archiving and queueing.
#![deny(missing_docs)]

pub mod archive;
pub mod assemble;
pub mod config;
pub mod csv;
pub mod delivery;
pub mod html;
pub mod json;
pub mod model;
pub mod schedule;
pub mod tables;
pub mod xlsx;

pub use assemble::{Request, Sources, assemble};
pub use config::ReportsConfig;
pub use model::Report;

/// A report that cannot be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The period and date give no span (hours, or a date at the end of the calendar).
    #[error("no {period} reporting period holds {date}")]
    Period {
        /// The period asked for.
        period: &'static str,
        /// The date.
        date: chrono::NaiveDate,
    },
    /// A river id that is not in the registry.
    #[error("unknown river `{0}`")]
    UnknownRiver(String),
    /// The evaluation store failed.
    #[error("evaluation store: {0}")]
    Evaluations(#[from] riverwatch_analytics::store::StoreError),
    /// The alert store failed.
    #[error("alert store: {0}")]
    Alerts(#[from] riverwatch_alerts::store::StoreError),
    /// The report archive failed.
    #[error("{0}")]
    Archive(#[from] archive::ArchiveError),
    /// The workbook could not be built.
    #[error("workbook: {0}")]
    Workbook(#[from] rust_xlsxwriter::XlsxError),
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `[reports]` is invalid.
    #[error("[reports] {0}")]
    Config(String),
    /// A blocking task failed.
    #[error("report task: {0}")]
    Task(String),
}

/// Result with the crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
