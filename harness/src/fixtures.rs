//! rstest fixtures for the two common shapes. Await them after `require_privileges!()`:
//!
//! ```no_run
//! use netcase::{fixtures::pair, require_privileges, Family, Result, Topology};
//! use rstest::rstest;
//!
//! #[rstest]
//! #[tokio::test]
//! async fn server_has_an_address(#[future] pair: Result<Topology>) -> Result<()> {
//!     require_privileges!();
//!     let net = pair.await?;
//!     assert!(net.addr("server", Family::V4)?.is_ipv4());
//!     Ok(())
//! }
//! ```

use rstest::fixture;

use crate::{Result, Topology};

/// `client` and `server` on one link: [`Topology::pair`].
#[fixture]
pub async fn pair() -> Result<Topology> {
    Topology::pair().await
}

/// `client` - `router` - `server`: [`Topology::routed`].
#[fixture]
pub async fn routed() -> Result<Topology> {
    Topology::routed().await
}
