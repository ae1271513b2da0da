//! What several behaviours' cases share: where the expectation files are, and the few timing
//! figures and conversions the timer cases state their tolerances with.

use std::{path::PathBuf, time::Duration};

use netcase::{
    Host, Result,
    decode::Segment,
    expect::{Expectation, Vars},
    sysctl,
};

/// The path of `fixtures/expect/<name>`.
pub(crate) fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/expect")
        .join(name)
}

/// The expectation file `fixtures/expect/<name>`, `${name}` resolved from `vars` (a host's
/// settings, a map, or `&()` for none).
pub(crate) fn expectation(name: &str, vars: &(impl Vars + ?Sized)) -> Result<Expectation> {
    Ok(Expectation::load(fixture(name), vars)?)
}

pub(crate) use netcase::kernel::SCHEDULING;

/// How long a thread blocked in a socket call (connect(), read()) may take to return once the
/// kernel has failed the connection, on a two-core machine running the whole suite (dozens of
/// capture threads and 1-ms pollers): the kernel's own times come from the capture, but the
/// failure's time is when the call returned to userspace. On the wire the gaps stayed within a
/// millisecond of the wheel-rounded timeout in every run; the return of connect() once came more
/// than the timer allowance late under the full suite run with 64 test threads.
pub(crate) const WAKEUP: Duration = Duration::from_millis(100);

/// A captured segment's time after the timeline's zero (0 if before it).
pub(crate) fn at(s: &Segment) -> Duration {
    Duration::from_nanos(u64::try_from(s.at_ns).unwrap_or(0))
}

/// A duration in milliseconds, for figures.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Makes `host`'s TIME_WAIT sockets ignore resets (`tcp_rfc1337 = 1`), for the cases that count
/// or time TIME_WAIT sockets.
///
/// Without it a veth pair kills a few of them on its own: the peer acknowledges the FIN it got
/// with a pure ACK from its delayed-ACK timer, then sends its own FIN from close() on the other
/// CPU, and veth delivers each on the sending CPU's backlog, so the FIN can overtake the ACK. The
/// late ACK reaches a socket already in TIME_WAIT, which answers it with a duplicate ACK; the
/// peer, closed by then, answers that with a reset whose sequence number is exactly what TIME_WAIT
/// expects, and with `tcp_rfc1337 = 0` (the default) the reset kills it: RFC 1337's "TIME_WAIT
/// assassination". Measured with a standalone loop of 16 connections per round: 3.7% of rounds
/// lost a TIME_WAIT socket on an idle 2-core machine (IPv4; 0.4% IPv6), 20-35% with both cores
/// busy; none with `tcp_rfc1337 = 1`. No counter records the kill: only the peer's `OutRsts`.
/// `time_wait::assassinated` shows the kill on purpose.
pub(crate) async fn keep_time_wait(host: &Host) -> Result<()> {
    host.set(sysctl::TCP_RFC1337, true).await
}

/// The socket plumbing `time_wait` still uses: an established connection of std sockets. Its
/// rewrite in the harness's verbs ([`netcase::Topology::connect`], [`netcase::network::Sock::close`])
/// makes all of this go.
pub(crate) mod std_sockets {
    use std::{
        io,
        net::{TcpListener, TcpStream},
        os::fd::IntoRawFd,
        time::{Duration, Instant},
    };

    use netcase::{Family, Result, Topology};
    use socket2::SockRef;

    /// An established connection: both ends and the listener (blocking std sockets, created
    /// inside their hosts).
    pub(crate) struct Connection {
        /// The client's end.
        pub client: TcpStream,
        /// The server's end, as accept() returned it.
        pub server: TcpStream,
        /// The server's listener.
        pub listener: TcpListener,
    }

    /// Connects the client to a new listener on the server's `port`.
    pub(crate) async fn connect(net: &Topology, family: Family, port: u16) -> Result<Connection> {
        let server_addr = net.socket_addr("server", family, port)?;
        let listener = net
            .host("server")?
            .run(move || TcpListener::bind(server_addr))
            .await?
            .expect("bind the server's address");
        let client = net
            .host("client")?
            .run(move || TcpStream::connect(server_addr))
            .await?
            .expect("connect");
        let (server, listener) = net
            .host("server")?
            .run(move || (listener.accept().map(|(s, _)| s), listener))
            .await?;
        Ok(Connection {
            client,
            server: server.expect("accept"),
            listener,
        })
    }

    /// Closes `stream` with SO_LINGER {1, 0}, the abortive close: what close() returned, and how
    /// long it took.
    pub(crate) fn close_abortively(stream: TcpStream) -> (io::Result<()>, Duration) {
        SockRef::from(&stream)
            .set_linger(Some(Duration::ZERO))
            .expect("SO_LINGER {1, 0}");
        close(stream)
    }

    /// close(2) on `stream`, with its return value (which dropping a `TcpStream` hides) and how
    /// long it blocked.
    pub(crate) fn close(stream: TcpStream) -> (io::Result<()>, Duration) {
        let fd = stream.into_raw_fd();
        // No fork may overlap the close: a child between fork and exec would keep the socket
        // open, and close() would send nothing.
        let (rc, took) = netcase::fork::close_now(|| {
            let start = Instant::now();
            // SAFETY: `into_raw_fd` gave up ownership of fd; it is closed once, here.
            let rc = unsafe { libc::close(fd) };
            (rc, start.elapsed())
        });
        let result = if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        };
        (result, took)
    }
}
