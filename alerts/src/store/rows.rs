//! Reading rows back: the column lists the store and the reader select and the functions
//! that turn a row into a typed record (notifications, acknowledgements, audit rows).

use rusqlite::Row;

use super::from_ms;
use crate::model::{Acknowledgement, AuditRow, Notification, Role};

pub(crate) const NOTIFICATION_COLUMNS: &str = "id, created_ms, recipient_id, recipient_name, province, role, \
     channel, kind, target, subject, alert_ids, status, attempts, next_attempt_ms, \
     last_attempt_ms, sent_ms, expires_ms, last_reply, message_id";

fn parse<T: std::str::FromStr<Err = String>>(s: String) -> rusqlite::Result<T> {
    s.parse::<T>().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
    })
}

fn json<T: serde::de::DeserializeOwned>(s: &str) -> rusqlite::Result<T> {
    serde_json::from_str(s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

pub(super) fn role_str(r: Role) -> &'static str {
    match r {
        Role::Equal => "equal",
        Role::Owner => "owner",
        Role::InfoCopy => "info_copy",
    }
}

fn parse_role(s: String) -> rusqlite::Result<Role> {
    match s.as_str() {
        "equal" => Ok(Role::Equal),
        "owner" => Ok(Role::Owner),
        "info_copy" => Ok(Role::InfoCopy),
        other => Err(rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown role `{other}`").into(),
        )),
    }
}

/// Reads a notification row selected with [`NOTIFICATION_COLUMNS`].
pub(crate) fn notification_row(r: &Row<'_>) -> rusqlite::Result<Notification> {
    Ok(Notification {
        id: r.get(0)?,
        created_at: from_ms(r.get(1)?),
        recipient_id: r.get(2)?,
        recipient_name: r.get(3)?,
        province: parse(r.get(4)?)?,
        role: parse_role(r.get(5)?)?,
        channel: parse(r.get(6)?)?,
        kind: parse(r.get(7)?)?,
        target: r.get(8)?,
        subject: r.get(9)?,
        alert_ids: json(&r.get::<_, String>(10)?)?,
        status: parse(r.get(11)?)?,
        attempts: r.get(12)?,
        next_attempt_at: r.get::<_, Option<i64>>(13)?.map(from_ms),
        last_attempt_at: r.get::<_, Option<i64>>(14)?.map(from_ms),
        sent_at: r.get::<_, Option<i64>>(15)?.map(from_ms),
        expires_at: from_ms(r.get(16)?),
        last_reply: r.get(17)?,
        message_id: r.get(18)?,
    })
}

pub(crate) fn ack_row(r: &Row<'_>) -> rusqlite::Result<Acknowledgement> {
    Ok(Acknowledgement {
        alert_id: r.get(0)?,
        province: parse(r.get(1)?)?,
        by: r.get(2)?,
        at: from_ms(r.get(3)?),
        comment: r.get(4)?,
    })
}

pub(crate) fn audit_row(r: &Row<'_>) -> rusqlite::Result<AuditRow> {
    Ok(AuditRow {
        seq: r.get(0)?,
        at: from_ms(r.get(1)?),
        actor: r.get(2)?,
        kind: r.get(3)?,
        alert_id: r.get(4)?,
        province: r.get::<_, Option<String>>(5)?.map(parse).transpose()?,
        detail: r.get(6)?,
        prev_hash: r.get(7)?,
        hash: r.get(8)?,
    })
}

pub(crate) const AUDIT_COLUMNS: &str =
    "seq, at_ms, actor, kind, alert_id, province, detail, prev_hash, hash";
