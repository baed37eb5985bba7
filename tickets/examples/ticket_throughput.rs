//! Single-threaded throughput of the ticket library: signing and verifying codes, rendering the
//! QR as PNG and SVG, the PDF, and all three together (what the ticket worker does per ticket).
//! Run in release through `scripts/bench tickets-sign`; `TICKETS_BENCH_SECONDS` (default 2) sets
//! how long each measurement runs. Rates are per second of the thread's CPU time (one core), so a
//! busy shared machine slows the run down without skewing the result. Ends with one
//! `BENCH tickets-sign ...` line.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::DateTime;
use schemas::{BookingId, SeatId, ShowId, TicketId};
use tickets::{
    DEFAULT_MODULE_PX, KeyId, KeyRing, RenderedTicket, TicketClaims, TicketQr, TicketView,
    render_pdf,
};
use uuid::Uuid;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: f64 = std::env::var("TICKETS_BENCH_SECONDS")
        .ok()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(2.0);
    let budget = Duration::from_secs_f64(seconds);
    // Two keys, signing with the first, as after a rotation.
    let config = format!(
        "{},{}",
        KeyRing::generate_config(&KeyId::new("k2")?),
        KeyRing::generate_config(&KeyId::new("k1")?)
    );
    let ring = KeyRing::from_config(&config)?;
    let show_id = ShowId(Uuid::from_u128(0x5409));
    let claims_of = |n: u64| TicketClaims {
        ticket_id: TicketId(Uuid::from_u128(u128::from(n) << 1 | 1)),
        booking_id: BookingId(Uuid::from_u128(u128::from(n / 4))),
        show_id,
        seat_id: SeatId::derive(show_id, (n % 60_000) as u32),
    };
    let codes: Vec<String> = (0..1024).map(|n| ring.sign(&claims_of(n))).collect();
    let view_of = |code: &str| TicketView {
        event_title: "Café Tacvba – Live in Concert".to_owned(),
        venue_name: "Palace Grounds, Bengaluru".to_owned(),
        show_time: DateTime::parse_from_rfc3339("2026-03-14T19:30:00+05:30").expect("valid"),
        section: "BALC".to_owned(),
        section_name: "Balcony".to_owned(),
        row: "R12".to_owned(),
        number: 7,
        ticket_id: TicketId(Uuid::from_u128(7)),
        code: code.to_owned(),
    };
    let views: Vec<TicketView> = codes.iter().take(64).map(|c| view_of(c)).collect();

    let signs = rate("sign", budget, |n| {
        black_box(ring.sign(&claims_of(n)));
    });
    let verifies = rate("verify", budget, |n| {
        let code = &codes[n as usize % codes.len()];
        black_box(ring.verify(code).expect("genuine code verifies"));
    });
    let encodes = rate("qr encode", budget, |n| {
        black_box(TicketQr::new(&codes[n as usize % codes.len()]).expect("encodes"));
    });
    let pngs = rate("qr png (encode + render)", budget, |n| {
        let qr = TicketQr::new(&codes[n as usize % codes.len()]).expect("encodes");
        black_box(qr.to_png(DEFAULT_MODULE_PX).expect("renders"));
    });
    let svgs = rate("qr svg (encode + render)", budget, |n| {
        let qr = TicketQr::new(&codes[n as usize % codes.len()]).expect("encodes");
        black_box(qr.to_svg());
    });
    let pdfs = rate("pdf (encode + render)", budget, |n| {
        black_box(render_pdf(&views[n as usize % views.len()]).expect("renders"));
    });
    let issues = rate("issue (sign + png + svg + pdf)", budget, |n| {
        let mut view = views[n as usize % views.len()].clone();
        view.code = ring.sign(&claims_of(n));
        black_box(RenderedTicket::render(&view).expect("renders"));
    });
    println!(
        "BENCH tickets-sign signs_per_s={signs:.0} verifies_per_s={verifies:.0} qr_encodes_per_s={encodes:.0} png_per_s={pngs:.0} \
         svg_per_s={svgs:.0} pdf_per_s={pdfs:.0} issued_per_s={issues:.0}"
    );
    Ok(())
}

/// Runs `op` with 0, 1, 2, ... until `budget` of wall time has passed (checking the clock every
/// 64 calls), prints calls per wall second and per second of this thread's CPU time, and returns
/// the latter: the machine is shared, so CPU time is what measures one core's capacity.
fn rate(name: &str, budget: Duration, mut op: impl FnMut(u64)) -> f64 {
    let start = Instant::now();
    let cpu_start = thread_cpu();
    let mut calls = 0u64;
    while start.elapsed() < budget {
        for _ in 0..64 {
            op(calls);
            calls += 1;
        }
    }
    let wall_per_s = calls as f64 / start.elapsed().as_secs_f64();
    let cpu_per_s = match (cpu_start, thread_cpu()) {
        (Some(before), Some(after)) if after > before => {
            calls as f64 / (after - before).as_secs_f64()
        }
        _ => wall_per_s,
    };
    println!(
        "{name:<32} {cpu_per_s:>12.0} /cpu-s ({:>8.2} us each)  {wall_per_s:>12.0} /wall-s",
        1e6 / cpu_per_s
    );
    cpu_per_s
}

/// CPU time this thread has run so far, from Linux's per-thread scheduler statistics (first
/// field, nanoseconds); `None` elsewhere, and the wall clock is used instead.
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}
