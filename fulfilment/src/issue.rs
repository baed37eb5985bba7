//! [`Issuer`]: from a confirmed booking to stored-ready tickets. For each seat: the claims (ticket
//! id = `engine::ticket_id(booking, seat)`), the signed code, and the QR PNG, SVG and PDF drawn
//! from one QR encoding; what the PDF prints (event, venue, show time, seat) comes from the
//! catalog, cached per show.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use catalog::{Catalog, CatalogError, SeatMap};
use chrono::{DateTime, Utc};
use schemas::{BookingId, SeatId, ShowId, UserId};
use tickets::{KeyRing, RenderError, RenderedTicket, TicketClaims, TicketView};

use crate::model::{IssuedTicket, StoredStatus, TicketRecord, wall_now};

/// Shows whose printed facts are kept at most (then the cache starts over).
pub const SHOW_FACTS_CACHE_MAX: usize = 1024;

/// What a confirmed booking needs tickets for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookingToIssue {
    /// The show.
    pub show_id: ShowId,
    /// The booking.
    pub booking_id: BookingId,
    /// The buyer.
    pub owner: UserId,
    /// Its seats, in booking order.
    pub seats: Vec<SeatId>,
}

/// Why tickets could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// The catalog could not tell what to print.
    #[error("catalog: {0}")]
    Catalog(#[from] CatalogError),
    /// A seat of the booking is not in the show's layout.
    #[error("seat {seat} is not a seat of show {show}")]
    UnknownSeat {
        /// The show.
        show: ShowId,
        /// The seat.
        seat: SeatId,
    },
    /// Rendering failed (fatal for this input).
    #[error("render: {0}")]
    Render(#[from] RenderError),
    /// The render thread pool went away (shutting down).
    #[error("render task failed: {0}")]
    Task(String),
}

impl IssueError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            IssueError::Catalog(e) => e.is_retryable(),
            IssueError::Task(_) => true,
            IssueError::UnknownSeat { .. } | IssueError::Render(_) => false,
        }
    }
}

/// What every ticket of a show prints.
#[derive(Clone, Debug)]
struct ShowFacts {
    event_title: String,
    venue_name: String,
    show_time: DateTime<Utc>,
    seats: Arc<SeatMap>,
}

/// Signs and renders tickets.
pub struct Issuer {
    keys: KeyRing,
    catalog: Arc<Catalog>,
    facts: Mutex<HashMap<ShowId, ShowFacts>>,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl Issuer {
    /// An issuer signing with `keys` and printing facts from `catalog`.
    pub fn new(keys: KeyRing, catalog: Arc<Catalog>) -> Issuer {
        Issuer {
            keys,
            catalog,
            facts: Mutex::new(HashMap::new()),
        }
    }

    /// The key ring.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    async fn facts(&self, show: ShowId) -> Result<ShowFacts, CatalogError> {
        if let Some(hit) = self.facts.lock().expect("facts lock").get(&show) {
            return Ok(hit.clone());
        }
        let stored = self.catalog.show(show).await?;
        let event = self.catalog.event(stored.event_id).await?;
        let facts = ShowFacts {
            event_title: event.title,
            venue_name: event.venue_name,
            show_time: stored.show_time,
            seats: self.catalog.seat_map(show).await?,
        };
        let mut cache = self.facts.lock().expect("facts lock");
        if cache.len() >= SHOW_FACTS_CACHE_MAX {
            cache.clear();
        }
        cache.insert(show, facts.clone());
        Ok(facts)
    }

    /// Sign and render every ticket of `booking` (rendering runs on the blocking pool).
    pub async fn issue(&self, booking: &BookingToIssue) -> Result<Vec<IssuedTicket>, IssueError> {
        let facts = self.facts(booking.show_id).await?;
        let plans = booking
            .seats
            .iter()
            .map(|seat| self.plan(booking, &facts, *seat))
            .collect::<Result<Vec<_>, _>>()?;
        tokio::task::spawn_blocking(move || render_all(plans))
            .await
            .map_err(|e| IssueError::Task(e.to_string()))?
    }

    fn plan(
        &self,
        booking: &BookingToIssue,
        facts: &ShowFacts,
        seat: SeatId,
    ) -> Result<(TicketRecord, TicketView), IssueError> {
        let detail = facts.seats.seat(seat).ok_or(IssueError::UnknownSeat {
            show: booking.show_id,
            seat,
        })?;
        let claims = TicketClaims {
            ticket_id: engine::ticket_id(booking.booking_id, seat),
            booking_id: booking.booking_id,
            show_id: booking.show_id,
            seat_id: seat,
        };
        let code = self.keys.sign(&claims);
        let view = TicketView {
            event_title: facts.event_title.clone(),
            venue_name: facts.venue_name.clone(),
            show_time: facts.show_time.fixed_offset(),
            section: detail.section_id.clone(),
            section_name: detail.section_name.clone(),
            row: detail.row.clone(),
            number: detail.number,
            ticket_id: claims.ticket_id,
            code: code.clone(),
        };
        let record = TicketRecord {
            ticket_id: claims.ticket_id,
            booking_id: booking.booking_id,
            show_id: booking.show_id,
            seat_id: seat,
            owner: booking.owner,
            section: detail.section_id,
            row: detail.row,
            number: detail.number,
            code,
            status: StoredStatus::Valid,
            issued_at: wall_now(),
        };
        Ok((record, view))
    }
}

fn render_all(plans: Vec<(TicketRecord, TicketView)>) -> Result<Vec<IssuedTicket>, IssueError> {
    plans
        .into_iter()
        .map(|(record, view)| {
            let rendered = RenderedTicket::render(&view)?;
            Ok(IssuedTicket {
                record,
                qr_png: rendered.qr_png,
                qr_svg: rendered.qr_svg.into_bytes(),
                pdf: rendered.pdf,
            })
        })
        .collect()
}
