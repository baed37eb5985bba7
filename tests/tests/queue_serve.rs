//! The waiting room in serve mode, against real NATS JetStream (and, end to end, the whole serve
//! stack): two ingress processes share one queue, admitters race without double admissions, the
//! opening happens once, and a restarted process replays the stream and continues. Needs
//! `scripts/services up` (see `boxoffice_tests`); every test uses its own stream and subjects.

mod support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use boxoffice_tests::{connect_nats, unique_name};
use futures::future::join_all;
use queue::jetstream::StreamSpec;
use queue::{Directory, QueueError, RoomConfig, RoomShow, Status, WaitingRoom};
use reqwest::{Method, StatusCode};
use schemas::{ShowId, UnixMs, UserId};
use serde_json::{Value, json};
use support::pipeline::Processor;
use support::serve::{Backend, stop_api};
use uuid::Uuid;

const SECRET: &[u8] = b"queue-serve-secret-0123456789abcdef";
const OPENS_AT: i64 = 2_000_000;

struct FixedShow {
    show: ShowId,
    state: Mutex<RoomShow>,
}

#[async_trait]
impl Directory for FixedShow {
    async fn show(&self, show: ShowId) -> Result<Option<RoomShow>, QueueError> {
        Ok((show == self.show).then(|| self.state.lock().unwrap().clone()))
    }

    async fn available_seats(&self, _show: ShowId) -> Result<u32, QueueError> {
        Ok(1_000)
    }

    async fn switch_on(&self, _show: ShowId, admit_per_minute: u32) -> Result<(), QueueError> {
        let mut state = self.state.lock().unwrap();
        state.enabled = true;
        if state.admit_per_minute == 0 {
            state.admit_per_minute = admit_per_minute;
        }
        Ok(())
    }
}

async fn open_room(
    client: &async_nats::Client,
    spec: &StreamSpec,
    directory: Arc<FixedShow>,
) -> WaitingRoom {
    let config = RoomConfig {
        settings_ttl: Duration::ZERO,
        ..RoomConfig::new(60_000)
    };
    WaitingRoom::open_jetstream(
        client.clone(),
        spec.clone(),
        directory,
        SECRET,
        config,
        Duration::from_secs(10),
    )
    .await
    .expect("the waiting room opens over JetStream")
}

fn user(n: u64) -> UserId {
    UserId(Uuid::from_u64_pair(0x5e7e, n))
}

/// Wait until both rooms answer the same for `users` at `now` (the other process's follower
/// may be a few messages behind).
async fn converge(a: &WaitingRoom, b: &WaitingRoom, show: ShowId, users: &[UserId], now: UnixMs) {
    for _ in 0..200 {
        let mut same = true;
        for u in users {
            let (x, y) = (a.entry(show, *u, now).await, b.entry(show, *u, now).await);
            same &= x.unwrap() == y.unwrap();
        }
        if same {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the two processes never agreed");
}

/// The waiting-room stream of a topology unique to `test`, created by `boxoffice provision`
/// from streams.yaml's `waiting_room` section.
async fn provisioned_stream(test: &str) -> StreamSpec {
    let topology = support::pipeline::topology(test);
    let target = processors::provision::ProvisionTarget {
        nats_url: boxoffice_tests::nats_url(test),
        cql_nodes: None,
    };
    let report = processors::provision::provision(&topology, &target)
        .await
        .expect("provision");
    assert!(
        report.changes.contains(&format!(
            "created stream {}",
            topology.waiting_room_stream()
        )),
        "{report}"
    );
    let again = processors::provision::provision(&topology, &target)
        .await
        .expect("provision again");
    assert!(
        again.changes.is_empty(),
        "a second run changes nothing: {again}"
    );
    application::waitroom::stream_spec(&topology)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_provisioning_the_waiting_room_refuses_to_start_and_says_why() {
    let test = "queue_serve_unprovisioned";
    let Some(client) = connect_nats(test).await else {
        return;
    };
    let name = unique_name("wr_missing");
    let spec = StreamSpec {
        stream: name.to_uppercase(),
        subject_prefix: name,
    };
    let directory = Arc::new(FixedShow {
        show: ShowId(Uuid::new_v4()),
        state: Mutex::new(RoomShow {
            enabled: true,
            admit_per_minute: 600,
            challenge_bits: None,
            sale_opens_at: None,
            show_time: UnixMs(OPENS_AT + 86_400_000),
        }),
    });
    let error = WaitingRoom::open_jetstream(
        client.clone(),
        spec.clone(),
        directory,
        SECRET,
        RoomConfig::new(60_000),
        Duration::from_secs(5),
    )
    .await
    .expect_err("an unprovisioned stream is refused");
    assert!(matches!(error, QueueError::Misconfigured(_)), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains(&spec.stream) && text.contains("boxoffice provision"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_queue_open_it_once_and_never_admit_twice() {
    let test = "two_processes_share_one_queue";
    let Some(client) = connect_nats(test).await else {
        return;
    };
    let spec = provisioned_stream(test).await;
    let show = ShowId(Uuid::new_v4());
    let directory = Arc::new(FixedShow {
        show,
        state: Mutex::new(RoomShow {
            enabled: true,
            admit_per_minute: 600,
            challenge_bits: None,
            sale_opens_at: Some(UnixMs(OPENS_AT)),
            show_time: UnixMs(OPENS_AT + 86_400_000),
        }),
    });
    let a = open_room(&client, &spec, directory.clone()).await;
    let b = open_room(&client, &spec, directory.clone()).await;

    // 200 join before the opening and 800 after, half through each process, concurrently.
    let users: Vec<UserId> = (0..1_000).map(user).collect();
    let before = UnixMs(OPENS_AT - 1_000);
    let joins = users[..200].iter().enumerate().map(|(i, u)| {
        let room = if i % 2 == 0 { &a } else { &b };
        room.join(show, *u, 0, None, before)
    });
    for joined in join_all(joins).await {
        assert!(joined.unwrap().created);
    }
    // Both processes race to open: one opening, one order.
    let opened_at = UnixMs(OPENS_AT);
    let (ra, rb) = tokio::join!(a.round(opened_at), b.round(opened_at));
    assert_eq!(ra.opened + rb.opened, 1, "exactly one opening is stored");
    let mut admitted = ra.admitted + rb.admitted;
    let mut conflicts = ra.conflicts + rb.conflicts;
    converge(&a, &b, show, &users[..200], opened_at).await;
    let audit = a.audit(show).unwrap();
    assert_eq!(Some(audit.clone()), b.audit(show));
    assert_eq!(audit.order.len(), 200);
    assert_eq!(
        audit.order.iter().collect::<HashSet<_>>(),
        users[..200].iter().collect::<HashSet<_>>()
    );
    let after = UnixMs(OPENS_AT + 500);
    for chunk in users[200..].chunks(100) {
        let joins = chunk.iter().enumerate().map(|(i, u)| {
            let room = if i % 2 == 0 { &a } else { &b };
            room.join(show, *u, 0, None, after)
        });
        for joined in join_all(joins).await {
            let joined = joined.unwrap();
            assert!(joined.entry.queue_number.unwrap() > 200);
        }
    }
    converge(&a, &b, show, &users, after).await;
    let mut numbers = HashSet::new();
    for u in &users {
        let entry = a.entry(show, *u, after).await.unwrap().unwrap();
        assert!(numbers.insert(entry.queue_number.unwrap()));
    }
    assert_eq!(numbers, (1..=1_000).collect::<HashSet<u32>>());

    // Both processes run rounds at the same moments: no batch is stored twice. At 600 a minute
    // the opening admitted a burst of 100, then 10 a second: 15 at +1.5 s, 10 at each of the
    // next four seconds.
    for second in 1..=5 {
        let now = UnixMs(OPENS_AT + 500 + second * 1_000);
        let (ra, rb) = tokio::join!(a.round(now), b.round(now));
        admitted += ra.admitted + rb.admitted;
        conflicts += ra.conflicts + rb.conflicts;
    }
    let now = UnixMs(OPENS_AT + 6_000);
    converge(&a, &b, show, &users, now).await;
    let mut seen = 0;
    for u in &users {
        seen +=
            u64::from(a.entry(show, *u, now).await.unwrap().unwrap().status == Status::Admitted);
    }
    assert_eq!(seen, admitted, "every stored batch is counted once");
    assert_eq!(admitted, 155, "{conflicts} rounds lost the race");

    // A restarted process replays the stream and answers exactly as before.
    let expected: Vec<_> = {
        let mut all = Vec::new();
        for u in &users {
            all.push(a.entry(show, *u, now).await.unwrap());
        }
        all
    };
    a.shutdown().await;
    drop(a);
    let a = open_room(&client, &spec, directory.clone()).await;
    for (u, was) in users.iter().zip(&expected) {
        assert_eq!(&a.entry(show, *u, now).await.unwrap(), was);
    }
    let js = async_nats::jetstream::new(client.clone());
    js.delete_stream(&spec.stream).await.unwrap();
}

/// A serve-mode stack with two ingress processes over one topology.
struct Stack {
    a: support::api::Api,
    b: support::api::Api,
    backend: Backend,
}

async fn stack(test: &str) -> Option<Stack> {
    let backend = Backend::start(test).await?;
    let a = backend.api(backend.topology.clone(), |_| {}).await;
    let b = backend.api(backend.topology.clone(), |_| {}).await;
    Some(Stack { a, b, backend })
}

async fn queue_call(api: &support::api::Api, method: Method, path: &str, token: &str) -> Value {
    let answer = api.call(method, path, Some(token), None, None).await;
    assert!(answer.status.is_success(), "{answer:?}");
    answer.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_serve_mode_buyers_join_and_hold_across_two_ingresses_and_a_restart_continues() {
    let test = "queue_serve_two_ingress";
    let Some(mut stack) = stack(test).await else {
        return;
    };
    let (a, b) = (&stack.a, &stack.b);
    let show = a.create_show(1, 1, 10, None).await;
    let switched = a
        .call(
            Method::PUT,
            &format!("/v1/admin/shows/{}/waiting-room", show.show_id),
            Some(&a.admin()),
            None,
            Some(json!({"enabled": true, "admitPerMinute": 600})),
        )
        .await;
    assert_eq!(switched.status, StatusCode::OK, "{switched:?}");
    // The other ingress learns of the switch within its settings cache (1 s).
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let (token, _) = a.guest().await;
    b.hold(&token, &show, &[&show.seats[0]], None)
        .await
        .expect_problem(403, "admission-required");
    let queue = format!("/v1/shows/{}/queue", show.show_id);
    let mut buyers = Vec::new();
    for i in 0..8 {
        let (token, _) = a.guest().await;
        let via = if i % 2 == 0 { a } else { b };
        let joined = via
            .call(Method::POST, &queue, Some(&token), None, None)
            .await;
        assert_eq!(joined.status, StatusCode::CREATED, "{joined:?}");
        assert_eq!(joined.body["queueNumber"], i + 1);
        buyers.push(token);
    }
    // Joining again through the other ingress finds the same entry.
    let again = b
        .call(Method::POST, &queue, Some(&buyers[0]), None, None)
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["queueNumber"], 1);
    // Admitted (by whichever ingress won the round), seen on both, holds on the other one.
    let me = format!("{queue}/me");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let entry = loop {
        let entry = queue_call(a, Method::GET, &me, &buyers[0]).await;
        if entry["status"] == "ADMITTED" {
            break entry;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never admitted: {entry}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let on_b = queue_call(b, Method::GET, &me, &buyers[0]).await;
    assert_eq!(on_b["admissionToken"], entry["admissionToken"]);
    let held = b
        .http
        .post(format!("{}/v1/bookings/hold", b.base))
        .bearer_auth(&buyers[0])
        .header("Admission-Token", entry["admissionToken"].as_str().unwrap())
        .json(&json!({"showId": show.show_id, "seatIds": [show.seats[0], show.seats[1]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(held.status(), StatusCode::CREATED);
    // 10 seats at two a buyer: 5 admitted, never more, whichever ingress ran the rounds.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut admitted = 0;
    for token in &buyers {
        admitted +=
            usize::from(queue_call(b, Method::GET, &me, token).await["status"] == "ADMITTED");
    }
    assert_eq!(admitted, 5);
    let hold_id = held.json::<Value>().await.unwrap()["holdId"]
        .as_str()
        .unwrap()
        .to_owned();

    // Restart ingress A and the processor in the middle of the sale.
    let before: Vec<Value> = {
        let mut all = Vec::new();
        for token in &buyers {
            all.push(queue_call(&stack.b, Method::GET, &me, token).await);
        }
        all
    };
    stop_api(&mut stack.a).await;
    stack.backend.processor.stop().await;
    stack.backend.processor = Processor::start(
        &stack.backend.services,
        &stack.backend.topology,
        &format!("{test}-p2"),
    );
    stack.a = stack
        .backend
        .api(stack.backend.topology.clone(), |_| {})
        .await;
    let a = &stack.a;
    for (token, was) in buyers.iter().zip(&before) {
        let now = queue_call(a, Method::GET, &me, token).await;
        assert_eq!(now["queueNumber"], was["queueNumber"]);
        assert_eq!(now["status"], was["status"]);
        assert_eq!(now["position"], was["position"]);
    }
    // Seats come back through the restarted ingress and processor: admissions go on.
    let released = a
        .call(
            Method::DELETE,
            &format!("/v1/bookings/holds/{hold_id}"),
            Some(&buyers[0]),
            None,
            None,
        )
        .await;
    assert_eq!(released.status, StatusCode::NO_CONTENT, "{released:?}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let entry = queue_call(a, Method::GET, &me, &buyers[5]).await;
        if entry["status"] == "ADMITTED" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never admitted: {entry}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for api in [&mut stack.a, &mut stack.b] {
        stop_api(api).await;
    }
    stack.backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demand_counted_across_two_ingresses_switches_the_room_on_for_both() {
    let test = "queue_serve_auto_switch";
    let Some(mut stack) = stack(test).await else {
        return;
    };
    let (a, b) = (&stack.a, &stack.b);
    let show = a.create_show(1, 1, 10, None).await;
    // 3 a second over the default 5 s window: 15 attempts. One attempt every 170 ms or slower
    // (request time adds to it) alternates the ingresses, so each alone sees at most ~2.9 a
    // second (under 15 in any window) while together they make up to ~5.8: only the shared count
    // reaches the threshold, with room to spare when the machine is slow.
    let armed = a
        .call(
            Method::PUT,
            &format!("/v1/admin/shows/{}/waiting-room", show.show_id),
            Some(&a.admin()),
            None,
            Some(json!({"enabled": false, "admitPerMinute": 0, "autoAbovePerSecond": 3})),
        )
        .await;
    assert_eq!(armed.status, StatusCode::OK, "{armed:?}");
    let (early, _) = a.guest().await;
    let held = a.hold(&early, &show, &[&show.seats[0]], None).await;
    assert_eq!(held.status, StatusCode::CREATED, "{held:?}");

    let (rusher, _) = a.guest().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut attempts = 0u32;
    let switched_via = loop {
        let via = if attempts.is_multiple_of(2) { a } else { b };
        let answer = via.hold(&rusher, &show, &[&show.seats[0]], None).await;
        attempts += 1;
        if answer.status == StatusCode::FORBIDDEN {
            answer.expect_problem(403, "admission-required");
            break attempts % 2;
        }
        answer.expect_problem(409, "seats-unavailable");
        assert!(
            tokio::time::Instant::now() < deadline,
            "never switched on after {attempts} attempts"
        );
        tokio::time::sleep(Duration::from_millis(170)).await;
    };
    assert!(attempts >= 14, "switched on after only {attempts} attempts");

    // The other ingress refuses too, as soon as it has folded the switch-on.
    let other = if switched_via == 1 { b } else { a };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let answer = other.hold(&rusher, &show, &[&show.seats[3]], None).await;
        if answer.status == StatusCode::FORBIDDEN {
            answer.expect_problem(403, "admission-required");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the other ingress never switched: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The early buyer keeps the seat and buys it through either ingress.
    let hold_id = held.body["holdId"].as_str().unwrap();
    let booked = b.confirm(&early, hold_id, "pm_card_visa", None).await;
    assert_eq!(booked.status, StatusCode::CREATED, "{booked:?}");
    for api in [&mut stack.a, &mut stack.b] {
        stop_api(api).await;
    }
    stack.backend.stop().await;
}
