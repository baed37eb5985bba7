//! [`Lease`]: the right to process one partition, held in a NATS KV bucket with compare-and-set
//! on the entry's revision. Its epoch is the revision of the write that acquired it: KV
//! revisions grow across the whole bucket, so a later acquisition always has a larger epoch. The
//! epoch is stored as `owner_epoch` with every conditional batch, fencing out stale owners.

use std::time::Duration;

use async_nats::jetstream::kv;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use clock::SharedClock;

use crate::partition::Ownership;

/// A lease operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The bucket could not be reached.
    #[error("lease bucket unavailable: {0}")]
    Unavailable(#[source] crate::Cause),
}

/// A held lease; renewed in the background until released or lost.
pub struct Lease {
    store: kv::Store,
    key: String,
    owner: String,
    epoch: u64,
    revision: watch::Receiver<u64>,
    held: watch::Receiver<bool>,
    keeper: JoinHandle<()>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("key", &self.key)
            .field("epoch", &self.epoch)
            .finish()
    }
}

fn record(owner: &str, expires_at_ms: i64) -> bytes::Bytes {
    format!("{expires_at_ms} {owner}").into()
}

/// The owner a lease record names.
fn owner_of(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    text.split_once(' ')
        .map(|(_, owner)| owner.to_string())
        .unwrap_or_default()
}

fn expires_at(value: &[u8]) -> i64 {
    let text = String::from_utf8_lossy(value);
    text.split(' ')
        .next()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}

impl Lease {
    /// Try to take the lease `key` for `owner`: succeeds if nobody holds it, its holder let it
    /// lapse for `ttl` by `clock` (the fence, not the clocks, keeps a skewed taker from
    /// writing over a live owner), or its holder is `owner` itself: a process that gave a lease up
    /// because it could not renew it (its link to NATS was down) takes it back at once when the
    /// record still names it, rather than waiting out its own TTL; nobody else took it meanwhile,
    /// or the record would name them. Owner names must be unique per process. `Ok(None)`:
    /// someone else holds it.
    pub async fn acquire(
        store: kv::Store,
        key: &str,
        owner: &str,
        ttl: Duration,
        clock: SharedClock,
    ) -> Result<Option<Lease>, LeaseError> {
        let now = clock.now().0;
        let value = record(owner, now + ttl.as_millis() as i64);
        let entry = store
            .entry(key)
            .await
            .map_err(|e| LeaseError::Unavailable(e.into()))?;
        let written = match entry {
            None => store.create(key, value).await.ok(),
            Some(entry) => {
                let vacant = entry.operation != kv::Operation::Put
                    || expires_at(&entry.value) < now
                    || owner_of(&entry.value) == owner;
                if !vacant {
                    return Ok(None);
                }
                store.update(key, value, entry.revision).await.ok()
            }
        };
        let Some(revision) = written else {
            return Ok(None);
        };
        info!(key, owner, epoch = revision, "lease acquired");
        let (revision_tx, revision_rx) = watch::channel(revision);
        let (held_tx, held_rx) = watch::channel(true);
        let keeper = tokio::spawn(keep(
            store.clone(),
            key.to_string(),
            owner.to_string(),
            ttl,
            clock,
            revision_tx,
            held_tx,
        ));
        Ok(Some(Lease {
            store,
            key: key.to_string(),
            owner: owner.to_string(),
            epoch: revision,
            revision: revision_rx,
            held: held_rx,
            keeper,
        }))
    }

    /// The lease epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Whether the lease is still held.
    pub fn is_held(&self) -> bool {
        *self.held.borrow()
    }

    /// The partition loop's view of this lease.
    pub fn ownership(&self) -> Ownership {
        Ownership::new(self.epoch, self.held.clone())
    }

    /// Stop renewing and hand the lease back at once, so a standby takes over without waiting
    /// for it to lapse.
    pub async fn release(self) {
        self.keeper.abort();
        let _ = self.keeper.await;
        if !*self.held.borrow() {
            return;
        }
        let revision = *self.revision.borrow();
        match self
            .store
            .update(&self.key, record(&self.owner, 0), revision)
            .await
        {
            Ok(_) => info!(key = %self.key, "lease released"),
            Err(e) => warn!(key = %self.key, error = %e, "lease not released; it will lapse"),
        }
    }
}

/// Renew every third of the TTL. Losing a compare-and-set means someone else took the lease;
/// failing to renew for two thirds of the TTL means someone soon may: either way, stop holding
/// before another owner can start.
///
/// Each renewal is given one period to answer. A request sent just before the connection died
/// is never answered, and the client's own request timeout (5 s) outlasts the TTL: the fault
/// campaign saw a processor whose link was cut for 2 s keep a renewal pending until 3.5 s after
/// it had reconnected, believing all the while that it held leases that had lapsed and that
/// another processor had taken (both then recreated one partition's consumer in turn).
async fn keep(
    store: kv::Store,
    key: String,
    owner: String,
    ttl: Duration,
    clock: SharedClock,
    revision: watch::Sender<u64>,
    held: watch::Sender<bool>,
) {
    let period = ttl / 3;
    let mut last_ok = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(period).await;
        let value = record(&owner, clock.now().0 + ttl.as_millis() as i64);
        let current = *revision.borrow();
        let renewal = tokio::time::timeout(period, store.update(&key, value, current)).await;
        let renewed =
            renewal.unwrap_or_else(|_| Err(kv::UpdateError::new(kv::UpdateErrorKind::TimedOut)));
        match renewed {
            Ok(next) => {
                revision.send_replace(next);
                last_ok = tokio::time::Instant::now();
            }
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                warn!(%key, "lease taken over");
                held.send_replace(false);
                return;
            }
            Err(e) => {
                warn!(%key, error = %e, "lease renewal failed");
                if last_ok.elapsed() >= ttl * 2 / 3 {
                    held.send_replace(false);
                    return;
                }
            }
        }
    }
}
