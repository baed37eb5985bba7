//! The confirm saga: it never leaves a buyer paid without seats. Authorize first, claim the seats
//! through the log, capture only after the claim is committed, void when it is refused. An
//! unknown outcome leaves the authorization for the retry (same key) or the payments reconciler.

use engine::{BookingStatus, BookingView, HoldStatus};
use payments::{AuthorizationId, AuthorizeRequest, PaymentError};
use processors::reader::ShowSnapshot;
use schemas::{BookingId, Command, CommandId, Event, HoldId, Outcome, Rejection, UserId};

use crate::holds::owned_hold;
use crate::idempotency::Claim;
use crate::submit::{Identity, booking_id, claim, envelope, submit, surely_lapsed};
use crate::{Failure, Services};

/// A confirm, parsed and checked for shape.
#[derive(Debug, Clone)]
pub struct ConfirmOrder {
    /// Who pays.
    pub user: UserId,
    /// The hold to turn into a booking.
    pub hold: HoldId,
    /// The provider's payment method id.
    pub payment_method_id: String,
    /// The request's identity (idempotency).
    pub identity: Identity,
}

/// What a confirm came to.
#[derive(Debug)]
pub enum Confirmed {
    /// This call booked it; the engine's view of the new booking, with its show.
    Booked(Box<ShowSnapshot>, BookingView),
    /// This call booked it, but the answer did not carry the booking: read it by id.
    BookedAs(BookingId),
    /// The hold was already a booking (an earlier confirm): that booking.
    Already(BookingId),
}

/// Pay for a hold and turn it into a booking.
pub async fn confirm(services: &Services, order: ConfirmOrder) -> Result<Confirmed, Failure> {
    let (snapshot, view) = owned_hold(services, order.user, order.hold).await?;
    let claim = claim(services, order.identity).await?;
    // A retry (same key) goes through the log again so it gets the first outcome and status.
    if claim == Claim::New {
        match view.status_at(surely_lapsed(services.now())) {
            HoldStatus::Active => {}
            HoldStatus::Expired | HoldStatus::Released => return Err(Failure::HoldExpired),
            HoldStatus::Confirmed => {
                let booking = view.booking_id.unwrap_or_else(|| booking_id(order.hold));
                return Ok(Confirmed::Already(booking));
            }
        }
    }
    let payment = Payment::for_command(order.identity.command_id);
    let currency = snapshot.state.currency().unwrap_or_default().to_owned();
    let request = AuthorizeRequest {
        amount_minor: view.total_minor,
        currency,
        payment_method_id: order.payment_method_id.clone(),
        reference: Some(order.hold.to_string()),
    };
    let authorization = payment.authorize(services, &request).await?;
    let booking = booking_id(order.hold);
    let command = Command::Confirm {
        hold_id: order.hold,
        user: order.user,
        booking_id: booking,
        payment_ref: authorization.to_string(),
    };
    let envelope = envelope(services, order.identity, snapshot.show_id, command);
    let reply = submit(services, envelope).await?;
    match reply.outcome {
        Outcome::Accepted(events) => {
            payment.capture(services, authorization).await;
            metrics::counter!("boxoffice_bookings_confirmed_total").increment(1);
            // The decision carries the whole new booking: answer from it (no read back).
            Ok(match events.iter().find_map(confirmed_view) {
                Some(view) => Confirmed::Booked(Box::new(snapshot), view),
                None => Confirmed::BookedAs(booking),
            })
        }
        Outcome::Rejected(Rejection::HoldAlreadyConfirmed {
            booking_id: existing,
        }) => {
            settle_existing(services, &payment, authorization, existing).await?;
            Ok(Confirmed::Already(existing))
        }
        Outcome::Rejected(rejection) => {
            payment.void(services, authorization).await;
            Err(Failure::Rejected(rejection))
        }
    }
}

/// The hold became a booking before this confirm's claim: if that booking carries this
/// confirm's authorization, our own earlier attempt won (its outcome was forgotten or unknown)
/// and the payment is captured; otherwise this authorization is voided.
async fn settle_existing(
    services: &Services,
    payment: &Payment,
    authorization: AuthorizationId,
    existing: BookingId,
) -> Result<(), Failure> {
    let found = services.backends.reader.booking(existing).await?;
    let ours = found.is_some_and(|(_, view)| view.payment_ref == authorization.to_string());
    if ours {
        payment.capture(services, authorization).await;
    } else {
        payment.void(services, authorization).await;
    }
    Ok(())
}

/// The booking a `Confirmed` event describes, as the engine shows it right after confirming.
fn confirmed_view(event: &Event) -> Option<BookingView> {
    let Event::Confirmed {
        booking_id,
        hold_id,
        user,
        seats,
        total_minor,
        payment_ref,
        booked_at,
    } = event
    else {
        return None;
    };
    Some(BookingView {
        booking_id: *booking_id,
        hold_id: *hold_id,
        user: *user,
        status: BookingStatus::Confirmed,
        total_minor: *total_minor,
        payment_ref: payment_ref.clone(),
        booked_at: *booked_at,
        cancelled: None,
        tickets: seats
            .iter()
            .map(|seat| engine::TicketView {
                ticket_id: engine::ticket_id(*booking_id, *seat),
                seat_id: *seat,
                status: engine::TicketStatus::Valid,
            })
            .collect(),
    })
}

/// One confirm's dealings with the payment provider, under one provider key: its command id,
/// so a retry with the same Idempotency-Key reuses the same authorization, and a new attempt
/// (say, another card after a decline) gets a new one.
struct Payment {
    key: String,
}

impl Payment {
    fn for_command(command: CommandId) -> Payment {
        Payment {
            key: format!("confirm-{}", command.0),
        }
    }

    async fn authorize(
        &self,
        services: &Services,
        request: &AuthorizeRequest,
    ) -> Result<AuthorizationId, Failure> {
        match services
            .backends
            .payments
            .authorize(&self.key, request)
            .await
        {
            Ok(authorization) => Ok(authorization.authorization_id),
            Err(error) => {
                match &error {
                    PaymentError::Declined { reason } => {
                        tracing::info!(reference = ?request.reference, %reason, "payment declined");
                        metrics::counter!("boxoffice_payments_declined_total").increment(1);
                    }
                    PaymentError::InvalidMethod { .. }
                    | PaymentError::InvalidRequest { .. }
                    | PaymentError::KeyReused => {}
                    other => tracing::warn!(error = %other, "payment authorization failed"),
                }
                Err(Failure::Payment(error))
            }
        }
    }

    /// Capture after the claim committed. A failure does not undo the booking: the
    /// authorization stays AUTHORIZED and the payments reconciler captures it from the booking
    /// facts.
    async fn capture(&self, services: &Services, authorization: AuthorizationId) {
        let captured = services.backends.payments.capture(&self.key, authorization);
        if let Err(e) = captured.await {
            metrics::counter!("boxoffice_payments_capture_failed_total").increment(1);
            tracing::warn!(%authorization, error = %e, "capture failed; left to the reconciler");
        }
    }

    /// Void after the claim was refused. A failure leaves the authorization to expire at the
    /// provider or to the reconciler.
    async fn void(&self, services: &Services, authorization: AuthorizationId) {
        let voided = services.backends.payments.void(&self.key, authorization);
        if let Err(e) = voided.await {
            metrics::counter!("boxoffice_payments_void_failed_total").increment(1);
            tracing::warn!(%authorization, error = %e, "void failed; left to the reconciler");
        }
    }
}
