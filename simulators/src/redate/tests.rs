//! Unit tests of re-dating: every dated field moves by the offset (air-episode days by whole
//! days), the events' order, and the live plan's arithmetic. Expected dates are worked out
//! by hand in the comments.

use chrono::{DateTime, NaiveDate, Utc};
use riverwatch_core::registry::Registry;
use riverwatch_core::time::parse_time;

use super::*;
use crate::scenario::{FaultDef, Scenario};

fn at_cst(s: &str) -> DateTime<Utc> {
    parse_time(s).unwrap()
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn fault_times(f: &FaultDef) -> Vec<DateTime<Utc>> {
    match f {
        FaultDef::Stuck { from, to, .. }
        | FaultDef::Drift { from, to, .. }
        | FaultDef::OutOfRange { from, to, .. }
        | FaultDef::Flag { from, to, .. }
        | FaultDef::Dropout { from, to, .. }
        | FaultDef::ClockSkew { from, to, .. }
        | FaultDef::Duplicate { from, to, .. }
        | FaultDef::Outage { from, to, .. } => vec![*from, *to],
        FaultDef::Spike { at, .. } => at.clone(),
    }
}

/// One scenario with every kind of dated event: the Lalin plume, the straw-burning episode,
/// the Taiping upset, the spring floods and the sensor faults.
fn everything() -> Scenario {
    let mut s = Scenario::builtin("lalin-boundary-ammonia").unwrap();
    s.air_episodes = Scenario::builtin("autumn-straw-burning")
        .unwrap()
        .air_episodes;
    s.upsets = Scenario::builtin("wwtp-upset").unwrap().upsets;
    s.floods = Scenario::builtin("spring-flood").unwrap().floods;
    s.faults = Scenario::builtin("sensor-faults").unwrap().faults;
    s
}

#[test]
fn shifting_moves_every_dated_event_by_the_offset_and_episode_days_by_whole_days() {
    let s = everything();
    // 365 days 13 h 20 min: 2026 → 2027 are 365 days apart (2027 is no leap year).
    let by = chrono::Duration::days(365) + chrono::Duration::minutes(13 * 60 + 20);
    let t = s.shifted(by).unwrap();
    // 2026-09-07 00:00 → 2027-09-07 13:20.
    assert_eq!(t.start, at_cst("2027-09-07 13:20"));
    assert_eq!(t.duration, s.duration);
    // The release 2026-09-09 22:00 → 2027-09-10 11:20.
    assert_eq!(t.plumes[0].release_at, at_cst("2027-09-10 11:20"));
    // 13 h 20 min is more than half a day: the episode moves by 366 days,
    // 2025-10-23 → 2026-10-24.
    assert_eq!(t.air_episodes[0].first_day, date("2026-10-24"));
    // The upset 2026-06-16 02:00 → 2027-06-16 15:20.
    assert_eq!(t.upsets[0].start, at_cst("2027-06-16 15:20"));
    // The Caijiagou rise 2026-04-11 08:00 → 2027-04-11 21:20.
    assert_eq!(t.floods[0].start, at_cst("2027-04-11 21:20"));
    assert_eq!(t.floods[1].start, at_cst("2027-04-12 13:20"));
    // Every fault time, spikes included.
    assert_eq!(s.faults.len(), t.faults.len());
    for (a, b) in s.faults.iter().zip(&t.faults) {
        let (a, b) = (fault_times(a), fault_times(b));
        assert!(!a.is_empty());
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(*y - *x, by, "{a:?} → {b:?}");
        }
    }
    // The stuck PM2.5 of 2026-05-19 06:00 → 2027-05-19 19:20.
    assert_eq!(fault_times(&t.faults[0])[0], at_cst("2027-05-19 19:20"));
    // What the calendar decides stays put.
    assert_eq!(t.seasons, s.seasons);
    assert_eq!(t.plumes[0].reaches, s.plumes[0].reaches);
    // And back again.
    assert_eq!(t.shifted(-by).unwrap(), s);
}

#[test]
fn less_than_half_a_day_leaves_an_episode_on_its_days() {
    let s = Scenario::builtin("autumn-straw-burning").unwrap();
    let t = s.shifted(chrono::Duration::hours(11)).unwrap();
    assert_eq!(t.air_episodes[0].first_day, date("2025-10-23"));
    assert_eq!(t.start, at_cst("2025-10-20 11:00"));
    let t = s.shifted(chrono::Duration::hours(-13)).unwrap();
    assert_eq!(t.air_episodes[0].first_day, date("2025-10-22"));
}

#[test]
fn a_run_started_elsewhere_keeps_the_events_offsets() {
    // The run: the 2005 spill started 2026-11-13 13:00 CST instead of 2005-11-13
    // 00:00; the release at 13:40 on the first day moves to 02:40 on the second.
    let s = Scenario::builtin("songhua-2005-nitrobenzene").unwrap();
    let t = s.starting_at(at_cst("2026-11-13 13:00")).unwrap();
    assert_eq!(t.start, at_cst("2026-11-13 13:00"));
    assert_eq!(t.plumes[0].release_at, at_cst("2026-11-14 02:40"));
    assert_eq!(t.first_event(), Some(at_cst("2026-11-14 02:40")));
    // Straw burning a year later, whole days: the episode from 2026-10-23.
    let s = Scenario::builtin("autumn-straw-burning").unwrap();
    let t = s.starting_at(at_cst("2026-10-20 00:00")).unwrap();
    assert_eq!(t.air_episodes[0].first_day, date("2026-10-23"));
    // Its smoke fades in from 22:00 the evening before.
    assert_eq!(t.first_event(), Some(at_cst("2026-10-22 22:00")));
    // The same start is no change at all.
    assert_eq!(s.starting_at(s.start).unwrap(), s);
}

#[test]
fn events_come_earliest_first_with_the_rain_before_a_flood() {
    let s = Scenario::builtin("spring-flood").unwrap();
    let e = s.events();
    let got: Vec<(DateTime<Utc>, MilestoneKind, Option<&str>)> = e
        .iter()
        .map(|m| (m.at, m.kind, m.station.as_deref()))
        .collect();
    // Rain over the 48 h before each rise.
    assert_eq!(
        got,
        vec![
            (
                at_cst("2026-04-09 08:00"),
                MilestoneKind::Rain,
                Some("HYD-CJG")
            ),
            (
                at_cst("2026-04-10 00:00"),
                MilestoneKind::Rain,
                Some("HYD-HRB")
            ),
            (
                at_cst("2026-04-11 08:00"),
                MilestoneKind::FloodRise,
                Some("HYD-CJG")
            ),
            (
                at_cst("2026-04-12 00:00"),
                MilestoneKind::FloodRise,
                Some("HYD-HRB")
            ),
        ]
    );
    assert!(
        e.iter()
            .all(|m| !m.what_zh.is_empty() && !m.what_en.is_empty())
    );
    assert_eq!(Scenario::builtin("baseline").unwrap().first_event(), None);
    // The first fault of the drill is the PM10 spike on the first afternoon.
    let faults = Scenario::builtin("sensor-faults").unwrap();
    assert_eq!(faults.first_event(), Some(at_cst("2026-05-18 14:00")));
}

#[test]
fn the_timeline_adds_the_plume_front_at_each_section_downstream_order() {
    let registry = Registry::builtin().unwrap();
    let s = Scenario::builtin("lalin-boundary-ammonia").unwrap();
    let t = timeline(&s, &registry);
    assert_eq!(t[0].kind, MilestoneKind::Release);
    let arrivals: Vec<&str> = t
        .iter()
        .filter(|m| m.kind == MilestoneKind::Arrival)
        .filter_map(|m| m.station.as_deref())
        .collect();
    // LLH-WC (km 160) lies above the release at km 200 and is never reached.
    assert_eq!(
        arrivals,
        ["LLH-NTS", "LLH-LLZ", "LLH-YS", "LLH-CJG", "LLH-HK"]
    );
    // The front reaches LLH-NTS, 30 km down at 2 km/h (15 h), a few spreads earlier:
    // σ = 1 h + 0.08 × 15 h = 2.2 h.
    let nts = t.iter().find(|m| m.kind == MilestoneKind::Arrival).unwrap();
    let hours = (nts.at - s.plumes[0].release_at).num_minutes() as f64 / 60.0;
    assert!((15.0 - 3.0 * 2.2..15.0).contains(&hours), "{hours} h");
}

const NOW: &str = "2026-12-03 18:09:14";

#[test]
fn a_live_plan_replays_the_lalin_discharge_so_it_ends_in_the_present() {
    let s = Scenario::builtin("lalin-boundary-ammonia").unwrap();
    let now = at_cst(NOW);
    let plan = LivePlan::new(&s, now, 3600.0, 59).unwrap();
    // The lead-in of 70 h is shortened to what 5 s of replay cover: 5 h.
    let first = plan.first_event().unwrap();
    assert_eq!(first.kind, MilestoneKind::Release);
    assert_eq!(first.at - plan.run_start, chrono::Duration::hours(5));
    assert_eq!(plan.sent_at(first.at), now + chrono::Duration::seconds(5));
    // The trimmed scenario lasts 5 h + (10 d − 70 h) = 175 h and plays in 175 s: it starts
    // 175 h × 3599/3600 before now and ends when the replay meets the present.
    let past = now - plan.run_start;
    assert!((past.num_seconds() - (175 * 3599)).abs() <= 1, "{past:?}");
    let caught_up = plan.caught_up_at();
    assert!(
        (caught_up - (now + chrono::Duration::seconds(175)))
            .num_seconds()
            .abs()
            <= 1
    );
    assert!((plan.scenario.end() - caught_up).num_seconds().abs() <= 1);
    assert_eq!(plan.scenario.start, plan.run_start);
    // The events kept their offsets from each other: the release lasts 10 h as before.
    assert_eq!(plan.scenario.plumes[0].release_hours, 10.0);
    assert_eq!(
        plan.shift,
        plan.scenario.plumes[0].release_at - s.plumes[0].release_at
    );
    // The boundary section sees the front about 12 h after the release: 12 s later.
    let registry = Registry::builtin().unwrap();
    let nts = timeline(&plan.scenario, &registry)
        .into_iter()
        .find(|m| m.station.as_deref() == Some("LLH-NTS"))
        .unwrap();
    let wait = (plan.sent_at(nts.at) - now).num_seconds();
    assert!((15..=20).contains(&wait), "{wait} s");
}

#[test]
fn the_replay_never_runs_ahead_of_the_wall_clock() {
    let now = at_cst(NOW);
    for name in [
        "lalin-boundary-ammonia",
        "songhua-2005-nitrobenzene",
        "wwtp-upset",
    ] {
        let s = Scenario::builtin(name).unwrap();
        for speed in [1.0, 2.0, 60.0, 3600.0, 86_400.0] {
            let plan = LivePlan::new(&s, now, speed, 59).unwrap();
            assert!(plan.run_start <= now, "{name} at {speed}");
            let mut t = plan.run_start;
            while t < plan.caught_up_at() + chrono::Duration::hours(2) {
                let sent = plan.sent_at(t);
                assert!(sent >= t, "{name} at {speed}: {t} sent at {sent}");
                assert!(sent >= now);
                t += chrono::Duration::minutes(7);
            }
        }
    }
}

#[test]
fn at_speed_one_a_minute_is_back_filled_and_the_first_event_follows_shortly() {
    let s = Scenario::builtin("wwtp-upset").unwrap();
    let now = at_cst(NOW);
    let plan = LivePlan::new(&s, now, 1.0, 59).unwrap();
    assert_eq!(plan.run_start, now - chrono::Duration::seconds(59));
    assert_eq!(plan.caught_up_at(), now);
    assert_eq!(
        plan.first_event().unwrap().at,
        now + chrono::Duration::seconds(5)
    );
    assert_eq!(
        plan.sent_at(now + chrono::Duration::seconds(5)),
        now + chrono::Duration::seconds(5)
    );
    assert_eq!(
        plan.sent_at(plan.run_start),
        now,
        "the back-fill goes out at once"
    );
    // The plateau still comes 3 h after the ramp starts.
    let u = &plan.scenario.upsets[0];
    assert_eq!(u.ramp_up_hours, 3.0);
}

#[test]
fn a_live_straw_burning_episode_keeps_calendar_days_and_comes_no_later() {
    let s = Scenario::builtin("autumn-straw-burning").unwrap();
    let now = at_cst(NOW);
    for speed in [1.0, 3600.0] {
        let plan = LivePlan::new(&s, now, speed, 59).unwrap();
        assert_eq!(plan.shift.num_seconds() % 86_400, 0, "whole days");
        let first = plan.first_event().unwrap();
        // The smoke fades in from 22:00 CST before the first day.
        assert_eq!(first.at + chrono::Duration::hours(2), {
            let d = plan.scenario.air_episodes[0].first_day;
            riverwatch_core::time::from_cst(d.and_time(chrono::NaiveTime::MIN))
        });
        let sent = plan.sent_at(first.at);
        assert!(
            sent >= now && sent <= now + chrono::Duration::seconds(5),
            "at {speed}: sent {sent}"
        );
        assert!(plan.run_start <= first.at && plan.run_start <= now);
    }
}

#[test]
fn a_scenario_without_events_starts_one_interval_back() {
    let s = Scenario::builtin("baseline").unwrap();
    let now = at_cst(NOW);
    let plan = LivePlan::new(&s, now, 3600.0, 59).unwrap();
    assert_eq!(plan.run_start, now - chrono::Duration::seconds(59));
    assert_eq!(plan.scenario.start, plan.run_start);
    assert!(plan.first_event().is_none());
}

#[test]
fn a_live_speed_below_one_is_refused() {
    let s = Scenario::builtin("lalin-boundary-ammonia").unwrap();
    for speed in [0.5, 0.0, -3.0, f64::NAN, f64::INFINITY] {
        assert!(
            LivePlan::new(&s, at_cst(NOW), speed, 59).is_err(),
            "{speed}"
        );
    }
}
