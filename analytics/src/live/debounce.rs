//! Debounce and hysteresis: the one state machine behind every live rule.
//!
//! A [`Leveled`] holds a level (a boolean condition, a water class, an AQI level, a flood
//! state) and moves it only on evidence:
//! - **up** (to a worse level) after `fire_after` consecutive observations whose *raw*
//!   level is worse than the current one; it moves to the best raw level of that streak;
//! - **down** after `clear_after` consecutive observations whose *sticky* level is better
//!   than the current one; it moves to the worst sticky level of that streak.
//!
//! The sticky level is the level of the value pushed toward the worse side by the
//! hysteresis margin (an upper limit L is judged at L × (1 − h)), so `sticky ≥ raw` and a
//! value hovering at a limit raises the level once and never lowers it until it clearly
//! recovers.

use serde::{Deserialize, Serialize};

/// How many consecutive observations move a level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streaks {
    /// Observations at a worse level before the level rises (at least 1).
    pub fire_after: u32,
    /// Observations at a better level before the level falls (at least 1).
    pub clear_after: u32,
}

/// A move of a level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition<L> {
    /// The level before.
    pub from: L,
    /// The level after.
    pub to: L,
}

/// A debounced level with hysteresis. Serializable, so it survives restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leveled<L> {
    current: L,
    up_streak: u32,
    up_to: Option<L>,
    down_streak: u32,
    down_to: Option<L>,
}

impl<L: Ord + Copy> Leveled<L> {
    /// A level starting at `initial`.
    pub fn new(initial: L) -> Self {
        Self {
            current: initial,
            up_streak: 0,
            up_to: None,
            down_streak: 0,
            down_to: None,
        }
    }

    /// The current level.
    pub fn current(&self) -> L {
        self.current
    }

    /// Feeds one observation: its raw level and its sticky level (`sticky ≥ raw`; pass the
    /// raw level twice for no hysteresis). Returns the move, if the level moved.
    pub fn observe(&mut self, raw: L, sticky: L, streaks: Streaks) -> Option<Transition<L>> {
        let sticky = sticky.max(raw);
        if raw > self.current {
            self.down_streak = 0;
            self.down_to = None;
            self.up_streak += 1;
            self.up_to = Some(self.up_to.map_or(raw, |l| l.min(raw)));
            if self.up_streak >= streaks.fire_after.max(1) {
                let to = self.up_to.unwrap_or(raw);
                return self.move_to(to);
            }
        } else if sticky < self.current {
            self.up_streak = 0;
            self.up_to = None;
            self.down_streak += 1;
            self.down_to = Some(self.down_to.map_or(sticky, |l| l.max(sticky)));
            if self.down_streak >= streaks.clear_after.max(1) {
                let to = self.down_to.unwrap_or(sticky);
                return self.move_to(to);
            }
        } else {
            self.reset_streaks();
        }
        None
    }

    fn reset_streaks(&mut self) {
        self.up_streak = 0;
        self.up_to = None;
        self.down_streak = 0;
        self.down_to = None;
    }

    fn move_to(&mut self, to: L) -> Option<Transition<L>> {
        self.reset_streaks();
        let from = self.current;
        self.current = to;
        (from != to).then_some(Transition { from, to })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S12: Streaks = Streaks {
        fire_after: 1,
        clear_after: 2,
    };

    /// An upper limit of 1.0 with 5 % hysteresis: raw = v > 1.0, sticky = v > 0.95.
    fn cond(v: f64) -> (bool, bool) {
        (v > 1.0, v > 0.95)
    }

    #[test]
    fn a_value_hovering_at_the_limit_does_not_flap() {
        let mut c = Leveled::new(false);
        let values = [0.9, 1.01, 0.99, 1.02, 0.98, 1.0, 0.97, 1.03, 0.99];
        let moves: Vec<_> = values
            .iter()
            .filter_map(|&v| {
                let (raw, sticky) = cond(v);
                c.observe(raw, sticky, S12)
            })
            .collect();
        assert_eq!(
            moves,
            vec![Transition {
                from: false,
                to: true
            }]
        );
        assert!(c.current());
        // Clearly within for two readings: it ends once.
        assert_eq!(c.observe(false, false, S12), None);
        assert_eq!(
            c.observe(false, false, S12),
            Some(Transition {
                from: true,
                to: false
            })
        );
    }

    #[test]
    fn one_clear_reading_between_exceedances_does_not_end_it() {
        let mut c = Leveled::new(false);
        assert!(c.observe(true, true, S12).is_some());
        assert_eq!(c.observe(false, false, S12), None);
        assert_eq!(c.observe(true, true, S12), None);
        assert_eq!(c.observe(false, false, S12), None);
        assert!(c.current());
    }

    #[test]
    fn fire_after_needs_consecutive_readings() {
        let s = Streaks {
            fire_after: 3,
            clear_after: 1,
        };
        let mut c = Leveled::new(false);
        assert_eq!(c.observe(true, true, s), None);
        assert_eq!(c.observe(true, true, s), None);
        assert_eq!(c.observe(false, false, s), None);
        assert_eq!(c.observe(true, true, s), None);
        assert_eq!(c.observe(true, true, s), None);
        assert!(c.observe(true, true, s).is_some());
    }

    #[test]
    fn levels_rise_to_the_best_of_the_streak_and_fall_to_the_worst() {
        let s = Streaks {
            fire_after: 2,
            clear_after: 2,
        };
        let mut l = Leveled::new(1u8);
        assert_eq!(l.observe(5, 5, s), None);
        assert_eq!(l.observe(3, 3, s), Some(Transition { from: 1, to: 3 }));
        assert_eq!(l.observe(1, 2, s), None);
        assert_eq!(l.observe(1, 1, s), Some(Transition { from: 3, to: 2 }));
    }

    #[test]
    fn survives_a_serde_round_trip() {
        let mut l = Leveled::new(false);
        l.observe(true, true, S12);
        l.observe(false, false, S12);
        let text = serde_json::to_string(&l).unwrap();
        let mut back: Leveled<bool> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, l);
        assert!(back.observe(false, false, S12).is_some());
    }
}
