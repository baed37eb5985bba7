//! The operator's settings of the live fan-out (flags and `BOXOFFICE_LIVE_*` environment
//! variables of `boxoffice dev` and `boxoffice serve`), checked and turned into [`LiveTuning`].

use crate::{
    DEFAULT_PING_EVERY_MS, DEFAULT_QUEUE_FRAMES, DEFAULT_WINDOW_MAX_MS, DEFAULT_WINDOW_MIN_MS,
    DEFAULT_WINDOW_PER_VIEWER_US, DEFAULT_WRITE_STALL_MS, LiveTuning,
};

/// A setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {reason}")]
pub struct InvalidSetting {
    /// The environment variable naming the setting.
    pub setting: &'static str,
    /// Why it cannot work.
    pub reason: &'static str,
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
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        let invalid =
            |setting: &'static str, reason: &'static str| Err(InvalidSetting { setting, reason });
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
    use std::time::Duration;

    use super::*;
    use clap::Parser;

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
