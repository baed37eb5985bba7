//! Catalog reads: event search, event detail, and the seat map of a show.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_NONE_MATCH, VARY,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use catalog::{Category, EventQuery, SeatMap};
use chrono::NaiveDate;
use schemas::{EventId, SeatStatus, ShowId};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{ApiError, Problem};
use crate::extract::{PathIds, QueryParams};
use crate::routes::views::{EventBody, EventSummaryBody, PageBody};
use crate::seatmap::{self, Rendered};
use crate::state::AppState;
use clock::rfc3339_ms;

/// Search events.
#[utoipa::path(get, path = "/v1/events", tag = "catalog",
    params(
        ("city" = Option<String>, Query, description = "City (case-insensitive)"),
        ("category" = Option<String>, Query, description = "movies, concerts, sports or theater"),
        ("date" = Option<String>, Query, description = "YYYY-MM-DD: events running on that date"),
        ("query" = Option<String>, Query, description = "Full text over title and description"),
        ("page" = Option<u32>, Query, description = "Page from 1"),
        ("limit" = Option<u32>, Query, description = "1..=100, default 20"),
    ),
    responses(
        (status = 200, description = "A page of events", body = PageBody<EventSummaryBody>),
        (status = 400, description = "invalid-request", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_events(
    State(state): State<AppState>,
    query: QueryParams,
) -> Result<Json<PageBody<EventSummaryBody>>, ApiError> {
    let paging = query.paging()?;
    let category = query
        .get("category")
        .map(|c| {
            Category::parse(c).ok_or_else(|| {
                ApiError::invalid("category", "must be movies, concerts, sports or theater")
            })
        })
        .transpose()?;
    let date = query
        .get("date")
        .map(|d| {
            NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| ApiError::invalid("date", "must be a real YYYY-MM-DD date"))
        })
        .transpose()?;
    let q = EventQuery {
        city: query.get("city").map(str::to_owned),
        category,
        date,
        query: query.get("query").map(str::to_owned),
        page: paging.page,
        limit: paging.limit,
    };
    let page = state.backends().catalog.search(&q).await?;
    Ok(Json(PageBody {
        items: page.items.into_iter().map(EventSummaryBody::from).collect(),
        page: page.page,
        limit: page.limit,
        total: page.total,
    }))
}

/// One event with its shows.
#[utoipa::path(get, path = "/v1/events/{eventId}", tag = "catalog",
    params(("eventId" = Uuid, Path, description = "Event id")),
    responses(
        (status = 200, description = "The event", body = EventBody),
        (status = 400, description = "invalid-request", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_event(
    State(state): State<AppState>,
    path: PathIds,
) -> Result<Json<EventBody>, ApiError> {
    let id = EventId(path.uuid("eventId")?);
    let detail = state
        .backends()
        .catalog
        .event_detail(id, state.now_utc())
        .await?;
    Ok(Json(EventBody::from(detail)))
}

/// The seat map of a show with every seat's live status.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeatMapBody {
    /// Show.
    pub show_id: Uuid,
    /// Increases with every change of the show's seats.
    pub version: u64,
    /// When the seats last changed as far as this server knows (RFC 3339 UTC).
    pub last_updated: String,
    /// The venue and its drawing.
    pub venue: SeatMapVenue,
    /// Sections in display order.
    pub sections: Vec<SeatMapSectionBody>,
}

/// The venue part of a seat map.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeatMapVenue {
    /// Venue id.
    pub venue_id: Uuid,
    /// Venue name.
    pub name: String,
    /// Drawing size in layout units (seat `x`,`y` lie within it).
    pub layout: SeatMapLayout,
}

/// Drawing size of a seat map.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeatMapLayout {
    /// Width in layout units.
    pub width: i32,
    /// Height in layout units.
    pub height: i32,
}

/// A priced section of a seat map.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeatMapSectionBody {
    /// Section id.
    pub section_id: String,
    /// Display name.
    pub name: String,
    /// Price category label.
    pub price_category: String,
    /// Price per seat, minor units.
    pub price: i64,
    /// ISO 4217 currency.
    pub currency: String,
    /// Seats with their status.
    pub seats: Vec<SeatBody>,
}

/// One seat of a seat map.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeatBody {
    /// Seat id.
    pub seat_id: Uuid,
    /// Row label.
    pub row: String,
    /// Number within the row.
    pub number: u32,
    /// `AVAILABLE`, `HELD`, `BOOKED` or `BLOCKED`.
    pub status: &'static str,
    /// Horizontal position.
    pub x: i32,
    /// Vertical position.
    pub y: i32,
}

/// Seat map of a show (no auth; also for shows behind a waiting room). Served from this process's
/// seat projection, so viewers do not reach the store; a map at least as new as any command this
/// process answered (see [`crate::seatmap`]).
#[utoipa::path(get, path = "/v1/events/{eventId}/shows/{showId}/seats", tag = "catalog",
    params(
        ("eventId" = Uuid, Path, description = "Event id"),
        ("showId" = Uuid, Path, description = "Show id"),
        ("If-None-Match" = Option<String>, Header, description = "The ETag of a map the client holds: 304 while it is current"),
    ),
    responses(
        (status = 200, description = "The seat map (gzip when Accept-Encoding takes it); ETag names its version", body = SeatMapBody,
            headers(("ETag" = String, description = "W/\"<version>\""))),
        (status = 304, description = "Not modified: the If-None-Match ETag is the current version"),
        (status = 400, description = "invalid-request", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn seat_map(
    State(state): State<AppState>,
    path: PathIds,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let event = EventId(path.uuid("eventId")?);
    let show = ShowId(path.uuid("showId")?);
    let map = state.backends().catalog.seat_map(show).await?;
    if map.event_id != event {
        return Err(ApiError::NotFound);
    }
    let (version, statuses) = usecases::shows::seat_statuses(state.services(), show).await?;
    let last = state
        .services()
        .last_seat_change(show)
        .unwrap_or_else(|| state.now());
    let rendered = state.seat_maps().get_or_render(show, version, || {
        let body = seat_map_body(&map, version, &statuses, last);
        Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
    });
    Ok(seat_map_response(&rendered, &headers))
}

/// The rendered map, gzipped when the client takes it, `304` when it holds this version.
fn seat_map_response(rendered: &Rendered, headers: &HeaderMap) -> Response {
    let etag = rendered.etag();
    let fresh = headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == etag || tag.trim() == "*");
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        match accepts_gzip(headers).then(|| rendered.gzip()).flatten() {
            Some(gzip) => ([(CONTENT_ENCODING, "gzip")], gzip).into_response(),
            None => rendered.json.clone().into_response(),
        }
    };
    let h = response.headers_mut();
    if !fresh {
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    if let Ok(value) = HeaderValue::from_str(&etag) {
        h.insert(ETAG, value);
    }
    // Revalidate every time (the statuses change); the ETag makes that a 304 when they did not.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(VARY, HeaderValue::from_static("accept-encoding"));
    response
}

/// Whether `Accept-Encoding` takes gzip (a `q=0` refuses it).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts.any(|p| p.replace(' ', "") == "q=0" || p == "q=0.0");
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

fn seat_map_body(
    map: &Arc<SeatMap>,
    version: u64,
    statuses: &[SeatStatus],
    last: schemas::UnixMs,
) -> SeatMapBody {
    let status_of = |index: u32| seatmap::status_at(statuses, index).contract_name();
    let sections = map
        .sections
        .iter()
        .map(|section| SeatMapSectionBody {
            section_id: section.section_id.clone(),
            name: section.name.clone(),
            price_category: section.price_category.clone(),
            price: section.price_minor,
            currency: map.currency.clone(),
            seats: section
                .seats
                .iter()
                .zip(section.first_index..)
                .map(|(seat, index)| SeatBody {
                    seat_id: seat.seat_id.0,
                    row: section.row_of(seat).to_owned(),
                    number: seat.number,
                    status: status_of(index),
                    x: seat.x,
                    y: seat.y,
                })
                .collect(),
        })
        .collect();
    SeatMapBody {
        show_id: map.show_id.0,
        version,
        last_updated: rfc3339_ms(last),
        venue: SeatMapVenue {
            venue_id: map.venue_id.0,
            name: map.venue_name.clone(),
            layout: SeatMapLayout {
                width: map.width,
                height: map.height,
            },
        },
        sections,
    }
}
