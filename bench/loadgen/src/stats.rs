//! Samples of one measured window and their summary.

use serde::{Deserialize, Serialize};

/// How one operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The server did what was asked (`201` for a hold or a confirm).
    Accepted,
    /// The server decided against it for a reason the workload expects (`409` seats taken,
    /// `410` hold lapsed): a correct, decided answer.
    Rejected,
    /// Anything else: a transport error, a timeout, a `5xx`, an unexpected status.
    Error,
}

/// One operation: when it was due, how long until its answer, and the answer.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Scheduled send time, microseconds after the window opened.
    pub scheduled_us: u64,
    /// From the scheduled send time to the answer (or the failure), microseconds.
    pub latency_us: u64,
    /// How it ended.
    pub outcome: Outcome,
}

impl Sample {
    /// When the answer arrived, microseconds after the window opened.
    pub fn completed_us(&self) -> u64 {
        self.scheduled_us + self.latency_us
    }

    /// Whether the server decided it (accepted or rejected).
    pub fn decided(&self) -> bool {
        self.outcome != Outcome::Error
    }
}

/// Latency percentiles in milliseconds, errors included (an error's latency is the time until it
/// failed), so failures cannot flatter the tail.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Worst.
    pub max_ms: f64,
}

/// The percentiles this crate reports, for plots of the distribution.
pub const PERCENTILES: [f64; 12] = [
    0.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 100.0,
];

/// The `q`-quantile (0..=1) of sorted values, nearest rank.
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (sorted.len() as f64 * q).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

impl Latency {
    /// Percentiles of `latencies_us` (sorted in place).
    pub fn of(latencies_us: &mut [u64]) -> Latency {
        latencies_us.sort_unstable();
        Latency {
            p50_ms: ms(quantile(latencies_us, 0.50)),
            p90_ms: ms(quantile(latencies_us, 0.90)),
            p99_ms: ms(quantile(latencies_us, 0.99)),
            p999_ms: ms(quantile(latencies_us, 0.999)),
            max_ms: ms(latencies_us.last().copied().unwrap_or(0)),
        }
    }
}

/// Counts and rates of one window of `window_s` seconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Operations scheduled in the window.
    pub sent: u64,
    /// Accepted answers.
    pub accepted: u64,
    /// Rejected (decided) answers.
    pub rejected: u64,
    /// Errors and timeouts.
    pub errors: u64,
    /// Accepted answers that arrived inside the window, per second.
    pub accepted_per_s: f64,
    /// Rejected answers that arrived inside the window, per second.
    pub rejected_per_s: f64,
    /// Decided answers that arrived inside the window, per second: the throughput.
    pub decided_per_s: f64,
    /// Errors over operations sent.
    pub error_ratio: f64,
    /// Latency over every operation sent in the window, errors included.
    pub latency: Latency,
    /// Latency at each of [`PERCENTILES`], milliseconds.
    pub distribution_ms: Vec<f64>,
}

impl Summary {
    /// Summarise the samples of a window that lasted `window_s` seconds.
    pub fn of(samples: &[Sample], window_s: f64) -> Summary {
        let count = |o: Outcome| samples.iter().filter(|s| s.outcome == o).count() as u64;
        let window_us = (window_s * 1e6) as u64;
        let per_s = |keep: &dyn Fn(&Sample) -> bool| {
            let n = samples
                .iter()
                .filter(|s| keep(s) && s.completed_us() <= window_us)
                .count();
            n as f64 / window_s
        };
        let mut latencies: Vec<u64> = samples.iter().map(|s| s.latency_us).collect();
        let latency = Latency::of(&mut latencies);
        let distribution_ms = PERCENTILES
            .iter()
            .map(|p| ms(quantile(&latencies, p / 100.0)))
            .collect();
        let errors = count(Outcome::Error);
        Summary {
            sent: samples.len() as u64,
            accepted: count(Outcome::Accepted),
            rejected: count(Outcome::Rejected),
            errors,
            accepted_per_s: per_s(&|s| s.outcome == Outcome::Accepted),
            rejected_per_s: per_s(&|s| s.outcome == Outcome::Rejected),
            decided_per_s: per_s(&|s| s.decided()),
            error_ratio: errors as f64 / samples.len().max(1) as f64,
            latency,
            distribution_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(scheduled_us: u64, latency_us: u64, outcome: Outcome) -> Sample {
        Sample {
            scheduled_us,
            latency_us,
            outcome,
        }
    }

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let sorted: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&sorted, 0.5), 50);
        assert_eq!(quantile(&sorted, 0.99), 99);
        assert_eq!(quantile(&sorted, 1.0), 100);
        assert_eq!(quantile(&sorted, 0.0), 1);
        assert_eq!(quantile(&[], 0.5), 0);
    }

    #[test]
    fn answers_after_the_window_count_in_latency_but_not_in_throughput() {
        let samples = [
            sample(0, 1_000, Outcome::Accepted),
            sample(500_000, 1_000, Outcome::Rejected),
            // Due inside the window, answered after it: the queueing shows in p99 only.
            sample(900_000, 2_000_000, Outcome::Accepted),
            sample(950_000, 30_000, Outcome::Error),
        ];
        let summary = Summary::of(&samples, 1.0);
        assert_eq!(summary.sent, 4);
        assert_eq!(
            (summary.accepted, summary.rejected, summary.errors),
            (2, 1, 1)
        );
        assert_eq!(summary.decided_per_s, 2.0);
        assert_eq!(summary.accepted_per_s, 1.0);
        assert_eq!(summary.latency.max_ms, 2_000.0);
        assert_eq!(summary.error_ratio, 0.25);
    }
}
