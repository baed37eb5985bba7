//! The ScyllaDB/Cassandra side of serve mode: the show store ([`CqlStore`]) with its change-log
//! rows ([`changes`]) under the conditional fence, and the schema.

pub mod changes;
pub mod session;
pub(crate) mod store;

pub use changes::{CHANGES_KIND, OUTCOME_TTL_S, OUTCOMES_KIND};
pub use store::{Backend, CqlStore, schema_statements};
