//! HJ 663-2013 data validity of a day's O3 maxima: 8-hour means from at least 6 hours, the
//! daily maximum from at least 14 of the 17 windows ending 08:00–24:00, or from fewer when
//! it exceeds the limit (GB 3095 Grade II, 160 µg/m³).

use super::AWKWARD_F64;
use crate::standards::hj663::*;

const RULE: O3Validity = O3Validity {
    min_hours_per_window: 6,
    min_windows: 14,
};
const LIMIT: Option<f64> = Some(160.0);

/// A day with `value` in the hours `hours` (index k = the hour starting at k:00) and no
/// value in the others.
fn day(hours: std::ops::RangeInclusive<usize>, value: f64) -> Vec<Option<f64>> {
    (0..24)
        .map(|k| hours.contains(&k).then_some(value))
        .collect()
}

#[test]
fn a_full_day_has_17_windows_and_counts() {
    let mut hourly = day(0..=23, 100.0);
    // 300 for the eight hours 12:00–19:00: the window ending 20:00 averages 300.
    for h in hourly.iter_mut().take(20).skip(12) {
        *h = Some(300.0);
    }
    let o3 = o3_daily(&hourly, RULE, LIMIT);
    assert_eq!(o3.valid_8h_windows, O3_8H_WINDOWS_PER_DAY);
    assert_eq!(o3.max_8h_ug_m3, Some(300.0));
    assert_eq!(o3.max_1h_ug_m3, Some(300.0));
    assert_eq!(o3.max_8h_validity, Max8hValidity::Enough);
    assert_eq!(o3.max_8h_counted(), Some(300.0));
}

#[test]
fn windows_stay_within_the_day_and_need_six_hours() {
    // Hours 00–12 only (13 hours). A window ending at index e covers e−7 … e: those ending
    // at 7 … 12 hold 8 hours, at 13 seven (6–12), at 14 six (7–12), at 15 five: 8 valid.
    let o3 = o3_daily(&day(0..=12, 150.0), RULE, LIMIT);
    assert_eq!(o3.valid_8h_windows, 8);
    // A window of six hours is the mean of those six: hours 2–7 at 100, 100, 100, 100, 100
    // and 220 give (500 + 220) / 6 = 120 in the windows ending at 7, 8 and 9.
    let mut hourly = day(2..=6, 100.0);
    hourly[7] = Some(220.0);
    let o3 = o3_daily(&hourly, RULE, LIMIT);
    assert_eq!(o3.valid_8h_windows, 3);
    assert_eq!(o3.max_8h_ug_m3, Some(120.0));
    assert_eq!(o3.max_1h_ug_m3, Some(220.0));
}

#[test]
fn fourteen_windows_count_and_thirteen_do_not_below_the_limit() {
    // Hours 00–18: windows ending at 7 … 20 hold at least six hours (the one ending at 20
    // holds 13–18), the one ending at 21 five: 14 valid windows.
    let o3 = o3_daily(&day(0..=18, 100.0), RULE, LIMIT);
    assert_eq!(o3.valid_8h_windows, 14);
    assert_eq!(o3.max_8h_validity, Max8hValidity::Enough);
    assert_eq!(o3.max_8h_counted(), Some(100.0));
    // Hours 00–17: 13 valid windows, maximum 100 ≤ 160: not counted.
    let o3 = o3_daily(&day(0..=17, 100.0), RULE, LIMIT);
    assert_eq!(o3.valid_8h_windows, 13);
    assert_eq!(o3.max_8h_ug_m3, Some(100.0));
    assert_eq!(o3.max_8h_validity, Max8hValidity::Insufficient);
    assert_eq!(o3.max_8h_counted(), None);
    assert_eq!(o3.max_1h_ug_m3, Some(100.0), "the 1-hour maximum stays");
}

#[test]
fn fewer_than_14_windows_count_when_the_maximum_exceeds_the_limit() {
    // 8 valid windows (hours 00–12), all at 200 > 160: counted.
    let o3 = o3_daily(&day(0..=12, 200.0), RULE, LIMIT);
    assert_eq!(o3.valid_8h_windows, 8);
    assert_eq!(o3.max_8h_validity, Max8hValidity::FewerButAboveLimit);
    assert_eq!(o3.max_8h_counted(), Some(200.0));
    // At the limit is not above it.
    let o3 = o3_daily(&day(0..=12, 160.0), RULE, LIMIT);
    assert_eq!(o3.max_8h_validity, Max8hValidity::Insufficient);
    // 150 ≤ 160: not counted.
    let o3 = o3_daily(&day(0..=12, 150.0), RULE, LIMIT);
    assert_eq!(o3.max_8h_counted(), None);
    // Without a limit to compare with, too few windows never count.
    let o3 = o3_daily(&day(0..=12, 200.0), RULE, None);
    assert_eq!(o3.max_8h_counted(), None);
}

#[test]
fn a_day_without_o3_has_nothing() {
    let o3 = o3_daily(&[None; 24], RULE, LIMIT);
    assert_eq!(
        (o3.max_1h_ug_m3, o3.max_8h_ug_m3, o3.valid_8h_windows),
        (None, None, 0)
    );
    assert_eq!(o3.max_8h_validity, Max8hValidity::Insufficient);
    let o3 = o3_daily(&[], RULE, LIMIT);
    assert_eq!(o3.valid_8h_windows, 0);
}

#[test]
fn non_finite_hours_count_as_missing_and_nothing_panics() {
    let mut hourly = day(0..=23, 100.0);
    hourly[3] = Some(f64::NAN);
    hourly[4] = Some(f64::INFINITY);
    let o3 = o3_daily(&hourly, RULE, LIMIT);
    assert_eq!(o3.max_1h_ug_m3, Some(100.0));
    assert_eq!(o3.max_8h_ug_m3, Some(100.0));
    for v in AWKWARD_F64 {
        let _ = o3_daily(&[Some(v); 30], RULE, Some(v));
        let _ = o3_daily(
            &[Some(v); 24],
            O3Validity {
                min_hours_per_window: 0,
                min_windows: 0,
            },
            None,
        );
    }
}
