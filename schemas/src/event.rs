//! Events: past-tense facts the seat engine emits, and the compact seat delta viewers receive.

use serde::{Deserialize, Serialize};

use crate::ids::{BookingId, HoldId, SeatId, ShowId, TicketId, UnixMs, UserId};

/// A fact about one show, as decided by the engine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// The show's seats exist.
    ShowCreated {
        /// Number of seats in the layout.
        total_seats: u32,
    },
    /// Seats were claimed.
    Held {
        /// New hold.
        hold_id: HoldId,
        /// Holder.
        user: UserId,
        /// Seats held.
        seats: Vec<SeatId>,
        /// When the hold lapses.
        expires_at: UnixMs,
        /// Price locked at hold time, minor units.
        total_minor: i64,
    },
    /// The owner gave a hold back.
    Released {
        /// Released hold.
        hold_id: HoldId,
        /// Seats now available.
        seats: Vec<SeatId>,
    },
    /// A hold lapsed.
    Expired {
        /// Expired hold.
        hold_id: HoldId,
        /// Seats now available.
        seats: Vec<SeatId>,
    },
    /// A hold became a booking.
    Confirmed {
        /// New booking.
        booking_id: BookingId,
        /// The hold it came from.
        hold_id: HoldId,
        /// Buyer.
        user: UserId,
        /// Seats booked.
        seats: Vec<SeatId>,
        /// Amount charged, minor units.
        total_minor: i64,
        /// Payment authorization reference.
        payment_ref: String,
        /// When the booking was made.
        booked_at: UnixMs,
    },
    /// A booking was cancelled and its seats freed.
    Cancelled {
        /// Cancelled booking.
        booking_id: BookingId,
        /// Buyer.
        user: UserId,
        /// Seats now available.
        seats: Vec<SeatId>,
        /// Refund, minor units (rounded down).
        refund_minor: i64,
        /// Refund tier: 100, 50 or 0.
        refund_percent: u8,
        /// Payment authorization reference to refund against.
        payment_ref: String,
    },
    /// A ticket was admitted.
    CheckedIn {
        /// Admitted ticket.
        ticket_id: TicketId,
        /// Its booking.
        booking_id: BookingId,
        /// Its seat.
        seat_id: SeatId,
        /// Gate label.
        gate: Option<String>,
        /// When.
        at: UnixMs,
    },
    /// Seats taken off sale.
    Blocked {
        /// Seats blocked.
        seats: Vec<SeatId>,
    },
    /// Seats put back on sale.
    Unblocked {
        /// Seats unblocked.
        seats: Vec<SeatId>,
    },
}

/// An event with its position in the show's history. The booking stream carries them in
/// [`ShowFacts`] messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShowEvent {
    /// Schema version.
    pub schema: u16,
    /// Show.
    pub show_id: ShowId,
    /// Show version after the command that produced the event.
    pub version: u64,
    /// Stream time of the command.
    pub at: UnixMs,
    /// The fact.
    pub event: Event,
}

/// One message of the booking stream: a show's facts of one partition batch, in decision order.
/// One message per show per batch instead of one per fact: a flash sale's thousands of holds a
/// second cost the stream, the processor and every consumer a message per batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShowFacts {
    /// Schema version.
    pub schema: u16,
    /// Show (every fact's).
    pub show_id: ShowId,
    /// The facts.
    pub facts: Vec<ShowEvent>,
}

impl ShowFacts {
    /// Decode a booking-stream message: a [`ShowFacts`], or a single [`ShowEvent`] as stored
    /// before facts were batched (the stream keeps 30 days).
    pub fn decode_message(bytes: &[u8]) -> Result<Vec<ShowEvent>, crate::CodecError> {
        match crate::decode::<ShowFacts>(bytes) {
            Ok(batch) => Ok(batch.facts),
            Err(batched) => crate::decode::<ShowEvent>(bytes)
                .map(|fact| vec![fact])
                .map_err(|_| batched),
        }
    }
}

/// Status of one seat as viewers see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SeatStatus {
    /// On sale and free.
    Available,
    /// Claimed by an active hold.
    Held,
    /// Sold.
    Booked,
    /// Taken off sale by an operator.
    Blocked,
}

impl SeatStatus {
    /// The public contract's spelling (`AVAILABLE`, `HELD`, ...): one place for the HTTP answers
    /// and the live seat-map frames, which must spell a status alike.
    pub fn contract_name(self) -> &'static str {
        match self {
            SeatStatus::Available => "AVAILABLE",
            SeatStatus::Held => "HELD",
            SeatStatus::Booked => "BOOKED",
            SeatStatus::Blocked => "BLOCKED",
        }
    }
}

/// One seat's new status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatChange {
    /// Seat.
    pub seat_id: SeatId,
    /// Its status after the change.
    pub status: SeatStatus,
}

/// The seat changes of one committed batch of a show, published on the seat stream. Viewers apply
/// it only on top of `from_version`; any other version means they missed something.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatDelta {
    /// Schema version.
    pub schema: u16,
    /// Show.
    pub show_id: ShowId,
    /// Version the delta applies on top of.
    pub from_version: u64,
    /// Version after the delta.
    pub version: u64,
    /// Changed seats (last status per seat).
    pub changes: Vec<SeatChange>,
    /// Stream time of the last command in the batch.
    pub at: UnixMs,
}
