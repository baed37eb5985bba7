//! Replies: what a requester learns about its command. Rejections are values named as facts.

use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::ids::{BookingId, CommandId, SeatId, ShowId, UnixMs};

/// The decision on one command, sent to the requester's reply subject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// Schema version.
    pub schema: u16,
    /// The command decided.
    pub command_id: CommandId,
    /// Its show.
    pub show_id: ShowId,
    /// Show version once the command was decided (unchanged by a rejection). A command answered
    /// again from the engine's memory (a retry with the same command id) carries the show's
    /// version at the time of the retry, not the one right after its first decision: the memory
    /// keeps outcomes, not versions, and a retry only needs a version at least as new as its
    /// own effects.
    pub version: u64,
    /// Accepted with events, or rejected.
    pub outcome: Outcome,
}

/// Accepted (with the events the command produced) or rejected (with why).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The command took effect.
    Accepted(Vec<Event>),
    /// The command changed nothing.
    Rejected(Rejection),
}

/// Why a booking can no longer be cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NotCancellableReason {
    /// It was cancelled before.
    AlreadyCancelled,
    /// A ticket of it was checked in.
    CheckedIn,
    /// The show has started.
    ShowStarted,
}

/// Why a command changed nothing. For a hold, when several apply, the engine reports the first in
/// the contract's order: request shape, unknown show/seat, sale not open, limits, unavailable seats.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rejection {
    /// The show does not exist (no `CreateShow` applied).
    UnknownShow,
    /// `CreateShow` for a show that exists.
    ShowAlreadyExists,
    /// The layout of a `CreateShow` is unusable (no seats, duplicate seat ids, ...).
    InvalidLayout {
        /// What is wrong.
        detail: String,
    },
    /// A hold or block named no seats.
    NoSeats,
    /// A seat appears twice in one request.
    DuplicateSeats {
        /// The repeated seats.
        seat_ids: Vec<SeatId>,
    },
    /// More seats than one hold may take.
    TooManySeats {
        /// The limit.
        max: u16,
    },
    /// Seats not in the show.
    UnknownSeats {
        /// The unknown seats.
        seat_ids: Vec<SeatId>,
    },
    /// Sales have not opened yet.
    SaleNotOpen {
        /// When they open.
        opens_at: UnixMs,
    },
    /// The show has started; no more holds.
    ShowStarted,
    /// The user would own more seats of this show than allowed.
    TicketLimitExceeded {
        /// The limit.
        limit: u16,
    },
    /// The user has too many active holds on this show.
    HoldLimitExceeded {
        /// The limit.
        limit: u16,
    },
    /// Seats held, booked or blocked.
    SeatsUnavailable {
        /// The unavailable seats, in request order.
        seat_ids: Vec<SeatId>,
    },
    /// No such hold.
    HoldNotFound,
    /// The hold belongs to someone else.
    NotHoldOwner,
    /// The hold lapsed before the command.
    HoldExpired,
    /// The owner released the hold.
    HoldReleased,
    /// The hold was confirmed already.
    HoldAlreadyConfirmed {
        /// The booking it became.
        booking_id: BookingId,
    },
    /// No such booking.
    BookingNotFound,
    /// The booking belongs to someone else.
    NotBookingOwner,
    /// The booking can no longer be cancelled.
    BookingNotCancellable {
        /// Why not.
        reason: NotCancellableReason,
    },
    /// The ticket does not belong to a seat of this booking.
    TicketNotFound,
    /// The ticket was admitted before.
    AlreadyCheckedIn {
        /// When.
        at: UnixMs,
        /// At which gate.
        gate: Option<String>,
    },
    /// The ticket's booking was cancelled.
    TicketCancelled,
    /// Blocking seats that are held or booked.
    SeatsNotBlockable {
        /// The held or booked seats.
        seat_ids: Vec<SeatId>,
    },
    /// The command id was used before for a different request.
    CommandIdReused,
}
