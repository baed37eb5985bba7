//! A few seeds of the simulation as an ordinary test: each replays exactly and keeps every
//! promise. (`scripts/sim` runs thousands.)

#[test]
fn a_seed_replays_exactly() {
    for seed in [3, 17] {
        let (a, b) = (sim::run_seed(seed), sim::run_seed(seed));
        assert_eq!(a.digest, b.digest, "seed {seed} ran differently twice");
        assert_eq!(a.ops, b.ops);
        assert!(a.ops > 0, "seed {seed} did nothing");
    }
}

#[test]
fn different_seeds_explore_different_schedules() {
    let digests: std::collections::BTreeSet<u64> =
        (0..8).map(|seed| sim::run_seed(seed).digest).collect();
    assert_eq!(digests.len(), 8);
}

#[test]
fn faulty_runs_keep_every_promise() {
    let mut faults = 0;
    for seed in 0..40 {
        let report = sim::run_seed(seed);
        faults += report.faults();
        assert_eq!(report.violation, None, "seed {seed}");
    }
    assert!(faults > 100, "only {faults} faults injected in 40 seeds");
}
