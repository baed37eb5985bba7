//! Tickets, check-in, cancellation and the reconciler in serve mode, against the real pipeline:
//! `boxoffice serve` (in process) -> NATS JetStream -> a processor -> Cassandra, the payments
//! sandbox as its own HTTP service, and `boxoffice tickets` (in process) consuming the booking
//! facts durably and reconciling payments. Needs `scripts/services up`; every test uses its own
//! streams, subjects and keyspace.

mod support;

use std::time::{Duration, Instant};

use fulfilment::serve::{TicketsService, start_tickets};
use fulfilment::{FulfilmentConfig, TicketsArgs};
use payments::{AuthorizationId, AuthorizationStatus, AuthorizeRequest, PaymentProvider};
use processors::bus::CommandBus;
use reqwest::StatusCode;
use schemas::{BookingId, Command, HoldId, SeatId, ShowId, UserId};
use support::api::{Api, SECRET};
use support::serve::{Backend, stop_api};
use support::tickets::*;
use uuid::Uuid;

struct Stack {
    api: Api,
    backend: Backend,
    tickets: Option<TicketsService>,
}

fn tickets_args(stack_services: &support::pipeline::Services, payments_url: &str) -> TicketsArgs {
    TicketsArgs {
        nats_url: stack_services.nats_url.clone(),
        cql_nodes: stack_services.cql_nodes.clone(),
        streams: None,
        payments_url: payments_url.to_owned(),
        auth_secret: Some(SECRET.to_owned()),
        consumer: "tickets".into(),
        fulfilment: FulfilmentConfig {
            reconcile_interval_s: 1,
            ..FulfilmentConfig::default()
        },
    }
}

async fn stack(test: &str) -> Option<Stack> {
    let backend = Backend::start(test).await?;
    let api = backend.api(backend.topology.clone(), |_| {}).await;
    let tickets = start_tickets(
        tickets_args(&backend.services, &backend.payments_url),
        backend.topology.clone(),
    )
    .await
    .expect("boxoffice tickets starts");
    Some(Stack {
        api,
        backend,
        tickets: Some(tickets),
    })
}

impl Stack {
    async fn stop(mut self) {
        if let Some(tickets) = self.tickets.take() {
            tickets.stop().await;
        }
        stop_api(&mut self.api).await;
        self.backend.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_mode_issues_tickets_admits_once_and_refunds_cancellations() {
    let Some(stack) = stack("tickets_serve_flow").await else {
        return;
    };
    let api = &stack.api;
    let show = create_show_at(api, &in_from_now(chrono::Duration::hours(30)), 1, 6).await;
    let (token, _) = api.guest().await;
    let booking = booked(api, &token, &show, &[&show.seats[0], &show.seats[1]]).await;
    let (tickets, waited) = wait_tickets(api, &token, &booking, 2).await;
    eprintln!("serve mode: tickets listed {waited:?} after the confirm answered");
    let code = tickets[0]["code"].as_str().unwrap();
    let (status, _, png) = get_bytes(api, tickets[0]["qrPngUrl"].as_str().unwrap(), &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(decode_png_qr(&png), vec![code.to_owned()]);
    let (status, kind, _) = get_bytes(api, tickets[1]["pdfUrl"].as_str().unwrap(), &token).await;
    assert_eq!((status, kind.as_str()), (StatusCode::OK, "application/pdf"));

    // The worker signs with the key every serve process derives from the auth secret.
    let gate = staff(api);
    let admitted = check_in(api, &gate, code, Some("North")).await;
    assert_eq!(admitted.status, StatusCode::OK, "{admitted:?}");
    check_in(api, &gate, code, Some("South"))
        .await
        .expect_problem(409, "already-checked-in");
    cancel(api, &token, &booking, None)
        .await
        .expect_problem(409, "booking-not-cancellable");

    let other = booked(api, &token, &show, &[&show.seats[2]]).await;
    let (other_tickets, _) = wait_tickets(api, &token, &other, 1).await;
    let cancelled = cancel(api, &token, &other, Some("c-1")).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{cancelled:?}");
    assert_eq!(
        (
            cancelled.body["refundPercentage"].as_u64(),
            cancelled.body["refundAmount"].as_u64()
        ),
        (Some(100), Some(1000))
    );
    let retry = cancel(api, &token, &other, Some("c-1")).await;
    assert_eq!(retry.body, cancelled.body);
    check_in(api, &gate, other_tickets[0]["code"].as_str().unwrap(), None)
        .await
        .expect_problem(410, "ticket-cancelled");
    let paid = api
        .get(&format!("/v1/bookings/{other}"), Some(&token))
        .await;
    assert_eq!(paid.body["tickets"][0]["status"], "CANCELLED");
    let authorization =
        AuthorizationId(Uuid::parse_str(paid.body["paymentId"].as_str().unwrap()).unwrap());
    let refunded = stack.backend.payments.get(authorization).await.unwrap();
    assert_eq!(
        (refunded.status, refunded.refunded_minor),
        (AuthorizationStatus::Refunded, 1000)
    );
    stack.stop().await;
}

/// A booking committed while no ticket worker runs gets its tickets once one starts (the durable
/// consumer resumes), and an authorization whose capture an ingress never made (it died after
/// the commit) is captured by the reconciler of `boxoffice tickets`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_mode_resumes_missed_facts_and_captures_stranded_payments() {
    let Some(mut stack) = stack("tickets_serve_resume").await else {
        return;
    };
    stack.tickets.take().unwrap().stop().await;
    let api = &stack.api;
    let show = create_show(api, 1, 6).await;
    let (token, user) = api.guest().await;
    let booking = booked(api, &token, &show, &[&show.seats[0]]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let listed = api
        .get(&format!("/v1/bookings/{booking}"), Some(&token))
        .await;
    assert_eq!(
        listed.body["tickets"],
        serde_json::json!([]),
        "no worker, no tickets yet"
    );

    // What an ingress does up to its crash: authorize, commit the booking; no capture.
    let show_id = ShowId(Uuid::parse_str(&show.show_id).unwrap());
    let user = UserId(Uuid::parse_str(&user).unwrap());
    let hold = HoldId(Uuid::new_v4());
    let bus = support::pipeline::bus(&stack.backend.services, &stack.backend.topology).await;
    let seat = SeatId(Uuid::parse_str(&show.seats[1]).unwrap());
    let held = bus
        .submit(support::pipeline::envelope(
            show_id,
            Command::Hold {
                hold_id: hold,
                user,
                seats: vec![seat],
                ttl_ms: 600_000,
                limits: schemas::HoldLimits {
                    max_seats_per_hold: 10,
                    max_tickets_per_user: 10,
                    max_holds_per_user: 10,
                },
            },
        ))
        .await
        .unwrap();
    assert!(matches!(held.outcome, schemas::Outcome::Accepted(_)));
    let authorization = stack
        .backend
        .payments
        .authorize(
            "ingress-that-died",
            &AuthorizeRequest {
                amount_minor: 1000,
                currency: "USD".into(),
                payment_method_id: payments::PM_CARD_VISA.into(),
                reference: Some(hold.to_string()),
            },
        )
        .await
        .unwrap()
        .authorization_id;
    let stranded = BookingId::of_hold(hold);
    let committed = bus
        .submit(support::pipeline::envelope(
            show_id,
            Command::Confirm {
                hold_id: hold,
                user,
                booking_id: stranded,
                payment_ref: authorization.to_string(),
            },
        ))
        .await
        .unwrap();
    assert!(matches!(committed.outcome, schemas::Outcome::Accepted(_)));

    let started = Instant::now();
    stack.tickets = Some(
        start_tickets(
            tickets_args(&stack.backend.services, &stack.backend.payments_url),
            stack.backend.topology.clone(),
        )
        .await
        .expect("boxoffice tickets restarts"),
    );
    let api = &stack.api;
    wait_tickets(api, &token, &booking, 1).await;
    wait_tickets(api, &token, &stranded.to_string(), 1).await;
    eprintln!("resumed and issued in {:?}", started.elapsed());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = stack
            .backend
            .payments
            .get(authorization)
            .await
            .unwrap()
            .status;
        if status == AuthorizationStatus::Captured {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "stranded authorization not captured: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        stack
            .backend
            .payments
            .list_authorized()
            .await
            .unwrap()
            .is_empty()
    );
    stack.stop().await;
}

/// A worker that dies with booking facts in hand (as `kill -9` leaves them: delivered, never
/// acknowledged) must not push those bookings' tickets past the contract's 5 s: its facts come
/// back to the next worker within the consumer's ack wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_mode_a_dead_workers_facts_reach_the_next_worker_within_the_ticket_bound() {
    use async_nats::jetstream::consumer::PullConsumer;
    use futures::StreamExt;
    let Some(mut stack) = stack("tickets_serve_dead_worker").await else {
        return;
    };
    // The durable consumer exists; nobody consumes it now.
    stack.tickets.take().unwrap().stop().await;
    let api = &stack.api;
    let show = create_show(api, 1, 6).await;
    let (token, _) = api.guest().await;
    let mut bookings = Vec::new();
    for seat in &show.seats[..3] {
        bookings.push(booked(api, &token, &show, &[seat]).await);
    }

    // The dead worker: takes every pending fact through the shared consumer and never answers.
    let client = processors::jetstream::connect(&stack.backend.services.nats_url)
        .await
        .unwrap();
    let consumer: PullConsumer = async_nats::jetstream::new(client)
        .get_stream(&stack.backend.topology.booking_events.stream)
        .await
        .unwrap()
        .get_consumer("tickets")
        .await
        .unwrap();
    let mut taken = consumer
        .fetch()
        .max_messages(1_000)
        .expires(Duration::from_millis(500))
        .messages()
        .await
        .unwrap();
    let mut in_hand = Vec::new();
    while let Some(Ok(message)) = taken.next().await {
        in_hand.push(message);
    }
    assert!(!in_hand.is_empty(), "the dead worker took the facts");

    stack.tickets = Some(
        start_tickets(
            tickets_args(&stack.backend.services, &stack.backend.payments_url),
            stack.backend.topology.clone(),
        )
        .await
        .expect("the next worker starts"),
    );
    for booking in &bookings {
        let (_, waited) = wait_tickets(&stack.api, &token, booking, 1).await;
        eprintln!("booking {booking}: tickets after {waited:?}");
    }
    drop(in_hand);
    stack.stop().await;
}

/// A worker that dies while busy with facts, after telling JetStream twice that it is working on
/// them (each sign starts the ack wait again), must still leave them to the next worker soon
/// enough for the 5 s ticket bound. Found by `scripts/chaos --only "kill-9 tickets"`: with a 3 s
/// ack wait and a sign every second, bookings whose facts a killed worker had held for a second
/// got their tickets 5.1-7.2 s after the confirm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_mode_a_worker_dying_busy_leaves_its_facts_within_the_ticket_bound() {
    use async_nats::jetstream::AckKind;
    use async_nats::jetstream::consumer::PullConsumer;
    use futures::StreamExt;
    let Some(mut stack) = stack("tickets_serve_dying_busy").await else {
        return;
    };
    stack.tickets.take().unwrap().stop().await;
    let api = &stack.api;
    let show = create_show(api, 1, 6).await;
    let (token, _) = api.guest().await;
    let mut bookings = Vec::new();
    for seat in &show.seats[..3] {
        bookings.push(booked(api, &token, &show, &[seat]).await);
    }
    let client = processors::jetstream::connect(&stack.backend.services.nats_url)
        .await
        .unwrap();
    let consumer: PullConsumer = async_nats::jetstream::new(client)
        .get_stream(&stack.backend.topology.booking_events.stream)
        .await
        .unwrap()
        .get_consumer("tickets")
        .await
        .unwrap();
    let mut taken = consumer
        .fetch()
        .max_messages(1_000)
        .expires(Duration::from_millis(500))
        .messages()
        .await
        .unwrap();
    let took = Instant::now();
    let mut in_hand = Vec::new();
    while let Some(Ok(message)) = taken.next().await {
        in_hand.push(message);
    }
    assert!(!in_hand.is_empty(), "the dying worker took the facts");
    // Busy: a sign of progress at about 0.9 s and 1.8 s, then it dies (never answers again).
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(900)).await;
        for message in &in_hand {
            message.ack_with(AckKind::Progress).await.unwrap();
        }
    }
    stack.tickets = Some(
        start_tickets(
            tickets_args(&stack.backend.services, &stack.backend.payments_url),
            stack.backend.topology.clone(),
        )
        .await
        .expect("the next worker starts"),
    );
    for booking in &bookings {
        wait_tickets(&stack.api, &token, booking, 1).await;
    }
    let waited = took.elapsed();
    eprintln!("tickets of the dying worker's facts {waited:?} after it took them");
    // The facts were taken right after their confirms: past 4 s here, a confirm answered just
    // before the take would be past the 5 s bound.
    assert!(
        waited < Duration::from_secs(4),
        "the dying worker's facts came back after {waited:?}"
    );
    drop(in_hand);
    stack.stop().await;
}
