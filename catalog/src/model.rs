//! Catalog nouns: venues, events, shows, and the queries over them.
//!
//! Request types (`NewVenue`, `NewEvent`, `NewShow`, `WaitingRoom`) deserialize from exactly the
//! JSON bodies of the public contract (camelCase, `price` in minor units), so the ingress can parse
//! straight into them and then let the catalog validate. Stored and returned types serialize with
//! the contract's field names too.

use chrono::{DateTime, NaiveDate, Utc};
use schemas::{EventId, ShowId, VenueId};
use serde::{Deserialize, Serialize};

use crate::status::{ShowStatus, show_status};

/// Kind of event; the contract's `category` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Films.
    Movies,
    /// Live music.
    Concerts,
    /// Matches and races.
    Sports,
    /// Plays, musicals, comedy.
    Theater,
}

impl Category {
    /// Every category, in display order.
    pub const ALL: [Category; 4] = [
        Category::Movies,
        Category::Concerts,
        Category::Sports,
        Category::Theater,
    ];

    /// The contract's spelling (`"movies"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Movies => "movies",
            Category::Concerts => "concerts",
            Category::Sports => "sports",
            Category::Theater => "theater",
        }
    }

    /// Parses the contract's spelling; `None` for anything else (the caller names the field).
    pub fn parse(text: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// One row of a venue section as the operator describes it: a label and a seat count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VenueRow {
    /// Row label (`"A"`, `"R12"`), unique within its section.
    pub row: String,
    /// Number of seats in the row, numbered from 1.
    pub seats: u32,
}

/// A priced block of rows of a venue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VenueSection {
    /// Operator-chosen short id, unique within the venue.
    pub section_id: String,
    /// Display name.
    pub name: String,
    /// Operator's price category label (`"PREMIUM"`).
    pub price_category: String,
    /// Price of each seat, in minor units of `currency`.
    #[serde(rename = "price")]
    pub price_minor: i64,
    /// ISO 4217 code; every section of a venue uses the same one.
    pub currency: String,
    /// Rows in display order (front to back).
    pub rows: Vec<VenueRow>,
}

/// Body of `POST /v1/admin/venues`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewVenue {
    /// Display name.
    pub name: String,
    /// City the venue is in.
    pub city: String,
    /// Sections in display order.
    pub sections: Vec<VenueSection>,
}

/// A stored venue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Venue {
    /// Id.
    pub venue_id: VenueId,
    /// Display name.
    pub name: String,
    /// City.
    pub city: String,
    /// Sections in display order.
    pub sections: Vec<VenueSection>,
    /// Sum of all rows' seat counts.
    pub total_seats: u32,
}

impl Venue {
    /// The one currency of the venue (validated at creation).
    pub fn currency(&self) -> &str {
        self.sections.first().map_or("", |s| s.currency.as_str())
    }

    /// The cheapest section price in minor units.
    pub fn min_price_minor(&self) -> i64 {
        self.sections
            .iter()
            .map(|s| s.price_minor)
            .min()
            .unwrap_or(0)
    }
}

/// Body of `POST /v1/admin/events`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewEvent {
    /// Title, searched with the description.
    pub title: String,
    /// Description.
    pub description: String,
    /// Category.
    pub category: Category,
    /// City.
    pub city: String,
    /// Venue the event plays at.
    pub venue_id: VenueId,
    /// First date of the run.
    pub start_date: NaiveDate,
    /// Last date of the run (inclusive, not before `start_date`).
    pub end_date: NaiveDate,
    /// Poster image URL.
    #[serde(default)]
    pub poster_url: Option<String>,
}

/// A stored event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Id.
    pub event_id: EventId,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Category.
    pub category: Category,
    /// City.
    pub city: String,
    /// Venue.
    pub venue_id: VenueId,
    /// Venue name, copied at creation so listings need no join.
    pub venue_name: String,
    /// First date of the run.
    pub start_date: NaiveDate,
    /// Last date of the run (inclusive).
    pub end_date: NaiveDate,
    /// Poster image URL.
    pub poster_url: Option<String>,
}

impl Event {
    /// The listing form of this event.
    pub fn summary(&self) -> EventSummary {
        EventSummary {
            event_id: self.event_id,
            title: self.title.clone(),
            category: self.category,
            city: self.city.clone(),
            venue_id: self.venue_id,
            venue_name: self.venue_name.clone(),
            start_date: self.start_date,
            end_date: self.end_date,
            poster_url: self.poster_url.clone(),
        }
    }

    /// Whether the event runs on `date` (`start_date <= date <= end_date`).
    pub fn runs_on(&self, date: NaiveDate) -> bool {
        self.start_date <= date && date <= self.end_date
    }
}

/// The contract's EventSummary: an event in a search result page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventSummary {
    /// Id.
    pub event_id: EventId,
    /// Title.
    pub title: String,
    /// Category.
    pub category: Category,
    /// City.
    pub city: String,
    /// Venue.
    pub venue_id: VenueId,
    /// Venue name.
    pub venue_name: String,
    /// First date of the run.
    pub start_date: NaiveDate,
    /// Last date of the run.
    pub end_date: NaiveDate,
    /// Poster image URL.
    pub poster_url: Option<String>,
}

/// The contract's Event: summary fields plus description and the event's shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventDetail {
    /// The event.
    #[serde(flatten)]
    pub event: Event,
    /// Its shows ordered by show time, with status as of the read.
    pub shows: Vec<ShowView>,
}

/// Waiting-room settings of a show (`waitingRoom` in create-show, body of
/// `PUT /v1/admin/shows/{id}/waiting-room`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitingRoom {
    /// Whether buyers must queue for admission.
    pub enabled: bool,
    /// Admission pace (1..=1,000,000 when enabled).
    #[serde(default)]
    pub admit_per_minute: u32,
    /// Proof-of-work difficulty to join (1..=32); `None` means no challenge.
    #[serde(default)]
    pub challenge_bits: Option<u8>,
}

impl WaitingRoom {
    /// No waiting room: the default for every show.
    pub const OFF: WaitingRoom = WaitingRoom {
        enabled: false,
        admit_per_minute: 0,
        challenge_bits: None,
    };
}

impl Default for WaitingRoom {
    fn default() -> Self {
        WaitingRoom::OFF
    }
}

/// Body of `POST /v1/admin/events/{eventId}/shows`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewShow {
    /// When the show starts.
    pub show_time: DateTime<Utc>,
    /// When sales open; absent means at once.
    #[serde(default)]
    pub sale_opens_at: Option<DateTime<Utc>>,
    /// Waiting-room settings; absent means off.
    #[serde(default)]
    pub waiting_room: Option<WaitingRoom>,
}

/// A stored show: the catalog side of one performance (seat state lives in the pipeline).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Show {
    /// Id; seat ids derive from it.
    pub show_id: ShowId,
    /// Event.
    pub event_id: EventId,
    /// Venue whose layout the show uses.
    pub venue_id: VenueId,
    /// When the show starts.
    pub show_time: DateTime<Utc>,
    /// When sales open; `None` means on sale since creation.
    pub sale_opens_at: Option<DateTime<Utc>>,
    /// Seats in the layout.
    pub total_seats: u32,
    /// Seats AVAILABLE as of the latest applied seat change (the projection).
    pub available_seats: u32,
    /// Seat version the `available_seats` count reflects (0 = as created).
    pub seats_version: u64,
    /// Cheapest seat price in minor units.
    #[serde(rename = "minPrice")]
    pub min_price_minor: i64,
    /// ISO 4217 code of every price of the show.
    pub currency: String,
    /// Waiting-room settings.
    pub waiting_room: WaitingRoom,
}

impl Show {
    /// Status as of `now` (see [`show_status`]).
    pub fn status(&self, now: DateTime<Utc>) -> ShowStatus {
        show_status(
            now,
            self.sale_opens_at,
            self.show_time,
            self.available_seats,
            self.waiting_room.enabled,
        )
    }

    /// The contract's Show object as of `now`.
    pub fn view(&self, now: DateTime<Utc>) -> ShowView {
        ShowView {
            show_id: self.show_id,
            event_id: self.event_id,
            venue_id: self.venue_id,
            show_time: self.show_time,
            sale_opens_at: self.sale_opens_at,
            total_seats: self.total_seats,
            available_seats: self.available_seats,
            status: self.status(now),
            min_price: self.min_price_minor,
            currency: self.currency.clone(),
            waiting_room: self.waiting_room,
        }
    }
}

/// The contract's Show object (`GET /v1/events/{id}` and the show admin endpoints).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShowView {
    /// Id.
    pub show_id: ShowId,
    /// Event.
    pub event_id: EventId,
    /// Venue.
    pub venue_id: VenueId,
    /// Start time.
    pub show_time: DateTime<Utc>,
    /// Sale opening time, `null` when on sale since creation.
    pub sale_opens_at: Option<DateTime<Utc>>,
    /// Seats in the layout.
    pub total_seats: u32,
    /// Seats currently AVAILABLE.
    pub available_seats: u32,
    /// Status as of the read.
    pub status: ShowStatus,
    /// Cheapest price in minor units.
    pub min_price: i64,
    /// Currency.
    pub currency: String,
    /// Waiting-room settings (an addition to the contract's fields).
    pub waiting_room: WaitingRoom,
}

/// Search filters and paging for `GET /v1/events`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct EventQuery {
    /// City, matched case-insensitively and exactly (`"new york"` matches `"New York"`).
    pub city: Option<String>,
    /// Category.
    pub category: Option<Category>,
    /// Events running on this date.
    pub date: Option<NaiveDate>,
    /// Full-text query over title and description: stemmed, case-insensitive, ranked.
    pub query: Option<String>,
    /// Page number from 1.
    pub page: u32,
    /// Page size, 1..=100.
    pub limit: u32,
}

/// One page of a list, as the contract shapes lists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Page number from 1.
    pub page: u32,
    /// Page size asked for.
    pub limit: u32,
    /// Number of matching items over all pages.
    pub total: u64,
}
