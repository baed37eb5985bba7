//! The ticket store contract, run against both stores: the embedded one (redb, across a reopen)
//! and the CQL one against real Cassandra (`BOXOFFICE_CQL_NODES`; each run provisions its own
//! keyspace and drops it). Without the variable the CQL test fails and says how to start the
//! services, unless `BOXOFFICE_SKIP_SERVICES=1` asks to skip it.

use fulfilment::{
    ArtifactKind, CqlTicketStore, EmbeddedTicketStore, IssuedTicket, RefundDue, StoredStatus,
    TicketRecord, TicketStore,
};
use schemas::{BookingId, SeatId, ShowId, TicketId, UnixMs, UserId};
use uuid::Uuid;

fn booking(n: u128) -> BookingId {
    BookingId(Uuid::from_u128(1000 + n))
}

fn issued(booking_n: u128, seat_n: u32) -> IssuedTicket {
    let show = ShowId(Uuid::from_u128(7));
    let seat = SeatId::derive(show, seat_n);
    let booking_id = booking(booking_n);
    IssuedTicket {
        record: TicketRecord {
            ticket_id: engine::ticket_id(booking_id, seat),
            booking_id,
            show_id: show,
            seat_id: seat,
            owner: UserId(Uuid::from_u128(500 + booking_n)),
            section: "A".into(),
            row: format!("R{seat_n}"),
            number: seat_n + 1,
            code: format!("CODE{booking_n}X{seat_n}"),
            status: StoredStatus::Valid,
            issued_at: UnixMs(1_000),
        },
        qr_png: vec![0x89, b'P', b'N', b'G', seat_n as u8],
        qr_svg: b"<svg/>".to_vec(),
        pdf: b"%PDF-1.7".to_vec(),
    }
}

/// What every store must do.
async fn contract(store: &dyn TicketStore) {
    let (a0, a1, b0) = (issued(1, 0), issued(1, 1), issued(2, 5));
    assert!(store.booking_tickets(booking(1)).await.unwrap().is_empty());
    store
        .put_issued(&[a0.clone(), a1.clone(), b0.clone()])
        .await
        .unwrap();
    // Issuing again is an upsert: nothing doubles.
    store.put_issued(std::slice::from_ref(&a0)).await.unwrap();
    let mut listed = store.booking_tickets(booking(1)).await.unwrap();
    listed.sort_by_key(|r| r.seat_id);
    assert_eq!(listed, vec![a0.record.clone(), a1.record.clone()]);

    let png = store
        .artifact(a1.record.ticket_id, ArtifactKind::QrPng)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((png.owner, png.bytes), (a1.record.owner, a1.qr_png.clone()));
    let pdf = store
        .artifact(b0.record.ticket_id, ArtifactKind::Pdf)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pdf.bytes, b0.pdf);
    let unknown = TicketId(Uuid::from_u128(42));
    assert!(
        store
            .artifact(unknown, ArtifactKind::QrSvg)
            .await
            .unwrap()
            .is_none()
    );

    // Statuses: a check-in of one ticket, a cancellation of a booking.
    let checked = StoredStatus::CheckedIn {
        at: UnixMs(5_000),
        gate: Some("North".into()),
    };
    store
        .set_status(booking(1), &[a0.record.ticket_id], &checked)
        .await
        .unwrap();
    store
        .set_status(booking(2), &[b0.record.ticket_id], &StoredStatus::Cancelled)
        .await
        .unwrap();
    let status_of = |records: Vec<TicketRecord>, id: TicketId| {
        records
            .into_iter()
            .find(|r| r.ticket_id == id)
            .map(|r| r.status)
    };
    let a = store.booking_tickets(booking(1)).await.unwrap();
    assert_eq!(status_of(a.clone(), a0.record.ticket_id), Some(checked));
    assert_eq!(status_of(a, a1.record.ticket_id), Some(StoredStatus::Valid));
    // A redelivered confirmation re-issues: the recorded cancellation stands.
    store.put_issued(std::slice::from_ref(&b0)).await.unwrap();
    let b = store.booking_tickets(booking(2)).await.unwrap();
    assert_eq!(
        status_of(b, b0.record.ticket_id),
        Some(StoredStatus::Cancelled)
    );

    // Refunds owed: upsert, oldest first, forgotten once settled.
    let due = |n: u128, at: i64| RefundDue {
        booking_id: booking(n),
        show_id: ShowId(Uuid::from_u128(7)),
        payment_ref: Uuid::from_u128(900 + n).to_string(),
        amount_minor: 500,
        cancelled_at: UnixMs(at),
    };
    store.put_refund_due(&due(3, 20)).await.unwrap();
    store.put_refund_due(&due(4, 10)).await.unwrap();
    store.put_refund_due(&due(3, 20)).await.unwrap();
    assert_eq!(
        store.refunds_due(10).await.unwrap(),
        vec![due(4, 10), due(3, 20)]
    );
    assert_eq!(store.refunds_due(1).await.unwrap(), vec![due(4, 10)]);
    store.refund_settled(booking(4)).await.unwrap();
    store.refund_settled(booking(4)).await.unwrap();
    assert_eq!(store.refunds_due(10).await.unwrap(), vec![due(3, 20)]);
}

#[tokio::test]
async fn embedded_store_keeps_the_contract_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(fulfilment::store::TICKETS_FILE);
    let store = EmbeddedTicketStore::open(&path).unwrap();
    contract(&store).await;
    drop(store);
    let store = EmbeddedTicketStore::open(&path).unwrap();
    assert_eq!(store.booking_tickets(booking(1)).await.unwrap().len(), 2);
    assert_eq!(store.refunds_due(10).await.unwrap().len(), 1);
}

fn nodes(test: &str) -> Option<String> {
    match std::env::var("BOXOFFICE_CQL_NODES") {
        Ok(v) if !v.trim().is_empty() => Some(v),
        _ if std::env::var("BOXOFFICE_SKIP_SERVICES").as_deref() == Ok("1") => {
            eprintln!(
                "SKIPPED {test}: BOXOFFICE_CQL_NODES is not set and BOXOFFICE_SKIP_SERVICES=1"
            );
            None
        }
        _ => panic!(
            "{test} needs Cassandra: scripts/services up && eval \"$(scripts/services env)\" \
             (or BOXOFFICE_SKIP_SERVICES=1 to skip on purpose)"
        ),
    }
}

#[tokio::test]
async fn cql_store_keeps_the_contract_against_real_cassandra() {
    let Some(nodes) = nodes("cql_store_keeps_the_contract_against_real_cassandra") else {
        return;
    };
    let keyspace = format!("tickets_test_{}", Uuid::new_v4().simple());
    let session = scylla::client::session_builder::SessionBuilder::new()
        .known_nodes(nodes.split(',').map(str::trim))
        .build()
        .await
        .unwrap();
    session
        .query_unpaged(
            format!(
                "CREATE KEYSPACE {keyspace} WITH replication = \
                 {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
            ),
            (),
        )
        .await
        .unwrap();
    let store = CqlTicketStore::connect(&nodes, &keyspace).await.unwrap();
    // Provisioning twice is harmless.
    let again = CqlTicketStore::connect(&nodes, &keyspace).await.unwrap();
    contract(&store).await;
    assert_eq!(again.booking_tickets(booking(1)).await.unwrap().len(), 2);
    session
        .query_unpaged(format!("DROP KEYSPACE {keyspace}"), ())
        .await
        .unwrap();
}
