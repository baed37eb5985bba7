//! Money: the bundled payments sandbox (seeded 5xx, lost responses, declines), the real
//! [`Reconciler`] over the store the pipeline writes, and the buyer's side as the ingress does it
//! (authorize, confirm, then capture or void; refund on a cancellation). The ticket worker's one
//! rule that touches money (a `Cancelled` fact records the refund owed) is applied by the sink;
//! issuing tickets (rendering on the blocking pool) is left out: it would break determinism.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use fulfilment::model::{
    Artifact, ArtifactKind, IssuedTicket, RefundDue, StoredStatus, TicketRecord,
};
use fulfilment::store::{TicketStore, TicketStoreError};
use fulfilment::{Reconciler, settle_refund};
use payments::sandbox::{FaultConfig, SandboxConfig, SandboxProvider};
use payments::{AuthorizationId, AuthorizationStatus, AuthorizeRequest, PaymentProvider};
use processors::reader::StateReader;
use schemas::{BookingId, HoldId, ShowId, TicketId, UnixMs};

use crate::store::SimStore;
use crate::world::{Incarnation, World};

/// How often the reconciler runs.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(1);

/// The payment side of a run.
pub struct Money {
    /// The provider.
    pub provider: SandboxProvider,
    /// Refunds owed (the ticket store's part the reconciler reads).
    pub tickets: Arc<SimTickets>,
    /// Every authorization a buyer obtained, with its hold.
    pub authorized: Mutex<Vec<(AuthorizationId, HoldId)>>,
}

impl Money {
    /// A provider whose faults are seeded from `seed`.
    pub fn new(seed: u64) -> Arc<Money> {
        let config = SandboxConfig {
            data_dir: None,
            faults: FaultConfig {
                seed,
                decline_rate: 0.05,
                error_rate: 0.05,
                timeout_rate: 0.03,
                timeout_ms: 1_500,
                added_latency_ms: 0,
            },
            slow_method_delay: None,
        };
        Arc::new(Money {
            provider: SandboxProvider::open(&config).expect("an in-memory sandbox"),
            tickets: Arc::new(SimTickets::default()),
            authorized: Mutex::new(Vec::new()),
        })
    }

    /// Run the reconciler every [`RECONCILE_EVERY`] (through a store handle that never dies).
    pub fn reconcile(self: &Arc<Self>, world: Arc<World>) {
        let reader = StateReader::new(Arc::new(SimStore::new(world, Incarnation::new())));
        let reconciler = Reconciler::new(
            Arc::new(Ordered(self.provider.clone())),
            Arc::new(reader),
            self.tickets.clone(),
        );
        Arc::new(reconciler).spawn(RECONCILE_EVERY);
    }

    /// Authorize `amount` for `hold` under `key`, retrying transient failures with the same
    /// key; `None` if declined or the provider stayed unavailable.
    pub async fn authorize(&self, key: &str, hold: HoldId, amount: i64) -> Option<AuthorizationId> {
        let request = AuthorizeRequest {
            amount_minor: amount,
            currency: "EUR".into(),
            payment_method_id: payments::PM_CARD_VISA.into(),
            reference: Some(hold.to_string()),
        };
        for _ in 0..3 {
            match self.provider.authorize(key, &request).await {
                Ok(a) => {
                    self.authorized
                        .lock()
                        .expect("authorized")
                        .push((a.authorization_id, hold));
                    return Some(a.authorization_id);
                }
                Err(e) if e.is_retryable() => continue,
                Err(_) => return None,
            }
        }
        None
    }

    /// After the confirm: capture if it booked, void if refused; a failure is left to the
    /// reconciler, as the ingress leaves it.
    pub async fn settle_confirm(&self, key: &str, authorization: AuthorizationId, booked: bool) {
        let _ = if booked {
            self.provider.capture(key, authorization).await
        } else {
            self.provider.void(key, authorization).await
        };
    }

    /// The refund of a cancellation, as the cancel request makes it.
    pub async fn refund(&self, due: RefundDue) {
        if due.amount_minor > 0 {
            settle_refund(&self.provider, self.tickets.as_ref(), &due).await;
        }
    }

    /// Money moved per booking (authorizations that captured or refunded anything), and the
    /// authorizations still open, once the run is quiet.
    pub async fn read_back(&self) -> (Vec<history::Payment>, Vec<AuthorizationId>) {
        let authorized = self.authorized.lock().expect("authorized").clone();
        let mut moved = Vec::new();
        let mut open = Vec::new();
        for (id, hold) in authorized {
            let a = loop {
                if let Ok(a) = self.provider.get(id).await {
                    break a;
                }
            };
            if a.status == AuthorizationStatus::Authorized {
                open.push(id);
            }
            if a.captured_minor > 0 || a.refunded_minor > 0 {
                moved.push(history::Payment {
                    booking: booking_of(hold).0,
                    captured: a.captured_minor as u64,
                    refunded: a.refunded_minor as u64,
                });
            }
        }
        moved.sort_by_key(|p| p.booking);
        (moved, open)
    }
}

/// The booking a buyer makes from `hold` (derived, as the ingress derives it).
pub fn booking_of(hold: HoldId) -> BookingId {
    BookingId::of_hold(hold)
}

/// The refund a `Cancelled` fact owes (the ticket worker's rule), or `None` if nothing is owed.
pub fn refund_owed(show: ShowId, at: UnixMs, event: &schemas::Event) -> Option<RefundDue> {
    let schemas::Event::Cancelled {
        booking_id,
        refund_minor,
        payment_ref,
        ..
    } = event
    else {
        return None;
    };
    (*refund_minor > 0).then(|| RefundDue {
        booking_id: *booking_id,
        show_id: show,
        payment_ref: payment_ref.clone(),
        amount_minor: *refund_minor,
        cancelled_at: at,
    })
}

/// An in-memory ticket store: issued tickets, their statuses and files, and refunds owed.
#[derive(Debug, Default)]
pub struct SimTickets {
    inner: Mutex<TicketsInner>,
}

#[derive(Debug, Default)]
struct TicketsInner {
    tickets: BTreeMap<TicketId, IssuedTicket>,
    refunds: BTreeMap<BookingId, RefundDue>,
}

impl SimTickets {
    fn lock(&self) -> std::sync::MutexGuard<'_, TicketsInner> {
        self.inner.lock().expect("one thread: never poisoned")
    }
}

#[async_trait]
impl TicketStore for SimTickets {
    async fn put_issued(&self, tickets: &[IssuedTicket]) -> Result<(), TicketStoreError> {
        let mut inner = self.lock();
        for ticket in tickets {
            let id = ticket.record.ticket_id;
            let mut ticket = ticket.clone();
            // A status already recorded (cancelled or admitted first) is kept.
            if let Some(old) = inner.tickets.get(&id) {
                ticket.record.status = old.record.status.clone();
            }
            inner.tickets.insert(id, ticket);
        }
        Ok(())
    }

    async fn booking_tickets(
        &self,
        booking: BookingId,
    ) -> Result<Vec<TicketRecord>, TicketStoreError> {
        Ok(self
            .lock()
            .tickets
            .values()
            .filter(|t| t.record.booking_id == booking)
            .map(|t| t.record.clone())
            .collect())
    }

    async fn artifact(
        &self,
        ticket: TicketId,
        kind: ArtifactKind,
    ) -> Result<Option<Artifact>, TicketStoreError> {
        Ok(self.lock().tickets.get(&ticket).map(|t| Artifact {
            owner: t.record.owner,
            bytes: match kind {
                ArtifactKind::QrPng => t.qr_png.clone(),
                ArtifactKind::QrSvg => t.qr_svg.clone(),
                ArtifactKind::Pdf => t.pdf.clone(),
            },
        }))
    }

    async fn set_status(
        &self,
        _booking: BookingId,
        tickets: &[TicketId],
        status: &StoredStatus,
    ) -> Result<(), TicketStoreError> {
        let mut inner = self.lock();
        for id in tickets {
            if let Some(t) = inner.tickets.get_mut(id) {
                t.record.status = status.clone();
            }
        }
        Ok(())
    }

    async fn put_refund_due(&self, due: &RefundDue) -> Result<(), TicketStoreError> {
        self.lock().refunds.insert(due.booking_id, due.clone());
        Ok(())
    }

    async fn refunds_due(&self, limit: usize) -> Result<Vec<RefundDue>, TicketStoreError> {
        Ok(self.lock().refunds.values().take(limit).cloned().collect())
    }

    async fn refund_settled(&self, booking: BookingId) -> Result<(), TicketStoreError> {
        self.lock().refunds.remove(&booking);
        Ok(())
    }
}

/// The sandbox as the reconciler sees it, with open authorizations listed in a fixed order (by
/// hold, then amount): the sandbox lists them from a hash map, and the order decides which call
/// draws which seeded fault, so an unordered list would make a seed replay differently.
pub struct Ordered(pub SandboxProvider);

#[async_trait]
impl PaymentProvider for Ordered {
    async fn authorize(
        &self,
        key: &str,
        request: &AuthorizeRequest,
    ) -> Result<payments::Authorization, payments::PaymentError> {
        self.0.authorize(key, request).await
    }

    async fn capture(
        &self,
        key: &str,
        id: AuthorizationId,
    ) -> Result<payments::Authorization, payments::PaymentError> {
        self.0.capture(key, id).await
    }

    async fn void(
        &self,
        key: &str,
        id: AuthorizationId,
    ) -> Result<payments::Authorization, payments::PaymentError> {
        self.0.void(key, id).await
    }

    async fn refund(
        &self,
        key: &str,
        id: AuthorizationId,
        amount_minor: i64,
    ) -> Result<payments::Authorization, payments::PaymentError> {
        self.0.refund(key, id, amount_minor).await
    }

    async fn get(
        &self,
        id: AuthorizationId,
    ) -> Result<payments::Authorization, payments::PaymentError> {
        self.0.get(id).await
    }

    async fn list_authorized(
        &self,
    ) -> Result<Vec<payments::Authorization>, payments::PaymentError> {
        let mut open = self.0.list_authorized().await?;
        open.sort_by(|a, b| (&a.reference, a.amount_minor).cmp(&(&b.reference, b.amount_minor)));
        Ok(open)
    }
}
