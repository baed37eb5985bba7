//! Per-client-IP and per-user request rate limits (GCRA via governor), checked before any other
//! work so an over-limit request costs almost nothing.
//!
//! Keyed limiters remember one small cell per key; a janitor task drops keys whose cell has fully
//! refilled ([`RateLimits::retain_recent`]) so memory stays bounded by the set of recently active
//! clients, not by every client ever seen.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use schemas::UserId;

use crate::error::ApiError;

/// How often the janitor forgets idle keys.
pub const RETAIN_INTERVAL: Duration = Duration::from_secs(10);

/// The two keyed limiters; `None` where a limit is disabled (rate 0).
#[derive(Clone)]
pub struct RateLimits {
    per_user: Option<Arc<DefaultKeyedRateLimiter<UserId>>>,
    per_ip: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
    clock: DefaultClock,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("per_user", &self.per_user.is_some())
            .field("per_ip", &self.per_ip.is_some())
            .finish()
    }
}

/// `rate` per second with a burst of twice the rate; `None` for 0 (disabled).
fn quota(rate_per_s: u32) -> Option<Quota> {
    let rate = NonZeroU32::new(rate_per_s)?;
    let burst = NonZeroU32::new(rate_per_s.saturating_mul(2)).unwrap_or(rate);
    Some(Quota::per_second(rate).allow_burst(burst))
}

impl RateLimits {
    /// Limiters for the configured rates (requests per second; 0 disables).
    pub fn new(rate_per_user: u32, rate_per_ip: u32) -> Self {
        Self {
            per_user: quota(rate_per_user).map(|q| Arc::new(RateLimiter::keyed(q))),
            per_ip: quota(rate_per_ip).map(|q| Arc::new(RateLimiter::keyed(q))),
            clock: DefaultClock::default(),
        }
    }

    /// Count one request from `ip`.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        let Some(limiter) = &self.per_ip else {
            return Ok(());
        };
        limiter.check_key(&ip).map_err(|not_until| {
            metrics::counter!("boxoffice_http_rate_limited_total", "scope" => "ip").increment(1);
            ApiError::RateLimited {
                retry_after: not_until.wait_time_from(self.clock.now()),
            }
        })
    }

    /// Count one request from `user`.
    pub fn check_user(&self, user: UserId) -> Result<(), ApiError> {
        let Some(limiter) = &self.per_user else {
            return Ok(());
        };
        limiter.check_key(&user).map_err(|not_until| {
            metrics::counter!("boxoffice_http_rate_limited_total", "scope" => "user").increment(1);
            ApiError::RateLimited {
                retry_after: not_until.wait_time_from(self.clock.now()),
            }
        })
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
    }

    /// Number of keys currently remembered (users + IPs).
    pub fn keys(&self) -> usize {
        self.per_user.as_ref().map_or(0, |l| l.len()) + self.per_ip.as_ref().map_or(0, |l| l.len())
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
            Err(ApiError::RateLimited { retry_after }) => {
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
