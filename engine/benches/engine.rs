//! Seat engine throughput on one core: the sale in `mix` (a 50,000-seat show sold out by holds,
//! confirms, expiries, races and retries), repeated on fresh copies of the created show for at
//! least two seconds. Decisions and `take_dirty` every 64 commands are inside the timed region;
//! cloning the created show is not. The rate is taken against this thread's CPU time (the box is
//! shared, so wall time includes waiting for a core); the wall-clock rate is printed beside it.
//!
//! Runs with the plain system allocator (`engine_memory` measures bytes with a counting one).
//! `scripts/bench engine` combines both into the `BENCH engine` line.

mod mix;

use std::time::{Duration, Instant};

use mix::{Rng, SEATS, created, run, script};

const MIN_RUN: Duration = Duration::from_millis(2_000);

/// CPU time this thread has run, from `/proc/thread-self/schedstat` (first field, ns). The box
/// is shared, so wall time includes waiting for a core; "commands per second on one core" is
/// measured against the core time actually used.
fn thread_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn main() {
    let mut rng = Rng(0x5eed);
    let (template, show, start) = created(&mut rng);
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
    // understates the rate.
    let cpu = thread_cpu_time()
        .zip(cpu_before)
        .map(|(after, before)| after - before)
        .filter(|cpu| !cpu.is_zero());
    let wall_per_s = commands as f64 / elapsed.as_secs_f64();
    let per_s = cpu.map_or(wall_per_s, |cpu| commands as f64 / cpu.as_secs_f64());
    println!(
        "engine: {SEATS} seats, {} holds, {} commands per round, {rounds} rounds, {commands} commands in {:.3} s wall ({:.0}/s), {:.2} s CPU ({:.0}/s)",
        script.holds,
        script.commands.len(),
        elapsed.as_secs_f64(),
        wall_per_s,
        cpu.map_or(f64::NAN, |cpu| cpu.as_secs_f64()),
        per_s,
    );
    println!("engine-throughput commands_per_s={per_s:.0}");
}
