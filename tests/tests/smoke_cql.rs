//! Smoke test of the real CQL database (Cassandra 5 locally, ScyllaDB in production): lightweight
//! transactions the way the processors use them. Needs `scripts/services up` (see `boxoffice_tests`).

use boxoffice_tests::{connect_cql, lwt_applied, unique_name};
use scylla::client::session::Session;
use scylla::statement::batch::{Batch, BatchType};
use uuid::Uuid;

/// A keyspace of its own (RF 1: one local node) holding the show table of `docs/design.md`.
async fn fresh_keyspace(session: &Session) -> String {
    let keyspace = unique_name("t");
    let ddl = [
        format!(
            "CREATE KEYSPACE {keyspace} WITH replication = \
             {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
        ),
        format!(
            "CREATE TABLE {keyspace}.show_state (
                show_id uuid, kind tinyint, id uuid, body blob,
                applied_seq bigint STATIC, owner_epoch bigint STATIC,
                PRIMARY KEY ((show_id), kind, id))"
        ),
    ];
    for statement in ddl {
        session
            .query_unpaged(statement.as_str(), &[])
            .await
            .unwrap_or_else(|err| panic!("{statement}: {err}"));
    }
    session
        .await_schema_agreement()
        .await
        .expect("schema agreement");
    keyspace
}

async fn drop_keyspace(session: &Session, keyspace: &str) {
    session
        .query_unpaged(format!("DROP KEYSPACE IF EXISTS {keyspace}"), &[])
        .await
        .expect("drop keyspace");
}

async fn applied_seq(session: &Session, keyspace: &str, show: Uuid) -> Option<i64> {
    let result = session
        .query_unpaged(
            format!("SELECT applied_seq FROM {keyspace}.show_state WHERE show_id = ? LIMIT 1"),
            (show,),
        )
        .await
        .expect("read applied_seq")
        .into_rows_result()
        .expect("rows");
    result
        .maybe_first_row::<(Option<i64>,)>()
        .expect("applied_seq row")
        .and_then(|(seq,)| seq)
}

async fn seat_count(session: &Session, keyspace: &str, show: Uuid) -> usize {
    session
        .query_unpaged(
            format!("SELECT id FROM {keyspace}.show_state WHERE show_id = ? AND kind = 0"),
            (show,),
        )
        .await
        .expect("read seats")
        .into_rows_result()
        .expect("rows")
        .rows_num()
}

#[tokio::test]
async fn server_reports_its_version() {
    let Some(session) = connect_cql("server_reports_its_version").await else {
        return;
    };
    let result = session
        .query_unpaged("SELECT release_version FROM system.local", &[])
        .await
        .expect("query system.local")
        .into_rows_result()
        .expect("rows");
    let (version,) = result.first_row::<(String,)>().expect("release_version");
    assert!(!version.is_empty());
    println!("CQL release_version {version}");
}

#[tokio::test]
async fn insert_if_not_exists_applies_once() {
    let Some(session) = connect_cql("insert_if_not_exists_applies_once").await else {
        return;
    };
    let keyspace = fresh_keyspace(&session).await;
    let insert = session
        .prepare(format!(
            "INSERT INTO {keyspace}.show_state (show_id, kind, id, body) VALUES (?, ?, ?, ?) IF NOT EXISTS"
        ))
        .await
        .expect("prepare insert");
    let (show, seat) = (Uuid::new_v4(), Uuid::new_v4());

    let mut outcomes = Vec::new();
    for body in [b"first".to_vec(), b"second".to_vec()] {
        let result = session
            .execute_unpaged(&insert, (show, 0_i8, seat, body))
            .await
            .expect("insert if not exists");
        outcomes.push(lwt_applied(
            &result.into_rows_result().expect("LWT result has rows"),
        ));
    }
    assert_eq!(outcomes, vec![true, false], "applied, then not applied");
    assert_eq!(seat_count(&session, &keyspace, show).await, 1);

    drop_keyspace(&session, &keyspace).await;
}

#[tokio::test]
async fn conditional_batch_applies_then_rejects_a_stale_condition() {
    let Some(session) =
        connect_cql("conditional_batch_applies_then_rejects_a_stale_condition").await
    else {
        return;
    };
    let keyspace = fresh_keyspace(&session).await;
    let show = Uuid::new_v4();
    session
        .query_unpaged(
            format!("UPDATE {keyspace}.show_state SET applied_seq = 0, owner_epoch = 1 WHERE show_id = ?"),
            (show,),
        )
        .await
        .expect("initialise the show's static columns");

    // The processors' write: fence on the static columns, move applied_seq, upsert changed rows.
    // Everything stays inside ONE partition of ONE table, as both Cassandra and ScyllaDB require.
    let fence = session
        .prepare(format!(
            "UPDATE {keyspace}.show_state SET applied_seq = ? WHERE show_id = ? \
             IF applied_seq = ? AND owner_epoch = ?"
        ))
        .await
        .expect("prepare fence");
    let upsert = session
        .prepare(format!(
            "INSERT INTO {keyspace}.show_state (show_id, kind, id, body) VALUES (?, 0, ?, ?)"
        ))
        .await
        .expect("prepare upsert");
    let mut batch = Batch::new(BatchType::Logged);
    batch.append_statement(fence);
    batch.append_statement(upsert);

    let run = |expected_seq: i64, new_seq: i64, epoch: i64, seat: Uuid| {
        let (session, batch) = (&session, &batch);
        async move {
            let result = session
                .batch(
                    batch,
                    (
                        (new_seq, show, expected_seq, epoch),
                        (show, seat, b"held".to_vec()),
                    ),
                )
                .await
                .expect("conditional batch");
            lwt_applied(&result.into_rows_result().expect("LWT result has rows"))
        }
    };

    assert!(
        run(0, 5, 1, Uuid::new_v4()).await,
        "fresh condition applies"
    );
    assert_eq!(applied_seq(&session, &keyspace, show).await, Some(5));
    assert_eq!(seat_count(&session, &keyspace, show).await, 1);

    assert!(
        !run(0, 9, 1, Uuid::new_v4()).await,
        "stale applied_seq must not apply"
    );
    assert!(
        !run(5, 9, 0, Uuid::new_v4()).await,
        "stale owner_epoch must not apply"
    );
    assert_eq!(
        applied_seq(&session, &keyspace, show).await,
        Some(5),
        "unchanged"
    );
    assert_eq!(
        seat_count(&session, &keyspace, show).await,
        1,
        "no row of a rejected batch lands"
    );

    drop_keyspace(&session, &keyspace).await;
}
