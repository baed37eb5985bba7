//! Wire types that cross process boundaries: commands, events and replies with an explicit schema
//! version, serialized with rmp-serde (compact, struct-as-array encoding).
//!
//! # Layout
//! - [`ids`]: newtype ids (`ShowId`, `SeatId`, `HoldId`, ...), UUIDs on the wire.
//! - [`layout`]: the seat layout a show is created from (sections, rows, seats, prices).
//! - [`command`]: [`CommandEnvelope`] and the imperative [`Command`]s the partition loop applies;
//!   [`CommandBatch`], several commands of one show logged as one message.
//! - [`event`]: past-tense [`Event`]s the seat engine emits, and the seat-change delta for viewers.
//! - [`reply`]: the [`Reply`] a requester receives: accepted events or a named [`Rejection`].
//! - [`codec`]: `encode`/`decode` with rmp-serde; the only place the encoding is chosen.
//!
//! A request flows: ingress builds a `CommandEnvelope` -> log -> partition loop -> engine decides
//! -> `Reply` back to the ingress, `Event`s out to the seat and booking streams.
//! The crate holds data only: no logic, no tokio.

pub mod codec;
pub mod command;
pub mod event;
pub mod ids;
pub mod layout;
pub mod reply;

pub use codec::{CodecError, decode, encode};
pub use command::{
    BatchedCommand, Command, CommandBatch, CommandEnvelope, Fingerprint, HoldLimits,
};
pub use event::{Event, SeatChange, SeatDelta, SeatStatus, ShowEvent, ShowFacts};
pub use ids::{
    BookingId, CommandId, EventId, HoldId, SeatId, ShowId, TicketId, UnixMs, UserId, VenueId,
};
pub use layout::{RowLayout, SeatLayout, SectionLayout, ShowLayout};
pub use reply::{NotCancellableReason, Outcome, Rejection, Reply};

/// Version of the wire schema written into every envelope. Bump it only with a decoder that still
/// reads every older version (golden-bytes tests pin the old encodings).
pub const SCHEMA_VERSION: u16 = 1;
