//! permessage-deflate (RFC 7692) for live viewers: negotiating it on upgrade, and compressing a
//! message once for every viewer that took it.
//!
//! The server always asks for `server_no_context_takeover`: each message is compressed with a
//! fresh context, so its compressed bytes do not depend on what a viewer received before and one
//! copy serves every viewer of the show. It also asks for `client_no_context_takeover` so a
//! client needs no inflate state kept between messages either (viewers send only control
//! frames, which are never compressed, so the server inflates nothing).

use axum::http::{HeaderMap, HeaderValue, header};
use flate2::{Compress, Compression, FlushCompress};

/// The extension's token in `Sec-WebSocket-Extensions`.
const NAME: &str = "permessage-deflate";

/// The LZ77 window the compressor uses (32 KiB; the only size the deflate backend offers).
const WINDOW_BITS: u8 = 15;

/// The tail a sync flush ends with, removed from every message (RFC 7692 section 7.2.1).
const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// permessage-deflate as agreed with one client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Agreed {
    /// The client asked for `server_max_window_bits` (only 15 is accepted): echoed back.
    server_max_window_bits: bool,
}

impl Agreed {
    /// The `Sec-WebSocket-Extensions` value of the `101` response.
    pub fn response(self) -> HeaderValue {
        if self.server_max_window_bits {
            HeaderValue::from_static(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=15",
            )
        } else {
            HeaderValue::from_static(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            )
        }
    }
}

/// The first permessage-deflate offer in `headers` this server can meet, `None` when the client
/// offers none or only offers it cannot (then the connection goes on without compression).
pub fn negotiate(headers: &HeaderMap) -> Option<Agreed> {
    headers
        .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(split_unquoted(','))
        .find_map(accept_offer)
}

/// Accept one extension offer (`name; param; param=value`) if it is permessage-deflate with
/// parameters this server meets.
fn accept_offer(offer: &str) -> Option<Agreed> {
    let mut parts = split_unquoted(';')(offer);
    if !parts.next()?.trim().eq_ignore_ascii_case(NAME) {
        return None;
    }
    let mut agreed = Agreed {
        server_max_window_bits: false,
    };
    let mut seen: Vec<String> = Vec::new();
    for param in parts {
        let (name, value) = match param.split_once('=') {
            Some((name, value)) => (name.trim(), Some(unquote(value.trim())?)),
            None => (param.trim(), None),
        };
        let name = name.to_ascii_lowercase();
        if seen.contains(&name) {
            return None; // RFC 7692 section 7: a parameter given twice declines the offer.
        }
        match (name.as_str(), value) {
            ("server_no_context_takeover" | "client_no_context_takeover", None) => {}
            ("server_max_window_bits", Some(bits)) => {
                // The compressor's window is fixed at 15 bits: a smaller one cannot be promised.
                if window_bits(bits)? != WINDOW_BITS {
                    return None;
                }
                agreed.server_max_window_bits = true;
            }
            // The client may limit its own window; it sends nothing the server inflates.
            ("client_max_window_bits", None) => {}
            ("client_max_window_bits", Some(bits)) => {
                window_bits(bits)?;
            }
            _ => return None,
        }
        seen.push(name);
    }
    Some(agreed)
}

/// A window size parameter's value: 8..=15 written as plain digits.
fn window_bits(value: &str) -> Option<u8> {
    if value.is_empty() || value.len() > 2 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().filter(|bits| (8..=15).contains(bits))
}

/// A parameter value, with the quotes of a quoted-string removed (no escapes needed for the
/// values this extension has).
fn unquote(value: &str) -> Option<&str> {
    match value.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"').filter(|v| !v.contains(['"', '\\'])),
        None => Some(value),
    }
}

/// Split on `separator` outside double quotes.
fn split_unquoted(separator: char) -> impl Fn(&str) -> std::vec::IntoIter<&str> {
    move |s: &str| {
        let mut parts = Vec::new();
        let (mut start, mut quoted) = (0, false);
        for (i, c) in s.char_indices() {
            if c == '"' {
                quoted = !quoted;
            } else if c == separator && !quoted {
                parts.push(&s[start..i]);
                start = i + 1;
            }
        }
        parts.push(&s[start..]);
        parts.into_iter()
    }
}

/// `payload` compressed as one permessage-deflate message: raw deflate with a fresh context,
/// sync-flushed, the final `00 00 ff ff` removed. `None` if the compressor failed (the message
/// then goes out uncompressed, which the extension allows).
pub fn compress(payload: &[u8]) -> Option<Vec<u8>> {
    let mut compressor = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(payload.len() / 3 + 64);
    loop {
        let consumed = compressor.total_in() as usize;
        compressor
            .compress_vec(&payload[consumed..], &mut out, FlushCompress::Sync)
            .ok()?;
        // The flush is complete once all input is taken and the output did not fill up.
        if compressor.total_in() as usize == payload.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity());
    }
    let kept = out.len().checked_sub(SYNC_TAIL.len())?;
    if out[kept..] != SYNC_TAIL {
        return None;
    }
    out.truncate(kept);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Decompress, FlushDecompress};

    fn offer(value: &'static str) -> Option<Agreed> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::SEC_WEBSOCKET_EXTENSIONS,
            HeaderValue::from_static(value),
        );
        negotiate(&headers)
    }

    const PLAIN: Option<Agreed> = Some(Agreed {
        server_max_window_bits: false,
    });

    #[test]
    fn chromium_and_firefox_offers_are_accepted_with_both_no_context_takeovers() {
        // Chromium's default offer, and Firefox's.
        assert_eq!(offer("permessage-deflate; client_max_window_bits"), PLAIN);
        assert_eq!(offer("permessage-deflate"), PLAIN);
        assert_eq!(
            PLAIN.unwrap().response(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        );
        assert_eq!(
            offer("Permessage-Deflate ; Server_No_Context_Takeover;client_no_context_takeover"),
            PLAIN
        );
        assert_eq!(
            offer("permessage-deflate; client_max_window_bits=\"10\""),
            PLAIN
        );
    }

    #[test]
    fn no_offer_means_no_extension() {
        assert_eq!(negotiate(&HeaderMap::new()), None);
        assert_eq!(offer("x-webkit-deflate-frame"), None);
        assert_eq!(offer(""), None);
    }

    #[test]
    fn a_full_window_limit_is_echoed_and_a_smaller_one_declined() {
        let full = offer("permessage-deflate; server_max_window_bits=15").unwrap();
        assert_eq!(
            full.response(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=15"
        );
        assert_eq!(offer("permessage-deflate; server_max_window_bits=10"), None);
        // The client's fallback offer after the one that cannot be met is taken.
        assert_eq!(
            offer("permessage-deflate; server_max_window_bits=10, permessage-deflate"),
            PLAIN
        );
    }

    #[test]
    fn malformed_offers_are_declined_not_refused() {
        for bad in [
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; client_max_window_bits=abc",
            "permessage-deflate; client_max_window_bits=\"10",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; unknown_param",
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::SEC_WEBSOCKET_EXTENSIONS,
                HeaderValue::from_static(bad),
            );
            assert_eq!(negotiate(&headers), None, "{bad}");
        }
    }

    #[test]
    fn offers_in_several_headers_are_read_in_order() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::SEC_WEBSOCKET_EXTENSIONS,
            HeaderValue::from_static("foo; a=\"x,y\""),
        );
        headers.append(
            header::SEC_WEBSOCKET_EXTENSIONS,
            HeaderValue::from_static("permessage-deflate; server_max_window_bits=15"),
        );
        assert_eq!(
            negotiate(&headers),
            Some(Agreed {
                server_max_window_bits: true
            })
        );
    }

    /// Inflate as a client does: append the removed tail, then raw inflate.
    fn inflate(compressed: &[u8]) -> Vec<u8> {
        let mut input = compressed.to_vec();
        input.extend_from_slice(&SYNC_TAIL);
        let mut inflater = Decompress::new(false);
        let mut out = Vec::with_capacity(1 << 20);
        inflater
            .decompress_vec(&input, &mut out, FlushDecompress::Sync)
            .unwrap();
        assert_eq!(inflater.total_in() as usize, input.len());
        out
    }

    #[test]
    fn messages_compress_without_the_sync_tail_and_inflate_back() {
        let json: Vec<u8> = (0..2_000)
            .flat_map(|i| {
                format!("{{\"seatId\":\"{i:08x}-0000\",\"status\":\"HELD\"}},").into_bytes()
            })
            .collect();
        for payload in [&b""[..], b"{}", &json] {
            let compressed = compress(payload).unwrap();
            assert!(!compressed.ends_with(&SYNC_TAIL), "tail removed");
            assert_eq!(inflate(&compressed), payload);
        }
        assert!(compress(&json).unwrap().len() * 4 < json.len());
    }
}
