//! Cancellation: `DELETE /v1/bookings/{bookingId}` with an optional body `{ reason }` (owner).
//!
//! The `Cancel` goes through the show's partition, which decides the refund tier from the show
//! time (100% at 24 h or more before the show, 50% at 4 h or more, else 0), frees the seats and
//! refuses a booking already cancelled, checked in, or whose show has started. The refund is then
//! recorded as owed and asked of the provider with the booking's refund key; if the provider
//! fails, the cancellation still stands and the reconciler finishes the refund. A retry with
//! the same `Idempotency-Key` gets the first answer from the partition's memory.

use axum::Json;
use axum::extract::State;
use bytes::Bytes;
use fulfilment::{RefundDue, RefundOutcome};
use schemas::{BookingId, Command, Event, Outcome, Rejection, ShowId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, PROBLEM_JSON as PROBLEM, Problem};
use crate::extract::{IdempotencyKey, PathIds, parse_json};
use crate::idempotency;
use crate::pipeline::{self, claim, envelope, submit};
use crate::state::AppState;

/// Longest cancellation reason, in characters.
pub const REASON_CHARS_MAX: usize = 500;

/// Optional body of `DELETE /v1/bookings/{bookingId}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CancelRequest {
    /// Why the buyer cancels.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A cancelled booking and its refund.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CancelBody {
    /// Booking id.
    pub booking_id: Uuid,
    /// Always `CANCELLED`.
    pub status: &'static str,
    /// Refund in minor units (rounded down).
    pub refund_amount: i64,
    /// Refund tier: 100, 50 or 0.
    pub refund_percentage: u8,
    /// ISO 4217 currency of the refund.
    pub currency: String,
}

/// Request identity of a cancel (for the idempotency fingerprint).
#[derive(Serialize)]
struct CancelIdentity<'a> {
    booking_id: Uuid,
    reason: Option<&'a str>,
}

fn parse_body(body: &Bytes) -> Result<CancelRequest, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(CancelRequest::default());
    }
    let request: CancelRequest = parse_json(body)?;
    if request
        .reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > REASON_CHARS_MAX)
    {
        return Err(ApiError::invalid(
            "reason",
            format!("must be at most {REASON_CHARS_MAX} characters"),
        ));
    }
    Ok(request)
}

/// Cancel one of the caller's bookings and refund per the tier.
#[utoipa::path(delete, path = "/v1/bookings/{bookingId}", tag = "bookings",
    params(("bookingId" = Uuid, Path, description = "Booking id"),
        ("Idempotency-Key" = Option<String>, Header, description = "1..255 printable characters; a retry returns the first answer")),
    request_body(content = Option<CancelRequest>, description = "Optional reason"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Cancelled", body = CancelBody),
        (status = 400, description = "invalid-request", body = Problem, content_type = PROBLEM),
        (status = 401, description = "unauthenticated", body = Problem, content_type = PROBLEM),
        (status = 404, description = "not-found (also another user's booking)", body = Problem, content_type = PROBLEM),
        (status = 409, description = "booking-not-cancellable (already cancelled, checked in, or the show started)", body = Problem, content_type = PROBLEM),
        (status = 422, description = "idempotency-key-reused", body = Problem, content_type = PROBLEM),
        (status = 503, description = "unavailable", body = Problem, content_type = PROBLEM),
    ))]
pub async fn cancel_booking(
    State(state): State<AppState>,
    caller: Caller,
    IdempotencyKey(key): IdempotencyKey,
    path: PathIds,
    body: Bytes,
) -> Result<Json<CancelBody>, ApiError> {
    let booking = BookingId(path.uuid("bookingId")?);
    let request = parse_body(&body)?;
    let found = state.backends().reader.booking(booking).await?;
    let Some((snapshot, _)) = found.filter(|(_, view)| view.user == caller.user) else {
        return Err(ApiError::NotFound);
    };
    let command_id = idempotency::command_id(caller.user, key.as_deref());
    let identity = CancelIdentity {
        booking_id: booking.0,
        reason: request.reason.as_deref(),
    };
    let fingerprint = idempotency::fingerprint("cancel", &identity);
    claim(&state, key.as_deref(), command_id, fingerprint).await?;
    let command = Command::Cancel {
        booking_id: booking,
        user: caller.user,
        reason: request.reason.clone(),
    };
    let reply = submit(
        &state,
        envelope(&state, command_id, fingerprint, snapshot.show_id, command),
    )
    .await?;
    let events = match reply.outcome {
        Outcome::Accepted(events) => events,
        Outcome::Rejected(rejection) => return Err(refused(rejection)),
    };
    let (refund_minor, refund_percent, payment_ref) = cancelled(&events)?;
    refund(&state, snapshot.show_id, booking, refund_minor, payment_ref).await;
    metrics::counter!("boxoffice_bookings_cancelled_total").increment(1);
    Ok(Json(CancelBody {
        booking_id: booking.0,
        status: "CANCELLED",
        refund_amount: refund_minor,
        refund_percentage: refund_percent,
        currency: snapshot.state.currency().unwrap_or_default().to_owned(),
    }))
}

fn refused(rejection: Rejection) -> ApiError {
    match rejection {
        Rejection::BookingNotFound | Rejection::NotBookingOwner => ApiError::NotFound,
        other => pipeline::rejection(other),
    }
}

fn cancelled(events: &[Event]) -> Result<(i64, u8, String), ApiError> {
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
        .ok_or_else(|| ApiError::unavailable("the pipeline answered without a cancellation"))
}

/// Refund now if the provider answers; the cancellation stands either way.
async fn refund(
    state: &AppState,
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
        cancelled_at: state.now(),
    };
    match state.backends().tickets.refund(&due).await {
        RefundOutcome::Refunded | RefundOutcome::NothingToRefund => {}
        RefundOutcome::Pending(reason) => {
            metrics::counter!("boxoffice_refunds_deferred_total").increment(1);
            tracing::warn!(%booking, %reason, "refund deferred to the reconciler");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_optional_and_its_reason_bounded() {
        assert!(parse_body(&Bytes::new()).unwrap().reason.is_none());
        assert!(
            parse_body(&Bytes::from_static(b"  "))
                .unwrap()
                .reason
                .is_none()
        );
        let given = parse_body(&Bytes::from_static(br#"{"reason":"ill"}"#)).unwrap();
        assert_eq!(given.reason.as_deref(), Some("ill"));
        let long = format!(r#"{{"reason":"{}"}}"#, "x".repeat(501));
        assert!(parse_body(&Bytes::from(long)).is_err());
        assert!(parse_body(&Bytes::from_static(b"{")).is_err());
    }
}
