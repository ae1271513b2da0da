//! The few netlink requests a topology is built from. Private: tests touch nouns, not netlink.

use std::{
    net::IpAddr,
    os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd},
    time::Duration,
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

/// Adds a route to `destination` through `gateway`, or replaces the one there is.
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
        .replace()
        .execute()
        .await
        .map_err(|source| Error::Netlink {
            op: format!("add route {destination} via {gateway}"),
            host: host.to_owned(),
            source,
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
    ethtool_value(name, ETHTOOL_STXCSUM, 0)
        .map(drop)
        .map_err(|e| {
            Error::io(
                format!("turning tx checksum offload off on {name} (host {host})"),
                e,
            )
        })
}

/// Whether `name` has carrier, in the calling thread's namespace, after the kernel has run the
/// link's pending link-watch work (`ethtool_op_get_link` calls `linkwatch_sync_dev`).
///
/// The kernel handles at most 100 link-watch events in one go and puts the rest off by up to a
/// second: a topology with many links would otherwise wait for that.
pub(crate) fn sync_carrier(host: &str, name: &str) -> Result<bool> {
    const ETHTOOL_GLINK: u32 = 0x0a;
    ethtool_value(name, ETHTOOL_GLINK, 0)
        .map(|link| link != 0)
        .map_err(|e| Error::io(format!("reading the carrier of {name} (host {host})"), e))
}

/// One SIOCETHTOOL call with a `struct ethtool_value`; returns the value the kernel wrote back.
fn ethtool_value(name: &str, cmd: u32, data: u32) -> std::io::Result<u32> {
    #[repr(C)]
    struct EthtoolValue {
        cmd: u32,
        data: u32,
    }
    let mut value = EthtoolValue { cmd, data };
    // SAFETY: an all-zero ifreq is a valid value of this plain C struct.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in ifr.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    ifr.ifr_ifru.ifru_data = (&mut value as *mut EthtoolValue).cast();
    // SAFETY: a plain socket() call; the fd is owned right after.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by socket() and is owned by nothing else.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: SIOCETHTOOL reads an ifreq whose ifru_data points at an ethtool_value that lives
    // until the call returns.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCETHTOOL, &mut ifr) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(value.data)
}
