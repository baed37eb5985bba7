//! Builders shared by the catalog suites.

#![allow(dead_code)]

use catalog::{Category, NewEvent, NewVenue, VenueRow, VenueSection};
use chrono::NaiveDate;
use schemas::VenueId;

/// A section of `rows` rows with `seats` seats each.
pub fn section(id: &str, price_minor: i64, currency: &str, rows: u32, seats: u32) -> VenueSection {
    VenueSection {
        section_id: id.to_owned(),
        name: format!("Section {id}"),
        price_category: format!("CAT-{id}"),
        price_minor,
        currency: currency.to_owned(),
        rows: (0..rows)
            .map(|r| VenueRow {
                row: format!("R{}", r + 1),
                seats,
            })
            .collect(),
    }
}

/// A two-section venue (2x5 at 5000, 3x4 at 2500) in `city`: 22 seats.
pub fn small_venue(city: &str) -> NewVenue {
    NewVenue {
        name: format!("{city} Hall"),
        city: city.to_owned(),
        sections: vec![
            section("A", 5_000, "USD", 2, 5),
            section("B", 2_500, "USD", 3, 4),
        ],
    }
}

/// Parses `YYYY-MM-DD`.
pub fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("test date")
}

/// An event at `venue`.
pub fn event(
    venue: VenueId,
    city: &str,
    title: &str,
    description: &str,
    category: Category,
    start: &str,
    end: &str,
) -> NewEvent {
    NewEvent {
        title: title.to_owned(),
        description: description.to_owned(),
        category,
        city: city.to_owned(),
        venue_id: venue,
        start_date: date(start),
        end_date: date(end),
        poster_url: None,
    }
}
