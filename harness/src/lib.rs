//! netcase proves what the Linux kernel's TCP stack really does.
//!
//! A test builds an isolated network of [`Host`]s — anonymous network namespaces joined by veth
//! links, optionally through a router — runs real sockets on it, and asserts what the kernel did.
//! Everything lives in namespaces the test process owns: dropping the [`Topology`], or the process
//! dying in any way, leaves nothing behind, and the root namespace is never touched.
//!
//! ```no_run
//! # async fn demo() -> netcase::Result<()> {
//! use netcase::{Family, Topology, sysctl};
//! let net = Topology::pair().await?;
//! let server = net.host("server")?;
//! server.set(sysctl::TCP_SYN_RETRIES, 2).await?;
//! let addr = net.socket_addr("server", Family::V6, 8080)?;
//! let listener = server
//!     .spawn(async move { tokio::net::TcpListener::bind(addr).await })
//!     .await?
//!     .expect("bind the server's address");
//! # Ok(()) }
//! ```

// `#[netcase::test]` expands to paths under `::netcase`, which the harness's own tests use too.
extern crate self as netcase;

pub mod bundle;
pub mod case;
pub mod claims;
#[cfg(feature = "cli")]
pub mod cli;
mod error;
pub mod expect;
pub mod fixtures;
pub mod impair;
pub mod kernel;
pub mod kernels;
pub mod network;
pub mod observe;
pub mod packets;
pub mod privileges;
pub mod report;
pub mod rules;
pub mod stop;
pub mod test_binary;

pub use bundle::TestInfo;
pub use error::{Error, Result};
pub use kernel::{Kernel, kernel};
pub use netcase_macros::test;
pub use network::{
    DEFAULT_MTU, Family, Host, Link, LinkEnd, LinkSpec, Process, Topology, TopologyBuilder, addr,
    fork, leaks, sysctl,
};
pub use packets::{capture, decode, pcap};
