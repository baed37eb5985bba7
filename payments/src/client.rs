//! [`HttpPaymentProvider`]: the [`PaymentProvider`] the ingress uses in serve mode, talking to the
//! sandbox service (`BOXOFFICE_PAYMENTS_URL`). Each attempt has a timeout; timeouts, connection
//! failures and 5xx answers are retried with backoff, which is safe because every changing call
//! carries its idempotency key: a retry of a call that did take effect returns its first outcome.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::PaymentProvider;
use crate::model::{Authorization, AuthorizationId, AuthorizeRequest, PaymentError, RefundRequest};
use crate::sandbox_server::IDEMPOTENCY_KEY;

/// How the client talks to the service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// Base URL, for example `http://127.0.0.1:8090`.
    pub base_url: String,
    /// Timeout of one attempt; must exceed the slowest method (`pm_card_slow`: 2 s).
    pub attempt_timeout: Duration,
    /// Attempts per call, at least 1.
    pub attempts_max: u32,
    /// Wait before the first retry; doubles after each.
    pub backoff_initial: Duration,
}

impl ClientConfig {
    /// Defaults for `base_url`: 5 s per attempt, 3 attempts, 100 ms initial backoff.
    pub fn new(base_url: impl Into<String>) -> ClientConfig {
        ClientConfig {
            base_url: base_url.into(),
            attempt_timeout: Duration::from_secs(5),
            attempts_max: 3,
            backoff_initial: Duration::from_millis(100),
        }
    }
}

/// A payment provider reached over HTTP.
#[derive(Clone, Debug)]
pub struct HttpPaymentProvider {
    http: reqwest::Client,
    config: ClientConfig,
}

impl HttpPaymentProvider {
    /// A client per `config`.
    pub fn new(config: ClientConfig) -> Result<HttpPaymentProvider, PaymentError> {
        let http = reqwest::Client::builder()
            .timeout(config.attempt_timeout)
            .connect_timeout(config.attempt_timeout.min(Duration::from_secs(2)))
            .build()
            .map_err(|e| PaymentError::Unavailable {
                message: format!("http client: {e}"),
            })?;
        let mut config = config;
        config.base_url = config.base_url.trim_end_matches('/').to_owned();
        config.attempts_max = config.attempts_max.max(1);
        Ok(HttpPaymentProvider { http, config })
    }

    /// Every authorization the service holds, whatever its status, oldest first (the sandbox's
    /// `GET /v1/authorizations`): a run's money read back whole, captures nobody booked included.
    pub async fn list_all(&self) -> Result<Vec<Authorization>, PaymentError> {
        self.call(Method::GET, "/v1/authorizations", None, None)
            .await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> Result<T, PaymentError> {
        if let Some(key) = key {
            crate::check_key(key)?;
        }
        let url = format!("{}{path}", self.config.base_url);
        let mut backoff = self.config.backoff_initial;
        let mut attempt = 1;
        loop {
            let mut request = self.http.request(method.clone(), &url);
            if let Some(key) = key {
                request = request.header(IDEMPOTENCY_KEY, key);
            }
            if let Some(body) = &body {
                request = request.json(body);
            }
            let outcome = match request.send().await {
                Ok(response) => decode(response).await,
                Err(e) if e.is_timeout() => Err(PaymentError::Timeout),
                Err(e) => Err(PaymentError::Unavailable {
                    message: e.to_string(),
                }),
            };
            match outcome {
                Err(e) if e.is_retryable() && attempt < self.config.attempts_max => {
                    tracing::debug!(error = %e, attempt, %url, "payment call failed; retrying with the same key");
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

async fn decode<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, PaymentError> {
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| {
        if e.is_timeout() {
            PaymentError::Timeout
        } else {
            PaymentError::Unavailable {
                message: e.to_string(),
            }
        }
    })?;
    if status.is_success() {
        return serde_json::from_slice(&bytes).map_err(|e| PaymentError::Unavailable {
            message: format!("unreadable answer: {e}"),
        });
    }
    // The service sends the error's own fields; anything else (a proxy's 502 page) is a 5xx.
    match serde_json::from_slice::<PaymentError>(&bytes) {
        Ok(e) => Err(e),
        Err(_) if status == StatusCode::GATEWAY_TIMEOUT => Err(PaymentError::Timeout),
        Err(_) => Err(PaymentError::Unavailable {
            message: format!("HTTP {status}"),
        }),
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, PaymentError> {
    serde_json::to_value(value).map_err(|e| PaymentError::InvalidRequest {
        field: "body".into(),
        reason: e.to_string(),
    })
}

#[async_trait]
impl PaymentProvider for HttpPaymentProvider {
    async fn authorize(
        &self,
        key: &str,
        request: &AuthorizeRequest,
    ) -> Result<Authorization, PaymentError> {
        self.call(
            Method::POST,
            "/v1/authorizations",
            Some(key),
            Some(json(request)?),
        )
        .await
    }

    async fn capture(
        &self,
        key: &str,
        authorization_id: AuthorizationId,
    ) -> Result<Authorization, PaymentError> {
        let path = format!("/v1/authorizations/{authorization_id}/capture");
        self.call(Method::POST, &path, Some(key), None).await
    }

    async fn void(
        &self,
        key: &str,
        authorization_id: AuthorizationId,
    ) -> Result<Authorization, PaymentError> {
        let path = format!("/v1/authorizations/{authorization_id}/void");
        self.call(Method::POST, &path, Some(key), None).await
    }

    async fn refund(
        &self,
        key: &str,
        authorization_id: AuthorizationId,
        amount_minor: i64,
    ) -> Result<Authorization, PaymentError> {
        let path = format!("/v1/authorizations/{authorization_id}/refunds");
        let body = json(&RefundRequest { amount_minor })?;
        self.call(Method::POST, &path, Some(key), Some(body)).await
    }

    async fn get(&self, authorization_id: AuthorizationId) -> Result<Authorization, PaymentError> {
        let path = format!("/v1/authorizations/{authorization_id}");
        self.call(Method::GET, &path, None, None).await
    }

    async fn list_authorized(&self) -> Result<Vec<Authorization>, PaymentError> {
        self.call(
            Method::GET,
            "/v1/authorizations?status=AUTHORIZED",
            None,
            None,
        )
        .await
    }
}
