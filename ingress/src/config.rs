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
    pub live: LiveConfig,
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
        self.live.validate()
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

/// The operator's settings of the live fan-out: flags of `boxoffice dev` and `boxoffice serve`,
/// each also a `BOXOFFICE_LIVE_*` environment variable. The rest of [`LiveTuning`] keeps its
/// defaults.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct LiveConfig {
    /// Shortest coalescing window of a show's seat changes, in milliseconds: a show's changes
    /// within one window go out as one SEAT_UPDATE frame (the first change after a quiet spell
    /// goes out at once).
    #[arg(
        long = "live-window-min-ms",
        env = "BOXOFFICE_LIVE_WINDOW_MIN_MS",
        default_value_t = DEFAULT_WINDOW_MIN_MS
    )]
    pub window_min_ms: u64,

    /// Longest coalescing window, in milliseconds.
    #[arg(
        long = "live-window-max-ms",
        env = "BOXOFFICE_LIVE_WINDOW_MAX_MS",
        default_value_t = DEFAULT_WINDOW_MAX_MS
    )]
    pub window_max_ms: u64,

    /// How much a show's window grows per viewer in this process, in microseconds (one frame
    /// written to one viewer costs a few microseconds of CPU, mostly the socket write): a show
    /// with many viewers sends fewer, larger frames, so its fan-out stays a bounded share of a
    /// core. 0 keeps every show at the shortest window.
    #[arg(
        long = "live-window-per-viewer-us",
        env = "BOXOFFICE_LIVE_WINDOW_PER_VIEWER_US",
        default_value_t = DEFAULT_WINDOW_PER_VIEWER_US
    )]
    pub window_per_viewer_us: u64,

    /// A viewer's send-queue bound, in frames: a viewer this many frames behind the show is
    /// closed with 4001 (too slow) and reconnects for a fresh snapshot; others never wait for it.
    #[arg(
        long = "live-queue-frames",
        env = "BOXOFFICE_LIVE_QUEUE_FRAMES",
        default_value_t = DEFAULT_QUEUE_FRAMES
    )]
    pub queue_frames: usize,

    /// A viewer whose socket takes no byte for this long is closed with 4001 even if it is not
    /// yet a whole queue behind, in milliseconds.
    #[arg(
        long = "live-write-stall-ms",
        env = "BOXOFFICE_LIVE_WRITE_STALL_MS",
        default_value_t = DEFAULT_WRITE_STALL_MS
    )]
    pub write_stall_ms: u64,

    /// Keepalive ping period, in milliseconds; a viewer silent for two periods is dropped.
    #[arg(
        long = "live-ping-interval-ms",
        env = "BOXOFFICE_LIVE_PING_INTERVAL_MS",
        default_value_t = DEFAULT_PING_EVERY_MS
    )]
    pub ping_interval_ms: u64,
}

use live::{
    DEFAULT_PING_EVERY_MS, DEFAULT_QUEUE_FRAMES, DEFAULT_WINDOW_MAX_MS, DEFAULT_WINDOW_MIN_MS,
    DEFAULT_WINDOW_PER_VIEWER_US, DEFAULT_WRITE_STALL_MS, LiveTuning,
};

impl LiveConfig {
    /// The fan-out's settings: these, and defaults for the rest.
    pub fn tuning(&self) -> LiveTuning {
        LiveTuning {
            coalesce_min_ms: self.window_min_ms,
            coalesce_max_ms: self.window_max_ms,
            coalesce_us_per_viewer: self.window_per_viewer_us,
            queue_frames: self.queue_frames,
            write_stall_ms: self.write_stall_ms,
            ping_every_ms: self.ping_interval_ms,
            ..LiveTuning::default()
        }
    }
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            window_min_ms: DEFAULT_WINDOW_MIN_MS,
            window_max_ms: DEFAULT_WINDOW_MAX_MS,
            window_per_viewer_us: DEFAULT_WINDOW_PER_VIEWER_US,
            queue_frames: DEFAULT_QUEUE_FRAMES,
            write_stall_ms: DEFAULT_WRITE_STALL_MS,
            ping_interval_ms: DEFAULT_PING_EVERY_MS,
        }
    }
}

impl LiveConfig {
    /// Check every setting; the first unusable one is reported.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |setting: &'static str, reason: &str| {
            Err(ConfigError::Invalid {
                setting,
                reason: reason.to_owned(),
            })
        };
        if self.window_min_ms > 10_000 {
            return invalid("BOXOFFICE_LIVE_WINDOW_MIN_MS", "must be at most 10000");
        }
        if self.window_max_ms < self.window_min_ms || self.window_max_ms > 10_000 {
            return invalid(
                "BOXOFFICE_LIVE_WINDOW_MAX_MS",
                "must be at least the shortest window and at most 10000",
            );
        }
        if self.window_per_viewer_us > 1_000_000 {
            return invalid(
                "BOXOFFICE_LIVE_WINDOW_PER_VIEWER_US",
                "must be at most 1000000",
            );
        }
        if !(1..=4096).contains(&self.queue_frames) {
            return invalid("BOXOFFICE_LIVE_QUEUE_FRAMES", "must be 1..=4096");
        }
        if self.write_stall_ms < 100 {
            return invalid("BOXOFFICE_LIVE_WRITE_STALL_MS", "must be at least 100");
        }
        if self.ping_interval_ms < 10 {
            return invalid("BOXOFFICE_LIVE_PING_INTERVAL_MS", "must be at least 10");
        }
        Ok(())
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

    #[derive(Parser)]
    struct LiveCli {
        #[command(flatten)]
        live: LiveConfig,
    }

    #[test]
    fn flags_default_to_the_tuning_defaults_and_set_the_tuning() {
        let defaults = LiveCli::try_parse_from(["x"]).unwrap().live;
        assert_eq!(defaults, LiveConfig::default());
        defaults.validate().unwrap();
        let fallback = LiveTuning::default();
        let tuning = defaults.tuning();
        assert_eq!(tuning.window(10_000), fallback.window(10_000));
        assert_eq!(tuning.queue_frames, fallback.queue_frames);
        assert_eq!(tuning.ping_every_ms, fallback.ping_every_ms);

        let cli = LiveCli::try_parse_from([
            "x",
            "--live-window-min-ms",
            "20",
            "--live-window-max-ms",
            "80",
            "--live-window-per-viewer-us",
            "4",
            "--live-queue-frames",
            "8",
            "--live-write-stall-ms",
            "500",
            "--live-ping-interval-ms",
            "1000",
        ])
        .unwrap();
        cli.live.validate().unwrap();
        let tuning = cli.live.tuning();
        let ms = Duration::from_millis;
        assert_eq!(tuning.window(1), ms(20));
        assert_eq!(tuning.window(10_000), ms(40));
        assert_eq!(tuning.window(100_000), ms(80));
        assert_eq!(tuning.queue_frames, 8);
        assert_eq!(tuning.write_stall_ms, 500);
        assert_eq!(tuning.ping_every_ms, 1000);
    }

    #[test]
    fn unusable_live_settings_are_refused() {
        for args in [
            &[
                "x",
                "--live-window-min-ms",
                "100",
                "--live-window-max-ms",
                "50",
            ][..],
            &["x", "--live-queue-frames", "0"],
            &["x", "--live-ping-interval-ms", "1"],
            &["x", "--live-write-stall-ms", "5"],
        ] {
            let cli = LiveCli::try_parse_from(args).unwrap();
            assert!(cli.live.validate().is_err(), "{args:?}");
        }
    }
}
