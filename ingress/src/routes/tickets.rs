//! Tickets: the `tickets` of a booking, and each ticket's files
//! `GET /v1/tickets/{ticketId}/qr.png`, `/qr.svg`, `/ticket.pdf` (owner only; anyone else gets
//! the same 404 as for a ticket that does not exist).
//!
//! A ticket appears once the ticket worker has issued it (well under a second after the
//! confirm); its status is read from the show's partition with the booking, so a check-in or a
//! cancellation shows at once.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use engine::{BookingView, TicketStatus};
use fulfilment::ArtifactKind;
use schemas::TicketId;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, PROBLEM_JSON as PROBLEM, Problem};
use crate::extract::PathIds;
use crate::state::AppState;

/// One admission ticket.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketBody {
    /// Ticket id.
    pub ticket_id: Uuid,
    /// Its booking.
    pub booking_id: Uuid,
    /// The seat it admits to.
    pub seat_id: Uuid,
    /// Section id.
    pub section: String,
    /// Row label.
    pub row: String,
    /// Number within the row.
    pub number: u32,
    /// The signed code, exactly as encoded in the QR.
    pub code: String,
    /// QR code as PNG.
    pub qr_png_url: String,
    /// QR code as SVG.
    pub qr_svg_url: String,
    /// Printable one-page PDF.
    pub pdf_url: String,
    /// `VALID`, `CHECKED_IN` or `CANCELLED`.
    pub status: &'static str,
}

/// The contract's spelling of a ticket status.
pub fn ticket_status_str(status: &TicketStatus) -> &'static str {
    match status {
        TicketStatus::Valid => "VALID",
        TicketStatus::CheckedIn { .. } => "CHECKED_IN",
        TicketStatus::Cancelled => "CANCELLED",
    }
}

/// The URL of one file of a ticket.
pub fn artifact_url(ticket: TicketId, kind: ArtifactKind) -> String {
    let file = match kind {
        ArtifactKind::QrPng => "qr.png",
        ArtifactKind::QrSvg => "qr.svg",
        ArtifactKind::Pdf => "ticket.pdf",
    };
    format!("/v1/tickets/{ticket}/{file}")
}

/// A ticket body from its parts.
pub fn ticket_body(
    ticket: TicketId,
    booking: Uuid,
    seat: Uuid,
    place: (String, String, u32),
    code: String,
    status: &'static str,
) -> TicketBody {
    let (section, row, number) = place;
    TicketBody {
        ticket_id: ticket.0,
        booking_id: booking,
        seat_id: seat,
        section,
        row,
        number,
        code,
        qr_png_url: artifact_url(ticket, ArtifactKind::QrPng),
        qr_svg_url: artifact_url(ticket, ArtifactKind::QrSvg),
        pdf_url: artifact_url(ticket, ArtifactKind::Pdf),
        status,
    }
}

/// The issued tickets of a booking, in seat order, with statuses from the show's partition.
pub async fn booking_tickets(
    state: &AppState,
    view: &BookingView,
) -> Result<Vec<TicketBody>, ApiError> {
    let issued = state
        .backends()
        .tickets
        .booking_tickets(view.booking_id)
        .await?;
    Ok(view
        .tickets
        .iter()
        .filter_map(|ticket| {
            let record = issued.iter().find(|r| r.ticket_id == ticket.ticket_id)?;
            Some(ticket_body(
                ticket.ticket_id,
                view.booking_id.0,
                ticket.seat_id.0,
                (record.section.clone(), record.row.clone(), record.number),
                record.code.clone(),
                ticket_status_str(&ticket.status),
            ))
        })
        .collect())
}

async fn artifact(
    state: &AppState,
    caller: &Caller,
    path: &PathIds,
    kind: ArtifactKind,
) -> Result<Response, ApiError> {
    let ticket = TicketId(path.uuid("ticketId")?);
    let found = state.backends().tickets.artifact(ticket, kind).await?;
    let Some(file) = found.filter(|f| f.owner == caller.user) else {
        return Err(ApiError::NotFound);
    };
    let mut response = file.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(kind.content_type()),
    );
    // A ticket's files never change once issued, but they belong to one user.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    if kind == ArtifactKind::Pdf
        && let Ok(value) =
            HeaderValue::from_str(&format!("inline; filename=\"ticket-{ticket}.pdf\""))
    {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// A ticket's QR code as PNG.
#[utoipa::path(get, path = "/v1/tickets/{ticketId}/qr.png", tag = "tickets",
    params(("ticketId" = Uuid, Path, description = "Ticket id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The QR code", content_type = "image/png", body = Vec<u8>),
        (status = 400, description = "invalid-request", body = Problem, content_type = PROBLEM),
        (status = 401, description = "unauthenticated", body = Problem, content_type = PROBLEM),
        (status = 404, description = "not-found (also another user's ticket, or not issued yet)", body = Problem, content_type = PROBLEM),
    ))]
pub async fn qr_png(
    State(state): State<AppState>,
    caller: Caller,
    path: PathIds,
) -> Result<Response, ApiError> {
    artifact(&state, &caller, &path, ArtifactKind::QrPng).await
}

/// A ticket's QR code as SVG.
#[utoipa::path(get, path = "/v1/tickets/{ticketId}/qr.svg", tag = "tickets",
    params(("ticketId" = Uuid, Path, description = "Ticket id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The QR code", content_type = "image/svg+xml", body = String),
        (status = 400, description = "invalid-request", body = Problem, content_type = PROBLEM),
        (status = 401, description = "unauthenticated", body = Problem, content_type = PROBLEM),
        (status = 404, description = "not-found (also another user's ticket, or not issued yet)", body = Problem, content_type = PROBLEM),
    ))]
pub async fn qr_svg(
    State(state): State<AppState>,
    caller: Caller,
    path: PathIds,
) -> Result<Response, ApiError> {
    artifact(&state, &caller, &path, ArtifactKind::QrSvg).await
}

/// A ticket as a printable one-page PDF.
#[utoipa::path(get, path = "/v1/tickets/{ticketId}/ticket.pdf", tag = "tickets",
    params(("ticketId" = Uuid, Path, description = "Ticket id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The ticket", content_type = "application/pdf", body = Vec<u8>),
        (status = 400, description = "invalid-request", body = Problem, content_type = PROBLEM),
        (status = 401, description = "unauthenticated", body = Problem, content_type = PROBLEM),
        (status = 404, description = "not-found (also another user's ticket, or not issued yet)", body = Problem, content_type = PROBLEM),
    ))]
pub async fn ticket_pdf(
    State(state): State<AppState>,
    caller: Caller,
    path: PathIds,
) -> Result<Response, ApiError> {
    artifact(&state, &caller, &path, ArtifactKind::Pdf).await
}
