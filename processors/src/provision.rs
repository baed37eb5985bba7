//! `boxoffice provision`: apply `streams.yaml` to NATS JetStream (streams, the waiting-room log,
//! the lease bucket) and
//! the CQL schema to Cassandra/ScyllaDB, idempotently: a second run changes nothing and says so.

use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};

use crate::cql::Backend;
use crate::cql::store::{ADDED_COLUMNS, TABLES, detect_backend, schema_statements};
use crate::jetstream::{NatsError, connect};
use crate::store::StoreError;
use crate::topology::{EventStream, Storage, Topology};

/// Provisioning failed.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// NATS unusable (unreachable, too old, refused a config).
    #[error(transparent)]
    Nats(#[from] NatsError),
    /// The CQL cluster unusable.
    #[error(transparent)]
    Cql(#[from] StoreError),
}

/// What provisioning changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProvisionReport {
    /// The CQL backend found.
    pub backend: Option<Backend>,
    /// One line per change made.
    pub changes: Vec<String>,
}

impl std::fmt::Display for ProvisionReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(backend) = self.backend {
            writeln!(f, "CQL backend: {backend:?}")?;
        }
        if self.changes.is_empty() {
            return writeln!(f, "no changes");
        }
        for change in &self.changes {
            writeln!(f, "{change}")?;
        }
        Ok(())
    }
}

/// Where to provision.
#[derive(Clone, Debug)]
pub struct ProvisionTarget {
    /// NATS URL; `None` skips NATS.
    pub nats_url: Option<String>,
    /// CQL contact points; `None` skips CQL.
    pub cql_nodes: Option<String>,
}

/// Apply the topology. Each part is compared with what exists and only differences are applied.
pub async fn provision(
    topology: &Topology,
    target: &ProvisionTarget,
) -> Result<ProvisionReport, ProvisionError> {
    let mut report = ProvisionReport::default();
    if let Some(url) = &target.nats_url {
        provision_nats(topology, url, &mut report.changes).await?;
    }
    if let Some(nodes) = &target.cql_nodes {
        report.backend = Some(provision_cql(topology, nodes, &mut report.changes).await?);
    }
    Ok(report)
}

fn storage(s: Storage) -> stream::StorageType {
    match s {
        Storage::File => stream::StorageType::File,
        Storage::Memory => stream::StorageType::Memory,
    }
}

/// The desired stream configs: commands, seat events, booking events, the waiting-room log.
pub fn stream_configs(topology: &Topology) -> Vec<stream::Config> {
    let c = &topology.commands;
    let (source, destination) = topology.command_transform();
    let commands = stream::Config {
        name: c.stream.clone(),
        subjects: topology.command_stream_subjects(),
        subject_transform: Some(stream::SubjectTransform {
            source,
            destination,
        }),
        max_age: Duration::from_secs(c.max_age_s),
        duplicate_window: Duration::from_secs(c.duplicate_window_s),
        num_replicas: c.replicas,
        storage: storage(c.storage),
        ..Default::default()
    };
    let events = |e: &EventStream| stream::Config {
        name: e.stream.clone(),
        subjects: vec![format!("{}.*", e.subject_prefix)],
        max_age: Duration::from_secs(e.max_age_s),
        duplicate_window: Duration::from_secs(e.duplicate_window_s),
        num_replicas: e.replicas,
        storage: storage(e.storage),
        ..Default::default()
    };
    vec![
        commands,
        events(&topology.seat_events),
        events(&topology.booking_events),
        waiting_room_config(topology),
    ]
}

/// The waiting-room log: every ingress appends to and follows `<prefix>.>` (see the queue
/// crate's `jetstream` module).
pub fn waiting_room_config(topology: &Topology) -> stream::Config {
    let w = &topology.waiting_room;
    stream::Config {
        name: topology.waiting_room_stream(),
        description: Some("boxoffice waiting rooms: joins, admissions, uses".into()),
        subjects: vec![format!("{}.>", topology.waiting_room_subject_prefix())],
        max_age: Duration::from_secs(w.max_age_s),
        duplicate_window: Duration::from_secs(w.duplicate_window_s),
        num_replicas: topology.waiting_room_replicas(),
        storage: storage(w.storage),
        ..Default::default()
    }
}

/// Whether an existing stream already has every setting we declare.
fn same_stream(found: &stream::Config, wanted: &stream::Config) -> bool {
    let mut a = found.subjects.clone();
    let mut b = wanted.subjects.clone();
    a.sort();
    b.sort();
    a == b
        && found.subject_transform == wanted.subject_transform
        && found.max_age == wanted.max_age
        && found.duplicate_window == wanted.duplicate_window
        && found.num_replicas.max(1) == wanted.num_replicas.max(1)
        && found.storage == wanted.storage
}

async fn provision_nats(
    topology: &Topology,
    url: &str,
    changes: &mut Vec<String>,
) -> Result<(), NatsError> {
    let client = connect(url).await?;
    let js = jetstream::new(client);
    let failed = |e: &dyn std::fmt::Display| NatsError::JetStream(e.to_string());
    for wanted in stream_configs(topology) {
        match js.get_stream(&wanted.name).await {
            Ok(mut existing) => {
                let found = existing
                    .info()
                    .await
                    .map_err(|e| failed(&e))?
                    .config
                    .clone();
                if !same_stream(&found, &wanted) {
                    js.update_stream(&wanted).await.map_err(|e| failed(&e))?;
                    changes.push(format!("updated stream {}", wanted.name));
                }
            }
            Err(_) => {
                js.create_stream(wanted.clone())
                    .await
                    .map_err(|e| failed(&e))?;
                changes.push(format!("created stream {}", wanted.name));
            }
        }
    }
    let bucket = &topology.processor.lease_bucket;
    if js.get_key_value(bucket).await.is_err() {
        js.create_key_value(kv::Config {
            bucket: bucket.clone(),
            history: 1,
            num_replicas: topology.commands.replicas,
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .map_err(|e| failed(&e))?;
        changes.push(format!("created lease bucket {bucket}"));
    }
    Ok(())
}

async fn provision_cql(
    topology: &Topology,
    nodes: &str,
    changes: &mut Vec<String>,
) -> Result<Backend, StoreError> {
    let session = crate::cql::store::connect(nodes).await?;
    let backend = detect_backend(&session).await?;
    let ks = &topology.cql.keyspace;
    let rf = topology.cql.replication_factor;
    let statements = schema_statements(ks, rf, backend);
    let unavailable = |e: &dyn std::fmt::Display| StoreError::Unavailable(e.to_string().into());
    let existing_rf = keyspace_rf(&session, ks).await?;
    match existing_rf {
        None => {
            session
                .query_unpaged(statements[0].as_str(), ())
                .await
                .map_err(|e| unavailable(&e))?;
            changes.push(format!("created keyspace {ks} (replication factor {rf})"));
        }
        Some(found) if found != rf => {
            let alter = format!(
                "ALTER KEYSPACE {ks} WITH replication = \
                 {{'class': 'NetworkTopologyStrategy', 'replication_factor': {rf}}}"
            );
            session
                .query_unpaged(alter, ())
                .await
                .map_err(|e| unavailable(&e))?;
            changes.push(format!(
                "changed keyspace {ks} replication factor {found} -> {rf}"
            ));
        }
        Some(_) => {}
    }
    for (table, statement) in TABLES.iter().zip(&statements[1..]) {
        if !schema_has(&session, ks, table, None).await? {
            session
                .query_unpaged(statement.as_str(), ())
                .await
                .map_err(|e| unavailable(&e))?;
            changes.push(format!("created table {ks}.{table}"));
        }
    }
    for (table, column, kind) in ADDED_COLUMNS {
        if !schema_has(&session, ks, table, Some(column)).await? {
            let alter = format!("ALTER TABLE {ks}.{table} ADD {column} {kind}");
            session
                .query_unpaged(alter, ())
                .await
                .map_err(|e| unavailable(&e))?;
            changes.push(format!("added column {ks}.{table}.{column}"));
        }
    }
    session
        .await_schema_agreement()
        .await
        .map_err(|e| unavailable(&e))?;
    Ok(backend)
}

async fn keyspace_rf(
    session: &scylla::client::session::Session,
    ks: &str,
) -> Result<Option<u32>, StoreError> {
    let result = session
        .query_unpaged(
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?",
            (ks,),
        )
        .await
        .map_err(|e| StoreError::Unavailable(e.into()))?;
    let rows = result
        .into_rows_result()
        .map_err(|e| StoreError::Fatal(e.into()))?;
    let row = rows
        .maybe_first_row::<(std::collections::HashMap<String, String>,)>()
        .map_err(|e| StoreError::Fatal(e.into()))?;
    Ok(row.map(|(replication,)| {
        // NetworkTopologyStrategy lists a factor per datacenter; SimpleStrategy one.
        replication
            .iter()
            .filter(|(k, _)| k.as_str() != "class")
            .filter_map(|(_, v)| v.parse::<u32>().ok())
            .max()
            .unwrap_or(0)
    }))
}

/// Whether the schema has `column` (`None`: any column, i.e. the table) of `ks.table`.
async fn schema_has(
    session: &scylla::client::session::Session,
    ks: &str,
    table: &str,
    column: Option<&str>,
) -> Result<bool, StoreError> {
    let found = match column {
        None => {
            let cql = "SELECT table_name FROM system_schema.tables \
                       WHERE keyspace_name = ? AND table_name = ?";
            session.query_unpaged(cql, (ks, table)).await
        }
        Some(column) => {
            let cql = "SELECT column_name FROM system_schema.columns \
                       WHERE keyspace_name = ? AND table_name = ? AND column_name = ?";
            session.query_unpaged(cql, (ks, table, column)).await
        }
    };
    let rows = found
        .map_err(|e| StoreError::Unavailable(e.into()))?
        .into_rows_result()
        .map_err(|e| StoreError::Fatal(e.into()))?;
    Ok(rows.rows_num() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_waiting_room_log_is_provisioned_from_streams_yaml() {
        let mut t = Topology::builtin();
        t.commands.stream = "CMD_X".into();
        t.commands.subject_prefix = "cmd_x".into();
        let configs = stream_configs(&t);
        let wanted = configs
            .iter()
            .find(|c| c.name == "CMD_X_WAITING_ROOM")
            .expect("the waiting-room stream is declared");
        assert_eq!(wanted.subjects, vec!["cmd_x_waitroom.>".to_string()]);
        assert_eq!(wanted.max_age, Duration::from_secs(90 * 86_400));
        assert_eq!(wanted.storage, stream::StorageType::File);
        // What the server echoes back for it compares equal: a second run changes nothing.
        assert!(same_stream(&wanted.clone(), wanted));
        let mut older = wanted.clone();
        older.max_age = Duration::from_secs(86_400);
        assert!(!same_stream(&older, wanted));
    }
}
