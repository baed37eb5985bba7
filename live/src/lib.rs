//! Live seat maps: `GET /v1/shows/{showId}/seats/live` upgrades to a WebSocket that sends a
//! `SNAPSHOT` of every seat, then `SEAT_UPDATE`s, each naming the version it applies on top of.
//!
//! # Layout
//! - [`feed`]: [`feed::SeatFeed`], a show's committed seat deltas ([`feed::HubFeed`] in dev
//!   mode, [`feed::NatsFeed`] on `seats.<showId>` in serve mode).
//! - [`show`]: one follower task per show with viewers in this process: subscribe, then read the
//!   seats, coalesce deltas over a window that grows with the show's viewers
//!   ([`LiveTuning::window`]), repair gaps from the source of
//!   truth, write each frame once into the show's bounded ring ([`show::ShowChannel`]).
//! - [`frame`]: the JSON of the two frames.
//! - [`wire`]: WebSocket framing: frames encoded once (header included) and shared by every
//!   viewer, in a plain and a compressed form ([`wire::Message`]); the small parser for what
//!   viewers send.
//! - [`deflate`]: permessage-deflate (RFC 7692): the offer a viewer makes on upgrade, and
//!   compressing a message once, with a fresh context, for every viewer that took it.
//! - [`viewer`]: one task per connection: snapshot, frames, pings, 4001 for the too slow.
//! - [`upgrade`]: the WebSocket handshake.
//!
//! A connection flows: handler (show exists? else 404, still plain HTTP) -> [`LiveSeats::join`]
//! (counts the viewer; the first viewer of a show starts its follower) -> `101` -> the follower
//! has read the show -> attach (snapshot + ring position, atomically) -> [`viewer::serve`] ->
//! leave (the last viewer of a show stops its follower and drops the subscription).

pub mod config;
pub mod deflate;
pub mod feed;
pub mod frame;
pub mod show;
pub mod upgrade;
pub mod viewer;
pub mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use processors::reader::ShowReader;
use schemas::ShowId;
use tokio::sync::watch;
use tokio::task::AbortHandle;

pub use config::{InvalidSetting, LiveConfig};
use feed::SeatFeed;
use show::ShowChannel;

/// Default shortest coalescing window, in milliseconds.
pub const DEFAULT_WINDOW_MIN_MS: u64 = 50;
/// Default longest coalescing window, in milliseconds.
pub const DEFAULT_WINDOW_MAX_MS: u64 = 250;
/// Default window per viewer: 80 ms at 10,000 viewers. When the fan-out of one frame takes longer
/// than the window, viewers catch up with one write for the frames they missed, so a shorter
/// window costs little CPU then and cuts the wait: 15 us (150 ms) gave p99 956-1,670 ms in serve
/// mode on the busy 2-core box, 8 us 449-986 ms in the same runs (docs/BENCHMARKS.md, ws).
pub const DEFAULT_WINDOW_PER_VIEWER_US: u64 = 8;
/// Default send-queue bound of a viewer, in frames.
pub const DEFAULT_QUEUE_FRAMES: usize = 32;
/// Default stall after which a viewer counts as too slow, in milliseconds.
pub const DEFAULT_WRITE_STALL_MS: u64 = 10_000;
/// Default keepalive ping period, in milliseconds.
pub const DEFAULT_PING_EVERY_MS: u64 = 20_000;

/// Sizes and periods of the live fan-out (the operator's settings set a share of them).
#[derive(Clone, Debug)]
pub struct LiveTuning {
    /// Shortest coalescing window: changes of a show within one window go out as one update
    /// (the first change after a quiet spell goes out at once).
    pub coalesce_min_ms: u64,
    /// Longest coalescing window.
    pub coalesce_max_ms: u64,
    /// Window per attached viewer, in microseconds: writing one frame to one viewer costs a
    /// few microseconds of CPU (a socket write), so a show with many viewers sends fewer,
    /// larger frames and its fan-out stays a bounded share of a core.
    pub coalesce_us_per_viewer: u64,
    /// Frames a viewer may be behind before it is closed as too slow (the show's ring size).
    pub queue_frames: usize,
    /// Initial per-connection read buffer (viewers only send pongs and close frames).
    pub read_buffer_bytes: usize,
    /// Largest frame payload a viewer may send (a larger one closes with 1009).
    pub inbound_message_bytes_max: usize,
    /// A write that makes no progress this long marks the viewer too slow.
    pub write_stall_ms: u64,
    /// How long a close handshake may take before the connection is dropped.
    pub close_grace_ms: u64,
    /// Keepalive ping period; a viewer silent for two periods is gone.
    pub ping_every_ms: u64,
    /// A show whose feed was quiet this long is compared with the source of truth (a lost tail).
    pub audit_every_ms: u64,
    /// How long a new viewer waits for the show's first read before giving up.
    pub ready_timeout_ms: u64,
    /// How long shutdown waits for viewers to take their close frames.
    pub shutdown_grace_ms: u64,
}

impl Default for LiveTuning {
    fn default() -> Self {
        LiveTuning {
            coalesce_min_ms: DEFAULT_WINDOW_MIN_MS,
            coalesce_max_ms: DEFAULT_WINDOW_MAX_MS,
            coalesce_us_per_viewer: DEFAULT_WINDOW_PER_VIEWER_US,
            queue_frames: DEFAULT_QUEUE_FRAMES,
            read_buffer_bytes: 256,
            inbound_message_bytes_max: 1024,
            write_stall_ms: DEFAULT_WRITE_STALL_MS,
            close_grace_ms: 5_000,
            ping_every_ms: DEFAULT_PING_EVERY_MS,
            audit_every_ms: 5_000,
            ready_timeout_ms: 10_000,
            shutdown_grace_ms: 2_000,
        }
    }
}

impl LiveTuning {
    /// The coalescing window of a show with `viewers`: `viewers` x
    /// [`Self::coalesce_us_per_viewer`], within [`Self::coalesce_min_ms`]..[`Self::coalesce_max_ms`].
    pub fn window(&self, viewers: usize) -> Duration {
        let scaled =
            Duration::from_micros(self.coalesce_us_per_viewer.saturating_mul(viewers as u64));
        scaled.clamp(
            Duration::from_millis(self.coalesce_min_ms),
            Duration::from_millis(self.coalesce_max_ms.max(self.coalesce_min_ms)),
        )
    }
    fn write_stall(&self) -> Duration {
        Duration::from_millis(self.write_stall_ms)
    }
    fn close_grace(&self) -> Duration {
        Duration::from_millis(self.close_grace_ms)
    }
    fn ping_every(&self) -> Duration {
        Duration::from_millis(self.ping_every_ms.max(1))
    }
    fn audit(&self) -> Duration {
        Duration::from_millis(self.audit_every_ms.max(1))
    }
}

/// The live fan-out of one process: which shows have viewers, their followers, and shutdown.
/// Cloning shares it.
#[derive(Clone)]
pub struct LiveSeats {
    inner: Arc<Registry>,
}

struct Registry {
    feed: Arc<dyn SeatFeed>,
    reader: Arc<dyn ShowReader>,
    tuning: LiveTuning,
    /// For the feed-lag metric (a delta's log time against now).
    clock: clock::SharedClock,
    shows: Mutex<HashMap<ShowId, ShowEntry>>,
    closing: watch::Sender<bool>,
    viewers: watch::Sender<usize>,
}

struct ShowEntry {
    channel: Arc<ShowChannel>,
    viewers: usize,
    follower: AbortHandle,
}

impl std::fmt::Debug for LiveSeats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSeats")
            .field("viewers", &self.viewers())
            .field("shows", &self.shows_followed())
            .finish_non_exhaustive()
    }
}

/// A counted viewer of a show; leaving (drop) stops the show's follower when it was the last.
pub struct Ticket {
    registry: Arc<Registry>,
    show: ShowId,
    channel: Arc<ShowChannel>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.registry.leave(self.show);
    }
}

impl LiveSeats {
    /// A fan-out following shows through `feed` and reading them through `reader`.
    pub fn new(
        feed: Arc<dyn SeatFeed>,
        reader: Arc<dyn ShowReader>,
        tuning: LiveTuning,
        clock: clock::SharedClock,
    ) -> Self {
        LiveSeats {
            inner: Arc::new(Registry {
                feed,
                reader,
                tuning,
                clock,
                shows: Mutex::new(HashMap::new()),
                closing: watch::channel(false).0,
                viewers: watch::channel(0).0,
            }),
        }
    }

    /// Settings in use.
    pub fn tuning(&self) -> &LiveTuning {
        &self.inner.tuning
    }

    /// Viewers connected to this process.
    pub fn viewers(&self) -> usize {
        *self.inner.viewers.borrow()
    }

    /// Shows this process follows (those with viewers).
    pub fn shows_followed(&self) -> usize {
        self.inner.shows.lock().expect("live registry lock").len()
    }

    /// Whether `show` has viewers here (then it is known to exist).
    pub fn is_followed(&self, show: ShowId) -> bool {
        self.inner
            .shows
            .lock()
            .expect("live registry lock")
            .contains_key(&show)
    }

    /// Count a viewer of `show`, starting the show's follower if it is the first.
    pub fn join(&self, show: ShowId) -> Ticket {
        let registry = &self.inner;
        let mut shows = registry.shows.lock().expect("live registry lock");
        let entry = shows.entry(show).or_insert_with(|| {
            let channel = Arc::new(ShowChannel::new(show, registry.tuning.queue_frames));
            let follower = tokio::spawn(show::follow_forever(
                channel.clone(),
                registry.feed.clone(),
                registry.reader.clone(),
                registry.tuning.clone(),
                registry.clock.clone(),
            ))
            .abort_handle();
            ShowEntry {
                channel,
                viewers: 0,
                follower,
            }
        });
        entry.viewers += 1;
        let channel = entry.channel.clone();
        let shows_len = shows.len();
        drop(shows);
        registry.viewers.send_modify(|n| *n += 1);
        metrics::gauge!("boxoffice_live_viewers").increment(1.0);
        metrics::gauge!("boxoffice_live_shows").set(shows_len as f64);
        Ticket {
            registry: self.inner.clone(),
            show,
            channel,
        }
    }

    /// Close every viewer with 1001 and wait (at most [`LiveTuning::shutdown_grace_ms`]) until
    /// their connections have ended.
    pub async fn shutdown(&self) {
        self.inner.closing.send_replace(true);
        let channels: Vec<Arc<ShowChannel>> = {
            let shows = self.inner.shows.lock().expect("live registry lock");
            shows.values().map(|entry| entry.channel.clone()).collect()
        };
        for channel in channels {
            channel.close();
        }
        let mut viewers = self.inner.viewers.subscribe();
        let grace = Duration::from_millis(self.inner.tuning.shutdown_grace_ms);
        let _ = tokio::time::timeout(grace, viewers.wait_for(|n| *n == 0)).await;
    }

    /// Take over an upgraded connection as a viewer of the ticket's show; `deflate` when the
    /// handshake agreed on permessage-deflate.
    pub async fn serve_connection<S>(&self, io: S, ticket: Ticket, deflate: bool)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let tuning = &self.inner.tuning;
        let timeout = Duration::from_millis(tuning.ready_timeout_ms);
        if *self.inner.closing.borrow() {
            refuse(
                io,
                wire::close_code::GOING_AWAY,
                "server shutting down",
                tuning,
            )
            .await;
            return;
        }
        let Some(start) = ticket.channel.attach(timeout).await else {
            tracing::warn!(show = %ticket.show, "live seats not ready in time; closing viewer");
            refuse(
                io,
                wire::close_code::TRY_AGAIN_LATER,
                "seat state not available, try again",
                tuning,
            )
            .await;
            return;
        };
        let ending = viewer::serve(io, start, tuning, deflate).await;
        metrics::counter!("boxoffice_live_connections_ended_total", "why" => ending.label())
            .increment(1);
        drop(ticket);
    }
}

/// Close a connection before any frame (1013: the show could not be read in time; 1001: the
/// server is shutting down).
async fn refuse<S>(mut io: S, code: u16, reason: &'static str, tuning: &LiveTuning)
where
    S: tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::AsyncWriteExt;
    let frame = wire::close(code, reason);
    let _ = tokio::time::timeout(tuning.close_grace(), async {
        io.write_all(&frame).await?;
        io.shutdown().await
    })
    .await;
}

impl Registry {
    fn leave(&self, show: ShowId) {
        let mut shows = self.shows.lock().expect("live registry lock");
        if let Some(entry) = shows.get_mut(&show) {
            entry.viewers -= 1;
            if entry.viewers == 0 {
                entry.follower.abort();
                shows.remove(&show);
            }
        }
        let shows_len = shows.len();
        drop(shows);
        self.viewers.send_modify(|n| *n = n.saturating_sub(1));
        metrics::gauge!("boxoffice_live_viewers").decrement(1.0);
        metrics::gauge!("boxoffice_live_shows").set(shows_len as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The tuning's ping interval is the one a served viewer gets (the default, 20 s, would send
    /// nothing within the test; the flag that sets it is tested with the settings).
    #[tokio::test]
    async fn the_ping_interval_takes_effect_on_a_viewer() {
        let tuning = LiveTuning {
            ping_every_ms: 40,
            ..LiveTuning::default()
        };
        let (server, mut peer) = tokio::io::duplex(1 << 16);
        let (_frames, receiver) = tokio::sync::broadcast::channel(4);
        let start = show::Attachment {
            snapshot: wire::Message::text(bytes::Bytes::from_static(b"{}")),
            frames: receiver,
        };
        let served =
            tokio::spawn(async move { viewer::serve(server, start, &tuning, false).await });
        let started = tokio::time::Instant::now();
        let mut frame = [0u8; 4];
        peer.read_exact(&mut frame).await.unwrap();
        assert_eq!(&frame, b"\x81\x02{}", "the snapshot");
        let mut ping = [0u8; 2];
        tokio::time::timeout(Duration::from_secs(2), peer.read_exact(&mut ping))
            .await
            .expect("a ping within a few intervals")
            .unwrap();
        assert_eq!(ping, [0x89, 0x00], "an empty ping");
        assert!(started.elapsed() >= Duration::from_millis(40));
        peer.shutdown().await.unwrap();
        drop(peer);
        assert_eq!(served.await.unwrap(), viewer::Ending::Gone);
    }

    #[test]
    fn the_window_grows_with_viewers_within_bounds() {
        let tuning = LiveTuning::default();
        let ms = Duration::from_millis;
        assert_eq!(tuning.window(0), ms(50));
        assert_eq!(tuning.window(2_000), ms(50));
        assert_eq!(tuning.window(8_000), ms(64));
        assert_eq!(tuning.window(10_000), ms(80));
        assert_eq!(tuning.window(1_000_000), ms(250));
    }
}
