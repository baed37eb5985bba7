//! The after-sale parts over real ones: the embedded pipeline (same engine and partition loop as
//! serve mode), the embedded catalog, the sandbox payment provider with its journal, and the
//! embedded ticket store. Covers the reconciler's decisions, refunds that survive a provider
//! outage and a restart, the worker's handling of booking facts, and the sweep.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use catalog::Catalog;
use fulfilment::{
    ArtifactKind, BookingToIssue, EmbeddedTicketStore, Issuer, KeyRing, Reconciler, RefundDue,
    StoredStatus, Sweeper, TicketStore, TicketWorker, refund_key,
};
use payments::{
    AuthorizationId, AuthorizationStatus, AuthorizeRequest, FaultConfig, PaymentProvider,
    SandboxConfig, SandboxProvider,
};
use processors::bus::CommandBus;
use processors::embedded::{DevPipeline, PipelineConfig};
use processors::reader::ShowReader;
use schemas::{
    BookingId, Command, CommandEnvelope, CommandId, Event, Fingerprint, HoldId, HoldLimits,
    Outcome, SCHEMA_VERSION, SeatId, ShowEvent, ShowId, UnixMs, UserId,
};
use serde_json::json;
use uuid::Uuid;

struct World {
    _dir: tempfile::TempDir,
    pipeline: DevPipeline,
    catalog: Arc<Catalog>,
    show: ShowId,
    keys: KeyRing,
}

fn keys() -> KeyRing {
    KeyRing::from_config("t1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=").unwrap()
}

fn envelope(show: ShowId, command: Command) -> CommandEnvelope {
    CommandEnvelope {
        schema: SCHEMA_VERSION,
        command_id: CommandId(Uuid::new_v4()),
        fingerprint: Fingerprint([7; 16]),
        show_id: show,
        issued_at: UnixMs(0),
        command,
    }
}

async fn submit(pipeline: &DevPipeline, show: ShowId, command: Command) -> Vec<Event> {
    let reply = pipeline
        .bus()
        .submit(envelope(show, command))
        .await
        .unwrap();
    match reply.outcome {
        Outcome::Accepted(events) => events,
        Outcome::Rejected(r) => panic!("rejected: {r:?}"),
    }
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = DevPipeline::start(PipelineConfig::new(dir.path().join("pipeline")))
        .await
        .unwrap();
    let catalog = Arc::new(
        Catalog::open_embedded(&dir.path().join("catalog"))
            .await
            .unwrap(),
    );
    let venue = catalog
        .create_venue(
            serde_json::from_value(json!({"name": "Hall", "city": "Pune", "sections": [
                {"sectionId": "A", "name": "Stalls", "priceCategory": "STD", "price": 1000,
                 "currency": "USD", "rows": [{"row": "R1", "seats": 10}]}]}))
            .unwrap(),
        )
        .await
        .unwrap();
    let event = catalog
        .create_event(
            serde_json::from_value(json!({"title": "Gala", "description": "A gala",
                "category": "concerts", "city": "Pune", "venueId": venue.venue_id,
                "startDate": "2030-01-01", "endDate": "2030-01-02"}))
            .unwrap(),
        )
        .await
        .unwrap();
    let created = catalog
        .create_show(
            event.event_id,
            serde_json::from_value(json!({"showTime": "2030-01-01T19:00:00Z"})).unwrap(),
        )
        .await
        .unwrap();
    let show = created.show.show_id;
    submit(
        &pipeline,
        show,
        Command::CreateShow {
            layout: created.layout,
            show_time: UnixMs(created.show.show_time.timestamp_millis()),
            sale_opens_at: None,
        },
    )
    .await;
    World {
        _dir: dir,
        pipeline,
        catalog,
        show,
        keys: keys(),
    }
}

fn user(n: u128) -> UserId {
    UserId(Uuid::from_u128(n))
}

async fn hold(w: &World, owner: UserId, seats: &[u32], ttl_ms: u64) -> HoldId {
    let hold_id = HoldId(Uuid::new_v4());
    submit(
        &w.pipeline,
        w.show,
        Command::Hold {
            hold_id,
            user: owner,
            seats: seats.iter().map(|i| SeatId::derive(w.show, *i)).collect(),
            ttl_ms,
            limits: HoldLimits {
                max_seats_per_hold: 10,
                max_tickets_per_user: 10,
                max_holds_per_user: 10,
            },
        },
    )
    .await;
    hold_id
}

async fn authorize(payments: &dyn PaymentProvider, hold: HoldId) -> AuthorizationId {
    payments
        .authorize(
            &format!("confirm-{hold}"),
            &AuthorizeRequest {
                amount_minor: 1000,
                currency: "USD".into(),
                payment_method_id: payments::PM_CARD_VISA.into(),
                reference: Some(hold.to_string()),
            },
        )
        .await
        .unwrap()
        .authorization_id
}

async fn confirm(w: &World, owner: UserId, hold: HoldId, paid_by: AuthorizationId) -> Event {
    let booking_id = BookingId(Uuid::new_v5(&hold.0, b"booking"));
    submit(
        &w.pipeline,
        w.show,
        Command::Confirm {
            hold_id: hold,
            user: owner,
            booking_id,
            payment_ref: paid_by.to_string(),
        },
    )
    .await
    .remove(0)
}

fn sandbox(dir: &Path, faults: FaultConfig) -> SandboxProvider {
    SandboxProvider::open(&SandboxConfig {
        data_dir: Some(dir.to_path_buf()),
        faults,
        slow_method_delay: None,
    })
    .unwrap()
}

fn store(w: &World) -> Arc<dyn TicketStore> {
    Arc::new(EmbeddedTicketStore::open(&w._dir.path().join("tickets.redb")).unwrap())
}

/// Every stranded authorization is settled by the hold's decided state: captured for the booking
/// it paid for, voided for an expired hold and for a hold another authorization paid for, left
/// alone while the hold is active.
#[tokio::test]
async fn the_reconciler_captures_what_was_booked_and_voids_the_rest() {
    let w = world().await;
    let pay_dir = w._dir.path().join("payments");
    let payments = Arc::new(sandbox(&pay_dir, FaultConfig::default()));
    let reader: Arc<dyn ShowReader> = w.pipeline.reader();
    let reconciler = Reconciler::new(payments.clone(), reader, store(&w));

    // Crash after Confirm, before capture.
    let booked = hold(&w, user(1), &[0, 1], 600_000).await;
    let booked_auth = authorize(payments.as_ref(), booked).await;
    confirm(&w, user(1), booked, booked_auth).await;
    // A double-submitted confirm: a second authorization for the same, already paid hold.
    let loser_auth = payments
        .authorize(
            "confirm-second-try",
            &AuthorizeRequest {
                amount_minor: 1000,
                currency: "USD".into(),
                payment_method_id: payments::PM_CARD_VISA.into(),
                reference: Some(booked.to_string()),
            },
        )
        .await
        .unwrap()
        .authorization_id;
    // Crash after authorize, before Confirm: the hold is still active.
    let pending = hold(&w, user(2), &[2], 600_000).await;
    let pending_auth = authorize(payments.as_ref(), pending).await;
    // Crash after authorize; the hold then lapsed.
    let lapsed = hold(&w, user(3), &[3], 200).await;
    let lapsed_auth = authorize(payments.as_ref(), lapsed).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    let report = reconciler.run_once().await;
    assert_eq!(
        (
            report.captured,
            report.voided,
            report.waiting,
            report.errors
        ),
        (1, 2, 1, 0),
        "{report:?}"
    );
    let status = |id| {
        let payments = payments.clone();
        async move { payments.get(id).await.unwrap().status }
    };
    assert_eq!(status(booked_auth).await, AuthorizationStatus::Captured);
    assert_eq!(status(loser_auth).await, AuthorizationStatus::Voided);
    assert_eq!(status(lapsed_auth).await, AuthorizationStatus::Voided);
    assert_eq!(status(pending_auth).await, AuthorizationStatus::Authorized);

    // Running again changes nothing.
    let again = reconciler.run_once().await;
    assert_eq!((again.captured, again.voided), (0, 0));
    w.pipeline.shutdown().await.unwrap();
}

/// A refund the provider refused (outage) stays owed, across a restart of everything, until the
/// reconciler gets it through; the same key means it is refunded once.
#[tokio::test]
async fn a_refund_owed_survives_an_outage_and_a_restart() {
    let w = world().await;
    let pay_dir = w._dir.path().join("payments");
    let tickets = store(&w);
    let due = {
        let healthy = sandbox(&pay_dir, FaultConfig::default());
        let h = hold(&w, user(1), &[4], 600_000).await;
        let auth = authorize(&healthy, h).await;
        let Event::Confirmed { booking_id, .. } = confirm(&w, user(1), h, auth).await else {
            panic!("not confirmed");
        };
        healthy.capture("capture", auth).await.unwrap();
        RefundDue {
            booking_id,
            show_id: w.show,
            payment_ref: auth.to_string(),
            amount_minor: 500,
            cancelled_at: UnixMs(1),
        }
    };
    {
        let down = sandbox(
            &pay_dir,
            FaultConfig {
                error_rate: 1.0,
                ..FaultConfig::default()
            },
        );
        let outcome = fulfilment::settle_refund(&down, tickets.as_ref(), &due).await;
        assert!(matches!(outcome, fulfilment::RefundOutcome::Pending(_)));
    }
    assert_eq!(tickets.refunds_due(10).await.unwrap(), vec![due.clone()]);
    drop(tickets);

    let tickets = store(&w);
    let payments = Arc::new(sandbox(&pay_dir, FaultConfig::default()));
    let reconciler = Reconciler::new(payments.clone(), w.pipeline.reader(), tickets.clone());
    let report = reconciler.run_once().await;
    assert_eq!((report.refunded, report.refunds_pending), (1, 0));
    assert!(tickets.refunds_due(10).await.unwrap().is_empty());
    let auth = AuthorizationId(Uuid::parse_str(&due.payment_ref).unwrap());
    let refunded = payments.get(auth).await.unwrap();
    assert_eq!(refunded.refunded_minor, 500);
    // The cancel request retried with the same refund key: no second refund.
    payments
        .refund(&refund_key(due.booking_id), auth, 500)
        .await
        .unwrap();
    assert_eq!(payments.get(auth).await.unwrap().refunded_minor, 500);
    w.pipeline.shutdown().await.unwrap();
}

/// Confirmed -> tickets with verifiable codes and all three files; Cancelled -> CANCELLED and a
/// refund owed; CheckedIn -> CHECKED_IN. Handling a fact twice changes nothing.
#[tokio::test]
async fn the_worker_turns_booking_facts_into_tickets_statuses_and_refunds() {
    let w = world().await;
    let tickets = store(&w);
    let worker = TicketWorker::new(
        Issuer::new(w.keys.clone(), w.catalog.clone()),
        tickets.clone(),
    );
    let fact = |event| ShowEvent {
        schema: SCHEMA_VERSION,
        show_id: w.show,
        version: 1,
        at: UnixMs(chrono::Utc::now().timestamp_millis()),
        event,
    };
    let (booking, owner) = (BookingId(Uuid::from_u128(77)), user(5));
    let seats = vec![SeatId::derive(w.show, 6), SeatId::derive(w.show, 7)];
    let confirmed = fact(Event::Confirmed {
        booking_id: booking,
        hold_id: HoldId(Uuid::from_u128(76)),
        user: owner,
        seats: seats.clone(),
        total_minor: 2000,
        payment_ref: Uuid::from_u128(75).to_string(),
        booked_at: UnixMs(0),
    });
    worker.apply(&confirmed).await.unwrap();
    worker.apply(&confirmed).await.unwrap();
    let issued = tickets.booking_tickets(booking).await.unwrap();
    assert_eq!(issued.len(), 2);
    for record in &issued {
        let claims = w.keys.verify(&record.code).unwrap();
        assert_eq!(
            (claims.booking_id, claims.show_id, claims.ticket_id),
            (booking, w.show, engine::ticket_id(booking, claims.seat_id))
        );
        assert!(seats.contains(&claims.seat_id));
        assert_eq!((record.section.as_str(), record.row.as_str()), ("A", "R1"));
        assert_eq!(record.owner, owner);
        let pdf = tickets
            .artifact(record.ticket_id, ArtifactKind::Pdf)
            .await
            .unwrap()
            .unwrap();
        assert!(pdf.bytes.starts_with(b"%PDF-"));
        let png = tickets
            .artifact(record.ticket_id, ArtifactKind::QrPng)
            .await
            .unwrap()
            .unwrap();
        assert!(png.bytes.starts_with(b"\x89PNG"));
    }
    let ticket = issued[0].ticket_id;
    worker
        .apply(&fact(Event::CheckedIn {
            ticket_id: ticket,
            booking_id: booking,
            seat_id: issued[0].seat_id,
            gate: Some("G1".into()),
            at: UnixMs(9),
        }))
        .await
        .unwrap();
    let after = tickets.booking_tickets(booking).await.unwrap();
    assert_eq!(
        after.iter().find(|r| r.ticket_id == ticket).unwrap().status,
        StoredStatus::CheckedIn {
            at: UnixMs(9),
            gate: Some("G1".into())
        }
    );

    let other = BookingId(Uuid::from_u128(88));
    worker
        .issue(
            &BookingToIssue {
                show_id: w.show,
                booking_id: other,
                owner,
                seats: vec![SeatId::derive(w.show, 8)],
            },
            UnixMs(0),
        )
        .await
        .unwrap();
    worker
        .apply(&fact(Event::Cancelled {
            booking_id: other,
            user: owner,
            seats: vec![SeatId::derive(w.show, 8)],
            refund_minor: 500,
            refund_percent: 50,
            payment_ref: Uuid::from_u128(74).to_string(),
        }))
        .await
        .unwrap();
    assert!(
        tickets
            .booking_tickets(other)
            .await
            .unwrap()
            .iter()
            .all(|r| r.status == StoredStatus::Cancelled)
    );
    assert_eq!(tickets.refunds_due(10).await.unwrap()[0].amount_minor, 500);
    w.pipeline.shutdown().await.unwrap();
}

/// Bookings whose facts never reached a worker (a crash, a lagging subscriber) get their tickets
/// from the sweep, which reads the show's partition.
#[tokio::test]
async fn the_sweep_issues_tickets_for_bookings_the_worker_never_saw() {
    let w = world().await;
    let pay_dir = w._dir.path().join("payments");
    let payments = Arc::new(sandbox(&pay_dir, FaultConfig::default()));
    let h = hold(&w, user(9), &[9], 600_000).await;
    let auth = authorize(payments.as_ref(), h).await;
    let Event::Confirmed { booking_id, .. } = confirm(&w, user(9), h, auth).await else {
        panic!("not confirmed");
    };
    let tickets = store(&w);
    let worker = Arc::new(TicketWorker::new(
        Issuer::new(w.keys.clone(), w.catalog.clone()),
        tickets.clone(),
    ));
    assert!(
        tickets
            .booking_tickets(booking_id)
            .await
            .unwrap()
            .is_empty()
    );
    let sweeper = Sweeper::new(
        w.pipeline.store(),
        w.catalog.clone(),
        worker,
        payments.clone(),
    );
    let report = sweeper.run_once().await;
    assert_eq!((report.bookings, report.issued, report.errors), (1, 1, 0));
    assert_eq!(tickets.booking_tickets(booking_id).await.unwrap().len(), 1);
    let again = sweeper.run_once().await;
    assert_eq!(again.issued, 0, "a second sweep finds nothing to do");
    w.pipeline.shutdown().await.unwrap();
}

/// A lane's batch: consecutive confirmations share one store write, and a cancellation between
/// them still lands after the confirmation it follows.
#[tokio::test]
async fn a_batch_of_facts_is_handled_in_order_with_shared_writes() {
    let w = world().await;
    let tickets = store(&w);
    let worker = TicketWorker::new(
        Issuer::new(w.keys.clone(), w.catalog.clone()),
        tickets.clone(),
    );
    let fact = |event| ShowEvent {
        schema: SCHEMA_VERSION,
        show_id: w.show,
        version: 1,
        at: UnixMs(0),
        event,
    };
    let confirmed = |n: u128, seat: u32| {
        fact(Event::Confirmed {
            booking_id: BookingId(Uuid::from_u128(n)),
            hold_id: HoldId(Uuid::from_u128(n + 100)),
            user: user(n),
            seats: vec![SeatId::derive(w.show, seat)],
            total_minor: 1000,
            payment_ref: Uuid::from_u128(n + 200).to_string(),
            booked_at: UnixMs(0),
        })
    };
    let facts = vec![
        confirmed(1, 0),
        confirmed(2, 1),
        fact(Event::Cancelled {
            booking_id: BookingId(Uuid::from_u128(1)),
            user: user(1),
            seats: vec![SeatId::derive(w.show, 0)],
            refund_minor: 0,
            refund_percent: 0,
            payment_ref: Uuid::from_u128(201).to_string(),
        }),
        confirmed(3, 2),
        // Not a seat of the show: this one fails, the others do not.
        confirmed(4, 999),
    ];
    let outcomes = worker.apply_all(&facts).await;
    assert!(outcomes[..4].iter().all(Result::is_ok), "{outcomes:?}");
    assert!(matches!(
        outcomes[4],
        Err(fulfilment::WorkError::Issue(
            fulfilment::IssueError::UnknownSeat { .. }
        ))
    ));
    let status = |n: u128| {
        let tickets = tickets.clone();
        async move {
            tickets
                .booking_tickets(BookingId(Uuid::from_u128(n)))
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.status)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(status(1).await, vec![StoredStatus::Cancelled]);
    assert_eq!(status(2).await, vec![StoredStatus::Valid]);
    assert_eq!(status(3).await, vec![StoredStatus::Valid]);
    assert!(status(4).await.is_empty());
    w.pipeline.shutdown().await.unwrap();
}
