//! What stands in front of a hold and a show's queue: the waiting room's admission, the demand
//! guard's proof of work, and joining the queue. A process without a waiting room (none was
//! installed) admits every hold and has no queue to join.

use std::net::IpAddr;

use queue::{AdmissionError, Challenge, JoinError, Joined, UseRecord};
use schemas::{ShowId, UserId};

use crate::failure::Refusal;
use crate::submit::{Identity, claim};
use crate::{Failure, Services};

/// Who asks for a hold, as far as the guard and the waiting room care.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    /// The client's address (absent when the front cannot tell, e.g. in-process callers).
    pub client: Option<IpAddr>,
    /// When the caller's identity was issued (Unix seconds), if the token says.
    pub issued_at_s: Option<i64>,
    /// The `Admission-Token` the caller sent.
    pub admission_token: Option<String>,
    /// The proof-of-work answer the caller sent.
    pub challenge_solution: Option<String>,
}

/// The deployment's demand-guard settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardPolicy {
    /// The guard is on.
    pub on: bool,
    /// Identities younger than this many seconds always solve a challenge (0: never).
    pub new_identity_s: u64,
}

/// Check the demand guard and the waiting room for a hold by `user` on `show` (of
/// `show_seats` seats). Every hold attempt counts as demand for automatic switch-on.
pub async fn admit_hold(
    services: &Services,
    show: ShowId,
    user: UserId,
    show_seats: u32,
    gate: &Gate,
) -> Result<(), Failure> {
    let Some(room) = services.waiting_room() else {
        return Ok(());
    };
    let now = services.now();
    if let Some(ip) = gate.client {
        guard(services, show, user, ip, show_seats, gate)?;
    }
    room.note_demand(show, now);
    let token = gate.admission_token.as_deref();
    match room.check_admission(show, user, token, now).await {
        Ok(()) => Ok(()),
        Err(AdmissionError::Refused(refusal)) => {
            metrics::counter!("boxoffice_queue_admission_refused_total").increment(1);
            Err(Failure::Refused(Refusal::Admission(refusal)))
        }
        Err(AdmissionError::Queue(e)) => Err(Failure::Queue(e)),
    }
}

/// The demand guard: when the caller's identity is newer than the policy allows, or the
/// client's address or network took more than its share of the show or most of its attempts
/// are refused, the hold needs the guard's proof of work.
fn guard(
    services: &Services,
    show: ShowId,
    user: UserId,
    ip: IpAddr,
    show_seats: u32,
    gate: &Gate,
) -> Result<(), Failure> {
    let (Some(room), policy) = (services.waiting_room(), services.guard) else {
        return Ok(());
    };
    if !policy.on {
        return Ok(());
    }
    let now = services.now();
    let young = queue::guard::new_identity(
        gate.issued_at_s,
        now.0.div_euclid(1000),
        policy.new_identity_s,
    );
    let Some(reason) = young.or_else(|| room.guard_verdict(show, ip, show_seats, now)) else {
        return Ok(());
    };
    let solution = gate.challenge_solution.as_deref();
    room.check_hold_challenge(show, user, solution, now)
        .map_err(|challenge| Failure::Refused(Refusal::Guard { challenge, reason }))
}

/// After a hold attempt the pipeline answered: count it for the demand guard (`held` seats, or
/// `None` when refused) and, when seats were held, tell the waiting room the caller's admission
/// turned into them. Off the request path and bounded ([`queue::WaitingRoom::record_use`]): a
/// record dropped when too many are in flight only makes pacing more cautious, whereas waiting
/// here would make a slow log slow every hold.
pub fn note_hold(
    services: &Services,
    show: ShowId,
    user: UserId,
    gate: &Gate,
    held: Option<usize>,
) {
    let Some(room) = services.waiting_room() else {
        return;
    };
    let now = services.now();
    let held = held.map(|seats| u32::try_from(seats).unwrap_or(u32::MAX));
    if let Some(ip) = gate.client {
        room.note_hold(show, ip, now, held);
    }
    let Some(seats) = held else {
        return;
    };
    match room.record_use(show, user, seats, now) {
        UseRecord::NotAdmitted | UseRecord::Started => {}
        UseRecord::Dropped => {
            tracing::debug!(%show, "admission use not recorded: too many records in flight");
        }
    }
}

/// Released seats were not taken after all: the demand guard counts what a client holds, not
/// how often it changes its mind.
pub fn note_release(services: &Services, show: ShowId, client: Option<IpAddr>, seats: usize) {
    if let (Some(room), Some(ip)) = (services.waiting_room(), client) {
        let seats = u32::try_from(seats).unwrap_or(u32::MAX);
        room.note_release(show, ip, services.now(), seats);
    }
}

/// Join `show`'s queue (joining again returns the same entry, not created).
pub async fn join(
    services: &Services,
    show: ShowId,
    user: UserId,
    solution: Option<&str>,
    identity: Identity,
) -> Result<Joined, Failure> {
    let room = services.waiting_room().ok_or(Failure::NoWaitingRoom)?;
    claim(services, identity).await?;
    let tag = join_tag(identity.command_id);
    match room.join(show, user, tag, solution, services.now()).await {
        Ok(joined) => Ok(joined),
        Err(JoinError::UnknownShow | JoinError::NoWaitingRoom) => Err(Failure::NotFound),
        Err(JoinError::SaleClosed) => Err(Failure::Rejected(schemas::Rejection::ShowStarted)),
        // Every refusal (no answer, a malformed or a wrong one) answers the same challenge; the
        // queue counts them by reason.
        Err(JoinError::ChallengeRequired {
            challenge,
            bits,
            refusal: _,
        }) => Err(Failure::Refused(Refusal::Join(Challenge {
            challenge,
            bits,
        }))),
        Err(JoinError::Queue(e)) => Err(Failure::Queue(e)),
    }
}

/// 32 bits of a command id: what the queue remembers of the join that created an entry.
pub fn join_tag(command: schemas::CommandId) -> u32 {
    let bytes = command.0.as_bytes();
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn join_tags_come_from_the_command_id() {
        let id = schemas::CommandId(Uuid::from_u128(0x0102_0304_0000_0000_0000_0000_0000_0000));
        assert_eq!(join_tag(id), 0x0102_0304);
    }
}
