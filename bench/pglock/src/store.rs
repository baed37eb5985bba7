//! The SQL: every read and every transaction of the service, as a textbook would write them.
//!
//! Concurrency control is PostgreSQL's row locks at the default READ COMMITTED isolation: a hold
//! locks its seat rows (`SELECT ... FOR UPDATE`, in seat-id order so two holds never deadlock),
//! a confirm locks its hold row. Every expiry comparison uses the database's `now()`, so the
//! service's clock never matters. Statements are prepared once per connection (`prepare_cached`).

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Pool, Transaction};
use uuid::Uuid;

use crate::error::StoreError;

/// A show to create (already validated).
#[derive(Debug, Clone)]
pub struct NewShow {
    /// Seats in the show.
    pub seats: i32,
    /// Seats per row.
    pub row_length: i32,
    /// Price of one seat, minor units.
    pub price: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// A show just created.
#[derive(Debug, Clone, Copy)]
pub struct CreatedShow {
    /// Its id.
    pub show_id: Uuid,
    /// The event it belongs to.
    pub event_id: Uuid,
}

/// One seat of a seat map.
#[derive(Debug, Clone)]
pub struct MapSeat {
    /// Id.
    pub seat_id: Uuid,
    /// Row label (`R0`, `R1`, ...).
    pub row: String,
    /// Number within the row, from 1.
    pub number: i32,
    /// `AVAILABLE`, `HELD` or `BOOKED`, with lapsed holds shown `AVAILABLE`.
    pub status: String,
}

/// A hold just placed.
#[derive(Debug, Clone)]
pub struct Held {
    /// When it lapses.
    pub expires_at: DateTime<Utc>,
    /// Price of its seats, minor units.
    pub total: i64,
    /// The show's currency.
    pub currency: String,
}

/// What a hold attempt came to.
#[derive(Debug, Clone)]
pub enum HoldOutcome {
    /// All seats held.
    Held(Held),
    /// The show or one of the seats does not exist.
    NotFound,
    /// These seats are held or booked by someone else.
    Unavailable(Vec<Uuid>),
}

/// A hold as the confirm saga first reads it.
#[derive(Debug, Clone)]
pub struct HoldRecord {
    /// The show.
    pub show_id: Uuid,
    /// Its owner.
    pub user_id: Uuid,
    /// Seats, in the order they were held.
    pub seat_ids: Vec<Uuid>,
    /// Price, minor units.
    pub total: i64,
    /// The show's currency.
    pub currency: String,
    /// Whether it is already a booking.
    pub confirmed: bool,
    /// Whether it is `ACTIVE` and unexpired right now.
    pub live: bool,
}

/// A booking.
#[derive(Debug, Clone)]
pub struct Booking {
    /// Id.
    pub booking_id: Uuid,
    /// The show.
    pub show_id: Uuid,
    /// The hold it confirmed.
    pub hold_id: Uuid,
    /// Its seats.
    pub seat_ids: Vec<Uuid>,
    /// Amount paid, minor units.
    pub total: i64,
    /// The show's currency.
    pub currency: String,
    /// The payment provider's authorization id.
    pub payment_id: String,
}

/// What the confirm transaction came to.
#[derive(Debug, Clone)]
pub enum ConfirmOutcome {
    /// The booking was written.
    Booked(Booking),
    /// Another confirm of the same hold committed first; this is its booking.
    AlreadyConfirmed(Booking),
    /// The hold expired (or lost seats to a later hold) before the transaction locked it.
    Lapsed,
}

/// The service's access to PostgreSQL: a bounded pool and the hold time-to-live.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    hold_ttl_s: i32,
}

impl Store {
    /// A store over `pool`; holds last `hold_ttl_s` seconds.
    pub fn new(pool: Pool, hold_ttl_s: u32) -> Store {
        Store {
            pool,
            hold_ttl_s: i32::try_from(hold_ttl_s).unwrap_or(i32::MAX),
        }
    }

    /// Inserts a show and all its seats in one transaction; the seats come from one
    /// `INSERT ... SELECT` over `generate_series`, so no seat row crosses the network.
    pub async fn create_show(&self, show: &NewShow) -> Result<CreatedShow, StoreError> {
        let created = CreatedShow {
            show_id: Uuid::new_v4(),
            event_id: Uuid::new_v4(),
        };
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let insert_show = tx
            .prepare_cached(
                "INSERT INTO shows (show_id, event_id, seats, available, price, currency)
                 VALUES ($1, $2, $3, $3, $4, $5)",
            )
            .await?;
        tx.execute(
            &insert_show,
            &[
                &created.show_id,
                &created.event_id,
                &show.seats,
                &show.price,
                &show.currency,
            ],
        )
        .await?;
        let insert_seats = tx
            .prepare_cached(
                "INSERT INTO seats (show_id, seat_id, ordinal, row_label, number, status)
                 SELECT $1, gen_random_uuid(), g, 'R' || (g / $3::int), g % $3::int + 1, 'AVAILABLE'
                 FROM generate_series(0, $2::int - 1) AS g",
            )
            .await?;
        let inserted = tx
            .execute(
                &insert_seats,
                &[&created.show_id, &show.seats, &show.row_length],
            )
            .await?;
        if inserted != u64::try_from(show.seats).unwrap_or(0) {
            return Err(StoreError::Invariant(
                "seat insert wrote the wrong number of rows",
            ));
        }
        tx.commit().await?;
        Ok(created)
    }

    /// The seats of a show in venue order, or `None` when the show (of that event) is unknown.
    pub async fn seat_map(
        &self,
        event_id: Uuid,
        show_id: Uuid,
    ) -> Result<Option<Vec<MapSeat>>, StoreError> {
        let client = self.pool.get().await?;
        let exists = client
            .prepare_cached("SELECT 1 FROM shows WHERE show_id = $1 AND event_id = $2")
            .await?;
        if client
            .query_opt(&exists, &[&show_id, &event_id])
            .await?
            .is_none()
        {
            return Ok(None);
        }
        let seats = client
            .prepare_cached(
                "SELECT seat_id, row_label, number,
                        CASE WHEN status = 'HELD' AND hold_expires_at <= now() THEN 'AVAILABLE'
                             ELSE status END
                 FROM seats WHERE show_id = $1 ORDER BY ordinal",
            )
            .await?;
        let rows = client.query(&seats, &[&show_id]).await?;
        let map = rows
            .iter()
            .map(|r| {
                Ok(MapSeat {
                    seat_id: r.try_get(0)?,
                    row: r.try_get(1)?,
                    number: r.try_get(2)?,
                    status: r.try_get(3)?,
                })
            })
            .collect::<Result<Vec<_>, tokio_postgres::Error>>()?;
        Ok(Some(map))
    }

    /// The textbook hold: lock the seat rows in seat-id order, check each is free, mark them held,
    /// record the hold, commit; any refusal rolls back.
    pub async fn hold(
        &self,
        hold_id: Uuid,
        user_id: Uuid,
        show_id: Uuid,
        seat_ids: &[Uuid],
    ) -> Result<HoldOutcome, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let Some((price, currency)) = show_price(&tx, show_id).await? else {
            tx.rollback().await?;
            return Ok(HoldOutcome::NotFound);
        };
        let locked = lock_seats(&tx, show_id, seat_ids).await?;
        if locked.len() != seat_ids.len() {
            tx.rollback().await?;
            return Ok(HoldOutcome::NotFound);
        }
        let taken: Vec<Uuid> = locked
            .iter()
            .filter(|(_, free)| !free)
            .map(|(s, _)| *s)
            .collect();
        if !taken.is_empty() {
            tx.rollback().await?;
            return Ok(HoldOutcome::Unavailable(taken));
        }
        let total = price.saturating_mul(seat_ids.len() as i64);
        let expires_at = self
            .insert_hold(&tx, hold_id, user_id, show_id, seat_ids, total)
            .await?;
        mark_held(&tx, show_id, seat_ids, hold_id, expires_at).await?;
        tx.commit().await?;
        Ok(HoldOutcome::Held(Held {
            expires_at,
            total,
            currency,
        }))
    }

    /// Records a hold and returns when it lapses (`now()` plus the time-to-live).
    async fn insert_hold(
        &self,
        tx: &Transaction<'_>,
        hold_id: Uuid,
        user_id: Uuid,
        show_id: Uuid,
        seat_ids: &[Uuid],
        total: i64,
    ) -> Result<DateTime<Utc>, StoreError> {
        let insert = tx
            .prepare_cached(
                "INSERT INTO holds (hold_id, show_id, user_id, seat_ids, expires_at, status, total)
                 VALUES ($1, $2, $3, $4, now() + $5::int * interval '1 second', 'ACTIVE', $6)
                 RETURNING expires_at",
            )
            .await?;
        let row = tx
            .query_one(
                &insert,
                &[
                    &hold_id,
                    &show_id,
                    &user_id,
                    &seat_ids,
                    &self.hold_ttl_s,
                    &total,
                ],
            )
            .await?;
        Ok(row.try_get(0)?)
    }

    /// A hold as the confirm saga reads it before paying (no lock: the transaction re-checks).
    pub async fn read_hold(&self, hold_id: Uuid) -> Result<Option<HoldRecord>, StoreError> {
        let client = self.pool.get().await?;
        let read = client
            .prepare_cached(
                "SELECT h.show_id, h.user_id, h.seat_ids, h.total, s.currency,
                        h.status = 'CONFIRMED', h.status = 'ACTIVE' AND h.expires_at > now()
                 FROM holds h JOIN shows s ON s.show_id = h.show_id
                 WHERE h.hold_id = $1",
            )
            .await?;
        let Some(row) = client.query_opt(&read, &[&hold_id]).await? else {
            return Ok(None);
        };
        Ok(Some(HoldRecord {
            show_id: row.try_get(0)?,
            user_id: row.try_get(1)?,
            seat_ids: row.try_get(2)?,
            total: row.try_get(3)?,
            currency: row.try_get(4)?,
            confirmed: row.try_get(5)?,
            live: row.try_get(6)?,
        }))
    }

    /// The booking a hold became, if any.
    pub async fn booking_of_hold(&self, hold_id: Uuid) -> Result<Option<Booking>, StoreError> {
        let client = self.pool.get().await?;
        booking_of_hold(&client, hold_id).await
    }

    /// The confirm transaction: lock the hold, re-check it is active and unexpired, book its
    /// seats, count them off the show, write the booking, mark the hold confirmed, commit.
    pub async fn confirm(
        &self,
        hold: &HoldRecord,
        hold_id: Uuid,
        payment_id: &str,
    ) -> Result<ConfirmOutcome, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        match lock_hold(&tx, hold_id).await? {
            HoldLock::Confirmed => {
                let booking = booking_of_hold(&tx, hold_id).await?;
                tx.rollback().await?;
                return booking
                    .map(ConfirmOutcome::AlreadyConfirmed)
                    .ok_or(StoreError::Invariant("a confirmed hold has no booking"));
            }
            HoldLock::Lapsed => {
                tx.rollback().await?;
                return Ok(ConfirmOutcome::Lapsed);
            }
            HoldLock::Live => {}
        }
        let booking_id = Uuid::new_v4();
        let n = hold.seat_ids.len();
        if book_seats(&tx, hold.show_id, hold_id, booking_id).await? != n as u64 {
            // A seat went to a later hold: this one had lapsed after all.
            tx.rollback().await?;
            return Ok(ConfirmOutcome::Lapsed);
        }
        let booking = Booking {
            booking_id,
            show_id: hold.show_id,
            hold_id,
            seat_ids: hold.seat_ids.clone(),
            total: hold.total,
            currency: hold.currency.clone(),
            payment_id: payment_id.to_owned(),
        };
        write_booking(&tx, &booking, hold.user_id).await?;
        tx.commit().await?;
        Ok(ConfirmOutcome::Booked(booking))
    }
}

/// The show's price and currency, if it exists.
async fn show_price(
    tx: &Transaction<'_>,
    show_id: Uuid,
) -> Result<Option<(i64, String)>, StoreError> {
    let read = tx
        .prepare_cached("SELECT price, currency FROM shows WHERE show_id = $1")
        .await?;
    let Some(row) = tx.query_opt(&read, &[&show_id]).await? else {
        return Ok(None);
    };
    Ok(Some((row.try_get(0)?, row.try_get(1)?)))
}

/// Locks the seats that exist, in seat-id order, and says which are free.
async fn lock_seats(
    tx: &Transaction<'_>,
    show_id: Uuid,
    seat_ids: &[Uuid],
) -> Result<Vec<(Uuid, bool)>, StoreError> {
    let lock = tx
        .prepare_cached(
            "SELECT seat_id,
                    status = 'AVAILABLE' OR (status = 'HELD' AND hold_expires_at <= now())
             FROM seats WHERE show_id = $1 AND seat_id = ANY($2)
             ORDER BY seat_id FOR UPDATE",
        )
        .await?;
    let rows = tx.query(&lock, &[&show_id, &seat_ids]).await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// Marks locked seats held by `hold_id` until `expires_at`.
async fn mark_held(
    tx: &Transaction<'_>,
    show_id: Uuid,
    seat_ids: &[Uuid],
    hold_id: Uuid,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let update = tx
        .prepare_cached(
            "UPDATE seats SET status = 'HELD', hold_id = $3, hold_expires_at = $4
             WHERE show_id = $1 AND seat_id = ANY($2)",
        )
        .await?;
    let updated = tx
        .execute(&update, &[&show_id, &seat_ids, &hold_id, &expires_at])
        .await?;
    if updated != seat_ids.len() as u64 {
        return Err(StoreError::Invariant(
            "hold updated the wrong number of seats",
        ));
    }
    Ok(())
}

/// The state of a hold row once locked.
enum HoldLock {
    /// `ACTIVE` and unexpired.
    Live,
    /// Already a booking.
    Confirmed,
    /// Expired, or missing (it was read a moment ago, so it cannot be).
    Lapsed,
}

/// Locks the hold row (`FOR UPDATE`): concurrent confirms of one hold run one after the other.
async fn lock_hold(tx: &Transaction<'_>, hold_id: Uuid) -> Result<HoldLock, StoreError> {
    let lock = tx
        .prepare_cached(
            "SELECT status = 'CONFIRMED', status = 'ACTIVE' AND expires_at > now()
             FROM holds WHERE hold_id = $1 FOR UPDATE",
        )
        .await?;
    let Some(row) = tx.query_opt(&lock, &[&hold_id]).await? else {
        return Ok(HoldLock::Lapsed);
    };
    let (confirmed, live): (bool, bool) = (row.try_get(0)?, row.try_get(1)?);
    Ok(match (confirmed, live) {
        (true, _) => HoldLock::Confirmed,
        (false, true) => HoldLock::Live,
        (false, false) => HoldLock::Lapsed,
    })
}

/// Books the seats still held by `hold_id`; returns how many.
async fn book_seats(
    tx: &Transaction<'_>,
    show_id: Uuid,
    hold_id: Uuid,
    booking_id: Uuid,
) -> Result<u64, StoreError> {
    let update = tx
        .prepare_cached(
            "UPDATE seats SET status = 'BOOKED', booking_id = $3, hold_expires_at = NULL
             WHERE show_id = $1 AND hold_id = $2 AND status = 'HELD'",
        )
        .await?;
    Ok(tx
        .execute(&update, &[&show_id, &hold_id, &booking_id])
        .await?)
}

/// Counts the seats off the show, inserts the booking and marks the hold confirmed.
async fn write_booking(
    tx: &Transaction<'_>,
    booking: &Booking,
    user_id: Uuid,
) -> Result<(), StoreError> {
    let count_off = tx
        .prepare_cached("UPDATE shows SET available = available - $2 WHERE show_id = $1")
        .await?;
    let n = i32::try_from(booking.seat_ids.len()).unwrap_or(i32::MAX);
    tx.execute(&count_off, &[&booking.show_id, &n]).await?;
    let insert = tx
        .prepare_cached(
            "INSERT INTO bookings (booking_id, hold_id, show_id, user_id, seat_ids, total, payment_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .await?;
    tx.execute(
        &insert,
        &[
            &booking.booking_id,
            &booking.hold_id,
            &booking.show_id,
            &user_id,
            &booking.seat_ids,
            &booking.total,
            &booking.payment_id,
        ],
    )
    .await?;
    let confirm = tx
        .prepare_cached("UPDATE holds SET status = 'CONFIRMED' WHERE hold_id = $1")
        .await?;
    tx.execute(&confirm, &[&booking.hold_id]).await?;
    Ok(())
}

/// The booking of a hold, read through a pooled client or an open transaction.
async fn booking_of_hold<C: GenericClient + Sync>(
    client: &C,
    hold_id: Uuid,
) -> Result<Option<Booking>, StoreError> {
    let read = client
        .prepare_cached(
            "SELECT b.booking_id, b.show_id, b.seat_ids, b.total, s.currency, b.payment_id
             FROM bookings b JOIN shows s ON s.show_id = b.show_id
             WHERE b.hold_id = $1",
        )
        .await?;
    let Some(row) = client.query_opt(&read, &[&hold_id]).await? else {
        return Ok(None);
    };
    Ok(Some(Booking {
        booking_id: row.try_get(0)?,
        show_id: row.try_get(1)?,
        hold_id,
        seat_ids: row.try_get(2)?,
        total: row.try_get(3)?,
        currency: row.try_get(4)?,
        payment_id: row.try_get(5)?,
    }))
}
