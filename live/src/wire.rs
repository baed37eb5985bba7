//! The server side of the WebSocket framing (RFC 6455 section 5) that live viewers need, written
//! for fan-out: a server frame is never masked, so the bytes of a frame are the same for every
//! viewer. Each frame is encoded once, header included, and every viewer writes those shared
//! bytes straight to its socket: no per-connection write buffer, one write per frame.
//!
//! A [`Message`] carries both forms of a text frame: plain, and compressed for viewers that
//! negotiated permessage-deflate ([`super::deflate`]); each form is built on first use, once.
//!
//! Viewers send nothing but control frames (pong, ping, close); [`Inbound`] parses what arrives
//! with a small buffer, answers the protocol's questions and refuses what the protocol forbids.

use std::sync::{Arc, OnceLock};

use bytes::{Buf, Bytes, BytesMut};

use super::deflate;

/// Opcodes (RFC 6455 section 5.2).
const CONTINUATION: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// FIN and RSV1 (RFC 7692: "Per-Message Compressed") of a message's first frame.
const FIN: u8 = 0x80;
const RSV1: u8 = 0x40;

/// Longest payload of a control frame.
const CONTROL_PAYLOAD_MAX: usize = 125;

/// Close codes this server sends.
pub mod close_code {
    /// Normal closure (answering a viewer's close without a code).
    pub const NORMAL: u16 = 1000;
    /// The server is going away.
    pub const GOING_AWAY: u16 = 1001;
    /// The viewer broke the protocol.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// The viewer sent a message larger than allowed.
    pub const TOO_BIG: u16 = 1009;
    /// The server cannot serve the viewer right now.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// The viewer fell too far behind (the contract's code).
    pub const TOO_SLOW: u16 = 4001;
}

fn header(first: u8, len: usize, out: &mut Vec<u8>) {
    out.push(first);
    if len <= 125 {
        out.push(len as u8);
    } else if let Ok(len) = u16::try_from(len) {
        out.push(126);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

/// A complete, final, unmasked text frame carrying `payload`.
pub fn text(payload: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(10 + payload.len());
    header(FIN | TEXT, payload.len(), &mut out);
    out.extend_from_slice(payload);
    Bytes::from(out)
}

/// A complete, final, unmasked text frame carrying `payload` compressed (RSV1 set), or plain
/// when compressing failed (a permessage-deflate peer takes either).
pub fn text_deflated(payload: &[u8]) -> Bytes {
    let Some(compressed) = deflate::compress(payload) else {
        return text(payload);
    };
    let mut out = Vec::with_capacity(10 + compressed.len());
    header(FIN | RSV1 | TEXT, compressed.len(), &mut out);
    out.extend_from_slice(&compressed);
    Bytes::from(out)
}

/// A text message shared by every viewer of a show: the payload and its two wire forms, each
/// built by the first viewer that needs it (a show without deflate viewers never compresses, one
/// with only deflate viewers never frames the plain bytes). Cloning shares it.
#[derive(Clone, Debug)]
pub struct Message(Arc<Forms>);

#[derive(Debug)]
struct Forms {
    payload: Bytes,
    plain: OnceLock<Bytes>,
    deflated: OnceLock<Bytes>,
}

impl Message {
    /// A text message carrying `payload` (UTF-8 JSON).
    pub fn text(payload: Bytes) -> Message {
        Message(Arc::new(Forms {
            payload,
            plain: OnceLock::new(),
            deflated: OnceLock::new(),
        }))
    }

    /// The whole frame as a viewer that negotiated permessage-deflate (`deflate`) or not takes
    /// it.
    pub fn frame(&self, deflate: bool) -> Bytes {
        let forms = &*self.0;
        if deflate {
            forms
                .deflated
                .get_or_init(|| {
                    metrics::counter!("boxoffice_live_frames_compressed_total").increment(1);
                    text_deflated(&forms.payload)
                })
                .clone()
        } else {
            forms.plain.get_or_init(|| text(&forms.payload)).clone()
        }
    }
}

/// A ping with an empty payload.
pub fn ping() -> Bytes {
    Bytes::from_static(&[0x80 | PING, 0])
}

/// A pong echoing `payload` (at most 125 bytes, as pings are).
pub fn pong(payload: &[u8]) -> Bytes {
    let payload = &payload[..payload.len().min(CONTROL_PAYLOAD_MAX)];
    let mut out = Vec::with_capacity(2 + payload.len());
    header(FIN | PONG, payload.len(), &mut out);
    out.extend_from_slice(payload);
    Bytes::from(out)
}

/// A close frame with `code` and a short `reason` (cut to fit a control frame).
pub fn close(code: u16, reason: &str) -> Bytes {
    let mut reason = &reason.as_bytes()[..reason.len().min(CONTROL_PAYLOAD_MAX - 2)];
    while std::str::from_utf8(reason).is_err() {
        reason = &reason[..reason.len() - 1];
    }
    let mut out = Vec::with_capacity(4 + reason.len());
    header(FIN | CLOSE, 2 + reason.len(), &mut out);
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(reason);
    Bytes::from(out)
}

/// What a viewer sent, as far as the server cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    /// A ping: answer with a pong carrying this payload.
    Ping(Bytes),
    /// A pong (or any data frame, which the protocol does not use): the viewer is alive.
    Alive,
    /// A close frame, with its code if it had one.
    Close(Option<u16>),
}

/// The viewer broke the protocol; the connection ends with this close code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// Unmasked frame, reserved bits, unknown opcode, fragmented or oversized control frame.
    #[error("protocol error")]
    Protocol,
    /// A frame larger than the configured limit.
    #[error("frame too big")]
    TooBig,
}

impl Violation {
    /// The close code that names it.
    pub fn close_code(self) -> u16 {
        match self {
            Violation::Protocol => close_code::PROTOCOL_ERROR,
            Violation::TooBig => close_code::TOO_BIG,
        }
    }
}

/// Bytes received from a viewer and not parsed yet. Reading more into [`Inbound::buffer`] is
/// cancel-safe (what was read stays), so a viewer's loop can wait for input and frames at once.
#[derive(Debug)]
pub struct Inbound {
    buffer: BytesMut,
    frame_payload_max: usize,
    /// permessage-deflate was negotiated: RSV1 may mark a data message as compressed.
    deflate: bool,
}

impl Inbound {
    /// A parser with an `initial_bytes` buffer refusing frames over `frame_payload_max`;
    /// `deflate` when the connection negotiated permessage-deflate.
    pub fn new(initial_bytes: usize, frame_payload_max: usize, deflate: bool) -> Inbound {
        Inbound {
            buffer: BytesMut::with_capacity(initial_bytes),
            frame_payload_max,
            deflate,
        }
    }

    /// Whether the reserved bits of a frame's first byte are allowed: none, or RSV1 on the first
    /// frame of a data message once permessage-deflate was negotiated (RFC 7692 section 6.1;
    /// never on a control frame or a continuation). A compressed message's content is not
    /// inflated: viewers' data messages mean nothing but "alive".
    fn reserved_bits_allowed(&self, first: u8) -> bool {
        match first & 0x70 {
            0 => true,
            RSV1 => self.deflate && matches!(first & 0x0F, TEXT | BINARY),
            _ => false,
        }
    }

    /// Where to read into; keeps room for at least one more byte.
    pub fn buffer(&mut self) -> &mut BytesMut {
        if self.buffer.capacity() == self.buffer.len() {
            self.buffer.reserve(64);
        }
        &mut self.buffer
    }

    /// The next complete frame's meaning, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Received>, Violation> {
        let b = &self.buffer[..];
        if b.len() < 2 {
            return Ok(None);
        }
        let (first, second) = (b[0], b[1]);
        let fin = first & 0x80 != 0;
        let opcode = first & 0x0F;
        if !self.reserved_bits_allowed(first) || second & 0x80 == 0 {
            // Reserved bits no extension gave a meaning, or a frame the client did not mask.
            return Err(Violation::Protocol);
        }
        let (len, mut at) = match second & 0x7F {
            126 if b.len() >= 4 => (u64::from(u16::from_be_bytes([b[2], b[3]])), 4),
            127 if b.len() >= 10 => (u64::from_be_bytes(b[2..10].try_into().expect("8")), 10),
            126 | 127 => return Ok(None),
            n => (u64::from(n), 2),
        };
        let is_control = opcode & 0x08 != 0;
        if is_control && (!fin || len > CONTROL_PAYLOAD_MAX as u64) {
            return Err(Violation::Protocol);
        }
        let len = usize::try_from(len).map_err(|_| Violation::TooBig)?;
        if len > self.frame_payload_max.max(CONTROL_PAYLOAD_MAX) {
            return Err(Violation::TooBig);
        }
        if b.len() < at + 4 + len {
            self.buffer.reserve(at + 4 + len - b.len());
            return Ok(None);
        }
        let mask = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        at += 4;
        let mut payload: Vec<u8> = b[at..at + len].to_vec();
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte ^= mask[i % 4];
        }
        self.buffer.advance(at + len);
        match opcode {
            PING => Ok(Some(Received::Ping(Bytes::from(payload)))),
            PONG | TEXT | BINARY | CONTINUATION => Ok(Some(Received::Alive)),
            CLOSE => match payload.len() {
                0 => Ok(Some(Received::Close(None))),
                1 => Err(Violation::Protocol),
                _ => Ok(Some(Received::Close(Some(u16::from_be_bytes([
                    payload[0], payload[1],
                ]))))),
            },
            _ => Err(Violation::Protocol),
        }
    }
}

/// The payload of a server frame built by [`text`] or [`text_deflated`] (tests read frames back
/// with it).
#[cfg(test)]
pub(crate) fn payload_of(frame: &[u8]) -> &[u8] {
    match frame[1] {
        126 => &frame[4..],
        127 => &frame[10..],
        _ => &frame[2..],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame as a browser sends it: masked.
    fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut out = vec![first];
        if payload.len() <= 125 {
            out.push(0x80 | payload.len() as u8);
        } else {
            out.push(0x80 | 126);
            out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    fn parse_all(bytes: &[u8]) -> Vec<Result<Option<Received>, Violation>> {
        parse_with(bytes, false)
    }

    fn parse_with(bytes: &[u8], deflate: bool) -> Vec<Result<Option<Received>, Violation>> {
        let mut inbound = Inbound::new(16, 1024, deflate);
        inbound.buffer().extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            let next = inbound.next_frame();
            let stop = !matches!(next, Ok(Some(_)));
            out.push(next);
            if stop {
                return out;
            }
        }
    }

    #[test]
    fn server_frames_have_the_minimal_length_encoding() {
        assert_eq!(&text(b"hi")[..], &[0x81, 2, b'h', b'i']);
        let medium = text(&[b'x'; 300]);
        assert_eq!(&medium[..4], &[0x81, 126, 1, 44]);
        assert_eq!(medium.len(), 304);
        let large = text(&vec![b'x'; 70_000]);
        assert_eq!(&large[..2], &[0x81, 127]);
        assert_eq!(u64::from_be_bytes(large[2..10].try_into().unwrap()), 70_000);
        assert_eq!(&ping()[..], &[0x89, 0]);
        assert_eq!(&pong(b"ab")[..], &[0x8A, 2, b'a', b'b']);
        assert_eq!(&close(4001, "too slow")[..4], &[0x88, 10, 0x0F, 0xA1]);
        assert_eq!(close(1000, &"é".repeat(100)).len(), 2 + 2 + 122);
    }

    #[test]
    fn masked_control_frames_are_understood_and_data_only_proves_life() {
        let mut bytes = client_frame(0x89, b"ping!");
        bytes.extend(client_frame(0x8A, b""));
        bytes.extend(client_frame(0x81, b"hello"));
        bytes.extend(client_frame(0x88, &[0x03, 0xE8, b'b', b'y', b'e']));
        let parsed = parse_all(&bytes);
        assert_eq!(
            parsed,
            vec![
                Ok(Some(Received::Ping(Bytes::from_static(b"ping!")))),
                Ok(Some(Received::Alive)),
                Ok(Some(Received::Alive)),
                Ok(Some(Received::Close(Some(1000)))),
                Ok(None),
            ]
        );
        assert_eq!(
            parse_all(&client_frame(0x88, b"")),
            vec![Ok(Some(Received::Close(None))), Ok(None)]
        );
    }

    #[test]
    fn frames_arriving_in_pieces_wait_for_their_last_byte() {
        let frame = client_frame(0x81, &[b'a'; 200]);
        let mut inbound = Inbound::new(8, 1024, false);
        for (i, byte) in frame.iter().enumerate() {
            assert_eq!(inbound.next_frame(), Ok(None), "incomplete after {i} bytes");
            inbound.buffer().extend_from_slice(&[*byte]);
        }
        assert_eq!(inbound.next_frame(), Ok(Some(Received::Alive)));
        assert_eq!(inbound.next_frame(), Ok(None));
    }

    #[test]
    fn what_the_protocol_forbids_is_refused() {
        let unmasked = [0x89, 0x00];
        assert_eq!(parse_all(&unmasked), vec![Err(Violation::Protocol)]);
        let reserved = client_frame(0xC1, b"x");
        assert_eq!(parse_all(&reserved), vec![Err(Violation::Protocol)]);
        let fragmented_ping = client_frame(0x09, b"x");
        assert_eq!(parse_all(&fragmented_ping), vec![Err(Violation::Protocol)]);
        let unknown = client_frame(0x83, b"x");
        assert_eq!(parse_all(&unknown), vec![Err(Violation::Protocol)]);
        let big = client_frame(0x81, &[0; 2000]);
        assert_eq!(parse_all(&big), vec![Err(Violation::TooBig)]);
        let half_close = client_frame(0x88, &[3]);
        assert_eq!(parse_all(&half_close), vec![Err(Violation::Protocol)]);
        assert_eq!(Violation::TooBig.close_code(), 1009);
    }

    #[test]
    fn compressed_frames_set_rsv1_and_drop_the_sync_tail() {
        let payload = br#"{"type":"SEAT_UPDATE","seats":[{"status":"HELD"},{"status":"HELD"}]}"#;
        let frame = text_deflated(payload);
        assert_eq!(frame[0], 0xC1, "FIN, RSV1, text");
        let compressed = payload_of(&frame);
        assert_eq!(usize::from(frame[1]), compressed.len());
        assert!(compressed.len() < payload.len());
        assert!(!compressed.ends_with(&[0, 0, 0xFF, 0xFF]));
        let mut input = compressed.to_vec();
        input.extend_from_slice(&[0, 0, 0xFF, 0xFF]);
        let mut inflated = Vec::with_capacity(1024);
        flate2::Decompress::new(false)
            .decompress_vec(&input, &mut inflated, flate2::FlushDecompress::Sync)
            .unwrap();
        assert_eq!(inflated, payload);
    }

    #[test]
    fn a_message_builds_each_form_once_and_shares_it() {
        let message = Message::text(Bytes::from_static(b"{\"type\":\"SNAPSHOT\"}"));
        let plain = message.frame(false);
        assert_eq!(plain, text(b"{\"type\":\"SNAPSHOT\"}"));
        let deflated = message.frame(true);
        assert_eq!(deflated[0], 0xC1);
        let copy = message.clone();
        assert_eq!(
            copy.frame(true).as_ptr(),
            deflated.as_ptr(),
            "the same bytes"
        );
        assert_eq!(copy.frame(false).as_ptr(), plain.as_ptr());
    }

    #[test]
    fn rsv1_is_accepted_only_on_data_messages_of_a_deflate_connection() {
        let compressed_text = client_frame(0xC1, b"\x02\x00");
        assert_eq!(parse_all(&compressed_text), vec![Err(Violation::Protocol)]);
        assert_eq!(
            parse_with(&compressed_text, true),
            vec![Ok(Some(Received::Alive)), Ok(None)]
        );
        let compressed_binary = client_frame(0xC2, b"\x02\x00");
        assert_eq!(
            parse_with(&compressed_binary, true)[0],
            Ok(Some(Received::Alive))
        );
        for forbidden in [0xC9, 0xCA, 0xC8, 0x40, 0xA1, 0x91] {
            // Compressed ping, pong, close, continuation; RSV2; RSV3.
            let frame = client_frame(forbidden, b"x");
            assert_eq!(
                parse_with(&frame, true),
                vec![Err(Violation::Protocol)],
                "{forbidden:#x}"
            );
        }
    }
}
