//! The stores of the `Idempotency-Key` index ([`usecases::idempotency::IdempotencyIndex`]): a redb
//! file under the data dir in dev mode, a NATS KV bucket shared by every ingress in serve mode.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redb::ReadableTable as _;
use schemas::{CommandId, Fingerprint};
use usecases::idempotency::{Claim, IdempotencyIndex, IndexError, KEY_TTL};

const TABLE: redb::TableDefinition<'static, u128, (&[u8], i64)> =
    redb::TableDefinition::new("idempotency");

/// The embedded-mode index: a redb file under the data dir.
#[derive(Clone)]
pub struct EmbeddedIndex {
    db: Arc<redb::Database>,
    /// Keys expire by it.
    clock: clock::SharedClock,
}

impl std::fmt::Debug for EmbeddedIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EmbeddedIndex")
    }
}

fn storage(e: impl std::fmt::Display) -> IndexError {
    IndexError::Unavailable(e.to_string())
}

impl EmbeddedIndex {
    /// Open (or create) the index file at `path`.
    pub fn open(path: &Path, clock: clock::SharedClock) -> Result<Self, IndexError> {
        let db = redb::Database::create(path).map_err(storage)?;
        let tx = db.begin_write().map_err(storage)?;
        tx.open_table(TABLE).map_err(storage)?;
        tx.commit().map_err(storage)?;
        Ok(Self {
            db: Arc::new(db),
            clock,
        })
    }

    fn claim_blocking(
        &self,
        command: CommandId,
        fingerprint: Fingerprint,
        now_ms: i64,
    ) -> Result<Claim, IndexError> {
        let tx = self.db.begin_write().map_err(storage)?;
        let claim = {
            let mut table = tx.open_table(TABLE).map_err(storage)?;
            let key = command.0.as_u128();
            let live = table.get(key).map_err(storage)?.and_then(|entry| {
                let (stored, at_ms) = entry.value();
                (now_ms - at_ms < KEY_TTL.as_millis() as i64)
                    .then(|| Claim::of_stored(stored, &fingerprint))
            });
            match live {
                Some(claim) => claim,
                None => {
                    table
                        .insert(key, (&fingerprint.0[..], now_ms))
                        .map_err(storage)?;
                    Claim::New
                }
            }
        };
        tx.commit().map_err(storage)?;
        Ok(claim)
    }

    /// Drop keys older than the TTL; returns how many were dropped.
    pub fn purge_expired(&self) -> Result<usize, IndexError> {
        let cutoff = self.clock.now().0 - KEY_TTL.as_millis() as i64;
        let tx = self.db.begin_write().map_err(storage)?;
        let mut dropped = 0;
        {
            let mut table = tx.open_table(TABLE).map_err(storage)?;
            table
                .retain(|_, (_, at_ms)| {
                    let keep = at_ms >= cutoff;
                    dropped += usize::from(!keep);
                    keep
                })
                .map_err(storage)?;
        }
        tx.commit().map_err(storage)?;
        Ok(dropped)
    }

    /// Purge expired keys every `every` until the returned task is aborted.
    pub fn spawn_janitor(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let index = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let index = index.clone();
                match tokio::task::spawn_blocking(move || index.purge_expired()).await {
                    Ok(Ok(n)) if n > 0 => tracing::debug!(dropped = n, "purged idempotency keys"),
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "idempotency purge failed"),
                    Err(e) => tracing::warn!(error = %e, "idempotency purge task failed"),
                }
            }
        })
    }
}

#[async_trait]
impl IdempotencyIndex for EmbeddedIndex {
    async fn claim(
        &self,
        command: CommandId,
        fingerprint: Fingerprint,
    ) -> Result<Claim, IndexError> {
        let index = self.clone();
        let now = self.clock.now().0;
        tokio::task::spawn_blocking(move || index.claim_blocking(command, fingerprint, now))
            .await
            .map_err(storage)?
    }
}

/// Name of the serve-mode KV bucket.
pub const KV_BUCKET: &str = "BOXOFFICE_IDEMPOTENCY";

/// The serve-mode index: a NATS KV bucket whose entries live [`KEY_TTL`]; `create` is the
/// create-only put, so two ingress processes racing on one key agree on the first request.
#[derive(Clone)]
pub struct KvIndex {
    store: async_nats::jetstream::kv::Store,
}

impl std::fmt::Debug for KvIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KvIndex")
    }
}

impl KvIndex {
    /// Open the bucket, creating it (replicated `replicas` times) when missing.
    pub async fn open(
        js: &async_nats::jetstream::Context,
        replicas: usize,
    ) -> Result<Self, IndexError> {
        let store = match js.get_key_value(KV_BUCKET).await {
            Ok(store) => store,
            Err(_) => js
                .create_key_value(async_nats::jetstream::kv::Config {
                    bucket: KV_BUCKET.to_owned(),
                    description: "Idempotency-Key -> request fingerprint (24 h)".to_owned(),
                    history: 1,
                    max_age: KEY_TTL,
                    num_replicas: replicas.max(1),
                    ..Default::default()
                })
                .await
                .map_err(storage)?,
        };
        Ok(Self { store })
    }
}

#[async_trait]
impl IdempotencyIndex for KvIndex {
    async fn claim(
        &self,
        command: CommandId,
        fingerprint: Fingerprint,
    ) -> Result<Claim, IndexError> {
        use async_nats::jetstream::kv::CreateErrorKind;
        let key = command.0.simple().to_string();
        let value = bytes::Bytes::copy_from_slice(&fingerprint.0);
        match self.store.create(&key, value).await {
            Ok(_) => Ok(Claim::New),
            Err(e) if e.kind() == CreateErrorKind::AlreadyExists => {
                let stored = self.store.get(&key).await.map_err(storage)?;
                // Gone between the two calls: it just expired, so this use starts afresh.
                Ok(stored.map_or(Claim::New, |v| Claim::of_stored(&v, &fingerprint)))
            }
            Err(e) => Err(storage(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use usecases::idempotency::fingerprint;
    use uuid::Uuid;

    #[tokio::test]
    async fn first_claim_is_new_then_retry_or_reused_and_survives_reopen() {
        let dir = std::env::temp_dir().join(format!("idem-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("idempotency.redb");
        let cmd = CommandId(Uuid::from_u128(9));
        let one = fingerprint("hold", &["a"]);
        let two = fingerprint("hold", &["b"]);
        let clock = Arc::new(clock::ManualClock::new(schemas::UnixMs(1_800_000_000_000)));
        {
            let index = EmbeddedIndex::open(&path, clock.clone()).unwrap();
            assert_eq!(index.claim(cmd, one).await.unwrap(), Claim::New);
            assert_eq!(index.claim(cmd, one).await.unwrap(), Claim::Retry);
            assert_eq!(index.claim(cmd, two).await.unwrap(), Claim::Reused);
        }
        let index = EmbeddedIndex::open(&path, clock.clone()).unwrap();
        assert_eq!(index.claim(cmd, two).await.unwrap(), Claim::Reused);
        assert_eq!(index.purge_expired().unwrap(), 0);
        // A key past its TTL is forgotten: the next use starts afresh.
        clock.advance(KEY_TTL.as_millis() as i64 + 1);
        assert_eq!(index.claim(cmd, two).await.unwrap(), Claim::New);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
