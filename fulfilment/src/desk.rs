//! [`Desk`]: what the HTTP API needs from the after-sale side: verifying scanned codes, the
//! tickets of a booking and their files, and refunding a cancellation.

use std::sync::Arc;

use payments::PaymentProvider;
use schemas::{BookingId, TicketId};
use tickets::{KeyRing, TicketClaims, TicketCodeError};

use crate::model::{Artifact, ArtifactKind, RefundDue, TicketRecord};
use crate::reconcile::{RefundOutcome, settle_refund};
use crate::store::{TicketStore, TicketStoreError};

/// The API's handle on tickets and refunds. Cheap to share behind an `Arc`.
pub struct Desk {
    keys: KeyRing,
    store: Arc<dyn TicketStore>,
    payments: Arc<dyn PaymentProvider>,
}

impl std::fmt::Debug for Desk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desk")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl Desk {
    /// A desk verifying with `keys`, reading `store`, refunding through `payments`.
    pub fn new(
        keys: KeyRing,
        store: Arc<dyn TicketStore>,
        payments: Arc<dyn PaymentProvider>,
    ) -> Desk {
        Desk {
            keys,
            store,
            payments,
        }
    }

    /// What a scanned code vouches for; the key is picked by the id inside the code, nothing is
    /// looked up per ticket.
    pub fn verify(&self, code: &str) -> Result<TicketClaims, TicketCodeError> {
        self.keys.verify(code)
    }

    /// The key ring (check-in and issuing must agree on it).
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// The issued tickets of a booking (none until the worker has issued them).
    pub async fn booking_tickets(
        &self,
        booking: BookingId,
    ) -> Result<Vec<TicketRecord>, TicketStoreError> {
        self.store.booking_tickets(booking).await
    }

    /// One file of a ticket with its owner.
    pub async fn artifact(
        &self,
        ticket: TicketId,
        kind: ArtifactKind,
    ) -> Result<Option<Artifact>, TicketStoreError> {
        self.store.artifact(ticket, kind).await
    }

    /// Refund a decided cancellation: recorded first, then asked of the provider with the
    /// booking's refund key; whatever is not finished now the reconciler finishes.
    pub async fn refund(&self, due: &RefundDue) -> RefundOutcome {
        settle_refund(self.payments.as_ref(), self.store.as_ref(), due).await
    }
}
