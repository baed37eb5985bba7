//! Shared application state handed to every handler: configuration, token keys, rate limiters,
//! the use cases' services (`usecases::Services` over the seams the mode chose), rendered seat
//! maps and the live fan-out.

use std::sync::Arc;

use futures::future::BoxFuture;
use metrics_exporter_prometheus::PrometheusHandle;
use schemas::UnixMs;
pub use usecases::Backends;
use usecases::Services;
use usecases::admission::GuardPolicy;

use crate::auth::TokenKeys;
use crate::client::TrustedProxies;
use crate::config::ApiConfig;
use crate::ratelimit::RateLimits;
use crate::seatmap::RenderCache;
use live::LiveSeats;
use live::feed::SeatFeed;

/// One readiness check of a backing service: `Ok` when reachable and loaded.
pub type Probe = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

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
    services: Services,
    seat_maps: RenderCache,
    live: LiveSeats,
}

impl AppState {
    /// State for `config`, signing tokens with `secret`, running the use cases over `backends`
    /// and the live seat maps over `seat_feed`.
    pub fn new(
        config: ApiConfig,
        secret: &[u8],
        backends: Backends,
        seat_feed: Arc<dyn SeatFeed>,
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
                    seat_feed,
                    backends.reader.clone(),
                    config.live.tuning(),
                    backends.clock.clone(),
                ),
                services: Services::new(
                    backends,
                    GuardPolicy {
                        on: config.guard,
                        new_identity_s: config.guard_new_guest_s,
                    },
                ),
                seat_maps: RenderCache::default(),
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

    /// The seams behind the use cases.
    pub fn backends(&self) -> &Backends {
        &self.inner.services.backends
    }

    /// The use cases' services (hand them to `usecases`).
    pub fn services(&self) -> &Services {
        &self.inner.services
    }

    /// Rendered seat maps (see [`crate::seatmap`]).
    pub fn seat_maps(&self) -> &RenderCache {
        &self.inner.seat_maps
    }

    /// The live seat-map fan-out.
    pub fn live(&self) -> &LiveSeats {
        &self.inner.live
    }

    /// The waiting room, when this process runs one (installed on the use cases' services).
    pub fn waiting_room(&self) -> Option<&queue::WaitingRoom> {
        self.inner.services.waiting_room()
    }

    /// Readiness probes of the backing services.
    pub fn probes(&self) -> &[(&'static str, Probe)] {
        &self.inner.probes
    }

    /// Now, by the process's clock.
    pub fn now(&self) -> UnixMs {
        self.inner.services.now()
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
