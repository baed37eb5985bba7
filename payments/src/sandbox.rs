//! The bundled sandbox provider: a Stripe-like authorization state machine with the contract's test
//! payment methods, idempotent by key, optionally durable under a directory, with seeded fault
//! injection for resilience tests.
//!
//! Every changing call runs: faults before (latency, 5xx) -> remembered outcome for the key? answer
//! it -> decide and apply in memory under one lock -> queue for the journal -> wait until durable ->
//! faults after (a timeout after the effect, like a real lost response) -> answer.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

use crate::journal::{Change, Journal, KeyRecord};
use crate::model::{
    Authorization, AuthorizationId, AuthorizationStatus, AuthorizeRequest, PaymentError,
};
use crate::{PM_CARD_DECLINED, PM_CARD_SLOW, PM_CARD_VISA, PaymentProvider, check_key};

/// Injected faults, drawn from a generator seeded with `seed` so a failing run replays. Rates are
/// probabilities in 0.0..=1.0 per call; all zero (the default) means no faults.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultConfig {
    /// Seed of the fault generator.
    pub seed: u64,
    /// Share of `pm_card_visa` authorizations declined (`insufficient_funds`).
    pub decline_rate: f64,
    /// Share of calls failing with `Unavailable` before doing anything (a 5xx).
    pub error_rate: f64,
    /// Share of calls that take effect but then answer nothing for `timeout_ms` and fail with
    /// `Timeout` (a lost response: the caller must retry with the same key to learn the outcome).
    pub timeout_rate: f64,
    /// How long a timed-out call hangs before failing.
    pub timeout_ms: u64,
    /// Latency added to every call.
    pub added_latency_ms: u64,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            seed: 0,
            decline_rate: 0.0,
            error_rate: 0.0,
            timeout_rate: 0.0,
            timeout_ms: 10_000,
            added_latency_ms: 0,
        }
    }
}

impl FaultConfig {
    /// Checks the rates are probabilities.
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("decline_rate", self.decline_rate),
            ("error_rate", self.error_rate),
            ("timeout_rate", self.timeout_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1, got {rate}"));
            }
        }
        Ok(())
    }
}

/// How to run the sandbox.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SandboxConfig {
    /// Directory for `payments.redb`; `None` keeps everything in memory (lost at exit).
    pub data_dir: Option<PathBuf>,
    /// Fault injection.
    pub faults: FaultConfig,
    /// How long `pm_card_slow` takes (the contract says 2 s; `None` means that).
    pub slow_method_delay: Option<Duration>,
}

/// The contract's delay of `pm_card_slow`.
pub const SLOW_METHOD_DELAY: Duration = Duration::from_secs(2);

#[derive(Default)]
struct State {
    authorizations: HashMap<AuthorizationId, Authorization>,
    keys: HashMap<String, (u64, KeyRecord)>,
    seq: u64,
}

/// What the sandbox does to one authorization.
#[derive(Clone, Copy, Debug)]
enum Operation {
    Capture,
    Void,
    Refund(i64),
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Operation::Capture => "capture",
            Operation::Void => "void",
            Operation::Refund(_) => "refund",
        }
    }
}

/// The in-process sandbox provider. Cheap to clone (shared state).
#[derive(Clone)]
pub struct SandboxProvider {
    state: Arc<Mutex<State>>,
    journal: Option<Arc<Journal>>,
    faults: Arc<FaultConfig>,
    rng: Arc<Mutex<ChaCha8Rng>>,
    slow_delay: Duration,
}

impl std::fmt::Debug for SandboxProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxProvider").finish_non_exhaustive()
    }
}

impl SandboxProvider {
    /// A sandbox that keeps its state in memory only, without faults.
    pub fn in_memory() -> SandboxProvider {
        SandboxProvider::build(State::default(), None, &SandboxConfig::default())
    }

    /// Opens a sandbox per `config`, loading persisted state when `data_dir` is set. Must run
    /// inside a tokio runtime (the journal's writer is a task).
    pub fn open(config: &SandboxConfig) -> Result<SandboxProvider, PaymentError> {
        config
            .faults
            .validate()
            .map_err(|reason| PaymentError::InvalidRequest {
                field: "faults".into(),
                reason,
            })?;
        let Some(dir) = &config.data_dir else {
            return Ok(SandboxProvider::build(State::default(), None, config));
        };
        let (journal, loaded) = Journal::open(dir)?;
        let state = State {
            authorizations: loaded.authorizations,
            keys: loaded
                .keys
                .into_iter()
                .map(|(k, record)| (k, (0, record)))
                .collect(),
            seq: 0,
        };
        Ok(SandboxProvider::build(state, Some(journal), config))
    }

    fn build(state: State, journal: Option<Arc<Journal>>, config: &SandboxConfig) -> Self {
        SandboxProvider {
            state: Arc::new(Mutex::new(state)),
            journal,
            rng: Arc::new(Mutex::new(ChaCha8Rng::seed_from_u64(config.faults.seed))),
            faults: Arc::new(config.faults.clone()),
            slow_delay: config.slow_method_delay.unwrap_or(SLOW_METHOD_DELAY),
        }
    }

    /// Every authorization with `status` (all of them with `None`), oldest first: what a check
    /// of "money moved <=> a booking" reads, as it must also see the captures nobody booked.
    pub fn list(&self, status: Option<AuthorizationStatus>) -> Vec<Authorization> {
        let mut found: Vec<Authorization> = self
            .lock()
            .authorizations
            .values()
            .filter(|a| status.is_none_or(|s| a.status == s))
            .cloned()
            .collect();
        found.sort_by_key(|a| (a.created_at, a.authorization_id));
        found
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every mutation is a few map inserts done after all checks: a panic cannot leave a
        // half-applied change, so the state stays usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn draw(&self, rate: f64) -> bool {
        if rate <= 0.0 {
            return false;
        }
        let mut rng = self
            .rng
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        rng.random::<f64>() < rate
    }

    /// Faults that strike before a call does anything: latency, then a 5xx.
    async fn faults_before(&self) -> Result<(), PaymentError> {
        if self.faults.added_latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.faults.added_latency_ms)).await;
        }
        if self.draw(self.faults.error_rate) {
            return Err(PaymentError::Unavailable {
                message: "injected fault: provider error".into(),
            });
        }
        Ok(())
    }

    /// Faults that strike after the effect: the answer is lost.
    async fn faults_after<T>(&self, outcome: Result<T, PaymentError>) -> Result<T, PaymentError> {
        if self.draw(self.faults.timeout_rate) {
            tokio::time::sleep(Duration::from_millis(self.faults.timeout_ms)).await;
            return Err(PaymentError::Timeout);
        }
        outcome
    }

    /// The remembered outcome of `scoped_key`, if any, once it is durable.
    async fn remembered(
        &self,
        scoped_key: &str,
        fingerprint: &str,
    ) -> Result<Option<Result<Authorization, PaymentError>>, PaymentError> {
        let found = self.lock().keys.get(scoped_key).cloned();
        let Some((seq, record)) = found else {
            return Ok(None);
        };
        if record.fingerprint != fingerprint {
            return Err(PaymentError::KeyReused);
        }
        self.durable(seq).await?;
        Ok(Some(record.outcome))
    }

    async fn durable(&self, seq: u64) -> Result<(), PaymentError> {
        match &self.journal {
            Some(journal) => journal.wait_durable(seq).await,
            None => Ok(()),
        }
    }

    /// Records an outcome for a key (and the authorization it changed) unless another call with
    /// the same key recorded first; returns the outcome that stands and its sequence number.
    fn record(
        &self,
        state: &mut State,
        scoped_key: String,
        fingerprint: String,
        outcome: Result<Authorization, PaymentError>,
    ) -> (u64, Result<Authorization, PaymentError>) {
        state.seq += 1;
        let seq = state.seq;
        let mut changes = Vec::with_capacity(2);
        if let Ok(a) = &outcome {
            state.authorizations.insert(a.authorization_id, a.clone());
            changes.push(Change::Authorization(a.clone()));
        }
        let record = KeyRecord {
            fingerprint,
            outcome: outcome.clone(),
        };
        state.keys.insert(scoped_key.clone(), (seq, record.clone()));
        changes.push(Change::Key { scoped_key, record });
        if let Some(journal) = &self.journal {
            journal.push(seq, changes);
        }
        (seq, outcome)
    }

    fn decide_authorize(&self, request: &AuthorizeRequest) -> Result<Authorization, PaymentError> {
        let now = Utc::now();
        let approved = Authorization {
            authorization_id: AuthorizationId(Uuid::new_v4()),
            status: AuthorizationStatus::Authorized,
            amount_minor: request.amount_minor,
            currency: request.currency.clone(),
            payment_method_id: request.payment_method_id.clone(),
            reference: request.reference.clone(),
            captured_minor: 0,
            refunded_minor: 0,
            created_at: now,
            updated_at: now,
        };
        match request.payment_method_id.as_str() {
            PM_CARD_VISA if self.draw(self.faults.decline_rate) => Err(PaymentError::Declined {
                reason: "insufficient_funds".into(),
            }),
            PM_CARD_VISA | PM_CARD_SLOW => Ok(approved),
            PM_CARD_DECLINED => Err(PaymentError::Declined {
                reason: "card_declined".into(),
            }),
            other => Err(PaymentError::InvalidMethod {
                payment_method_id: other.to_owned(),
            }),
        }
    }

    async fn change(
        &self,
        key: &str,
        id: AuthorizationId,
        op: Operation,
    ) -> Result<Authorization, PaymentError> {
        check_key(key)?;
        if let Operation::Refund(amount) = op
            && amount <= 0
        {
            return Err(PaymentError::InvalidRequest {
                field: "amountMinor".into(),
                reason: "must be greater than 0".into(),
            });
        }
        self.faults_before().await?;
        let scoped_key = format!("{}:{key}", op.name());
        let fingerprint = match op {
            Operation::Capture | Operation::Void => format!("{}:{id}", op.name()),
            Operation::Refund(amount) => format!("refund:{id}:{amount}"),
        };
        if let Some(outcome) = self.remembered(&scoped_key, &fingerprint).await? {
            return self.faults_after(outcome).await;
        }
        let (seq, outcome) = {
            let mut state = self.lock();
            if let Some((seq, record)) = state.keys.get(&scoped_key) {
                // A concurrent call with this key got here first.
                if record.fingerprint != fingerprint {
                    return Err(PaymentError::KeyReused);
                }
                (*seq, record.outcome.clone())
            } else {
                let current =
                    state
                        .authorizations
                        .get(&id)
                        .cloned()
                        .ok_or(PaymentError::NotFound {
                            authorization_id: id,
                        })?;
                match transition(current, op) {
                    Transition::Changed(next) => {
                        self.record(&mut state, scoped_key, fingerprint, Ok(next))
                    }
                    // No effect: nothing to remember beyond what the state already says.
                    Transition::Unchanged(result) => (0, result),
                }
            }
        };
        self.durable(seq).await?;
        self.faults_after(outcome).await
    }
}

enum Transition {
    Changed(Authorization),
    Unchanged(Result<Authorization, PaymentError>),
}

/// The state machine: authorized -> captured | voided; captured -> refunds up to the captured
/// amount. Repeating a capture or void that already happened changes nothing and succeeds.
fn transition(mut a: Authorization, op: Operation) -> Transition {
    use AuthorizationStatus as S;
    let wrong_state = |a: &Authorization| {
        Transition::Unchanged(Err(PaymentError::InvalidState {
            authorization_id: a.authorization_id,
            status: a.status,
        }))
    };
    match (op, a.status) {
        (Operation::Capture, S::Authorized) => {
            a.status = S::Captured;
            a.captured_minor = a.amount_minor;
        }
        (Operation::Capture, S::Captured | S::PartiallyRefunded | S::Refunded) => {
            return Transition::Unchanged(Ok(a));
        }
        (Operation::Void, S::Authorized) => a.status = S::Voided,
        (Operation::Void, S::Voided) => return Transition::Unchanged(Ok(a)),
        (Operation::Capture, S::Voided)
        | (Operation::Void, S::Captured | S::PartiallyRefunded | S::Refunded)
        | (Operation::Refund(_), S::Authorized | S::Voided) => return wrong_state(&a),
        (Operation::Refund(amount), S::Captured | S::PartiallyRefunded | S::Refunded) => {
            let refundable = a.captured_minor - a.refunded_minor;
            if amount > refundable {
                return Transition::Unchanged(Err(PaymentError::RefundExceedsCaptured {
                    requested_minor: amount,
                    refundable_minor: refundable,
                }));
            }
            a.refunded_minor += amount;
            a.status = if a.refunded_minor == a.captured_minor {
                S::Refunded
            } else {
                S::PartiallyRefunded
            };
        }
    }
    a.updated_at = Utc::now();
    Transition::Changed(a)
}

fn check_authorize(request: &AuthorizeRequest) -> Result<(), PaymentError> {
    if request.amount_minor <= 0 {
        return Err(PaymentError::InvalidRequest {
            field: "amountMinor".into(),
            reason: "must be greater than 0".into(),
        });
    }
    let currency_ok =
        request.currency.len() == 3 && request.currency.bytes().all(|b| b.is_ascii_uppercase());
    if !currency_ok {
        return Err(PaymentError::InvalidRequest {
            field: "currency".into(),
            reason: "must be an ISO 4217 code like \"USD\"".into(),
        });
    }
    if request.reference.as_ref().is_some_and(|r| r.len() > 255) {
        return Err(PaymentError::InvalidRequest {
            field: "reference".into(),
            reason: "must be at most 255 bytes".into(),
        });
    }
    Ok(())
}

#[async_trait]
impl PaymentProvider for SandboxProvider {
    async fn authorize(
        &self,
        key: &str,
        request: &AuthorizeRequest,
    ) -> Result<Authorization, PaymentError> {
        check_key(key)?;
        check_authorize(request)?;
        self.faults_before().await?;
        let scoped_key = format!("authorize:{key}");
        let fingerprint = serde_json::to_string(request).map_err(|e| PaymentError::Storage {
            message: e.to_string(),
        })?;
        if let Some(outcome) = self.remembered(&scoped_key, &fingerprint).await? {
            return self.faults_after(outcome).await;
        }
        if request.payment_method_id == PM_CARD_SLOW {
            tokio::time::sleep(self.slow_delay).await;
        }
        let decided = self.decide_authorize(request);
        let (seq, outcome) = {
            let mut state = self.lock();
            match state.keys.get(&scoped_key) {
                // A concurrent call with this key (a slow card retried) recorded first.
                Some((_, record)) if record.fingerprint != fingerprint => {
                    return Err(PaymentError::KeyReused);
                }
                Some((seq, record)) => (*seq, record.outcome.clone()),
                None => self.record(&mut state, scoped_key, fingerprint, decided),
            }
        };
        self.durable(seq).await?;
        self.faults_after(outcome).await
    }

    async fn capture(
        &self,
        key: &str,
        authorization_id: AuthorizationId,
    ) -> Result<Authorization, PaymentError> {
        self.change(key, authorization_id, Operation::Capture).await
    }

    async fn void(
        &self,
        key: &str,
        authorization_id: AuthorizationId,
    ) -> Result<Authorization, PaymentError> {
        self.change(key, authorization_id, Operation::Void).await
    }

    async fn refund(
        &self,
        key: &str,
        authorization_id: AuthorizationId,
        amount_minor: i64,
    ) -> Result<Authorization, PaymentError> {
        self.change(key, authorization_id, Operation::Refund(amount_minor))
            .await
    }

    async fn get(&self, authorization_id: AuthorizationId) -> Result<Authorization, PaymentError> {
        self.lock()
            .authorizations
            .get(&authorization_id)
            .cloned()
            .ok_or(PaymentError::NotFound { authorization_id })
    }

    async fn list_authorized(&self) -> Result<Vec<Authorization>, PaymentError> {
        Ok(self.list(Some(AuthorizationStatus::Authorized)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authorization(status: AuthorizationStatus, captured: i64, refunded: i64) -> Authorization {
        Authorization {
            authorization_id: AuthorizationId(Uuid::from_u128(1)),
            status,
            amount_minor: 1_000,
            currency: "USD".into(),
            payment_method_id: PM_CARD_VISA.into(),
            reference: None,
            captured_minor: captured,
            refunded_minor: refunded,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    /// Which (operation, status) pairs change the authorization, and into what.
    #[test]
    fn state_machine_table() {
        use AuthorizationStatus as S;
        enum Expect {
            Becomes(S, i64, i64),
            SameOk,
            WrongState,
            TooMuch,
        }
        let cases = [
            (
                Operation::Capture,
                S::Authorized,
                0,
                0,
                Expect::Becomes(S::Captured, 1_000, 0),
            ),
            (Operation::Capture, S::Captured, 1_000, 0, Expect::SameOk),
            (
                Operation::Capture,
                S::PartiallyRefunded,
                1_000,
                10,
                Expect::SameOk,
            ),
            (
                Operation::Capture,
                S::Refunded,
                1_000,
                1_000,
                Expect::SameOk,
            ),
            (Operation::Capture, S::Voided, 0, 0, Expect::WrongState),
            (
                Operation::Void,
                S::Authorized,
                0,
                0,
                Expect::Becomes(S::Voided, 0, 0),
            ),
            (Operation::Void, S::Voided, 0, 0, Expect::SameOk),
            (Operation::Void, S::Captured, 1_000, 0, Expect::WrongState),
            (
                Operation::Void,
                S::Refunded,
                1_000,
                1_000,
                Expect::WrongState,
            ),
            (
                Operation::Refund(400),
                S::Authorized,
                0,
                0,
                Expect::WrongState,
            ),
            (Operation::Refund(400), S::Voided, 0, 0, Expect::WrongState),
            (
                Operation::Refund(400),
                S::Captured,
                1_000,
                0,
                Expect::Becomes(S::PartiallyRefunded, 1_000, 400),
            ),
            (
                Operation::Refund(600),
                S::PartiallyRefunded,
                1_000,
                400,
                Expect::Becomes(S::Refunded, 1_000, 1_000),
            ),
            (
                Operation::Refund(601),
                S::PartiallyRefunded,
                1_000,
                400,
                Expect::TooMuch,
            ),
            (
                Operation::Refund(1),
                S::Refunded,
                1_000,
                1_000,
                Expect::TooMuch,
            ),
            (
                Operation::Refund(1_000),
                S::Captured,
                1_000,
                0,
                Expect::Becomes(S::Refunded, 1_000, 1_000),
            ),
        ];
        for (op, status, captured, refunded, expect) in cases {
            let before = authorization(status, captured, refunded);
            let got = transition(before.clone(), op);
            let label = format!("{op:?} on {status:?}");
            match (expect, got) {
                (Expect::Becomes(s, c, r), Transition::Changed(a)) => {
                    assert_eq!(
                        (a.status, a.captured_minor, a.refunded_minor),
                        (s, c, r),
                        "{label}"
                    );
                }
                (Expect::SameOk, Transition::Unchanged(Ok(a))) => assert_eq!(a, before, "{label}"),
                (
                    Expect::WrongState,
                    Transition::Unchanged(Err(PaymentError::InvalidState { status: s, .. })),
                ) => {
                    assert_eq!(s, status, "{label}");
                }
                (
                    Expect::TooMuch,
                    Transition::Unchanged(Err(PaymentError::RefundExceedsCaptured { .. })),
                ) => {}
                (_, Transition::Changed(a)) => panic!("{label}: unexpected change to {a:?}"),
                (_, Transition::Unchanged(r)) => panic!("{label}: unexpected {r:?}"),
            }
        }
    }
}
