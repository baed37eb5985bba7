//! The stored form of a show in Cassandra, against the real database: a show stored in the
//! earlier form (one plain row per seat, hold, booking and outcome) loads as it is and takes
//! further batches in the current form (each batch's outcomes in one outcome-log row with a TTL,
//! never rewritten); batch after batch a fresh store loads exactly the state the engine holds in
//! memory, including after the engine forgets outcomes a day later (the earlier form's outcome
//! rows are deleted then, the outcome-log rows left to their TTL).

mod support;

use engine::{RowKind, ShowState};
use processors::cql::CqlStore;
use processors::store::{Fence, PersistOutcome, ShowStore, ShowWrite};
use schemas::{HoldId, UnixMs, UserId};
use support::pipeline::*;
use uuid::Uuid;

/// The stored `kind` of change-log rows (see `processors::cql::changes`).
const CHANGES_KIND: i8 = processors::cql::CHANGES_KIND;

/// The stored `kind` of outcome-log rows.
const OUTCOMES_KIND: i8 = processors::cql::OUTCOMES_KIND;

/// Batches persisted after the legacy rows.
const BATCHES: u64 = 300;

/// Now by the wall clock: `create` puts the show a month from it, on sale at once.
fn wall_now() -> UnixMs {
    use clock::Clock;
    clock::SystemClock.now()
}

async fn assert_loads_as(store_nodes: &str, keyspace: &str, state: &ShowState, at: u64) {
    let reader = CqlStore::connect(store_nodes, keyspace).await.unwrap();
    let stored = reader.load(state.show_id()).await.unwrap().expect("stored");
    assert_eq!(stored.fence.applied_seq, at);
    let restored = processors::rows::restore(state.show_id(), &stored).unwrap();
    let (a, b) = (restored.snapshot(), state.snapshot());
    let only_stored: Vec<_> = a.iter().filter(|r| !b.contains(r)).collect();
    let only_memory: Vec<_> = b.iter().filter(|r| !a.contains(r)).collect();
    assert!(
        only_stored.is_empty() && only_memory.is_empty() && a.len() == b.len(),
        "after batch {at}: only stored {only_stored:?}, only in memory {only_memory:?}"
    );
}

/// The conditional write of the batch after log sequence `seq` (the first one when 0).
fn write_after(show: schemas::ShowId, seq: u64, rows: Vec<processors::store::Row>) -> ShowWrite {
    let fence = |applied_seq| Fence {
        applied_seq,
        owner_epoch: 1,
        partition: None,
    };
    ShowWrite {
        show_id: show,
        expected: (seq > 0).then_some(fence(seq)),
        next: fence(seq + 1),
        version: seq + 1,
        rows,
    }
}

/// The TTLs (seconds left; `None`: none) of a show's rows of `kind`.
async fn row_ttls(
    session: &scylla::client::session::Session,
    keyspace: &str,
    show: Uuid,
    kind: i8,
) -> Vec<Option<i32>> {
    let result = session
        .query_unpaged(
            format!("SELECT TTL(body) FROM {keyspace}.show_state WHERE show_id = ? AND kind = ?"),
            (show, kind),
        )
        .await
        .unwrap();
    result
        .into_rows_result()
        .unwrap()
        .rows::<(Option<i32>,)>()
        .unwrap()
        .map(|row| row.unwrap().0)
        .collect()
}

#[tokio::test]
async fn a_show_in_plain_rows_takes_hundreds_of_batches_and_forgets_outcomes_a_day_later() {
    let Some(services) = services("a_show_in_plain_rows_converts_and_folds") else {
        return;
    };
    let topology = topology("changelog");
    provision_all(&services, &topology).await;
    let keyspace = topology.cql.keyspace.clone();
    let session = boxoffice_tests::connect_cql("cql_change_log")
        .await
        .unwrap();
    let show = new_show();
    let now = wall_now();
    let user = |n: u64| UserId(Uuid::from_u64_pair(7, n));

    // The earlier form, written the way the store wrote it: one plain row per engine row.
    let mut state = ShowState::new(show);
    state.decide(&create(show, 400), now);
    for n in 0..20u64 {
        let hold_id = HoldId(Uuid::from_u64_pair(1, n));
        let decision = state.decide(&hold(show, hold_id, user(n), &[n as u32], 600_000), now);
        assert!(
            matches!(decision.outcome, schemas::Outcome::Accepted(_)),
            "{:?}",
            decision.outcome
        );
    }
    state.take_dirty();
    let mut seq = 21u64;
    for row in state.snapshot() {
        let key = row.key();
        session
            .query_unpaged(
                format!("INSERT INTO {keyspace}.show_state (show_id, kind, id, body) VALUES (?, ?, ?, ?)"),
                (show.0, key.kind().code(), key.id(), row.encode_body().unwrap()),
            )
            .await
            .unwrap();
    }
    session
        .query_unpaged(
            format!("UPDATE {keyspace}.show_state SET applied_seq = ?, owner_epoch = ?, version = ? WHERE show_id = ?"),
            (seq as i64, 1i64, seq as i64, show.0),
        )
        .await
        .unwrap();

    let store = CqlStore::connect(&services.cql_nodes, &keyspace)
        .await
        .unwrap();
    let loaded = store.load(show).await.unwrap().unwrap();
    assert_eq!(loaded.fence.applied_seq, seq);
    assert_loads_as(&services.cql_nodes, &keyspace, &state, seq).await;

    // Batches of holds, releases and confirms on top, each one conditional write.
    for batch in 0..BATCHES {
        for i in 0..3u64 {
            let n = batch * 3 + i;
            let seat = 20 + (n % 380) as u32;
            let hold_id = HoldId(Uuid::from_u64_pair(2, n));
            let at = UnixMs(now.0 + n as i64);
            state.decide(&hold(show, hold_id, user(n), &[seat], 600_000), at);
            if n % 2 == 0 {
                state.decide(&release(show, hold_id, user(n)), at);
            } else if n % 3 == 0 {
                state.decide(&confirm(show, hold_id, user(n), new_booking()), at);
            }
        }
        let rows = processors::rows::encode_changes(state.take_dirty()).unwrap();
        assert_eq!(
            store.persist(&write_after(show, seq, rows)).await.unwrap(),
            PersistOutcome::Applied
        );
        seq += 1;
        if batch % 150 == 149 {
            assert_loads_as(&services.cql_nodes, &keyspace, &state, seq).await;
        }
    }
    assert_loads_as(&services.cql_nodes, &keyspace, &state, seq).await;
    let outcome_logs = row_ttls(&session, &keyspace, show.0, OUTCOMES_KIND).await;
    assert_eq!(
        outcome_logs.len() as u64,
        BATCHES,
        "one outcome-log row per batch"
    );
    let ttl = processors::cql::OUTCOME_TTL_S;
    assert!(
        outcome_logs
            .iter()
            .all(|left| left.is_some_and(|s| s > ttl - 600 && s <= ttl)),
        "outcome-log rows expire after the retention: {:?}",
        &outcome_logs[..3]
    );
    assert!(
        row_ttls(&session, &keyspace, show.0, CHANGES_KIND)
            .await
            .is_empty()
    );
    let plain_outcomes = row_ttls(&session, &keyspace, show.0, RowKind::Outcome.code()).await;
    assert_eq!(plain_outcomes.len(), 21, "the earlier form's outcome rows");

    // A day and more later the engine forgets every outcome above: the earlier form's rows are
    // deleted, the outcome-log rows stay until their TTL, and the show loads as the engine has it.
    let later = UnixMs(now.0 + engine::OUTCOME_RETENTION_MS + 60_000);
    let hold_id = HoldId(Uuid::from_u64_pair(4, 0));
    state.decide(
        &hold(show, hold_id, user(1_000_000), &[399], 600_000),
        later,
    );
    let rows = processors::rows::encode_changes(state.take_dirty()).unwrap();
    assert_eq!(
        store.persist(&write_after(show, seq, rows)).await.unwrap(),
        PersistOutcome::Applied
    );
    seq += 1;
    assert_eq!(state.remembered_outcomes(), 1);
    assert!(
        row_ttls(&session, &keyspace, show.0, RowKind::Outcome.code())
            .await
            .is_empty()
    );
    assert_loads_as(&services.cql_nodes, &keyspace, &state, seq).await;
    // Rows of their own stay readable one at a time (holds by id).
    let holds: Vec<Uuid> = state
        .snapshot()
        .iter()
        .map(|row| row.key())
        .filter(|key| key.kind() == RowKind::Hold)
        .map(|key| key.id())
        .collect();
    assert!(holds.len() > 100, "{} holds", holds.len());
    for id in holds.iter().step_by(50) {
        let row = store
            .read_row(show, RowKind::Hold.code(), *id)
            .await
            .unwrap();
        assert!(row.is_some(), "hold {id} not readable by id");
    }
}

/// Loads that span several pages while batches land between the pages: every load restores a
/// state the processor wrote (no rows of two different moments), however often it has to read
/// again.
#[tokio::test]
async fn a_load_across_pages_never_mixes_two_moments() {
    let Some(services) = services("a_load_across_pages_never_mixes_two_moments") else {
        return;
    };
    let topology = topology("torn");
    provision_all(&services, &topology).await;
    let keyspace = topology.cql.keyspace.clone();
    let show = new_show();
    let now = wall_now();
    let user = |n: u64| UserId(Uuid::from_u64_pair(9, n));
    let hold_of = |n: u64| HoldId(Uuid::from_u64_pair(3, n));
    let store = CqlStore::connect(&services.cql_nodes, &keyspace)
        .await
        .unwrap();
    let mut state = ShowState::new(show);
    state.decide(&create(show, 4_000), now);
    let mut seq = 0u64;
    let persist = move |state: &mut ShowState, seq: &mut u64| {
        let rows = processors::rows::encode_changes(state.take_dirty()).unwrap();
        let write = write_after(show, *seq, rows);
        *seq += 1;
        write
    };
    // 4,000 held seats: well over one page (5,000 rows) of seats, holds and outcomes.
    for chunk in 0..40u64 {
        for n in chunk * 100..(chunk + 1) * 100 {
            state.decide(
                &hold(show, hold_of(n), user(n), &[n as u32], 3_600_000),
                now,
            );
        }
        let write = persist(&mut state, &mut seq);
        assert_eq!(
            store.persist(&write).await.unwrap(),
            PersistOutcome::Applied
        );
    }

    // A writer confirms the holds one batch at a time while a reader loads the show again and
    // again.
    let writer = tokio::spawn(async move {
        for n in 0..400u64 {
            state.decide(&confirm(show, hold_of(n), user(n), new_booking()), now);
            let write = persist(&mut state, &mut seq);
            assert_eq!(
                store.persist(&write).await.unwrap(),
                PersistOutcome::Applied
            );
        }
    });
    let reader = CqlStore::connect(&services.cql_nodes, &keyspace)
        .await
        .unwrap();
    let mut loads = 0;
    while !writer.is_finished() {
        match reader.load(show).await {
            Ok(stored) => {
                let stored = stored.expect("stored");
                processors::rows::restore(show, &stored).unwrap_or_else(|e| {
                    panic!("load at {} restores: {e}", stored.fence.applied_seq)
                });
                loads += 1;
            }
            // Every attempt raced a write: an honest "try again", never a mixed state.
            Err(processors::store::StoreError::Unavailable(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    writer.await.unwrap();
    assert!(loads > 0, "no load completed");
}

/// A keyspace made before fences named their partition: provisioning adds the column, a show
/// written then (no partition) is taken by the next write that names one, and from then on a
/// write that expects no partition is refused with the fence that names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fence_from_before_partitions_were_named_is_claimed_by_the_next_write() {
    let Some(services) = services("cql_unnamed_fence") else {
        return;
    };
    let topology = topology("unnamed_fence");
    let ks = &topology.cql.keyspace;
    let session = boxoffice_tests::connect_cql("cql_unnamed_fence")
        .await
        .expect("services are up");
    // The schema as the build before named partitions created it.
    for statement in [
        format!(
            "CREATE KEYSPACE {ks} WITH replication = \
             {{'class': 'NetworkTopologyStrategy', 'replication_factor': 1}}"
        ),
        format!(
            "CREATE TABLE {ks}.show_state (show_id uuid, kind tinyint, id uuid, body blob, \
             applied_seq bigint STATIC, owner_epoch bigint STATIC, version bigint STATIC, \
             PRIMARY KEY ((show_id), kind, id))"
        ),
    ] {
        session.query_unpaged(statement, ()).await.unwrap();
    }
    let show = new_show();
    session
        .query_unpaged(
            format!(
                "UPDATE {ks}.show_state SET applied_seq = 5, owner_epoch = 3, version = 5 \
                 WHERE show_id = ?"
            ),
            (show.0,),
        )
        .await
        .unwrap();
    let report = provision_all(&services, &topology).await;
    assert!(report.contains("added column"), "{report}");
    let store = CqlStore::connect(&services.cql_nodes, ks).await.unwrap();
    let (unnamed, _) = store.read_fence(show).await.unwrap().unwrap();
    assert_eq!((unnamed.applied_seq, unnamed.partition.clone()), (5, None));
    let named = Fence {
        applied_seq: 6,
        owner_epoch: 1,
        partition: Some(processors::topology::PartitionId("hot-a".into())),
    };
    let claim = ShowWrite {
        show_id: show,
        expected: Some(unnamed.clone()),
        next: named.clone(),
        version: 5,
        rows: Vec::new(),
    };
    assert_eq!(
        store.persist(&claim).await.unwrap(),
        PersistOutcome::Applied
    );
    assert_eq!(store.read_fence(show).await.unwrap().unwrap().0, named);
    // The same claim again (a stale writer that read the unnamed fence) is refused.
    assert_eq!(
        store.persist(&claim).await.unwrap(),
        PersistOutcome::NotApplied {
            current: Some(named)
        }
    );
}
