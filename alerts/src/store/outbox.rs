//! The outbox: `notifications` (one row per recipient and channel with its delivery
//! state), `attachments` and `report_mail`. Notifications are queued inside the write
//! transaction that decided them; senders take the due ones and record each outcome with
//! its audit row.

use chrono::{DateTime, Utc};
use riverwatch_core::Province;
use rusqlite::{OptionalExtension, params};

use super::rows::{NOTIFICATION_COLUMNS, notification_row, role_str};
use super::{Result, Store, WriteTx, from_ms, ms};
use crate::audit::{self, Entry};
use crate::model::{Channel, DeliveryStatus, Notification, NotificationKind, Role};

/// A new notification to queue.
#[derive(Debug, Clone)]
pub struct NewNotification {
    /// Recipient id.
    pub recipient_id: String,
    /// Recipient name.
    pub recipient_name: String,
    /// The recipient's province.
    pub province: Province,
    /// Its role.
    pub role: Role,
    /// Channel.
    pub channel: Channel,
    /// Why.
    pub kind: NotificationKind,
    /// Addresses or the redacted URL.
    pub target: String,
    /// Subject.
    pub subject: String,
    /// Plain-text body (email) or the request body (webhook).
    pub body_text: String,
    /// HTML body (email).
    pub body_html: String,
    /// The alerts.
    pub alert_ids: Vec<String>,
    /// Not delivered by then: expired.
    pub expires_at: DateTime<Utc>,
    /// Domain for the Message-ID.
    pub message_domain: String,
}

/// A file sent with an email notification.
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    /// File name shown to the reader, e.g. `riverwatch-month-2026-11-01-lalin.xlsx`.
    pub file_name: String,
    /// MIME type, e.g. `application/vnd.openxmlformats-officedocument.spreadsheetml.sheet`.
    pub content_type: String,
    /// The file.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("file_name", &self.file_name)
            .field("content_type", &self.content_type)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// A queued notification with its bodies, as a sender takes it.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The record.
    pub notification: Notification,
    /// Plain-text body (email) or the request body (webhook).
    pub body_text: String,
    /// HTML body.
    pub body_html: String,
    /// A file to attach (email only).
    pub attachment: Option<Attachment>,
}

/// What a delivery attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// Accepted; the reply.
    Sent(String),
    /// Failed for now; try again at the time given.
    Retry {
        /// The reply or error.
        reply: String,
        /// Next attempt.
        at: DateTime<Utc>,
    },
    /// Refused for good.
    Failed(String),
    /// Past its expiry without delivery.
    Expired(String),
}

impl Store {
    /// Pending notifications of a channel whose next attempt is due, oldest first.
    ///
    /// # Errors
    /// A database or decoding error.
    pub fn due_notifications(
        &self,
        channel: Channel,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Outgoing>> {
        let mut stmt = self
            .db
            .conn
            .prepare_cached(&format!(
                "SELECT {NOTIFICATION_COLUMNS}, body_text, body_html, \
                 a.file_name, a.content_type, a.bytes FROM notifications \
                 LEFT JOIN attachments a ON a.notification_id = notifications.id \
                 WHERE channel = ?1 AND status IN ('queued', 'retrying') AND next_attempt_ms <= ?2 \
                 ORDER BY next_attempt_ms, id LIMIT ?3"
            ))
            .map_err(|e| self.db.sql(e))?;
        stmt.query_map(params![channel.as_str(), ms(now), limit as i64], |r| {
            Ok(Outgoing {
                notification: notification_row(r)?,
                body_text: r.get(19)?,
                body_html: r.get(20)?,
                attachment: match r.get::<_, Option<String>>(21)? {
                    Some(file_name) => Some(Attachment {
                        file_name,
                        content_type: r.get(22)?,
                        bytes: r.get(23)?,
                    }),
                    None => None,
                },
            })
        })
        .and_then(Iterator::collect)
        .map_err(|e| self.db.sql(e))
    }

    /// When the next pending notification of a channel is due.
    ///
    /// # Errors
    /// A database error.
    pub fn next_attempt(&self, channel: Channel) -> Result<Option<DateTime<Utc>>> {
        self.db
            .conn
            .query_row(
                "SELECT min(next_attempt_ms) FROM notifications \
                 WHERE channel = ?1 AND status IN ('queued', 'retrying')",
                [channel.as_str()],
                |r| r.get::<_, Option<i64>>(0),
            )
            .map(|o| o.map(from_ms))
            .map_err(|e| self.db.sql(e))
    }

    /// How many notifications of a channel are pending.
    ///
    /// # Errors
    /// A database error.
    pub fn pending_count(&self, channel: Channel) -> Result<u64> {
        self.db.conn
            .query_row(
                "SELECT count(*) FROM notifications WHERE channel = ?1 AND status IN ('queued', 'retrying')",
                [channel.as_str()],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(|e| self.db.sql(e))
    }

    /// Records a delivery outcome (and its audit row) in one transaction.
    ///
    /// # Errors
    /// A database error.
    pub fn record_delivery(
        &mut self,
        n: &Notification,
        outcome: &Delivery,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.record_deliveries(&[(n, outcome)], now)
    }

    /// Records several delivery outcomes (each with its audit row) in one transaction.
    ///
    /// # Errors
    /// A database error; none of them is recorded.
    pub fn record_deliveries(
        &mut self,
        outcomes: &[(&Notification, &Delivery)],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self.write()?;
        for (n, outcome) in outcomes {
            tx.record_delivery(n, outcome, now)?;
        }
        tx.commit()
    }
}

impl WriteTx<'_> {
    /// Queues a notification (and records it in the audit trail); returns its id. The
    /// bodies' anchor placeholders ([`audit::ANCHOR_PLACEHOLDER`]) become the anchor of the
    /// audit row recording this notification, in the same transaction, so every notification
    /// carries a head of the chain that contains its own record.
    ///
    /// # Errors
    /// A database error.
    pub fn queue(&self, n: &NewNotification, now: DateTime<Utc>) -> Result<i64> {
        let ids = serde_json::to_string(&n.alert_ids).map_err(|e| self.corrupt(e))?;
        self.tx
            .execute(
                "INSERT INTO notifications (created_ms, recipient_id, recipient_name, province, role, channel, kind, \
                 target, subject, body_text, body_html, alert_ids, status, attempts, next_attempt_ms, expires_ms, message_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'queued', 0, ?1, ?13, '')",
                params![
                    ms(now),
                    n.recipient_id,
                    n.recipient_name,
                    n.province.code(),
                    role_str(n.role),
                    n.channel.as_str(),
                    n.kind.as_str(),
                    n.target,
                    n.subject,
                    n.body_text,
                    n.body_html,
                    ids,
                    ms(n.expires_at)
                ],
            )
            .map_err(|e| self.sql(e))?;
        let id = self.tx.last_insert_rowid();
        let message_id = format!("<rw-{id}-{}@{}>", ms(now), n.message_domain);
        let row = audit::append(
            &self.tx,
            now,
            &Entry {
                actor: audit::SERVICE,
                kind: "notification_queued",
                alert_id: n.alert_ids.first().map(String::as_str),
                province: Some(n.province),
                detail: serde_json::json!({
                    "notification": id,
                    "recipient": n.recipient_id,
                    "channel": n.channel.as_str(),
                    "kind": n.kind.as_str(),
                    "target": n.target,
                    "subject": n.subject,
                    "alerts": n.alert_ids,
                    "message_id": message_id,
                }),
            },
        )
        .map_err(|e| self.sql(e))?;
        let anchor = audit::Anchor::of(row.seq, &row.hash);
        self.tx
            .execute(
                "UPDATE notifications SET message_id = ?2, \
                 body_text = replace(replace(body_text, ?3, ?4), ?5, ?6), \
                 body_html = replace(replace(body_html, ?3, ?4), ?5, ?6) WHERE id = ?1",
                params![
                    id,
                    message_id,
                    audit::ANCHOR_PLACEHOLDER,
                    anchor.to_string(),
                    audit::ANCHOR_ARG_PLACEHOLDER,
                    anchor.arg()
                ],
            )
            .map_err(|e| self.sql(e))?;
        Ok(id)
    }

    /// Stores `attachment` with the queued notification `id`.
    ///
    /// # Errors
    /// A database error (e.g. the notification already has an attachment).
    pub fn attach(&self, id: i64, attachment: &Attachment) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO attachments (notification_id, file_name, content_type, bytes) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    id,
                    attachment.file_name,
                    attachment.content_type,
                    attachment.bytes
                ],
            )
            .map(|_| ())
            .map_err(|e| self.sql(e))
    }

    /// The notification already queued for report `key` to `recipient_id` with `digest`.
    ///
    /// # Errors
    /// A database error.
    pub fn report_notification(
        &self,
        key: &str,
        recipient_id: &str,
        digest: &str,
    ) -> Result<Option<i64>> {
        self.tx
            .query_row(
                "SELECT notification_id FROM report_mail \
                 WHERE report_key = ?1 AND recipient_id = ?2 AND digest = ?3",
                params![key, recipient_id, digest],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))
    }

    /// Records that notification `id` carries report `key` with `digest` to `recipient_id`.
    ///
    /// # Errors
    /// A database error (the same report, recipient and digest already recorded among them).
    pub fn record_report(
        &self,
        key: &str,
        recipient_id: &str,
        digest: &str,
        id: i64,
    ) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO report_mail (report_key, recipient_id, digest, notification_id) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![key, recipient_id, digest, id],
            )
            .map(|_| ())
            .map_err(|e| self.sql(e))
    }

    /// Records a delivery outcome and its audit row.
    ///
    /// # Errors
    /// A database error.
    pub fn record_delivery(
        &self,
        n: &Notification,
        outcome: &Delivery,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let (status, reply, next, kind) = match outcome {
            Delivery::Sent(r) => (DeliveryStatus::Sent, r, None, "notification_sent"),
            Delivery::Retry { reply, at } => (
                DeliveryStatus::Retrying,
                reply,
                Some(ms(*at)),
                "notification_retrying",
            ),
            Delivery::Failed(r) => (DeliveryStatus::Failed, r, None, "notification_failed"),
            Delivery::Expired(r) => (DeliveryStatus::Expired, r, None, "notification_expired"),
        };
        let attempted = !matches!(outcome, Delivery::Expired(_));
        let attempts = n.attempts + u32::from(attempted);
        let sent = matches!(outcome, Delivery::Sent(_)).then(|| ms(now));
        self.tx
            .execute(
                "UPDATE notifications SET status = ?2, attempts = ?3, next_attempt_ms = ?4, \
                 last_attempt_ms = CASE WHEN ?7 THEN ?5 ELSE last_attempt_ms END, sent_ms = ?6, last_reply = ?8 \
                 WHERE id = ?1",
                params![n.id, status.as_str(), attempts, next, ms(now), sent, attempted, reply],
            )
            .map_err(|e| self.sql(e))?;
        self.audit(
            now,
            &Entry {
                actor: audit::SERVICE,
                kind,
                alert_id: n.alert_ids.first().map(String::as_str),
                province: Some(n.province),
                detail: serde_json::json!({
                    "notification": n.id,
                    "recipient": n.recipient_id,
                    "channel": n.channel.as_str(),
                    "attempts": attempts,
                    "reply": reply,
                    "message_id": n.message_id,
                }),
            },
        )
    }
}
