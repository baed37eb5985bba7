//! Check-in: `POST /v1/checkin { code, gate? }` (role `staff` or `admin`).
//!
//! The code is verified by the key id inside it (no lookup per ticket; forged, altered,
//! unknown-key and malformed codes are `422 invalid-ticket`), then admitted through the show's
//! partition like every other state change (`CheckIn`), so two gates scanning one ticket admit it
//! once, and a check-in and a cancellation of the same booking never both succeed.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use fulfilment::TicketClaims;
use schemas::{Command, Event, Outcome, Rejection, UnixMs};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Caller, Role};
use crate::error::{ApiError, PROBLEM_JSON as PROBLEM, Problem};
use crate::extract::{ApiJson, IdempotencyKey};
use crate::idempotency;
use crate::pipeline::{self, claim, envelope, submit};
use crate::routes::tickets::{TicketBody, ticket_body};
use crate::state::AppState;
use clock::rfc3339_ms;

/// Longest gate label, in characters.
pub const GATE_CHARS_MAX: usize = 64;

/// Longest code looked at; anything longer is not a ticket code (422 without decoding).
const CODE_CHARS_MAX: usize = 1024;

/// A caller with the `staff` or `admin` role (403 otherwise).
#[derive(Clone, Debug)]
pub struct GateStaff(pub Caller);

impl FromRequestParts<AppState> for GateStaff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if caller.has(Role::Staff) || caller.has(Role::Admin) {
            Ok(GateStaff(caller))
        } else {
            Err(ApiError::Forbidden("staff or admin role required"))
        }
    }
}

/// Body of `POST /v1/checkin`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckinRequest {
    /// The scanned code (the QR content).
    pub code: String,
    /// Gate label, reported back on a second scan.
    #[serde(default)]
    pub gate: Option<String>,
}

/// An admitted ticket.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckinBody {
    /// Always `ADMITTED`.
    pub result: &'static str,
    /// The ticket, now `CHECKED_IN`.
    pub ticket: TicketBody,
    /// When it was admitted (RFC 3339 UTC).
    pub checked_in_at: String,
    /// At which gate.
    pub gate: Option<String>,
}

fn check_gate(gate: Option<&str>) -> Result<(), ApiError> {
    let Some(gate) = gate else {
        return Ok(());
    };
    let chars = gate.chars().count();
    if chars == 0 || chars > GATE_CHARS_MAX || gate.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "gate",
            format!("must be 1..={GATE_CHARS_MAX} printable characters"),
        ));
    }
    Ok(())
}

fn verify(state: &AppState, code: &str) -> Result<TicketClaims, ApiError> {
    if code.len() > CODE_CHARS_MAX {
        return Err(ApiError::InvalidTicket);
    }
    state.backends().tickets.verify(code).map_err(|e| {
        metrics::counter!("boxoffice_checkins_total", "result" => "invalid").increment(1);
        tracing::info!(error = %e, "ticket code refused");
        ApiError::InvalidTicket
    })
}

/// Admit a ticket at a gate.
#[utoipa::path(post, path = "/v1/checkin", tag = "tickets", request_body = CheckinRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "1..255 printable characters; a retried scan returns the first answer")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "ADMITTED", body = CheckinBody),
        (status = 400, description = "invalid-request", body = Problem, content_type = PROBLEM),
        (status = 401, description = "unauthenticated", body = Problem, content_type = PROBLEM),
        (status = 403, description = "forbidden: staff or admin role required", body = Problem, content_type = PROBLEM),
        (status = 409, description = "already-checked-in (with checkedInAt and gate)", body = Problem, content_type = PROBLEM),
        (status = 410, description = "ticket-cancelled", body = Problem, content_type = PROBLEM),
        (status = 422, description = "invalid-ticket (bad signature, unknown key, malformed), idempotency-key-reused", body = Problem, content_type = PROBLEM),
        (status = 503, description = "unavailable", body = Problem, content_type = PROBLEM),
    ))]
pub async fn checkin(
    State(state): State<AppState>,
    GateStaff(caller): GateStaff,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<CheckinRequest>,
) -> Result<Json<CheckinBody>, ApiError> {
    check_gate(body.gate.as_deref())?;
    let claims = verify(&state, &body.code)?;
    let command_id = idempotency::command_id(caller.user, key.as_deref());
    let fingerprint = idempotency::fingerprint("checkin", &body);
    claim(&state, key.as_deref(), command_id, fingerprint).await?;
    let command = Command::CheckIn {
        ticket_id: claims.ticket_id,
        booking_id: claims.booking_id,
        seat_id: claims.seat_id,
        gate: body.gate.clone(),
    };
    let reply = submit(
        &state,
        envelope(&state, command_id, fingerprint, claims.show_id, command),
    )
    .await?;
    let (at, gate) = match reply.outcome {
        Outcome::Accepted(events) => admitted(&events)?,
        Outcome::Rejected(rejection) => return Err(refused(rejection)),
    };
    metrics::counter!("boxoffice_checkins_total", "result" => "admitted").increment(1);
    let ticket = admitted_ticket(&state, &claims, body.code).await?;
    Ok(Json(CheckinBody {
        result: "ADMITTED",
        ticket,
        checked_in_at: rfc3339_ms(at),
        gate,
    }))
}

fn admitted(events: &[Event]) -> Result<(UnixMs, Option<String>), ApiError> {
    events
        .iter()
        .find_map(|event| match event {
            Event::CheckedIn { at, gate, .. } => Some((*at, gate.clone())),
            Event::ShowCreated { .. }
            | Event::Held { .. }
            | Event::Released { .. }
            | Event::Expired { .. }
            | Event::Confirmed { .. }
            | Event::Cancelled { .. }
            | Event::Blocked { .. }
            | Event::Unblocked { .. } => None,
        })
        .ok_or_else(|| ApiError::unavailable("the pipeline answered without a check-in"))
}

/// A refused check-in as an API error: a code that verifies but names no ticket of a booking
/// of a known show is as invalid as a forged one.
fn refused(rejection: Rejection) -> ApiError {
    let result = if matches!(rejection, Rejection::AlreadyCheckedIn { .. }) {
        "already_checked_in"
    } else if matches!(rejection, Rejection::TicketCancelled) {
        "cancelled"
    } else {
        "invalid"
    };
    metrics::counter!("boxoffice_checkins_total", "result" => result).increment(1);
    match rejection {
        Rejection::UnknownShow | Rejection::BookingNotFound | Rejection::TicketNotFound => {
            ApiError::InvalidTicket
        }
        other => pipeline::rejection(other),
    }
}

async fn admitted_ticket(
    state: &AppState,
    claims: &TicketClaims,
    code: String,
) -> Result<TicketBody, ApiError> {
    let map = state.backends().catalog.seat_map(claims.show_id).await?;
    let place = map.seat(claims.seat_id).map_or_else(
        || (String::new(), String::new(), 0),
        |d| (d.section_id, d.row, d.number),
    );
    Ok(ticket_body(
        claims.ticket_id,
        claims.booking_id.0,
        claims.seat_id.0,
        place,
        code,
        "CHECKED_IN",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_labels_are_checked() {
        assert!(check_gate(None).is_ok());
        assert!(check_gate(Some("North 3")).is_ok());
        assert!(check_gate(Some("")).is_err());
        assert!(check_gate(Some("a\nb")).is_err());
        assert!(check_gate(Some(&"g".repeat(65))).is_err());
    }
}
