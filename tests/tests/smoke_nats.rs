//! Smoke test of the real NATS JetStream server: de-duplication by `Nats-Msg-Id` and a durable
//! pull consumer with explicit acks. Needs `scripts/services up` (see `boxoffice_tests`).

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer, stream};
use boxoffice_tests::{connect_nats, unique_name};
use futures::StreamExt;

/// Every JetStream round trip in this test is bounded by this.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP_TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {STEP_TIMEOUT:?}"))
}

#[tokio::test]
async fn server_is_at_least_2_12() {
    let Some(client) = connect_nats("server_is_at_least_2_12").await else {
        return;
    };
    let version = client.server_info().version;
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    assert!(
        (major, minor) >= (2, 12),
        "nats-server {version} is too old: boxoffice needs >= 2.12"
    );
    println!("nats-server {version}");
}

#[tokio::test]
async fn duplicate_msg_id_is_stored_once_and_durable_pull_consumer_acks() {
    let test = "duplicate_msg_id_is_stored_once_and_durable_pull_consumer_acks";
    let Some(client) = connect_nats(test).await else {
        return;
    };
    let js = jetstream::new(client);
    let name = unique_name("SMOKE");
    let subject = format!("{name}.cmd");

    let stream = bounded(
        "create stream",
        js.create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![format!("{name}.>")],
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        }),
    )
    .await
    .expect("create stream");

    // The same command published twice (a client retry) with one message id.
    let mut acks = Vec::new();
    for attempt in 0..2 {
        let mut headers = HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, "cmd-1");
        let ack = bounded("publish", async {
            js.publish_with_headers(
                subject.clone(),
                headers,
                format!("hold seat A1 (attempt {attempt})").into(),
            )
            .await
            .expect("publish")
            .await
            .expect("publish ack")
        })
        .await;
        acks.push(ack);
    }
    assert!(!acks[0].duplicate, "first publish must be stored");
    assert!(
        acks[1].duplicate,
        "second publish with the same Nats-Msg-Id must be a duplicate"
    );
    assert_eq!(
        acks[0].sequence, acks[1].sequence,
        "the duplicate reports the original sequence"
    );
    let info = bounded("stream info", stream.get_info())
        .await
        .expect("stream info");
    assert_eq!(info.state.messages, 1, "stored once");

    let durable = unique_name("worker");
    let pull = bounded(
        "create consumer",
        stream.create_consumer(consumer::pull::Config {
            durable_name: Some(durable.clone()),
            ack_policy: consumer::AckPolicy::Explicit,
            ..Default::default()
        }),
    )
    .await
    .expect("create durable pull consumer");

    let mut batch = bounded(
        "fetch",
        pull.fetch()
            .max_messages(10)
            .expires(Duration::from_secs(2))
            .messages(),
    )
    .await
    .expect("fetch");
    let mut received = Vec::new();
    while let Some(msg) = bounded("next message", batch.next()).await {
        let msg = msg.expect("message");
        // double_ack waits for the server to confirm the ack.
        bounded("ack", msg.double_ack()).await.expect("ack");
        received.push(String::from_utf8_lossy(&msg.payload).into_owned());
    }
    assert_eq!(received, vec!["hold seat A1 (attempt 0)".to_owned()]);

    // A fresh handle on the same durable sees everything acked.
    let again: jetstream::consumer::PullConsumer =
        bounded("get consumer", stream.get_consumer(&durable))
            .await
            .expect("durable consumer survives");
    let info = bounded("consumer info", again.get_info())
        .await
        .expect("consumer info");
    assert_eq!(info.num_ack_pending, 0, "nothing left unacked");
    assert_eq!(info.num_pending, 0, "nothing left to deliver");
    assert_eq!(info.ack_floor.stream_sequence, acks[0].sequence);

    bounded("delete stream", js.delete_stream(&name))
        .await
        .expect("delete stream");
}
