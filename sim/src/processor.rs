//! One supervisor per partition, as `boxoffice processor` runs them: take the lease (a new
//! epoch), open the consumer, run the real [`PartitionLoop`] until it ends, crashes or loses its
//! lease, and start again. Lease faults come from here: a takeover by a newer epoch while the
//! old loop still works (it learns of it only at its next lease check or fence conflict), and
//! a lease lost mid-batch.

use std::sync::Arc;
use std::time::Duration;

use clock::SkewedClock;
use processors::log::LogError;
use processors::partition::{LoopError, LoopExit, LoopSettings, Ownership, PartitionLoop};
use processors::topology::PartitionId;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::log::SimLog;
use crate::payments::SimTickets;
use crate::sink::SimSink;
use crate::store::SimStore;
use crate::world::{Fault, Incarnation, World};

/// A running loop and what controls it.
struct Running {
    task: JoinHandle<Result<LoopExit, LoopError>>,
    held: watch::Sender<bool>,
    life: Arc<Incarnation>,
}

/// What ended an incarnation.
enum End {
    /// The loop returned.
    Returned(Result<LoopExit, LoopError>),
    /// The process died.
    Crashed,
    /// A newer processor took the lease; the old one goes on until it notices.
    TakenOver,
    /// The lease lapsed and the loop was told.
    LeaseLapsed,
}

/// Run `partition`'s processors forever (the runtime drops this task at the end of the run).
pub async fn supervise(world: Arc<World>, partition: u16, tickets: Arc<SimTickets>) {
    let mut keep_epoch = None;
    loop {
        let epoch = keep_epoch
            .take()
            .unwrap_or_else(|| next_epoch(&world, partition));
        let mut running = start(&world, partition, epoch, &tickets);
        match watch_over(&world, &mut running).await {
            End::Returned(Err(LoopError::Log(LogError::Gap { .. }))) => {
                // Read again from the last acknowledged command; the lease is still ours.
                keep_epoch = Some(epoch);
            }
            End::Returned(Ok(_)) | End::Returned(Err(_)) | End::LeaseLapsed => {
                running.held.send_replace(false);
                pause(&world, 100..600).await;
            }
            End::Crashed => {
                running.task.abort();
                running.held.send_replace(false);
                // Until the dead owner's lease lapses.
                pause(&world, 500..2_000).await;
            }
            End::TakenOver => {
                let zombie_ms = world.lock().pick(50..2_000);
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(zombie_ms)).await;
                    running.held.send_replace(false);
                    let _ = running.task.await;
                });
            }
        }
    }
}

fn next_epoch(world: &World, partition: u16) -> u64 {
    let mut s = world.lock();
    let epoch = s.epochs.entry(partition).or_insert(0);
    *epoch += 1;
    *epoch
}

async fn pause(world: &World, ms: std::ops::Range<u64>) {
    let ms = world.lock().pick(ms);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Start a loop with lease `epoch`, its own clock skewed from true time and its own tuning.
fn start(world: &Arc<World>, partition: u16, epoch: u64, tickets: &Arc<SimTickets>) -> Running {
    let life = Incarnation::new();
    let (held, held_rx) = watch::channel(true);
    let mut settings = LoopSettings::new(PartitionId(partition.to_string()));
    {
        let mut s = world.lock();
        let skew = match s.pick(0..4) {
            0 => 0,
            1 => s.pick(0..4_000) as i64 - 2_000,
            2 => 60_000,
            _ => -60_000,
        };
        settings.clock = Arc::new(SkewedClock::new(world.clock.clone(), skew));
        world.trace(format_args!(
            "partition {partition}: processor with epoch {epoch} starts, its clock {skew} ms off"
        ));
        settings.batch_size_max = 1 + s.pick(0..16) as usize;
        settings.shows_cached_max = 1 + s.pick(0..3) as usize;
        // Half the loops linger for more commands when busy (a crash or takeover can then land
        // between a batch and its top-up).
        settings.linger = Duration::from_millis(s.pick(0..2) * (1 + s.pick(0..10)));
    }
    settings.batch_wait = Duration::from_millis(20);
    settings.backoff_max = Duration::from_millis(400);
    // Never told to stop: a loop ends by returning, crashing or losing its lease.
    let (_, stop) = watch::channel(false);
    let partition_loop = PartitionLoop::new(
        settings,
        Ownership::new(epoch, held_rx),
        SimLog::open(world.clone(), partition, life.clone()),
        Arc::new(SimStore::new(world.clone(), life.clone())),
        Arc::new(SimSink::new(world.clone(), life.clone(), tickets.clone())),
        stop,
    );
    Running {
        task: tokio::spawn(partition_loop.run()),
        held,
        life,
    }
}

/// Wait for the loop to end or die, now and then rolling for a lease fault.
async fn watch_over(world: &World, running: &mut Running) -> End {
    loop {
        let check_in = Duration::from_millis(world.lock().pick(200..3_000));
        tokio::select! {
            biased;
            returned = &mut running.task => {
                return match returned {
                    Ok(result) => End::Returned(result),
                    Err(e) if e.is_panic() => {
                        let failure = format!("a partition loop panicked: {e}");
                        world.lock().failures.push(failure);
                        End::Crashed
                    }
                    Err(_) => End::Crashed,
                };
            }
            () = running.life.died() => return End::Crashed,
            () = tokio::time::sleep(check_in) => {
                let mut s = world.lock();
                if s.roll(Fault::Takeover) {
                    return End::TakenOver;
                }
                if s.roll(Fault::LeaseExpiry) {
                    drop(s);
                    running.held.send_replace(false);
                    return End::LeaseLapsed;
                }
            }
        }
    }
}
