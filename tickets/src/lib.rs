//! Signed ticket codes and the images and printouts that carry them.
//!
//! # Layout
//! - [`keys`]: [`KeyRing`], the configured HMAC-SHA256 keys by [`KeyId`] (first signs, all
//!   verify), parsed from [`KEYS_ENV_VAR`] (`BOXOFFICE_TICKET_KEYS`).
//! - [`code`]: [`TicketClaims`] and the code format; [`KeyRing::sign`] and [`KeyRing::verify`]
//!   with the named refusals of [`TicketCodeError`].
//! - [`qr`]: [`TicketQr`], the QR symbol of a code (error correction M), rendered as PNG or SVG;
//!   `mask` picks its mask by the standard's penalty rules.
//! - [`pdf`]: [`TicketView`] and [`render_pdf`], the printable one-page ticket, and
//!   [`RenderedTicket`] for all three artifacts from one QR encoding.
//!
//! # Flow
//! Issuing: the ticket worker builds [`TicketClaims`] from a confirmed booking, calls
//! [`KeyRing::sign`] for the code, then [`RenderedTicket::render`] for the PNG, SVG and PDF it
//! stores. Admitting: the check-in route calls [`KeyRing::verify`] on the scanned string; the key
//! is chosen by the id inside the code, so nothing is looked up per ticket before the claims go
//! to the show's partition. Everything here is pure: no IO, no clock, no async.

pub mod code;
pub mod keys;
mod mask;
pub mod pdf;
pub mod qr;

pub use code::{FORMAT_VERSION, MAX_CODE_LEN, TAG_LEN_BYTES, TicketClaims, TicketCodeError};
pub use keys::{KEYS_ENV_VAR, KeyId, KeyRing, KeyRingError, MAX_KEY_ID_LEN, MIN_SECRET_LEN_BYTES};
pub use pdf::{RenderedTicket, TicketView, render_pdf};
pub use qr::{
    DEFAULT_MODULE_PX, ERROR_CORRECTION, MAX_MODULE_PX, QUIET_ZONE_MODULES, RenderError, TicketQr,
};
