//! Every show's [`ShowQueue`] in this process, kept current by the log (the embedded writer after
//! each commit, the JetStream follower on each delivered message), with a change signal per show
//! for live pushes and the highest applied log position for read-your-write waits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use schemas::ShowId;
use tokio::sync::watch;

use crate::fold::{JoinOutcome, QueueEvent, ShowQueue};

/// One show's queue and its change signal.
#[derive(Debug)]
pub struct ShowSlot {
    queue: Mutex<ShowQueue>,
    changed: watch::Sender<u64>,
}

impl ShowSlot {
    fn new(show: ShowId) -> ShowSlot {
        ShowSlot {
            queue: Mutex::new(ShowQueue::new(show)),
            changed: watch::Sender::new(0),
        }
    }

    /// Read the queue.
    pub fn read<R>(&self, f: impl FnOnce(&ShowQueue) -> R) -> R {
        f(&self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, ShowQueue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A receiver that wakes whenever the queue (or what buyers see of it) changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Wake watchers: something they show changed (an event, or the show's seats).
    pub fn notify(&self) {
        self.changed.send_modify(|n| *n += 1);
    }
}

/// The queues of every show this process has seen events for.
#[derive(Debug)]
pub struct Folds {
    shows: RwLock<HashMap<ShowId, Arc<ShowSlot>>>,
    applied: watch::Sender<u64>,
}

impl Default for Folds {
    fn default() -> Self {
        Folds {
            shows: RwLock::new(HashMap::new()),
            applied: watch::Sender::new(0),
        }
    }
}

impl Folds {
    /// The slot of `show`, if any event of it was applied.
    pub fn slot(&self, show: ShowId) -> Option<Arc<ShowSlot>> {
        self.shows
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&show)
            .cloned()
    }

    /// The slot of `show`, created empty when missing (watchers may subscribe before any event).
    pub fn slot_or_new(&self, show: ShowId) -> Arc<ShowSlot> {
        if let Some(slot) = self.slot(show) {
            return slot;
        }
        self.shows
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(show)
            .or_insert_with(|| Arc::new(ShowSlot::new(show)))
            .clone()
    }

    /// Every show with a slot.
    pub fn shows(&self) -> Vec<ShowId> {
        self.shows
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .copied()
            .collect()
    }

    /// Apply `event` of `show` at log position `rev` and wake the show's watchers.
    pub fn apply(&self, show: ShowId, event: &QueueEvent, rev: u64) -> Option<JoinOutcome> {
        let slot = self.slot_or_new(show);
        let outcome = slot.lock().apply(event, rev);
        slot.notify();
        outcome
    }

    /// Record that every log position up to `rev` has been applied.
    pub fn mark_applied(&self, rev: u64) {
        self.applied.send_if_modified(|applied| {
            let newer = rev > *applied;
            if newer {
                *applied = rev;
            }
            newer
        });
    }

    /// Highest log position applied.
    pub fn applied(&self) -> u64 {
        *self.applied.borrow()
    }

    /// Wait until position `rev` has been applied; `false` if `timeout` passed first.
    pub async fn wait_applied(&self, rev: u64, timeout: Duration) -> bool {
        let mut rx = self.applied.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|applied| *applied >= rev))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}
