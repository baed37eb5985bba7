//! The confirm saga: read the hold, authorize the payment, run the booking transaction, then
//! capture (or void when the transaction refused or failed).
//!
//! The hold id is the idempotency key of all three payment steps, as boxoffice does it: a retried
//! confirm re-authorizes with the same key and gets the same authorization back, so a hold is
//! charged at most once whatever the retries. The cost: a hold pays with one payment method (the
//! same key with another method is refused by the provider as a reused key).

use std::sync::Arc;

use payments::{AuthorizationId, AuthorizeRequest, PaymentError, PaymentProvider};
use uuid::Uuid;

use crate::error::Rejection;
use crate::store::{Booking, ConfirmOutcome, HoldRecord, Store};

/// Most characters of a payment method id.
const PAYMENT_METHOD_CHARS_MAX: usize = 255;

/// What a confirm needs: the database and the payment provider.
#[derive(Clone)]
pub struct Saga {
    /// The database.
    pub store: Store,
    /// The payments sandbox.
    pub payments: Arc<dyn PaymentProvider>,
}

impl Saga {
    /// Pays for `hold_id` on behalf of `user` and turns it into a booking; a hold that already is
    /// one returns its booking (a retried confirm).
    pub async fn confirm(
        &self,
        user: Uuid,
        hold_id: Uuid,
        payment_method_id: &str,
    ) -> Result<Booking, Rejection> {
        check_method(payment_method_id)?;
        let hold = self.owned_hold(user, hold_id).await?;
        if hold.confirmed {
            return self.existing_booking(hold_id).await;
        }
        if !hold.live {
            return Err(Rejection::HoldExpired);
        }
        let key = hold_id.to_string();
        let authorization = self.authorize(&key, &hold, payment_method_id).await?;
        let outcome = match self
            .store
            .confirm(&hold, hold_id, &authorization.to_string())
            .await
        {
            Ok(outcome) => outcome,
            Err(error) => {
                self.void(&key, authorization).await;
                return Err(error.into());
            }
        };
        self.settle(&key, authorization, outcome).await
    }

    /// The hold, if it exists and belongs to `user`.
    async fn owned_hold(&self, user: Uuid, hold_id: Uuid) -> Result<HoldRecord, Rejection> {
        let hold = self
            .store
            .read_hold(hold_id)
            .await?
            .ok_or(Rejection::NotFound("no such hold"))?;
        if hold.user_id != user {
            return Err(Rejection::Forbidden("the hold belongs to another user"));
        }
        Ok(hold)
    }

    /// The booking of an already confirmed hold.
    async fn existing_booking(&self, hold_id: Uuid) -> Result<Booking, Rejection> {
        self.store
            .booking_of_hold(hold_id)
            .await?
            .ok_or_else(|| Rejection::Unavailable("a confirmed hold has no booking".into()))
    }

    /// Reserves the hold's amount on the payment method.
    async fn authorize(
        &self,
        key: &str,
        hold: &HoldRecord,
        payment_method_id: &str,
    ) -> Result<AuthorizationId, Rejection> {
        let request = AuthorizeRequest {
            amount_minor: hold.total,
            currency: hold.currency.clone(),
            payment_method_id: payment_method_id.to_owned(),
            reference: Some(key.to_owned()),
        };
        match self.payments.authorize(key, &request).await {
            Ok(authorization) => Ok(authorization.authorization_id),
            Err(error) => Err(payment_rejection(error)),
        }
    }

    /// After the transaction: capture what was booked, void what was not.
    async fn settle(
        &self,
        key: &str,
        authorization: AuthorizationId,
        outcome: ConfirmOutcome,
    ) -> Result<Booking, Rejection> {
        match outcome {
            ConfirmOutcome::Booked(booking) => {
                self.capture(key, authorization).await;
                Ok(booking)
            }
            ConfirmOutcome::AlreadyConfirmed(booking) => {
                // Same key, same authorization: the concurrent confirm paid with it; capturing
                // again is a no-op. Anything else was never used and is released.
                if booking.payment_id == authorization.to_string() {
                    self.capture(key, authorization).await;
                } else {
                    self.void(key, authorization).await;
                }
                Ok(booking)
            }
            ConfirmOutcome::Lapsed => {
                self.void(key, authorization).await;
                Err(Rejection::HoldExpired)
            }
        }
    }

    /// Takes the money of a committed booking. A failure leaves the authorization `AUTHORIZED`
    /// for a reconciler; the booking stands.
    async fn capture(&self, key: &str, authorization: AuthorizationId) {
        if let Err(error) = self.payments.capture(key, authorization).await {
            tracing::warn!(%error, %authorization, "capture failed; the authorization stays open");
        }
    }

    /// Releases an authorization nothing was booked for. A failure is only logged: the
    /// authorization lapses at the provider.
    async fn void(&self, key: &str, authorization: AuthorizationId) {
        if let Err(error) = self.payments.void(key, authorization).await {
            tracing::warn!(%error, %authorization, "void failed; the authorization stays open");
        }
    }
}

/// A payment method id must be 1..=255 characters.
fn check_method(payment_method_id: &str) -> Result<(), Rejection> {
    let chars = payment_method_id.chars().count();
    if payment_method_id.trim().is_empty() || chars > PAYMENT_METHOD_CHARS_MAX {
        return Err(Rejection::InvalidRequest(
            "paymentMethodId must be 1..=255 characters".into(),
        ));
    }
    Ok(())
}

/// The API's answer to a failed authorization.
fn payment_rejection(error: PaymentError) -> Rejection {
    match error {
        PaymentError::Declined { reason } => Rejection::PaymentDeclined(reason),
        PaymentError::InvalidMethod { payment_method_id } => {
            Rejection::InvalidRequest(format!("unknown payment method {payment_method_id:?}"))
        }
        PaymentError::InvalidRequest { field, reason } => {
            Rejection::InvalidRequest(format!("payment {field}: {reason}"))
        }
        PaymentError::KeyReused => Rejection::PaymentKeyReused,
        error @ (PaymentError::Unavailable { .. }
        | PaymentError::Timeout
        | PaymentError::Storage { .. }
        | PaymentError::NotFound { .. }
        | PaymentError::InvalidState { .. }
        | PaymentError::RefundExceedsCaptured { .. }) => {
            tracing::warn!(%error, "payment provider failed; answering 503");
            Rejection::Unavailable(error.to_string())
        }
    }
}
