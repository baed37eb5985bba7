//! One show's live channel: the follower task that turns the show's seat deltas into frames, and
//! the state viewers attach to.
//!
//! The follower subscribes to the show's feed first and only then reads the seat state, so no
//! committed change can fall between the two: deltas already contained in the state are dropped
//! by version, later ones apply on top. It coalesces changes for a short window into one
//! `SEAT_UPDATE` (last status per seat), writes the frame once and hands the same bytes to every
//! viewer through a bounded ring (a tokio broadcast channel): each viewer's queue is its position
//! in that ring, so a frame is stored once however many viewers there are.
//!
//! Gaps: when the feed skips a version (a lost NATS message, a lagging in-process subscriber) or
//! goes quiet while the source of truth moved on, the follower re-reads the seat state and
//! publishes the difference as an ordinary update whose `fromVersion` is the version viewers
//! already have. Viewers never see a gap; they see a slightly larger update.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use processors::reader::{ShowReader, ShowSnapshot};
use schemas::{SeatDelta, SeatId, SeatStatus, ShowId, UnixMs};
use tokio::sync::{OnceCell, broadcast, watch};
use tokio::time::{Instant, sleep_until};

use super::LiveTuning;
use super::feed::{FeedError, FeedItem, SeatFeed};
use super::frame;
use super::wire::Message;

/// What a viewer attaches to: the show's current frame-level state and its ring of frames.
pub struct ShowChannel {
    show: ShowId,
    shared: Mutex<Shared>,
    ready: watch::Sender<bool>,
}

struct Shared {
    /// The seats as of the last frame published; `None` until the first read of the show.
    view: Option<View>,
    frames: broadcast::Sender<Message>,
    /// Shut down: no viewer attaches any more.
    closed: bool,
}

struct View {
    version: u64,
    statuses: Arc<Vec<SeatStatus>>,
    /// The SNAPSHOT message of this version, written by the first viewer that needs it.
    snapshot: Arc<OnceCell<Message>>,
}

/// A viewer's start: the snapshot frame and the ring positioned right after it.
pub struct Attachment {
    /// The SNAPSHOT message.
    pub snapshot: Message,
    /// Every later message, in order.
    pub frames: broadcast::Receiver<Message>,
}

impl ShowChannel {
    /// A channel whose ring keeps `queue_frames` frames.
    pub fn new(show: ShowId, queue_frames: usize) -> ShowChannel {
        let (frames, _) = broadcast::channel(queue_frames.max(1));
        ShowChannel {
            show,
            shared: Mutex::new(Shared {
                view: None,
                frames,
                closed: false,
            }),
            ready: watch::channel(false).0,
        }
    }

    /// Wait (at most `timeout`) until the follower has read the show, then attach: the snapshot
    /// of the last published version and the ring from the next frame on. `None` on timeout.
    pub async fn attach(&self, timeout: Duration) -> Option<Attachment> {
        let mut ready = self.ready.subscribe();
        tokio::time::timeout(timeout, ready.wait_for(|r| *r))
            .await
            .ok()?
            .ok()?;
        let (version, statuses, cell, frames) = {
            let shared = self.shared.lock().expect("live show lock");
            if shared.closed {
                return None;
            }
            let view = shared.view.as_ref()?;
            (
                view.version,
                view.statuses.clone(),
                view.snapshot.clone(),
                shared.frames.subscribe(),
            )
        };
        let snapshot = cell
            .get_or_init(|| async {
                metrics::counter!("boxoffice_live_snapshots_written_total").increment(1);
                Message::text(frame::snapshot(version, seats_of(self.show, &statuses)))
            })
            .await
            .clone();
        Some(Attachment { snapshot, frames })
    }

    /// Frames in the ring that some attached viewer has not taken yet (0: the fan-out of every
    /// frame so far is done).
    pub fn queued(&self) -> usize {
        self.shared.lock().expect("live show lock").frames.len()
    }

    /// Viewers attached to the ring right now.
    pub fn viewers(&self) -> usize {
        self.shared
            .lock()
            .expect("live show lock")
            .frames
            .receiver_count()
    }

    /// End the ring: attached viewers receive what is queued, then see it closed (their signal
    /// to say goodbye). Closing the ring rather than signalling every viewer separately keeps
    /// the per-frame path of 10,000 viewers free of a shared lock.
    pub fn close(&self) {
        let mut shared = self.shared.lock().expect("live show lock");
        shared.closed = true;
        shared.frames = broadcast::channel(1).0;
    }

    fn install(&self, flushed: &Coalescer) {
        let mut shared = self.shared.lock().expect("live show lock");
        shared.view = Some(View {
            version: flushed.flushed_version,
            statuses: Arc::new(flushed.flushed.clone()),
            snapshot: Arc::new(OnceCell::new()),
        });
        drop(shared);
        self.ready.send_replace(true);
    }

    fn publish(&self, update: &Update, message: Message) {
        let mut shared = self.shared.lock().expect("live show lock");
        if let Some(view) = shared.view.as_mut() {
            let statuses = Arc::make_mut(&mut view.statuses);
            for (index, status) in &update.seats {
                statuses[*index as usize] = *status;
            }
            view.version = update.version;
            view.snapshot = Arc::new(OnceCell::new());
        }
        // No receiver just means no viewer is attached at this instant. Counted here rather than
        // per viewer: a shared counter touched 10,000 times per frame costs more than the frame.
        if let Ok(viewers) = shared.frames.send(message) {
            metrics::counter!("boxoffice_live_frames_fanned_out_total").increment(viewers as u64);
        }
    }
}

fn seats_of(
    show: ShowId,
    statuses: &[SeatStatus],
) -> impl Iterator<Item = (SeatId, SeatStatus)> + '_ {
    statuses
        .iter()
        .enumerate()
        .map(move |(i, s)| (SeatId::derive(show, i as u32), *s))
}

/// A coalesced change ready to be written: from the last published version to the newest known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    /// Version viewers have.
    pub from_version: u64,
    /// Version after the update.
    pub version: u64,
    /// Seats (layout index) whose status differs from what viewers have.
    pub seats: Vec<(u32, SeatStatus)>,
    /// When the newest change was committed (stream time), if a delta carried it.
    pub at: Option<UnixMs>,
}

/// How a delta relates to the follower's position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offer {
    /// Applied on top of the current version.
    Applied,
    /// Already contained (a duplicate, or a delta older than the state read).
    Stale,
    /// Starts after the current version: something was missed.
    Gap,
}

/// The pure core of the follower: the newest known seat statuses, what was last published, and
/// which seats changed in between.
#[derive(Clone, Debug)]
pub struct Coalescer {
    seat0: SeatId,
    current: Vec<SeatStatus>,
    version: u64,
    flushed: Vec<SeatStatus>,
    flushed_version: u64,
    touched: Vec<u32>,
    at: Option<UnixMs>,
    unknown_seats: u64,
}

impl Coalescer {
    /// Start from `show`'s seat statuses (layout order) at `version`.
    pub fn new(show: ShowId, version: u64, statuses: Vec<SeatStatus>) -> Coalescer {
        Coalescer {
            seat0: SeatId::derive(show, 0),
            current: statuses.clone(),
            version,
            flushed: statuses,
            flushed_version: version,
            touched: Vec::new(),
            at: None,
            unknown_seats: 0,
        }
    }

    /// The newest known version.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Whether something is waiting to be published.
    pub fn has_pending(&self) -> bool {
        self.version != self.flushed_version
    }

    /// Apply `delta` if it continues the current version.
    pub fn offer(&mut self, delta: &SeatDelta) -> Offer {
        if delta.version <= self.version {
            return Offer::Stale;
        }
        if delta.from_version != self.version {
            return Offer::Gap;
        }
        for change in &delta.changes {
            match self.index_of(change.seat_id) {
                Some(index) => {
                    self.current[index as usize] = change.status;
                    self.touched.push(index);
                }
                None => self.unknown_seats += 1,
            }
        }
        self.version = delta.version;
        self.at = Some(delta.at);
        Offer::Applied
    }

    /// Catch up with a fresh read of the show: every seat that differs becomes part of the next
    /// update. A read older than what is already known changes nothing (returns false).
    pub fn resync(&mut self, version: u64, statuses: impl Iterator<Item = SeatStatus>) -> bool {
        if version <= self.version {
            return false;
        }
        for (index, status) in statuses.enumerate() {
            if let Some(slot) = self.current.get_mut(index)
                && *slot != status
            {
                *slot = status;
                self.touched.push(index as u32);
            }
        }
        self.version = version;
        true
    }

    /// The update from the last published version to the newest, if the version moved. Seats
    /// that changed and changed back are left out; the version still advances.
    pub fn take_update(&mut self) -> Option<Update> {
        if !self.has_pending() {
            return None;
        }
        self.touched.sort_unstable();
        self.touched.dedup();
        let mut seats = Vec::with_capacity(self.touched.len());
        for index in self.touched.drain(..) {
            let now = self.current[index as usize];
            let was = &mut self.flushed[index as usize];
            if *was != now {
                *was = now;
                seats.push((index, now));
            }
        }
        let update = Update {
            from_version: self.flushed_version,
            version: self.version,
            seats,
            at: self.at.take(),
        };
        self.flushed_version = self.version;
        Some(update)
    }

    /// Changes naming seats this show does not have (ignored), since the start.
    pub fn unknown_seats(&self) -> u64 {
        self.unknown_seats
    }

    fn index_of(&self, seat: SeatId) -> Option<u32> {
        seat.index_with_prefix(&self.seat0)
            .filter(|i| (*i as usize) < self.current.len())
    }
}

/// Why following a show stopped for a moment (the follower retries).
#[derive(Debug, thiserror::Error)]
enum FollowError {
    #[error(transparent)]
    Feed(#[from] FeedError),
    #[error("reading the show failed: {0}")]
    Read(#[from] processors::store::StoreError),
    #[error("the show has no seat state")]
    Missing,
    #[error("the seat feed ended")]
    FeedEnded,
}

/// Follow `channel`'s show until aborted (the registry aborts it when the last viewer leaves).
pub async fn follow_forever(
    channel: Arc<ShowChannel>,
    feed: Arc<dyn SeatFeed>,
    reader: Arc<dyn ShowReader>,
    tuning: LiveTuning,
    clock: clock::SharedClock,
) {
    let mut state: Option<Coalescer> = None;
    let mut backoff = Duration::from_millis(100);
    loop {
        let started = Instant::now();
        let sources = Sources {
            feed: &*feed,
            reader: &*reader,
            clock: &*clock,
        };
        let Err(e) = follow(&channel, sources, &tuning, &mut state).await;
        tracing::warn!(show = %channel.show, error = %e, "live seat follower restarting");
        if started.elapsed() > Duration::from_secs(10) {
            backoff = Duration::from_millis(100);
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn read_show(reader: &dyn ShowReader, show: ShowId) -> Result<ShowSnapshot, FollowError> {
    reader.show(show).await?.ok_or(FollowError::Missing)
}

fn statuses(snapshot: &ShowSnapshot) -> impl Iterator<Item = SeatStatus> + '_ {
    snapshot.state.seat_statuses().map(|(_, status)| status)
}

fn resync(coalescer: &mut Coalescer, snapshot: &ShowSnapshot) -> bool {
    coalescer.resync(snapshot.version, statuses(snapshot))
}

/// Where a follower reads from.
#[derive(Clone, Copy)]
struct Sources<'a> {
    feed: &'a dyn SeatFeed,
    reader: &'a dyn ShowReader,
    clock: &'a dyn clock::Clock,
}

async fn follow(
    channel: &ShowChannel,
    Sources {
        feed,
        reader,
        clock,
    }: Sources<'_>,
    tuning: &LiveTuning,
    state: &mut Option<Coalescer>,
) -> Result<std::convert::Infallible, FollowError> {
    let show = channel.show;
    let mut deltas = feed.subscribe(show).await?;
    let snapshot = read_show(reader, show).await?;
    let coalescer = match state {
        Some(c) => {
            resync(c, &snapshot);
            c
        }
        None => {
            let c = state.insert(Coalescer::new(
                show,
                snapshot.version,
                statuses(&snapshot).collect(),
            ));
            channel.install(c);
            c
        }
    };
    let mut last_flush = Instant::now() - tuning.window(0);
    let mut deadline = coalescer.has_pending().then(Instant::now);
    let mut last_heard = Instant::now();
    // When the oldest change not yet published reached this process.
    let mut oldest_pending: Option<Instant> = None;
    let mut audit = tokio::time::interval(tuning.audit());
    audit.reset();
    loop {
        tokio::select! {
            item = deltas.next() => {
                last_heard = Instant::now();
                match item {
                    None => return Err(FollowError::FeedEnded),
                    Some(FeedItem::Delta(delta)) => {
                        record_feed_lag(&delta, clock.now());
                        oldest_pending.get_or_insert_with(Instant::now);
                        if coalescer.offer(&delta) == Offer::Gap {
                            metrics::counter!("boxoffice_live_resyncs_total", "why" => "gap").increment(1);
                            resync(coalescer, &read_show(reader, show).await?);
                            coalescer.offer(&delta);
                        }
                    }
                    Some(FeedItem::Lost) => {
                        metrics::counter!("boxoffice_live_resyncs_total", "why" => "lost").increment(1);
                        resync(coalescer, &read_show(reader, show).await?);
                    }
                }
            }
            () = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                deadline = None;
                last_flush = Instant::now();
                if let Some(since) = oldest_pending.take() {
                    let waited = since.elapsed();
                    metrics::histogram!("boxoffice_live_coalesce_wait_seconds")
                        .record(waited.as_secs_f64());
                    tracing::debug!(version = coalescer.version(), waited_ms = waited.as_millis() as u64,
                        queued = channel.queued(), "live seat update published");
                }
                flush(channel, coalescer, clock.now());
            }
            _ = audit.tick() => {
                // A quiet feed while the show moved on means the tail of the stream was lost.
                if last_heard.elapsed() >= tuning.audit() {
                    let snapshot = read_show(reader, show).await?;
                    if resync(coalescer, &snapshot) {
                        metrics::counter!("boxoffice_live_resyncs_total", "why" => "quiet").increment(1);
                    }
                }
            }
        }
        if deadline.is_none() && coalescer.has_pending() {
            // Leading edge right away when idle, then at most one frame per window.
            let window = tuning.window(channel.viewers());
            deadline = Some((last_flush + window).max(Instant::now()));
        }
    }
}

/// How long after its stream time (when the command was logged) a delta reached this process:
/// the pipeline's share of a viewer's latency (decide, persist, publish, delivery).
fn record_feed_lag(delta: &SeatDelta, now: schemas::UnixMs) {
    let lag_ms = now.0.saturating_sub(delta.at.0).max(0);
    metrics::histogram!("boxoffice_live_feed_lag_seconds").record(lag_ms as f64 / 1e3);
    tracing::debug!(version = delta.version, lag_ms, "live seat delta received");
}

/// Send what the coalescer gathered; an update without a log time is stamped `now`.
fn flush(channel: &ShowChannel, coalescer: &mut Coalescer, now: schemas::UnixMs) {
    let Some(update) = coalescer.take_update() else {
        return;
    };
    let show = channel.show;
    let at = update.at.unwrap_or(now);
    let payload = frame::seat_update(
        update.from_version,
        update.version,
        update
            .seats
            .iter()
            .map(|(index, status)| (SeatId::derive(show, *index), *status)),
        at,
    );
    metrics::counter!("boxoffice_live_updates_published_total").increment(1);
    channel.publish(&update, Message::text(payload));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire;
    use SeatStatus::{Available as A, Booked as B, Held as H};
    use schemas::SeatChange;

    fn show() -> ShowId {
        ShowId(uuid::Uuid::from_u128(7))
    }

    fn delta(from: u64, to: u64, changes: &[(u32, SeatStatus)]) -> SeatDelta {
        SeatDelta {
            schema: schemas::SCHEMA_VERSION,
            show_id: show(),
            from_version: from,
            version: to,
            changes: changes
                .iter()
                .map(|(i, s)| SeatChange {
                    seat_id: SeatId::derive(show(), *i),
                    status: *s,
                })
                .collect(),
            at: UnixMs(to as i64 * 10),
        }
    }

    fn fresh() -> Coalescer {
        Coalescer::new(show(), 5, vec![A; 6])
    }

    #[test]
    fn contiguous_deltas_coalesce_into_one_update_with_the_last_status_per_seat() {
        let mut c = fresh();
        assert_eq!(c.offer(&delta(5, 6, &[(1, H), (2, H)])), Offer::Applied);
        assert_eq!(c.offer(&delta(6, 9, &[(2, B), (4, H)])), Offer::Applied);
        let update = c.take_update().unwrap();
        assert_eq!(
            update,
            Update {
                from_version: 5,
                version: 9,
                seats: vec![(1, H), (2, B), (4, H)],
                at: Some(UnixMs(90)),
            }
        );
        assert_eq!(c.take_update(), None, "nothing new");
        c.offer(&delta(9, 10, &[(1, A)]));
        assert_eq!(
            c.take_update().unwrap().from_version,
            9,
            "continues the chain"
        );
    }

    #[test]
    fn old_and_duplicate_deltas_are_stale_and_skipped_versions_are_gaps() {
        let mut c = fresh();
        assert_eq!(c.offer(&delta(4, 5, &[(0, H)])), Offer::Stale);
        assert_eq!(c.offer(&delta(6, 7, &[(0, H)])), Offer::Gap);
        assert!(!c.has_pending());
        assert_eq!(c.offer(&delta(5, 6, &[(0, H)])), Offer::Applied);
        assert_eq!(
            c.offer(&delta(5, 6, &[(0, H)])),
            Offer::Stale,
            "redelivered"
        );
        assert_eq!(c.version(), 6);
    }

    #[test]
    fn a_seat_that_changed_back_is_left_out_but_the_version_moves() {
        let mut c = fresh();
        c.offer(&delta(5, 6, &[(3, H)]));
        c.offer(&delta(6, 7, &[(3, A)]));
        let update = c.take_update().unwrap();
        assert_eq!((update.from_version, update.version), (5, 7));
        assert!(update.seats.is_empty());
    }

    #[test]
    fn resync_publishes_the_difference_on_top_of_what_viewers_have() {
        let mut c = fresh();
        c.offer(&delta(5, 6, &[(0, H)]));
        let first = c.take_update().unwrap();
        assert_eq!((first.from_version, first.version), (5, 6));
        // Versions 7..=11 were lost; the source of truth says seats 0 and 5 are booked.
        assert!(c.resync(11, [B, A, A, A, A, B].into_iter()));
        let update = c.take_update().unwrap();
        assert_eq!(update.from_version, 6);
        assert_eq!(update.version, 11);
        assert_eq!(update.seats, vec![(0, B), (5, B)]);
        assert_eq!(c.offer(&delta(11, 12, &[(1, H)])), Offer::Applied);
    }

    #[test]
    fn a_read_older_than_what_is_known_changes_nothing() {
        let mut c = fresh();
        c.offer(&delta(5, 8, &[(2, H)]));
        assert!(!c.resync(7, [B; 6].into_iter()));
        assert!(!c.resync(8, [B; 6].into_iter()));
        assert_eq!(c.take_update().unwrap().seats, vec![(2, H)]);
    }

    #[test]
    fn seats_of_other_shows_or_beyond_the_layout_are_ignored() {
        let mut c = fresh();
        let mut d = delta(5, 6, &[(9, H)]);
        d.changes.push(SeatChange {
            seat_id: SeatId::derive(ShowId(uuid::Uuid::from_u128(8)), 1),
            status: H,
        });
        assert_eq!(c.offer(&d), Offer::Applied);
        assert_eq!(c.unknown_seats(), 2);
        assert!(c.take_update().unwrap().seats.is_empty());
    }

    #[tokio::test]
    async fn viewers_attach_at_the_published_version_and_get_later_frames_in_order() {
        let channel = ShowChannel::new(show(), 4);
        assert!(
            channel.attach(Duration::from_millis(10)).await.is_none(),
            "not read yet"
        );
        let mut c = fresh();
        channel.install(&c);
        let mut early = channel.attach(Duration::from_secs(1)).await.unwrap();
        let snap: serde_json::Value =
            serde_json::from_slice(wire::payload_of(&early.snapshot.frame(false))).unwrap();
        assert_eq!(snap["version"], 5);
        assert_eq!(snap["seats"].as_array().unwrap().len(), 6);
        c.offer(&delta(5, 6, &[(2, H)]));
        flush(&channel, &mut c, schemas::UnixMs(0));
        let late = channel.attach(Duration::from_secs(1)).await.unwrap();
        let snap: serde_json::Value =
            serde_json::from_slice(wire::payload_of(&late.snapshot.frame(false))).unwrap();
        assert_eq!(snap["version"], 6);
        assert_eq!(snap["seats"][2]["status"], "HELD");
        let update = early.frames.recv().await.unwrap();
        let update: serde_json::Value =
            serde_json::from_slice(wire::payload_of(&update.frame(false))).unwrap();
        assert_eq!(update["fromVersion"], 5);
        assert_eq!(update["version"], 6);
        assert!(late.frames.is_empty());
    }
}
