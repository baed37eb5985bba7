//! The one place API errors become HTTP responses: `application/problem+json` bodies with a stable
//! kebab-case `code` per the public contract.
//!
//! Every handler, extractor and middleware returns [`ApiError`]; nothing else writes an error
//! response, so codes, statuses and extra members cannot drift between routes.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use payments::PaymentError;
use processors::bus::BusError;
use queue::TokenRefusal;
use schemas::{NotCancellableReason, Rejection};
use serde::Serialize;
use usecases::Failure;
use usecases::failure::Refusal;

use clock::rfc3339_ms;
use utoipa::ToSchema;
use uuid::Uuid;

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Default `Retry-After` when a backing service is down or an outcome is unknown.
const RETRY_UNAVAILABLE: Duration = Duration::from_secs(1);

/// Which limit answered `429 rate-limited`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitScope {
    /// Requests per second of one client address.
    #[error("too many requests from this address")]
    Ip,
    /// Requests per second of one user.
    #[error("too many requests from this user")]
    User,
    /// Guest tokens per minute of one client address.
    #[error("too many guest tokens issued to this address; try again after Retry-After seconds")]
    GuestsPerIp,
    /// Guest tokens per minute of one network prefix (/24, /56).
    #[error(
        "too many guest tokens issued to this network (/24 or /56); try again after Retry-After seconds"
    )]
    GuestsPerPrefix,
}

impl LimitScope {
    /// A short stable name (metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            LimitScope::Ip => "ip",
            LimitScope::User => "user",
            LimitScope::GuestsPerIp => "guest_ip",
            LimitScope::GuestsPerPrefix => "guest_prefix",
        }
    }
}

/// Everything the API can answer besides success. Variants name the contract's error codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// `400 invalid-request`: malformed body, path id, query parameter or header.
    #[error("invalid {field}: {detail}")]
    InvalidRequest {
        /// The offending field (JSON path, path parameter, query parameter or header name).
        field: String,
        /// What is wrong with it.
        detail: String,
    },
    /// `401 unauthenticated`: missing, invalid or expired bearer token.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// `402 payment-declined`: the payment provider declined; the hold stays active.
    #[error("payment declined")]
    PaymentDeclined,
    /// `403 forbidden`: the caller lacks the role or acts for another user.
    #[error("{0}")]
    Forbidden(&'static str),
    /// `403 sale-not-open`: sales for the show open later.
    #[error("sale opens at {opens_at}")]
    SaleNotOpen {
        /// When sales open (RFC 3339).
        opens_at: String,
    },
    /// `403 admission-required`: the show's waiting room is active and the hold has no valid
    /// `Admission-Token`.
    #[error("{0}")]
    AdmissionRequired(&'static str),
    /// `428 challenge-required`: the show asks for a proof of work to join its queue.
    #[error(
        "send Challenge-Solution: a nonce such that SHA-256(challenge + nonce) has {bits} leading zero bits"
    )]
    ChallengeRequired {
        /// The challenge string.
        challenge: String,
        /// Leading zero bits asked for.
        bits: u8,
    },
    /// `428 challenge-required` on a hold: the demand guard asks this client for a proof of work
    /// before each further hold on the show ([`queue::guard`]), for `reason`.
    #[error(
        "{reason}; send Challenge-Solution: a nonce such that SHA-256(challenge + nonce) has {bits} leading zero bits"
    )]
    GuardChallenge {
        /// The challenge string.
        challenge: String,
        /// Leading zero bits asked for.
        bits: u8,
        /// Why this client is asked.
        reason: queue::guard::GuardReason,
    },
    /// `403 sale-closed`: the show has started; nothing is sold any more.
    #[error("the show has started; sales are closed")]
    SaleClosed,
    /// `404 not-found`: unknown route or resource, or another user's resource.
    #[error("not found")]
    NotFound,
    /// `405 method-not-allowed`: the route exists with other methods.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// `409 seats-unavailable`: seats held, booked or blocked (or not blockable).
    #[error("seats unavailable")]
    SeatsUnavailable {
        /// The seats in the way.
        seat_ids: Vec<Uuid>,
    },
    /// `409 hold-already-confirmed`: releasing a hold that became a booking.
    #[error("hold already confirmed")]
    HoldAlreadyConfirmed,
    /// `409 already-exists`: creating something that exists.
    #[error("already exists")]
    AlreadyExists,
    /// `409 booking-not-cancellable`.
    #[error("booking cannot be cancelled")]
    BookingNotCancellable,
    /// `409 already-checked-in`.
    #[error("ticket already checked in")]
    AlreadyCheckedIn {
        /// When (RFC 3339).
        checked_in_at: String,
        /// At which gate.
        gate: Option<String>,
    },
    /// `410 ticket-cancelled`.
    #[error("ticket cancelled")]
    TicketCancelled,
    /// `422 invalid-ticket`.
    #[error("invalid ticket")]
    InvalidTicket,
    /// `410 hold-expired`: the hold expired or was released; nothing was captured.
    #[error("hold expired or released")]
    HoldExpired,
    /// `413 payload-too-large`: request body over the limit.
    #[error("body larger than {limit_bytes} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit_bytes: usize,
    },
    /// `422 idempotency-key-reused`: the key was used before for a different request.
    #[error("idempotency key reused with a different request")]
    IdempotencyKeyReused,
    /// `422 ticket-limit-exceeded`.
    #[error("more than {limit} seats for this show")]
    TicketLimitExceeded {
        /// The limit.
        limit: u16,
    },
    /// `422 hold-limit-exceeded`.
    #[error("more than {limit} active holds")]
    HoldLimitExceeded {
        /// The limit.
        limit: u16,
    },
    /// `429 rate-limited`.
    #[error("rate limited: {scope}")]
    RateLimited {
        /// When to try again.
        retry_after: Duration,
        /// Which limit refused the request (the problem's `detail`).
        scope: LimitScope,
    },
    /// `503 unavailable`: a backing service is down or a command's outcome is unknown.
    #[error("unavailable: {detail}")]
    Unavailable {
        /// What is unavailable (no internals).
        detail: String,
    },
}

impl ApiError {
    /// Shorthand for a `400 invalid-request` naming `field`.
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::InvalidRequest {
            field: field.into(),
            detail: detail.into(),
        }
    }

    /// Shorthand for a `503 unavailable` with a short reason.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::Unavailable {
            detail: detail.into(),
        }
    }

    /// HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::PaymentDeclined => StatusCode::PAYMENT_REQUIRED,
            Self::Forbidden(_)
            | Self::SaleNotOpen { .. }
            | Self::SaleClosed
            | Self::AdmissionRequired(_) => StatusCode::FORBIDDEN,
            Self::ChallengeRequired { .. } | Self::GuardChallenge { .. } => {
                StatusCode::PRECONDITION_REQUIRED
            }
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::SeatsUnavailable { .. }
            | Self::HoldAlreadyConfirmed
            | Self::AlreadyExists
            | Self::BookingNotCancellable
            | Self::AlreadyCheckedIn { .. } => StatusCode::CONFLICT,
            Self::HoldExpired | Self::TicketCancelled => StatusCode::GONE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::IdempotencyKeyReused
            | Self::InvalidTicket
            | Self::TicketLimitExceeded { .. }
            | Self::HoldLimitExceeded { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The contract's stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest { .. } => "invalid-request",
            Self::Unauthenticated(_) => "unauthenticated",
            Self::PaymentDeclined => "payment-declined",
            Self::Forbidden(_) => "forbidden",
            Self::SaleNotOpen { .. } => "sale-not-open",
            Self::SaleClosed => "sale-closed",
            Self::AdmissionRequired(_) => "admission-required",
            Self::ChallengeRequired { .. } | Self::GuardChallenge { .. } => "challenge-required",
            Self::AlreadyExists => "already-exists",
            Self::BookingNotCancellable => "booking-not-cancellable",
            Self::AlreadyCheckedIn { .. } => "already-checked-in",
            Self::TicketCancelled => "ticket-cancelled",
            Self::InvalidTicket => "invalid-ticket",
            Self::NotFound => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::SeatsUnavailable { .. } => "seats-unavailable",
            Self::HoldAlreadyConfirmed => "hold-already-confirmed",
            Self::HoldExpired => "hold-expired",
            Self::PayloadTooLarge { .. } => "payload-too-large",
            Self::IdempotencyKeyReused => "idempotency-key-reused",
            Self::TicketLimitExceeded { .. } => "ticket-limit-exceeded",
            Self::HoldLimitExceeded { .. } => "hold-limit-exceeded",
            Self::RateLimited { .. } => "rate-limited",
            Self::Unavailable { .. } => "unavailable",
        }
    }

    /// How long a client should wait before trying again (the `Retry-After` header). Every
    /// variant is named so a new 429/503 cannot silently answer without one.
    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => Some(*retry_after),
            Self::Unavailable { .. } => Some(RETRY_UNAVAILABLE),
            Self::InvalidRequest { .. }
            | Self::Unauthenticated(_)
            | Self::PaymentDeclined
            | Self::Forbidden(_)
            | Self::SaleNotOpen { .. }
            | Self::AdmissionRequired(_)
            | Self::ChallengeRequired { .. }
            | Self::GuardChallenge { .. }
            | Self::SaleClosed
            | Self::NotFound
            | Self::MethodNotAllowed
            | Self::SeatsUnavailable { .. }
            | Self::HoldAlreadyConfirmed
            | Self::AlreadyExists
            | Self::BookingNotCancellable
            | Self::AlreadyCheckedIn { .. }
            | Self::TicketCancelled
            | Self::InvalidTicket
            | Self::HoldExpired
            | Self::PayloadTooLarge { .. }
            | Self::IdempotencyKeyReused
            | Self::TicketLimitExceeded { .. }
            | Self::HoldLimitExceeded { .. } => None,
        }
    }

    /// The problem document for this error.
    pub fn problem(&self) -> Problem {
        let status = self.status();
        let code = self.code();
        let mut problem = Problem {
            kind: format!("/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: self.to_string(),
            code: code.to_string(),
            field: None,
            unavailable_seat_ids: None,
            opens_at: None,
            limit: None,
            checked_in_at: None,
            gate: None,
            challenge: None,
            bits: None,
        };
        match self {
            Self::InvalidRequest { field, .. } => problem.field = Some(field.clone()),
            Self::SeatsUnavailable { seat_ids } => {
                problem.unavailable_seat_ids = Some(seat_ids.clone())
            }
            Self::SaleNotOpen { opens_at } => problem.opens_at = Some(opens_at.clone()),
            Self::ChallengeRequired { challenge, bits }
            | Self::GuardChallenge {
                challenge, bits, ..
            } => {
                problem.challenge = Some(challenge.clone());
                problem.bits = Some(*bits);
            }
            Self::AdmissionRequired(_) => {}
            Self::TicketLimitExceeded { limit } | Self::HoldLimitExceeded { limit } => {
                problem.limit = Some(*limit)
            }
            Self::AlreadyCheckedIn {
                checked_in_at,
                gate,
            } => {
                problem.checked_in_at = Some(checked_in_at.clone());
                problem.gate = gate.clone();
            }
            Self::Unauthenticated(_)
            | Self::PaymentDeclined
            | Self::Forbidden(_)
            | Self::SaleClosed
            | Self::NotFound
            | Self::MethodNotAllowed
            | Self::HoldAlreadyConfirmed
            | Self::AlreadyExists
            | Self::BookingNotCancellable
            | Self::TicketCancelled
            | Self::InvalidTicket
            | Self::HoldExpired
            | Self::PayloadTooLarge { .. }
            | Self::IdempotencyKeyReused
            | Self::RateLimited { .. }
            | Self::Unavailable { .. } => {}
        }
        problem
    }
}

/// An RFC 9457 problem document with the contract's `code` and the extra members some codes carry.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// A URI reference naming the problem type (`/problems/<code>`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Short human summary of the status.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// Human explanation of this occurrence.
    pub detail: String,
    /// Stable kebab-case error code.
    pub code: String,
    /// For `invalid-request`: the offending field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For `seats-unavailable`: the seats in the way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable_seat_ids: Option<Vec<Uuid>>,
    /// For `sale-not-open`: when sales open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opens_at: Option<String>,
    /// For the limit codes: the limit that was hit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u16>,
    /// For `already-checked-in`: when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked_in_at: Option<String>,
    /// For `already-checked-in`: at which gate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<String>,
    /// For `challenge-required`: the proof-of-work challenge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    /// For `challenge-required`: leading zero bits SHA-256(challenge + nonce) must have.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bits: Option<u8>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(code = self.code(), error = %self, "answering 5xx");
        }
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(after) = self.retry_after() {
            // Retry-After is whole seconds; round up so clients never retry too early.
            let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}

// Each crate's errors become API errors here, so a handler says `?` and the meaning of a failure
// is decided in one place. Failures of a backing service are logged where they are translated
// and answer `503` without their detail.

/// A use case that did not happen, as the contract answers it.
impl From<Failure> for ApiError {
    fn from(failure: Failure) -> ApiError {
        match failure {
            Failure::NotFound => ApiError::NotFound,
            Failure::Rejected(rejection) => rejection.into(),
            Failure::HoldExpired => ApiError::HoldExpired,
            Failure::HoldAlreadyConfirmed => ApiError::HoldAlreadyConfirmed,
            Failure::KeyReused => ApiError::IdempotencyKeyReused,
            Failure::InvalidTicket => ApiError::InvalidTicket,
            Failure::Payment(error) => payment_failed(error),
            Failure::Pipeline(BusError::Timeout) => ApiError::unavailable(
                "the booking pipeline did not answer in time; retry with the same Idempotency-Key",
            ),
            Failure::Pipeline(BusError::Unavailable(_)) => {
                ApiError::unavailable("the booking pipeline is unavailable")
            }
            Failure::Pipeline(BusError::Encode(_)) => {
                ApiError::unavailable("the command could not be encoded")
            }
            Failure::Index(_) => ApiError::unavailable("the idempotency index is unavailable"),
            Failure::Catalog(error) => error.into(),
            Failure::Store(error) => error.into(),
            Failure::Tickets(error) => error.into(),
            Failure::Unanswered { what } => {
                ApiError::unavailable(format!("the pipeline answered without {what}"))
            }
            Failure::SeatsNotReady(detail) => ApiError::unavailable(detail),
            Failure::Refused(refusal) => refused(refusal),
            Failure::Queue(error) => error.into(),
            Failure::NoWaitingRoom => ApiError::unavailable("the waiting room is not running"),
        }
    }
}

/// Held back by the waiting room or the demand guard, as the contract answers it.
fn refused(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::Admission(refusal) => ApiError::AdmissionRequired(admission_text(refusal)),
        Refusal::Guard { challenge, reason } => ApiError::GuardChallenge {
            challenge: challenge.challenge,
            bits: challenge.bits,
            reason,
        },
        Refusal::Join(challenge) => ApiError::ChallengeRequired {
            challenge: challenge.challenge,
            bits: challenge.bits,
        },
    }
}

fn admission_text(refusal: TokenRefusal) -> &'static str {
    match refusal {
        TokenRefusal::Missing => "this show sells through a waiting room: join the queue first",
        TokenRefusal::Forged => "the admission token is not valid",
        TokenRefusal::OtherShow => "the admission token is for another show",
        TokenRefusal::OtherUser => "the admission token is for another user",
        TokenRefusal::Expired => "the admission token has expired: join the queue again",
    }
}

/// A payment that failed, as the contract answers it: declined is `402` (the hold stays
/// active), a bad method or field `400`, anything on the provider's side `503`.
fn payment_failed(error: PaymentError) -> ApiError {
    match error {
        PaymentError::Declined { .. } => ApiError::PaymentDeclined,
        PaymentError::InvalidMethod { .. } => {
            ApiError::invalid("paymentMethodId", "unknown payment method")
        }
        PaymentError::InvalidRequest { field, reason } => {
            let field = match field.as_str() {
                "paymentMethodId" | "payment_method_id" => "paymentMethodId".to_owned(),
                _ => field,
            };
            ApiError::invalid(field, reason)
        }
        PaymentError::KeyReused => ApiError::IdempotencyKeyReused,
        PaymentError::Unavailable { .. }
        | PaymentError::Timeout
        | PaymentError::Storage { .. }
        | PaymentError::NotFound { .. }
        | PaymentError::InvalidState { .. }
        | PaymentError::RefundExceedsCaptured { .. } => {
            ApiError::unavailable("the payment provider is unavailable")
        }
    }
}

/// The general meaning of a rejection. The use cases answer operation-specific cases (a released
/// hold on release, an already confirmed hold on confirm) before falling back to this.
impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> ApiError {
        rejected(rejection)
    }
}

fn rejected(rejection: Rejection) -> ApiError {
    match rejection {
        Rejection::UnknownShow
        | Rejection::UnknownSeats { .. }
        | Rejection::HoldNotFound
        | Rejection::NotHoldOwner
        | Rejection::BookingNotFound
        | Rejection::NotBookingOwner => ApiError::NotFound,
        Rejection::ShowAlreadyExists => ApiError::AlreadyExists,
        Rejection::InvalidLayout { detail } => ApiError::invalid("sections", detail),
        Rejection::NoSeats => ApiError::invalid("seatIds", "must name at least one seat"),
        Rejection::DuplicateSeats { .. } => ApiError::invalid("seatIds", "names a seat twice"),
        Rejection::TooManySeats { max } => {
            ApiError::invalid("seatIds", format!("must name at most {max} seats"))
        }
        Rejection::SaleNotOpen { opens_at } => ApiError::SaleNotOpen {
            opens_at: rfc3339_ms(opens_at),
        },
        Rejection::ShowStarted => ApiError::SaleClosed,
        Rejection::TicketLimitExceeded { limit } => ApiError::TicketLimitExceeded { limit },
        Rejection::HoldLimitExceeded { limit } => ApiError::HoldLimitExceeded { limit },
        Rejection::SeatsUnavailable { seat_ids } | Rejection::SeatsNotBlockable { seat_ids } => {
            ApiError::SeatsUnavailable {
                seat_ids: seat_ids.into_iter().map(|s| s.0).collect(),
            }
        }
        Rejection::HoldExpired | Rejection::HoldReleased => ApiError::HoldExpired,
        Rejection::HoldAlreadyConfirmed { .. } => ApiError::HoldAlreadyConfirmed,
        Rejection::BookingNotCancellable { reason } => {
            not_cancellable(reason);
            ApiError::BookingNotCancellable
        }
        Rejection::TicketNotFound => ApiError::InvalidTicket,
        Rejection::AlreadyCheckedIn { at, gate } => ApiError::AlreadyCheckedIn {
            checked_in_at: rfc3339_ms(at),
            gate,
        },
        Rejection::TicketCancelled => ApiError::TicketCancelled,
        Rejection::CommandIdReused => ApiError::IdempotencyKeyReused,
    }
}

fn not_cancellable(reason: NotCancellableReason) {
    let reason = match reason {
        NotCancellableReason::AlreadyCancelled => "already_cancelled",
        NotCancellableReason::CheckedIn => "checked_in",
        NotCancellableReason::ShowStarted => "show_started",
    };
    metrics::counter!("boxoffice_ingress_not_cancellable_total", "reason" => reason).increment(1);
}

impl From<live::upgrade::UpgradeError> for ApiError {
    fn from(refused: live::upgrade::UpgradeError) -> Self {
        ApiError::invalid(refused.field, refused.reason)
    }
}

impl From<catalog::CatalogError> for ApiError {
    fn from(error: catalog::CatalogError) -> ApiError {
        use catalog::CatalogError;
        match error {
            CatalogError::Invalid(invalid) => {
                ApiError::invalid(invalid.field(), invalid.to_string())
            }
            CatalogError::VenueNotFound(_)
            | CatalogError::EventNotFound(_)
            | CatalogError::ShowNotFound(_) => ApiError::NotFound,
            CatalogError::Store(e) => {
                tracing::warn!(error = %e, "catalog store failed");
                ApiError::unavailable("the catalog is unavailable")
            }
            CatalogError::Search(e) => {
                tracing::error!(error = %e, "search index failed");
                ApiError::unavailable("search is unavailable")
            }
        }
    }
}

impl From<processors::store::StoreError> for ApiError {
    fn from(error: processors::store::StoreError) -> ApiError {
        tracing::warn!(error = %error, "seat state read failed");
        ApiError::unavailable("seat state is unavailable")
    }
}

impl From<queue::QueueError> for ApiError {
    fn from(error: queue::QueueError) -> ApiError {
        use queue::QueueError;
        match error {
            QueueError::Timeout => ApiError::unavailable(
                "the waiting room did not confirm in time; joining again is safe",
            ),
            QueueError::Unavailable(_) | QueueError::Corrupt(_) | QueueError::Misconfigured(_) => {
                tracing::warn!(error = %error, "waiting room unavailable");
                ApiError::unavailable("the waiting room is unavailable")
            }
        }
    }
}

impl From<fulfilment::TicketStoreError> for ApiError {
    fn from(error: fulfilment::TicketStoreError) -> ApiError {
        tracing::warn!(error = %error, "ticket store read failed");
        ApiError::unavailable("tickets are unavailable")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_a_client_status_except_unavailable() {
        let all = [
            ApiError::invalid("f", "d"),
            ApiError::Unauthenticated("x"),
            ApiError::PaymentDeclined,
            ApiError::Forbidden("x"),
            ApiError::SaleNotOpen {
                opens_at: "t".into(),
            },
            ApiError::NotFound,
            ApiError::MethodNotAllowed,
            ApiError::SeatsUnavailable { seat_ids: vec![] },
            ApiError::HoldAlreadyConfirmed,
            ApiError::HoldExpired,
            ApiError::PayloadTooLarge { limit_bytes: 1 },
            ApiError::IdempotencyKeyReused,
            ApiError::TicketLimitExceeded { limit: 6 },
            ApiError::HoldLimitExceeded { limit: 3 },
            ApiError::RateLimited {
                retry_after: Duration::from_millis(10),
                scope: LimitScope::Ip,
            },
        ];
        for error in all {
            assert!(error.status().is_client_error(), "{error:?}");
        }
        assert_eq!(
            ApiError::unavailable("x").status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[test]
    fn every_429_and_503_carries_retry_after_and_nothing_else_does() {
        let all = [
            ApiError::invalid("f", "d"),
            ApiError::Unauthenticated("x"),
            ApiError::PaymentDeclined,
            ApiError::Forbidden("x"),
            ApiError::SaleNotOpen {
                opens_at: "t".into(),
            },
            ApiError::AdmissionRequired("x"),
            ApiError::ChallengeRequired {
                challenge: "c".into(),
                bits: 8,
            },
            ApiError::SaleClosed,
            ApiError::NotFound,
            ApiError::SeatsUnavailable { seat_ids: vec![] },
            ApiError::HoldExpired,
            ApiError::TicketLimitExceeded { limit: 6 },
            ApiError::RateLimited {
                retry_after: Duration::from_millis(10),
                scope: LimitScope::Ip,
            },
            ApiError::unavailable("x"),
        ];
        for error in all {
            let status = error.status();
            let retries = matches!(
                status,
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
            );
            let response = error.clone().into_response();
            assert_eq!(
                response.headers().contains_key(header::RETRY_AFTER),
                retries,
                "{error:?}"
            );
        }
    }

    #[test]
    fn rate_limited_rounds_retry_after_up_to_whole_seconds() {
        let response = ApiError::RateLimited {
            retry_after: Duration::from_millis(1500),
            scope: LimitScope::GuestsPerIp,
        }
        .into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
    }
}
