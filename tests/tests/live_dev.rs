//! Live seat maps against a real `boxoffice dev` instance, over real HTTP and real WebSockets:
//! the snapshot, updates within a second with a continuous version chain, 404 before upgrading,
//! slow viewers closed with 4001 while fast ones keep up, many viewers converging to the seat
//! map, followers dropped with their last viewer, and 1001 on shutdown.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use support::api::Api;
use support::live::{Closed, Viewer, live_url};
use tokio_tungstenite::tungstenite;

const SECOND: Duration = Duration::from_secs(1);

async fn metric(api: &Api, name: &str) -> f64 {
    api.metric(name).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_snapshot_lists_every_seat_with_its_status_at_the_seat_map_version() {
    let api = Api::start().await;
    let show = api.create_show(2, 2, 5, None).await;
    let (token, _) = api.guest().await;
    api.held(&token, &show, &[&show.seats[0], &show.seats[1]])
        .await;
    let booked = api.held(&token, &show, &[&show.seats[7]]).await;
    let confirmed = api.confirm(&token, &booked, "pm_card_visa", None).await;
    assert_eq!(confirmed.status, StatusCode::CREATED, "{confirmed:?}");

    let viewer = Viewer::connect(&api.base, &show.show_id).await;
    assert_eq!(viewer.seats.len(), 20, "every seat, once");
    assert_eq!(viewer.seats, api.seat_statuses(&show).await);
    assert_eq!(viewer.seats[&show.seats[0]], "HELD");
    assert_eq!(viewer.seats[&show.seats[7]], "BOOKED");
    assert_eq!(viewer.seats[&show.seats[2]], "AVAILABLE");
    assert_eq!(viewer.version, api.version_of(&show).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_then_a_confirm_reach_the_viewer_within_a_second_in_one_version_chain() {
    let api = Api::start().await;
    let show = api.create_show(1, 2, 10, None).await;
    let mut viewer = Viewer::connect(&api.base, &show.show_id).await;
    let start_version = viewer.version;
    let (token, _) = api.guest().await;

    let hold = api
        .held(&token, &show, &[&show.seats[3], &show.seats[4]])
        .await;
    let held_in = viewer
        .until_seat(&show.seats[4], "HELD", 5 * SECOND)
        .await
        .expect("HELD arrives");
    assert!(held_in <= SECOND, "HELD took {held_in:?} after the answer");
    assert_eq!(viewer.seats[&show.seats[3]], "HELD");
    assert!(viewer.version > start_version);

    let confirmed = api.confirm(&token, &hold, "pm_card_visa", None).await;
    assert_eq!(confirmed.status, StatusCode::CREATED, "{confirmed:?}");
    let booked_in = viewer
        .until_seat(&show.seats[3], "BOOKED", 5 * SECOND)
        .await
        .expect("BOOKED arrives");
    assert!(
        booked_in <= SECOND,
        "BOOKED took {booked_in:?} after the answer"
    );
    assert!(
        viewer
            .until_version(api.version_of(&show).await, 5 * SECOND)
            .await
    );
    assert_eq!(viewer.seats, api.seat_statuses(&show).await);

    // A release frees the seats for everyone watching.
    let other = api.held(&token, &show, &[&show.seats[9]]).await;
    viewer
        .until_seat(&show.seats[9], "HELD", 5 * SECOND)
        .await
        .unwrap();
    let released = api
        .call(
            Method::DELETE,
            &format!("/v1/bookings/holds/{other}"),
            Some(&token),
            None,
            None,
        )
        .await;
    assert!(released.status.is_success(), "{released:?}");
    viewer
        .until_seat(&show.seats[9], "AVAILABLE", 5 * SECOND)
        .await
        .expect("AVAILABLE again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_show_is_404_and_a_plain_request_400_both_without_upgrading() {
    let api = Api::start().await;
    let unknown = uuid::Uuid::new_v4().to_string();
    match tokio_tungstenite::connect_async(live_url(&api.base, &unknown)).await {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 404);
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json"
            );
            let body: serde_json::Value =
                serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
            assert_eq!(body["code"], "not-found");
        }
        other => panic!("expected 404 without upgrade, got {other:?}"),
    }
    api.get(&format!("/v1/shows/{unknown}/seats/live"), None)
        .await
        .expect_problem(404, "not-found");
    api.get("/v1/shows/not-a-uuid/seats/live", None)
        .await
        .expect_problem(400, "invalid-request");
    let show = api.create_show(1, 1, 3, None).await;
    let plain = api
        .get(&format!("/v1/shows/{}/seats/live", show.show_id), None)
        .await;
    plain.expect_problem(400, "invalid-request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_viewer_is_closed_with_4001_while_a_fast_viewer_keeps_up() {
    let api = Api::start_with(|c| {
        c.max_holds_per_user = 10_000;
        c.max_tickets_per_user = 10_000;
    })
    .await;
    // 40,000 seats: the snapshot alone (~2.8 MB) is more than loopback buffers take from a
    // viewer that reads nothing.
    let show = api.create_show(4, 100, 100, None).await;
    let slow_before = metric(&api, "boxoffice_live_slow_viewers_total").await;

    let addr = api.base.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let (mut slow, _) = tokio_tungstenite::client_async(live_url(&api.base, &show.show_id), stream)
        .await
        .expect("slow viewer upgrades");

    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let base = api.base.clone();
    let show_id = show.show_id.clone();
    let fast = tokio::spawn(async move {
        let mut viewer = Viewer::connect(&base, &show_id).await;
        while !*stopped.borrow() {
            tokio::select! {
                frame = viewer.next_frame(SECOND) => if let Some(frame) = frame {
                    viewer.apply_update(&frame);
                },
                _ = stopped.changed() => {}
            }
        }
        viewer
    });

    let (token, _) = api.guest().await;
    let mut held = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while metric(&api, "boxoffice_live_slow_viewers_total").await <= slow_before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slow viewer was never detected"
        );
        for _ in 0..5 {
            api.held(&token, &show, &[&show.seats[held]]).await;
            held += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // Now the slow viewer reads: whatever got through, then the close with 4001.
    match slow_drain(&mut slow).await {
        Closed::Frame(Some(frame)) => {
            assert_eq!(u16::from(frame.code), 4001, "{frame:?}");
        }
        other => panic!("expected a 4001 close, got {other:?}"),
    }

    let _ = stop.send(true);
    let mut fast = fast.await.unwrap();
    assert!(fast.updates > 0, "the fast viewer saw updates");
    assert!(
        fast.until_version(api.version_of(&show).await, 10 * SECOND)
            .await
    );
    let truth = api.seat_statuses(&show).await;
    assert_eq!(fast.seats.len(), truth.len());
    assert!(
        fast.seats == truth,
        "the fast viewer converged to the seat map"
    );
    assert_eq!(fast.seats[&show.seats[held - 1]], "HELD");
}

async fn slow_drain(
    slow: &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
) -> Closed {
    use futures::StreamExt;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(deadline, slow.next()).await {
            Err(_) => return Closed::Abrupt("timed out".into()),
            Ok(Some(Ok(tungstenite::Message::Close(frame)))) => return Closed::Frame(frame),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => return Closed::Abrupt(e.to_string()),
            Ok(None) => return Closed::Abrupt("stream ended".into()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_viewers_follow_concurrent_buyers_and_converge_to_the_seat_map() {
    let api = Api::start_with(|c| {
        c.max_holds_per_user = 100;
        c.max_tickets_per_user = 100;
    })
    .await;
    let show = api.create_show(2, 5, 10, None).await;
    let (target_tx, target) = tokio::sync::watch::channel(None::<u64>);
    let mut viewers = Vec::new();
    for _ in 0..40 {
        let viewer = Viewer::connect(&api.base, &show.show_id).await;
        let mut target = target.clone();
        viewers.push(tokio::spawn(async move {
            let mut viewer = viewer;
            loop {
                let goal = *target.borrow();
                if goal.is_some_and(|v| viewer.version >= v) {
                    return viewer;
                }
                tokio::select! {
                    frame = viewer.next_frame(SECOND) => if let Some(frame) = frame {
                        viewer.apply_update(&frame);
                    },
                    _ = target.changed() => {}
                }
            }
        }));
    }

    let mut buyers = Vec::new();
    for buyer in 0..4usize {
        let base_seat = buyer * 25;
        let api_base = api.base.clone();
        let seats: Vec<String> = show.seats[base_seat..base_seat + 25].to_vec();
        let show = show.clone();
        let (token, _) = api.guest().await;
        let http = api.http.clone();
        buyers.push(tokio::spawn(async move {
            for (i, seat) in seats.iter().enumerate() {
                let hold = http
                    .post(format!("{api_base}/v1/bookings/hold"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({"showId": show.show_id, "seatIds": [seat]}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(hold.status(), StatusCode::CREATED);
                let hold: serde_json::Value = hold.json().await.unwrap();
                let hold_id = hold["holdId"].as_str().unwrap();
                let next = match i % 3 {
                    0 => http
                        .post(format!("{api_base}/v1/bookings/confirm"))
                        .bearer_auth(&token)
                        .json(&serde_json::json!({"holdId": hold_id, "paymentMethodId": "pm_card_visa"}))
                        .send()
                        .await
                        .unwrap(),
                    1 => http
                        .delete(format!("{api_base}/v1/bookings/holds/{hold_id}"))
                        .bearer_auth(&token)
                        .send()
                        .await
                        .unwrap(),
                    _ => continue,
                };
                assert!(next.status().is_success(), "{:?}", next.status());
            }
        }));
    }
    for buyer in buyers {
        buyer.await.unwrap();
    }

    let version = api.version_of(&show).await;
    target_tx.send(Some(version)).unwrap();
    let truth = api.seat_statuses(&show).await;
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for status in truth.values() {
        *counts.entry(status.as_str()).or_default() += 1;
    }
    assert!(
        counts.get("BOOKED").copied().unwrap_or(0) >= 30,
        "{counts:?}"
    );
    assert!(counts.get("HELD").copied().unwrap_or(0) >= 30, "{counts:?}");
    for viewer in viewers {
        let viewer = tokio::time::timeout(10 * SECOND, viewer)
            .await
            .expect("every viewer reaches the seat map version")
            .unwrap();
        assert_eq!(viewer.version, version);
        assert!(
            viewer.seats == truth,
            "a viewer's map differs from the seat map"
        );
        assert!(viewer.updates > 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_show_is_followed_once_while_it_has_viewers_and_dropped_after_the_last() {
    let api = Api::start().await;
    let show = api.create_show(1, 1, 4, None).await;
    let other = api.create_show(1, 1, 4, None).await;
    let live = api.server.as_ref().unwrap().state.live().clone();
    let mut a = Viewer::connect(&api.base, &show.show_id).await;
    let b = Viewer::connect(&api.base, &show.show_id).await;
    let c = Viewer::connect(&api.base, &other.show_id).await;
    assert_eq!(live.viewers(), 3);
    assert_eq!(
        live.shows_followed(),
        2,
        "one follower per show, not per viewer"
    );
    drop(c);
    wait_until(|| live.shows_followed() == 1).await;
    drop(b);
    wait_until(|| live.viewers() == 1).await;
    assert_eq!(live.shows_followed(), 1);

    // The remaining viewer still gets updates.
    let (token, _) = api.guest().await;
    api.held(&token, &show, &[&show.seats[1]]).await;
    a.until_seat(&show.seats[1], "HELD", 5 * SECOND)
        .await
        .unwrap();
    a.ws.close(None).await.unwrap();
    wait_until(|| live.shows_followed() == 0 && live.viewers() == 0).await;

    // A new viewer starts a new follower from the current state.
    let again = Viewer::connect(&api.base, &show.show_id).await;
    assert_eq!(again.seats[&show.seats[1]], "HELD");
    assert_eq!(live.shows_followed(), 1);
}

async fn wait_until(mut done: impl FnMut() -> bool) {
    for _ in 0..100 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not reached within 5 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_viewers_with_going_away() {
    let mut api = Api::start().await;
    let show = api.create_show(1, 1, 4, None).await;
    let mut viewer = Viewer::connect(&api.base, &show.show_id).await;
    let server = api.server.take().unwrap();
    let stopping = tokio::spawn(server.stop());
    let (closed, _) = viewer.drain_until_closed(10 * SECOND).await;
    match closed {
        Closed::Frame(Some(frame)) => assert_eq!(u16::from(frame.code), 1001, "{frame:?}"),
        other => panic!("expected a 1001 close, got {other:?}"),
    }
    stopping.await.unwrap().expect("clean stop");
}

/// The live settings of `boxoffice dev`/`serve` (`--live-*`, `BOXOFFICE_LIVE_*`) reach the
/// viewers: with a 100 ms ping interval a viewer is pinged three times well within a second and
/// a half, where the default (20 s) would send none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ping_interval_setting_reaches_viewers() {
    use futures::StreamExt;
    let api = Api::start_with(|config| config.live.ping_interval_ms = 100).await;
    let show = api.create_show(1, 1, 4, None).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(live_url(&api.base, &show.show_id))
        .await
        .expect("upgrade");
    let started = tokio::time::Instant::now();
    let mut pings = 0;
    while pings < 3 {
        let message = tokio::time::timeout(2 * SECOND, ws.next())
            .await
            .expect("a ping within two seconds")
            .expect("connection open")
            .expect("a valid frame");
        if let tungstenite::Message::Ping(_) = message {
            pings += 1;
        }
    }
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "three pings took {:?}",
        started.elapsed()
    );
}
