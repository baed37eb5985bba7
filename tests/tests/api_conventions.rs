//! Black-box HTTP tests of the contract's conventions: problem+json errors, 404/405, auth, bad
//! input (never 5xx, nothing changed), body limit, paging, rate limits, operations endpoints.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::json;
use support::api::Api;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_wrong_methods_are_problem_documents() {
    let api = Api::start().await;
    api.get("/v1/nope", None)
        .await
        .expect_problem(404, "not-found");
    api.get("/v1/events/x/y/z/w", None)
        .await
        .expect_problem(404, "not-found");
    let wrong = api
        .call(Method::DELETE, "/v1/events", None, None, None)
        .await;
    wrong.expect_problem(405, "method-not-allowed");
    api.call(Method::GET, "/v1/auth/guest", None, None, None)
        .await
        .expect_problem(405, "method-not-allowed");
    api.call(Method::PUT, "/v1/bookings/hold", None, None, None)
        .await
        .expect_problem(405, "method-not-allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_tokens_authenticate_and_bad_tokens_are_401() {
    let api = Api::start().await;
    let (token, user) = api.guest().await;
    assert!(Uuid::parse_str(&user).is_ok());
    let ok = api.get("/v1/bookings", Some(&token)).await;
    assert_eq!(ok.status, StatusCode::OK, "{ok:?}");
    assert_eq!(ok.body["total"], 0);

    api.get("/v1/bookings", None)
        .await
        .expect_problem(401, "unauthenticated");
    api.get("/v1/bookings", Some("not.a.token"))
        .await
        .expect_problem(401, "unauthenticated");
    let expired = api.token(Uuid::new_v4(), &[], -10);
    api.get("/v1/bookings", Some(&expired))
        .await
        .expect_problem(401, "unauthenticated");
    let forged = ingress::auth::TokenKeys::new(b"some-other-secret-xyz-0123456789abcdef").sign(
        &ingress::auth::Claims {
            sub: Uuid::new_v4().to_string(),
            exp: support::api::chrono_now() + 600,
            roles: vec!["admin".into()],
            iat: None,
        },
    );
    api.get("/v1/bookings", Some(&forged))
        .await
        .expect_problem(401, "unauthenticated");
    // A forged admin token creates nothing.
    api.post("/v1/admin/venues", Some(&forged), json!({}))
        .await
        .expect_problem(401, "unauthenticated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_tokens_can_be_turned_off() {
    let api = Api::start_with(|c| c.guest_auth = false).await;
    api.call(Method::POST, "/v1/auth/guest", None, None, None)
        .await
        .expect_problem(403, "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_need_the_admin_role_before_body_validation() {
    let api = Api::start().await;
    let (token, _) = api.guest().await;
    // Role check comes before body validation: an invalid body from a non-admin is 403.
    api.post("/v1/admin/venues", Some(&token), json!({"name": 5}))
        .await
        .expect_problem(403, "forbidden");
    api.post("/v1/admin/venues", None, json!({"name": 5}))
        .await
        .expect_problem(401, "unauthenticated");
    let admin = api.admin();
    let bad = api
        .post("/v1/admin/venues", Some(&admin), json!({"name": 5}))
        .await;
    bad.expect_problem(400, "invalid-request");
    assert_eq!(bad.body["field"], "name");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_is_400_naming_the_field_and_changes_nothing() {
    let api = Api::start().await;
    let show = api.create_show(1, 2, 6, None).await;
    let (token, _) = api.guest().await;
    let path = "/v1/bookings/hold";

    let broken = api
        .raw(Method::POST, path, Some(&token), b"{\"showId\":".to_vec())
        .await;
    broken.expect_problem(400, "invalid-request");
    assert_eq!(broken.body["field"], "body");

    let wrong_type = api
        .post(
            path,
            Some(&token),
            json!({"showId": show.show_id, "seatIds": "A1"}),
        )
        .await;
    wrong_type.expect_problem(400, "invalid-request");
    assert_eq!(wrong_type.body["field"], "seatIds");

    let bad_uuid = api
        .post(
            path,
            Some(&token),
            json!({"showId": show.show_id, "seatIds": ["nope"]}),
        )
        .await;
    bad_uuid.expect_problem(400, "invalid-request");
    assert_eq!(bad_uuid.body["field"], "seatIds[0]");

    let missing = api.post(path, Some(&token), json!({"seatIds": []})).await;
    missing.expect_problem(400, "invalid-request");
    assert_eq!(missing.body["field"], "showId");

    let empty = api
        .post(
            path,
            Some(&token),
            json!({"showId": show.show_id, "seatIds": []}),
        )
        .await;
    empty.expect_problem(400, "invalid-request");

    let dup = &show.seats[0];
    api.post(
        path,
        Some(&token),
        json!({"showId": show.show_id, "seatIds": [dup, dup]}),
    )
    .await
    .expect_problem(400, "invalid-request");

    let eleven: Vec<&String> = show.seats.iter().take(11).collect();
    api.post(
        path,
        Some(&token),
        json!({"showId": show.show_id, "seatIds": eleven}),
    )
    .await
    .expect_problem(400, "invalid-request");

    // A huge array (under the body limit) is refused, not processed.
    let huge: Vec<String> = (0..1500).map(|_| Uuid::new_v4().to_string()).collect();
    let huge = api
        .post(
            path,
            Some(&token),
            json!({"showId": show.show_id, "seatIds": huge}),
        )
        .await;
    assert!(huge.status.is_client_error(), "{huge:?}");

    let unknown_show = api
        .post(
            path,
            Some(&token),
            json!({"showId": Uuid::new_v4(), "seatIds": [Uuid::new_v4()]}),
        )
        .await;
    unknown_show.expect_problem(404, "not-found");
    let unknown_seat = api
        .post(
            path,
            Some(&token),
            json!({"showId": show.show_id, "seatIds": [Uuid::new_v4()]}),
        )
        .await;
    unknown_seat.expect_problem(404, "not-found");

    // Unknown fields are ignored.
    let fine = api
        .post(
            path,
            Some(&token),
            json!({"showId": show.show_id, "seatIds": [show.seats[0]], "color": "blue"}),
        )
        .await;
    assert_eq!(fine.status, StatusCode::CREATED, "{fine:?}");

    // Nothing else changed: exactly one seat is held.
    let statuses = api.seat_statuses(&show).await;
    let held = statuses.values().filter(|s| *s == "HELD").count();
    assert_eq!(held, 1);

    api.get("/v1/bookings/holds/not-a-uuid", Some(&token))
        .await
        .expect_problem(400, "invalid-request");
    api.get(
        &format!("/v1/bookings/holds/{}", Uuid::new_v4()),
        Some(&token),
    )
    .await
    .expect_problem(404, "not-found");
    api.get("/v1/bookings/xyz", Some(&token))
        .await
        .expect_problem(400, "invalid-request");
    api.get("/v1/events/xyz", None)
        .await
        .expect_problem(400, "invalid-request");
    api.get(&format!("/v1/events/{}", Uuid::new_v4()), None)
        .await
        .expect_problem(404, "not-found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_and_filters_are_validated() {
    let api = Api::start().await;
    let (token, _) = api.guest().await;
    for query in [
        "page=0",
        "page=-1",
        "limit=0",
        "limit=101",
        "limit=abc",
        "page=99999999999999999999999",
    ] {
        let answer = api
            .get(&format!("/v1/bookings?{query}"), Some(&token))
            .await;
        answer.expect_problem(400, "invalid-request");
        let answer = api.get(&format!("/v1/events?{query}"), None).await;
        answer.expect_problem(400, "invalid-request");
    }
    let bad_category = api.get("/v1/events?category=opera", None).await;
    bad_category.expect_problem(400, "invalid-request");
    assert_eq!(bad_category.body["field"], "category");
    let bad_date = api.get("/v1/events?date=2026-02-30", None).await;
    bad_date.expect_problem(400, "invalid-request");
    assert_eq!(bad_date.body["field"], "date");
    let far = api.get("/v1/events?page=100000&limit=100", None).await;
    assert_eq!(far.status, StatusCode::OK);
    assert_eq!(far.body["items"].as_array().unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_413() {
    let api = Api::start().await;
    let (token, _) = api.guest().await;
    let big = vec![b' '; 70 * 1024];
    api.raw(Method::POST, "/v1/bookings/hold", Some(&token), big)
        .await
        .expect_problem(413, "payload-too-large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_answer_429_with_retry_after() {
    let api = Api::start_with(|c| c.rate_per_user = 2).await;
    let (token, _) = api.guest().await;
    let mut limited = None;
    for _ in 0..10 {
        let answer = api.get("/v1/bookings", Some(&token)).await;
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(answer);
            break;
        }
    }
    let limited = limited.expect("the 5th request within a second is limited");
    limited.expect_problem(429, "rate-limited");
    assert!(limited.headers.contains_key("retry-after"));
    // Another user is not affected.
    let (other, _) = api.guest().await;
    assert_eq!(
        api.get("/v1/bookings", Some(&other)).await.status,
        StatusCode::OK
    );

    let api = Api::start_with(|c| c.rate_per_ip = 3).await;
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(api.get("/v1/events", None).await.status.as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_endpoints_answer() {
    let api = Api::start().await;
    let health = api.get("/healthz", None).await;
    assert_eq!(health.status, StatusCode::OK);
    let ready = api.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK, "{ready:?}");
    assert!(ready.headers.contains_key("x-request-id"));
    api.get("/v1/events", None).await;
    // Metrics are served on their own address, not the API's.
    api.get("/metrics", None)
        .await
        .expect_problem(404, "not-found");
    let metrics = api.metrics_text().await;
    assert!(
        metrics.contains("boxoffice_http_requests_total"),
        "{metrics}"
    );
    // The embedded pipeline's loop histograms carry their own bounds (batch sizes are counts).
    assert!(
        metrics.contains("boxoffice_pipeline_batch_size_bucket{partition=\"0\",le=\"512\"}"),
        "{metrics}"
    );
    let doc = api.get("/openapi.json", None).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/v1/auth/guest",
        "/v1/events",
        "/v1/events/{eventId}",
        "/v1/events/{eventId}/shows/{showId}/seats",
        "/v1/admin/venues",
        "/v1/admin/events",
        "/v1/admin/events/{eventId}/shows",
        "/v1/admin/shows/{showId}/seats/block",
        "/v1/admin/shows/{showId}/seats/unblock",
        "/v1/bookings/hold",
        "/v1/bookings/holds/{holdId}",
        "/v1/bookings/confirm",
        "/v1/bookings",
        "/v1/bookings/{bookingId}",
        "/healthz",
        "/readyz",
        "/openapi.json",
    ] {
        assert!(doc.body["paths"][path].is_object(), "missing {path}");
    }
    assert!(doc.body["paths"]["/metrics"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_catalog_is_searchable() {
    let api = Api::start().await;
    let all = api.get("/v1/events?limit=100", None).await;
    assert_eq!(all.status, StatusCode::OK, "{all:?}");
    let total = all.body["total"].as_u64().unwrap();
    assert!(total >= 4, "{all:?}");
    let first = &all.body["items"][0];
    for field in [
        "eventId",
        "title",
        "category",
        "city",
        "venueId",
        "venueName",
        "startDate",
        "endDate",
    ] {
        assert!(!first[field].is_null(), "missing {field}");
    }
    let movies = api.get("/v1/events?category=movies", None).await;
    assert_eq!(movies.status, StatusCode::OK);
    for item in movies.body["items"].as_array().unwrap() {
        assert_eq!(item["category"], "movies");
    }
    let paged = api.get("/v1/events?limit=1&page=2", None).await;
    assert_eq!(paged.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(paged.body["page"], 2);
    assert_eq!(paged.body["limit"], 1);

    let event_id = first["eventId"].as_str().unwrap();
    let detail = api.get(&format!("/v1/events/{event_id}"), None).await;
    assert_eq!(detail.status, StatusCode::OK);
    let shows = detail.body["shows"].as_array().unwrap();
    assert!(!shows.is_empty());
    for field in [
        "showId",
        "eventId",
        "venueId",
        "showTime",
        "totalSeats",
        "availableSeats",
        "status",
        "minPrice",
        "currency",
    ] {
        assert!(!shows[0][field].is_null(), "missing {field}");
    }
}
