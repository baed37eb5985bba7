//! Seat engine memory: heap bytes owned by a `ShowState` after the sale in `mix`, measured with a
//! counting global allocator (everything the state owns: seat words, holds, bookings, check-ins,
//! per-user tallies, the expiry queue, remembered outcomes and the maps that find them), and again
//! once the outcomes' 25 h retention has passed. Divided by the show's seats.

mod mix;

use std::alloc::System;

use mix::{Rng, SEATS, created, envelope, run, script};
use schemas::{Command, UnixMs};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

/// Counts every allocation so the state's heap can be measured exactly.
#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Live heap bytes of the whole process.
fn live_bytes() -> isize {
    let stats = ALLOCATOR.stats();
    // Reallocations are already folded into both totals by the instrumented allocator.
    stats.bytes_allocated as isize - stats.bytes_deallocated as isize
}

fn main() {
    let mut rng = Rng(0x5eed);
    let before = live_bytes();
    let (template, show, start) = created(&mut rng);
    let created_bytes = live_bytes() - before;
    let script = script(show, start, &mut rng);

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
    let mut booking_ids: Vec<_> = script
        .commands
        .iter()
        .filter_map(|(_, envelope)| match &envelope.command {
            Command::Confirm { booking_id, .. } => Some(*booking_id),
            _ => None,
        })
        .collect();
    booking_ids.sort();
    booking_ids.dedup();
    let bookings = booking_ids
        .iter()
        .filter(|id| state.booking(**id).is_some())
        .count();

    let per_seat = |bytes: isize| bytes as f64 / f64::from(SEATS);
    println!(
        "engine: state after CreateShow {created_bytes} B ({:.1} B/seat: seat words, layout, first chunks)",
        per_seat(created_bytes)
    );
    println!(
        "engine: state after the sale ({sold} seats sold, {} holds, {bookings} bookings) {after_mix} B ({:.1} B/seat: seats, holds, bookings, tallies, {remembered} remembered outcomes)",
        script.holds,
        per_seat(after_mix)
    );
    println!(
        "engine: state once the 25 h outcome retention passed {after_retention} B ({:.1} B/seat)",
        per_seat(after_retention)
    );
    println!("engine-memory bytes_per_seat={:.1}", per_seat(after_mix));
}
