//! Bookings: `POST /v1/bookings/confirm`, `GET /v1/bookings`, `GET /v1/bookings/{bookingId}`.
//!
//! Confirm never leaves a buyer paid without seats: authorize first, claim the seats through the
//! log, capture only after the claim is committed, void when it is refused. An unknown outcome
//! (503) leaves the authorization for the retry (same key) or the payments reconciler.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use catalog::SeatMap;
use engine::{BookingStatus, BookingView, HoldStatus};
use payments::{AuthorizationId, AuthorizeRequest, PaymentError};
use processors::reader::ShowSnapshot;
use schemas::{BookingId, Command, CommandId, HoldId, Outcome, Rejection, ShowId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, PROBLEM_JSON as PROBLEM, Problem};
use crate::extract::{ApiJson, IdempotencyKey, PathIds, QueryParams};
use crate::idempotency::{self, Claim};
use crate::pipeline::{self, booking_id, claim, envelope, submit};
use crate::routes::holds::owned_hold;
use crate::routes::tickets::{TicketBody, booking_tickets};
use crate::routes::views::PageBody;
use crate::state::AppState;
use clock::rfc3339_ms;

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
    let hold = HoldId(body.hold_id);
    let (snapshot, view) = owned_hold(&state, &caller, hold).await?;
    let command_id = idempotency::command_id(caller.user, key.as_deref());
    let fingerprint = idempotency::fingerprint("confirm", &body);
    let claim = claim(&state, key.as_deref(), command_id, fingerprint).await?;
    // A retry (same key) goes through the log again so it gets the first outcome and status.
    if claim == Claim::New {
        match view.status_at(pipeline::surely_lapsed(state.now())) {
            HoldStatus::Active => {}
            HoldStatus::Expired | HoldStatus::Released => return Err(ApiError::HoldExpired),
            HoldStatus::Confirmed => {
                let booking = view.booking_id.unwrap_or_else(|| booking_id(hold));
                return Ok((
                    StatusCode::OK,
                    Json(owned_booking(&state, &caller, booking).await?),
                ));
            }
        }
    }
    let currency = snapshot.state.currency().unwrap_or_default().to_owned();
    let payment_key = payment_key(command_id);
    let authorization = authorize(
        &state,
        &payment_key,
        &body,
        view.total_minor,
        currency,
        hold,
    )
    .await?;
    let booking = booking_id(hold);
    let command = Command::Confirm {
        hold_id: hold,
        user: caller.user,
        booking_id: booking,
        payment_ref: authorization.to_string(),
    };
    let reply = submit(
        &state,
        envelope(&state, command_id, fingerprint, snapshot.show_id, command),
    )
    .await?;
    let status = match reply.outcome {
        Outcome::Accepted(events) => {
            capture(&state, &payment_key, authorization).await;
            metrics::counter!("boxoffice_bookings_confirmed_total").increment(1);
            // The decision carries the whole new booking: answer from it (no read back).
            if let Some(view) = events.iter().find_map(confirmed_view) {
                let map = seat_map(&state, snapshot.show_id).await?;
                let currency = snapshot.state.currency().unwrap_or_default();
                let mut body = booking_body_of(snapshot.show_id, currency, &view, &map);
                body.tickets = booking_tickets(&state, &view).await?;
                return Ok((StatusCode::CREATED, Json(body)));
            }
            StatusCode::CREATED
        }
        Outcome::Rejected(Rejection::HoldAlreadyConfirmed {
            booking_id: existing,
        }) => {
            let body = owned_booking(&state, &caller, existing).await?;
            if body.payment_id == authorization.to_string() {
                // Our own earlier confirm won (its outcome was forgotten or unknown): settle it.
                capture(&state, &payment_key, authorization).await;
            } else {
                void(&state, &payment_key, authorization).await;
            }
            return Ok((StatusCode::OK, Json(body)));
        }
        Outcome::Rejected(rejection) => {
            void(&state, &payment_key, authorization).await;
            return Err(pipeline::rejection(rejection));
        }
    };
    Ok((status, Json(owned_booking(&state, &caller, booking).await?)))
}

/// The booking a `Confirmed` event describes, as the engine shows it right after confirming.
fn confirmed_view(event: &schemas::Event) -> Option<BookingView> {
    let schemas::Event::Confirmed {
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

/// The payment provider key of a confirm: its command id, so a retry with the same
/// Idempotency-Key reuses the same authorization, and a new attempt (say, another card after a
/// decline) gets a new one.
fn payment_key(command: CommandId) -> String {
    format!("confirm-{}", command.0)
}

async fn authorize(
    state: &AppState,
    key: &str,
    body: &ConfirmRequest,
    amount_minor: i64,
    currency: String,
    hold: HoldId,
) -> Result<AuthorizationId, ApiError> {
    let request = AuthorizeRequest {
        amount_minor,
        currency,
        payment_method_id: body.payment_method_id.clone(),
        reference: Some(hold.to_string()),
    };
    match state.backends().payments.authorize(key, &request).await {
        Ok(authorization) => Ok(authorization.authorization_id),
        Err(PaymentError::Declined { reason }) => {
            tracing::info!(%hold, %reason, "payment declined");
            metrics::counter!("boxoffice_payments_declined_total").increment(1);
            Err(ApiError::PaymentDeclined)
        }
        Err(PaymentError::InvalidMethod { .. }) => Err(ApiError::invalid(
            "paymentMethodId",
            "unknown payment method",
        )),
        Err(PaymentError::InvalidRequest { field, reason }) => {
            Err(ApiError::invalid(payment_field(&field), reason))
        }
        Err(PaymentError::KeyReused) => Err(ApiError::IdempotencyKeyReused),
        Err(
            e @ (PaymentError::Unavailable { .. }
            | PaymentError::Timeout
            | PaymentError::Storage { .. }
            | PaymentError::NotFound { .. }
            | PaymentError::InvalidState { .. }
            | PaymentError::RefundExceedsCaptured { .. }),
        ) => {
            tracing::warn!(error = %e, "payment authorization failed");
            Err(ApiError::unavailable("the payment provider is unavailable"))
        }
    }
}

fn payment_field(field: &str) -> String {
    match field {
        "paymentMethodId" | "payment_method_id" => "paymentMethodId".to_owned(),
        other => other.to_owned(),
    }
}

/// Capture after the claim committed. A failure does not undo the booking: the authorization
/// stays AUTHORIZED and the payments reconciler captures it from the booking facts.
async fn capture(state: &AppState, key: &str, authorization: AuthorizationId) {
    if let Err(e) = state.backends().payments.capture(key, authorization).await {
        metrics::counter!("boxoffice_payments_capture_failed_total").increment(1);
        tracing::warn!(%authorization, error = %e, "capture failed; left to the reconciler");
    }
}

/// Void after the claim was refused. A failure leaves the authorization to expire at the
/// provider or to the reconciler.
async fn void(state: &AppState, key: &str, authorization: AuthorizationId) {
    if let Err(e) = state.backends().payments.void(key, authorization).await {
        metrics::counter!("boxoffice_payments_void_failed_total").increment(1);
        tracing::warn!(%authorization, error = %e, "void failed; left to the reconciler");
    }
}
