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
use crate::model::{IssuedTicket, RefundDue, StoredStatus, wall_now};
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
        if let Some(booking) = to_issue(fact) {
            return self.issue(&booking, fact.at).await;
        }
        match &fact.event {
            Event::Confirmed { .. } => Ok(()),
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
        record_issued(confirmed_at, issued.len());
        Ok(())
    }

    /// Handle a run of facts in order; consecutive confirmations share one store write (one
    /// transaction in dev mode), which is what keeps a busy lane from waiting on a disk sync per
    /// booking. Returns one outcome per fact, in order.
    pub async fn apply_all(&self, facts: &[ShowEvent]) -> Vec<Result<(), WorkError>> {
        let mut outcomes: Vec<Option<Result<(), WorkError>>> = facts.iter().map(|_| None).collect();
        let mut rendered = Vec::new();
        for (i, fact) in facts.iter().enumerate() {
            match to_issue(fact) {
                Some(booking) => match self.issuer.issue(&booking).await {
                    Ok(tickets) => rendered.push((i, fact.at, tickets)),
                    Err(e) => outcomes[i] = Some(Err(e.into())),
                },
                None => {
                    self.store_rendered(&mut rendered, &mut outcomes).await;
                    outcomes[i] = Some(self.apply(fact).await);
                }
            }
        }
        self.store_rendered(&mut rendered, &mut outcomes).await;
        outcomes
            .into_iter()
            .map(|outcome| outcome.unwrap_or(Ok(())))
            .collect()
    }

    /// One upsert for every rendered booking waiting; each gets the write's outcome.
    async fn store_rendered(
        &self,
        rendered: &mut Vec<(usize, UnixMs, Vec<IssuedTicket>)>,
        outcomes: &mut [Option<Result<(), WorkError>>],
    ) {
        if rendered.is_empty() {
            return;
        }
        let counts: Vec<usize> = rendered.iter().map(|(_, _, t)| t.len()).collect();
        let all: Vec<IssuedTicket> = rendered
            .iter_mut()
            .flat_map(|(_, _, tickets)| std::mem::take(tickets))
            .collect();
        let written = self.store.put_issued(&all).await;
        for ((i, confirmed_at, _), count) in rendered.drain(..).zip(counts) {
            outcomes[i] = Some(match &written {
                Ok(()) => {
                    record_issued(confirmed_at, count);
                    Ok(())
                }
                Err(e) => Err(WorkError::Store(e.clone())),
            });
        }
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

/// Facts a lane takes from its queue at once (what is already waiting, never waiting for more).
pub const LANE_BATCH_MAX: usize = 32;

/// The booking a `Confirmed` fact needs tickets for.
fn to_issue(fact: &ShowEvent) -> Option<BookingToIssue> {
    match &fact.event {
        Event::Confirmed {
            booking_id,
            user,
            seats,
            ..
        } => Some(BookingToIssue {
            show_id: fact.show_id,
            booking_id: *booking_id,
            owner: *user,
            seats: seats.clone(),
        }),
        Event::ShowCreated { .. }
        | Event::Held { .. }
        | Event::Released { .. }
        | Event::Expired { .. }
        | Event::Cancelled { .. }
        | Event::CheckedIn { .. }
        | Event::Blocked { .. }
        | Event::Unblocked { .. } => None,
    }
}

/// How long buyers waited (stream time of the confirm to stored) and how many tickets.
fn record_issued(confirmed_at: UnixMs, tickets: usize) {
    let waited_ms = (wall_now().0 - confirmed_at.0).max(0);
    metrics::histogram!("boxoffice_ticket_issue_delay_seconds").record(waited_ms as f64 / 1000.0);
    metrics::counter!("boxoffice_tickets_issued_total").increment(tickets as u64);
}

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

    /// The lane of `show`'s facts.
    pub fn lane_of(&self, show: ShowId) -> usize {
        // The UUID's low bits are random (v4) or a hash (v5): spread enough.
        (show.0.as_u128() % self.senders.len() as u128) as usize
    }
}

async fn run_lane(lane: usize, worker: Arc<TicketWorker>, mut jobs: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(LANE_BATCH_MAX);
    while let Some(first) = jobs.recv().await {
        batch.push(first);
        while batch.len() < LANE_BATCH_MAX {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let facts: Vec<ShowEvent> = batch.iter().map(|job| job.fact.clone()).collect();
        let outcomes = worker.apply_all(&facts).await;
        for (job, outcome) in batch.drain(..).zip(outcomes) {
            let outcome = match outcome {
                Err(e) if e.is_retryable() => worker.apply_with_retries(&job.fact).await,
                other => other,
            };
            if let Err(e) = &outcome {
                metrics::counter!("boxoffice_ticket_facts_failed_total").increment(1);
                tracing::warn!(lane, show = %job.fact.show_id, error = %e, "booking fact not handled");
            }
            if let Some(done) = job.done {
                let _ = done.send(outcome);
            }
        }
    }
}
