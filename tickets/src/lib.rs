//! # Layout
//! Ticket codes, QR images and printable tickets (filled in by the following commits).
