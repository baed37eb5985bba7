//! Settings of the HTTP API, each field a flag and a `BOXOFFICE_*` environment variable (names
//! fixed by the public contract), validated before the server binds. The modes that embed them
//! (`dev`, `serve`) are assembled by the `application` crate.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{ArgAction, Args};
pub use processors::cli::MetricsAddr;

pub use crate::client::Cidr;

/// Settings of the HTTP API shared by `boxoffice dev` and `boxoffice serve`.
#[derive(Args, Debug, Clone)]
pub struct ApiConfig {
    /// Address the HTTP API listens on.
    #[arg(long, env = "BOXOFFICE_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,

    /// Serve Prometheus metrics at `http://<addr>/metrics`, apart from the API: `ip:port` (port
    /// 0 picks a free one, logged), or `off`. Loopback by default, so the series (which name
    /// routes, shows' demand and error rates) are not published to the API's clients.
    #[arg(long, env = "BOXOFFICE_METRICS_ADDR", default_value = DEFAULT_METRICS_ADDR)]
    pub metrics_addr: MetricsAddr,

    /// HS256 secret that signs and verifies bearer tokens (at least 32 bytes: RFC 7518 asks for a
    /// key as long as the hash, and the waiting room's and, without `BOXOFFICE_TICKET_KEYS`, the
    /// tickets' keys are derived from it). `boxoffice dev` generates one and keeps it in the data
    /// dir when unset; `boxoffice serve` requires it.
    #[arg(long, env = "BOXOFFICE_AUTH_SECRET", hide_env_values = true)]
    pub auth_secret: Option<String>,

    /// Whether `POST /v1/auth/guest` hands out guest tokens.
    #[arg(long, env = "BOXOFFICE_GUEST_AUTH", default_value_t = true, action = ArgAction::Set)]
    pub guest_auth: bool,

    /// How long a guest token stays valid, in seconds.
    #[arg(
        long = "guest-token-ttl",
        env = "BOXOFFICE_GUEST_TOKEN_TTL",
        default_value_t = 86_400
    )]
    pub guest_token_ttl_s: u64,

    /// How long a hold lasts before it expires, in seconds.
    #[arg(long = "hold-ttl", env = "BOXOFFICE_HOLD_TTL", default_value_t = 600)]
    pub hold_ttl_s: u64,

    /// Most seats one user may hold plus own for one show.
    #[arg(long, env = "BOXOFFICE_MAX_TICKETS_PER_USER", default_value_t = 6)]
    pub max_tickets_per_user: u16,

    /// Most active holds one user may have at once.
    #[arg(long, env = "BOXOFFICE_MAX_HOLDS_PER_USER", default_value_t = 3)]
    pub max_holds_per_user: u16,

    /// Requests per second one user may make (burst twice that); 0 disables the limit.
    #[arg(long, env = "BOXOFFICE_RATE_PER_USER", default_value_t = 20)]
    pub rate_per_user: u32,

    /// Requests per second one client IP may make (burst twice that); 0 disables the limit.
    #[arg(long, env = "BOXOFFICE_RATE_PER_IP", default_value_t = 200)]
    pub rate_per_ip: u32,

    /// Peers whose `Forwarded` / `X-Forwarded-For` headers name the client (comma-separated
    /// CIDR blocks or addresses, e.g. `10.0.0.0/8,192.0.2.10`). The client is then the right-most
    /// forwarded hop outside these blocks; other peers are the client themselves. None by default:
    /// set it to the load balancers' addresses, or every client behind them shares one per-IP
    /// limit.
    #[arg(long, env = "BOXOFFICE_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<Cidr>,

    /// Guest tokens one client address may obtain per minute (`POST /v1/auth/guest`; the first
    /// minute's worth at once); 0 disables. Guest identities are free, and the per-user limits
    /// bind each one, so this is what bounds how many identities, and so seats, one machine has.
    #[arg(long, env = "BOXOFFICE_GUEST_PER_IP_PER_MIN", default_value_t = 20)]
    pub guest_per_ip_per_min: u32,

    /// Guest tokens one network prefix (/24 IPv4, /56 IPv6) may obtain per minute; 0 disables.
    /// Bounds a client rotating through the addresses it owns.
    #[arg(
        long,
        env = "BOXOFFICE_GUEST_PER_PREFIX_PER_MIN",
        default_value_t = 120
    )]
    pub guest_per_prefix_per_min: u32,

    /// The demand guard: a client address or network that took more than its share of a show's
    /// seats, or whose hold attempts on it are mostly refused, must answer a proof of work before
    /// each further hold (`428 challenge-required`). On by default; needs no admin.
    #[arg(long, env = "BOXOFFICE_GUARD", default_value_t = true, action = ArgAction::Set)]
    pub guard: bool,

    /// The guard's share of a show's seats one client address may hold (within the hold TTL)
    /// before its holds need a proof of work, in thousandths (at least 24 seats); 0: no share
    /// rule.
    #[arg(long, env = "BOXOFFICE_GUARD_ADDRESS_PERMILLE", default_value_t = 10)]
    pub guard_address_permille: u32,

    /// The same for one network prefix (/24 IPv4, /56 IPv6).
    #[arg(long, env = "BOXOFFICE_GUARD_PREFIX_PERMILLE", default_value_t = 25)]
    pub guard_prefix_permille: u32,

    /// Percentage of refused hold attempts (of at least 20 in a minute) above which a client
    /// address or network must answer a proof of work before each hold; 0: no refusal rule.
    #[arg(long, env = "BOXOFFICE_GUARD_REFUSED_PCT", default_value_t = 50)]
    pub guard_refused_pct: u32,

    /// Holds by guest identities younger than this many seconds need the guard's proof of work
    /// (a script minting a fresh guest per hold pays for each); 0, the default, turns it off.
    #[arg(long, env = "BOXOFFICE_GUARD_NEW_GUEST_S", default_value_t = 0)]
    pub guard_new_guest_s: u64,

    /// Difficulty of the guard's proof of work, in leading zero bits (1..=32).
    #[arg(long, env = "BOXOFFICE_GUARD_BITS", default_value_t = 18)]
    pub guard_bits: u8,

    /// Longest a request may take before it is answered `503 unavailable`, in milliseconds.
    #[arg(
        long = "request-timeout",
        env = "BOXOFFICE_REQUEST_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub request_timeout_ms: u64,

    /// Longest to wait for the pipeline's decision on a command before answering
    /// `503 unavailable` (the command may still take effect), in milliseconds.
    #[arg(
        long = "command-timeout",
        env = "BOXOFFICE_COMMAND_TIMEOUT_MS",
        default_value_t = 5_000
    )]
    pub command_timeout_ms: u64,

    /// Live seat maps (`GET /v1/shows/{showId}/seats/live`): coalescing window, per-viewer send
    /// queue, keepalive.
    #[command(flatten)]
    pub live: live::LiveConfig,
}

/// A setting that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A value is out of its allowed range.
    #[error("{setting}: {reason}")]
    Invalid {
        /// The environment variable naming the setting.
        setting: &'static str,
        /// Why it cannot work.
        reason: String,
    },
}

impl ConfigError {
    /// `setting` cannot work, for `reason`.
    pub fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            setting,
            reason: reason.into(),
        }
    }
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::invalid(setting, reason)
}

/// Where `boxoffice dev` and `boxoffice serve` serve `/metrics` unless told otherwise: loopback
/// only, one port below the processor's default (`127.0.0.1:9464`), so both run on one host with
/// their defaults.
pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9463";

/// Shortest accepted auth secret, in bytes (the same floor the ticket worker applies).
pub const AUTH_SECRET_MIN_BYTES: usize = fulfilment::keys::AUTH_SECRET_MIN_BYTES;

/// Most seats one hold may take (fixed by the contract).
pub const MAX_SEATS_PER_HOLD: u16 = 10;

impl ApiConfig {
    /// Check every setting; the first unusable one is reported.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(secret) = &self.auth_secret
            && secret.len() < AUTH_SECRET_MIN_BYTES
        {
            return Err(invalid(
                "BOXOFFICE_AUTH_SECRET",
                format!(
                    "must be at least {AUTH_SECRET_MIN_BYTES} bytes (got {}); generate one with \
                     `head -c 32 /dev/urandom | base64`",
                    secret.len()
                ),
            ));
        }
        if self.hold_ttl_s == 0 || self.hold_ttl_s > 86_400 {
            return Err(invalid("BOXOFFICE_HOLD_TTL", "must be 1..=86400 seconds"));
        }
        if self.max_tickets_per_user == 0 {
            return Err(invalid(
                "BOXOFFICE_MAX_TICKETS_PER_USER",
                "must be at least 1",
            ));
        }
        if self.max_holds_per_user == 0 {
            return Err(invalid(
                "BOXOFFICE_MAX_HOLDS_PER_USER",
                "must be at least 1",
            ));
        }
        if self.guest_token_ttl_s == 0 {
            return Err(invalid("BOXOFFICE_GUEST_TOKEN_TTL", "must be at least 1"));
        }
        if !(1..=32).contains(&self.guard_bits) {
            return Err(invalid("BOXOFFICE_GUARD_BITS", "must be 1..=32"));
        }
        if self.guard_refused_pct > 100 {
            return Err(invalid("BOXOFFICE_GUARD_REFUSED_PCT", "must be 0..=100"));
        }
        if self.request_timeout_ms < 100 {
            return Err(invalid(
                "BOXOFFICE_REQUEST_TIMEOUT_MS",
                "must be at least 100",
            ));
        }
        if self.command_timeout_ms == 0 || self.command_timeout_ms >= self.request_timeout_ms {
            return Err(invalid(
                "BOXOFFICE_COMMAND_TIMEOUT_MS",
                "must be above 0 and below the request timeout",
            ));
        }
        self.live
            .validate()
            .map_err(|refused| invalid(refused.setting, refused.reason))
    }

    /// Hold time to live.
    pub fn hold_ttl(&self) -> Duration {
        Duration::from_secs(self.hold_ttl_s)
    }

    /// Request timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// Command decision timeout.
    pub fn command_timeout(&self) -> Duration {
        Duration::from_millis(self.command_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        api: ApiConfig,
    }

    #[test]
    fn defaults_match_the_contract_and_validate() {
        let cli = Cli::try_parse_from(["x"]).unwrap();
        let api = &cli.api;
        assert_eq!(api.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(api.hold_ttl_s, 600);
        assert_eq!(api.max_tickets_per_user, 6);
        assert_eq!(api.max_holds_per_user, 3);
        assert_eq!(api.rate_per_user, 20);
        assert_eq!(api.rate_per_ip, 200);
        assert!(api.trusted_proxies.is_empty());
        assert_eq!(api.guest_per_ip_per_min, 20);
        assert_eq!(api.guest_per_prefix_per_min, 120);
        assert!(api.guard);
        assert_eq!(api.guard_bits, 18);
        assert_eq!(
            api.metrics_addr,
            MetricsAddr(Some("127.0.0.1:9463".parse().unwrap()))
        );
        assert!(api.guest_auth);
        cli.api.validate().unwrap();
    }

    #[test]
    fn an_auth_secret_under_32_bytes_is_refused_naming_the_variable() {
        let refused = Cli::try_parse_from(["x", "--auth-secret", &"s".repeat(31)]).unwrap();
        match refused.api.validate() {
            Err(ConfigError::Invalid { setting, reason }) => {
                assert_eq!(setting, "BOXOFFICE_AUTH_SECRET");
                assert!(reason.contains("at least 32 bytes"), "{reason}");
                assert!(reason.contains("got 31"), "{reason}");
            }
            other => panic!("a 31-byte secret was accepted: {other:?}"),
        }
        let accepted = Cli::try_parse_from(["x", "--auth-secret", &"s".repeat(32)]).unwrap();
        accepted.api.validate().unwrap();
    }

    #[test]
    fn unusable_values_are_refused_at_start_up() {
        let cli = Cli::try_parse_from(["x", "--hold-ttl", "0"]).unwrap();
        assert!(cli.api.validate().is_err());
        let cli = Cli::try_parse_from(["x", "--auth-secret", "short"]).unwrap();
        assert!(cli.api.validate().is_err());
        assert!(Cli::try_parse_from(["x", "--guest-auth", "maybe"]).is_err());
        assert!(Cli::try_parse_from(["x", "--trusted-proxies", "10.0.0.0/8,lb.local"]).is_err());
        let cli = Cli::try_parse_from(["x", "--trusted-proxies", "10.0.0.0/8,192.0.2.10"]).unwrap();
        assert_eq!(cli.api.trusted_proxies.len(), 2);
        let cli = Cli::try_parse_from(["x", "--guest-auth", "false"]).unwrap();
        assert!(!cli.api.guest_auth);
    }
}
