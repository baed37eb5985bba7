//! Seat engine memory: heap bytes owned by a `ShowState` of the 50,000-seat show in `mix`, at three
//! points: right after `CreateShow`; after the sale, with every outcome still inside the 25 h
//! idempotency window (this is the headline `bytes_per_seat`); and once the window has passed
//! and the outcomes were pruned (the steady state the show keeps until it is over).
//!
//! Totals come from a counting global allocator (requested bytes, not the allocator's rounding).
//! The breakdown by part is `ShowState::memory_usage` (capacities of the state's vectors, chunks
//! and tables); the line `unattributed` is the allocator's total minus the parts, so a part
//! the breakdown misses shows up instead of vanishing.

mod mix;

use std::alloc::System;

use engine::{MemoryUsage, ShowState};
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

/// One measuring point: the allocator's total and the state's own breakdown.
struct Point {
    name: &'static str,
    measured: isize,
    parts: MemoryUsage,
}

fn per_seat(bytes: isize) -> f64 {
    bytes as f64 / f64::from(SEATS)
}

fn print_table(points: &[Point]) {
    let header: Vec<String> = points.iter().map(|p| format!("{:>22}", p.name)).collect();
    println!("engine: bytes per seat      {}", header.join(""));
    let names = MemoryUsage::default().parts().map(|(name, _)| name);
    for (row, name) in names.iter().enumerate() {
        let cells: Vec<String> = points
            .iter()
            .map(|p| format!("{:>22.1}", per_seat(p.parts.parts()[row].1 as isize)))
            .collect();
        println!("engine:   {name:<18}{}", cells.join(""));
    }
    let cells: Vec<String> = points
        .iter()
        .map(|p| format!("{:>22.1}", per_seat(p.measured - p.parts.total() as isize)))
        .collect();
    println!("engine:   {:<18}{}", "unattributed", cells.join(""));
    let cells: Vec<String> = points
        .iter()
        .map(|p| format!("{:>22.1}", per_seat(p.measured)))
        .collect();
    println!("engine:   {:<18}{}", "whole state", cells.join(""));
}

fn counts(state: &ShowState) -> String {
    format!(
        "{} holds, {} bookings, {} users, {} remembered outcomes, {} seats available",
        state.hold_count(),
        state.booking_count(),
        state.users(),
        state.remembered_outcomes(),
        state.available_seats()
    )
}

fn main() {
    let mut rng = Rng(0x5eed);
    let before = live_bytes();
    let (template, show, start) = created(&mut rng);
    let created_point = Point {
        name: "after CreateShow",
        measured: live_bytes() - before,
        parts: template.memory_usage(),
    };
    let script = script(show, start, &mut rng);

    let base = live_bytes();
    let mut state = template.clone();
    run(&mut state, &script);
    let sale_point = Point {
        name: "after sale (in 25 h)",
        measured: live_bytes() - base,
        parts: state.memory_usage(),
    };
    println!(
        "engine: after the sale: {} ({} hold commands)",
        counts(&state),
        script.holds
    );

    let last = script.commands.last().map_or(start, |(at, _)| at.0);
    let later = UnixMs(last + engine::OUTCOME_RETENTION_MS + 1);
    state.decide(&envelope(&mut rng, show, Command::Expire), later);
    state.take_dirty();
    let steady_point = Point {
        name: "outcomes aged out",
        measured: live_bytes() - base,
        parts: state.memory_usage(),
    };
    println!("engine: 25 h later: {}", counts(&state));
    let headline = per_seat(sale_point.measured);
    let steady = per_seat(steady_point.measured);
    print_table(&[created_point, sale_point, steady_point]);
    println!(
        "engine: bytes_per_seat is the whole state after the sale, outcomes still remembered; \
         steady state once they age out: {steady:.1} B/seat"
    );
    println!("engine-memory bytes_per_seat={headline:.1} steady_bytes_per_seat={steady:.1}");
}
