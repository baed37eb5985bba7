//! Fixtures shared by the integration tests: key rings, claims, views and a real QR decoder.
#![allow(dead_code)] // each test binary uses its own subset

use chrono::DateTime;
use schemas::{BookingId, SeatId, ShowId, TicketId};
use tickets::{KeyRing, TicketClaims, TicketView};
use uuid::Uuid;

/// Standard base64 of 32 bytes of `fill`.
pub fn secret(fill: u8) -> String {
    data_encoding::BASE64.encode(&[fill; 32])
}

/// A ring whose only key is `key_id` with the secret `secret(fill)`.
pub fn ring(entries: &[(&str, u8)]) -> KeyRing {
    let config = entries
        .iter()
        .map(|(id, fill)| format!("{id}:{}", secret(*fill)))
        .collect::<Vec<_>>()
        .join(",");
    KeyRing::from_config(&config).expect("valid test ring")
}

/// Claims with ids built from `seed` so different seeds give different claims.
pub fn claims(seed: u128) -> TicketClaims {
    let show = ShowId(Uuid::from_u128(seed ^ 0x5555));
    TicketClaims {
        ticket_id: TicketId(Uuid::from_u128(seed)),
        booking_id: BookingId(Uuid::from_u128(seed.rotate_left(17) ^ 0xb00c)),
        show_id: show,
        seat_id: SeatId::derive(show, (seed % 50_000) as u32),
    }
}

/// A typical ticket to print.
pub fn view(code: &str) -> TicketView {
    TicketView {
        event_title: "Café Tacvba – Live in Concert".to_owned(),
        venue_name: "Palace Grounds, Bengaluru".to_owned(),
        show_time: DateTime::parse_from_rfc3339("2026-03-14T19:30:00+05:30").expect("valid time"),
        section: "BALC".to_owned(),
        section_name: "Balcony".to_owned(),
        row: "R12".to_owned(),
        number: 7,
        ticket_id: TicketId(Uuid::from_u128(0x7e57)),
        code: code.to_owned(),
    }
}

/// Decodes the QR symbols in a `width` x `height` luminance image (0 = black) with rqrr; returns
/// each symbol's content and error correction level (rqrr's raw format bits: M = 0).
pub fn decode_qr(
    width: usize,
    height: usize,
    luma: impl Fn(usize, usize) -> u8,
) -> Vec<(String, u16)> {
    decode_qr_with_mask(width, height, luma)
        .into_iter()
        .map(|(content, ecc_level, _)| (content, ecc_level))
        .collect()
}

/// Like [`decode_qr`], also returning the mask pattern number each symbol uses.
pub fn decode_qr_with_mask(
    width: usize,
    height: usize,
    luma: impl Fn(usize, usize) -> u8,
) -> Vec<(String, u16, u16)> {
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, luma);
    image
        .detect_grids()
        .into_iter()
        .map(|grid| {
            let (meta, content) = grid.decode().expect("QR decodes");
            (content, meta.ecc_level, meta.mask)
        })
        .collect()
}

/// Draws a module grid (`dark(x, y)` over `side` modules) with a 4-module quiet zone at
/// `px` pixels per module and decodes it.
pub fn decode_grid(
    side: usize,
    px: usize,
    dark: impl Fn(usize, usize) -> bool,
) -> Vec<(String, u16)> {
    let total = (side + 8) * px;
    decode_qr(total, total, |x, y| {
        let (mx, my) = (x / px, y / px);
        let inside = (4..side + 4).contains(&mx) && (4..side + 4).contains(&my);
        if inside && dark(mx - 4, my - 4) {
            0
        } else {
            255
        }
    })
}
