//! The sandbox's durable state: a redb file (`payments.redb`) holding every authorization and every
//! remembered key outcome. Changes are applied in memory first, queued here, and written by one
//! writer task that commits whatever is queued in one transaction (group commit), so a burst of
//! confirms costs one fsync, not one each. A caller answers only after its change is durable.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use crate::model::{Authorization, AuthorizationId, PaymentError};

/// File name of the sandbox database inside its directory.
pub const FILE_NAME: &str = "payments.redb";

const AUTHORIZATIONS: TableDefinition<u128, &[u8]> = TableDefinition::new("authorizations");
const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("keys");

/// The remembered outcome of one (operation, key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// What was asked (operation, id, amounts): a different request under the key is refused.
    pub fingerprint: String,
    /// The first answer.
    pub outcome: Result<Authorization, PaymentError>,
}

/// One change to make durable.
#[derive(Clone, Debug)]
pub enum Change {
    /// An authorization's new state.
    Authorization(Authorization),
    /// A key's outcome (`scoped_key` is `"<operation>:<key>"`).
    Key {
        /// Operation-scoped key.
        scoped_key: String,
        /// The outcome.
        record: KeyRecord,
    },
}

/// Durability progress: every change with a sequence number up to `seq` is on disk.
#[derive(Clone, Debug, Default)]
struct Durable {
    seq: u64,
    failed: Option<String>,
}

/// What the journal loaded at open.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Every authorization.
    pub authorizations: HashMap<AuthorizationId, Authorization>,
    /// Every remembered key outcome.
    pub keys: HashMap<String, KeyRecord>,
}

/// Queue of changes waiting for the writer task, and the durability watermark.
pub struct Journal {
    pending: Mutex<Vec<(u64, Change)>>,
    wake: mpsc::Sender<()>,
    durable: Arc<watch::Sender<Durable>>,
    /// Owned here (the writer borrows it per batch) so the file closes as soon as the journal is
    /// dropped and the directory can be opened again at once.
    db: Arc<Database>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").finish_non_exhaustive()
    }
}

impl Journal {
    /// Opens (or creates) `<dir>/payments.redb`, loads its contents and starts the writer task
    /// (it ends when the journal is dropped, after writing what is queued).
    pub fn open(dir: &Path) -> Result<(Arc<Journal>, Loaded), PaymentError> {
        std::fs::create_dir_all(dir).map_err(storage)?;
        let db = Database::create(dir.join(FILE_NAME)).map_err(storage)?;
        let txn = db.begin_write().map_err(storage)?;
        txn.open_table(AUTHORIZATIONS).map_err(storage)?;
        txn.open_table(KEYS).map_err(storage)?;
        txn.commit().map_err(storage)?;
        let loaded = load(&db)?;
        // One pending wake-up is enough: the writer drains everything queued when it runs.
        let (wake, woken) = mpsc::channel(1);
        let durable = Arc::new(watch::channel(Durable::default()).0);
        let journal = Arc::new(Journal {
            pending: Mutex::new(Vec::new()),
            wake,
            durable: Arc::clone(&durable),
            db: Arc::new(db),
        });
        tokio::spawn(writer(Arc::downgrade(&journal), durable, woken));
        Ok((journal, loaded))
    }

    /// Queues changes under sequence number `seq` (callers number them in the order they
    /// applied them in memory).
    pub fn push(&self, seq: u64, changes: Vec<Change>) {
        {
            let mut pending = self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            pending.extend(changes.into_iter().map(|c| (seq, c)));
        }
        // Full means a wake-up is already pending, which will pick these up too.
        let _ = self.wake.try_send(());
    }

    /// Waits until every change numbered `seq` or lower is on disk.
    pub async fn wait_durable(&self, seq: u64) -> Result<(), PaymentError> {
        let mut rx = self.durable.subscribe();
        let state = rx
            .wait_for(|d| d.seq >= seq || d.failed.is_some())
            .await
            .map_err(|_| PaymentError::Storage {
                message: "payment journal stopped".into(),
            })?;
        match &state.failed {
            Some(message) => Err(PaymentError::Storage {
                message: message.clone(),
            }),
            None => Ok(()),
        }
    }

    fn take(&self) -> Vec<(u64, Change)> {
        std::mem::take(
            &mut *self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

async fn writer(
    journal: std::sync::Weak<Journal>,
    durable: Arc<watch::Sender<Durable>>,
    mut woken: mpsc::Receiver<()>,
) {
    loop {
        let wake = woken.recv().await;
        // Hold neither the journal nor the database while callers are told their change is durable:
        // a caller that then drops the provider must find the file closed.
        let (batch, db) = match journal.upgrade() {
            Some(j) => (j.take(), Arc::clone(&j.db)),
            None => return,
        };
        if let Some(seq) = batch.iter().map(|(s, _)| *s).max() {
            let written = tokio::task::spawn_blocking(move || write(&db, &batch))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r);
            match written {
                Ok(()) => durable.send_modify(|d| d.seq = d.seq.max(seq)),
                Err(message) => {
                    tracing::error!(%message, "payment journal write failed; refusing further payments");
                    durable.send_modify(|d| d.failed = Some(message));
                    return;
                }
            }
        }
        if wake.is_none() {
            return;
        }
    }
}

fn write(db: &Database, batch: &[(u64, Change)]) -> Result<(), String> {
    let txn = db.begin_write().map_err(|e| e.to_string())?;
    {
        let mut auths = txn.open_table(AUTHORIZATIONS).map_err(|e| e.to_string())?;
        let mut keys = txn.open_table(KEYS).map_err(|e| e.to_string())?;
        // Later changes of the same row come later in the batch and overwrite earlier ones.
        for (_, change) in batch {
            match change {
                Change::Authorization(a) => {
                    let bytes = serde_json::to_vec(a).map_err(|e| e.to_string())?;
                    auths
                        .insert(a.authorization_id.0.as_u128(), bytes.as_slice())
                        .map_err(|e| e.to_string())?;
                }
                Change::Key { scoped_key, record } => {
                    let bytes = serde_json::to_vec(record).map_err(|e| e.to_string())?;
                    keys.insert(scoped_key.as_str(), bytes.as_slice())
                        .map_err(|e| e.to_string())?;
                }
            }
        }
    }
    txn.commit().map_err(|e| e.to_string())
}

fn load(db: &Database) -> Result<Loaded, PaymentError> {
    let txn = db.begin_read().map_err(storage)?;
    let mut loaded = Loaded::default();
    for entry in txn
        .open_table(AUTHORIZATIONS)
        .map_err(storage)?
        .iter()
        .map_err(storage)?
    {
        let (_, bytes) = entry.map_err(storage)?;
        let a: Authorization = serde_json::from_slice(bytes.value()).map_err(storage)?;
        loaded.authorizations.insert(a.authorization_id, a);
    }
    for entry in txn
        .open_table(KEYS)
        .map_err(storage)?
        .iter()
        .map_err(storage)?
    {
        let (key, bytes) = entry.map_err(storage)?;
        let record: KeyRecord = serde_json::from_slice(bytes.value()).map_err(storage)?;
        loaded.keys.insert(key.value().to_owned(), record);
    }
    Ok(loaded)
}

fn storage(e: impl std::fmt::Display) -> PaymentError {
    PaymentError::Storage {
        message: e.to_string(),
    }
}
