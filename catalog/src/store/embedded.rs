//! The dev-mode store: one redb file (`catalog.redb`) under the data dir. redb is synchronous and
//! fsyncs on commit, so every call runs on tokio's blocking pool.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use schemas::{EventId, ShowId, VenueId};

use super::{Availability, CatalogStore, decode, encode};
use crate::error::StoreError;
use crate::model::{Event, Show, Venue};

/// File name of the catalog database inside the data dir.
pub const FILE_NAME: &str = "catalog.redb";

const VENUES: TableDefinition<u128, &[u8]> = TableDefinition::new("venues");
const EVENTS: TableDefinition<u128, &[u8]> = TableDefinition::new("events");
const SHOWS: TableDefinition<u128, &[u8]> = TableDefinition::new("shows");
/// (event id, show id) -> (): the shows of an event by range scan.
const SHOWS_BY_EVENT: TableDefinition<(u128, u128), ()> = TableDefinition::new("shows_by_event");
/// show id -> (version, available seats).
const AVAILABILITY: TableDefinition<u128, (u64, u32)> = TableDefinition::new("availability");

/// Catalog storage in a local redb file; survives restarts.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore").finish_non_exhaustive()
    }
}

impl EmbeddedStore {
    /// Opens (or creates) `<data_dir>/catalog.redb`, creating the directory if needed.
    pub fn open(data_dir: &Path) -> Result<EmbeddedStore, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::Fatal(format!("create {}: {e}", data_dir.display())))?;
        let path = data_dir.join(FILE_NAME);
        let db = Database::create(&path).map_err(|e| fatal(redb::Error::from(e)))?;
        // Create every table once so readers never meet a missing table.
        let txn = db.begin_write().map_err(|e| fatal(e.into()))?;
        {
            txn.open_table(VENUES).map_err(|e| fatal(e.into()))?;
            txn.open_table(EVENTS).map_err(|e| fatal(e.into()))?;
            txn.open_table(SHOWS).map_err(|e| fatal(e.into()))?;
            txn.open_table(SHOWS_BY_EVENT)
                .map_err(|e| fatal(e.into()))?;
            txn.open_table(AVAILABILITY).map_err(|e| fatal(e.into()))?;
        }
        txn.commit().map_err(|e| fatal(e.into()))?;
        Ok(EmbeddedStore { db: Arc::new(db) })
    }

    async fn run<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || op(&db))
            .await
            .map_err(|e| StoreError::Fatal(format!("store task failed: {e}")))?
    }

    async fn put(
        &self,
        table: TableDefinition<'static, u128, &'static [u8]>,
        id: u128,
        bytes: Vec<u8>,
    ) -> Result<(), StoreError> {
        self.run(move |db| {
            let txn = db.begin_write().map_err(|e| fatal(e.into()))?;
            txn.open_table(table)
                .map_err(|e| fatal(e.into()))?
                .insert(id, bytes.as_slice())
                .map_err(|e| fatal(e.into()))?;
            txn.commit().map_err(|e| fatal(e.into()))
        })
        .await
    }

    async fn get<T>(
        &self,
        table: TableDefinition<'static, u128, &'static [u8]>,
        id: u128,
    ) -> Result<Option<T>, StoreError>
    where
        T: for<'de> serde::Deserialize<'de> + Send + 'static,
    {
        self.run(move |db| {
            let txn = db.begin_read().map_err(|e| fatal(e.into()))?;
            let table = txn.open_table(table).map_err(|e| fatal(e.into()))?;
            let found = table.get(id).map_err(|e| fatal(e.into()))?;
            found.map(|bytes| decode(bytes.value())).transpose()
        })
        .await
    }

    async fn all<T>(
        &self,
        table: TableDefinition<'static, u128, &'static [u8]>,
    ) -> Result<Vec<T>, StoreError>
    where
        T: for<'de> serde::Deserialize<'de> + Send + 'static,
    {
        self.run(move |db| {
            let txn = db.begin_read().map_err(|e| fatal(e.into()))?;
            let table = txn.open_table(table).map_err(|e| fatal(e.into()))?;
            let mut out = Vec::new();
            for entry in table.iter().map_err(|e| fatal(e.into()))? {
                let (_, bytes) = entry.map_err(|e| fatal(e.into()))?;
                out.push(decode(bytes.value())?);
            }
            Ok(out)
        })
        .await
    }
}

fn fatal(e: redb::Error) -> StoreError {
    StoreError::Fatal(e.to_string())
}

#[async_trait]
impl CatalogStore for EmbeddedStore {
    async fn put_venue(&self, venue: &Venue) -> Result<(), StoreError> {
        self.put(VENUES, venue.venue_id.0.as_u128(), encode(venue)?)
            .await
    }

    async fn venue(&self, id: VenueId) -> Result<Option<Venue>, StoreError> {
        self.get(VENUES, id.0.as_u128()).await
    }

    async fn put_event(&self, event: &Event) -> Result<(), StoreError> {
        self.put(EVENTS, event.event_id.0.as_u128(), encode(event)?)
            .await
    }

    async fn event(&self, id: EventId) -> Result<Option<Event>, StoreError> {
        self.get(EVENTS, id.0.as_u128()).await
    }

    async fn events(&self) -> Result<Vec<Event>, StoreError> {
        self.all(EVENTS).await
    }

    async fn put_show(&self, show: &Show) -> Result<(), StoreError> {
        let bytes = encode(show)?;
        let (show_id, event_id) = (show.show_id.0.as_u128(), show.event_id.0.as_u128());
        self.run(move |db| {
            let txn = db.begin_write().map_err(|e| fatal(e.into()))?;
            txn.open_table(SHOWS)
                .map_err(|e| fatal(e.into()))?
                .insert(show_id, bytes.as_slice())
                .map_err(|e| fatal(e.into()))?;
            txn.open_table(SHOWS_BY_EVENT)
                .map_err(|e| fatal(e.into()))?
                .insert((event_id, show_id), ())
                .map_err(|e| fatal(e.into()))?;
            txn.commit().map_err(|e| fatal(e.into()))
        })
        .await
    }

    async fn show(&self, id: ShowId) -> Result<Option<Show>, StoreError> {
        self.get(SHOWS, id.0.as_u128()).await
    }

    async fn shows_of_event(&self, id: EventId) -> Result<Vec<Show>, StoreError> {
        let event = id.0.as_u128();
        self.run(move |db| {
            let txn = db.begin_read().map_err(|e| fatal(e.into()))?;
            let index = txn
                .open_table(SHOWS_BY_EVENT)
                .map_err(|e| fatal(e.into()))?;
            let shows = txn.open_table(SHOWS).map_err(|e| fatal(e.into()))?;
            let mut out = Vec::new();
            let range = index
                .range((event, 0)..=(event, u128::MAX))
                .map_err(|e| fatal(e.into()))?;
            for entry in range {
                let (key, _) = entry.map_err(|e| fatal(e.into()))?;
                let (_, show_id) = key.value();
                if let Some(bytes) = shows.get(show_id).map_err(|e| fatal(e.into()))? {
                    out.push(decode(bytes.value())?);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn shows(&self) -> Result<Vec<Show>, StoreError> {
        self.all(SHOWS).await
    }

    async fn put_availability(&self, counts: &[Availability]) -> Result<(), StoreError> {
        let counts = counts.to_vec();
        self.run(move |db| {
            let txn = db.begin_write().map_err(|e| fatal(e.into()))?;
            {
                let mut table = txn.open_table(AVAILABILITY).map_err(|e| fatal(e.into()))?;
                for c in &counts {
                    let key = c.show_id.0.as_u128();
                    let stored = table.get(key).map_err(|e| fatal(e.into()))?;
                    let newer = stored.is_none_or(|s| s.value().0 < c.version);
                    if newer {
                        table
                            .insert(key, (c.version, c.available_seats))
                            .map_err(|e| fatal(e.into()))?;
                    }
                }
            }
            txn.commit().map_err(|e| fatal(e.into()))
        })
        .await
    }

    async fn availability(&self, id: ShowId) -> Result<Option<Availability>, StoreError> {
        self.run(move |db| {
            let txn = db.begin_read().map_err(|e| fatal(e.into()))?;
            let table = txn.open_table(AVAILABILITY).map_err(|e| fatal(e.into()))?;
            let found = table.get(id.0.as_u128()).map_err(|e| fatal(e.into()))?;
            Ok(found.map(|v| {
                let (version, available_seats) = v.value();
                Availability {
                    show_id: id,
                    available_seats,
                    version,
                }
            }))
        })
        .await
    }

    async fn is_empty(&self) -> Result<bool, StoreError> {
        self.run(|db| {
            let txn = db.begin_read().map_err(|e| fatal(e.into()))?;
            let table = txn.open_table(VENUES).map_err(|e| fatal(e.into()))?;
            Ok(table.first().map_err(|e| fatal(e.into()))?.is_none())
        })
        .await
    }
}
