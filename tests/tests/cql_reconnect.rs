//! The catalog store and the ticket store find Cassandra again within 2 s of its return, after an
//! outage long enough for the driver's own reconnect backoff (up to 10 s) to keep them away for
//! seconds more (issue 15: service must resume within 2 s of the store's return). Cassandra is
//! "restarted" by a TCP proxy between the stores and the real node: it closes every connection
//! and refuses new ones for the outage, then lets them through again.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use boxoffice_tests::proxy::TcpProxy;
use boxoffice_tests::{connect_cql, cql_nodes, unique_name};
use fulfilment::{CqlTicketStore, TicketStore};
use schemas::BookingId;

/// Long enough for the driver's reconnect delay to grow to several seconds.
const OUTAGE: Duration = Duration::from_secs(8);

/// The bound the stores must resume within.
const RESUME_BOUND: Duration = Duration::from_secs(2);

/// How long to wait for a store at all before calling it stuck.
const GIVE_UP: Duration = Duration::from_secs(30);

/// Read through `read` every 100 ms for `OUTAGE` while `proxy` plays a Cassandra that is down;
/// whether any of those reads failed.
async fn through_outage<F, Fut, E>(read: &F) -> bool
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let started = Instant::now();
    let mut failed = false;
    while started.elapsed() < OUTAGE {
        failed |= tokio::time::timeout(Duration::from_secs(1), read())
            .await
            .map_or(true, |r| r.is_err());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    failed
}

/// How long after now `read` first succeeds (reads every 50 ms, each given 1 s).
async fn until_answered<F, Fut, E>(read: &F) -> Option<Duration>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let back = Instant::now();
    while back.elapsed() < GIVE_UP {
        if let Ok(Ok(())) = tokio::time::timeout(Duration::from_secs(1), read()).await {
            return Some(back.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Provision `keyspace` with the catalog and the ticket tables, directly (not through the proxy).
async fn provision(test: &str, keyspace: &str) -> Option<scylla::client::session::Session> {
    let nodes = cql_nodes(test)?;
    let session = connect_cql(test).await?;
    catalog::store::CqlStore::provision(&session, keyspace, 1)
        .await
        .expect("catalog tables");
    CqlTicketStore::connect(&nodes.join(","), keyspace)
        .await
        .expect("ticket tables");
    Some(session)
}

#[tokio::test]
async fn the_catalog_and_ticket_stores_resume_within_two_seconds_of_cassandras_return() {
    let test = "the_catalog_and_ticket_stores_resume_within_two_seconds_of_cassandras_return";
    let keyspace = unique_name("cql_reconnect");
    let Some(direct) = provision(test, &keyspace).await else {
        return;
    };
    let node: SocketAddr = cql_nodes(test).expect("nodes")[0]
        .parse()
        .expect("a node is host:port");
    let proxy = TcpProxy::start(node).await.expect("a proxy");
    let via = proxy.addr().to_string();

    let session = catalog::store::CqlStore::connect(std::slice::from_ref(&via))
        .await
        .expect("catalog session through the proxy");
    let catalog = Arc::new(
        catalog::store::CqlStore::new(session, &keyspace)
            .await
            .expect("catalog store"),
    );
    let tickets = Arc::new(
        CqlTicketStore::connect(&via, &keyspace)
            .await
            .expect("ticket store through the proxy"),
    );
    let read_catalog = || {
        let catalog = catalog.clone();
        async move {
            use catalog::store::CatalogStore;
            catalog.is_empty().await.map(drop)
        }
    };
    let read_tickets = || {
        let tickets = tickets.clone();
        async move {
            tickets
                .booking_tickets(BookingId(uuid::Uuid::new_v4()))
                .await
                .map(drop)
        }
    };
    assert!(read_catalog().await.is_ok() && read_tickets().await.is_ok());

    proxy.set_down(true);
    let (catalog_failed, tickets_failed) =
        tokio::join!(through_outage(&read_catalog), through_outage(&read_tickets));
    assert!(
        catalog_failed && tickets_failed,
        "the outage reached both stores"
    );
    proxy.set_down(false);
    let (catalog_back, tickets_back) =
        tokio::join!(until_answered(&read_catalog), until_answered(&read_tickets));

    direct
        .query_unpaged(format!("DROP KEYSPACE IF EXISTS {keyspace}"), ())
        .await
        .expect("drop keyspace");
    let backs = [("catalog", catalog_back), ("tickets", tickets_back)];
    for (store, back) in backs {
        eprintln!("the {store} store answered {back:?} after Cassandra's return");
    }
    for (store, back) in backs {
        let back = back.unwrap_or_else(|| panic!("the {store} store never answered again"));
        assert!(
            back <= RESUME_BOUND,
            "the {store} store answered {back:?} after Cassandra's return (bound {RESUME_BOUND:?})"
        );
    }
}
