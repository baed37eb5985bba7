//! The payments reconciler: settles what a crash, a timeout or a provider outage left open.
//!
//! 1. Authorizations still AUTHORIZED (neither captured nor voided). Each names its hold (the
//!    authorization's reference); the hold's state in the show's partition decides
//!    ([`settlement`]): confirmed into a booking paid by this authorization -> capture; confirmed
//!    with another authorization, expired or released -> void; still active -> wait (a confirm
//!    may be in flight; the engine expires the hold soon after its time, and then it is voided).
//!    Only the engine's decided status is trusted, never the wall clock, so an authorization is
//!    never voided while a `Confirm` that will win is still queued in the log.
//! 2. Refunds owed for cancelled bookings ([`RefundDue`]) that the cancel request could not
//!    finish: asked again with the same key until the provider answers.
//!
//! Together: "captured <=> confirmed booking", and no refund is lost.

use std::sync::Arc;
use std::time::Duration;

use engine::{HoldStatus, HoldView};
use payments::{
    Authorization, AuthorizationId, AuthorizationStatus, PaymentError, PaymentProvider,
};
use processors::reader::ShowReader;
use schemas::HoldId;
use uuid::Uuid;

use crate::model::{RefundDue, refund_key};
use crate::store::TicketStore;

/// What to do with one open authorization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settlement {
    /// Its booking exists: take the money.
    Capture,
    /// It can never pay for a booking: release it.
    Void,
    /// Not decidable yet.
    Wait(WaitReason),
}

/// Why an authorization is left open for now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitReason {
    /// The hold is still active: a confirm may be on its way.
    HoldActive,
    /// The hold (or its booking) is not found; the authorization is not ours to settle.
    Unknown,
}

/// The decision for an authorization whose reference names `hold`, given the booking's payment
/// reference when the hold was confirmed.
pub fn settlement(
    authorization: AuthorizationId,
    hold: Option<&HoldView>,
    booking_payment_ref: Option<&str>,
) -> Settlement {
    let Some(hold) = hold else {
        return Settlement::Wait(WaitReason::Unknown);
    };
    match hold.status {
        HoldStatus::Active => Settlement::Wait(WaitReason::HoldActive),
        HoldStatus::Expired | HoldStatus::Released => Settlement::Void,
        HoldStatus::Confirmed => match booking_payment_ref {
            Some(paid_by) if paid_by == authorization.to_string() => Settlement::Capture,
            Some(_) => Settlement::Void,
            None => Settlement::Wait(WaitReason::Unknown),
        },
    }
}

/// How a refund attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefundOutcome {
    /// The provider refunded (now or earlier, same key); the record is gone.
    Refunded,
    /// Nothing can be refunded (the payment was never taken); the record is gone.
    NothingToRefund,
    /// Left for the reconciler.
    Pending(String),
}

/// Record `due`, ask the provider for it, and forget it once the provider answered.
pub async fn settle_refund(
    payments: &dyn PaymentProvider,
    store: &dyn TicketStore,
    due: &RefundDue,
) -> RefundOutcome {
    if let Err(e) = store.put_refund_due(due).await {
        // Still try: the cancellation's booking fact records it again (serve mode) or the
        // sweep finds it (dev mode).
        tracing::warn!(booking = %due.booking_id, error = %e, "could not record the refund owed");
    }
    retry_refund(payments, store, due).await
}

/// Ask the provider for a recorded refund; forget it once answered.
pub async fn retry_refund(
    payments: &dyn PaymentProvider,
    store: &dyn TicketStore,
    due: &RefundDue,
) -> RefundOutcome {
    let Ok(authorization) = Uuid::parse_str(&due.payment_ref).map(AuthorizationId) else {
        tracing::error!(booking = %due.booking_id, payment_ref = %due.payment_ref, "refund against an unreadable payment reference");
        return RefundOutcome::Pending("unreadable payment reference".into());
    };
    let key = refund_key(due.booking_id);
    let outcome = match payments.refund(&key, authorization, due.amount_minor).await {
        Ok(_) => RefundOutcome::Refunded,
        Err(PaymentError::InvalidState {
            status: AuthorizationStatus::Voided,
            ..
        }) => RefundOutcome::NothingToRefund,
        Err(e) => return RefundOutcome::Pending(e.to_string()),
    };
    match store.refund_settled(due.booking_id).await {
        Ok(()) => outcome,
        Err(e) => RefundOutcome::Pending(format!("refunded, but not yet forgotten: {e}")),
    }
}

/// Counts of one reconciliation run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Authorizations captured.
    pub captured: usize,
    /// Authorizations voided.
    pub voided: usize,
    /// Authorizations left open for now.
    pub waiting: usize,
    /// Refunds that went through.
    pub refunded: usize,
    /// Refunds still owed.
    pub refunds_pending: usize,
    /// Calls that failed (retried next run).
    pub errors: usize,
}

/// Refunds handled per run at most.
pub const REFUNDS_PER_RUN_MAX: usize = 1000;

/// Settles open authorizations and owed refunds.
pub struct Reconciler {
    payments: Arc<dyn PaymentProvider>,
    reader: Arc<dyn ShowReader>,
    store: Arc<dyn TicketStore>,
}

impl std::fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciler").finish_non_exhaustive()
    }
}

impl Reconciler {
    /// A reconciler over the provider, the show state and the ticket store.
    pub fn new(
        payments: Arc<dyn PaymentProvider>,
        reader: Arc<dyn ShowReader>,
        store: Arc<dyn TicketStore>,
    ) -> Reconciler {
        Reconciler {
            payments,
            reader,
            store,
        }
    }

    /// One pass over open authorizations, then over refunds owed.
    pub async fn run_once(&self) -> ReconcileReport {
        let mut report = ReconcileReport::default();
        match self.payments.list_authorized().await {
            Ok(open) => {
                for authorization in open {
                    self.settle(&authorization, &mut report).await;
                }
            }
            Err(e) => {
                report.errors += 1;
                tracing::warn!(error = %e, "cannot list open authorizations");
            }
        }
        self.refunds(&mut report).await;
        metrics::gauge!("boxoffice_payments_open_authorizations").set(report.waiting as f64);
        metrics::gauge!("boxoffice_refunds_pending").set(report.refunds_pending as f64);
        report
    }

    /// Run at once, then every `every`, until the task is aborted.
    pub fn spawn(self: Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                let report = self.run_once().await;
                if report != ReconcileReport::default() {
                    tracing::info!(?report, "payments reconciled");
                }
                tokio::time::sleep(every).await;
            }
        })
    }

    async fn decide(&self, authorization: &Authorization) -> Result<Settlement, String> {
        let hold = authorization
            .reference
            .as_deref()
            .and_then(|r| Uuid::parse_str(r).ok())
            .map(HoldId);
        let Some(hold) = hold else {
            return Ok(settlement(authorization.authorization_id, None, None));
        };
        let found = self.reader.hold(hold).await.map_err(|e| e.to_string())?;
        let Some((_, view)) = found else {
            return Ok(settlement(authorization.authorization_id, None, None));
        };
        let paid_by = match view.booking_id {
            Some(booking) => self
                .reader
                .booking(booking)
                .await
                .map_err(|e| e.to_string())?
                .map(|(_, b)| b.payment_ref),
            None => None,
        };
        Ok(settlement(
            authorization.authorization_id,
            Some(&view),
            paid_by.as_deref(),
        ))
    }

    async fn settle(&self, authorization: &Authorization, report: &mut ReconcileReport) {
        let id = authorization.authorization_id;
        let key = format!("settle-{id}");
        let decided = match self.decide(authorization).await {
            Ok(decided) => decided,
            Err(e) => {
                report.errors += 1;
                tracing::warn!(authorization = %id, error = %e, "cannot read the hold");
                return;
            }
        };
        let result = match decided {
            Settlement::Capture => self.payments.capture(&key, id).await.map(|_| {
                report.captured += 1;
                metrics::counter!("boxoffice_reconciler_captured_total").increment(1);
            }),
            Settlement::Void => self.payments.void(&key, id).await.map(|_| {
                report.voided += 1;
                metrics::counter!("boxoffice_reconciler_voided_total").increment(1);
            }),
            Settlement::Wait(reason) => {
                report.waiting += 1;
                if reason == WaitReason::Unknown {
                    tracing::warn!(authorization = %id, reference = ?authorization.reference,
                        "open authorization whose hold is not found; left open");
                }
                Ok(())
            }
        };
        if let Err(e) = result {
            report.errors += 1;
            tracing::warn!(authorization = %id, ?decided, error = %e, "settling failed; retried next run");
        }
    }

    async fn refunds(&self, report: &mut ReconcileReport) {
        let due = match self.store.refunds_due(REFUNDS_PER_RUN_MAX).await {
            Ok(due) => due,
            Err(e) => {
                report.errors += 1;
                tracing::warn!(error = %e, "cannot list refunds owed");
                return;
            }
        };
        for refund in &due {
            match retry_refund(self.payments.as_ref(), self.store.as_ref(), refund).await {
                RefundOutcome::Refunded | RefundOutcome::NothingToRefund => report.refunded += 1,
                RefundOutcome::Pending(reason) => {
                    report.refunds_pending += 1;
                    tracing::warn!(booking = %refund.booking_id, %reason, "refund still owed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::{BookingId, UnixMs, UserId};

    fn hold(status: HoldStatus, booking: Option<u128>) -> HoldView {
        HoldView {
            hold_id: HoldId(Uuid::from_u128(1)),
            user: UserId(Uuid::from_u128(2)),
            seats: vec![],
            status,
            expires_at: UnixMs(0),
            total_minor: 100,
            booking_id: booking.map(|b| BookingId(Uuid::from_u128(b))),
        }
    }

    /// One line per case: the hold's decided state and who paid for its booking -> decision.
    #[test]
    fn settlement_table() {
        let ours = AuthorizationId(Uuid::from_u128(9));
        let theirs = AuthorizationId(Uuid::from_u128(8)).to_string();
        let ours_text = ours.to_string();
        let cases: [(Option<HoldView>, Option<&str>, Settlement); 7] = [
            (None, None, Settlement::Wait(WaitReason::Unknown)),
            (
                Some(hold(HoldStatus::Active, None)),
                None,
                Settlement::Wait(WaitReason::HoldActive),
            ),
            (
                Some(hold(HoldStatus::Expired, None)),
                None,
                Settlement::Void,
            ),
            (
                Some(hold(HoldStatus::Released, None)),
                None,
                Settlement::Void,
            ),
            (
                Some(hold(HoldStatus::Confirmed, Some(5))),
                Some(ours_text.as_str()),
                Settlement::Capture,
            ),
            (
                Some(hold(HoldStatus::Confirmed, Some(5))),
                Some(theirs.as_str()),
                Settlement::Void,
            ),
            (
                Some(hold(HoldStatus::Confirmed, Some(5))),
                None,
                Settlement::Wait(WaitReason::Unknown),
            ),
        ];
        for (hold, paid_by, expected) in cases {
            assert_eq!(
                settlement(ours, hold.as_ref(), paid_by),
                expected,
                "{hold:?} {paid_by:?}"
            );
        }
    }
}
