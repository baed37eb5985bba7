//! The HTTP/WebSocket front of boxoffice (axum).
//!
//! # Layout
//! Filled in by the API work (issue 5).
