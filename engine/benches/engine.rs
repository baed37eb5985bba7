//! Seat engine benchmark: a realistic sale of a 50,000-seat show on one core.
//!
//! Holds of 1-4 adjacent seats by distinct buyers every 20 ms of stream time, 70% confirmed 5-120 s
//! later, 30% left to expire after the 10-minute TTL (the partition loop's `Expire` command is sent
//! whenever `next_expiry` is due, as the loop does); 5% of holds race for seats that are already
//! taken, and 2% of commands are client retries of an earlier command (idempotent replays). The
//! sale runs until the show is sold out. Rows are collected with `take_dirty` every 64 commands
//! (the loop's batch), inside the timed region.
//!
//! Memory is measured with a counting global allocator: heap bytes owned by the `ShowState`
//! after the mix (everything: seat words, holds, bookings, remembered outcomes, indices), and
//! again once the outcomes' retention has passed.
//!
//! Prints `BENCH engine commands_per_s=<n> bytes_per_seat=<n>` last.

use std::alloc::System;
use std::time::{Duration, Instant};

use engine::ShowState;
use schemas::{
    BookingId, Command, CommandEnvelope, CommandId, Fingerprint, HoldId, HoldLimits, RowLayout,
    SCHEMA_VERSION, SeatId, SeatLayout, SectionLayout, ShowId, ShowLayout, UnixMs, UserId,
};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use uuid::Uuid;

/// Counts every allocation so the state's heap can be measured exactly.
#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// CPU time this thread has used (user + system), from `/proc/thread-self/stat` in clock ticks
/// of 1/100 s (Linux's fixed USER_HZ). The box is shared, so wall time includes waiting for a
/// core; "commands per second on one core" is measured against the core time actually used.
fn thread_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Live heap bytes of the whole process.
fn live_bytes() -> isize {
    let stats = ALLOCATOR.stats();
    // Reallocations are already folded into both totals by the instrumented allocator.
    stats.bytes_allocated as isize - stats.bytes_deallocated as isize
}

const SECTIONS: u32 = 10;
const ROWS_PER_SECTION: u32 = 50;
const SEATS_PER_ROW: u32 = 100;
const SEATS: u32 = SECTIONS * ROWS_PER_SECTION * SEATS_PER_ROW;
const HOLD_EVERY_MS: i64 = 20;
const TTL_MS: u64 = 600_000;
const BATCH: usize = 64;
const MIN_RUN: Duration = Duration::from_millis(2_000);
const LIMITS: HoldLimits = HoldLimits {
    max_seats_per_hold: 10,
    max_tickets_per_user: 6,
    max_holds_per_user: 3,
};

/// splitmix64: deterministic ids and choices without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn uuid(&mut self) -> Uuid {
        uuid::Builder::from_random_bytes(
            (u128::from(self.next()) << 64 | u128::from(self.next())).to_be_bytes(),
        )
        .into_uuid()
    }
}

fn layout(show: ShowId) -> ShowLayout {
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

fn envelope(rng: &mut Rng, show: ShowId, command: Command) -> CommandEnvelope {
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
struct Script {
    commands: Vec<(UnixMs, CommandEnvelope)>,
    expires: Vec<CommandEnvelope>,
    holds: usize,
}

fn script(show: ShowId, start: i64, rng: &mut Rng) -> Script {
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
fn run(state: &mut ShowState, script: &Script) -> usize {
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

fn main() {
    let mut rng = Rng(0x5eed);
    let show = ShowId(rng.uuid());
    let start = 1_800_000_000_000;
    let before_template = live_bytes();
    let mut template = ShowState::new(show);
    let create = envelope(
        &mut rng,
        show,
        Command::CreateShow {
            layout: layout(show),
            show_time: UnixMs(start + 30 * 24 * 3_600_000),
            sale_opens_at: Some(UnixMs(start)),
        },
    );
    template.decide(&create, UnixMs(start - 1));
    template.take_dirty();
    drop(create);
    let created_bytes = live_bytes() - before_template;
    let script = script(show, start, &mut rng);

    let mut commands = 0usize;
    let mut elapsed = Duration::ZERO;
    let mut rounds = 0;
    let cpu_before = thread_cpu_time();
    while elapsed < MIN_RUN || rounds < 3 {
        let mut state = template.clone();
        let began = Instant::now();
        commands += run(&mut state, &script);
        elapsed += began.elapsed();
        rounds += 1;
        drop(state);
    }
    // CPU time also covers cloning and dropping the per-round states, so it slightly
    // understates the rate; wall time is reported beside it.
    let cpu = thread_cpu_time()
        .zip(cpu_before)
        .map(|(after, before)| after - before)
        .filter(|cpu| !cpu.is_zero());

    let base = live_bytes();
    let mut state = template.clone();
    run(&mut state, &script);
    let after_mix = live_bytes() - base;
    let sold = SEATS - state.available_seats();
    let remembered = state.remembered_outcomes();
    let last = script.commands.last().map_or(start, |(at, _)| at.0);
    let later = UnixMs(last + engine::OUTCOME_RETENTION_MS + 1);
    state.decide(&envelope(&mut rng, show, Command::Expire), later);
    state.take_dirty();
    let after_retention = live_bytes() - base;

    let wall_per_s = commands as f64 / elapsed.as_secs_f64();
    let per_s = cpu.map_or(wall_per_s, |cpu| commands as f64 / cpu.as_secs_f64());
    let per_seat = |bytes: isize| bytes as f64 / f64::from(SEATS);
    println!(
        "engine: {SEATS} seats, {} holds, {} commands per round ({} seats sold), {rounds} rounds, {commands} commands in {:.3} s wall ({:.0}/s), {:.2} s CPU ({:.0}/s)",
        script.holds,
        script.commands.len(),
        sold,
        elapsed.as_secs_f64(),
        wall_per_s,
        cpu.map_or(f64::NAN, |cpu| cpu.as_secs_f64()),
        per_s,
    );
    println!(
        "engine: state after CreateShow {created_bytes} B ({:.1} B/seat: seat words + layout)",
        per_seat(created_bytes)
    );
    println!(
        "engine: state after the mix {after_mix} B ({:.1} B/seat: seats, holds, bookings, {remembered} remembered outcomes)",
        per_seat(after_mix)
    );
    println!(
        "engine: state once the 25 h outcome retention passed {after_retention} B ({:.1} B/seat)",
        per_seat(after_retention)
    );
    println!(
        "BENCH engine commands_per_s={:.0} bytes_per_seat={:.1}",
        per_s,
        per_seat(after_mix)
    );
}
