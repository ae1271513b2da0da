//! The few netlink requests a topology is built from. Private: tests touch nouns, not netlink.

use std::{
    net::{IpAddr, Ipv6Addr},
    os::fd::RawFd,
    time::{Duration, Instant},
};

use futures::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_route::{
    address::{AddressAttribute, AddressFlags, AddressHeaderFlags},
    link::{InfoData, InfoKind, InfoVeth, LinkAttribute, LinkMessage, State},
};
use rtnetlink::{LinkMessageBuilder, LinkUnspec, RouteMessageBuilder};

use crate::error::{Error, Result};

/// The loopback interface's index in every network namespace.
pub(crate) const LOOPBACK_INDEX: u32 = 1;

/// One end of a veth pair, as it is created.
pub(crate) struct VethEnd<'a> {
    /// The interface name inside its host.
    pub name: &'a str,
    /// The interface index inside its host, chosen by the harness.
    pub index: u32,
    /// The MTU, in octets.
    pub mtu: u32,
    /// Keep the kernel's segmentation offloads (GSO/TSO) on.
    pub offloads: bool,
}

impl VethEnd<'_> {
    /// The link message for this end, created down.
    fn message(&self) -> LinkMessageBuilder<LinkUnspec> {
        let mut msg = LinkUnspec::new_with_index(self.index)
            .name(self.name)
            .mtu(self.mtu);
        if !self.offloads {
            // One segment per skb: what the capture sees is what a wire would carry.
            msg = msg.append_extra_attribute(LinkAttribute::GsoMaxSegs(1));
        }
        msg
    }
}

/// Creates a veth pair from the namespace of `handle` (`host`): `local` there and up, `peer` in
/// the namespace `peer_netns` and down. Neither end ever exists in another namespace.
///
/// The peer cannot be created up: the kernel opens it before the two ends know each other, and
/// `veth_open` refuses that with ENOTCONN. Its host brings it up.
pub(crate) async fn create_veth(
    handle: &rtnetlink::Handle,
    host: &str,
    local: VethEnd<'_>,
    peer: VethEnd<'_>,
    peer_host: &str,
    peer_netns: RawFd,
) -> Result<()> {
    let peer_msg = peer
        .message()
        .append_extra_attribute(LinkAttribute::NetNsFd(peer_netns))
        .build();
    let mut msg: LinkMessage = local.message().up().build();
    msg.attributes.push(LinkAttribute::LinkInfo(vec![
        netlink_packet_route::link::LinkInfo::Kind(InfoKind::Veth),
        netlink_packet_route::link::LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
    ]));
    handle
        .link()
        .add(msg)
        .execute()
        .await
        .map_err(|source| Error::Netlink {
            op: format!(
                "create veth {} (peer {} on host {peer_host})",
                local.name, peer.name
            ),
            host: host.to_owned(),
            source,
        })
}

/// Brings the interface `index` up.
pub(crate) async fn set_up(handle: &rtnetlink::Handle, host: &str, index: u32) -> Result<()> {
    handle
        .link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(|source| Error::Netlink {
            op: format!("set link {index} up"),
            host: host.to_owned(),
            source,
        })
}

/// Adds `addr` to interface `index`; IPv6 addresses skip duplicate-address detection.
pub(crate) async fn add_address(
    handle: &rtnetlink::Handle,
    host: &str,
    index: u32,
    addr: IpNet,
) -> Result<()> {
    let mut req = handle.address().add(index, addr.addr(), addr.prefix_len());
    if addr.addr().is_ipv6() {
        let msg = req.message_mut();
        msg.header.flags |= AddressHeaderFlags::Nodad;
        msg.attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    req.execute().await.map_err(|source| Error::Netlink {
        op: format!("add address {addr} to link {index}"),
        host: host.to_owned(),
        source,
    })
}

/// Adds a route to `destination` through `gateway`.
pub(crate) async fn add_route(
    handle: &rtnetlink::Handle,
    host: &str,
    destination: IpNet,
    gateway: IpAddr,
) -> Result<()> {
    let message = RouteMessageBuilder::<IpAddr>::new()
        .destination_prefix(destination.network(), destination.prefix_len())
        .and_then(|b| b.gateway(gateway))
        .map_err(|e| Error::BadAddress {
            addr: destination.to_string(),
            link: format!("route via {gateway} on host {host}"),
            why: e.to_string(),
        })?
        .build();
    handle
        .route()
        .add(message)
        .execute()
        .await
        .map_err(|source| Error::Netlink {
            op: format!("add route {destination} via {gateway}"),
            host: host.to_owned(),
            source,
        })
}

/// Waits until interface `index` reports operstate UP.
///
/// A single-link RTM_GETLINK makes the kernel run the link's pending link-watch work first
/// (`linkwatch_sync_dev` in `rtnl_getlink`), which is also what attaches its qdisc: once it answers
/// UP, a packet sent on the link is not dropped by the set-up.
pub(crate) async fn wait_oper_up(
    handle: &rtnetlink::Handle,
    host: &str,
    index: u32,
    name: &str,
    deadline: Duration,
) -> Result<()> {
    let start = Instant::now();
    let mut pause = Duration::from_micros(50);
    loop {
        let state = oper_state(handle, host, index).await?;
        if state == State::Up {
            return Ok(());
        }
        if start.elapsed() >= deadline {
            return Err(Error::Timeout {
                what: format!("link {name} on host {host} to report operstate UP"),
                waited: start.elapsed(),
                last: format!("operstate {state:?}"),
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(5));
    }
}

/// Waits until IPv6 on the interfaces `ipv6_links` of the host can be used: each has its
/// link-local address, no address is tentative, and the host listens on the solicited-node
/// multicast group of every address, so that neighbour solicitations for it are answered.
///
/// The kernel adds the link-local address when it handles the carrier change, after it has
/// attached the link's qdisc: seeing it proves the link can transmit (the operstate alone is set
/// a moment earlier). It joins an address's solicited-node group from a work item that runs
/// after the address is added, even without duplicate-address detection; a solicitation that
/// arrives before is dropped, and the sender retries only after `retrans_time_ms` (1 s).
pub(crate) async fn wait_ipv6_usable(
    handle: &rtnetlink::Handle,
    host: &str,
    ipv6_links: &[u32],
    deadline: Duration,
) -> Result<()> {
    let start = Instant::now();
    let mut pause = Duration::from_micros(50);
    loop {
        let addresses: Vec<(u32, Ipv6Addr, bool)> = handle
            .address()
            .get()
            .execute()
            .try_filter_map(|msg| async move {
                let tentative = msg.header.flags.contains(AddressHeaderFlags::Tentative)
                    || msg.attributes.iter().any(|a| {
                        matches!(a, AddressAttribute::Flags(f) if f.contains(AddressFlags::Tentative))
                    });
                Ok(msg.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Address(IpAddr::V6(ip)) => {
                        Some((msg.header.index, *ip, tentative))
                    }
                    _ => None,
                }))
            })
            .try_collect()
            .await
            .map_err(|source| Error::Netlink {
                op: "list addresses".to_owned(),
                host: host.to_owned(),
                source,
            })?;
        let groups = std::fs::read_to_string("/proc/thread-self/net/igmp6")
            .map_err(|e| Error::io(format!("reading the multicast groups of host {host}"), e))?;
        let mut problems = Vec::new();
        for &index in ipv6_links {
            let mine = addresses.iter().filter(|(i, _, _)| *i == index);
            if !mine.clone().any(|(_, ip, _)| ip.is_unicast_link_local()) {
                problems.push(format!("link {index} has no link-local address"));
            }
            for (_, ip, tentative) in mine {
                if *tentative {
                    problems.push(format!("{ip} is tentative"));
                } else if !in_igmp6(&groups, index, solicited_node(*ip)) {
                    problems.push(format!("{ip}: not yet in its solicited-node group"));
                }
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        if start.elapsed() >= deadline {
            return Err(Error::Timeout {
                what: format!("IPv6 on host {host} to become usable"),
                waited: start.elapsed(),
                last: problems.join(", "),
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(5));
    }
}

/// The solicited-node multicast address of `addr` (RFC 4291 2.7.1): ff02::1:ffXX:XXXX.
fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::from(
        (0xff02_u128 << 112)
            | (0x1_ff00_0000_u128)
            | u128::from(u32::from_be_bytes([0, o[13], o[14], o[15]])),
    )
}

/// Whether /proc/net/igmp6 (`index name group-in-hex users flags timer` a line) lists `group` on
/// interface `index`.
fn in_igmp6(table: &str, index: u32, group: Ipv6Addr) -> bool {
    let hex: String = group.octets().iter().map(|b| format!("{b:02x}")).collect();
    table.lines().any(|line| {
        let mut fields = line.split_whitespace();
        fields.next().and_then(|i| i.parse::<u32>().ok()) == Some(index)
            && fields.nth(1) == Some(hex.as_str())
    })
}

/// The operational state of interface `index`.
pub(crate) async fn oper_state(
    handle: &rtnetlink::Handle,
    host: &str,
    index: u32,
) -> Result<State> {
    let link = link_message(handle, host, index).await?;
    Ok(link
        .attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::OperState(s) => Some(*s),
            _ => None,
        })
        .unwrap_or(State::Unknown))
}

/// The kernel's description of interface `index`.
pub(crate) async fn link_message(
    handle: &rtnetlink::Handle,
    host: &str,
    index: u32,
) -> Result<LinkMessage> {
    let netlink_error = |source| Error::Netlink {
        op: format!("get link {index}"),
        host: host.to_owned(),
        source,
    };
    let mut links = handle.link().get().match_index(index).execute();
    links
        .try_next()
        .await
        .map_err(netlink_error)?
        .ok_or_else(|| Error::Timeout {
            what: format!("link {index} on host {host}"),
            waited: Duration::ZERO,
            last: "the kernel returned no link".to_owned(),
        })
}

/// Turns transmit checksum offload off on `name`, in the calling thread's namespace, so that
/// captured frames carry their real checksums instead of a partial one.
pub(crate) fn disable_tx_checksum(host: &str, name: &str) -> Result<()> {
    const ETHTOOL_STXCSUM: u32 = 0x17;
    #[repr(C)]
    struct EthtoolValue {
        cmd: u32,
        data: u32,
    }
    let mut value = EthtoolValue {
        cmd: ETHTOOL_STXCSUM,
        data: 0,
    };
    // SAFETY: an all-zero ifreq is a valid value of this plain C struct.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in ifr.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    ifr.ifr_ifru.ifru_data = (&mut value as *mut EthtoolValue).cast();
    let what = || format!("turning tx checksum offload off on {name} (host {host})");
    // SAFETY: a plain socket() call; the fd is owned right after.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(Error::io(what(), std::io::Error::last_os_error()));
    }
    // SAFETY: fd was just returned by socket() and is owned by nothing else.
    let socket = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    // SAFETY: SIOCETHTOOL reads an ifreq whose ifru_data points at an ethtool_value that lives
    // until the call returns.
    let rc = unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&socket),
            libc::SIOCETHTOOL,
            &mut ifr,
        )
    };
    if rc < 0 {
        return Err(Error::io(what(), std::io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solicited_node_groups() {
        let addr: Ipv6Addr = "2001:db8:0:1::2".parse().unwrap();
        assert_eq!(solicited_node(addr).to_string(), "ff02::1:ff00:2");
        let ll: Ipv6Addr = "fe80::34c4:e0ff:fe08:5db".parse().unwrap();
        assert_eq!(solicited_node(ll).to_string(), "ff02::1:ff08:5db");
        let table = "1    lo              ff020000000000000000000000000001     1 0000000C 0\n\
                     2    eth0            ff0200000000000000000001ff000002     1 00000004 0\n";
        assert!(in_igmp6(table, 2, solicited_node(addr)));
        assert!(!in_igmp6(table, 1, solicited_node(addr)));
        assert!(!in_igmp6(table, 2, solicited_node(ll)));
    }
}
