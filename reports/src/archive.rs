//! The report archive: `reports.db` in the data directory (opened through
//! [`riverwatch_core::sqlite`]), one row per issued report and revision — period, first and
//! last day, river (empty for the zone), language, revision number, digest, the archived
//! file, when it was made and when it was queued for its recipients — and the schedule's
//! first start. The schedule decides from these rows, never from memory, whether a report
//! is due, unchanged or revised, so a restart neither skips nor repeats one.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use riverwatch_core::Lang;
use riverwatch_core::events::WindowPeriod;
use riverwatch_core::sqlite::{self, OpenError, Schema, Synchronous};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

/// The archive's tables.
const TABLES: &str = "
CREATE TABLE IF NOT EXISTS archive (
    id          INTEGER PRIMARY KEY,
    period      TEXT    NOT NULL,
    first_day   TEXT    NOT NULL,
    last_day    TEXT    NOT NULL,
    river       TEXT    NOT NULL,
    lang        TEXT    NOT NULL,
    revision    INTEGER NOT NULL,
    digest      TEXT    NOT NULL,
    file        TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    queued_at   TEXT,
    recipients  INTEGER NOT NULL DEFAULT 0,
    UNIQUE (period, first_day, river, lang, revision)
);
CREATE INDEX IF NOT EXISTS archive_by_day ON archive (first_day);
CREATE TABLE IF NOT EXISTS schedule_state (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
";

/// The archive's schema.
pub const SCHEMA: Schema = Schema {
    store: "report archive",
    owner: "`riverwatch up` or `riverwatch reports run`",
    version: 1,
    upgradable: &[],
    migrate: None,
    tables: TABLES,
};

/// An archive that cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// The file cannot be opened as the archive.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// A query failed.
    #[error("the report archive {path}: {source}")]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// A row the archive cannot read back.
    #[error("the report archive {path}: row {id}: {what}")]
    Row {
        /// The file.
        path: PathBuf,
        /// The row.
        id: i64,
        /// What is wrong.
        what: String,
    },
}

/// One issued report (one revision).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchiveEntry {
    /// Row id.
    pub id: i64,
    /// Day, week, month, quarter or year.
    pub period: WindowPeriod,
    /// First CST day of the period.
    pub first_day: NaiveDate,
    /// Last CST day of the period (inclusive).
    pub last_day: NaiveDate,
    /// The river, `None` for the zone.
    pub river: Option<String>,
    /// Language.
    pub lang: Lang,
    /// 0 for the first issue, then 1, 2, … for each 修订.
    pub revision: u32,
    /// [`crate::json::digest`] of the report.
    pub digest: String,
    /// The archived workbook.
    pub file: PathBuf,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was queued for every recipient (`None`: not yet).
    pub queued_at: Option<DateTime<Utc>>,
    /// How many recipients it was queued for.
    pub recipients: u32,
}

/// A report to record: the fields of [`ArchiveEntry`] but the id and the queueing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// Day, week, month, quarter or year.
    pub period: WindowPeriod,
    /// First CST day.
    pub first_day: NaiveDate,
    /// Last CST day.
    pub last_day: NaiveDate,
    /// The river, `None` for the zone.
    pub river: Option<String>,
    /// Language.
    pub lang: Lang,
    /// Revision number.
    pub revision: u32,
    /// Digest.
    pub digest: String,
    /// The archived workbook.
    pub file: PathBuf,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// Which archived reports to list.
#[derive(Debug, Clone, Default)]
pub struct ArchiveQuery {
    /// Only this period.
    pub period: Option<WindowPeriod>,
    /// Only this river (`Some("")`: the zone's).
    pub river: Option<String>,
    /// Only periods starting on or after this day.
    pub from: Option<NaiveDate>,
    /// At most this many rows, the newest first.
    pub limit: Option<u32>,
}

/// The report archive.
#[derive(Debug)]
pub struct Archive {
    conn: Connection,
    path: PathBuf,
}

const FIRST_START: &str = "first_start";
const LAST_RUN: &str = "last_run";

fn parse_period(s: &str) -> Option<WindowPeriod> {
    WindowPeriod::REPORTING
        .into_iter()
        .find(|p| p.as_str() == s)
}

impl Archive {
    /// Opens (and creates) the archive for writing.
    ///
    /// # Errors
    /// The file cannot be created or is not a report archive of this version.
    pub fn open(path: &Path) -> Result<Self, ArchiveError> {
        Ok(Self {
            conn: sqlite::open_writer(path, &SCHEMA, Synchronous::Full)?,
            path: path.to_path_buf(),
        })
    }

    /// Opens an existing archive read-only.
    ///
    /// # Errors
    /// The file does not exist or is not a report archive of this version.
    pub fn open_reader(path: &Path) -> Result<Self, ArchiveError> {
        Ok(Self {
            conn: sqlite::open_reader(path, &SCHEMA)?,
            path: path.to_path_buf(),
        })
    }

    /// The archive in `data_dir` named `store_file`.
    pub fn path_in(data_dir: &Path, store_file: &str) -> PathBuf {
        data_dir.join(store_file)
    }

    fn sql(&self) -> impl Fn(rusqlite::Error) -> ArchiveError + '_ {
        |source| ArchiveError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// When the schedule first ran on this archive: `now`, recorded, on the first call.
    ///
    /// # Errors
    /// A database error.
    pub fn first_start(&mut self, now: DateTime<Utc>) -> Result<DateTime<Utc>, ArchiveError> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO schedule_state (key, value) VALUES (?1, ?2)",
                params![FIRST_START, now.to_rfc3339()],
            )
            .map_err(self.sql())?;
        let text: String = self
            .conn
            .query_row(
                "SELECT value FROM schedule_state WHERE key = ?1",
                [FIRST_START],
                |r| r.get(0),
            )
            .map_err(self.sql())?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| ArchiveError::Row {
                path: self.path.clone(),
                id: 0,
                what: format!("first_start `{text}`: {e}"),
            })
    }

    /// Records the end of a run: its clock time and what it did (JSON), for `reports list`
    /// and for anyone waiting on the schedule.
    ///
    /// # Errors
    /// A database error.
    pub fn record_run(&mut self, at: DateTime<Utc>, what: &str) -> Result<(), ArchiveError> {
        self.conn
            .execute(
                "INSERT INTO schedule_state (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![LAST_RUN, format!("{} {what}", at.to_rfc3339())],
            )
            .map_err(self.sql())?;
        Ok(())
    }

    /// The last run: its clock time and what it did, as recorded by [`Archive::record_run`].
    ///
    /// # Errors
    /// A database error or an unreadable value.
    pub fn last_run(&self) -> Result<Option<(DateTime<Utc>, String)>, ArchiveError> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM schedule_state WHERE key = ?1",
                [LAST_RUN],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.sql())?;
        let Some(text) = text else { return Ok(None) };
        let (at, what) = text.split_once(' ').unwrap_or((&text, ""));
        let at = DateTime::parse_from_rfc3339(at)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| ArchiveError::Row {
                path: self.path.clone(),
                id: 0,
                what: format!("last_run `{text}`: {e}"),
            })?;
        Ok(Some((at, what.to_string())))
    }

    /// The latest revision of a report, if it was issued.
    ///
    /// # Errors
    /// A database error or an unreadable row.
    pub fn latest(
        &self,
        period: WindowPeriod,
        first_day: NaiveDate,
        river: Option<&str>,
        lang: Lang,
    ) -> Result<Option<ArchiveEntry>, ArchiveError> {
        let row = self
            .conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM archive WHERE period = ?1 AND first_day = ?2 \
                     AND river = ?3 AND lang = ?4 ORDER BY revision DESC LIMIT 1"
                ),
                params![
                    period.as_str(),
                    first_day.to_string(),
                    river.unwrap_or(""),
                    lang.to_string()
                ],
                Raw::read,
            )
            .optional()
            .map_err(self.sql())?;
        row.map(|r| r.entry(&self.path)).transpose()
    }

    /// Records an issued report; its id.
    ///
    /// # Errors
    /// A database error (that revision already recorded among them).
    pub fn insert(&mut self, e: &NewEntry) -> Result<i64, ArchiveError> {
        self.conn
            .execute(
                "INSERT INTO archive (period, first_day, last_day, river, lang, revision, digest, \
                 file, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    e.period.as_str(),
                    e.first_day.to_string(),
                    e.last_day.to_string(),
                    e.river.as_deref().unwrap_or(""),
                    e.lang.to_string(),
                    e.revision,
                    e.digest,
                    e.file.to_string_lossy(),
                    e.created_at.to_rfc3339(),
                ],
            )
            .map_err(self.sql())?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records that report `id` was queued for `recipients` recipients at `at`.
    ///
    /// # Errors
    /// A database error.
    pub fn mark_queued(
        &mut self,
        id: i64,
        at: DateTime<Utc>,
        recipients: u32,
    ) -> Result<(), ArchiveError> {
        self.conn
            .execute(
                "UPDATE archive SET queued_at = ?2, recipients = ?3 WHERE id = ?1",
                params![id, at.to_rfc3339(), recipients],
            )
            .map_err(self.sql())?;
        Ok(())
    }

    /// Archived reports, the newest period first, each period's revisions in order.
    ///
    /// # Errors
    /// A database error or an unreadable row.
    pub fn list(&self, q: &ArchiveQuery) -> Result<Vec<ArchiveEntry>, ArchiveError> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM archive \
                 WHERE (?1 IS NULL OR period = ?1) AND (?2 IS NULL OR river = ?2) \
                 AND (?3 IS NULL OR first_day >= ?3) \
                 ORDER BY first_day DESC, period, river, lang, revision LIMIT ?4"
            ))
            .map_err(self.sql())?;
        let rows = stmt
            .query_map(
                params![
                    q.period.map(WindowPeriod::as_str),
                    q.river.as_deref(),
                    q.from.map(|d| d.to_string()),
                    q.limit.map_or(-1, i64::from),
                ],
                Raw::read,
            )
            .map_err(self.sql())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.sql())?;
        rows.into_iter().map(|r| r.entry(&self.path)).collect()
    }
}

const COLUMNS: &str = "id, period, first_day, last_day, river, lang, revision, digest, file, \
                       created_at, queued_at, recipients";

/// A row as stored.
struct Raw {
    id: i64,
    period: String,
    first_day: String,
    last_day: String,
    river: String,
    lang: String,
    revision: u32,
    digest: String,
    file: String,
    created_at: String,
    queued_at: Option<String>,
    recipients: u32,
}

impl Raw {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            period: r.get(1)?,
            first_day: r.get(2)?,
            last_day: r.get(3)?,
            river: r.get(4)?,
            lang: r.get(5)?,
            revision: r.get(6)?,
            digest: r.get(7)?,
            file: r.get(8)?,
            created_at: r.get(9)?,
            queued_at: r.get(10)?,
            recipients: r.get(11)?,
        })
    }

    fn entry(self, path: &Path) -> Result<ArchiveEntry, ArchiveError> {
        let id = self.id;
        let bad = |what: String| ArchiveError::Row {
            path: path.to_path_buf(),
            id,
            what,
        };
        let day = |s: &str| {
            s.parse::<NaiveDate>()
                .map_err(|e| bad(format!("day `{s}`: {e}")))
        };
        let time = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| bad(format!("time `{s}`: {e}")))
        };
        Ok(ArchiveEntry {
            id,
            period: parse_period(&self.period)
                .ok_or_else(|| bad(format!("period `{}`", self.period)))?,
            first_day: day(&self.first_day)?,
            last_day: day(&self.last_day)?,
            river: Some(self.river).filter(|r| !r.is_empty()),
            lang: self.lang.parse().map_err(bad)?,
            revision: self.revision,
            digest: self.digest,
            file: PathBuf::from(self.file),
            created_at: time(&self.created_at)?,
            queued_at: self.queued_at.as_deref().map(time).transpose()?,
            recipients: self.recipients,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_are_kept_and_the_latest_is_found_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reports.db");
        let day = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
        let t0 = DateTime::from_timestamp(1_764_460_800, 0).unwrap();
        let entry = |revision, digest: &str| NewEntry {
            period: WindowPeriod::Day,
            first_day: day,
            last_day: day,
            river: Some("lalin".into()),
            lang: Lang::Zh,
            revision,
            digest: digest.into(),
            file: dir.path().join(format!("r{revision}.xlsx")),
            created_at: t0,
        };
        {
            let mut a = Archive::open(&path).unwrap();
            assert_eq!(a.first_start(t0).unwrap(), t0);
            let id = a.insert(&entry(0, "d0")).unwrap();
            a.mark_queued(id, t0, 2).unwrap();
            a.insert(&entry(1, "d1")).unwrap();
            // The same revision twice is refused.
            assert!(a.insert(&entry(1, "d2")).is_err());
        }
        let mut a = Archive::open(&path).unwrap();
        assert_eq!(a.last_run().unwrap(), None);
        a.record_run(t0, "{\"issued\":1}").unwrap();
        a.record_run(t0 + chrono::Duration::hours(1), "{\"issued\":0}")
            .unwrap();
        assert_eq!(
            a.last_run().unwrap(),
            Some((
                t0 + chrono::Duration::hours(1),
                "{\"issued\":0}".to_string()
            ))
        );
        // The first start stays the first.
        let later = t0 + chrono::Duration::days(3);
        assert_eq!(a.first_start(later).unwrap(), t0);
        let latest = a
            .latest(WindowPeriod::Day, day, Some("lalin"), Lang::Zh)
            .unwrap()
            .unwrap();
        assert_eq!((latest.revision, latest.digest.as_str()), (1, "d1"));
        assert_eq!(latest.queued_at, None);
        assert!(
            a.latest(WindowPeriod::Day, day, None, Lang::Zh)
                .unwrap()
                .is_none()
        );
        assert!(
            a.latest(WindowPeriod::Day, day, Some("lalin"), Lang::En)
                .unwrap()
                .is_none()
        );
        let all = Archive::open_reader(&path)
            .unwrap()
            .list(&ArchiveQuery::default())
            .unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].queued_at, Some(t0));
        assert_eq!(all[0].recipients, 2);
    }
}
