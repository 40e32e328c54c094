//! What a duty officer does to the alert store, from the command line or the console: an
//! acknowledgement for one province, and silences. The running service picks each change up
//! within a tick; every change is audited by the store. And a report email: queued in the
//! notification outbox with its workbook attached, once per report, recipient and digest
//! ([`queue_report`]), for the running service's email sender to deliver.

use chrono::{DateTime, Utc};
use riverwatch_core::Province;

use crate::audit::{self, Entry};
use crate::model::{Acknowledgement, Channel, Matcher, NotificationKind, Role, Silence};
use crate::silence::new_silence;
use crate::store::{Attachment, NewNotification, Result, Store};

/// Acknowledges the alert `id_or_prefix` for `province`: stops that province's escalation.
/// A blank comment is not recorded.
///
/// # Errors
/// No such alert, an ambiguous prefix, an acknowledgement already recorded, or a store
/// failure.
pub fn acknowledge(
    store: &mut Store,
    id_or_prefix: &str,
    province: Province,
    by: &str,
    comment: Option<&str>,
    at: DateTime<Utc>,
) -> Result<Acknowledgement> {
    let ack = Acknowledgement {
        alert_id: store.resolve_alert_id(id_or_prefix)?,
        province,
        by: by.to_string(),
        at,
        comment: comment.filter(|c| !c.trim().is_empty()).map(str::to_string),
    };
    store.acknowledge(&ack)?;
    Ok(ack)
}

/// A new silence from `starts_at` to `ends_at`, created at `now`.
#[derive(Debug, Clone)]
pub struct SilenceRequest {
    /// What it matches.
    pub matchers: Vec<Matcher>,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End.
    pub ends_at: DateTime<Utc>,
    /// Who silences.
    pub by: String,
    /// Why.
    pub reason: String,
}

/// Records a new silence and returns it with its id.
///
/// # Errors
/// A store failure.
pub fn add_silence(
    store: &mut Store,
    request: SilenceRequest,
    now: DateTime<Utc>,
) -> Result<Silence> {
    let silence = new_silence(
        request.matchers,
        request.starts_at,
        request.ends_at,
        &request.by,
        &request.reason,
        now,
    );
    store.add_silence(&silence)?;
    Ok(silence)
}

/// One report email, the same for every recipient.
#[derive(Debug, Clone)]
pub struct ReportMail {
    /// Which report: the same key for every rendering of one period and scope, e.g.
    /// `riverwatch-month-2026-11-01-lalin`.
    pub key: String,
    /// A digest of the report's numbers; a changed digest is a new report (a revision).
    pub digest: String,
    /// Subject.
    pub subject: String,
    /// Plain-text body.
    pub body_text: String,
    /// HTML body.
    pub body_html: String,
    /// The workbook.
    pub attachment: Attachment,
    /// Not delivered by then: expired.
    pub expires_at: DateTime<Utc>,
    /// Domain for the Message-ID (the sender's).
    pub message_domain: String,
}

/// Who receives a report email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRecipient {
    /// Stable id (a configured recipient's id, or the address itself).
    pub id: String,
    /// Display name.
    pub name: String,
    /// The province it is filed under.
    pub province: Province,
    /// Its addresses (one message to all of them).
    pub addresses: Vec<String>,
}

/// What [`queue_report`] did for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedReport {
    /// The recipient's id.
    pub recipient_id: String,
    /// The notification carrying the report.
    pub notification: i64,
    /// False: the same report with the same digest was already queued for this recipient.
    pub new: bool,
}

/// Queues `mail` to each recipient as an email notification with its attachment, in one
/// transaction: a report already queued for a recipient with the same key and digest is not
/// queued again (its notification is returned with `new: false`). Each new one gets the
/// store's `notification_queued` audit row and a `report_queued` row naming the report.
///
/// # Errors
/// A store failure; nothing is queued then.
pub fn queue_report(
    store: &mut Store,
    mail: &ReportMail,
    recipients: &[ReportRecipient],
    now: DateTime<Utc>,
) -> Result<Vec<QueuedReport>> {
    let tx = store.write()?;
    let mut done = Vec::with_capacity(recipients.len());
    for r in recipients {
        if let Some(id) = tx.report_notification(&mail.key, &r.id, &mail.digest)? {
            done.push(QueuedReport {
                recipient_id: r.id.clone(),
                notification: id,
                new: false,
            });
            continue;
        }
        let id = tx.queue(
            &NewNotification {
                recipient_id: r.id.clone(),
                recipient_name: r.name.clone(),
                province: r.province,
                role: Role::Equal,
                channel: Channel::Email,
                kind: NotificationKind::Report,
                target: r.addresses.join(", "),
                subject: mail.subject.clone(),
                body_text: mail.body_text.clone(),
                body_html: mail.body_html.clone(),
                alert_ids: Vec::new(),
                expires_at: mail.expires_at,
                message_domain: mail.message_domain.clone(),
            },
            now,
        )?;
        tx.attach(id, &mail.attachment)?;
        tx.record_report(&mail.key, &r.id, &mail.digest, id)?;
        tx.audit(
            now,
            &Entry {
                actor: audit::SERVICE,
                kind: "report_queued",
                alert_id: None,
                province: Some(r.province),
                detail: serde_json::json!({
                    "notification": id,
                    "recipient": r.id,
                    "report": mail.key,
                    "digest": mail.digest,
                    "file": mail.attachment.file_name,
                    "bytes": mail.attachment.bytes.len(),
                }),
            },
        )?;
        done.push(QueuedReport {
            recipient_id: r.id.clone(),
            notification: id,
            new: true,
        });
    }
    tx.commit()?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DeliveryStatus;

    fn mail(digest: &str) -> ReportMail {
        ReportMail {
            key: "riverwatch-month-2026-11-01-lalin".into(),
            digest: digest.into(),
            subject: "拉林河 2026年11月 月报".into(),
            body_text: "见附件".into(),
            body_html: "<p>见附件</p>".into(),
            attachment: Attachment {
                file_name: "riverwatch-month-2026-11-01-lalin.xlsx".into(),
                content_type: "application/octet-stream".into(),
                bytes: b"PK\x03\x04rest".to_vec(),
            },
            expires_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default(),
            message_domain: "riverwatch.example.org".into(),
        }
    }

    fn recipient(id: &str, province: Province) -> ReportRecipient {
        ReportRecipient {
            id: id.into(),
            name: format!("{id} office"),
            province,
            addresses: vec![format!("{id}@example.org")],
        }
    }

    #[test]
    fn a_report_is_queued_once_per_recipient_and_digest_with_its_attachment_and_audit_row() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("alerts.db")).unwrap();
        let now = DateTime::from_timestamp(1_764_547_200, 0).unwrap();
        let to = [
            recipient("hlj-hzb-lalin", Province::Heilongjiang),
            recipient("jl-duty", Province::Jilin),
        ];
        let first = queue_report(&mut store, &mail("d1"), &to, now).unwrap();
        assert!(first.iter().all(|q| q.new), "{first:?}");
        let again = queue_report(&mut store, &mail("d1"), &to, now).unwrap();
        assert!(again.iter().all(|q| !q.new), "{again:?}");
        assert_eq!(
            first.iter().map(|q| q.notification).collect::<Vec<_>>(),
            again.iter().map(|q| q.notification).collect::<Vec<_>>()
        );
        // Changed numbers: a revision, queued again.
        let revised = queue_report(&mut store, &mail("d2"), &to[..1], now).unwrap();
        assert!(revised[0].new);

        let due = store.due_notifications(Channel::Email, now, 10).unwrap();
        assert_eq!(due.len(), 3);
        for o in &due {
            assert_eq!(o.notification.kind, NotificationKind::Report);
            assert_eq!(o.notification.status, DeliveryStatus::Queued);
            let a = o.attachment.as_ref().unwrap();
            assert_eq!(a.file_name, "riverwatch-month-2026-11-01-lalin.xlsx");
            assert!(a.bytes.starts_with(b"PK\x03\x04"));
        }
        assert_eq!(due[1].notification.target, "jl-duty@example.org");
        let reader = crate::AlertReader::open(
            &dir.path().join("alerts.db"),
            std::sync::Arc::new(riverwatch_core::time::SystemClock),
        )
        .unwrap();
        let rows = reader.audit(&crate::reader::AuditQuery::default()).unwrap();
        let reports: Vec<_> = rows.iter().filter(|r| r.kind == "report_queued").collect();
        assert_eq!(reports.len(), 3);
        assert!(
            reports[0]
                .detail
                .contains("\"report\":\"riverwatch-month-2026-11-01-lalin\""),
            "{}",
            reports[0].detail
        );
        assert_eq!(
            rows.iter()
                .filter(|r| r.kind == "notification_queued")
                .count(),
            3
        );
    }
}
