//! Holds: take seats for a while, give them back, read one's own hold.
//!
//! A hold passes the catalog (the seats exist), the demand guard and the waiting room
//! ([`crate::admission`]) before its command goes to the log; what the engine refuses comes back
//! as [`Failure::Rejected`].

use engine::{HoldStatus, HoldView};
use processors::reader::ShowSnapshot;
use schemas::{
    Command, Event, HoldId, HoldLimits, Outcome, Rejection, SeatId, ShowId, UnixMs, UserId,
};

use crate::admission::{Gate, admit_hold, note_hold};
use crate::idempotency::Claim;
use crate::shows::ensure_show;
use crate::submit::{Identity, claim, envelope, hold_id, submit, surely_lapsed};
use crate::{Failure, Services};

/// A request to hold seats, parsed and checked for shape.
#[derive(Debug, Clone)]
pub struct HoldOrder {
    /// The show.
    pub show: ShowId,
    /// Who holds.
    pub user: UserId,
    /// The seats, each at most once.
    pub seats: Vec<SeatId>,
    /// How long the hold lasts.
    pub ttl_ms: u64,
    /// The deployment's limits.
    pub limits: HoldLimits,
    /// The request's identity (idempotency).
    pub identity: Identity,
    /// Who asks, for the guard and the waiting room.
    pub gate: Gate,
}

/// A hold the engine granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The hold.
    pub hold_id: HoldId,
    /// Its seats.
    pub seats: Vec<SeatId>,
    /// When it lapses (log time).
    pub expires_at: UnixMs,
    /// What the seats cost together, minor units.
    pub total_minor: i64,
    /// ISO 4217 currency of the show.
    pub currency: String,
}

/// Hold seats. A catalog show whose seats never reached the pipeline gets them first.
pub async fn hold(services: &Services, order: HoldOrder) -> Result<Held, Failure> {
    // The catalog's seat map is immutable and cached in memory: validating against it keeps the
    // source of truth out of the hot path (the partition loop checks again anyway).
    let map = services.backends.catalog.seat_map(order.show).await?;
    if order.seats.iter().any(|s| map.index_of(*s).is_none()) {
        return Err(Failure::NotFound);
    }
    let (show, user, gate) = (order.show, order.user, order.gate.clone());
    admit_hold(services, show, user, map.total_seats, &gate).await?;
    let held = hold_admitted(services, order, &map.currency).await;
    let seats = held.as_ref().map(|held| held.seats.len());
    if matches!(held, Ok(_) | Err(Failure::Rejected(_))) {
        note_hold(services, show, user, &gate, seats.ok());
    }
    held
}

async fn hold_admitted(
    services: &Services,
    order: HoldOrder,
    currency: &str,
) -> Result<Held, Failure> {
    claim(services, order.identity).await?;
    let command = Command::Hold {
        hold_id: hold_id(order.show, order.identity.command_id),
        user: order.user,
        seats: order.seats,
        ttl_ms: order.ttl_ms,
        limits: order.limits,
    };
    let envelope = envelope(services, order.identity, order.show, command);
    let mut reply = submit(services, envelope.clone()).await?;
    if reply.outcome == Outcome::Rejected(Rejection::UnknownShow) {
        ensure_show(services, order.show).await?;
        reply = submit(services, envelope).await?;
    }
    let events = match reply.outcome {
        Outcome::Accepted(events) => events,
        Outcome::Rejected(rejection) => {
            metrics::counter!("boxoffice_holds_rejected_total").increment(1);
            return Err(Failure::Rejected(rejection));
        }
    };
    let held = events.into_iter().find_map(|event| match event {
        Event::Held {
            hold_id,
            seats,
            expires_at,
            total_minor,
            ..
        } => Some(Held {
            hold_id,
            seats,
            expires_at,
            total_minor,
            currency: currency.to_owned(),
        }),
        _ => None,
    });
    metrics::counter!("boxoffice_holds_created_total").increment(1);
    held.ok_or(Failure::Unanswered { what: "a hold" })
}

/// The caller's hold with its show, or [`Failure::NotFound`] (also for other users' holds).
pub async fn owned_hold(
    services: &Services,
    user: UserId,
    hold: HoldId,
) -> Result<(ShowSnapshot, HoldView), Failure> {
    match services.backends.reader.hold(hold).await? {
        Some((snapshot, view)) if view.user == user => Ok((snapshot, view)),
        Some(_) | None => Err(Failure::NotFound),
    }
}

/// A release that took effect (or found the hold already gone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    /// The hold's show.
    pub show: ShowId,
    /// How many seats it had.
    pub seats: usize,
    /// Whether this call released it (not a retry, not a hold that had already lapsed).
    pub now: bool,
}

/// Give a hold back; its seats are available at once. A hold that already lapsed or was
/// released answers as released; a confirmed one is [`Failure::HoldAlreadyConfirmed`].
pub async fn release(
    services: &Services,
    user: UserId,
    hold: HoldId,
    identity: Identity,
) -> Result<Released, Failure> {
    let (snapshot, view) = owned_hold(services, user, hold).await?;
    let claim = claim(services, identity).await?;
    let released = |now| Released {
        show: snapshot.show_id,
        seats: view.seats.len(),
        now,
    };
    if claim == Claim::New {
        match view.status_at(surely_lapsed(services.now())) {
            HoldStatus::Active => {}
            HoldStatus::Expired | HoldStatus::Released => return Ok(released(false)),
            HoldStatus::Confirmed => return Err(Failure::HoldAlreadyConfirmed),
        }
    }
    let command = Command::Release {
        hold_id: hold,
        user,
    };
    let reply = submit(
        services,
        envelope(services, identity, snapshot.show_id, command),
    )
    .await?;
    match reply.outcome {
        Outcome::Accepted(_) => Ok(released(claim == Claim::New)),
        Outcome::Rejected(Rejection::HoldExpired | Rejection::HoldReleased) => Ok(released(false)),
        Outcome::Rejected(rejection) => Err(Failure::Rejected(rejection)),
    }
}
