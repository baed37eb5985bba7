//! Seat layouts: the `schemas::ShowLayout` a show is created from (stable seat ids, drawing
//! coordinates) and the read-optimised [`SeatMap`] the seat-map endpoint and booking details use.
//!
//! Drawing: seats sit on a grid of [`SEAT_PITCH_X`] by [`ROW_PITCH_Y`] units, every row centred on
//! the widest row of the venue, rows stacked front to back, sections stacked in display order with a
//! [`SECTION_GAP_Y`] aisle between them; the stage is above `y = 0`. Drawn as an SVG with one
//! circle per seat and a `viewBox` of `0 0 width height`, it looks like an auditorium.

use std::sync::Arc;

use schemas::{EventId, RowLayout, SeatId, SeatLayout, SectionLayout, ShowId, ShowLayout, VenueId};

use crate::model::Venue;

/// Horizontal distance between neighbouring seats, in layout units.
pub const SEAT_PITCH_X: i32 = 10;
/// Vertical distance between neighbouring rows.
pub const ROW_PITCH_Y: i32 = 12;
/// Extra vertical gap between sections.
pub const SECTION_GAP_Y: i32 = 24;
/// Empty border around the drawing.
pub const MARGIN: i32 = 10;

/// Builds the layout of a show at `venue`: seat ids `SeatId::derive(show_id, index)` in layout order
/// (sections, then rows, then seats), seat numbers from 1, drawing coordinates.
pub fn build_show_layout(show_id: ShowId, venue: &Venue) -> ShowLayout {
    let widest = venue
        .sections
        .iter()
        .flat_map(|s| s.rows.iter().map(|r| r.seats))
        .max()
        .unwrap_or(0);
    let mut index: u32 = 0;
    let mut row_counter: i32 = 0;
    let mut sections = Vec::with_capacity(venue.sections.len());
    for (section_no, section) in venue.sections.iter().enumerate() {
        let gap = SECTION_GAP_Y * i32::try_from(section_no).unwrap_or(i32::MAX / 2);
        let mut rows = Vec::with_capacity(section.rows.len());
        for row in &section.rows {
            let y = MARGIN + row_counter * ROW_PITCH_Y + gap;
            let indent = seat_units(widest - row.seats) * SEAT_PITCH_X / 2;
            let seats = (0..row.seats)
                .map(|k| {
                    let seat = SeatLayout {
                        seat_id: SeatId::derive(show_id, index),
                        number: k + 1,
                        x: MARGIN + indent + seat_units(k) * SEAT_PITCH_X,
                        y,
                    };
                    index += 1;
                    seat
                })
                .collect();
            rows.push(RowLayout {
                row: row.row.clone(),
                seats,
            });
            row_counter += 1;
        }
        sections.push(SectionLayout {
            section_id: section.section_id.clone(),
            name: section.name.clone(),
            price_category: section.price_category.clone(),
            price_minor: section.price_minor,
            rows,
        });
    }
    ShowLayout {
        currency: venue.currency().to_owned(),
        sections,
    }
}

/// Seat counts are validated to a few thousand per row, so they always fit.
fn seat_units(count: u32) -> i32 {
    i32::try_from(count).unwrap_or(i32::MAX / SEAT_PITCH_X)
}

/// One seat of a seat map: id, row (an index into its section's `rows`), number and position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeatMapSeat {
    /// Stable id.
    pub seat_id: SeatId,
    /// Index into [`SeatMapSection::rows`].
    pub row_index: u32,
    /// Number within the row, from 1.
    pub number: u32,
    /// Horizontal position.
    pub x: i32,
    /// Vertical position.
    pub y: i32,
}

/// One priced section of a seat map with its seats in layout order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeatMapSection {
    /// Operator-chosen id.
    pub section_id: String,
    /// Display name.
    pub name: String,
    /// Price category label.
    pub price_category: String,
    /// Price of each seat in minor units of the map's currency.
    pub price_minor: i64,
    /// Layout index of this section's first seat; seat `k` of `seats` has index `first_index + k`.
    pub first_index: u32,
    /// Row labels in display order (shared by the seats through `row_index`).
    pub rows: Vec<Arc<str>>,
    /// Seats in layout order.
    pub seats: Vec<SeatMapSeat>,
}

impl SeatMapSection {
    /// The row label of `seat`.
    pub fn row_of(&self, seat: &SeatMapSeat) -> &str {
        self.rows
            .get(seat.row_index as usize)
            .map_or("", |r| r.as_ref())
    }
}

/// Where a seat is and what it costs: what a booking shows for each seat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeatDetail {
    /// Seat.
    pub seat_id: SeatId,
    /// Layout index (the engine's slot).
    pub index: u32,
    /// Section id (`section` in the contract's booking seats).
    pub section_id: String,
    /// Section display name.
    pub section_name: String,
    /// Price category label.
    pub price_category: String,
    /// Row label.
    pub row: String,
    /// Number within the row.
    pub number: u32,
    /// Price in minor units.
    pub price_minor: i64,
    /// Horizontal position.
    pub x: i32,
    /// Vertical position.
    pub y: i32,
}

/// The immutable seat map of one show, built once and shared (`Arc`). The ingress merges live seat
/// statuses into it by layout index (`first_index + k`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeatMap {
    /// Show.
    pub show_id: ShowId,
    /// The show's event (a seat map is addressed under it).
    pub event_id: EventId,
    /// Venue.
    pub venue_id: VenueId,
    /// Venue name.
    pub venue_name: String,
    /// Currency of every price.
    pub currency: String,
    /// Drawing width in layout units.
    pub width: i32,
    /// Drawing height in layout units.
    pub height: i32,
    /// Seats in the show.
    pub total_seats: u32,
    /// Sections in display order.
    pub sections: Vec<SeatMapSection>,
    /// The show's seat at index 0: its id prefix maps other ids back to indices in O(1).
    seat0: SeatId,
}

impl SeatMap {
    /// Builds the map from a show's layout.
    pub fn new(
        show_id: ShowId,
        event_id: EventId,
        venue_id: VenueId,
        venue_name: &str,
        layout: &ShowLayout,
    ) -> SeatMap {
        let mut first_index = 0u32;
        let (mut width, mut height) = (0, 0);
        let sections = layout
            .sections
            .iter()
            .map(|s| {
                let rows: Vec<Arc<str>> =
                    s.rows.iter().map(|r| Arc::from(r.row.as_str())).collect();
                let seats: Vec<SeatMapSeat> = s
                    .rows
                    .iter()
                    .enumerate()
                    .flat_map(|(row_index, r)| {
                        let row_index = u32::try_from(row_index).unwrap_or(u32::MAX);
                        r.seats.iter().map(move |seat| SeatMapSeat {
                            seat_id: seat.seat_id,
                            row_index,
                            number: seat.number,
                            x: seat.x,
                            y: seat.y,
                        })
                    })
                    .collect();
                for seat in &seats {
                    width = width.max(seat.x + SEAT_PITCH_X + MARGIN);
                    height = height.max(seat.y + ROW_PITCH_Y + MARGIN);
                }
                let section = SeatMapSection {
                    section_id: s.section_id.clone(),
                    name: s.name.clone(),
                    price_category: s.price_category.clone(),
                    price_minor: s.price_minor,
                    first_index,
                    rows,
                    seats,
                };
                first_index += u32::try_from(section.seats.len()).unwrap_or(u32::MAX);
                section
            })
            .collect();
        SeatMap {
            show_id,
            event_id,
            venue_id,
            venue_name: venue_name.to_owned(),
            currency: layout.currency.clone(),
            width,
            height,
            total_seats: first_index,
            sections,
            seat0: SeatId::derive(show_id, 0),
        }
    }

    /// Layout index of `seat_id` if it belongs to this show and exists.
    pub fn index_of(&self, seat_id: SeatId) -> Option<u32> {
        seat_id
            .index_with_prefix(&self.seat0)
            .filter(|i| *i < self.total_seats)
    }

    /// Details of one seat by id, `None` if the id is not a seat of this show. O(log sections).
    pub fn seat(&self, seat_id: SeatId) -> Option<SeatDetail> {
        self.seat_at(self.index_of(seat_id)?)
    }

    /// Details of the seat at layout `index`.
    pub fn seat_at(&self, index: u32) -> Option<SeatDetail> {
        let after = self.sections.partition_point(|s| s.first_index <= index);
        let section = self.sections.get(after.checked_sub(1)?)?;
        let seat = section.seats.get((index - section.first_index) as usize)?;
        Some(SeatDetail {
            seat_id: seat.seat_id,
            index,
            section_id: section.section_id.clone(),
            section_name: section.name.clone(),
            price_category: section.price_category.clone(),
            row: section.row_of(seat).to_owned(),
            number: seat.number,
            price_minor: section.price_minor,
            x: seat.x,
            y: seat.y,
        })
    }

    /// Every seat with its layout index and section, in layout order.
    pub fn seats(&self) -> impl Iterator<Item = (u32, &SeatMapSection, &SeatMapSeat)> {
        self.sections.iter().flat_map(|section| {
            section
                .seats
                .iter()
                .zip(section.first_index..)
                .map(move |(seat, index)| (index, section, seat))
        })
    }
}
