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

pub mod addr;
mod bpf;
pub mod capture;
pub mod case;
pub mod decode;
mod error;
pub mod expect;
pub mod fixtures;
pub mod fork;
mod host;
pub mod impair;
pub mod kernel;
pub mod leaks;
mod netlink;
pub mod observe;
pub mod pcap;
pub mod privileges;
mod ready;
pub mod report;
mod ring;
pub mod rules;
pub mod sysctl;
mod topology;

pub use addr::Family;
pub use error::{Error, Result};
pub use host::{Host, Process};
pub use kernel::{Kernel, kernel};
pub use topology::{DEFAULT_MTU, Link, LinkEnd, LinkSpec, Topology, TopologyBuilder};
