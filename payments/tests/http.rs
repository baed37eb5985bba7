//! The sandbox HTTP service and its client end to end over real TCP on loopback.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use payments::sandbox_server;
use payments::{
    AuthorizationId, AuthorizationStatus, AuthorizeRequest, ClientConfig, FaultConfig,
    HttpPaymentProvider, PM_CARD_DECLINED, PM_CARD_VISA, PaymentError, PaymentProvider,
    SandboxConfig, SandboxProvider,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A running service; stopping it (or dropping the guard) shuts it down.
struct Service {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Service {
    async fn start(config: SandboxConfig) -> Service {
        let provider = SandboxProvider::open(&config).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            sandbox_server::serve(listener, provider, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Service {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn client(&self) -> HttpPaymentProvider {
        HttpPaymentProvider::new(ClientConfig::new(self.url())).unwrap()
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

fn request(method: &str, amount_minor: i64) -> AuthorizeRequest {
    AuthorizeRequest {
        amount_minor,
        currency: "GBP".into(),
        payment_method_id: method.into(),
        reference: None,
    }
}

#[tokio::test]
async fn the_client_drives_the_whole_state_machine_over_http() {
    let service = Service::start(SandboxConfig::default()).await;
    let client = service.client();

    let a = client
        .authorize("hold-1", &request(PM_CARD_VISA, 4_200))
        .await
        .unwrap();
    assert_eq!(a.status, AuthorizationStatus::Authorized);
    assert_eq!(
        client
            .authorize("hold-1", &request(PM_CARD_VISA, 4_200))
            .await
            .unwrap(),
        a
    );
    assert_eq!(client.list_authorized().await.unwrap(), vec![a.clone()]);
    let captured = client.capture("hold-1", a.authorization_id).await.unwrap();
    assert_eq!(captured.status, AuthorizationStatus::Captured);
    let refunded = client
        .refund("cancel-1", a.authorization_id, 2_100)
        .await
        .unwrap();
    assert_eq!(
        (refunded.status, refunded.refunded_minor),
        (AuthorizationStatus::PartiallyRefunded, 2_100)
    );
    assert_eq!(client.get(a.authorization_id).await.unwrap(), refunded);
    assert!(client.list_authorized().await.unwrap().is_empty());

    let b = client
        .authorize("hold-2", &request(PM_CARD_VISA, 100))
        .await
        .unwrap();
    assert_eq!(
        client
            .void("hold-2", b.authorization_id)
            .await
            .unwrap()
            .status,
        AuthorizationStatus::Voided
    );

    // Errors arrive as the exact error values.
    assert!(matches!(
        client
            .authorize("hold-3", &request(PM_CARD_DECLINED, 100))
            .await,
        Err(PaymentError::Declined { .. })
    ));
    assert_eq!(
        client
            .authorize("hold-4", &request("pm_card_bogus", 100))
            .await,
        Err(PaymentError::InvalidMethod {
            payment_method_id: "pm_card_bogus".into()
        })
    );
    assert_eq!(
        client.authorize("hold-1", &request(PM_CARD_VISA, 1)).await,
        Err(PaymentError::KeyReused)
    );
    assert!(matches!(
        client.capture("x", b.authorization_id).await,
        Err(PaymentError::InvalidState {
            status: AuthorizationStatus::Voided,
            ..
        })
    ));
    assert!(matches!(
        client.refund("cancel-2", a.authorization_id, 99_999).await,
        Err(PaymentError::RefundExceedsCaptured {
            refundable_minor: 2_100,
            ..
        })
    ));
    let unknown = AuthorizationId(uuid::Uuid::new_v4());
    assert_eq!(
        client.get(unknown).await,
        Err(PaymentError::NotFound {
            authorization_id: unknown
        })
    );
    assert!(matches!(
        client.authorize("hold-5", &request(PM_CARD_VISA, -5)).await,
        Err(PaymentError::InvalidRequest { .. })
    ));
    service.stop().await;
}

#[tokio::test]
async fn every_authorization_is_listed_whatever_its_status() {
    let service = Service::start(SandboxConfig::default()).await;
    let client = service.client();
    let captured = client
        .authorize("a-1", &request(PM_CARD_VISA, 300))
        .await
        .unwrap();
    client
        .capture("a-1", captured.authorization_id)
        .await
        .unwrap();
    let voided = client
        .authorize("a-2", &request(PM_CARD_VISA, 200))
        .await
        .unwrap();
    client.void("a-2", voided.authorization_id).await.unwrap();
    let open = client
        .authorize("a-3", &request(PM_CARD_VISA, 100))
        .await
        .unwrap();

    let all: HashSet<_> = client
        .list_all()
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.authorization_id, a.status, a.captured_minor))
        .collect();
    assert_eq!(
        all,
        HashSet::from([
            (
                captured.authorization_id,
                AuthorizationStatus::Captured,
                300
            ),
            (voided.authorization_id, AuthorizationStatus::Voided, 0),
            (open.authorization_id, AuthorizationStatus::Authorized, 0),
        ])
    );
    assert_eq!(client.list_authorized().await.unwrap(), vec![open]);

    let http = reqwest::Client::new();
    let url = service.url();
    let only_voided: Vec<payments::Authorization> = http
        .get(format!("{url}/v1/authorizations?status=VOIDED"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        only_voided
            .iter()
            .map(|a| a.authorization_id)
            .collect::<Vec<_>>(),
        vec![voided.authorization_id]
    );
    let unknown = http
        .get(format!("{url}/v1/authorizations?status=LOST"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
    let body: serde_json::Value = unknown.json().await.unwrap();
    assert_eq!(body["field"], "status");
    service.stop().await;
}

#[tokio::test]
async fn raw_http_errors_are_problem_json() {
    let service = Service::start(SandboxConfig::default()).await;
    let http = reqwest::Client::new();
    let url = service.url();

    let no_key = http
        .post(format!("{url}/v1/authorizations"))
        .json(&request(PM_CARD_VISA, 100))
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), 400);
    assert_eq!(no_key.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = no_key.json().await.unwrap();
    assert_eq!(body["code"], "invalid-request");
    assert_eq!(body["field"], "Idempotency-Key");
    assert_eq!(body["status"], 400);

    let bad_json = http
        .post(format!("{url}/v1/authorizations"))
        .header("Idempotency-Key", "k")
        .header("content-type", "application/json")
        .body("{\"amountMinor\": \"ten\"")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_json.status(), 400);

    let declined = http
        .post(format!("{url}/v1/authorizations"))
        .header("Idempotency-Key", "k2")
        .json(&request(PM_CARD_DECLINED, 100))
        .send()
        .await
        .unwrap();
    assert_eq!(declined.status(), 402);
    let body: serde_json::Value = declined.json().await.unwrap();
    assert_eq!(body["code"], "declined");

    let bad_id = http
        .get(format!("{url}/v1/authorizations/not-a-uuid"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_id.status(), 400);
    let unknown_route = http.get(format!("{url}/v2/nothing")).send().await.unwrap();
    assert_eq!(unknown_route.status(), 404);
    let health = http.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    service.stop().await;
}

#[tokio::test]
async fn retries_through_5xx_and_lost_answers_have_exactly_one_effect() {
    // Half of all calls fail before doing anything, a quarter do their work but answer too late
    // for the client's 300 ms attempt timeout.
    let faults = FaultConfig {
        seed: 42,
        error_rate: 0.5,
        timeout_rate: 0.25,
        timeout_ms: 1_000,
        ..FaultConfig::default()
    };
    let service = Service::start(SandboxConfig {
        faults,
        ..SandboxConfig::default()
    })
    .await;
    let client = HttpPaymentProvider::new(ClientConfig {
        base_url: service.url(),
        attempt_timeout: Duration::from_millis(300),
        attempts_max: 30,
        backoff_initial: Duration::from_millis(5),
    })
    .unwrap();

    let mut ids = HashSet::new();
    for i in 0..20 {
        let key = format!("confirm-{i}");
        let a = client
            .authorize(&key, &request(PM_CARD_VISA, 500))
            .await
            .unwrap();
        let captured = client.capture(&key, a.authorization_id).await.unwrap();
        assert_eq!(captured.status, AuthorizationStatus::Captured);
        ids.insert(a.authorization_id);
    }
    assert_eq!(ids.len(), 20);
    // However many attempts were made, each key authorized once and nothing is left open.
    let sandbox_view = HttpPaymentProvider::new(ClientConfig {
        attempts_max: 50,
        ..ClientConfig::new(service.url())
    })
    .unwrap();
    assert!(sandbox_view.list_authorized().await.unwrap().is_empty());

    // With retries exhausted the caller learns the call is retryable, not a false answer.
    let impatient = HttpPaymentProvider::new(ClientConfig {
        base_url: service.url(),
        attempt_timeout: Duration::from_millis(300),
        attempts_max: 1,
        backoff_initial: Duration::from_millis(1),
    })
    .unwrap();
    let mut saw_retryable = false;
    for i in 0..20 {
        if let Err(e) = impatient
            .authorize(&format!("once-{i}"), &request(PM_CARD_VISA, 1))
            .await
        {
            assert!(e.is_retryable(), "{e:?}");
            saw_retryable = true;
        }
    }
    assert!(saw_retryable);
    service.stop().await;
}

#[tokio::test]
async fn an_unreachable_service_is_retryable_unavailability() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = HttpPaymentProvider::new(ClientConfig {
        base_url: format!("http://{addr}"),
        attempt_timeout: Duration::from_millis(500),
        attempts_max: 2,
        backoff_initial: Duration::from_millis(1),
    })
    .unwrap();
    let result = client.authorize("k", &request(PM_CARD_VISA, 1)).await;
    assert!(
        matches!(&result, Err(PaymentError::Unavailable { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn the_service_keeps_its_state_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let config = SandboxConfig {
        data_dir: Some(dir.path().to_owned()),
        ..SandboxConfig::default()
    };
    let service = Service::start(config.clone()).await;
    let a = service
        .client()
        .authorize("k", &request(PM_CARD_VISA, 10))
        .await
        .unwrap();
    service.stop().await;
    let service = Service::start(config).await;
    let client = service.client();
    assert_eq!(client.get(a.authorization_id).await.unwrap(), a);
    assert_eq!(client.list_authorized().await.unwrap(), vec![a.clone()]);
    assert_eq!(
        client
            .authorize("k", &request(PM_CARD_VISA, 10))
            .await
            .unwrap(),
        a
    );
    service.stop().await;
}
