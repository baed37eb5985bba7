//! Black-box HTTP tests of the abuse defences: start-up refuses a short secret, probes are never
//! rate-limited, metrics are served apart from the API, the client address behind trusted proxies
//! (and not behind untrusted ones), guest tokens cost something per address and per network, and
//! the demand guard asks a greedy address (or a fresh guest, when configured) for a proof of work.

mod support;

use reqwest::{Method, StatusCode};
use support::api::{Api, client_from};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_are_never_rate_limited_while_the_rest_is() {
    let api = Api::start_with(|c| c.rate_per_ip = 1).await;
    for _ in 0..20 {
        assert_eq!(api.get("/healthz", None).await.status, StatusCode::OK);
        let ready = api.get("/readyz", None).await;
        assert_eq!(ready.status, StatusCode::OK, "{ready:?}");
    }
    let mut limited = None;
    for _ in 0..10 {
        let asked = std::time::Instant::now();
        let answer = api.get("/v1/events", None).await;
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some((answer, asked.elapsed()));
            break;
        }
    }
    let (limited, took) = limited.expect("the API itself is limited");
    // A refusal is held a moment, so ignoring Retry-After does not turn into a flood.
    assert!(took >= ingress::ratelimit::REFUSAL_DELAY, "{took:?}");
    limited.expect_problem(429, "rate-limited");
    assert!(limited.headers.contains_key("retry-after"), "{limited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_on_their_own_address_only() {
    let api = Api::start().await;
    let server = api.server.as_ref().unwrap();
    let metrics = server.metrics_addr.expect("metrics are on");
    assert_ne!(metrics, server.addr);
    api.get("/v1/events", None).await;
    let text = api.metrics_text().await;
    assert!(text.contains("boxoffice_http_requests_total"), "{text}");
    api.get("/metrics", None)
        .await
        .expect_problem(404, "not-found");
    // `off` serves none.
    let off = Api::start_with(|c| c.metrics_addr = ingress::config::MetricsAddr(None)).await;
    assert_eq!(off.server.as_ref().unwrap().metrics_addr, None);
    assert_eq!(off.get("/healthz", None).await.status, StatusCode::OK);
}

/// Requests to `/v1/events` until the first 429, at most `limit` of them; how many passed.
async fn passed_before_429(api: &Api, headers: &[(&str, &str)], limit: usize) -> usize {
    for passed in 0..limit {
        let answer = api
            .send_via(&api.http, Method::GET, "/v1/events?limit=1", None, headers)
            .await;
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            return passed;
        }
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    }
    limit
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    // Burst 2 per client; the test client (127.0.0.1) plays the load balancer.
    let api = Api::start_with(|c| {
        c.rate_per_ip = 1;
        c.trusted_proxies = vec!["127.0.0.0/24".parse().unwrap()];
    })
    .await;
    let first = [("x-forwarded-for", "198.51.100.1")];
    assert_eq!(passed_before_429(&api, &first, 10).await, 2);
    // Another client behind the same proxy is not limited by the first one's requests.
    let second = [("forwarded", "for=198.51.100.2;proto=http")];
    assert_eq!(passed_before_429(&api, &second, 10).await, 2);
    // A client cannot escape by writing its own hops: the right-most untrusted one counts.
    let spoofed = [("x-forwarded-for", "203.0.113.50, 198.51.100.1")];
    assert_eq!(passed_before_429(&api, &spoofed, 10).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_peer_cannot_pick_its_bucket_with_forwarding_headers() {
    let api = Api::start_with(|c| {
        c.rate_per_ip = 1;
        c.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
    })
    .await;
    let first = [("x-forwarded-for", "198.51.100.1")];
    assert_eq!(passed_before_429(&api, &first, 10).await, 2);
    let other = [("x-forwarded-for", "198.51.100.2")];
    assert_eq!(passed_before_429(&api, &other, 10).await, 0);
    let forwarded = [("forwarded", "for=198.51.100.3")];
    assert_eq!(passed_before_429(&api, &forwarded, 10).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_tokens_are_limited_per_address_and_per_network() {
    let api = Api::start_with(|c| {
        c.guest_per_ip_per_min = 3;
        c.guest_per_prefix_per_min = 4;
    })
    .await;
    let guest = |http: reqwest::Client| {
        let api = &api;
        async move {
            api.send_via(&http, Method::POST, "/v1/auth/guest", None, &[])
                .await
        }
    };
    for _ in 0..3 {
        let issued = guest(client_from("127.2.0.1")).await;
        assert_eq!(issued.status, StatusCode::CREATED, "{issued:?}");
    }
    let refused = guest(client_from("127.2.0.1")).await;
    refused.expect_problem(429, "rate-limited");
    let wait: u64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&wait), "one token every 20 s: {wait}");
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("this address"),
        "{refused:?}"
    );
    // A neighbour in the same /24 gets the network's last token, then the network is spent.
    let neighbour = guest(client_from("127.2.0.2")).await;
    assert_eq!(neighbour.status, StatusCode::CREATED, "{neighbour:?}");
    let spent = guest(client_from("127.2.0.3")).await;
    spent.expect_problem(429, "rate-limited");
    assert!(
        spent.body["detail"].as_str().unwrap().contains("network"),
        "{spent:?}"
    );
    // Another network is unaffected.
    let elsewhere = guest(client_from("127.1.0.1")).await;
    assert_eq!(elsewhere.status, StatusCode::CREATED, "{elsewhere:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_over_its_share_must_solve_a_proof_of_work_per_hold() {
    // A 100-seat show: each address and network may hold 24 seats (the floor) before the guard
    // asks for a proof of work; 8 bits keep the test quick.
    let api = Api::start_with(|c| {
        c.guard = true;
        c.guard_bits = 16; // a wrong answer solves the current or previous window by chance 1 in 32,768
    })
    .await;
    let show = api.create_show(1, 10, 10, None).await;
    let greedy = client_from("127.3.0.1");
    for (i, seats) in show.seats[..30].chunks(6).enumerate() {
        let (token, _) = api.guest().await;
        let held = api
            .hold_via(&greedy, &token, &show.show_id, seats, &[])
            .await;
        assert_eq!(held.status, StatusCode::CREATED, "hold {i}: {held:?}");
    }
    // The counts reach the guard with the next admission round (every second).
    let (token, _) = api.guest().await;
    let next = &show.seats[30..32];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let challenged = loop {
        let answer = api
            .hold_via(&greedy, &token, &show.show_id, next, &[])
            .await;
        if answer.status.as_u16() == 428 {
            break answer;
        }
        assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
        // Released from the same address: a release is not a seat taken.
        let id = answer.body["holdId"].as_str().unwrap();
        let path = format!("/v1/bookings/holds/{id}");
        let released = api
            .send_via(&greedy, Method::DELETE, &path, Some(&token), &[])
            .await;
        assert_eq!(released.status, StatusCode::NO_CONTENT, "{released:?}");
        assert!(
            std::time::Instant::now() < deadline,
            "the guard never stepped in"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    challenged.expect_problem(428, "challenge-required");
    let detail = challenged.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("this address has held 30 seats"),
        "{detail}"
    );
    assert!(detail.contains("share of 24"), "{detail}");
    assert_eq!(challenged.body["bits"], 16);
    let challenge = challenged.body["challenge"].as_str().unwrap().to_owned();
    // A wrong answer is refused the same way; the right one holds.
    let wrong = (0..)
        .map(|n: u32| format!("wrong-{n}"))
        .find(|nonce| !queue::token::solves(&challenge, nonce, 16))
        .unwrap();
    let refused = api
        .hold_via(
            &greedy,
            &token,
            &show.show_id,
            next,
            &[("challenge-solution", &wrong)],
        )
        .await;
    refused.expect_problem(428, "challenge-required");
    let nonce = queue::token::solve(&challenge, 16);
    let solved = api
        .hold_via(
            &greedy,
            &token,
            &show.show_id,
            next,
            &[("challenge-solution", &nonce)],
        )
        .await;
    assert_eq!(solved.status, StatusCode::CREATED, "{solved:?}");
    // Another network is not affected.
    let (other, _) = api.guest().await;
    let elsewhere = api
        .hold_via(
            &client_from("127.4.0.1"),
            &other,
            &show.show_id,
            &show.seats[40..42],
            &[],
        )
        .await;
    assert_eq!(elsewhere.status, StatusCode::CREATED, "{elsewhere:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_guests_can_be_made_to_solve_a_proof_of_work_before_holding() {
    let api = Api::start_with(|c| {
        c.guard = true;
        c.guard_bits = 8;
        c.guard_new_guest_s = 60;
    })
    .await;
    let show = api.create_show(1, 2, 10, None).await;
    let http = client_from("127.5.0.1");
    let (guest, _) = api.guest().await;
    let seats = &show.seats[..2];
    let challenged = api.hold_via(&http, &guest, &show.show_id, seats, &[]).await;
    challenged.expect_problem(428, "challenge-required");
    let detail = challenged.body["detail"].as_str().unwrap();
    assert!(detail.contains("guest identity is"), "{detail}");
    let challenge = challenged.body["challenge"].as_str().unwrap();
    let nonce = queue::token::solve(challenge, 8);
    let solution = [("challenge-solution", nonce.as_str())];
    let held = api
        .hold_via(&http, &guest, &show.show_id, seats, &solution)
        .await;
    assert_eq!(held.status, StatusCode::CREATED, "{held:?}");
    // A token of another issuer says nothing of its age and is not asked.
    let signed_in = api.token(uuid::Uuid::new_v4(), &[], 3600);
    let other = api
        .hold_via(&http, &signed_in, &show.show_id, &show.seats[2..4], &[])
        .await;
    assert_eq!(other.status, StatusCode::CREATED, "{other:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_an_auth_secret_under_32_bytes_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut api = support::api::api_config();
    api.auth_secret = Some("s".repeat(31));
    let config = application::config::DevConfig {
        api,
        data_dir: dir.path().to_path_buf(),
        bench_ref_mem: false,
    };
    let refused = match application::dev::start(config).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a 31-byte secret was accepted"),
    };
    assert!(refused.contains("BOXOFFICE_AUTH_SECRET"), "{refused}");
    assert!(refused.contains("at least 32 bytes"), "{refused}");
}
