//! The hashing both stored bloom filters use (the synopsis's networks, the trigrams): fixed,
//! since the filters are stored and must read the same in later releases.

/// SplitMix64's finaliser: a well-mixed hash of a 64-bit key.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The `count` bits (of `bits`) a key sets, by double hashing.
fn probes(key: u64, bits: u64, count: u64) -> impl Iterator<Item = u64> {
    let h = mix(key);
    let (h1, h2) = (h & 0xffff_ffff, (h >> 32) | 1);
    (0..count).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % bits)
}

/// Sets a key's `count` bits in `filter`.
pub fn insert(filter: &mut [u8], key: u64, count: u64) {
    let bits = filter.len() as u64 * 8;
    for bit in probes(key, bits, count) {
        filter[(bit / 8) as usize] |= 1 << (bit % 8);
    }
}

/// Whether all of a key's `count` bits are set in `filter` (a non-empty one).
pub fn contains(filter: &[u8], key: u64, count: u64) -> bool {
    let bits = filter.len() as u64 * 8;
    probes(key, bits, count).all(|bit| filter[(bit / 8) as usize] & (1 << (bit % 8)) != 0)
}
