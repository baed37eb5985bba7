//! Test fixtures: commands and envelopes for a small one-section show. Compiled for this crate's
//! unit tests and, behind the `fixtures` feature, for other crates' tests (the pipeline suites in
//! `boxoffice-tests` build their envelopes from these); never part of a product build.
//!
//! Two id styles: the numbered helpers ([`envelope`], [`create`], [`hold`], ...) derive every id
//! from a small number so unit tests can name them again; the `*_command` builders and
//! [`envelope_with`] take ids chosen by the caller (random ones, for tests against shared
//! services).

use schemas::{
    BookingId, Command, CommandEnvelope, CommandId, Fingerprint, HoldId, HoldLimits, RowLayout,
    SeatId, SeatLayout, SectionLayout, ShowId, ShowLayout, UnixMs, UserId,
};
use uuid::Uuid;

/// Show number `n`.
pub fn show(n: u128) -> ShowId {
    ShowId(Uuid::from_u128(0x5000 + n))
}

/// User number `n`.
pub fn user(n: u128) -> UserId {
    UserId(Uuid::from_u128(0x7000 + n))
}

/// The `i`-th seat (0-based) of `show`'s layout.
pub fn seat(show: ShowId, i: u32) -> SeatId {
    SeatId::derive(show, i)
}

/// `command` for `show` with command id `id` (the fingerprint is the id's bytes).
pub fn envelope_with(show: ShowId, id: CommandId, command: Command) -> CommandEnvelope {
    CommandEnvelope {
        schema: schemas::SCHEMA_VERSION,
        command_id: id,
        fingerprint: Fingerprint(*id.0.as_bytes()),
        show_id: show,
        issued_at: UnixMs(0),
        command,
    }
}

/// `command` for `show` with command id number `id`.
pub fn envelope(show: ShowId, id: u128, command: Command) -> CommandEnvelope {
    envelope_with(show, CommandId(Uuid::from_u128(id)), command)
}

/// One section `A` ("Stalls", standard, 15.00 EUR) of one row `1` with `seats` seats.
pub fn layout(show: ShowId, seats: u32) -> ShowLayout {
    ShowLayout {
        currency: "EUR".into(),
        sections: vec![SectionLayout {
            section_id: "A".into(),
            name: "Stalls".into(),
            price_category: "standard".into(),
            price_minor: 1500,
            rows: vec![RowLayout {
                row: "1".into(),
                seats: (0..seats)
                    .map(|i| SeatLayout {
                        seat_id: seat(show, i),
                        number: i + 1,
                        x: i as i32,
                        y: 0,
                    })
                    .collect(),
            }],
        }],
    }
}

/// Create `show` with [`layout`] of `seats` seats at `show_time`, on sale at once.
pub fn create_command(show: ShowId, seats: u32, show_time: UnixMs) -> Command {
    Command::CreateShow {
        layout: layout(show, seats),
        show_time,
        sale_opens_at: None,
    }
}

/// Create `show` with `seats` seats, far in the future (its command id is derived from the show).
pub fn create(show: ShowId, seats: u32) -> CommandEnvelope {
    let command = create_command(show, seats, UnixMs(i64::MAX / 2));
    envelope(show, show.0.as_u128() ^ 0xc0ffee, command)
}

/// Hold number `id`.
pub fn hold_id(id: u128) -> HoldId {
    HoldId(Uuid::from_u128(0x9000 + id))
}

/// Limits that only the per-hold seat count (10) can reach in a test of up to `per_user`
/// tickets and holds per user.
pub fn limits(per_user: u16) -> HoldLimits {
    HoldLimits {
        max_seats_per_hold: 10,
        max_tickets_per_user: per_user,
        max_holds_per_user: per_user,
    }
}

/// `who` holds the seats numbered `seats` of `show` as `hold_id` for `ttl_ms`.
pub fn hold_command(
    show: ShowId,
    hold_id: HoldId,
    who: UserId,
    seats: &[u32],
    ttl_ms: u64,
    limits: HoldLimits,
) -> Command {
    Command::Hold {
        hold_id,
        user: who,
        seats: seats.iter().map(|i| seat(show, *i)).collect(),
        ttl_ms,
        limits,
    }
}

/// Command number `id`: hold number `id` (see [`hold_command`]), up to 1000 per user.
pub fn hold(show: ShowId, id: u128, who: UserId, seats: &[u32], ttl_ms: u64) -> CommandEnvelope {
    let command = hold_command(show, hold_id(id), who, seats, ttl_ms, limits(1000));
    envelope(show, id, command)
}

/// Command number `id`: confirm hold number `hold` as booking `0xb000 + hold`.
pub fn confirm(show: ShowId, id: u128, hold: u128, who: UserId) -> CommandEnvelope {
    let command = Command::Confirm {
        hold_id: hold_id(hold),
        user: who,
        booking_id: BookingId(Uuid::from_u128(0xb000 + hold)),
        payment_ref: format!("pay-{hold}"),
    };
    envelope(show, id, command)
}

/// Command number `id`: release hold number `hold`.
pub fn release(show: ShowId, id: u128, hold: u128, who: UserId) -> CommandEnvelope {
    envelope(
        show,
        id,
        Command::Release {
            hold_id: hold_id(hold),
            user: who,
        },
    )
}
