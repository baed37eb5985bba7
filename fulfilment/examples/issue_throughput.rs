//! Ticket worker throughput for `scripts/bench tickets`: booking facts (`Confirmed`, 2 seats each)
//! pushed through the worker lanes exactly as dev mode does (sign, render QR PNG + SVG + PDF on
//! the blocking pool, one redb transaction per booking), against the embedded catalog and ticket
//! store in a temporary directory. Throughput is tickets per CPU-second of the whole process
//! (utime + stime from /proc/self/stat), so a shared, busy machine slows the run without skewing
//! the per-core figure.
//!
//! Prints one line: `tickets=<n> lanes=<n> wall_s=<x> cpu_s=<x> tickets_per_s=<x>
//! tickets_per_cpu_s=<x>`. `TICKETS_BENCH_BOOKINGS` (default 2000) sets the bookings.

use std::sync::Arc;
use std::time::Instant;

use catalog::Catalog;
use fulfilment::worker::Job;
use fulfilment::{EmbeddedTicketStore, Issuer, KeyRing, Lanes, TicketStore, TicketWorker};
use schemas::{BookingId, Event, HoldId, SeatId, ShowEvent, ShowId, UnixMs, UserId};
use serde_json::json;
use tokio::sync::oneshot;
use uuid::Uuid;

/// CPU seconds this process has used (user + system), from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // USER_HZ is 100 on Linux.
    ticks / 100.0
}

#[tokio::main]
async fn main() {
    let bookings: usize = std::env::var("TICKETS_BENCH_BOOKINGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let lanes = std::thread::available_parallelism().map_or(2, |n| n.get());
    let dir = tempfile::tempdir().unwrap();
    let catalog = Arc::new(
        Catalog::open_embedded(&dir.path().join("catalog"))
            .await
            .unwrap(),
    );
    let venue = catalog
        .create_venue(
            serde_json::from_value(json!({"name": "Bench Hall", "city": "Pune", "sections": [
                {"sectionId": "A", "name": "Stalls", "priceCategory": "STD", "price": 1000,
                 "currency": "USD", "rows": (0..(bookings * 2).div_ceil(50))
                    .map(|r| json!({"row": format!("R{r}"), "seats": 50})).collect::<Vec<_>>()}]}))
            .unwrap(),
        )
        .await
        .unwrap();
    let event = catalog
        .create_event(
            serde_json::from_value(json!({"title": "Bench Gala", "description": "Load",
                "category": "concerts", "city": "Pune", "venueId": venue.venue_id,
                "startDate": "2030-01-01", "endDate": "2030-01-02"}))
            .unwrap(),
        )
        .await
        .unwrap();
    let keys = KeyRing::from_config("b1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=").unwrap();
    let store: Arc<dyn TicketStore> =
        Arc::new(EmbeddedTicketStore::open(&dir.path().join("tickets.redb")).unwrap());
    let worker = Arc::new(TicketWorker::new(
        Issuer::new(keys, catalog.clone()),
        store.clone(),
    ));
    let (lanes_handle, tasks) = Lanes::spawn(worker, lanes);
    // One show per lane, so every lane works (a show's facts always share a lane).
    let mut shows: Vec<Option<ShowId>> = vec![None; lanes];
    while shows.iter().any(Option::is_none) {
        let created = catalog
            .create_show(
                event.event_id,
                serde_json::from_value(json!({"showTime": "2030-01-01T19:00:00Z"})).unwrap(),
            )
            .await
            .unwrap();
        let lane = lanes_handle.lane_of(created.show.show_id);
        shows[lane].get_or_insert(created.show.show_id);
    }
    let shows: Vec<ShowId> = shows.into_iter().flatten().collect();
    let facts: Vec<ShowEvent> = (0..bookings)
        .map(|i| {
            let show = shows[i % lanes];
            let seat = 2 * (i / lanes) as u32;
            ShowEvent {
                schema: schemas::SCHEMA_VERSION,
                show_id: show,
                version: i as u64 + 1,
                at: UnixMs(chrono::Utc::now().timestamp_millis()),
                event: Event::Confirmed {
                    booking_id: BookingId(Uuid::new_v4()),
                    hold_id: HoldId(Uuid::new_v4()),
                    user: UserId(Uuid::new_v4()),
                    seats: vec![SeatId::derive(show, seat), SeatId::derive(show, seat + 1)],
                    total_minor: 2000,
                    payment_ref: Uuid::new_v4().to_string(),
                    booked_at: UnixMs(0),
                },
            }
        })
        .collect();
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let mut receipts = Vec::with_capacity(bookings);
    for fact in facts {
        let (done, receipt) = oneshot::channel();
        receipts.push(receipt);
        lanes_handle
            .send(Job {
                fact,
                done: Some(done),
            })
            .await
            .expect("lane running");
    }
    let mut failed = 0;
    for receipt in receipts {
        if !matches!(receipt.await, Ok(Ok(()))) {
            failed += 1;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    assert_eq!(failed, 0, "every booking issued");
    drop(lanes_handle);
    for task in tasks {
        let _ = task.await;
    }
    let tickets = bookings * 2;
    println!(
        "tickets={tickets} lanes={lanes} wall_s={wall:.2} cpu_s={cpu:.2} tickets_per_s={:.0} tickets_per_cpu_s={:.0}",
        tickets as f64 / wall,
        tickets as f64 / cpu
    );
}
