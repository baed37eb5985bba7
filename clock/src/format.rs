//! Instants on the wire: RFC 3339 UTC strings (`2026-12-01T18:30:00Z`), one spelling for the HTTP
//! answers and the live frames.

use chrono::{DateTime, SecondsFormat, Utc};
use schemas::UnixMs;

/// RFC 3339 UTC with millisecond precision for instants the pipeline records.
pub fn rfc3339_ms(at: UnixMs) -> String {
    DateTime::<Utc>::from_timestamp_millis(at.0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// RFC 3339 UTC with whole seconds.
pub fn rfc3339_s(at_s: i64) -> String {
    DateTime::<Utc>::from_timestamp(at_s, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_rfc3339_utc() {
        assert_eq!(rfc3339_s(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_ms(UnixMs(1_500)), "1970-01-01T00:00:01.500Z");
    }
}
