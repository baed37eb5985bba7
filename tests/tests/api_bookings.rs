//! Black-box HTTP tests of holds, releases, confirms and bookings: every success and error code
//! the contract lists for them, idempotency keys, ownership, and seat blocks.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::json;
use support::api::Api;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_get_release_and_seat_map_agree() {
    let api = Api::start().await;
    let show = api.create_show(2, 2, 5, None).await;
    assert_eq!(show.seats.len(), 20);
    let (token, user) = api.guest().await;
    let seats = [show.seats[0].as_str(), show.seats[11].as_str()];
    let hold = api.hold(&token, &show, &seats, None).await;
    assert_eq!(hold.status, StatusCode::CREATED, "{hold:?}");
    let hold_id = hold.body["holdId"].as_str().unwrap().to_owned();
    assert_eq!(hold.body["showId"], show.show_id.as_str());
    assert_eq!(hold.body["seats"], json!(seats));
    assert_eq!(hold.body["totalAmount"], 1500 + 2000);
    assert_eq!(hold.body["currency"], "USD");
    assert!(hold.body["expiresAt"].as_str().unwrap().ends_with('Z'));

    let statuses = api.seat_statuses(&show).await;
    assert_eq!(statuses[seats[0]], "HELD");
    assert_eq!(statuses[seats[1]], "HELD");
    assert_eq!(statuses[&show.seats[1]], "AVAILABLE");

    let got = api
        .get(&format!("/v1/bookings/holds/{hold_id}"), Some(&token))
        .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body["status"], "ACTIVE");

    // userId for someone else is 403; for oneself it is fine.
    let other_user = api
        .post(
            "/v1/bookings/hold",
            Some(&token),
            json!({"showId": show.show_id, "seatIds": [show.seats[2]], "userId": Uuid::new_v4()}),
        )
        .await;
    other_user.expect_problem(403, "forbidden");
    let self_user = api
        .post(
            "/v1/bookings/hold",
            Some(&token),
            json!({"showId": show.show_id, "seatIds": [show.seats[2]], "userId": user}),
        )
        .await;
    assert_eq!(self_user.status, StatusCode::CREATED, "{self_user:?}");

    // Someone else cannot take held seats: 409 naming them.
    let (rival, _) = api.guest().await;
    let taken = api
        .hold(&rival, &show, &[seats[0], show.seats[3].as_str()], None)
        .await;
    taken.expect_problem(409, "seats-unavailable");
    assert_eq!(taken.body["unavailableSeatIds"], json!([seats[0]]));
    // All or none: seat 3 stayed available.
    assert_eq!(api.seat_statuses(&show).await[&show.seats[3]], "AVAILABLE");

    let path = format!("/v1/bookings/holds/{hold_id}");
    let release = || api.call(Method::DELETE, &path, Some(&token), None, None);
    let released = release().await;
    assert_eq!(released.status, StatusCode::NO_CONTENT, "{released:?}");
    assert_eq!(api.seat_statuses(&show).await[seats[0]], "AVAILABLE");
    assert_eq!(release().await.status, StatusCode::NO_CONTENT);
    let got = api
        .get(&format!("/v1/bookings/holds/{hold_id}"), Some(&token))
        .await;
    assert_eq!(got.body["status"], "RELEASED");
    // Confirming a released hold is 410 and charges nothing.
    api.confirm(&token, &hold_id, "pm_card_visa", None)
        .await
        .expect_problem(410, "hold-expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_books_once_and_lists_newest_first() {
    let api = Api::start().await;
    let show = api.create_show(1, 2, 5, None).await;
    let (token, _) = api.guest().await;
    let hold = api
        .hold(&token, &show, &[&show.seats[0], &show.seats[1]], None)
        .await;
    let hold_id = hold.body["holdId"].as_str().unwrap().to_owned();

    let declined = api
        .confirm(&token, &hold_id, "pm_card_declined", None)
        .await;
    declined.expect_problem(402, "payment-declined");
    let got = api
        .get(&format!("/v1/bookings/holds/{hold_id}"), Some(&token))
        .await;
    assert_eq!(
        got.body["status"], "ACTIVE",
        "a declined payment keeps the hold"
    );
    let unknown_method = api.confirm(&token, &hold_id, "pm_bitcoin", None).await;
    unknown_method.expect_problem(400, "invalid-request");
    assert_eq!(unknown_method.body["field"], "paymentMethodId");

    let booked = api.confirm(&token, &hold_id, "pm_card_visa", None).await;
    assert_eq!(booked.status, StatusCode::CREATED, "{booked:?}");
    let booking_id = booked.body["bookingId"].as_str().unwrap().to_owned();
    assert_eq!(booked.body["status"], "CONFIRMED");
    assert_eq!(booked.body["holdId"], hold_id.as_str());
    assert_eq!(booked.body["totalAmount"], 3000);
    assert_eq!(booked.body["seats"][0]["section"], "S0");
    assert_eq!(booked.body["seats"][0]["row"], "R0");
    assert_eq!(booked.body["seats"][0]["number"], 1);
    assert!(!booked.body["paymentId"].as_str().unwrap().is_empty());

    let again = api.confirm(&token, &hold_id, "pm_card_visa", None).await;
    assert_eq!(again.status, StatusCode::OK, "{again:?}");
    assert_eq!(again.body["bookingId"], booking_id.as_str());
    let release = api
        .call(
            Method::DELETE,
            &format!("/v1/bookings/holds/{hold_id}"),
            Some(&token),
            None,
            None,
        )
        .await;
    release.expect_problem(409, "hold-already-confirmed");
    assert_eq!(api.seat_statuses(&show).await[&show.seats[0]], "BOOKED");

    let hold2 = api.hold(&token, &show, &[&show.seats[5]], None).await;
    let hold2_id = hold2.body["holdId"].as_str().unwrap().to_owned();
    let booked2 = api.confirm(&token, &hold2_id, "pm_card_visa", None).await;
    assert_eq!(booked2.status, StatusCode::CREATED);

    let list = api.get("/v1/bookings", Some(&token)).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["total"], 2);
    assert_eq!(
        list.body["items"][0]["bookingId"],
        booked2.body["bookingId"]
    );
    assert_eq!(list.body["items"][1]["bookingId"], booking_id.as_str());
    let page2 = api.get("/v1/bookings?page=2&limit=1", Some(&token)).await;
    assert_eq!(page2.body["items"][0]["bookingId"], booking_id.as_str());
    let one = api
        .get(&format!("/v1/bookings/{booking_id}"), Some(&token))
        .await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body["bookingId"], booking_id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_users_holds_and_bookings_are_404_everywhere() {
    let api = Api::start().await;
    let show = api.create_show(1, 1, 5, None).await;
    let (owner, _) = api.guest().await;
    let (stranger, _) = api.guest().await;
    let hold = api.hold(&owner, &show, &[&show.seats[0]], None).await;
    let hold_id = hold.body["holdId"].as_str().unwrap().to_owned();
    api.get(&format!("/v1/bookings/holds/{hold_id}"), Some(&stranger))
        .await
        .expect_problem(404, "not-found");
    api.call(
        Method::DELETE,
        &format!("/v1/bookings/holds/{hold_id}"),
        Some(&stranger),
        None,
        None,
    )
    .await
    .expect_problem(404, "not-found");
    api.confirm(&stranger, &hold_id, "pm_card_visa", None)
        .await
        .expect_problem(404, "not-found");
    let booked = api.confirm(&owner, &hold_id, "pm_card_visa", None).await;
    let booking_id = booked.body["bookingId"].as_str().unwrap().to_owned();
    api.get(&format!("/v1/bookings/{booking_id}"), Some(&stranger))
        .await
        .expect_problem(404, "not-found");
    assert_eq!(
        api.get("/v1/bookings", Some(&stranger)).await.body["total"],
        0
    );
    // The stranger's attempts changed nothing.
    assert_eq!(api.seat_statuses(&show).await[&show.seats[0]], "BOOKED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_keys_replay_the_first_response_or_refuse_reuse() {
    let api = Api::start().await;
    let show = api.create_show(1, 2, 5, None).await;
    let (token, _) = api.guest().await;
    let first = api
        .hold(&token, &show, &[&show.seats[0]], Some("k-1"))
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let retry = api
        .hold(&token, &show, &[&show.seats[0]], Some("k-1"))
        .await;
    assert_eq!(retry.status, StatusCode::CREATED, "{retry:?}");
    assert_eq!(retry.body["holdId"], first.body["holdId"]);
    assert_eq!(retry.body["expiresAt"], first.body["expiresAt"]);
    api.hold(&token, &show, &[&show.seats[1]], Some("k-1"))
        .await
        .expect_problem(422, "idempotency-key-reused");
    // Keys are per user: another user's same key is a fresh request.
    let (other, _) = api.guest().await;
    let theirs = api
        .hold(&other, &show, &[&show.seats[2]], Some("k-1"))
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED);
    assert_ne!(theirs.body["holdId"], first.body["holdId"]);
    // The same key on another endpoint is a reuse too.
    let hold_id = first.body["holdId"].as_str().unwrap().to_owned();
    api.confirm(&token, &hold_id, "pm_card_visa", Some("k-1"))
        .await
        .expect_problem(422, "idempotency-key-reused");
    // Bad keys are 400.
    let long = "x".repeat(256);
    api.hold(&token, &show, &[&show.seats[3]], Some(&long))
        .await
        .expect_problem(400, "invalid-request");

    let booked = api
        .confirm(&token, &hold_id, "pm_card_visa", Some("c-1"))
        .await;
    assert_eq!(booked.status, StatusCode::CREATED);
    let replay = api
        .confirm(&token, &hold_id, "pm_card_visa", Some("c-1"))
        .await;
    assert_eq!(replay.status, StatusCode::CREATED, "{replay:?}");
    assert_eq!(replay.body["bookingId"], booked.body["bookingId"]);
    assert_eq!(replay.body["paymentId"], booked.body["paymentId"]);
    assert_eq!(api.get("/v1/bookings", Some(&token)).await.body["total"], 1);

    // Releasing twice with one key answers the same.
    let path = format!(
        "/v1/bookings/holds/{}",
        theirs.body["holdId"].as_str().unwrap()
    );
    let release = || api.call(Method::DELETE, &path, Some(&other), Some("r-1"), None);
    assert_eq!(release().await.status, StatusCode::NO_CONTENT);
    assert_eq!(release().await.status, StatusCode::NO_CONTENT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_sale_opening_and_blocks() {
    let api = Api::start_with(|c| {
        c.max_tickets_per_user = 4;
        c.max_holds_per_user = 2;
    })
    .await;
    let show = api.create_show(1, 3, 10, None).await;
    let (token, _) = api.guest().await;
    let s = |i: usize| show.seats[i].as_str();
    assert_eq!(
        api.hold(&token, &show, &[s(0), s(1), s(2)], None)
            .await
            .status,
        StatusCode::CREATED
    );
    api.hold(&token, &show, &[s(3), s(4)], None)
        .await
        .expect_problem(422, "ticket-limit-exceeded");
    assert_eq!(
        api.hold(&token, &show, &[s(5)], None).await.status,
        StatusCode::CREATED
    );
    let (other, _) = api.guest().await;
    assert_eq!(
        api.hold(&other, &show, &[s(10)], None).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        api.hold(&other, &show, &[s(11)], None).await.status,
        StatusCode::CREATED
    );
    api.hold(&other, &show, &[s(12)], None)
        .await
        .expect_problem(422, "hold-limit-exceeded");

    let admin = api.admin();
    let block = format!("/v1/admin/shows/{}/seats/block", show.show_id);
    let unblock = format!("/v1/admin/shows/{}/seats/unblock", show.show_id);
    let blocked = api
        .post(&block, Some(&admin), json!({"seatIds": [s(20), s(21)]}))
        .await;
    assert_eq!(blocked.status, StatusCode::OK, "{blocked:?}");
    assert_eq!(api.seat_statuses(&show).await[s(20)], "BLOCKED");
    let (third, _) = api.guest().await;
    let refused = api.hold(&third, &show, &[s(20)], None).await;
    refused.expect_problem(409, "seats-unavailable");
    api.post(&block, Some(&admin), json!({"seatIds": [s(0)]}))
        .await
        .expect_problem(409, "seats-unavailable");
    api.post(&block, Some(&third), json!({"seatIds": [s(22)]}))
        .await
        .expect_problem(403, "forbidden");
    api.post(&block, Some(&admin), json!({"seatIds": [Uuid::new_v4()]}))
        .await
        .expect_problem(404, "not-found");
    assert_eq!(
        api.post(&unblock, Some(&admin), json!({"seatIds": [s(20)]}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        api.hold(&third, &show, &[s(20)], None).await.status,
        StatusCode::CREATED
    );

    let later = api
        .create_show(1, 1, 5, Some("2029-12-01T00:00:00Z".to_owned()))
        .await;
    api.hold(&third, &later, &[&later.seats[0]], None)
        .await
        .expect_problem(403, "sale-not-open");
}
