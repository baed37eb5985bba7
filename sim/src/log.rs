//! [`SimLog`]: one session of a partition's durable consumer, with JetStream's semantics as the
//! loop depends on them (cumulative acks on the stream sequence, a session starting again from
//! the ack floor, a numbered delivery sequence checked by [`DeliveryOrder`], one pinned session
//! served at a time) and seeded losses, redeliveries and crashes.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use processors::log::{
    CommandLog, DeliveryOrder, LogEntry, LogError, LoggedCommand, ReplyTo, forward_dedupe,
};
use processors::topology::PartitionId;
use schemas::{CommandEnvelope, Reply};

use crate::world::{Fault, Incarnation, Msg, World};

/// One session of partition `partition`'s consumer.
pub struct SimLog {
    world: Arc<World>,
    partition: u16,
    session: u64,
    /// Next stream sequence to consider.
    cursor: u64,
    order: DeliveryOrder,
    /// Messages to deliver again later.
    redeliver: VecDeque<Msg>,
    /// Deliveries still to lose after a reconnect.
    losing: u64,
    life: Arc<Incarnation>,
}

impl SimLog {
    /// Take the pin of `partition`'s consumer and start reading after its ack floor.
    pub fn open(world: Arc<World>, partition: u16, life: Arc<Incarnation>) -> SimLog {
        let (session, cursor, delivered) = {
            let mut s = world.lock();
            let consumer = &mut s.consumers[usize::from(partition)];
            consumer.session += 1;
            (consumer.session, consumer.ack_floor + 1, consumer.delivered)
        };
        SimLog {
            world,
            partition,
            session,
            cursor,
            order: DeliveryOrder::after(delivered),
            redeliver: VecDeque::new(),
            losing: 0,
            life,
        }
    }

    /// What has arrived, up to `max`: `None` if nothing.
    fn take(&mut self, max: usize) -> Result<Option<Vec<LoggedCommand>>, LogError> {
        let mut s = self.world.lock();
        let p = usize::from(self.partition);
        if s.consumers[p].session != self.session {
            return Err(LogError::Unavailable(
                "another session holds the pin".into(),
            ));
        }
        let mut batch = Vec::new();
        if !self.redeliver.is_empty() && s.chance(0.3) {
            let msg = self.redeliver.pop_front().expect("not empty");
            s.consumers[p].delivered += 1;
            self.order.accept(s.consumers[p].delivered)?;
            batch.push(logged(&msg));
        }
        while batch.len() < max {
            let Some(msg) = s.stream.get((self.cursor - 1) as usize).cloned() else {
                break;
            };
            self.cursor += 1;
            if msg.partition != self.partition {
                continue;
            }
            s.consumers[p].delivered += 1;
            let delivery = s.consumers[p].delivered;
            if self.losing == 0 && s.roll(Fault::Reconnect) {
                self.losing = s.pick(1..4);
            }
            if self.losing > 0 {
                self.losing -= 1;
                continue;
            }
            if s.roll(Fault::LoseDelivery) {
                continue;
            }
            self.order.accept(delivery)?;
            if s.roll(Fault::Redeliver) {
                self.redeliver.push_back(msg.clone());
            }
            batch.push(logged(&msg));
        }
        Ok((!batch.is_empty()).then_some(batch))
    }

    /// After an idle wait: a delivery the server numbered and that never arrived is a gap.
    fn probe(&self) -> Result<Vec<LoggedCommand>, LogError> {
        let delivered = self.world.lock().consumers[usize::from(self.partition)].delivered;
        match self.order.missing(delivered) {
            Some(gap) => Err(gap),
            None => Ok(Vec::new()),
        }
    }
}

fn logged(msg: &Msg) -> LoggedCommand {
    LoggedCommand {
        seq: msg.seq,
        at: msg.at,
        entry: msg.entry.clone(),
        reply_to: msg.reply_to.clone(),
        part: 0,
    }
}

#[async_trait]
impl CommandLog for SimLog {
    async fn next_batch(
        &mut self,
        batch_size_max: usize,
        wait: Duration,
    ) -> Result<Vec<LoggedCommand>, LogError> {
        self.life.alive().await;
        let world = self.world.clone();
        let appended = world.appended[usize::from(self.partition)].notified();
        tokio::pin!(appended);
        appended.as_mut().enable();
        if let Some(batch) = self.take(batch_size_max)? {
            return Ok(batch);
        }
        let _ = tokio::time::timeout(wait, appended).await;
        match self.take(batch_size_max)? {
            Some(batch) => Ok(batch),
            None => self.probe(),
        }
    }

    async fn ack_through(&mut self, seq: u64) -> Result<(), LogError> {
        self.life.boundary(&self.world, Fault::CrashBeforeAck).await;
        {
            let mut s = self.world.lock();
            if !s.roll(Fault::LoseAck) {
                let consumer = &mut s.consumers[usize::from(self.partition)];
                consumer.ack_floor = consumer.ack_floor.max(seq);
            }
        }
        self.life.boundary(&self.world, Fault::CrashAfterAck).await;
        Ok(())
    }

    async fn reply(&self, to: &ReplyTo, reply: &Reply) -> Result<(), LogError> {
        let lost = self.world.lock().roll(Fault::LoseReply);
        self.world.trace(format_args!(
            "reply to {} (lost: {lost}): {} {:?}",
            to.0, reply.command_id.0, reply.outcome
        ));
        if !lost {
            self.world.lock().deliver(to, reply);
        }
        Ok(())
    }

    async fn reply_all(&mut self, replies: &[(ReplyTo, Reply)]) -> Result<(), LogError> {
        self.life
            .boundary(&self.world, Fault::CrashBeforeReply)
            .await;
        for (to, reply) in replies {
            self.reply(to, reply).await?;
        }
        self.life
            .boundary(&self.world, Fault::CrashAfterReply)
            .await;
        Ok(())
    }

    async fn append(&self, envelope: &CommandEnvelope) -> Result<(), LogError> {
        self.life.alive().await;
        self.world.append(envelope.clone(), None);
        Ok(())
    }

    async fn resubmit(
        &self,
        command: &LoggedCommand,
        envelope: &CommandEnvelope,
    ) -> Result<(), LogError> {
        self.life.alive().await;
        let first = self
            .world
            .lock()
            .resubmitted
            .insert((envelope.command_id, command.seq));
        if first {
            self.world
                .append(envelope.clone(), command.reply_to.clone());
        }
        Ok(())
    }

    async fn forward(&self, command: &LoggedCommand, to: &PartitionId) -> Result<(), LogError> {
        let dedupe = forward_dedupe(command);
        self.append_once(to, dedupe, command.entry.clone(), command.reply_to.clone())
            .await
    }

    async fn append_to(&self, to: &PartitionId, entry: &LogEntry) -> Result<(), LogError> {
        let dedupe = match entry {
            LogEntry::Command(envelope) => envelope.command_id.0.to_string(),
            LogEntry::Handover(handover) => format!("handover:{}", handover.request_id),
            LogEntry::Malformed { detail } => detail.clone(),
        };
        self.append_once(to, dedupe, entry.clone(), None).await
    }
}

impl SimLog {
    /// Append to partition `to` unless an entry with the same `dedupe` id is stored already.
    async fn append_once(
        &self,
        to: &PartitionId,
        dedupe: String,
        entry: LogEntry,
        reply_to: Option<ReplyTo>,
    ) -> Result<(), LogError> {
        self.life.alive().await;
        let partition =
            to.0.parse::<u16>()
                .ok()
                .filter(|p| *p < self.world.partitions)
                .ok_or_else(|| LogError::Fatal(format!("no partition {to}").into()))?;
        let first = self.world.lock().appended_once.insert(dedupe);
        if first {
            self.world.append_to(partition, entry, reply_to);
        }
        Ok(())
    }
}
