//! Opaque keyset cursors: a few integers, base64-encoded so that clients treat them as tokens
//! and the paging scheme can change without breaking them. The wire format of a position that
//! storage gives as a key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use std::hash::Hasher;

use fnv::FnvHasher;

use crate::db::read::log_query::{Key, LogFilter, Order};

/// Where a `/logs` listing stands: after `key`, in `order`, under the filters whose
/// [`filter_fingerprint`] is `filters`. A cursor used with other filters or in the other order
/// would skip or repeat rows, so it is refused then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub order: Order,
    pub key: Key,
    pub filters: i64,
}

pub fn encode_position(position: Position) -> String {
    let order = match position.order {
        Order::Desc => 0,
        Order::Asc => 1,
    };
    encode(&[order, position.key.date, position.key.id, position.filters])
}

pub fn decode_position(text: &str) -> Option<Position> {
    let [order, date, id, filters] = decode(text)?;
    let order = match order {
        0 => Order::Desc,
        1 => Order::Asc,
        _ => return None,
    };
    Some(Position {
        order,
        key: Key { date, id },
        filters,
    })
}

/// A hash of the filters that does not depend on how they were written: the order of values,
/// repeats, `post` or `POST`.
pub fn filter_fingerprint(filter: &LogFilter) -> i64 {
    fn sorted<T: Ord + Clone>(values: &[T]) -> Vec<T> {
        let mut values = values.to_vec();
        values.sort_unstable();
        values.dedup();
        values
    }
    let mut hasher = FnvHasher::default();
    for (low, high) in sorted(&filter.codes) {
        hasher.write(b"c");
        hasher.write(&low.to_le_bytes());
        hasher.write(&high.to_le_bytes());
    }
    let ips: Vec<String> = filter.ips.iter().map(|net| net.to_string()).collect();
    for (tag, names) in [
        (b"m", &filter.methods),
        (b"u", &filter.users),
        (b"o", &filter.sources),
        (b"i", &ips),
        (b"p", &filter.paths),
        (b"q", &filter.texts),
    ] {
        for name in sorted(names) {
            hasher.write(tag);
            hasher.write(&(name.len() as u64).to_le_bytes());
            hasher.write(name.as_bytes());
        }
    }
    for (tag, bound) in [(b"s", filter.since), (b"t", filter.until)] {
        if let Some(bound) = bound {
            hasher.write(tag);
            hasher.write(&bound.to_le_bytes());
        }
    }
    hasher.finish() as i64
}

pub fn encode(parts: &[i64]) -> String {
    let text: Vec<String> = parts.iter().map(i64::to_string).collect();
    URL_SAFE_NO_PAD.encode(text.join(":"))
}

/// `None` unless `text` came from [`encode`] with exactly `N` parts.
pub fn decode<const N: usize>(text: &str) -> Option<[i64; N]> {
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let mut parts = [0; N];
    let mut fields = text.split(':');
    for part in &mut parts {
        *part = fields.next()?.parse().ok()?;
    }
    fields.next().is_none().then_some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_fingerprint_ignores_how_the_filters_were_written() {
        let a = LogFilter {
            codes: vec![(500, 500), (400, 499)],
            methods: vec!["GET".into(), "POST".into()],
            users: vec!["b".into(), "a".into()],
            ..LogFilter::default()
        };
        let b = LogFilter {
            codes: vec![(400, 499), (500, 500), (500, 500)],
            methods: vec!["POST".into(), "GET".into()],
            users: vec!["a".into(), "b".into()],
            ..LogFilter::default()
        };
        assert_eq!(filter_fingerprint(&a), filter_fingerprint(&b));
        let c = LogFilter {
            users: vec!["a".into()],
            ..b.clone()
        };
        assert_ne!(filter_fingerprint(&b), filter_fingerprint(&c));
        let d = LogFilter {
            since: Some(1),
            ..b
        };
        assert_ne!(filter_fingerprint(&a), filter_fingerprint(&d));
    }

    #[test]
    fn round_trips_and_refuses_other_shapes() {
        let token = encode(&[962_409_600, -3]);
        assert_eq!(decode::<2>(&token), Some([962_409_600, -3]));
        assert_eq!(decode::<1>(&token), None);
        assert_eq!(decode::<3>(&token), None);
        assert_eq!(decode::<1>("not base64!"), None);
        assert_eq!(decode::<1>(&URL_SAFE_NO_PAD.encode("x")), None);
    }
}
