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

/// Connect to `url` and check the server version.
pub async fn connect(url: &str) -> Result<async_nats::Client, NatsError> {
    let client = async_nats::ConnectOptions::new()
        .name("boxoffice")
        .connection_timeout(std::time::Duration::from_secs(5))
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
    fn old_servers_are_refused() {
        assert!(check_server_version("2.12.15").is_ok());
        assert!(check_server_version("2.14.0-beta.1").is_ok());
        assert!(check_server_version("3.0.0").is_ok());
        assert!(check_server_version("2.9.10").is_err());
        assert!(check_server_version("2.11.9").is_err());
        assert!(check_server_version("garbage").is_err());
    }
}
