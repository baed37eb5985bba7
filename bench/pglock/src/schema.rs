//! The textbook schema: one row per seat, holds and bookings as rows, foreign keys throughout.
//!
//! Seat status is stored as text (`AVAILABLE`, `HELD`, `BOOKED`), the API's own spelling, so the
//! tables read plainly in `psql`. A seat is available when `AVAILABLE`, or `HELD` by a hold whose
//! `hold_expires_at` has passed: expiry is lazy, decided by the next reader, so no sweeper runs.
//! `ordinal` is the seat's place in the venue (row-major), which orders the seat map.

use deadpool_postgres::Pool;

use crate::error::StoreError;

/// Any fixed number; serializes schema creation between several `pg-lock` processes starting at
/// once (concurrent `CREATE TABLE IF NOT EXISTS` can otherwise fail on the catalog's unique index).
const SCHEMA_LOCK: i64 = 0x5047_4c4f_434b;

/// The DDL, idempotent.
const DDL: &str = "
CREATE TABLE IF NOT EXISTS shows (
    show_id     uuid PRIMARY KEY,
    event_id    uuid NOT NULL,
    seats       int NOT NULL,
    available   int NOT NULL CHECK (available >= 0),
    price       bigint NOT NULL CHECK (price > 0),
    currency    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS seats (
    show_id         uuid NOT NULL REFERENCES shows,
    seat_id         uuid NOT NULL,
    ordinal         int NOT NULL,
    row_label       text NOT NULL,
    number          int NOT NULL,
    status          text NOT NULL DEFAULT 'AVAILABLE'
                    CHECK (status IN ('AVAILABLE', 'HELD', 'BOOKED')),
    hold_id         uuid,
    hold_expires_at timestamptz,
    booking_id      uuid,
    PRIMARY KEY (show_id, seat_id)
);
CREATE TABLE IF NOT EXISTS holds (
    hold_id     uuid PRIMARY KEY,
    show_id     uuid NOT NULL REFERENCES shows,
    user_id     uuid NOT NULL,
    seat_ids    uuid[] NOT NULL,
    expires_at  timestamptz NOT NULL,
    status      text NOT NULL CHECK (status IN ('ACTIVE', 'CONFIRMED')),
    total       bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS bookings (
    booking_id  uuid PRIMARY KEY,
    hold_id     uuid NOT NULL UNIQUE REFERENCES holds,
    show_id     uuid NOT NULL REFERENCES shows,
    user_id     uuid NOT NULL,
    seat_ids    uuid[] NOT NULL,
    total       bigint NOT NULL,
    payment_id  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
";

/// Creates the tables that are missing, in one transaction.
pub async fn ensure(pool: &Pool) -> Result<(), StoreError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    // Quiet the "relation already exists, skipping" notices of every start but the first.
    tx.batch_execute("SET LOCAL client_min_messages = warning")
        .await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .await?;
    tx.batch_execute(DDL).await?;
    tx.commit().await?;
    Ok(())
}
