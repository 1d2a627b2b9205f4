//! Instants as the API and the logs write them: RFC 3339 in UTC, to the second. A bottom-layer
//! module (it imports nothing of ours), so any layer can write a date the same way.

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, SecondsFormat};

/// `2000-07-12T05:11:41Z`; empty for an instant chrono cannot represent (beyond year 262,143).
pub fn rfc3339(seconds: i64) -> String {
    DateTime::from_timestamp(seconds, 0)
        .map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// `2000-07-12T05:11:41.123Z`: for the service's own log lines.
pub fn rfc3339_millis(at: SystemTime) -> String {
    DateTime::<chrono::Utc>::from(at).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Seconds since the epoch, now (0 on a clock set before 1970).
pub fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub fn seconds_of(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
