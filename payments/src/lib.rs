//! Payments: the provider interface the confirm flow uses, the bundled sandbox provider with
//! Stripe-like semantics, the sandbox as an HTTP service, and the HTTP client for it.
//!
//! # Layout
//! - [`model`]: `Authorization`, its status, requests, and [`PaymentError`] (retryable or not).
//! - [`sandbox`]: [`SandboxProvider`], the in-process state machine (authorize -> capture | void;
//!   capture -> refunds), idempotent by key, optionally persisted under a directory, with seeded
//!   fault injection ([`FaultConfig`]).
//! - [`journal`]: the sandbox's durable log (redb with group commit).
//! - [`sandbox_server`]: the sandbox as an axum service (`boxoffice payments-sandbox`).
//! - [`client`]: [`HttpPaymentProvider`], a [`PaymentProvider`] over that service with timeouts and
//!   safe retries.
//! - [`retry`]: [`Retrying`], bounded same-key retries around any provider (the in-process
//!   sandbox of `boxoffice dev`).
//!
//! A confirm flows: ingress `authorize(key)` -> `Confirm` through the log -> `capture(key)` on
//! success or `void(key)` on rejection. Each call carries an idempotency key, so any retry, from
//! any process, has exactly one effect and gets the first answer back.

pub mod client;
pub mod journal;
pub mod model;
pub mod retry;
pub mod sandbox;
pub mod sandbox_server;

use async_trait::async_trait;

pub use client::{ClientConfig, HttpPaymentProvider};
pub use model::{
    Authorization, AuthorizationId, AuthorizationStatus, AuthorizeRequest, PaymentError,
    RefundRequest,
};
pub use retry::{RetryPolicy, Retrying};
pub use sandbox::{FaultConfig, SandboxConfig, SandboxProvider};
pub use sandbox_server::FaultArgs;

/// The sandbox's test payment method that always succeeds.
pub const PM_CARD_VISA: &str = "pm_card_visa";
/// The sandbox's test payment method that is always declined.
pub const PM_CARD_DECLINED: &str = "pm_card_declined";
/// The sandbox's test payment method that succeeds after two seconds.
pub const PM_CARD_SLOW: &str = "pm_card_slow";

/// A payment provider. Every changing call takes an idempotency key: the same key with the same
/// request returns the first outcome (success or decline) and has no second effect; the same key
/// with a different request is [`PaymentError::KeyReused`]. Keys are scoped per operation
/// (authorize, capture, void, refund), so one key (say, the hold id) may name all steps of one
/// confirm. Errors with [`PaymentError::is_retryable`] should be retried with the same key.
#[async_trait]
pub trait PaymentProvider: Send + Sync + 'static {
    /// Reserves `amount_minor` on the payment method.
    async fn authorize(
        &self,
        key: &str,
        request: &AuthorizeRequest,
    ) -> Result<Authorization, PaymentError>;

    /// Takes the authorized amount. Capturing an already captured authorization returns it as is.
    async fn capture(
        &self,
        key: &str,
        authorization_id: AuthorizationId,
    ) -> Result<Authorization, PaymentError>;

    /// Releases an uncaptured authorization. Voiding a voided one returns it as is.
    async fn void(
        &self,
        key: &str,
        authorization_id: AuthorizationId,
    ) -> Result<Authorization, PaymentError>;

    /// Returns part or all of a captured amount; refunds add up to at most the captured amount.
    async fn refund(
        &self,
        key: &str,
        authorization_id: AuthorizationId,
        amount_minor: i64,
    ) -> Result<Authorization, PaymentError>;

    /// One authorization's current state.
    async fn get(&self, authorization_id: AuthorizationId) -> Result<Authorization, PaymentError>;

    /// Authorizations still `AUTHORIZED` (neither captured nor voided): what a crash mid-confirm
    /// can leave behind, for the reconciler to settle.
    async fn list_authorized(&self) -> Result<Vec<Authorization>, PaymentError>;
}

/// Checks an idempotency key: 1..=255 printable ASCII characters, as the public API requires.
pub fn check_key(key: &str) -> Result<(), PaymentError> {
    let printable = key.bytes().all(|b| (0x20..0x7f).contains(&b));
    if key.is_empty() || key.len() > 255 || !printable {
        return Err(PaymentError::InvalidRequest {
            field: "Idempotency-Key".into(),
            reason: "must be 1 to 255 printable ASCII characters".into(),
        });
    }
    Ok(())
}
