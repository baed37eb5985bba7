//! The verdict of a run: the history checker's findings, the campaign's own checks (payments
//! settled, tickets within their bound), availability overall and away from the faults, and the
//! one `CHAOS` line.

use std::collections::BTreeMap;

use history::{Check, FinalState, History, Ms, Rules};
use payments::PaymentProvider;

use crate::buyers::{TICKET_BOUND_MS, TicketWait};
use crate::client::Attempt;
use crate::faults::Window;

/// Requests this soon after a fault's window closed still count as "right after the fault".
pub const SETTLE_MS: Ms = 5_000;

/// Every check of the history checker that fails, each with its first violation printed.
pub fn history_violations(history: &History, state: &FinalState) -> Vec<String> {
    let rules = Rules {
        refund_percent: engine::refund_percent,
    };
    Check::ALL
        .iter()
        .filter_map(|c| history::check_one(*c, history, state, &rules).err())
        .map(|v| v.to_string())
        .collect()
}

/// `seat-map-matches-store` for another seat map than the one the checker's state carries (that
/// of ingress 0's API): every ingress keeps its own projection of the stream and its own live
/// channels, so each is held to the store. `whose` names the map in the finding.
pub fn seat_map_violation(
    whose: &str,
    history: &History,
    state: &FinalState,
    seat_map: BTreeMap<uuid::Uuid, history::SeatStatus>,
) -> Option<String> {
    let rules = Rules {
        refund_percent: engine::refund_percent,
    };
    let served = FinalState {
        seat_map,
        ..state.clone()
    };
    history::check_one(Check::SeatMapMatchesStore, history, &served, &rules)
        .err()
        .map(|v| format!("VIOLATION {} ({whose}): {}", v.check, v.detail))
}

/// Live seat map viewers that saw an update not on top of what they held (the server promises
/// none on one connection) or held no snapshot at the end.
pub fn live_gaps(gaps: &[String]) -> Option<String> {
    (!gaps.is_empty()).then(|| {
        format!(
            "VIOLATION live-map-gapless: {} viewer(s) saw a gap: {}",
            gaps.len(),
            gaps.join("; ")
        )
    })
}

/// Authorizations still open once the run is quiet: the reconciler should have captured or
/// voided every one.
pub async fn open_payments(payments: &payments::HttpPaymentProvider) -> Option<String> {
    match payments.list_authorized().await {
        Ok(open) if open.is_empty() => None,
        Ok(open) => Some(format!(
            "VIOLATION payments-settled: {} authorization(s) still open once quiet: {:?}",
            open.len(),
            open.iter()
                .map(|a| (a.authorization_id.to_string(), a.reference.clone()))
                .collect::<Vec<_>>()
        )),
        Err(e) => Some(format!(
            "VIOLATION payments-settled: the sandbox does not list open authorizations: {e}"
        )),
    }
}

/// Whether `[from, to]` overlaps a window of a fault that took NATS or Cassandra away.
fn during_outage(from: Ms, to: Ms, windows: &[Window]) -> bool {
    windows
        .iter()
        .any(|w| w.fault.outage() && w.from <= to && from <= w.to + SETTLE_MS)
}

/// Bookings whose tickets were not listed within [`TICKET_BOUND_MS`] of their confirm, unless a
/// backing service was away meanwhile (the bound is not promised then; a worker crash is no
/// excuse).
pub fn late_tickets(waits: &[TicketWait], windows: &[Window]) -> Option<String> {
    let late: Vec<String> = waits
        .iter()
        .filter(|w| !during_outage(w.confirmed, w.confirmed + TICKET_BOUND_MS, windows))
        .filter(|w| w.issued.is_none_or(|at| at - w.confirmed > TICKET_BOUND_MS))
        .map(|w| {
            let after = w.issued.map_or("never".into(), |at| {
                format!("after {} ms", at - w.confirmed)
            });
            format!(
                "{} {after} (confirmed {}{})",
                w.booking,
                w.confirmed,
                near(w.confirmed, windows)
            )
        })
        .collect();
    (!late.is_empty()).then(|| {
        format!(
            "VIOLATION tickets-within-bound: {} of {} booking(s) without tickets {TICKET_BOUND_MS} ms after the confirm: {}",
            late.len(),
            waits.len(),
            late.join(", ")
        )
    })
}

/// The faults that struck within 10 s before `at` or up to the ticket bound after it.
fn near(at: Ms, windows: &[Window]) -> String {
    let names: Vec<String> = windows
        .iter()
        .filter(|w| w.from <= at + TICKET_BOUND_MS && at <= w.to + 10_000)
        .map(|w| format!("{} at {:+} ms", w.fault.name(), w.from - at))
        .collect();
    if names.is_empty() {
        String::new()
    } else {
        format!("; near {}", names.join(", "))
    }
}

/// How long after a backing service is back service must resume (issue 15).
pub const RESUME_BOUND_MS: Ms = 2_000;

/// After each restart of NATS or Cassandra, how long until a hold was answered again (from the
/// moment the service was ready), in the order of the windows; `None`: never within the run.
pub fn resumed(attempts: &[Attempt], windows: &[Window]) -> Vec<(Window, Option<Ms>)> {
    windows
        .iter()
        .filter(|w| w.fault.outage())
        .map(|w| {
            let first = attempts
                .iter()
                .filter(|a| a.hold && a.ok && a.at >= w.to)
                .map(|a| a.at - w.to)
                .min();
            (w.clone(), first)
        })
        .collect()
}

/// Holds still refused more than [`RESUME_BOUND_MS`] after a backing service was back (the
/// driver's reconnect backoff, say).
pub fn slow_resumes(attempts: &[Attempt], windows: &[Window]) -> Option<String> {
    let slow: Vec<String> = resumed(attempts, windows)
        .into_iter()
        .filter(|(_, after)| after.is_none_or(|ms| ms > RESUME_BOUND_MS))
        .map(|(w, after)| {
            let after = after.map_or("never".into(), |ms| format!("{ms} ms"));
            format!(
                "{} ready at {}: first hold answered after {after}",
                w.fault.name(),
                w.to
            )
        })
        .collect();
    (!slow.is_empty()).then(|| {
        format!(
            "VIOLATION resumes-within-bound: holds refused more than {RESUME_BOUND_MS} ms after the service was back: {}",
            slow.join("; ")
        )
    })
}

/// Share of `attempts` answered without a 5xx or a transport error (1 when there are none).
fn ratio<'a>(attempts: impl Iterator<Item = &'a Attempt>) -> (f64, usize, usize) {
    let (mut ok, mut all) = (0usize, 0usize);
    for a in attempts {
        all += 1;
        ok += usize::from(a.ok);
    }
    let share = if all == 0 {
        1.0
    } else {
        ok as f64 / all as f64
    };
    (share, ok, all)
}

/// A finished run.
pub struct Report {
    history: History,
    windows: Vec<Window>,
    attempts: Vec<Attempt>,
    tickets: Vec<TicketWait>,
    /// Every violation found, printed.
    pub violations: Vec<String>,
}

impl Report {
    /// The verdict of a run.
    pub fn new(
        history: History,
        windows: Vec<Window>,
        attempts: Vec<Attempt>,
        tickets: Vec<TicketWait>,
        violations: Vec<String>,
    ) -> Report {
        Report {
            history,
            windows,
            attempts,
            tickets,
            violations,
        }
    }

    fn right_after_a_fault(&self, at: Ms) -> bool {
        self.windows
            .iter()
            .any(|w| w.from <= at && at <= w.to + SETTLE_MS)
    }

    /// Print the findings, the summary and, last, the `CHAOS` line.
    pub fn print(&self) {
        if let Some(first) = self.violations.first() {
            println!("{first}");
            for other in &self.violations[1..] {
                println!("(also) {}", other.lines().next().unwrap_or_default());
            }
        }
        let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
        for w in &self.windows {
            *kinds.entry(w.fault.name()).or_default() += 1;
        }
        let outcomes = self.history.ops().iter().fold([0usize; 3], |mut n, op| {
            n[match op.outcome {
                history::Outcome::Ok(_) => 0,
                history::Outcome::Rejected(_) => 1,
                history::Outcome::Unknown => 2,
            }] += 1;
            n
        });
        println!(
            "operations: {} ok, {} rejected, {} unknown; faults: {kinds:?}",
            outcomes[0], outcomes[1], outcomes[2]
        );
        let mut issued: Vec<Ms> = self
            .tickets
            .iter()
            .filter_map(|w| w.issued.map(|at| at - w.confirmed))
            .collect();
        issued.sort_unstable();
        if let Some(worst) = issued.last() {
            println!(
                "tickets: {} bookings watched, median {} ms, worst {worst} ms after the confirm",
                self.tickets.len(),
                issued[issued.len() / 2]
            );
        }
        for (w, after) in resumed(&self.attempts, &self.windows) {
            let after = after.map_or("never".into(), |ms| format!("{ms} ms"));
            println!(
                "{}: down {} ms, first hold answered {after} after it was ready",
                w.fault.name(),
                w.to - w.from
            );
        }
        let (overall, ok, all) = ratio(self.attempts.iter());
        let (calm, calm_ok, calm_all) = ratio(
            self.attempts
                .iter()
                .filter(|a| !self.right_after_a_fault(a.at)),
        );
        println!(
            "availability: {overall:.4} overall ({ok} of {all} requests answered without a 5xx or transport error); {calm:.4} outside the faults and the {} s after each ({calm_ok} of {calm_all})",
            SETTLE_MS / 1000
        );
        println!(
            "CHAOS ops={} faults={} violations={} availability={overall:.4}",
            self.history.ops().len(),
            self.windows.len(),
            self.violations.len()
        );
    }
}

#[cfg(test)]
mod tests {
    use history::SeatStatus;
    use uuid::Uuid;

    use super::*;

    fn quiet_state() -> FinalState {
        let seats: BTreeMap<_, _> = [1, 2]
            .map(|n| (Uuid::from_u128(n), SeatStatus::Available))
            .into_iter()
            .collect();
        FinalState {
            stored_seats: seats.clone(),
            seat_map: seats,
            ..FinalState::default()
        }
    }

    #[test]
    fn a_second_ingress_serving_the_stored_seats_passes() {
        let state = quiet_state();
        let served = state.stored_seats.clone();
        assert_eq!(
            seat_map_violation("ingress 1", &History::new(), &state, served),
            None
        );
    }

    #[test]
    fn a_second_ingress_whose_projection_kept_a_stale_seat_is_a_violation() {
        let state = quiet_state();
        let mut served = state.stored_seats.clone();
        served.insert(Uuid::from_u128(2), SeatStatus::Held);
        let found = seat_map_violation("ingress 1", &History::new(), &state, served)
            .expect("the stale seat is caught");
        assert!(
            found.starts_with("VIOLATION seat-map-matches-store (ingress 1): "),
            "{found}"
        );
    }

    #[test]
    fn a_second_ingress_missing_a_seat_is_a_violation() {
        let state = quiet_state();
        let mut served = state.stored_seats.clone();
        served.remove(&Uuid::from_u128(1));
        assert!(seat_map_violation("ingress 1", &History::new(), &state, served).is_some());
    }
}
