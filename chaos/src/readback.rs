//! The final state, read back once the run is quiet: every show from Cassandra (the source of
//! truth, restored as the processor restores it), its seat map through each ingress's API, and
//! every authorization of the payments sandbox.

use std::collections::{BTreeMap, BTreeSet};

use engine::ShowState;
use history::{FinalState, HoldEnd, Ms, Payment, SeatStatus};
use payments::Authorization;
use processors::store::ShowStore;
use schemas::{BookingId, HoldId, ShowId};
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
    /// The payments sandbox would not list its authorizations.
    #[error("listing the payments sandbox's authorizations")]
    Payments(#[source] payments::PaymentError),
    /// A show of the run is not in the store at all.
    #[error("VIOLATION acknowledged-once: show {0} was created but is not stored")]
    Missing(Uuid),
}

pub(crate) fn map_status(s: &str) -> SeatStatus {
    match s {
        "HELD" => SeatStatus::Held,
        "BOOKED" => SeatStatus::Booked,
        "BLOCKED" => SeatStatus::Blocked,
        _ => SeatStatus::Available,
    }
}

/// What was read back: the checker's state and the campaign's own findings on the way.
pub struct ReadBack {
    /// Everything the checker needs (the seat map as ingress 0 serves it).
    pub state: FinalState,
    /// Bookings whose payment reference names no authorization that took money.
    pub unpaid: Option<String>,
}

/// Everything the checker needs: the shows from the store, ingress 0's seat map and every
/// authorization of the sandbox that moved money.
pub async fn final_state(
    store: &processors::cql::CqlStore,
    api: &Api,
    payments: &payments::HttpPaymentProvider,
    shows: &[Show],
    show_time: Ms,
) -> Result<ReadBack, ReadbackError> {
    let mut state = FinalState {
        show_time,
        ..FinalState::default()
    };
    let mut refs = Vec::new();
    for show in shows {
        let engine = load(store, show.show_id).await?;
        refs.extend(processors::readback::read_show(&engine, &mut state));
    }
    state.seat_map = seat_map(api, 0, shows).await?;
    let authorizations = payments.list_all().await.map_err(ReadbackError::Payments)?;
    state.payments = Some(moved(&authorizations));
    Ok(ReadBack {
        unpaid: unpaid(&refs, &authorizations),
        state,
    })
}

/// Every authorization that captured or refunded anything, as a payment for the booking its hold
/// becomes (the ingress authorizes with the hold as reference). Read from the sandbox, not
/// through the stored bookings, so a capture for a hold that never became a booking shows. One
/// whose reference names no hold is money moved for no booking: it is named by its own id.
/// Voided and never-captured authorizations moved nothing and are left out.
pub fn moved(authorizations: &[Authorization]) -> Vec<Payment> {
    authorizations
        .iter()
        .filter(|a| a.captured_minor > 0 || a.refunded_minor > 0)
        .map(|a| Payment {
            booking: booking_of(a),
            captured: a.captured_minor.max(0) as u64,
            refunded: a.refunded_minor.max(0) as u64,
        })
        .collect()
}

fn booking_of(a: &Authorization) -> Uuid {
    a.reference
        .as_deref()
        .and_then(|r| Uuid::parse_str(r).ok())
        .map_or(a.authorization_id.0, |hold| {
            BookingId::of_hold(HoldId(hold)).0
        })
}

/// Stored bookings whose payment reference is not an authorization that took money: the checker
/// sees money per booking, so a booking naming a voided authorization while another one of its
/// hold was captured would pass it.
pub fn unpaid(refs: &[(Uuid, String)], authorizations: &[Authorization]) -> Option<String> {
    let took_money: BTreeSet<Uuid> = authorizations
        .iter()
        .filter(|a| a.captured_minor > 0)
        .map(|a| a.authorization_id.0)
        .collect();
    let found: Vec<String> = refs
        .iter()
        .filter(|(_, payment_ref)| {
            Uuid::parse_str(payment_ref).map_or(true, |id| !took_money.contains(&id))
        })
        .map(|(booking, payment_ref)| format!("{booking} names {payment_ref:?}"))
        .collect();
    (!found.is_empty()).then(|| {
        format!(
            "VIOLATION payment-matches-booking: {} booking(s) name a payment that captured nothing: {}",
            found.len(),
            found.join(", ")
        )
    })
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

#[cfg(test)]
mod tests {
    use history::{Check, History, Rules};
    use payments::{AuthorizationId, AuthorizationStatus};

    use super::*;

    fn authorization(reference: Uuid, status: AuthorizationStatus, captured: i64) -> Authorization {
        Authorization {
            authorization_id: AuthorizationId(Uuid::new_v4()),
            status,
            amount_minor: 1_000,
            currency: "USD".into(),
            payment_method_id: payments::PM_CARD_VISA.into(),
            reference: Some(reference.to_string()),
            captured_minor: captured,
            refunded_minor: 0,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    fn payments_check(payments: Vec<Payment>) -> Result<(), history::Violation> {
        let state = FinalState {
            payments: Some(payments),
            ..FinalState::default()
        };
        let rules = Rules {
            refund_percent: engine::refund_percent,
        };
        history::check_one(
            Check::PaymentMatchesBooking,
            &History::new(),
            &state,
            &rules,
        )
    }

    #[test]
    fn a_capture_for_a_hold_that_never_became_a_booking_is_caught() {
        let hold = Uuid::new_v4();
        let moved = moved(&[authorization(hold, AuthorizationStatus::Captured, 1_000)]);
        assert_eq!(moved[0].booking, BookingId::of_hold(HoldId(hold)).0);
        let found = payments_check(moved).expect_err("money moved for no booking");
        assert!(found.detail.contains("which is no booking"), "{found}");
    }

    #[test]
    fn voided_and_open_authorizations_moved_nothing() {
        let moved = moved(&[
            authorization(Uuid::new_v4(), AuthorizationStatus::Voided, 0),
            authorization(Uuid::new_v4(), AuthorizationStatus::Authorized, 0),
        ]);
        assert!(moved.is_empty());
        assert_eq!(payments_check(moved), Ok(()));
    }

    #[test]
    fn a_booking_naming_an_authorization_that_took_nothing_is_unpaid() {
        let hold = Uuid::new_v4();
        let voided = authorization(hold, AuthorizationStatus::Voided, 0);
        let captured = authorization(hold, AuthorizationStatus::Captured, 1_000);
        let booking = BookingId::of_hold(HoldId(hold)).0;
        let all = [voided.clone(), captured.clone()];
        let names = |a: &Authorization| vec![(booking, a.authorization_id.to_string())];
        assert_eq!(unpaid(&names(&captured), &all), None);
        let found = unpaid(&names(&voided), &all).expect("names the voided one");
        assert!(
            found.starts_with("VIOLATION payment-matches-booking"),
            "{found}"
        );
        assert!(unpaid(&[(booking, "not-an-id".into())], &all).is_some());
    }
}
