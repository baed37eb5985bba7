//! [`CqlTicketStore`]: the ticket store of serve mode, in tables beside the show state.
//!
//! - `tickets`: one row per ticket with its owner and files (what a download reads).
//! - `booking_tickets`: one partition per booking, one row per ticket (what a booking read
//!   lists). Issuing writes every column but the status ones, and status changes write only
//!   those, so the two commute: a cancellation handled before a redelivered confirmation keeps
//!   its status, with no read-before-write and no lightweight transaction. A row with a status
//!   but no code yet is a ticket still being issued and is not listed.
//! - `refunds_due`: refunds owed, in one small partition (they are few and short-lived).

use std::sync::Arc;

use async_trait::async_trait;
use futures::TryStreamExt;
use processors::cql::session::LiveSession;
use schemas::{BookingId, SeatId, ShowId, TicketId, UnixMs, UserId};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::statement::prepared::PreparedStatement;
use uuid::Uuid;

use super::{TicketStore, TicketStoreError};
use crate::model::{Artifact, ArtifactKind, IssuedTicket, RefundDue, StoredStatus, TicketRecord};

/// The tables [`ticket_schema_statements`] creates.
pub const TICKET_TABLES: [&str; 3] = ["tickets", "booking_tickets", "refunds_due"];

/// The single partition of `refunds_due`.
const REFUND_BUCKET: i32 = 0;

/// Idempotent DDL for the ticket tables in `keyspace` (which must exist: `boxoffice provision`
/// creates it with the show state).
pub fn ticket_schema_statements(keyspace: &str) -> Vec<String> {
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {keyspace}.tickets (ticket_id uuid PRIMARY KEY, \
             booking_id uuid, owner_id uuid, qr_png blob, qr_svg blob, pdf blob)"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {keyspace}.booking_tickets (booking_id uuid, \
             ticket_id uuid, show_id uuid, seat_id uuid, owner_id uuid, section text, \
             seat_row text, seat_number int, code text, issued_at bigint, status text, \
             checked_in_at bigint, gate text, PRIMARY KEY ((booking_id), ticket_id))"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {keyspace}.refunds_due (bucket int, booking_id uuid, \
             show_id uuid, payment_ref text, amount_minor bigint, cancelled_at bigint, \
             PRIMARY KEY ((bucket), booking_id))"
        ),
    ]
}

struct Statements {
    put_files: PreparedStatement,
    put_listing: PreparedStatement,
    list: PreparedStatement,
    files: [PreparedStatement; 3],
    set_status: PreparedStatement,
    put_refund: PreparedStatement,
    list_refunds: PreparedStatement,
    delete_refund: PreparedStatement,
}

/// Tickets and refunds owed in CQL tables.
pub struct CqlTicketStore {
    /// Replaced by a fresh session when the old one stays without connections (after a
    /// Cassandra restart), as the show store's is: the worker resumes with it.
    session: Arc<LiveSession>,
    statements: Statements,
}

impl std::fmt::Debug for CqlTicketStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CqlTicketStore").finish_non_exhaustive()
    }
}

fn unavailable(e: impl std::fmt::Display) -> TicketStoreError {
    TicketStoreError::Unavailable(e.to_string())
}

fn fatal(e: impl std::fmt::Display) -> TicketStoreError {
    TicketStoreError::Fatal(e.to_string())
}

/// One row of `booking_tickets` as read.
type ListingRow = (
    Uuid,
    Option<Uuid>,
    Option<Uuid>,
    Option<Uuid>,
    Option<String>,
    Option<String>,
    Option<i32>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<String>,
);

impl CqlTicketStore {
    /// Connect to the comma-separated `nodes`, create the tables if missing, and prepare.
    pub async fn connect(nodes: &str, keyspace: &str) -> Result<CqlTicketStore, TicketStoreError> {
        let nodes: Vec<&str> = nodes
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect();
        let session = SessionBuilder::new()
            .known_nodes(nodes)
            .connection_timeout(std::time::Duration::from_secs(5))
            .build()
            .await
            .map_err(unavailable)?;
        CqlTicketStore::provision(&session, keyspace).await?;
        CqlTicketStore::new(session, keyspace).await
    }

    /// Create the ticket tables in `keyspace` if they are missing.
    pub async fn provision(session: &Session, keyspace: &str) -> Result<(), TicketStoreError> {
        for statement in ticket_schema_statements(keyspace) {
            session.query_unpaged(statement, ()).await.map_err(fatal)?;
        }
        Ok(())
    }

    /// Prepare every statement against `keyspace` (tables must exist).
    pub async fn new(session: Session, keyspace: &str) -> Result<CqlTicketStore, TicketStoreError> {
        let ks = keyspace;
        let prepare = |cql: String| {
            let session = &session;
            async move { session.prepare(cql).await.map_err(fatal) }
        };
        let file = |column: &str| {
            format!("SELECT owner_id, {column} FROM {ks}.tickets WHERE ticket_id = ?")
        };
        let statements = Statements {
            put_files: prepare(format!(
                "INSERT INTO {ks}.tickets (ticket_id, booking_id, owner_id, qr_png, qr_svg, pdf) \
                 VALUES (?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            put_listing: prepare(format!(
                "INSERT INTO {ks}.booking_tickets (booking_id, ticket_id, show_id, seat_id, \
                 owner_id, section, seat_row, seat_number, code, issued_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            list: prepare(format!(
                "SELECT ticket_id, show_id, seat_id, owner_id, section, seat_row, seat_number, \
                 code, issued_at, status, checked_in_at, gate FROM {ks}.booking_tickets \
                 WHERE booking_id = ?"
            ))
            .await?,
            files: [
                prepare(file("qr_png")).await?,
                prepare(file("qr_svg")).await?,
                prepare(file("pdf")).await?,
            ],
            set_status: prepare(format!(
                "UPDATE {ks}.booking_tickets SET status = ?, checked_in_at = ?, gate = ? \
                 WHERE booking_id = ? AND ticket_id = ?"
            ))
            .await?,
            put_refund: prepare(format!(
                "INSERT INTO {ks}.refunds_due (bucket, booking_id, show_id, payment_ref, \
                 amount_minor, cancelled_at) VALUES (?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            list_refunds: prepare(format!(
                "SELECT booking_id, show_id, payment_ref, amount_minor, cancelled_at \
                 FROM {ks}.refunds_due WHERE bucket = ?"
            ))
            .await?,
            delete_refund: prepare(format!(
                "DELETE FROM {ks}.refunds_due WHERE bucket = ? AND booking_id = ?"
            ))
            .await?,
        };
        Ok(CqlTicketStore {
            session: Arc::new(LiveSession::new(session)),
            statements,
        })
    }

    async fn put_one(&self, ticket: &IssuedTicket) -> Result<(), TicketStoreError> {
        let r = &ticket.record;
        // Files first: once a booking lists the ticket, its files can be downloaded.
        self.session
            .execute_unpaged(
                &self.statements.put_files,
                (
                    r.ticket_id.0,
                    r.booking_id.0,
                    r.owner.0,
                    ticket.qr_png.as_slice(),
                    ticket.qr_svg.as_slice(),
                    ticket.pdf.as_slice(),
                ),
            )
            .await
            .map_err(unavailable)?;
        self.session
            .execute_unpaged(
                &self.statements.put_listing,
                (
                    r.booking_id.0,
                    r.ticket_id.0,
                    r.show_id.0,
                    r.seat_id.0,
                    r.owner.0,
                    r.section.as_str(),
                    r.row.as_str(),
                    r.number as i32,
                    r.code.as_str(),
                    r.issued_at.0,
                ),
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

fn listing_record(booking: BookingId, row: ListingRow) -> Option<TicketRecord> {
    let (ticket, show, seat, owner, section, seat_row, number, code, issued_at, status, at, gate) =
        row;
    let status = match status.as_deref() {
        Some("CANCELLED") => StoredStatus::Cancelled,
        Some("CHECKED_IN") => StoredStatus::CheckedIn {
            at: UnixMs(at.unwrap_or(0)),
            gate,
        },
        Some(_) | None => StoredStatus::Valid,
    };
    Some(TicketRecord {
        ticket_id: TicketId(ticket),
        booking_id: booking,
        show_id: ShowId(show?),
        seat_id: SeatId(seat?),
        owner: UserId(owner?),
        section: section.unwrap_or_default(),
        row: seat_row.unwrap_or_default(),
        number: number.unwrap_or(0).max(0) as u32,
        code: code?,
        status,
        issued_at: UnixMs(issued_at.unwrap_or(0)),
    })
}

#[async_trait]
impl TicketStore for CqlTicketStore {
    async fn put_issued(&self, tickets: &[IssuedTicket]) -> Result<(), TicketStoreError> {
        let writes = tickets.iter().map(|t| self.put_one(t));
        for result in futures::future::join_all(writes).await {
            result?;
        }
        Ok(())
    }

    async fn booking_tickets(
        &self,
        booking: BookingId,
    ) -> Result<Vec<TicketRecord>, TicketStoreError> {
        let pager = self
            .session
            .execute_iter(self.statements.list.clone(), (booking.0,))
            .await
            .map_err(unavailable)?;
        let rows: Vec<ListingRow> = pager
            .rows_stream::<ListingRow>()
            .map_err(fatal)?
            .try_collect()
            .await
            .map_err(unavailable)?;
        Ok(rows
            .into_iter()
            .filter_map(|row| listing_record(booking, row))
            .collect())
    }

    async fn artifact(
        &self,
        ticket: TicketId,
        kind: ArtifactKind,
    ) -> Result<Option<Artifact>, TicketStoreError> {
        let statement = &self.statements.files[usize::from(kind.code())];
        let result = self
            .session
            .execute_unpaged(statement, (ticket.0,))
            .await
            .map_err(unavailable)?;
        let rows = result.into_rows_result().map_err(fatal)?;
        let row = rows
            .maybe_first_row::<(Option<Uuid>, Option<Vec<u8>>)>()
            .map_err(fatal)?;
        Ok(match row {
            Some((Some(owner), Some(bytes))) => Some(Artifact {
                owner: UserId(owner),
                bytes,
            }),
            Some(_) | None => None,
        })
    }

    async fn set_status(
        &self,
        booking: BookingId,
        tickets: &[TicketId],
        status: &StoredStatus,
    ) -> Result<(), TicketStoreError> {
        let (at, gate) = match status {
            StoredStatus::CheckedIn { at, gate } => (Some(at.0), gate.clone()),
            StoredStatus::Valid | StoredStatus::Cancelled => (None, None),
        };
        let writes = tickets.iter().map(|ticket| {
            self.session.execute_unpaged(
                &self.statements.set_status,
                (status.as_str(), at, gate.as_deref(), booking.0, ticket.0),
            )
        });
        for result in futures::future::join_all(writes).await {
            result.map_err(unavailable)?;
        }
        Ok(())
    }

    async fn put_refund_due(&self, due: &RefundDue) -> Result<(), TicketStoreError> {
        self.session
            .execute_unpaged(
                &self.statements.put_refund,
                (
                    REFUND_BUCKET,
                    due.booking_id.0,
                    due.show_id.0,
                    due.payment_ref.as_str(),
                    due.amount_minor,
                    due.cancelled_at.0,
                ),
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn refunds_due(&self, limit: usize) -> Result<Vec<RefundDue>, TicketStoreError> {
        let pager = self
            .session
            .execute_iter(self.statements.list_refunds.clone(), (REFUND_BUCKET,))
            .await
            .map_err(unavailable)?;
        let rows: Vec<(Uuid, Uuid, String, i64, i64)> = pager
            .rows_stream::<(Uuid, Uuid, String, i64, i64)>()
            .map_err(fatal)?
            .try_collect()
            .await
            .map_err(unavailable)?;
        let mut due: Vec<RefundDue> = rows
            .into_iter()
            .map(|(booking, show, payment_ref, amount_minor, at)| RefundDue {
                booking_id: BookingId(booking),
                show_id: ShowId(show),
                payment_ref,
                amount_minor,
                cancelled_at: UnixMs(at),
            })
            .collect();
        due.sort_by_key(|d| (d.cancelled_at, d.booking_id));
        due.truncate(limit);
        Ok(due)
    }

    async fn refund_settled(&self, booking: BookingId) -> Result<(), TicketStoreError> {
        self.session
            .execute_unpaged(&self.statements.delete_refund, (REFUND_BUCKET, booking.0))
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
