//! What `/stats` groups lines by, as the HTTP layer names it and storage computes it.

use crate::limits::{SECONDS_PER_DAY, SECONDS_PER_HOUR};

/// What lines can be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatKey {
    Code,
    /// `5xx` and the like.
    Class,
    Method,
    User,
    Source,
    Ip,
    /// The URL's path, without its query string.
    Path,
    Referer,
    UserAgent,
    /// The UTC day.
    Day,
    /// The UTC hour.
    Hour,
    /// Buckets of this many seconds, counted from 1970-01-01T00:00:00Z.
    Time(i64),
}

impl StatKey {
    /// The keys' names in the API; `time` takes its bucket's length from `interval`.
    pub const NAMES: [&'static str; 12] = [
        "code",
        "class",
        "method",
        "user",
        "source",
        "ip",
        "path",
        "referer",
        "user_agent",
        "day",
        "hour",
        StatKey::TIME,
    ];
    pub const TIME: &'static str = "time";

    /// The key of a name in [`StatKey::NAMES`]; `time` needs an interval, in seconds.
    pub fn named(name: &str, interval: Option<i64>) -> Option<StatKey> {
        Some(match name {
            "code" => StatKey::Code,
            "class" => StatKey::Class,
            "method" => StatKey::Method,
            "user" => StatKey::User,
            "source" => StatKey::Source,
            "ip" => StatKey::Ip,
            "path" => StatKey::Path,
            "referer" => StatKey::Referer,
            "user_agent" => StatKey::UserAgent,
            "day" => StatKey::Day,
            "hour" => StatKey::Hour,
            StatKey::TIME => StatKey::Time(interval.filter(|&seconds| seconds > 0)?),
            _ => return None,
        })
    }

    pub fn is_time(self) -> bool {
        self.period().is_some()
    }

    /// Seconds in one of a time key's buckets.
    pub(crate) fn period(self) -> Option<i64> {
        match self {
            StatKey::Day => Some(SECONDS_PER_DAY),
            StatKey::Hour => Some(SECONDS_PER_HOUR),
            StatKey::Time(seconds) => Some(seconds),
            _ => None,
        }
    }

    /// Whether only the line holds it.
    pub(crate) fn on_lines(self) -> bool {
        matches!(self, StatKey::Path | StatKey::Referer | StatKey::UserAgent)
    }
}

#[cfg(test)]
mod tests {
    use super::StatKey;

    #[test]
    fn every_name_is_a_key() {
        for name in StatKey::NAMES {
            let key = StatKey::named(name, Some(900));
            assert!(key.is_some(), "{name}");
        }
        assert_eq!(StatKey::named(StatKey::TIME, None), None);
        assert_eq!(StatKey::named("time", Some(900)), Some(StatKey::Time(900)));
    }
}
