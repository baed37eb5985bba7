//! Gate check-in over real HTTP against a real `boxoffice dev`: staff only; forged, altered and
//! malformed codes are 422 (every position of a code altered, sampled over HTTP; the tickets crate
//! checks every byte exhaustively); two gates scanning one ticket at the same moment admit it
//! exactly once; a check-in racing a cancellation of the same booking never lets both succeed.

mod support;

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::json;
use support::api::Api;
use support::tickets::*;
use tokio::sync::Barrier;

/// A booking of one seat by a fresh guest, with its issued ticket's code.
async fn one_ticket(
    api: &Api,
    seat: &str,
    show: &support::api::TestShow,
) -> (String, String, String) {
    let (token, _) = api.guest().await;
    let booking = booked(api, &token, show, &[seat]).await;
    let (tickets, _) = wait_tickets(api, &token, &booking, 1).await;
    let code = tickets[0]["code"].as_str().unwrap().to_owned();
    (token, booking, code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_staff_and_admins_check_in_and_bad_input_is_named() {
    let api = start(settings(), |_| {}).await;
    let show = create_show(&api, 1, 4).await;
    let (buyer, _, code) = one_ticket(&api, &show.seats[0], &show).await;
    check_in(&api, &buyer, &code, None)
        .await
        .expect_problem(403, "forbidden");
    api.post("/v1/checkin", None, json!({"code": code}))
        .await
        .expect_problem(401, "unauthenticated");
    let gate = staff(&api);
    let missing = api
        .post("/v1/checkin", Some(&gate), json!({"gate": "A"}))
        .await;
    missing.expect_problem(400, "invalid-request");
    assert_eq!(missing.body["field"], "code");
    api.post("/v1/checkin", Some(&gate), json!({"code": 7}))
        .await
        .expect_problem(400, "invalid-request");
    let long_gate = check_in(&api, &gate, &code, Some(&"g".repeat(65))).await;
    long_gate.expect_problem(400, "invalid-request");
    assert_eq!(long_gate.body["field"], "gate");
    for junk in ["", "hello", "0000", &"A".repeat(5000), "ÄÖÜ"] {
        check_in(&api, &gate, junk, None)
            .await
            .expect_problem(422, "invalid-ticket");
    }
    // An admin may scan too; the admitted ticket is in the answer.
    let admitted = check_in(&api, &api.admin(), &code, Some("Main")).await;
    assert_eq!(admitted.status, StatusCode::OK, "{admitted:?}");
    assert_eq!(admitted.body["result"], "ADMITTED");
    assert_eq!(admitted.body["ticket"]["status"], "CHECKED_IN");
    assert_eq!(admitted.body["ticket"]["code"], code);
    assert_eq!(admitted.body["ticket"]["seatId"], show.seats[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_position_of_a_code_altered_is_invalid() {
    let api = start(settings(), |_| {}).await;
    let show = create_show(&api, 1, 2).await;
    let (owner, booking, code) = one_ticket(&api, &show.seats[0], &show).await;
    let gate = staff(&api);
    const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut refused = 0;
    for (position, original) in code.bytes().enumerate() {
        // Two different substitutes per position: the next symbol and a far one.
        let at = BASE32.iter().position(|b| *b == original).unwrap();
        for step in [1, 17] {
            let mut altered = code.clone().into_bytes();
            altered[position] = BASE32[(at + step) % BASE32.len()];
            let altered = String::from_utf8(altered).unwrap();
            check_in(&api, &gate, &altered, None)
                .await
                .expect_problem(422, "invalid-ticket");
            refused += 1;
        }
    }
    // Cut short, extended, lower-cased.
    for altered in [
        code[..code.len() - 1].to_owned(),
        format!("{code}A"),
        code.to_lowercase(),
        format!(" {code}"),
    ] {
        check_in(&api, &gate, &altered, None)
            .await
            .expect_problem(422, "invalid-ticket");
        refused += 1;
    }
    assert!(refused > 2 * 100, "{refused}");
    // None of that touched the ticket: it is still valid and admits once.
    let (tickets, _) = wait_tickets(&api, &owner, &booking, 1).await;
    assert_eq!(tickets[0]["status"], "VALID");
    let admitted = check_in(&api, &gate, &code, None).await;
    assert_eq!(admitted.status, StatusCode::OK, "{admitted:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gates_scanning_one_ticket_at_the_same_moment_admit_it_once() {
    let api = Arc::new(start(settings(), |_| {}).await);
    let show = create_show(&api, 2, 6).await;
    for seat in show.seats.iter().take(8) {
        let (owner, booking, code) = one_ticket(&api, seat, &show).await;
        let barrier = Arc::new(Barrier::new(2));
        let scans: Vec<_> = ["North", "South"]
            .into_iter()
            .map(|gate| {
                let (api, barrier, code) = (api.clone(), barrier.clone(), code.clone());
                tokio::spawn(async move {
                    let token = staff(&api);
                    barrier.wait().await;
                    (gate, check_in(&api, &token, &code, Some(gate)).await)
                })
            })
            .collect();
        let mut answers = Vec::new();
        for scan in scans {
            answers.push(scan.await.unwrap());
        }
        let admitted: Vec<_> = answers
            .iter()
            .filter(|(_, a)| a.status == StatusCode::OK)
            .collect();
        assert_eq!(admitted.len(), 1, "{answers:?}");
        let (winner_gate, winner) = admitted[0];
        let (_, loser) = answers
            .iter()
            .find(|(_, a)| a.status != StatusCode::OK)
            .unwrap();
        loser.expect_problem(409, "already-checked-in");
        assert_eq!(loser.body["gate"], *winner_gate);
        assert_eq!(loser.body["checkedInAt"], winner.body["checkedInAt"]);
        let (tickets, _) = wait_tickets(&api, &owner, &booking, 1).await;
        assert_eq!(tickets[0]["status"], "CHECKED_IN");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_in_and_a_cancellation_of_one_booking_never_both_succeed() {
    let api = Arc::new(start(settings(), |_| {}).await);
    let show = create_show(&api, 2, 6).await;
    let (mut admitted_first, mut cancelled_first) = (0, 0);
    for seat in show.seats.iter().take(10) {
        let (owner, booking, code) = one_ticket(&api, seat, &show).await;
        let barrier = Arc::new(Barrier::new(2));
        let scan = {
            let (api, barrier, code) = (api.clone(), barrier.clone(), code.clone());
            tokio::spawn(async move {
                let token = staff(&api);
                barrier.wait().await;
                check_in(&api, &token, &code, Some("Gate")).await
            })
        };
        let refund = {
            let (api, barrier, owner, booking) =
                (api.clone(), barrier.clone(), owner.clone(), booking.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                cancel(&api, &owner, &booking, None).await
            })
        };
        let (scan, refund) = (scan.await.unwrap(), refund.await.unwrap());
        match (scan.status.as_u16(), refund.status.as_u16()) {
            (200, 409) => {
                refund.expect_problem(409, "booking-not-cancellable");
                admitted_first += 1;
            }
            (410, 200) => {
                scan.expect_problem(410, "ticket-cancelled");
                cancelled_first += 1;
            }
            other => panic!("both or neither succeeded {other:?}: {scan:?} {refund:?}"),
        }
        // Whatever won is what the booking says.
        let now = api
            .get(&format!("/v1/bookings/{booking}"), Some(&owner))
            .await;
        let expected = if refund.status == StatusCode::OK {
            ("CANCELLED", "CANCELLED")
        } else {
            ("CONFIRMED", "CHECKED_IN")
        };
        assert_eq!(
            (
                now.body["status"].as_str().unwrap(),
                now.body["tickets"][0]["status"].as_str().unwrap()
            ),
            expected
        );
    }
    eprintln!("admitted first {admitted_first}, cancelled first {cancelled_first}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_ticket_is_gone_and_a_retried_scan_gets_its_first_answer() {
    let api = start(settings(), |_| {}).await;
    let show = create_show(&api, 1, 4).await;
    let gate = staff(&api);
    let (owner, booking, code) = one_ticket(&api, &show.seats[0], &show).await;
    assert_eq!(
        cancel(&api, &owner, &booking, None).await.status,
        StatusCode::OK
    );
    check_in(&api, &gate, &code, None)
        .await
        .expect_problem(410, "ticket-cancelled");

    let (_, _, code) = one_ticket(&api, &show.seats[1], &show).await;
    let scan = |key: &'static str| {
        api.call(
            Method::POST,
            "/v1/checkin",
            Some(&gate),
            Some(key),
            Some(json!({"code": code, "gate": "West"})),
        )
    };
    let first = scan("scan-1").await;
    assert_eq!(first.status, StatusCode::OK, "{first:?}");
    let again = scan("scan-1").await;
    assert_eq!(again.status, StatusCode::OK, "{again:?}");
    assert_eq!(again.body, first.body);
    scan("scan-2")
        .await
        .expect_problem(409, "already-checked-in");
}
