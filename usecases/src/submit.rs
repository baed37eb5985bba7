//! Commands into the pipeline: id derivation, envelopes, idempotency claims, submitting through
//! the [`CommandBus`](processors::bus::CommandBus) (every use case that changes seats does).

use processors::bus::BusError;
use schemas::{
    BookingId, Command, CommandEnvelope, CommandId, Fingerprint, HoldId, Reply, SCHEMA_VERSION,
    ShowId, UnixMs,
};
use uuid::Uuid;

use crate::Services;
use crate::failure::Failure;
use crate::idempotency::Claim;

/// The hold a hold command of `show` creates: derived from the command id, so a retried command
/// (same idempotency key) names the same hold, and tagged with its show, so whoever holds the id
/// finds the show without a lookup row of its own.
pub fn hold_id(show: ShowId, command: CommandId) -> HoldId {
    HoldId::for_show(show, &Uuid::new_v5(&command.0, b"boxoffice/hold"))
}

/// The booking a hold becomes ([`BookingId::of_hold`]).
pub fn booking_id(hold: HoldId) -> BookingId {
    BookingId::of_hold(hold)
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

/// Wrap `command` for `show`, stamped (for information) with the services' clock.
pub fn envelope(
    services: &Services,
    identity: Identity,
    show: ShowId,
    command: Command,
) -> CommandEnvelope {
    CommandEnvelope {
        schema: SCHEMA_VERSION,
        command_id: identity.command_id,
        fingerprint: identity.fingerprint,
        show_id: show,
        issued_at: services.now(),
        command,
    }
}

/// Submit through the bus; an unknown outcome or a down pipeline is [`Failure::Pipeline`].
pub async fn submit(services: &Services, envelope: CommandEnvelope) -> Result<Reply, Failure> {
    let started = std::time::Instant::now();
    let result = services.backends.bus.submit(envelope).await;
    metrics::histogram!("boxoffice_ingress_command_seconds")
        .record(started.elapsed().as_secs_f64());
    let reply = result.inspect_err(note_bus_error)?;
    // A seat map served by this process from now on shows at least this version.
    services
        .seat_versions
        .answered(reply.show_id, reply.version);
    Ok(reply)
}

/// Count and log a bus failure where it happened.
fn note_bus_error(error: &BusError) {
    match error {
        BusError::Timeout => {
            metrics::counter!("boxoffice_ingress_command_unknown_outcome_total").increment(1);
        }
        BusError::Unavailable(reason) => {
            tracing::warn!(%reason, "command pipeline unavailable");
        }
        BusError::Encode(e) => {
            tracing::error!(error = %e, "command encoding failed");
        }
    }
}

/// A request's identity for idempotency: its command id (from the caller's `Idempotency-Key`,
/// or fresh without one) and its fingerprint (to tell a retry from a reuse of the key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// The command id.
    pub command_id: CommandId,
    /// What was asked.
    pub fingerprint: Fingerprint,
    /// Whether the caller gave a key (without one, nothing is remembered).
    pub keyed: bool,
}

impl Identity {
    /// The identity of `user`'s `operation` with `request`, under `key`.
    pub fn of<T: serde::Serialize>(
        user: schemas::UserId,
        key: Option<&str>,
        operation: &str,
        request: &T,
    ) -> Identity {
        Identity {
            command_id: crate::idempotency::command_id(user, key),
            fingerprint: crate::idempotency::fingerprint(operation, request),
            keyed: key.is_some(),
        }
    }
}

/// Record the key of `identity`; a key used before for another request is
/// [`Failure::KeyReused`].
pub async fn claim(services: &Services, identity: Identity) -> Result<Claim, Failure> {
    if !identity.keyed {
        return Ok(Claim::New);
    }
    let claim = services
        .backends
        .idempotency
        .claim(identity.command_id, identity.fingerprint)
        .await
        .inspect_err(|e| tracing::warn!(error = %e, "idempotency index unavailable"))?;
    match claim {
        Claim::Reused => Err(Failure::KeyReused),
        Claim::New | Claim::Retry => Ok(claim),
    }
}
