//! The seat layout a show is created from. Seat ids are chosen by the creator (the ingress derives
//! them deterministically) so they are stable across replays.

use serde::{Deserialize, Serialize};

use crate::ids::SeatId;

/// All sellable places of one show, grouped by priced section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShowLayout {
    /// ISO 4217 code shared by every price of the show.
    pub currency: String,
    /// Sections in display order.
    pub sections: Vec<SectionLayout>,
}

/// A priced block of rows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionLayout {
    /// Operator-chosen short id (`"A"`, `"BALC"`).
    pub section_id: String,
    /// Display name.
    pub name: String,
    /// Operator's price category label.
    pub price_category: String,
    /// Price of each seat in minor units of the show currency.
    pub price_minor: i64,
    /// Rows in display order.
    pub rows: Vec<RowLayout>,
}

/// One row of seats.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowLayout {
    /// Operator-chosen row label (`"A"`, `"R12"`).
    pub row: String,
    /// Seats in display order.
    pub seats: Vec<SeatLayout>,
}

/// One seat: its stable id, number within the row, and drawing position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatLayout {
    /// Stable seat id.
    pub seat_id: SeatId,
    /// Seat number within the row, from 1.
    pub number: u32,
    /// Horizontal position on the drawn map, in layout units.
    pub x: i32,
    /// Vertical position on the drawn map, in layout units.
    pub y: i32,
}
