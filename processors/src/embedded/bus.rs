//! [`LocalBus`]: the dev-mode [`CommandBus`], submitting to the in-process log.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use schemas::{CommandEnvelope, Reply};

use crate::bus::{BusError, CommandBus};
use crate::embedded::log::MemLogHub;
use crate::log::LogError;

/// Submits commands to the embedded pipeline's in-process log and waits for the reply.
#[derive(Clone, Debug)]
pub struct LocalBus {
    hub: Arc<MemLogHub>,
    reply_timeout: Duration,
}

impl LocalBus {
    /// A bus over `hub` that waits at most `reply_timeout` for a decision.
    pub fn new(hub: Arc<MemLogHub>, reply_timeout: Duration) -> LocalBus {
        LocalBus { hub, reply_timeout }
    }
}

#[async_trait]
impl CommandBus for LocalBus {
    async fn submit(&self, envelope: CommandEnvelope) -> Result<Reply, BusError> {
        let (reply_to, waiter) = self.hub.wait_for_reply();
        let deadline = tokio::time::Instant::now() + self.reply_timeout;
        let appended =
            tokio::time::timeout_at(deadline, self.hub.append(envelope, Some(reply_to.clone())))
                .await;
        match appended {
            Ok(Ok(_)) => {}
            Ok(Err(LogError::Closed)) => {
                self.hub.forget(&reply_to);
                return Err(BusError::Unavailable(
                    "the pipeline is shutting down".into(),
                ));
            }
            Ok(Err(e)) => {
                self.hub.forget(&reply_to);
                return Err(BusError::Unavailable(e.into()));
            }
            Err(_) => {
                // The queue stayed full: nothing was appended, so nothing can apply.
                self.hub.forget(&reply_to);
                return Err(BusError::Unavailable("the partition queue is full".into()));
            }
        }
        match tokio::time::timeout_at(deadline, waiter).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(BusError::Timeout),
            Err(_) => {
                self.hub.forget(&reply_to);
                Err(BusError::Timeout)
            }
        }
    }
}
