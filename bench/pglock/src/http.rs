//! The HTTP API (the subset of boxoffice's the flash-sale load generator calls): routes, request
//! and response bodies, and the extractors that authenticate callers and parse JSON into
//! [`Rejection`]s instead of axum's plain-text errors.

use std::collections::HashSet;

use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ingress::auth::{Caller, Role, TokenKeys};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::Rejection;
use crate::saga::Saga;
use crate::store::{Booking, HoldOutcome, MapSeat, NewShow};

/// Most seats in one hold, as boxoffice allows.
const MAX_SEATS_PER_HOLD: usize = 10;
/// Most seats in one show.
const MAX_SEATS_PER_SHOW: i32 = 200_000;
/// Seats per row when the request does not say.
const DEFAULT_ROW_LENGTH: i32 = 50;
/// Seat price when the request does not say, minor units.
const DEFAULT_PRICE: i64 = 2_500;
/// Currency when the request does not say.
const DEFAULT_CURRENCY: &str = "USD";

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// Token verification.
    pub keys: TokenKeys,
    /// The database and the payment provider.
    pub saga: Saga,
}

/// The service's routes; anything else is a 404 (or 405) problem.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/admin/shows", post(create_show))
        .route("/v1/events/{event_id}/shows/{show_id}/seats", get(seat_map))
        .route("/v1/bookings/hold", post(hold))
        .route("/v1/bookings/confirm", post(confirm))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn not_found() -> Rejection {
    Rejection::NotFound("no such route")
}

async fn method_not_allowed() -> Rejection {
    Rejection::MethodNotAllowed
}

// --- extractors ------------------------------------------------------------------------------

/// The verified caller of a request (401 without a valid bearer token).
pub struct User(pub Caller);

impl FromRequestParts<AppState> for User {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Rejection> {
        let token = ingress::auth::bearer(parts)
            .ok_or(Rejection::Unauthenticated("missing bearer token"))?;
        state
            .keys
            .verify(token, chrono::Utc::now().timestamp())
            .map(User)
            .map_err(|_| Rejection::Unauthenticated("invalid or expired bearer token"))
    }
}

/// A caller with the admin role (401 without a token, 403 without the role).
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Rejection> {
        let User(caller) = User::from_request_parts(parts, state).await?;
        if caller.has(Role::Admin) {
            Ok(Admin)
        } else {
            Err(Rejection::Forbidden("admin role required"))
        }
    }
}

/// A JSON body; malformed JSON, a wrong content type or a wrong shape answer 400.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(Rejection::InvalidRequest(rejection.body_text())),
        }
    }
}

// --- admin: shows ----------------------------------------------------------------------------

/// Body of `POST /v1/admin/shows`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateShowRequest {
    /// Seats, 1..=200000.
    pub seats: i64,
    /// Seats per row (default 50).
    pub row_length: Option<i64>,
    /// Price of a seat in minor units (default 2500).
    pub price: Option<i64>,
    /// ISO 4217 code (default USD).
    pub currency: Option<String>,
}

/// Answer of `POST /v1/admin/shows`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedShowBody {
    /// The new show.
    pub show_id: Uuid,
    /// Its (new) event.
    pub event_id: Uuid,
    /// Seats created.
    pub seats: i32,
}

impl CreateShowRequest {
    /// The show to create, or why not.
    fn validate(self) -> Result<NewShow, Rejection> {
        let invalid = |what: &str| Rejection::InvalidRequest(what.to_owned());
        let seats = i32::try_from(self.seats)
            .ok()
            .filter(|n| (1..=MAX_SEATS_PER_SHOW).contains(n))
            .ok_or_else(|| invalid("seats must be 1..=200000"))?;
        let row_length = self.row_length.map_or(Ok(DEFAULT_ROW_LENGTH), |n| {
            i32::try_from(n)
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .ok_or_else(|| invalid("rowLength must be 1..=10000"))
        })?;
        let price = self.price.unwrap_or(DEFAULT_PRICE);
        if price < 1 {
            return Err(invalid("price must be at least 1 (minor units)"));
        }
        let currency = self.currency.unwrap_or_else(|| DEFAULT_CURRENCY.to_owned());
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(invalid("currency must be an ISO 4217 code such as USD"));
        }
        Ok(NewShow {
            seats,
            row_length,
            price,
            currency,
        })
    }
}

async fn create_show(
    State(state): State<AppState>,
    _admin: Admin,
    ApiJson(body): ApiJson<CreateShowRequest>,
) -> Result<Response, Rejection> {
    let show = body.validate()?;
    let started = std::time::Instant::now();
    let created = state.saga.store.create_show(&show).await?;
    tracing::info!(show = %created.show_id, seats = show.seats, ms = started.elapsed().as_millis() as u64, "show created");
    let body = CreatedShowBody {
        show_id: created.show_id,
        event_id: created.event_id,
        seats: show.seats,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

// --- the seat map ----------------------------------------------------------------------------

/// Answer of the seat map: one section holding every seat, in venue order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeatMapBody {
    /// The show.
    pub show_id: Uuid,
    /// Always 0: this service has no change feed to version against.
    pub version: u64,
    /// The one section.
    pub sections: [SectionBody; 1],
}

/// A section of the seat map.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SectionBody {
    /// `A`.
    pub section_id: &'static str,
    /// `Floor`.
    pub name: &'static str,
    /// Its seats.
    pub seats: Vec<SeatBody>,
}

/// A seat of the seat map.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeatBody {
    /// Id.
    pub seat_id: Uuid,
    /// Row label.
    pub row: String,
    /// Number within the row.
    pub number: i32,
    /// `AVAILABLE`, `HELD` or `BOOKED`.
    pub status: String,
}

impl From<MapSeat> for SeatBody {
    fn from(seat: MapSeat) -> Self {
        SeatBody {
            seat_id: seat.seat_id,
            row: seat.row,
            number: seat.number,
            status: seat.status,
        }
    }
}

async fn seat_map(
    State(state): State<AppState>,
    Path((event_id, show_id)): Path<(String, String)>,
) -> Result<Json<SeatMapBody>, Rejection> {
    let event_id = parse_id("eventId", &event_id)?;
    let show_id = parse_id("showId", &show_id)?;
    let seats = state
        .saga
        .store
        .seat_map(event_id, show_id)
        .await?
        .ok_or(Rejection::NotFound("no such show"))?;
    Ok(Json(SeatMapBody {
        show_id,
        version: 0,
        sections: [SectionBody {
            section_id: "A",
            name: "Floor",
            seats: seats.into_iter().map(SeatBody::from).collect(),
        }],
    }))
}

fn parse_id(name: &str, text: &str) -> Result<Uuid, Rejection> {
    Uuid::parse_str(text).map_err(|_| Rejection::InvalidRequest(format!("{name} is not a UUID")))
}

// --- holds -----------------------------------------------------------------------------------

// The hold request and answer are boxoffice's own types, so both systems speak the same contract
// (the optional `userId` of a request is ignored here: the caller is always the token's user).
pub use ingress::routes::holds::{HoldBody, HoldRequest};

/// 1..=10 seats, no seat twice.
fn check_seat_list(seats: &[Uuid]) -> Result<(), Rejection> {
    if seats.is_empty() || seats.len() > MAX_SEATS_PER_HOLD {
        return Err(Rejection::InvalidRequest(format!(
            "seatIds must name 1..={MAX_SEATS_PER_HOLD} seats"
        )));
    }
    let mut seen = HashSet::with_capacity(seats.len());
    if let Some(dup) = seats.iter().find(|s| !seen.insert(**s)) {
        return Err(Rejection::InvalidRequest(format!(
            "seatIds names {dup} twice"
        )));
    }
    Ok(())
}

async fn hold(
    State(state): State<AppState>,
    User(caller): User,
    ApiJson(body): ApiJson<HoldRequest>,
) -> Result<Response, Rejection> {
    check_seat_list(&body.seat_ids)?;
    let hold_id = Uuid::new_v4();
    let outcome = state
        .saga
        .store
        .hold(hold_id, caller.user.0, body.show_id, &body.seat_ids)
        .await?;
    let held = match outcome {
        HoldOutcome::Held(held) => held,
        HoldOutcome::NotFound => return Err(Rejection::NotFound("no such show or seat")),
        HoldOutcome::Unavailable(seats) => return Err(Rejection::SeatsUnavailable(seats)),
    };
    let body = HoldBody {
        hold_id,
        show_id: body.show_id,
        seats: body.seat_ids,
        status: "ACTIVE",
        expires_at: held
            .expires_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        total_amount: held.total,
        currency: held.currency,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

// --- confirm ---------------------------------------------------------------------------------

/// Body of `POST /v1/bookings/confirm`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmRequest {
    /// The hold to pay for.
    pub hold_id: Uuid,
    /// Sandbox: `pm_card_visa`, `pm_card_declined`, `pm_card_slow`.
    pub payment_method_id: String,
}

/// Answer of `POST /v1/bookings/confirm`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BookingBody {
    /// The booking.
    pub booking_id: Uuid,
    /// `CONFIRMED`.
    pub status: &'static str,
    /// The show.
    pub show_id: Uuid,
    /// The hold it came from.
    pub hold_id: Uuid,
    /// Booked seats.
    pub seats: Vec<Uuid>,
    /// Amount paid, minor units.
    pub total_amount: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// The payment authorization.
    pub payment_id: String,
}

impl From<Booking> for BookingBody {
    fn from(b: Booking) -> Self {
        BookingBody {
            booking_id: b.booking_id,
            status: "CONFIRMED",
            show_id: b.show_id,
            hold_id: b.hold_id,
            seats: b.seat_ids,
            total_amount: b.total,
            currency: b.currency,
            payment_id: b.payment_id,
        }
    }
}

/// 201 with the booking, also for a hold confirmed before (a retried confirm).
async fn confirm(
    State(state): State<AppState>,
    User(caller): User,
    ApiJson(body): ApiJson<ConfirmRequest>,
) -> Result<Response, Rejection> {
    let booking = state
        .saga
        .confirm(caller.user.0, body.hold_id, &body.payment_method_id)
        .await?;
    Ok((StatusCode::CREATED, Json(BookingBody::from(booking))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seat_lists_are_bounded_and_distinct() {
        let a = Uuid::from_u128(1);
        assert!(check_seat_list(&[]).is_err());
        assert!(check_seat_list(&[a, a]).is_err());
        assert!(check_seat_list(&[Uuid::nil(); 11]).is_err());
        assert!(check_seat_list(&[a, Uuid::from_u128(2)]).is_ok());
    }

    #[test]
    fn show_requests_get_defaults_and_bounds() {
        let show = CreateShowRequest {
            seats: 1_000,
            row_length: None,
            price: None,
            currency: None,
        }
        .validate()
        .unwrap();
        assert_eq!(
            (show.row_length, show.price, show.currency.as_str()),
            (50, 2_500, "USD")
        );
        let too_big = CreateShowRequest {
            seats: 200_001,
            row_length: None,
            price: None,
            currency: None,
        };
        assert!(too_big.validate().is_err());
    }
}
