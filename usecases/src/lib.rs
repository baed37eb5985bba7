//! The workflows of boxoffice, free of HTTP: what happens when a buyer holds seats, confirms
//! (the payment saga), releases, cancels (with its refund), when a gate admits a ticket, and how
//! a show's seat state is created and its seat map projected. The HTTP front parses a request,
//! calls one of these and renders what it returns; the modes (`application`) fill in the seams
//! ([`Backends`]) with the embedded or the NATS/Cassandra implementations.
//!
//! # Layout
//! - [`Services`]: the seams and what the use cases keep between calls (the seat projection's
//!   versions, when each show's seats last changed).
//! - [`failure`]: [`Failure`], why a use case did not happen (errors of other crates keep their
//!   source).
//! - [`submit`]: command ids, envelopes, idempotency claims, submitting to the pipeline.
//! - [`idempotency`]: command ids from keys, request fingerprints, the index seam.
//! - [`shows`]: a show's seat state (created from the catalog on first need), its statuses.
//! - [`projection`]: read-your-writes for seat maps served from the projection.
//! - [`admission`]: the waiting room's admission and the demand guard in front of holds; joining
//!   a show's queue.
//! - [`holds`]: hold (with admission), release, the caller's hold.
//! - [`confirm`]: the confirm saga: authorize, claim through the log, capture or void.
//! - [`cancel`]: cancel a booking and refund its tier.
//! - [`checkin`]: admit a ticket at a gate.

pub mod admission;
pub mod cancel;
pub mod checkin;
pub mod confirm;
pub mod failure;
pub mod holds;
pub mod idempotency;
pub mod projection;
pub mod shows;
pub mod submit;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use catalog::Catalog;
use payments::PaymentProvider;
use processors::bus::CommandBus;
use processors::reader::ShowReader;
use schemas::{ShowId, UnixMs};

pub use failure::Failure;

use crate::admission::GuardPolicy;
use crate::idempotency::IdempotencyIndex;
use crate::projection::SeatVersions;

/// The services behind the use cases, the same seams in dev and serve mode.
#[derive(Clone)]
pub struct Backends {
    /// Where commands go (LocalBus in dev, NatsBus in serve).
    pub bus: Arc<dyn CommandBus>,
    /// Seat state, holds and bookings from the source of truth.
    pub reader: Arc<dyn ShowReader>,
    /// Idempotency-Key index.
    pub idempotency: Arc<dyn IdempotencyIndex>,
    /// Venues, events, shows, search, seat maps, availability.
    pub catalog: Arc<Catalog>,
    /// Payment provider (sandbox in-process in dev, HTTP client in serve).
    pub payments: Arc<dyn PaymentProvider>,
    /// Tickets, check-in codes and refunds (the after-sale side).
    pub tickets: Arc<fulfilment::Desk>,
    /// The one time source of the process (dev: shared with the embedded pipeline).
    pub clock: clock::SharedClock,
}

/// Shows whose last seat-change time is remembered at most (then the memory starts over; the
/// seat map falls back to the read time).
pub const SEAT_CHANGE_MEMORY_MAX: usize = 100_000;

/// The seams and the little the use cases remember between calls.
pub struct Services {
    /// The seams.
    pub backends: Backends,
    /// The newest seat version answered per show (read-your-writes for seat maps).
    pub seat_versions: SeatVersions,
    /// The deployment's demand-guard settings.
    pub guard: GuardPolicy,
    seat_changes: Mutex<HashMap<ShowId, UnixMs>>,
    waiting_room: OnceLock<queue::WaitingRoom>,
}

impl Services {
    /// Use cases over `backends`, guarding holds by `guard`.
    pub fn new(backends: Backends, guard: GuardPolicy) -> Self {
        Services {
            backends,
            seat_versions: SeatVersions::default(),
            guard,
            seat_changes: Mutex::new(HashMap::new()),
            waiting_room: OnceLock::new(),
        }
    }

    /// Attach the waiting room (once, at start-up; later calls are ignored). It is attached
    /// after the services exist because it reads shows through them.
    pub fn install_waiting_room(&self, room: queue::WaitingRoom) {
        let _ = self.waiting_room.set(room);
    }

    /// The waiting room, when this process runs one.
    pub fn waiting_room(&self) -> Option<&queue::WaitingRoom> {
        self.waiting_room.get()
    }

    /// Now, by the process's clock.
    pub fn now(&self) -> UnixMs {
        self.backends.clock.now()
    }

    /// Remember when `show`'s seats last changed (from the seat-delta stream).
    pub fn note_seat_change(&self, show: ShowId, at: UnixMs) {
        let mut changes = self.seat_changes.lock().expect("seat change lock");
        if changes.len() >= SEAT_CHANGE_MEMORY_MAX && !changes.contains_key(&show) {
            changes.clear();
        }
        let entry = changes.entry(show).or_insert(at);
        *entry = (*entry).max(at);
    }

    /// When `show`'s seats last changed, if known.
    pub fn last_seat_change(&self, show: ShowId) -> Option<UnixMs> {
        let changes = self.seat_changes.lock().expect("seat change lock");
        changes.get(&show).copied()
    }
}
