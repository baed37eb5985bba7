//! [`CqlStore`]: show state in Cassandra / ScyllaDB. One partition per show in `show_state`, its
//! fence in static columns; every write is ONE conditional (LWT) batch on that partition, holding
//! the batch's hold and booking rows and one change-log row for the rest (see
//! [`crate::cql::changes`]: why, and how the log is folded).
//!
//! Result rows of conditional statements are read untyped (`[applied]` plus whatever columns the
//! server adds, which differ between Cassandra and ScyllaDB), and LWT statements never use cached
//! result metadata.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use schemas::{BookingId, ShowId, UnixMs, UserId};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::{Consistency, SerialConsistency};
use scylla::value::{CqlValue, Row as CqlRow};
use uuid::Uuid;

use crate::cql::changes::{self, Tail};
use crate::cql::session::{LiveSession, no_connection, pager_no_connection};
use crate::store::{
    Fence, IndexRows, LookupKind, PersistOutcome, Row, ShowStore, ShowWrite, StoreError,
    StoredShow, UserBookingRef,
};
use crate::topology::PartitionId;

/// Which CQL server answers: their DDL differs (tablets) and so do LWT result columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Apache Cassandra.
    Cassandra,
    /// ScyllaDB.
    Scylla,
}

/// The schema, as idempotent statements, for `keyspace` with `replication_factor`.
pub fn schema_statements(keyspace: &str, replication_factor: u32, backend: Backend) -> Vec<String> {
    // ScyllaDB keyspaces with tablets do not support LWT on every version: keep vnodes there.
    let tablets = match backend {
        Backend::Scylla => " AND tablets = {'enabled': false}",
        Backend::Cassandra => "",
    };
    vec![
        format!(
            "CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = \
             {{'class': 'NetworkTopologyStrategy', 'replication_factor': {replication_factor}}}{tablets}"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {keyspace}.show_state (show_id uuid, kind tinyint, id uuid, \
             body blob, applied_seq bigint STATIC, owner_epoch bigint STATIC, version bigint STATIC, \
             owner_partition text STATIC, PRIMARY KEY ((show_id), kind, id))"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {keyspace}.show_lookup (id uuid, kind tinyint, show_id uuid, \
             PRIMARY KEY ((id), kind))"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {keyspace}.user_bookings (user_id uuid, booked_at bigint, \
             booking_id uuid, show_id uuid, PRIMARY KEY ((user_id), booked_at, booking_id)) \
             WITH CLUSTERING ORDER BY (booked_at DESC, booking_id ASC)"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {keyspace}.expiry_hints (partition text, show_id uuid, \
             due_at bigint, PRIMARY KEY ((partition), show_id))"
        ),
    ]
}

/// The tables [`schema_statements`] creates.
pub const TABLES: [&str; 4] = ["show_state", "show_lookup", "user_bookings", "expiry_hints"];

/// Columns added to a table after it was first shipped, as `(table, column, type)`:
/// provisioning adds each one a keyspace made by an earlier build lacks.
pub const ADDED_COLUMNS: [(&str, &str, &str); 1] =
    [("show_state", "owner_partition", "text STATIC")];

struct Statements {
    load: PreparedStatement,
    read_fence: PreparedStatement,
    read_applied_seq: PreparedStatement,
    read_row: PreparedStatement,
    fence_first: PreparedStatement,
    fence_next: PreparedStatement,
    fence_next_unnamed: PreparedStatement,
    put_row: PreparedStatement,
    put_expiring_row: PreparedStatement,
    delete_row: PreparedStatement,
    put_lookup: PreparedStatement,
    get_lookup: PreparedStatement,
    put_user_booking: PreparedStatement,
    list_user_bookings: PreparedStatement,
    put_hint: PreparedStatement,
    delete_hint: PreparedStatement,
    list_hints: PreparedStatement,
}

/// Show state in a CQL keyspace.
pub struct CqlStore {
    session: Arc<LiveSession>,
    statements: Statements,
    /// Change-log tails of the shows this process loaded or wrote (see [`changes`]).
    tails: Mutex<HashMap<ShowId, Tail>>,
    /// Set by the first write: only a writing store keeps tails (a reader's loads would only
    /// fill memory with them).
    writing: AtomicBool,
}

/// Paged reads of a show tried before a load gives up because writes keep landing between pages.
const LOAD_ATTEMPTS: usize = 4;

/// Most shows whose tails are kept; beyond it one is forgotten, and reloaded when it is next
/// written.
const TAILS_MAX: usize = 4096;

impl std::fmt::Debug for CqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CqlStore").finish_non_exhaustive()
    }
}

/// Connect to the comma-separated `nodes` (`host:port`).
pub async fn connect(nodes: &str) -> Result<Session, StoreError> {
    let nodes: Vec<&str> = nodes
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    SessionBuilder::new()
        .known_nodes(nodes)
        .connection_timeout(Duration::from_secs(5))
        .build()
        .await
        .map_err(|e| StoreError::Unavailable(e.into()))
}

/// Whether the cluster is ScyllaDB or Cassandra.
pub async fn detect_backend(session: &Session) -> Result<Backend, StoreError> {
    let found = session
        .query_unpaged(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = 'system' \
             AND table_name = 'scylla_local'",
            (),
        )
        .await
        .map_err(read_error)?;
    let rows = found
        .into_rows_result()
        .map_err(|e| StoreError::Fatal(e.into()))?;
    Ok(if rows.rows_num() > 0 {
        Backend::Scylla
    } else {
        Backend::Cassandra
    })
}

impl CqlStore {
    /// A read's failure, noted by the session's watcher (no connection: a fresh session).
    fn read_failed(&self, e: ExecutionError) -> StoreError {
        self.session.saw(no_connection(&e));
        read_error(e)
    }

    /// A pager's failure, likewise.
    fn pager_failed(&self, e: scylla::errors::PagerExecutionError) -> StoreError {
        self.session.saw(pager_no_connection(&e));
        StoreError::Unavailable(e.into())
    }

    /// The first row `statement` answers for `values`, if any (every single-row read goes
    /// through here, so read failures are classified in one place).
    async fn first_row<R>(
        &self,
        statement: &PreparedStatement,
        values: impl scylla::serialize::row::SerializeRow,
    ) -> Result<Option<R>, StoreError>
    where
        R: for<'frame, 'metadata> scylla::deserialize::row::DeserializeRow<'frame, 'metadata>,
    {
        let result = self
            .session
            .get()
            .execute_unpaged(statement, values)
            .await
            .map_err(|e| self.read_failed(e))?;
        let rows = result
            .into_rows_result()
            .map_err(|e| StoreError::Fatal(e.into()))?;
        rows.maybe_first_row::<R>()
            .map_err(|e| StoreError::Fatal(e.into()))
    }

    /// Prepare every statement against `keyspace` (which must exist; see provisioning).
    pub async fn new(session: Session, keyspace: &str) -> Result<CqlStore, StoreError> {
        let ks = keyspace;
        let prepare = |cql: String| {
            let session = &session;
            async move {
                session
                    .prepare(cql)
                    .await
                    .map_err(|e| StoreError::Fatal(e.into()))
            }
        };
        let set = "SET applied_seq = ?, owner_epoch = ?, version = ?, owner_partition = ? \
                   WHERE show_id = ?";
        let mut fence_first = prepare(format!(
            "UPDATE {ks}.show_state {set} IF applied_seq = null"
        ))
        .await?;
        let mut fence_next = prepare(format!(
            "UPDATE {ks}.show_state {set} \
             IF applied_seq = ? AND owner_epoch = ? AND owner_partition = ?"
        ))
        .await?;
        // A show last written by a build that did not name partitions.
        let mut fence_next_unnamed = prepare(format!(
            "UPDATE {ks}.show_state {set} \
             IF applied_seq = ? AND owner_epoch = ? AND owner_partition = null"
        ))
        .await?;
        fence_first.set_use_cached_result_metadata(false);
        fence_next.set_use_cached_result_metadata(false);
        fence_next_unnamed.set_use_cached_result_metadata(false);
        let mut read_fence = prepare(format!(
            "SELECT applied_seq, owner_epoch, version, owner_partition FROM {ks}.show_state \
             WHERE show_id = ? LIMIT 1"
        ))
        .await?;
        // Settling a timed-out LWT must see any Paxos round in progress: read at SERIAL.
        read_fence.set_consistency(Consistency::Serial);
        let mut load = prepare(format!(
            "SELECT kind, id, body, applied_seq, owner_epoch, version, owner_partition \
             FROM {ks}.show_state WHERE show_id = ?"
        ))
        .await?;
        load.set_page_size(5000);
        let statements = Statements {
            load,
            read_fence,
            // Same consistency as `load`: the reply to a command follows its conditional batch,
            // so an ordinary quorum read sees it without a Paxos round.
            read_applied_seq: prepare(format!(
                "SELECT applied_seq FROM {ks}.show_state WHERE show_id = ? LIMIT 1"
            ))
            .await?,
            read_row: prepare(format!(
                "SELECT body FROM {ks}.show_state WHERE show_id = ? AND kind = ? AND id = ?"
            ))
            .await?,
            fence_first,
            fence_next,
            fence_next_unnamed,
            put_row: prepare(format!(
                "INSERT INTO {ks}.show_state (show_id, kind, id, body) VALUES (?, ?, ?, ?)"
            ))
            .await?,
            put_expiring_row: prepare(format!(
                "INSERT INTO {ks}.show_state (show_id, kind, id, body) VALUES (?, ?, ?, ?) \
                 USING TTL {}",
                changes::OUTCOME_TTL_S
            ))
            .await?,
            delete_row: prepare(format!(
                "DELETE FROM {ks}.show_state WHERE show_id = ? AND kind = ? AND id = ?"
            ))
            .await?,
            put_lookup: prepare(format!(
                "INSERT INTO {ks}.show_lookup (id, kind, show_id) VALUES (?, ?, ?)"
            ))
            .await?,
            get_lookup: prepare(format!(
                "SELECT show_id FROM {ks}.show_lookup WHERE id = ? AND kind = ?"
            ))
            .await?,
            put_user_booking: prepare(format!(
                "INSERT INTO {ks}.user_bookings (user_id, booked_at, booking_id, show_id) \
                 VALUES (?, ?, ?, ?)"
            ))
            .await?,
            list_user_bookings: prepare(format!(
                "SELECT booked_at, booking_id, show_id FROM {ks}.user_bookings WHERE user_id = ?"
            ))
            .await?,
            put_hint: prepare(format!(
                "INSERT INTO {ks}.expiry_hints (partition, show_id, due_at) VALUES (?, ?, ?)"
            ))
            .await?,
            delete_hint: prepare(format!(
                "DELETE FROM {ks}.expiry_hints WHERE partition = ? AND show_id = ?"
            ))
            .await?,
            list_hints: prepare(format!(
                "SELECT show_id, due_at FROM {ks}.expiry_hints WHERE partition = ?"
            ))
            .await?,
        };
        Ok(CqlStore {
            session: Arc::new(LiveSession::new(session)),
            statements,
            tails: Mutex::default(),
            writing: AtomicBool::new(false),
        })
    }

    fn tails(&self) -> std::sync::MutexGuard<'_, HashMap<ShowId, Tail>> {
        self.tails
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn remember_tail(&self, show: ShowId, tail: Tail) {
        let mut tails = self.tails();
        if tails.len() >= TAILS_MAX && !tails.contains_key(&show) {
            let forget = tails.keys().next().copied();
            forget.map(|other| tails.remove(&other));
        }
        tails.insert(show, tail);
    }

    /// The show's tail if it is current for `write`'s expected fence; reloads the show once when
    /// this process does not know it (after a restart, an unknown outcome or eviction).
    async fn tail_for(&self, write: &ShowWrite) -> Result<Option<Tail>, StoreError> {
        self.writing.store(true, Ordering::Relaxed);
        let Some(expected) = &write.expected else {
            return Ok(Some(Tail::default()));
        };
        let known = |tails: &mut HashMap<ShowId, Tail>| {
            tails
                .remove(&write.show_id)
                .filter(|tail| tail.after.as_ref() == Some(expected))
        };
        if let Some(tail) = known(&mut self.tails()) {
            return Ok(Some(tail));
        }
        self.load(write.show_id).await?;
        Ok(known(&mut self.tails()))
    }

    /// Connect to `nodes` and prepare against `keyspace`.
    pub async fn connect(nodes: &str, keyspace: &str) -> Result<CqlStore, StoreError> {
        CqlStore::new(connect(nodes).await?, keyspace).await
    }

    /// One paged read of a show's partition: `None` when a write landed between its pages (the
    /// static fence, returned with every row, moved), so the rows may not belong together.
    async fn read_whole(&self, show: ShowId) -> Result<Option<Option<StoredShow>>, StoreError> {
        type LoadRow = (
            Option<i8>,
            Option<Uuid>,
            Option<Vec<u8>>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<String>,
        );
        let pager = self
            .session
            .get()
            .execute_iter(self.statements.load.clone(), (show.0,))
            .await
            .map_err(|e| self.pager_failed(e))?;
        let mut stream = pager
            .rows_stream::<LoadRow>()
            .map_err(|e| StoreError::Fatal(e.into()))?;
        let mut fence = None;
        let mut last_seq = None;
        let mut rows = Vec::new();
        let mut logs = Vec::new();
        let mut legacy_logs = Vec::new();
        while let Some(row) = stream.next().await {
            let (kind, id, body, seq, epoch, version, owner) =
                row.map_err(|e| StoreError::Unavailable(e.into()))?;
            if fence.is_none() {
                fence = fence_from(seq, epoch, version, owner);
            }
            last_seq = seq;
            match (kind, id) {
                (Some(changes::CHANGES_KIND), Some(id)) => {
                    legacy_logs.push(changes::log_seq(id));
                    logs.push((changes::log_seq(id), body.unwrap_or_default()));
                }
                (Some(changes::OUTCOMES_KIND), Some(id)) => {
                    logs.push((changes::log_seq(id), body.unwrap_or_default()));
                }
                (Some(kind), Some(id)) => rows.push(Row {
                    kind,
                    id,
                    body: Some(body.unwrap_or_default()),
                }),
                _ => {}
            }
        }
        let Some((fence, version)) = fence else {
            return Ok(Some(None));
        };
        if last_seq.map(|seq| seq as u64) != Some(fence.applied_seq) {
            return Ok(None);
        }
        let logs = decode_logs(logs)?;
        if self.writing.load(Ordering::Relaxed) {
            let legacy: Vec<_> = logs
                .iter()
                .filter(|(seq, _)| legacy_logs.contains(seq))
                .cloned()
                .collect();
            self.remember_tail(show, Tail::from_stored(fence.clone(), &rows, &legacy));
        }
        let rows = apply_logs(rows, &logs);
        Ok(Some(Some(StoredShow {
            fence,
            version,
            rows,
        })))
    }

    /// Run a conditional batch and read its `[applied]` answer.
    async fn conditional(
        &self,
        batch: Batch,
        values: Vec<Vec<Option<CqlValue>>>,
    ) -> Result<PersistOutcome, StoreError> {
        let result = self
            .session
            .get()
            .batch(&batch, values)
            .await
            .map_err(|e| {
                self.session.saw(no_connection(&e));
                write_error(e)
            })?;
        let rows = result
            .into_rows_result()
            .map_err(|e| StoreError::Fatal(e.into()))?;
        let specs = rows.column_specs();
        let applied_at = specs.get_by_name("[applied]").map(|(i, _)| i);
        let seq_at = specs.get_by_name("applied_seq").map(|(i, _)| i);
        let epoch_at = specs.get_by_name("owner_epoch").map(|(i, _)| i);
        let owner_at = specs.get_by_name("owner_partition").map(|(i, _)| i);
        let first: Option<CqlRow> = rows
            .maybe_first_row::<CqlRow>()
            .map_err(|e| StoreError::Fatal(e.into()))?;
        let Some(first) = first else {
            return Err(StoreError::Fatal(
                "conditional batch returned no [applied] row".into(),
            ));
        };
        let column = |i: Option<usize>| {
            i.and_then(|i| first.columns.get(i))
                .and_then(Option::as_ref)
        };
        match column(applied_at) {
            Some(CqlValue::Boolean(true)) => Ok(PersistOutcome::Applied),
            Some(CqlValue::Boolean(false)) => {
                let current = big(column(seq_at)).map(|applied_seq| Fence {
                    applied_seq,
                    owner_epoch: big(column(epoch_at)).unwrap_or(0),
                    partition: text(column(owner_at)).map(PartitionId),
                });
                Ok(PersistOutcome::NotApplied { current })
            }
            other => Err(StoreError::Fatal(
                format!("unexpected [applied] value {other:?}").into(),
            )),
        }
    }

    fn batch_for(
        &self,
        write: &ShowWrite,
        plan: &changes::Plan,
    ) -> (Batch, Vec<Vec<Option<CqlValue>>>) {
        let mut batch = Batch::new(BatchType::Logged);
        batch.set_serial_consistency(Some(SerialConsistency::Serial));
        let show = CqlValue::Uuid(write.show_id.0);
        // A fence names no partition only in tests of shows from earlier builds: null, then.
        let next = [
            Some(CqlValue::BigInt(write.next.applied_seq as i64)),
            Some(CqlValue::BigInt(write.next.owner_epoch as i64)),
            Some(CqlValue::BigInt(write.version as i64)),
            write
                .next
                .partition
                .as_ref()
                .map(|p| CqlValue::Text(p.0.clone())),
            Some(show.clone()),
        ];
        let mut values = Vec::with_capacity(plan.rows.len() + plan.expiring.len() + 1);
        match &write.expected {
            None => {
                batch.append_statement(self.statements.fence_first.clone());
                values.push(next.to_vec());
            }
            Some(expected) => {
                let mut v = next.to_vec();
                v.push(Some(CqlValue::BigInt(expected.applied_seq as i64)));
                v.push(Some(CqlValue::BigInt(expected.owner_epoch as i64)));
                let statement = match &expected.partition {
                    Some(partition) => {
                        v.push(Some(CqlValue::Text(partition.0.clone())));
                        &self.statements.fence_next
                    }
                    None => &self.statements.fence_next_unnamed,
                };
                batch.append_statement(statement.clone());
                values.push(v);
            }
        }
        let rows = plan.rows.iter().map(|row| (row, false));
        let expiring = plan.expiring.iter().map(|row| (row, true));
        for (row, expires) in rows.chain(expiring) {
            let key = [
                Some(show.clone()),
                Some(CqlValue::TinyInt(row.kind)),
                Some(CqlValue::Uuid(row.id)),
            ];
            match &row.body {
                Some(body) => {
                    let statement = if expires {
                        &self.statements.put_expiring_row
                    } else {
                        &self.statements.put_row
                    };
                    batch.append_statement(statement.clone());
                    let mut v = key.to_vec();
                    v.push(Some(CqlValue::Blob(body.clone())));
                    values.push(v);
                }
                None => {
                    batch.append_statement(self.statements.delete_row.clone());
                    values.push(key.to_vec());
                }
            }
        }
        (batch, values)
    }
}

/// Map a failed read or unconditional write (idempotent, so a retry is safe).
fn read_error(e: ExecutionError) -> StoreError {
    match classify(&e) {
        Class::Fatal => StoreError::Fatal(e.to_string().into()),
        Class::NotApplied | Class::Unknown => StoreError::Unavailable(e.to_string().into()),
    }
}

/// Map a failed conditional write: anything that may have reached a replica is an unknown
/// outcome (settled by reading), only a refusal before any work is "not written".
fn write_error(e: ExecutionError) -> StoreError {
    match classify(&e) {
        Class::Fatal => StoreError::Fatal(e.to_string().into()),
        Class::NotApplied => StoreError::Unavailable(e.to_string().into()),
        Class::Unknown => StoreError::Timeout,
    }
}

enum Class {
    Fatal,
    NotApplied,
    Unknown,
}

fn classify(e: &ExecutionError) -> Class {
    match e {
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(db, _)) => match db {
            DbError::SyntaxError
            | DbError::Invalid
            | DbError::AlreadyExists { .. }
            | DbError::Unauthorized
            | DbError::ConfigError
            | DbError::AuthenticationError => Class::Fatal,
            DbError::Unavailable { .. }
            | DbError::Overloaded
            | DbError::IsBootstrapping
            | DbError::RateLimitReached { .. } => Class::NotApplied,
            _ => Class::Unknown,
        },
        ExecutionError::BadQuery(_) => Class::Fatal,
        ExecutionError::EmptyPlan | ExecutionError::ConnectionPoolError(_) => Class::NotApplied,
        _ => Class::Unknown,
    }
}

fn big(v: Option<&CqlValue>) -> Option<u64> {
    match v {
        Some(CqlValue::BigInt(n)) => Some(*n as u64),
        _ => None,
    }
}

fn text(v: Option<&CqlValue>) -> Option<String> {
    match v {
        Some(CqlValue::Text(s) | CqlValue::Ascii(s)) => Some(s.clone()),
        _ => None,
    }
}

fn fence_from(
    seq: Option<i64>,
    epoch: Option<i64>,
    version: Option<i64>,
    owner: Option<String>,
) -> Option<(Fence, u64)> {
    Some((
        Fence {
            applied_seq: seq? as u64,
            owner_epoch: epoch.unwrap_or(0) as u64,
            partition: owner.map(PartitionId),
        },
        version.unwrap_or(0) as u64,
    ))
}

/// Decode a show's change-log rows, in log order.
fn decode_logs(mut logs: Vec<(u64, Vec<u8>)>) -> Result<Vec<(u64, Vec<Row>)>, StoreError> {
    logs.sort_unstable_by_key(|(seq, _)| *seq);
    logs.into_iter()
        .map(|(seq, body)| Ok((seq, changes::decode(&body)?)))
        .collect()
}

/// The show's rows: its plain rows with its log rows applied over them in log order (plain
/// rows a log row also names are older than it: written before logs existed, by a fold that
/// deleted the log rows it folded, or, for seats, never named by an outcome-log row).
fn apply_logs(rows: Vec<Row>, logs: &[(u64, Vec<Row>)]) -> Vec<Row> {
    if logs.is_empty() {
        return rows;
    }
    let mut live: BTreeMap<(i8, Uuid), Vec<u8>> = rows
        .into_iter()
        .filter_map(|row| Some(((row.kind, row.id), row.body?)))
        .collect();
    for change in logs.iter().flat_map(|(_, changes)| changes) {
        match &change.body {
            Some(body) => live.insert((change.kind, change.id), body.clone()),
            None => live.remove(&(change.kind, change.id)),
        };
    }
    live.into_iter()
        .map(|((kind, id), body)| Row {
            kind,
            id,
            body: Some(body),
        })
        .collect()
}

#[async_trait]
impl ShowStore for CqlStore {
    async fn load(&self, show: ShowId) -> Result<Option<StoredShow>, StoreError> {
        for _ in 0..LOAD_ATTEMPTS {
            if let Some(read) = self.read_whole(show).await? {
                return Ok(read);
            }
        }
        Err(StoreError::Unavailable(
            format!("show {show} changed during each of {LOAD_ATTEMPTS} reads of it").into(),
        ))
    }

    async fn read_fence(&self, show: ShowId) -> Result<Option<(Fence, u64)>, StoreError> {
        type FenceRow = (Option<i64>, Option<i64>, Option<i64>, Option<String>);
        let row: Option<FenceRow> = self
            .first_row(&self.statements.read_fence, (show.0,))
            .await?;
        Ok(row.and_then(|(seq, epoch, version, owner)| fence_from(seq, epoch, version, owner)))
    }

    async fn applied_seq(&self, show: ShowId) -> Result<Option<u64>, StoreError> {
        let row: Option<(Option<i64>,)> = self
            .first_row(&self.statements.read_applied_seq, (show.0,))
            .await?;
        Ok(row.and_then(|(seq,)| seq).map(|seq| seq as u64))
    }

    async fn read_row(
        &self,
        show: ShowId,
        kind: i8,
        id: Uuid,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let row: Option<(Option<Vec<u8>>,)> = self
            .first_row(&self.statements.read_row, (show.0, kind, id))
            .await?;
        // A row without a body is only the static fence columns' carrier: no such row.
        Ok(row.and_then(|(body,)| body))
    }

    async fn write_index(&self, index: &IndexRows) -> Result<(), StoreError> {
        if index.is_empty() {
            return Ok(());
        }
        // One round trip: an unlogged batch (idempotent rows of other partitions; no atomicity
        // is needed because the show's own rows are the truth).
        let mut batch = Batch::new(BatchType::Unlogged);
        let mut values: Vec<Vec<CqlValue>> = Vec::new();
        for (id, kind, show) in &index.lookups {
            batch.append_statement(self.statements.put_lookup.clone());
            values.push(vec![
                CqlValue::Uuid(*id),
                CqlValue::TinyInt(kind.code()),
                CqlValue::Uuid(show.0),
            ]);
        }
        for b in &index.user_bookings {
            batch.append_statement(self.statements.put_user_booking.clone());
            values.push(vec![
                CqlValue::Uuid(b.user.0),
                CqlValue::BigInt(b.booked_at.0),
                CqlValue::Uuid(b.booking_id.0),
                CqlValue::Uuid(b.show_id.0),
            ]);
        }
        self.session
            .get()
            .batch(&batch, values)
            .await
            .map(|_| ())
            .map_err(|e| self.read_failed(e))
    }

    async fn persist(&self, write: &ShowWrite) -> Result<PersistOutcome, StoreError> {
        let plan = changes::plan(write, self.tail_for(write).await?);
        let (batch, values) = self.batch_for(write, &plan);
        let outcome = self.conditional(batch, values).await;
        if let (Ok(PersistOutcome::Applied), Some(tail)) = (&outcome, plan.tail) {
            self.remember_tail(write.show_id, tail);
        }
        outcome
    }
    async fn set_expiry_hint(
        &self,
        partition: &PartitionId,
        show: ShowId,
        due: Option<UnixMs>,
    ) -> Result<(), StoreError> {
        let result = match due {
            Some(at) => {
                let values = (partition.0.as_str(), show.0, at.0);
                self.session
                    .get()
                    .execute_unpaged(&self.statements.put_hint, values)
                    .await
            }
            None => {
                let values = (partition.0.as_str(), show.0);
                self.session
                    .get()
                    .execute_unpaged(&self.statements.delete_hint, values)
                    .await
            }
        };
        result.map(|_| ()).map_err(|e| self.read_failed(e))
    }

    async fn expiry_hints(
        &self,
        partition: &PartitionId,
    ) -> Result<Vec<(ShowId, UnixMs)>, StoreError> {
        let pager = self
            .session
            .get()
            .execute_iter(self.statements.list_hints.clone(), (partition.0.as_str(),))
            .await
            .map_err(|e| self.pager_failed(e))?;
        let rows: Vec<(Uuid, i64)> = pager
            .rows_stream::<(Uuid, i64)>()
            .map_err(|e| StoreError::Fatal(e.into()))?
            .try_collect()
            .await
            .map_err(|e| StoreError::Unavailable(e.into()))?;
        Ok(rows
            .into_iter()
            .map(|(show, due)| (ShowId(show), UnixMs(due)))
            .collect())
    }

    async fn lookup(&self, id: Uuid, kind: LookupKind) -> Result<Option<ShowId>, StoreError> {
        let row: Option<(Uuid,)> = self
            .first_row(&self.statements.get_lookup, (id, kind.code()))
            .await?;
        Ok(row.map(|(show,)| ShowId(show)))
    }

    async fn user_bookings(
        &self,
        user: UserId,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<UserBookingRef>, usize), StoreError> {
        let pager = self
            .session
            .get()
            .execute_iter(self.statements.list_user_bookings.clone(), (user.0,))
            .await
            .map_err(|e| self.pager_failed(e))?;
        let rows: Vec<(i64, Uuid, Uuid)> = pager
            .rows_stream::<(i64, Uuid, Uuid)>()
            .map_err(|e| StoreError::Fatal(e.into()))?
            .try_collect()
            .await
            .map_err(|e| StoreError::Unavailable(e.into()))?;
        let total = rows.len();
        let page = rows
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|(at, booking, show)| UserBookingRef {
                user,
                booking_id: BookingId(booking),
                show_id: ShowId(show),
                booked_at: UnixMs(at),
            })
            .collect();
        Ok((page, total))
    }
}
