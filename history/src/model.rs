//! What the checker reads: the operations clients performed and the state read back at the end.

use std::collections::BTreeMap;

use uuid::Uuid;

/// Milliseconds on the one clock the recorder uses for invoke and complete times.
pub type Ms = i64;

/// Position of an operation in its [`History`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(pub usize);

/// What a client asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Hold `seats` as `hold`.
    Hold {
        /// The hold's id (chosen by the requester).
        hold: Uuid,
        /// Seats asked for.
        seats: Vec<Uuid>,
    },
    /// Turn `hold` into `booking`.
    Confirm {
        /// The hold.
        hold: Uuid,
        /// The booking's id (chosen by the requester).
        booking: Uuid,
    },
    /// Give `hold` back.
    Release {
        /// The hold.
        hold: Uuid,
    },
    /// Cancel `booking` (refund by tier).
    Cancel {
        /// The booking.
        booking: Uuid,
    },
    /// Admit `ticket` of `booking` at a gate.
    CheckIn {
        /// The ticket.
        ticket: Uuid,
        /// Its booking.
        booking: Uuid,
    },
    /// Join the waiting room as `user`.
    JoinQueue {
        /// Who joins.
        user: Uuid,
    },
}

/// What a client was told succeeded, with the result it was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Done {
    /// The hold was taken, due to lapse at `expires_at`.
    Held {
        /// When the hold lapses.
        expires_at: Ms,
    },
    /// The booking was made for these seats and this amount.
    Booked {
        /// Seats booked.
        seats: Vec<Uuid>,
        /// Price charged, minor units.
        amount: u64,
    },
    /// The hold was given back.
    Released,
    /// The booking was cancelled with this refund.
    Cancelled {
        /// Refund promised, minor units.
        refund: u64,
    },
    /// The ticket was admitted.
    Admitted,
    /// The user is in the waiting room.
    Joined,
}

/// How an operation ended, as its client saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Told it happened.
    Ok(Done),
    /// Told it did not happen, and why (the named rejection).
    Rejected(String),
    /// No definite answer (timeout, 503, crash of the client's connection): may or may not have
    /// happened, but must resolve one way.
    Unknown,
}

/// One client operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    /// Its position in the history.
    pub id: OpId,
    /// Which client performed it.
    pub client: u64,
    /// Idempotency key: attempts sharing one must get the same answer.
    pub key: String,
    /// What was asked.
    pub action: Action,
    /// When it was sent.
    pub invoked: Ms,
    /// When its answer arrived (`None`: never).
    pub completed: Option<Ms>,
    /// Its outcome.
    pub outcome: Outcome,
}

/// Every operation of a run, in invoke order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    ops: Vec<Op>,
}

impl History {
    /// An empty history.
    pub fn new() -> History {
        History::default()
    }

    /// Record an operation as sent; its outcome is unknown until [`History::complete`].
    pub fn invoke(&mut self, client: u64, key: impl Into<String>, action: Action, at: Ms) -> OpId {
        let id = OpId(self.ops.len());
        self.ops.push(Op {
            id,
            client,
            key: key.into(),
            action,
            invoked: at,
            completed: None,
            outcome: Outcome::Unknown,
        });
        id
    }

    /// Record the answer to an operation (an `Unknown` outcome keeps it open-ended but marks when
    /// the client gave up).
    pub fn complete(&mut self, id: OpId, at: Ms, outcome: Outcome) {
        if let Some(op) = self.ops.get_mut(id.0) {
            op.completed = Some(at);
            op.outcome = outcome;
        }
    }

    /// Every operation, in invoke order.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// One operation.
    pub fn op(&self, id: OpId) -> &Op {
        &self.ops[id.0]
    }
}

/// A seat's status as stored or as the seat map shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SeatStatus {
    /// On sale and free.
    Available,
    /// Held by an active hold.
    Held,
    /// Sold.
    Booked,
    /// Off sale.
    Blocked,
}

/// How a hold ended (or that it has not yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldEnd {
    /// Still holding its seats.
    Active,
    /// Given back by its owner.
    Released,
    /// Lapsed.
    Expired,
    /// Became this booking.
    Confirmed(Uuid),
}

/// A hold as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoldRecord {
    /// Its id.
    pub id: Uuid,
    /// Its seats.
    pub seats: Vec<Uuid>,
    /// When it lapses (log time).
    pub expires_at: Ms,
    /// How it ended.
    pub end: HoldEnd,
}

/// A cancellation as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cancellation {
    /// When (log time).
    pub at: Ms,
    /// Refund granted, minor units.
    pub refund: u64,
}

/// A booking as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookingRecord {
    /// Its id.
    pub id: Uuid,
    /// The hold it was made from.
    pub hold: Uuid,
    /// Its seats.
    pub seats: Vec<Uuid>,
    /// Price, minor units.
    pub amount: u64,
    /// When it was made (log time).
    pub booked_at: Ms,
    /// Its cancellation, if cancelled.
    pub cancelled: Option<Cancellation>,
}

/// Money moved for one booking, as the payment provider reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Payment {
    /// The booking paid for.
    pub booking: Uuid,
    /// Captured, minor units.
    pub captured: u64,
    /// Refunded, minor units.
    pub refunded: u64,
}

/// One ticket admitted at a gate, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admission {
    /// The ticket.
    pub ticket: Uuid,
    /// Its booking.
    pub booking: Uuid,
}

/// The system's state read back once quiet. Lists keep duplicates on purpose: a record stored
/// twice is a violation the checker must see.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FinalState {
    /// When the show starts (refund tiers are measured from it).
    pub show_time: Ms,
    /// Seat statuses in the store (the source of truth).
    pub stored_seats: BTreeMap<Uuid, SeatStatus>,
    /// Seat statuses as the seat map serves them.
    pub seat_map: BTreeMap<Uuid, SeatStatus>,
    /// Every hold.
    pub holds: Vec<HoldRecord>,
    /// Every booking.
    pub bookings: Vec<BookingRecord>,
    /// Every payment (`None` when the run has no payment provider to read).
    pub payments: Option<Vec<Payment>>,
    /// Every admission.
    pub admissions: Vec<Admission>,
    /// Users in the waiting room.
    pub queue: Vec<Uuid>,
}

/// The business rules the checker needs from outside.
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    /// Refund percentage for a cancellation this long before the show.
    pub refund_percent: fn(until_show_ms: i64) -> u8,
}
