//! The crate's one error boundary.

/// A waiting-room operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The log or the show directory is unreachable or overloaded; nothing was written.
    #[error("waiting room unavailable: {0}")]
    Unavailable(String),
    /// An event was handed to the log but not seen applied in time: it may still apply. Joining
    /// again is safe (a live entry is returned as it is).
    #[error("waiting room did not confirm in time; the change may still apply")]
    Timeout,
    /// Stored data cannot be understood (a bug or a newer format).
    #[error("waiting room log unreadable: {0}")]
    Corrupt(String),
    /// The deployment's settings or provisioning are wrong (a setting out of range, the stream
    /// not provisioned): fix them and start again.
    #[error("waiting room misconfigured: {0}")]
    Misconfigured(String),
}

impl QueueError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            QueueError::Unavailable(_) | QueueError::Timeout => true,
            QueueError::Corrupt(_) | QueueError::Misconfigured(_) => false,
        }
    }
}

/// Shorthand: any displayable failure as [`QueueError::Unavailable`].
pub(crate) fn unavailable(error: impl std::fmt::Display) -> QueueError {
    QueueError::Unavailable(error.to_string())
}
