//! The embedded store: show state in one redb file under the data dir. Every write is one redb
//! transaction that checks the fence first, so it has exactly the semantics of the CQL
//! conditional batch (and is durable when it returns).

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use schemas::{BookingId, ShowId, UnixMs, UserId};
use uuid::Uuid;

use crate::store::{
    Fence, IndexRows, LookupKind, PersistOutcome, Row, ShowStore, ShowWrite, StoreError,
    StoredShow, UserBookingRef,
};
use crate::topology::PartitionId;

/// (show, kind, id) -> row body.
const ROWS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("show_rows");
/// show -> (applied_seq, owner_epoch, version).
const FENCES: TableDefinition<&[u8], (u64, u64, u64)> = TableDefinition::new("show_fences");
/// show -> the partition its fence names ([`Fence::partition`]; absent for a show written by an
/// earlier build). A table of its own so that earlier builds' databases open unchanged.
const FENCE_OWNERS: TableDefinition<&[u8], &str> = TableDefinition::new("show_fence_owners");
/// (kind, id) -> show.
const LOOKUPS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("lookups");
/// (user, newest-first time, booking) -> show.
const USER_BOOKINGS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("user_bookings");
/// (partition, 0, show) -> due time.
const EXPIRY_HINTS: TableDefinition<&[u8], i64> = TableDefinition::new("expiry_hints");
/// Named counters: the highest log sequence any show has applied.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const MAX_APPLIED_SEQ: &str = "max_applied_seq";

/// Show state in an embedded redb database. Cloning shares the database.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore").finish_non_exhaustive()
    }
}

fn fatal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Fatal(e.to_string().into())
}

impl EmbeddedStore {
    /// Open (or create) the store file at `path`.
    pub fn open(path: &Path) -> Result<EmbeddedStore, StoreError> {
        EmbeddedStore::with_tables(Database::create(path).map_err(fatal)?)
    }

    /// A store that lives in memory only: nothing survives the process. For the flash-sale
    /// benchmark's REF-MEM system, the ceiling the pipeline is measured against (the engine
    /// and the HTTP front with no durable store); never for serving real sales.
    pub fn in_memory() -> Result<EmbeddedStore, StoreError> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(fatal)?;
        EmbeddedStore::with_tables(db)
    }

    fn with_tables(db: Database) -> Result<EmbeddedStore, StoreError> {
        let txn = db.begin_write().map_err(fatal)?;
        {
            txn.open_table(ROWS).map_err(fatal)?;
            txn.open_table(FENCES).map_err(fatal)?;
            txn.open_table(FENCE_OWNERS).map_err(fatal)?;
            txn.open_table(LOOKUPS).map_err(fatal)?;
            txn.open_table(USER_BOOKINGS).map_err(fatal)?;
            txn.open_table(EXPIRY_HINTS).map_err(fatal)?;
            txn.open_table(META).map_err(fatal)?;
        }
        txn.commit().map_err(fatal)?;
        Ok(EmbeddedStore { db: Arc::new(db) })
    }

    /// The highest log sequence any show has applied: the in-process log continues after it, so
    /// sequences are never reused across restarts.
    pub fn max_applied_seq(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(fatal)?;
        let meta = txn.open_table(META).map_err(fatal)?;
        Ok(meta
            .get(MAX_APPLIED_SEQ)
            .map_err(fatal)?
            .map_or(0, |v| v.value()))
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || work(&db))
            .await
            .map_err(|e| StoreError::Fatal(format!("store task failed: {e}").into()))?
    }
}

fn row_key(show: ShowId, kind: i8, id: Uuid) -> [u8; 33] {
    let mut key = [0u8; 33];
    key[..16].copy_from_slice(show.0.as_bytes());
    key[16] = kind as u8;
    key[17..].copy_from_slice(id.as_bytes());
    key
}

fn lookup_key(id: Uuid, kind: LookupKind) -> [u8; 17] {
    let mut key = [0u8; 17];
    key[0] = kind.code() as u8;
    key[1..].copy_from_slice(id.as_bytes());
    key
}

fn user_booking_key(user: UserId, booked_at: UnixMs, booking: BookingId) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..16].copy_from_slice(user.0.as_bytes());
    // Newest first: store the distance from the end of time, big-endian.
    let newest_first = (i64::MAX - booked_at.0.max(0)) as u64;
    key[16..24].copy_from_slice(&newest_first.to_be_bytes());
    key[24..].copy_from_slice(booking.0.as_bytes());
    key
}

fn hint_key(partition: &PartitionId, show: ShowId) -> Vec<u8> {
    let mut key = partition.0.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(show.0.as_bytes());
    key
}

fn uuid_at(bytes: &[u8], at: usize) -> Result<Uuid, StoreError> {
    let slice = bytes
        .get(at..at + 16)
        .ok_or_else(|| StoreError::Corrupt("short key".into()))?;
    Uuid::from_slice(slice).map_err(|e| StoreError::Corrupt(e.into()))
}

fn fence_of(value: (u64, u64, u64), owner: Option<&str>) -> (Fence, u64) {
    let (applied_seq, owner_epoch, version) = value;
    (
        Fence {
            applied_seq,
            owner_epoch,
            partition: owner.map(|p| PartitionId(p.to_string())),
        },
        version,
    )
}

/// The fence and version of `show`, read in `txn`.
fn stored_fence(
    fences: &impl ReadableTable<&'static [u8], (u64, u64, u64)>,
    owners: &impl ReadableTable<&'static [u8], &'static str>,
    show: ShowId,
) -> Result<Option<(Fence, u64)>, StoreError> {
    let key = show.0.as_bytes().as_slice();
    let Some(found) = fences.get(key).map_err(fatal)? else {
        return Ok(None);
    };
    let owner = owners.get(key).map_err(fatal)?;
    Ok(Some(fence_of(
        found.value(),
        owner.as_ref().map(|o| o.value()),
    )))
}

fn load_show(db: &Database, show: ShowId) -> Result<Option<StoredShow>, StoreError> {
    let txn = db.begin_read().map_err(fatal)?;
    let fences = txn.open_table(FENCES).map_err(fatal)?;
    let owners = txn.open_table(FENCE_OWNERS).map_err(fatal)?;
    let Some((fence, version)) = stored_fence(&fences, &owners, show)? else {
        return Ok(None);
    };
    let table = txn.open_table(ROWS).map_err(fatal)?;
    let mut start = [0u8; 33];
    start[..16].copy_from_slice(show.0.as_bytes());
    let mut end = [0xffu8; 33];
    end[..16].copy_from_slice(show.0.as_bytes());
    let mut rows = Vec::new();
    for entry in table
        .range(start.as_slice()..=end.as_slice())
        .map_err(fatal)?
    {
        let (key, body) = entry.map_err(fatal)?;
        let key = key.value();
        rows.push(Row {
            kind: key[16] as i8,
            id: uuid_at(key, 17)?,
            body: Some(body.value().to_vec()),
        });
    }
    Ok(Some(StoredShow {
        fence,
        version,
        rows,
    }))
}

fn persist_show(db: &Database, write: &ShowWrite) -> Result<PersistOutcome, StoreError> {
    let txn = db.begin_write().map_err(fatal)?;
    {
        let mut fences = txn.open_table(FENCES).map_err(fatal)?;
        let mut owners = txn.open_table(FENCE_OWNERS).map_err(fatal)?;
        let show_key = write.show_id.0.as_bytes().as_slice();
        let current = stored_fence(&fences, &owners, write.show_id)?.map(|(fence, _)| fence);
        if current != write.expected {
            return Ok(PersistOutcome::NotApplied { current });
        }
        let next = (
            write.next.applied_seq,
            write.next.owner_epoch,
            write.version,
        );
        fences.insert(show_key, next).map_err(fatal)?;
        match &write.next.partition {
            Some(partition) => owners.insert(show_key, partition.0.as_str()),
            None => owners.remove(show_key),
        }
        .map_err(fatal)?;
        let mut rows = txn.open_table(ROWS).map_err(fatal)?;
        for row in &write.rows {
            let key = row_key(write.show_id, row.kind, row.id);
            match &row.body {
                Some(body) => rows
                    .insert(key.as_slice(), body.as_slice())
                    .map_err(fatal)?,
                None => rows.remove(key.as_slice()).map_err(fatal)?,
            };
        }
        let mut meta = txn.open_table(META).map_err(fatal)?;
        let high = meta
            .get(MAX_APPLIED_SEQ)
            .map_err(fatal)?
            .map_or(0, |v| v.value());
        meta.insert(MAX_APPLIED_SEQ, high.max(write.next.applied_seq))
            .map_err(fatal)?;
    }
    txn.commit().map_err(fatal)?;
    Ok(PersistOutcome::Applied)
}

fn write_index_rows(db: &Database, index: &IndexRows) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(fatal)?;
    {
        let mut lookups = txn.open_table(LOOKUPS).map_err(fatal)?;
        for (id, kind, show) in &index.lookups {
            let key = lookup_key(*id, *kind);
            lookups
                .insert(key.as_slice(), show.0.as_bytes().as_slice())
                .map_err(fatal)?;
        }
        let mut by_user = txn.open_table(USER_BOOKINGS).map_err(fatal)?;
        for entry in &index.user_bookings {
            let key = user_booking_key(entry.user, entry.booked_at, entry.booking_id);
            by_user
                .insert(key.as_slice(), entry.show_id.0.as_bytes().as_slice())
                .map_err(fatal)?;
        }
    }
    txn.commit().map_err(fatal)
}

fn list_user_bookings(
    db: &Database,
    user: UserId,
    offset: usize,
    limit: usize,
) -> Result<(Vec<UserBookingRef>, usize), StoreError> {
    let txn = db.begin_read().map_err(fatal)?;
    let table = txn.open_table(USER_BOOKINGS).map_err(fatal)?;
    let mut start = [0u8; 40];
    start[..16].copy_from_slice(user.0.as_bytes());
    let mut end = [0xffu8; 40];
    end[..16].copy_from_slice(user.0.as_bytes());
    let mut total = 0;
    let mut page = Vec::new();
    for entry in table
        .range(start.as_slice()..=end.as_slice())
        .map_err(fatal)?
    {
        let (key, show) = entry.map_err(fatal)?;
        if total >= offset && page.len() < limit {
            let key = key.value();
            let mut at = [0u8; 8];
            at.copy_from_slice(&key[16..24]);
            page.push(UserBookingRef {
                user,
                booking_id: BookingId(uuid_at(key, 24)?),
                show_id: ShowId(uuid_at(show.value(), 0)?),
                booked_at: UnixMs(i64::MAX - u64::from_be_bytes(at) as i64),
            });
        }
        total += 1;
    }
    Ok((page, total))
}

#[async_trait]
impl ShowStore for EmbeddedStore {
    async fn load(&self, show: ShowId) -> Result<Option<StoredShow>, StoreError> {
        self.blocking(move |db| load_show(db, show)).await
    }

    async fn read_fence(&self, show: ShowId) -> Result<Option<(Fence, u64)>, StoreError> {
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(fatal)?;
            let fences = txn.open_table(FENCES).map_err(fatal)?;
            let owners = txn.open_table(FENCE_OWNERS).map_err(fatal)?;
            stored_fence(&fences, &owners, show)
        })
        .await
    }

    async fn applied_seq(&self, show: ShowId) -> Result<Option<u64>, StoreError> {
        Ok(self
            .read_fence(show)
            .await?
            .map(|(fence, _)| fence.applied_seq))
    }

    async fn read_row(
        &self,
        show: ShowId,
        kind: i8,
        id: Uuid,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let key = row_key(show, kind, id);
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(fatal)?;
            let table = txn.open_table(ROWS).map_err(fatal)?;
            let found = table.get(key.as_slice()).map_err(fatal)?;
            Ok(found.map(|body| body.value().to_vec()))
        })
        .await
    }

    async fn write_index(&self, index: &IndexRows) -> Result<(), StoreError> {
        if index.is_empty() {
            return Ok(());
        }
        let index = index.clone();
        self.blocking(move |db| write_index_rows(db, &index)).await
    }

    async fn persist(&self, write: &ShowWrite) -> Result<PersistOutcome, StoreError> {
        let write = write.clone();
        self.blocking(move |db| persist_show(db, &write)).await
    }

    async fn set_expiry_hint(
        &self,
        partition: &PartitionId,
        show: ShowId,
        due: Option<UnixMs>,
    ) -> Result<(), StoreError> {
        let key = hint_key(partition, show);
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(fatal)?;
            {
                let mut hints = txn.open_table(EXPIRY_HINTS).map_err(fatal)?;
                match due {
                    Some(at) => hints.insert(key.as_slice(), at.0).map_err(fatal)?,
                    None => hints.remove(key.as_slice()).map_err(fatal)?,
                };
            }
            txn.commit().map_err(fatal)
        })
        .await
    }

    async fn expiry_hints(
        &self,
        partition: &PartitionId,
    ) -> Result<Vec<(ShowId, UnixMs)>, StoreError> {
        let mut prefix = partition.0.as_bytes().to_vec();
        prefix.push(0);
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(fatal)?;
            let hints = txn.open_table(EXPIRY_HINTS).map_err(fatal)?;
            let mut end = prefix.clone();
            end.extend_from_slice(&[0xff; 16]);
            let mut found = Vec::new();
            for entry in hints
                .range(prefix.as_slice()..=end.as_slice())
                .map_err(fatal)?
            {
                let (key, due) = entry.map_err(fatal)?;
                found.push((
                    ShowId(uuid_at(key.value(), prefix.len())?),
                    UnixMs(due.value()),
                ));
            }
            Ok(found)
        })
        .await
    }

    async fn lookup(&self, id: Uuid, kind: LookupKind) -> Result<Option<ShowId>, StoreError> {
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(fatal)?;
            let lookups = txn.open_table(LOOKUPS).map_err(fatal)?;
            let key = lookup_key(id, kind);
            match lookups.get(key.as_slice()).map_err(fatal)? {
                Some(show) => Ok(Some(ShowId(uuid_at(show.value(), 0)?))),
                None => Ok(None),
            }
        })
        .await
    }

    async fn user_bookings(
        &self,
        user: UserId,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<UserBookingRef>, usize), StoreError> {
        self.blocking(move |db| list_user_bookings(db, user, offset, limit))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(n: u128) -> ShowId {
        ShowId(Uuid::from_u128(n))
    }

    fn write(show_id: ShowId, expected: Option<Fence>, seq: u64, rows: Vec<Row>) -> ShowWrite {
        ShowWrite {
            show_id,
            expected,
            next: Fence {
                applied_seq: seq,
                owner_epoch: 1,
                partition: None,
            },
            version: seq,
            rows,
        }
    }

    fn row(kind: i8, id: u128, body: Option<&[u8]>) -> Row {
        Row {
            kind,
            id: Uuid::from_u128(id),
            body: body.map(<[u8]>::to_vec),
        }
    }

    #[tokio::test]
    async fn conditional_writes_apply_only_on_the_expected_fence_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.redb");
        let store = EmbeddedStore::open(&path).unwrap();
        let s = show(1);
        let first = write(
            s,
            None,
            3,
            vec![row(0, 1, Some(b"a")), row(1, 2, Some(b"b"))],
        );
        assert_eq!(
            store.persist(&first).await.unwrap(),
            PersistOutcome::Applied
        );
        // The same write again is stale: the fence moved.
        let current = Some(Fence {
            applied_seq: 3,
            owner_epoch: 1,
            partition: None,
        });
        assert_eq!(
            store.persist(&first).await.unwrap(),
            PersistOutcome::NotApplied {
                current: current.clone()
            }
        );
        let second = write(s, current, 7, vec![row(1, 2, None), row(2, 3, Some(b"c"))]);
        assert_eq!(
            store.persist(&second).await.unwrap(),
            PersistOutcome::Applied
        );
        // A neighbour show is untouched by range scans.
        store
            .persist(&write(show(2), None, 8, vec![row(0, 1, Some(b"z"))]))
            .await
            .unwrap();
        drop(store);

        let store = EmbeddedStore::open(&path).unwrap();
        let loaded = store.load(s).await.unwrap().unwrap();
        assert_eq!(
            loaded.fence,
            Fence {
                applied_seq: 7,
                owner_epoch: 1,
                partition: None,
            }
        );
        assert_eq!(
            loaded.rows,
            vec![row(0, 1, Some(b"a")), row(2, 3, Some(b"c"))]
        );
        assert_eq!(store.max_applied_seq().unwrap(), 8);
        assert!(store.load(show(9)).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn index_rows_resolve_ids_and_list_bookings_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(&dir.path().join("p.redb")).unwrap();
        let user = UserId(Uuid::from_u128(5));
        let entry = |b: u128, at: i64| UserBookingRef {
            user,
            booking_id: BookingId(Uuid::from_u128(b)),
            show_id: show(b),
            booked_at: UnixMs(at),
        };
        let index = IndexRows {
            lookups: vec![(Uuid::from_u128(10), LookupKind::Hold, show(1))],
            user_bookings: vec![entry(1, 100), entry(2, 300), entry(3, 200)],
        };
        store.write_index(&index).await.unwrap();
        let hold = store
            .lookup(Uuid::from_u128(10), LookupKind::Hold)
            .await
            .unwrap();
        assert_eq!(hold, Some(show(1)));
        let booking = store
            .lookup(Uuid::from_u128(10), LookupKind::Booking)
            .await
            .unwrap();
        assert_eq!(booking, None);
        let (page, total) = store.user_bookings(user, 1, 5).await.unwrap();
        assert_eq!(total, 3);
        assert_eq!(page, vec![entry(3, 200), entry(1, 100)]);
    }

    #[tokio::test]
    async fn expiry_hints_are_per_partition() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(&dir.path().join("p.redb")).unwrap();
        let p0 = PartitionId("0".into());
        let p1 = PartitionId("1".into());
        store
            .set_expiry_hint(&p0, show(1), Some(UnixMs(10)))
            .await
            .unwrap();
        store
            .set_expiry_hint(&p1, show(2), Some(UnixMs(20)))
            .await
            .unwrap();
        store
            .set_expiry_hint(&p0, show(3), Some(UnixMs(30)))
            .await
            .unwrap();
        store.set_expiry_hint(&p0, show(3), None).await.unwrap();
        assert_eq!(
            store.expiry_hints(&p0).await.unwrap(),
            vec![(show(1), UnixMs(10))]
        );
        assert_eq!(
            store.expiry_hints(&p1).await.unwrap(),
            vec![(show(2), UnixMs(20))]
        );
    }
}
