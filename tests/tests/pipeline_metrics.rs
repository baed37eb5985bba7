//! The processor's metrics against real NATS and Cassandra, scraped over real HTTP from the
//! `/metrics` endpoint `boxoffice processor` serves (`processors::cli::ProcessorProcess`, what the
//! command runs after parsing its flags): batch sizes and stage latencies of the partitions that
//! applied commands, and a lag gauge per partition that counts the commands waiting in a
//! partition nobody may process yet and drops to zero once its processor catches up.

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use processors::bus::CommandBus;
use processors::cli::{MetricsAddr, ProcessorProcess};
use processors::jetstream::{Lease, prepare_consumer};
use processors::processor::ProcessorConfig;
use processors::topology::{PartitionId, Topology};
use schemas::{CommandEnvelope, Outcome, ShowId};
use support::pipeline::*;
use tokio::sync::watch;

/// Commands per partition: a create and this many holds.
const HOLDS_0: u32 = 40;
const HOLDS_1: u32 = 9;

fn show_in(topology: &Topology, partition: &str) -> ShowId {
    loop {
        let show = new_show();
        if topology.partition_of(show).0 == partition {
            return show;
        }
    }
}

fn commands(show: ShowId, holds: u32) -> Vec<CommandEnvelope> {
    let holds = (0..holds).map(|i| hold(show, new_hold(), user(i.into()), &[i], 600_000));
    std::iter::once(create(show, 100)).chain(holds).collect()
}

/// The value of the sample `series` (name and labels exactly as exported) in `body`.
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.trim().parse().expect("a sample value"))
}

async fn scrape(http: &reqwest::Client, addr: SocketAddr) -> String {
    let response = http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.unwrap()
}

/// Scrape until `ready` holds (the lag watcher polls every 2 s); the last body either way.
async fn scrape_until(
    http: &reqwest::Client,
    addr: SocketAddr,
    ready: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body = scrape(http, addr).await;
        if ready(&body) || Instant::now() > deadline {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every `boxoffice_pipeline_*` series is labelled by partition only (plus the fixed `result`
/// of the command counter and the histograms' `le`), with partitions of the topology.
fn assert_bounded_labels(body: &str, topology: &Topology) {
    let partitions: BTreeSet<String> = topology.partitions().into_iter().map(|p| p.0).collect();
    for line in body
        .lines()
        .filter(|l| l.starts_with("boxoffice_pipeline_"))
    {
        let labels = line
            .split_once('{')
            .and_then(|(_, rest)| rest.split_once('}'))
            .map_or("", |(labels, _)| labels);
        for label in labels.split(',').filter(|l| !l.is_empty()) {
            let (key, value) = label.split_once('=').expect("key=value");
            let value = value.trim_matches('"');
            match key {
                "partition" => assert!(partitions.contains(value), "{line}"),
                "result" | "le" => {}
                other => panic!("unbounded label {other} in {line}"),
            }
        }
    }
}

/// Hold the lease of `partition` so the processor stands by for it.
async fn block(services: &Services, topology: &Topology, partition: &str) -> Lease {
    let client = processors::jetstream::connect(&services.nats_url)
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client);
    // The consumer a processor would create, so the partition's lag is measurable before any
    // processor owned it.
    prepare_consumer(&js, topology, &PartitionId(partition.into()))
        .await
        .unwrap();
    let bucket = js
        .get_key_value(&topology.processor.lease_bucket)
        .await
        .unwrap();
    let key = format!("partition-{partition}");
    Lease::acquire(
        bucket,
        &key,
        "metrics-test-blocker",
        Duration::from_secs(60),
        clock::system(),
    )
    .await
    .unwrap()
    .expect("the partition's lease is free")
}

/// Append `commands` to the command stream without waiting for decisions.
async fn append(services: &Services, topology: &Topology, commands: &[CommandEnvelope]) {
    let client = processors::jetstream::connect(&services.nats_url)
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client);
    for envelope in commands {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", envelope.command_id.to_string().as_str());
        let payload = schemas::encode(envelope).unwrap();
        let subject = topology.command_subject(envelope.show_id);
        js.publish_with_headers(subject, headers, payload.into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_metrics_batch_sizes_latencies_and_lag_per_partition_over_http() {
    let Some(services) = services("pipeline_metrics") else {
        return;
    };
    let topology = topology("metrics");
    provision_all(&services, &topology).await;
    let blocker = block(&services, &topology, "1").await;

    let config = ProcessorConfig {
        nats_url: services.nats_url.clone(),
        cql_nodes: services.cql_nodes.clone(),
        topology: topology.clone(),
        partitions: Vec::new(),
        owner: "metrics-p".into(),
        shows_cached_max: 64,
        clock: clock::system(),
    };
    let (stop, stop_rx) = watch::channel(false);
    let metrics = "127.0.0.1:0".parse::<MetricsAddr>().unwrap();
    let process = ProcessorProcess::start(config, metrics, stop_rx)
        .await
        .expect("processor starts");
    let addr = process.metrics_addr().expect("metrics are on");
    let running = tokio::spawn(process.run());
    let http = reqwest::Client::new();

    // Partition 0 is processed: its commands are decided and answered, some concurrently so the
    // loop sees batches of more than one.
    let bus = Arc::new(bus(&services, &topology).await);
    let mut first = commands(show_in(&topology, "0"), HOLDS_0).into_iter();
    let created = bus.submit(first.next().unwrap()).await.unwrap();
    assert!(matches!(created.outcome, Outcome::Accepted(_)));
    let holds = first.map(|envelope| {
        let bus = bus.clone();
        tokio::spawn(async move { bus.submit(envelope).await })
    });
    for hold in futures::future::join_all(holds.collect::<Vec<_>>()).await {
        let reply = hold.unwrap().unwrap();
        assert!(matches!(reply.outcome, Outcome::Accepted(_)), "{reply:?}");
    }
    // Partition 1 has no processor yet: its commands wait.
    let waiting = commands(show_in(&topology, "1"), HOLDS_1);
    append(&services, &topology, &waiting).await;
    let waiting_n = waiting.len() as f64;

    let applied_0 = f64::from(HOLDS_0 + 1);
    let body = scrape_until(&http, addr, |body| {
        sample(body, r#"boxoffice_pipeline_lag{partition="1"}"#) == Some(waiting_n)
            && sample(body, r#"boxoffice_pipeline_batch_size_sum{partition="0"}"#)
                == Some(applied_0)
    })
    .await;
    let batches_0 = sample(
        &body,
        r#"boxoffice_pipeline_batch_size_count{partition="0"}"#,
    );
    assert!(batches_0.is_some_and(|n| n > 0.0), "{body}");
    assert_eq!(
        sample(&body, r#"boxoffice_pipeline_batch_size_sum{partition="0"}"#),
        Some(applied_0),
        "every command of partition 0 in some batch:\n{body}"
    );
    for stage in ["decide", "persist", "publish"] {
        let count = format!(r#"boxoffice_pipeline_{stage}_seconds_count{{partition="0"}}"#);
        assert!(
            sample(&body, &count).is_some_and(|n| n > 0.0),
            "{count}:\n{body}"
        );
        let bucket =
            format!(r#"boxoffice_pipeline_{stage}_seconds_bucket{{partition="0",le="+Inf"}}"#);
        assert!(sample(&body, &bucket).is_some(), "{bucket}:\n{body}");
    }
    assert_eq!(
        sample(&body, r#"boxoffice_pipeline_lag{partition="0"}"#),
        Some(0.0),
        "{body}"
    );
    assert_eq!(
        sample(&body, r#"boxoffice_pipeline_lag{partition="1"}"#),
        Some(waiting_n),
        "partition 1's waiting commands:\n{body}"
    );
    assert_eq!(
        sample(
            &body,
            r#"boxoffice_pipeline_batch_size_count{partition="1"}"#
        ),
        None,
        "nothing of partition 1 applied yet:\n{body}"
    );
    assert_bounded_labels(&body, &topology);

    // Let the processor take partition 1: it catches up and the lag drops to zero.
    blocker.release().await;
    let accepted_1 = r#"boxoffice_pipeline_commands_total{partition="1",result="accepted"}"#;
    let body = scrape_until(&http, addr, |body| {
        sample(body, r#"boxoffice_pipeline_lag{partition="1"}"#) == Some(0.0)
            && sample(body, accepted_1) == Some(waiting_n)
    })
    .await;
    assert_eq!(sample(&body, accepted_1), Some(waiting_n), "{body}");
    assert_eq!(
        sample(&body, r#"boxoffice_pipeline_batch_size_sum{partition="1"}"#),
        Some(waiting_n),
        "{body}"
    );
    assert_eq!(
        sample(&body, r#"boxoffice_pipeline_lag{partition="1"}"#),
        Some(0.0),
        "{body}"
    );
    assert_bounded_labels(&body, &topology);

    let _ = stop.send(true);
    tokio::time::timeout(Duration::from_secs(20), running)
        .await
        .expect("processor stops within 20 s")
        .unwrap()
        .expect("processor ran cleanly");
    // The endpoint goes with the processor.
    assert!(
        http.get(format!("http://{addr}/metrics"))
            .send()
            .await
            .is_err()
    );
}
