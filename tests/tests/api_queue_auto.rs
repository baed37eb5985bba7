//! Automatic switch-on of the waiting room against a real `boxoffice dev` instance over real
//! HTTP: a show with a threshold of its own (`autoAbovePerSecond` in the admin PUT) switches on
//! when hold attempts reach it; from then on holds without an admission token are
//! `403 admission-required`, the show reads `QUEUE`, a buyer who already held keeps the seats
//! and confirms, and new buyers queue and are admitted. An admin's switch-off wins over demand.
//! (The deployment-wide default, `BOXOFFICE_QUEUE_AUTO_ABOVE_PER_S`, is process environment and
//! is covered at unit level; these tests set thresholds per show so they can run in parallel.)

mod support;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::api::{Api, TestShow};

async fn put_room(api: &Api, show: &TestShow, body: Value) -> support::api::Answer {
    api.call(
        Method::PUT,
        &format!("/v1/admin/shows/{}/waiting-room", show.show_id),
        Some(&api.admin()),
        None,
        Some(body),
    )
    .await
}

async fn show_status(api: &Api, show: &TestShow) -> String {
    let event = api
        .get(&format!("/v1/events/{}", show.event_id), None)
        .await;
    assert_eq!(event.status, StatusCode::OK, "{event:?}");
    event.body["shows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["showId"] == show.show_id.as_str())
        .map(|s| s["status"].as_str().unwrap().to_owned())
        .expect("the show is listed")
}

/// Hold attempts on an already held seat (each is demand, answered 409 while the room is off)
/// at about `per_s` a second, until one is answered `403 admission-required`; returns how many
/// were made. Panics after `within`.
async fn attempt_until_queued(
    api: &Api,
    token: &str,
    show: &TestShow,
    seat: &str,
    per_s: u64,
    within: Duration,
) -> u32 {
    let deadline = tokio::time::Instant::now() + within;
    let mut made = 0;
    loop {
        let answer = api.hold(token, show, &[seat], None).await;
        made += 1;
        if answer.status == StatusCode::FORBIDDEN {
            answer.expect_problem(403, "admission-required");
            return made;
        }
        answer.expect_problem(409, "seats-unavailable");
        assert!(
            tokio::time::Instant::now() < deadline,
            "never switched on after {made} attempts"
        );
        tokio::time::sleep(Duration::from_millis(1000 / per_s)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demand_switches_the_room_on_holders_keep_their_seats_and_newcomers_queue() {
    let api = Api::start().await;
    let show = api.create_show(1, 2, 10, None).await;
    let armed = put_room(
        &api,
        &show,
        json!({"enabled": false, "admitPerMinute": 0, "autoAbovePerSecond": 2}),
    )
    .await;
    assert_eq!(armed.status, StatusCode::OK, "{armed:?}");
    assert_eq!(show_status(&api, &show).await, "OPEN");

    // A buyer holds before the rush.
    let (early, _) = api.guest().await;
    let held = api.hold(&early, &show, &[&show.seats[0]], None).await;
    assert_eq!(held.status, StatusCode::CREATED, "{held:?}");
    let hold_id = held.body["holdId"].as_str().unwrap().to_owned();

    // The rush: 2 per second averaged over the default 5 s window is 10 attempts.
    let (rusher, _) = api.guest().await;
    let made = attempt_until_queued(
        &api,
        &rusher,
        &show,
        &show.seats[0],
        5,
        Duration::from_secs(20),
    )
    .await;
    assert!(made >= 9, "switched on after only {made} attempts");
    assert_eq!(show_status(&api, &show).await, "QUEUE");
    let (other, _) = api.guest().await;
    api.hold(&other, &show, &[&show.seats[5]], None)
        .await
        .expect_problem(403, "admission-required");

    // The early buyer keeps the hold and completes the purchase.
    let hold = api
        .get(&format!("/v1/bookings/holds/{hold_id}"), Some(&early))
        .await;
    assert_eq!(hold.body["status"], "ACTIVE", "{hold:?}");
    let booked = api.confirm(&early, &hold_id, "pm_card_visa", None).await;
    assert_eq!(booked.status, StatusCode::CREATED, "{booked:?}");

    // Newcomers queue and are admitted at the automatic pace.
    let queue = format!("/v1/shows/{}/queue", show.show_id);
    let joined = api
        .call(Method::POST, &queue, Some(&other), None, None)
        .await;
    assert_eq!(joined.status, StatusCode::CREATED, "{joined:?}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let admission = loop {
        let me = api.get(&format!("{queue}/me"), Some(&other)).await;
        if me.body["status"] == "ADMITTED" {
            break me.body["admissionToken"].as_str().unwrap().to_owned();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never admitted: {me:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let admitted = api
        .http
        .post(format!("{}/v1/bookings/hold", api.base))
        .bearer_auth(&other)
        .header("Admission-Token", admission)
        .json(&json!({"showId": show.show_id, "seatIds": [&show.seats[5]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(admitted.status(), StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_switch_off_wins_over_demand() {
    let api = Api::start().await;
    let show = api.create_show(1, 1, 10, None).await;
    let armed = put_room(
        &api,
        &show,
        json!({"enabled": false, "admitPerMinute": 0, "autoAbovePerSecond": 1}),
    )
    .await;
    assert_eq!(armed.status, StatusCode::OK, "{armed:?}");
    let (buyer, _) = api.guest().await;
    let held = api.hold(&buyer, &show, &[&show.seats[0]], None).await;
    assert_eq!(held.status, StatusCode::CREATED, "{held:?}");
    attempt_until_queued(
        &api,
        &buyer,
        &show,
        &show.seats[0],
        5,
        Duration::from_secs(20),
    )
    .await;

    // Switched off by the admin: holds need no token, and demand leaves it off.
    let off = put_room(&api, &show, json!({"enabled": false, "admitPerMinute": 0})).await;
    assert_eq!(off.status, StatusCode::OK, "{off:?}");
    assert_eq!(off.body["status"], "OPEN", "{off:?}");
    let started = tokio::time::Instant::now();
    while started.elapsed() < Duration::from_secs(7) {
        let answer = api.hold(&buyer, &show, &[&show.seats[0]], None).await;
        answer.expect_problem(409, "seats-unavailable");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(show_status(&api, &show).await, "OPEN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_threshold_is_refused_naming_the_field() {
    let api = Api::start().await;
    let show = api.create_show(1, 1, 2, None).await;
    let answer = put_room(
        &api,
        &show,
        json!({"enabled": false, "admitPerMinute": 0, "autoAbovePerSecond": -1}),
    )
    .await;
    answer.expect_problem(400, "invalid-request");
    assert!(answer.text.contains("autoAbovePerSecond"), "{answer:?}");
}
