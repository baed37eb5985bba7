//! The partition loop: prefetch -> decide -> persist -> reply -> publish -> ack.
//!
//! One loop applies one partition's commands strictly in log order. Each iteration takes a batch,
//! groups it by show, decides every command with the pure engine (time = log time), writes each
//! touched show with ONE conditional batch on its [`Fence`], answers the requesters, then
//! publishes the batch's events and acknowledges it cumulatively. Nothing is acknowledged or
//! answered before it is durable.
//!
//! Pipelining: a durable, answered batch's events are published by a background task (its
//! [`Tail`]) while the loop takes, decides and persists the next batch. Before the next batch's
//! events go out, the previous tail is awaited and then acknowledged, so events leave in log order
//! and every ack follows both the batch's persist and its events. Decisions are never
//! speculative: batch N+1 is decided on the state batch N's conditional batch committed.
//!
//! Failure handling, per show: a fence mismatch means another writer moved the show (a newer
//! owner, or our cache is stale): drop the show, check the lease, reload and decide again (the
//! commands the other writer applied are then recognised by their sequence and answered from the
//! engine's memory). A write timeout has an unknown outcome: it is settled by reading the fence
//! back, never by writing again blindly.
//!
//! Moving a show between partitions (a hot show getting a partition of its own) is a handover
//! through the old partition: a [`Handover`] entry logged there is applied in log order, after
//! every command logged before it, by writing the new partition's name into the show's fence.
//! A loop decides only the shows whose fence names its partition; it forwards the commands of
//! any other show to the partition the fence names, so a command logged in the wrong place
//! (a stale ingress, or one that already routes to the new partition before the handover is
//! applied) is decided once, by the owner, and never dropped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clock::SharedClock;

use engine::{Decision, Origin, Recalled, ShowState};
use schemas::{
    CommandEnvelope, Event, Outcome, Reply, SeatChange, SeatDelta, ShowEvent, ShowId, UnixMs,
};
use tokio::sync::watch;
use tracing::{debug, info, warn};
use uuid::Uuid;

use crate::events::{EventBatch, EventError, EventSink, KeyedEvent};
use crate::expiry::{ExpirySchedule, LogTime, expire_command};
use crate::log::{CommandLog, Handover, LogEntry, LogError, LoggedCommand, ReplyTo};
use crate::metrics as m;
use crate::rows;
use crate::store::{
    Fence, IndexRows, LookupKind, PersistOutcome, ShowStore, ShowWrite, StoreError, UserBookingRef,
    tag_row,
};
use crate::topology::PartitionId;

/// Tuning of one loop.
#[derive(Clone, Debug)]
pub struct LoopSettings {
    /// The partition this loop applies.
    pub partition: PartitionId,
    /// The partitions that exist, when the log has a fixed set of them (dev mode's queues): a
    /// show whose fence names one outside the set (written by an earlier run configured with
    /// more) is taken over, since its commands could not be forwarded anywhere. `None` (serve
    /// mode): the commands of a show whose fence names another partition are always forwarded
    /// there, known or not: the stream stores any partition's commands, and a processor whose
    /// topology is older than the move does not know the new partition yet.
    pub known_partitions: Option<Vec<PartitionId>>,
    /// Most commands per iteration.
    pub batch_size_max: usize,
    /// How long an idle iteration waits for a first command.
    pub batch_wait: Duration,
    /// How long a busy loop waits for more commands when a batch came back with fewer than half
    /// of `batch_size_max` (zero: never). Every batch costs the store one conditional write
    /// (a Paxos round) whatever its size, so under load a few milliseconds spent gathering
    /// commands buy fewer, larger rounds; a loop that was idle answers its first command at
    /// once, so a trickle of commands never waits.
    pub linger: Duration,
    /// Most shows kept decoded in memory; the least recently used are dropped beyond it.
    pub shows_cached_max: usize,
    /// An `Expire` that did not take effect is sent again after this long.
    pub expire_resend: Duration,
    /// Longest pause between retries of a failing store, log or event call. Short: a call to a
    /// store that is down fails at once (no connection) and costs nothing, and the pause is how
    /// late the loop notices the store is back (the fault campaign asks service to resume within
    /// 2 s of the store's return; 2 s here used it all up).
    pub backoff_max: Duration,
    /// The loop's own clock; it decides nothing by it, only reads the log's time through it
    /// ([`LogTime`]) to know when an `Expire` is due.
    pub clock: SharedClock,
}

impl LoopSettings {
    /// Defaults for `partition`.
    pub fn new(partition: PartitionId) -> LoopSettings {
        LoopSettings {
            known_partitions: None,
            partition,
            batch_size_max: 64,
            batch_wait: Duration::from_millis(50),
            linger: Duration::ZERO,
            shows_cached_max: 1024,
            expire_resend: Duration::from_secs(1),
            backoff_max: Duration::from_millis(500),
            clock: clock::system(),
        }
    }
}

/// The right to write a partition's shows: the lease epoch (stored as `owner_epoch`) and whether
/// the lease is still held.
#[derive(Clone, Debug)]
pub struct Ownership {
    epoch: u64,
    held: watch::Receiver<bool>,
}

impl Ownership {
    /// Ownership backed by a lease that flips `held` to false when lost.
    pub fn new(epoch: u64, held: watch::Receiver<bool>) -> Ownership {
        Ownership { epoch, held }
    }

    /// Ownership that is never lost (dev mode: one process owns everything).
    pub fn permanent(epoch: u64) -> Ownership {
        let (tx, held) = watch::channel(true);
        // Keep the sender alive for the life of the process so the value never closes.
        std::mem::forget(tx);
        Ownership { epoch, held }
    }

    /// The lease epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Whether the lease is still held.
    pub fn is_held(&self) -> bool {
        *self.held.borrow()
    }
}

/// Why a loop stopped.
#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    /// The lease was lost or a newer owner wrote: stop consuming, do not write.
    #[error("partition lease lost")]
    LeaseLost,
    /// The log failed fatally.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The store failed fatally (unreadable rows, schema mismatch).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Events could not be encoded.
    #[error(transparent)]
    Events(#[from] EventError),
}

/// How a loop ended without error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoopExit {
    /// Asked to stop: the batch in hand was finished first.
    Stopped,
    /// The log closed.
    LogClosed,
}

/// A show held in memory with the fence its state reflects.
struct LoadedShow {
    state: ShowState,
    fence: Option<Fence>,
    version: u64,
    /// Expiry hint last written for this show (None: none written or unknown).
    hint: Option<UnixMs>,
    last_used: u64,
}

/// Where a show's commands are decided.
enum Residence {
    /// By this loop: the show is loaded.
    Here,
    /// By the loop of the partition the show's fence names.
    Elsewhere(PartitionId),
}

/// What deciding one show's commands produced, before it is durable.
struct ShowPlan {
    write: Option<ShowWrite>,
    index: IndexRows,
    replies: Vec<(ReplyTo, Reply)>,
    events: EventBatch,
    next_expiry: Option<UnixMs>,
    /// Commands the show passed without applying them, to be placed again at the end of the log.
    late: Vec<(LoggedCommand, CommandEnvelope)>,
    /// Where the show goes if this plan applies a handover.
    handed_to: Option<PartitionId>,
    /// Commands for another partition to decide (the show's fence names it), and where.
    forward: Vec<(LoggedCommand, PartitionId)>,
}

impl ShowPlan {
    fn empty() -> ShowPlan {
        ShowPlan {
            write: None,
            index: IndexRows::default(),
            replies: Vec::new(),
            events: EventBatch::default(),
            next_expiry: None,
            late: Vec::new(),
            handed_to: None,
            forward: Vec::new(),
        }
    }

    /// A plan that sends `commands` to `owner`, where the show lives. A handover to where the
    /// show already is has nothing left to do.
    fn forwarded(partition: &PartitionId, commands: &[LoggedCommand], owner: PartitionId) -> Self {
        let mut plan = ShowPlan::empty();
        for command in commands {
            if matches!(&command.entry, LogEntry::Handover(h) if h.to == owner) {
                m::command(partition, "handover_settled");
                continue;
            }
            m::command(partition, "forwarded");
            plan.forward.push((command.clone(), owner.clone()));
        }
        plan
    }
}

/// What a batch sends to other partitions before it is acknowledged.
#[derive(Default)]
struct Elsewhere {
    /// Commands whose show another partition decides, and where.
    forward: Vec<(LoggedCommand, PartitionId)>,
    /// An `Expire` for each partition a show with holds was handed to.
    expiries: Vec<(PartitionId, LogEntry)>,
}

impl Elsewhere {
    /// What `show`'s plan sends elsewhere: its forwarded commands and, when it hands the show
    /// over with holds still to expire, an `Expire` for the new partition.
    fn add(&mut self, show: ShowId, plan: &mut ShowPlan, now: UnixMs) {
        self.forward.append(&mut plan.forward);
        if let (Some(to), Some(_)) = (plan.handed_to.take(), plan.next_expiry) {
            let expire = LogEntry::Command(expire_command(show, now));
            self.expiries.push((to, expire));
        }
    }
}

/// A durable, answered batch whose events are being published; acknowledged once they are out.
struct Tail {
    /// The publishing task (`None`: the batch produced no events).
    publish: Option<tokio::task::JoinHandle<Result<(), LoopError>>>,
    /// Last log sequence of the batch: the cumulative ack.
    last_seq: u64,
}

/// A retry of one show is needed (the store moved or failed transiently).
enum Retry {
    Again,
    Fatal(LoopError),
}

/// One partition's consumer loop.
pub struct PartitionLoop<L, S, E> {
    settings: LoopSettings,
    ownership: Ownership,
    log: L,
    store: Arc<S>,
    events: Arc<E>,
    stop: watch::Receiver<bool>,
    shows: HashMap<ShowId, LoadedShow>,
    expiry: ExpirySchedule,
    log_time: LogTime,
    tick: u64,
}

impl<L: CommandLog, S: ShowStore, E: EventSink + 'static> PartitionLoop<L, S, E> {
    /// A loop over `log`, writing to `store`, publishing to `events`; it finishes its batch and
    /// returns when `stop` becomes true.
    pub fn new(
        settings: LoopSettings,
        ownership: Ownership,
        log: L,
        store: Arc<S>,
        events: Arc<E>,
        stop: watch::Receiver<bool>,
    ) -> Self {
        PartitionLoop {
            settings,
            ownership,
            log,
            store,
            events,
            stop,
            shows: HashMap::new(),
            expiry: ExpirySchedule::default(),
            log_time: LogTime::default(),
            tick: 0,
        }
    }

    /// Run until stopped, the log closes, or a fatal error (including a lost lease).
    pub async fn run(mut self) -> Result<LoopExit, LoopError> {
        let partition = self.settings.partition.clone();
        info!(%partition, epoch = self.ownership.epoch(), "partition loop starting");
        self.seed_expiries().await?;
        let mut tail = None;
        let result = self.run_batches(&mut tail).await;
        match (&result, tail) {
            // Finish the batch in hand: its events and its ack.
            (Ok(_), tail) => self.finish(tail).await?,
            // Unacknowledged, so redelivered to the next owner, which republishes (same ids).
            (
                Err(_),
                Some(Tail {
                    publish: Some(task),
                    ..
                }),
            ) => task.abort(),
            (Err(_), _) => {}
        }
        result
    }

    async fn run_batches(&mut self, tail: &mut Option<Tail>) -> Result<LoopExit, LoopError> {
        let partition = self.settings.partition.clone();
        let mut busy = false;
        loop {
            if *self.stop.borrow() {
                info!(%partition, "partition loop stopping");
                return Ok(LoopExit::Stopped);
            }
            if !self.ownership.is_held() {
                return Err(LoopError::LeaseLost);
            }
            self.send_due_expiries().await;
            // With a tail in flight only take what is already there; when nothing is, finish the
            // tail (so the last batch is acknowledged promptly) and then wait as usual.
            let wait = if tail.is_some() {
                Duration::from_millis(1)
            } else {
                self.next_wait()
            };
            let batch = match self.next_batch(wait, busy).await {
                Ok(batch) => batch,
                Err(LogError::Closed) => return Ok(LoopExit::LogClosed),
                Err(e) if e.is_retryable() => {
                    warn!(%partition, error = %e, "log unavailable; retrying");
                    self.finish(tail.take()).await?;
                    tokio::time::sleep(self.settings.backoff_max / 4).await;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            if let Some(lag) = self.log.pending() {
                m::lag(&partition, lag);
            }
            busy = !batch.is_empty();
            if batch.is_empty() {
                self.finish(tail.take()).await?;
            } else {
                self.process(batch, tail).await?;
            }
        }
    }

    /// The next batch: what the log has within `wait`; when the loop is `busy` (its previous
    /// batch was not empty) and this one is small, topped up with what arrives within the
    /// linger.
    async fn next_batch(
        &mut self,
        wait: Duration,
        busy: bool,
    ) -> Result<Vec<LoggedCommand>, LogError> {
        let max = self.settings.batch_size_max;
        let mut batch = self.log.next_batch(max, wait).await?;
        let linger = self.settings.linger;
        if busy && !linger.is_zero() && !batch.is_empty() && batch.len() < max / 2 {
            tokio::time::sleep(linger).await;
            let more = self
                .log
                .next_batch(max - batch.len(), Duration::from_millis(1))
                .await?;
            batch.extend(more);
        }
        Ok(batch)
    }

    fn next_wait(&self) -> Duration {
        let own = self.settings.clock.now();
        let until_expiry = self.expiry.time_until_next(self.log_time.now(own), own);
        let wait = until_expiry.map_or(self.settings.batch_wait, |d| {
            d.min(self.settings.batch_wait)
        });
        wait.max(Duration::from_millis(1))
    }

    async fn seed_expiries(&mut self) -> Result<(), LoopError> {
        let partition = self.settings.partition.clone();
        let hints = retry_store(&self.settings, &self.ownership, || {
            self.store.expiry_hints(&partition)
        })
        .await?;
        for (show, due) in hints {
            self.expiry.set(show, Some(due));
        }
        Ok(())
    }

    /// The log's current time as far as this loop can tell (see [`LogTime`]).
    fn log_now(&self) -> UnixMs {
        self.log_time.now(self.settings.clock.now())
    }

    async fn send_due_expiries(&mut self) {
        let own = self.settings.clock.now();
        let now = self.log_time.now(own);
        let resend = self.settings.expire_resend;
        let mut due = self.expiry.take_due(now, own, resend);
        if due.is_empty() && !self.log_time.is_known() {
            // No command seen yet (a loop that took over an idle partition): `now` is only the
            // loop's own clock, and one running behind the log's would hold seats past their
            // TTL by as much. An Expire sent now comes back stamped with the log's time and
            // teaches it; it sweeps only holds due by then.
            due.extend(self.expiry.take_earliest(own, resend));
        }
        for show in due {
            let envelope = expire_command(show, now);
            match self.log.append(&envelope).await {
                Ok(()) => debug!(%show, "expire scheduled"),
                Err(e) => warn!(%show, error = %e, "could not schedule expire; will retry"),
            }
        }
    }

    /// Decide, persist and answer one batch; then hand the previous batch's tail to `finish`
    /// and start publishing this batch's events as the new tail.
    async fn process(
        &mut self,
        batch: Vec<LoggedCommand>,
        tail: &mut Option<Tail>,
    ) -> Result<(), LoopError> {
        let partition = self.settings.partition.clone();
        m::batch_size(&partition, batch.len());
        let last_seq = batch.last().map_or(0, |c| c.seq);
        let mut replies = Vec::new();
        let mut events = EventBatch::default();
        let mut late = Vec::new();
        let mut elsewhere = Elsewhere::default();
        if let Some(newest) = batch.iter().map(|c| c.at).max() {
            self.log_time.observe(newest, self.settings.clock.now());
        }
        let now = self.log_now();
        let groups = group_by_show(&partition, batch);
        for (show, mut plan) in self.apply_shows(&groups, now).await? {
            elsewhere.add(show, &mut plan, now);
            replies.extend(plan.replies);
            events.seat_deltas.extend(plan.events.seat_deltas);
            events.show_events.extend(plan.events.show_events);
            late.extend(plan.late);
        }
        // Before this batch can be acknowledged (with the next one): an acked command that was
        // neither applied nor placed again (here or in its show's partition) would be lost.
        self.resubmit_late(&late).await?;
        self.send_elsewhere(&elsewhere).await?;
        // The previous batch's events must be out before this batch's start (log order).
        let started = Instant::now();
        let previous = tail.take();
        let previous_seq = self.await_publish(previous).await;
        m::tail_wait_time(&partition, started.elapsed());
        if previous_seq.is_ok() {
            // Handed to the transport before the replies: whoever hears an answer finds its
            // seat change already on the way to the seat maps.
            *tail = Some(self.start_publish(events, last_seq).await);
        }
        // Everything is durable now: answer at once (the ack still waits for the events).
        let started = Instant::now();
        if let Err(e) = self.log.reply_all(&replies).await {
            debug!(error = %e, "replies not delivered");
        }
        m::reply_time(&partition, started.elapsed());
        if let Some(seq) = previous_seq? {
            let started = Instant::now();
            self.ack(seq).await?;
            m::ack_time(&partition, started.elapsed());
        }
        self.evict();
        Ok(())
    }

    /// Forward commands to the partitions that decide them, and tell each partition a show was
    /// handed to that it has holds to expire (it learns a show's expiry only by deciding one of
    /// its commands).
    async fn send_elsewhere(&self, elsewhere: &Elsewhere) -> Result<(), LoopError> {
        for (command, to) in &elsewhere.forward {
            self.retry_log("forwarding a command", || self.log.forward(command, to))
                .await?;
            debug!(seq = command.seq, %to, "forwarded to the show's partition");
        }
        for (to, expire) in &elsewhere.expiries {
            self.retry_log("telling a partition of its new show", || {
                self.log.append_to(to, expire)
            })
            .await?;
        }
        Ok(())
    }

    /// Call the log until it answers, pausing after transient failures; stop if the lease goes.
    async fn retry_log<'a, F, Fut>(&'a self, what: &str, mut call: F) -> Result<(), LoopError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(), LogError>> + 'a,
    {
        let mut pause = Duration::from_millis(20);
        loop {
            match call().await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_retryable() => {
                    warn!(error = %e, "{what} failed; retrying");
                    if !self.ownership.is_held() {
                        return Err(LoopError::LeaseLost);
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(self.settings.backoff_max);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Place each late command again at the end of its show's log, retrying transient failures.
    async fn resubmit_late(
        &self,
        late: &[(LoggedCommand, CommandEnvelope)],
    ) -> Result<(), LoopError> {
        for (command, envelope) in late {
            self.retry_log("resubmitting a late command", || {
                self.log.resubmit(command, envelope)
            })
            .await?;
            info!(show = %envelope.show_id, seq = command.seq, command_id = %envelope.command_id,
                "a command the show had passed was placed again at the end of the log");
        }
        Ok(())
    }

    /// Hand a durable batch's events to the transport now and confirm them in the background,
    /// publishing again after transient failures.
    async fn start_publish(&self, events: EventBatch, last_seq: u64) -> Tail {
        if events.is_empty() {
            return Tail {
                publish: None,
                last_seq,
            };
        }
        let started = Instant::now();
        let sent = self.events.send(&events).await;
        let sink = self.events.clone();
        let ownership = self.ownership.clone();
        let partition = self.settings.partition.clone();
        let backoff_max = self.settings.backoff_max;
        let task = tokio::spawn(async move {
            let confirmed = match sent {
                Ok(confirmation) => confirmation.await,
                Err(e) => Err(e),
            };
            match confirmed {
                Ok(()) => {
                    m::publish_time(&partition, started.elapsed());
                    Ok(())
                }
                Err(e) if e.is_retryable() => {
                    warn!(error = %e, "publishing events failed; retrying");
                    publish_events(&*sink, &events, &ownership, &partition, backoff_max).await
                }
                Err(e) => Err(e.into()),
            }
        });
        Tail {
            publish: Some(task),
            last_seq,
        }
    }

    /// Wait until a tail's events are out; the sequence it may now acknowledge through.
    async fn await_publish(&self, tail: Option<Tail>) -> Result<Option<u64>, LoopError> {
        let Some(tail) = tail else {
            return Ok(None);
        };
        if let Some(task) = tail.publish {
            task.await.map_err(|e| {
                LoopError::Events(EventError::Unavailable(format!("publish task: {e}").into()))
            })??;
        }
        Ok(Some(tail.last_seq))
    }

    /// Publish and acknowledge a tail (the loop is idle or stopping).
    async fn finish(&mut self, tail: Option<Tail>) -> Result<(), LoopError> {
        if let Some(seq) = self.await_publish(tail).await? {
            self.ack(seq).await?;
        }
        Ok(())
    }

    /// Decide every show of a batch, then write their conditional batches together: each is a
    /// Paxos round that waits for the store's disk, the shows do not depend on one another, and
    /// awaited one after another they made a batch of many shows as slow as the sum of its
    /// rounds (W-SPREAD, docs/BENCHMARKS.md session 9). A show whose write must be tried again is
    /// then applied alone, as [`Self::apply_show`] does.
    async fn apply_shows(
        &mut self,
        groups: &[(ShowId, Vec<LoggedCommand>)],
        now: UnixMs,
    ) -> Result<Vec<(ShowId, ShowPlan)>, LoopError> {
        let partition = self.settings.partition.clone();
        let epoch = self.ownership.epoch();
        // (show, plan, whether it is written here, the show's expiry hint before the write)
        let mut decided = Vec::with_capacity(groups.len());
        for (show, commands) in groups {
            if let Residence::Elsewhere(owner) = self.ensure_loaded(*show).await? {
                let plan = ShowPlan::forwarded(&partition, commands, owner);
                decided.push((*show, plan, false, None));
                continue;
            }
            let loaded = self.shows.get_mut(show).expect("loaded above");
            let hint = loaded.hint;
            let started = Instant::now();
            let plan = decide_show(&partition, loaded, commands, epoch, now)?;
            m::decide_time(&partition, started.elapsed());
            decided.push((*show, plan, true, hint));
        }
        let this = &*self;
        let writes = decided.iter().map(|(show, plan, here, hint)| async move {
            match here {
                true => this.commit(*show, plan, *hint).await,
                false => Ok(()),
            }
        });
        let results = futures::future::join_all(writes).await;
        let mut plans = Vec::with_capacity(decided.len());
        for ((show, plan, _, _), result) in decided.into_iter().zip(results) {
            match result {
                Ok(()) => {
                    self.committed(show, &plan);
                    plans.push((show, plan));
                }
                Err(Retry::Fatal(e)) => return Err(e),
                Err(Retry::Again) => {
                    self.shows.remove(&show);
                    if !self.ownership.is_held() {
                        return Err(LoopError::LeaseLost);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let commands = groups
                        .iter()
                        .find_map(|(s, c)| (*s == show).then_some(c.as_slice()))
                        .unwrap_or_default();
                    plans.push((show, self.apply_show(show, commands, now).await?));
                }
            }
        }
        Ok(plans)
    }

    /// A show's plan is durable: keep what it wrote as the loaded show's fence, version and
    /// expiry hint; a show handed over leaves this partition.
    fn committed(&mut self, show: ShowId, plan: &ShowPlan) {
        if plan.handed_to.is_some() {
            self.shows.remove(&show);
            self.expiry.set(show, None);
            return;
        }
        if let (Some(loaded), Some(write)) = (self.shows.get_mut(&show), &plan.write) {
            loaded.fence = Some(write.next.clone());
            loaded.version = write.version;
            loaded.hint = plan.next_expiry;
        }
        self.expiry.set(show, plan.next_expiry);
    }

    /// Decide and durably write one show's commands, retrying until written or fatal.
    async fn apply_show(
        &mut self,
        show: ShowId,
        commands: &[LoggedCommand],
        now: UnixMs,
    ) -> Result<ShowPlan, LoopError> {
        let mut pause = Duration::from_millis(20);
        let partition = self.settings.partition.clone();
        loop {
            if let Residence::Elsewhere(owner) = self.ensure_loaded(show).await? {
                return Ok(ShowPlan::forwarded(&partition, commands, owner));
            }
            let epoch = self.ownership.epoch();
            let loaded = self.shows.get_mut(&show).expect("loaded above");
            let hint = loaded.hint;
            let started = Instant::now();
            let plan = decide_show(&partition, loaded, commands, epoch, now)?;
            m::decide_time(&partition, started.elapsed());
            match self.commit(show, &plan, hint).await {
                Ok(()) => {
                    self.committed(show, &plan);
                    return Ok(plan);
                }
                Err(Retry::Fatal(e)) => return Err(e),
                Err(Retry::Again) => {
                    self.shows.remove(&show);
                    if !self.ownership.is_held() {
                        return Err(LoopError::LeaseLost);
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(self.settings.backoff_max);
                }
            }
        }
    }

    /// Load `show` unless it is loaded, or say which partition decides it instead.
    async fn ensure_loaded(&mut self, show: ShowId) -> Result<Residence, LoopError> {
        self.tick += 1;
        if let Some(loaded) = self.shows.get_mut(&show) {
            loaded.last_used = self.tick;
            return Ok(Residence::Here);
        }
        // A show that lives elsewhere is loaded whole only to read its fence: loads are rare,
        // and commands reach the wrong partition only while a move is being rolled out.
        let stored = retry_store(&self.settings, &self.ownership, || self.store.load(show)).await?;
        if let Some(owner) = stored.as_ref().and_then(|s| self.owner_elsewhere(&s.fence)) {
            return Ok(Residence::Elsewhere(owner));
        }
        // Before any reply about the show's tagged holds and bookings: the row they are found by.
        let tag = IndexRows {
            lookups: vec![tag_row(show)],
            ..IndexRows::default()
        };
        retry_store(&self.settings, &self.ownership, || {
            self.store.write_index(&tag)
        })
        .await?;
        let loaded = match stored {
            None => LoadedShow {
                state: ShowState::new(show),
                fence: None,
                version: 0,
                hint: None,
                last_used: self.tick,
            },
            Some(stored) => {
                let named = stored.fence.partition.as_ref();
                let ours = named.is_none_or(|named| *named == self.settings.partition);
                if ours && stored.fence.owner_epoch > self.ownership.epoch() {
                    // A processor with a newer lease has written this show: we are stale.
                    warn!(%show, stored = stored.fence.owner_epoch, mine = self.ownership.epoch(),
                        "show written by a newer owner");
                    return Err(LoopError::LeaseLost);
                }
                LoadedShow {
                    state: rows::restore(show, &stored)?,
                    fence: Some(stored.fence),
                    version: stored.version,
                    // A hint may exist from an earlier owner: assume one, so the first write
                    // either replaces it or clears it.
                    hint: Some(UnixMs(0)),
                    last_used: self.tick,
                }
            }
        };
        self.shows.insert(show, loaded);
        Ok(Residence::Here)
    }

    /// The partition `fence` names, if it is another known one: the show's commands go there.
    fn owner_elsewhere(&self, fence: &Fence) -> Option<PartitionId> {
        let settings = &self.settings;
        if fence.admits(&settings.partition, settings.known_partitions.as_deref()) {
            return None;
        }
        fence.partition.clone()
    }

    /// Expiry hint, then the conditional batch together with the index rows, settled if its
    /// outcome is unknown. `hint`: the show's expiry hint as stored before this write.
    async fn commit(
        &self,
        show: ShowId,
        plan: &ShowPlan,
        hint: Option<UnixMs>,
    ) -> Result<(), Retry> {
        let Some(write) = &plan.write else {
            // Only redelivered commands: rewrite their index rows, in case a crash came between
            // their batch and their index rows.
            return self
                .store
                .write_index(&plan.index)
                .await
                .map_err(retry_or_fatal);
        };
        let partition = self.settings.partition.clone();
        let started = Instant::now();
        // A show handed over is due for expiry in its new partition: the hint goes there.
        let (hinted_in, known) = match &plan.handed_to {
            Some(to) => (to, None),
            None => (&partition, hint),
        };
        if let Some(due) = plan.next_expiry.filter(|due| Some(*due) != known) {
            // Written before the batch: a hint without holds behind it only costs an Expire.
            self.store
                .set_expiry_hint(hinted_in, show, Some(due))
                .await
                .map_err(retry_or_fatal)?;
        }
        // Index rows only point at the show (its own rows are the truth), so they need not
        // precede the batch, only the reply: one round trip for both. A crash between the two
        // leaves the commands unacknowledged; their redelivery rewrites the index rows.
        let (indexed, outcome) = futures::join!(
            self.store.write_index(&plan.index),
            self.store.persist(write)
        );
        let applied = match outcome {
            Ok(PersistOutcome::Applied) => true,
            Ok(PersistOutcome::NotApplied { current }) => {
                m::fence_conflict(&partition);
                warn!(%show, ?current, expected = ?write.expected, "conditional batch not applied");
                false
            }
            Err(StoreError::Timeout) => self.settle(write).await?,
            Err(e) => return Err(retry_or_fatal(e)),
        };
        m::persist_time(&partition, started.elapsed());
        if !applied {
            return Err(Retry::Again);
        }
        if let Err(e) = indexed {
            // The batch is in: its index rows must be too before anyone hears of it.
            debug!(%show, error = %e, "index rows failed beside the batch; writing them again");
            retry_store(&self.settings, &self.ownership, || {
                self.store.write_index(&plan.index)
            })
            .await
            .map_err(Retry::Fatal)?;
        }
        let gone = plan.next_expiry.is_none() || plan.handed_to.is_some();
        if gone
            && hint.is_some()
            && let Err(e) = self.store.set_expiry_hint(&partition, show, None).await
        {
            debug!(%show, error = %e, "stale expiry hint left behind");
        }
        Ok(())
    }

    /// The write timed out: read the fence until the store answers, and compare.
    async fn settle(&self, write: &ShowWrite) -> Result<bool, Retry> {
        let found = retry_store(&self.settings, &self.ownership, || {
            self.store.read_fence(write.show_id)
        })
        .await
        .map_err(Retry::Fatal)?;
        let applied = found.map(|(fence, _)| fence).as_ref() == Some(&write.next);
        info!(show = %write.show_id, applied, "settled a timed-out conditional batch by reading");
        Ok(applied)
    }

    async fn ack(&mut self, seq: u64) -> Result<(), LoopError> {
        let mut pause = Duration::from_millis(20);
        loop {
            match self.log.ack_through(seq).await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_retryable() => {
                    warn!(seq, error = %e, "ack failed; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(self.settings.backoff_max);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn evict(&mut self) {
        let max = self.settings.shows_cached_max.max(1);
        if self.shows.len() <= max {
            return;
        }
        let mut by_age: Vec<(u64, ShowId)> = self
            .shows
            .iter()
            .map(|(show, l)| (l.last_used, *show))
            .collect();
        by_age.sort_unstable();
        for (_, show) in by_age.into_iter().take(self.shows.len() - max) {
            self.shows.remove(&show);
        }
    }
}

/// Publish `events` until the transport holds them, a fatal error, or the lease is lost.
async fn publish_events<E: EventSink>(
    sink: &E,
    events: &EventBatch,
    ownership: &Ownership,
    partition: &PartitionId,
    backoff_max: Duration,
) -> Result<(), LoopError> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(20);
    loop {
        match sink.publish(events).await {
            Ok(()) => break,
            Err(e) if e.is_retryable() => {
                warn!(error = %e, "publishing events failed; retrying");
                if !ownership.is_held() {
                    return Err(LoopError::LeaseLost);
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(backoff_max);
            }
            Err(e) => return Err(e.into()),
        }
    }
    m::publish_time(partition, started.elapsed());
    Ok(())
}

/// Group a batch by show, keeping log order within each show (and the order shows first
/// appear). Malformed entries are counted and dropped: they are acknowledged with the batch.
fn group_by_show(
    partition: &PartitionId,
    batch: Vec<LoggedCommand>,
) -> Vec<(ShowId, Vec<LoggedCommand>)> {
    let mut groups: Vec<(ShowId, Vec<LoggedCommand>)> = Vec::new();
    let mut slot: HashMap<ShowId, usize> = HashMap::new();
    for command in batch {
        let show = match &command.entry {
            LogEntry::Command(envelope) => envelope.show_id,
            LogEntry::Handover(handover) => handover.show_id,
            LogEntry::Malformed { detail } => {
                warn!(seq = command.seq, %detail, "skipping malformed log entry");
                m::command(partition, "malformed");
                continue;
            }
        };
        let index = *slot.entry(show).or_insert_with(|| {
            groups.push((show, Vec::new()));
            groups.len() - 1
        });
        groups[index].1.push(command);
    }
    groups
}

/// Decide one show's commands in log order against its loaded state (`now`: the newest time the
/// loop knows, for telling a late command from a forgotten one).
fn decide_show(
    partition: &PartitionId,
    loaded: &mut LoadedShow,
    commands: &[LoggedCommand],
    epoch: u64,
    now: UnixMs,
) -> Result<ShowPlan, LoopError> {
    let show = loaded.state.show_id();
    let applied = loaded.fence.as_ref().map_or(0, |f| f.applied_seq);
    let before = loaded.version;
    let mut version = before;
    let mut last = None;
    let mut changes: Vec<SeatChange> = Vec::new();
    let mut plan = ShowPlan::empty();
    for (at, command) in commands.iter().enumerate() {
        let envelope = match &command.entry {
            LogEntry::Command(envelope) => envelope,
            LogEntry::Handover(handover) => {
                if !hands_over(partition, loaded, command, handover, applied) {
                    continue;
                }
                // Everything logged after the handover is the new partition's to decide.
                plan.handed_to = Some(handover.to.clone());
                let rest = ShowPlan::forwarded(partition, &commands[at + 1..], handover.to.clone());
                plan.forward = rest.forward;
                last = Some(command);
                break;
            }
            LogEntry::Malformed { .. } => continue,
        };
        if command.seq <= applied {
            replay(partition, loaded, command, envelope, now, &mut plan);
            continue;
        }
        let decision = loaded.state.decide(envelope, command.at);
        m::command(partition, outcome_label(&decision));
        if !decision.seat_changes.is_empty() {
            version = command.seq;
        }
        changes.extend_from_slice(&decision.seat_changes);
        collect_events(show, command, &decision, &mut plan);
        if let Outcome::Accepted(events) = &decision.outcome {
            // Also for a retry answered from memory: its first attempt's batch may have died
            // between its persist and its index rows, and the retry can overtake that attempt's
            // redelivery (a show moved to another partition), so the retry's requester would
            // hear of a hold or booking no reader finds. The rows are idempotent.
            index_rows(show, events, &mut plan.index);
        }
        if let Some(to) = &command.reply_to {
            plan.replies
                .push((to.clone(), reply(envelope, version, decision.outcome)));
        }
        last = Some(command);
    }
    plan.next_expiry = loaded.state.next_expiry();
    let Some(last) = last else {
        return Ok(plan);
    };
    let rows = rows::encode_changes(loaded.state.take_dirty())?;
    // A handover names the new partition, with no epoch of it yet: its processor's first write
    // puts its own.
    let (owner, owner_epoch) = match &plan.handed_to {
        Some(to) => (to.clone(), 0),
        None => (partition.clone(), epoch),
    };
    plan.write = Some(ShowWrite {
        show_id: show,
        expected: loaded.fence.clone(),
        next: Fence {
            applied_seq: last.seq,
            owner_epoch,
            partition: Some(owner),
        },
        version,
        rows,
    });
    if version != before {
        plan.events.seat_deltas.push(SeatDelta {
            schema: schemas::SCHEMA_VERSION,
            show_id: show,
            from_version: before,
            version,
            changes: last_status_per_seat(changes),
            at: last.at,
        });
    }
    Ok(plan)
}

/// Whether `handover`, met in log order, moves the show now. One the show has passed (at or below
/// its applied sequence, so it was applied before, or overtaken by an owner that had already
/// taken the show over), one to this very partition, and one for a show that does not exist
/// change nothing.
fn hands_over(
    partition: &PartitionId,
    loaded: &LoadedShow,
    command: &LoggedCommand,
    handover: &Handover,
    applied: u64,
) -> bool {
    let show = handover.show_id;
    let (label, moves) = if command.seq <= applied {
        ("handover_passed", false)
    } else if handover.to == *partition {
        ("handover_to_self", false)
    } else if !loaded.state.exists() {
        ("handover_unknown_show", false)
    } else {
        ("handed_over", true)
    };
    m::command(partition, label);
    if moves {
        info!(%show, from = %partition, to = %handover.to, seq = command.seq, "handing the show over");
    } else {
        warn!(%show, to = %handover.to, seq = command.seq, label, "a handover that moves nothing");
    }
    moves
}

/// A command at or below the show's applied sequence (redelivered after a crash, or overtaken in
/// transit): never decided in this place. One the show applied is answered with its first
/// outcome, its events republished with their original ids (the transport drops them if they did
/// get out) and its index rows rewritten (idempotent; they may not have been written before the
/// crash). One it never applied is placed again at the end of the log, where it is decided like
/// any new command; one too old to tell is dropped, loudly.
fn replay(
    partition: &PartitionId,
    loaded: &LoadedShow,
    command: &LoggedCommand,
    envelope: &CommandEnvelope,
    now: UnixMs,
    plan: &mut ShowPlan,
) {
    let outcome = match loaded.state.recall(envelope, command.at, now) {
        Recalled::Outcome(outcome) => outcome,
        Recalled::Reused => Outcome::Rejected(schemas::Rejection::CommandIdReused),
        Recalled::NeverApplied if matches!(envelope.command, schemas::Command::Expire) => {
            // Expiry is rescheduled from the show's next expiry; an old request adds nothing.
            m::command(partition, "late_expire_dropped");
            return;
        }
        Recalled::NeverApplied => {
            m::command(partition, "placed_late");
            plan.late.push((command.clone(), envelope.clone()));
            return;
        }
        Recalled::Forgotten => {
            m::command(partition, "forgotten");
            warn!(show = %envelope.show_id, seq = command.seq, command_id = %envelope.command_id,
                "a redelivered command is too old to tell whether it applied; dropped");
            return;
        }
    };
    m::command(partition, "redelivered");
    if let Outcome::Accepted(events) = &outcome {
        let show = loaded.state.show_id();
        push_events(show, command, events, "", &mut plan.events);
        index_rows(show, events, &mut plan.index);
    }
    if let Some(to) = &command.reply_to {
        plan.replies
            .push((to.clone(), reply(envelope, loaded.version, outcome)));
    }
}

fn outcome_label(decision: &Decision) -> &'static str {
    match (decision.origin, &decision.outcome) {
        (Origin::Replayed, _) => "recalled",
        (Origin::Decided | Origin::Unrecorded, Outcome::Accepted(_)) => "accepted",
        (Origin::Decided | Origin::Unrecorded, Outcome::Rejected(_)) => "rejected",
    }
}

fn collect_events(show: ShowId, command: &LoggedCommand, decision: &Decision, plan: &mut ShowPlan) {
    // Holds swept before the command are facts of their own (ids marked `x`); the outcome's
    // events are published only when decided now, not when recalled for a retry.
    push_events(show, command, &decision.expired, "x", &mut plan.events);
    if let (Origin::Decided, Outcome::Accepted(events)) = (decision.origin, &decision.outcome) {
        push_events(show, command, events, "", &mut plan.events);
    }
}

fn push_events(
    show: ShowId,
    command: &LoggedCommand,
    events: &[Event],
    marker: &str,
    out: &mut EventBatch,
) {
    // Commands logged in one message share a sequence; the part tells their facts apart.
    let position = match command.part {
        0 => command.seq.to_string(),
        part => format!("{}.{part}", command.seq),
    };
    for (i, event) in events.iter().enumerate() {
        out.show_events.push(KeyedEvent {
            dedupe_id: format!("{show}:{position}:{marker}{i}"),
            event: ShowEvent {
                schema: schemas::SCHEMA_VERSION,
                show_id: show,
                version: command.seq,
                at: command.at,
                event: event.clone(),
            },
        });
    }
}

/// Lookups for new holds and bookings that do not carry their show's tag (the show's tag row,
/// written when the loop loads the show, finds those that do), and the buyer's booking list entry.
fn index_rows(show: ShowId, events: &[Event], index: &mut IndexRows) {
    let tag = show.tag();
    let mut lookup = |id: Uuid, kind: LookupKind| {
        if schemas::ids::show_tag_of(&id) != Some(tag) {
            index.lookups.push((id, kind, show));
        }
    };
    for event in events {
        match event {
            Event::Held { hold_id, .. } => lookup(hold_id.0, LookupKind::Hold),
            Event::Confirmed {
                booking_id,
                user,
                booked_at,
                ..
            } => {
                lookup(booking_id.0, LookupKind::Booking);
                index.user_bookings.push(UserBookingRef {
                    user: *user,
                    booking_id: *booking_id,
                    show_id: show,
                    booked_at: *booked_at,
                });
            }
            Event::ShowCreated { .. }
            | Event::Released { .. }
            | Event::Expired { .. }
            | Event::Cancelled { .. }
            | Event::CheckedIn { .. }
            | Event::Blocked { .. }
            | Event::Unblocked { .. } => {}
        }
    }
}

fn reply(envelope: &CommandEnvelope, version: u64, outcome: Outcome) -> Reply {
    Reply {
        schema: schemas::SCHEMA_VERSION,
        command_id: envelope.command_id,
        show_id: envelope.show_id,
        version,
        outcome,
    }
}

/// Keep each seat's final status, in the order seats last changed.
fn last_status_per_seat(changes: Vec<SeatChange>) -> Vec<SeatChange> {
    let mut last: HashMap<schemas::SeatId, usize> = HashMap::with_capacity(changes.len());
    for (i, change) in changes.iter().enumerate() {
        last.insert(change.seat_id, i);
    }
    changes
        .into_iter()
        .enumerate()
        .filter(|(i, change)| last.get(&change.seat_id) == Some(i))
        .map(|(_, change)| change)
        .collect()
}

fn retry_or_fatal(e: StoreError) -> Retry {
    if e.is_retryable() {
        warn!(error = %e, "store call failed; retrying the show");
        Retry::Again
    } else {
        Retry::Fatal(LoopError::Store(e))
    }
}

/// Call a read-only store operation until it answers, a fatal error, or the lease is lost.
async fn retry_store<T, F, Fut>(
    settings: &LoopSettings,
    ownership: &Ownership,
    mut call: F,
) -> Result<T, LoopError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut pause = Duration::from_millis(20);
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(e) if e.is_retryable() => {
                warn!(error = %e, "store read failed; retrying");
                if !ownership.is_held() {
                    return Err(LoopError::LeaseLost);
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(settings.backoff_max);
            }
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::CommandBus;
    use crate::embedded::{EmbeddedStore, LocalBus, MemLogHub};
    use crate::events::EventHub;
    use crate::fixtures::*;
    use clock::{SkewedClock, SystemClock};

    /// Start one loop whose own clock is `skew_ms` off the log's; the bus, the booking facts and
    /// the store.
    fn start(skew_ms: i64) -> (LocalBus, EventHub, Arc<EmbeddedStore>, watch::Sender<bool>) {
        start_lingering(skew_ms, Duration::ZERO)
    }

    /// [`start`] with a linger.
    fn start_lingering(
        skew_ms: i64,
        linger: Duration,
    ) -> (LocalBus, EventHub, Arc<EmbeddedStore>, watch::Sender<bool>) {
        let log_clock: SharedClock = Arc::new(SystemClock);
        let (hub, mut logs) = MemLogHub::new(1, 0, log_clock.clone());
        let store = Arc::new(EmbeddedStore::in_memory().unwrap());
        let events = EventHub::default();
        let mut settings = LoopSettings::new(PartitionId("0".into()));
        settings.clock = Arc::new(SkewedClock::new(log_clock, skew_ms));
        settings.linger = linger;
        let (stop, stop_rx) = watch::channel(false);
        let partition_loop = PartitionLoop::new(
            settings,
            Ownership::permanent(1),
            logs.remove(0),
            store.clone(),
            Arc::new(events.clone()),
            stop_rx,
        );
        tokio::spawn(partition_loop.run());
        let bus = LocalBus::new(hub, Duration::from_secs(5));
        (bus, events, store, stop)
    }

    /// Two loops of a two-partition log.
    fn start_two() -> (
        Arc<MemLogHub>,
        LocalBus,
        EventHub,
        Arc<EmbeddedStore>,
        watch::Sender<bool>,
    ) {
        let clock: SharedClock = Arc::new(SystemClock);
        let (hub, logs) = MemLogHub::new(2, 0, clock);
        let store = Arc::new(EmbeddedStore::in_memory().unwrap());
        let events = EventHub::default();
        let (stop, stop_rx) = watch::channel(false);
        for (index, log) in logs.into_iter().enumerate() {
            let settings = LoopSettings::new(PartitionId(index.to_string()));
            let partition_loop = PartitionLoop::new(
                settings,
                Ownership::permanent(1),
                log,
                store.clone(),
                Arc::new(events.clone()),
                stop_rx.clone(),
            );
            tokio::spawn(partition_loop.run());
        }
        let bus = LocalBus::new(hub.clone(), Duration::from_secs(5));
        (hub, bus, events, store, stop)
    }

    #[tokio::test]
    async fn a_handover_moves_a_show_with_its_holds_and_its_old_partition_forwards() {
        let (hub, bus, events, store, _stop) = start_two();
        let mut facts = events.subscribe_bookings();
        let s = show(7);
        let from = PartitionId(crate::topology::partition_index(s, 2).to_string());
        let to = PartitionId((1 - crate::topology::partition_index(s, 2)).to_string());
        bus.submit(create(s, 10)).await.unwrap();
        // A hold that lapses only after the show has moved: the new partition must expire it.
        bus.submit(hold(s, 2, user(1), &[1], 1_500)).await.unwrap();
        let handover = Handover {
            show_id: s,
            to: to.clone(),
            request_id: Uuid::from_u128(99),
        };
        hub.append_to_partition(&from, LogEntry::Handover(handover), None)
            .await
            .unwrap();
        // An ingress still routing to the old partition: forwarded, decided by the new one.
        let stale = bus.submit(hold(s, 3, user(2), &[2], 60_000)).await.unwrap();
        assert!(matches!(stale.outcome, Outcome::Accepted(_)), "{stale:?}");
        // One routing to the new partition already.
        let (to_reply, answer) = hub.wait_for_reply();
        let fresh = hold(s, 4, user(3), &[3], 60_000);
        hub.append_to_partition(&to, LogEntry::Command(fresh), Some(to_reply))
            .await
            .unwrap();
        let fresh = tokio::time::timeout(Duration::from_secs(5), answer)
            .await
            .expect("the new partition answers")
            .unwrap();
        assert!(matches!(fresh.outcome, Outcome::Accepted(_)), "{fresh:?}");
        let (fence, _) = store.read_fence(s).await.unwrap().unwrap();
        assert_eq!(
            fence.partition,
            Some(to.clone()),
            "the fence names the new partition"
        );
        assert_eq!(
            fence.owner_epoch, 1,
            "written by the new partition's loop since"
        );
        let expired = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Event::Expired { .. } = facts.recv().await.unwrap().event {
                    return;
                }
            }
        });
        expired
            .await
            .expect("the moved show's hold expires in its new partition");
        let stored = store.load(s).await.unwrap().unwrap();
        let state = rows::restore(s, &stored).unwrap();
        let status = |i| state.seat_status_by_id(seat(s, i));
        assert_eq!(status(1), Some(schemas::SeatStatus::Available));
        assert_eq!(status(2), Some(schemas::SeatStatus::Held));
        assert_eq!(status(3), Some(schemas::SeatStatus::Held));
    }

    /// Hold TTL of the expiry test.
    const TTL_MS: u64 = 2_000;

    /// How long after the hold an idle show's hold came back `Expired`, and how many `Expire`
    /// commands the loop logged until then.
    async fn expiry_after_hold(skew_ms: i64) -> (Duration, u64) {
        let (bus, events, store, stop) = start(skew_ms);
        let mut facts = events.subscribe_bookings();
        let s = show(1);
        bus.submit(create(s, 10)).await.unwrap();
        bus.submit(hold(s, 2, user(1), &[1], TTL_MS)).await.unwrap();
        let held = Instant::now();
        let took = loop {
            let fact = tokio::time::timeout(Duration::from_secs(10), facts.recv())
                .await
                .expect("the hold expires within 10 s")
                .unwrap();
            if let Event::Expired { .. } = fact.event {
                break held.elapsed();
            }
        };
        let _ = stop.send(true);
        // Sequences 1 and 2 are the create and the hold; every later one is an `Expire`.
        let (fence, _) = store.read_fence(s).await.unwrap().unwrap();
        (took, fence.applied_seq - 2)
    }

    #[tokio::test]
    async fn expiry_is_scheduled_in_log_time_whatever_the_loops_own_clock_says() {
        for skew_ms in [-60_000, 0, 60_000] {
            let (took, expires) = expiry_after_hold(skew_ms).await;
            let late = took.saturating_sub(Duration::from_millis(TTL_MS));
            assert!(
                late < Duration::from_millis(1_500),
                "a {TTL_MS} ms hold took {took:?} to expire with the loop's clock {skew_ms} ms off"
            );
            assert!(
                expires <= 2,
                "{expires} Expire commands for one hold with the loop's clock {skew_ms} ms off"
            );
        }
    }

    /// Seat deltas (one per show per batch) until none arrives for a while.
    async fn deltas(seats: &mut tokio::sync::broadcast::Receiver<Arc<SeatDelta>>) -> Vec<usize> {
        let mut sizes = Vec::new();
        while let Ok(Ok(delta)) = tokio::time::timeout(Duration::from_secs(1), seats.recv()).await {
            sizes.push(delta.changes.len());
        }
        sizes
    }

    /// A busy loop gathers what arrives within its linger into one batch (one seat delta, one
    /// conditional write); a loop that was idle decides its first command at once.
    #[tokio::test(start_paused = true)]
    async fn a_busy_loop_lingers_for_more_and_an_idle_one_does_not() {
        let linger = Duration::from_millis(200);
        for (linger, batches) in [(Duration::ZERO, vec![1, 1]), (linger, vec![2])] {
            let (bus, events, _store, stop) = start_lingering(0, linger);
            let s = show(1);
            let mut seats = events.subscribe_seats();
            bus.submit(create(s, 10)).await.unwrap();
            // Straight after the create's batch: the loop is busy.
            let first = bus.submit(hold(s, 2, user(1), &[1], 60_000));
            let second = async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                bus.submit(hold(s, 3, user(2), &[2], 60_000)).await
            };
            let (a, b) = tokio::join!(first, second);
            assert!(a.is_ok() && b.is_ok());
            assert_eq!(deltas(&mut seats).await, batches, "linger {linger:?}");
            // Idle for a while: the next command is decided without lingering.
            let started = tokio::time::Instant::now();
            bus.submit(hold(s, 4, user(3), &[3], 60_000)).await.unwrap();
            assert!(
                started.elapsed() < Duration::from_millis(100),
                "an idle loop lingered: {:?}",
                started.elapsed()
            );
            let _ = stop.send(true);
        }
    }

    /// The shows of one batch are written together, not one round after another: while the
    /// first hold's write is in flight two holds of two other shows arrive, and their two
    /// conditional batches are in flight at once.
    #[tokio::test(start_paused = true)]
    async fn a_batch_of_several_shows_writes_them_together() {
        let clock: SharedClock = Arc::new(SystemClock);
        let (hub, mut logs) = MemLogHub::new(1, 0, clock);
        let store = Arc::new(ObservedStore::new(Duration::from_millis(50)));
        let (_stop, stop_rx) = watch::channel(false);
        let partition_loop = PartitionLoop::new(
            LoopSettings::new(PartitionId("0".into())),
            Ownership::permanent(1),
            logs.remove(0),
            store.clone(),
            Arc::new(EventHub::default()),
            stop_rx,
        );
        tokio::spawn(partition_loop.run());
        let bus = LocalBus::new(hub, Duration::from_secs(5));
        let shows = [show(1), show(2), show(3)];
        for s in shows {
            bus.submit(create(s, 10)).await.unwrap();
        }
        use std::sync::atomic::Ordering::SeqCst;
        assert_eq!(
            store.persists_most.load(SeqCst),
            1,
            "the creates came one by one"
        );
        let later = |s: ShowId, n: u128| {
            let bus = bus.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                bus.submit(hold(s, n, user(n), &[1], 60_000)).await
            }
        };
        let (a, b, c) = tokio::join!(
            bus.submit(hold(shows[0], 11, user(1), &[1], 60_000)),
            later(shows[1], 12),
            later(shows[2], 13),
        );
        assert!(a.is_ok() && b.is_ok() && c.is_ok());
        assert_eq!(store.persists_most.load(SeqCst), 2);
    }
}
