//! IP families, and the address ranges a test network takes its addresses from: no real network
//! uses them, so nothing a test sends can ever mean a real host.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// An IP family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// Both families, IPv4 first.
    pub const BOTH: [Family; 2] = [Family::V4, Family::V6];

    /// The family of `addr`.
    pub fn of(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// The range every test address of this family comes from.
    pub fn test_range(self) -> IpNet {
        match self {
            Family::V4 => IpNet::V4(V4_RANGE),
            Family::V6 => IpNet::V6(V6_RANGE),
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

/// Every IPv4 test address lies in 198.18.0.0/15.
pub const V4_RANGE: Ipv4Net = match Ipv4Net::new(Ipv4Addr::new(198, 18, 0, 0), 15) {
    Ok(net) => net,
    Err(_) => unreachable!(),
};
/// Every IPv6 test address lies in 2001:db8::/32.
pub const V6_RANGE: Ipv6Net = match Ipv6Net::new(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32)
{
    Ok(net) => net,
    Err(_) => unreachable!(),
};
