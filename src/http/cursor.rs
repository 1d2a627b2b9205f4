//! Opaque keyset cursors: a few integers, base64-encoded so that clients treat them as tokens
//! and the paging scheme can change without breaking them. The wire format of a position that
//! storage gives as a key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::db::log_query::Key;

/// The cursor of a `/logs` page that ends at `key`.
pub fn encode_key(key: Key) -> String {
    encode(&[key.date, key.id])
}

pub fn decode_key(text: &str) -> Option<Key> {
    let [date, id] = decode(text)?;
    Some(Key { date, id })
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
    fn round_trips_and_refuses_other_shapes() {
        let token = encode(&[962_409_600, -3]);
        assert_eq!(decode::<2>(&token), Some([962_409_600, -3]));
        assert_eq!(decode::<1>(&token), None);
        assert_eq!(decode::<3>(&token), None);
        assert_eq!(decode::<1>("not base64!"), None);
        assert_eq!(decode::<1>(&URL_SAFE_NO_PAD.encode("x")), None);
    }
}
