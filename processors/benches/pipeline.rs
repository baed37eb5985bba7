//! `scripts/bench pipeline`: the full pipeline on this machine against the local NATS and
//! Cassandra, for ONE show of 50,000 seats. Prints the measurements, then one line
//! `BENCH pipeline vs_raw_publish=<ratio> batch_vs_single_lwt=<ratio> p99_ms=<n> holds_per_s=<n>`.
//!
//! - raw: JetStream async publish of messages of the same size (same headers) to a scratch stream,
//!   the median of three rounds;
//! - pipeline: single-seat holds through `NatsBus` -> processor -> Cassandra -> reply, many in
//!   flight; `vs_raw_publish` = holds/s over raw publishes/s, measured in the same run;
//! - LWT: seats persisted per second with conditional batches of 64 decisions vs one LWT per
//!   decision (engine rows, same store code as the processor);
//! - latency: publish -> reply at half the measured hold throughput (open loop), p50/p99, each
//!   from the hold's scheduled send time, so a late send (busy generator or runtime) counts as
//!   queueing. Until this change it ran from the actual send, which hid that delay: `p99_ms`
//!   keeps its key but is from the scheduled time since then (see docs/BENCHMARKS.md).
//!
//! `BENCH_BATCH_SIZE_MAX` overrides the processor's `batch_size_max` from streams.yaml.
//!
//! Diagnostics (not part of the BENCH line): the loop's own stage timings (decide, persist, reply,
//! tail wait, publish, ack; through the `metrics` facade) per phase, the stage calls over 20 ms
//! in the latency phase with their time, and CPU seconds used per process (`BENCH_PIDS`, e.g.
//! `nats=1,cassandra=2`, set by `scripts/bench.d/pipeline`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, stream};
use engine::ShowState;
use futures::StreamExt;
use processors::bus::CommandBus;
use processors::cql::CqlStore;
use processors::jetstream::NatsBus;
use processors::jetstream::REPLY_TO_HEADER;
use processors::processor::{ProcessorConfig, run_processor};
use processors::provision::{ProvisionTarget, provision};
use processors::store::{Fence, PersistOutcome, ShowStore, ShowWrite};
use processors::topology::Topology;
use schemas::{
    Command, CommandEnvelope, CommandId, Fingerprint, HoldId, HoldLimits, Outcome, RowLayout,
    SeatId, SeatLayout, SectionLayout, ShowId, ShowLayout, UnixMs, UserId,
};
use uuid::Uuid;

type Failure = Box<dyn std::error::Error + Send + Sync>;

const SEATS: u32 = 50_000;
const RAW_MESSAGES: usize = 20_000;
const THROUGHPUT_HOLDS: u32 = 20_000;
const IN_FLIGHT: usize = 512;

/// Every value the loop records through the `metrics` facade, by histogram name, with when.
#[derive(Default)]
struct Stages {
    values: Mutex<BTreeMap<String, Vec<(Instant, f64)>>>,
}

struct StageHistogram {
    name: String,
    stages: &'static Stages,
}

impl metrics::HistogramFn for StageHistogram {
    fn record(&self, value: f64) {
        let mut values = self.stages.values.lock().unwrap();
        values
            .entry(self.name.clone())
            .or_default()
            .push((Instant::now(), value));
    }
}

struct StageRecorder(&'static Stages);

impl metrics::Recorder for StageRecorder {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        metrics::Counter::noop()
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }
    fn register_histogram(
        &self,
        key: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        let name = key
            .name()
            .trim_start_matches("boxoffice_pipeline_")
            .trim_end_matches("_seconds")
            .to_string();
        metrics::Histogram::from_arc(Arc::new(StageHistogram {
            name,
            stages: self.0,
        }))
    }
}

impl Stages {
    /// Print each stage's count, p50, p99 and max (ms; batch size as is) since `since`, and the
    /// calls over 20 ms with their offset from `since` when `slow` is set; then forget them.
    fn report(&self, phase: &str, since: Instant, slow: bool) {
        let mut values = self.values.lock().unwrap();
        for (name, recorded) in values.iter() {
            let scale = if name == "batch_size" { 1.0 } else { 1000.0 };
            let mut v: Vec<f64> = recorded.iter().map(|(_, x)| x * scale).collect();
            if v.is_empty() {
                continue;
            }
            v.sort_by(|a, b| a.total_cmp(b));
            println!(
                "stage {phase} {name}: n={} p50={:.1} p99={:.1} max={:.1}",
                v.len(),
                percentile(&v, 0.5),
                percentile(&v, 0.99),
                v[v.len() - 1]
            );
            if slow && scale > 1.0 {
                let spikes: Vec<String> = recorded
                    .iter()
                    .filter(|(_, x)| x * scale > 20.0)
                    .map(|(at, x)| {
                        let at = at.saturating_duration_since(since).as_millis();
                        format!("{at}ms:{:.0}", x * scale)
                    })
                    .take(20)
                    .collect();
                if !spikes.is_empty() {
                    println!(
                        "stage {phase} {name} over 20 ms (at:ms): {}",
                        spikes.join(" ")
                    );
                }
            }
        }
        values.clear();
    }
}

/// CPU seconds (user + system) used so far by this process and by the `BENCH_PIDS` processes.
fn cpu_seconds() -> Vec<(String, f64)> {
    let mut pids = vec![("bench".to_string(), "self".to_string())];
    if let Ok(list) = std::env::var("BENCH_PIDS") {
        for pair in list.split(',') {
            if let Some((name, pid)) = pair.split_once('=') {
                pids.push((name.to_string(), pid.to_string()));
            }
        }
    }
    pids.into_iter()
        .filter_map(|(name, pid)| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // Fields after the command name (which may contain spaces): utime is the 12th.
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ticks: f64 =
                fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
            Some((name, ticks / 100.0))
        })
        .collect()
}

fn print_cpu(phase: &str, before: &[(String, f64)], wall: Duration) {
    let after = cpu_seconds();
    let used: Vec<String> = after
        .iter()
        .zip(before)
        .map(|((name, a), (_, b))| format!("{name} {:.2}", a - b))
        .collect();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().next().unwrap_or("?");
    println!(
        "cpu {phase}: {} CPU-s in {:.2} s wall (load average {load})",
        used.join(", "),
        wall.as_secs_f64()
    );
}

fn env(name: &str) -> Result<String, Failure> {
    std::env::var(name)
        .map_err(|_| format!("{name} is not set (eval \"$(scripts/services env)\")").into())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn envelope(show: ShowId, command: Command) -> CommandEnvelope {
    let command_id = CommandId(Uuid::new_v4());
    CommandEnvelope {
        schema: schemas::SCHEMA_VERSION,
        command_id,
        fingerprint: Fingerprint(*command_id.0.as_bytes()),
        show_id: show,
        issued_at: UnixMs(now_ms()),
        command,
    }
}

fn create(show: ShowId) -> CommandEnvelope {
    let rows = (0..SEATS / 100)
        .map(|r| RowLayout {
            row: format!("R{r}"),
            seats: (0..100)
                .map(|i| SeatLayout {
                    seat_id: SeatId::derive(show, r * 100 + i),
                    number: i + 1,
                    x: i as i32,
                    y: r as i32,
                })
                .collect(),
        })
        .collect();
    let layout = ShowLayout {
        currency: "EUR".into(),
        sections: vec![SectionLayout {
            section_id: "A".into(),
            name: "Arena".into(),
            price_category: "standard".into(),
            price_minor: 5000,
            rows,
        }],
    };
    let show_time = UnixMs(now_ms() + 30 * 24 * 3600 * 1000);
    envelope(
        show,
        Command::CreateShow {
            layout,
            show_time,
            sale_opens_at: None,
        },
    )
}

fn hold(show: ShowId, seat: u32) -> CommandEnvelope {
    envelope(
        show,
        Command::Hold {
            hold_id: HoldId(Uuid::new_v4()),
            user: UserId(Uuid::new_v4()),
            seats: vec![SeatId::derive(show, seat)],
            ttl_ms: 3_600_000,
            limits: HoldLimits {
                max_seats_per_hold: 10,
                max_tickets_per_user: 6,
                max_holds_per_user: 3,
            },
        },
    )
}

fn topology(tag: &str) -> Topology {
    let mut t = Topology::builtin();
    t.commands.stream = format!("BENCH_CMD_{tag}");
    t.commands.subject_prefix = format!("bcmd_{tag}");
    t.seat_events.stream = format!("BENCH_SEATS_{tag}");
    t.seat_events.subject_prefix = format!("bseats_{tag}");
    t.booking_events.stream = format!("BENCH_BOOKINGS_{tag}");
    t.booking_events.subject_prefix = format!("bbookings_{tag}");
    t.processor.lease_bucket = format!("bench_leases_{tag}");
    t.cql.keyspace = format!("bench_{tag}");
    // To compare batch limits without editing streams.yaml.
    if let Some(n) = std::env::var("BENCH_BATCH_SIZE_MAX")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        t.processor.batch_size_max = n;
    }
    t
}

/// Raw JetStream async publishes of `payload`-sized messages with a `Nats-Msg-Id`, per second.
async fn raw_publish_rate(
    js: &jetstream::Context,
    tag: &str,
    payload: &[u8],
) -> Result<f64, Failure> {
    let name = format!("BENCH_RAW_{tag}");
    let inbox = js.client().new_inbox();
    js.create_stream(stream::Config {
        name: name.clone(),
        subjects: vec![format!("braw_{tag}.*")],
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await?;
    let started = Instant::now();
    let mut acks = futures::stream::FuturesUnordered::new();
    for i in 0..RAW_MESSAGES {
        // The same headers as a command: its id and a reply subject of the same shape.
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", Uuid::new_v4().to_string().as_str());
        headers.insert(REPLY_TO_HEADER, format!("{inbox}.{i}").as_str());
        let ack = js
            .publish_with_headers(
                format!("braw_{tag}.{}", i % 64),
                headers,
                payload.to_vec().into(),
            )
            .await?;
        acks.push(std::future::IntoFuture::into_future(ack));
        while acks.len() >= 4096 {
            acks.next().await.ok_or("ack stream ended")??;
        }
    }
    while let Some(ack) = acks.next().await {
        ack?;
    }
    let rate = RAW_MESSAGES as f64 / started.elapsed().as_secs_f64();
    js.delete_stream(&name).await?;
    Ok(rate)
}

/// Single-seat holds through the whole pipeline with `IN_FLIGHT` requests outstanding.
async fn pipeline_rate(bus: &Arc<NatsBus>, show: ShowId) -> Result<f64, Failure> {
    // Commands are made before the clock starts: the load generator's own work is not measured.
    let holds: Vec<CommandEnvelope> = (0..THROUGHPUT_HOLDS).map(|s| hold(show, s)).collect();
    let started = Instant::now();
    let accepted = futures::stream::iter(holds)
        .map(|hold| {
            let bus = bus.clone();
            async move { bus.submit(hold).await }
        })
        .buffer_unordered(IN_FLIGHT)
        .filter(|r| {
            futures::future::ready(
                matches!(r, Ok(reply) if matches!(reply.outcome, Outcome::Accepted(_))),
            )
        })
        .count()
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    if accepted as u32 != THROUGHPUT_HOLDS {
        return Err(format!("only {accepted} of {THROUGHPUT_HOLDS} holds accepted").into());
    }
    Ok(accepted as f64 / elapsed)
}

/// Open-loop holds at `rate` per second on seats from `first`; latencies in ms, sorted. Also
/// prints how the slow ones (over 50 ms) cluster in time: one stall or a steady tail.
///
/// Each latency runs from the hold's scheduled send time (`started + interval * i`), not from
/// when its task got to send: a generator or runtime too busy to send on time delays the send,
/// and that delay is queueing the hold would see from a real client, so it is counted (no
/// coordinated omission). How late the sends were is printed beside it.
async fn latencies(
    bus: &Arc<NatsBus>,
    show: ShowId,
    first: u32,
    rate: f64,
) -> Result<Vec<f64>, Failure> {
    let count = ((rate * 5.0) as u32).clamp(200, SEATS - first);
    let interval = Duration::from_secs_f64(1.0 / rate);
    let started = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(count as usize);
    for i in 0..count {
        let scheduled = started + interval * i;
        tokio::time::sleep_until(scheduled).await;
        let bus = bus.clone();
        let hold = hold(show, first + i);
        tasks.push(tokio::spawn(async move {
            let late = scheduled.elapsed();
            bus.submit(hold).await.map(|_| {
                let offset_ms = (scheduled - started).as_millis() as u64;
                let ms = |d: Duration| d.as_secs_f64() * 1000.0;
                (offset_ms, ms(scheduled.elapsed()), ms(late))
            })
        }));
    }
    let mut out = Vec::with_capacity(tasks.len());
    let mut late = Vec::with_capacity(tasks.len());
    let mut slow_windows = std::collections::BTreeSet::new();
    for task in tasks {
        let (offset_ms, latency, late_ms) = task.await??;
        if latency > 50.0 {
            slow_windows.insert(offset_ms / 100);
        }
        out.push(latency);
        late.push(late_ms);
    }
    let slow = out.iter().filter(|l| **l > 50.0).count();
    println!(
        "latency: {slow} of {count} over 50 ms, scheduled in {} of {} 100-ms windows {:?}",
        slow_windows.len(),
        started.elapsed().as_millis() / 100 + 1,
        slow_windows.iter().take(12).collect::<Vec<_>>()
    );
    late.sort_by(|a, b| a.total_cmp(b));
    println!(
        "latency: sends late against their schedule p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (counted in the latency)",
        percentile(&late, 0.5),
        percentile(&late, 0.99),
        late[late.len() - 1]
    );
    out.sort_by(|a, b| a.total_cmp(b));
    Ok(out)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Seats persisted per second when each conditional batch carries `per_batch` decisions.
async fn lwt_rate(store: &CqlStore, per_batch: u32, seats: u32) -> Result<f64, Failure> {
    let show = ShowId(Uuid::new_v4());
    let mut state = ShowState::new(show);
    state.decide(&create(show), UnixMs(now_ms()));
    let mut seq = 1;
    let mut fence = None;
    let persist = |state: &mut ShowState, seq: u64, expected: Option<Fence>| {
        let rows = processors::rows::encode_changes(state.take_dirty());
        async move {
            let next = Fence {
                applied_seq: seq,
                owner_epoch: 1,
                partition: None,
            };
            let write = ShowWrite {
                show_id: show,
                expected,
                next: next.clone(),
                version: seq,
                rows: rows?,
            };
            match store.persist(&write).await? {
                PersistOutcome::Applied => Ok::<Fence, Failure>(next),
                PersistOutcome::NotApplied { current } => {
                    Err(format!("not applied: {current:?}").into())
                }
            }
        }
    };
    fence = Some(persist(&mut state, seq, fence).await?);
    let started = Instant::now();
    let mut seat = 0;
    while seat < seats {
        for _ in 0..per_batch {
            state.decide(&hold(show, seat), UnixMs(now_ms()));
            seat += 1;
        }
        seq += 1;
        fence = Some(persist(&mut state, seq, fence).await?);
    }
    Ok(f64::from(seats) / started.elapsed().as_secs_f64())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Failure> {
    let nats_url = env("BOXOFFICE_NATS_URL")?;
    let cql_nodes = env("BOXOFFICE_CQL_NODES")?;
    let tag = Uuid::new_v4().simple().to_string()[..12].to_string();
    let topology = topology(&tag);
    let target = ProvisionTarget {
        nats_url: Some(nats_url.clone()),
        cql_nodes: Some(cql_nodes.clone()),
    };
    provision(&topology, &target).await?;
    let client = processors::jetstream::connect(&nats_url).await?;
    let js = jetstream::new(client.clone());
    let show = ShowId(Uuid::new_v4());
    let payload = schemas::encode(&hold(show, 0))?;

    let stages: &'static Stages = Box::leak(Box::default());
    metrics::set_global_recorder(StageRecorder(stages))
        .map_err(|_| "a metrics recorder is already set")?;
    let (cpu, wall) = (cpu_seconds(), Instant::now());
    // One round of 20,000 takes only 0.1-0.4 s here, so a scheduling hiccup of a busy box
    // swung it 50-170k msg/s: the median of three rounds, all printed.
    let mut rounds = Vec::new();
    for round in 0..3 {
        rounds.push(raw_publish_rate(&js, &format!("{tag}_{round}"), &payload).await?);
    }
    print_cpu("raw", &cpu, wall.elapsed());
    rounds.sort_by(|a, b| a.total_cmp(b));
    let raw = rounds[1];
    println!(
        "raw JetStream async publish: {raw:.0} msg/s, median of {:.0?} ({} B payload)",
        rounds,
        payload.len()
    );

    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let config = ProcessorConfig {
        nats_url: nats_url.clone(),
        cql_nodes: cql_nodes.clone(),
        topology: topology.clone(),
        partitions: Vec::new(),
        owner: "bench".into(),
        shows_cached_max: 16,
        clock: clock::system(),
    };
    let processor = tokio::spawn(run_processor(config, stop_rx));
    let bus = Arc::new(
        NatsBus::new(
            client.clone(),
            Arc::new(topology.clone()),
            Duration::from_secs(30),
        )
        .await?,
    );
    let created = bus.submit(create(show)).await?;
    if !matches!(created.outcome, Outcome::Accepted(_)) {
        return Err(format!("show not created: {:?}", created.outcome).into());
    }
    stages.values.lock().unwrap().clear();
    let (cpu, wall) = (cpu_seconds(), Instant::now());
    let holds_per_s = pipeline_rate(&bus, show).await?;
    print_cpu("pipeline", &cpu, wall.elapsed());
    stages.report("pipeline", wall, false);
    println!(
        "pipeline holds: {holds_per_s:.0} holds/s ({IN_FLIGHT} in flight, 1 show of {SEATS} seats)"
    );
    let (cpu, wall) = (cpu_seconds(), Instant::now());
    let lat = latencies(&bus, show, THROUGHPUT_HOLDS, holds_per_s / 2.0).await?;
    print_cpu("latency", &cpu, wall.elapsed());
    stages.report("latency", wall, true);
    let (p50, p99) = (percentile(&lat, 0.50), percentile(&lat, 0.99));
    println!(
        "latency (scheduled send -> reply) at {:.0} holds/s: p50 {p50:.1} ms, p99 {p99:.1} ms ({} holds)",
        holds_per_s / 2.0,
        lat.len()
    );
    stop.send(true)?;
    processor.await??;

    let store = CqlStore::connect(&cql_nodes, &topology.cql.keyspace).await?;
    let batched = lwt_rate(&store, 64, 64 * 40).await?;
    let single = lwt_rate(&store, 1, 300).await?;
    let large = lwt_rate(&store, 256, 256 * 10).await?;
    println!(
        "LWT: {batched:.0} seats/s with 64 decisions per conditional batch, {single:.0} seats/s with one each ({large:.0} seats/s with 256)"
    );
    for name in [
        &topology.commands.stream,
        &topology.seat_events.stream,
        &topology.booking_events.stream,
    ] {
        js.delete_stream(name).await?;
    }
    println!(
        "BENCH pipeline vs_raw_publish={:.3} batch_vs_single_lwt={:.1} p99_ms={p99:.1} holds_per_s={holds_per_s:.0}",
        holds_per_s / raw,
        batched / single
    );
    Ok(())
}
