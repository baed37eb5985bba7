//! Shared helpers of the serve-mode suites (`pipeline_*.rs`, `*_serve.rs`): a unique topology per
//! test (streams, subjects, lease bucket, keyspace), provisioning, an in-process processor, and
//! command envelopes with random ids (built from `processors::fixtures`).

use std::sync::Arc;
use std::time::Duration;

use processors::fixtures;
// Re-exported for the suites; a suite that uses neither would otherwise warn.
#[allow(unused_imports)]
pub use processors::fixtures::{seat, user};
use processors::jetstream::{JetStreamLog, NatsEventSink, prepare_consumer};
use processors::log::{CommandLog, LogEntry, LogError, LoggedCommand, ReplyTo};
use processors::partition::{LoopError, LoopExit, LoopSettings, Ownership, PartitionLoop};
use processors::processor::{ProcessorConfig, run_processor};
use processors::provision::{ProvisionTarget, provision};
use processors::store::ShowStore;
use processors::topology::PartitionId;
use processors::topology::Topology;
use schemas::{
    BookingId, Command, CommandEnvelope, CommandId, HoldId, Reply, ShowId, UnixMs, UserId,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Real service settings, or `None` when skipping (see `boxoffice_tests`).
pub struct Services {
    pub nats_url: String,
    pub cql_nodes: String,
}

pub fn services(test: &str) -> Option<Services> {
    let nats_url = boxoffice_tests::nats_url(test)?;
    let cql_nodes = boxoffice_tests::cql_nodes(test)?.join(",");
    Some(Services {
        nats_url,
        cql_nodes,
    })
}

/// The shipped topology with every name made unique to this test, 2 partitions and short lease
/// and pin timeouts.
pub fn topology(tag: &str) -> Topology {
    topology_named(&boxoffice_tests::unique_name(tag))
}

/// [`topology`] for a given unique name (a child process rebuilds its parent's topology).
pub fn topology_named(u: &str) -> Topology {
    let mut t = Topology::builtin();
    t.commands.stream = format!("CMD_{u}");
    t.commands.subject_prefix = format!("cmd_{u}");
    t.commands.partitions = 2;
    t.seat_events.stream = format!("SEATS_{u}");
    t.seat_events.subject_prefix = format!("seats_{u}");
    t.booking_events.stream = format!("BOOKINGS_{u}");
    t.booking_events.subject_prefix = format!("bookings_{u}");
    t.processor.lease_bucket = format!("leases_{u}");
    t.processor.lease_ttl_ms = 1500;
    t.processor.pin_timeout_ms = 2000;
    t.processor.batch_wait_ms = 20;
    t.cql.keyspace = format!("bo_{}", &u[u.len() - 16..]);
    t
}

pub async fn provision_all(services: &Services, topology: &Topology) -> String {
    let target = ProvisionTarget {
        nats_url: Some(services.nats_url.clone()),
        cql_nodes: Some(services.cql_nodes.clone()),
    };
    provision(topology, &target)
        .await
        .expect("provision")
        .to_string()
}

/// A processor running in this process; stop it with [`Processor::stop`].
pub struct Processor {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Processor {
    pub fn start(services: &Services, topology: &Topology, owner: &str) -> Processor {
        Processor::start_partitions(services, topology, owner, Vec::new())
    }

    /// A processor of `partitions` only (all when empty).
    pub fn start_partitions(
        services: &Services,
        topology: &Topology,
        owner: &str,
        partitions: Vec<PartitionId>,
    ) -> Processor {
        let config = ProcessorConfig {
            nats_url: services.nats_url.clone(),
            cql_nodes: services.cql_nodes.clone(),
            topology: topology.clone(),
            partitions,
            owner: owner.to_string(),
            shows_cached_max: 64,
            clock: clock::system(),
        };
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            run_processor(config, stop_rx).await.expect("processor");
        });
        Processor { stop, task }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("processor stops within 20 s")
            .expect("processor task");
    }
}

pub async fn bus(services: &Services, topology: &Topology) -> processors::jetstream::NatsBus {
    let client = processors::jetstream::connect(&services.nats_url)
        .await
        .expect("nats");
    processors::jetstream::NatsBus::new(client, Arc::new(topology.clone()), Duration::from_secs(10))
        .await
        .expect("bus")
}

/// Every message of `topology`'s command stream, in stream order. Read with an ack-less consumer
/// of its own, so it disturbs no processor.
pub async fn stream_messages(
    services: &Services,
    topology: &Topology,
) -> Vec<async_nats::jetstream::Message> {
    use async_nats::jetstream::{self, consumer::pull};
    use futures::StreamExt;
    let client = processors::jetstream::connect(&services.nats_url)
        .await
        .unwrap();
    let js = jetstream::new(client);
    let stream = js.get_stream(&topology.commands.stream).await.unwrap();
    let consumer = stream
        .create_consumer(pull::Config {
            // No acks: a pull consumer would stop at its ack-pending limit (1000).
            ack_policy: jetstream::consumer::AckPolicy::None,
            deliver_policy: jetstream::consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer
        .fetch()
        .max_messages(100_000)
        .expires(Duration::from_secs(3))
        .messages()
        .await
        .unwrap();
    let mut out = Vec::new();
    while let Some(Ok(message)) = messages.next().await {
        out.push(message);
    }
    out
}

/// Every command in `topology`'s command stream, in stream order: (stream sequence, stream time,
/// envelope); the commands of one message share its sequence.
pub async fn stream_commands(
    services: &Services,
    topology: &Topology,
) -> Vec<(u64, UnixMs, CommandEnvelope)> {
    stream_messages(services, topology)
        .await
        .into_iter()
        .flat_map(|message| {
            let info = message.info().unwrap();
            let at = UnixMs((info.published.unix_timestamp_nanos() / 1_000_000) as i64);
            let seq = info.stream_sequence;
            message_commands(&message)
                .into_iter()
                .map(move |envelope| (seq, at, envelope))
        })
        .collect()
}

/// The commands one message of a command stream carries (one, or a batch's).
pub fn message_commands(message: &async_nats::jetstream::Message) -> Vec<CommandEnvelope> {
    processors::jetstream::logged_commands(message.headers.as_ref(), &message.payload)
        .expect("a command message")
        .into_iter()
        .map(|(envelope, _)| envelope)
        .collect()
}

/// The stored show must equal the engine applied once, in stream order, to the stream.
pub async fn assert_stored_equals_replay(
    services: &Services,
    topology: &Topology,
    show: ShowId,
) -> engine::ShowState {
    use processors::store::ShowStore;
    let commands = stream_commands(services, topology).await;
    let store = processors::cql::CqlStore::connect(&services.cql_nodes, &topology.cql.keyspace)
        .await
        .unwrap();
    let stored = store.load(show).await.unwrap().unwrap();
    let mut replayed = engine::ShowState::new(show);
    for (seq, at, envelope) in commands {
        // Commands after the stored position were not applied yet (the processor was stopped).
        if seq > stored.fence.applied_seq {
            break;
        }
        if envelope.show_id == show {
            replayed.decide(&envelope, at);
        }
    }
    let restored = processors::rows::restore(show, &stored).unwrap();
    let (a, b) = (restored.snapshot(), replayed.snapshot());
    let only_stored: Vec<_> = a.iter().filter(|r| !b.contains(r)).collect();
    let only_replayed: Vec<_> = b.iter().filter(|r| !a.contains(r)).collect();
    assert!(
        only_stored.is_empty() && only_replayed.is_empty(),
        "stored state differs from the engine applied once to the stream:\n only stored: {only_stored:?}\n only replayed: {only_replayed:?}"
    );
    restored
}

pub fn new_show() -> ShowId {
    ShowId(Uuid::new_v4())
}

/// `command` for `show` with a fresh random command id.
pub fn envelope(show: ShowId, command: Command) -> CommandEnvelope {
    fixtures::envelope_with(show, CommandId(Uuid::new_v4()), command)
}

/// Create `show` with `seats` seats (one section, one row), a month from now, on sale at once.
pub fn create(show: ShowId, seats: u32) -> CommandEnvelope {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let show_time = UnixMs(now.as_millis() as i64 + 30 * 24 * 3600 * 1000);
    envelope(show, fixtures::create_command(show, seats, show_time))
}

/// `who` holds the seats numbered `seats` as `hold_id`; only the per-hold limit (10) can bite.
pub fn hold(
    show: ShowId,
    hold_id: HoldId,
    who: UserId,
    seats: &[u32],
    ttl_ms: u64,
) -> CommandEnvelope {
    let limits = fixtures::limits(10_000);
    envelope(
        show,
        fixtures::hold_command(show, hold_id, who, seats, ttl_ms, limits),
    )
}

pub fn confirm(
    show: ShowId,
    hold_id: HoldId,
    who: UserId,
    booking_id: BookingId,
) -> CommandEnvelope {
    envelope(
        show,
        Command::Confirm {
            hold_id,
            user: who,
            booking_id,
            payment_ref: "pay".into(),
        },
    )
}

pub fn release(show: ShowId, hold_id: HoldId, who: UserId) -> CommandEnvelope {
    envelope(show, Command::Release { hold_id, user: who })
}

pub fn cancel(show: ShowId, booking_id: BookingId, who: UserId) -> CommandEnvelope {
    envelope(
        show,
        Command::Cancel {
            booking_id,
            user: who,
            reason: None,
        },
    )
}

pub fn new_hold() -> HoldId {
    HoldId(Uuid::new_v4())
}

pub fn new_booking() -> BookingId {
    BookingId(Uuid::new_v4())
}

/// What a test changes about a real JetStream log: how batches come out, and whether acks reach
/// the server. Everything else goes to the real log ([`AlteredLog`]).
#[async_trait::async_trait]
pub trait Alteration: Send + Sync {
    /// The next batch, usually `inner`'s, changed.
    async fn next_batch(
        &mut self,
        inner: &mut JetStreamLog,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<LoggedCommand>, LogError>;

    /// Whether acknowledgements reach the server (false: they are lost).
    fn acks(&self) -> bool {
        true
    }
}

/// A real JetStream log with an [`Alteration`].
pub struct AlteredLog<A> {
    pub inner: JetStreamLog,
    pub alteration: A,
}

#[async_trait::async_trait]
impl<A: Alteration> CommandLog for AlteredLog<A> {
    async fn next_batch(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<LoggedCommand>, LogError> {
        self.alteration.next_batch(&mut self.inner, max, wait).await
    }
    async fn ack_through(&mut self, seq: u64) -> Result<(), LogError> {
        if !self.alteration.acks() {
            return Ok(());
        }
        self.inner.ack_through(seq).await
    }
    async fn reply(&self, to: &ReplyTo, reply: &Reply) -> Result<(), LogError> {
        self.inner.reply(to, reply).await
    }
    async fn append(&self, envelope: &CommandEnvelope) -> Result<(), LogError> {
        self.inner.append(envelope).await
    }
    async fn resubmit(
        &self,
        command: &LoggedCommand,
        envelope: &CommandEnvelope,
    ) -> Result<(), LogError> {
        self.inner.resubmit(command, envelope).await
    }
    async fn forward(&self, command: &LoggedCommand, to: &PartitionId) -> Result<(), LogError> {
        self.inner.forward(command, to).await
    }
    async fn append_to(&self, to: &PartitionId, entry: &LogEntry) -> Result<(), LogError> {
        self.inner.append_to(to, entry).await
    }
}

/// Partition 0's real log and event sink, for a loop a test assembles itself.
pub async fn partition_zero(
    services: &Services,
    topology: &Arc<Topology>,
) -> (JetStreamLog, Arc<NatsEventSink>) {
    let client = processors::jetstream::connect(&services.nats_url)
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let partition = PartitionId("0".into());
    let consumer = prepare_consumer(&js, topology, &partition).await.unwrap();
    let log = JetStreamLog::open(client.clone(), topology.clone(), &consumer)
        .await
        .unwrap();
    (log, Arc::new(NatsEventSink::new(client, topology.clone())))
}

/// Run partition 0's loop over `log` and `store` with a lease never lost; stop it with the
/// sender.
pub fn spawn_loop<L, S>(
    log: L,
    store: Arc<S>,
    sink: Arc<NatsEventSink>,
) -> (watch::Sender<bool>, JoinHandle<Result<LoopExit, LoopError>>)
where
    L: CommandLog + Sync + 'static,
    S: ShowStore + 'static,
{
    let (stop, stop_rx) = watch::channel(false);
    let looped = PartitionLoop::new(
        LoopSettings::new(PartitionId("0".into())),
        Ownership::permanent(1),
        log,
        store,
        sink,
        stop_rx,
    );
    (stop, tokio::spawn(looped.run()))
}
