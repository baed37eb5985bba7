//! The waiting room against a real `boxoffice dev` instance over real HTTP and WebSockets:
//! fair numbering and admission, holds only with a valid admission token, proof of work,
//! expiry and rejoin, the opening shuffle, sold-out notices (polled and pushed), and a restart
//! in the middle of a queue.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::api::{Api, SECRET, TestShow};
use uuid::Uuid;

/// Switch `show`'s waiting room on with `admit_per_minute` (and a proof of work of `bits`).
async fn enable(api: &Api, show: &TestShow, admit_per_minute: u32, bits: Option<u8>) -> Value {
    let mut body = json!({"enabled": true, "admitPerMinute": admit_per_minute});
    if let Some(bits) = bits {
        body["challengeBits"] = json!(bits);
    }
    let answer = api
        .call(
            Method::PUT,
            &format!("/v1/admin/shows/{}/waiting-room", show.show_id),
            Some(&api.admin()),
            None,
            Some(body),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    answer.body
}

async fn join(api: &Api, token: &str, show: &TestShow, key: Option<&str>) -> support::api::Answer {
    api.call(
        Method::POST,
        &format!("/v1/shows/{}/queue", show.show_id),
        Some(token),
        key,
        None,
    )
    .await
}

async fn me(api: &Api, token: &str, show: &TestShow) -> Value {
    let answer = api
        .get(&format!("/v1/shows/{}/queue/me", show.show_id), Some(token))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    answer.body
}

/// Poll the caller's entry until `done` holds (at most `within`).
async fn wait_for(
    api: &Api,
    token: &str,
    show: &TestShow,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let entry = me(api, token, show).await;
        if done(&entry) {
            return entry;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "entry never got there: {entry}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A hold with an `Admission-Token` header.
async fn hold_with(
    api: &Api,
    token: &str,
    show: &TestShow,
    seats: &[&str],
    admission: Option<&str>,
) -> support::api::Answer {
    let mut request = api
        .http
        .post(format!("{}/v1/bookings/hold", api.base))
        .bearer_auth(token)
        .json(&json!({"showId": show.show_id, "seatIds": seats}));
    if let Some(admission) = admission {
        request = request.header("Admission-Token", admission);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    support::api::Answer {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

fn number(entry: &Value) -> u64 {
    entry["queueNumber"].as_u64().expect("a queue number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buyers_are_numbered_in_join_order_admitted_in_that_order_and_hold_only_with_their_token() {
    let api = Api::start().await;
    let show = api.create_show(1, 2, 10, None).await; // 20 seats
    let other = api.create_show(1, 1, 10, None).await;
    let (early, _) = api.guest().await;
    let free = api.hold(&early, &show, &[&show.seats[0]], None).await;
    assert_eq!(
        free.status,
        StatusCode::CREATED,
        "no waiting room yet: {free:?}"
    );
    let switched = enable(&api, &show, 600, None).await;
    assert_eq!(switched["status"], "QUEUE");
    enable(&api, &other, 600, None).await;

    // Without a token a hold is refused, before any seat is looked at.
    let refused = api.hold(&early, &show, &[&show.seats[1]], None).await;
    refused.expect_problem(403, "admission-required");

    // 40 buyers join one after another: numbers strictly increase.
    let mut buyers = Vec::new();
    for i in 0..40 {
        let (token, _) = api.guest().await;
        let key = format!("join-{i}");
        let joined = join(&api, &token, &show, Some(&key)).await;
        assert_eq!(joined.status, StatusCode::CREATED, "{joined:?}");
        assert_eq!(joined.body["showId"], show.show_id.as_str());
        let again = join(&api, &token, &show, None).await;
        assert_eq!(
            again.status,
            StatusCode::OK,
            "joining again: the same entry"
        );
        assert_eq!(number(&again.body), number(&joined.body));
        let retry = join(&api, &token, &show, Some(&key)).await;
        assert_eq!(
            retry.status,
            StatusCode::CREATED,
            "a retry answers as the first time"
        );
        buyers.push((token, number(&joined.body)));
    }
    assert!(buyers.windows(2).all(|w| w[0].1 < w[1].1));

    // 19 seats at two seats a buyer serve 10 buyers: the first ten are admitted, in order.
    let (first, _) = &buyers[0];
    let admitted = wait_for(&api, first, &show, Duration::from_secs(10), |e| {
        e["status"] == "ADMITTED"
    })
    .await;
    assert_eq!(admitted["position"], 0);
    assert!(admitted["admissionToken"].is_string());
    assert!(admitted["admissionExpiresAt"].is_string());
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let entries: Vec<Value> = {
        let mut all = Vec::new();
        for (token, _) in &buyers {
            all.push(me(&api, token, &show).await);
        }
        all
    };
    let statuses: Vec<&str> = entries
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "ADMITTED").count(),
        10,
        "{statuses:?}"
    );
    assert!(
        statuses[..10].iter().all(|s| *s == "ADMITTED"),
        "{statuses:?}"
    );
    for (i, entry) in entries.iter().enumerate().skip(10) {
        assert_eq!(entry["status"], "WAITING");
        assert_eq!(entry["position"], i as u64 - 9, "WAITING ahead + 1");
        assert!(entry["estimatedWaitSeconds"].as_u64().unwrap() >= 1);
        assert!(entry.get("admissionToken").is_none());
    }

    // The admitted buyer holds with the token; nobody else's token, no forgery, no other show.
    let token_of = |i: usize| entries[i]["admissionToken"].as_str().unwrap().to_owned();
    let (buyer0, buyer1) = (&buyers[0].0, &buyers[1].0);
    let held = hold_with(
        &api,
        buyer0,
        &show,
        &[&show.seats[1], &show.seats[2]],
        Some(&token_of(0)),
    )
    .await;
    assert_eq!(held.status, StatusCode::CREATED, "{held:?}");
    let stolen = hold_with(&api, buyer1, &show, &[&show.seats[3]], Some(&token_of(0))).await;
    stolen.expect_problem(403, "admission-required");
    let mut forged = token_of(1);
    forged.replace_range(10..12, if &forged[10..12] == "AA" { "BB" } else { "AA" });
    let forged = hold_with(&api, buyer1, &show, &[&show.seats[3]], Some(&forged)).await;
    forged.expect_problem(403, "admission-required");
    let waiting = &buyers[20].0;
    let joined_other = join(&api, waiting, &other, None).await;
    assert_eq!(joined_other.status, StatusCode::CREATED);
    let other_entry = wait_for(&api, waiting, &other, Duration::from_secs(10), |e| {
        e["status"] == "ADMITTED"
    })
    .await;
    let cross = hold_with(
        &api,
        waiting,
        &show,
        &[&show.seats[3]],
        other_entry["admissionToken"].as_str(),
    )
    .await;
    cross.expect_problem(403, "admission-required");
    let expired = queue::RoomKeys::new(SECRET.as_bytes()).admission_token(
        schemas::ShowId(Uuid::parse_str(&show.show_id).unwrap()),
        schemas::UserId(Uuid::parse_str(&api_support_user(&api, buyer1).await).unwrap()),
        schemas::UnixMs(1_000),
    );
    let late = hold_with(&api, buyer1, &show, &[&show.seats[3]], Some(&expired)).await;
    late.expect_problem(403, "admission-required");
    let own = hold_with(&api, buyer1, &show, &[&show.seats[3]], Some(&token_of(1))).await;
    assert_eq!(own.status, StatusCode::CREATED, "{own:?}");

    // Holds on a show without a waiting room ignore the header, whatever it says.
    let plain = api.create_show(1, 1, 4, None).await;
    let ignored = hold_with(&api, buyer1, &plain, &[&plain.seats[0]], Some("garbage")).await;
    assert_eq!(ignored.status, StatusCode::CREATED, "{ignored:?}");

    // Unknown shows and shows without a waiting room have no queue.
    join(&api, buyer1, &plain, None)
        .await
        .expect_problem(404, "not-found");
    let unknown = format!("/v1/shows/{}/queue/me", Uuid::new_v4());
    api.get(&unknown, Some(buyer1))
        .await
        .expect_problem(404, "not-found");
    api.get(&format!("/v1/shows/{}/queue/me", show.show_id), None)
        .await
        .expect_problem(401, "unauthenticated");
}

/// The user id of a guest token (its `sub`).
async fn api_support_user(api: &Api, token: &str) -> String {
    let keys = ingress::auth::TokenKeys::new(SECRET.as_bytes());
    let _ = api;
    keys.verify(token, support::api::chrono_now())
        .unwrap()
        .user
        .0
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_joining_at_once_get_distinct_numbers_and_the_seats_bound_admissions() {
    let api = Api::start().await;
    let show = api.create_show(1, 1, 10, None).await; // 10 seats: 5 buyers at 2 seats each
    enable(&api, &show, 6_000, None).await;
    let mut guests = Vec::new();
    for _ in 0..300 {
        guests.push(api.guest().await.0);
    }
    let joins = guests.iter().map(|token| join(&api, token, &show, None));
    let answers = futures::future::join_all(joins).await;
    let numbers: Vec<u64> = answers
        .iter()
        .map(|a| {
            assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
            number(&a.body)
        })
        .collect();
    let distinct: HashSet<u64> = numbers.iter().copied().collect();
    assert_eq!(distinct, (1..=300).collect::<HashSet<u64>>());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut admitted = 0;
    for token in &guests {
        admitted += usize::from(me(&api, token, &show).await["status"] == "ADMITTED");
    }
    assert_eq!(
        admitted, 5,
        "6,000 a minute would allow 300; 10 seats serve 5 buyers"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_show_asking_for_proof_of_work_answers_428_until_solved() {
    const BITS: u8 = 16;
    let api = Api::start().await;
    let show = api.create_show(1, 1, 5, None).await;
    // 16 bits: a wrong answer solves the current or the previous window's challenge (the server
    // takes either) by chance once in 32,768 runs, not once in 128 as with 8.
    enable(&api, &show, 60, Some(BITS)).await;
    let (token, _) = api.guest().await;
    let challenged = join(&api, &token, &show, None).await;
    challenged.expect_problem(428, "challenge-required");
    let challenge = challenged.body["challenge"].as_str().unwrap().to_owned();
    assert_eq!(challenged.body["bits"], BITS);
    let wrong = api
        .http
        .post(format!("{}/v1/shows/{}/queue", api.base, show.show_id))
        .bearer_auth(&token)
        .header("Challenge-Solution", "not-it")
        .send()
        .await
        .unwrap();
    let solved_by_chance = queue::token::solves(&challenge, "not-it", BITS);
    assert_eq!(
        wrong.status() == StatusCode::PRECONDITION_REQUIRED,
        !solved_by_chance,
        "a wrong answer: {}",
        wrong.status()
    );
    let nonce = queue::token::solve(&challenge, BITS);
    let joined = api
        .http
        .post(format!("{}/v1/shows/{}/queue", api.base, show.show_id))
        .bearer_auth(&token)
        .header("Challenge-Solution", &nonce)
        .send()
        .await
        .unwrap();
    assert_eq!(joined.status(), StatusCode::CREATED);
    // Switching the challenge off (0) lets the next buyer in without one.
    let mut body = json!({"enabled": true, "admitPerMinute": 60, "challengeBits": 0});
    let off = api
        .call(
            Method::PUT,
            &format!("/v1/admin/shows/{}/waiting-room", show.show_id),
            Some(&api.admin()),
            None,
            Some(body.take()),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{off:?}");
    let (next, _) = api.guest().await;
    assert_eq!(
        join(&api, &next, &show, None).await.status,
        StatusCode::CREATED
    );
    // Validation names the field; only admins switch rooms.
    let bad = api
        .call(
            Method::PUT,
            &format!("/v1/admin/shows/{}/waiting-room", show.show_id),
            Some(&api.admin()),
            None,
            Some(json!({"enabled": true, "admitPerMinute": 0})),
        )
        .await;
    bad.expect_problem(400, "invalid-request");
    assert_eq!(bad.body["field"], "admitPerMinute");
    let denied = api
        .call(
            Method::PUT,
            &format!("/v1/admin/shows/{}/waiting-room", show.show_id),
            Some(&next),
            None,
            Some(json!({"enabled": false, "admitPerMinute": 1})),
        )
        .await;
    denied.expect_problem(403, "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unused_admission_expires_and_the_buyer_rejoins_at_the_back() {
    // Admissions last as long as a hold: 2 s here.
    let api = Api::start_with(|c| c.hold_ttl_s = 2).await;
    let show = api.create_show(1, 1, 4, None).await; // 4 seats: 2 buyers at a time
    enable(&api, &show, 600, None).await;
    let mut buyers = Vec::new();
    for _ in 0..4 {
        let (token, _) = api.guest().await;
        assert_eq!(
            join(&api, &token, &show, None).await.status,
            StatusCode::CREATED
        );
        buyers.push(token);
    }
    let admitted = wait_for(&api, &buyers[0], &show, Duration::from_secs(10), |e| {
        e["status"] == "ADMITTED"
    })
    .await;
    let token = admitted["admissionToken"].as_str().unwrap().to_owned();
    let expired = wait_for(&api, &buyers[0], &show, Duration::from_secs(10), |e| {
        e["status"] == "EXPIRED"
    })
    .await;
    assert_eq!(expired["position"], 0);
    let late = hold_with(&api, &buyers[0], &show, &[&show.seats[0]], Some(&token)).await;
    late.expect_problem(403, "admission-required");
    // The window passing admitted the next ones in line.
    wait_for(&api, &buyers[2], &show, Duration::from_secs(10), |e| {
        e["status"] == "ADMITTED"
    })
    .await;
    let rejoined = join(&api, &buyers[0], &show, None).await;
    assert_eq!(rejoined.status, StatusCode::CREATED, "{rejoined:?}");
    assert_eq!(number(&rejoined.body), 5, "a new number at the back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_joiners_are_shuffled_at_the_opening_and_later_ones_follow() {
    let api = Api::start().await;
    let opens_s = support::api::chrono_now() + 4;
    let show = api
        .create_show(1, 1, 10, Some(clock::rfc3339_s(opens_s)))
        .await;
    let switched = enable(&api, &show, 600, None).await;
    assert_eq!(
        switched["status"], "QUEUE",
        "early buyers may queue before the opening"
    );
    let mut early = Vec::new();
    for _ in 0..30 {
        let (token, _) = api.guest().await;
        let joined = join(&api, &token, &show, None).await;
        assert_eq!(joined.status, StatusCode::CREATED, "{joined:?}");
        assert!(
            joined.body["queueNumber"].is_null(),
            "no number before the opening"
        );
        assert!(joined.body["position"].is_null());
        assert_eq!(joined.body["status"], "WAITING");
        assert!(joined.body["message"].is_string());
        early.push(token);
    }
    let sale = api.hold(&early[0], &show, &[&show.seats[0]], None).await;
    sale.expect_problem(403, "admission-required");
    let until_open = (opens_s - support::api::chrono_now()).max(0) as u64;
    tokio::time::sleep(Duration::from_secs(until_open) + Duration::from_millis(1_500)).await;
    let (late, _) = api.guest().await;
    let late_entry = join(&api, &late, &show, None).await;
    assert_eq!(number(&late_entry.body), 31);
    let mut numbers = Vec::new();
    for token in &early {
        numbers.push(number(&me(&api, token, &show).await));
    }
    assert_eq!(
        numbers.iter().copied().collect::<HashSet<_>>(),
        (1..=30).collect::<HashSet<_>>(),
        "the early joiners are numbered 1..=30"
    );
    assert_ne!(numbers, (1..=30).collect::<Vec<_>>(), "in a shuffled order");
}

/// Next text frame of a queue WebSocket as JSON.
async fn next_entry(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame within 10 s")
            .expect("the socket stays open")
            .unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(text) = frame {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_buyers_learn_of_a_sell_out_polled_and_pushed_and_go_back_to_waiting() {
    let api = Api::start().await;
    let show = api.create_show(1, 1, 4, None).await; // 4 seats: 2 buyers at 2 seats each
    enable(&api, &show, 600, None).await;
    let mut buyers = Vec::new();
    for _ in 0..4 {
        let (token, _) = api.guest().await;
        join(&api, &token, &show, None).await;
        buyers.push(token);
    }
    let live_url = format!(
        "{}/v1/shows/{}/queue/live?token={}",
        api.base.replace("http://", "ws://"),
        show.show_id,
        buyers[3]
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(&live_url).await.unwrap();
    let first = next_entry(&mut ws).await;
    assert_eq!(first["queueNumber"], 4);
    assert_eq!(first["status"], "WAITING");
    let mut holds = Vec::new();
    for (i, buyer) in buyers[..2].iter().enumerate() {
        let entry = wait_for(&api, buyer, &show, Duration::from_secs(10), |e| {
            e["status"] == "ADMITTED"
        })
        .await;
        let seats = [show.seats[2 * i].as_str(), show.seats[2 * i + 1].as_str()];
        let held = hold_with(&api, buyer, &show, &seats, entry["admissionToken"].as_str()).await;
        assert_eq!(held.status, StatusCode::CREATED, "{held:?}");
        holds.push(held.body["holdId"].as_str().unwrap().to_owned());
    }
    // Every seat is held: waiting buyers are told, by poll and by push.
    let polled = wait_for(&api, &buyers[2], &show, Duration::from_secs(10), |e| {
        e["status"] == "SOLD_OUT"
    })
    .await;
    assert!(polled["message"].as_str().unwrap().contains("sold"));
    assert_eq!(polled["position"], 1);
    let pushed = loop {
        let entry = next_entry(&mut ws).await;
        if entry["status"] == "SOLD_OUT" {
            break entry;
        }
    };
    assert!(pushed["message"].is_string());
    assert_eq!(pushed["position"], 2);
    // A hold is released: seats are back, so is the queue.
    let released = api
        .call(
            Method::DELETE,
            &format!("/v1/bookings/holds/{}", holds[0]),
            Some(&buyers[0]),
            None,
            None,
        )
        .await;
    assert_eq!(released.status, StatusCode::NO_CONTENT, "{released:?}");
    let back = loop {
        let entry = next_entry(&mut ws).await;
        if entry["status"] != "SOLD_OUT" {
            break entry;
        }
    };
    assert!(
        back["status"] == "WAITING" || back["status"] == "ADMITTED",
        "{back}"
    );
    wait_for(&api, &buyers[2], &show, Duration::from_secs(10), |e| {
        e["status"] == "ADMITTED"
    })
    .await;
    // The live route needs a valid token.
    let anonymous = format!(
        "{}/v1/shows/{}/queue/live?token=nope",
        api.base.replace("http://", "ws://"),
        show.show_id
    );
    match tokio_tungstenite::connect_async(&anonymous).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401)
        }
        other => panic!("expected 401, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_in_the_middle_keeps_positions_tokens_and_admissions_going() {
    let mut api = Api::start().await;
    let show = api.create_show(1, 1, 40, None).await;
    // 60 a minute: a first batch of 10 (ten seconds' worth), then one a second.
    enable(&api, &show, 60, None).await;
    let mut buyers = Vec::new();
    for _ in 0..16 {
        let (token, _) = api.guest().await;
        join(&api, &token, &show, None).await;
        buyers.push(token);
    }
    let first = wait_for(&api, &buyers[0], &show, Duration::from_secs(10), |e| {
        e["status"] == "ADMITTED"
    })
    .await;
    let mut before = Vec::new();
    for token in &buyers {
        before.push(me(&api, token, &show).await);
    }
    assert_eq!(before[15]["status"], "WAITING");
    api.restart().await;
    for (token, was) in buyers.iter().zip(&before) {
        let now = me(&api, token, &show).await;
        assert_eq!(now["queueNumber"], was["queueNumber"]);
        if was["status"] == "ADMITTED" {
            assert_eq!(now["status"], "ADMITTED");
            assert_eq!(now["admissionToken"], was["admissionToken"]);
        } else {
            assert!(now["position"].as_u64().unwrap() <= was["position"].as_u64().unwrap());
        }
    }
    // The token issued before the restart still holds seats.
    let held = hold_with(
        &api,
        &buyers[0],
        &show,
        &[&show.seats[0], &show.seats[1]],
        first["admissionToken"].as_str(),
    )
    .await;
    assert_eq!(held.status, StatusCode::CREATED, "{held:?}");
    // Admissions go on where they were: the last in line gets in at one a second.
    wait_for(&api, &buyers[15], &show, Duration::from_secs(15), |e| {
        e["status"] == "ADMITTED"
    })
    .await;
    let joined = join(&api, &buyers[15], &show, None).await;
    assert_eq!(
        joined.status,
        StatusCode::OK,
        "the same entry after the restart"
    );
    assert_eq!(joined.body["queueNumber"], 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_user_rate_limits_cover_joining_holding_and_confirming() {
    // Two requests a second per user, bursts of four.
    let api = Api::start_with(|c| c.rate_per_user = 2).await;
    let show = api.create_show(1, 1, 10, None).await;
    let plain = api.create_show(1, 1, 10, None).await;
    enable(&api, &show, 600, None).await;
    let fifth = |answers: Vec<support::api::Answer>| {
        assert!(
            answers[..4]
                .iter()
                .all(|a| a.status != StatusCode::TOO_MANY_REQUESTS)
        );
        answers[4].expect_problem(429, "rate-limited");
        assert!(answers[4].headers.contains_key("retry-after"));
    };
    let (joiner, _) = api.guest().await;
    let mut joins = Vec::new();
    for _ in 0..5 {
        joins.push(join(&api, &joiner, &show, None).await);
    }
    fifth(joins);
    let (holder, _) = api.guest().await;
    let mut holds = Vec::new();
    for seat in &plain.seats[..5] {
        holds.push(api.hold(&holder, &plain, &[seat], None).await);
    }
    fifth(holds);
    let (payer, _) = api.guest().await;
    let mut confirms = Vec::new();
    for _ in 0..5 {
        confirms.push(
            api.confirm(&payer, &Uuid::new_v4().to_string(), "pm_card_visa", None)
                .await,
        );
    }
    fifth(confirms);
}
