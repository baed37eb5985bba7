//! Errors: [`StoreError`] for what fails underneath (PostgreSQL, the pool), and [`Rejection`], the
//! named refusals of the API. [`Rejection::status`] and [`Rejection::slug`] are the one place a
//! refusal becomes an HTTP status and a problem type; nothing else writes an error response.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use uuid::Uuid;

/// Media type of every error body.
const PROBLEM_JSON: &str = "application/problem+json";

/// A failure of the database or of the pool in front of it. Keeps its source for the logs.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// PostgreSQL answered with an error, or the connection broke.
    #[error("postgres: {}", describe(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// No connection within the pool's wait timeout, or a new one could not be opened.
    #[error("connection pool: {}", describe(.0))]
    Pool(#[from] deadpool_postgres::PoolError),
    /// A statement changed a different number of rows than the transaction requires.
    #[error("{0}")]
    Invariant(&'static str),
}

/// An error and its causes on one line, each cause once (tokio-postgres's `Display` says only
/// "db error"; the server's message is in the source).
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Everything the API answers besides success.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// `400 invalid-request`: malformed JSON, path, or values out of range.
    #[error("{0}")]
    InvalidRequest(String),
    /// `401 unauthenticated`: missing, malformed, forged or expired bearer token.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// `402 payment-declined`: the provider refused; the hold stays active.
    #[error("payment declined: {0}")]
    PaymentDeclined(String),
    /// `403 forbidden`: the caller lacks the role, or the hold is another user's.
    #[error("{0}")]
    Forbidden(&'static str),
    /// `404 not-found`: unknown route, show, seat or hold.
    #[error("{0}")]
    NotFound(&'static str),
    /// `405 method-not-allowed`: the path exists with other methods.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// `409 seats-unavailable`: some seats are held or booked (listed in `unavailableSeatIds`).
    #[error("{} seat(s) already held or booked", .0.len())]
    SeatsUnavailable(Vec<Uuid>),
    /// `410 hold-expired`: the hold lapsed (or lost its seats); nothing was captured.
    #[error("the hold has expired")]
    HoldExpired,
    /// `422 idempotency-key-reused`: the hold was already paid for with another payment method
    /// (the hold id is the payment key of all steps of its confirm).
    #[error("this hold was already submitted with another payment method")]
    PaymentKeyReused,
    /// `503 unavailable`: PostgreSQL or the payment provider failed; try again.
    #[error("{0}")]
    Unavailable(String),
}

impl Rejection {
    /// HTTP status of this refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::PaymentDeclined(_) => StatusCode::PAYMENT_REQUIRED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::SeatsUnavailable(_) => StatusCode::CONFLICT,
            Self::HoldExpired => StatusCode::GONE,
            Self::PaymentKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The stable kebab-case name of this refusal (the problem's `type`, `title` and `code`).
    pub fn slug(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid-request",
            Self::Unauthenticated(_) => "unauthenticated",
            Self::PaymentDeclined(_) => "payment-declined",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::SeatsUnavailable(_) => "seats-unavailable",
            Self::HoldExpired => "hold-expired",
            Self::PaymentKeyReused => "idempotency-key-reused",
            Self::Unavailable(_) => "unavailable",
        }
    }

    /// The RFC 9457 problem document of this refusal.
    fn problem(&self) -> Problem {
        let slug = self.slug();
        Problem {
            kind: slug,
            title: slug,
            status: self.status().as_u16(),
            detail: self.to_string(),
            code: slug,
            unavailable_seat_ids: match self {
                Self::SeatsUnavailable(seats) => Some(seats.clone()),
                _ => None,
            },
        }
    }
}

/// A PostgreSQL or pool failure answers 503 with the error as the detail, and is logged.
impl From<StoreError> for Rejection {
    fn from(error: StoreError) -> Self {
        tracing::warn!(%error, "database error; answering 503");
        Rejection::Unavailable(error.to_string())
    }
}

/// An RFC 9457 problem document; `code` repeats the slug for clients of boxoffice's own API.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Problem {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    detail: String,
    code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    unavailable_seat_ids: Option<Vec<Uuid>>,
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let mut response = (self.status(), Json(self.problem())).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if matches!(self, Self::Unavailable(_)) {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seats_unavailable_lists_the_seats() {
        let seat = Uuid::from_u128(7);
        let problem =
            serde_json::to_value(Rejection::SeatsUnavailable(vec![seat]).problem()).unwrap();
        assert_eq!(problem["status"], 409);
        assert_eq!(problem["title"], "seats-unavailable");
        assert_eq!(problem["unavailableSeatIds"][0], seat.to_string());
    }

    #[test]
    fn every_refusal_has_a_client_or_server_error_status() {
        let all = [
            Rejection::InvalidRequest(String::new()),
            Rejection::Unauthenticated(""),
            Rejection::PaymentDeclined(String::new()),
            Rejection::Forbidden(""),
            Rejection::NotFound(""),
            Rejection::MethodNotAllowed,
            Rejection::SeatsUnavailable(Vec::new()),
            Rejection::HoldExpired,
            Rejection::PaymentKeyReused,
            Rejection::Unavailable(String::new()),
        ];
        for r in all {
            assert!(
                r.status().is_client_error() || r.status().is_server_error(),
                "{r:?}"
            );
        }
    }
}
