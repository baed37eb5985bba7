//! Admin routes (role `admin`): venues, events, shows, blocking and unblocking seats.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use catalog::{Category, NewEvent, NewShow, NewVenue, VenueRow, VenueSection, WaitingRoom};
use chrono::{DateTime, NaiveDate, Utc};
use schemas::{EventId, SeatId, ShowId, VenueId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Admin;
use crate::error::{ApiError, PROBLEM_JSON as PROBLEM, Problem};
use crate::extract::{ApiJson, PathIds};
use crate::routes::views::{EventBody, ShowBody, VenueBody};
use crate::state::AppState;
use usecases::submit::Identity;

/// One row of a new venue section.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RowRequest {
    /// Row label.
    pub row: String,
    /// Seats in the row.
    pub seats: u32,
}

/// One section of a new venue.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SectionRequest {
    /// Short id, unique within the venue.
    pub section_id: String,
    /// Display name.
    pub name: String,
    /// Price category label.
    pub price_category: String,
    /// Price per seat, minor units.
    pub price: i64,
    /// ISO 4217 currency (one per venue).
    pub currency: String,
    /// Rows front to back.
    pub rows: Vec<RowRequest>,
}

/// Body of `POST /v1/admin/venues`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VenueRequest {
    /// Name.
    pub name: String,
    /// City.
    pub city: String,
    /// Sections.
    pub sections: Vec<SectionRequest>,
}

impl From<VenueRequest> for NewVenue {
    fn from(v: VenueRequest) -> Self {
        NewVenue {
            name: v.name,
            city: v.city,
            sections: v
                .sections
                .into_iter()
                .map(|s| VenueSection {
                    section_id: s.section_id,
                    name: s.name,
                    price_category: s.price_category,
                    price_minor: s.price,
                    currency: s.currency,
                    rows: s
                        .rows
                        .into_iter()
                        .map(|r| VenueRow {
                            row: r.row,
                            seats: r.seats,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// Create a venue.
#[utoipa::path(post, path = "/v1/admin/venues", tag = "admin", request_body = VenueRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = VenueBody),
        (status = 400, description = "invalid-request", body = Problem, content_type = PROBLEM),
        (status = 401, description = "unauthenticated", body = Problem, content_type = PROBLEM),
        (status = 403, description = "forbidden", body = Problem, content_type = PROBLEM),
    ))]
pub async fn create_venue(
    State(state): State<AppState>,
    _admin: Admin,
    ApiJson(body): ApiJson<VenueRequest>,
) -> Result<(StatusCode, Json<VenueBody>), ApiError> {
    let venue = state.backends().catalog.create_venue(body.into()).await?;
    Ok((StatusCode::CREATED, Json(venue.into())))
}

/// Body of `POST /v1/admin/events`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventRequest {
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// movies, concerts, sports or theater.
    #[schema(value_type = String)]
    pub category: Category,
    /// City.
    pub city: String,
    /// Venue id.
    pub venue_id: Uuid,
    /// First date (YYYY-MM-DD).
    #[schema(value_type = String, format = Date)]
    pub start_date: NaiveDate,
    /// Last date (YYYY-MM-DD).
    #[schema(value_type = String, format = Date)]
    pub end_date: NaiveDate,
    /// Poster URL.
    #[serde(default)]
    pub poster_url: Option<String>,
}

/// Create an event.
#[utoipa::path(post, path = "/v1/admin/events", tag = "admin", request_body = EventRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = EventBody),
        (status = 400, description = "invalid-request", body = Problem, content_type = PROBLEM),
        (status = 401, description = "unauthenticated", body = Problem, content_type = PROBLEM),
        (status = 403, description = "forbidden", body = Problem, content_type = PROBLEM),
        (status = 404, description = "venue not found", body = Problem, content_type = PROBLEM),
    ))]
pub async fn create_event(
    State(state): State<AppState>,
    _admin: Admin,
    ApiJson(body): ApiJson<EventRequest>,
) -> Result<(StatusCode, Json<EventBody>), ApiError> {
    let new = NewEvent {
        title: body.title,
        description: body.description,
        category: body.category,
        city: body.city,
        venue_id: VenueId(body.venue_id),
        start_date: body.start_date,
        end_date: body.end_date,
        poster_url: body.poster_url,
    };
    let catalog = &state.backends().catalog;
    let event = catalog.create_event(new).await?;
    let detail = catalog
        .event_detail(event.event_id, state.now_utc())
        .await?;
    Ok((StatusCode::CREATED, Json(detail.into())))
}

/// Waiting-room part of a new show.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WaitingRoomRequest {
    /// Whether buyers queue.
    pub enabled: bool,
    /// Admissions per minute.
    #[serde(default)]
    pub admit_per_minute: u32,
    /// Proof-of-work bits to join.
    #[serde(default)]
    pub challenge_bits: Option<u8>,
}

/// Body of `POST /v1/admin/events/{eventId}/shows`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShowRequest {
    /// Start time (RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    pub show_time: DateTime<Utc>,
    /// Sale opening (RFC 3339); absent means at once.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub sale_opens_at: Option<DateTime<Utc>>,
    /// Waiting room; absent means off.
    #[serde(default)]
    pub waiting_room: Option<WaitingRoomRequest>,
}

/// Create a show of an event; its seats are created in the pipeline before the answer.
#[utoipa::path(post, path = "/v1/admin/events/{eventId}/shows", tag = "admin", request_body = ShowRequest,
    params(("eventId" = Uuid, Path, description = "Event id")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = ShowBody),
        (status = 400, description = "invalid-request", body = Problem, content_type = PROBLEM),
        (status = 401, description = "unauthenticated", body = Problem, content_type = PROBLEM),
        (status = 403, description = "forbidden", body = Problem, content_type = PROBLEM),
        (status = 404, description = "event not found", body = Problem, content_type = PROBLEM),
        (status = 503, description = "unavailable", body = Problem, content_type = PROBLEM),
    ))]
pub async fn create_show(
    State(state): State<AppState>,
    _admin: Admin,
    path: PathIds,
    ApiJson(body): ApiJson<ShowRequest>,
) -> Result<(StatusCode, Json<ShowBody>), ApiError> {
    let event = EventId(path.uuid("eventId")?);
    let new = NewShow {
        show_time: body.show_time,
        sale_opens_at: body.sale_opens_at,
        waiting_room: body.waiting_room.map(|w| WaitingRoom {
            enabled: w.enabled,
            admit_per_minute: w.admit_per_minute,
            challenge_bits: w.challenge_bits,
        }),
    };
    let catalog = &state.backends().catalog;
    let created = catalog.create_show(event, new).await?;
    // If this fails the show still exists in the catalog; its seats are created on first use.
    usecases::shows::create_seat_state(state.services(), created.show.show_id).await?;
    Ok((
        StatusCode::CREATED,
        Json(created.show.view(state.now_utc()).into()),
    ))
}

/// Body of the block and unblock routes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeatsRequest {
    /// Seats to block or unblock (1..=1000, no duplicates).
    pub seat_ids: Vec<Uuid>,
}

/// Answer of the block and unblock routes.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeatsChanged {
    /// Show.
    pub show_id: Uuid,
    /// The seats named.
    pub seat_ids: Vec<Uuid>,
    /// Seat version after the change.
    pub version: u64,
}

/// Most seats one block or unblock may name.
pub const BLOCK_SEATS_MAX: usize = 1000;

async fn change_seats(
    state: &AppState,
    admin: &Admin,
    path: &PathIds,
    body: SeatsRequest,
    block: bool,
) -> Result<Json<SeatsChanged>, ApiError> {
    let show = ShowId(path.uuid("showId")?);
    if body.seat_ids.is_empty() || body.seat_ids.len() > BLOCK_SEATS_MAX {
        return Err(ApiError::invalid(
            "seatIds",
            format!("must name 1..={BLOCK_SEATS_MAX} seats"),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    if body.seat_ids.iter().any(|s| !seen.insert(*s)) {
        return Err(ApiError::invalid("seatIds", "names a seat twice"));
    }
    let seats: Vec<SeatId> = body.seat_ids.iter().map(|s| SeatId(*s)).collect();
    let operation = if block { "block" } else { "unblock" };
    let identity = Identity::of(admin.0.user, None, operation, &body);
    let version =
        usecases::shows::change_seats(state.services(), show, seats, block, identity).await?;
    Ok(Json(SeatsChanged {
        show_id: show.0,
        seat_ids: body.seat_ids,
        version,
    }))
}

/// Take seats off sale; held or booked seats answer 409 seats-unavailable.
#[utoipa::path(post, path = "/v1/admin/shows/{showId}/seats/block", tag = "admin", request_body = SeatsRequest,
    params(("showId" = Uuid, Path, description = "Show id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Blocked", body = SeatsChanged),
        (status = 400, description = "invalid-request", body = Problem, content_type = PROBLEM),
        (status = 401, description = "unauthenticated", body = Problem, content_type = PROBLEM),
        (status = 403, description = "forbidden", body = Problem, content_type = PROBLEM),
        (status = 404, description = "not-found", body = Problem, content_type = PROBLEM),
        (status = 409, description = "seats-unavailable", body = Problem, content_type = PROBLEM),
    ))]
pub async fn block_seats(
    State(state): State<AppState>,
    admin: Admin,
    path: PathIds,
    ApiJson(body): ApiJson<SeatsRequest>,
) -> Result<Json<SeatsChanged>, ApiError> {
    change_seats(&state, &admin, &path, body, true).await
}

/// Put blocked seats back on sale.
#[utoipa::path(post, path = "/v1/admin/shows/{showId}/seats/unblock", tag = "admin", request_body = SeatsRequest,
    params(("showId" = Uuid, Path, description = "Show id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Unblocked", body = SeatsChanged),
        (status = 400, description = "invalid-request", body = Problem, content_type = PROBLEM),
        (status = 401, description = "unauthenticated", body = Problem, content_type = PROBLEM),
        (status = 403, description = "forbidden", body = Problem, content_type = PROBLEM),
        (status = 404, description = "not-found", body = Problem, content_type = PROBLEM),
    ))]
pub async fn unblock_seats(
    State(state): State<AppState>,
    admin: Admin,
    path: PathIds,
    ApiJson(body): ApiJson<SeatsRequest>,
) -> Result<Json<SeatsChanged>, ApiError> {
    change_seats(&state, &admin, &path, body, false).await
}
