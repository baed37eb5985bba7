//! [`SimStore`]: the store as one processor incarnation sees it. Conditional writes on the fence
//! with the semantics of the CQL batch (`IF applied_seq = ? AND owner_epoch = ? AND
//! owner_partition = ?`), and seeded unavailability, timeouts that did or did not apply, and
//! crashes either side of a write.
//!
//! Every applied write is also checked against the ownership rule the fence exists for
//! (`owner-fence`): within a partition the writer's lease epoch never goes back (a stale
//! processor never writes after a newer one), and a show changes partition only by a handover
//! (the new fence names another partition with no epoch yet).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use processors::store::{
    Fence, IndexRows, LookupKind, PersistOutcome, Row, ShowStore, ShowWrite, StoreError,
    StoredShow, UserBookingRef,
};
use processors::topology::PartitionId;
use schemas::{ShowId, UnixMs, UserId};
use uuid::Uuid;

use crate::world::{Fault, Incarnation, World};

/// The shared store, through one incarnation.
pub struct SimStore {
    world: Arc<World>,
    life: Arc<Incarnation>,
}

impl SimStore {
    /// The store as `life` sees it.
    pub fn new(world: Arc<World>, life: Arc<Incarnation>) -> SimStore {
        SimStore { world, life }
    }

    /// Every call: the process must be alive, a little latency (so other processors interleave),
    /// and sometimes the store is unavailable.
    async fn call(&self) -> Result<(), StoreError> {
        self.life.alive().await;
        let pause = self.world.lock().pick(0..3);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        self.life.alive().await;
        if self.world.lock().roll(Fault::StoreUnavailable) {
            return Err(StoreError::Unavailable("simulated outage".into()));
        }
        Ok(())
    }

    /// Apply `write` if the stored fence is the expected one.
    fn apply(&self, write: &ShowWrite) -> PersistOutcome {
        let mut s = self.world.lock();
        let show = s.shows.entry(write.show_id).or_default();
        if show.fence != write.expected {
            return PersistOutcome::NotApplied {
                current: show.fence.clone(),
            };
        }
        let broken = owner_fence_broken(write);
        show.fence = Some(write.next.clone());
        show.version = write.version;
        for row in &write.rows {
            match &row.body {
                Some(body) => show.rows.insert((row.kind, row.id), body.clone()),
                None => show.rows.remove(&(row.kind, row.id)),
            };
        }
        s.failures.extend(broken);
        PersistOutcome::Applied
    }
}

/// The `owner-fence` violation `write` commits, if any.
fn owner_fence_broken(write: &ShowWrite) -> Option<String> {
    let before = write.expected.as_ref()?;
    let owner = before.partition.as_ref()?;
    let next = &write.next;
    let broken = match &next.partition {
        Some(partition) if partition == owner => next.owner_epoch < before.owner_epoch,
        // A handover names the new partition with no epoch of it yet.
        _ => next.owner_epoch != 0,
    };
    broken.then(|| {
        format!(
            "VIOLATION owner-fence: show {} was written at sequence {} as {:?} epoch {} over a \
             fence of partition {owner} epoch {} without a handover or with an older lease",
            write.show_id, next.applied_seq, next.partition, next.owner_epoch, before.owner_epoch
        )
    })
}

/// A stored show as the store returns it (`None` if never written).
pub fn stored(world: &World, show: ShowId) -> Option<StoredShow> {
    let s = world.lock();
    let data = s.shows.get(&show)?;
    Some(StoredShow {
        fence: data.fence.clone()?,
        version: data.version,
        rows: data
            .rows
            .iter()
            .map(|((kind, id), body)| Row {
                kind: *kind,
                id: *id,
                body: Some(body.clone()),
            })
            .collect(),
    })
}

#[async_trait]
impl ShowStore for SimStore {
    async fn load(&self, show: ShowId) -> Result<Option<StoredShow>, StoreError> {
        self.call().await?;
        Ok(stored(&self.world, show))
    }

    async fn read_fence(&self, show: ShowId) -> Result<Option<(Fence, u64)>, StoreError> {
        self.call().await?;
        let s = self.world.lock();
        Ok(s.shows
            .get(&show)
            .and_then(|d| d.fence.clone().map(|f| (f, d.version))))
    }

    async fn applied_seq(&self, show: ShowId) -> Result<Option<u64>, StoreError> {
        Ok(self.read_fence(show).await?.map(|(f, _)| f.applied_seq))
    }

    async fn read_row(
        &self,
        show: ShowId,
        kind: i8,
        id: Uuid,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.call().await?;
        let s = self.world.lock();
        Ok(s.shows
            .get(&show)
            .and_then(|d| d.rows.get(&(kind, id)).cloned()))
    }

    async fn write_index(&self, index: &IndexRows) -> Result<(), StoreError> {
        self.call().await?;
        let mut s = self.world.lock();
        for (id, kind, show) in &index.lookups {
            s.lookups.insert((*id, kind.code()), *show);
        }
        for entry in &index.user_bookings {
            if !s.user_bookings.contains(entry) {
                s.user_bookings.push(*entry);
            }
        }
        Ok(())
    }

    async fn persist(&self, write: &ShowWrite) -> Result<PersistOutcome, StoreError> {
        self.life
            .boundary(&self.world, Fault::CrashBeforePersist)
            .await;
        self.call().await?;
        if self.world.lock().roll(Fault::TimeoutNotApplied) {
            return Err(StoreError::Timeout);
        }
        let outcome = self.apply(write);
        self.world.trace(format_args!(
            "store: show {} {:?} -> {:?}: {:?}",
            write.show_id, write.expected, write.next, outcome
        ));
        if outcome == PersistOutcome::Applied {
            self.life
                .boundary(&self.world, Fault::CrashAfterPersist)
                .await;
            if self.world.lock().roll(Fault::TimeoutApplied) {
                return Err(StoreError::Timeout);
            }
        }
        Ok(outcome)
    }

    async fn set_expiry_hint(
        &self,
        partition: &PartitionId,
        show: ShowId,
        due: Option<UnixMs>,
    ) -> Result<(), StoreError> {
        self.call().await?;
        let mut s = self.world.lock();
        let key = (partition.0.clone(), show);
        match due {
            Some(due) => s.hints.insert(key, due),
            None => s.hints.remove(&key),
        };
        Ok(())
    }

    async fn expiry_hints(
        &self,
        partition: &PartitionId,
    ) -> Result<Vec<(ShowId, UnixMs)>, StoreError> {
        self.call().await?;
        let s = self.world.lock();
        Ok(s.hints
            .iter()
            .filter(|((p, _), _)| *p == partition.0)
            .map(|((_, show), due)| (*show, *due))
            .collect())
    }

    async fn lookup(&self, id: Uuid, kind: LookupKind) -> Result<Option<ShowId>, StoreError> {
        self.call().await?;
        Ok(self.world.lock().lookups.get(&(id, kind.code())).copied())
    }

    async fn user_bookings(
        &self,
        user: UserId,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<UserBookingRef>, usize), StoreError> {
        self.call().await?;
        let s = self.world.lock();
        let mut mine: Vec<UserBookingRef> = s
            .user_bookings
            .iter()
            .filter(|b| b.user == user)
            .copied()
            .collect();
        mine.sort_by_key(|b| std::cmp::Reverse(b.booked_at));
        let total = mine.len();
        Ok((mine.into_iter().skip(offset).take(limit).collect(), total))
    }
}
