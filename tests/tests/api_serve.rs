//! The HTTP API in serve mode, black-box, against the real pipeline: `boxoffice serve` (in
//! process) -> NATS JetStream -> a processor -> Cassandra, with the payments sandbox as its own
//! HTTP service. Needs `scripts/services up` (see `boxoffice_tests`); every test uses its own
//! streams, subjects and keyspace.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use support::api::{Api, TestShow};
use support::serve::{Backend, stop_api};

/// A serve-mode stack: the API over its back end (processor, payments sandbox).
struct Stack {
    api: Api,
    backend: Backend,
}

async fn stack(test: &str, tweak: impl FnOnce(&mut ingress::config::ApiConfig)) -> Option<Stack> {
    let backend = Backend::start(test).await?;
    let api = backend.api(backend.topology.clone(), tweak).await;
    Some(Stack { api, backend })
}

impl Stack {
    async fn stop(mut self) {
        stop_api(&mut self.api).await;
        self.backend.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_mode_holds_confirms_and_guards_like_dev_mode() {
    let Some(stack) = stack("api_serve_flow", |_| {}).await else {
        return;
    };
    let api = &stack.api;
    assert_eq!(api.get("/readyz", None).await.status, StatusCode::OK);
    let show = api.create_show(2, 2, 5, None).await;
    let (token, _) = api.guest().await;
    let (stranger, _) = api.guest().await;

    let pair = [show.seats[0].as_str(), show.seats[1].as_str()];
    let hold = api.hold(&token, &show, &pair, Some("h-1")).await;
    assert_eq!(hold.status, StatusCode::CREATED, "{hold:?}");
    let hold_id = hold.body["holdId"].as_str().unwrap().to_owned();
    let replay = api.hold(&token, &show, &pair, Some("h-1")).await;
    assert_eq!(replay.status, StatusCode::CREATED, "{replay:?}");
    assert_eq!(replay.body["holdId"], hold_id.as_str());
    api.hold(&token, &show, &[&show.seats[2]], Some("h-1"))
        .await
        .expect_problem(422, "idempotency-key-reused");
    let taken = api.hold(&stranger, &show, &[&show.seats[1]], None).await;
    taken.expect_problem(409, "seats-unavailable");
    assert_eq!(taken.body["unavailableSeatIds"], json!([show.seats[1]]));

    api.get(&format!("/v1/bookings/holds/{hold_id}"), Some(&stranger))
        .await
        .expect_problem(404, "not-found");
    api.confirm(&token, &hold_id, "pm_card_declined", None)
        .await
        .expect_problem(402, "payment-declined");
    let booked = api
        .confirm(&token, &hold_id, "pm_card_visa", Some("c-1"))
        .await;
    assert_eq!(booked.status, StatusCode::CREATED, "{booked:?}");
    let booking_id = booked.body["bookingId"].as_str().unwrap().to_owned();
    let again = api.confirm(&token, &hold_id, "pm_card_visa", None).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["bookingId"], booking_id.as_str());
    api.get(&format!("/v1/bookings/{booking_id}"), Some(&stranger))
        .await
        .expect_problem(404, "not-found");
    let mine = api
        .get(&format!("/v1/bookings/{booking_id}"), Some(&token))
        .await;
    assert_eq!(mine.status, StatusCode::OK);
    assert_eq!(mine.body["seats"][0]["section"], "S0");

    let other = api.hold(&token, &show, &[&show.seats[12]], None).await;
    let other_id = other.body["holdId"].as_str().unwrap().to_owned();
    let released = api
        .call(
            Method::DELETE,
            &format!("/v1/bookings/holds/{other_id}"),
            Some(&token),
            None,
            None,
        )
        .await;
    assert_eq!(released.status, StatusCode::NO_CONTENT);

    let statuses = api.seat_statuses(&show).await;
    assert_eq!(statuses[&show.seats[0]], "BOOKED");
    assert_eq!(statuses[&show.seats[12]], "AVAILABLE");
    wait_available(api, &show, 18).await;
    // Bookings list reflects the write within a second.
    let mut total = json!(0);
    for _ in 0..20 {
        total = api.get("/v1/bookings", Some(&token)).await.body["total"].clone();
        if total == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(total, 1);
    stack.stop().await;
}

/// `GET url` with one request header.
async fn get_with(api: &Api, url: &str, header: &str, value: &str) -> reqwest::Response {
    api.http
        .get(url)
        .header(header, value)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_mode_seat_maps_come_from_the_projection_with_etag_and_gzip() {
    let Some(stack) = stack("api_serve_seat_map", |_| {}).await else {
        return;
    };
    let api = &stack.api;
    let show = api.create_show(4, 5, 10, None).await;
    let (token, _) = api.guest().await;
    let path = format!("/v1/events/{}/shows/{}/seats", show.event_id, show.show_id);
    // The first map of a show may come from the store (the projection may not know it yet).
    api.seat_map(&show.event_id, &show.show_id).await;
    let store_reads = "boxoffice_seat_map_store_reads_total";
    let before = api.metric(store_reads).await;
    // Every hold is on the very next map this process serves, and none of them reads the store.
    for n in 0..20 {
        let seat = &show.seats[n * 3];
        let (buyer, _) = api.guest().await;
        api.held(&buyer, &show, &[seat]).await;
        let statuses = api.seat_statuses(&show).await;
        assert_eq!(statuses[seat], "HELD", "seat {n} right after its hold");
    }
    assert_eq!(
        api.metric(store_reads).await,
        before,
        "seat maps read the store"
    );

    let url = format!("{}{path}", api.base);
    let plain = api.http.get(&url).send().await.unwrap();
    assert_eq!(plain.status(), StatusCode::OK);
    let etag = plain.headers()["etag"].to_str().unwrap().to_owned();
    let plain_len = plain.bytes().await.unwrap().len();
    let again = get_with(api, &url, "if-none-match", &etag).await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()["etag"], etag.as_str());
    let gzip = get_with(api, &url, "accept-encoding", "br;q=0.9, gzip").await;
    assert_eq!(gzip.headers()["content-encoding"], "gzip");
    let gzipped = gzip.bytes().await.unwrap();
    assert_eq!(&gzipped[..2], &[0x1f, 0x8b]);
    assert!(
        gzipped.len() * 5 < plain_len,
        "{} of {plain_len} bytes",
        gzipped.len()
    );
    // A new hold is a new version: the old tag no longer matches.
    api.held(&token, &show, &[&show.seats[1]]).await;
    let moved = get_with(api, &url, "if-none-match", &etag).await;
    assert_eq!(moved.status(), StatusCode::OK);
    assert_ne!(moved.headers()["etag"], etag.as_str());
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_mode_race_and_hold_expiry() {
    let Some(stack) = stack("api_serve_race", |c| c.hold_ttl_s = 2).await else {
        return;
    };
    let api = &stack.api;
    let show = api.create_show(1, 3, 10, None).await;
    let clients = 100;
    let mut tasks = Vec::new();
    for i in 0..clients {
        let (token, _) = api.guest().await;
        let wanted: Vec<String> = (0..2)
            .map(|k| show.seats[(i * 7 + k * 3) % show.seats.len()].clone())
            .collect();
        tasks.push(api.spawn_hold(token, &show, wanted));
    }
    let mut held: HashMap<String, String> = HashMap::new();
    for task in tasks {
        let answer = task.await.unwrap();
        let body = answer.body;
        match answer.status {
            StatusCode::CREATED => {
                for seat in body["seats"].as_array().unwrap() {
                    let seat = seat.as_str().unwrap().to_owned();
                    let hold = body["holdId"].as_str().unwrap().to_owned();
                    assert!(
                        held.insert(seat.clone(), hold).is_none(),
                        "{seat} sold twice"
                    );
                }
            }
            StatusCode::CONFLICT => assert_eq!(body["code"], "seats-unavailable"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    api.assert_held_exactly(&show, &held).await;
    wait_available(api, &show, (show.seats.len() - held.len()) as u64).await;
    // Every hold lapses after 2 s; seats are AVAILABLE again within 2 s more.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let statuses = api.seat_statuses(&show).await;
    assert!(statuses.values().all(|s| s == "AVAILABLE"), "{statuses:?}");
    let (token, _) = api.guest().await;
    let late = api.hold(&token, &show, &[&show.seats[0]], None).await;
    assert_eq!(late.status, StatusCode::CREATED);
    stack.stop().await;
}

async fn wait_available(api: &Api, show: &TestShow, expected: u64) {
    let mut reported = 0;
    for _ in 0..30 {
        reported = api.available_seats(show).await;
        if reported == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("availableSeats {reported}, expected {expected}");
}
