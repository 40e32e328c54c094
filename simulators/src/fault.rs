//! Sensor and communication faults, resolved against the stations of a run.
//!
//! Value faults (stuck, drift, spike, out of range, data flags) change what a message
//! carries; message faults (dropout, clock skew, duplicate resend, outage with backfill)
//! change whether, when and with which timestamp it is sent. The generator applies them; the
//! manifest lists every reading each fault touched.

use crate::scenario::FaultDef;

/// A fault bound to a station of the run.
#[derive(Debug, Clone)]
pub struct Fault {
    /// Position in the scenario's fault list (the manifest's fault id).
    pub id: usize,
    /// The definition.
    pub def: FaultDef,
    /// Index of the station in the run.
    pub station: usize,
    /// Indices of the affected parameters in the station's list (empty: all).
    pub params: Vec<usize>,
    /// Window start, unix seconds (spikes: earliest spike).
    pub from: i64,
    /// Window end (exclusive), unix seconds (spikes: after the last one).
    pub to: i64,
}

impl Fault {
    /// Binds a definition: `station` is the run's index of its station and `param_index`
    /// finds a parameter code in that station's list.
    pub fn new(
        id: usize,
        def: &FaultDef,
        station: usize,
        param_index: impl Fn(&str) -> Option<usize>,
    ) -> Self {
        let params = def
            .parameters()
            .iter()
            .filter_map(|code| param_index(code))
            .collect();
        let (from, to) = match def {
            FaultDef::Stuck { from, to, .. }
            | FaultDef::Drift { from, to, .. }
            | FaultDef::OutOfRange { from, to, .. }
            | FaultDef::Flag { from, to, .. }
            | FaultDef::Dropout { from, to, .. }
            | FaultDef::ClockSkew { from, to, .. }
            | FaultDef::Duplicate { from, to, .. }
            | FaultDef::Outage { from, to, .. } => (from.timestamp(), to.timestamp()),
            FaultDef::Spike { at, .. } => (
                at.iter().map(|t| t.timestamp()).min().unwrap_or(0),
                at.iter().map(|t| t.timestamp()).max().unwrap_or(0) + 1,
            ),
        };
        Self {
            id,
            def: def.clone(),
            station,
            params,
            from,
            to,
        }
    }

    /// Whether unix time `t` lies in the fault's window.
    pub fn active(&self, t: i64) -> bool {
        (self.from..self.to).contains(&t)
    }

    /// Whether the fault touches parameter `param` (an index in the station's list).
    pub fn touches(&self, param: usize) -> bool {
        self.params.is_empty() || self.params.contains(&param)
    }

    /// What the fault does, in English, for the manifest.
    pub fn how(&self) -> String {
        match &self.def {
            FaultDef::Stuck { .. } => {
                "the sensor repeats the value it had at the start of the window, flag N".into()
            }
            FaultDef::Drift { per_day, .. } => {
                format!("the reading drifts by {per_day} per day from the start, flag N")
            }
            FaultDef::Spike { value, .. } => {
                format!(
                    "single readings of {value} at the first sample at or after each time, flag N"
                )
            }
            FaultDef::OutOfRange { value, .. } => format!(
                "readings of {value}, outside the registry's physical range; ingest rejects them"
            ),
            FaultDef::Flag { flag, .. } => format!(
                "readings flagged {flag} ({}); they do not count for evaluation",
                flag.label_zh()
            ),
            FaultDef::Dropout { .. } => "readings not sent and never backfilled".into(),
            FaultDef::ClockSkew { skew, .. } => format!(
                "timestamps {} s ahead of the true time; more than 10 min ahead of reception, \
                 ingest rejects them",
                skew.as_secs()
            ),
            FaultDef::Duplicate { delay, .. } => format!(
                "every message sent again {} s later with identical content; ingest keeps one",
                delay.as_secs()
            ),
            FaultDef::Outage { backfill_delay, .. } => format!(
                "nothing sent during the window; the missed readings are sent {} s after it \
                 ends, with their original times",
                backfill_delay.as_secs()
            ),
        }
    }

    /// Why ingest rejects the readings of this fault, if it does: a dead-letter reason.
    pub fn invalid_for_ingest(&self) -> Option<&'static str> {
        match self.def {
            FaultDef::OutOfRange { .. } => Some("out_of_range"),
            FaultDef::ClockSkew { skew, .. } if skew.as_secs() > 600 => {
                Some("timestamp_out_of_range")
            }
            _ => None,
        }
    }
}
