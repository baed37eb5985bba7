//! Fixtures shared by the engine's test suites: a small two-section show and envelope builders.
#![allow(dead_code)]

use engine::{RowChange, ShowState, StateRow};
use schemas::{
    BookingId, Command, CommandEnvelope, CommandId, Fingerprint, HoldId, HoldLimits, RowLayout,
    SCHEMA_VERSION, SeatId, SeatLayout, SectionLayout, ShowId, ShowLayout, UnixMs, UserId,
};
use uuid::Uuid;

/// The show of every fixture.
pub const SHOW: ShowId = ShowId(Uuid::from_u128(0x5eed_0000_0000_0000_0000_0000_0000_0001));
/// Price of a seat in section A (seats 0..10).
pub const PRICE_A: i64 = 1_000;
/// Price of a seat in section B (seats 10..20).
pub const PRICE_B: i64 = 500;
/// Seats in the fixture show.
pub const SEATS: u32 = 20;
/// One hour in milliseconds.
pub const HOUR: i64 = 3_600_000;
/// Sales open at this time.
pub const SALE_OPENS: i64 = 1_000 * HOUR;
/// The show starts 10 days after sales open.
pub const SHOW_TIME: i64 = SALE_OPENS + 240 * HOUR;
/// A default hold TTL (10 minutes).
pub const TTL_MS: u64 = 600_000;
/// The contract's default limits.
pub const LIMITS: HoldLimits = HoldLimits {
    max_seats_per_hold: 10,
    max_tickets_per_user: 6,
    max_holds_per_user: 3,
};

/// Seat id of layout index `index`.
pub fn seat(index: u32) -> SeatId {
    SeatId::derive(SHOW, index)
}

/// Seat ids of several indices.
pub fn seats(indices: &[u32]) -> Vec<SeatId> {
    indices.iter().map(|index| seat(*index)).collect()
}

/// User number `n`.
pub fn user(n: u128) -> UserId {
    UserId(Uuid::from_u128(0xa000 + n))
}

/// Hold number `n`.
pub fn hold_id(n: u128) -> HoldId {
    HoldId(Uuid::from_u128(0xb000 + n))
}

/// Booking number `n`.
pub fn booking_id(n: u128) -> BookingId {
    BookingId(Uuid::from_u128(0xc000 + n))
}

/// The fixture layout: section A with two rows of five seats, section B with one row of ten.
pub fn layout() -> ShowLayout {
    let row = |label: &str, first: u32, count: u32| RowLayout {
        row: label.to_string(),
        seats: (0..count)
            .map(|i| SeatLayout {
                seat_id: seat(first + i),
                number: i + 1,
                x: i as i32,
                y: first as i32,
            })
            .collect(),
    };
    ShowLayout {
        currency: "EUR".to_string(),
        sections: vec![
            SectionLayout {
                section_id: "A".to_string(),
                name: "Stalls".to_string(),
                price_category: "premium".to_string(),
                price_minor: PRICE_A,
                rows: vec![row("A1", 0, 5), row("A2", 5, 5)],
            },
            SectionLayout {
                section_id: "B".to_string(),
                name: "Balcony".to_string(),
                price_category: "standard".to_string(),
                price_minor: PRICE_B,
                rows: vec![row("B1", 10, 10)],
            },
        ],
    }
}

/// An envelope with command id `n` and a fingerprint derived from `n`.
pub fn envelope(n: u128, command: Command) -> CommandEnvelope {
    envelope_with(n, n as u8, command)
}

/// An envelope with command id `n` and fingerprint byte `fingerprint`.
pub fn envelope_with(n: u128, fingerprint: u8, command: Command) -> CommandEnvelope {
    CommandEnvelope {
        schema: SCHEMA_VERSION,
        command_id: CommandId(Uuid::from_u128(0xd000_0000 + n)),
        fingerprint: Fingerprint([fingerprint; 16]),
        show_id: SHOW,
        issued_at: UnixMs(0),
        command,
    }
}

/// `CreateShow` of the fixture layout.
pub fn create_show() -> Command {
    Command::CreateShow {
        layout: layout(),
        show_time: UnixMs(SHOW_TIME),
        sale_opens_at: Some(UnixMs(SALE_OPENS)),
    }
}

/// A hold of `indices` by user `u` with the default TTL and limits.
pub fn hold(h: u128, u: u128, indices: &[u32]) -> Command {
    Command::Hold {
        hold_id: hold_id(h),
        user: user(u),
        seats: seats(indices),
        ttl_ms: TTL_MS,
        limits: LIMITS,
    }
}

/// Confirm hold `h` by user `u` as booking `h`.
pub fn confirm(h: u128, u: u128) -> Command {
    Command::Confirm {
        hold_id: hold_id(h),
        user: user(u),
        booking_id: booking_id(h),
        payment_ref: format!("auth_{h}"),
    }
}

/// A freshly created fixture show.
pub fn created() -> ShowState {
    let mut state = ShowState::new(SHOW);
    let decision = state.decide(&envelope(0, create_show()), UnixMs(SALE_OPENS - HOUR));
    assert!(matches!(decision.outcome, schemas::Outcome::Accepted(_)));
    state
}

/// Stand-in for the store: applies row changes to a map keyed like the partition.
#[derive(Default, Clone)]
pub struct Partition {
    rows: std::collections::BTreeMap<engine::RowKey, StateRow>,
}

impl Partition {
    /// Apply a batch of changes, round-tripping every body through its byte encoding.
    pub fn apply(&mut self, changes: Vec<RowChange>) {
        for change in changes {
            match change {
                RowChange::Put(row) => {
                    let key = row.key();
                    let body = row.encode_body().expect("encode row");
                    let decoded =
                        StateRow::decode(key.kind().code(), key.id(), &body).expect("decode row");
                    assert_eq!(decoded, row);
                    self.rows.insert(key, decoded);
                }
                RowChange::Delete(key) => {
                    self.rows.remove(&key);
                }
            }
        }
    }

    /// All rows.
    pub fn rows(&self) -> Vec<StateRow> {
        self.rows.values().cloned().collect()
    }
}

/// The engine's invariants, checked from the outside (snapshot rows and read accessors): every
/// seat is in exactly one of available / held by one active hold / booked by one live booking /
/// blocked; the available counter equals a recount; per-user limits (the fixtures' `LIMITS`)
/// hold; `next_expiry` is the earliest active hold's expiry.
pub fn check_invariants(state: &ShowState) {
    use engine::HoldStatus;
    use schemas::SeatStatus;
    use std::collections::HashMap;
    let rows = state.snapshot();
    let count = state.seat_count() as usize;
    let mut expected = vec![SeatStatus::Available; count];
    let mut claims = vec![0u32; count];
    let mut cancelled = std::collections::HashSet::new();
    for row in &rows {
        if let StateRow::Booking { booking_id, body } = row
            && body.cancellation.is_some()
        {
            cancelled.insert(*booking_id);
        }
    }
    let mut per_user: HashMap<UserId, (u32, u32)> = HashMap::new();
    let mut earliest: Option<UnixMs> = None;
    for row in &rows {
        match row {
            StateRow::Seat { seat_id, body } if body.status == SeatStatus::Blocked => {
                let index = state.seat_index(*seat_id).unwrap() as usize;
                expected[index] = SeatStatus::Blocked;
                claims[index] += 1;
            }
            StateRow::Hold { body, .. } => {
                let status = match (body.status, body.booking_id) {
                    (HoldStatus::Active, _) => SeatStatus::Held,
                    (HoldStatus::Confirmed, Some(booking)) if !cancelled.contains(&booking) => {
                        SeatStatus::Booked
                    }
                    _ => continue,
                };
                let tally = per_user.entry(body.user).or_default();
                tally.0 += body.seats.len() as u32;
                if status == SeatStatus::Held {
                    tally.1 += 1;
                    earliest = Some(earliest.map_or(body.expires_at, |e| e.min(body.expires_at)));
                }
                for index in &body.seats {
                    expected[*index as usize] = status;
                    claims[*index as usize] += 1;
                }
            }
            _ => {}
        }
    }
    for (index, claimed) in claims.iter().enumerate() {
        assert!(*claimed <= 1, "seat {index} is claimed {claimed} times");
        assert_eq!(
            state.seat_status(index as u32),
            Some(expected[index]),
            "seat {index}"
        );
    }
    let available = expected
        .iter()
        .filter(|s| **s == SeatStatus::Available)
        .count();
    assert_eq!(
        state.available_seats() as usize,
        available,
        "available counter"
    );
    let iterated = state
        .seat_statuses()
        .filter(|(_, s)| *s == SeatStatus::Available)
        .count();
    assert_eq!(iterated, available);
    for (user, (tickets, holds)) in per_user {
        assert!(
            tickets <= u32::from(LIMITS.max_tickets_per_user),
            "{user} owns {tickets} seats"
        );
        assert!(
            holds <= u32::from(LIMITS.max_holds_per_user),
            "{user} has {holds} holds"
        );
    }
    assert_eq!(state.next_expiry(), earliest, "next expiry");
}
