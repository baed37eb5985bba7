//! Check-in: a scanned code is verified by the key id inside it (no lookup per ticket; forged,
//! altered, unknown-key and malformed codes are [`Failure::InvalidTicket`]), then admitted
//! through the show's partition like every other state change (`CheckIn`), so two gates scanning
//! one ticket admit it once, and a check-in and a cancellation of the same booking never both
//! succeed.

use fulfilment::TicketClaims;
use schemas::{Command, Event, Outcome, Rejection, UnixMs};

use crate::submit::{Identity, claim, envelope, submit};
use crate::{Failure, Services};

/// Longest code looked at; anything longer is not a ticket code (refused without decoding).
pub const CODE_CHARS_MAX: usize = 1024;

/// An admitted ticket.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// What the code says of the ticket.
    pub claims: TicketClaims,
    /// When it was admitted (log time).
    pub at: UnixMs,
    /// At which gate.
    pub gate: Option<String>,
}

/// Admit the ticket `code` names at `gate`.
pub async fn check_in(
    services: &Services,
    code: &str,
    gate: Option<String>,
    identity: Identity,
) -> Result<Admitted, Failure> {
    let claims = verify(services, code)?;
    claim(services, identity).await?;
    let command = Command::CheckIn {
        ticket_id: claims.ticket_id,
        booking_id: claims.booking_id,
        seat_id: claims.seat_id,
        gate,
    };
    let envelope = envelope(services, identity, claims.show_id, command);
    let reply = submit(services, envelope).await?;
    let (at, gate) = match reply.outcome {
        Outcome::Accepted(events) => admitted(&events)?,
        Outcome::Rejected(rejection) => return Err(refused(rejection)),
    };
    metrics::counter!("boxoffice_checkins_total", "result" => "admitted").increment(1);
    Ok(Admitted { claims, at, gate })
}

fn verify(services: &Services, code: &str) -> Result<TicketClaims, Failure> {
    if code.len() > CODE_CHARS_MAX {
        return Err(Failure::InvalidTicket);
    }
    services.backends.tickets.verify(code).map_err(|e| {
        metrics::counter!("boxoffice_checkins_total", "result" => "invalid").increment(1);
        tracing::info!(error = %e, "ticket code refused");
        Failure::InvalidTicket
    })
}

fn admitted(events: &[Event]) -> Result<(UnixMs, Option<String>), Failure> {
    events
        .iter()
        .find_map(|event| match event {
            Event::CheckedIn { at, gate, .. } => Some((*at, gate.clone())),
            Event::ShowCreated { .. }
            | Event::Held { .. }
            | Event::Released { .. }
            | Event::Expired { .. }
            | Event::Confirmed { .. }
            | Event::Cancelled { .. }
            | Event::Blocked { .. }
            | Event::Unblocked { .. } => None,
        })
        .ok_or(Failure::Unanswered { what: "a check-in" })
}

/// A refused check-in: a code that verifies but names no ticket of a booking of a known show is
/// as invalid as a forged one.
fn refused(rejection: Rejection) -> Failure {
    let result = if matches!(rejection, Rejection::AlreadyCheckedIn { .. }) {
        "already_checked_in"
    } else if matches!(rejection, Rejection::TicketCancelled) {
        "cancelled"
    } else {
        "invalid"
    };
    metrics::counter!("boxoffice_checkins_total", "result" => result).increment(1);
    match rejection {
        Rejection::UnknownShow | Rejection::BookingNotFound | Rejection::TicketNotFound => {
            Failure::InvalidTicket
        }
        other => Failure::Rejected(other),
    }
}
