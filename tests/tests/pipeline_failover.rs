//! Failover of the pipeline against real NATS and Cassandra: two processors (only one applies:
//! every command answered once and stored by the active epoch; the standby's own `/metrics` show
//! nothing decided or persisted while the other holds the lease), `kill -9` of the active
//! processor in the middle of a stream of commands (bounded takeover, nothing acknowledged lost,
//! no seat held twice), redelivery after a crash between persist and ack (applies once), a stale
//! owner fenced by the conditional batch, and restart recovery.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use processors::bus::{BusError, CommandBus};
use processors::cql::CqlStore;
use processors::embedded::LocalBus;
use processors::embedded::MemLogHub;
use processors::events::EventHub;
use processors::jetstream::JetStreamLog;
use processors::log::{CommandLog, LogError, LoggedCommand};
use processors::partition::{LoopError, LoopSettings, Ownership, PartitionLoop};
use processors::store::ShowStore;
use processors::topology::{PartitionId, Topology};
use schemas::{CommandEnvelope, Event, HoldId, Outcome, Rejection, Reply, SeatId};
use support::pipeline::*;
use tokio::sync::watch;

const CHILD_ENV: &str = "BOXOFFICE_PIPELINE_CHILD";
/// Where a child processor serves its `/metrics` (unset: nowhere).
const CHILD_METRICS_ENV: &str = "BOXOFFICE_PIPELINE_CHILD_METRICS";

/// Not a test: the entry point of a processor child process (run by the failover test with
/// `--ignored --exact`), so it can be killed with SIGKILL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "entry point of a child processor process"]
async fn pipeline_child_processor() {
    let name = std::env::var(CHILD_ENV).expect("run by pipeline_failover only");
    let services = services("pipeline_child_processor").expect("services");
    let owner = format!("child-{}", std::process::id());
    // Its own process, so its own metrics recorder: the parent scrapes what this one did.
    let _exporter = match std::env::var(CHILD_METRICS_ENV) {
        Ok(addr) => Some(
            processors::metrics::serve_exporter(addr.parse().expect("metrics address"))
                .await
                .expect("metrics exporter"),
        ),
        Err(_) => None,
    };
    let processor = Processor::start(&services, &one_partition(&name), &owner);
    // Run until killed.
    tokio::time::sleep(Duration::from_secs(600)).await;
    processor.stop().await;
}

fn one_partition(name: &str) -> Topology {
    let mut t = topology_named(name);
    t.commands.partitions = 1;
    t
}

/// A child processor that is SIGKILLed when dropped, so a failing test leaves nothing running.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_child(name: &str) -> Child {
    spawn_child_with(name, &[])
}

fn spawn_child_with(name: &str, env: &[(&str, String)]) -> Child {
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "pipeline_child_processor",
            "--nocapture",
        ])
        .env(CHILD_ENV, name)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn child processor");
    Child(child)
}

/// Who holds the lease of partition 0.
async fn lease_owner(services: &Services, topology: &Topology) -> Option<String> {
    let client = processors::jetstream::connect(&services.nats_url)
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client);
    let kv = js
        .get_key_value(&topology.processor.lease_bucket)
        .await
        .unwrap();
    let value = kv.get("partition-0").await.unwrap()?;
    let text = String::from_utf8_lossy(&value).to_string();
    let (expires, owner) = text.split_once(' ')?;
    let now = clock::Clock::now(&clock::SystemClock).0;
    (expires.parse::<i64>().ok()? > now).then(|| owner.to_string())
}

async fn wait_for_owner(services: &Services, topology: &Topology) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(owner) = lease_owner(services, topology).await {
            return owner;
        }
        assert!(Instant::now() < deadline, "no processor took the lease");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Submit until a decision arrives: a timeout means "unknown", and the same command again
/// returns the first outcome.
async fn submit_until_decided(bus: &impl CommandBus, envelope: &CommandEnvelope) -> Reply {
    for _ in 0..20 {
        match bus.submit(envelope.clone()).await {
            Ok(reply) => return reply,
            Err(BusError::Timeout | BusError::Unavailable(_)) => continue,
            Err(e) => panic!("{e}"),
        }
    }
    panic!("no decision after 20 attempts")
}

/// Each accepted hold's seats, checking no seat is in two accepted holds.
fn accepted_holds(replies: &[(HoldId, Reply)]) -> HashMap<HoldId, Vec<SeatId>> {
    let mut seats_taken: HashSet<SeatId> = HashSet::new();
    let mut holds = HashMap::new();
    for (hold_id, reply) in replies {
        if let Outcome::Accepted(events) = &reply.outcome {
            for event in events {
                if let Event::Held { seats, .. } = event {
                    for seat in seats {
                        assert!(seats_taken.insert(*seat), "seat {seat} held twice");
                    }
                    holds.insert(*hold_id, seats.clone());
                }
            }
        }
    }
    holds
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_kill_9_of_the_active_processor_fails_over_without_loss_or_double_hold() {
    let Some(services) = services("pipeline_kill_9") else {
        return;
    };
    let name = boxoffice_tests::unique_name("kill");
    let topology = one_partition(&name);
    provision_all(&services, &topology).await;
    let mut active = spawn_child(&name);
    let first_owner = wait_for_owner(&services, &topology).await;
    let standby = spawn_child(&name);
    let bus = Arc::new(bus(&services, &topology).await);
    let show = new_show();
    submit_until_decided(bus.as_ref(), &create(show, 400)).await;

    // 1200 holds over 400 seats from 8 concurrent clients: seats are contested.
    let commands: Vec<(HoldId, CommandEnvelope)> = (0..1200u32)
        .map(|i| {
            let hold_id = new_hold();
            let seats = [(i * 7) % 400, (i * 13 + 1) % 400];
            let seats: Vec<u32> = if seats[0] == seats[1] {
                vec![seats[0]]
            } else {
                seats.to_vec()
            };
            (
                hold_id,
                hold(show, hold_id, user(u128::from(i % 50)), &seats, 3_600_000),
            )
        })
        .collect();
    let (killed_tx, killed_rx) = watch::channel(None::<Instant>);
    let replied_after_kill = Arc::new(std::sync::Mutex::new(None::<Duration>));
    let mut clients = Vec::new();
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for chunk in commands.chunks(150).map(<[_]>::to_vec) {
        let answered = answered.clone();
        let bus = bus.clone();
        let killed = killed_rx.clone();
        let first_after = replied_after_kill.clone();
        clients.push(tokio::spawn(async move {
            let mut replies = Vec::new();
            for (hold_id, envelope) in chunk {
                let reply = submit_until_decided(bus.as_ref(), &envelope).await;
                if let Some(at) = *killed.borrow() {
                    let mut first = first_after.lock().unwrap();
                    first.get_or_insert(at.elapsed());
                }
                replies.push((hold_id, reply));
                answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            replies
        }));
    }
    // Kill once a quarter of the stream is answered: the rest is in flight or not yet sent.
    while answered.load(std::sync::atomic::Ordering::Relaxed) < 300 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // SIGKILL: no graceful shutdown, no lease release, in-flight batch lost mid-way.
    active.0.kill().expect("kill -9");
    active.0.wait().unwrap();
    killed_tx.send(Some(Instant::now())).unwrap();
    let mut replies = Vec::new();
    for client in clients {
        replies.extend(client.await.unwrap());
    }
    let takeover = replied_after_kill
        .lock()
        .unwrap()
        .expect("replies after the kill");
    let second_owner = wait_for_owner(&services, &topology).await;
    assert_ne!(first_owner, second_owner, "the standby took over");
    println!(
        "TAKEOVER first reply {} ms after kill -9",
        takeover.as_millis()
    );
    assert!(
        takeover < Duration::from_secs(10),
        "takeover took {takeover:?}"
    );

    let holds = accepted_holds(&replies);
    assert!(!holds.is_empty());
    drop(standby);
    let stored = assert_stored_equals_replay(&services, &topology, show).await;
    // Every acknowledged (answered) hold is stored, with its seats.
    for (hold_id, seats) in &holds {
        let view = stored.hold(*hold_id).expect("an answered hold is stored");
        assert_eq!(&view.seats, seats);
    }
}

/// Publish `envelope` straight to the command stream with `reply_to` as its reply subject and
/// return the first answer on `answers` (a subscription to every `reply_to` this test uses).
async fn publish_and_await_answer(
    js: &async_nats::jetstream::Context,
    topology: &Topology,
    answers: &mut async_nats::Subscriber,
    envelope: &CommandEnvelope,
    reply_to: &str,
) -> Reply {
    use futures::StreamExt;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", envelope.command_id.to_string().as_str());
    headers.insert(processors::jetstream::REPLY_TO_HEADER, reply_to);
    js.publish_with_headers(
        topology.command_subject(envelope.show_id),
        headers,
        schemas::encode(envelope).unwrap().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let message = tokio::time::timeout(Duration::from_secs(10), answers.next())
        .await
        .expect("an answer within 10 s")
        .expect("subscription open");
    assert_eq!(
        message.subject.as_str(),
        reply_to,
        "answers arrive in order"
    );
    schemas::decode(&message.payload).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_two_processors_only_one_applies_and_a_restart_recovers() {
    use futures::StreamExt;
    let Some(services) = services("pipeline_two") else {
        return;
    };
    let name = boxoffice_tests::unique_name("two");
    let topology = one_partition(&name);
    provision_all(&services, &topology).await;
    let a = Processor::start(&services, &topology, "proc-a");
    assert_eq!(wait_for_owner(&services, &topology).await, "proc-a");
    let b = Processor::start(&services, &topology, "proc-b");
    let bus = bus(&services, &topology).await;
    let store = CqlStore::connect(&services.cql_nodes, &topology.cql.keyspace)
        .await
        .unwrap();
    let show = new_show();
    submit_until_decided(&bus, &create(show, 100)).await;
    let epoch_a = store.read_fence(show).await.unwrap().unwrap().0.owner_epoch;

    // While proc-a holds the lease, every command is answered once and stored by proc-a's
    // epoch: a standby that decided a command would answer it too, one that persisted would
    // leave its own (newer) epoch in the fence.
    let client = processors::jetstream::connect(&services.nats_url)
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let inbox = client.new_inbox();
    let mut answers = client.subscribe(format!("{inbox}.*")).await.unwrap();
    let mut sent = Vec::new();
    for i in 0..40u32 {
        let hold_id = new_hold();
        let envelope = hold(show, hold_id, user(1), &[i], 3_600_000);
        let reply_to = format!("{inbox}.{i}");
        let reply =
            publish_and_await_answer(&js, &topology, &mut answers, &envelope, &reply_to).await;
        assert_eq!(reply.command_id, envelope.command_id);
        let (fence, version) = store.read_fence(show).await.unwrap().unwrap();
        assert_eq!(fence.owner_epoch, epoch_a, "only proc-a wrote");
        assert_eq!(version, reply.version, "stored through this hold");
        sent.push((hold_id, envelope, reply));
    }
    assert_eq!(
        lease_owner(&services, &topology).await.as_deref(),
        Some("proc-a")
    );
    let late = tokio::time::timeout(Duration::from_secs(1), answers.next()).await;
    assert!(late.is_err(), "a command was answered twice: {late:?}");

    // Graceful stop of the active one: the standby takes over; the state carries on.
    a.stop().await;
    assert_eq!(wait_for_owner(&services, &topology).await, "proc-b");
    for i in 40..60u32 {
        let hold_id = new_hold();
        let envelope = hold(show, hold_id, user(2), &[i], 3_600_000);
        let reply = submit_until_decided(&bus, &envelope).await;
        sent.push((hold_id, envelope, reply));
    }
    let epoch_b = store.read_fence(show).await.unwrap().unwrap().0.owner_epoch;
    assert!(epoch_b > epoch_a, "proc-b writes with a newer epoch");
    b.stop().await;
    // A fresh processor recovers from the store; a retry of an old command answers from memory.
    let c = Processor::start(&services, &topology, "proc-c");
    let (first_hold, first_envelope, first_reply) = sent[0].clone();
    let again = submit_until_decided(&bus, &first_envelope).await;
    assert_eq!(again.command_id, first_reply.command_id);
    assert_eq!(
        again.outcome, first_reply.outcome,
        "the retry gets the first decision"
    );
    // The engine remembers outcomes, not the version each one left: a recalled reply carries
    // the show's current version.
    let (_, current) = store.read_fence(show).await.unwrap().unwrap();
    assert_eq!(again.version, current);
    // A new command naming the same hold id is a different request: an id reuse.
    let reuse = submit_until_decided(&bus, &hold(show, first_hold, user(1), &[0], 3_600_000)).await;
    assert_eq!(reuse.outcome, Outcome::Rejected(Rejection::CommandIdReused));
    c.stop().await;
    let replies: Vec<(HoldId, Reply)> = sent.into_iter().map(|(h, _, r)| (h, r)).collect();
    let holds = accepted_holds(&replies);
    assert_eq!(holds.len(), 60, "every hold applied exactly once");
    assert_stored_equals_replay(&services, &topology, show).await;
}

/// A loopback address with a port free right now.
fn free_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The sum of every sample of `metric` (all label sets) a child serves at `addr`; 0 when it
/// recorded none. Waits for the endpoint to come up.
async fn scrape_sum(addr: std::net::SocketAddr, metric: &str) -> f64 {
    let url = format!("http://{addr}/metrics");
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        match reqwest::get(&url).await {
            Ok(r) if r.status().is_success() => break r.text().await.unwrap(),
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
            other => panic!("no metrics at {url}: {other:?}"),
        }
    };
    text.lines()
        .filter(|l| l.starts_with(metric) && l[metric.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// [`scrape_sum`] of `metric` at two children.
async fn scrape_both(addrs: [std::net::SocketAddr; 2], metric: &str) -> (f64, f64) {
    (
        scrape_sum(addrs[0], metric).await,
        scrape_sum(addrs[1], metric).await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_a_standby_decides_and_persists_nothing_while_the_active_one_holds_the_lease() {
    use processors::metrics::{BATCH_SIZE, COMMANDS, PERSIST_SECONDS};
    let Some(services) = services("pipeline_standby") else {
        return;
    };
    let name = boxoffice_tests::unique_name("standby");
    let topology = one_partition(&name);
    provision_all(&services, &topology).await;
    let (active_metrics, standby_metrics) = (free_addr(), free_addr());
    let active = spawn_child_with(&name, &[(CHILD_METRICS_ENV, active_metrics.to_string())]);
    let active_owner = format!("child-{}", active.0.id());
    assert_eq!(wait_for_owner(&services, &topology).await, active_owner);
    let standby = spawn_child_with(&name, &[(CHILD_METRICS_ENV, standby_metrics.to_string())]);
    // The standby is up (serving metrics) before any command is sent.
    assert_eq!(scrape_sum(standby_metrics, COMMANDS).await, 0.0);
    let bus = bus(&services, &topology).await;
    let show = new_show();
    submit_until_decided(&bus, &create(show, 100)).await;
    for i in 0..30u32 {
        let reply =
            submit_until_decided(&bus, &hold(show, new_hold(), user(1), &[i], 3_600_000)).await;
        assert!(matches!(reply.outcome, Outcome::Accepted(_)), "{reply:?}");
    }
    assert_eq!(
        lease_owner(&services, &topology).await,
        Some(active_owner.clone())
    );
    let both = [active_metrics, standby_metrics];
    assert_eq!(
        scrape_both(both, COMMANDS).await,
        (31.0, 0.0),
        "commands decided"
    );
    let (active_batches, standby_batches) = scrape_both(both, &format!("{BATCH_SIZE}_count")).await;
    assert!(active_batches >= 1.0 && standby_batches == 0.0);
    let (active_persists, standby_persists) =
        scrape_both(both, &format!("{PERSIST_SECONDS}_count")).await;
    assert!(active_persists >= 1.0 && standby_persists == 0.0);

    // The same counters move in the standby once it is the active one.
    drop(active);
    for i in 30..40u32 {
        submit_until_decided(&bus, &hold(show, new_hold(), user(2), &[i], 3_600_000)).await;
    }
    assert_ne!(wait_for_owner(&services, &topology).await, active_owner);
    assert!(scrape_sum(standby_metrics, COMMANDS).await >= 10.0);
    drop(standby);
    assert_stored_equals_replay(&services, &topology, show).await;
}

/// Never acknowledges and "crashes" (closes) after `batches_left` batches: the effects are
/// persisted, the acks are lost.
struct CrashBeforeAck {
    batches_left: usize,
}

#[async_trait]
impl Alteration for CrashBeforeAck {
    async fn next_batch(
        &mut self,
        inner: &mut JetStreamLog,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<LoggedCommand>, LogError> {
        if self.batches_left == 0 {
            return Err(LogError::Closed);
        }
        let batch = inner.next_batch(max, wait).await?;
        if !batch.is_empty() {
            self.batches_left -= 1;
        }
        Ok(batch)
    }

    fn acks(&self) -> bool {
        false
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_redelivered_commands_after_a_crash_apply_once() {
    let Some(services) = services("pipeline_redelivery") else {
        return;
    };
    let name = boxoffice_tests::unique_name("redeliver");
    let topology = Arc::new(one_partition(&name));
    provision_all(&services, &topology).await;
    let show = new_show();
    let hold_id = new_hold();
    // Publish before any processor runs, so one batch holds them all.
    let client = processors::jetstream::connect(&services.nats_url)
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client.clone());
    for envelope in [
        create(show, 10),
        hold(show, hold_id, user(1), &[1, 2], 3_600_000),
    ] {
        let subject = topology.command_subject(show);
        js.publish(subject, schemas::encode(&envelope).unwrap().into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let (inner, sink) = partition_zero(&services, &topology).await;
    let store = Arc::new(
        CqlStore::connect(&services.cql_nodes, &topology.cql.keyspace)
            .await
            .unwrap(),
    );
    let crashing = AlteredLog {
        inner,
        alteration: CrashBeforeAck { batches_left: 1 },
    };
    let (_stop, task) = spawn_loop(crashing, store.clone(), sink);
    task.await.unwrap().unwrap();
    let applied = store
        .read_fence(show)
        .await
        .unwrap()
        .expect("persisted before the crash")
        .0;

    // A real processor gets the unacknowledged commands again and must not apply them twice.
    let processor = Processor::start(&services, &topology, "after-crash");
    let bus = bus(&services, &topology).await;
    let next = new_hold();
    submit_until_decided(&bus, &hold(show, next, user(2), &[5], 3_600_000)).await;
    processor.stop().await;
    let state = assert_stored_equals_replay(&services, &topology, show).await;
    assert!(state.hold(hold_id).is_some() && state.hold(next).is_some());
    let after = store.read_fence(show).await.unwrap().unwrap().0;
    assert!(after.applied_seq > applied.applied_seq);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_a_stale_owner_is_fenced_by_the_conditional_batch() {
    let Some(services) = services("pipeline_fence") else {
        return;
    };
    let topology = topology("fence");
    provision_all(&services, &topology).await;
    let store = Arc::new(
        CqlStore::connect(&services.cql_nodes, &topology.cql.keyspace)
            .await
            .unwrap(),
    );
    let show = new_show();
    // Two loops over the same store: the old owner (epoch 5) and the new one (epoch 9). Each has
    // its own in-process log, so the interleaving is exactly the one written here.
    let start = |epoch: u64, after: u64| {
        let (hub, mut logs) = MemLogHub::new(1, after, clock::system());
        let (stop, stop_rx) = watch::channel(false);
        let looped = PartitionLoop::new(
            LoopSettings::new(PartitionId("0".into())),
            Ownership::permanent(epoch),
            logs.remove(0),
            store.clone(),
            Arc::new(EventHub::default()),
            stop_rx,
        );
        let task = tokio::spawn(looped.run());
        (LocalBus::new(hub, Duration::from_secs(3)), task, stop)
    };
    let (old_bus, old_task, _old_stop) = start(5, 0);
    let (new_bus, new_task, new_stop) = start(9, 1_000);
    let ok = |r: Result<Reply, BusError>| matches!(r.unwrap().outcome, Outcome::Accepted(_));
    assert!(ok(old_bus.submit(create(show, 10)).await));
    assert!(ok(old_bus
        .submit(hold(show, new_hold(), user(1), &[1], 3_600_000))
        .await));
    // The new owner writes once: the stored owner_epoch becomes 9.
    assert!(ok(new_bus
        .submit(hold(show, new_hold(), user(2), &[2], 3_600_000))
        .await));
    // The old owner's next write fails the IF owner_epoch = 5 condition; it reloads, sees a newer
    // owner, and stops without writing or answering.
    let stale_hold = new_hold();
    let stale = old_bus
        .submit(hold(show, stale_hold, user(3), &[3], 3_600_000))
        .await;
    assert!(matches!(stale, Err(BusError::Timeout)), "{stale:?}");
    let exit = tokio::time::timeout(Duration::from_secs(10), old_task)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(exit, Err(LoopError::LeaseLost)), "{exit:?}");
    let stored = store.load(show).await.unwrap().unwrap();
    assert_eq!(stored.fence.owner_epoch, 9);
    let state = processors::rows::restore(show, &stored).unwrap();
    assert!(
        state.hold(stale_hold).is_none(),
        "the stale owner wrote nothing"
    );
    new_stop.send(true).unwrap();
    new_task.await.unwrap().unwrap();
}

/// A lease names its holder: another process is refused while it is live, and the holder's own
/// name takes it back at once (a processor that gave a lease up when it could not renew it, its
/// link to NATS down, resumes without waiting out its own TTL); the copy it took over from learns
/// within a renewal period that it is no longer held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_is_refused_to_others_and_taken_back_at_once_by_its_own_holder() {
    use processors::jetstream::Lease;
    let Some(services) = services("lease_own_holder") else {
        return;
    };
    let topology = topology("lease_own");
    provision_all(&services, &topology).await;
    let client = processors::jetstream::connect(&services.nats_url)
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client);
    let bucket = js
        .get_key_value(&topology.processor.lease_bucket)
        .await
        .unwrap();
    let ttl = Duration::from_secs(30);
    let acquire = |owner: &'static str| {
        Lease::acquire(bucket.clone(), "partition-0", owner, ttl, clock::system())
    };
    let first = acquire("holder").await.unwrap().expect("a free lease");
    assert!(acquire("other").await.unwrap().is_none(), "live: refused");
    let again = acquire("holder")
        .await
        .unwrap()
        .expect("its own name takes it back");
    assert!(
        again.epoch() > first.epoch(),
        "a newer epoch fences the old copy"
    );
    let deadline = Instant::now() + ttl / 3 + Duration::from_secs(5);
    while first.is_held() {
        assert!(
            Instant::now() < deadline,
            "the old copy never learned it was taken over"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(again.is_held());
}
