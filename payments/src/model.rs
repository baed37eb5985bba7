//! Payment nouns: authorizations, their status, the requests that create and change them, and the
//! error boundary shared by every provider.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Id of an authorization (the booking's `paymentId`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AuthorizationId(pub Uuid);

impl std::fmt::Display for AuthorizationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Where an authorization is in its life. `Authorized` moves to `Captured` or `Voided`; a captured
/// one to `PartiallyRefunded` or `Refunded` as refunds add up to the captured amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthorizationStatus {
    /// Funds reserved, nothing taken yet: the state a crash can strand (the reconciler's list).
    Authorized,
    /// Funds taken.
    Captured,
    /// Part of the captured amount returned.
    PartiallyRefunded,
    /// The whole captured amount returned.
    Refunded,
    /// Reservation released; nothing was taken.
    Voided,
}

/// One payment authorization and what happened to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authorization {
    /// Id.
    pub authorization_id: AuthorizationId,
    /// Status.
    pub status: AuthorizationStatus,
    /// Amount authorized, in minor units.
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Payment method used (`pm_card_visa`, ...).
    pub payment_method_id: String,
    /// Caller's reference (for example the hold id), so a reconciler can find what it paid for.
    pub reference: Option<String>,
    /// Amount captured (0 until captured).
    pub captured_minor: i64,
    /// Sum of refunds so far.
    pub refunded_minor: i64,
    /// When it was authorized.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// What to authorize.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizeRequest {
    /// Amount in minor units, > 0.
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Payment method (`pm_card_visa`, `pm_card_declined`, `pm_card_slow` in the sandbox).
    pub payment_method_id: String,
    /// Caller's reference stored with the authorization.
    #[serde(default)]
    pub reference: Option<String>,
}

/// Body of a refund request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundRequest {
    /// Amount to return in minor units, > 0; all refunds together at most the captured amount.
    pub amount_minor: i64,
}

/// Why a payment call failed. Declines and bad input are answers (never retried); `Unavailable`
/// and `Timeout` mean the outcome is unknown or the provider is down: retry with the SAME key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
pub enum PaymentError {
    /// The issuer refused (API: 402 payment-declined). Remembered per key like any outcome.
    #[error("payment declined: {reason}")]
    Declined {
        /// Issuer's reason (`card_declined`, `insufficient_funds`, ...).
        reason: String,
    },
    /// The payment method does not exist (API: 400 invalid-request on `paymentMethodId`).
    #[error("unknown payment method {payment_method_id:?}")]
    InvalidMethod {
        /// The method given.
        payment_method_id: String,
    },
    /// A malformed request (bad amount, currency, key).
    #[error("invalid {field}: {reason}")]
    InvalidRequest {
        /// Offending field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// No authorization with this id.
    #[error("authorization {authorization_id} not found")]
    NotFound {
        /// The id asked for.
        authorization_id: AuthorizationId,
    },
    /// The operation does not apply in the authorization's status (capture after void, ...).
    #[error("authorization {authorization_id} is {status:?}")]
    InvalidState {
        /// The authorization.
        authorization_id: AuthorizationId,
        /// Its status (`authorizationStatus` on the wire: problem+json owns `status`).
        #[serde(rename = "authorizationStatus")]
        status: AuthorizationStatus,
    },
    /// A refund would return more than was captured.
    #[error("refund of {requested_minor} exceeds the refundable {refundable_minor}")]
    RefundExceedsCaptured {
        /// Amount asked for.
        requested_minor: i64,
        /// What can still be refunded.
        refundable_minor: i64,
    },
    /// The idempotency key was used before for a different request.
    #[error("idempotency key reused with a different request")]
    KeyReused,
    /// The provider is down or answered 5xx; nothing is known to have happened. Retryable.
    #[error("payment provider unavailable: {message}")]
    Unavailable {
        /// Detail.
        message: String,
    },
    /// No answer in time; the operation may or may not have happened. Retry with the same key.
    #[error("payment provider timed out")]
    Timeout,
    /// The provider's own storage failed; it refuses work until restarted.
    #[error("payment provider storage failed: {message}")]
    Storage {
        /// Detail.
        message: String,
    },
}

impl PaymentError {
    /// Whether retrying the same call with the same key may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            PaymentError::Unavailable { .. } | PaymentError::Timeout => true,
            PaymentError::Declined { .. }
            | PaymentError::InvalidMethod { .. }
            | PaymentError::InvalidRequest { .. }
            | PaymentError::NotFound { .. }
            | PaymentError::InvalidState { .. }
            | PaymentError::RefundExceedsCaptured { .. }
            | PaymentError::KeyReused
            | PaymentError::Storage { .. } => false,
        }
    }

    /// HTTP status the sandbox service answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            PaymentError::Declined { .. } => 402,
            PaymentError::InvalidMethod { .. } | PaymentError::InvalidRequest { .. } => 400,
            PaymentError::NotFound { .. } => 404,
            PaymentError::InvalidState { .. } | PaymentError::RefundExceedsCaptured { .. } => 409,
            PaymentError::KeyReused => 422,
            PaymentError::Unavailable { .. } | PaymentError::Storage { .. } => 503,
            PaymentError::Timeout => 504,
        }
    }
}
