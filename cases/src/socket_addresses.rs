//! Socket addresses across a connection: what bind, accept, getsockname and getpeername report.
//!
//! The notes this project started from say the kernel "returns back" socket addresses from accept,
//! getsockname and getpeername. On Linux: a listener bound to the wildcard address reports the
//! wildcard; the socket accept() returns reports the concrete local address the client reached;
//! an unbound client gets the address of its outgoing interface and a port from its own host's
//! `net.ipv4.ip_local_port_range` (which governs IPv6 too).

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use netcase::{
    Family, Result, Topology,
    case::{Case, CaseInfo, Shape},
    sysctl::{self, PortRange},
};
use tokio::net::{TcpListener, TcpStream};

use crate::{BOTH, Def};

/// Every case of this behaviour, in the order `netcase list` shows them.
pub static ALL: &[&Def] = &[&DIRECT, &ROUTED];

/// Across one link.
pub static DIRECT: Def = Def {
    info: CaseInfo {
        name: "socket_addresses::seen_by_both_ends",
        summary: "bind, accept, getsockname and getpeername report the addresses each end really uses",
        shape: Shape::Pair,
        families: BOTH,
        needs: &[],
        expected: Duration::from_millis(50),
    },
    body: |case, net| Box::pin(seen_by_both_ends(case, net)),
};

/// The same through a router.
pub static ROUTED: Def = Def {
    info: CaseInfo {
        name: "socket_addresses::seen_through_a_router",
        summary: "the same through a router: the addresses are the hosts', never the router's",
        shape: Shape::Routed,
        families: BOTH,
        needs: &[],
        expected: Duration::from_millis(50),
    },
    body: |case, net| Box::pin(seen_by_both_ends(case, net)),
};

async fn seen_by_both_ends(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let family = case.family();
    let ports = PortRange {
        low: 40000,
        high: 40009,
    };
    net.host("client")?
        .set(sysctl::IP_LOCAL_PORT_RANGE, ports)
        .await?;

    let wildcard = match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let listener = net
        .host("server")?
        .spawn(async move { TcpListener::bind(SocketAddr::new(wildcard, 6000)).await })
        .await?
        .expect("bind to the wildcard address");
    assert_eq!(
        listener.local_addr().expect("getsockname"),
        SocketAddr::new(wildcard, 6000)
    );

    let server_addr = net.socket_addr("server", family, 6000)?;
    let accepted = net.host("server")?.spawn(async move {
        let (stream, peer) = listener.accept().await.expect("accept");
        (
            stream.local_addr().expect("getsockname"),
            peer,
            stream.peer_addr().expect("getpeername"),
        )
    });
    let (client_local, client_peer) = net
        .host("client")?
        .spawn(async move {
            let stream = TcpStream::connect(server_addr).await.expect("connect");
            (
                stream.local_addr().expect("getsockname"),
                stream.peer_addr().expect("getpeername"),
            )
        })
        .await?;
    let (server_local, accept_peer, server_peer) = accepted.await?;

    assert_eq!(client_local.ip(), net.addr("client", family)?);
    assert!(
        (ports.low..=ports.high).contains(&client_local.port()),
        "ephemeral port {} outside the client's range {ports:?}",
        client_local.port()
    );
    assert_eq!(client_peer, server_addr);
    assert_eq!(
        server_local, server_addr,
        "accept() gives the concrete local address"
    );
    assert_eq!(accept_peer, client_local);
    assert_eq!(server_peer, client_local);
    Ok(())
}
