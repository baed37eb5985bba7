//! Check-in: `POST /v1/checkin { code, gate? }` (role `staff` or `admin`).
//!
//! How a code is verified and admitted once is `usecases::checkin`; forged, altered,
//! unknown-key and malformed codes answer `422 invalid-ticket`.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use fulfilment::TicketClaims;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Caller, Role};
use crate::error::{ApiError, PROBLEM_JSON as PROBLEM, Problem};
use crate::extract::{ApiJson, IdempotencyKey};
use crate::routes::tickets::{TicketBody, ticket_body};
use crate::state::AppState;
use clock::rfc3339_ms;
use usecases::submit::Identity;

/// Longest gate label, in characters.
pub const GATE_CHARS_MAX: usize = 64;

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
    let identity = Identity::of(caller.user, key.as_deref(), "checkin", &body);
    let services = state.services();
    let admitted =
        usecases::checkin::check_in(services, &body.code, body.gate.clone(), identity).await?;
    let ticket = admitted_ticket(&state, &admitted.claims, body.code).await?;
    Ok(Json(CheckinBody {
        result: "ADMITTED",
        ticket,
        checked_in_at: rfc3339_ms(admitted.at),
        gate: admitted.gate,
    }))
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
