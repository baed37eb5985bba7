//! Cancel a booking (its owner). The `Cancel` goes through the show's partition, which decides
//! the refund tier from the show time (100% at 24 h or more before the show, 50% at 4 h or more,
//! else 0), frees the seats and refuses a booking already cancelled, checked in, or whose show
//! has started. The refund is then recorded as owed and asked of the provider with the booking's
//! refund key; if the provider fails, the cancellation still stands and the reconciler finishes
//! the refund. A retry with the same key gets the first answer from the partition's memory.

use fulfilment::{RefundDue, RefundOutcome};
use schemas::{BookingId, Command, Event, Outcome, Rejection, ShowId, UserId};

use crate::submit::{Identity, claim, envelope, submit};
use crate::{Failure, Services};

/// A cancelled booking and its refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancelled {
    /// The booking.
    pub booking: BookingId,
    /// Refund in minor units (rounded down).
    pub refund_minor: i64,
    /// Refund tier: 100, 50 or 0.
    pub refund_percent: u8,
    /// ISO 4217 currency of the refund.
    pub currency: String,
}

/// Cancel `user`'s `booking` for `reason`; another user's booking is [`Failure::NotFound`].
pub async fn cancel(
    services: &Services,
    user: UserId,
    booking: BookingId,
    reason: Option<String>,
    identity: Identity,
) -> Result<Cancelled, Failure> {
    let found = services.backends.reader.booking(booking).await?;
    let Some((snapshot, _)) = found.filter(|(_, view)| view.user == user) else {
        return Err(Failure::NotFound);
    };
    claim(services, identity).await?;
    let command = Command::Cancel {
        booking_id: booking,
        user,
        reason,
    };
    let envelope = envelope(services, identity, snapshot.show_id, command);
    let reply = submit(services, envelope).await?;
    let events = match reply.outcome {
        Outcome::Accepted(events) => events,
        Outcome::Rejected(Rejection::BookingNotFound | Rejection::NotBookingOwner) => {
            return Err(Failure::NotFound);
        }
        Outcome::Rejected(rejection) => return Err(Failure::Rejected(rejection)),
    };
    let (refund_minor, refund_percent, payment_ref) = cancelled(&events)?;
    refund(
        services,
        snapshot.show_id,
        booking,
        refund_minor,
        payment_ref,
    )
    .await;
    metrics::counter!("boxoffice_bookings_cancelled_total").increment(1);
    Ok(Cancelled {
        booking,
        refund_minor,
        refund_percent,
        currency: snapshot.state.currency().unwrap_or_default().to_owned(),
    })
}

fn cancelled(events: &[Event]) -> Result<(i64, u8, String), Failure> {
    events
        .iter()
        .find_map(|event| match event {
            Event::Cancelled {
                refund_minor,
                refund_percent,
                payment_ref,
                ..
            } => Some((*refund_minor, *refund_percent, payment_ref.clone())),
            Event::ShowCreated { .. }
            | Event::Held { .. }
            | Event::Released { .. }
            | Event::Expired { .. }
            | Event::Confirmed { .. }
            | Event::CheckedIn { .. }
            | Event::Blocked { .. }
            | Event::Unblocked { .. } => None,
        })
        .ok_or(Failure::Unanswered {
            what: "a cancellation",
        })
}

/// Refund now if the provider answers; the cancellation stands either way.
async fn refund(
    services: &Services,
    show: ShowId,
    booking: BookingId,
    amount_minor: i64,
    payment_ref: String,
) {
    if amount_minor <= 0 {
        return;
    }
    let due = RefundDue {
        booking_id: booking,
        show_id: show,
        payment_ref,
        amount_minor,
        cancelled_at: services.now(),
    };
    match services.backends.tickets.refund(&due).await {
        RefundOutcome::Refunded | RefundOutcome::NothingToRefund => {}
        RefundOutcome::Pending(reason) => {
            metrics::counter!("boxoffice_refunds_deferred_total").increment(1);
            tracing::warn!(%booking, %reason, "refund deferred to the reconciler");
        }
    }
}
