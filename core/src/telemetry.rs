//! Tracing set-up for the binary, and the small metrics registry the services count into.
//!
//! Libraries never install a subscriber; the binary calls [`init`]. Metrics are plain
//! atomic counters, gauges and histograms keyed by name and a few bounded labels (station,
//! reason code — never a value or a message id), rendered in the Prometheus text format
//! with each name's type and the help text the exporter supplies.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

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

/// What a metric is, for the `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Only rises.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations counted in buckets, with their sum.
    Histogram,
}

impl MetricKind {
    /// The Prometheus type name.
    pub const fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

#[derive(Debug, Clone)]
enum Series {
    Value(Arc<AtomicU64>),
    Histogram(Arc<Buckets>),
}

/// One metric name: its kind and its series by label set (`{a="x"}`, or empty).
#[derive(Debug, Clone)]
struct Family {
    kind: MetricKind,
    series: BTreeMap<String, Series>,
}

type Registry = Mutex<BTreeMap<String, Family>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(BTreeMap::new()))
}

fn labels_text(labels: &[(&str, &str)]) -> String {
    let mut k = String::new();
    if !labels.is_empty() {
        k.push('{');
        for (i, (l, v)) in labels.iter().enumerate() {
            if i > 0 {
                k.push(',');
            }
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
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

/// Bucket bounds for latencies of durable commits (an fsync on a disk up to a stalled
/// one), seconds.
pub const COMMIT_SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The cells of a histogram: a count per bucket (not cumulative; the last one is above
/// every bound) and the sum of the observations as `f64` bits.
#[derive(Debug)]
struct Buckets {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_bits: AtomicU64,
}

impl Buckets {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_bits: AtomicU64::new(0f64.to_bits()),
        }
    }
}

/// Observations counted in buckets (`le` upper bounds), with their sum: Prometheus's
/// histogram. Observing is a few atomic operations, no lock.
#[derive(Debug, Clone)]
pub struct Histogram(Arc<Buckets>);

impl Histogram {
    /// Counts one observation.
    pub fn observe(&self, v: f64) {
        let b = &self.0;
        let i = b
            .bounds
            .iter()
            .position(|&le| v <= le)
            .unwrap_or(b.bounds.len());
        if let Some(c) = b.counts.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let _ = b
            .sum_bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + v).to_bits())
            });
    }

    /// Counts a duration, in seconds.
    pub fn observe_duration(&self, d: std::time::Duration) {
        self.observe(d.as_secs_f64());
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.0
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// Sum of the observations so far.
    pub fn sum(&self) -> f64 {
        f64::from_bits(self.0.sum_bits.load(Ordering::Relaxed))
    }
}

/// The series `name{labels}` of a family of `kind`, made by `new` on first use. A name
/// keeps the kind it was first registered with.
fn series(
    name: &str,
    kind: MetricKind,
    labels: &[(&str, &str)],
    new: impl FnOnce() -> Series,
) -> Series {
    // std Mutex: a map lookup, never held across an await. Callers keep the handle, so
    // this runs once per series, not per reading.
    let mut map = registry().lock().unwrap_or_else(PoisonError::into_inner);
    map.entry(name.to_string())
        .or_insert_with(|| Family {
            kind,
            series: BTreeMap::new(),
        })
        .series
        .entry(labels_text(labels))
        .or_insert_with(new)
        .clone()
}

fn value(name: &str, kind: MetricKind, labels: &[(&str, &str)]) -> Arc<AtomicU64> {
    match series(name, kind, labels, || {
        Series::Value(Arc::new(AtomicU64::new(0)))
    }) {
        Series::Value(v) => v,
        // The name is a histogram's: a detached cell keeps the caller working.
        Series::Histogram(_) => Arc::new(AtomicU64::new(0)),
    }
}

/// The counter `name{labels}`, created at zero on first use.
pub fn counter(name: &str, labels: &[(&str, &str)]) -> Counter {
    Counter(value(name, MetricKind::Counter, labels))
}

/// The gauge `name{labels}`, created at zero on first use.
pub fn gauge(name: &str, labels: &[(&str, &str)]) -> Gauge {
    Gauge(value(name, MetricKind::Gauge, labels))
}

/// The histogram `name{labels}` with the upper bounds `buckets` (ascending), created empty
/// on first use.
pub fn histogram(name: &str, labels: &[(&str, &str)], buckets: &'static [f64]) -> Histogram {
    match series(name, MetricKind::Histogram, labels, || {
        Series::Histogram(Arc::new(Buckets::new(buckets)))
    }) {
        Series::Histogram(h) => Histogram(h),
        Series::Value(_) => Histogram(Arc::new(Buckets::new(buckets))),
    }
}

/// A bucket bound or a sum as Prometheus writes it (`+Inf`, `0.5`, `1`).
fn number(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{v}")
    }
}

/// A label set with one more label (`le`) appended.
fn with_label(labels: &str, name: &str, value: &str) -> String {
    match labels.strip_suffix('}') {
        Some(open) => format!("{open},{name}=\"{value}\"}}"),
        None => format!("{{{name}=\"{value}\"}}"),
    }
}

/// Every metric in the Prometheus text format (version 0.0.4): for each name a `# HELP`
/// line (the text `help` gives for it, else a sentence naming it), a `# TYPE` line and its
/// series; a histogram's as cumulative `_bucket{le=…}` series, `_sum` and `_count`.
pub fn render_prometheus(help: impl Fn(&str) -> Option<&'static str>) -> String {
    // A copy of the handles (a few pointers per series), so the lock is not held while
    // rendering.
    let families = registry()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let mut out = String::new();
    for (name, Family { kind, series }) in families {
        let text = help(&name).map_or_else(|| format!("riverwatch metric {name}."), String::from);
        let text = text.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(out, "# HELP {name} {text}");
        let _ = writeln!(out, "# TYPE {name} {}", kind.as_str());
        for (labels, s) in series {
            match s {
                Series::Value(v) => {
                    let _ = writeln!(out, "{name}{labels} {}", v.load(Ordering::Relaxed));
                }
                Series::Histogram(h) => {
                    let mut cumulative = 0u64;
                    let bounds = h.bounds.iter().copied().chain([f64::INFINITY]);
                    for (le, c) in bounds.zip(&h.counts) {
                        cumulative += c.load(Ordering::Relaxed);
                        let l = with_label(&labels, "le", &number(le));
                        let _ = writeln!(out, "{name}_bucket{l} {cumulative}");
                    }
                    let sum = f64::from_bits(h.sum_bits.load(Ordering::Relaxed));
                    let _ = writeln!(out, "{name}_sum{labels} {}", number(sum));
                    let _ = writeln!(out, "{name}_count{labels} {cumulative}");
                }
            }
        }
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
        let text = render_prometheus(|_| None);
        assert!(
            text.contains("test_rejected_total{reason=\"crc_mismatch\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE test_rejected_total counter\n"),
            "{text}"
        );
    }

    #[test]
    fn a_histogram_renders_cumulative_buckets_its_sum_and_count() {
        const BOUNDS: &[f64] = &[0.25, 1.0];
        let h = histogram("test_commit_seconds", &[("store", "a")], BOUNDS);
        for v in [0.125, 0.25, 0.5, 7.0] {
            h.observe(v);
        }
        assert_eq!(h.count(), 4);
        let text = render_prometheus(|n| (n == "test_commit_seconds").then_some("Commits."));
        let mine: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("test_commit_seconds"))
            .collect();
        assert_eq!(
            mine,
            [
                "# HELP test_commit_seconds Commits.",
                "# TYPE test_commit_seconds histogram",
                "test_commit_seconds_bucket{store=\"a\",le=\"0.25\"} 2",
                "test_commit_seconds_bucket{store=\"a\",le=\"1\"} 3",
                "test_commit_seconds_bucket{store=\"a\",le=\"+Inf\"} 4",
                "test_commit_seconds_sum{store=\"a\"} 7.875",
                "test_commit_seconds_count{store=\"a\"} 4",
            ]
        );
    }
}
