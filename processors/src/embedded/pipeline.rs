//! [`DevPipeline`]: the embedded pipeline of `boxoffice dev`, in one process.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info};

use crate::embedded::{EmbeddedStore, LocalBus, MemLogHub};
use crate::events::EventHub;
use crate::partition::{LoopError, LoopExit, LoopSettings, Ownership, PartitionLoop};
use crate::reader::StateReader;
use crate::store::StoreError;
use crate::topology::PartitionId;

/// File name of the pipeline's store inside the data dir.
pub const PIPELINE_FILE: &str = "pipeline.redb";

/// The lease epoch of dev mode: one process owns every partition, always.
const DEV_EPOCH: u64 = 1;

/// Settings of the embedded pipeline.
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    /// Directory holding the store file (created if missing).
    pub data_dir: PathBuf,
    /// Number of partition loops.
    pub partitions: u16,
    /// How long a submitter waits for a decision.
    pub reply_timeout: Duration,
    /// Most commands per loop iteration.
    pub batch_size_max: usize,
    /// Keep the store in memory instead of the data dir (the flash-sale benchmark's REF-MEM:
    /// nothing survives the process).
    pub in_memory: bool,
    /// The one clock of the process: log times and the loops' reading of them.
    pub clock: clock::SharedClock,
}

impl PipelineConfig {
    /// Defaults with the store under `data_dir`.
    pub fn new(data_dir: PathBuf) -> PipelineConfig {
        PipelineConfig {
            data_dir,
            partitions: 2,
            reply_timeout: Duration::from_secs(5),
            batch_size_max: 64,
            in_memory: false,
            clock: clock::system(),
        }
    }
}

/// The embedded pipeline could not start.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// The data dir could not be created.
    #[error("cannot create data dir {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A running embedded pipeline: submit through [`DevPipeline::bus`], read through
/// [`DevPipeline::reader`], watch through [`DevPipeline::events`].
pub struct DevPipeline {
    hub: Arc<MemLogHub>,
    bus: LocalBus,
    store: Arc<EmbeddedStore>,
    reader: Arc<StateReader<EmbeddedStore>>,
    events: EventHub,
    stop: watch::Sender<bool>,
    loops: Vec<JoinHandle<Result<LoopExit, LoopError>>>,
}

impl std::fmt::Debug for DevPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevPipeline")
            .field("loops", &self.loops.len())
            .finish_non_exhaustive()
    }
}

impl DevPipeline {
    /// Open the store under the data dir and start one loop per partition.
    pub async fn start(config: PipelineConfig) -> Result<DevPipeline, DevError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| DevError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let store = Arc::new(if config.in_memory {
            EmbeddedStore::in_memory()?
        } else {
            EmbeddedStore::open(&config.data_dir.join(PIPELINE_FILE))?
        });
        let after = store.max_applied_seq()?;
        let (hub, logs) = MemLogHub::new(config.partitions, after, config.clock.clone());
        let events = EventHub::default();
        let (stop, stop_rx) = watch::channel(false);
        let mut loops = Vec::new();
        let partitions: Vec<PartitionId> = (0..hub.partitions())
            .map(|index| PartitionId(index.to_string()))
            .collect();
        for (index, log) in logs.into_iter().enumerate() {
            let mut settings = LoopSettings::new(PartitionId(index.to_string()));
            settings.known_partitions = Some(partitions.clone());
            settings.batch_size_max = config.batch_size_max;
            settings.clock = config.clock.clone();
            let partition_loop = PartitionLoop::new(
                settings,
                Ownership::permanent(DEV_EPOCH),
                log,
                store.clone(),
                Arc::new(events.clone()),
                stop_rx.clone(),
            );
            loops.push(tokio::spawn(async move {
                let exit = partition_loop.run().await;
                if let Err(e) = &exit {
                    error!(partition = index, error = %e, "dev partition loop failed");
                }
                exit
            }));
        }
        info!(
            partitions = config.partitions,
            after, "dev pipeline started"
        );
        Ok(DevPipeline {
            bus: LocalBus::new(hub.clone(), config.reply_timeout),
            hub,
            reader: Arc::new(StateReader::new(store.clone())),
            store,
            events,
            stop,
            loops,
        })
    }

    /// Where commands are submitted.
    pub fn bus(&self) -> LocalBus {
        self.bus.clone()
    }

    /// Reads that see every answered write.
    pub fn reader(&self) -> Arc<StateReader<EmbeddedStore>> {
        self.reader.clone()
    }

    /// Seat deltas and booking facts as they are committed.
    pub fn events(&self) -> EventHub {
        self.events.clone()
    }

    /// The store (for tests and tools).
    pub fn store(&self) -> Arc<EmbeddedStore> {
        self.store.clone()
    }

    /// Whether every loop is still running.
    pub fn is_healthy(&self) -> bool {
        self.loops.iter().all(|handle| !handle.is_finished())
    }

    /// Refuse new commands, let the loops finish what is queued, and wait for them.
    pub async fn shutdown(self) -> Result<(), LoopError> {
        self.hub.close().await;
        let mut first_error = None;
        for handle in self.loops {
            match handle.await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(join) => error!(error = %join, "dev partition loop panicked"),
            }
        }
        // The loops exit on the closed log; the stop signal is for symmetry with serve mode.
        let _ = self.stop.send(true);
        first_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::CommandBus;
    use crate::fixtures::*;
    use crate::reader::ShowReader;
    use engine::{BookingStatus, HoldStatus};
    use schemas::{BookingId, Event, HoldId, Outcome, Rejection, SeatStatus};
    use uuid::Uuid;

    async fn start(dir: &std::path::Path) -> DevPipeline {
        DevPipeline::start(PipelineConfig::new(dir.to_path_buf()))
            .await
            .unwrap()
    }

    fn accepted(outcome: &Outcome) -> &[Event] {
        match outcome {
            Outcome::Accepted(events) => events,
            Outcome::Rejected(r) => panic!("rejected: {r:?}"),
        }
    }

    #[tokio::test]
    async fn an_in_memory_pipeline_decides_alike_and_writes_nothing_to_disk() {
        let dir = tempfile::tempdir().unwrap();
        let s = show(1);
        let mut config = PipelineConfig::new(dir.path().to_path_buf());
        config.in_memory = true;
        let pipeline = DevPipeline::start(config).await.unwrap();
        let bus = pipeline.bus();
        accepted(&bus.submit(create(s, 20)).await.unwrap().outcome);
        accepted(
            &bus.submit(hold(s, 10, user(1), &[0, 1], 600_000))
                .await
                .unwrap()
                .outcome,
        );
        let clash = bus
            .submit(hold(s, 11, user(2), &[1], 600_000))
            .await
            .unwrap();
        assert!(matches!(
            clash.outcome,
            Outcome::Rejected(Rejection::SeatsUnavailable { .. })
        ));
        pipeline.shutdown().await.unwrap();
        assert!(!dir.path().join(PIPELINE_FILE).exists());
        // A restart starts empty: the show is gone with the process.
        let again = start(dir.path()).await;
        assert!(again.reader().show(s).await.unwrap().is_none());
        again.shutdown().await.unwrap();
    }

    /// Hold and booking ids that carry their show's tag are found through the show's one tag
    /// row: the pipeline writes no lookup row of their own, yet a reader finds both at once.
    #[tokio::test]
    async fn tagged_ids_are_found_without_a_lookup_row_of_their_own() {
        use crate::store::{LookupKind, ShowStore};
        let dir = tempfile::tempdir().unwrap();
        let s = show(1);
        let alice = user(1);
        let pipeline = start(dir.path()).await;
        let bus = pipeline.bus();
        accepted(&bus.submit(create(s, 20)).await.unwrap().outcome);
        let hold = HoldId::for_show(s, &Uuid::from_u128(77));
        let booking = BookingId::of_hold(hold);
        let command = hold_command(s, hold, alice, &[0, 1], 600_000, limits(10));
        accepted(&bus.submit(envelope(s, 10, command)).await.unwrap().outcome);
        let confirm = schemas::Command::Confirm {
            hold_id: hold,
            user: alice,
            booking_id: booking,
            payment_ref: "pay".into(),
        };
        accepted(&bus.submit(envelope(s, 11, confirm)).await.unwrap().outcome);

        let store = pipeline.store();
        assert_eq!(store.lookup(hold.0, LookupKind::Hold).await.unwrap(), None);
        assert_eq!(
            store.lookup(booking.0, LookupKind::Booking).await.unwrap(),
            None
        );
        let reader = pipeline.reader();
        let (_, view) = reader.hold(hold).await.unwrap().expect("the hold");
        assert_eq!(view.status, HoldStatus::Confirmed);
        let (_, found) = reader.booking(booking).await.unwrap().expect("the booking");
        assert_eq!(found.status, BookingStatus::Confirmed);
        // A tagged id of a show that holds no such hold is not found.
        let stranger = HoldId::for_show(s, &Uuid::from_u128(78));
        assert!(reader.hold(stranger).await.unwrap().is_none());
        pipeline.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn hold_confirm_and_release_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let s = show(1);
        let (alice, bob) = (user(1), user(2));
        let pipeline = start(dir.path()).await;
        let mut seat_events = pipeline.events().subscribe_seats();
        let bus = pipeline.bus();
        accepted(&bus.submit(create(s, 20)).await.unwrap().outcome);
        let held = bus
            .submit(hold(s, 10, alice, &[0, 1], 600_000))
            .await
            .unwrap();
        assert!(matches!(accepted(&held.outcome)[0], Event::Held { .. }));
        let clash = bus
            .submit(hold(s, 11, bob, &[1, 2], 600_000))
            .await
            .unwrap();
        assert!(matches!(
            clash.outcome,
            Outcome::Rejected(Rejection::SeatsUnavailable { .. })
        ));
        accepted(
            &bus.submit(hold(s, 12, bob, &[5], 600_000))
                .await
                .unwrap()
                .outcome,
        );
        accepted(&bus.submit(confirm(s, 13, 10, alice)).await.unwrap().outcome);
        accepted(&bus.submit(release(s, 14, 12, bob)).await.unwrap().outcome);

        // Read-your-writes by id, straight after the replies.
        let reader = pipeline.reader();
        let (_, hold_view) = reader.hold(hold_id(10)).await.unwrap().unwrap();
        assert_eq!(hold_view.status, HoldStatus::Confirmed);
        let booking_id = hold_view.booking_id.unwrap();
        let (_, booking) = reader.booking(booking_id).await.unwrap().unwrap();
        assert_eq!(booking.status, BookingStatus::Confirmed);
        // Current seats come from the show itself (a by-id read's snapshot is for fixed facts).
        let snapshot = reader.show(s).await.unwrap().unwrap();
        assert_eq!(
            snapshot.state.seat_status_by_id(seat(s, 0)),
            Some(SeatStatus::Booked)
        );
        assert_eq!(
            snapshot.state.seat_status_by_id(seat(s, 5)),
            Some(SeatStatus::Available)
        );
        let page = reader.user_bookings(alice, 0, 10).await.unwrap();
        assert_eq!((page.total, page.items.len()), (1, 1));

        // Seat deltas chain: each starts where the previous ended.
        let mut previous = None;
        while let Ok(delta) = seat_events.try_recv() {
            if let Some(prev) = previous {
                assert_eq!(delta.from_version, prev);
            }
            assert!(delta.version > delta.from_version);
            previous = Some(delta.version);
        }
        assert_eq!(previous, Some(snapshot.version));
        drop((reader, snapshot));
        pipeline.shutdown().await.unwrap();

        let pipeline = start(dir.path()).await;
        let reader = pipeline.reader();
        let snapshot = reader.show(s).await.unwrap().unwrap();
        assert_eq!(
            snapshot.state.seat_status_by_id(seat(s, 1)),
            Some(SeatStatus::Booked)
        );
        assert_eq!(
            snapshot.state.seat_status_by_id(seat(s, 5)),
            Some(SeatStatus::Available)
        );
        // A retry of an applied command answers its first outcome and changes nothing.
        let again = pipeline
            .bus()
            .submit(hold(s, 10, alice, &[0, 1], 600_000))
            .await
            .unwrap();
        assert_eq!(again.outcome, held.outcome);
        // Sequences continue after the restart: the new command applies.
        accepted(
            &pipeline
                .bus()
                .submit(hold(s, 20, bob, &[7], 600_000))
                .await
                .unwrap()
                .outcome,
        );
        pipeline.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn expired_holds_free_their_seats_within_two_seconds() {
        let dir = tempfile::tempdir().unwrap();
        let s = show(2);
        let pipeline = start(dir.path()).await;
        let mut bookings = pipeline.events().subscribe_bookings();
        let bus = pipeline.bus();
        accepted(&bus.submit(create(s, 10)).await.unwrap().outcome);
        accepted(
            &bus.submit(hold(s, 30, user(1), &[3, 4], 300))
                .await
                .unwrap()
                .outcome,
        );
        let deadline = tokio::time::Instant::now() + Duration::from_millis(300 + 2000);
        loop {
            let snapshot = pipeline.reader().show(s).await.unwrap().unwrap();
            if snapshot.state.seat_status_by_id(seat(s, 3)) == Some(SeatStatus::Available) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "seats not freed in time"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut expired = false;
        while let Ok(event) = bookings.try_recv() {
            expired |= matches!(event.event, Event::Expired { .. });
        }
        assert!(expired, "an Expired fact was published");
        let late = bus.submit(confirm(s, 31, 30, user(1))).await.unwrap();
        assert_eq!(late.outcome, Outcome::Rejected(Rejection::HoldExpired));
        pipeline.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn holds_due_while_stopped_expire_after_restart() {
        let dir = tempfile::tempdir().unwrap();
        let s = show(3);
        let pipeline = start(dir.path()).await;
        let bus = pipeline.bus();
        accepted(&bus.submit(create(s, 10)).await.unwrap().outcome);
        accepted(
            &bus.submit(hold(s, 40, user(1), &[1], 200))
                .await
                .unwrap()
                .outcome,
        );
        pipeline.shutdown().await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;

        let pipeline = start(dir.path()).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        loop {
            // Read the stored seat row, not a lazily computed status: the Expire must have run.
            let snapshot = pipeline.reader().show(s).await.unwrap().unwrap();
            if snapshot.state.available_seats() == 10 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "expiry not resumed after restart"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        pipeline.shutdown().await.unwrap();
    }
}
