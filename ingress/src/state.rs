//! Shared application state handed to every handler: configuration, token keys, rate limiters,
//! and the backends (pipeline bus, seat-state reader, catalog, payments, idempotency index).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use catalog::Catalog;
use futures::future::BoxFuture;
use metrics_exporter_prometheus::PrometheusHandle;
use payments::PaymentProvider;
use processors::bus::CommandBus;
use processors::reader::ShowReader;
use schemas::{ShowId, UnixMs};

use crate::auth::TokenKeys;
use crate::client::TrustedProxies;
use crate::config::ApiConfig;
use crate::idempotency::IdempotencyIndex;
use crate::ratelimit::RateLimits;
use crate::seatmap::{RenderCache, SeatVersions};
use live::LiveSeats;
use live::feed::SeatFeed;

/// One readiness check of a backing service: `Ok` when reachable and loaded.
pub type Probe = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// The services behind the API, the same seams in dev and serve mode.
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
    /// Committed seat deltas per show, for live seat maps (event hub in dev, NATS in serve).
    pub seat_feed: Arc<dyn SeatFeed>,
    /// The one time source of the process (dev: shared with the embedded pipeline).
    pub clock: clock::SharedClock,
}

/// Cheap-to-clone handle on everything a request may need.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: ApiConfig,
    keys: TokenKeys,
    limits: RateLimits,
    proxies: TrustedProxies,
    prometheus: PrometheusHandle,
    probes: Vec<(&'static str, Probe)>,
    backends: Backends,
    seat_changes: Mutex<HashMap<ShowId, UnixMs>>,
    seat_versions: SeatVersions,
    seat_maps: RenderCache,
    live: LiveSeats,
    waiting_room: OnceLock<queue::WaitingRoom>,
}

/// Shows whose last seat-change time is remembered at most (then the memory starts over; the
/// seat map falls back to the read time).
pub const SEAT_CHANGE_MEMORY_MAX: usize = 100_000;

impl AppState {
    /// State for `config`, signing tokens with `secret`.
    pub fn new(
        config: ApiConfig,
        secret: &[u8],
        backends: Backends,
        probes: Vec<(&'static str, Probe)>,
    ) -> Self {
        let limits = RateLimits::new(config.rate_per_user, config.rate_per_ip)
            .with_guest_issuance(config.guest_per_ip_per_min, config.guest_per_prefix_per_min);
        let proxies = TrustedProxies::new(&config.trusted_proxies);
        Self {
            inner: Arc::new(Inner {
                keys: TokenKeys::new(secret),
                limits,
                proxies,
                prometheus: crate::telemetry::prometheus(),
                probes,
                live: LiveSeats::new(
                    backends.seat_feed.clone(),
                    backends.reader.clone(),
                    config.live.tuning(),
                    backends.clock.clone(),
                ),
                backends,
                seat_changes: Mutex::new(HashMap::new()),
                seat_versions: SeatVersions::default(),
                seat_maps: RenderCache::default(),
                waiting_room: OnceLock::new(),
                config,
            }),
        }
    }

    /// API settings.
    pub fn config(&self) -> &ApiConfig {
        &self.inner.config
    }

    /// Token signing and verification keys.
    pub fn keys(&self) -> &TokenKeys {
        &self.inner.keys
    }

    /// Rate limiters.
    pub fn limits(&self) -> &RateLimits {
        &self.inner.limits
    }

    /// The deployment's trusted proxies (who may name the client in forwarding headers).
    pub fn proxies(&self) -> &TrustedProxies {
        &self.inner.proxies
    }

    /// The Prometheus registry.
    pub fn prometheus(&self) -> &PrometheusHandle {
        &self.inner.prometheus
    }

    /// The backing services.
    pub fn backends(&self) -> &Backends {
        &self.inner.backends
    }

    /// Remember when `show`'s seats last changed (from the seat-delta stream).
    pub fn note_seat_change(&self, show: ShowId, at: UnixMs) {
        let mut changes = self.inner.seat_changes.lock().expect("seat change lock");
        if changes.len() >= SEAT_CHANGE_MEMORY_MAX && !changes.contains_key(&show) {
            changes.clear();
        }
        let entry = changes.entry(show).or_insert(at);
        *entry = (*entry).max(at);
    }

    /// When `show`'s seats last changed, if known.
    pub fn last_seat_change(&self, show: ShowId) -> Option<UnixMs> {
        let changes = self.inner.seat_changes.lock().expect("seat change lock");
        changes.get(&show).copied()
    }

    /// The seat versions this process answered at, per show (see [`crate::seatmap`]).
    pub fn seat_versions(&self) -> &SeatVersions {
        &self.inner.seat_versions
    }

    /// Rendered seat maps (see [`crate::seatmap`]).
    pub fn seat_maps(&self) -> &RenderCache {
        &self.inner.seat_maps
    }

    /// The live seat-map fan-out.
    pub fn live(&self) -> &LiveSeats {
        &self.inner.live
    }

    /// Attach the waiting room (once, at start-up; later calls are ignored).
    pub fn install_waiting_room(&self, room: queue::WaitingRoom) {
        let _ = self.inner.waiting_room.set(room);
    }

    /// The waiting room, when this process runs one.
    pub fn waiting_room(&self) -> Option<&queue::WaitingRoom> {
        self.inner.waiting_room.get()
    }

    /// Readiness probes of the backing services.
    pub fn probes(&self) -> &[(&'static str, Probe)] {
        &self.inner.probes
    }

    /// Now, by the process's clock.
    pub fn now(&self) -> UnixMs {
        self.inner.backends.clock.now()
    }

    /// [`AppState::now`] as a calendar instant (catalog views take one).
    pub fn now_utc(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_millis(self.now().0).unwrap_or_default()
    }
}

impl crate::auth::HasTokenKeys for AppState {
    fn token_keys(&self) -> &TokenKeys {
        self.keys()
    }

    fn now_s(&self) -> i64 {
        self.now().0.div_euclid(1000)
    }
}
