//! Live seat maps in serve mode, black-box: `boxoffice serve` (in process, twice: two ingress
//! processes sharing the pipeline) -> NATS JetStream -> a processor -> Cassandra -> seat deltas
//! on `seats.<showId>` -> each ingress's one subscription per show -> WebSocket viewers. Needs
//! `scripts/services up`; every test has its own streams, subjects and keyspace.

mod support;

use std::time::Duration;

use processors::topology::Topology;
use reqwest::StatusCode;
use support::api::Api;
use support::live::{Viewer, live_url};
use support::serve::{Backend, stop_api};
use tokio_tungstenite::tungstenite;

const SECOND: Duration = Duration::from_secs(1);

/// The pipeline plus one ingress per topology in `ingresses` (all sharing streams and keyspace
/// unless a topology says otherwise).
struct Stack {
    apis: Vec<Api>,
    backend: Backend,
}

async fn stack(test: &str, ingresses: impl Fn(&Topology) -> Vec<Topology>) -> Option<Stack> {
    let backend = Backend::start(test).await?;
    let mut apis = Vec::new();
    for own in ingresses(&backend.topology) {
        apis.push(backend.api(own, |_| {}).await);
    }
    Some(Stack { apis, backend })
}

impl Stack {
    async fn stop(mut self) {
        for api in &mut self.apis {
            stop_api(api).await;
        }
        self.backend.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_on_two_ingress_processes_see_holds_and_confirms_within_a_second() {
    let Some(stack) = stack("live_serve_two", |t| vec![t.clone(), t.clone()]).await else {
        return;
    };
    let (a, b) = (&stack.apis[0], &stack.apis[1]);
    let show = a.create_show(2, 2, 5, None).await;
    let (token, _) = a.guest().await;
    a.held(&token, &show, &[&show.seats[0]]).await;

    let mut on_a = Viewer::connect(&a.base, &show.show_id).await;
    let mut on_b = Viewer::connect(&b.base, &show.show_id).await;
    assert_eq!(on_a.seats.len(), 20);
    assert_eq!(on_a.seats[&show.seats[0]], "HELD");
    assert_eq!(on_a.seats, on_b.seats);
    assert_eq!(on_a.version, on_b.version);
    for api in [a, b] {
        let live = api.server.as_ref().unwrap().state.live().clone();
        assert_eq!((live.viewers(), live.shows_followed()), (1, 1));
    }

    let hold = a
        .held(&token, &show, &[&show.seats[5], &show.seats[6]])
        .await;
    for viewer in [&mut on_a, &mut on_b] {
        let took = viewer
            .until_seat(&show.seats[6], "HELD", 5 * SECOND)
            .await
            .expect("HELD arrives");
        assert!(took <= SECOND, "HELD took {took:?} after the answer");
    }
    let booked = b.confirm(&token, &hold, "pm_card_visa", None).await;
    assert_eq!(booked.status, StatusCode::CREATED, "{booked:?}");
    for viewer in [&mut on_a, &mut on_b] {
        let took = viewer
            .until_seat(&show.seats[5], "BOOKED", 5 * SECOND)
            .await
            .expect("BOOKED arrives");
        assert!(took <= SECOND, "BOOKED took {took:?} after the answer");
    }
    let version = a.version_of(&show).await;
    let truth = a.seat_statuses(&show).await;
    for viewer in [&mut on_a, &mut on_b] {
        assert!(viewer.until_version(version, 5 * SECOND).await);
        assert!(viewer.seats == truth);
    }

    let unknown = uuid::Uuid::new_v4().to_string();
    match tokio_tungstenite::connect_async(live_url(&b.base, &unknown)).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status().as_u16(), 404),
        other => panic!("expected 404 without upgrade, got {other:?}"),
    }
    drop((on_a, on_b));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_that_loses_every_delta_still_converges_from_the_source_of_truth() {
    // The second ingress listens on subjects nobody publishes to: every delta is lost to it, so
    // only its quiet-feed audit against Cassandra can bring its viewers along.
    let Some(stack) = stack("live_serve_lost", |t| {
        let mut deaf = t.clone();
        deaf.seat_events.subject_prefix = format!("{}_nobody", t.seat_events.subject_prefix);
        vec![t.clone(), deaf]
    })
    .await
    else {
        return;
    };
    let (a, deaf) = (&stack.apis[0], &stack.apis[1]);
    let show = a.create_show(1, 2, 5, None).await;
    let mut viewer = Viewer::connect(&deaf.base, &show.show_id).await;
    let start = viewer.version;
    let (token, _) = a.guest().await;
    let hold = a
        .held(&token, &show, &[&show.seats[1], &show.seats[2]])
        .await;
    let booked = a.confirm(&token, &hold, "pm_card_visa", None).await;
    assert_eq!(booked.status, StatusCode::CREATED, "{booked:?}");
    a.held(&token, &show, &[&show.seats[3]]).await;

    let version = a.version_of(&show).await;
    assert!(
        viewer.until_version(version, 15 * SECOND).await,
        "the audit catches up"
    );
    assert!(viewer.version > start);
    assert_eq!(viewer.seats, a.seat_statuses(&show).await);
    assert_eq!(viewer.seats[&show.seats[1]], "BOOKED");
    assert_eq!(viewer.seats[&show.seats[3]], "HELD");
    drop(viewer);
    stack.stop().await;
}
