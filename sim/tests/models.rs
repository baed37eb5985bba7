//! The simulated seams keep the semantics the loop relies on (with faults off): the store's
//! conditional write, the consumer's cumulative ack, restart from the ack floor and single pin.

use std::sync::Arc;
use std::time::Duration;

use processors::fixtures;
use processors::log::{CommandLog, LogError};
use processors::store::{Fence, PersistOutcome, ShowStore, ShowWrite};
use schemas::{ShowId, UnixMs};
use sim::store::SimStore;
use sim::world::{Incarnation, VirtualClock, World};
use uuid::Uuid;

fn world() -> Arc<World> {
    World::new(1, 1, Arc::new(VirtualClock::new(UnixMs(1_000))))
}

fn write(show: ShowId, expected: Option<Fence>, seq: u64, epoch: u64) -> ShowWrite {
    ShowWrite {
        show_id: show,
        expected,
        next: Fence {
            applied_seq: seq,
            owner_epoch: epoch,
            partition: None,
        },
        version: seq,
        rows: Vec::new(),
    }
}

#[tokio::test(start_paused = true)]
async fn a_write_applies_only_on_the_fence_it_expects() {
    let world = world();
    let store = SimStore::new(world.clone(), Incarnation::new());
    let show = ShowId(Uuid::from_u128(7));
    let first = write(show, None, 1, 1);
    assert_eq!(
        store.persist(&first).await.unwrap(),
        PersistOutcome::Applied
    );
    // A stale writer (expects the show unwritten) is refused and told what it found.
    assert_eq!(
        store.persist(&write(show, None, 2, 1)).await.unwrap(),
        PersistOutcome::NotApplied {
            current: Some(first.next.clone())
        }
    );
    // Same sequence, other epoch: refused too (the owner epoch is part of the fence).
    let other_epoch = Fence {
        applied_seq: 1,
        owner_epoch: 2,
        partition: None,
    };
    assert!(matches!(
        store
            .persist(&write(show, Some(other_epoch), 2, 2))
            .await
            .unwrap(),
        PersistOutcome::NotApplied { .. }
    ));
    assert_eq!(
        store
            .persist(&write(show, Some(first.next), 2, 1))
            .await
            .unwrap(),
        PersistOutcome::Applied
    );
}

#[tokio::test(start_paused = true)]
async fn a_new_session_takes_the_pin_and_starts_after_the_ack_floor() {
    let world = world();
    let show = fixtures::show(1);
    for n in 0..3 {
        world.append(
            fixtures::hold(show, n, fixtures::user(1), &[n as u32], 1_000),
            None,
        );
    }
    let old_life = Incarnation::new();
    let mut old = sim::log::SimLog::open(world.clone(), 0, old_life);
    let batch = old.next_batch(10, Duration::from_millis(10)).await.unwrap();
    assert_eq!(batch.iter().map(|c| c.seq).collect::<Vec<_>>(), [1, 2, 3]);
    old.ack_through(2).await.unwrap();
    let mut new = sim::log::SimLog::open(world.clone(), 0, Incarnation::new());
    assert!(matches!(
        old.next_batch(10, Duration::from_millis(10)).await,
        Err(LogError::Unavailable(_))
    ));
    let again = new.next_batch(10, Duration::from_millis(10)).await.unwrap();
    assert_eq!(again.iter().map(|c| c.seq).collect::<Vec<_>>(), [3]);
    // Nothing more: an idle wait returns empty, and no gap is reported.
    assert!(
        new.next_batch(10, Duration::from_millis(10))
            .await
            .unwrap()
            .is_empty()
    );
}
