//! Dev mode over time: a restart keeps holds, bookings and catalog; a short hold TTL returns the
//! seats to AVAILABLE and confirm then answers 410.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use support::api::Api;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_holds_bookings_and_catalog() {
    let mut api = Api::start().await;
    let show = api.create_show(1, 2, 5, None).await;
    let (token, _) = api.guest().await;
    let hold = api.hold(&token, &show, &[&show.seats[0]], None).await;
    let hold_id = hold.body["holdId"].as_str().unwrap().to_owned();
    let booked_hold = api.hold(&token, &show, &[&show.seats[1]], None).await;
    let booked_hold_id = booked_hold.body["holdId"].as_str().unwrap().to_owned();
    let booking = api
        .confirm(&token, &booked_hold_id, "pm_card_visa", None)
        .await;
    assert_eq!(booking.status, StatusCode::CREATED);
    let events_before = api.get("/v1/events?limit=100", None).await.body["total"].clone();

    api.restart().await;

    let hold = api
        .get(&format!("/v1/bookings/holds/{hold_id}"), Some(&token))
        .await;
    assert_eq!(hold.status, StatusCode::OK, "{hold:?}");
    assert_eq!(hold.body["status"], "ACTIVE");
    let booking_id = booking.body["bookingId"].as_str().unwrap();
    let again = api
        .get(&format!("/v1/bookings/{booking_id}"), Some(&token))
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["status"], "CONFIRMED");
    assert_eq!(api.get("/v1/bookings", Some(&token)).await.body["total"], 1);
    assert_eq!(
        api.get("/v1/events?limit=100", None).await.body["total"],
        events_before
    );
    let statuses = api.seat_statuses(&show).await;
    assert_eq!(statuses[&show.seats[0]], "HELD");
    assert_eq!(statuses[&show.seats[1]], "BOOKED");
    assert_eq!(api.available_seats_settled(&show, 8).await, 8);
    // The restarted pipeline goes on deciding.
    let (rival, _) = api.guest().await;
    api.hold(&rival, &show, &[&show.seats[0]], None)
        .await
        .expect_problem(409, "seats-unavailable");
    let confirm = api.confirm(&token, &hold_id, "pm_card_visa", None).await;
    assert_eq!(confirm.status, StatusCode::CREATED, "{confirm:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_holds_free_their_seats_and_cannot_be_confirmed() {
    let api = Api::start_with(|c| c.hold_ttl_s = 1).await;
    let show = api.create_show(1, 1, 5, None).await;
    let (token, _) = api.guest().await;
    let hold = api
        .hold(&token, &show, &[&show.seats[0], &show.seats[1]], None)
        .await;
    assert_eq!(hold.status, StatusCode::CREATED);
    let hold_id = hold.body["holdId"].as_str().unwrap().to_owned();
    assert_eq!(api.available_seats_settled(&show, 3).await, 3);
    // Expiry at 1 s plus the contract's 2 s to free the seats.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let statuses = api.seat_statuses(&show).await;
    assert_eq!(statuses[&show.seats[0]], "AVAILABLE");
    assert_eq!(statuses[&show.seats[1]], "AVAILABLE");
    let got = api
        .get(&format!("/v1/bookings/holds/{hold_id}"), Some(&token))
        .await;
    assert_eq!(got.body["status"], "EXPIRED");
    api.confirm(&token, &hold_id, "pm_card_visa", None)
        .await
        .expect_problem(410, "hold-expired");
    assert_eq!(api.available_seats_settled(&show, 5).await, 5);
    let (other, _) = api.guest().await;
    assert_eq!(
        api.hold(&other, &show, &[&show.seats[0]], None)
            .await
            .status,
        StatusCode::CREATED
    );
}
