//! The demand guard in serve mode: what one ingress counts of a client reaches the others (core
//! NATS, every admission round), so a client cannot spread its holds over ingress processes to
//! stay under its share. Needs the real services (`scripts/services up`), like every serve suite.

mod support;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use support::api::client_from;
use support::serve::Backend;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_over_its_share_at_one_ingress_is_challenged_at_another() {
    let Some(backend) = Backend::start("abuse_serve_guard").await else {
        return;
    };
    let guarded = |c: &mut ingress::config::ApiConfig| {
        c.guard = true;
        c.guard_bits = 8;
    };
    let a = backend.api(backend.topology.clone(), guarded).await;
    let b = backend.api(backend.topology.clone(), guarded).await;
    // 100 seats: the share of an address is the 24-seat floor.
    let show = a.create_show(1, 10, 10, None).await;
    let greedy = client_from("127.3.0.1");
    for seats in show.seats[..30].chunks(6) {
        let (token, _) = a.guest().await;
        let held = a.hold_via(&greedy, &token, &show.show_id, seats, &[]).await;
        assert_eq!(held.status, StatusCode::CREATED, "{held:?}");
    }
    let (token, _) = b.guest().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut next = show.seats[30..].chunks(2);
    let challenged = loop {
        let seats = next.next().expect("seats left to try");
        let answer = b.hold_via(&greedy, &token, &show.show_id, seats, &[]).await;
        if answer.status.as_u16() == 428 {
            break answer;
        }
        assert!(
            answer.status.is_success() || answer.status.as_u16() == 422,
            "{answer:?}"
        );
        assert!(
            Instant::now() < deadline,
            "ingress b never learnt of a's counts"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    challenged.expect_problem(428, "challenge-required");
    let detail = challenged.body["detail"].as_str().unwrap();
    assert!(detail.contains("this address has held"), "{detail}");
    backend.stop().await;
}
