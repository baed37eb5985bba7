//! The in-process command log of dev mode: one bounded queue per partition, sequences from one
//! counter that continues after the highest sequence the store has applied (so a restart never
//! reuses one), log time from the wall clock made monotonic per partition.
//!
//! The queue itself is not durable, by design: the loop persists a command's effects before
//! anyone is answered, so a crash loses only commands nobody was told about (their requesters
//! see an error and retry with the same id); holds due for expiry are found again from the
//! store's expiry hints.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use schemas::{CommandEnvelope, Reply, UnixMs};
use tokio::sync::{mpsc, oneshot};

use crate::log::{CommandLog, LogEntry, LogError, LoggedCommand, ReplyTo};
use crate::topology::{PartitionId, partition_index};
use clock::SharedClock;

/// Commands each partition queue holds before submitters wait.
pub const MEM_LOG_QUEUE_CAPACITY: usize = 4096;

/// The shared side of the in-process log: appends, sequence numbers and reply waiters.
#[derive(Debug)]
pub struct MemLogHub {
    lanes: Vec<Lane>,
    next_seq: AtomicU64,
    next_token: AtomicU64,
    waiters: Mutex<HashMap<u64, oneshot::Sender<Reply>>>,
    /// Stamps each command's log time (never earlier than the one before it in its lane).
    clock: SharedClock,
}

#[derive(Debug)]
struct Lane {
    /// Held while a sequence is taken and the command queued, so queue order is sequence order.
    sender: tokio::sync::Mutex<LaneSender>,
    depth: Arc<AtomicU64>,
}

#[derive(Debug)]
struct LaneSender {
    tx: Option<mpsc::Sender<LoggedCommand>>,
    last_at: i64,
}

/// The consuming side of one partition's queue.
#[derive(Debug)]
pub struct MemLog {
    rx: mpsc::Receiver<LoggedCommand>,
    hub: Arc<MemLogHub>,
    depth: Arc<AtomicU64>,
}

impl MemLogHub {
    /// A log of `partitions` queues whose first sequence is `after + 1`; returns the hub and
    /// each partition's consumer, in partition order. Log times come from `clock`.
    pub fn new(partitions: u16, after: u64, clock: SharedClock) -> (Arc<MemLogHub>, Vec<MemLog>) {
        let mut lanes = Vec::new();
        let mut receivers = Vec::new();
        for _ in 0..partitions.max(1) {
            let (tx, rx) = mpsc::channel(MEM_LOG_QUEUE_CAPACITY);
            let depth = Arc::new(AtomicU64::new(0));
            let sender = LaneSender {
                tx: Some(tx),
                last_at: 0,
            };
            lanes.push(Lane {
                sender: tokio::sync::Mutex::new(sender),
                depth: depth.clone(),
            });
            receivers.push((rx, depth));
        }
        let hub = Arc::new(MemLogHub {
            lanes,
            next_seq: AtomicU64::new(after + 1),
            next_token: AtomicU64::new(1),
            waiters: Mutex::new(HashMap::new()),
            clock,
        });
        let logs = receivers
            .into_iter()
            .map(|(rx, depth)| MemLog {
                rx,
                hub: hub.clone(),
                depth,
            })
            .collect();
        (hub, logs)
    }

    /// Number of partitions.
    pub fn partitions(&self) -> u16 {
        self.lanes.len() as u16
    }

    /// Append a command to its show's partition; waits while the queue is full.
    pub async fn append(
        &self,
        envelope: CommandEnvelope,
        reply_to: Option<ReplyTo>,
    ) -> Result<u64, LogError> {
        let lane = partition_index(envelope.show_id, self.partitions());
        self.append_in(lane, LogEntry::Command(envelope), reply_to)
            .await
    }

    /// Append an entry to partition `partition`'s queue (a decimal index; dev mode has no
    /// labelled partitions).
    pub async fn append_to_partition(
        &self,
        partition: &PartitionId,
        entry: LogEntry,
        reply_to: Option<ReplyTo>,
    ) -> Result<u64, LogError> {
        let lane = partition
            .0
            .parse::<u16>()
            .ok()
            .filter(|lane| *lane < self.partitions())
            .ok_or_else(|| {
                LogError::Fatal(format!("the embedded log has no partition {partition}").into())
            })?;
        self.append_in(lane, entry, reply_to).await
    }

    async fn append_in(
        &self,
        lane: u16,
        entry: LogEntry,
        reply_to: Option<ReplyTo>,
    ) -> Result<u64, LogError> {
        let lane = &self.lanes[usize::from(lane)];
        let mut sender = lane.sender.lock().await;
        let at = self.clock.now().0.max(sender.last_at);
        let Some(tx) = sender.tx.clone() else {
            return Err(LogError::Closed);
        };
        let seq = self.next_seq.fetch_add(1, Ordering::SeqCst);
        let command = LoggedCommand {
            seq,
            at: UnixMs(at),
            entry,
            reply_to,
            part: 0,
        };
        tx.send(command).await.map_err(|_| LogError::Closed)?;
        lane.depth.fetch_add(1, Ordering::Relaxed);
        sender.last_at = at;
        Ok(seq)
    }

    /// Register a waiter for a reply; the token goes into the command's `reply_to`.
    pub fn wait_for_reply(&self) -> (ReplyTo, oneshot::Receiver<Reply>) {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().expect("waiters lock").insert(token, tx);
        (ReplyTo(token.to_string()), rx)
    }

    /// Forget a waiter that gave up.
    pub fn forget(&self, to: &ReplyTo) {
        if let Ok(token) = to.0.parse::<u64>() {
            self.waiters.lock().expect("waiters lock").remove(&token);
        }
    }

    fn deliver(&self, to: &ReplyTo, reply: &Reply) {
        let Ok(token) = to.0.parse::<u64>() else {
            return;
        };
        let waiter = self.waiters.lock().expect("waiters lock").remove(&token);
        if let Some(tx) = waiter {
            // The requester may have timed out meanwhile; that is its business.
            let _ = tx.send(reply.clone());
        }
    }

    /// Refuse further appends; consumers drain what is queued and then see the log closed.
    pub async fn close(&self) {
        for lane in &self.lanes {
            lane.sender.lock().await.tx = None;
        }
    }
}

#[async_trait]
impl CommandLog for MemLog {
    async fn next_batch(
        &mut self,
        batch_size_max: usize,
        wait: Duration,
    ) -> Result<Vec<LoggedCommand>, LogError> {
        let first = match tokio::time::timeout(wait, self.rx.recv()).await {
            Err(_) => return Ok(Vec::new()),
            Ok(None) => return Err(LogError::Closed),
            Ok(Some(command)) => command,
        };
        let mut batch = vec![first];
        while batch.len() < batch_size_max {
            match self.rx.try_recv() {
                Ok(command) => batch.push(command),
                Err(_) => break,
            }
        }
        self.depth.fetch_sub(batch.len() as u64, Ordering::Relaxed);
        Ok(batch)
    }

    async fn ack_through(&mut self, _seq: u64) -> Result<(), LogError> {
        // Nothing to release: a delivered command is gone from the queue, and its effects were
        // persisted before this call.
        Ok(())
    }

    async fn reply(&self, to: &ReplyTo, reply: &Reply) -> Result<(), LogError> {
        self.hub.deliver(to, reply);
        Ok(())
    }

    async fn append(&self, envelope: &CommandEnvelope) -> Result<(), LogError> {
        self.hub.append(envelope.clone(), None).await.map(|_| ())
    }

    async fn resubmit(
        &self,
        command: &LoggedCommand,
        envelope: &CommandEnvelope,
    ) -> Result<(), LogError> {
        // One lane per partition delivers in order, so nothing is ever overtaken here; a
        // resubmission is still placed like any append.
        self.hub
            .append(envelope.clone(), command.reply_to.clone())
            .await
            .map(|_| ())
    }

    async fn forward(&self, command: &LoggedCommand, to: &PartitionId) -> Result<(), LogError> {
        // Queues are not durable and a restart starts empty, so there is no earlier copy to
        // store once against.
        self.hub
            .append_to_partition(to, command.entry.clone(), command.reply_to.clone())
            .await
            .map(|_| ())
    }

    async fn append_to(&self, to: &PartitionId, entry: &LogEntry) -> Result<(), LogError> {
        self.hub
            .append_to_partition(to, entry.clone(), None)
            .await
            .map(|_| ())
    }

    fn pending(&self) -> Option<u64> {
        Some(self.depth.load(Ordering::Relaxed))
    }
}
