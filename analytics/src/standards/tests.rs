//! Tests of the standards, written from the tables of `reference/standards.md`: each
//! expected value is read from the reference, not from the code's output.

mod discharge;
mod gb3095;
mod gb3838;
mod ground_truth;
mod hj633;
mod hj663;
mod hydrology;
mod river_grade;
mod warning;

/// Values no function may panic on.
const AWKWARD_F64: [f64; 11] = [
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    -0.0,
    0.0,
    -1.0,
    f64::MIN_POSITIVE,
    f64::MAX,
    f64::MIN,
    1e300,
    -1e-300,
];

fn date(y: i32, m: u32, d: u32) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
