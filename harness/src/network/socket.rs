//! TCP sockets as a test uses them: listen, connect, accept, read, write, shut down and close,
//! each one call that gives back what the kernel returned.
//!
//! A socket belongs to the namespace of the thread that created it, for ever: [`Host::listen`],
//! [`Host::connect`] and [`Host::start_connect`] create theirs on a thread inside the host. After
//! that a socket's calls do not depend on the caller's namespace, so [`Sock`]'s blocking calls
//! run on a thread of their own, wherever the test awaits them.
//!
//! Every call returns two layers: the outer [`Result`] fails when the harness could not make the
//! call (a thread could not start); the inner [`Call`] is what the system call returned, the
//! value or its errno, for the test to assert on:
//!
//! ```no_run
//! # async fn demo(net: &netcase::Topology) -> netcase::Result<()> {
//! use netcase::{Family, network::socket::Close};
//! use nix::errno::Errno;
//! let conn = net.connect("client", "server", Family::V4, 7000).await?;
//! conn.client.close(Close::Abort).await?;                    // SO_LINGER {1, 0}, then close()
//! assert_eq!(conn.server.read(16).await?, Err(Errno::ECONNRESET));
//! assert_eq!(conn.server.read(16).await?, Ok(vec![]));        // then end of file
//! assert_eq!(conn.server.write(b"late").await?, Err(Errno::EPIPE));
//! # Ok(()) }
//! ```
//!
//! Closes run inside [`crate::fork::close_now`]: no child process between fork and exec holds
//! the socket open, so a close() acts at once (sends its FIN or reset, or lingers).

use std::{
    fmt, io,
    net::{Shutdown, SocketAddr},
    os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd},
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use nix::errno::Errno;
use socket2::{Domain, Protocol, Socket, TcpKeepalive, Type};
use tokio::sync::oneshot;

use crate::{
    error::{Error, Result},
    network::{Family, Host, Topology},
    observe::{TcpInfo, TcpState, tcp_info},
};

mod bound;
mod burst;
mod close;
mod stalled;
mod timed;
pub use stalled::Stalled;
pub use timed::Timed;

/// What a system call returned: its value, or the errno it failed with.
pub type Call<T> = std::result::Result<T, Errno>;

/// The errno of an I/O error (EIO for one without: never from a system call).
pub fn errno(e: &io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

pub(crate) fn call<T>(r: io::Result<T>) -> Call<T> {
    r.map_err(|e| errno(&e))
}

/// Runs a blocking `f` on a thread of its own and awaits it, in any async runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("netcase-call".to_owned())
        .spawn(move || {
            let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
        })
        .map_err(|e| Error::io(format!("starting a thread for {what}"), e))?;
    match rx.await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => Err(Error::io(
            what.to_owned(),
            io::Error::other("its thread ended without an answer"),
        )),
    }
}

/// Keepalive timers for a socket (`TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT`); a timer left
/// `None` keeps the host's sysctl.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe, in whole seconds (`TCP_KEEPIDLE`).
    pub idle: Option<Duration>,
    /// Time between probes, in whole seconds (`TCP_KEEPINTVL`).
    pub interval: Option<Duration>,
    /// Unanswered probes before the connection is dropped, a count (`TCP_KEEPCNT`).
    pub count: Option<u32>,
}

/// Socket options, set before a connect() or a listen().
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// `SO_KEEPALIVE` on, with these timers.
    pub keepalive: Option<Keepalive>,
    /// `TCP_USER_TIMEOUT`, in milliseconds.
    pub user_timeout: Option<Duration>,
    /// `TCP_SYNCNT`: SYN retransmissions of this socket's connect(), in place of
    /// `net.ipv4.tcp_syn_retries`.
    pub syncnt: Option<u8>,
    /// `SO_LINGER` `{1, n}` in whole seconds (`Some(ZERO)` for `{1, 0}`).
    pub linger: Option<Duration>,
    /// `SO_RCVBUF`, in octets (the kernel doubles it).
    pub recv_buffer: Option<usize>,
    /// `SO_SNDBUF`, in octets (the kernel doubles it).
    pub send_buffer: Option<usize>,
    /// `SO_REUSEADDR`.
    pub reuse_address: bool,
    /// `TCP_CONGESTION`, by name (`reno`, `cubic`, `bbr`).
    pub congestion: Option<String>,
    /// The local address to bind() to before connect(); port 0 picks one.
    pub bind: Option<SocketAddr>,
}

impl Options {
    /// No option set.
    pub fn new() -> Options {
        Options::default()
    }

    /// `SO_KEEPALIVE` with these timers, in whole seconds, and this many probes.
    pub fn keepalive(mut self, idle: Duration, interval: Duration, count: u32) -> Options {
        self.keepalive = Some(Keepalive {
            idle: Some(idle),
            interval: Some(interval),
            count: Some(count),
        });
        self
    }

    /// `SO_KEEPALIVE` with the host's timers (`net.ipv4.tcp_keepalive_*`).
    pub fn keepalive_by_sysctls(mut self) -> Options {
        self.keepalive = Some(Keepalive::default());
        self
    }

    /// `TCP_USER_TIMEOUT`.
    pub fn user_timeout(mut self, timeout: Duration) -> Options {
        self.user_timeout = Some(timeout);
        self
    }

    /// `TCP_SYNCNT`.
    pub fn syncnt(mut self, count: u8) -> Options {
        self.syncnt = Some(count);
        self
    }

    /// `SO_LINGER` `{1, linger}`.
    pub fn linger(mut self, linger: Duration) -> Options {
        self.linger = Some(linger);
        self
    }

    /// `SO_RCVBUF` and `SO_SNDBUF`, in octets.
    pub fn buffers(mut self, recv: usize, send: usize) -> Options {
        self.recv_buffer = Some(recv);
        self.send_buffer = Some(send);
        self
    }

    /// `SO_REUSEADDR`.
    pub fn reuse_address(mut self) -> Options {
        self.reuse_address = true;
        self
    }

    /// `TCP_CONGESTION`.
    pub fn congestion(mut self, algorithm: &str) -> Options {
        self.congestion = Some(algorithm.to_owned());
        self
    }

    /// bind() to `local` before connect().
    pub fn bind(mut self, local: SocketAddr) -> Options {
        self.bind = Some(local);
        self
    }

    /// Sets them on `socket`.
    fn apply(&self, socket: &Socket) -> io::Result<()> {
        if let Some(k) = &self.keepalive {
            socket.set_keepalive(true)?;
            let mut timers = TcpKeepalive::new();
            if let Some(idle) = k.idle {
                timers = timers.with_time(idle);
            }
            if let Some(interval) = k.interval {
                timers = timers.with_interval(interval);
            }
            if let Some(count) = k.count {
                timers = timers.with_retries(count);
            }
            if k.idle.is_some() || k.interval.is_some() || k.count.is_some() {
                socket.set_tcp_keepalive(&timers)?;
            }
        }
        if let Some(timeout) = self.user_timeout {
            socket.set_tcp_user_timeout(Some(timeout))?;
        }
        if let Some(count) = self.syncnt {
            set_int(
                socket,
                libc::IPPROTO_TCP,
                libc::TCP_SYNCNT,
                i32::from(count),
            )?;
        }
        if let Some(linger) = self.linger {
            socket.set_linger(Some(linger))?;
        }
        if let Some(size) = self.recv_buffer {
            socket.set_recv_buffer_size(size)?;
        }
        if let Some(size) = self.send_buffer {
            socket.set_send_buffer_size(size)?;
        }
        if self.reuse_address {
            socket.set_reuse_address(true)?;
        }
        if let Some(algorithm) = &self.congestion {
            socket.set_tcp_congestion(algorithm.as_bytes())?;
        }
        if let Some(local) = self.bind {
            socket.bind(&local.into())?;
        }
        Ok(())
    }
}

/// An integer socket option socket2 has no setter for.
pub fn set_int(socket: &impl AsFd, level: i32, option: i32, value: i32) -> io::Result<()> {
    // SAFETY: setsockopt reads `size_of::<i32>()` bytes from a valid pointer.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_fd().as_raw_fd(),
            level,
            option,
            (&raw const value).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// How to close a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// close() as the socket is: a FIN after what is queued, unless options say otherwise.
    Now,
    /// `SO_LINGER {1, 0}`, then close(): a reset instead of a FIN, queued data discarded, no
    /// TIME_WAIT.
    Abort,
    /// `SO_LINGER {1, n}` (whole seconds), then close(): it blocks until the data and the FIN are
    /// acknowledged or `n` runs out.
    Linger(Duration),
    /// `SO_LINGER {1, n}` on a non-blocking socket. Linux still blocks the whole linger time
    /// (`inet_release` passes `sk_lingertime` whatever O_NONBLOCK says).
    LingerNonblocking(Duration),
}

/// What close() returned, and how long it blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed {
    /// Its return value.
    pub result: Call<()>,
    /// How long the call took.
    pub took: Duration,
    /// When it returned.
    pub at: Instant,
}

/// A TCP socket of a host. Clones share it; [`Sock::close`] closes it when it is the last.
#[derive(Clone)]
pub struct Sock {
    socket: Arc<Socket>,
    host: Arc<str>,
}

impl fmt::Debug for Sock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.host)?;
        match (self.socket.local_addr(), self.socket.peer_addr()) {
            (Ok(l), Ok(p)) => write!(
                f,
                "{}->{}",
                l.as_socket().map_or("?".to_owned(), |a| a.to_string()),
                p.as_socket().map_or("?".to_owned(), |a| a.to_string())
            ),
            (Ok(l), Err(_)) => write!(
                f,
                "{}",
                l.as_socket().map_or("?".to_owned(), |a| a.to_string())
            ),
            _ => write!(f, "fd {}", self.socket.as_raw_fd()),
        }
    }
}

impl AsFd for Sock {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl Sock {
    pub(crate) fn new(socket: Socket, host: &str) -> Sock {
        Sock {
            socket: Arc::new(socket),
            host: host.into(),
        }
    }

    /// The host it was made on.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The socket itself, for an option or a call the verbs here do not have.
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// Another handle on the socket, for a blocking call on a thread of its own.
    pub(crate) fn shared(&self) -> Arc<Socket> {
        Arc::clone(&self.socket)
    }

    /// Its local address (getsockname).
    pub fn local(&self) -> Result<SocketAddr> {
        self.address(self.socket.local_addr(), "getsockname")
    }

    /// Its peer's address (getpeername); an error when it is not connected.
    pub fn peer(&self) -> Result<SocketAddr> {
        self.address(self.socket.peer_addr(), "getpeername")
    }

    fn address(&self, got: io::Result<socket2::SockAddr>, what: &str) -> Result<SocketAddr> {
        let addr = got.map_err(|e| Error::io(format!("{what} on {self:?}"), e))?;
        addr.as_socket().ok_or_else(|| {
            Error::io(
                format!("{what} on {self:?}"),
                io::Error::other("not an IP address"),
            )
        })
    }

    /// read(): up to `max` octets (an empty vector is end of file), or the errno.
    pub async fn read(&self, max: usize) -> Result<Call<Vec<u8>>> {
        let socket = self.socket.clone();
        blocking("read()", move || {
            let mut buf = vec![0u8; max];
            call(io::Read::read(&mut &*socket, &mut buf)).map(|n| {
                buf.truncate(n);
                buf
            })
        })
        .await
    }

    /// Reads until end of file or an error: everything read, and how it ended (`Ok(())` for end
    /// of file).
    pub async fn read_to_end(&self) -> Result<(Vec<u8>, Call<()>)> {
        let socket = self.socket.clone();
        blocking("read() to end of file", move || {
            let mut all = Vec::new();
            let mut buf = [0u8; 65536];
            loop {
                match io::Read::read(&mut &*socket, &mut buf) {
                    Ok(0) => return (all, Ok(())),
                    Ok(n) => all.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return (all, Err(errno(&e))),
                }
            }
        })
        .await
    }

    /// write(): how many octets were taken, or the errno.
    pub async fn write(&self, data: &[u8]) -> Result<Call<usize>> {
        let (socket, data) = (self.socket.clone(), data.to_vec());
        blocking("write()", move || {
            call(io::Write::write(&mut &*socket, &data))
        })
        .await
    }

    /// Writes all of `data` (blocking until the send buffer takes it), or the first errno.
    pub async fn write_all(&self, data: &[u8]) -> Result<Call<()>> {
        let (socket, data) = (self.socket.clone(), data.to_vec());
        blocking("write() of all", move || {
            call(io::Write::write_all(&mut &*socket, &data))
        })
        .await
    }

    /// shutdown().
    pub async fn shutdown(&self, how: Shutdown) -> Result<Call<()>> {
        let socket = self.socket.clone();
        blocking("shutdown()", move || call(socket.shutdown(how))).await
    }

    /// Closes it as `how` says, and reports what close() returned and how long it blocked. It
    /// must be the last handle on the socket (a clone still held would keep it open).
    pub async fn close(self, how: Close) -> Result<Closed> {
        let (socket, what) = self.last_handle()?;
        prepare_close(&socket, how)
            .map_err(|e| Error::io(format!("SO_LINGER before {what}"), e))?;
        blocking(&what, move || close_owned(socket)).await
    }

    /// write() of all of `data`, then close() as `how` says, back to back on one thread: how the
    /// close went, or the errno of the write (or of SO_LINGER) that kept it from being made (the
    /// socket is then closed without a report). As a server that answers and hangs up does it:
    /// the close follows the last write at once, so its FIN leaves right behind the data (two
    /// calls of their own could be a scheduling delay apart).
    pub async fn write_all_then_close(self, data: &[u8], how: Close) -> Result<Call<Closed>> {
        let (socket, what) = self.last_handle()?;
        let data = data.to_vec();
        blocking(&what, move || {
            io::Write::write_all(&mut &socket, &data)
                .and_then(|()| prepare_close(&socket, how))
                .map(|()| close_owned(socket))
                .map_err(|e| errno(&e))
        })
        .await
    }

    /// The socket itself, which must be its last handle, and a name for it in errors.
    fn last_handle(self) -> Result<(Socket, String)> {
        let what = format!("close() of {self:?}");
        match Arc::try_unwrap(self.socket) {
            Ok(socket) => Ok((socket, what)),
            Err(_) => Err(Error::io(
                what,
                io::Error::other("another handle on the socket is still held"),
            )),
        }
    }

    /// Its TCP_INFO.
    pub fn info(&self) -> Result<TcpInfo> {
        tcp_info(&*self.socket)
    }

    /// Its state, from TCP_INFO.
    pub fn state(&self) -> Result<TcpState> {
        Ok(self.info()?.state)
    }

    /// Its pending error (SO_ERROR), which reading clears.
    pub fn take_error(&self) -> Result<Option<Errno>> {
        self.socket
            .take_error()
            .map(|e| e.as_ref().map(errno))
            .map_err(|e| Error::io(format!("SO_ERROR of {self:?}"), e))
    }

    /// Sets `options` on it.
    pub fn set(&self, options: &Options) -> Result<()> {
        options
            .apply(&self.socket)
            .map_err(|e| Error::io(format!("setting {options:?} on {self:?}"), e))
    }

    /// O_NONBLOCK on or off.
    pub fn set_nonblocking(&self, on: bool) -> Result<()> {
        self.socket
            .set_nonblocking(on)
            .map_err(|e| Error::io(format!("O_NONBLOCK on {self:?}"), e))
    }
}

/// A listening socket.
#[derive(Debug, Clone)]
pub struct Listener {
    sock: Sock,
    addr: SocketAddr,
}

impl Listener {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The socket.
    pub fn sock(&self) -> &Sock {
        &self.sock
    }

    /// accept(): the next connection of the queue; blocks until there is one, unless the
    /// listener is non-blocking (EAGAIN then).
    pub async fn accept(&self) -> Result<Call<Sock>> {
        let (socket, host) = (self.sock.socket.clone(), self.sock.host.clone());
        blocking("accept()", move || {
            call(socket.accept()).map(|(s, _)| Sock::new(s, &host))
        })
        .await
    }

    /// listen() again on the listening socket, with another backlog.
    pub fn listen(&self, backlog: i32) -> Call<()> {
        call(self.sock.socket.listen(backlog))
    }

    /// Closes it: connections in its queue that were never accepted are reset.
    pub async fn close(self) -> Result<Closed> {
        self.sock.close(Close::Now).await
    }
}

/// An established connection between two hosts: both ends and the server's listener.
#[derive(Debug)]
pub struct Connection {
    /// The client's end.
    pub client: Sock,
    /// The server's end, as accept() returned it.
    pub server: Sock,
    /// The server's listener.
    pub listener: Listener,
    /// When both the client's connect() and the server's accept() had returned (a timing that
    /// must start before the handshake takes its own instant before [`Topology::connect`]).
    pub established: Instant,
    /// The same moment by the wall clock, which capture timestamps use.
    pub established_wall: SystemTime,
}

pub(crate) fn socket_for(addr: SocketAddr) -> io::Result<Socket> {
    Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
}

impl Host {
    /// A listening socket on `addr` with `backlog` (SO_REUSEADDR on). Blocking: see
    /// [`Host::listen_with`] for options, [`Sock::set_nonblocking`] to make accept() not wait.
    pub async fn listen(&self, addr: SocketAddr, backlog: i32) -> Result<Listener> {
        self.listen_with(addr, backlog, Options::new().reuse_address())
            .await
    }

    /// A listening socket on `addr` with `backlog` and `options`.
    pub async fn listen_with(
        &self,
        addr: SocketAddr,
        backlog: i32,
        options: Options,
    ) -> Result<Listener> {
        let host = self.name().to_owned();
        let made = self
            .run(move || -> io::Result<Socket> {
                let socket = socket_for(addr)?;
                options.apply(&socket)?;
                socket.bind(&addr.into())?;
                socket.listen(backlog)?;
                Ok(socket)
            })
            .await?
            .map_err(|e| Error::io(format!("listen({backlog}) on {addr} on host {host}"), e))?;
        Ok(Listener {
            sock: Sock::new(made, &host),
            addr,
        })
    }

    /// A blocking connect() to `to`: the connected socket, or the errno connect() failed with.
    pub async fn connect(&self, to: SocketAddr) -> Result<Call<Sock>> {
        self.connect_with(to, Options::new()).await
    }

    /// A blocking connect() to `to` from a socket with `options`.
    pub async fn connect_with(&self, to: SocketAddr, options: Options) -> Result<Call<Sock>> {
        let host = self.name().to_owned();
        let made = self
            .run(move || -> io::Result<io::Result<Socket>> {
                let socket = socket_for(to)?;
                options.apply(&socket)?;
                Ok(socket.connect(&to.into()).map(|()| socket))
            })
            .await?
            .map_err(|e| Error::io(format!("a socket to connect to {to} on host {host}"), e))?;
        Ok(call(made).map(|s| Sock::new(s, &host)))
    }

    /// A non-blocking connect() to `to` from a socket with `options`: the socket, its SYN on the
    /// way (EINPROGRESS), or the errno connect() failed with at once.
    pub async fn start_connect(&self, to: SocketAddr, options: Options) -> Result<Call<Sock>> {
        let host = self.name().to_owned();
        let made = self
            .run(move || -> io::Result<io::Result<Socket>> {
                let socket = socket_for(to)?;
                options.apply(&socket)?;
                socket.set_nonblocking(true)?;
                Ok(match socket.connect(&to.into()) {
                    Err(e) if e.raw_os_error() != Some(libc::EINPROGRESS) => Err(e),
                    _ => Ok(socket),
                })
            })
            .await?
            .map_err(|e| Error::io(format!("a socket to connect to {to} on host {host}"), e))?;
        Ok(call(made).map(|s| Sock::new(s, &host)))
    }
}

impl Topology {
    /// An established connection over `family`: a listener on `server`'s `port`, a blocking
    /// connect() from `client`, the accept(). Any failure is an error that says which step.
    pub async fn connect(
        &self,
        client: &str,
        server: &str,
        family: Family,
        port: u16,
    ) -> Result<Connection> {
        self.connect_with(client, server, family, port, Options::new())
            .await
    }

    /// [`Topology::connect`], with `options` on the client's socket.
    pub async fn connect_with(
        &self,
        client: &str,
        server: &str,
        family: Family,
        port: u16,
        options: Options,
    ) -> Result<Connection> {
        let listening = Options::new().reuse_address();
        self.connect_both(client, server, family, port, options, listening)
            .await
    }
}

/// The errno's name and meaning, for messages: `ECONNRESET (Connection reset by peer)`.
pub fn describe(errno: Errno) -> String {
    format!("{errno:?} ({})", errno.desc())
}

/// Sets what `how` asks of close() (SO_LINGER; non-blocking for [`Close::LingerNonblocking`]).
fn prepare_close(socket: &Socket, how: Close) -> io::Result<()> {
    match how {
        Close::Now => Ok(()),
        Close::Abort => socket.set_linger(Some(Duration::ZERO)),
        Close::Linger(n) => socket.set_linger(Some(n)),
        Close::LingerNonblocking(n) => socket
            .set_linger(Some(n))
            .and_then(|()| socket.set_nonblocking(true)),
    }
}

/// close(2) of `socket` on this thread, with what it returned and how long it blocked.
fn close_owned(socket: Socket) -> Closed {
    let fd = socket.into_raw_fd();
    // No fork may overlap the close: a child between fork and exec would keep the socket open,
    // and close() would send nothing.
    crate::fork::close_now(|| {
        let start = Instant::now();
        // SAFETY: `into_raw_fd` gave up ownership of fd; it is closed once, here.
        let rc = unsafe { libc::close(fd) };
        let at = Instant::now();
        Closed {
            result: if rc == 0 { Ok(()) } else { Err(Errno::last()) },
            took: at - start,
            at,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errnos_come_from_io_errors() {
        assert_eq!(
            errno(&io::Error::from_raw_os_error(libc::ECONNRESET)),
            Errno::ECONNRESET
        );
        assert_eq!(errno(&io::Error::other("x")), Errno::EIO);
        assert!(describe(Errno::EPIPE).starts_with("EPIPE ("));
    }

    #[test]
    fn options_build_up() {
        let o = Options::new()
            .keepalive(Duration::from_secs(1), Duration::from_secs(2), 3)
            .user_timeout(Duration::from_millis(2500))
            .syncnt(2)
            .reuse_address();
        assert_eq!(o.keepalive.and_then(|k| k.count), Some(3));
        assert_eq!(o.syncnt, Some(2));
        assert!(o.reuse_address);
    }
}
