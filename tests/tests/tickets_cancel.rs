//! Cancellation over real HTTP against a real `boxoffice dev`: the refund tiers at 25 h, 5 h and
//! 1 h before the show (shows created through the admin API at those times), seats back on sale
//! and tickets CANCELLED, the refund made once at the provider, a second cancel 409 while a retry
//! with the same Idempotency-Key gets the first 200, another user's booking 404, and the bookings
//! that can no longer be cancelled (checked in, show started).

mod support;

use std::time::Duration;

use payments::{AuthorizationId, AuthorizationStatus, PaymentProvider};
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::api::Api;
use support::tickets::*;
use uuid::Uuid;

/// Book two seats (2,000 minor units) of a show starting `hours` from now and cancel it.
async fn cancel_at(api: &Api, hours: i64) -> (serde_json::Value, String, String) {
    let show = create_show_at(api, &in_from_now(chrono::Duration::hours(hours)), 1, 4).await;
    let (token, _) = api.guest().await;
    let booking = booked(api, &token, &show, &[&show.seats[0], &show.seats[1]]).await;
    let paid = api
        .get(&format!("/v1/bookings/{booking}"), Some(&token))
        .await;
    let payment = paid.body["paymentId"].as_str().unwrap().to_owned();
    let answer = cancel(api, &token, &booking, None).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    let statuses = api.seat_statuses(&show).await;
    assert_eq!(statuses[&show.seats[0]], "AVAILABLE");
    assert_eq!(statuses[&show.seats[1]], "AVAILABLE");
    (answer.body, booking, payment)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refund_tiers_at_25_5_and_1_hours_before_the_show_are_paid_once() {
    let mut api = start(settings(), |_| {}).await;
    let mut refunds = Vec::new();
    for (hours, percent, amount) in [(25, 100, 2000), (5, 50, 1000), (1, 0, 0)] {
        let (body, booking, payment) = cancel_at(&api, hours).await;
        assert_eq!(body["bookingId"], booking.as_str());
        assert_eq!(body["status"], "CANCELLED");
        assert_eq!(body["refundPercentage"], percent, "{hours} h: {body}");
        assert_eq!(body["refundAmount"], amount, "{hours} h: {body}");
        refunds.push((payment, amount));
    }
    // The provider's view, read from its journal once the server is gone.
    if let Some(server) = api.server.take() {
        server.stop().await.unwrap();
    }
    let provider = payments_of(api.dir.path()).await;
    for (payment, amount) in refunds {
        let id = AuthorizationId(Uuid::parse_str(&payment).unwrap());
        let authorization = provider.get(id).await.unwrap();
        assert_eq!(authorization.captured_minor, 2000);
        assert_eq!(authorization.refunded_minor, amount, "{authorization:?}");
        let expected = match amount {
            0 => AuthorizationStatus::Captured,
            2000 => AuthorizationStatus::Refunded,
            _ => AuthorizationStatus::PartiallyRefunded,
        };
        assert_eq!(authorization.status, expected);
    }
    assert!(provider.list_authorized().await.unwrap().is_empty());
    drop(provider);
    restart_with(&mut api, settings()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_cancel_is_refused_and_a_retry_with_the_same_key_gets_the_first_answer() {
    let api = start(settings(), |_| {}).await;
    let show = create_show(&api, 1, 4).await;
    let (token, _) = api.guest().await;
    let booking = booked(&api, &token, &show, &[&show.seats[0]]).await;
    let (tickets, _) = wait_tickets(&api, &token, &booking, 1).await;
    assert_eq!(tickets[0]["status"], "VALID");
    let first = cancel(&api, &token, &booking, Some("cancel-1")).await;
    assert_eq!(first.status, StatusCode::OK, "{first:?}");
    assert_eq!(first.body["refundPercentage"], 100);
    let retry = cancel(&api, &token, &booking, Some("cancel-1")).await;
    assert_eq!(retry.status, StatusCode::OK, "{retry:?}");
    assert_eq!(retry.body, first.body);
    cancel(&api, &token, &booking, None)
        .await
        .expect_problem(409, "booking-not-cancellable");
    cancel(&api, &token, &booking, Some("cancel-2"))
        .await
        .expect_problem(409, "booking-not-cancellable");
    let now = api
        .get(&format!("/v1/bookings/{booking}"), Some(&token))
        .await;
    assert_eq!(now.body["status"], "CANCELLED");
    assert_eq!(now.body["tickets"][0]["status"], "CANCELLED");
    // The seat is on sale again.
    let (rival, _) = api.guest().await;
    let again = api.hold(&rival, &show, &[&show.seats[0]], None).await;
    assert_eq!(again.status, StatusCode::CREATED, "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owner_may_cancel_and_bad_requests_are_named() {
    let api = start(settings(), |_| {}).await;
    let show = create_show(&api, 1, 4).await;
    let (token, _) = api.guest().await;
    let booking = booked(&api, &token, &show, &[&show.seats[0]]).await;
    let (stranger, _) = api.guest().await;
    cancel(&api, &stranger, &booking, None)
        .await
        .expect_problem(404, "not-found");
    cancel(&api, &token, &Uuid::new_v4().to_string(), None)
        .await
        .expect_problem(404, "not-found");
    api.call(
        Method::DELETE,
        "/v1/bookings/nope",
        Some(&token),
        None,
        None,
    )
    .await
    .expect_problem(400, "invalid-request");
    api.call(
        Method::DELETE,
        &format!("/v1/bookings/{booking}"),
        None,
        None,
        None,
    )
    .await
    .expect_problem(401, "unauthenticated");
    let long = json!({"reason": "x".repeat(501)});
    let refused = api
        .call(
            Method::DELETE,
            &format!("/v1/bookings/{booking}"),
            Some(&token),
            None,
            Some(long),
        )
        .await;
    refused.expect_problem(400, "invalid-request");
    assert_eq!(refused.body["field"], "reason");
    // Still the owner's, still confirmed; a reason is accepted.
    let with_reason = api
        .call(
            Method::DELETE,
            &format!("/v1/bookings/{booking}"),
            Some(&token),
            None,
            Some(json!({"reason": "cannot make it"})),
        )
        .await;
    assert_eq!(with_reason.status, StatusCode::OK, "{with_reason:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checked_in_bookings_and_started_shows_are_not_cancellable() {
    let api = start(settings(), |_| {}).await;
    let show = create_show(&api, 1, 4).await;
    let (token, _) = api.guest().await;
    let booking = booked(&api, &token, &show, &[&show.seats[0], &show.seats[1]]).await;
    let (tickets, _) = wait_tickets(&api, &token, &booking, 2).await;
    let admitted = check_in(
        &api,
        &staff(&api),
        tickets[0]["code"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(admitted.status, StatusCode::OK, "{admitted:?}");
    cancel(&api, &token, &booking, None)
        .await
        .expect_problem(409, "booking-not-cancellable");

    let starts = at(chrono::Duration::seconds(8));
    let show_time = starts.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let soon = create_show_at(&api, &show_time, 1, 2).await;
    let booking = booked(&api, &token, &soon, &[&soon.seats[0]]).await;
    let until_started = (starts - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(until_started + Duration::from_secs(1)).await;
    cancel(&api, &token, &booking, None)
        .await
        .expect_problem(409, "booking-not-cancellable");
}
