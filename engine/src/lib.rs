//! The seat engine: a pure per-show state machine that decides every hold, confirm, release,
//! expiry, cancellation, check-in and seat block of one show.
//!
//! # Layout
//! - [`state`]: [`ShowState`], the show's state in flat form (a `u32` word per seat, holds and
//!   bookings in slot vectors), and the read views the API serves ([`HoldView`],
//!   [`BookingView`], seat statuses, sections, prices).
//! - [`decide`]: [`ShowState::decide`] and one function per command; [`Decision`], [`Origin`],
//!   [`refund_percent`].
//! - [`rows`]: persistence as rows of the show's partition: [`ShowState::take_dirty`],
//!   [`ShowState::snapshot`], [`ShowState::restore`], [`StateRow`], [`RowChange`], [`RowKey`].
//! - `memory`: the idempotency memory (outcomes by command id, pruned in time order).
//! - `hash`: the fast hasher of the id-keyed maps.
//! - `index`: the id -> slot index of holds, bookings and outcomes (slots only, no key copies).
//! - `chunked`: the chunked sequence holds, bookings and remembered outcomes live in.
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

mod chunked;
pub mod decide;
mod hash;
mod index;
mod memory;
pub mod rows;
pub mod state;

pub use decide::{Decision, Origin, refund_percent};
pub use memory::OUTCOME_RETENTION_MS;
pub use rows::{
    BookingRow, CancellationRow, CheckInRow, HoldRow, MetaRow, OutcomeRow, RestoreError, RowChange,
    RowError, RowKey, RowKind, SeatRow, SectionRow, StateRow, StoredOutcome,
};
pub use state::{
    BookingStatus, BookingView, HoldStatus, HoldView, MAX_SEATS, Section, ShowState, TicketStatus,
    TicketView,
};

use schemas::{BookingId, SeatId, TicketId};

/// The ticket of `seat` in `booking`: a name-based UUID (v5) in the booking's namespace, so every
/// service derives the same id without a lookup.
pub fn ticket_id(booking: BookingId, seat: SeatId) -> TicketId {
    TicketId(uuid::Uuid::new_v5(&booking.0, seat.0.as_bytes()))
}
