//! What the command line, the console and the reports show of the alert store, as typed,
//! serializable rows: one alert with its notifications and audit trail, each province's
//! side of an alert, a silence's state at a time, and the alerts of a reporting period with
//! each province's time to acknowledge. Nothing here prints or picks a language.

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

/// One province's side of the alerts of a period (river-chief reports).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProvinceAcks {
    /// The province.
    pub province: Province,
    /// Alerts of the period it acts on (as owner or equal).
    pub alerts: u32,
    /// Of these, acknowledged by the province.
    pub acknowledged: u32,
    /// Mean time from the alert's opening to the province's acknowledgement, minutes.
    pub mean_minutes_to_ack: Option<f64>,
    /// Longest such time, minutes.
    pub max_minutes_to_ack: Option<f64>,
}

/// The alerts opened in a period: how many, how long, how fast each province acknowledged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodAlerts {
    /// Alerts whose first firing falls in the period (one-off notices left out).
    pub count: u32,
    /// Of these, still firing at the end of the period.
    pub firing_at_end: u32,
    /// Sum of their durations inside the period (first firing to resolution, or to the
    /// period's end), minutes.
    pub total_minutes: f64,
    /// The longest of these durations, minutes.
    pub longest_minutes: f64,
    /// Heilongjiang then Jilin.
    pub provinces: Vec<ProvinceAcks>,
}

/// The alerts of `views` first seen in `[start, end)`, summed up: a pure function of the
/// stored alerts and acknowledgements. Durations run on observation time (first firing to
/// resolving event); acknowledgement times from the service's opening of the alert (wall
/// clock) to the acknowledgement.
pub fn period_alerts(
    views: &[AlertView],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> PeriodAlerts {
    let of_period: Vec<&AlertView> = views
        .iter()
        .filter(|v| {
            v.alert.status != AlertStatus::Notice
                && v.alert.first_seen >= start
                && v.alert.first_seen < end
        })
        .collect();
    let minutes = |d: chrono::Duration| d.num_seconds().max(0) as f64 / 60.0;
    let durations: Vec<f64> = of_period
        .iter()
        .map(|v| {
            let until = v.alert.resolved_at.unwrap_or(end).min(end);
            minutes(until - v.alert.first_seen)
        })
        .collect();
    let provinces = Province::ALL
        .into_iter()
        .map(|p| {
            let acting: Vec<&&AlertView> = of_period
                .iter()
                .filter(|v| v.alert.role_of(p) != Role::InfoCopy)
                .collect();
            let waits: Vec<f64> = acting
                .iter()
                .filter_map(|v| v.ack(p).map(|a| minutes(a.at - v.alert.opened_at)))
                .collect();
            ProvinceAcks {
                province: p,
                alerts: acting.len() as u32,
                acknowledged: waits.len() as u32,
                mean_minutes_to_ack: (!waits.is_empty())
                    .then(|| waits.iter().sum::<f64>() / waits.len() as f64),
                max_minutes_to_ack: waits.iter().copied().reduce(f64::max),
            }
        })
        .collect();
    PeriodAlerts {
        count: of_period.len() as u32,
        firing_at_end: of_period
            .iter()
            .filter(|v| v.alert.resolved_at.is_none_or(|r| r >= end))
            .count() as u32,
        total_minutes: durations.iter().sum(),
        longest_minutes: durations.iter().copied().fold(0.0, f64::max),
        provinces,
    }
}

/// [`period_alerts`] over the alert store: every alert changed since `start` is read.
///
/// # Errors
/// A database or decoding error.
pub fn read_period_alerts(
    reader: &AlertReader,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<PeriodAlerts> {
    let views = reader.alerts(&crate::reader::AlertQuery {
        state: crate::reader::StateFilter::All,
        since: Some(start),
        ..crate::reader::AlertQuery::default()
    })?;
    Ok(period_alerts(&views, start, end))
}

#[cfg(test)]
mod tests {
    //! The period summary worked out by hand from three alerts and their acknowledgements.

    use chrono::Duration;
    use riverwatch_core::Registry;
    use riverwatch_core::events::EventStatus;

    use super::*;
    use crate::lifecycle::tests::event;
    use crate::lifecycle::{Known, Outcome, apply};
    use crate::model::{Acknowledgement, ProvinceState};

    fn view(
        subject: &str,
        first_min: i64,
        resolved_min: Option<i64>,
        acks: &[(Province, i64)],
    ) -> AlertView {
        let reg = Registry::builtin().unwrap();
        let e = event("e", EventStatus::Firing, subject, "NH3N", first_min);
        let Outcome::Opened(mut alert) = apply(Known::default(), &e, &reg, e.observed_at) else {
            panic!("opened");
        };
        alert.resolved_at = resolved_min.map(|m| e.observed_at + Duration::minutes(m - first_min));
        if alert.resolved_at.is_some() {
            alert.status = AlertStatus::Resolved;
        }
        let opened = alert.opened_at;
        let provinces_state = Province::ALL
            .into_iter()
            .map(|p| ProvinceState {
                province: p,
                role: alert.role_of(p),
                ack: acks
                    .iter()
                    .find(|(q, _)| *q == p)
                    .map(|(_, m)| Acknowledgement {
                        alert_id: alert.id.clone(),
                        province: p,
                        by: "值班员".into(),
                        at: opened + Duration::minutes(*m),
                        comment: None,
                    }),
                escalation_level: 0,
            })
            .collect();
        AlertView {
            alert,
            provinces_state,
            silenced_by: vec![],
            attached: vec![],
        }
    }

    #[test]
    fn alerts_of_a_period_with_durations_and_times_to_acknowledge() {
        use Province::{Heilongjiang as H, Jilin as J};
        let base = crate::lifecycle::tests::event("x", EventStatus::Firing, "LLH-CJG", "NH3N", 0)
            .observed_at;
        let (start, end) = (base, base + Duration::minutes(600));
        let views = vec![
            // Boundary section: both provinces act; 90 min long; HLJ acks after 10, JL after 30.
            view("LLH-CJG", 0, Some(90), &[(H, 10), (J, 30)]),
            // A Jilin section inside the province (Second Songhua): still firing at the end,
            // 600 − 300 = 300 min inside the period; Jilin acks after 20.
            view("SH2-SY", 300, None, &[(J, 20)]),
            // Before the period: left out.
            view("LLH-CJG", -5, Some(20), &[(H, 1)]),
        ];
        assert!(
            views[1].alert.role_of(H) == Role::InfoCopy,
            "{:?}",
            views[1].alert.owner
        );
        let p = period_alerts(&views, start, end);
        assert_eq!(p.count, 2);
        assert_eq!(p.firing_at_end, 1);
        assert_eq!(p.total_minutes, 390.0);
        assert_eq!(p.longest_minutes, 300.0);
        let hlj = &p.provinces[0];
        assert_eq!((hlj.province, hlj.alerts, hlj.acknowledged), (H, 1, 1));
        assert_eq!(hlj.mean_minutes_to_ack, Some(10.0));
        let jl = &p.provinces[1];
        assert_eq!((jl.alerts, jl.acknowledged), (2, 2));
        assert_eq!(jl.mean_minutes_to_ack, Some(25.0));
        assert_eq!(jl.max_minutes_to_ack, Some(30.0));
    }
}
