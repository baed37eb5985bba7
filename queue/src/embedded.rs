//! [`EmbeddedLog`]: the dev-mode [`QueueLog`], a redb table `position -> Record` under the data
//! dir. One writer task owns the order: it takes whatever appends are waiting (group commit),
//! checks admitters' conditions, writes them in one transaction, and only after the commit applies
//! them to the folds and answers. Opening replays the table, so a restart resumes every queue
//! exactly where it was.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{ReadableDatabase as _, ReadableTable as _};
use schemas::ShowId;
use tokio::sync::{mpsc, oneshot};

use crate::error::{QueueError, unavailable};
use crate::fold::QueueEvent;
use crate::folds::Folds;
use crate::log::{Appended, Expect, QueueLog, Record};

const TABLE: redb::TableDefinition<'static, u64, &[u8]> = redb::TableDefinition::new("queue_log");

/// Appends waiting for the writer at most (senders wait beyond it: back-pressure).
pub const WRITE_QUEUE_CAPACITY: usize = 8192;

/// Appends committed in one transaction at most.
pub const WRITE_BATCH_MAX: usize = 1024;

type Reply = oneshot::Sender<Result<Appended, QueueError>>;

struct Request {
    show: ShowId,
    event: QueueEvent,
    expect: Expect,
    reply: Reply,
}

enum Message {
    Append(Request),
    /// Stop after the appends before it; answered once the file is closed.
    Close(oneshot::Sender<()>),
}

/// The embedded waiting-room log. Cloning shares the writer.
#[derive(Clone, Debug)]
pub struct EmbeddedLog {
    requests: mpsc::Sender<Message>,
}

impl EmbeddedLog {
    /// Open (or create) the log at `path`, replay it into `folds`, and start the writer.
    ///
    /// A previous instance in this process (a restart) may still be closing the file; opening
    /// waits up to [`OPEN_WAIT`] for it.
    pub async fn open(path: &Path, folds: Arc<Folds>) -> Result<EmbeddedLog, QueueError> {
        let db = Arc::new(open_db(path).await?);
        let (db, next_rev) = {
            let folds = folds.clone();
            tokio::task::spawn_blocking(move || replay(&db, &folds).map(|last| (db, last + 1)))
                .await
                .map_err(unavailable)??
        };
        let (requests, rx) = mpsc::channel(WRITE_QUEUE_CAPACITY);
        let writer = Writer {
            db,
            folds,
            next_rev,
        };
        tokio::spawn(writer.run(rx));
        Ok(EmbeddedLog { requests })
    }
}

/// Longest an open waits for a closing previous instance to release the file.
pub const OPEN_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

async fn open_db(path: &Path) -> Result<redb::Database, QueueError> {
    let deadline = tokio::time::Instant::now() + OPEN_WAIT;
    loop {
        match redb::Database::create(path) {
            Ok(db) => return Ok(db),
            Err(redb::DatabaseError::DatabaseAlreadyOpen)
                if tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(e) => return Err(unavailable(e)),
        }
    }
}

/// Apply every stored record to `folds`; returns the last position.
fn replay(db: &redb::Database, folds: &Folds) -> Result<u64, QueueError> {
    {
        let tx = db.begin_write().map_err(unavailable)?;
        tx.open_table(TABLE).map_err(unavailable)?;
        tx.commit().map_err(unavailable)?;
    }
    let tx = db.begin_read().map_err(unavailable)?;
    let table = tx.open_table(TABLE).map_err(unavailable)?;
    let mut last = 0;
    for row in table.iter().map_err(unavailable)? {
        let (rev, bytes) = row.map_err(unavailable)?;
        let record = Record::decode(bytes.value())?;
        last = rev.value();
        folds.apply(record.show, &record.event, last);
    }
    folds.mark_applied(last);
    Ok(last)
}

struct Writer {
    db: Arc<redb::Database>,
    folds: Arc<Folds>,
    next_rev: u64,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<Message>) {
        let mut messages = Vec::with_capacity(WRITE_BATCH_MAX);
        while rx.recv_many(&mut messages, WRITE_BATCH_MAX).await > 0 {
            let mut batch = Vec::with_capacity(messages.len());
            let mut close = None;
            for message in messages.drain(..) {
                match message {
                    Message::Append(request) if close.is_none() => batch.push(request),
                    Message::Append(request) => {
                        let _ = request.reply.send(Err(closed()));
                    }
                    Message::Close(done) => close = Some(done),
                }
            }
            self.write(batch).await;
            if let Some(done) = close {
                rx.close();
                while let Ok(message) = rx.try_recv() {
                    if let Message::Append(request) = message {
                        let _ = request.reply.send(Err(closed()));
                    }
                }
                drop(self);
                let _ = done.send(());
                return;
            }
        }
    }

    /// Decide, store, apply and answer one batch, in arrival order.
    async fn write(&mut self, batch: Vec<Request>) {
        let mut control: HashMap<ShowId, u64> = HashMap::new();
        let mut accepted = Vec::with_capacity(batch.len());
        for request in batch {
            if let Expect::ControlAt(expected) = request.expect {
                let current = match control.get(&request.show) {
                    Some(rev) => *rev,
                    None => self
                        .folds
                        .slot(request.show)
                        .map_or(0, |slot| slot.read(|q| q.control_rev())),
                };
                if current != expected {
                    let _ = request.reply.send(Ok(Appended::Conflict));
                    continue;
                }
            }
            let rev = self.next_rev;
            self.next_rev += 1;
            if request.event.is_control() {
                control.insert(request.show, rev);
            }
            accepted.push((rev, request));
        }
        if accepted.is_empty() {
            return;
        }
        let rows: Vec<(u64, Vec<u8>)> = accepted
            .iter()
            .map(|(rev, r)| {
                let record = Record {
                    show: r.show,
                    event: r.event.clone(),
                };
                (*rev, record.encode())
            })
            .collect();
        let db = self.db.clone();
        let stored = tokio::task::spawn_blocking(move || commit(&db, &rows))
            .await
            .map_err(unavailable)
            .and_then(|r| r);
        match stored {
            Ok(()) => {
                let last = accepted.last().map_or(0, |(rev, _)| *rev);
                for (rev, request) in accepted {
                    self.folds.apply(request.show, &request.event, rev);
                    let _ = request.reply.send(Ok(Appended::Applied { rev }));
                }
                self.folds.mark_applied(last);
            }
            Err(e) => {
                // Nothing of the transaction is stored: hand the positions out again.
                self.next_rev = accepted.first().map_or(self.next_rev, |(rev, _)| *rev);
                tracing::warn!(error = %e, "waiting-room log write failed");
                for (_, request) in accepted {
                    let _ = request
                        .reply
                        .send(Err(QueueError::Unavailable(e.to_string())));
                }
            }
        }
    }
}

fn commit(db: &redb::Database, rows: &[(u64, Vec<u8>)]) -> Result<(), QueueError> {
    let tx = db.begin_write().map_err(unavailable)?;
    {
        let mut table = tx.open_table(TABLE).map_err(unavailable)?;
        for (rev, bytes) in rows {
            table.insert(*rev, bytes.as_slice()).map_err(unavailable)?;
        }
    }
    tx.commit().map_err(unavailable)
}

#[async_trait]
impl QueueLog for EmbeddedLog {
    async fn append(
        &self,
        show: ShowId,
        event: QueueEvent,
        expect: Expect,
    ) -> Result<Appended, QueueError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Message::Append(Request {
                show,
                event,
                expect,
                reply,
            }))
            .await
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.requests.send(Message::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
    }
}

fn closed() -> QueueError {
    QueueError::Unavailable("the waiting-room log is closed".into())
}
