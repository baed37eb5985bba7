//! Per-client-IP and per-user request rate limits (GCRA via governor), checked before any other
//! work so an over-limit request costs almost nothing.
//!
//! Keyed limiters remember one small cell per key; a janitor task drops keys whose cell has fully
//! refilled ([`RateLimits::retain_recent`]) so memory stays bounded by the set of recently active
//! clients, not by every client ever seen.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use schemas::UserId;

use crate::client::prefix_of;
use crate::error::{ApiError, LimitScope};

/// Routes no rate limit applies to (matched route templates). Liveness and readiness probes
/// come from the platform (orchestrator, load balancer) through a few addresses at a fixed
/// pace: refusing one would drain or restart a healthy process exactly when it is busiest.
pub const UNLIMITED_ROUTES: [&str; 2] = ["/healthz", "/readyz"];

/// Whether requests to the route template `route` are counted against the limits.
pub fn limited(route: &str) -> bool {
    !UNLIMITED_ROUTES.contains(&route)
}

/// How long a refusal by a limit is held before it is answered. A client that ignores
/// `Retry-After` and asks again at once would otherwise turn its refusals into a flood of work of
/// their own (each is cheap, but thousands a second from one address still take CPU from honest
/// buyers); held, a client with a few connections gets a few refusals a second.
pub const REFUSAL_DELAY: Duration = Duration::from_millis(250);

/// Most refusals held at once in this process; past it they are answered at once (holding one
/// costs a timer and a connection, so the bound only keeps a huge flood from parking without
/// limit).
pub const HELD_REFUSALS_MAX: usize = 4096;

/// How often the janitor forgets idle keys.
pub const RETAIN_INTERVAL: Duration = Duration::from_secs(10);

/// The keyed limiters; `None` where a limit is disabled (rate 0).
#[derive(Clone)]
pub struct RateLimits {
    per_user: Option<Arc<DefaultKeyedRateLimiter<UserId>>>,
    per_ip: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
    guests_per_ip: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
    guests_per_prefix: Option<Arc<DefaultKeyedRateLimiter<IpNet>>>,
    held_refusals: Arc<tokio::sync::Semaphore>,
    clock: DefaultClock,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("per_user", &self.per_user.is_some())
            .field("per_ip", &self.per_ip.is_some())
            .field("guests_per_ip", &self.guests_per_ip.is_some())
            .field("guests_per_prefix", &self.guests_per_prefix.is_some())
            .finish()
    }
}

/// `rate` per second with a burst of twice the rate; `None` for 0 (disabled).
fn quota(rate_per_s: u32) -> Option<Quota> {
    let rate = NonZeroU32::new(rate_per_s)?;
    let burst = NonZeroU32::new(rate_per_s.saturating_mul(2)).unwrap_or(rate);
    Some(Quota::per_second(rate).allow_burst(burst))
}

/// `per_minute` with a burst of one minute's worth (a household or office behind one address
/// gets its tokens at once, then one every `60 / per_minute` seconds); `None` for 0 (disabled).
fn quota_per_minute(per_minute: u32) -> Option<Quota> {
    let rate = NonZeroU32::new(per_minute)?;
    Some(Quota::per_minute(rate).allow_burst(rate))
}

fn keyed<K: Hash + Eq + Clone>(quota: Option<Quota>) -> Option<Arc<DefaultKeyedRateLimiter<K>>> {
    quota.map(|q| Arc::new(RateLimiter::keyed(q)))
}

impl RateLimits {
    /// Limiters for the configured rates (requests per second; 0 disables), with guest issuance
    /// unlimited (see [`RateLimits::with_guest_issuance`]).
    pub fn new(rate_per_user: u32, rate_per_ip: u32) -> Self {
        Self {
            per_user: keyed(quota(rate_per_user)),
            per_ip: keyed(quota(rate_per_ip)),
            guests_per_ip: None,
            guests_per_prefix: None,
            held_refusals: Arc::new(tokio::sync::Semaphore::new(HELD_REFUSALS_MAX)),
            clock: DefaultClock::default(),
        }
    }

    /// Limit guest tokens to `per_ip` per minute per client address and `per_prefix` per minute
    /// per network prefix ([`prefix_of`]); 0 disables either.
    pub fn with_guest_issuance(mut self, per_ip: u32, per_prefix: u32) -> Self {
        self.guests_per_ip = keyed(quota_per_minute(per_ip));
        self.guests_per_prefix = keyed(quota_per_minute(per_prefix));
        self
    }

    /// Count one request of `key` against `limiter` (none: unlimited).
    fn check<K: Hash + Eq + Clone>(
        &self,
        limiter: Option<&Arc<DefaultKeyedRateLimiter<K>>>,
        key: &K,
        scope: LimitScope,
    ) -> Result<(), ApiError> {
        let Some(limiter) = limiter else {
            return Ok(());
        };
        limiter.check_key(key).map_err(|not_until| {
            metrics::counter!("boxoffice_http_rate_limited_total", "scope" => scope.as_str())
                .increment(1);
            ApiError::RateLimited {
                retry_after: not_until.wait_time_from(self.clock.now()),
                scope,
            }
        })
    }

    /// Count one request from `ip`.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.check(self.per_ip.as_ref(), &ip, LimitScope::Ip)
    }

    /// Count one request from `user`.
    pub fn check_user(&self, user: UserId) -> Result<(), ApiError> {
        self.check(self.per_user.as_ref(), &user, LimitScope::User)
    }

    /// Count one guest token for client `ip`: the address first, then its prefix, so one
    /// address hammering past its own limit does not spend its neighbours' allowance.
    pub fn check_guest(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.check(self.guests_per_ip.as_ref(), &ip, LimitScope::GuestsPerIp)?;
        self.check(
            self.guests_per_prefix.as_ref(),
            &prefix_of(ip),
            LimitScope::GuestsPerPrefix,
        )
    }

    /// Hold the refusal `error` for [`REFUSAL_DELAY`] (unless [`HELD_REFUSALS_MAX`] are held
    /// already), then hand it back to be answered.
    pub async fn held(&self, error: ApiError) -> ApiError {
        if let Ok(_permit) = self.held_refusals.try_acquire() {
            tokio::time::sleep(REFUSAL_DELAY).await;
        } else {
            metrics::counter!("boxoffice_http_refusals_unheld_total").increment(1);
        }
        error
    }

    /// Forget keys whose budget has fully refilled and release the memory they used.
    pub fn retain_recent(&self) {
        if let Some(limiter) = &self.per_user {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some(limiter) = &self.per_ip {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some(limiter) = &self.guests_per_ip {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some(limiter) = &self.guests_per_prefix {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Number of keys currently remembered (users, IPs, guest issuers).
    pub fn keys(&self) -> usize {
        self.per_user.as_ref().map_or(0, |l| l.len())
            + self.per_ip.as_ref().map_or(0, |l| l.len())
            + self.guests_per_ip.as_ref().map_or(0, |l| l.len())
            + self.guests_per_prefix.as_ref().map_or(0, |l| l.len())
    }

    /// Run the janitor until the returned task is aborted.
    pub fn spawn_janitor(&self) -> tokio::task::JoinHandle<()> {
        let limits = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RETAIN_INTERVAL);
            loop {
                tick.tick().await;
                limits.retain_recent();
                metrics::gauge!("boxoffice_http_rate_limit_keys").set(limits.keys() as f64);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn burst_is_twice_the_rate_then_limited_with_a_retry_hint() {
        let limits = RateLimits::new(5, 0);
        let user = UserId(Uuid::from_u128(1));
        for _ in 0..10 {
            limits.check_user(user).unwrap();
        }
        match limits.check_user(user) {
            Err(ApiError::RateLimited { retry_after, .. }) => {
                assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(1))
            }
            other => panic!("expected rate limit, got {other:?}"),
        }
        // Other users and disabled IP limits are unaffected.
        limits.check_user(UserId(Uuid::from_u128(2))).unwrap();
        for _ in 0..1000 {
            limits.check_ip("127.0.0.1".parse().unwrap()).unwrap();
        }
    }

    #[test]
    fn guest_tokens_are_limited_per_address_and_per_prefix() {
        let limits = RateLimits::new(0, 0).with_guest_issuance(3, 4);
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        for _ in 0..3 {
            limits.check_guest(ip("127.2.0.1")).unwrap();
        }
        match limits.check_guest(ip("127.2.0.1")) {
            Err(ApiError::RateLimited { retry_after, scope }) => {
                assert_eq!(scope, LimitScope::GuestsPerIp);
                // One token every 20 s at 3 a minute.
                assert!(retry_after > Duration::from_secs(15), "{retry_after:?}");
            }
            other => panic!("a 4th guest in a minute was issued: {other:?}"),
        }
        // Another address of the same /24 has its own 3, but the prefix's 4 run out first (the
        // refused 4th request above spent none of them).
        limits.check_guest(ip("127.2.0.2")).unwrap();
        assert!(matches!(
            limits.check_guest(ip("127.2.0.3")),
            Err(ApiError::RateLimited {
                scope: LimitScope::GuestsPerPrefix,
                ..
            })
        ));
        // Another network is unaffected.
        limits.check_guest(ip("127.1.0.1")).unwrap();
        // Off by default.
        let open = RateLimits::new(0, 0);
        for _ in 0..1000 {
            open.check_guest(ip("127.2.0.1")).unwrap();
        }
    }

    #[test]
    fn idle_keys_are_forgotten() {
        let limits = RateLimits::new(1000, 1000);
        for i in 0..100u128 {
            limits.check_user(UserId(Uuid::from_u128(i))).unwrap();
        }
        assert_eq!(limits.keys(), 100);
        std::thread::sleep(Duration::from_millis(5));
        limits.retain_recent();
        assert_eq!(limits.keys(), 0);
    }
}
