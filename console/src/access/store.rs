//! The console database (`console.db` in the data directory, opened through
//! [`riverwatch_core::sqlite`]): tokens (their SHA-256, never the token), and the sessions of
//! signed-in pages (also by SHA-256). A revoked token ends its sessions at once: a session is
//! valid only while its token is.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use riverwatch_core::Province;
use riverwatch_core::sqlite::{self, OpenError, Schema, Synchronous};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::{Principal, Role, digest};

const SCHEMA: Schema = Schema {
    store: "console database",
    owner: "`riverwatch tokens create`, `riverwatch console` or `riverwatch up`",
    version: 1,
    upgradable: &[],
    migrate: None,
    tables: TABLES,
};

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS tokens (
    id           TEXT PRIMARY KEY,
    hash         TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    province     TEXT NOT NULL,
    role         TEXT NOT NULL,
    created_ms   INTEGER NOT NULL,
    revoked_ms   INTEGER,
    last_used_ms INTEGER
);
CREATE TABLE IF NOT EXISTS sessions (
    hash       TEXT PRIMARY KEY,
    token_id   TEXT NOT NULL REFERENCES tokens (id),
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expires_ms);
";

/// A console database failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenStoreError {
    /// The file cannot be opened as the console database.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// SQLite failed.
    #[error("console database {path}: {source}")]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// A stored row cannot be read back.
    #[error("console database {path}: corrupt row: {detail}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// No such token.
    #[error("no token `{0}`")]
    NotFound(String),
    /// The operating system's random source failed.
    #[error("cannot draw random bytes: {0}")]
    Random(String),
    /// The holder's name is empty or too long.
    #[error("the holder's name must be given, at most {MAX_NAME_CHARS} characters")]
    BadName,
}

/// The longest holder's name of a token, characters.
pub const MAX_NAME_CHARS: usize = 100;

/// A token as listed: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// Id (16 hex digits), what `tokens revoke` takes.
    pub id: String,
    /// The officer or system it was issued to.
    pub name: String,
    /// The province it acts for.
    pub province: Province,
    /// What it may do.
    pub role: Role,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it was last accepted.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl TokenInfo {
    /// The principal acting with this token.
    pub fn principal(&self) -> Principal {
        Principal {
            token_id: Some(self.id.clone()),
            name: self.name.clone(),
            province: Some(self.province),
            role: self.role,
        }
    }
}

/// The console database.
#[derive(Debug)]
pub struct TokenStore {
    conn: Connection,
    path: PathBuf,
}

/// A token's last use is recorded again only this long after the recorded one.
pub const LAST_USE_STEP_MS: i64 = 60_000;

const TOKEN_COLUMNS: &str = "id, name, province, role, created_ms, revoked_ms, last_used_ms";

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::UNIX_EPOCH)
}

impl TokenStore {
    /// Opens (creating when needed) the console database at `path`.
    ///
    /// # Errors
    /// The file cannot be created or opened as the console database.
    pub fn open(path: &Path) -> Result<Self, TokenStoreError> {
        let conn = sqlite::open_writer(path, &SCHEMA, Synchronous::Full)?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
        })
    }

    fn sql(&self) -> impl Fn(rusqlite::Error) -> TokenStoreError + '_ {
        |source| TokenStoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    fn row(&self, r: &rusqlite::Row<'_>) -> Result<TokenInfo, TokenStoreError> {
        let sql = self.sql();
        let corrupt = |detail: String| TokenStoreError::Corrupt {
            path: self.path.clone(),
            detail,
        };
        let province: String = r.get(2).map_err(&sql)?;
        let role: String = r.get(3).map_err(&sql)?;
        Ok(TokenInfo {
            id: r.get(0).map_err(&sql)?,
            name: r.get(1).map_err(&sql)?,
            province: province.parse().map_err(corrupt)?,
            role: role.parse().map_err(corrupt)?,
            created_at: time(r.get(4).map_err(&sql)?),
            revoked_at: r.get::<_, Option<i64>>(5).map_err(&sql)?.map(time),
            last_used_at: r.get::<_, Option<i64>>(6).map_err(&sql)?.map(time),
        })
    }

    /// Creates a token for the holder `name` (trimmed; 1 to [`MAX_NAME_CHARS`] characters);
    /// returns it (the only time it exists outside the holder's hands) and its record.
    ///
    /// # Errors
    /// A bad name ([`TokenStoreError::BadName`]), or the random source or the database
    /// failed.
    pub fn create(
        &mut self,
        name: &str,
        province: Province,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<(String, TokenInfo), TokenStoreError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(TokenStoreError::BadName);
        }
        let token = super::new_token().map_err(|e| TokenStoreError::Random(e.to_string()))?;
        let mut id_bytes = [0u8; 8];
        getrandom::fill(&mut id_bytes).map_err(|e| TokenStoreError::Random(e.to_string()))?;
        let id: String = id_bytes.iter().map(|b| format!("{b:02x}")).collect();
        self.conn
            .execute(
                "INSERT INTO tokens (id, hash, name, province, role, created_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    id,
                    digest(&token),
                    name,
                    province.code(),
                    role.as_str(),
                    now.timestamp_millis()
                ],
            )
            .map_err(self.sql())?;
        let info = TokenInfo {
            id,
            name: name.to_string(),
            province,
            role,
            created_at: now,
            revoked_at: None,
            last_used_at: None,
        };
        Ok((token, info))
    }

    /// Every token, oldest first.
    ///
    /// # Errors
    /// A database failure.
    pub fn list(&self) -> Result<Vec<TokenInfo>, TokenStoreError> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY created_ms, id"
            ))
            .map_err(self.sql())?;
        let mut rows = st.query([]).map_err(self.sql())?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(self.sql())? {
            out.push(self.row(r)?);
        }
        Ok(out)
    }

    /// Revokes a token (and so its sessions); revoking twice keeps the first time.
    ///
    /// # Errors
    /// No such token, or a database failure.
    pub fn revoke(&mut self, id: &str, now: DateTime<Utc>) -> Result<TokenInfo, TokenStoreError> {
        self.conn
            .execute(
                "UPDATE tokens SET revoked_ms = COALESCE(revoked_ms, ?2) WHERE id = ?1",
                params![id, now.timestamp_millis()],
            )
            .map_err(self.sql())?;
        self.conn
            .execute("DELETE FROM sessions WHERE token_id = ?1", params![id])
            .map_err(self.sql())?;
        self.get(id)?
            .ok_or_else(|| TokenStoreError::NotFound(id.to_string()))
    }

    /// The token with this id, revoked or not.
    ///
    /// # Errors
    /// A database failure.
    pub fn get(&self, id: &str) -> Result<Option<TokenInfo>, TokenStoreError> {
        let mut st = self
            .conn
            .prepare_cached(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = ?1"))
            .map_err(self.sql())?;
        let mut rows = st.query([id]).map_err(self.sql())?;
        match rows.next().map_err(self.sql())? {
            Some(r) => Ok(Some(self.row(r)?)),
            None => Ok(None),
        }
    }

    /// The live (not revoked) token whose secret is `token`, marked as used at `now` (when
    /// its last use is [`LAST_USE_STEP_MS`] or more before `now`).
    ///
    /// # Errors
    /// A database failure.
    pub fn authenticate(
        &mut self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenInfo>, TokenStoreError> {
        if !super::looks_like_token(token) {
            return Ok(None);
        }
        let id: Option<String> = self
            .conn
            .query_row(
                "SELECT id FROM tokens WHERE hash = ?1 AND revoked_ms IS NULL",
                [digest(token)],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.sql())?;
        let Some(id) = id else { return Ok(None) };
        // Recorded to the minute: a write per request would queue every API call behind a
        // durable commit; an unchanged row makes no write at all.
        self.conn
            .execute(
                "UPDATE tokens SET last_used_ms = ?2 WHERE id = ?1 \
                 AND (last_used_ms IS NULL OR last_used_ms <= ?2 - ?3)",
                params![id, now.timestamp_millis(), LAST_USE_STEP_MS],
            )
            .map_err(self.sql())?;
        self.get(&id)
    }

    /// Starts a session for `token_id` until `expires_at`; returns the session id for the
    /// cookie (only its SHA-256 is stored).
    ///
    /// # Errors
    /// The random source or the database failed.
    pub fn start_session(
        &mut self,
        token_id: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<String, TokenStoreError> {
        let secret = super::random_secret().map_err(|e| TokenStoreError::Random(e.to_string()))?;
        // Expired sessions go when new ones come; the table stays small.
        self.conn
            .execute(
                "DELETE FROM sessions WHERE expires_ms <= ?1",
                [now.timestamp_millis()],
            )
            .map_err(self.sql())?;
        self.conn
            .execute(
                "INSERT INTO sessions (hash, token_id, created_ms, expires_ms) VALUES (?1, ?2, ?3, ?4)",
                params![
                    digest(&secret),
                    token_id,
                    now.timestamp_millis(),
                    expires_at.timestamp_millis()
                ],
            )
            .map_err(self.sql())?;
        Ok(secret)
    }

    /// The token behind a live session.
    ///
    /// # Errors
    /// A database failure.
    pub fn session(
        &self,
        session: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenInfo>, TokenStoreError> {
        if session.len() != 43 {
            return Ok(None);
        }
        let id: Option<String> = self
            .conn
            .query_row(
                "SELECT s.token_id FROM sessions s JOIN tokens t ON t.id = s.token_id \
                 WHERE s.hash = ?1 AND s.expires_ms > ?2 AND t.revoked_ms IS NULL",
                params![digest(session), now.timestamp_millis()],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.sql())?;
        match id {
            Some(id) => self.get(&id),
            None => Ok(None),
        }
    }

    /// Ends a session (signing out).
    ///
    /// # Errors
    /// A database failure.
    pub fn end_session(&mut self, session: &str) -> Result<(), TokenStoreError> {
        self.conn
            .execute("DELETE FROM sessions WHERE hash = ?1", [digest(session)])
            .map_err(self.sql())?;
        Ok(())
    }

    /// Whether the database takes a write (for `/readyz`).
    ///
    /// # Errors
    /// A database failure.
    pub fn check_writable(&mut self) -> Result<(), TokenStoreError> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE; ROLLBACK;")
            .map_err(self.sql())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn only_the_hash_is_stored_and_revocation_ends_sessions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("console.db");
        let mut store = TokenStore::open(&path).unwrap();
        let now = t("2026-11-22T00:00:00Z");
        let (token, info) = store
            .create("张伟", Province::Heilongjiang, Role::Duty, now)
            .unwrap();
        // The file holds the SHA-256, not the token.
        let bytes = std::fs::read(&path).unwrap();
        let wal = std::fs::read(dir.path().join("console.db-wal")).unwrap_or_default();
        let needle = token.as_bytes();
        for b in [&bytes, &wal] {
            assert!(!b.windows(needle.len()).any(|w| w == needle));
        }
        let who = store.authenticate(&token, now).unwrap().unwrap();
        assert_eq!(who.id, info.id);
        assert_eq!(who.last_used_at, Some(now));
        // Within the minute the recorded use stays; a minute later it moves.
        let soon = now + chrono::Duration::seconds(59);
        let who = store.authenticate(&token, soon).unwrap().unwrap();
        assert_eq!(who.last_used_at, Some(now));
        let minute = now + chrono::Duration::seconds(60);
        let who = store.authenticate(&token, minute).unwrap().unwrap();
        assert_eq!(who.last_used_at, Some(minute));
        assert!(store.authenticate("rwt_nope", now).unwrap().is_none());
        let later = now + chrono::Duration::hours(1);
        let session = store
            .start_session(&info.id, now, now + chrono::Duration::hours(12))
            .unwrap();
        assert_eq!(store.session(&session, later).unwrap().unwrap().id, info.id);
        // Expired.
        assert!(
            store
                .session(&session, now + chrono::Duration::hours(13))
                .unwrap()
                .is_none()
        );
        let revoked = store.revoke(&info.id, later).unwrap();
        assert_eq!(revoked.revoked_at, Some(later));
        assert!(store.authenticate(&token, later).unwrap().is_none());
        assert!(store.session(&session, later).unwrap().is_none());
        assert!(matches!(
            store.revoke("0000", later),
            Err(TokenStoreError::NotFound(_))
        ));
        assert_eq!(store.list().unwrap().len(), 1);
        for bad in ["  ", &"名".repeat(MAX_NAME_CHARS + 1)] {
            assert!(matches!(
                store.create(bad, Province::Jilin, Role::Viewer, now),
                Err(TokenStoreError::BadName)
            ));
        }
        let (_, trimmed) = store
            .create(" 王芳 ", Province::Jilin, Role::Viewer, now)
            .unwrap();
        assert_eq!(trimmed.name, "王芳");
        assert_eq!(store.list().unwrap().len(), 2);
    }
}
