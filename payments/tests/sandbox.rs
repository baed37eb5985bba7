//! The in-process sandbox provider: test payment methods, idempotency, the state machine through
//! the public API, persistence across restarts, and seeded fault injection.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use payments::{
    AuthorizationStatus, AuthorizeRequest, FaultConfig, PM_CARD_DECLINED, PM_CARD_SLOW,
    PM_CARD_VISA, PaymentError, PaymentProvider, SandboxConfig, SandboxProvider,
};

fn request(method: &str, amount_minor: i64) -> AuthorizeRequest {
    AuthorizeRequest {
        amount_minor,
        currency: "INR".into(),
        payment_method_id: method.into(),
        reference: Some("hold-1".into()),
    }
}

#[tokio::test]
async fn each_test_payment_method_behaves_as_the_contract_says() {
    let sandbox = SandboxProvider::in_memory();

    let visa = sandbox
        .authorize("k-visa", &request(PM_CARD_VISA, 1_500))
        .await
        .unwrap();
    assert_eq!(visa.status, AuthorizationStatus::Authorized);
    assert_eq!((visa.amount_minor, visa.currency.as_str()), (1_500, "INR"));
    assert_eq!(visa.reference.as_deref(), Some("hold-1"));

    let declined = sandbox
        .authorize("k-declined", &request(PM_CARD_DECLINED, 1_500))
        .await;
    assert!(
        matches!(declined, Err(PaymentError::Declined { .. })),
        "{declined:?}"
    );
    assert!(!declined.unwrap_err().is_retryable());

    let started = Instant::now();
    let slow = sandbox
        .authorize("k-slow", &request(PM_CARD_SLOW, 1_500))
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(slow.status, AuthorizationStatus::Authorized);

    for method in ["pm_card_amex", "", "PM_CARD_VISA"] {
        let unknown = sandbox
            .authorize(&format!("k-{method}"), &request(method, 1_500))
            .await;
        assert!(
            matches!(unknown, Err(PaymentError::InvalidMethod { .. })),
            "{method}: {unknown:?}"
        );
    }

    // Bad input is refused before anything happens.
    for (bad, field) in [
        (request(PM_CARD_VISA, 0), "amountMinor"),
        (
            AuthorizeRequest {
                currency: "inr".into(),
                ..request(PM_CARD_VISA, 5)
            },
            "currency",
        ),
    ] {
        match sandbox.authorize("k-bad", &bad).await {
            Err(PaymentError::InvalidRequest { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{other:?}"),
        }
    }
    for key in ["", "\n", &"x".repeat(256)] {
        assert!(matches!(
            sandbox.authorize(key, &request(PM_CARD_VISA, 5)).await,
            Err(PaymentError::InvalidRequest { .. })
        ));
    }
    let listed: HashSet<_> = sandbox
        .list_authorized()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.authorization_id)
        .collect();
    assert_eq!(
        listed,
        HashSet::from([visa.authorization_id, slow.authorization_id])
    );
}

#[tokio::test]
async fn every_call_is_idempotent_by_key() {
    let sandbox = SandboxProvider::in_memory();
    let first = sandbox
        .authorize("confirm-1", &request(PM_CARD_VISA, 900))
        .await
        .unwrap();
    let again = sandbox
        .authorize("confirm-1", &request(PM_CARD_VISA, 900))
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(sandbox.list_authorized().await.unwrap().len(), 1);
    // Same key, different request.
    assert_eq!(
        sandbox
            .authorize("confirm-1", &request(PM_CARD_VISA, 901))
            .await,
        Err(PaymentError::KeyReused)
    );
    // A decline is remembered too: the same key never turns into a success.
    let declined = sandbox
        .authorize("confirm-2", &request(PM_CARD_DECLINED, 900))
        .await;
    assert_eq!(
        sandbox
            .authorize("confirm-2", &request(PM_CARD_DECLINED, 900))
            .await,
        declined
    );

    // Keys are scoped per operation: the confirm's key names its capture as well.
    let id = first.authorization_id;
    let captured = sandbox.capture("confirm-1", id).await.unwrap();
    assert_eq!(
        (captured.status, captured.captured_minor),
        (AuthorizationStatus::Captured, 900)
    );
    assert_eq!(sandbox.capture("confirm-1", id).await.unwrap(), captured);
    // A capture under another key of an already captured authorization changes nothing.
    assert_eq!(
        sandbox
            .capture("reconciler-7", id)
            .await
            .unwrap()
            .captured_minor,
        900
    );

    // Refunds: a retried refund is applied once; a different amount under the same key is refused.
    let r1 = sandbox.refund("refund-a", id, 300).await.unwrap();
    assert_eq!(
        (r1.status, r1.refunded_minor),
        (AuthorizationStatus::PartiallyRefunded, 300)
    );
    assert_eq!(sandbox.refund("refund-a", id, 300).await.unwrap(), r1);
    assert_eq!(
        sandbox.refund("refund-a", id, 200).await,
        Err(PaymentError::KeyReused)
    );
    let too_much = sandbox.refund("refund-b", id, 601).await;
    assert!(
        matches!(
            too_much,
            Err(PaymentError::RefundExceedsCaptured {
                refundable_minor: 600,
                ..
            })
        ),
        "{too_much:?}"
    );
    let rest = sandbox.refund("refund-c", id, 600).await.unwrap();
    assert_eq!(
        (rest.status, rest.refunded_minor),
        (AuthorizationStatus::Refunded, 900)
    );
    assert_eq!(sandbox.get(id).await.unwrap(), rest);

    // Concurrent calls with one key have one effect.
    let sandbox = Arc::new(SandboxProvider::in_memory());
    let calls = (0..32).map(|_| {
        let sandbox = Arc::clone(&sandbox);
        tokio::spawn(async move { sandbox.authorize("race", &request(PM_CARD_VISA, 100)).await })
    });
    let ids: HashSet<_> = futures_ids(calls).await;
    assert_eq!(ids.len(), 1);
    assert_eq!(sandbox.list_authorized().await.unwrap().len(), 1);
}

async fn futures_ids(
    calls: impl Iterator<Item = tokio::task::JoinHandle<Result<payments::Authorization, PaymentError>>>,
) -> HashSet<payments::AuthorizationId> {
    let mut ids = HashSet::new();
    for call in calls {
        ids.insert(call.await.unwrap().unwrap().authorization_id);
    }
    ids
}

#[tokio::test]
async fn void_and_capture_exclude_each_other() {
    let sandbox = SandboxProvider::in_memory();
    let a = sandbox
        .authorize("a", &request(PM_CARD_VISA, 100))
        .await
        .unwrap();
    let voided = sandbox.void("a", a.authorization_id).await.unwrap();
    assert_eq!(voided.status, AuthorizationStatus::Voided);
    assert_eq!(
        sandbox
            .void("other", a.authorization_id)
            .await
            .unwrap()
            .status,
        AuthorizationStatus::Voided
    );
    assert!(matches!(
        sandbox.capture("a", a.authorization_id).await,
        Err(PaymentError::InvalidState {
            status: AuthorizationStatus::Voided,
            ..
        })
    ));
    assert!(matches!(
        sandbox.refund("a", a.authorization_id, 1).await,
        Err(PaymentError::InvalidState { .. })
    ));
    assert!(sandbox.list_authorized().await.unwrap().is_empty());

    let b = sandbox
        .authorize("b", &request(PM_CARD_VISA, 100))
        .await
        .unwrap();
    sandbox.capture("b", b.authorization_id).await.unwrap();
    assert!(matches!(
        sandbox.void("b", b.authorization_id).await,
        Err(PaymentError::InvalidState {
            status: AuthorizationStatus::Captured,
            ..
        })
    ));
    let unknown = payments::AuthorizationId(uuid::Uuid::new_v4());
    assert_eq!(
        sandbox.capture("c", unknown).await,
        Err(PaymentError::NotFound {
            authorization_id: unknown
        })
    );
    assert_eq!(
        sandbox.get(unknown).await,
        Err(PaymentError::NotFound {
            authorization_id: unknown
        })
    );
}

#[tokio::test]
async fn persisted_state_and_remembered_keys_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = SandboxConfig {
        data_dir: Some(dir.path().to_owned()),
        ..SandboxConfig::default()
    };
    let (captured, stranded, declined) = {
        let sandbox = SandboxProvider::open(&config).unwrap();
        let a = sandbox
            .authorize("paid", &request(PM_CARD_VISA, 700))
            .await
            .unwrap();
        let captured = sandbox.capture("paid", a.authorization_id).await.unwrap();
        // Authorized, then the process "crashes" before capture or void.
        let stranded = sandbox
            .authorize("crashed", &request(PM_CARD_VISA, 300))
            .await
            .unwrap();
        let declined = sandbox
            .authorize("declined", &request(PM_CARD_DECLINED, 300))
            .await;
        // Group commit under load: many concurrent authorizations, all durable when answered.
        let sandbox = Arc::new(sandbox);
        let calls = (0..100).map(|i| {
            let sandbox = Arc::clone(&sandbox);
            tokio::spawn(async move {
                sandbox
                    .authorize(&format!("bulk-{i}"), &request(PM_CARD_VISA, 10))
                    .await
            })
        });
        assert_eq!(futures_ids(calls).await.len(), 100);
        (captured, stranded, declined)
    };
    let sandbox = SandboxProvider::open(&config).unwrap();
    assert_eq!(
        sandbox.get(captured.authorization_id).await.unwrap(),
        captured
    );
    // Remembered outcomes answer retries after the restart, with no second effect.
    assert_eq!(
        sandbox
            .capture("paid", captured.authorization_id)
            .await
            .unwrap(),
        captured
    );
    assert_eq!(
        sandbox
            .authorize("crashed", &request(PM_CARD_VISA, 300))
            .await
            .unwrap(),
        stranded
    );
    assert_eq!(
        sandbox
            .authorize("declined", &request(PM_CARD_DECLINED, 300))
            .await,
        declined
    );
    // The reconciler's view: authorizations without an outcome.
    let open = sandbox.list_authorized().await.unwrap();
    assert_eq!(open.len(), 101);
    assert!(
        open.iter()
            .any(|a| a.authorization_id == stranded.authorization_id)
    );
    sandbox
        .void("reconcile", stranded.authorization_id)
        .await
        .unwrap();
    assert_eq!(sandbox.list_authorized().await.unwrap().len(), 100);
}

fn faulty(faults: FaultConfig) -> SandboxProvider {
    SandboxProvider::open(&SandboxConfig {
        faults,
        ..SandboxConfig::default()
    })
    .unwrap()
}

#[tokio::test]
async fn injected_faults_are_deterministic_per_seed() {
    async fn outcomes(seed: u64) -> Vec<String> {
        let sandbox = faulty(FaultConfig {
            seed,
            decline_rate: 0.3,
            error_rate: 0.3,
            ..FaultConfig::default()
        });
        let mut out = Vec::new();
        for i in 0..40 {
            let result = sandbox
                .authorize(&format!("k{i}"), &request(PM_CARD_VISA, 10))
                .await;
            out.push(match result {
                Ok(_) => "ok".to_owned(),
                Err(e) => format!("{e}"),
            });
        }
        out
    }
    let a = outcomes(7).await;
    assert_eq!(a, outcomes(7).await);
    assert_ne!(a, outcomes(8).await);
    for kind in [
        "ok",
        "payment declined: insufficient_funds",
        "payment provider unavailable: injected fault: provider error",
    ] {
        assert!(a.iter().any(|o| o == kind), "no {kind:?} in {a:?}");
    }
}

#[tokio::test]
async fn a_5xx_fault_has_no_effect_and_a_timeout_fault_has_its_effect() {
    let down = faulty(FaultConfig {
        error_rate: 1.0,
        ..FaultConfig::default()
    });
    let result = down.authorize("k", &request(PM_CARD_VISA, 10)).await;
    assert!(matches!(&result, Err(e) if e.is_retryable()), "{result:?}");
    assert!(down.list_authorized().await.unwrap().is_empty());

    let lost = faulty(FaultConfig {
        timeout_rate: 1.0,
        timeout_ms: 50,
        ..FaultConfig::default()
    });
    let started = Instant::now();
    assert_eq!(
        lost.authorize("k", &request(PM_CARD_VISA, 10)).await,
        Err(PaymentError::Timeout)
    );
    assert!(started.elapsed() >= Duration::from_millis(50));
    // The authorization happened although the answer was lost: only a retry with the same key can
    // learn about it, and the reconciler sees it.
    assert_eq!(lost.list_authorized().await.unwrap().len(), 1);

    let all_declined = faulty(FaultConfig {
        decline_rate: 1.0,
        ..FaultConfig::default()
    });
    assert!(matches!(
        all_declined
            .authorize("k", &request(PM_CARD_VISA, 10))
            .await,
        Err(PaymentError::Declined { .. })
    ));

    let slow = faulty(FaultConfig {
        added_latency_ms: 100,
        ..FaultConfig::default()
    });
    let started = Instant::now();
    slow.authorize("k", &request(PM_CARD_VISA, 10))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(100));

    let bad = SandboxProvider::open(&SandboxConfig {
        faults: FaultConfig {
            error_rate: 1.5,
            ..FaultConfig::default()
        },
        ..SandboxConfig::default()
    });
    assert!(bad.is_err());
}
