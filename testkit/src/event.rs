//! Evaluation events for the alert service's tests and benchmarks.

/// An evaluation event with only the fields every event carries; the optional ones are
/// `None` and set by the caller. Built through the event's JSON form, so that fields added
/// to the contract later (all optional, `#[serde(default)]`) need no change here.
///
/// # Panics
/// Never for valid arguments: the JSON is well-formed by construction.
#[allow(clippy::too_many_arguments)]
pub fn base_event(
    id: &str,
    rule: riverwatch_core::events::Rule,
    status: riverwatch_core::events::EventStatus,
    severity: riverwatch_core::events::Severity,
    subject: &str,
    provinces: &[riverwatch_core::Province],
    cross_border: bool,
    observed_at: chrono::DateTime<chrono::Utc>,
) -> riverwatch_core::events::Event {
    let v = serde_json::json!({
        "id": id,
        "rule": rule,
        "status": status,
        "severity": severity,
        "subject": subject,
        "provinces": provinces,
        "cross_border": cross_border,
        "observed_at": observed_at,
        "emitted_at": observed_at,
        "standard": "",
        "summary_zh": "",
        "summary_en": "",
    });
    #[allow(clippy::expect_used)]
    serde_json::from_value(v).expect("the required fields of an event")
}
