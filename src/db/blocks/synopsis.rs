//! What a block's header says about its rows, so that a query can pass over a block without
//! reading it: the distinct status codes, methods, users and sources (exact sets: a block of a
//! thousand rows holds few of each), and for addresses, which a min/max range of date-sorted
//! rows would not narrow at all, the /8 networks of its IPv4 addresses as a bitmap and a bloom
//! filter of their /16 networks (and of IPv6 addresses' /32).
//!
//! The layout is ours, written here, because it is stored and must read the same in every
//! later release (a filter crate's serialized form is not such a promise). Lists are a count
//! and the values' deltas as LEB128 varints; the filter is its length in bytes and its bits.

use super::bloom;
use super::format::BlockKeys;
use crate::db::read::filter::Filter;

const VERSION: u8 = 1;
/// Filter bits per distinct prefix, and probes: about 1% false positives.
const BITS_PER_KEY: usize = 10;
const PROBES: u64 = 6;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Synopsis {
    codes: Vec<u64>,
    methods: Vec<u64>,
    users: Vec<u64>,
    sources: Vec<u64>,
    /// Bit `n` set: some IPv4 address of the block is in `n.0.0.0/8`.
    v4_first_octets: [u8; 32],
    /// Bloom filter of prefix keys (see [`prefix_key`]); empty when no row has an address.
    prefixes: Vec<u8>,
}

/// The key of an address key's network in the filter: IPv4 /16, IPv6 /32, with the family.
fn prefix_key(ip: &[u8]) -> Option<u64> {
    match ip {
        [4, a, b, ..] => Some(u64::from_be_bytes([0, 0, 0, 4, 0, 0, *a, *b])),
        [6, a, b, c, d, ..] => Some(u64::from_be_bytes([0, 0, 0, 6, *a, *b, *c, *d])),
        _ => None,
    }
}

fn distinct(values: impl Iterator<Item = u64>) -> Vec<u64> {
    let mut values: Vec<u64> = values.collect();
    values.sort_unstable();
    values.dedup();
    values
}

impl Synopsis {
    pub fn of(keys: &BlockKeys) -> Synopsis {
        let mut v4_first_octets = [0u8; 32];
        for ip in keys.ips() {
            if let [4, a, ..] = ip {
                v4_first_octets[*a as usize / 8] |= 1 << (a % 8);
            }
        }
        let prefixes = distinct(keys.ips().filter_map(prefix_key));
        let mut filter = vec![0u8; (prefixes.len() * BITS_PER_KEY).div_ceil(8)];
        for &key in &prefixes {
            bloom::insert(&mut filter, key, PROBES);
        }
        Synopsis {
            codes: distinct(keys.code.iter().map(|&c| c as u64)),
            methods: distinct(keys.method_id.iter().map(|&m| m as u64)),
            users: distinct(keys.user_id.iter().map(|&u| u as u64)),
            sources: distinct(keys.source_id.iter().map(|&s| s as u64)),
            v4_first_octets,
            prefixes: filter,
        }
    }

    /// False when no row of the block can match the filter's keys; true when some may.
    pub fn may_match(&self, filter: &Filter) -> bool {
        let any_of = |set: &[u64], ids: &[i64]| {
            ids.is_empty()
                || ids
                    .iter()
                    .any(|&id| set.binary_search(&(id as u64)).is_ok())
        };
        let codes = filter.codes.is_empty()
            || filter.codes.iter().any(|&(low, high)| {
                self.codes
                    .iter()
                    .any(|&c| (low as u64..=high as u64).contains(&c))
            });
        codes
            && any_of(&self.methods, &filter.method_ids)
            && any_of(&self.users, &filter.user_ids)
            && any_of(&self.sources, &filter.source_ids)
            && (filter.ip_ranges.is_empty()
                || filter
                    .ip_ranges
                    .iter()
                    .any(|(low, high)| self.may_hold_network(low, high)))
    }

    /// Whether an address key within `[low, high]` (a network's range) may be in the block.
    fn may_hold_network(&self, low: &[u8], high: &[u8]) -> bool {
        if self.prefixes.is_empty() {
            return false;
        }
        if let ([4, a, ..], [4, b, ..]) = (low, high) {
            if a == b && self.v4_first_octets[*a as usize / 8] & (1 << (a % 8)) == 0 {
                return false;
            }
        }
        // Within one /16 (or IPv6 /32), the filter can rule it out.
        let same_prefix = match (low, high) {
            ([4, ..], [4, ..]) => low[..3] == high[..3],
            ([6, ..], [6, ..]) => low[..5] == high[..5],
            _ => false,
        };
        if !same_prefix {
            return true;
        }
        let Some(key) = prefix_key(low) else {
            return true;
        };
        bloom::contains(&self.prefixes, key, PROBES)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![VERSION];
        for list in [&self.codes, &self.methods, &self.users, &self.sources] {
            put_varint(&mut out, list.len() as u64);
            let mut last = 0;
            for &v in list.iter() {
                put_varint(&mut out, v - last);
                last = v;
            }
        }
        out.extend_from_slice(&self.v4_first_octets);
        put_varint(&mut out, self.prefixes.len() as u64);
        out.extend_from_slice(&self.prefixes);
        out
    }

    /// `None` for bytes this release did not write; callers then read the block.
    pub fn from_bytes(bytes: &[u8]) -> Option<Synopsis> {
        let (&version, mut rest) = bytes.split_first()?;
        if version != VERSION {
            return None;
        }
        let mut lists: [Vec<u64>; 4] = Default::default();
        for list in &mut lists {
            let n = take_varint(&mut rest)?;
            let mut last = 0u64;
            for _ in 0..n {
                last = last.checked_add(take_varint(&mut rest)?)?;
                list.push(last);
            }
        }
        let v4_first_octets = rest.get(..32)?.try_into().ok()?;
        rest = &rest[32..];
        let n = take_varint(&mut rest)? as usize;
        let prefixes = rest.get(..n)?.to_vec();
        let [codes, methods, users, sources] = lists;
        Some(Synopsis {
            codes,
            methods,
            users,
            sources,
            v4_first_octets,
            prefixes,
        })
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn take_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::ip_key::{ip_key, network_range};

    fn keys(ips: &[&str]) -> BlockKeys {
        let n = ips.len();
        let ips: Vec<Vec<u8>> = ips.iter().map(|ip| ip_key(ip.parse().unwrap())).collect();
        BlockKeys {
            date: vec![0; n],
            id: (0..n as i64).collect(),
            code: vec![200; n],
            method_id: vec![1; n],
            user_id: vec![0; n],
            source_id: vec![3; n],
            size: vec![0; n],
            ..Default::default()
        }
        .with_ips(ips.iter().map(Vec::as_slice))
    }

    fn network(net: &str) -> Filter {
        Filter {
            ip_ranges: vec![network_range(&net.parse().unwrap())],
            ..Filter::default()
        }
    }

    #[test]
    fn networks_the_block_cannot_hold_are_ruled_out() {
        let s = Synopsis::of(&keys(&["10.1.2.3", "192.168.7.1", "2001:db8::1"]));
        let s = Synopsis::from_bytes(&s.to_bytes()).unwrap();
        for held in [
            "10.0.0.0/8",
            "10.1.0.0/16",
            "10.1.2.0/24",
            "192.168.7.1/32",
            "2001:db8::/32",
            "0.0.0.0/0",
            "::/0",
        ] {
            assert!(s.may_match(&network(held)), "{held}");
        }
        for absent in ["11.0.0.0/8", "172.16.0.0/12", "192.0.2.0/24"] {
            assert!(!s.may_match(&network(absent)), "{absent}");
        }
        // Without addresses no network matches.
        let none = Synopsis::of(&keys(&["10.0.0.1"]).with_ips([&[][..]].into_iter()));
        assert!(!none.may_match(&network("0.0.0.0/0")));
    }

    #[test]
    fn key_sets_rule_out_blocks() {
        let s = Synopsis::of(&keys(&["10.0.0.1"]));
        let f = |f: Filter| s.may_match(&f);
        assert!(f(Filter::default()));
        assert!(f(Filter {
            codes: vec![(200, 299)],
            source_ids: vec![2, 3],
            ..Filter::default()
        }));
        assert!(!f(Filter {
            codes: vec![(500, 599)],
            ..Filter::default()
        }));
        assert!(!f(Filter {
            user_ids: vec![7],
            ..Filter::default()
        }));
        assert!(Synopsis::from_bytes(&[9]).is_none());
    }
}
