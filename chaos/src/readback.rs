//! The final state, read back once the run is quiet: every show from Cassandra (the source of
//! truth, restored as the processor restores it), its seat map through the API, and each
//! booking's payment from the payments sandbox.

use std::collections::BTreeMap;

use engine::{HoldStatus, ShowState, StateRow};
use history::{
    Admission, BookingRecord, Cancellation, FinalState, HoldEnd, HoldRecord, Ms, Payment,
    SeatStatus,
};
use payments::{AuthorizationId, PaymentProvider};
use processors::store::ShowStore;
use schemas::ShowId;
use uuid::Uuid;

use crate::client::Api;
use crate::shows::Show;

/// The state could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum ReadbackError {
    /// The store would not answer.
    #[error("reading show {show} from the store")]
    Store {
        /// Which show.
        show: Uuid,
        /// Why.
        #[source]
        source: processors::store::StoreError,
    },
    /// The stored rows do not restore (a seat claimed twice, say): a violation of its own.
    #[error("VIOLATION stored-state-restores: show {show} does not restore")]
    Restore {
        /// Which show.
        show: Uuid,
        /// Why.
        #[source]
        source: processors::store::StoreError,
    },
    /// The seat map could not be read.
    #[error(transparent)]
    SeatMap(#[from] crate::shows::SetupError),
    /// The payments sandbox would not answer.
    #[error("reading payment {0}")]
    Payment(String, #[source] payments::PaymentError),
    /// A booking names a payment that is no authorization id.
    #[error("booking {booking} names payment {payment_ref:?}, not an authorization id")]
    PaymentRef {
        /// The booking.
        booking: Uuid,
        /// What it names.
        payment_ref: String,
    },
    /// A show of the run is not in the store at all.
    #[error("VIOLATION acknowledged-once: show {0} was created but is not stored")]
    Missing(Uuid),
}

fn status(s: schemas::SeatStatus) -> SeatStatus {
    match s {
        schemas::SeatStatus::Available => SeatStatus::Available,
        schemas::SeatStatus::Held => SeatStatus::Held,
        schemas::SeatStatus::Booked => SeatStatus::Booked,
        schemas::SeatStatus::Blocked => SeatStatus::Blocked,
    }
}

fn map_status(s: &str) -> SeatStatus {
    match s {
        "HELD" => SeatStatus::Held,
        "BOOKED" => SeatStatus::Booked,
        "BLOCKED" => SeatStatus::Blocked,
        _ => SeatStatus::Available,
    }
}

/// Everything the checker needs, and each booking's payment reference.
pub async fn final_state(
    store: &processors::cql::CqlStore,
    api: &Api,
    payments: &payments::HttpPaymentProvider,
    shows: &[Show],
    show_time: Ms,
) -> Result<FinalState, ReadbackError> {
    let mut state = FinalState {
        show_time,
        ..FinalState::default()
    };
    let mut refs = Vec::new();
    for show in shows {
        let engine = load(store, show.show_id).await?;
        refs.extend(read_engine(&engine, &mut state));
    }
    state.seat_map = seat_map(api, 0, shows).await?;
    let mut moved = Vec::new();
    for (booking, payment_ref) in refs {
        moved.push(payment(payments, booking, &payment_ref).await?);
    }
    state.payments = Some(moved);
    Ok(state)
}

/// Every show's seats as ingress `via` serves them: from its projection of the stream's seat
/// deltas (the store only for a show it does not follow yet), so a projection that missed or
/// misapplied a change differs from the store once the run is quiet.
pub async fn seat_map(
    api: &Api,
    via: usize,
    shows: &[Show],
) -> Result<BTreeMap<Uuid, SeatStatus>, ReadbackError> {
    let viewer = api.token(Uuid::new_v4(), &[]);
    let mut seats = BTreeMap::new();
    for show in shows {
        let map = crate::shows::seat_map_via(
            api,
            via,
            &show.event_id,
            &show.show_id.to_string(),
            &viewer,
        )
        .await?;
        seats.extend(map.iter().map(|(seat, s)| (*seat, map_status(s))));
    }
    Ok(seats)
}

async fn load(store: &processors::cql::CqlStore, show: Uuid) -> Result<ShowState, ReadbackError> {
    let id = ShowId(show);
    let stored = store
        .load(id)
        .await
        .map_err(|source| ReadbackError::Store { show, source })?;
    match stored {
        Some(rows) => processors::rows::restore(id, &rows)
            .map_err(|source| ReadbackError::Restore { show, source }),
        None => Err(ReadbackError::Missing(show)),
    }
}

async fn payment(
    payments: &payments::HttpPaymentProvider,
    booking: Uuid,
    payment_ref: &str,
) -> Result<Payment, ReadbackError> {
    let id = Uuid::parse_str(payment_ref)
        .map(AuthorizationId)
        .map_err(|_| ReadbackError::PaymentRef {
            booking,
            payment_ref: payment_ref.to_owned(),
        })?;
    let found = payments
        .get(id)
        .await
        .map_err(|e| ReadbackError::Payment(payment_ref.to_owned(), e))?;
    Ok(Payment {
        booking,
        captured: found.captured_minor.max(0) as u64,
        refunded: found.refunded_minor.max(0) as u64,
    })
}

/// Put one restored show into `out`; each booking's payment reference.
fn read_engine(engine: &ShowState, out: &mut FinalState) -> Vec<(Uuid, String)> {
    for (seat, s) in engine.seat_statuses() {
        out.stored_seats.insert(seat.0, status(s));
    }
    let snapshot = engine.snapshot();
    let mut refs = Vec::new();
    for row in &snapshot {
        if let StateRow::Hold { hold_id, body } = row {
            out.holds.push(HoldRecord {
                id: hold_id.0,
                seats: seat_ids(engine, &body.seats),
                expires_at: body.expires_at.0,
                end: match (body.status, body.booking_id) {
                    (HoldStatus::Confirmed, Some(b)) => HoldEnd::Confirmed(b.0),
                    (HoldStatus::Confirmed, None) | (HoldStatus::Active, _) => HoldEnd::Active,
                    (HoldStatus::Released, _) => HoldEnd::Released,
                    (HoldStatus::Expired, _) => HoldEnd::Expired,
                },
            });
        }
    }
    for row in &snapshot {
        let StateRow::Booking { booking_id, body } = row else {
            continue;
        };
        let hold = snapshot.iter().find_map(|r| match r {
            StateRow::Hold { hold_id, body: h } if *hold_id == body.hold_id => Some(h),
            _ => None,
        });
        out.bookings.push(BookingRecord {
            id: booking_id.0,
            hold: body.hold_id.0,
            seats: hold.map_or_else(Vec::new, |h| seat_ids(engine, &h.seats)),
            amount: hold.map_or(0, |h| h.total_minor as u64),
            booked_at: body.booked_at.0,
            cancelled: body.cancellation.as_ref().map(|c| Cancellation {
                at: c.at.0,
                refund: c.refund_minor as u64,
            }),
        });
        refs.push((booking_id.0, body.payment_ref.clone()));
        for check_in in &body.check_ins {
            if let Some(seat) = engine.seat_id(check_in.seat) {
                out.admissions.push(Admission {
                    ticket: engine::ticket_id(*booking_id, seat).0,
                    booking: booking_id.0,
                });
            }
        }
    }
    refs
}

fn seat_ids(engine: &ShowState, indices: &[u32]) -> Vec<Uuid> {
    indices
        .iter()
        .filter_map(|i| engine.seat_id(*i))
        .map(|s| s.0)
        .collect()
}

/// Holds still active long after they lapsed although the run has been quiet: expiry stopped
/// working (the checker cannot tell, as the seats agree with the hold).
pub fn lapsed_but_active(state: &FinalState, now: Ms, grace_ms: Ms) -> Option<String> {
    let stuck: Vec<String> = state
        .holds
        .iter()
        .filter(|h| h.end == HoldEnd::Active && h.expires_at + grace_ms < now)
        .map(|h| format!("{} (lapsed at {})", h.id, h.expires_at))
        .collect();
    (!stuck.is_empty()).then(|| {
        format!(
            "VIOLATION holds-lapse: {} hold(s) still active more than {grace_ms} ms after they lapsed: {}",
            stuck.len(),
            stuck.join(", ")
        )
    })
}
