//! [`Retrying`]: any [`PaymentProvider`] with bounded retries of retryable failures.
//!
//! Safe because every changing call carries its idempotency key: a retry of a call that did take
//! effect (its answer was lost) returns the first outcome instead of acting twice. Declines and
//! other answers are never retried. The HTTP client retries on its own; this wraps the in-process
//! sandbox of `boxoffice dev`, whose injected 5xx and timeouts must be survived the same way.

use std::time::Duration;

use async_trait::async_trait;

use crate::PaymentProvider;
use crate::model::{Authorization, AuthorizationId, AuthorizeRequest, PaymentError};

/// How often and how patiently to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, at least 1.
    pub attempts_max: u32,
    /// Wait before the first retry; doubles after each.
    pub backoff_initial: Duration,
}

impl Default for RetryPolicy {
    /// 4 attempts, 50 ms first backoff (50 + 100 + 200 ms of waiting at most).
    fn default() -> Self {
        RetryPolicy {
            attempts_max: 4,
            backoff_initial: Duration::from_millis(50),
        }
    }
}

/// A provider whose retryable failures are retried with the same key.
#[derive(Clone, Debug)]
pub struct Retrying<P> {
    inner: P,
    policy: RetryPolicy,
}

impl<P: PaymentProvider> Retrying<P> {
    /// Wrap `inner`.
    pub fn new(inner: P, policy: RetryPolicy) -> Retrying<P> {
        Retrying { inner, policy }
    }

    /// The wrapped provider.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    async fn with_retries<T, F, Fut>(
        &self,
        what: &'static str,
        mut call: F,
    ) -> Result<T, PaymentError>
    where
        F: FnMut() -> Fut + Send,
        Fut: std::future::Future<Output = Result<T, PaymentError>> + Send,
    {
        let mut backoff = self.policy.backoff_initial;
        let mut attempt = 1;
        loop {
            match call().await {
                Err(e) if e.is_retryable() && attempt < self.policy.attempts_max.max(1) => {
                    tracing::debug!(error = %e, attempt, what, "payment call failed; retrying with the same key");
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

#[async_trait]
impl<P: PaymentProvider> PaymentProvider for Retrying<P> {
    async fn authorize(
        &self,
        key: &str,
        request: &AuthorizeRequest,
    ) -> Result<Authorization, PaymentError> {
        self.with_retries("authorize", || self.inner.authorize(key, request))
            .await
    }

    async fn capture(
        &self,
        key: &str,
        authorization_id: AuthorizationId,
    ) -> Result<Authorization, PaymentError> {
        self.with_retries("capture", || self.inner.capture(key, authorization_id))
            .await
    }

    async fn void(
        &self,
        key: &str,
        authorization_id: AuthorizationId,
    ) -> Result<Authorization, PaymentError> {
        self.with_retries("void", || self.inner.void(key, authorization_id))
            .await
    }

    async fn refund(
        &self,
        key: &str,
        authorization_id: AuthorizationId,
        amount_minor: i64,
    ) -> Result<Authorization, PaymentError> {
        self.with_retries("refund", || {
            self.inner.refund(key, authorization_id, amount_minor)
        })
        .await
    }

    async fn get(&self, authorization_id: AuthorizationId) -> Result<Authorization, PaymentError> {
        self.with_retries("get", || self.inner.get(authorization_id))
            .await
    }

    async fn list_authorized(&self) -> Result<Vec<Authorization>, PaymentError> {
        self.with_retries("list", || self.inner.list_authorized())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::{FaultConfig, SandboxConfig, SandboxProvider};
    use crate::{AuthorizationStatus, PM_CARD_VISA};

    fn request() -> AuthorizeRequest {
        AuthorizeRequest {
            amount_minor: 1_000,
            currency: "USD".into(),
            payment_method_id: PM_CARD_VISA.into(),
            reference: None,
        }
    }

    /// Half of all calls fail with a 5xx before doing anything; with retries every confirm-shaped
    /// sequence (authorize, capture) still succeeds, and each key acts once.
    #[tokio::test]
    async fn retries_ride_out_injected_errors_without_double_effects() {
        let sandbox = SandboxProvider::open(&SandboxConfig {
            faults: FaultConfig {
                seed: 7,
                error_rate: 0.5,
                ..FaultConfig::default()
            },
            ..SandboxConfig::default()
        })
        .unwrap();
        let provider = Retrying::new(
            sandbox.clone(),
            RetryPolicy {
                attempts_max: 12,
                backoff_initial: Duration::from_millis(1),
            },
        );
        for i in 0..20 {
            let key = format!("k{i}");
            let a = provider.authorize(&key, &request()).await.unwrap();
            let again = provider.authorize(&key, &request()).await.unwrap();
            assert_eq!(a.authorization_id, again.authorization_id);
            let c = provider.capture(&key, a.authorization_id).await.unwrap();
            assert_eq!(c.status, AuthorizationStatus::Captured);
        }
        assert!(sandbox.list_authorized().await.unwrap().is_empty());
    }

    /// Declines are answers: never retried.
    #[tokio::test]
    async fn declines_are_not_retried() {
        let sandbox = SandboxProvider::in_memory();
        let provider = Retrying::new(sandbox, RetryPolicy::default());
        let mut declined = request();
        declined.payment_method_id = crate::PM_CARD_DECLINED.into();
        let started = std::time::Instant::now();
        let e = provider.authorize("d", &declined).await.unwrap_err();
        assert!(matches!(e, PaymentError::Declined { .. }));
        assert!(started.elapsed() < Duration::from_millis(40));
    }
}
