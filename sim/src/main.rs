//! `sim`: run seeds of the pipeline simulation and report. See `scripts/sim`.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;

/// Run seeds of the deterministic pipeline simulation; the last line is
/// `SIM seeds=<n> violations=<n>`.
#[derive(Parser, Debug)]
struct Args {
    /// Number of seeds to run.
    #[arg(long, default_value_t = 200)]
    seeds: u64,
    /// First seed.
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Replay exactly this one seed (overrides --seeds and --first).
    #[arg(long)]
    seed: Option<u64>,
    /// Never move a show to another partition mid-sale (by default a seed may, by a handover).
    #[arg(long)]
    no_hot_moves: bool,
    /// How the printed replay command starts.
    #[arg(long, default_value = "scripts/sim")]
    replay_with: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let seeds: Vec<u64> = match args.seed {
        Some(seed) => vec![seed],
        None => (args.first..args.first + args.seeds).collect(),
    };
    // A seed must replay exactly: run the first one twice and compare.
    let replayed = seeds
        .first()
        .map(|seed| run(*seed, !args.no_hot_moves).digest);
    let started = Instant::now();
    let mut violations = 0u64;
    let mut ops = 0usize;
    let mut faults: BTreeMap<String, u64> = BTreeMap::new();
    let mut simulated = std::time::Duration::ZERO;
    let mut forwarded = 0u64;
    for (i, seed) in seeds.iter().enumerate() {
        let report = run(*seed, !args.no_hot_moves);
        ops += report.ops;
        forwarded += report.forwarded;
        simulated += report.simulated;
        for (fault, n) in &report.injected {
            *faults.entry(format!("{fault:?}")).or_default() += n;
        }
        let mut found = report.violation.clone();
        if i == 0 && replayed != Some(report.digest) {
            found = Some(format!(
                "VIOLATION replay: seed {seed} ran differently the second time"
            ));
        }
        if let Some(violation) = found {
            violations += 1;
            let flags = if args.no_hot_moves {
                " --no-hot-moves"
            } else {
                ""
            };
            println!(
                "seed {seed}: {} ops, {} faults\n{violation}\n  replay: {} --seed {seed}{flags}",
                report.ops,
                report.faults(),
                args.replay_with
            );
        } else if args.seed.is_some() {
            println!(
                "seed {seed}: {} ops, {} faults {:?}, {:?} simulated, no violation",
                report.ops,
                report.faults(),
                report.injected,
                report.simulated
            );
        }
    }
    let total: u64 = faults.values().sum();
    let elapsed = started.elapsed();
    println!(
        "sim: {} seeds in {:.1} s ({:.0} ms per seed), {ops} operations, {:.0} s simulated, {total} faults injected: {faults:?}, {forwarded} commands forwarded to their show's partition",
        seeds.len(),
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / seeds.len().max(1) as f64,
        simulated.as_secs_f64()
    );
    println!("SIM seeds={} violations={violations}", seeds.len());
    if violations == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Run one seed; a panic anywhere in it is a violation of that seed, not the end of the run.
fn run(seed: u64, hot_moves: bool) -> sim::Report {
    std::panic::catch_unwind(|| sim::run_seed_with(seed, hot_moves)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        sim::Report {
            seed,
            ops: 0,
            injected: Default::default(),
            forwarded: 0,
            violation: Some(format!("VIOLATION panic: the run panicked: {what}")),
            digest: 0,
            simulated: std::time::Duration::ZERO,
        }
    })
}
