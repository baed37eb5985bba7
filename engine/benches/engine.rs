//! Seat engine benchmark (placeholder until the mix lands).
fn main() {}
