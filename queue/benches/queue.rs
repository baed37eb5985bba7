//! `scripts/bench queue`: 1,000,000 buyers join one show's waiting room.
//!
//! - joins/s through the dev-mode service ([`WaitingRoom`] over its redb log: group-committed
//!   appends, applied to the fold, read back), with 4,096 joins in flight;
//! - heap bytes per entry of the queue fold after 1,000,000 joins (counting allocator);
//! - the cost of a position query (`WaitingRoom::entry`) with 1,000 and with 1,000,000 waiting:
//!   the ratio shows whether it grows with the queue. The same number of buyers poll in both
//!   cases (1,000, drawn at random from the queue), so both measure the query rather than how
//!   much of the machine's cache a million entries take. The same query over all 1,000,000
//!   buyers at random is printed too: there nearly every lookup misses the cache and memory
//!   latency dominates. Both queues live in one room (two shows) and are measured alternately,
//!   in CPU time of the measuring thread, so other work on this shared machine skews neither.
//!
//! With `BOXOFFICE_NATS_URL` set it also measures joins/s through the serve-mode JetStream log
//! (`QUEUE_BENCH_SERVE_JOINS`, default 200,000), on a stream it deletes afterwards.
//!
//! Ends with `BENCH queue joins_per_s=<n> bytes_per_entry=<n> position_cost_ratio=<ratio>`.

use std::alloc::System;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::future::join_all;
use queue::fold::QueueEvent;
use queue::jetstream::StreamSpec;
use queue::{Directory, QueueError, RoomConfig, RoomShow, ShowQueue, Status, WaitingRoom};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use schemas::{ShowId, UnixMs, UserId};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use uuid::Uuid;

#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const JOINS: usize = 1_000_000;
const SMALL: usize = 1_000;
const IN_FLIGHT: usize = 4_096;
const QUERIES: usize = 2_000_000;
/// Buyers polling their position in the main measurement.
const POLLING: usize = 1_000;
const NOW: UnixMs = UnixMs(1_000_000);

struct OpenShow(Vec<ShowId>);

#[async_trait]
impl Directory for OpenShow {
    async fn show(&self, show: ShowId) -> Result<Option<RoomShow>, QueueError> {
        Ok(self.0.contains(&show).then_some(RoomShow {
            enabled: true,
            admit_per_minute: 600,
            challenge_bits: None,
            sale_opens_at: None,
            show_time: UnixMs(NOW.0 + 86_400_000),
        }))
    }

    async fn available_seats(&self, _show: ShowId) -> Result<u32, QueueError> {
        Ok(50_000)
    }

    async fn switch_on(&self, _show: ShowId, _admit_per_minute: u32) -> Result<(), QueueError> {
        // Every show here is queued from the start.
        Ok(())
    }
}

fn users(n: usize, seed: u64) -> Vec<UserId> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| UserId(Uuid::from_u128(rng.random::<u128>())))
        .collect()
}

/// Heap bytes per entry of a fold holding `JOINS` entries.
fn bytes_per_entry(show: ShowId, users: &[UserId]) -> f64 {
    let region = Region::new(ALLOCATOR);
    let mut queue = ShowQueue::new(show);
    queue.apply(
        &QueueEvent::Opened {
            at: NOW,
            seed: [7; 32],
        },
        1,
    );
    for (i, user) in users.iter().enumerate() {
        let event = QueueEvent::Joined {
            user: *user,
            tag: 0,
            at: NOW,
        };
        queue.apply(&event, i as u64 + 2);
    }
    let change = region.change();
    let live = change.bytes_allocated as f64 - change.bytes_deallocated as f64
        + change.bytes_reallocated as f64;
    assert_eq!(queue.waiting() as usize, users.len());
    live / users.len() as f64
}

/// Join every user through `room`, `IN_FLIGHT` at a time; returns joins per second.
async fn join_all_users(room: &WaitingRoom, show: ShowId, users: &[UserId]) -> f64 {
    let started = Instant::now();
    for chunk in users.chunks(IN_FLIGHT) {
        let joins = chunk.iter().map(|u| room.join(show, *u, 0, None, NOW));
        for joined in join_all(joins).await {
            assert!(joined.expect("join").created);
        }
    }
    users.len() as f64 / started.elapsed().as_secs_f64()
}

/// CPU time this thread has run, in nanoseconds (`/proc/thread-self/schedstat`), falling back
/// to wall time where that file does not exist.
fn thread_cpu_ns(wall: Instant) -> u128 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| wall.elapsed().as_nanos())
}

/// Nanoseconds (thread CPU time) of one position query, over `QUERIES` random picks of `users`.
async fn position_cost_ns(
    room: &WaitingRoom,
    show: ShowId,
    users: &[UserId],
    rng: &mut StdRng,
) -> f64 {
    let picks: Vec<UserId> = (0..QUERIES)
        .map(|_| users[rng.random_range(0..users.len())])
        .collect();
    let wall = Instant::now();
    let started = thread_cpu_ns(wall);
    let mut positions = 0u64;
    for user in &picks {
        let entry = room.entry(show, *user, NOW).await.unwrap().unwrap();
        debug_assert_eq!(entry.status, Status::Waiting);
        positions += u64::from(entry.position.unwrap_or(0));
    }
    let spent = thread_cpu_ns(wall) - started;
    assert!(positions > 0);
    spent as f64 / QUERIES as f64
}

/// Median of `ROUNDS` alternating measurements of each `(show, polling users)` case.
async fn position_costs<const N: usize>(
    room: &WaitingRoom,
    cases: [(ShowId, &[UserId]); N],
) -> [f64; N] {
    const ROUNDS: usize = 5;
    let mut rng = StdRng::seed_from_u64(5);
    let mut runs = [[0f64; ROUNDS]; N];
    for round in 0..ROUNDS {
        for ((show, users), case) in cases.iter().zip(runs.iter_mut()) {
            case[round] = position_cost_ns(room, *show, users, &mut rng).await;
        }
    }
    runs.map(|mut r| {
        r.sort_by(f64::total_cmp);
        r[ROUNDS / 2]
    })
}

/// Joins per second through the JetStream log, if NATS is configured.
async fn serve_joins_per_s() -> Option<(usize, f64)> {
    let url = std::env::var("BOXOFFICE_NATS_URL").ok()?;
    let joins: usize = std::env::var("QUEUE_BENCH_SERVE_JOINS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let client = async_nats::connect(url.as_str()).await.ok()?;
    let name = format!("qbench_{:016x}", rand::random::<u64>());
    let spec = StreamSpec {
        stream: name.to_uppercase(),
        subject_prefix: name,
    };
    // What `boxoffice provision` declares for it (streams.yaml, waiting_room), minus the names.
    async_nats::jetstream::new(client.clone())
        .create_stream(async_nats::jetstream::stream::Config {
            name: spec.stream.clone(),
            subjects: vec![queue::jetstream::subjects(&spec.subject_prefix)],
            max_age: Duration::from_secs(3_600),
            ..Default::default()
        })
        .await
        .ok()?;
    let show = ShowId(Uuid::new_v4());
    let room = WaitingRoom::open_jetstream(
        client.clone(),
        spec.clone(),
        Arc::new(OpenShow(vec![show])),
        b"queue-bench-secret-0123456789abcdef",
        RoomConfig::new(600_000),
        Duration::from_secs(30),
    )
    .await
    .ok()?;
    let rate = join_all_users(&room, show, &users(joins, 3)).await;
    room.shutdown().await;
    let _ = async_nats::jetstream::new(client)
        .delete_stream(&spec.stream)
        .await;
    Some((joins, rate))
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let show = ShowId(Uuid::new_v4());
    let everyone = users(JOINS, 1);

    let bytes = bytes_per_entry(show, &everyone);
    println!("fold: {bytes:.1} heap bytes per entry at {JOINS} entries");

    let dir = tempfile::tempdir().expect("temp dir");
    let small_show = ShowId(Uuid::new_v4());
    let small_users = users(SMALL, 2);
    let polling: Vec<UserId> = {
        let mut rng = StdRng::seed_from_u64(4);
        (0..POLLING)
            .map(|_| everyone[rng.random_range(0..JOINS)])
            .collect()
    };
    let (joins_per_s, [small_ns, large_ns, random_ns]) = runtime.block_on(async {
        let room = WaitingRoom::open_embedded(
            &dir.path().join("bench.redb"),
            Arc::new(OpenShow(vec![show, small_show])),
            b"queue-bench-secret-0123456789abcdef",
            RoomConfig::new(600_000),
        )
        .await
        .expect("room opens");
        join_all_users(&room, small_show, &small_users).await;
        let started = Instant::now();
        let rate = join_all_users(&room, show, &everyone).await;
        println!(
            "dev: {JOINS} joins to one show in {:.1} s ({rate:.0}/s, {IN_FLIGHT} in flight, redb group commit)",
            started.elapsed().as_secs_f64()
        );
        let costs = position_costs(
            &room,
            [
                (small_show, &small_users[..]),
                (show, &polling[..]),
                (show, &everyone[..]),
            ],
        )
        .await;
        room.shutdown().await;
        (rate, costs)
    });
    println!(
        "dev: position query, {POLLING} buyers polling: {small_ns:.0} ns with {SMALL} waiting, {large_ns:.0} ns with {JOINS} waiting (CPU time)"
    );
    println!(
        "dev: position query, all {JOINS} buyers polling at random: {random_ns:.0} ns (lookups miss the cache; {:.2}x the small queue)",
        random_ns / small_ns
    );
    if let Some((joins, rate)) = runtime.block_on(serve_joins_per_s()) {
        println!("serve: {joins} joins through JetStream at {rate:.0}/s ({IN_FLIGHT} in flight)");
    } else {
        println!("serve: skipped (BOXOFFICE_NATS_URL not set or NATS unreachable)");
    }
    let ratio = large_ns / small_ns;
    println!(
        "BENCH queue joins_per_s={:.0} bytes_per_entry={:.0} position_cost_ratio={ratio:.2}",
        joins_per_s, bytes
    );
}
