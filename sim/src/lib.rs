//! A deterministic simulation of the pipeline under seeded faults (issue 15, part 3).
//!
//! The real [`processors::partition::PartitionLoop`] runs over simulated seams: a command stream
//! with JetStream's consumer semantics ([`log::SimLog`]), a store with the CQL batch's fence
//! ([`store::SimStore`]), an event sink feeding a live seat map ([`sink::SimSink`]), leases
//! with epochs and clocks skewed per processor ([`processor`]). Buyers hold, confirm (paying
//! through the payments sandbox as the ingress does: authorize, confirm, capture or void),
//! release and cancel (refund) with idempotent retries ([`clients`]); the real payments
//! `Reconciler` settles what they leave open ([`payments`]). Every fault (lost, duplicated and
//! redelivered deliveries, reconnects mid-batch, lost acks and replies, store outages, timeouts
//! that did or did not apply, crashes at each persist, reply, publish and ack boundary, a newer
//! processor taking the lease while the old one still works, a lease lost mid-batch, payment
//! 5xx, lost payment responses and declines) is drawn from the seed. The run then goes quiet and
//! the [`history`] checker judges it, with four checks of its own: holds lapse
//! (`holds-lapse`), every logged command is decided (`logged-commands-decided`), no
//! authorization is left open (`payments-settled`), and a seed replays identically.
//!
//! Everything runs on one thread in paused tokio time, and every choice comes from one seeded
//! generator, so a seed replays exactly: `scripts/sim --seed N`.

pub mod clients;
pub mod log;
pub mod moves;
pub mod payments;
pub mod processor;
pub mod readback;
pub mod sink;
pub mod store;
pub mod world;

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clock::SharedClock;
use history::{History, Rules};
use schemas::{ShowId, UnixMs};

use crate::clients::{SharedHistory, Workload};
use processors::reader::{ShowReader, StateReader};

use crate::payments::Money;
use crate::world::{Fault, VirtualClock, World};

/// Partitions of the simulated stream (stream sequences of one skip the other's).
pub const PARTITIONS: u16 = 2;

/// How long the run stays quiet (no faults, no buyers) before it is read back: longer than the
/// longest hold, a crashed processor's lease and a few expiry rounds.
pub const QUIET: Duration = Duration::from_secs(30);

/// A hold may stay active this long past its lapse once the run is quiet.
pub const LAPSE_GRACE_MS: i64 = 15_000;

const HOUR_MS: i64 = 3_600_000;

/// What one seed did and found.
#[derive(Clone, Debug)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// Buyer operations recorded.
    pub ops: usize,
    /// Faults injected, by kind.
    pub injected: BTreeMap<Fault, u64>,
    /// Commands a partition forwarded to the one its show's fence names (a hot-show move).
    pub forwarded: u64,
    /// The first violation, printed.
    pub violation: Option<String>,
    /// A digest of the history and the faults: equal for two runs of one seed.
    pub digest: u64,
    /// Simulated time the run covered.
    pub simulated: Duration,
}

impl Report {
    /// Faults injected in all.
    pub fn faults(&self) -> u64 {
        self.injected.values().sum()
    }
}

/// Run one seed to the end, hot-show moves included.
pub fn run_seed(seed: u64) -> Report {
    run_seed_with(seed, true)
}

/// Run one seed; with `hot_moves`, a show may be moved to the other partition mid-sale, by a
/// handover (as the seed rolls: see [`moves`]).
pub fn run_seed_with(seed: u64, hot_moves: bool) -> Report {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(simulate(seed, hot_moves))
}

async fn simulate(seed: u64, hot_moves: bool) -> Report {
    let began = tokio::time::Instant::now();
    let start = world::SIM_START;
    let clock: SharedClock = Arc::new(VirtualClock::new(start));
    let world = World::new(seed, PARTITIONS, clock.clone());
    let (work, show_time, buyers) = {
        let mut s = world.lock();
        let shows: Vec<ShowId> = (0..1 + s.pick(0..3)).map(|_| ShowId(s.uuid())).collect();
        let work = Workload {
            shows,
            seats: 4 + s.pick(0..8) as u32,
            holds_per_buyer: 2 + s.pick(0..4),
        };
        // Cancellations fall in each refund tier across seeds.
        let show_time = start.0 + (1 + s.pick(0..48) as i64) * HOUR_MS;
        (work, show_time, 4 + s.pick(0..8))
    };
    let money = Money::new(seed);
    for partition in 0..PARTITIONS {
        let tickets = money.tickets.clone();
        tokio::spawn(processor::supervise(world.clone(), partition, tickets));
    }
    for show in &work.shows {
        clients::create_show(&world, *show, work.seats, UnixMs(show_time)).await;
    }
    money.reconcile(world.clone());
    let history: SharedHistory = Arc::new(Mutex::new(History::new()));
    // The ingress's reader, through a store handle that never dies.
    let reader_store = Arc::new(store::SimStore::new(
        world.clone(),
        world::Incarnation::new(),
    ));
    let reader: Arc<dyn ShowReader> = Arc::new(StateReader::new(reader_store));
    world.lock().faults_on = true;
    if hot_moves {
        tokio::spawn(moves::move_a_show(world.clone(), work.shows.clone()));
    }
    let tasks: Vec<_> = (0..buyers)
        .map(|b| {
            tokio::spawn(clients::buyer(
                world.clone(),
                history.clone(),
                money.clone(),
                reader.clone(),
                b,
                work.clone(),
            ))
        })
        .collect();
    for task in tasks {
        task.await.expect("a buyer never panics");
    }
    world.lock().faults_on = false;
    tokio::time::sleep(QUIET).await;
    let history = history.lock().expect("history").clone();
    let (payments, open) = money.read_back().await;
    let (mut state, unreadable) = match readback::final_state(&world, &work.shows, show_time) {
        Ok(state) => (state, None),
        Err(violation) => (history::FinalState::default(), Some(violation)),
    };
    state.payments = Some(payments);
    let rules = Rules {
        refund_percent: engine::refund_percent,
    };
    let s = world.lock();
    let violation = s
        .failures
        .first()
        .cloned()
        .or(unreadable)
        .or_else(|| {
            history::check(&history, &state, &rules)
                .err()
                .map(|v| v.to_string())
        })
        .or_else(|| readback::lapsed_but_active(&state, clock.now().0, LAPSE_GRACE_MS));
    drop(s);
    let violation = violation
        .or_else(|| readback::undecided(&world, clock.now().0))
        .or_else(|| moves::unapplied(&world))
        .or_else(|| {
            (!open.is_empty()).then(|| {
                format!(
                    "VIOLATION payments-settled: {} authorization(s) still open once quiet: {open:?}",
                    open.len()
                )
            })
        });
    let s = world.lock();
    let mut hasher = DefaultHasher::new();
    format!("{:?}{:?}{:?}", history.ops(), s.injected, state).hash(&mut hasher);
    Report {
        seed,
        ops: history.ops().len(),
        injected: s.injected.clone(),
        forwarded: s
            .appended_once
            .iter()
            .filter(|id| id.starts_with("forward:"))
            .count() as u64,
        violation,
        digest: hasher.finish(),
        simulated: began.elapsed(),
    }
}
