//! The demo catalog `boxoffice dev` starts with: four cities, all four categories, venues from 100
//! to 50,000 seats, shows from today over the coming weeks. Titles and descriptions are invented
//! but read like real listings, so search has something to find. The listings are data, in
//! `demo_catalog.json`; this module turns them into venues, events and shows.

use chrono::{DateTime, Duration, NaiveTime, Timelike, Utc};
use serde::Deserialize;

use crate::error::StoreError;
use crate::model::{Category, NewEvent, NewShow, NewVenue, VenueRow, VenueSection};
use crate::{Catalog, CatalogError, CreatedShow};

/// The listings themselves: data, not code, so that changing the demo never touches the loop
/// below. Venues are created in file order, then their events in file order.
const DEMO_CATALOG_JSON: &str = include_str!("demo_catalog.json");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoCatalog {
    venues: Vec<DemoVenue>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoVenue {
    name: String,
    city: String,
    currency: String,
    sections: Vec<DemoSection>,
    /// Events at this venue (in this venue's city).
    events: Vec<DemoEvent>,
}

/// One priced block of identical rows.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DemoSection {
    id: String,
    name: String,
    price_category: String,
    /// Minor units of the venue's currency.
    price: i64,
    rows: u32,
    seats_per_row: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DemoEvent {
    title: String,
    description: String,
    category: Category,
    /// Days from today of each show; the first (0) is a few hours from `now`.
    show_days: Vec<i64>,
    /// Sales open this many hours from `now` (absent: on sale at once).
    #[serde(default)]
    sale_opens_in_hours: Option<i64>,
}

/// The built-in demo listings.
fn demo_catalog() -> Result<DemoCatalog, CatalogError> {
    serde_json::from_str(DEMO_CATALOG_JSON).map_err(|e| {
        CatalogError::Store(StoreError::Fatal(format!(
            "the built-in demo catalog (demo_catalog.json) does not parse: {e}"
        )))
    })
}

/// Seeds the demo catalog if the catalog has no venue yet; returns the shows created (empty when
/// the catalog already had data). The caller sends each layout to the pipeline as
/// `Command::CreateShow`.
pub async fn demo(catalog: &Catalog, now: DateTime<Utc>) -> Result<Vec<CreatedShow>, CatalogError> {
    if !catalog.store().is_empty().await? {
        return Ok(Vec::new());
    }
    let demo = demo_catalog()?;
    let mut venues = Vec::with_capacity(demo.venues.len());
    for v in &demo.venues {
        venues.push(catalog.create_venue(new_venue(v)).await?);
    }
    let today = now.date_naive();
    let mut created = Vec::new();
    for (v, venue) in demo.venues.iter().zip(&venues) {
        for e in &v.events {
            let last_day = e.show_days.iter().copied().max().unwrap_or(0);
            let event = catalog
                .create_event(NewEvent {
                    title: e.title.clone(),
                    description: e.description.clone(),
                    category: e.category,
                    city: venue.city.clone(),
                    venue_id: venue.venue_id,
                    start_date: today,
                    end_date: today + Duration::days(last_day.max(1)),
                    poster_url: None,
                })
                .await?;
            for day in &e.show_days {
                let show = NewShow {
                    show_time: show_time(now, *day),
                    sale_opens_at: e.sale_opens_in_hours.map(|h| now + Duration::hours(h)),
                    waiting_room: None,
                };
                created.push(catalog.create_show(event.event_id, show).await?);
            }
        }
    }
    Ok(created)
}

fn new_venue(v: &DemoVenue) -> NewVenue {
    NewVenue {
        name: v.name.clone(),
        city: v.city.clone(),
        sections: v
            .sections
            .iter()
            .map(|s| VenueSection {
                section_id: s.id.clone(),
                name: s.name.clone(),
                price_category: s.price_category.clone(),
                price_minor: s.price,
                currency: v.currency.clone(),
                rows: (0..s.rows)
                    .map(|r| VenueRow {
                        row: row_label(r),
                        seats: s.seats_per_row,
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Rows are lettered A..Z, then AA, AB, ... like theatres do.
fn row_label(index: u32) -> String {
    let letter = |i: u32| char::from(b'A' + u8::try_from(i % 26).unwrap_or(0));
    if index < 26 {
        letter(index).to_string()
    } else {
        format!("{}{}", letter(index / 26 - 1), letter(index))
    }
}

/// Day 0: a few hours from now, on the half hour, so "today" has a show still on sale. Later
/// days: 19:30 UTC.
fn show_time(now: DateTime<Utc>, day: i64) -> DateTime<Utc> {
    if day == 0 {
        let later = now + Duration::hours(3);
        let minute = if later.minute() < 30 { 30 } else { 60 };
        let hour_start = later
            .with_minute(0)
            .and_then(|t| t.with_second(0))
            .and_then(|t| t.with_nanosecond(0))
            .unwrap_or(later);
        hour_start + Duration::minutes(i64::from(minute))
    } else {
        let date = now.date_naive() + Duration::days(day);
        let evening = NaiveTime::from_hms_opt(19, 30, 0).unwrap_or_default();
        date.and_time(evening).and_utc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_labels_run_past_z() {
        assert_eq!(row_label(0), "A");
        assert_eq!(row_label(25), "Z");
        assert_eq!(row_label(26), "AA");
        assert_eq!(row_label(27), "AB");
        assert_eq!(row_label(51), "AZ");
        assert_eq!(row_label(52), "BA");
    }

    #[test]
    fn demo_venues_span_100_to_50000_seats() {
        let demo = demo_catalog().expect("the demo catalog parses");
        let sizes: Vec<u32> = demo
            .venues
            .iter()
            .map(|v| v.sections.iter().map(|s| s.rows * s.seats_per_row).sum())
            .collect();
        assert_eq!(sizes.iter().min(), Some(&100));
        assert_eq!(sizes.iter().max(), Some(&50_000));
        assert_eq!(
            demo.venues.iter().map(|v| v.events.len()).sum::<usize>(),
            16
        );
    }
}
