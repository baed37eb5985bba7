//! [`JetStreamLog`]: the serve-mode [`QueueLog`], one JetStream stream shared by every ingress.
//!
//! Subjects are `<prefix>.<showId>.join`, `.used` and `.control`. The stream's order is the
//! queue's order: every ingress follows the whole stream with an ordered consumer and folds it, so
//! all of them agree on numbers and admissions. Admitters append control events (opening,
//! admission batches) with `Nats-Expected-Last-Subject-Sequence` = the last control message they
//! folded: when two ingress processes tick at once, one wins and the other gets "wrong last
//! sequence" and simply tries again on its next tick. An append returns once this process's own
//! follower has applied the stored message (read your write).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_nats::jetstream::context::{GetStreamErrorKind, PublishErrorKind};
use async_nats::jetstream::{self, ErrorCode, consumer};
use async_trait::async_trait;
use futures::StreamExt;
use schemas::ShowId;
use uuid::Uuid;

use crate::demand::{DemandCount, DemandMeter};
use crate::error::{QueueError, unavailable};
use crate::fold::QueueEvent;
use crate::folds::Folds;
use crate::log::{Appended, Expect, QueueLog, Record};

/// Where the stream lives and how it is replicated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamSpec {
    /// JetStream stream name.
    pub stream: String,
    /// First subject token.
    pub subject_prefix: String,
}

/// The subjects a waiting-room stream with `subject_prefix` must take.
pub fn subjects(subject_prefix: &str) -> String {
    format!("{subject_prefix}.>")
}

/// The serve-mode waiting-room log.
#[derive(Clone)]
pub struct JetStreamLog {
    js: jetstream::Context,
    spec: Arc<StreamSpec>,
    folds: Arc<Folds>,
    confirm_timeout: Duration,
    follower: Arc<AbortOnDrop>,
}

impl std::fmt::Debug for JetStreamLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamLog")
            .field("stream", &self.spec.stream)
            .finish_non_exhaustive()
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The subject of `show`'s events of `kind` (`join`, `used`, `control`).
pub fn subject(prefix: &str, show: ShowId, kind: &str) -> String {
    format!("{prefix}.{}.{kind}", show.0)
}

fn subject_of(prefix: &str, show: ShowId, event: &QueueEvent) -> String {
    let kind = match event {
        QueueEvent::Joined { .. } => "join",
        QueueEvent::Used { .. } => "used",
        QueueEvent::Opened { .. }
        | QueueEvent::Admitted { .. }
        | QueueEvent::AutoSwitchedOn { .. }
        | QueueEvent::AutoSet { .. } => "control",
    };
    subject(prefix, show, kind)
}

impl JetStreamLog {
    /// Check the stream exists (`boxoffice provision` creates it from streams.yaml's
    /// `waiting_room`), follow it from the start into `folds`, and return once everything
    /// stored before this call has been applied (so the first answers are current). An append
    /// waits at most `confirm_timeout` for its own message to come back.
    ///
    /// A missing stream, or one that does not take `<prefix>.>`, is
    /// [`QueueError::Misconfigured`] naming it.
    pub async fn open(
        client: async_nats::Client,
        spec: StreamSpec,
        folds: Arc<Folds>,
        confirm_timeout: Duration,
    ) -> Result<JetStreamLog, QueueError> {
        let js = jetstream::new(client);
        let mut stream = js
            .get_stream(&spec.stream)
            .await
            .map_err(|e| match e.kind() {
                GetStreamErrorKind::JetStream(js)
                    if js.error_code() == ErrorCode::STREAM_NOT_FOUND =>
                {
                    QueueError::Misconfigured(format!(
                        "the waiting-room stream {} does not exist: run `boxoffice provision` \
                     (streams.yaml, section waiting_room)",
                        spec.stream
                    ))
                }
                _ => unavailable(e),
            })?;
        let info = stream.info().await.map_err(unavailable)?;
        let subjects = subjects(&spec.subject_prefix);
        if !info.config.subjects.contains(&subjects) {
            return Err(QueueError::Misconfigured(format!(
                "the waiting-room stream {} takes {:?}, not {subjects}: run `boxoffice provision` \
                 with the same streams.yaml as the ingress",
                spec.stream, info.config.subjects
            )));
        }
        let last = info.state.last_sequence;
        let consumer = stream
            .create_consumer(consumer::pull::OrderedConfig {
                name: Some(format!("waitroom-{}", Uuid::new_v4().simple())),
                filter_subject: format!("{}.>", spec.subject_prefix),
                deliver_policy: consumer::DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .map_err(unavailable)?;
        let messages = consumer.messages().await.map_err(unavailable)?;
        let follower = tokio::spawn(follow(messages, folds.clone()));
        // Catching up on a long queue takes a while (about a second per million events).
        let catch_up = confirm_timeout.max(Duration::from_secs(120));
        if !folds.wait_applied(last, catch_up).await {
            follower.abort();
            return Err(QueueError::Unavailable(format!(
                "could not replay the waiting-room stream up to {last} in time"
            )));
        }
        Ok(JetStreamLog {
            js,
            spec: Arc::new(spec),
            folds,
            confirm_timeout,
            follower: Arc::new(AbortOnDrop(follower)),
        })
    }
}

/// Apply every message of the stream in order. An undecodable message is skipped with an error
/// log (every ingress skips it alike, so they still agree).
async fn follow(mut messages: consumer::pull::Ordered, folds: Arc<Folds>) {
    while let Some(message) = messages.next().await {
        let message = match message {
            Ok(message) => message,
            Err(e) => {
                tracing::warn!(error = %e, "waiting-room stream interrupted; the consumer resumes");
                continue;
            }
        };
        let Ok(info) = message.info() else {
            continue;
        };
        let rev = info.stream_sequence;
        match Record::decode(&message.payload) {
            Ok(record) => {
                folds.apply(record.show, &record.event, rev);
            }
            Err(e) => tracing::error!(error = %e, rev, "undecodable waiting-room event skipped"),
        }
        folds.mark_applied(rev);
    }
    tracing::error!("waiting-room stream follower ended");
}

#[async_trait]
impl QueueLog for JetStreamLog {
    async fn append(
        &self,
        show: ShowId,
        event: QueueEvent,
        expect: Expect,
    ) -> Result<Appended, QueueError> {
        let subject = subject_of(&self.spec.subject_prefix, show, &event);
        let payload = Record { show, event }.encode();
        let mut publish = jetstream::message::PublishMessage::build().payload(payload.into());
        if let Expect::ControlAt(rev) = expect {
            publish = publish.expected_last_subject_sequence(rev);
        }
        let ack = self
            .js
            .send_publish(subject, publish)
            .await
            .map_err(unavailable)?;
        let ack = match tokio::time::timeout(self.confirm_timeout, ack).await {
            Ok(Ok(ack)) => ack,
            Ok(Err(e)) if e.kind() == PublishErrorKind::WrongLastSequence => {
                return Ok(Appended::Conflict);
            }
            Ok(Err(e)) if e.kind() == PublishErrorKind::StreamNotFound => {
                return Err(unavailable(e));
            }
            // The server may have stored it before failing to say so.
            Ok(Err(_)) | Err(_) => return Err(QueueError::Timeout),
        };
        if !self
            .folds
            .wait_applied(ack.sequence, self.confirm_timeout)
            .await
        {
            return Err(QueueError::Timeout);
        }
        Ok(Appended::Applied { rev: ack.sequence })
    }

    async fn close(&self) {
        self.follower.0.abort();
    }
}

/// The core-NATS subject on which the ingress processes of a waiting-room stream with
/// `subject_prefix` share their demand counts (outside the stream's `<prefix>.>`: counts are
/// fleeting and not worth keeping or replaying).
pub fn demand_subject(subject_prefix: &str) -> String {
    format!("{subject_prefix}_demand")
}

/// The subject on which the ingress processes of one waiting-room stream share the demand
/// guard's per-source counts ([`crate::guard`]).
pub fn guard_subject(subject_prefix: &str) -> String {
    format!("{subject_prefix}_guard")
}

/// Counts shared between ingress processes: each publishes what it counted every admission
/// round, and every one (itself included) adds what it receives to its meter, so all of them
/// compare the same total with their thresholds. Core NATS, not JetStream: a lost report only
/// delays a decision by a round, and counts are fleeting, not worth keeping or replaying.
pub struct CountShare<T> {
    client: async_nats::Client,
    subject: String,
    _receiver: AbortOnDrop,
    _counts: std::marker::PhantomData<fn(T)>,
}

/// The automatic switch-on's demand counts ([`demand_subject`]).
pub type DemandShare = CountShare<DemandCount>;

impl<T> std::fmt::Debug for CountShare<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountShare")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl DemandShare {
    /// Subscribe to `subject` and add every report to `meter`.
    pub async fn start_demand(
        client: async_nats::Client,
        subject: String,
        meter: Arc<Mutex<DemandMeter>>,
    ) -> Result<DemandShare, QueueError> {
        CountShare::start(client, subject, move |counts: Vec<DemandCount>| {
            let mut meter = meter.lock().unwrap_or_else(PoisonError::into_inner);
            for c in counts {
                meter.add(c.show, c.second, c.count);
            }
        })
        .await
    }
}

impl<T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static> CountShare<T> {
    /// Subscribe to `subject` and hand every report to `apply`.
    pub async fn start(
        client: async_nats::Client,
        subject: String,
        apply: impl Fn(Vec<T>) + Send + 'static,
    ) -> Result<CountShare<T>, QueueError> {
        let mut reports = client
            .subscribe(subject.clone())
            .await
            .map_err(unavailable)?;
        let receiver = tokio::spawn(async move {
            while let Some(message) = reports.next().await {
                match rmp_serde::from_slice::<Vec<T>>(&message.payload) {
                    Ok(counts) => apply(counts),
                    Err(e) => tracing::warn!(error = %e, "undecodable count report ignored"),
                }
            }
        });
        Ok(CountShare {
            client,
            subject,
            _receiver: AbortOnDrop(receiver),
            _counts: std::marker::PhantomData,
        })
    }

    /// Tell every process (this one included) about `counts`.
    pub async fn publish(&self, counts: &[T]) -> Result<(), QueueError> {
        if counts.is_empty() {
            return Ok(());
        }
        let payload = rmp_serde::to_vec(counts).map_err(|e| QueueError::Corrupt(e.to_string()))?;
        self.client
            .publish(self.subject.clone(), payload.into())
            .await
            .map_err(unavailable)
    }
}
