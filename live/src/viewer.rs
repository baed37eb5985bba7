//! One viewer's connection: the snapshot, then every frame of the show's ring, keepalive pings,
//! and the ways a connection ends (viewer closes, viewer too slow, server shutting down, peer gone
//! or breaking the protocol).
//!
//! Frames arrive as complete WebSocket wire bytes shared by every viewer ([`super::wire`]); a
//! viewer writes them straight to its socket, so a connection holds no write buffer of its own
//! and a frame costs one write, whatever its size.
//!
//! Too slow: while a write is stuck the viewer's position in the ring is checked; once more
//! frames are waiting than the ring keeps (or no byte could be written for
//! [`LiveTuning::write_stall_ms`]), the viewer is closed with 4001. Other viewers never wait for
//! it: each has its own task and the ring never blocks the publisher.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::broadcast::{
    self,
    error::{RecvError, TryRecvError},
};
use tokio::time::Instant;

use super::LiveTuning;
use super::show::Attachment;
use super::wire::{self, Inbound, Message, Received, close_code};

/// How often a stuck write looks at how far the viewer has fallen behind.
const LAG_CHECK_EVERY: Duration = Duration::from_millis(100);

/// Most frames a viewer that fell behind writes with one system call.
const FRAMES_PER_WRITE_MAX: usize = 16;

/// Why a connection ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The viewer sent a close frame.
    ClosedByViewer(Option<u16>),
    /// The viewer fell more than the ring behind, or its socket took nothing for too long.
    TooSlow,
    /// The server is shutting down.
    Shutdown,
    /// The connection broke or the peer stopped answering pings.
    Gone,
    /// The viewer broke the protocol (the close code says how).
    Violation(u16),
}

impl Ending {
    /// Bounded metric label.
    pub fn label(self) -> &'static str {
        match self {
            Ending::ClosedByViewer(_) => "closed",
            Ending::TooSlow => "too_slow",
            Ending::Shutdown => "shutdown",
            Ending::Gone => "gone",
            Ending::Violation(_) => "violation",
        }
    }
}

/// A viewer's socket with what was read from it and the frame it may be in the middle of.
struct Link<S> {
    io: S,
    inbound: Inbound,
    /// The viewer negotiated permessage-deflate: it takes the compressed form of messages.
    deflate: bool,
    /// A frame cut short by giving up on a stuck write, and how much of it went out: it must be
    /// finished before a close frame may follow.
    unfinished: Option<(Bytes, usize)>,
}

/// Serve one viewer until the connection ends; returns why. `deflate`: the viewer negotiated
/// permessage-deflate.
pub async fn serve<S>(io: S, start: Attachment, tuning: &LiveTuning, deflate: bool) -> Ending
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    serve_from(io, Some(start.snapshot), start.frames, tuning, deflate).await
}

/// Serve a channel with no snapshot: every message of `frames`, in order, until the connection
/// ends (the waiting room's channel of one buyer's entry uses it). Dropping every sender of
/// `frames` is a shutdown (close 1001); a viewer a whole ring behind is too slow (4001).
pub async fn serve_messages<S>(
    io: S,
    frames: broadcast::Receiver<Message>,
    tuning: &LiveTuning,
    deflate: bool,
) -> Ending
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    serve_from(io, None, frames, tuning, deflate).await
}

async fn serve_from<S>(
    io: S,
    snapshot: Option<Message>,
    frames: broadcast::Receiver<Message>,
    tuning: &LiveTuning,
    deflate: bool,
) -> Ending
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut link = Link {
        io,
        inbound: Inbound::new(
            tuning.read_buffer_bytes,
            tuning.inbound_message_bytes_max,
            deflate,
        ),
        deflate,
        unfinished: None,
    };
    let ending = link.stream_frames(snapshot, frames, tuning).await;
    match ending {
        Ending::TooSlow => {
            metrics::counter!("boxoffice_live_slow_viewers_total").increment(1);
            link.close(close_code::TOO_SLOW, "too slow", tuning).await;
        }
        Ending::Shutdown => {
            link.close(close_code::GOING_AWAY, "server shutting down", tuning)
                .await;
        }
        Ending::ClosedByViewer(code) => {
            let echo = code.unwrap_or(close_code::NORMAL);
            let _ = tokio::time::timeout(tuning.close_grace(), async {
                link.io.write_all(&wire::close(echo, "")).await?;
                link.io.shutdown().await
            })
            .await;
        }
        Ending::Violation(code) => link.close(code, "protocol violation", tuning).await,
        Ending::Gone => {}
    }
    ending
}

impl<S> Link<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    async fn stream_frames(
        &mut self,
        snapshot: Option<Message>,
        mut frames: broadcast::Receiver<Message>,
        tuning: &LiveTuning,
    ) -> Ending {
        if let Some(snapshot) = snapshot {
            let snapshot = snapshot.frame(self.deflate);
            if let Err(ending) = self.write(snapshot, 0, &frames, tuning).await {
                return ending;
            }
        }
        let mut ping = tokio::time::interval(tuning.ping_every());
        ping.reset();
        let mut last_heard = Instant::now();
        loop {
            match self.inbound.next_frame() {
                Ok(Some(received)) => {
                    last_heard = Instant::now();
                    match received {
                        Received::Alive => {}
                        Received::Ping(payload) => {
                            if let Err(ending) =
                                self.write(wire::pong(&payload), 0, &frames, tuning).await
                            {
                                return ending;
                            }
                        }
                        Received::Close(code) => return Ending::ClosedByViewer(code),
                    }
                    continue;
                }
                Ok(None) => {}
                Err(violation) => return Ending::Violation(violation.close_code()),
            }
            tokio::select! {
                frame = frames.recv() => match frame {
                    Ok(message) => {
                        if let Err(ending) = self.write_pending(message, &mut frames, tuning).await {
                            return ending;
                        }
                    }
                    Err(RecvError::Lagged(_)) => return Ending::TooSlow,
                    // Shutdown closes the show's ring (see `ShowChannel::close`).
                    Err(RecvError::Closed) => return Ending::Shutdown,
                },
                read = self.io.read_buf(self.inbound.buffer()) => match read {
                    Ok(0) | Err(_) => return Ending::Gone,
                    Ok(_) => {}
                },
                _ = ping.tick() => {
                    if last_heard.elapsed() > 2 * tuning.ping_every() {
                        return Ending::Gone;
                    }
                    if let Err(ending) = self.write(wire::ping(), 0, &frames, tuning).await {
                        return ending;
                    }
                }
            }
        }
    }

    /// Write `first` and the frames already queued behind it. A viewer that fell behind (the
    /// fan-out of one frame to every viewer took longer than the show's window) catches up with
    /// one system call for several frames instead of one each: the socket write is most of a
    /// frame's cost, so a busy process sends fewer, larger writes rather than falling further
    /// behind.
    async fn write_pending(
        &mut self,
        first: Message,
        frames: &mut broadcast::Receiver<Message>,
        tuning: &LiveTuning,
    ) -> Result<(), Ending> {
        let mut batch = vec![first.frame(self.deflate)];
        while batch.len() < FRAMES_PER_WRITE_MAX {
            match frames.try_recv() {
                Ok(message) => batch.push(message.frame(self.deflate)),
                Err(TryRecvError::Lagged(_)) => return Err(Ending::TooSlow),
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        if batch.len() == 1 {
            return self.write(batch.swap_remove(0), 0, frames, tuning).await;
        }
        let mut written = match self.write_vectored_now(&batch) {
            Some(Ok(0)) | Some(Err(_)) => return Err(Ending::Gone),
            Some(Ok(n)) => n,
            None => 0,
        };
        for bytes in batch {
            if written >= bytes.len() {
                written -= bytes.len();
                continue;
            }
            self.write(bytes, written, frames, tuning).await?;
            written = 0;
        }
        self.flush().await
    }

    /// Write one whole frame of which `written` bytes already went out; gives up with
    /// [`Ending::TooSlow`] when the viewer falls out of the ring or the socket takes nothing for
    /// too long (remembering how far the frame got).
    async fn write(
        &mut self,
        bytes: Bytes,
        written: usize,
        frames: &broadcast::Receiver<Message>,
        tuning: &LiveTuning,
    ) -> Result<(), Ending> {
        // Almost always the socket takes the whole frame at once: try that before arming a timer.
        let mut written = match self.write_now(&bytes[written..]) {
            Some(Ok(n)) if written + n == bytes.len() => return self.flush().await,
            Some(Ok(0)) | Some(Err(_)) => return Err(Ending::Gone),
            Some(Ok(n)) => written + n,
            None => written,
        };
        let mut progress_at = Instant::now();
        while written < bytes.len() {
            // `write` is cancel-safe: a timed-out attempt wrote nothing.
            match tokio::time::timeout(LAG_CHECK_EVERY, self.io.write(&bytes[written..])).await {
                Ok(Ok(0)) | Ok(Err(_)) => return Err(Ending::Gone),
                Ok(Ok(n)) => {
                    written += n;
                    progress_at = Instant::now();
                }
                Err(_) => {
                    if frames.len() > tuning.queue_frames
                        || progress_at.elapsed() > tuning.write_stall()
                    {
                        if written > 0 {
                            self.unfinished = Some((bytes, written));
                        }
                        return Err(Ending::TooSlow);
                    }
                }
            }
        }
        self.flush().await
    }

    async fn flush(&mut self) -> Result<(), Ending> {
        self.io.flush().await.map_err(|_| Ending::Gone)
    }

    /// One write attempt without waiting: `None` when the socket is full right now.
    fn write_now(&mut self, bytes: &[u8]) -> Option<std::io::Result<usize>> {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        match std::pin::Pin::new(&mut self.io).poll_write(&mut cx, bytes) {
            std::task::Poll::Ready(result) => Some(result),
            std::task::Poll::Pending => None,
        }
    }

    /// One gathering write attempt of whole frames without waiting: `None` when the socket is
    /// full right now.
    fn write_vectored_now(&mut self, frames: &[Bytes]) -> Option<std::io::Result<usize>> {
        let slices: Vec<std::io::IoSlice<'_>> =
            frames.iter().map(|f| std::io::IoSlice::new(f)).collect();
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        match std::pin::Pin::new(&mut self.io).poll_write_vectored(&mut cx, &slices) {
            std::task::Poll::Ready(result) => Some(result),
            std::task::Poll::Pending => None,
        }
    }

    /// Finish any half-written frame, send a close frame and wait (a bounded time) for the
    /// viewer's reply. A viewer that reads nothing never gets it; the connection is dropped when
    /// the grace period ends.
    async fn close(&mut self, code: u16, reason: &'static str, tuning: &LiveTuning) {
        let handshake = async {
            if let Some((bytes, written)) = self.unfinished.take() {
                self.io.write_all(&bytes[written..]).await?;
            }
            self.io.write_all(&wire::close(code, reason)).await?;
            self.io.flush().await?;
            loop {
                match self.inbound.next_frame() {
                    Ok(Some(Received::Close(_))) | Err(_) => break,
                    Ok(Some(_)) => continue,
                    Ok(None) => {}
                }
                if self.io.read_buf(self.inbound.buffer()).await? == 0 {
                    break;
                }
            }
            self.io.shutdown().await
        };
        let _ = tokio::time::timeout(tuning.close_grace(), handshake).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::DuplexStream;

    fn tuning() -> LiveTuning {
        LiveTuning {
            ping_every_ms: 50,
            close_grace_ms: 2_000,
            queue_frames: 4,
            ..LiveTuning::default()
        }
    }

    /// A viewer over an in-memory pipe of `capacity` bytes; returns the peer end, the ring's
    /// sender and the served connection.
    fn start(
        capacity: usize,
        snapshot: &[u8],
    ) -> (
        DuplexStream,
        broadcast::Sender<Message>,
        tokio::task::JoinHandle<Ending>,
    ) {
        let (server, peer) = tokio::io::duplex(capacity);
        let (frames, receiver) = broadcast::channel(4);
        let start = Attachment {
            snapshot: text(snapshot),
            frames: receiver,
        };
        let served = tokio::spawn(async move { serve(server, start, &tuning(), false).await });
        (peer, frames, served)
    }

    fn text(payload: &[u8]) -> Message {
        Message::text(Bytes::copy_from_slice(payload))
    }

    /// Read one server frame: (opcode, payload).
    async fn read_frame(peer: &mut DuplexStream) -> (u8, Vec<u8>) {
        let mut head = [0u8; 2];
        peer.read_exact(&mut head).await.unwrap();
        assert_eq!(head[1] & 0x80, 0, "server frames are unmasked");
        let len = match head[1] & 0x7F {
            126 => usize::from(peer.read_u16().await.unwrap()),
            127 => peer.read_u64().await.unwrap() as usize,
            n => usize::from(n),
        };
        let mut payload = vec![0; len];
        peer.read_exact(&mut payload).await.unwrap();
        (head[0] & 0x0F, payload)
    }

    fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [9, 8, 7, 6];
        let mut out = vec![first, 0x80 | payload.len() as u8];
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    #[tokio::test]
    async fn frames_follow_the_snapshot_and_a_close_is_answered() {
        let (mut peer, frames, served) = start(1 << 16, b"{\"type\":\"SNAPSHOT\"}");
        assert_eq!(
            read_frame(&mut peer).await,
            (0x1, b"{\"type\":\"SNAPSHOT\"}".to_vec())
        );
        frames.send(text(b"one")).unwrap();
        frames.send(text(b"two")).unwrap();
        assert_eq!(read_frame(&mut peer).await, (0x1, b"one".to_vec()));
        assert_eq!(read_frame(&mut peer).await, (0x1, b"two".to_vec()));
        peer.write_all(&masked(0x88, &1000u16.to_be_bytes()))
            .await
            .unwrap();
        assert_eq!(served.await.unwrap(), Ending::ClosedByViewer(Some(1000)));
        let (opcode, payload) = read_frame(&mut peer).await;
        assert_eq!((opcode, &payload[..2]), (0x8, &1000u16.to_be_bytes()[..]));
    }

    #[tokio::test]
    async fn a_viewer_behind_several_frames_gets_them_all_in_order_through_a_narrow_socket() {
        // 150 bytes of pipe: three queued 100-byte frames go out in one gathering write that the
        // pipe takes only in part; the rest follows as the peer reads.
        let (mut peer, frames, served) = start(150, b"{}");
        assert_eq!(read_frame(&mut peer).await, (0x1, b"{}".to_vec()));
        let payloads: Vec<Vec<u8>> = (0..3u8).map(|i| vec![b'a' + i; 100]).collect();
        for payload in &payloads {
            frames.send(text(payload)).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        for payload in payloads {
            assert_eq!(read_frame(&mut peer).await, (0x1, payload));
        }
        drop(peer);
        assert_eq!(served.await.unwrap(), Ending::Gone);
    }

    #[tokio::test]
    async fn pings_are_answered_and_pongs_keep_a_viewer_alive() {
        let (mut peer, _frames, served) = start(1 << 16, b"{}");
        read_frame(&mut peer).await;
        peer.write_all(&masked(0x89, b"hi")).await.unwrap();
        assert_eq!(read_frame(&mut peer).await, (0xA, b"hi".to_vec()));
        for _ in 0..6 {
            assert_eq!(
                read_frame(&mut peer).await,
                (0x9, vec![]),
                "a keepalive ping"
            );
            peer.write_all(&masked(0x8A, b"")).await.unwrap();
        }
        assert!(!served.is_finished(), "answered pings keep the connection");
        drop(peer);
        assert_eq!(served.await.unwrap(), Ending::Gone);
    }

    #[tokio::test]
    async fn a_viewer_that_never_answers_is_gone_after_two_ping_periods() {
        let (mut peer, _frames, served) = start(1 << 16, b"{}");
        read_frame(&mut peer).await;
        let ending = tokio::time::timeout(Duration::from_secs(2), served)
            .await
            .expect("dropped within a few ping periods")
            .unwrap();
        assert_eq!(ending, Ending::Gone);
    }

    #[tokio::test]
    async fn an_unmasked_frame_closes_with_a_protocol_error() {
        let (mut peer, _frames, served) = start(1 << 16, b"{}");
        read_frame(&mut peer).await;
        peer.write_all(&[0x8A, 0x00]).await.unwrap();
        let (opcode, payload) = read_frame(&mut peer).await;
        assert_eq!((opcode, &payload[..2]), (0x8, &1002u16.to_be_bytes()[..]));
        // What follows a broken frame cannot be read: the server fails the connection at once.
        assert_eq!(served.await.unwrap(), Ending::Violation(1002));
    }

    #[tokio::test]
    async fn a_viewer_that_reads_nothing_falls_out_of_the_ring_and_gets_4001_after_its_frame() {
        // A 64-byte pipe: the 1,000-byte snapshot cannot be written while nobody reads.
        let snapshot = vec![b'x'; 1_000];
        let (mut peer, frames, served) = start(64, &snapshot);
        tokio::time::sleep(Duration::from_millis(50)).await;
        for i in 0..6 {
            frames.send(text(format!("frame {i}").as_bytes())).unwrap();
        }
        // Reading now: the snapshot is finished first, then the close says why.
        assert_eq!(read_frame(&mut peer).await, (0x1, snapshot));
        let (opcode, payload) = read_frame(&mut peer).await;
        assert_eq!(opcode, 0x8);
        assert_eq!(&payload[..2], &4001u16.to_be_bytes());
        assert_eq!(&payload[2..], b"too slow");
        peer.write_all(&masked(0x88, &4001u16.to_be_bytes()))
            .await
            .unwrap();
        assert_eq!(served.await.unwrap(), Ending::TooSlow);
    }
}
