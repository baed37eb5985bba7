//! Connecting to NATS, refusing servers too old for the stream features we rely on.

/// The oldest nats-server whose stream and consumer settings we rely on (subject transforms,
/// pinned-client priority groups); older servers silently drop them.
pub const MIN_SERVER: (u64, u64) = (2, 12);

/// NATS could not be used.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// No connection.
    #[error("cannot connect to NATS at {url}: {detail}")]
    Connect {
        /// The URL tried.
        url: String,
        /// Why.
        detail: String,
    },
    /// The server is older than [`MIN_SERVER`].
    #[error("nats-server {found} is too old: boxoffice needs 2.12 or newer")]
    TooOld {
        /// The server's version string.
        found: String,
    },
    /// A JetStream request failed.
    #[error("{0}")]
    JetStream(String),
}

/// Longest pause between two attempts to reconnect. The client's default doubles from 2 ms up to
/// 4 s, so after a nats-server restart of 3 s a process found it 1.5-2 s after it was ready
/// (`scripts/chaos`, check resumes-within-bound asks 2 s), and later after a longer one. An
/// attempt at a server that is down is refused at once and costs nothing.
pub const RECONNECT_DELAY_MAX: std::time::Duration = std::time::Duration::from_millis(250);

/// The pause before reconnect attempt `attempts` (1 for the first): none, then doubling from
/// 2 ms up to [`RECONNECT_DELAY_MAX`].
pub fn reconnect_delay(attempts: usize) -> std::time::Duration {
    let exp = u32::try_from(attempts.saturating_sub(1)).unwrap_or(u32::MAX);
    match attempts {
        0 | 1 => std::time::Duration::ZERO,
        _ => std::time::Duration::from_millis(2_u64.saturating_pow(exp)).min(RECONNECT_DELAY_MAX),
    }
}

/// Connect to `url` and check the server version.
pub async fn connect(url: &str) -> Result<async_nats::Client, NatsError> {
    let client = async_nats::ConnectOptions::new()
        .name("boxoffice")
        .connection_timeout(std::time::Duration::from_secs(5))
        .reconnect_delay_callback(reconnect_delay)
        .connect(url)
        .await
        .map_err(|e| NatsError::Connect {
            url: url.to_string(),
            detail: e.to_string(),
        })?;
    check_server_version(&client.server_info().version)?;
    Ok(client)
}

/// Refuse a server version older than [`MIN_SERVER`].
pub fn check_server_version(version: &str) -> Result<(), NatsError> {
    let mut parts = version.trim_start_matches('v').split(['.', '-']);
    let mut number = || parts.next().and_then(|p| p.parse::<u64>().ok());
    match (number(), number()) {
        (Some(major), Some(minor)) if (major, minor) >= MIN_SERVER => Ok(()),
        _ => Err(NatsError::TooOld {
            found: version.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnects_are_never_more_than_a_quarter_second_apart() {
        assert_eq!(reconnect_delay(1), std::time::Duration::ZERO);
        assert_eq!(reconnect_delay(2), std::time::Duration::from_millis(2));
        assert_eq!(reconnect_delay(8), std::time::Duration::from_millis(128));
        assert_eq!(reconnect_delay(9), RECONNECT_DELAY_MAX);
        assert_eq!(reconnect_delay(usize::MAX), RECONNECT_DELAY_MAX);
    }

    #[test]
    fn old_servers_are_refused() {
        assert!(check_server_version("2.12.15").is_ok());
        assert!(check_server_version("2.14.0-beta.1").is_ok());
        assert!(check_server_version("3.0.0").is_ok());
        assert!(check_server_version("2.9.10").is_err());
        assert!(check_server_version("2.11.9").is_err());
        assert!(check_server_version("garbage").is_err());
    }
}
