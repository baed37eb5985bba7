//! Payments that never strand a buyer, over real HTTP against a real `boxoffice dev`: declined
//! and slow payment methods, a hold expiring during a slow payment (voided, 410, seats free),
//! injected provider errors ridden out with the same idempotency key, and `kill -9` of the dev
//! process at the crash points of the confirm flow (after authorize; after the booking is
//! committed but before capture), followed by a restart and the reconciler. After each, the
//! provider's journal must say: every captured authorization pays for a confirmed booking, every
//! confirmed booking's authorization is captured, and nothing is left merely authorized.
//!
//! The crash points are reached with the sandbox's own fault injection (a configured feature:
//! `BOXOFFICE_PAYMENTS_FAULT_*`): a lost answer after the authorization took effect, or latency
//! before each call so the capture is still pending when the process dies.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use payments::{Authorization, AuthorizationId, AuthorizationStatus};
use reqwest::StatusCode;
use support::api::{Api, TestShow, api_config};
use support::tickets::*;
use uuid::Uuid;

/// Not a test: the entry point of a `boxoffice dev` child process (run by the crash tests with
/// `--ignored --exact`), so it can be killed with SIGKILL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "entry point of a dev child process"]
async fn tickets_dev_child() {
    run_child().await;
}

const CHILD: &str = "tickets_dev_child";

/// Every authorization the provider ever made, from its journal (the server must be gone).
async fn journal(dir: &Path) -> HashMap<AuthorizationId, Authorization> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match payments::journal::Journal::open(&dir.join("payments")) {
            Ok((_, loaded)) => return loaded.authorizations,
            Err(e) => {
                assert!(Instant::now() < deadline, "journal stays busy: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// "captured <=> confirmed booking": `bookings` are the payment ids of every confirmed booking.
fn assert_settled(authorizations: &HashMap<AuthorizationId, Authorization>, bookings: &[String]) {
    for (id, authorization) in authorizations {
        let booked = bookings.contains(&id.to_string());
        match authorization.status {
            AuthorizationStatus::Captured => {
                assert!(booked, "captured without a booking: {authorization:?}")
            }
            AuthorizationStatus::Voided => {
                assert!(!booked, "booking without payment: {authorization:?}")
            }
            AuthorizationStatus::Authorized => panic!("left open: {authorization:?}"),
            AuthorizationStatus::PartiallyRefunded | AuthorizationStatus::Refunded => {
                panic!("nothing was cancelled: {authorization:?}")
            }
        }
    }
    for booking in bookings {
        let id = AuthorizationId(Uuid::parse_str(booking).unwrap());
        assert!(
            authorizations.contains_key(&id),
            "booking paid by an unknown authorization {booking}"
        );
    }
}

/// The payment id of the booking a hold became, if it did.
async fn booking_payment(api: &Api, token: &str, hold: &str) -> Option<String> {
    let view = api
        .get(&format!("/v1/bookings/holds/{hold}"), Some(token))
        .await;
    if view.body["status"] != "CONFIRMED" {
        return None;
    }
    let page = api.get("/v1/bookings", Some(token)).await;
    page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["holdId"] == hold)
        .map(|b| b["paymentId"].as_str().unwrap().to_owned())
}

async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_card_keeps_the_hold_and_a_slow_card_succeeds() {
    let mut api = start(settings(), |_| {}).await;
    let show = create_show(&api, 1, 4).await;
    let (token, _) = api.guest().await;
    let hold = api.held(&token, &show, &[&show.seats[0]]).await;
    api.confirm(&token, &hold, "pm_card_declined", None)
        .await
        .expect_problem(402, "payment-declined");
    let view = api
        .get(&format!("/v1/bookings/holds/{hold}"), Some(&token))
        .await;
    assert_eq!(view.body["status"], "ACTIVE");
    assert_eq!(api.seat_statuses(&show).await[&show.seats[0]], "HELD");
    api.confirm(&token, &hold, "pm_card_unknown", None)
        .await
        .expect_problem(400, "invalid-request");
    let started = Instant::now();
    let slow = api.confirm(&token, &hold, "pm_card_slow", None).await;
    assert_eq!(slow.status, StatusCode::CREATED, "{slow:?}");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let (tickets, _) =
        wait_tickets(&api, &token, slow.body["bookingId"].as_str().unwrap(), 1).await;
    assert_eq!(tickets.len(), 1);
    let paid_by = slow.body["paymentId"].as_str().unwrap().to_owned();
    if let Some(server) = api.server.take() {
        server.stop().await.unwrap();
    }
    assert_settled(&journal(api.dir.path()).await, &[paid_by]);
    restart_with(&mut api, settings()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_expiring_during_a_slow_payment_is_voided_answered_410_and_its_seats_freed() {
    let mut api = start(settings(), |c| c.hold_ttl_s = 1).await;
    let show = create_show(&api, 1, 4).await;
    let (token, _) = api.guest().await;
    let hold = api.held(&token, &show, &[&show.seats[1]]).await;
    api.confirm(&token, &hold, "pm_card_slow", None)
        .await
        .expect_problem(410, "hold-expired");
    wait_until("seats free", Duration::from_secs(3), || async {
        api.seat_statuses(&show).await[&show.seats[1]] == "AVAILABLE"
    })
    .await;
    assert_eq!(api.get("/v1/bookings", Some(&token)).await.body["total"], 0);
    if let Some(server) = api.server.take() {
        server.stop().await.unwrap();
    }
    let authorizations = journal(api.dir.path()).await;
    assert_eq!(authorizations.len(), 1);
    assert_settled(&authorizations, &[]);
    restart_with(&mut api, settings()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_provider_errors_are_ridden_out_with_the_same_key() {
    let mut faulty = settings();
    faulty.payment_faults.fault_error_rate = 0.5;
    faulty.payment_faults.fault_seed = 11;
    let mut api = start(faulty, |_| {}).await;
    let show = create_show(&api, 2, 6).await;
    let mut paid = Vec::new();
    let mut declined_by_outage = 0;
    for seat in show.seats.iter().take(10) {
        let (token, _) = api.guest().await;
        let hold = api.held(&token, &show, &[seat]).await;
        // A client retrying an outage (503) with its key gets the one outcome.
        let mut answer = api
            .confirm(&token, &hold, "pm_card_visa", Some("pay-1"))
            .await;
        while answer.status == StatusCode::SERVICE_UNAVAILABLE {
            declined_by_outage += 1;
            answer = api
                .confirm(&token, &hold, "pm_card_visa", Some("pay-1"))
                .await;
        }
        assert!(
            answer.status == StatusCode::CREATED || answer.status == StatusCode::OK,
            "{answer:?}"
        );
        paid.push(answer.body["paymentId"].as_str().unwrap().to_owned());
    }
    eprintln!("503s retried by the client: {declined_by_outage}");
    // Let the reconciler settle captures whose answer the outage ate.
    tokio::time::sleep(Duration::from_secs(3)).await;
    if let Some(server) = api.server.take() {
        server.stop().await.unwrap();
    }
    assert_settled(&journal(api.dir.path()).await, &paid);
    restart_with(&mut api, settings()).await;
}

fn child_env(extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("BOXOFFICE_RECONCILE_INTERVAL", "1".to_owned()),
        ("BOXOFFICE_HOLD_TTL", "4".to_owned()),
        ("BOXOFFICE_PAYMENTS_FAULT_TIMEOUT_RATE", "0".to_owned()),
        ("BOXOFFICE_PAYMENTS_FAULT_LATENCY_MS", "0".to_owned()),
    ];
    for (key, value) in extra {
        env.retain(|(k, _)| k != key);
        env.push((key, (*value).to_owned()));
    }
    env
}

/// A buyer's confirm in flight on a child server the test is about to kill.
struct InFlight {
    child: DevChild,
    api: Api,
    show: TestShow,
    token: String,
    hold: String,
    /// The confirm request, answered or failed when the child dies.
    confirm: tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>,
}

/// A child server over `dir` with `env`, a show of four seats, and a guest who holds seat `seat`
/// and confirms it with `pm_card_visa` (`key`: its Idempotency-Key) in the background.
async fn confirm_on_child(
    dir: &Path,
    env: &[(&'static str, String)],
    seat: usize,
    key: Option<&str>,
) -> InFlight {
    let child = DevChild::spawn(CHILD, dir, env).await;
    let api = child.api(api_config());
    let show = create_show(&api, 1, 4).await;
    let (token, _) = api.guest().await;
    let hold = api.held(&token, &show, &[&show.seats[seat]]).await;
    let mut request = api
        .http
        .post(format!("{}/v1/bookings/confirm", api.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({"holdId": hold, "paymentMethodId": "pm_card_visa"}));
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let confirm = tokio::spawn(request.send());
    InFlight {
        child,
        api,
        show,
        token,
        hold,
        confirm,
    }
}

/// SIGKILL `child` while `confirm` waits on it; the confirm's result (an error when it died with
/// the child).
async fn kill_during(
    child: DevChild,
    confirm: tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>,
) -> reqwest::Result<reqwest::Response> {
    child.kill();
    confirm.await.unwrap()
}

/// SIGKILL the restarted `child` and read the journal over `dir`: exactly one authorization (one
/// buyer, one key), settled for `bookings` (captured when it paid for one, voided otherwise).
async fn kill_and_check_one_authorization(child: DevChild, dir: &Path, bookings: &[String]) {
    child.kill();
    let authorizations = journal(dir).await;
    assert_eq!(
        authorizations.len(),
        1,
        "one authorization for one key: {authorizations:?}"
    );
    assert_settled(&authorizations, bookings);
}

/// Crash after authorize, before the booking is logged: after the restart the hold lapses and
/// the reconciler voids the authorization. No money is taken for no booking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_authorize_ends_voided_with_the_seats_free() {
    let dir = tempfile::tempdir().unwrap();
    // Every answer of the provider is lost after the effect: the authorization is recorded, the
    // confirm hangs waiting for its answer.
    let lossy = child_env(&[
        ("BOXOFFICE_PAYMENTS_FAULT_TIMEOUT_RATE", "1"),
        ("BOXOFFICE_PAYMENTS_FAULT_TIMEOUT_MS", "60000"),
    ]);
    let InFlight {
        child: first,
        show,
        token,
        hold,
        confirm,
        ..
    } = confirm_on_child(dir.path(), &lossy, 0, None).await;
    // Long enough for the confirm to reach the provider on a busy machine; the provider then
    // holds its answer for a minute.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        kill_during(first, confirm).await.is_err(),
        "the confirm died with the process"
    );

    let second = DevChild::spawn(CHILD, dir.path(), &child_env(&[])).await;
    let api = second.api(api_config());
    wait_until("the hold to lapse", Duration::from_secs(10), || async {
        api.seat_statuses(&show).await[&show.seats[0]] == "AVAILABLE"
    })
    .await;
    // Reconciler runs every second; give it three.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(booking_payment(&api, &token, &hold).await, None);
    kill_and_check_one_authorization(second, dir.path(), &[]).await;
}

/// Crash after authorize, then the buyer retries with the same Idempotency-Key after the
/// restart: the same authorization pays for the booking, and it is captured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_crash_reuses_the_authorization_and_captures_it() {
    let dir = tempfile::tempdir().unwrap();
    let lossy = child_env(&[
        ("BOXOFFICE_HOLD_TTL", "60"),
        ("BOXOFFICE_PAYMENTS_FAULT_TIMEOUT_RATE", "1"),
        ("BOXOFFICE_PAYMENTS_FAULT_TIMEOUT_MS", "60000"),
    ]);
    let InFlight {
        child: first,
        token,
        hold,
        confirm,
        ..
    } = confirm_on_child(dir.path(), &lossy, 2, Some("buy-once")).await;
    // Long enough for the confirm to reach the provider on a busy machine; the provider then
    // holds its answer for a minute.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = kill_during(first, confirm).await;

    let second = DevChild::spawn(
        CHILD,
        dir.path(),
        &child_env(&[("BOXOFFICE_HOLD_TTL", "60")]),
    )
    .await;
    let api = second.api(api_config());
    let retry = api
        .confirm(&token, &hold, "pm_card_visa", Some("buy-once"))
        .await;
    assert_eq!(retry.status, StatusCode::CREATED, "{retry:?}");
    let paid_by = retry.body["paymentId"].as_str().unwrap().to_owned();
    let (tickets, _) =
        wait_tickets(&api, &token, retry.body["bookingId"].as_str().unwrap(), 1).await;
    assert_eq!(tickets[0]["status"], "VALID");
    kill_and_check_one_authorization(second, dir.path(), &[paid_by]).await;
}

/// Crash after the booking is committed, before the capture: after the restart the reconciler
/// captures. No booking is left with its payment lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_booking_and_capture_ends_captured() {
    let dir = tempfile::tempdir().unwrap();
    // Every provider call waits 2 s first: authorize completes at ~2 s, the booking commits at
    // once, the capture would land at ~4 s. The process dies in between.
    let slow = child_env(&[
        ("BOXOFFICE_HOLD_TTL", "60"),
        ("BOXOFFICE_PAYMENTS_FAULT_LATENCY_MS", "2000"),
    ]);
    let InFlight {
        child: first,
        api,
        token,
        hold,
        confirm,
        ..
    } = confirm_on_child(dir.path(), &slow, 3, None).await;
    let committed = Instant::now();
    wait_until("the booking to commit", Duration::from_secs(10), || async {
        let view = api
            .get(&format!("/v1/bookings/holds/{hold}"), Some(&token))
            .await;
        view.body["status"] == "CONFIRMED"
    })
    .await;
    assert!(
        committed.elapsed() < Duration::from_millis(3_900),
        "killed too late to be before the capture"
    );
    assert!(
        kill_during(first, confirm).await.is_err(),
        "the confirm died with the process"
    );

    let second = DevChild::spawn(
        CHILD,
        dir.path(),
        &child_env(&[("BOXOFFICE_HOLD_TTL", "60")]),
    )
    .await;
    let api = second.api(api_config());
    let paid_by = booking_payment(&api, &token, &hold)
        .await
        .expect("the booking survived the crash");
    // Tickets for the booking whose fact died with the process come from the sweep at start.
    let booking = api.get("/v1/bookings", Some(&token)).await.body["items"][0]["bookingId"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_tickets(&api, &token, &booking, 1).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    kill_and_check_one_authorization(second, dir.path(), &[paid_by]).await;
}
