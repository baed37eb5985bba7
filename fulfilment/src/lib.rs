//! After the sale: tickets issued within a second of a confirmed booking, refunds that are never
//! lost, and a reconciler that leaves no payment without its outcome.
//!
//! # Layout
//! - [`config`]: [`FulfilmentConfig`] (ticket keys, worker lanes, periods) and [`TicketsArgs`]
//!   (`boxoffice tickets`).
//! - [`keys`]: the ticket key ring from `BOXOFFICE_TICKET_KEYS`, or generated and kept (dev).
//! - [`model`]: [`TicketRecord`], [`IssuedTicket`], [`ArtifactKind`], [`StoredStatus`],
//!   [`RefundDue`].
//! - [`store`]: the [`TicketStore`] trait; [`EmbeddedTicketStore`] (redb, dev) and
//!   [`CqlTicketStore`] (ScyllaDB/Cassandra, serve).
//! - [`issue`]: [`Issuer`] signs each seat's code and renders QR PNG/SVG and the PDF.
//! - [`worker`]: [`TicketWorker`] (one booking fact -> tickets, statuses, refunds owed) and
//!   [`Lanes`] (bounded queues, one show always on the same lane).
//! - [`reconcile`]: [`Reconciler`] settles open authorizations from the hold's decided state and
//!   retries refunds owed; [`settle_refund`] is the refund path of a cancellation.
//! - [`sweep`]: [`Sweeper`], dev mode's repair pass over the source of truth.
//! - [`desk`]: [`Desk`], what the HTTP API uses (verify codes, list tickets, files, refunds).
//! - [`dev`] / [`serve`]: wiring for `boxoffice dev` and for `boxoffice tickets` /
//!   `boxoffice serve`.
//!
//! # Flow
//! The partition loop commits `Confirmed` and publishes it on the booking facts (`bookings.<show>`
//! in serve mode, the in-process hub in dev) -> a lane of the worker issues the tickets (sign,
//! render on the blocking pool, one upsert) -> the booking's `tickets` list them. `Cancelled`
//! marks them and records the refund owed; the cancel request refunds at once with the booking's
//! refund key and the reconciler retries whatever failed. `CheckedIn` marks one ticket. Check-in
//! itself goes through the show's partition (the ingress); this crate only verifies its code.

pub mod config;
pub mod desk;
pub mod dev;
pub mod issue;
pub mod keys;
pub mod model;
pub mod reconcile;
pub mod serve;
pub mod store;
pub mod sweep;
pub mod worker;

pub use config::{ConfigError, FulfilmentConfig, TicketsArgs};
pub use desk::Desk;
pub use issue::{BookingToIssue, IssueError, Issuer};
pub use model::{
    Artifact, ArtifactKind, IssuedTicket, RefundDue, StoredStatus, TicketRecord, refund_key,
};
pub use reconcile::{ReconcileReport, Reconciler, RefundOutcome, Settlement, settle_refund};
pub use store::{CqlTicketStore, EmbeddedTicketStore, TicketStore, TicketStoreError};
pub use sweep::{SweepReport, Sweeper};
pub use tickets::{KeyRing, TicketClaims, TicketCodeError};
pub use worker::{Lanes, TicketWorker, WorkError};

/// Why the after-sale side could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting is unusable.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    /// No usable ticket keys.
    #[error(transparent)]
    Keys(#[from] keys::KeysError),
    /// The ticket store could not be opened.
    #[error(transparent)]
    Store(#[from] TicketStoreError),
    /// Another backing part could not start.
    #[error("{part} failed to start: {source}")]
    Backend {
        /// Which part.
        part: &'static str,
        /// Why.
        #[source]
        source: processors::Cause,
    },
}
