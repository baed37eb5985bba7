//! Open-loop arrivals: operations start on a fixed schedule, whatever the server does.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::stats::{Outcome, Sample};

/// A fixed-rate schedule: one arrival every `1 / rate` seconds for `duration`.
#[derive(Clone, Copy, Debug)]
pub struct OpenLoop {
    /// Offered operations per second.
    pub rate_per_s: f64,
    /// How long arrivals go on.
    pub duration: Duration,
    /// Most operations in flight at once (the client's connection budget). Operations due while
    /// it is exhausted wait for a slot, and that wait counts in their latency.
    pub in_flight_max: usize,
    /// An operation not answered this long after its scheduled time is an error.
    pub deadline: Duration,
}

/// What an operation reports: its outcome (the time is taken by the schedule).
pub type OpResult = Outcome;

impl OpenLoop {
    /// Number of arrivals in the schedule.
    pub fn arrivals(&self) -> u64 {
        (self.rate_per_s * self.duration.as_secs_f64()).round() as u64
    }

    /// Run `op(i)` for every arrival `i` at its scheduled time, wait for the last answer (or its
    /// deadline), and return one sample per arrival. `progress` is called with the number of
    /// arrivals started so far, about ten times a second.
    pub async fn run<F, Fut>(&self, op: F, mut progress: impl FnMut(u64)) -> Vec<Sample>
    where
        F: Fn(u64) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = OpResult> + Send + 'static,
    {
        let op = Arc::new(op);
        let slots = Arc::new(Semaphore::new(self.in_flight_max));
        let samples = Arc::new(Mutex::new(Vec::with_capacity(self.arrivals() as usize)));
        let interval = Duration::from_secs_f64(1.0 / self.rate_per_s);
        let start = Instant::now();
        let mut last_progress = start;
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..self.arrivals() {
            let due = start + interval.mul_f64(i as f64);
            tokio::time::sleep_until(due).await;
            let (op, slots, samples) = (op.clone(), slots.clone(), samples.clone());
            let deadline = due + self.deadline;
            tasks.spawn(async move {
                let outcome = tokio::time::timeout_at(deadline, async {
                    let _slot = slots.acquire_owned().await;
                    op(i).await
                })
                .await
                .unwrap_or(Outcome::Error);
                let sample = Sample {
                    scheduled_us: (due - start).as_micros() as u64,
                    latency_us: due.elapsed().as_micros() as u64,
                    outcome,
                };
                samples.lock().expect("samples lock").push(sample);
            });
            // Reap finished tasks as we go so the set stays small.
            while tasks.try_join_next().is_some() {}
            if last_progress.elapsed() >= Duration::from_millis(100) {
                last_progress = Instant::now();
                progress(i + 1);
            }
        }
        progress(self.arrivals());
        while tasks.join_next().await.is_some() {}
        let mut samples = std::mem::take(&mut *samples.lock().expect("samples lock"));
        samples.sort_by_key(|s| s.scheduled_us);
        samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_slow_server_shows_as_latency_from_the_scheduled_time() {
        let schedule = OpenLoop {
            rate_per_s: 100.0,
            duration: Duration::from_secs(1),
            in_flight_max: 1,
            deadline: Duration::from_secs(60),
        };
        // One slot and 20 ms per operation: the server can do 50/s of the 100/s offered, so the
        // queue grows and the last operations wait about half a second for a slot.
        let samples = schedule
            .run(
                |_| async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Outcome::Accepted
                },
                |_| {},
            )
            .await;
        assert_eq!(samples.len(), 100);
        let last = samples.last().unwrap();
        assert_eq!(last.scheduled_us, 990_000);
        assert!(last.latency_us >= 1_000_000, "{last:?}");
        assert_eq!(samples[0].latency_us, 20_000);
    }

    #[tokio::test(start_paused = true)]
    async fn an_operation_past_its_deadline_is_an_error() {
        let schedule = OpenLoop {
            rate_per_s: 10.0,
            duration: Duration::from_millis(200),
            in_flight_max: 8,
            deadline: Duration::from_millis(50),
        };
        let samples = schedule
            .run(
                |_| async {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Outcome::Accepted
                },
                |_| {},
            )
            .await;
        assert_eq!(samples.len(), 2);
        assert!(samples.iter().all(|s| s.outcome == Outcome::Error));
        assert!(samples.iter().all(|s| s.latency_us == 50_000));
    }
}
