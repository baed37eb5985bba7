//! Shared helpers for the integration and end-to-end tests.
//!
//! # Layout
//! `src/` holds helpers (service settings, unique names, connections); `tests/` holds one file per
//! suite (`smoke_nats.rs`, `smoke_cql.rs`, ...) and `tests/support/`, the servers, clients and
//! builders the suites share (a suite says `mod support;`). The load generators live in `bench/loadgen`.
//!
//! The real services come from `scripts/services up`; their settings reach the tests through
//! exactly two environment variables, printed by `scripts/services env`:
//! [`NATS_URL_ENV`] and [`CQL_NODES_ENV`]. A test that needs a service and finds its variable
//! missing FAILS with a message saying how to start the services, unless [`SKIP_ENV`] is `1`; then
//! it prints that it is skipped and returns. Every test creates its own uniquely named stream,
//! consumer and keyspace ([`unique_name`]), so suites run in parallel and never see each other.

use std::time::Duration;

pub mod proxy;

use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::response::query_result::QueryRowsResult;
use scylla::value::{CqlValue, Row};

/// Environment variable with the NATS URL, e.g. `nats://127.0.0.1:14222`.
pub const NATS_URL_ENV: &str = "BOXOFFICE_NATS_URL";
/// Environment variable with comma-separated CQL contact points, e.g. `127.0.0.1:19042`.
pub const CQL_NODES_ENV: &str = "BOXOFFICE_CQL_NODES";
/// Set to `1` to skip (loudly) the tests that need real services instead of failing them.
pub const SKIP_ENV: &str = "BOXOFFICE_SKIP_SERVICES";

/// Upper bound for connecting to a service; a test never hangs on a dead service.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Name of the column in which Cassandra and ScyllaDB report whether a conditional write applied.
pub const APPLIED_COLUMN: &str = "[applied]";

fn setting(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(value) if !value.trim().is_empty() => Some(value.trim().to_owned()),
        _ if std::env::var(SKIP_ENV).as_deref() == Ok("1") => {
            eprintln!("SKIPPED {test}: {var} is not set and {SKIP_ENV}=1");
            None
        }
        _ => panic!(
            "{test} needs real services but {var} is not set.\n\
             Start them and load their settings:  scripts/services up && eval \"$(scripts/services env)\"\n\
             (or run everything with scripts/test; set {SKIP_ENV}=1 to skip such tests on purpose)"
        ),
    }
}

/// The NATS URL from [`NATS_URL_ENV`]; `None` (after saying so) only when skipping is requested.
///
/// # Panics
/// When the variable is missing and [`SKIP_ENV`] is not `1`.
pub fn nats_url(test: &str) -> Option<String> {
    setting(NATS_URL_ENV, test)
}

/// The CQL contact points from [`CQL_NODES_ENV`]; `None` (after saying so) only when skipping is
/// requested.
///
/// # Panics
/// When the variable is missing and [`SKIP_ENV`] is not `1`.
pub fn cql_nodes(test: &str) -> Option<Vec<String>> {
    setting(CQL_NODES_ENV, test).map(|nodes| {
        nodes
            .split(',')
            .map(str::trim)
            .filter(|node| !node.is_empty())
            .map(str::to_owned)
            .collect()
    })
}

/// A name no other test run uses: `<prefix>_<16 hex digits>`, lowercase, valid as a CQL keyspace
/// (prefix up to 30 characters), a JetStream stream or consumer name and a subject token.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{:016x}", rand::random::<u64>())
}

/// Connects to NATS at [`nats_url`], or returns `None` when skipping.
///
/// # Panics
/// When the setting is missing (see [`nats_url`]) or the server does not answer in
/// [`CONNECT_TIMEOUT`].
pub async fn connect_nats(test: &str) -> Option<async_nats::Client> {
    let url = nats_url(test)?;
    let options = async_nats::ConnectOptions::new().connection_timeout(CONNECT_TIMEOUT);
    match tokio::time::timeout(CONNECT_TIMEOUT, options.connect(url.as_str())).await {
        Ok(Ok(client)) => Some(client),
        Ok(Err(err)) => panic!(
            "{test}: cannot connect to NATS at {url}: {err} (is `scripts/services up` done?)"
        ),
        Err(_) => panic!("{test}: connecting to NATS at {url} timed out after {CONNECT_TIMEOUT:?}"),
    }
}

/// Connects to the CQL database at [`cql_nodes`], or returns `None` when skipping.
///
/// # Panics
/// When the setting is missing (see [`cql_nodes`]) or no node answers in [`CONNECT_TIMEOUT`].
pub async fn connect_cql(test: &str) -> Option<Session> {
    let nodes = cql_nodes(test)?;
    let builder = SessionBuilder::new()
        .known_nodes(&nodes)
        .connection_timeout(CONNECT_TIMEOUT);
    match tokio::time::timeout(CONNECT_TIMEOUT, builder.build()).await {
        Ok(Ok(session)) => Some(session),
        Ok(Err(err)) => panic!(
            "{test}: cannot connect to CQL nodes {nodes:?}: {err} (is `scripts/services up` done?)"
        ),
        Err(_) => {
            panic!("{test}: connecting to CQL nodes {nodes:?} timed out after {CONNECT_TIMEOUT:?}")
        }
    }
}

/// Whether a conditional statement or batch applied, read from its `[applied]` column.
///
/// Portable across Cassandra and ScyllaDB: the row is read untyped and the column is found by
/// name, because the other columns of an LWT result differ between backends and between the
/// applied and the not-applied case (the current values are returned only when not applied).
///
/// # Panics
/// When the result has no `[applied]` boolean column (the statement was not conditional).
pub fn lwt_applied(rows: &QueryRowsResult) -> bool {
    let (index, _) = rows
        .column_specs()
        .get_by_name(APPLIED_COLUMN)
        .unwrap_or_else(|| panic!("no {APPLIED_COLUMN} column: not a conditional statement?"));
    let row: Row = rows
        .first_row()
        .unwrap_or_else(|err| panic!("cannot read the LWT result row: {err}"));
    match row.columns.get(index) {
        Some(Some(CqlValue::Boolean(applied))) => *applied,
        other => panic!("{APPLIED_COLUMN} is not a boolean: {other:?}"),
    }
}
