//! Test fixtures: envelopes for a small show. Compiled for tests only.

use schemas::{
    BookingId, Command, CommandEnvelope, CommandId, Fingerprint, HoldId, HoldLimits, RowLayout,
    SeatId, SeatLayout, SectionLayout, ShowId, ShowLayout, UnixMs, UserId,
};
use uuid::Uuid;

pub fn show(n: u128) -> ShowId {
    ShowId(Uuid::from_u128(0x5000 + n))
}

pub fn user(n: u128) -> UserId {
    UserId(Uuid::from_u128(0x7000 + n))
}

pub fn seat(show: ShowId, i: u32) -> SeatId {
    SeatId::derive(show, i)
}

pub fn envelope(show: ShowId, id: u128, command: Command) -> CommandEnvelope {
    let command_id = CommandId(Uuid::from_u128(id));
    CommandEnvelope {
        schema: schemas::SCHEMA_VERSION,
        command_id,
        fingerprint: Fingerprint(*command_id.0.as_bytes()),
        show_id: show,
        issued_at: UnixMs(0),
        command,
    }
}

pub fn create(show: ShowId, seats: u32) -> CommandEnvelope {
    let layout = ShowLayout {
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
    };
    let command = Command::CreateShow {
        layout,
        show_time: UnixMs(i64::MAX / 2),
        sale_opens_at: None,
    };
    envelope(show, show.0.as_u128() ^ 0xc0ffee, command)
}

pub fn hold_id(id: u128) -> HoldId {
    HoldId(Uuid::from_u128(0x9000 + id))
}

pub fn hold(show: ShowId, id: u128, who: UserId, seats: &[u32], ttl_ms: u64) -> CommandEnvelope {
    let command = Command::Hold {
        hold_id: hold_id(id),
        user: who,
        seats: seats.iter().map(|i| seat(show, *i)).collect(),
        ttl_ms,
        limits: HoldLimits {
            max_seats_per_hold: 10,
            max_tickets_per_user: 1000,
            max_holds_per_user: 1000,
        },
    };
    envelope(show, id, command)
}

pub fn confirm(show: ShowId, id: u128, hold: u128, who: UserId) -> CommandEnvelope {
    let command = Command::Confirm {
        hold_id: hold_id(hold),
        user: who,
        booking_id: BookingId(Uuid::from_u128(0xb000 + hold)),
        payment_ref: format!("pay-{hold}"),
    };
    envelope(show, id, command)
}

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
