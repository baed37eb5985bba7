//! A hot-show move on the real services (NATS JetStream and Cassandra): mid-sale, a show gets a
//! partition of its own. Its hashed partition's processor keeps running with the old topology, a
//! second processor applies the new partition, and holds arrive through an ingress of each
//! topology while the handover is requested. Every hold is answered once, no seat is held twice,
//! the commands that reached the wrong partition are forwarded (not decided there), and the
//! show's fence names the new partition.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use processors::bus::CommandBus;
use processors::cql::CqlStore;
use processors::handover::{Requested, await_handover, request_handover};
use processors::store::ShowStore;
use processors::topology::{HotShow, PartitionId, Topology};
use schemas::{Event, Outcome, SeatStatus, UserId};
use support::pipeline::*;
use uuid::Uuid;

/// Seats of the show; every hold takes one, each through one of the two ingresses. The last is
/// held after the move, through the old topology's ingress.
const SEATS: u32 = 61;

/// Hold seat `seat` as its own user through `bus`; the seat it got, if accepted.
async fn hold_one(bus: &impl CommandBus, show: schemas::ShowId, seat: u32) -> Option<u32> {
    let who = UserId(Uuid::from_u128(u128::from(seat) + 1));
    let reply = bus
        .submit(hold(show, new_hold(), who, &[seat], 600_000))
        .await
        .expect("every hold is answered");
    match reply.outcome {
        Outcome::Accepted(events) => {
            assert!(events.iter().any(|e| matches!(e, Event::Held { .. })));
            Some(seat)
        }
        Outcome::Rejected(r) => panic!("seat {seat} refused: {r:?}"),
    }
}

fn hot(topology: &Topology, show: schemas::ShowId) -> Topology {
    let mut hot = topology.clone();
    hot.commands.hot_shows.push(HotShow {
        show_id: show.0,
        partition: "hot-a".into(),
    });
    hot
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_show_moved_mid_sale_is_handed_over_and_every_command_decided_once() {
    let Some(services) = services("pipeline_handover") else {
        return;
    };
    let old = topology("handover");
    provision_all(&services, &old).await;
    let show = new_show();
    let new = hot(&old, show);
    let hot_a = PartitionId("hot-a".into());
    let hashed = old.partition_of(show);
    let old_processor = Processor::start(&services, &old, "old-topology");
    let old_bus = Arc::new(bus(&services, &old).await);
    let created = old_bus.submit(create(show, SEATS)).await.unwrap();
    assert!(
        matches!(created.outcome, Outcome::Accepted(_)),
        "{created:?}"
    );
    for seat in 0..10 {
        hold_one(&*old_bus, show, seat).await;
    }

    // The rollout: the new topology provisioned, the hot partition's processor started, and
    // ingresses of both topologies taking holds while the handover is requested.
    provision_all(&services, &new).await;
    let hot_processor =
        Processor::start_partitions(&services, &new, "hot-partition", vec![hot_a.clone()]);
    let new_bus = Arc::new(bus(&services, &new).await);
    let mut holds = Vec::new();
    for seat in 10..SEATS - 1 {
        let (old_bus, new_bus) = (old_bus.clone(), new_bus.clone());
        holds.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(u64::from(seat - 10) * 20)).await;
            if seat % 2 == 0 {
                hold_one(&*old_bus, show, seat).await
            } else {
                hold_one(&*new_bus, show, seat).await
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let store = CqlStore::connect(&services.cql_nodes, &new.cql.keyspace)
        .await
        .unwrap();
    let js = async_nats::jetstream::new(
        processors::jetstream::connect(&services.nats_url)
            .await
            .unwrap(),
    );
    let requested = request_handover(&js, &new, &store, show, &hot_a)
        .await
        .unwrap();
    assert_eq!(
        requested,
        Requested::Logged {
            from: hashed.clone()
        }
    );
    await_handover(&store, show, &hot_a, Duration::from_secs(20))
        .await
        .expect("the hashed partition applies the handover");
    let mut held = HashSet::new();
    for task in holds {
        let seat = task.await.unwrap().expect("accepted");
        assert!(held.insert(seat), "seat {seat} answered twice");
    }
    // After the move, the old topology's ingress still reaches the show (forwarded).
    hold_one(&*old_bus, show, SEATS - 1).await;

    let forwarded = stream_messages(&services, &new)
        .await
        .iter()
        .filter(|m| {
            let id = m.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id"));
            id.is_some_and(|id| id.as_str().starts_with("forward:"))
        })
        .count();
    assert!(
        forwarded > 0,
        "some holds reached the partition that did not own the show"
    );
    println!("{forwarded} commands forwarded to the show's partition");

    let (fence, _) = store.read_fence(show).await.unwrap().unwrap();
    assert_eq!(fence.partition, Some(hot_a.clone()), "{fence:?}");
    assert!(
        fence.owner_epoch > 0,
        "written by the hot partition's processor since: {fence:?}"
    );
    let stored = store.load(show).await.unwrap().unwrap();
    let state = processors::rows::restore(show, &stored).unwrap();
    for seat in 0..SEATS {
        let status = state.seat_status_by_id(processors::fixtures::seat(show, seat));
        assert_eq!(status, Some(SeatStatus::Held), "seat {seat}");
    }
    assert_eq!(
        state.hold_count(),
        SEATS as usize,
        "one hold per seat, none twice"
    );
    hot_processor.stop().await;
    old_processor.stop().await;
}
