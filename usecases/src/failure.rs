//! Why a use case did not happen, in the use cases' own terms: the HTTP front turns each into a
//! problem document (`ingress::error`), a test or a tool can match on it. Failures of other
//! crates keep their source.

use queue::Challenge;
use queue::guard::GuardReason;
use schemas::Rejection;

/// A use case that did not happen.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The resource does not exist or belongs to another user (the two are not told apart).
    #[error("not found")]
    NotFound,
    /// The engine refused the command for a named reason.
    #[error("refused by the engine: {0:?}")]
    Rejected(Rejection),
    /// The hold lapsed or was released (decided here, before the log, when it surely did).
    #[error("the hold expired or was released")]
    HoldExpired,
    /// The hold already became a booking.
    #[error("the hold is already confirmed")]
    HoldAlreadyConfirmed,
    /// An idempotency key was used before for another request.
    #[error("the idempotency key was used for another request")]
    KeyReused,
    /// A ticket code that does not verify or names no ticket.
    #[error("invalid ticket")]
    InvalidTicket,
    /// The payment provider declined or could not take the payment.
    #[error("payment failed: {0}")]
    Payment(#[source] payments::PaymentError),
    /// The command pipeline did not answer in time or is down.
    #[error(transparent)]
    Pipeline(#[from] processors::bus::BusError),
    /// The idempotency index is unreachable.
    #[error(transparent)]
    Index(#[from] crate::idempotency::IndexError),
    /// The catalog refused or is unreachable.
    #[error(transparent)]
    Catalog(#[from] catalog::CatalogError),
    /// The seat-state store is unreachable.
    #[error(transparent)]
    Store(#[from] processors::store::StoreError),
    /// The ticket store is unreachable.
    #[error(transparent)]
    Tickets(#[from] fulfilment::TicketStoreError),
    /// The pipeline answered, but not with what the use case needs (a bug or a version skew):
    /// `what` was missing.
    #[error("the pipeline answered without {what}")]
    Unanswered {
        /// What the answer lacked.
        what: &'static str,
    },
    /// The waiting room or the demand guard holds the caller back.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The waiting room's log or store failed.
    #[error(transparent)]
    Queue(#[from] queue::QueueError),
    /// This process runs no waiting room.
    #[error("the waiting room is not running")]
    NoWaitingRoom,
    /// The show's seat state could not be created or read back yet.
    #[error("the show's seats are not ready: {0}")]
    SeatsNotReady(&'static str),
}

impl From<Rejection> for Failure {
    fn from(rejection: Rejection) -> Self {
        Failure::Rejected(rejection)
    }
}

/// Why a hold must wait: refused by the waiting room, or asked for a proof of work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The show sells through its waiting room and the token does not admit this hold.
    #[error("admission required: {0:?}")]
    Admission(queue::TokenRefusal),
    /// The demand guard asks this client for a proof of work first, for `reason`.
    #[error("proof of work required ({reason:?})")]
    Guard {
        /// What to solve.
        challenge: Challenge,
        /// Why this client is asked.
        reason: GuardReason,
    },
    /// Joining the queue needs a proof of work (or the one given was wrong).
    #[error("proof of work required to join")]
    Join(Challenge),
}
