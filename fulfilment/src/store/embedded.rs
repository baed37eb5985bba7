//! [`EmbeddedTicketStore`]: the ticket store of dev mode, one redb file under the data dir. Each
//! call is one transaction, durable when it returns.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use schemas::{BookingId, TicketId};

use super::{TicketStore, TicketStoreError};
use crate::model::{Artifact, ArtifactKind, IssuedTicket, RefundDue, StoredStatus, TicketRecord};

/// File name of the ticket store inside the data dir.
pub const TICKETS_FILE: &str = "tickets.redb";

/// ticket -> TicketRecord (JSON).
const RECORDS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("ticket_records");
/// (ticket, kind) -> file bytes.
const FILES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("ticket_files");
/// (booking, ticket) -> nothing: the tickets of a booking.
const BY_BOOKING: TableDefinition<&[u8], ()> = TableDefinition::new("booking_tickets");
/// booking -> RefundDue (JSON).
const REFUNDS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("refunds_due");

/// Tickets and refunds owed in a redb file. Cloning shares the database.
#[derive(Clone)]
pub struct EmbeddedTicketStore {
    db: Arc<Database>,
}

impl std::fmt::Debug for EmbeddedTicketStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedTicketStore")
            .finish_non_exhaustive()
    }
}

fn fatal(e: impl std::fmt::Display) -> TicketStoreError {
    TicketStoreError::Fatal(e.to_string())
}

fn corrupt(e: impl std::fmt::Display) -> TicketStoreError {
    TicketStoreError::Corrupt(e.to_string())
}

fn file_key(ticket: TicketId, kind: ArtifactKind) -> [u8; 17] {
    let mut key = [0u8; 17];
    key[..16].copy_from_slice(ticket.0.as_bytes());
    key[16] = kind.code();
    key
}

fn pair_key(booking: BookingId, ticket: TicketId) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(booking.0.as_bytes());
    key[16..].copy_from_slice(ticket.0.as_bytes());
    key
}

impl EmbeddedTicketStore {
    /// Open (or create) the store file at `path`.
    pub fn open(path: &Path) -> Result<EmbeddedTicketStore, TicketStoreError> {
        let db = Database::create(path).map_err(fatal)?;
        let txn = db.begin_write().map_err(fatal)?;
        {
            txn.open_table(RECORDS).map_err(fatal)?;
            txn.open_table(FILES).map_err(fatal)?;
            txn.open_table(BY_BOOKING).map_err(fatal)?;
            txn.open_table(REFUNDS).map_err(fatal)?;
        }
        txn.commit().map_err(fatal)?;
        Ok(EmbeddedTicketStore { db: Arc::new(db) })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Database) -> Result<T, TicketStoreError> + Send + 'static,
    ) -> Result<T, TicketStoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || work(&db))
            .await
            .map_err(|e| TicketStoreError::Fatal(format!("ticket store task failed: {e}")))?
    }
}

fn put_issued(db: &Database, tickets: &[IssuedTicket]) -> Result<(), TicketStoreError> {
    let txn = db.begin_write().map_err(fatal)?;
    {
        let mut records = txn.open_table(RECORDS).map_err(fatal)?;
        let mut files = txn.open_table(FILES).map_err(fatal)?;
        let mut by_booking = txn.open_table(BY_BOOKING).map_err(fatal)?;
        for ticket in tickets {
            let id = ticket.record.ticket_id;
            let mut record = ticket.record.clone();
            let known = records
                .get(id.0.as_bytes().as_slice())
                .map_err(fatal)?
                .map(|v| serde_json::from_slice::<TicketRecord>(v.value()))
                .transpose()
                .map_err(corrupt)?;
            if let Some(known) = known
                && known.status != StoredStatus::Valid
            {
                record.status = known.status;
            }
            let body = serde_json::to_vec(&record).map_err(corrupt)?;
            records
                .insert(id.0.as_bytes().as_slice(), body.as_slice())
                .map_err(fatal)?;
            for kind in ArtifactKind::ALL {
                files
                    .insert(file_key(id, kind).as_slice(), ticket.artifact(kind))
                    .map_err(fatal)?;
            }
            by_booking
                .insert(pair_key(record.booking_id, id).as_slice(), ())
                .map_err(fatal)?;
        }
    }
    txn.commit().map_err(fatal)
}

fn booking_tickets(
    db: &Database,
    booking: BookingId,
) -> Result<Vec<TicketRecord>, TicketStoreError> {
    let txn = db.begin_read().map_err(fatal)?;
    let by_booking = txn.open_table(BY_BOOKING).map_err(fatal)?;
    let records = txn.open_table(RECORDS).map_err(fatal)?;
    let start = pair_key(booking, TicketId(uuid::Uuid::nil()));
    let end = pair_key(booking, TicketId(uuid::Uuid::max()));
    let mut found = Vec::new();
    for entry in by_booking
        .range(start.as_slice()..=end.as_slice())
        .map_err(fatal)?
    {
        let (key, _) = entry.map_err(fatal)?;
        let ticket = &key.value()[16..32];
        if let Some(body) = records.get(ticket).map_err(fatal)? {
            found.push(serde_json::from_slice(body.value()).map_err(corrupt)?);
        }
    }
    Ok(found)
}

fn artifact(
    db: &Database,
    ticket: TicketId,
    kind: ArtifactKind,
) -> Result<Option<Artifact>, TicketStoreError> {
    let txn = db.begin_read().map_err(fatal)?;
    let records = txn.open_table(RECORDS).map_err(fatal)?;
    let Some(body) = records.get(ticket.0.as_bytes().as_slice()).map_err(fatal)? else {
        return Ok(None);
    };
    let record: TicketRecord = serde_json::from_slice(body.value()).map_err(corrupt)?;
    let files = txn.open_table(FILES).map_err(fatal)?;
    let bytes = files
        .get(file_key(ticket, kind).as_slice())
        .map_err(fatal)?
        .map(|v| v.value().to_vec());
    Ok(bytes.map(|bytes| Artifact {
        owner: record.owner,
        bytes,
    }))
}

fn set_status(
    db: &Database,
    tickets: &[TicketId],
    status: &StoredStatus,
) -> Result<(), TicketStoreError> {
    let txn = db.begin_write().map_err(fatal)?;
    {
        let mut records = txn.open_table(RECORDS).map_err(fatal)?;
        for ticket in tickets {
            let key = ticket.0.as_bytes().as_slice();
            let known = records
                .get(key)
                .map_err(fatal)?
                .map(|v| serde_json::from_slice::<TicketRecord>(v.value()))
                .transpose()
                .map_err(corrupt)?;
            if let Some(mut record) = known {
                record.status = status.clone();
                let body = serde_json::to_vec(&record).map_err(corrupt)?;
                records.insert(key, body.as_slice()).map_err(fatal)?;
            }
        }
    }
    txn.commit().map_err(fatal)
}

fn put_refund_due(db: &Database, due: &RefundDue) -> Result<(), TicketStoreError> {
    let body = serde_json::to_vec(due).map_err(corrupt)?;
    let txn = db.begin_write().map_err(fatal)?;
    {
        let mut refunds = txn.open_table(REFUNDS).map_err(fatal)?;
        refunds
            .insert(due.booking_id.0.as_bytes().as_slice(), body.as_slice())
            .map_err(fatal)?;
    }
    txn.commit().map_err(fatal)
}

fn refunds_due(db: &Database, limit: usize) -> Result<Vec<RefundDue>, TicketStoreError> {
    let txn = db.begin_read().map_err(fatal)?;
    let refunds = txn.open_table(REFUNDS).map_err(fatal)?;
    let mut due = Vec::new();
    for entry in refunds.iter().map_err(fatal)? {
        let (_, body) = entry.map_err(fatal)?;
        due.push(serde_json::from_slice::<RefundDue>(body.value()).map_err(corrupt)?);
    }
    due.sort_by_key(|d| (d.cancelled_at, d.booking_id));
    due.truncate(limit);
    Ok(due)
}

fn refund_settled(db: &Database, booking: BookingId) -> Result<(), TicketStoreError> {
    let txn = db.begin_write().map_err(fatal)?;
    {
        let mut refunds = txn.open_table(REFUNDS).map_err(fatal)?;
        refunds
            .remove(booking.0.as_bytes().as_slice())
            .map_err(fatal)?;
    }
    txn.commit().map_err(fatal)
}

#[async_trait]
impl TicketStore for EmbeddedTicketStore {
    async fn put_issued(&self, tickets: &[IssuedTicket]) -> Result<(), TicketStoreError> {
        let tickets = tickets.to_vec();
        self.blocking(move |db| put_issued(db, &tickets)).await
    }

    async fn booking_tickets(
        &self,
        booking: BookingId,
    ) -> Result<Vec<TicketRecord>, TicketStoreError> {
        self.blocking(move |db| booking_tickets(db, booking)).await
    }

    async fn artifact(
        &self,
        ticket: TicketId,
        kind: ArtifactKind,
    ) -> Result<Option<Artifact>, TicketStoreError> {
        self.blocking(move |db| artifact(db, ticket, kind)).await
    }

    async fn set_status(
        &self,
        _booking: BookingId,
        tickets: &[TicketId],
        status: &StoredStatus,
    ) -> Result<(), TicketStoreError> {
        let (tickets, status) = (tickets.to_vec(), status.clone());
        self.blocking(move |db| set_status(db, &tickets, &status))
            .await
    }

    async fn put_refund_due(&self, due: &RefundDue) -> Result<(), TicketStoreError> {
        let due = due.clone();
        self.blocking(move |db| put_refund_due(db, &due)).await
    }

    async fn refunds_due(&self, limit: usize) -> Result<Vec<RefundDue>, TicketStoreError> {
        self.blocking(move |db| refunds_due(db, limit)).await
    }

    async fn refund_settled(&self, booking: BookingId) -> Result<(), TicketStoreError> {
        self.blocking(move |db| refund_settled(db, booking)).await
    }
}
