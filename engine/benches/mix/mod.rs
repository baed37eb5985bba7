//! The benchmark's sale, shared by the throughput (`engine`) and memory (`engine_memory`)
//! benches: a realistic sale of a 50,000-seat show.
//!
//! Holds of 1-4 adjacent seats by distinct buyers every 20 ms of stream time, 70% confirmed
//! 5-120 s later, 30% left to expire after the 10-minute TTL (the partition loop's `Expire`
//! command is sent whenever `next_expiry` is due, as the loop does); 5% of holds race for seats
//! that are already taken, and 2% of commands are client retries of an earlier command
//! (idempotent replays). The sale runs until the show is sold out. Rows are collected with
//! `take_dirty` every 64 commands (the loop's batch).

use engine::ShowState;
use schemas::{
    BookingId, Command, CommandEnvelope, CommandId, Fingerprint, HoldId, HoldLimits, RowLayout,
    SCHEMA_VERSION, SeatId, SeatLayout, SectionLayout, ShowId, ShowLayout, UnixMs, UserId,
};
use uuid::Uuid;

const SECTIONS: u32 = 10;
const ROWS_PER_SECTION: u32 = 50;
const SEATS_PER_ROW: u32 = 100;
pub const SEATS: u32 = SECTIONS * ROWS_PER_SECTION * SEATS_PER_ROW;
const HOLD_EVERY_MS: i64 = 20;
const TTL_MS: u64 = 600_000;
const BATCH: usize = 64;
const LIMITS: HoldLimits = HoldLimits {
    max_seats_per_hold: 10,
    max_tickets_per_user: 6,
    max_holds_per_user: 3,
};

/// splitmix64: deterministic ids and choices without a dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn uuid(&mut self) -> Uuid {
        uuid::Builder::from_random_bytes(
            (u128::from(self.next()) << 64 | u128::from(self.next())).to_be_bytes(),
        )
        .into_uuid()
    }
}

pub fn layout(show: ShowId) -> ShowLayout {
    let mut index = 0;
    let sections = (0..SECTIONS)
        .map(|s| SectionLayout {
            section_id: format!("S{s}"),
            name: format!("Section {s}"),
            price_category: "standard".into(),
            price_minor: 2_000 + i64::from(s) * 500,
            rows: (0..ROWS_PER_SECTION)
                .map(|r| RowLayout {
                    row: format!("R{r}"),
                    seats: (0..SEATS_PER_ROW)
                        .map(|n| {
                            let seat = SeatLayout {
                                seat_id: SeatId::derive(show, index),
                                number: n + 1,
                                x: n as i32,
                                y: r as i32,
                            };
                            index += 1;
                            seat
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    ShowLayout {
        currency: "EUR".into(),
        sections,
    }
}

pub fn envelope(rng: &mut Rng, show: ShowId, command: Command) -> CommandEnvelope {
    let command_id = CommandId(rng.uuid());
    CommandEnvelope {
        schema: SCHEMA_VERSION,
        command_id,
        fingerprint: Fingerprint(*command_id.0.as_bytes()),
        show_id: show,
        issued_at: UnixMs(0),
        command,
    }
}

/// The sale as a time-ordered script, plus a pool of `Expire` envelopes for the loop's timer.
pub struct Script {
    pub commands: Vec<(UnixMs, CommandEnvelope)>,
    pub expires: Vec<CommandEnvelope>,
    pub holds: usize,
}

pub fn script(show: ShowId, start: i64, rng: &mut Rng) -> Script {
    let mut commands = Vec::new();
    let mut next_seat: u32 = 0;
    let mut holds = 0;
    let mut at = start;
    // Seats sold or held for good; expired holds give theirs back, but keeping the generator
    // simple, the script only ever offers fresh seats plus deliberate races for taken ones.
    while next_seat < SEATS {
        at += HOLD_EVERY_MS;
        let wanted = 1 + rng.below(4) as u32;
        let race = rng.below(100) < 5 && next_seat > 8;
        let first = if race {
            next_seat - 1 - rng.below(8) as u32
        } else {
            next_seat
        };
        let count = wanted.min(SEATS - first);
        let seats: Vec<SeatId> = (first..first + count)
            .map(|i| SeatId::derive(show, i))
            .collect();
        if !race {
            next_seat += count;
        }
        let hold_id = HoldId(rng.uuid());
        let user = UserId(rng.uuid());
        let hold = Command::Hold {
            hold_id,
            user,
            seats,
            ttl_ms: TTL_MS,
            limits: LIMITS,
        };
        commands.push((UnixMs(at), envelope(rng, show, hold)));
        holds += 1;
        if !race && rng.below(100) < 70 {
            let confirm = Command::Confirm {
                hold_id,
                user,
                booking_id: BookingId(rng.uuid()),
                payment_ref: format!("pi_{:016x}", rng.next()),
            };
            let later = at + 5_000 + rng.below(115_000) as i64;
            commands.push((UnixMs(later), envelope(rng, show, confirm)));
        }
        if rng.below(100) < 2 {
            let (_, earlier) = &commands[rng.below(commands.len() as u64) as usize];
            let retry = earlier.clone();
            commands.push((UnixMs(at + 1), retry));
        }
    }
    commands.sort_by_key(|(at, _)| *at);
    let expires = (0..holds)
        .map(|_| envelope(rng, show, Command::Expire))
        .collect();
    Script {
        commands,
        expires,
        holds,
    }
}

/// Run the script once on `state`; returns how many commands were decided.
pub fn run(state: &mut ShowState, script: &Script) -> usize {
    let mut decided = 0;
    let mut expires = script.expires.iter();
    let mut rows = 0usize;
    for (at, envelope) in &script.commands {
        if let Some(due) = state.next_expiry()
            && due <= *at
            && let Some(expire) = expires.next()
        {
            std::hint::black_box(state.decide(expire, due));
            decided += 1;
        }
        std::hint::black_box(state.decide(envelope, *at));
        decided += 1;
        if decided % BATCH == 0 {
            rows += std::hint::black_box(state.take_dirty()).len();
        }
    }
    rows += state.take_dirty().len();
    std::hint::black_box(rows);
    decided
}

/// A freshly created show (rows taken), its id and the sale's start time.
pub fn created(rng: &mut Rng) -> (ShowState, ShowId, i64) {
    let show = ShowId(rng.uuid());
    let start = 1_800_000_000_000;
    let mut state = ShowState::new(show);
    let create = envelope(
        rng,
        show,
        Command::CreateShow {
            layout: layout(show),
            show_time: UnixMs(start + 30 * 24 * 3_600_000),
            sale_opens_at: Some(UnixMs(start)),
        },
    );
    state.decide(&create, UnixMs(start - 1));
    state.take_dirty();
    (state, show, start)
}
