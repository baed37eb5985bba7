//! [`TicketWorker`]: what one booking fact means for tickets and refunds, and [`Lanes`], the
//! bounded per-show-ordered queues that let several facts be worked on at once.
//!
//! - `Confirmed` -> issue one ticket per seat and store them (upsert).
//! - `Cancelled` -> mark the booking's tickets CANCELLED and record the refund owed (so a refund
//!   the cancel request could not finish is never lost).
//! - `CheckedIn` -> mark that ticket CHECKED_IN.
//!
//! Every step is idempotent, so a fact handled twice (redelivery, a sweep) changes nothing.

use std::sync::Arc;
use std::time::Duration;

use schemas::{BookingId, Event, SeatId, ShowEvent, ShowId, TicketId, UnixMs};
use tokio::sync::{mpsc, oneshot};

use crate::issue::{BookingToIssue, IssueError, Issuer};
use crate::model::{RefundDue, StoredStatus, wall_now};
use crate::store::{TicketStore, TicketStoreError};

/// Why a fact could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    /// Issuing failed.
    #[error(transparent)]
    Issue(#[from] IssueError),
    /// The ticket store failed.
    #[error(transparent)]
    Store(#[from] TicketStoreError),
}

impl WorkError {
    /// Whether handling the same fact again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            WorkError::Issue(e) => e.is_retryable(),
            WorkError::Store(e) => e.is_retryable(),
        }
    }
}

/// Handles booking facts.
pub struct TicketWorker {
    issuer: Issuer,
    store: Arc<dyn TicketStore>,
}

impl std::fmt::Debug for TicketWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketWorker").finish_non_exhaustive()
    }
}

impl TicketWorker {
    /// A worker issuing with `issuer` into `store`.
    pub fn new(issuer: Issuer, store: Arc<dyn TicketStore>) -> TicketWorker {
        TicketWorker { issuer, store }
    }

    /// The store written to.
    pub fn store(&self) -> &Arc<dyn TicketStore> {
        &self.store
    }

    /// Handle one fact.
    pub async fn apply(&self, fact: &ShowEvent) -> Result<(), WorkError> {
        match &fact.event {
            Event::Confirmed {
                booking_id,
                user,
                seats,
                ..
            } => {
                let booking = BookingToIssue {
                    show_id: fact.show_id,
                    booking_id: *booking_id,
                    owner: *user,
                    seats: seats.clone(),
                };
                self.issue(&booking, fact.at).await
            }
            Event::Cancelled {
                booking_id,
                seats,
                refund_minor,
                payment_ref,
                ..
            } => {
                if *refund_minor > 0 {
                    self.store
                        .put_refund_due(&RefundDue {
                            booking_id: *booking_id,
                            show_id: fact.show_id,
                            payment_ref: payment_ref.clone(),
                            amount_minor: *refund_minor,
                            cancelled_at: fact.at,
                        })
                        .await?;
                }
                let tickets = ticket_ids(*booking_id, seats);
                self.store
                    .set_status(*booking_id, &tickets, &StoredStatus::Cancelled)
                    .await?;
                Ok(())
            }
            Event::CheckedIn {
                ticket_id,
                booking_id,
                gate,
                at,
                ..
            } => {
                let status = StoredStatus::CheckedIn {
                    at: *at,
                    gate: gate.clone(),
                };
                self.store
                    .set_status(*booking_id, &[*ticket_id], &status)
                    .await?;
                Ok(())
            }
            Event::ShowCreated { .. }
            | Event::Held { .. }
            | Event::Released { .. }
            | Event::Expired { .. }
            | Event::Blocked { .. }
            | Event::Unblocked { .. } => Ok(()),
        }
    }

    /// Issue and store the tickets of one booking; `confirmed_at` (stream time of the confirm)
    /// measures how long a buyer waited for them.
    pub async fn issue(
        &self,
        booking: &BookingToIssue,
        confirmed_at: UnixMs,
    ) -> Result<(), WorkError> {
        let issued = self.issuer.issue(booking).await?;
        self.store.put_issued(&issued).await?;
        let waited_ms = (wall_now().0 - confirmed_at.0).max(0);
        metrics::histogram!("boxoffice_ticket_issue_delay_seconds")
            .record(waited_ms as f64 / 1000.0);
        metrics::counter!("boxoffice_tickets_issued_total").increment(issued.len() as u64);
        Ok(())
    }

    /// Handle `fact`, retrying retryable failures a few times; a fact that still fails is
    /// reported (serve mode redelivers it; dev mode's sweep finds it).
    pub async fn apply_with_retries(&self, fact: &ShowEvent) -> Result<(), WorkError> {
        let mut backoff = Duration::from_millis(50);
        let mut attempt = 1;
        loop {
            match self.apply(fact).await {
                Err(e) if e.is_retryable() && attempt < APPLY_ATTEMPTS_MAX => {
                    tracing::debug!(error = %e, attempt, show = %fact.show_id, "booking fact failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// Attempts per fact before it is reported.
pub const APPLY_ATTEMPTS_MAX: u32 = 4;

/// The ticket of each seat of a booking.
pub fn ticket_ids(booking: BookingId, seats: &[SeatId]) -> Vec<TicketId> {
    seats
        .iter()
        .map(|seat| engine::ticket_id(booking, *seat))
        .collect()
}

/// Facts each lane queues before its feeder waits.
pub const LANE_CAPACITY: usize = 1024;

/// One fact for a lane, with an optional receipt for its outcome (serve mode acks by it).
#[derive(Debug)]
pub struct Job {
    /// The fact.
    pub fact: ShowEvent,
    /// Where to report the outcome.
    pub done: Option<oneshot::Sender<Result<(), WorkError>>>,
}

/// A fixed set of worker lanes; all facts of one show go to the same lane, in order, so a
/// show's facts are never handled out of order while different shows proceed in parallel.
#[derive(Clone, Debug)]
pub struct Lanes {
    senders: Arc<Vec<mpsc::Sender<Job>>>,
}

impl Lanes {
    /// Start `lanes` lanes (at least one) handling facts with `worker`; each lane stops when
    /// every [`Lanes`] clone is dropped.
    pub fn spawn(
        worker: Arc<TicketWorker>,
        lanes: usize,
    ) -> (Lanes, Vec<tokio::task::JoinHandle<()>>) {
        let mut senders = Vec::new();
        let mut tasks = Vec::new();
        for lane in 0..lanes.max(1) {
            let (tx, rx) = mpsc::channel::<Job>(LANE_CAPACITY);
            senders.push(tx);
            tasks.push(tokio::spawn(run_lane(lane, worker.clone(), rx)));
        }
        (
            Lanes {
                senders: Arc::new(senders),
            },
            tasks,
        )
    }

    /// Queue `job` on its show's lane, waiting while the lane is full. `Err` returns the job
    /// when the lane has stopped.
    pub async fn send(&self, job: Job) -> Result<(), Job> {
        let lane = self.lane_of(job.fact.show_id);
        self.senders[lane].send(job).await.map_err(|e| e.0)
    }

    fn lane_of(&self, show: ShowId) -> usize {
        // The UUID's low bits are random (v4) or a hash (v5): spread enough.
        (show.0.as_u128() % self.senders.len() as u128) as usize
    }
}

async fn run_lane(lane: usize, worker: Arc<TicketWorker>, mut jobs: mpsc::Receiver<Job>) {
    while let Some(job) = jobs.recv().await {
        let outcome = worker.apply_with_retries(&job.fact).await;
        if let Err(e) = &outcome {
            metrics::counter!("boxoffice_ticket_facts_failed_total").increment(1);
            tracing::warn!(lane, show = %job.fact.show_id, error = %e, "booking fact not handled");
        }
        if let Some(done) = job.done {
            let _ = done.send(outcome);
        }
    }
}
