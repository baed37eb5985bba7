//! Faults of the pipeline against real NATS and Cassandra:
//! - an LWT timeout (unknown outcome) injected by a store wrapper around the real `CqlStore`,
//!   once after the conditional batch really applied and once before it was sent: the loop
//!   settles by a SERIAL read of the fence, never writes the same batch twice, answers the
//!   requester with the right outcome, and the stored state equals the engine applied once;
//! - the same command submitted twice through `NatsBus` (same `Nats-Msg-Id`): inside the
//!   stream's duplicate window and after it, every submit gets the first outcome and the command
//!   applies once;
//! - deliveries lost in transit (a proxy between the processor and NATS drops what the server
//!   sends, then cuts the connection): the later commands' cumulative ack never acknowledges the
//!   lost ones; every lost command is decided and answered, in stream order;
//! - a command overtaken by a later one of its show (the show's `applied_seq` passed it before it
//!   arrived) is placed again at the end of the log and decided there, answering its requester,
//!   instead of being acknowledged without an answer.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use processors::bus::CommandBus;
use processors::cql::CqlStore;
use processors::jetstream::JetStreamLog;
use processors::log::{CommandLog, LogEntry, LogError, LoggedCommand};
use processors::partition::LoopExit;
use processors::store::{
    Fence, IndexRows, LookupKind, PersistOutcome, ShowStore, ShowWrite, StoreError, StoredShow,
    UserBookingRef,
};
use processors::topology::{PartitionId, Topology};
use schemas::{CommandEnvelope, Event, HoldId, Outcome, Rejection, Reply, ShowId, UnixMs, UserId};
use support::pipeline::*;
use uuid::Uuid;

/// Where the next conditional batch times out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// The batch is written, then the caller is told "timeout" (the answer was lost).
    AfterApplying,
    /// The caller is told "timeout" and the batch is never sent.
    BeforeSending,
}

/// One call of `persist` as the wrapper saw it.
#[derive(Clone, Debug)]
struct Attempt {
    /// The fence the write would leave.
    next: Fence,
    /// The fault injected into this call, if any.
    fault: Option<Fault>,
    /// What the real store answered (`None`: the write was not sent).
    stored: Option<PersistOutcome>,
}

/// The real Cassandra store with one armed timeout at a time; records every `persist` and
/// counts fence reads (the loop reads the fence only to settle an unknown outcome).
struct FaultyStore {
    inner: CqlStore,
    armed: Mutex<Option<Fault>>,
    attempts: Mutex<Vec<Attempt>>,
    fence_reads: AtomicUsize,
}

impl FaultyStore {
    fn new(inner: CqlStore) -> FaultyStore {
        FaultyStore {
            inner,
            armed: Mutex::new(None),
            attempts: Mutex::new(Vec::new()),
            fence_reads: AtomicUsize::new(0),
        }
    }

    fn arm(&self, fault: Fault) {
        *self.armed.lock().unwrap() = Some(fault);
    }

    fn attempts(&self) -> Vec<Attempt> {
        self.attempts.lock().unwrap().clone()
    }

    fn fence_reads(&self) -> usize {
        self.fence_reads.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl ShowStore for FaultyStore {
    async fn load(&self, show: ShowId) -> Result<Option<StoredShow>, StoreError> {
        self.inner.load(show).await
    }
    async fn read_fence(&self, show: ShowId) -> Result<Option<(Fence, u64)>, StoreError> {
        self.fence_reads.fetch_add(1, Ordering::SeqCst);
        self.inner.read_fence(show).await
    }
    async fn applied_seq(&self, show: ShowId) -> Result<Option<u64>, StoreError> {
        self.inner.applied_seq(show).await
    }
    async fn read_row(
        &self,
        show: ShowId,
        kind: i8,
        id: Uuid,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.read_row(show, kind, id).await
    }
    async fn write_index(&self, index: &IndexRows) -> Result<(), StoreError> {
        self.inner.write_index(index).await
    }
    async fn persist(&self, write: &ShowWrite) -> Result<PersistOutcome, StoreError> {
        let fault = self.armed.lock().unwrap().take();
        let stored = match fault {
            Some(Fault::BeforeSending) => None,
            Some(Fault::AfterApplying) | None => Some(self.inner.persist(write).await?),
        };
        self.attempts.lock().unwrap().push(Attempt {
            next: write.next.clone(),
            fault,
            stored: stored.clone(),
        });
        match (fault, stored) {
            (None, Some(outcome)) => Ok(outcome),
            (Some(_), _) | (None, None) => Err(StoreError::Timeout),
        }
    }
    async fn set_expiry_hint(
        &self,
        partition: &PartitionId,
        show: ShowId,
        due: Option<UnixMs>,
    ) -> Result<(), StoreError> {
        self.inner.set_expiry_hint(partition, show, due).await
    }
    async fn expiry_hints(
        &self,
        partition: &PartitionId,
    ) -> Result<Vec<(ShowId, UnixMs)>, StoreError> {
        self.inner.expiry_hints(partition).await
    }
    async fn lookup(&self, id: Uuid, kind: LookupKind) -> Result<Option<ShowId>, StoreError> {
        self.inner.lookup(id, kind).await
    }
    async fn user_bookings(
        &self,
        user: UserId,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<UserBookingRef>, usize), StoreError> {
        self.inner.user_bookings(user, offset, limit).await
    }
}

fn one_partition(tag: &str) -> Topology {
    let mut t = topology(tag);
    t.commands.partitions = 1;
    t
}

fn held_seats(reply: &Reply) -> Vec<schemas::SeatId> {
    match &reply.outcome {
        Outcome::Accepted(events) => events
            .iter()
            .find_map(|e| {
                if let Event::Held { seats, .. } = e {
                    Some(seats.clone())
                } else {
                    None
                }
            })
            .unwrap_or_else(|| panic!("no Held event in {reply:?}")),
        Outcome::Rejected(r) => panic!("hold rejected: {r:?}"),
    }
}

/// Submit `envelope` with `fault` armed for its conditional batch; the reply and the `persist`
/// calls and fence reads it caused.
async fn submit_with_fault(
    bus: &impl CommandBus,
    store: &FaultyStore,
    fault: Fault,
    envelope: &CommandEnvelope,
) -> (Reply, Vec<Attempt>, usize) {
    let (attempts_before, reads_before) = (store.attempts().len(), store.fence_reads());
    store.arm(fault);
    let reply = bus.submit(envelope.clone()).await.expect("a decision");
    let attempts = store.attempts()[attempts_before..].to_vec();
    (reply, attempts, store.fence_reads() - reads_before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_lwt_timeouts_are_settled_by_reading_never_by_writing_again() {
    let Some(services) = services("pipeline_lwt_timeout") else {
        return;
    };
    let topology = Arc::new(one_partition("lwt_timeout"));
    provision_all(&services, &topology).await;
    let (log, sink) = partition_zero(&services, &topology).await;
    let cql = CqlStore::connect(&services.cql_nodes, &topology.cql.keyspace)
        .await
        .unwrap();
    let store = Arc::new(FaultyStore::new(cql));
    let (stop, task) = spawn_loop(log, store.clone(), sink);
    let bus = bus(&services, &topology).await;
    let show = new_show();
    let created = bus.submit(create(show, 10)).await.unwrap();
    assert!(
        matches!(created.outcome, Outcome::Accepted(_)),
        "{created:?}"
    );
    assert_eq!(store.fence_reads(), 0, "no settling without a timeout");

    // 1. The batch applied, its answer was lost: settled by one read as applied, not re-sent.
    let (a_hold, a_user) = (new_hold(), user(1));
    let a = hold(show, a_hold, a_user, &[1, 2], 3_600_000);
    let (reply, attempts, reads) = submit_with_fault(&bus, &store, Fault::AfterApplying, &a).await;
    assert_eq!(held_seats(&reply), vec![seat(show, 1), seat(show, 2)]);
    assert_eq!(attempts.len(), 1, "written once, never again: {attempts:?}");
    assert_eq!(attempts[0].fault, Some(Fault::AfterApplying));
    assert_eq!(attempts[0].stored, Some(PersistOutcome::Applied));
    assert!(reads >= 1, "settled by reading the fence");
    let fence = store.inner.read_fence(show).await.unwrap().unwrap().0;
    assert_eq!(fence, attempts[0].next);

    // 2. The batch never left: settled by reading as not applied, decided again and written once.
    let b = hold(show, new_hold(), user(2), &[3, 4], 3_600_000);
    let (reply, attempts, reads) = submit_with_fault(&bus, &store, Fault::BeforeSending, &b).await;
    assert_eq!(held_seats(&reply), vec![seat(show, 3), seat(show, 4)]);
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(attempts[0].fault, Some(Fault::BeforeSending));
    assert_eq!(attempts[0].stored, None);
    assert_eq!(attempts[1].fault, None);
    assert_eq!(attempts[1].stored, Some(PersistOutcome::Applied));
    assert_eq!(
        attempts[0].next, attempts[1].next,
        "the same decision again"
    );
    assert!(reads >= 1, "settled by reading the fence");

    // The seats of both holds are taken exactly once.
    let c = hold(show, new_hold(), user(3), &[2, 3, 5], 3_600_000);
    let reply = bus.submit(c).await.unwrap();
    assert_eq!(
        reply.outcome,
        Outcome::Rejected(Rejection::SeatsUnavailable {
            seat_ids: vec![seat(show, 2), seat(show, 3)]
        })
    );
    // A confirm whose answer is lost: booked once.
    let booking_id = new_booking();
    let confirm_a = confirm(show, a_hold, a_user, booking_id);
    let (reply, attempts, _) =
        submit_with_fault(&bus, &store, Fault::AfterApplying, &confirm_a).await;
    assert!(
        matches!(&reply.outcome, Outcome::Accepted(events)
            if events.iter().any(|e| matches!(e, Event::Confirmed { booking_id: b, .. } if *b == booking_id))),
        "{reply:?}"
    );
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    // Retrying the settled hold answers its first outcome from the engine's memory.
    let again = bus.submit(a.clone()).await.unwrap();
    assert_eq!(held_seats(&again), vec![seat(show, 1), seat(show, 2)]);

    stop.send(true).unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(exit, Ok(LoopExit::Stopped)), "{exit:?}");
    // No conditional batch was applied twice: every applied write moved the fence forward.
    let applied: Vec<u64> = store
        .attempts()
        .iter()
        .filter(|a| a.stored == Some(PersistOutcome::Applied))
        .map(|a| a.next.applied_seq)
        .collect();
    assert!(applied.windows(2).all(|w| w[0] < w[1]), "{applied:?}");
    let state = assert_stored_equals_replay(&services, &topology, show).await;
    assert!(state.hold(a_hold).is_some());
}

/// Every command message of `topology`'s stream with its `Nats-Msg-Id`, in stream order.
async fn stream_msg_ids(
    services: &Services,
    topology: &Topology,
) -> Vec<(String, CommandEnvelope)> {
    stream_messages(services, topology)
        .await
        .into_iter()
        .map(|message| {
            let id = message
                .headers
                .as_ref()
                .and_then(|h| h.get("Nats-Msg-Id"))
                .map(|v| v.to_string())
                .unwrap_or_default();
            let [envelope] = &message_commands(&message)[..] else {
                panic!("one command per message here")
            };
            (id, envelope.clone())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_the_same_command_twice_through_the_bus_applies_once() {
    let Some(services) = services("pipeline_same_msg_id") else {
        return;
    };
    let mut topology = one_partition("same_id");
    // Short enough to outwait in a test.
    topology.commands.duplicate_window_s = 1;
    provision_all(&services, &topology).await;
    let processor = Processor::start(&services, &topology, "dup-proc");
    let bus = bus(&services, &topology).await;
    let show = new_show();
    let created = bus.submit(create(show, 10)).await.unwrap();
    assert!(
        matches!(created.outcome, Outcome::Accepted(_)),
        "{created:?}"
    );
    let hold_id = new_hold();
    let envelope = hold(show, hold_id, user(1), &[1, 2], 3_600_000);
    let id = envelope.command_id.to_string();

    // Twice at once, inside the duplicate window: the stream keeps one copy under the id.
    let (first, second) = tokio::join!(bus.submit(envelope.clone()), bus.submit(envelope.clone()));
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(held_seats(&first), vec![seat(show, 1), seat(show, 2)]);
    assert_eq!(first, second, "both submits get the same decision");
    let messages = stream_msg_ids(&services, &topology).await;
    let under_id = messages.iter().filter(|(m, _)| *m == id).count();
    assert_eq!(
        under_id, 1,
        "the duplicate window dropped the repeat: {messages:?}"
    );

    // After the window the repeat is stored under the same id again; the engine's memory
    // answers it with the first decision.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let late = bus.submit(envelope.clone()).await.unwrap();
    assert_eq!(late, first);
    let messages = stream_msg_ids(&services, &topology).await;
    let under_id = messages.iter().filter(|(m, _)| *m == id).count();
    assert_eq!(under_id, 2, "stored again after the window: {messages:?}");
    // Another buyer cannot have the seats: the hold applied once, and is still there.
    let other = bus
        .submit(hold(show, new_hold(), user(2), &[2], 3_600_000))
        .await
        .unwrap();
    assert_eq!(
        other.outcome,
        Outcome::Rejected(Rejection::SeatsUnavailable {
            seat_ids: vec![seat(show, 2)]
        })
    );
    processor.stop().await;
    let state = assert_stored_equals_replay(&services, &topology, show).await;
    let held = state.hold(hold_id).expect("the hold is stored");
    assert_eq!(held.seats, vec![seat(show, 1), seat(show, 2)]);
    let copies = messages
        .iter()
        .filter(|(_, e)| e.command_id == envelope.command_id)
        .count();
    assert!(copies >= 3, "every submit reached the log: {messages:?}");
}

/// `nats://host:port` as a socket address.
fn nats_addr(url: &str) -> std::net::SocketAddr {
    let hostport = url.trim_start_matches("nats://");
    std::net::ToSocketAddrs::to_socket_addrs(hostport)
        .expect("a NATS address")
        .next()
        .expect("resolves")
}

/// Wait (up to 700 ms: well inside the lease's renewal margin) until the server has delivered
/// `n` more commands than the processor acknowledged, so they are surely lost in the blackhole
/// rather than never sent.
async fn wait_delivered(services: &Services, topology: &Topology, show: ShowId, n: u64) {
    use async_nats::jetstream::consumer::pull;
    let client = processors::jetstream::connect(&services.nats_url)
        .await
        .unwrap();
    let stream = async_nats::jetstream::new(client)
        .get_stream(&topology.commands.stream)
        .await
        .unwrap();
    let name = topology.consumer_name(&topology.partition_of(show));
    let deadline = std::time::Instant::now() + Duration::from_millis(700);
    loop {
        let mut consumer = stream.get_consumer::<pull::Config>(&name).await.unwrap();
        let info = consumer.info().await.unwrap();
        if info.num_ack_pending as u64 >= n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not deliver the commands sent during the blackhole: {info:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn is_held(reply: &Reply) -> bool {
    matches!(&reply.outcome, Outcome::Accepted(events)
        if events.iter().any(|e| matches!(e, Event::Held { .. })))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_deliveries_lost_in_transit_are_never_acknowledged_past() {
    use boxoffice_tests::proxy::TcpProxy;
    let Some(services) = services("pipeline_delivery_gap") else {
        return;
    };
    let topology = one_partition("gap");
    provision_all(&services, &topology).await;
    let proxy = TcpProxy::start(nats_addr(&services.nats_url))
        .await
        .expect("proxy");
    let through_proxy = Services {
        nats_url: format!("nats://{}", proxy.addr()),
        cql_nodes: services.cql_nodes.clone(),
    };
    let processor = Processor::start(&through_proxy, &topology, "gap-proc");
    let bus = Arc::new(bus(&services, &topology).await);
    let show = new_show();
    let created = bus.submit(create(show, 40)).await.unwrap();
    assert!(
        matches!(created.outcome, Outcome::Accepted(_)),
        "{created:?}"
    );
    let before = bus
        .submit(hold(show, new_hold(), user(1), &[1], 3_600_000))
        .await
        .unwrap();
    assert!(is_held(&before), "{before:?}");

    // What the server delivers now is lost on the way; the processor's own requests still go.
    proxy.set_blackhole(true);
    tokio::time::sleep(Duration::from_millis(50)).await;
    // One bus each, so each command is a message of its own (one bus batches concurrent ones).
    let mut buses = Vec::new();
    for _ in 0..4 {
        buses.push(support::pipeline::bus(&services, &topology).await);
    }
    let lost: Vec<_> = (0..4u32)
        .zip(buses)
        .map(|(i, bus)| {
            let envelope = hold(
                show,
                new_hold(),
                user(10 + u128::from(i)),
                &[10 + i],
                3_600_000,
            );
            tokio::spawn(async move { bus.submit(envelope).await })
        })
        .collect();
    wait_delivered(&services, &topology, show, 4).await;
    assert!(
        proxy.dropped_bytes() > 0,
        "the blackhole dropped deliveries"
    );
    proxy.set_blackhole(false);
    proxy.cut_connections();

    // Commands after the loss: acknowledging them must not acknowledge the lost ones.
    for i in 0..4u32 {
        let after = bus
            .submit(hold(
                show,
                new_hold(),
                user(20 + u128::from(i)),
                &[20 + i],
                3_600_000,
            ))
            .await
            .expect("a decision after the reconnect");
        assert!(is_held(&after), "{after:?}");
    }
    for task in lost {
        let reply = task
            .await
            .unwrap()
            .expect("a command lost in transit is still decided and answered");
        assert!(is_held(&reply), "{reply:?}");
    }
    processor.stop().await;
    let state = assert_stored_equals_replay(&services, &topology, show).await;
    assert_eq!(state.available_seats(), 40 - 9);
}

/// Holds back the first hold of the first batch that has a later command too, and delivers it
/// alone after that batch: a delivery overtaken in transit.
#[derive(Default)]
struct Overtaken {
    held_back: Option<LoggedCommand>,
    done: bool,
}

fn is_hold(command: &LoggedCommand) -> bool {
    matches!(&command.entry,
        LogEntry::Command(e) if matches!(e.command, schemas::Command::Hold { .. }))
}

#[async_trait]
impl Alteration for Overtaken {
    async fn next_batch(
        &mut self,
        inner: &mut JetStreamLog,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<LoggedCommand>, LogError> {
        if let Some(late) = self.held_back.take() {
            return Ok(vec![late]);
        }
        let mut batch = inner.next_batch(max, wait).await?;
        if !self.done
            && let Some(at) = batch.iter().position(is_hold)
            && at + 1 < batch.len()
        {
            self.held_back = Some(batch.remove(at));
            self.done = true;
        }
        Ok(batch)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_an_overtaken_command_is_placed_again_and_answered() {
    let Some(services) = services("pipeline_overtaken") else {
        return;
    };
    let topology = Arc::new(one_partition("overtaken"));
    provision_all(&services, &topology).await;
    let (inner, sink) = partition_zero(&services, &topology).await;
    let store = Arc::new(
        CqlStore::connect(&services.cql_nodes, &topology.cql.keyspace)
            .await
            .unwrap(),
    );
    let log = AlteredLog {
        inner,
        alteration: Overtaken::default(),
    };
    let (stop, task) = spawn_loop(log, store.clone(), sink);
    let bus = Arc::new(bus(&services, &topology).await);
    let show = new_show();
    let created = bus.submit(create(show, 10)).await.unwrap();
    assert!(matches!(created.outcome, Outcome::Accepted(_)));

    // Two holds at once, so they share a batch: the first is overtaken by the second.
    let (first, second) = (new_hold(), new_hold());
    let (a, b) = tokio::join!(
        bus.submit(hold(show, first, user(1), &[1], 3_600_000)),
        bus.submit(hold(show, second, user(2), &[2], 3_600_000)),
    );
    let (a, b) = (a.expect("the overtaken hold is answered"), b.unwrap());
    assert!(is_held(&a) && is_held(&b), "{a:?} {b:?}");
    stop.send(true).unwrap();
    assert_eq!(task.await.unwrap().unwrap(), LoopExit::Stopped);

    let stored =
        processors::rows::restore(show, &store.load(show).await.unwrap().unwrap()).unwrap();
    assert!(stored.hold(first).is_some() && stored.hold(second).is_some());
    assert_eq!(stored.available_seats(), 8);
    // The overtaken hold is in the stream twice: where it was sent and where it was placed again.
    let envelope_of = |h: HoldId| move |(_, _, e): &(u64, UnixMs, CommandEnvelope)| matches!(e.command, schemas::Command::Hold { hold_id, .. } if hold_id == h);
    let commands = stream_commands(&services, &topology).await;
    let copies: Vec<u64> = commands
        .iter()
        .filter(|c| envelope_of(first)(c) || envelope_of(second)(c))
        .map(|(seq, _, _)| *seq)
        .collect();
    assert_eq!(copies.len(), 3, "one hold logged twice: {copies:?}");
}
