//! The schema of `alerts.db`: its version and the tables the store creates (the audit
//! table is [`crate::audit::SCHEMA`], the rejected messages table core's).

use riverwatch_core::sqlite::Schema;

/// `alerts.db`: one version so far (the audit table is [`audit::SCHEMA`]).
pub(super) const SCHEMA: Schema = Schema {
    store: "alert store",
    owner: "the alert service (`riverwatch alerts` or `riverwatch up`)",
    version: 1,
    upgradable: &[],
    migrate: None,
    tables: TABLES,
};

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS alerts (
    id                TEXT PRIMARY KEY,
    fingerprint       TEXT    NOT NULL,
    status            TEXT    NOT NULL,
    first_seen_ms     INTEGER NOT NULL,
    updated_ms        INTEGER NOT NULL,
    resolved_ms       INTEGER,
    incident          TEXT,
    version           INTEGER NOT NULL,
    published_version INTEGER NOT NULL DEFAULT 0,
    body              TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_fingerprint ON alerts (fingerprint, status);
CREATE INDEX IF NOT EXISTS alerts_status ON alerts (status, updated_ms);
CREATE TABLE IF NOT EXISTS events (
    id          TEXT PRIMARY KEY,
    fingerprint TEXT    NOT NULL,
    alert_id    TEXT,
    outcome     TEXT    NOT NULL,
    received_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS acks (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id TEXT    NOT NULL,
    province TEXT    NOT NULL,
    by_name  TEXT    NOT NULL,
    at_ms    INTEGER NOT NULL,
    comment  TEXT,
    UNIQUE (alert_id, province)
);
CREATE TABLE IF NOT EXISTS silences (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT    NOT NULL UNIQUE,
    body        TEXT    NOT NULL,
    starts_ms   INTEGER NOT NULL,
    ends_ms     INTEGER NOT NULL,
    expired_ms  INTEGER
);
CREATE TABLE IF NOT EXISTS groups (
    recipient_id TEXT NOT NULL,
    group_key    TEXT NOT NULL,
    body         TEXT NOT NULL,
    PRIMARY KEY (recipient_id, group_key)
);
CREATE TABLE IF NOT EXISTS notifications (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    created_ms      INTEGER NOT NULL,
    recipient_id    TEXT    NOT NULL,
    recipient_name  TEXT    NOT NULL,
    province        TEXT    NOT NULL,
    role            TEXT    NOT NULL,
    channel         TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    target          TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    body_text       TEXT    NOT NULL,
    body_html       TEXT    NOT NULL,
    alert_ids       TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER,
    last_attempt_ms INTEGER,
    sent_ms         INTEGER,
    expires_ms      INTEGER NOT NULL,
    last_reply      TEXT,
    message_id      TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS notifications_due ON notifications (channel, status, next_attempt_ms);
CREATE TABLE IF NOT EXISTS attachments (
    notification_id INTEGER PRIMARY KEY REFERENCES notifications (id),
    file_name       TEXT    NOT NULL,
    content_type    TEXT    NOT NULL,
    bytes           BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS report_mail (
    report_key      TEXT    NOT NULL,
    recipient_id    TEXT    NOT NULL,
    digest          TEXT    NOT NULL,
    notification_id INTEGER NOT NULL,
    PRIMARY KEY (report_key, recipient_id, digest)
);
";
