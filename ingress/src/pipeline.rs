//! The ingress side of the command pipeline: id derivation, envelopes, submitting through the
//! [`CommandBus`](processors::bus::CommandBus), and turning replies and failures into API errors.

use processors::bus::BusError;
use schemas::{
    BookingId, Command, CommandEnvelope, CommandId, Fingerprint, HoldId, NotCancellableReason,
    Rejection, Reply, SCHEMA_VERSION, ShowId, UnixMs,
};
use uuid::Uuid;

use crate::error::ApiError;
use crate::idempotency::Claim;
use crate::state::AppState;
use clock::rfc3339_ms;

/// The hold a hold command creates: derived from the command id, so a retried command (same
/// idempotency key) names the same hold.
pub fn hold_id(command: CommandId) -> HoldId {
    HoldId(Uuid::new_v5(&command.0, b"boxoffice/hold"))
}

/// The booking a hold becomes: derived from the hold, so every confirm of one hold names the same
/// booking (the engine relies on it to tell an id reuse from a second confirm).
pub fn booking_id(hold: HoldId) -> BookingId {
    BookingId(Uuid::new_v5(&hold.0, b"boxoffice/booking"))
}

/// The command that creates a show's seat state: one per show, so repeats dedupe.
pub fn create_show_command_id(show: ShowId) -> CommandId {
    CommandId(Uuid::new_v5(&show.0, b"boxoffice/create-show"))
}

/// How far this process's clock may run ahead of the log's before the ingress answers "expired"
/// for a hold by itself. Holds lapse in log time (the engine sweeps with the log times commands
/// carry); a hold that only lapsed by the ingress's clock within this margin is sent to the log,
/// which decides, so skew never answers a release 204 without releasing nor refuses a confirm
/// early. Past the margin the answer is certain and saves a payment authorization.
pub const EXPIRY_SKEW_MARGIN_MS: i64 = 30_000;

/// The instant before which a hold surely lapsed, when this process's clock reads `now`.
pub fn surely_lapsed(now: UnixMs) -> UnixMs {
    UnixMs(now.0.saturating_sub(EXPIRY_SKEW_MARGIN_MS))
}

/// Wrap `command` for `show`, stamped (for information) with `state`'s clock.
pub fn envelope(
    state: &AppState,
    command_id: CommandId,
    fingerprint: Fingerprint,
    show: ShowId,
    command: Command,
) -> CommandEnvelope {
    CommandEnvelope {
        schema: SCHEMA_VERSION,
        command_id,
        fingerprint,
        show_id: show,
        issued_at: state.now(),
        command,
    }
}

/// Submit through the bus; an unknown outcome or a down pipeline answers 503.
pub async fn submit(state: &AppState, envelope: CommandEnvelope) -> Result<Reply, ApiError> {
    let started = std::time::Instant::now();
    let result = state.backends().bus.submit(envelope).await;
    metrics::histogram!("boxoffice_ingress_command_seconds")
        .record(started.elapsed().as_secs_f64());
    let reply = result.map_err(bus_error)?;
    // A seat map served by this process from now on shows at least this version.
    state.seat_versions().answered(reply.show_id, reply.version);
    Ok(reply)
}

/// A bus failure as an API error.
pub fn bus_error(error: BusError) -> ApiError {
    match error {
        BusError::Timeout => {
            metrics::counter!("boxoffice_ingress_command_unknown_outcome_total").increment(1);
            ApiError::unavailable(
                "the booking pipeline did not answer in time; retry with the same Idempotency-Key",
            )
        }
        BusError::Unavailable(reason) => {
            tracing::warn!(%reason, "command pipeline unavailable");
            ApiError::unavailable("the booking pipeline is unavailable")
        }
        BusError::Encode(e) => {
            tracing::error!(error = %e, "command encoding failed");
            ApiError::unavailable("the command could not be encoded")
        }
    }
}

/// The general meaning of a rejection. Handlers answer operation-specific cases (a released hold
/// on release, an already confirmed hold on confirm) before falling back to this.
pub fn rejection(rejection: Rejection) -> ApiError {
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

/// Record an idempotency key; a key used before for another request is `422`.
pub async fn claim(
    state: &AppState,
    key: Option<&str>,
    command_id: schemas::CommandId,
    fingerprint: schemas::Fingerprint,
) -> Result<Claim, ApiError> {
    if key.is_none() {
        return Ok(Claim::New);
    }
    let claim = state
        .backends()
        .idempotency
        .claim(command_id, fingerprint)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "idempotency index unavailable");
            ApiError::unavailable("the idempotency index is unavailable")
        })?;
    match claim {
        Claim::Reused => Err(ApiError::IdempotencyKeyReused),
        Claim::New | Claim::Retry => Ok(claim),
    }
}
