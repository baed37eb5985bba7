//! One viewer's connection: the snapshot, then every frame of the show's ring, keepalive pings,
//! and the ways a connection ends (viewer closes, viewer too slow, server shutting down, peer
//! gone).
//!
//! Frames are written as WebSocket fragments of at most [`LiveTuning::fragment_bytes`], sliced
//! from the shared bytes: the socket library copies each outgoing frame into a per-connection
//! buffer that never shrinks, so one multi-megabyte snapshot written whole would pin megabytes
//! per viewer for the life of the connection.
//!
//! Too slow: while a write is stuck the viewer's position in the ring is checked; once more
//! frames are waiting than the ring keeps (or no byte could be written for
//! [`LiveTuning::write_stall_ms`]), the viewer is closed with 4001 and the frames it would have
//! needed are not its problem any more. Other viewers never wait for it: each has its own task
//! and the ring never blocks the publisher.

use std::time::Duration;

use bytes::Bytes;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};

use super::LiveTuning;
use super::show::Attachment;

/// Close code for a viewer that cannot keep up (the contract's "too slow, reconnect").
pub const CLOSE_TOO_SLOW: u16 = 4001;

/// How often a stuck write looks at how far the viewer has fallen behind.
const LAG_CHECK_EVERY: Duration = Duration::from_millis(100);

/// Why a connection ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The viewer sent a close frame (or its half of the handshake).
    ClosedByViewer,
    /// The viewer fell more than the ring behind, or its socket took nothing for too long.
    TooSlow,
    /// The server is shutting down.
    Shutdown,
    /// The connection broke or the peer stopped answering pings.
    Gone,
}

impl Ending {
    /// Bounded metric label.
    pub fn label(self) -> &'static str {
        match self {
            Ending::ClosedByViewer => "closed",
            Ending::TooSlow => "too_slow",
            Ending::Shutdown => "shutdown",
            Ending::Gone => "gone",
        }
    }
}

type Sink<S> = SplitSink<WebSocketStream<S>, Message>;
type Source<S> = SplitStream<WebSocketStream<S>>;

/// Serve one viewer until the connection ends; returns why.
pub async fn serve<S>(
    ws: WebSocketStream<S>,
    start: Attachment,
    tuning: &LiveTuning,
    mut closing: watch::Receiver<bool>,
) -> Ending
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut sink, mut source) = ws.split();
    let Attachment { snapshot, frames } = start;
    let ending = stream_frames(
        &mut sink,
        &mut source,
        snapshot,
        frames,
        tuning,
        &mut closing,
    )
    .await;
    match ending {
        Ending::TooSlow => {
            metrics::counter!("boxoffice_live_slow_viewers_total").increment(1);
            close(&mut sink, &mut source, CLOSE_TOO_SLOW, "too slow", tuning).await;
        }
        Ending::Shutdown => {
            close(&mut sink, &mut source, 1001, "server shutting down", tuning).await;
        }
        Ending::ClosedByViewer => {
            // tungstenite queued the close reply while reading; write it out.
            let _ = tokio::time::timeout(tuning.close_grace(), sink.close()).await;
        }
        Ending::Gone => {}
    }
    ending
}

async fn stream_frames<S>(
    sink: &mut Sink<S>,
    source: &mut Source<S>,
    snapshot: Bytes,
    mut frames: broadcast::Receiver<Bytes>,
    tuning: &LiveTuning,
    closing: &mut watch::Receiver<bool>,
) -> Ending
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if let Err(ending) = send_text(sink, snapshot, &frames, tuning).await {
        return ending;
    }
    let mut ping = tokio::time::interval(tuning.ping_every());
    ping.reset();
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            changed = closing.changed() => {
                if changed.is_err() || *closing.borrow() {
                    return Ending::Shutdown;
                }
            }
            frame = frames.recv() => match frame {
                Ok(bytes) => {
                    if let Err(ending) = send_text(sink, bytes, &frames, tuning).await {
                        return ending;
                    }
                }
                Err(RecvError::Lagged(_)) => return Ending::TooSlow,
                Err(RecvError::Closed) => return Ending::Shutdown,
            },
            message = source.next() => match message {
                Some(Ok(Message::Close(_))) => return Ending::ClosedByViewer,
                // Pongs, and anything else a viewer sends (the protocol has no client
                // messages), only prove it is alive.
                Some(Ok(_)) => last_heard = Instant::now(),
                Some(Err(_)) | None => return Ending::Gone,
            },
            _ = ping.tick() => {
                if last_heard.elapsed() > 2 * tuning.ping_every() {
                    return Ending::Gone;
                }
                if let Err(ending) = write(sink, Message::Ping(Bytes::new()), &frames, tuning).await {
                    return ending;
                }
            }
        }
    }
}

/// Write one text message as fragments sliced from the shared bytes.
async fn send_text<S>(
    sink: &mut Sink<S>,
    bytes: Bytes,
    frames: &broadcast::Receiver<Bytes>,
    tuning: &LiveTuning,
) -> Result<(), Ending>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    for fragment in fragments(bytes, tuning.fragment_bytes) {
        write(sink, Message::Frame(fragment), frames, tuning).await?;
    }
    metrics::counter!("boxoffice_live_messages_sent_total").increment(1);
    Ok(())
}

/// Write and flush one message; gives up with [`Ending::TooSlow`] when the viewer falls out of
/// the ring or the socket stays stuck.
async fn write<S>(
    sink: &mut Sink<S>,
    message: Message,
    frames: &broadcast::Receiver<Bytes>,
    tuning: &LiveTuning,
) -> Result<(), Ending>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let started = Instant::now();
    let mut send = sink.send(message);
    loop {
        match tokio::time::timeout(LAG_CHECK_EVERY, &mut send).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(_)) => return Err(Ending::Gone),
            Err(_) => {
                if frames.len() > tuning.queue_frames || started.elapsed() > tuning.write_stall() {
                    return Err(Ending::TooSlow);
                }
            }
        }
    }
}

/// The WebSocket frames of one text message: the first carries the text opcode, the rest are
/// continuations, the last is final. Slices share `bytes`.
pub fn fragments(bytes: Bytes, fragment_bytes: usize) -> impl Iterator<Item = Frame> {
    let size = fragment_bytes.max(1);
    let count = bytes.len().div_ceil(size).max(1);
    (0..count).map(move |i| {
        let start = i * size;
        let end = (start + size).min(bytes.len());
        let opcode = if i == 0 {
            OpCode::Data(Data::Text)
        } else {
            OpCode::Data(Data::Continue)
        };
        Frame::message(bytes.slice(start..end), opcode, i + 1 == count)
    })
}

/// Send a close frame and wait (a bounded time) for the viewer's reply. A viewer that reads
/// nothing at all never gets it; the connection is dropped after the grace period.
async fn close<S>(
    sink: &mut Sink<S>,
    source: &mut Source<S>,
    code: u16,
    reason: &'static str,
    tuning: &LiveTuning,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    };
    let handshake = async {
        sink.send(Message::Close(Some(frame))).await.ok()?;
        while let Some(Ok(message)) = source.next().await {
            if message.is_close() {
                break;
            }
        }
        Some(())
    };
    let _ = tokio::time::timeout(tuning.close_grace(), handshake).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_cover_the_message_in_order_and_only_the_last_is_final() {
        let bytes = Bytes::from_static(b"0123456789");
        let pieces: Vec<Frame> = fragments(bytes.clone(), 4).collect();
        assert_eq!(pieces.len(), 3);
        let joined: Vec<u8> = pieces.iter().flat_map(|f| f.payload().to_vec()).collect();
        assert_eq!(joined, bytes.to_vec());
        assert_eq!(pieces[0].header().opcode, OpCode::Data(Data::Text));
        assert_eq!(pieces[1].header().opcode, OpCode::Data(Data::Continue));
        assert!(!pieces[0].header().is_final && !pieces[1].header().is_final);
        assert!(pieces[2].header().is_final);
        let whole: Vec<Frame> = fragments(Bytes::from_static(b"{}"), 4).collect();
        assert_eq!(whole.len(), 1);
        assert!(whole[0].header().is_final);
        assert_eq!(whole[0].header().opcode, OpCode::Data(Data::Text));
    }
}
