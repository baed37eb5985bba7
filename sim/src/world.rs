//! The simulated world every component shares: the seeded random source that decides every
//! fault, the command stream and its consumers, the store's data, the reply waiters and the
//! seat map projection. One mutex, never held across an await: the simulation runs on one
//! thread, so the lock only satisfies the `Send + Sync` bounds of the seams.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use clock::{Clock, SharedClock};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use schemas::{CommandEnvelope, CommandId, Reply, SeatId, SeatStatus, ShowId, UnixMs};
use tokio::sync::{Notify, oneshot, watch};
use uuid::Uuid;

use processors::log::{LogEntry, ReplyTo};
use processors::store::{Fence, UserBookingRef};
use processors::topology::PartitionId;

/// Every fault the simulation injects, each at its own boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// A delivery is lost in transit (the consumer numbered it; it never arrived).
    LoseDelivery,
    /// The connection is replaced mid-batch: a few consecutive deliveries are lost.
    Reconnect,
    /// A delivery comes again later (redelivery after the ack wait).
    Redeliver,
    /// An acknowledgement never reaches the server.
    LoseAck,
    /// A reply never reaches its requester.
    LoseReply,
    /// A store call fails before doing anything.
    StoreUnavailable,
    /// A conditional write times out after it applied.
    TimeoutApplied,
    /// A conditional write times out without applying.
    TimeoutNotApplied,
    /// The processor dies just before a conditional write.
    CrashBeforePersist,
    /// The processor dies just after a conditional write applied.
    CrashAfterPersist,
    /// The processor dies before answering a batch.
    CrashBeforeReply,
    /// The processor dies after answering a batch.
    CrashAfterReply,
    /// The processor dies before acknowledging a batch.
    CrashBeforeAck,
    /// The processor dies after acknowledging a batch.
    CrashAfterAck,
    /// The processor dies while publishing a batch's events.
    CrashAtPublish,
    /// Publishing events fails (retried).
    PublishUnavailable,
    /// The lease lapses unnoticed: a second processor with a newer epoch starts while the old
    /// one still works (fence conflict), until the old one notices.
    Takeover,
    /// The processor notices its lease is gone mid-batch and stops.
    LeaseExpiry,
    /// A client's publish never reaches the stream.
    ClientPublishLost,
    /// A client's publish is stored but the client is not told.
    ClientAckLost,
    /// A show moves to another partition mid-sale, by a handover (see `moves`).
    HotMove,
}

impl Fault {
    /// Chance per opportunity at intensity 1.
    fn chance(self) -> f64 {
        match self {
            Fault::LoseDelivery => 0.01,
            Fault::Reconnect => 0.005,
            Fault::Redeliver => 0.02,
            Fault::LoseAck => 0.05,
            Fault::LoseReply => 0.03,
            Fault::StoreUnavailable => 0.01,
            Fault::TimeoutApplied => 0.02,
            Fault::TimeoutNotApplied => 0.02,
            Fault::CrashBeforePersist => 0.005,
            Fault::CrashAfterPersist => 0.01,
            Fault::CrashBeforeReply => 0.005,
            Fault::CrashAfterReply => 0.005,
            Fault::CrashBeforeAck => 0.005,
            Fault::CrashAfterAck => 0.005,
            Fault::CrashAtPublish => 0.005,
            Fault::PublishUnavailable => 0.02,
            Fault::Takeover => 0.3,
            Fault::LeaseExpiry => 0.2,
            Fault::ClientPublishLost => 0.02,
            Fault::ClientAckLost => 0.02,
            Fault::HotMove => 1.0,
        }
    }
}

/// One message of the command stream.
#[derive(Clone, Debug)]
pub struct Msg {
    /// Stream sequence (1-based, across partitions).
    pub seq: u64,
    /// The partition of its show.
    pub partition: u16,
    /// Log time.
    pub at: UnixMs,
    /// The command, or a handover.
    pub entry: LogEntry,
    /// Its requester, if any.
    pub reply_to: Option<ReplyTo>,
}

/// A partition's durable consumer as the server keeps it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Consumer {
    /// Every message of the partition at or below this stream sequence is acknowledged.
    pub ack_floor: u64,
    /// Deliveries numbered so far (the consumer sequence).
    pub delivered: u64,
    /// The pinned session: only it is served.
    pub session: u64,
}

/// A show as stored.
#[derive(Clone, Debug, Default)]
pub struct StoredData {
    /// Its fence.
    pub fence: Option<Fence>,
    /// Seat version.
    pub version: u64,
    /// Rows by (kind, id).
    pub rows: BTreeMap<(i8, Uuid), Vec<u8>>,
}

/// A show's seat map as a live reader projects it from the published deltas.
#[derive(Clone, Debug, Default)]
pub struct Projection {
    /// Seat version the projection reflects.
    pub version: u64,
    /// Seat statuses.
    pub seats: BTreeMap<SeatId, SeatStatus>,
}

/// The shared mutable state.
pub struct State {
    rng: ChaCha8Rng,
    /// Faults are injected only while this is set (the run ends quiet).
    pub faults_on: bool,
    /// Fault intensity of this seed (multiplies every chance).
    pub intensity: f64,
    /// Faults injected so far, by kind.
    pub injected: BTreeMap<Fault, u64>,
    /// The command stream.
    pub stream: Vec<Msg>,
    /// Last log time stamped per partition (log time never goes back).
    pub last_at: BTreeMap<u16, i64>,
    /// One consumer per partition.
    pub consumers: Vec<Consumer>,
    /// Late commands already placed again, by (command id, original sequence).
    pub resubmitted: BTreeSet<(CommandId, u64)>,
    /// Ids of entries appended to a named partition (forwarded copies, handovers, the `Expire`
    /// a show's new partition is sent): the log stores each once, as JetStream's duplicate
    /// window does.
    pub appended_once: BTreeSet<String>,
    /// Requesters waiting for a reply, by token.
    pub waiters: BTreeMap<u64, oneshot::Sender<Reply>>,
    next_token: u64,
    /// Lease epochs handed out per partition.
    pub epochs: BTreeMap<u16, u64>,
    /// The store: shows.
    pub shows: BTreeMap<ShowId, StoredData>,
    /// The store: id -> show lookups.
    pub lookups: BTreeMap<(Uuid, i8), ShowId>,
    /// The store: users' bookings.
    pub user_bookings: Vec<UserBookingRef>,
    /// The store: expiry hints by (partition, show).
    pub hints: BTreeMap<(String, ShowId), UnixMs>,
    /// The seat map projection, per show.
    pub seat_map: BTreeMap<ShowId, Projection>,
    /// Failures outside the checker's reach (a loop that panicked).
    pub failures: Vec<String>,
    /// Shows whose commands the ingresses route to another partition since a hot-show move,
    /// and where.
    pub moved: BTreeMap<ShowId, u16>,
    /// Shows whose old partition was asked to hand them over, and to which partition.
    pub handed: BTreeMap<ShowId, PartitionId>,
}

impl State {
    /// Whether `fault` strikes at this opportunity (counted when it does).
    pub fn roll(&mut self, fault: Fault) -> bool {
        if !self.faults_on {
            return false;
        }
        let hit = self
            .rng
            .random_bool((fault.chance() * self.intensity).min(1.0));
        if hit {
            *self.injected.entry(fault).or_default() += 1;
        }
        hit
    }

    /// A number in `range` from the seed.
    pub fn pick(&mut self, range: std::ops::Range<u64>) -> u64 {
        self.rng.random_range(range)
    }

    /// Whether a coin with chance `p` comes up (not a fault: workload choices).
    pub fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    /// A UUID from the seed.
    pub fn uuid(&mut self) -> Uuid {
        Uuid::from_u128(self.rng.random())
    }

    /// Register a requester; the token goes into its command's `reply_to`.
    pub fn wait_for_reply(&mut self) -> (ReplyTo, oneshot::Receiver<Reply>) {
        self.next_token += 1;
        let (tx, rx) = oneshot::channel();
        self.waiters.insert(self.next_token, tx);
        (ReplyTo(self.next_token.to_string()), rx)
    }

    /// Hand a reply to its requester, if it still waits.
    pub fn deliver(&mut self, to: &ReplyTo, reply: &Reply) {
        let waiter = to.0.parse().ok().and_then(|t| self.waiters.remove(&t));
        if let Some(tx) = waiter {
            let _ = tx.send(reply.clone());
        }
    }
}

/// The world: state plus the things that must live outside the lock.
pub struct World {
    state: Mutex<State>,
    /// Woken when a partition's stream grows.
    pub appended: Vec<Notify>,
    /// True time (the log stamps with it; processors read it skewed).
    pub clock: SharedClock,
    /// Number of partitions.
    pub partitions: u16,
}

impl World {
    /// A world for `seed` with `partitions` partitions.
    pub fn new(seed: u64, partitions: u16, clock: SharedClock) -> Arc<World> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Some seeds are calm, some stormy.
        let intensity = [0.3, 1.0, 2.0, 4.0][rng.random_range(0..4)];
        Arc::new(World {
            state: Mutex::new(State {
                rng,
                faults_on: false,
                intensity,
                injected: BTreeMap::new(),
                stream: Vec::new(),
                last_at: BTreeMap::new(),
                consumers: vec![Consumer::default(); usize::from(partitions)],
                resubmitted: BTreeSet::new(),
                appended_once: BTreeSet::new(),
                waiters: BTreeMap::new(),
                next_token: 0,
                epochs: BTreeMap::new(),
                shows: BTreeMap::new(),
                lookups: BTreeMap::new(),
                user_bookings: Vec::new(),
                hints: BTreeMap::new(),
                seat_map: BTreeMap::new(),
                failures: Vec::new(),
                moved: BTreeMap::new(),
                handed: BTreeMap::new(),
            }),
            appended: (0..partitions).map(|_| Notify::new()).collect(),
            clock,
            partitions,
        })
    }

    /// Print a line of the run's story when `SIM_TRACE` is set (replaying one seed).
    pub fn trace(&self, line: std::fmt::Arguments<'_>) {
        if std::env::var_os("SIM_TRACE").is_some() {
            eprintln!("[{}] {line}", self.clock.now().0 - SIM_START.0);
        }
    }

    /// The state, locked (never across an await).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("one thread: never poisoned")
    }

    /// Append a command to its show's partition, stamped with log time.
    pub fn append(&self, envelope: CommandEnvelope, reply_to: Option<ReplyTo>) -> u64 {
        let partition = self.route(envelope.show_id);
        self.append_to(partition, LogEntry::Command(envelope), reply_to)
    }

    /// The partition an ingress publishes `show`'s commands to (its topology).
    pub fn route(&self, show: ShowId) -> u16 {
        let s = self.lock();
        s.moved
            .get(&show)
            .copied()
            .unwrap_or_else(|| processors::topology::partition_index(show, self.partitions))
    }

    /// Append `entry` to `partition`'s log; returns its stream sequence.
    pub fn append_to(&self, partition: u16, entry: LogEntry, reply_to: Option<ReplyTo>) -> u64 {
        let now = self.clock.now().0;
        let mut s = self.lock();
        let last = s.last_at.entry(partition).or_insert(0);
        let at = now.max(*last);
        *last = at;
        let seq = s.stream.len() as u64 + 1;
        s.stream.push(Msg {
            seq,
            partition,
            at: UnixMs(at),
            entry,
            reply_to,
        });
        drop(s);
        self.trace(format_args!(
            "log: #{seq} at {at} in partition {partition}: {:?}",
            match &self.lock().stream[seq as usize - 1].entry {
                LogEntry::Command(envelope) => format!("{:?}", envelope.command),
                other => format!("{other:?}"),
            }
        ));
        self.appended[usize::from(partition)].notify_waiters();
        seq
    }
}

/// Where true time starts in every run.
pub const SIM_START: UnixMs = UnixMs(1_800_000_000_000);

/// One life of a processor: when it dies (a crash) every call it still makes hangs forever, as
/// calls of a killed process never complete.
#[derive(Debug)]
pub struct Incarnation {
    dead: watch::Sender<bool>,
}

impl Incarnation {
    /// A live incarnation.
    pub fn new() -> Arc<Incarnation> {
        Arc::new(Incarnation {
            dead: watch::channel(false).0,
        })
    }

    /// Whether it died.
    pub fn is_dead(&self) -> bool {
        *self.dead.borrow()
    }

    /// Wait until it dies.
    pub async fn died(&self) {
        let mut rx = self.dead.subscribe();
        let _ = rx.wait_for(|dead| *dead).await;
    }

    /// Die here: the call never returns.
    pub async fn crash<T>(&self) -> T {
        self.dead.send_replace(true);
        std::future::pending().await
    }

    /// If dead, hang: a killed process makes no more calls.
    pub async fn alive(&self) {
        if self.is_dead() {
            std::future::pending::<()>().await;
        }
    }

    /// If dead, hang (the process is gone); otherwise if `fault` strikes, die here.
    pub async fn boundary(&self, world: &World, fault: Fault) {
        if self.is_dead() || world.lock().roll(fault) {
            self.crash::<()>().await;
        }
    }
}

/// True time in the simulation: the paused tokio clock from a fixed start instant, so time
/// advances only as the simulated components wait.
#[derive(Debug)]
pub struct VirtualClock {
    start: UnixMs,
    base: tokio::time::Instant,
}

impl VirtualClock {
    /// A clock reading `start` now.
    pub fn new(start: UnixMs) -> VirtualClock {
        VirtualClock {
            start,
            base: tokio::time::Instant::now(),
        }
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> UnixMs {
        UnixMs(self.start.0 + self.base.elapsed().as_millis() as i64)
    }
}
