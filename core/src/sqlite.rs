//! How every riverwatch SQLite file is opened: the readings store (and the InfluxDB spool in
//! the same file), the evaluation store and the alert store.
//!
//! A writer creates a new file with mode 0600 (its folder 0700, whatever the umask) before
//! SQLite touches it (SQLite gives the `-wal` and `-shm` files it creates the database
//! file's mode), turns WAL mode on and checks
//! that it took, sets the busy timeout and the durability the caller asks for, and checks the
//! schema version: the current one is opened, an older one the store can upgrade is
//! upgraded in the same transaction that creates the tables, anything else is refused before
//! the file is touched. A reader opens read-only and refuses a version it cannot read. Every
//! error names the file and says what to do.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};
use tracing::info;

/// How long a connection waits for another connection's lock before it fails as busy.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The table every store keeps its schema version in (`key = 'schema_version'`).
const META: &str = "CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);";

/// How hard SQLite syncs a commit to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// fsync the WAL on every commit: a commit survives power loss (the default).
    #[default]
    Full,
    /// fsync at checkpoints only: a commit survives a process crash but the last commits
    /// may be lost on power loss.
    Normal,
}

impl Synchronous {
    /// The PRAGMA value.
    pub const fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

/// Brings a file of an older schema version up to the current one, inside the transaction
/// that then records the current version. Gets the file (for its log) and the version found.
pub type Migration = fn(&Transaction<'_>, &Path, i64) -> Result<(), String>;

/// What a store's file is: its name, who writes it, its tables and its schema versions.
#[derive(Clone, Copy)]
pub struct Schema {
    /// What the file is, in messages: `readings store`.
    pub store: &'static str,
    /// Who creates the file and upgrades older versions, in messages:
    /// ``"`riverwatch ingest` or `riverwatch up`"``.
    pub owner: &'static str,
    /// The version this build writes and reads.
    pub version: i64,
    /// Older versions a writer upgrades with `migrate`; a reader refuses them.
    pub upgradable: &'static [i64],
    /// The upgrade of the versions in `upgradable`.
    pub migrate: Option<Migration>,
    /// The store's tables and indexes (`CREATE … IF NOT EXISTS`), run at every writer open;
    /// the `meta` table is the opener's.
    pub tables: &'static str,
}

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schema")
            .field("store", &self.store)
            .field("version", &self.version)
            .field("upgradable", &self.upgradable)
            .finish_non_exhaustive()
    }
}

/// A file that cannot be opened as the store it should be.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The file or its folder cannot be created.
    #[error("cannot create {path}: {source}; check that this user may write to its folder")]
    Create {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A reader was pointed at a file that does not exist.
    #[error("the {store} {path} does not exist yet; {owner} creates it")]
    Missing {
        /// Which store.
        store: &'static str,
        /// The file.
        path: PathBuf,
        /// Who creates it.
        owner: &'static str,
    },
    /// SQLite refused to open or set up the file.
    #[error("the {store} {path}: {source}; {}", advice(.source))]
    Sqlite {
        /// Which store.
        store: &'static str,
        /// The file.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// WAL mode did not take.
    #[error(
        "the {store} {path} cannot use WAL mode (journal_mode is `{mode}`); keep the data \
         directory on a local file system (WAL needs shared memory, which network file systems \
         do not offer)"
    )]
    NotWal {
        /// Which store.
        store: &'static str,
        /// The file.
        path: PathBuf,
        /// The journal mode SQLite reported.
        mode: String,
    },
    /// The file has a schema version this build cannot read.
    #[error(
        "the {store} {path} has schema version {found}; this riverwatch reads version {version}: \
         open it with the riverwatch release that wrote it"
    )]
    Schema {
        /// Which store.
        store: &'static str,
        /// The file.
        path: PathBuf,
        /// The version recorded in the file.
        found: String,
        /// The version this build reads.
        version: i64,
    },
    /// A reader found an older version that the writer upgrades when it opens the file.
    #[error(
        "the {store} {path} has schema version {found}; {owner} upgrades it to version \
         {version} when it opens it"
    )]
    NotUpgraded {
        /// Which store.
        store: &'static str,
        /// The file.
        path: PathBuf,
        /// The version recorded in the file.
        found: i64,
        /// The version this build reads.
        version: i64,
        /// Who upgrades it.
        owner: &'static str,
    },
    /// The upgrade of an older version failed; the file is as it was.
    #[error(
        "cannot upgrade the {store} {path} from schema version {from}: {detail}; the file is \
         unchanged (keep a copy before trying again)"
    )]
    Upgrade {
        /// Which store.
        store: &'static str,
        /// The file.
        path: PathBuf,
        /// The version found.
        from: i64,
        /// What failed.
        detail: String,
    },
}

impl OpenError {
    /// Whether trying again later may succeed (another process holds the file locked).
    pub fn is_busy(&self) -> bool {
        matches!(self, OpenError::Sqlite { source, .. } if is_busy(source))
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// What an operator can do about an SQLite error met while opening a file.
fn advice(e: &rusqlite::Error) -> &'static str {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            "another process holds the file locked; try again once it is done"
        }
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            "the file is damaged or not a riverwatch database; move it aside (riverwatch never \
             overwrites it) and restore a backup, or start with no file"
        }
        Some(ErrorCode::DiskFull) => "free space on the disk of the data directory",
        Some(ErrorCode::ReadOnly | ErrorCode::PermissionDenied | ErrorCode::CannotOpen) => {
            "check that this user may read and write the file and its folder"
        }
        _ => "check the file and its folder",
    }
}

/// Opens `path` as `schema`'s store for writing, creating the file (mode 0600), its folder
/// and its tables when needed, upgrading an older schema version the schema can upgrade.
///
/// # Errors
/// The folder or file cannot be created, SQLite refuses the file, WAL mode does not take, or
/// the file has a schema version the store cannot read or upgrade.
pub fn open_writer(
    path: &Path,
    schema: &Schema,
    synchronous: Synchronous,
) -> Result<Connection, OpenError> {
    create_private(path)?;
    let sql = |source| OpenError::Sqlite {
        store: schema.store,
        path: path.to_path_buf(),
        source,
    };
    let mut conn = Connection::open(path).map_err(sql)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(sql)?;
    check_wal(&mode, schema, path)?;
    conn.execute_batch(&format!("PRAGMA synchronous={};", synchronous.pragma()))
        .map_err(sql)?;
    // Refused before anything is written to the file.
    let found = stored_version(&conn, schema, path)?;
    if let Some(v) = found
        && v != schema.version
        && !schema.upgradable.contains(&v)
    {
        return Err(schema_error(schema, path, v.to_string()));
    }
    // Immediate: two processes creating the same file do not both record a version.
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(sql)?;
    tx.execute_batch(META).map_err(sql)?;
    tx.execute_batch(schema.tables).map_err(sql)?;
    match found {
        None => {
            tx.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?1)",
                [schema.version.to_string()],
            )
            .map_err(sql)?;
        }
        Some(v) if v == schema.version => {}
        Some(from) => {
            let started = Instant::now();
            let upgrade = |detail: String| OpenError::Upgrade {
                store: schema.store,
                path: path.to_path_buf(),
                from,
                detail,
            };
            let migrate = schema
                .migrate
                .ok_or_else(|| upgrade("this build has no upgrade for it".to_string()))?;
            migrate(&tx, path, from).map_err(upgrade)?;
            tx.execute(
                "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
                [schema.version.to_string()],
            )
            .map_err(|e| upgrade(e.to_string()))?;
            info!(
                file = %path.display(),
                from,
                to = schema.version,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "Upgraded the {} to the current schema version.", schema.store
            );
        }
    }
    tx.commit().map_err(sql)?;
    Ok(conn)
}

/// Opens `path` as `schema`'s store read-only. A file without a recorded version yet is
/// opened (the queries report what is missing); another version than the current is refused.
///
/// # Errors
/// The file does not exist, SQLite refuses it, or it has another schema version.
pub fn open_reader(path: &Path, schema: &Schema) -> Result<Connection, OpenError> {
    require_exists(path, schema)?;
    let sql = |source| OpenError::Sqlite {
        store: schema.store,
        path: path.to_path_buf(),
        source,
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
    match stored_version(&conn, schema, path)? {
        None => Ok(conn),
        Some(v) if v == schema.version => Ok(conn),
        Some(v) if schema.upgradable.contains(&v) => Err(OpenError::NotUpgraded {
            store: schema.store,
            path: path.to_path_buf(),
            found: v,
            version: schema.version,
            owner: schema.owner,
        }),
        Some(v) => Err(schema_error(schema, path, v.to_string())),
    }
}

/// Checks that a reader's file exists, without opening it.
///
/// # Errors
/// [`OpenError::Missing`].
pub fn require_exists(path: &Path, schema: &Schema) -> Result<(), OpenError> {
    if path.exists() {
        Ok(())
    } else {
        Err(OpenError::Missing {
            store: schema.store,
            path: path.to_path_buf(),
            owner: schema.owner,
        })
    }
}

fn schema_error(schema: &Schema, path: &Path, found: String) -> OpenError {
    OpenError::Schema {
        store: schema.store,
        path: path.to_path_buf(),
        found,
        version: schema.version,
    }
}

fn check_wal(mode: &str, schema: &Schema, path: &Path) -> Result<(), OpenError> {
    if mode.eq_ignore_ascii_case("wal") {
        Ok(())
    } else {
        Err(OpenError::NotWal {
            store: schema.store,
            path: path.to_path_buf(),
            mode: mode.to_string(),
        })
    }
}

/// The schema version recorded in the file; `None` when none is recorded yet.
fn stored_version(
    conn: &Connection,
    schema: &Schema,
    path: &Path,
) -> Result<Option<i64>, OpenError> {
    let sql = |source| OpenError::Sqlite {
        store: schema.store,
        path: path.to_path_buf(),
        source,
    };
    let has_meta: bool = conn
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
            [],
            |r| r.get(0),
        )
        .map_err(sql)?;
    if !has_meta {
        return Ok(None);
    }
    let value: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql)?;
    match value {
        None => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .map(Some)
            .map_err(|_| schema_error(schema, path, format!("`{v}`"))),
    }
}

/// Creates the folder (0700) and an empty file readable and writable by this user only
/// (0600, whatever the umask), unless the file exists. SQLite then gives its `-wal` and
/// `-shm` files the same mode.
fn create_private(path: &Path) -> Result<(), OpenError> {
    crate::files::create_private_file(path)
        .map(|_| ())
        .map_err(|e| OpenError::Create {
            path: e.path,
            source: e.source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLES: &str = "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT);";

    fn upgrade_v1(tx: &Transaction<'_>, _: &Path, from: i64) -> Result<(), String> {
        assert_eq!(from, 1);
        tx.execute_batch(
            "INSERT INTO items (name) SELECT name FROM old_items; DROP TABLE old_items;",
        )
        .map_err(|e| e.to_string())
    }

    const SCHEMA: Schema = Schema {
        store: "test store",
        owner: "`riverwatch test`",
        version: 2,
        upgradable: &[1],
        migrate: Some(upgrade_v1),
        tables: TABLES,
    };

    fn version_of(path: &Path) -> String {
        Connection::open(path)
            .unwrap()
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    }

    fn write_file(path: &Path, sql: &str) {
        Connection::open(path).unwrap().execute_batch(sql).unwrap();
    }

    /// A file that says it has schema `version`, with the tables of `sql`.
    fn file_of_version(path: &Path, version: i64, sql: &str) {
        write_file(
            path,
            &format!(
                "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                 INSERT INTO meta VALUES ('schema_version', '{version}');
                 {sql}"
            ),
        );
    }

    fn has_table(path: &Path, name: &str) -> bool {
        Connection::open(path)
            .unwrap()
            .query_row(
                "SELECT count(*) > 0 FROM sqlite_master WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .unwrap()
    }

    #[test]
    fn a_new_file_and_its_wal_and_shm_are_private_and_the_settings_take() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("store.db");
        let conn = open_writer(&path, &SCHEMA, Synchronous::Normal).unwrap();
        conn.execute("INSERT INTO items (name) VALUES ('x')", [])
            .unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let busy: i64 = conn
            .query_row("PRAGMA busy_timeout", [], |r| r.get(0))
            .unwrap();
        assert_eq!(busy, 30_000);
        // 1 = NORMAL, 2 = FULL.
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 1);
        assert_eq!(version_of(&path), "2");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for name in ["store.db", "store.db-wal", "store.db-shm"] {
                let file = path.with_file_name(name);
                let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{name}");
            }
        }
        drop(conn);
        let conn = open_writer(&path, &SCHEMA, Synchronous::Full).unwrap();
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2);
    }

    #[test]
    fn a_journal_mode_other_than_wal_is_an_error_naming_the_file() {
        let error = check_wal("memory", &SCHEMA, Path::new("/data/store.db")).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("/data/store.db") && text.contains("`memory`"),
            "{text}"
        );
        assert!(check_wal("WAL", &SCHEMA, Path::new("x")).is_ok());
    }

    #[test]
    fn a_newer_version_is_refused_by_writer_and_reader_without_touching_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        file_of_version(&path, 3, "");
        let error = open_writer(&path, &SCHEMA, Synchronous::Full).unwrap_err();
        assert!(matches!(error, OpenError::Schema { .. }), "{error}");
        let text = error.to_string();
        assert!(
            text.contains(&path.display().to_string()) && text.contains("schema version 3"),
            "{text}"
        );
        assert!(!has_table(&path, "items"), "the refused file was changed");
        let error = open_reader(&path, &SCHEMA).unwrap_err();
        assert!(matches!(error, OpenError::Schema { .. }), "{error}");
        write_file(
            &path,
            "UPDATE meta SET value = 'two' WHERE key = 'schema_version'",
        );
        let error = open_reader(&path, &SCHEMA).unwrap_err();
        assert!(error.to_string().contains("`two`"), "{error}");
    }

    #[test]
    fn an_older_version_is_upgraded_by_the_writer_and_refused_by_a_reader_until_then() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        file_of_version(
            &path,
            1,
            "CREATE TABLE old_items (name TEXT); INSERT INTO old_items VALUES ('a'), ('b');",
        );
        let error = open_reader(&path, &SCHEMA).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("schema version 1") && text.contains("`riverwatch test` upgrades it"),
            "{text}"
        );
        let conn = open_writer(&path, &SCHEMA, Synchronous::Full).unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM items", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(version_of(&path), "2");
        let reader = open_reader(&path, &SCHEMA).unwrap();
        let n: i64 = reader
            .query_row("SELECT count(*) FROM items", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
    }

    #[test]
    fn a_failed_upgrade_leaves_the_file_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        // Version 1 without the table the upgrade reads.
        file_of_version(&path, 1, "");
        let error = open_writer(&path, &SCHEMA, Synchronous::Full).unwrap_err();
        assert!(
            matches!(error, OpenError::Upgrade { from: 1, .. }),
            "{error}"
        );
        assert_eq!(version_of(&path), "1");
        assert!(!has_table(&path, "items"));
    }

    #[test]
    fn a_reader_of_a_missing_file_says_who_creates_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("none.db");
        let error = open_reader(&path, &SCHEMA).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("none.db") && text.contains("`riverwatch test` creates it"),
            "{text}"
        );
        assert!(!path.exists());
    }

    #[test]
    fn a_file_that_is_not_a_database_is_named_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let junk = b"this is not an SQLite database, it is a text file of some length.....";
        std::fs::write(&path, junk).unwrap();
        let error = open_writer(&path, &SCHEMA, Synchronous::Full).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("store.db") && text.contains("move it aside"),
            "{text}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), junk);
    }
}
