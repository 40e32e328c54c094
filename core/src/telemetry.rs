//! Tracing set-up for the binary, and the small metrics registry the services count into.
//!
//! Libraries never install a subscriber; the binary calls [`init`]. Metrics are plain
//! atomic counters and gauges keyed by name and a few bounded labels (station, reason
//! code — never a value or a message id), rendered in the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::EnvFilter;

/// Installs the fmt subscriber with an `EnvFilter` (`RUST_LOG` overrides `default_filter`).
/// The `log` bridge is installed too, so rumqttc's reconnect messages show up.
///
/// # Errors
/// When a subscriber is already installed or the filter does not parse.
pub fn init(default_filter: &str) -> Result<(), String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(f) if !f.is_empty() => EnvFilter::try_new(f),
        _ => EnvFilter::try_new(default_filter),
    }
    .map_err(|e| format!("bad log filter: {e}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init()
        .map_err(|e| format!("cannot install the log subscriber: {e}"))
}

type Registry = Mutex<BTreeMap<String, Arc<AtomicU64>>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(BTreeMap::new()))
}

fn key(name: &str, labels: &[(&str, &str)]) -> String {
    let mut k = name.to_string();
    if !labels.is_empty() {
        k.push('{');
        for (i, (l, v)) in labels.iter().enumerate() {
            if i > 0 {
                k.push(',');
            }
            let v = v.replace('\\', "\\\\").replace('"', "\\\"");
            let _ = write!(k, "{l}=\"{v}\"");
        }
        k.push('}');
    }
    k
}

/// A monotonically rising count.
#[derive(Debug, Clone)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// The current count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Clone)]
pub struct Gauge(Arc<AtomicU64>);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

fn cell(name: &str, labels: &[(&str, &str)]) -> Arc<AtomicU64> {
    let k = key(name, labels);
    // std Mutex: a map lookup, never held across an await. Callers keep the handle, so
    // this runs once per series, not per reading.
    match registry().lock() {
        Ok(mut map) => map
            .entry(k)
            .or_insert_with(|| Arc::new(AtomicU64::new(0)))
            .clone(),
        Err(poisoned) => {
            let mut map = poisoned.into_inner();
            map.entry(k)
                .or_insert_with(|| Arc::new(AtomicU64::new(0)))
                .clone()
        }
    }
}

/// The counter `name{labels}`, created at zero on first use.
pub fn counter(name: &str, labels: &[(&str, &str)]) -> Counter {
    Counter(cell(name, labels))
}

/// The gauge `name{labels}`, created at zero on first use.
pub fn gauge(name: &str, labels: &[(&str, &str)]) -> Gauge {
    Gauge(cell(name, labels))
}

/// Every metric in the Prometheus text format.
pub fn render_prometheus() -> String {
    let map = match registry().lock() {
        Ok(m) => m.clone(),
        Err(p) => p.into_inner().clone(),
    };
    let mut out = String::new();
    for (k, v) in map {
        let _ = writeln!(out, "{k} {}", v.load(Ordering::Relaxed));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_with_the_same_labels_share_a_cell() {
        let a = counter("test_rejected_total", &[("reason", "crc_mismatch")]);
        let b = counter("test_rejected_total", &[("reason", "crc_mismatch")]);
        let other = counter("test_rejected_total", &[("reason", "out_of_range")]);
        a.inc();
        b.add(2);
        assert_eq!(a.get(), 3);
        assert_eq!(other.get(), 0);
        let text = render_prometheus();
        assert!(
            text.contains("test_rejected_total{reason=\"crc_mismatch\"} 3"),
            "{text}"
        );
    }
}
