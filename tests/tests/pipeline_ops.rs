//! Operating the pipeline against real NATS and Cassandra: a hot show's own partition
//! (streams.yaml `hot_shows`) served end to end by a processor of its own, and graceful shutdown
//! of the real `boxoffice processor` binary on SIGTERM while commands flow.
//!
//! The SIGTERM test runs the binary at `BOXOFFICE_BIN`, else `target/debug/boxoffice` next to
//! this test executable; build it first with `cargo build -p boxoffice`.

mod support;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use processors::bus::{BusError, CommandBus};
use processors::cql::CqlStore;
use processors::jetstream::NatsBus;
use processors::processor::{ProcessorConfig, run_processor};
use processors::store::ShowStore;
use processors::topology::{HotShow, PartitionId, Topology};
use schemas::{CommandEnvelope, Event, HoldId, Outcome, Reply, SeatDelta, SeatId, ShowId};
use support::pipeline::*;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A processor in this process for chosen partitions (`--partitions` semantics).
struct PartitionProcessor {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl PartitionProcessor {
    fn start(services: &Services, topology: &Topology, owner: &str, partitions: &[&str]) -> Self {
        let config = ProcessorConfig {
            nats_url: services.nats_url.clone(),
            cql_nodes: services.cql_nodes.clone(),
            topology: topology.clone(),
            partitions: partitions
                .iter()
                .map(|p| PartitionId(p.to_string()))
                .collect(),
            owner: owner.to_string(),
            shows_cached_max: 64,
            clock: clock::system(),
        };
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            run_processor(config, stop_rx).await.expect("processor");
        });
        PartitionProcessor { stop, task }
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("processor stops within 20 s")
            .expect("processor task");
    }
}

/// Every write to the lease bucket seen since [`LeaseLog::watch`]: (revision = epoch of an
/// acquisition, key, owner).
#[derive(Clone, Default)]
struct LeaseLog(Arc<Mutex<Vec<(u64, String, String)>>>);

impl LeaseLog {
    async fn watch(services: &Services, topology: &Topology) -> (LeaseLog, JoinHandle<()>) {
        let kv = lease_bucket(services, topology).await;
        let mut updates = kv.watch_all().await.expect("watch the lease bucket");
        let log = LeaseLog::default();
        let writer = log.clone();
        let task = tokio::spawn(async move {
            while let Some(Ok(entry)) = updates.next().await {
                let text = String::from_utf8_lossy(&entry.value).to_string();
                let owner = text.split_once(' ').map(|(_, o)| o.to_string());
                writer.0.lock().unwrap().push((
                    entry.revision,
                    entry.key.clone(),
                    owner.unwrap_or_default(),
                ));
            }
        });
        (log, task)
    }

    /// Key and owner of the lease write with revision `epoch`.
    fn at(&self, epoch: u64) -> Option<(String, String)> {
        let log = self.0.lock().unwrap();
        let hit = log.iter().find(|(revision, _, _)| *revision == epoch);
        hit.map(|(_, key, owner)| (key.clone(), owner.clone()))
    }
}

async fn lease_bucket(
    services: &Services,
    topology: &Topology,
) -> async_nats::jetstream::kv::Store {
    let client = processors::jetstream::connect(&services.nats_url)
        .await
        .unwrap();
    async_nats::jetstream::new(client)
        .get_key_value(&topology.processor.lease_bucket)
        .await
        .unwrap()
}

/// Who holds the lease of `partition` now (an unexpired record).
async fn lease_owner(services: &Services, topology: &Topology, partition: &str) -> Option<String> {
    let kv = lease_bucket(services, topology).await;
    let value = kv.get(format!("partition-{partition}")).await.unwrap()?;
    let text = String::from_utf8_lossy(&value).to_string();
    let (expires, owner) = text.split_once(' ')?;
    let now = clock::Clock::now(&clock::SystemClock).0;
    (expires.parse::<i64>().ok()? > now).then(|| owner.to_string())
}

/// Wait until `owner` holds `partition`'s lease; how long that took.
async fn wait_for_owner(
    services: &Services,
    topology: &Topology,
    partition: &str,
    owner: &str,
) -> Duration {
    let start = Instant::now();
    loop {
        if lease_owner(services, topology, partition).await.as_deref() == Some(owner) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{owner} did not take partition {partition} within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The real publisher with a short decision timeout.
async fn publisher(services: &Services, topology: &Topology, timeout: Duration) -> Arc<NatsBus> {
    let client = processors::jetstream::connect(&services.nats_url)
        .await
        .expect("nats");
    let bus = NatsBus::new(client, Arc::new(topology.clone()), timeout)
        .await
        .expect("bus");
    Arc::new(bus)
}

/// Submit until a decision arrives: a timeout means "unknown", and the same command again
/// returns the first outcome.
async fn submit_until_decided(bus: &NatsBus, envelope: &CommandEnvelope) -> Reply {
    for _ in 0..40 {
        match bus.submit(envelope.clone()).await {
            Ok(reply) => return reply,
            Err(BusError::Timeout | BusError::Unavailable(_)) => continue,
            Err(e) => panic!("{e}"),
        }
    }
    panic!("no decision after 40 attempts")
}

fn held_seats(reply: &Reply) -> Option<Vec<SeatId>> {
    match &reply.outcome {
        Outcome::Accepted(events) => events.iter().find_map(|event| match event {
            Event::Held { seats, .. } => Some(seats.clone()),
            _ => None,
        }),
        Outcome::Rejected(_) => None,
    }
}

/// Every command in the command stream: (subject as stored, envelope).
async fn stream_subjects(
    services: &Services,
    topology: &Topology,
) -> Vec<(String, CommandEnvelope)> {
    stream_messages(services, topology)
        .await
        .into_iter()
        .flat_map(|message| {
            let subject = message.subject.to_string();
            message_commands(&message)
                .into_iter()
                .map(move |envelope| (subject.clone(), envelope))
        })
        .collect()
}

/// The stream sequence partition 0's consumer has acknowledged through.
async fn acked_through(services: &Services, topology: &Topology) -> u64 {
    let client = processors::jetstream::connect(&services.nats_url)
        .await
        .unwrap();
    let stream = async_nats::jetstream::new(client)
        .get_stream(&topology.commands.stream)
        .await
        .unwrap();
    let name = topology.consumer_name(&PartitionId("0".into()));
    let info = stream.consumer_info(name).await.unwrap();
    info.ack_floor.stream_sequence
}

async fn owner_epoch(store: &CqlStore, show: ShowId) -> u64 {
    let (fence, _) = store.read_fence(show).await.unwrap().expect("show stored");
    fence.owner_epoch
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_hot_show_gets_its_own_partition_and_processor_end_to_end() {
    let Some(services) = services("pipeline_hot_show") else {
        return;
    };
    let (hot, normal) = (new_show(), new_show());
    let mut topology = topology("hot");
    topology.commands.partitions = 3;
    topology.commands.hot_shows = vec![HotShow {
        show_id: hot.0,
        partition: "hot-x".into(),
    }];
    provision_all(&services, &topology).await;
    let (leases, lease_watch) = LeaseLog::watch(&services, &topology).await;
    let regular = PartitionProcessor::start(&services, &topology, "regular", &["0", "1", "2"]);
    let hot_a = PartitionProcessor::start(&services, &topology, "hot-a", &["hot-x"]);
    wait_for_owner(&services, &topology, "hot-x", "hot-a").await;
    let normal_partition = topology.partition_of(normal).0;
    wait_for_owner(&services, &topology, &normal_partition, "regular").await;
    let bus = publisher(&services, &topology, Duration::from_secs(2)).await;
    let store = CqlStore::connect(&services.cql_nodes, &topology.cql.keyspace)
        .await
        .unwrap();

    // Both shows sell through the real publisher.
    for show in [hot, normal] {
        submit_until_decided(&bus, &create(show, 100)).await;
        for i in 0..10u32 {
            let reply =
                submit_until_decided(&bus, &hold(show, new_hold(), user(1), &[i], 3_600_000)).await;
            assert!(held_seats(&reply).is_some(), "hold refused: {reply:?}");
        }
    }

    // The hot show's commands are stored on its own partition's subject, nowhere else; the
    // normal show's on its hashed partition.
    let prefix = &topology.commands.subject_prefix;
    let stored = stream_subjects(&services, &topology).await;
    let subjects = |show: ShowId| -> HashSet<String> {
        let of_show = stored.iter().filter(|(_, e)| e.show_id == show);
        of_show.map(|(subject, _)| subject.clone()).collect()
    };
    let expected_hot = HashSet::from([format!("{prefix}.hot-x.{hot}")]);
    let expected_normal = HashSet::from([format!("{prefix}.{normal_partition}.{normal}")]);
    assert_eq!(subjects(hot), expected_hot);
    assert_eq!(subjects(normal), expected_normal);
    assert_eq!(stored.len(), 22, "11 commands per show, each stored once");

    // Each show was written by its own partition's lease: the stored owner_epoch is the revision
    // of the lease write that the partition's processor acquired with.
    let hot_epoch = owner_epoch(&store, hot).await;
    assert_eq!(
        leases.at(hot_epoch),
        Some(("partition-hot-x".into(), "hot-a".into())),
        "the hot show is written under hot-a's lease of hot-x"
    );
    let normal_epoch = owner_epoch(&store, normal).await;
    assert_eq!(
        leases.at(normal_epoch),
        Some((format!("partition-{normal_partition}"), "regular".into())),
    );

    // Stop the hot processor: the hot show stalls, the normal show still answers.
    hot_a.stop().await;
    let stalled_id = new_hold();
    let stalled = hold(hot, stalled_id, user(2), &[50], 3_600_000);
    let answer = bus.submit(stalled.clone()).await;
    assert!(
        matches!(answer, Err(BusError::Timeout)),
        "the hot show answered without its processor: {answer:?}"
    );
    // Answered on the first try, inside the publisher's 2 s decision timeout.
    let reply = bus
        .submit(hold(normal, new_hold(), user(2), &[50], 3_600_000))
        .await
        .expect("the normal show answers while the hot partition is down");
    assert!(held_seats(&reply).is_some(), "{reply:?}");
    assert_eq!(
        owner_epoch(&store, hot).await,
        hot_epoch,
        "no one wrote hot"
    );

    // A standby for the hot partition takes over and decides the stalled hold once.
    let hot_b = PartitionProcessor::start(&services, &topology, "hot-b", &["hot-x"]);
    let takeover = Instant::now();
    let reply = submit_until_decided(&bus, &stalled).await;
    println!(
        "HOT standby answered the stalled hold {} ms after it started",
        takeover.elapsed().as_millis()
    );
    assert!(held_seats(&reply).is_some(), "{reply:?}");
    let new_epoch = owner_epoch(&store, hot).await;
    assert!(new_epoch > hot_epoch);
    assert_eq!(
        leases.at(new_epoch),
        Some(("partition-hot-x".into(), "hot-b".into()))
    );
    assert_eq!(
        owner_epoch(&store, normal).await,
        normal_epoch,
        "the normal show stayed with the regular processor"
    );
    hot_b.stop().await;
    regular.stop().await;
    lease_watch.abort();
    assert_stored_equals_replay(&services, &topology, normal).await;
    let state = assert_stored_equals_replay(&services, &topology, hot).await;
    assert!(state.hold(stalled_id).is_some(), "the stalled hold applied");
}

/// streams.yaml text for `topology` (checked to read back as the same topology).
fn streams_yaml(t: &Topology) -> String {
    let storage = |s: processors::topology::Storage| format!("{s:?}").to_lowercase();
    let c = &t.commands;
    let events = |name: &str, e: &processors::topology::EventStream| {
        format!(
            "{name}:\n  stream: {}\n  subject_prefix: {}\n  replicas: {}\n  max_age_s: {}\n  \
             duplicate_window_s: {}\n  storage: {}\n",
            e.stream,
            e.subject_prefix,
            e.replicas,
            e.max_age_s,
            e.duplicate_window_s,
            storage(e.storage)
        )
    };
    let p = &t.processor;
    let w = &t.waiting_room;
    let mut text = format!(
        "commands:\n  stream: {}\n  subject_prefix: {}\n  partitions: {}\n  replicas: {}\n  \
         max_age_s: {}\n  duplicate_window_s: {}\n  storage: {}\n  hot_shows: []\n",
        c.stream,
        c.subject_prefix,
        c.partitions,
        c.replicas,
        c.max_age_s,
        c.duplicate_window_s,
        storage(c.storage)
    );
    assert!(c.hot_shows.is_empty(), "hot shows are not rendered");
    text += &events("seat_events", &t.seat_events);
    text += &events("booking_events", &t.booking_events);
    text += &format!(
        "processor:\n  consumer_prefix: {}\n  priority_group: {}\n  batch_size_max: {}\n  \
         batch_wait_ms: {}\n  linger_ms: {}\n  ack_wait_s: {}\n  pin_timeout_ms: {}\n  \
         lease_bucket: {}\n  lease_ttl_ms: {}\n",
        p.consumer_prefix,
        p.priority_group,
        p.batch_size_max,
        p.batch_wait_ms,
        p.linger_ms,
        p.ack_wait_s,
        p.pin_timeout_ms,
        p.lease_bucket,
        p.lease_ttl_ms
    );
    text += &format!(
        "cql:\n  keyspace: {}\n  replication_factor: {}\n",
        t.cql.keyspace, t.cql.replication_factor
    );
    assert!(w.stream.is_none() && w.subject_prefix.is_none() && w.replicas.is_none());
    text += &format!(
        "waiting_room:\n  max_age_s: {}\n  duplicate_window_s: {}\n  storage: {}\n",
        w.max_age_s,
        w.duplicate_window_s,
        storage(w.storage)
    );
    assert_eq!(&Topology::from_yaml(&text).expect("rendered yaml"), t);
    text
}

/// The `boxoffice` binary under test.
fn boxoffice_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("BOXOFFICE_BIN") {
        return PathBuf::from(bin);
    }
    // This executable is target/<profile>/deps/pipeline_ops-<hash>.
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("boxoffice");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p boxoffice` first (or set BOXOFFICE_BIN)",
        bin.display()
    );
    bin
}

/// A `boxoffice processor` child process, SIGKILLed if dropped while still running.
struct ProcessorChild(std::process::Child);

impl ProcessorChild {
    fn spawn(services: &Services, streams: &Path, owner: &str, log: &Path) -> ProcessorChild {
        let log = std::fs::File::create(log).unwrap();
        let child = std::process::Command::new(boxoffice_bin())
            .args([
                "processor",
                "--metrics-addr",
                "off",
                "--processor-id",
                owner,
            ])
            .arg("--streams")
            .arg(streams)
            .env("BOXOFFICE_NATS_URL", &services.nats_url)
            .env("BOXOFFICE_CQL_NODES", &services.cql_nodes)
            .env("RUST_LOG", "info")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn boxoffice processor");
        ProcessorChild(child)
    }

    fn sigterm(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM");
    }

    /// Wait up to `bound` for the process to exit.
    async fn exit_within(&mut self, bound: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < bound,
                "still running {bound:?} after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for ProcessorChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_sigterm_exits_cleanly_persists_what_it_answered_and_hands_over_at_once() {
    let Some(services) = services("pipeline_sigterm") else {
        return;
    };
    let mut topology = topology("term");
    topology.commands.partitions = 1;
    // A long lease: a standby can only beat it if the lease is handed back.
    topology.processor.lease_ttl_ms = 9_000;
    let lease_ttl = Duration::from_millis(topology.processor.lease_ttl_ms);
    provision_all(&services, &topology).await;
    let dir = tempfile::tempdir().unwrap();
    let streams = dir.path().join("streams.yaml");
    std::fs::write(&streams, streams_yaml(&topology)).unwrap();
    let log_a = dir.path().join("term-a.log");
    let mut active = ProcessorChild::spawn(&services, &streams, "term-a", &log_a);
    wait_for_owner(&services, &topology, "0", "term-a").await;
    let standby = ProcessorChild::spawn(&services, &streams, "term-b", &dir.path().join("b.log"));
    let bus = publisher(&services, &topology, Duration::from_secs(2)).await;
    let show = new_show();
    let client = processors::jetstream::connect(&services.nats_url)
        .await
        .unwrap();
    let mut deltas = client.subscribe(topology.seat_subject(show)).await.unwrap();
    submit_until_decided(&bus, &create(show, 300)).await;

    // 600 holds over 300 seats from 6 clients; SIGTERM once 150 are answered.
    let commands: Vec<(HoldId, CommandEnvelope)> = (0..600u32)
        .map(|i| {
            let hold_id = new_hold();
            let seat = (i * 7) % 300;
            let envelope = hold(show, hold_id, user(u128::from(i % 40)), &[seat], 3_600_000);
            (hold_id, envelope)
        })
        .collect();
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut clients = Vec::new();
    for chunk in commands.chunks(100).map(<[_]>::to_vec) {
        let (bus, answered) = (bus.clone(), answered.clone());
        clients.push(tokio::spawn(async move {
            let mut replies = Vec::new();
            for (hold_id, envelope) in chunk {
                let reply = submit_until_decided(&bus, &envelope).await;
                replies.push((hold_id, reply, Instant::now()));
                answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            replies
        }));
    }
    while answered.load(std::sync::atomic::Ordering::Relaxed) < 150 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    active.sigterm();
    let signalled = Instant::now();
    let answered_at_signal = answered.load(std::sync::atomic::Ordering::Relaxed);
    let status = active.exit_within(Duration::from_secs(15)).await;
    let exited = signalled.elapsed();
    let log = std::fs::read_to_string(&log_a).unwrap_or_default();
    assert!(status.success(), "exit status {status:?}; log:\n{log}");
    let answered_by_exit = answered.load(std::sync::atomic::Ordering::Relaxed);
    // What it acknowledged to JetStream is persisted: the ack floor it left is within the
    // show's stored position (read before the standby, which polls every ttl/3, can move on).
    let store = CqlStore::connect(&services.cql_nodes, &topology.cql.keyspace)
        .await
        .unwrap();
    let acked = acked_through(&services, &topology).await;
    let (fence, _) = store.read_fence(show).await.unwrap().unwrap();
    assert_eq!(
        lease_owner(&services, &topology, "0").await,
        None,
        "the lease was handed back, not left to lapse"
    );
    assert!(
        acked <= fence.applied_seq,
        "acknowledged through {acked} but stored through {}",
        fence.applied_seq
    );
    let handed_over = wait_for_owner(&services, &topology, "0", "term-b").await + exited;
    let mut replies = Vec::new();
    for client in clients {
        replies.extend(client.await.unwrap());
    }
    let first_after_exit = replies
        .iter()
        .filter_map(|(_, _, at)| at.checked_duration_since(signalled + exited))
        .min();
    println!(
        "SIGTERM after {answered_at_signal} answers; {answered_by_exit} answered by exit; acked through \
         stream seq {acked}, stored through {}",
        fence.applied_seq
    );
    println!(
        "SIGTERM exit {} ms; standby owns the lease {} ms after SIGTERM; first reply after \
         exit {:?} ms; lease ttl {} ms",
        exited.as_millis(),
        handed_over.as_millis(),
        first_after_exit.map(|d| d.as_millis()),
        lease_ttl.as_millis()
    );
    assert!(
        handed_over < lease_ttl,
        "the standby waited for the lease to lapse ({handed_over:?}): it was not released"
    );
    assert!(log.contains("lease released"), "log:\n{log}");

    // Every answered hold is stored with its seats; no seat is in two holds; the stored state is
    // the engine applied once to the stream.
    drop(standby);
    let stored = assert_stored_equals_replay(&services, &topology, show).await;
    let mut taken: HashMap<SeatId, HoldId> = HashMap::new();
    for (hold_id, reply, _) in &replies {
        match held_seats(reply) {
            Some(seats) => {
                let view = stored.hold(*hold_id).expect("an answered hold is stored");
                assert_eq!(view.seats, seats);
                for seat in seats {
                    let other = taken.insert(seat, *hold_id);
                    assert!(other.is_none(), "seat {seat} held twice");
                }
            }
            None => assert!(stored.hold(*hold_id).is_none(), "a refused hold is stored"),
        }
    }
    assert_eq!(
        taken.len(),
        300,
        "every seat sold once (600 holds over 300 seats)"
    );
    // Each version published once, in a chain: nothing applied (and announced) twice.
    let mut previous = None;
    while let Ok(Some(message)) =
        tokio::time::timeout(Duration::from_millis(300), deltas.next()).await
    {
        let delta: SeatDelta = schemas::decode(&message.payload).unwrap();
        if let Some(prev) = previous {
            assert_eq!(delta.from_version, prev, "seat versions chain once");
        }
        previous = Some(delta.version);
    }
    let (_, version) = store.read_fence(show).await.unwrap().unwrap();
    assert_eq!(previous, Some(version));
}
