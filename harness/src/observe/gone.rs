//! Waiting for several sockets to go, each on its own time, noting when each went: for a test
//! that times how long sockets live (TIME_WAIT sockets, orphans), and may act meanwhile.
//!
//! ```no_run
//! # async fn demo(net: &netcase::Topology) -> netcase::Result<()> {
//! use std::time::Duration;
//! use netcase::observe::{Filter, TcpState};
//! let client = net.host("client")?;
//! let time_waits = Filter::all().state(TcpState::TimeWait);
//! let table = client.sockets_matching(time_waits.clone()).await?;
//! let cookies: Vec<u64> = table.iter().map(|s| s.cookie).collect();
//! let (every, within) = (Duration::from_millis(20), Duration::from_secs(65));
//! let (gone, _) = client
//!     .wait_for_each_gone(time_waits, &cookies, every, within, || async { Ok(()) })
//!     .await?;
//! for s in table.iter() {
//!     println!("{}: gone {:?} after the table was read", s.local, gone[&s.cookie] - table.read_at());
//! }
//! # Ok(()) }
//! ```

use std::{
    collections::HashMap,
    fmt::Debug,
    future::Future,
    time::{Duration, Instant},
};

use crate::{
    Host,
    error::Result,
    observe::{Filter, SocketTable, wait_until_every},
};

impl Host {
    /// Polls every `every`, for at most `within`, until none of the sockets whose cookies are
    /// `cookies` is left among this host's sockets that pass `filter`: when each was seen gone
    /// (at the latest: the end of the first table read that missed it), by cookie. After each
    /// look it runs `meanwhile` (say, connect() attempts while the sockets go) and returns what
    /// each run gave, in order.
    pub async fn wait_for_each_gone<T, F, Fut>(
        &self,
        filter: Filter,
        cookies: &[u64],
        every: Duration,
        within: Duration,
        mut meanwhile: F,
    ) -> Result<(HashMap<u64, Instant>, Vec<T>)>
    where
        T: Debug + Clone,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let what = format!(
            "each of {} socket(s) gone from host {} ({filter:?})",
            cookies.len(),
            self.name()
        );
        let (mut gone, mut done) = (HashMap::new(), Vec::new());
        let look = || {
            let (table, then) = (self.sockets_matching(filter.clone()), meanwhile());
            async move { Ok((table.await?, then.await?)) }
        };
        let all_gone = |(table, then): &(SocketTable, T)| {
            let left = |c: &&u64| table.iter().any(|s| s.cookie == **c);
            for cookie in cookies.iter().filter(|c| !left(c)) {
                gone.entry(*cookie).or_insert(table.read_end());
            }
            done.push(then.clone());
            gone.len() == cookies.len()
        };
        wait_until_every(&what, within, every, look, all_gone).await?;
        Ok((gone, done))
    }
}
