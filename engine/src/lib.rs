//! The seat engine: a pure per-show state machine that decides every hold, confirm, release,
//! expiry, cancellation, check-in and seat block of one show.
//!
//! # Layout
//! - [`state`]: [`ShowState`], the show's state in flat form (a `u32` word per seat: available,
//!   blocked, or the slot of the hold that holds or booked it; holds and bookings in slots), and
//!   the read views the API serves ([`HoldView`], [`BookingView`], seat statuses, sections,
//!   prices).
//! - [`decide`]: [`ShowState::decide`] and one function per command; [`Decision`], [`Origin`],
//!   [`refund_percent`]; [`ShowState::recall`] and [`Recalled`] for redelivered commands.
//! - [`rows`]: persistence as rows of the show's partition: [`ShowState::take_dirty`],
//!   [`ShowState::snapshot`], [`ShowState::restore`], [`StateRow`], [`RowChange`], [`RowKey`].
//! - `memory`: the idempotency memory (outcomes by command id, pruned in time order).
//! - `hash`: the fast hasher of the id-keyed maps.
//! - `index`: the id -> slot index of holds, bookings and outcomes (slots only, no key copies).
//! - `chunked`: the chunked sequence holds, bookings, users and remembered outcomes live in.
//! - `users`: buyers interned as `u32` numbers, with their per-user tallies.
//! - `arena`: the string arena of payment references.
//! - `packed`: stream times as two `u32` halves, so records stay 4-aligned.
//!
//! # How a command flows
//! The partition loop hands each command with its stream timestamp to
//! `decide(&envelope, now)`. The engine forgets outcomes older than [`OUTCOME_RETENTION_MS`],
//! expires every hold due by `now` (so a lapsed hold is lapsed for this very command even if no
//! `Expire` command reached it yet), answers a known command id from memory, or else checks the
//! command, applies it and remembers its outcome. The loop then collects
//! [`ShowState::take_dirty`] for its conditional batch, publishes `Decision::seat_changes` and
//! the events, replies with `Decision::outcome`, and schedules the next `Expire` at
//! [`ShowState::next_expiry`].
//!
//! No IO, no clock, no randomness: time and ids arrive inside commands, so replaying the same
//! commands always yields the same state and the same decisions.
//!
//! # Rows
//! One partition per show, `(kind, id) -> body` ([`RowKind`] codes: 0 seat, 1 hold, 2 booking,
//! 3 outcome, 4 metadata with the nil id). A hold writes its hold row and its outcome row; a
//! confirm its hold, booking and outcome rows; seat rows are written only when an operator blocks
//! or unblocks a seat (held and booked seats are implied by hold and booking rows). Pruned
//! outcomes come out as [`RowChange::Delete`] (a store may instead let them expire with a TTL
//! of at least [`OUTCOME_RETENTION_MS`]). `restore(all rows)` rebuilds every derived index and
//! decides every later command exactly as the original would.
//!
//! # Choices the contract leaves open
//! - Commands on a show that does not exist answer `UnknownShow` and are not remembered
//!   ([`Origin::Unrecorded`]); so is `CommandIdReused`.
//! - Releasing an expired or released hold answers `HoldExpired` / `HoldReleased` (it changed
//!   nothing); the API answers `204` for both.
//! - A `Hold` naming an existing hold id, or a `Confirm` naming an existing booking id, is
//!   rejected as `CommandIdReused`: those ids derive from command ids.
//! - Check-in of a ticket whose booking is unknown answers `TicketNotFound`.
//! - Blocking already blocked seats and unblocking available ones are no-ops; the events list
//!   only the seats that changed.
//! - Hold rejections follow the contract's order: request shape (`NoSeats`, `DuplicateSeats`,
//!   `TooManySeats`), `UnknownShow`, `UnknownSeats`, `SaleNotOpen` / `ShowStarted`,
//!   `TicketLimitExceeded`, `HoldLimitExceeded`, `SeatsUnavailable` (in request order).
//! - Outcomes are remembered for [`OUTCOME_RETENTION_MS`] (25 h: the contract's 24 h plus an hour
//!   of clock skew between the ingress and the stream).

mod arena;
mod chunked;
pub mod decide;
mod hash;
mod index;
mod memory;
mod packed;
pub mod rows;
pub mod state;
mod users;

pub use decide::{Decision, LATE_PLACEMENT_WINDOW_MS, Origin, Recalled, refund_percent};
pub use memory::OUTCOME_RETENTION_MS;
pub use rows::{
    BookingRow, CancellationRow, CheckInRow, HoldRow, MetaRow, OutcomeRow, RestoreError, RowChange,
    RowError, RowKey, RowKind, SeatRow, SectionRow, StateRow, StoredOutcome,
};
pub use state::{
    BookingStatus, BookingView, HoldStatus, HoldView, MAX_SEATS, MemoryUsage, Section, ShowState,
    TicketStatus, TicketView,
};

use schemas::{BookingId, SeatId, TicketId};

/// The ticket of `seat` in `booking`: a name-based UUID (v5) in the booking's namespace, so every
/// service derives the same id without a lookup.
pub fn ticket_id(booking: BookingId, seat: SeatId) -> TicketId {
    TicketId(uuid::Uuid::new_v5(&booking.0, seat.0.as_bytes()))
}
