//! What the command line, the console and the reports show of the alert store, as typed,
//! serializable rows: one alert with its notifications and audit trail, each province's
//! side of an alert, and a silence's state at a time. Nothing here prints or picks a
//! language.

use chrono::{DateTime, Utc};
use riverwatch_core::Province;
use serde::Serialize;

use crate::model::{AlertStatus, AlertView, AuditRow, Notification, Role, Silence};
use crate::reader::{AlertReader, AuditQuery, NotificationQuery};
use crate::store::Result;

/// One alert with everything recorded about it.
#[derive(Debug, Clone, Serialize)]
pub struct AlertDetail {
    /// The alert with both provinces' state.
    pub alert: AlertView,
    /// Its notifications, oldest first.
    pub notifications: Vec<Notification>,
    /// Its audit rows, oldest first.
    pub audit: Vec<AuditRow>,
}

/// The alert `id_or_prefix` (an id, or a unique prefix of at least 4 digits) with its
/// notifications and audit trail.
///
/// # Errors
/// No such alert, an ambiguous prefix, or a store failure.
pub fn alert_detail(reader: &AlertReader, id_or_prefix: &str) -> Result<AlertDetail> {
    let alert = reader.alert(id_or_prefix)?;
    let notifications = reader.notifications(&NotificationQuery {
        alert_id: Some(alert.alert.id.clone()),
        ..NotificationQuery::default()
    })?;
    let audit = reader.audit(&AuditQuery {
        alert_id: Some(alert.alert.id.clone()),
        ..AuditQuery::default()
    })?;
    Ok(AlertDetail {
        alert,
        notifications,
        audit,
    })
}

/// Where one province stands on an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProvinceSide {
    /// The province.
    pub province: Province,
    /// Its standing.
    pub standing: Standing,
    /// The escalation level reached (0: none).
    pub escalation_level: u8,
}

/// A province's standing on an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Standing {
    /// Acknowledged by this duty officer.
    Acknowledged {
        /// Who acknowledged.
        by: String,
    },
    /// Told for information only (知会): nothing to acknowledge.
    Informed,
    /// A one-off notice: nothing to acknowledge.
    Notice,
    /// Waiting for this province's acknowledgement.
    Unacknowledged,
}

/// Where `province` stands on the alert; `None` when the alert does not concern it.
pub fn province_side(view: &AlertView, province: Province) -> Option<ProvinceSide> {
    let s = view
        .provinces_state
        .iter()
        .find(|s| s.province == province)?;
    let standing = match (&s.ack, s.role) {
        (Some(a), _) => Standing::Acknowledged { by: a.by.clone() },
        (None, Role::InfoCopy) => Standing::Informed,
        (None, _) if view.alert.status == AlertStatus::Notice => Standing::Notice,
        (None, _) => Standing::Unacknowledged,
    };
    Some(ProvinceSide {
        province,
        standing,
        escalation_level: s.escalation_level,
    })
}

/// A silence's state at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SilenceState {
    /// Ended before its end time.
    EndedEarly,
    /// In force.
    Active,
    /// Not started yet.
    Pending,
    /// Past its end time.
    Expired,
}

/// The state of `silence` at `now`.
pub fn silence_state(silence: &Silence, now: DateTime<Utc>) -> SilenceState {
    if silence.expired_at.is_some() {
        SilenceState::EndedEarly
    } else if silence.is_active(now) {
        SilenceState::Active
    } else if silence.starts_at > now {
        SilenceState::Pending
    } else {
        SilenceState::Expired
    }
}
