//! The serve-mode store: ScyllaDB (Apache Cassandra 5 locally) tables in a configurable keyspace.
//!
//! Records are JSON `body` columns keyed by id, so catalog fields can grow without schema changes.
//! Availability counts are written `USING TIMESTAMP <version>`: the database's last-write-wins rule
//! then keeps the count of the highest seat version, whatever order the writes arrive in, with no
//! read-before-write and no LWT.

use std::sync::Arc;

use async_trait::async_trait;
use futures::TryStreamExt;
use processors::cql::session::LiveSession;
use schemas::{EventId, ShowId, VenueId};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::statement::prepared::PreparedStatement;
use uuid::Uuid;

use super::{Availability, CatalogStore, decode, encode};
use crate::error::StoreError;
use crate::model::{Event, Show, Venue};

/// The `CREATE TABLE` statements of the catalog in `keyspace` (idempotent: `IF NOT EXISTS`).
/// `provision` applies them after creating the keyspace; [`CqlStore::provision`] does both.
pub fn schema_statements(keyspace: &str) -> Vec<String> {
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {keyspace}.catalog_venues (venue_id uuid PRIMARY KEY, body text)"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {keyspace}.catalog_events (event_id uuid PRIMARY KEY, body text)"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {keyspace}.catalog_shows (show_id uuid PRIMARY KEY, event_id uuid, body text)"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {keyspace}.catalog_shows_by_event (event_id uuid, show_id uuid, PRIMARY KEY ((event_id), show_id))"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {keyspace}.catalog_availability (show_id uuid PRIMARY KEY, available int, version bigint)"
        ),
    ]
}

/// `CREATE KEYSPACE IF NOT EXISTS` with SimpleStrategy and the given replication factor.
pub fn keyspace_statement(keyspace: &str, replication_factor: u32) -> String {
    format!(
        "CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = \
         {{'class': 'SimpleStrategy', 'replication_factor': {replication_factor}}}"
    )
}

/// Whether `name` is a plain CQL identifier (it is spliced into statements, so nothing else is
/// accepted).
pub fn valid_keyspace(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 48
}

struct Statements {
    put_venue: PreparedStatement,
    venue: PreparedStatement,
    put_event: PreparedStatement,
    event: PreparedStatement,
    events: PreparedStatement,
    put_show: PreparedStatement,
    put_show_by_event: PreparedStatement,
    show: PreparedStatement,
    shows_of_event: PreparedStatement,
    shows: PreparedStatement,
    put_availability: PreparedStatement,
    availability: PreparedStatement,
    any_venue: PreparedStatement,
}

/// Catalog storage in ScyllaDB / Cassandra.
#[derive(Clone)]
pub struct CqlStore {
    /// Replaced by a fresh session when the old one stays without connections (after a
    /// Cassandra restart), as the show store's is: the catalog resumes with it.
    session: Arc<LiveSession>,
    statements: Arc<Statements>,
}

impl std::fmt::Debug for CqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CqlStore").finish_non_exhaustive()
    }
}

impl CqlStore {
    /// Connects to `nodes` (`host:port`, e.g. from `BOXOFFICE_CQL_NODES` split on commas).
    pub async fn connect(nodes: &[String]) -> Result<Arc<Session>, StoreError> {
        let session = SessionBuilder::new()
            .known_nodes(nodes)
            .connection_timeout(std::time::Duration::from_secs(10))
            .build()
            .await
            .map_err(unavailable)?;
        Ok(Arc::new(session))
    }

    /// Creates the keyspace (if missing) and the catalog tables, then waits for schema agreement.
    pub async fn provision(
        session: &Session,
        keyspace: &str,
        replication_factor: u32,
    ) -> Result<(), StoreError> {
        check_keyspace(keyspace)?;
        let statements = std::iter::once(keyspace_statement(keyspace, replication_factor))
            .chain(schema_statements(keyspace));
        for statement in statements {
            session
                .query_unpaged(statement, ())
                .await
                .map_err(unavailable)?;
        }
        session
            .await_schema_agreement()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// A store over an existing session and a provisioned keyspace (prepares its statements).
    pub async fn new(session: Arc<Session>, keyspace: &str) -> Result<CqlStore, StoreError> {
        check_keyspace(keyspace)?;
        let k = keyspace;
        let prepare = |cql: String| {
            let session = Arc::clone(&session);
            async move { session.prepare(cql).await.map_err(unavailable) }
        };
        let statements = Statements {
            put_venue: prepare(format!(
                "INSERT INTO {k}.catalog_venues (venue_id, body) VALUES (?, ?)"
            ))
            .await?,
            venue: prepare(format!(
                "SELECT body FROM {k}.catalog_venues WHERE venue_id = ?"
            ))
            .await?,
            put_event: prepare(format!(
                "INSERT INTO {k}.catalog_events (event_id, body) VALUES (?, ?)"
            ))
            .await?,
            event: prepare(format!(
                "SELECT body FROM {k}.catalog_events WHERE event_id = ?"
            ))
            .await?,
            events: prepare(format!("SELECT body FROM {k}.catalog_events")).await?,
            put_show: prepare(format!(
                "INSERT INTO {k}.catalog_shows (show_id, event_id, body) VALUES (?, ?, ?)"
            ))
            .await?,
            put_show_by_event: prepare(format!(
                "INSERT INTO {k}.catalog_shows_by_event (event_id, show_id) VALUES (?, ?)"
            ))
            .await?,
            show: prepare(format!(
                "SELECT body FROM {k}.catalog_shows WHERE show_id = ?"
            ))
            .await?,
            shows_of_event: prepare(format!(
                "SELECT show_id FROM {k}.catalog_shows_by_event WHERE event_id = ?"
            ))
            .await?,
            shows: prepare(format!("SELECT body FROM {k}.catalog_shows")).await?,
            put_availability: prepare(format!(
                "INSERT INTO {k}.catalog_availability (show_id, available, version) VALUES (?, ?, ?) USING TIMESTAMP ?"
            ))
            .await?,
            availability: prepare(format!(
                "SELECT available, version FROM {k}.catalog_availability WHERE show_id = ?"
            ))
            .await?,
            any_venue: prepare(format!("SELECT venue_id FROM {k}.catalog_venues LIMIT 1")).await?,
        };
        Ok(CqlStore {
            session: Arc::new(LiveSession::shared(session)),
            statements: Arc::new(statements),
        })
    }

    async fn body<T: for<'de> serde::Deserialize<'de>>(
        &self,
        statement: &PreparedStatement,
        id: Uuid,
    ) -> Result<Option<T>, StoreError> {
        let result = self
            .session
            .execute_unpaged(statement, (id,))
            .await
            .map_err(unavailable)?;
        let rows = result.into_rows_result().map_err(fatal)?;
        let row = rows.maybe_first_row::<(Option<String>,)>().map_err(fatal)?;
        row.and_then(|(body,)| body)
            .map(|body| decode(body.as_bytes()))
            .transpose()
    }

    async fn bodies<T: for<'de> serde::Deserialize<'de>>(
        &self,
        statement: &PreparedStatement,
    ) -> Result<Vec<T>, StoreError> {
        let pager = self
            .session
            .execute_iter(statement.clone(), ())
            .await
            .map_err(unavailable)?;
        let mut rows = pager.rows_stream::<(Option<String>,)>().map_err(fatal)?;
        let mut out = Vec::new();
        while let Some((body,)) = rows.try_next().await.map_err(unavailable)? {
            if let Some(body) = body {
                out.push(decode(body.as_bytes())?);
            }
        }
        Ok(out)
    }
}

fn check_keyspace(keyspace: &str) -> Result<(), StoreError> {
    if valid_keyspace(keyspace) {
        Ok(())
    } else {
        Err(StoreError::Fatal(format!(
            "keyspace {keyspace:?} is not a plain lower-case CQL identifier"
        )))
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn fatal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Fatal(e.to_string())
}

fn text(bytes: Vec<u8>) -> Result<String, StoreError> {
    String::from_utf8(bytes).map_err(fatal)
}

#[async_trait]
impl CatalogStore for CqlStore {
    async fn put_venue(&self, venue: &Venue) -> Result<(), StoreError> {
        let body = text(encode(venue)?)?;
        self.session
            .execute_unpaged(&self.statements.put_venue, (venue.venue_id.0, body))
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn venue(&self, id: VenueId) -> Result<Option<Venue>, StoreError> {
        self.body(&self.statements.venue, id.0).await
    }

    async fn put_event(&self, event: &Event) -> Result<(), StoreError> {
        let body = text(encode(event)?)?;
        self.session
            .execute_unpaged(&self.statements.put_event, (event.event_id.0, body))
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn event(&self, id: EventId) -> Result<Option<Event>, StoreError> {
        self.body(&self.statements.event, id.0).await
    }

    async fn events(&self) -> Result<Vec<Event>, StoreError> {
        self.bodies(&self.statements.events).await
    }

    async fn put_show(&self, show: &Show) -> Result<(), StoreError> {
        let body = text(encode(show)?)?;
        // The show row first: an index entry never points at a missing show.
        self.session
            .execute_unpaged(
                &self.statements.put_show,
                (show.show_id.0, show.event_id.0, body),
            )
            .await
            .map_err(unavailable)?;
        self.session
            .execute_unpaged(
                &self.statements.put_show_by_event,
                (show.event_id.0, show.show_id.0),
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn show(&self, id: ShowId) -> Result<Option<Show>, StoreError> {
        self.body(&self.statements.show, id.0).await
    }

    async fn shows_of_event(&self, id: EventId) -> Result<Vec<Show>, StoreError> {
        let pager = self
            .session
            .execute_iter(self.statements.shows_of_event.clone(), (id.0,))
            .await
            .map_err(unavailable)?;
        let ids: Vec<(Uuid,)> = pager
            .rows_stream::<(Uuid,)>()
            .map_err(fatal)?
            .try_collect()
            .await
            .map_err(unavailable)?;
        let mut out = Vec::with_capacity(ids.len());
        for (show_id,) in ids {
            if let Some(show) = self.show(ShowId(show_id)).await? {
                out.push(show);
            }
        }
        Ok(out)
    }

    async fn shows(&self) -> Result<Vec<Show>, StoreError> {
        self.bodies(&self.statements.shows).await
    }

    async fn put_availability(&self, counts: &[Availability]) -> Result<(), StoreError> {
        for c in counts {
            // Write timestamps order the versions; +1 keeps version 0 above "never written".
            let timestamp = i64::try_from(c.version).unwrap_or(i64::MAX - 1) + 1;
            let available = i32::try_from(c.available_seats).unwrap_or(i32::MAX);
            let version = i64::try_from(c.version).unwrap_or(i64::MAX);
            self.session
                .execute_unpaged(
                    &self.statements.put_availability,
                    (c.show_id.0, available, version, timestamp),
                )
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    async fn availability(&self, id: ShowId) -> Result<Option<Availability>, StoreError> {
        let result = self
            .session
            .execute_unpaged(&self.statements.availability, (id.0,))
            .await
            .map_err(unavailable)?;
        let rows = result.into_rows_result().map_err(fatal)?;
        let row = rows
            .maybe_first_row::<(Option<i32>, Option<i64>)>()
            .map_err(fatal)?;
        Ok(row.and_then(|(available, version)| {
            Some(Availability {
                show_id: id,
                available_seats: u32::try_from(available?).ok()?,
                version: u64::try_from(version?).ok()?,
            })
        }))
    }

    async fn is_empty(&self) -> Result<bool, StoreError> {
        let result = self
            .session
            .execute_unpaged(&self.statements.any_venue, ())
            .await
            .map_err(unavailable)?;
        let rows = result.into_rows_result().map_err(fatal)?;
        Ok(rows.rows_num() == 0)
    }
}
