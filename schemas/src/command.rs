//! Commands: imperative requests to change one show's state, applied in stream order.

use serde::{Deserialize, Serialize};

use crate::ids::{BookingId, CommandId, HoldId, SeatId, ShowId, TicketId, UnixMs, UserId};
use crate::layout::ShowLayout;

/// A hash of the request a command was built from (method, path, canonical body). A command id
/// reused with another fingerprint is a different request and is rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fingerprint(pub [u8; 16]);

/// Everything the partition loop needs to apply one command. `now` is NOT here: the loop takes
/// time from the stream (message timestamp) so a replay decides identically.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandEnvelope {
    /// Always [`crate::SCHEMA_VERSION`] when written by this build.
    pub schema: u16,
    /// Idempotency identity of the command.
    pub command_id: CommandId,
    /// Identity of the request behind the command id.
    pub fingerprint: Fingerprint,
    /// The show whose partition applies the command.
    pub show_id: ShowId,
    /// When the requester built the command (informational; decisions use the stream time).
    pub issued_at: UnixMs,
    /// What to do.
    pub command: Command,
}

/// Several commands for ONE show that one requester logs as one message: the ingress publishes
/// whatever arrived for a show while its previous message was being stored (natural batching, so
/// an idle show pays no delay and a hot one pays the log's per-message cost once per batch). The
/// log hands them to the partition loop one by one, in this order, and never splits a message
/// across two of the loop's batches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandBatch {
    /// Always [`crate::SCHEMA_VERSION`] when written by this build.
    pub schema: u16,
    /// The commands, in submission order.
    pub commands: Vec<BatchedCommand>,
}

/// One command of a [`CommandBatch`] and where its requester waits for the decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchedCommand {
    /// The command.
    pub envelope: CommandEnvelope,
    /// The requester's reply address, if anyone waits.
    pub reply_to: Option<String>,
}

/// Limits applied to a hold. They travel with the command so a replay uses the limits that were
/// in force when the command was accepted, not today's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldLimits {
    /// Most seats in one hold (contract: 10).
    pub max_seats_per_hold: u16,
    /// Most seats one user may hold plus own for one show.
    pub max_tickets_per_user: u16,
    /// Most active holds one user may have on one show.
    pub max_holds_per_user: u16,
}

/// An imperative request on one show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Create the show's seat state from a layout.
    CreateShow {
        /// Seats, sections and prices.
        layout: ShowLayout,
        /// When the show starts (cancellation tiers and check-in are measured from it).
        show_time: UnixMs,
        /// Holds before this instant are refused; `None` means on sale at once.
        sale_opens_at: Option<UnixMs>,
    },
    /// Claim all of `seats` for `user` for `ttl_ms`, or none of them.
    Hold {
        /// Id of the hold to create (derived from the command id by the requester).
        hold_id: HoldId,
        /// Who holds.
        user: UserId,
        /// Seats to hold, in request order.
        seats: Vec<SeatId>,
        /// Time to live of the hold in milliseconds.
        ttl_ms: u64,
        /// Limits in force.
        limits: HoldLimits,
    },
    /// The owner gives a hold back.
    Release {
        /// Hold to release.
        hold_id: HoldId,
        /// Who asks.
        user: UserId,
    },
    /// Release every hold due by the stream time of this command.
    Expire,
    /// Turn an active hold into a booking, with a payment authorization reference.
    Confirm {
        /// Hold to confirm.
        hold_id: HoldId,
        /// Who asks (must own the hold).
        user: UserId,
        /// Id of the booking to create (derived from the hold by the requester).
        booking_id: BookingId,
        /// Payment provider's authorization id.
        payment_ref: String,
    },
    /// The owner cancels a confirmed booking; the refund tier is computed from the show time.
    Cancel {
        /// Booking to cancel.
        booking_id: BookingId,
        /// Who asks (must own the booking).
        user: UserId,
        /// Free-text reason given by the buyer.
        reason: Option<String>,
    },
    /// Admit one ticket at a gate.
    CheckIn {
        /// Ticket being scanned.
        ticket_id: TicketId,
        /// Booking the ticket belongs to.
        booking_id: BookingId,
        /// Seat the ticket admits to.
        seat_id: SeatId,
        /// Gate label, if the scanner sent one.
        gate: Option<String>,
    },
    /// Operators take seats off sale.
    Block {
        /// Seats to block.
        seats: Vec<SeatId>,
    },
    /// Operators put blocked seats back on sale.
    Unblock {
        /// Seats to unblock.
        seats: Vec<SeatId>,
    },
}
