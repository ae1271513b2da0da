//! Test addresses: chosen from ranges no real network uses, and checked when given by hand.
//!
//! IPv4 comes from 198.18.0.0/15 (benchmarking, RFC 2544) and IPv6 from 2001:db8::/32
//! (documentation, RFC 3849), so nothing a test sends can ever mean a real host.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::error::{Error, Result};

pub use super::family::{Family, V4_RANGE, V6_RANGE};

/// How many links can have automatic IPv4 addresses: one /24 each in 198.18.0.0/15.
pub const MAX_AUTO_LINKS: usize = 512;

/// The automatic addresses of the `n`th link (from 0): `198.18.n.1/24` and `.2` (continuing into
/// 198.19 past 255), `2001:db8:0:n::1/64` and `::2`. `None` past [`MAX_AUTO_LINKS`].
pub(crate) fn automatic(n: usize, family: Family) -> Option<[IpNet; 2]> {
    if n >= MAX_AUTO_LINKS {
        return None;
    }
    let n = n as u32;
    Some(match family {
        Family::V4 => {
            let base = u32::from(V4_RANGE.network()) + (n << 8);
            [1, 2].map(|host| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(base + host), 24).unwrap()))
        }
        Family::V6 => {
            let base = u128::from(V6_RANGE.network()) + (u128::from(n) << 64);
            [1, 2].map(|host| IpNet::V6(Ipv6Net::new(Ipv6Addr::from(base + host), 64).unwrap()))
        }
    })
}

/// Parses and checks the two addresses of a link given by hand, as `address/prefix`.
///
/// Both must parse, be of `family`, lie in its test range, differ, share one subnet of their
/// prefix, and be usable host addresses in it (not the IPv4 network or broadcast address).
pub(crate) fn parse_pair(link: &str, family: Family, given: [&str; 2]) -> Result<[IpNet; 2]> {
    let bad = |addr: &str, why: String| Error::BadAddress {
        addr: addr.to_owned(),
        link: link.to_owned(),
        why,
    };
    let mut nets = [IpNet::V4(V4_RANGE); 2];
    for (slot, text) in nets.iter_mut().zip(given) {
        let net: IpNet = text.parse().map_err(|_| {
            bad(
                text,
                format!(
                    "not an {family} address with a prefix, such as {}",
                    example(family)
                ),
            )
        })?;
        if Family::of(net.addr()) != family {
            return Err(bad(text, format!("given as {family}, but it is not")));
        }
        if !family.test_range().contains(&net.addr())
            || net.prefix_len() < family.test_range().prefix_len()
        {
            return Err(bad(
                text,
                format!(
                    "outside the test range {}: netcase never uses addresses a real network could own",
                    family.test_range()
                ),
            ));
        }
        let max_prefix = match family {
            Family::V4 => 31,
            Family::V6 => 127,
        };
        if net.prefix_len() > max_prefix {
            return Err(bad(
                text,
                format!(
                    "a /{} subnet cannot hold two hosts; use at most /{max_prefix}",
                    net.prefix_len()
                ),
            ));
        }
        if let IpNet::V4(v4) = net
            && v4.prefix_len() < 31
            && (v4.addr() == v4.network() || v4.addr() == v4.broadcast())
        {
            return Err(bad(
                text,
                format!(
                    "{} is the {} address of {}, not a host address",
                    v4.addr(),
                    if v4.addr() == v4.network() {
                        "network"
                    } else {
                        "broadcast"
                    },
                    v4.trunc()
                ),
            ));
        }
        *slot = net;
    }
    if nets[0].prefix_len() != nets[1].prefix_len() || nets[0].trunc() != nets[1].trunc() {
        return Err(bad(
            given[1],
            format!(
                "does not fit the prefix of the other end, {}: both ends of a link share one subnet",
                given[0]
            ),
        ));
    }
    if nets[0].addr() == nets[1].addr() {
        return Err(bad(given[1], "both ends have the same address".to_owned()));
    }
    Ok(nets)
}

fn example(family: Family) -> &'static str {
    match family {
        Family::V4 => "198.18.7.1/24",
        Family::V6 => "2001:db8:0:7::1/64",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automatic_addresses_are_in_range_and_distinct() {
        let first = automatic(0, Family::V4).unwrap();
        assert_eq!(
            first.map(|n| n.to_string()),
            ["198.18.0.1/24", "198.18.0.2/24"]
        );
        let last = automatic(MAX_AUTO_LINKS - 1, Family::V4).unwrap();
        assert_eq!(last[1].to_string(), "198.19.255.2/24");
        assert_eq!(
            automatic(3, Family::V6).unwrap()[0].to_string(),
            "2001:db8:0:3::1/64"
        );
        assert!(automatic(MAX_AUTO_LINKS, Family::V4).is_none());
        for n in [0, 255, 256, MAX_AUTO_LINKS - 1] {
            for family in Family::BOTH {
                for net in automatic(n, family).unwrap() {
                    assert!(family.test_range().contains(&net.addr()), "{net}");
                }
            }
        }
    }

    #[test]
    fn hand_given_addresses_are_checked() {
        let ok = parse_pair("a-b", Family::V4, ["198.18.9.1/30", "198.18.9.2/30"]).unwrap();
        assert_eq!(ok[1].to_string(), "198.18.9.2/30");
        parse_pair("a-b", Family::V6, ["2001:db8:1::a/64", "2001:db8:1::b/64"]).unwrap();
        let cases: [(Family, [&str; 2], &str); 9] = [
            (
                Family::V4,
                ["198.18.9.1", "198.18.9.2/24"],
                "not an IPv4 address with a prefix",
            ),
            (
                Family::V4,
                ["10.0.0.1/24", "10.0.0.2/24"],
                "outside the test range 198.18.0.0/15",
            ),
            (
                Family::V4,
                ["198.18.0.1/8", "198.18.0.2/8"],
                "outside the test range",
            ),
            (
                Family::V4,
                ["198.18.9.1/24", "198.18.10.2/24"],
                "does not fit the prefix",
            ),
            (
                Family::V4,
                ["198.18.9.1/24", "198.18.9.2/25"],
                "does not fit the prefix",
            ),
            (
                Family::V4,
                ["198.18.9.0/24", "198.18.9.2/24"],
                "network address",
            ),
            (
                Family::V4,
                ["198.18.9.1/32", "198.18.9.1/32"],
                "cannot hold two hosts",
            ),
            (
                Family::V6,
                ["2001:db8::1/64", "2001:db8::1/64"],
                "same address",
            ),
            (
                Family::V6,
                ["198.18.0.1/24", "198.18.0.2/24"],
                "given as IPv6",
            ),
        ];
        for (family, given, expected) in cases {
            let err = parse_pair("a-b", family, given).unwrap_err().to_string();
            assert!(
                err.contains(expected) && err.contains("link a-b"),
                "{given:?}: {err}"
            );
        }
    }
}
