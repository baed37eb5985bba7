//! Automatic switch-on (pure, no IO, no clock): demand signals (hold attempts) counted per show
//! per second, summed over every process that reports them, and compared with a threshold.
//!
//! The policy: a show switches its waiting room on when, over the last
//! [`AutoPolicy::window_s`] seconds (the current, partial one included), it drew at least
//! `threshold x window_s` demand signals, i.e. an average of `threshold` per second. The threshold
//! is the show's own ([`AutoSetting::Above`]), the deployment's default, or none
//! ([`AutoSetting::Never`], or no default configured). Counts arrive with explicit seconds, so a
//! test feeds them with chosen timestamps and gets the same answer every time.

use std::collections::{HashMap, VecDeque};

use schemas::{ShowId, UnixMs};
use serde::{Deserialize, Serialize};

/// The deployment's automatic switch-on settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AutoPolicy {
    /// Default threshold in demand signals per second per show; `None`: shows switch on
    /// automatically only with a threshold of their own.
    pub above_per_s: Option<u32>,
    /// Seconds the average is taken over (at least 1).
    pub window_s: u32,
    /// Admissions per minute of an automatically switched-on room whose show has no pace set.
    pub admit_per_minute: u32,
}

impl AutoPolicy {
    /// No default threshold, a 5 s window, 600 admissions per minute.
    pub const OFF: AutoPolicy = AutoPolicy {
        above_per_s: None,
        window_s: 5,
        admit_per_minute: 600,
    };

    /// The threshold that applies to a show with `setting`.
    pub fn threshold(&self, setting: AutoSetting) -> Option<u32> {
        match setting {
            AutoSetting::Default => self.above_per_s,
            AutoSetting::Never => None,
            AutoSetting::Above(per_s) => Some(per_s),
        }
    }
}

impl Default for AutoPolicy {
    fn default() -> Self {
        AutoPolicy::OFF
    }
}

/// A show's own choice about automatic switch-on (set by an admin, kept in the queue log).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AutoSetting {
    /// The deployment's default threshold applies.
    #[default]
    Default,
    /// Never switched on automatically.
    Never,
    /// Switched on above this many demand signals per second.
    Above(u32),
}

impl AutoSetting {
    /// From the admin's `autoAbovePerSecond`: 0 means never.
    pub fn from_per_s(per_s: u32) -> AutoSetting {
        if per_s == 0 {
            AutoSetting::Never
        } else {
            AutoSetting::Above(per_s)
        }
    }
}

/// Demand signals of one show in one second.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemandCount {
    /// The show.
    pub show: ShowId,
    /// Unix second.
    pub second: i64,
    /// Signals.
    pub count: u64,
}

/// Shows most counted at once (beyond, the oldest counts of the least busy are dropped at the
/// next prune; a flood of made-up show ids cannot grow it without bound).
pub const METER_SHOWS_MAX: usize = 100_000;

/// Per-show, per-second demand counts over a sliding window.
#[derive(Clone, Debug)]
pub struct DemandMeter {
    window_s: u32,
    shows: HashMap<ShowId, VecDeque<(i64, u64)>>,
}

/// The Unix second of `at`.
pub fn second_of(at: UnixMs) -> i64 {
    at.0.div_euclid(1000)
}

impl DemandMeter {
    /// An empty meter averaging over `window_s` seconds (at least 1).
    pub fn new(window_s: u32) -> DemandMeter {
        DemandMeter {
            window_s: window_s.max(1),
            shows: HashMap::new(),
        }
    }

    /// Count `count` signals of `show` in `second`.
    pub fn add(&mut self, show: ShowId, second: i64, count: u64) {
        if count == 0 || (self.shows.len() >= METER_SHOWS_MAX && !self.shows.contains_key(&show)) {
            return;
        }
        let seconds = self.shows.entry(show).or_default();
        // Counts arrive almost in order; a late one is merged where it belongs.
        match seconds.iter().rposition(|(s, _)| *s <= second) {
            Some(i) if seconds[i].0 == second => seconds[i].1 += count,
            Some(i) => seconds.insert(i + 1, (second, count)),
            None => seconds.push_front((second, count)),
        }
    }

    /// Count one signal of `show` at `at`.
    pub fn record(&mut self, show: ShowId, at: UnixMs) {
        self.add(show, second_of(at), 1);
    }

    /// Signals of `show` in the window ending with the second of `now`.
    pub fn total(&self, show: ShowId, now: UnixMs) -> u64 {
        let last = second_of(now);
        let first = last - i64::from(self.window_s) + 1;
        self.shows.get(&show).map_or(0, |seconds| {
            seconds
                .iter()
                .filter(|(s, _)| (first..=last).contains(s))
                .map(|(_, c)| c)
                .sum()
        })
    }

    /// Average signals per second of `show` over the window ending at `now` (rounded down).
    pub fn per_s(&self, show: ShowId, now: UnixMs) -> u64 {
        self.total(show, now) / u64::from(self.window_s)
    }

    /// Shows whose demand at `now` reaches their threshold (`threshold_of` a show; `None`: never),
    /// with their average per second.
    pub fn over(
        &self,
        now: UnixMs,
        threshold_of: impl Fn(ShowId) -> Option<u32>,
    ) -> Vec<(ShowId, u64)> {
        let window = u64::from(self.window_s);
        self.shows
            .keys()
            .filter_map(|show| {
                let threshold = u64::from(threshold_of(*show)?);
                let total = self.total(*show, now);
                (threshold > 0 && total >= threshold * window).then_some((*show, total / window))
            })
            .collect()
    }

    /// Forget seconds that have left the window at `now`.
    pub fn prune(&mut self, now: UnixMs) {
        let first = second_of(now) - i64::from(self.window_s) + 1;
        self.shows.retain(|_, seconds| {
            while seconds.front().is_some_and(|(s, _)| *s < first) {
                seconds.pop_front();
            }
            !seconds.is_empty()
        });
    }

    /// Take every count out (what this process reports to the others).
    pub fn drain(&mut self) -> Vec<DemandCount> {
        self.shows
            .drain()
            .flat_map(|(show, seconds)| {
                seconds.into_iter().map(move |(second, count)| DemandCount {
                    show,
                    second,
                    count,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(n: u128) -> ShowId {
        ShowId(uuid::Uuid::from_u128(n))
    }

    const T0: i64 = 1_800_000_000_000;

    fn at(ms: i64) -> UnixMs {
        UnixMs(T0 + ms)
    }

    #[test]
    fn demand_at_the_threshold_switches_on_and_below_does_not() {
        let mut meter = DemandMeter::new(2);
        for i in 0..19 {
            meter.record(show(1), at(i * 100));
        }
        let threshold = |_| Some(10);
        assert!(meter.over(at(1999), threshold).is_empty());
        meter.record(show(1), at(1999));
        assert_eq!(meter.over(at(1999), threshold), vec![(show(1), 10)]);
    }

    #[test]
    fn counts_leave_the_window_as_time_passes() {
        let mut meter = DemandMeter::new(3);
        meter.add(show(1), second_of(at(0)), 30);
        assert_eq!(meter.per_s(show(1), at(2999)), 10);
        assert_eq!(meter.total(show(1), at(3000)), 0);
        meter.prune(at(3000));
        assert!(meter.drain().is_empty());
    }

    #[test]
    fn reports_of_several_processes_add_up_even_out_of_order() {
        let mut meter = DemandMeter::new(1);
        let s = second_of(at(0));
        meter.add(show(1), s, 4);
        meter.add(show(1), s - 1, 100);
        meter.add(show(1), s, 6);
        assert_eq!(meter.total(show(1), at(500)), 10);
        assert_eq!(meter.total(show(1), at(-500)), 100);
        assert_eq!(meter.over(at(0), |_| Some(10)), vec![(show(1), 10)]);
    }

    #[test]
    fn a_show_without_a_threshold_never_switches_on() {
        let mut meter = DemandMeter::new(1);
        meter.add(show(1), second_of(at(0)), 1_000_000);
        meter.add(show(2), second_of(at(0)), 1_000_000);
        let over = meter.over(at(0), |s| (s == show(2)).then_some(5));
        assert_eq!(over, vec![(show(2), 1_000_000)]);
    }

    #[test]
    fn draining_hands_out_every_count_once() {
        let mut meter = DemandMeter::new(5);
        meter.record(show(1), at(0));
        meter.record(show(1), at(10));
        meter.record(show(2), at(1500));
        let mut counts = meter.drain();
        counts.sort_by_key(|c| (c.show.0, c.second));
        assert_eq!(
            counts,
            vec![
                DemandCount {
                    show: show(1),
                    second: second_of(at(0)),
                    count: 2
                },
                DemandCount {
                    show: show(2),
                    second: second_of(at(1500)),
                    count: 1
                },
            ]
        );
        assert!(meter.drain().is_empty());
    }

    #[test]
    fn thresholds_resolve_show_first_then_deployment() {
        let policy = AutoPolicy {
            above_per_s: Some(50),
            ..AutoPolicy::OFF
        };
        assert_eq!(policy.threshold(AutoSetting::Default), Some(50));
        assert_eq!(policy.threshold(AutoSetting::Above(7)), Some(7));
        assert_eq!(policy.threshold(AutoSetting::Never), None);
        assert_eq!(AutoPolicy::OFF.threshold(AutoSetting::Default), None);
        assert_eq!(AutoSetting::from_per_s(0), AutoSetting::Never);
        assert_eq!(AutoSetting::from_per_s(3), AutoSetting::Above(3));
    }
}
