//! Shared application state handed to every handler: configuration, token keys, rate limiters,
//! and the backends (pipeline bus, seat-state reader, catalog, payments, idempotency index).

use std::sync::Arc;

use futures::future::BoxFuture;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::auth::TokenKeys;
use crate::config::ApiConfig;
use crate::ratelimit::RateLimits;

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
    prometheus: PrometheusHandle,
    probes: Vec<(&'static str, Probe)>,
}

impl AppState {
    /// State for `config`, signing tokens with `secret`.
    pub fn new(config: ApiConfig, secret: &[u8], probes: Vec<(&'static str, Probe)>) -> Self {
        let limits = RateLimits::new(config.rate_per_user, config.rate_per_ip);
        Self {
            inner: Arc::new(Inner {
                keys: TokenKeys::new(secret),
                limits,
                prometheus: crate::telemetry::prometheus(),
                probes,
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

    /// The Prometheus registry.
    pub fn prometheus(&self) -> &PrometheusHandle {
        &self.inner.prometheus
    }

    /// Readiness probes of the backing services.
    pub fn probes(&self) -> &[(&'static str, Probe)] {
        &self.inner.probes
    }
}
