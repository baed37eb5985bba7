//! The HTTP side of the campaign: requests to the two ingresses as a real client behind a load
//! balancer makes them (a failed attempt goes to the other ingress with the same
//! `Idempotency-Key`), every attempt counted for availability.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use history::Ms;
use ingress::auth::{Claims, TokenKeys};
use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

/// Attempts of one operation before its outcome is left unknown: a real client gives up too.
pub const ATTEMPTS: usize = 4;

/// Milliseconds since the Unix epoch: the one clock of invoke and complete times, the same the
/// servers use for `expiresAt` (all processes share this machine's clock).
pub fn now_ms() -> Ms {
    chrono::Utc::now().timestamp_millis()
}

/// An answer to one attempt.
#[derive(Clone, Debug)]
pub enum Answer {
    /// The server answered with this status and body (`Null` when empty or not JSON).
    Status(u16, Value),
    /// No answer: refused, reset or timed out.
    Transport,
}

impl Answer {
    /// Worth another attempt with the same key: the outcome is not known.
    pub fn unknown(&self) -> bool {
        match self {
            Answer::Status(status, _) => *status >= 500 || *status == 429,
            Answer::Transport => true,
        }
    }

    /// The problem document's `code`, for rejections.
    pub fn code(&self) -> String {
        match self {
            Answer::Status(status, body) => body["code"]
                .as_str()
                .map_or_else(|| format!("status-{status}"), str::to_owned),
            Answer::Transport => "transport".into(),
        }
    }
}

/// One attempt, for the availability figures.
#[derive(Clone, Copy, Debug)]
pub struct Attempt {
    /// When it was answered (or given up on).
    pub at: Ms,
    /// Answered without a 5xx or a transport error.
    pub ok: bool,
    /// A hold: its answer needs the whole write path (ingress, NATS, a processor, Cassandra).
    pub hold: bool,
}

/// The ingresses and the keys to sign tokens with.
pub struct Api {
    http: reqwest::Client,
    bases: Vec<String>,
    keys: TokenKeys,
    attempts: Mutex<Vec<Attempt>>,
}

impl Api {
    /// Clients of `bases` (the ingresses' `http://host:port`), signing tokens with `secret`.
    pub fn new(bases: Vec<String>, secret: &str) -> Arc<Api> {
        let http = reqwest::Client::builder()
            // Longer than the ingress's own request timeout (10 s): its 503 is the answer.
            .timeout(Duration::from_secs(12))
            .connect_timeout(Duration::from_secs(2))
            .build()
            .expect("a reqwest client");
        Arc::new(Api {
            http,
            bases,
            keys: TokenKeys::new(secret.as_bytes()),
            attempts: Mutex::new(Vec::new()),
        })
    }

    /// Ingress `i`'s base URL (counted round the ingresses).
    pub fn base(&self, i: usize) -> &str {
        &self.bases[i % self.bases.len()]
    }

    /// How many ingresses there are.
    pub fn ingresses(&self) -> usize {
        self.bases.len()
    }

    /// The reqwest client, for reads outside the workload.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A token for `user` with `roles`, valid for a day.
    pub fn token(&self, user: Uuid, roles: &[&str]) -> String {
        self.keys.sign(&Claims {
            sub: user.to_string(),
            exp: now_ms() / 1000 + 86_400,
            roles: roles.iter().map(|r| r.to_string()).collect(),
            iat: None,
        })
    }

    /// Every attempt so far.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.attempts.lock().expect("attempts").clone()
    }

    /// One attempt at ingress `via`.
    pub async fn once(
        &self,
        via: usize,
        method: Method,
        path: &str,
        token: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> Answer {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base(via)))
            .bearer_auth(token);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let answer = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response
                    .bytes()
                    .await
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .unwrap_or(Value::Null);
                Answer::Status(status, body)
            }
            Err(_) => Answer::Transport,
        };
        let ok = matches!(answer, Answer::Status(s, _) if s < 500);
        self.attempts.lock().expect("attempts").push(Attempt {
            at: now_ms(),
            ok,
            hold: path == "/v1/bookings/hold",
        });
        answer
    }

    /// Up to [`ATTEMPTS`] attempts with the same key, starting at ingress `via` and moving to the
    /// next after each unknown outcome, with a growing pause; the last answer.
    pub async fn call(
        &self,
        via: usize,
        method: Method,
        path: &str,
        token: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> Answer {
        let mut answer = Answer::Transport;
        for attempt in 0..ATTEMPTS {
            answer = self
                .once(via + attempt, method.clone(), path, token, key, body)
                .await;
            if !answer.unknown() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300 * (attempt as u64 + 1))).await;
        }
        answer
    }
}
