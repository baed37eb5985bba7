//! Response bodies of the catalog routes. They are what is serialized AND what the OpenAPI
//! document describes, so the two cannot disagree; each converts from the catalog's own types.

use catalog::{EventDetail, EventSummary, ShowView, Venue};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use clock::rfc3339_ms;

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PageBody<T> {
    /// Items of this page.
    pub items: Vec<T>,
    /// Page number from 1.
    pub page: u32,
    /// Page size asked for.
    pub limit: u32,
    /// Matching items over all pages.
    pub total: u64,
}

/// An event in a list.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventSummaryBody {
    /// Event id.
    pub event_id: Uuid,
    /// Title.
    pub title: String,
    /// movies, concerts, sports or theater.
    pub category: &'static str,
    /// City.
    pub city: String,
    /// Venue id.
    pub venue_id: Uuid,
    /// Venue name.
    pub venue_name: String,
    /// First date (YYYY-MM-DD).
    pub start_date: String,
    /// Last date (YYYY-MM-DD).
    pub end_date: String,
    /// Poster URL.
    pub poster_url: Option<String>,
}

impl From<EventSummary> for EventSummaryBody {
    fn from(e: EventSummary) -> Self {
        EventSummaryBody {
            event_id: e.event_id.0,
            title: e.title,
            category: e.category.as_str(),
            city: e.city,
            venue_id: e.venue_id.0,
            venue_name: e.venue_name,
            start_date: e.start_date.to_string(),
            end_date: e.end_date.to_string(),
            poster_url: e.poster_url,
        }
    }
}

/// An event with its description and shows.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventBody {
    /// Summary fields.
    #[serde(flatten)]
    pub summary: EventSummaryBody,
    /// Description.
    pub description: String,
    /// Shows ordered by show time.
    pub shows: Vec<ShowBody>,
}

impl From<EventDetail> for EventBody {
    fn from(detail: EventDetail) -> Self {
        EventBody {
            description: detail.event.description.clone(),
            summary: detail.event.summary().into(),
            shows: detail.shows.into_iter().map(ShowBody::from).collect(),
        }
    }
}

/// Waiting-room settings of a show.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WaitingRoomBody {
    /// Whether buyers queue for admission.
    pub enabled: bool,
    /// Admissions per minute.
    pub admit_per_minute: u32,
    /// Proof-of-work bits to join, if any.
    pub challenge_bits: Option<u8>,
}

/// One show of an event.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShowBody {
    /// Show id.
    pub show_id: Uuid,
    /// Event id.
    pub event_id: Uuid,
    /// Venue id.
    pub venue_id: Uuid,
    /// Start time (RFC 3339 UTC).
    pub show_time: String,
    /// Sale opening (RFC 3339 UTC), null when on sale since creation.
    pub sale_opens_at: Option<String>,
    /// Seats in the layout.
    pub total_seats: u32,
    /// Seats currently AVAILABLE.
    pub available_seats: u32,
    /// SCHEDULED, OPEN, QUEUE, SOLD_OUT or CLOSED.
    pub status: &'static str,
    /// Cheapest price, minor units.
    pub min_price: i64,
    /// ISO 4217 currency.
    pub currency: String,
    /// Waiting-room settings.
    pub waiting_room: WaitingRoomBody,
}

fn instant(t: chrono::DateTime<chrono::Utc>) -> String {
    rfc3339_ms(schemas::UnixMs(t.timestamp_millis()))
}

impl From<ShowView> for ShowBody {
    fn from(s: ShowView) -> Self {
        ShowBody {
            show_id: s.show_id.0,
            event_id: s.event_id.0,
            venue_id: s.venue_id.0,
            show_time: instant(s.show_time),
            sale_opens_at: s.sale_opens_at.map(instant),
            total_seats: s.total_seats,
            available_seats: s.available_seats,
            status: s.status.as_str(),
            min_price: s.min_price,
            currency: s.currency,
            waiting_room: WaitingRoomBody {
                enabled: s.waiting_room.enabled,
                admit_per_minute: s.waiting_room.admit_per_minute,
                challenge_bits: s.waiting_room.challenge_bits,
            },
        }
    }
}

/// A venue just created.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VenueBody {
    /// Venue id.
    pub venue_id: Uuid,
    /// Name.
    pub name: String,
    /// City.
    pub city: String,
    /// Seats over all sections.
    pub total_seats: u32,
}

impl From<Venue> for VenueBody {
    fn from(v: Venue) -> Self {
        VenueBody {
            venue_id: v.venue_id.0,
            name: v.name,
            city: v.city,
            total_seats: v.total_seats,
        }
    }
}
