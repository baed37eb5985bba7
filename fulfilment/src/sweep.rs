//! The sweep: compares every booking in the source of truth with the ticket store and the
//! provider, and repairs what the event path missed. Dev mode's booking facts travel through an
//! in-process channel that a crash empties and a slow subscriber overruns; the sweep (at start,
//! after a lag, and periodically) makes that loss harmless:
//!
//! - a booking with fewer stored tickets than seats gets its tickets issued;
//! - stored ticket statuses are brought in line with the show's partition;
//! - a cancelled booking whose refund the provider has not fully made gets a [`RefundDue`], which
//!   the reconciler then settles.
//!
//! Cost: one partition load per show, so it runs rarely; serve mode's durable consumer needs no
//! sweep.

use std::sync::Arc;

use catalog::Catalog;
use engine::{BookingStatus, BookingView, TicketStatus};
use payments::{AuthorizationId, PaymentProvider};
use processors::store::ShowStore;
use schemas::{ShowId, UnixMs};
use uuid::Uuid;

use crate::issue::BookingToIssue;
use crate::model::{RefundDue, StoredStatus};
use crate::worker::{TicketWorker, WorkError};

/// Counts of one sweep.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Shows looked at.
    pub shows: usize,
    /// Bookings looked at.
    pub bookings: usize,
    /// Bookings whose tickets were (re)issued.
    pub issued: usize,
    /// Ticket statuses corrected.
    pub statuses: usize,
    /// Refunds found owed and recorded.
    pub refunds: usize,
    /// Failures (retried next sweep).
    pub errors: usize,
}

/// Walks the source of truth.
pub struct Sweeper<S> {
    shows: Arc<S>,
    catalog: Arc<Catalog>,
    worker: Arc<TicketWorker>,
    payments: Arc<dyn PaymentProvider>,
}

impl<S> std::fmt::Debug for Sweeper<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sweeper").finish_non_exhaustive()
    }
}

impl<S: ShowStore> Sweeper<S> {
    /// A sweeper over the show store (`shows`), listing shows from `catalog`.
    pub fn new(
        shows: Arc<S>,
        catalog: Arc<Catalog>,
        worker: Arc<TicketWorker>,
        payments: Arc<dyn PaymentProvider>,
    ) -> Sweeper<S> {
        Sweeper {
            shows,
            catalog,
            worker,
            payments,
        }
    }

    /// One sweep over every show.
    pub async fn run_once(&self) -> SweepReport {
        let mut report = SweepReport::default();
        let shows = match self.catalog.all_shows().await {
            Ok(shows) => shows,
            Err(e) => {
                report.errors += 1;
                tracing::warn!(error = %e, "sweep cannot list shows");
                return report;
            }
        };
        for show in shows {
            report.shows += 1;
            if let Err(e) = self.sweep_show(show.show_id, &mut report).await {
                report.errors += 1;
                tracing::warn!(show = %show.show_id, error = %e, "sweep of a show failed");
            }
        }
        report
    }

    async fn sweep_show(&self, show: ShowId, report: &mut SweepReport) -> Result<(), String> {
        let bookings = processors::reader::show_bookings(&*self.shows, show)
            .await
            .map_err(|e| e.to_string())?;
        for view in bookings {
            report.bookings += 1;
            if let Err(e) = self.sweep_booking(show, &view, report).await {
                report.errors += 1;
                tracing::warn!(booking = %view.booking_id, error = %e, "sweep of a booking failed");
            }
        }
        Ok(())
    }

    async fn sweep_booking(
        &self,
        show: ShowId,
        view: &BookingView,
        report: &mut SweepReport,
    ) -> Result<(), WorkError> {
        let store = self.worker.store();
        let mut stored = store.booking_tickets(view.booking_id).await?;
        if stored.len() < view.tickets.len() {
            let booking = BookingToIssue {
                show_id: show,
                booking_id: view.booking_id,
                owner: view.user,
                seats: view.tickets.iter().map(|t| t.seat_id).collect(),
            };
            self.worker.issue(&booking, view.booked_at).await?;
            report.issued += 1;
            stored = store.booking_tickets(view.booking_id).await?;
        }
        for ticket in &view.tickets {
            let truth = stored_status(&ticket.status);
            let known = stored.iter().find(|s| s.ticket_id == ticket.ticket_id);
            if known.is_some_and(|s| s.status != truth) {
                store
                    .set_status(view.booking_id, &[ticket.ticket_id], &truth)
                    .await?;
                report.statuses += 1;
            }
        }
        if view.status == BookingStatus::Cancelled {
            self.sweep_refund(show, view, report).await?;
        }
        Ok(())
    }

    /// A cancelled booking owes its refund until the provider shows it refunded.
    async fn sweep_refund(
        &self,
        show: ShowId,
        view: &BookingView,
        report: &mut SweepReport,
    ) -> Result<(), WorkError> {
        let Some((cancelled_at, refund_minor, _)) = view.cancelled else {
            return Ok(());
        };
        if refund_minor <= 0 {
            return Ok(());
        }
        let Ok(authorization) = Uuid::parse_str(&view.payment_ref).map(AuthorizationId) else {
            return Ok(());
        };
        let refunded = match self.payments.get(authorization).await {
            Ok(a) => a.refunded_minor >= refund_minor,
            // Unknown to the provider or unreachable: record it; the reconciler decides.
            Err(_) => false,
        };
        if !refunded {
            self.worker
                .store()
                .put_refund_due(&RefundDue {
                    booking_id: view.booking_id,
                    show_id: show,
                    payment_ref: view.payment_ref.clone(),
                    amount_minor: refund_minor,
                    cancelled_at: UnixMs(cancelled_at.0),
                })
                .await?;
            report.refunds += 1;
        }
        Ok(())
    }
}

/// The ticket store's form of the partition's ticket status.
pub fn stored_status(status: &TicketStatus) -> StoredStatus {
    match status {
        TicketStatus::Valid => StoredStatus::Valid,
        TicketStatus::CheckedIn { at, gate } => StoredStatus::CheckedIn {
            at: *at,
            gate: gate.clone(),
        },
        TicketStatus::Cancelled => StoredStatus::Cancelled,
    }
}
