//! Nouns of the after-sale side: an issued ticket as stored, its rendered files, the status the
//! ticket store keeps, and a refund owed for a cancelled booking.

use schemas::{BookingId, SeatId, ShowId, TicketId, UnixMs, UserId};
use serde::{Deserialize, Serialize};

/// Status of a ticket as the ticket store records it, from the booking facts. The show's
/// partition is the truth (the API answers from it); this copy serves operators and sweeps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoredStatus {
    /// Not admitted, not cancelled.
    Valid,
    /// Admitted at a gate.
    CheckedIn {
        /// When.
        at: UnixMs,
        /// Which gate.
        gate: Option<String>,
    },
    /// Its booking was cancelled.
    Cancelled,
}

impl StoredStatus {
    /// The contract's spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            StoredStatus::Valid => "VALID",
            StoredStatus::CheckedIn { .. } => "CHECKED_IN",
            StoredStatus::Cancelled => "CANCELLED",
        }
    }
}

/// One issued ticket: who owns it, what it admits to, and its signed code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketRecord {
    /// The ticket (`engine::ticket_id(booking, seat)`).
    pub ticket_id: TicketId,
    /// Its booking.
    pub booking_id: BookingId,
    /// Its show.
    pub show_id: ShowId,
    /// The seat it admits to.
    pub seat_id: SeatId,
    /// The buyer (only they may download the files).
    pub owner: UserId,
    /// Section id.
    pub section: String,
    /// Row label.
    pub row: String,
    /// Number within the row.
    pub number: u32,
    /// The signed code, exactly as encoded in the QR.
    pub code: String,
    /// Status per the booking facts seen so far.
    pub status: StoredStatus,
    /// When the worker stored it (wall clock).
    pub issued_at: UnixMs,
}

/// The rendered files of a ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArtifactKind {
    /// The QR code as PNG.
    QrPng,
    /// The QR code as SVG.
    QrSvg,
    /// The printable one-page PDF.
    Pdf,
}

impl ArtifactKind {
    /// Every kind, in storage order.
    pub const ALL: [ArtifactKind; 3] =
        [ArtifactKind::QrPng, ArtifactKind::QrSvg, ArtifactKind::Pdf];

    /// Media type served.
    pub fn content_type(self) -> &'static str {
        match self {
            ArtifactKind::QrPng => "image/png",
            ArtifactKind::QrSvg => "image/svg+xml",
            ArtifactKind::Pdf => "application/pdf",
        }
    }

    /// Stored code.
    pub fn code(self) -> u8 {
        match self {
            ArtifactKind::QrPng => 0,
            ArtifactKind::QrSvg => 1,
            ArtifactKind::Pdf => 2,
        }
    }
}

/// A ticket ready to store: its record and its three files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedTicket {
    /// What it is.
    pub record: TicketRecord,
    /// QR PNG.
    pub qr_png: Vec<u8>,
    /// QR SVG.
    pub qr_svg: Vec<u8>,
    /// PDF.
    pub pdf: Vec<u8>,
}

impl IssuedTicket {
    /// The bytes of one file.
    pub fn artifact(&self, kind: ArtifactKind) -> &[u8] {
        match kind {
            ArtifactKind::QrPng => &self.qr_png,
            ArtifactKind::QrSvg => &self.qr_svg,
            ArtifactKind::Pdf => &self.pdf,
        }
    }
}

/// One stored file with the facts needed to serve it to its owner only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// Who may download it.
    pub owner: UserId,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// A refund owed for a cancelled booking, recorded before the provider is asked and removed once
/// it has answered with success, so a crash or a provider outage never loses it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundDue {
    /// The cancelled booking.
    pub booking_id: BookingId,
    /// Its show.
    pub show_id: ShowId,
    /// Payment authorization to refund against.
    pub payment_ref: String,
    /// Amount, minor units (> 0).
    pub amount_minor: i64,
    /// When the cancellation was decided.
    pub cancelled_at: UnixMs,
}

/// The payment provider's idempotency key for the refund of `booking`: one refund per booking,
/// whoever asks (the cancel request, a retry, the reconciler).
pub fn refund_key(booking: BookingId) -> String {
    format!("refund-{booking}")
}

/// Wall-clock now.
pub fn wall_now() -> UnixMs {
    UnixMs(chrono::Utc::now().timestamp_millis())
}
