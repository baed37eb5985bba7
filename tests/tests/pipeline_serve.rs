//! The pipeline against real NATS JetStream and real Cassandra: provisioning, the command flow
//! (hold, confirm, release, expire, cancel), stored state equal to the engine replayed over the
//! stream, contiguous seat versions, and idempotent publishes; concurrent commands of one show
//! logged several to a message, each answered and applied once.

mod support;

use std::time::Duration;

use engine::ShowState;
use futures::StreamExt;
use processors::bus::CommandBus;
use processors::cql::CqlStore;
use processors::reader::{ShowReader, StateReader};
use processors::store::ShowStore;
use schemas::{Event, Outcome, Rejection, SeatDelta, SeatStatus};
use support::pipeline::*;

fn accepted(outcome: &Outcome) -> &[Event] {
    match outcome {
        Outcome::Accepted(events) => events,
        Outcome::Rejected(r) => panic!("rejected: {r:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_provision_twice_changes_nothing_the_second_time() {
    let Some(services) = services("pipeline_provision") else {
        return;
    };
    let topology = topology("prov");
    let first = provision_all(&services, &topology).await;
    assert!(first.contains("created stream"), "{first}");
    assert!(first.contains("created table"), "{first}");
    let second = provision_all(&services, &topology).await;
    assert!(second.contains("no changes"), "{second}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_commands_flow_and_stored_state_equals_the_engine_replayed_over_the_stream() {
    let Some(services) = services("pipeline_flow") else {
        return;
    };
    let topology = topology("flow");
    provision_all(&services, &topology).await;
    let processor = Processor::start(&services, &topology, "flow-a");
    let bus = bus(&services, &topology).await;
    let show = new_show();
    let (alice, bob) = (user(1), user(2));
    let client = processors::jetstream::connect(&services.nats_url)
        .await
        .unwrap();
    let mut seat_deltas = client.subscribe(topology.seat_subject(show)).await.unwrap();

    accepted(&bus.submit(create(show, 50)).await.unwrap().outcome);
    let (h1, h2, h3) = (new_hold(), new_hold(), new_hold());
    let held = bus
        .submit(hold(show, h1, alice, &[0, 1, 2], 600_000))
        .await
        .unwrap();
    accepted(&held.outcome);
    let clash = bus
        .submit(hold(show, h2, bob, &[2, 3], 600_000))
        .await
        .unwrap();
    assert!(matches!(
        clash.outcome,
        Outcome::Rejected(Rejection::SeatsUnavailable { .. })
    ));
    accepted(
        &bus.submit(hold(show, h2, bob, &[3, 4], 600_000))
            .await
            .unwrap()
            .outcome,
    );
    let b1 = new_booking();
    accepted(
        &bus.submit(confirm(show, h1, alice, b1))
            .await
            .unwrap()
            .outcome,
    );
    accepted(&bus.submit(release(show, h2, bob)).await.unwrap().outcome);
    accepted(
        &bus.submit(hold(show, h3, bob, &[10], 500))
            .await
            .unwrap()
            .outcome,
    );
    accepted(&bus.submit(cancel(show, b1, alice)).await.unwrap().outcome);

    // The short hold expires through an Expire command the processor logs itself.
    let store = std::sync::Arc::new(
        CqlStore::connect(&services.cql_nodes, &topology.cql.keyspace)
            .await
            .unwrap(),
    );
    let reader = StateReader::new(store.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_millis(500 + 2500);
    loop {
        let snapshot = reader.show(show).await.unwrap().unwrap();
        if snapshot.state.seat_status_by_id(seat(show, 10)) == Some(SeatStatus::Available) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expired seat not available within 2 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Read-your-writes by id.
    let (_, booking) = reader.booking(b1).await.unwrap().unwrap();
    assert_eq!(booking.status, engine::BookingStatus::Cancelled);
    processor.stop().await;

    // The stored state is the engine applied once, in order, to the stream's commands.
    let mut replayed = ShowState::new(show);
    for (_, at, envelope) in stream_commands(&services, &topology).await {
        if envelope.show_id == show {
            replayed.decide(&envelope, at);
        }
    }
    let stored = store.load(show).await.unwrap().unwrap();
    let restored = processors::rows::restore(show, &stored).unwrap();
    let mut a = restored.snapshot();
    let mut b = replayed.snapshot();
    a.sort_by_key(|r| r.key());
    b.sort_by_key(|r| r.key());
    assert_eq!(a, b, "stored state differs from the replay");

    // Seat deltas chain without gaps.
    let mut previous = None;
    while let Ok(Some(message)) =
        tokio::time::timeout(Duration::from_millis(300), seat_deltas.next()).await
    {
        let delta: SeatDelta = schemas::decode(&message.payload).unwrap();
        if let Some(prev) = previous {
            assert_eq!(delta.from_version, prev, "seat versions are contiguous");
        }
        previous = Some(delta.version);
    }
    assert_eq!(previous, Some(stored.version));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_concurrent_commands_of_a_show_share_log_messages_and_each_applies_once() {
    use std::sync::Arc;
    let Some(services) = services("pipeline_batched") else {
        return;
    };
    let topology = topology("batched");
    provision_all(&services, &topology).await;
    let processor = Processor::start(&services, &topology, "batched-proc");
    let bus = Arc::new(bus(&services, &topology).await);
    let show = new_show();
    accepted(&bus.submit(create(show, 400)).await.unwrap().outcome);

    // 300 buyers at once, two of them on each of 150 seats: one wins each seat.
    let tasks: Vec<_> = (0..300u32)
        .map(|i| {
            let bus = bus.clone();
            let envelope = hold(show, new_hold(), user(u128::from(i)), &[i / 2], 3_600_000);
            tokio::spawn(async move { bus.submit(envelope).await })
        })
        .collect();
    let mut held = 0;
    let mut taken = 0;
    for task in tasks {
        match task
            .await
            .unwrap()
            .expect("every command is answered")
            .outcome
        {
            Outcome::Accepted(_) => held += 1,
            Outcome::Rejected(Rejection::SeatsUnavailable { .. }) => taken += 1,
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!((held, taken), (150, 150));
    processor.stop().await;

    let messages = stream_messages(&services, &topology).await;
    let commands: usize = messages.iter().map(|m| message_commands(m).len()).sum();
    assert_eq!(commands, 301, "every command logged once");
    assert!(
        messages.len() < 150,
        "concurrent commands share messages: {} messages for {commands} commands",
        messages.len()
    );
    let state = assert_stored_equals_replay(&services, &topology, show).await;
    assert_eq!(state.available_seats(), 400 - 150);
}
