//! The ticket store: issued tickets with their files, per-booking listings, and refunds owed.
//! Dev mode keeps it in a redb file ([`EmbeddedTicketStore`]), serve mode in CQL tables beside the
//! show state ([`CqlTicketStore`]). Every write is an idempotent upsert: handling a booking fact
//! twice (redelivery, a sweep after a crash) changes nothing.

mod cql;
mod embedded;

use async_trait::async_trait;
use schemas::{BookingId, TicketId};

pub use cql::{CqlTicketStore, TICKET_TABLES, ticket_schema_statements};
pub use embedded::{EmbeddedTicketStore, TICKETS_FILE};

use crate::model::{Artifact, ArtifactKind, IssuedTicket, RefundDue, StoredStatus, TicketRecord};

/// A ticket store call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TicketStoreError {
    /// Unreachable or overloaded; nothing is known to be written. Retry later.
    #[error("ticket store unavailable: {0}")]
    Unavailable(String),
    /// Stored data cannot be read (a bug or a newer schema).
    #[error("ticket store data unreadable: {0}")]
    Corrupt(String),
    /// A misconfiguration or schema mismatch that retrying cannot fix.
    #[error("ticket store failed: {0}")]
    Fatal(String),
}

impl TicketStoreError {
    /// Whether retrying later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            TicketStoreError::Unavailable(_) => true,
            TicketStoreError::Corrupt(_) | TicketStoreError::Fatal(_) => false,
        }
    }
}

/// Where tickets and refunds owed are kept.
#[async_trait]
pub trait TicketStore: Send + Sync + 'static {
    /// Store freshly rendered tickets (upsert). A status already recorded for a ticket (a
    /// cancellation or check-in handled before a redelivered confirmation) is kept.
    async fn put_issued(&self, tickets: &[IssuedTicket]) -> Result<(), TicketStoreError>;

    /// The tickets of a booking, in ticket id order (without files).
    async fn booking_tickets(
        &self,
        booking: BookingId,
    ) -> Result<Vec<TicketRecord>, TicketStoreError>;

    /// One file of a ticket.
    async fn artifact(
        &self,
        ticket: TicketId,
        kind: ArtifactKind,
    ) -> Result<Option<Artifact>, TicketStoreError>;

    /// Record the status of some tickets of `booking` (tickets not stored yet are skipped: the
    /// next issue keeps no stale status, and the API reads status from the show's partition).
    async fn set_status(
        &self,
        booking: BookingId,
        tickets: &[TicketId],
        status: &StoredStatus,
    ) -> Result<(), TicketStoreError>;

    /// Record a refund owed (upsert).
    async fn put_refund_due(&self, due: &RefundDue) -> Result<(), TicketStoreError>;

    /// Refunds owed, oldest first, at most `limit`.
    async fn refunds_due(&self, limit: usize) -> Result<Vec<RefundDue>, TicketStoreError>;

    /// The refund of `booking` went through: forget it.
    async fn refund_settled(&self, booking: BookingId) -> Result<(), TicketStoreError>;
}
