//! [`LiveSession`]: a CQL session that is replaced when its connections stay gone.
//!
//! The driver refills a node's connection pool with an exponential backoff of up to 10 s (not
//! configurable in scylla 1.x without its unstable features), so after Cassandra was restarted a
//! session could go on answering "no connection" for another 10-14 s while the node was ready
//! (found by the fault campaign, issue 15: holds refused for 14 s after the store's return). A
//! request that finds no connection now asks for a fresh session, built in the background from
//! the nodes the old one knew, at most every [`REVIVE_EVERY`]; once one connects it replaces the
//! old, so service resumes within about a second of the store's return.
//!
//! Every CQL store of serve mode keeps its session here: the show store notes its failures
//! itself ([`LiveSession::saw`]); the catalog and the ticket store run their statements through
//! [`LiveSession::execute_unpaged`] and [`LiveSession::execute_iter`], which do it for them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use scylla::client::pager::QueryPager;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::errors::{ExecutionError, NextPageError, PagerExecutionError, RequestError};
use scylla::response::query_result::QueryResult;
use scylla::serialize::row::SerializeRow;
use scylla::statement::prepared::PreparedStatement;

/// Least time between two attempts at a fresh session.
pub const REVIVE_EVERY: Duration = Duration::from_millis(500);

/// How long a fresh session may take to connect before the attempt is given up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The session in use and how to replace it.
#[derive(Debug)]
pub struct LiveSession {
    current: RwLock<Arc<Session>>,
    nodes: Vec<String>,
    reviving: Arc<AtomicBool>,
    last_attempt: Mutex<Option<Instant>>,
}

/// Whether `e` says the session has no connection to use (as opposed to a node's answer or a
/// timeout of a request that was sent).
pub fn no_connection(e: &ExecutionError) -> bool {
    matches!(
        e,
        ExecutionError::EmptyPlan | ExecutionError::ConnectionPoolError(_)
    )
}

/// The same for a pager's first page.
pub fn pager_no_connection(e: &PagerExecutionError) -> bool {
    matches!(
        e,
        PagerExecutionError::NextPageError(NextPageError::RequestFailure(
            RequestError::EmptyPlan | RequestError::ConnectionPoolError(_)
        ))
    )
}

impl LiveSession {
    /// Watch over `session` (its known nodes are where a fresh one connects).
    pub fn new(session: Session) -> LiveSession {
        LiveSession::shared(Arc::new(session))
    }

    /// The same for a session that others may also hold (they keep the old one when it is
    /// replaced here).
    pub fn shared(session: Arc<Session>) -> LiveSession {
        let nodes = session
            .get_cluster_state()
            .get_nodes_info()
            .iter()
            .map(|node| node.address.to_string())
            .collect();
        LiveSession {
            current: RwLock::new(session),
            nodes,
            reviving: Arc::new(AtomicBool::new(false)),
            last_attempt: Mutex::new(None),
        }
    }

    /// The session to use now.
    pub fn get(&self) -> Arc<Session> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Note a request's failure: if it found no connection ([`no_connection`],
    /// [`pager_no_connection`]), start building a fresh session (unless one is being built or
    /// the last attempt was under [`REVIVE_EVERY`] ago).
    pub fn saw(self: &Arc<Self>, found_no_connection: bool) {
        if !found_no_connection || self.nodes.is_empty() {
            return;
        }
        {
            let mut last = self
                .last_attempt
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.is_some_and(|at| at.elapsed() < REVIVE_EVERY) {
                return;
            }
            if self.reviving.swap(true, Ordering::SeqCst) {
                return;
            }
            *last = Some(Instant::now());
        }
        let live = self.clone();
        tokio::spawn(async move {
            live.revive().await;
            live.reviving.store(false, Ordering::SeqCst);
        });
    }

    /// Run a prepared statement, unpaged, on the session in use; a failure that found no
    /// connection starts a fresh session ([`Self::saw`]).
    pub async fn execute_unpaged(
        self: &Arc<Self>,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<QueryResult, ExecutionError> {
        let result = self.get().execute_unpaged(statement, values).await;
        if let Err(e) = &result {
            self.saw(no_connection(e));
        }
        result
    }

    /// Run a prepared statement as a pager on the session in use; a first page that found no
    /// connection starts a fresh session ([`Self::saw`]).
    pub async fn execute_iter(
        self: &Arc<Self>,
        statement: PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<QueryPager, PagerExecutionError> {
        let result = self.get().execute_iter(statement, values).await;
        if let Err(e) = &result {
            self.saw(pager_no_connection(e));
        }
        result
    }

    async fn revive(&self) {
        let mut builder = SessionBuilder::new();
        builder = builder
            .known_nodes(&self.nodes)
            .connection_timeout(CONNECT_TIMEOUT);
        match tokio::time::timeout(CONNECT_TIMEOUT * 2, builder.build()).await {
            Ok(Ok(fresh)) => {
                tracing::warn!(nodes = ?self.nodes, "CQL session replaced: the old one had no connection");
                *self
                    .current
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(fresh);
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "a fresh CQL session did not connect yet"),
            Err(_) => tracing::debug!("a fresh CQL session did not connect in time"),
        }
    }
}
