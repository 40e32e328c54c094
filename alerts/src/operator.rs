//! What a duty officer does to the alert store, from the command line or the console: an
//! acknowledgement for one province, and silences. The running service picks each change up
//! within a tick; every change is audited by the store.

use chrono::{DateTime, Utc};
use riverwatch_core::Province;

use crate::model::{Acknowledgement, Matcher, Silence};
use crate::silence::new_silence;
use crate::store::{Result, Store};

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
