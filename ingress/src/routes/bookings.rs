//! Bookings: `POST /v1/bookings/confirm`, `GET /v1/bookings`, `GET /v1/bookings/{bookingId}`.
//!
//! Confirm is the saga of `usecases::confirm` (authorize, claim through the log, capture or
//! void); here it is parsed and answered.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use catalog::SeatMap;
use engine::{BookingStatus, BookingView};
use processors::reader::ShowSnapshot;
use schemas::{BookingId, HoldId, ShowId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, PROBLEM_JSON as PROBLEM, Problem};
use crate::extract::{ApiJson, IdempotencyKey, PathIds, QueryParams};
use crate::routes::tickets::{TicketBody, booking_tickets};
use crate::routes::views::PageBody;
use crate::state::AppState;
use clock::rfc3339_ms;
use usecases::confirm::{ConfirmOrder, Confirmed};
use usecases::submit::Identity;

/// One seat of a booking.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookedSeat {
    /// Seat id.
    pub seat_id: Uuid,
    /// Section id.
    pub section: String,
    /// Section name.
    pub section_name: String,
    /// Row label.
    pub row: String,
    /// Number within the row.
    pub number: u32,
}

/// A booking as the API returns it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookingBody {
    /// Booking id.
    pub booking_id: Uuid,
    /// `CONFIRMED` or `CANCELLED`.
    pub status: &'static str,
    /// Show.
    pub show_id: Uuid,
    /// The hold it came from.
    pub hold_id: Uuid,
    /// Seats booked.
    pub seats: Vec<BookedSeat>,
    /// Amount charged, minor units.
    pub total_amount: i64,
    /// ISO 4217 currency.
    pub currency: String,
    /// Payment authorization id.
    pub payment_id: String,
    /// When it was booked (RFC 3339 UTC).
    pub booked_at: String,
    /// Tickets; issued by the ticket workers shortly after confirming.
    pub tickets: Vec<TicketBody>,
}

fn booking_body(show: &ShowSnapshot, view: &BookingView, map: &SeatMap) -> BookingBody {
    booking_body_of(
        show.show_id,
        show.state.currency().unwrap_or_default(),
        view,
        map,
    )
}

fn booking_body_of(
    show_id: ShowId,
    currency: &str,
    view: &BookingView,
    map: &SeatMap,
) -> BookingBody {
    let seats = view
        .tickets
        .iter()
        .map(|t| {
            let detail = map.seat(t.seat_id);
            BookedSeat {
                seat_id: t.seat_id.0,
                section: detail
                    .as_ref()
                    .map_or_else(String::new, |d| d.section_id.clone()),
                section_name: detail
                    .as_ref()
                    .map_or_else(String::new, |d| d.section_name.clone()),
                row: detail.as_ref().map_or_else(String::new, |d| d.row.clone()),
                number: detail.as_ref().map_or(0, |d| d.number),
            }
        })
        .collect();
    BookingBody {
        booking_id: view.booking_id.0,
        status: match view.status {
            BookingStatus::Confirmed => "CONFIRMED",
            BookingStatus::Cancelled => "CANCELLED",
        },
        show_id: show_id.0,
        hold_id: view.hold_id.0,
        seats,
        total_amount: view.total_minor,
        currency: currency.to_owned(),
        payment_id: view.payment_ref.clone(),
        booked_at: rfc3339_ms(view.booked_at),
        tickets: Vec::new(),
    }
}

async fn seat_map(state: &AppState, show: ShowId) -> Result<Arc<SeatMap>, ApiError> {
    state
        .backends()
        .catalog
        .seat_map(show)
        .await
        .map_err(ApiError::from)
}

/// The caller's booking, or 404 (also for other users' bookings).
async fn owned_booking(
    state: &AppState,
    caller: &Caller,
    booking: BookingId,
) -> Result<BookingBody, ApiError> {
    let found = state.backends().reader.booking(booking).await?;
    match found {
        Some((snapshot, view)) if view.user == caller.user => {
            let map = seat_map(state, snapshot.show_id).await?;
            let mut body = booking_body(&snapshot, &view, &map);
            body.tickets = booking_tickets(state, &view).await?;
            Ok(body)
        }
        Some(_) | None => Err(ApiError::NotFound),
    }
}

/// One of the caller's bookings.
#[utoipa::path(get, path = "/v1/bookings/{bookingId}", tag = "bookings",
    params(("bookingId" = Uuid, Path, description = "Booking id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The booking", body = BookingBody),
        (status = 400, description = "invalid-request", body = Problem, content_type = PROBLEM),
        (status = 401, description = "unauthenticated", body = Problem, content_type = PROBLEM),
        (status = 404, description = "not-found", body = Problem, content_type = PROBLEM),
    ))]
pub async fn get_booking(
    State(state): State<AppState>,
    caller: Caller,
    path: PathIds,
) -> Result<Json<BookingBody>, ApiError> {
    let booking = BookingId(path.uuid("bookingId")?);
    Ok(Json(owned_booking(&state, &caller, booking).await?))
}

/// The caller's bookings, newest first.
#[utoipa::path(get, path = "/v1/bookings", tag = "bookings",
    params(
        ("page" = Option<u32>, Query, description = "Page from 1"),
        ("limit" = Option<u32>, Query, description = "1..=100, default 20"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of bookings", body = PageBody<BookingBody>),
        (status = 400, description = "invalid-request", body = Problem, content_type = PROBLEM),
        (status = 401, description = "unauthenticated", body = Problem, content_type = PROBLEM),
    ))]
pub async fn list_bookings(
    State(state): State<AppState>,
    caller: Caller,
    query: QueryParams,
) -> Result<Json<PageBody<BookingBody>>, ApiError> {
    let paging = query.paging()?;
    let page = state
        .backends()
        .reader
        .user_bookings(caller.user, paging.offset(), paging.limit as usize)
        .await?;
    let mut maps: HashMap<ShowId, Arc<SeatMap>> = HashMap::new();
    let mut items = Vec::with_capacity(page.items.len());
    for (snapshot, view) in &page.items {
        let map = match maps.get(&snapshot.show_id) {
            Some(map) => map.clone(),
            None => {
                let map = seat_map(&state, snapshot.show_id).await?;
                maps.insert(snapshot.show_id, map.clone());
                map
            }
        };
        let mut body = booking_body(snapshot, view, &map);
        body.tickets = booking_tickets(&state, view).await?;
        items.push(body);
    }
    Ok(Json(PageBody {
        items,
        page: paging.page,
        limit: paging.limit,
        total: page.total as u64,
    }))
}

/// Body of `POST /v1/bookings/confirm`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmRequest {
    /// The hold to turn into a booking.
    pub hold_id: Uuid,
    /// Payment method (sandbox: pm_card_visa, pm_card_declined, pm_card_slow).
    pub payment_method_id: String,
}

/// Most characters of a payment method id.
const PAYMENT_METHOD_CHARS_MAX: usize = 255;

/// Pay for a hold and turn it into a booking.
#[utoipa::path(post, path = "/v1/bookings/confirm", tag = "bookings", request_body = ConfirmRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "1..255 printable characters; retries return the first response")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Booked", body = BookingBody),
        (status = 200, description = "Already confirmed: the same booking", body = BookingBody),
        (status = 400, description = "invalid-request (also an unknown payment method)", body = Problem, content_type = PROBLEM),
        (status = 401, description = "unauthenticated", body = Problem, content_type = PROBLEM),
        (status = 402, description = "payment-declined; the hold stays active", body = Problem, content_type = PROBLEM),
        (status = 404, description = "not-found", body = Problem, content_type = PROBLEM),
        (status = 410, description = "hold-expired", body = Problem, content_type = PROBLEM),
        (status = 422, description = "idempotency-key-reused", body = Problem, content_type = PROBLEM),
        (status = 503, description = "unavailable", body = Problem, content_type = PROBLEM),
    ))]
pub async fn confirm(
    State(state): State<AppState>,
    caller: Caller,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<ConfirmRequest>,
) -> Result<(StatusCode, Json<BookingBody>), ApiError> {
    let method = body.payment_method_id.trim();
    if method.is_empty() || method.chars().count() > PAYMENT_METHOD_CHARS_MAX {
        return Err(ApiError::invalid(
            "paymentMethodId",
            "must be 1..=255 characters",
        ));
    }
    let order = ConfirmOrder {
        user: caller.user,
        hold: HoldId(body.hold_id),
        payment_method_id: body.payment_method_id.clone(),
        identity: Identity::of(caller.user, key.as_deref(), "confirm", &body),
    };
    let (status, body) = match usecases::confirm::confirm(state.services(), order).await? {
        Confirmed::Booked(snapshot, view) => {
            let map = seat_map(&state, snapshot.show_id).await?;
            let mut body = booking_body(&snapshot, &view, &map);
            body.tickets = booking_tickets(&state, &view).await?;
            (StatusCode::CREATED, body)
        }
        Confirmed::BookedAs(booking) => (
            StatusCode::CREATED,
            owned_booking(&state, &caller, booking).await?,
        ),
        Confirmed::Already(booking) => (
            StatusCode::OK,
            owned_booking(&state, &caller, booking).await?,
        ),
    };
    Ok((status, Json(body)))
}
