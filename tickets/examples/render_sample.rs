//! Writes a sample ticket (`ticket.pdf`, `qr.png`, `qr.svg`, `code.txt`) into the directory given
//! as the first argument, signed with a throwaway key, for eyeballing layout changes:
//! `cargo run -p tickets --example render_sample -- /tmp/ticket-sample`.

use std::path::PathBuf;

use chrono::DateTime;
use schemas::{BookingId, SeatId, ShowId, TicketId};
use tickets::{KeyId, KeyRing, RenderedTicket, TicketClaims, TicketView};
use uuid::Uuid;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: render_sample <output dir>")?,
    );
    std::fs::create_dir_all(&dir)?;
    let ring = KeyRing::from_config(&KeyRing::generate_config(&KeyId::new("sample")?))?;
    let show_id = ShowId(Uuid::new_v4());
    let claims = TicketClaims {
        ticket_id: TicketId(Uuid::new_v4()),
        booking_id: BookingId(Uuid::new_v4()),
        show_id,
        seat_id: SeatId::derive(show_id, 118),
    };
    let code = ring.sign(&claims);
    let view = TicketView {
        event_title: "Café Tacvba – Live in Concert".to_owned(),
        venue_name: "Palace Grounds, Bengaluru".to_owned(),
        show_time: DateTime::parse_from_rfc3339("2026-03-14T19:30:00+05:30")?,
        section: "BALC".to_owned(),
        section_name: "Balcony".to_owned(),
        row: "R12".to_owned(),
        number: 7,
        ticket_id: claims.ticket_id,
        code: code.clone(),
    };
    let rendered = RenderedTicket::render(&view)?;
    std::fs::write(dir.join("ticket.pdf"), &rendered.pdf)?;
    std::fs::write(dir.join("qr.png"), &rendered.qr_png)?;
    std::fs::write(dir.join("qr.svg"), &rendered.qr_svg)?;
    std::fs::write(dir.join("code.txt"), format!("{code}\n"))?;
    println!(
        "wrote {} ({} byte PDF, {} byte PNG)",
        dir.display(),
        rendered.pdf.len(),
        rendered.qr_png.len()
    );
    Ok(())
}
