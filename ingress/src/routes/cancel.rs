//! Cancellation: `DELETE /v1/bookings/{bookingId}` with an optional body `{ reason }` (owner).
//!
//! What a cancellation does (the refund tier, the refund that is never lost) is
//! `usecases::cancel`; here it is parsed and answered.

use axum::Json;
use axum::extract::State;
use bytes::Bytes;
use schemas::BookingId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, PROBLEM_JSON as PROBLEM, Problem};
use crate::extract::{IdempotencyKey, PathIds, parse_json};
use crate::state::AppState;
use usecases::submit::Identity;

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
    let identity = CancelIdentity {
        booking_id: booking.0,
        reason: request.reason.as_deref(),
    };
    let identity = Identity::of(caller.user, key.as_deref(), "cancel", &identity);
    let services = state.services();
    let cancelled =
        usecases::cancel::cancel(services, caller.user, booking, request.reason, identity).await?;
    Ok(Json(CancelBody {
        booking_id: booking.0,
        status: "CANCELLED",
        refund_amount: cancelled.refund_minor,
        refund_percentage: cancelled.refund_percent,
        currency: cancelled.currency,
    }))
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
