//! Holds: `POST /v1/bookings/hold`, `GET` and `DELETE /v1/bookings/holds/{holdId}`.

use std::collections::HashSet;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use engine::HoldView;
use processors::reader::ShowSnapshot;
use schemas::{HoldId, HoldLimits, SeatId, ShowId, UnixMs};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::client::ClientIp;
use crate::config::MAX_SEATS_PER_HOLD;
use crate::contract::hold_status_str;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, IdempotencyKey, PathIds};
use crate::routes::queue::{ADMISSION_TOKEN, challenge_solution, header_text};
use crate::state::AppState;
use clock::rfc3339_ms;
use usecases::admission::Gate;
use usecases::holds::{HoldOrder, owned_hold};
use usecases::submit::Identity;

/// Body of `POST /v1/bookings/hold`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HoldRequest {
    /// Show to hold seats of.
    pub show_id: Uuid,
    /// Seats to hold (1..=10, no duplicates); all or none are held.
    pub seat_ids: Vec<Uuid>,
    /// Optional: must equal the token's subject when given.
    #[serde(default)]
    pub user_id: Option<Uuid>,
}

/// A hold as the API returns it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HoldBody {
    /// Hold id.
    pub hold_id: Uuid,
    /// Show.
    pub show_id: Uuid,
    /// Held seats, in request order.
    pub seats: Vec<Uuid>,
    /// `ACTIVE`, `CONFIRMED`, `EXPIRED` or `RELEASED`.
    pub status: &'static str,
    /// When the hold lapses (RFC 3339 UTC).
    pub expires_at: String,
    /// Price of the held seats, minor units.
    pub total_amount: i64,
    /// ISO 4217 currency.
    pub currency: String,
}

/// The hold as the API shows it, its status as of `now`.
fn hold_body(snapshot: &ShowSnapshot, view: &HoldView, now: UnixMs) -> HoldBody {
    HoldBody {
        hold_id: view.hold_id.0,
        show_id: snapshot.show_id.0,
        seats: view.seats.iter().map(|s| s.0).collect(),
        status: hold_status_str(view.status_at(now)),
        expires_at: rfc3339_ms(view.expires_at),
        total_amount: view.total_minor,
        currency: snapshot.state.currency().unwrap_or_default().to_owned(),
    }
}

/// Request-shape checks the engine would also make, answered before any IO.
fn check_seat_list(seats: &[Uuid]) -> Result<(), ApiError> {
    if seats.is_empty() {
        return Err(ApiError::invalid("seatIds", "must name at least one seat"));
    }
    if seats.len() > usize::from(MAX_SEATS_PER_HOLD) {
        return Err(ApiError::invalid(
            "seatIds",
            format!("must name at most {MAX_SEATS_PER_HOLD} seats"),
        ));
    }
    let mut seen = HashSet::with_capacity(seats.len());
    if let Some(dup) = seats.iter().find(|s| !seen.insert(**s)) {
        return Err(ApiError::invalid("seatIds", format!("names {dup} twice")));
    }
    Ok(())
}

/// Hold seats: all of them or none.
#[utoipa::path(post, path = "/v1/bookings/hold", tag = "bookings",
    request_body = HoldRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "1..255 printable characters; retries return the first response"),
        ("Admission-Token" = Option<String>, Header, description = "From the show's waiting room (GET /v1/shows/{showId}/queue/me) when it has an active one"),
        ("Challenge-Solution" = Option<String>, Header, description = "When the demand guard asked for a proof of work (428): a nonce such that SHA-256(challenge + nonce) has `bits` leading zero bits")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Seats held", body = HoldBody),
        (status = 400, description = "invalid-request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden, sale-not-open, sale-closed, admission-required", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "show or seat unknown", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "seats-unavailable (with unavailableSeatIds)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "ticket-limit-exceeded, hold-limit-exceeded, idempotency-key-reused", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "challenge-required: the demand guard asks this client address or network for a proof of work before each further hold (why in detail; challenge and bits as for joining a queue)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn hold(
    State(state): State<AppState>,
    caller: Caller,
    IdempotencyKey(key): IdempotencyKey,
    client: Option<Extension<ClientIp>>,
    headers: axum::http::HeaderMap,
    ApiJson(body): ApiJson<HoldRequest>,
) -> Result<Response, ApiError> {
    check_seat_list(&body.seat_ids)?;
    if body.user_id.is_some_and(|u| u != caller.user.0) {
        return Err(ApiError::Forbidden("userId is not the caller"));
    }
    let config = state.config();
    let gate = Gate {
        client: client.map(|Extension(ClientIp(ip))| ip),
        issued_at_s: caller.issued_at,
        admission_token: header_text(&headers, ADMISSION_TOKEN),
        challenge_solution: challenge_solution(&headers)?.map(str::to_owned),
    };
    let order = HoldOrder {
        show: ShowId(body.show_id),
        user: caller.user,
        seats: body.seat_ids.iter().map(|s| SeatId(*s)).collect(),
        ttl_ms: config.hold_ttl().as_millis() as u64,
        limits: HoldLimits {
            max_seats_per_hold: MAX_SEATS_PER_HOLD,
            max_tickets_per_user: config.max_tickets_per_user,
            max_holds_per_user: config.max_holds_per_user,
        },
        identity: Identity::of(caller.user, key.as_deref(), "hold", &body),
        gate,
    };
    let held = usecases::holds::hold(state.services(), order).await?;
    let body = HoldBody {
        hold_id: held.hold_id.0,
        show_id: body.show_id,
        seats: held.seats.iter().map(|s| s.0).collect(),
        status: "ACTIVE",
        expires_at: rfc3339_ms(held.expires_at),
        total_amount: held.total_minor,
        currency: held.currency,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// One of the caller's holds.
#[utoipa::path(get, path = "/v1/bookings/holds/{holdId}", tag = "bookings",
    params(("holdId" = Uuid, Path, description = "Hold id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The hold", body = HoldBody),
        (status = 400, description = "invalid-request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_hold(
    State(state): State<AppState>,
    caller: Caller,
    path: PathIds,
) -> Result<Json<HoldBody>, ApiError> {
    let hold = HoldId(path.uuid("holdId")?);
    let (snapshot, view) = owned_hold(state.services(), caller.user, hold).await?;
    Ok(Json(hold_body(&snapshot, &view, state.now())))
}

/// Request identity of a release (for the idempotency fingerprint).
#[derive(Serialize)]
struct ReleaseRequest {
    hold_id: Uuid,
}

/// Give a hold back; its seats are AVAILABLE at once.
#[utoipa::path(delete, path = "/v1/bookings/holds/{holdId}", tag = "bookings",
    params(("holdId" = Uuid, Path, description = "Hold id"),
        ("Idempotency-Key" = Option<String>, Header, description = "1..255 printable characters")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Released (or already expired/released)"),
        (status = 400, description = "invalid-request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "hold-already-confirmed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "idempotency-key-reused", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn release_hold(
    State(state): State<AppState>,
    caller: Caller,
    IdempotencyKey(key): IdempotencyKey,
    client: Option<Extension<ClientIp>>,
    path: PathIds,
) -> Result<StatusCode, ApiError> {
    let hold = HoldId(path.uuid("holdId")?);
    let identity = Identity::of(
        caller.user,
        key.as_deref(),
        "release",
        &ReleaseRequest { hold_id: hold.0 },
    );
    let released = usecases::holds::release(state.services(), caller.user, hold, identity).await?;
    // Released seats were not taken after all (the demand guard counts what a client holds, not
    // how often it changes its mind); a retry of the same release is not counted twice.
    if released.now {
        let client = client.map(|Extension(ClientIp(ip))| ip);
        usecases::admission::note_release(state.services(), released.show, client, released.seats);
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seat_lists_are_checked_for_shape() {
        let a = Uuid::from_u128(1);
        assert!(check_seat_list(&[]).is_err());
        assert!(check_seat_list(&[a, a]).is_err());
        let many: Vec<Uuid> = (0..11).map(Uuid::from_u128).collect();
        assert!(check_seat_list(&many).is_err());
        assert!(check_seat_list(&many[..10]).is_ok());
    }
}
