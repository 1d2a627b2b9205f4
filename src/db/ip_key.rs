//! Client addresses as `log_keys.ip` stores them: a family byte (4 or 6) and then the address's
//! bytes. Blobs compare byte by byte, so every network is one range of keys, and no IPv4 range
//! can take in an IPv6 address (or the other way round).

use std::net::IpAddr;

use ipnet::IpNet;

const V4: u8 = 4;
const V6: u8 = 6;

pub fn ip_key(ip: IpAddr) -> Vec<u8> {
    IpKey::of(ip).as_bytes().to_vec()
}

/// An address's key held on the stack, for checks run on every line (a live tail's) that
/// should not allocate.
pub struct IpKey {
    bytes: [u8; 17],
    len: usize,
}

impl IpKey {
    pub fn of(ip: IpAddr) -> IpKey {
        let mut bytes = [0; 17];
        let len = match ip {
            IpAddr::V4(v4) => {
                bytes[0] = V4;
                bytes[1..5].copy_from_slice(&v4.octets());
                5
            }
            IpAddr::V6(v6) => {
                bytes[0] = V6;
                bytes[1..].copy_from_slice(&v6.octets());
                17
            }
        };
        IpKey { bytes, len }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The inclusive range of keys a network holds.
pub fn network_range(net: &IpNet) -> (Vec<u8>, Vec<u8>) {
    (ip_key(net.network()), ip_key(net.broadcast()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn within(net: &str, ip: &str) -> bool {
        let (low, high) = network_range(&net.parse().unwrap());
        let key = ip_key(ip.parse().unwrap());
        low <= key && key <= high
    }

    #[test]
    fn a_network_is_exactly_the_range_of_its_addresses() {
        assert!(within("10.0.0.0/8", "10.0.0.0"));
        assert!(within("10.0.0.0/8", "10.255.255.255"));
        assert!(!within("10.0.0.0/8", "11.0.0.0"));
        assert!(!within("10.0.0.0/8", "9.255.255.255"));
        assert!(within("2001:db8::/32", "2001:db8:ffff::1"));
        assert!(!within("2001:db8::/32", "2001:db9::"));
        assert!(within("0.0.0.0/0", "255.255.255.255"));
    }

    #[test]
    fn families_never_mix() {
        assert!(!within("0.0.0.0/0", "::"));
        assert!(!within("::/0", "0.0.0.0"));
        assert!(!within("10.0.0.0/8", "::ffff:10.0.0.1"));
        // An IPv6 address whose first bytes read like an IPv4 network's.
        assert!(!within("10.0.0.0/8", "a00::1"));
    }
}
