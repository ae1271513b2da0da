//! Socket addresses exactly as the kernel takes and gives them: the bytes of a `sockaddr` with
//! its `socklen_t`, for `sockaddr_in`, `sockaddr_in6` and `sockaddr_un`; sockets of any family
//! and type made inside a host; and the calls that carry an address (bind, connect, accept,
//! getsockname, getpeername, sendto, sendmsg, recvfrom, recvmsg), made through libc so that the
//! length passed is the length the kernel sees and the length returned is the one it gave.
//!
//! [`Sock::local`] and [`Sock::peer`] are enough to know where a socket is; these calls are for a
//! test of the addresses themselves: a length below the family's minimum, a buffer too short for
//! the address, a unix socket's name.
//!
//! ```no_run
//! # async fn demo(net: &netcase::Topology) -> netcase::Result<()> {
//! use netcase::{Family, network::sockaddr::{SOCKADDR_IN, Sockaddr}};
//! use nix::errno::Errno;
//! use socket2::{Domain, Type};
//! let at = net.socket_addr("server", Family::V4, 7000)?;
//! let udp = net.host("server")?.socket(Domain::IPV4, Type::DGRAM).await?;
//! assert_eq!(udp.bind_addr(Sockaddr::ip(at).with_len(15)), Err(Errno::EINVAL));
//! udp.bind_addr(at).expect("bind with sizeof(struct sockaddr_in)");
//! let name = udp.getsockname().expect("getsockname");
//! assert_eq!((name.len, name.socket_addr()), (SOCKADDR_IN, Some(at)));
//! # Ok(()) }
//! ```

use std::{
    fmt, io,
    mem::{self, MaybeUninit},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    os::fd::{AsRawFd, FromRawFd},
};

use socket2::{Domain, Socket, Type};

use crate::{
    error::{Error, Result},
    network::{
        Family, Host,
        socket::{Call, Sock, blocking, call},
    },
};

/// `sizeof(struct sockaddr_storage)`, in octets: the buffer the calls here offer the kernel.
pub const SOCKADDR_STORAGE: libc::socklen_t =
    mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
/// `sizeof(struct sockaddr_in)`, in octets.
pub const SOCKADDR_IN: libc::socklen_t = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
/// `sizeof(struct sockaddr_in6)`, in octets.
pub const SOCKADDR_IN6: libc::socklen_t = mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
/// `sizeof(struct sockaddr_un)`, in octets.
pub const SOCKADDR_UN: libc::socklen_t = mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
/// `sizeof(sa_family_t)`, in octets: the length of an unnamed unix socket's address.
pub const SA_FAMILY: libc::socklen_t = mem::size_of::<libc::sa_family_t>() as libc::socklen_t;
/// `offsetof(struct sockaddr_un, sun_path)`, in octets.
pub const SUN_PATH: usize = mem::offset_of!(libc::sockaddr_un, sun_path);
/// What a buffer holds before the kernel writes an address into it, to see where it stopped.
pub const FILL: u8 = 0xAA;

/// The `AF_` constant of `family`.
pub fn af(family: Family) -> i32 {
    match family {
        Family::V4 => libc::AF_INET,
        Family::V6 => libc::AF_INET6,
    }
}

/// The wildcard address of `family` (`INADDR_ANY`, `in6addr_any`).
pub fn wildcard(family: Family) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// The loopback address of `family` (127.0.0.1, ::1).
pub fn loopback(family: Family) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Family::V6 => IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}

/// `addr` as an IPv6 socket reports an IPv4 peer: `::ffff:a.b.c.d` (IPv6 addresses unchanged).
pub fn v4_mapped(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(v4) => SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port()),
        v6 => v6,
    }
}

/// An address as passed to the kernel or returned by it: the octets of a `sockaddr_storage`
/// and a length in octets. A returned length is the kernel's, which may exceed the buffer it was
/// offered: the address was then cut to the buffer.
#[derive(Clone, Copy)]
pub struct Sockaddr {
    storage: libc::sockaddr_storage,
    /// The length, in octets (`socklen_t`).
    pub len: libc::socklen_t,
}

impl fmt::Debug for Sockaddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.family() {
            libc::AF_UNIX => write!(f, "Sockaddr(len {}, unix {:?})", self.len, self.sun_path()),
            _ => write!(f, "Sockaddr(len {}, {:?})", self.len, self.socket_addr()),
        }
    }
}

/// Equal when their lengths are, and their octets within that length: what a test compares a
/// returned address with (`Sockaddr::ip(expected)` carries the family's full length).
impl PartialEq for Sockaddr {
    fn eq(&self, other: &Sockaddr) -> bool {
        let n = (self.len as usize).min(SOCKADDR_STORAGE as usize);
        self.len == other.len && self.bytes()[..n] == other.bytes()[..n]
    }
}

impl Eq for Sockaddr {}

impl From<SocketAddr> for Sockaddr {
    fn from(addr: SocketAddr) -> Sockaddr {
        Sockaddr::ip(addr)
    }
}

impl Sockaddr {
    /// A buffer of [`FILL`] octets, offered to the kernel with length `len`.
    fn filled(len: libc::socklen_t) -> Sockaddr {
        let mut storage = MaybeUninit::<libc::sockaddr_storage>::uninit();
        // SAFETY: every bit pattern is a valid sockaddr_storage (plain integers).
        let storage = unsafe {
            storage
                .as_mut_ptr()
                .cast::<u8>()
                .write_bytes(FILL, SOCKADDR_STORAGE as usize);
            storage.assume_init()
        };
        Sockaddr {
            storage,
            len: len.min(SOCKADDR_STORAGE),
        }
    }

    fn zeroed() -> Sockaddr {
        Sockaddr {
            // SAFETY: all zeros is a valid sockaddr_storage.
            storage: unsafe { mem::zeroed() },
            len: 0,
        }
    }

    /// `addr` as a `sockaddr_in` or `sockaddr_in6`, with that struct's length.
    pub fn ip(addr: SocketAddr) -> Sockaddr {
        let mut a = Sockaddr::zeroed();
        let ptr = (&raw mut a.storage).cast::<u8>();
        match addr {
            SocketAddr::V4(v4) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: v4.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from(*v4.ip()).to_be(),
                    },
                    sin_zero: [0; 8],
                };
                // SAFETY: sockaddr_storage is larger than sockaddr_in and suitably aligned.
                unsafe { ptr.cast::<libc::sockaddr_in>().write(sin) };
                a.len = SOCKADDR_IN;
            }
            SocketAddr::V6(v6) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: v6.port().to_be(),
                    sin6_flowinfo: v6.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: v6.ip().octets(),
                    },
                    sin6_scope_id: v6.scope_id(),
                };
                // SAFETY: as above, for sockaddr_in6.
                unsafe { ptr.cast::<libc::sockaddr_in6>().write(sin6) };
                a.len = SOCKADDR_IN6;
            }
        }
        a
    }

    /// A `sockaddr_un` whose `sun_path` starts with `name` (at most 108 octets; a leading NUL
    /// makes it abstract), passed with length `len`.
    ///
    /// # Panics
    ///
    /// When `name` is longer than `sun_path`.
    pub fn unix(name: &[u8], len: libc::socklen_t) -> Sockaddr {
        let mut a = Sockaddr::zeroed();
        let ptr = (&raw mut a.storage).cast::<libc::sockaddr_un>();
        // SAFETY: sockaddr_storage holds a sockaddr_un.
        let sun = unsafe { &mut *ptr };
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        assert!(
            name.len() <= sun.sun_path.len(),
            "a sun_path of {} octets: at most {}",
            name.len(),
            sun.sun_path.len()
        );
        for (dst, &src) in sun.sun_path.iter_mut().zip(name) {
            *dst = src as libc::c_char;
        }
        a.len = len;
        a
    }

    /// The same address, passed with length `len`.
    pub fn with_len(mut self, len: libc::socklen_t) -> Sockaddr {
        self.len = len;
        self
    }

    /// The family field (`AF_INET`, `AF_INET6`, `AF_UNIX`).
    pub fn family(&self) -> i32 {
        i32::from(self.storage.ss_family)
    }

    /// The octets of the whole buffer, `sizeof(struct sockaddr_storage)` of them: past the length
    /// the kernel wrote, they are still [`FILL`].
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the storage is plain bytes, all initialised.
        unsafe {
            std::slice::from_raw_parts(
                (&raw const self.storage).cast::<u8>(),
                SOCKADDR_STORAGE as usize,
            )
        }
    }

    /// The port field of an IP address (its octets 2 and 3), as far as the kernel wrote it.
    pub fn port(&self) -> u16 {
        u16::from_be_bytes([self.bytes()[2], self.bytes()[3]])
    }

    /// The IP address, when it is one and its length covers it (`None` for a cut one).
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        let b = self.bytes();
        match self.family() {
            libc::AF_INET if self.len >= SOCKADDR_IN => {
                let ip = Ipv4Addr::new(b[4], b[5], b[6], b[7]);
                Some(SocketAddr::new(IpAddr::V4(ip), self.port()))
            }
            libc::AF_INET6 if self.len >= 24 => {
                let octets: [u8; 16] = b[8..24].try_into().expect("16 octets");
                Some(SocketAddr::new(
                    IpAddr::V6(Ipv6Addr::from(octets)),
                    self.port(),
                ))
            }
            _ => None,
        }
    }

    /// The `sun_path` octets within the length, NULs included (none past the length).
    pub fn sun_path(&self) -> Vec<u8> {
        let end = (self.len as usize).clamp(SUN_PATH, SOCKADDR_STORAGE as usize);
        self.bytes()[SUN_PATH..end].to_vec()
    }

    fn ptr(&self) -> *const libc::sockaddr {
        (&raw const self.storage).cast()
    }
}

/// getsockname(2) and getpeername(2).
type NameCall =
    unsafe extern "C" fn(libc::c_int, *mut libc::sockaddr, *mut libc::socklen_t) -> libc::c_int;

/// A system call's return: its value, or the errno it set.
fn returned(r: libc::ssize_t) -> Call<usize> {
    if r < 0 {
        Err(nix::errno::Errno::last())
    } else {
        Ok(r as usize)
    }
}

/// Calls `f` with a [`FILL`]ed buffer offered as `cap` octets; the address the kernel wrote.
fn offer<T>(
    cap: libc::socklen_t,
    f: impl FnOnce(*mut libc::sockaddr, *mut libc::socklen_t) -> Call<T>,
) -> Call<(T, Sockaddr)> {
    let mut a = Sockaddr::filled(cap);
    let value = f((&raw mut a.storage).cast(), &raw mut a.len)?;
    Ok((value, a))
}

/// One datagram: its data and the address it came from, received by `recvfrom` (`msg` false)
/// or `recvmsg` (true), offering `sizeof(struct sockaddr_storage)` for the address.
fn receive(socket: &Socket, msg: bool) -> Call<(Vec<u8>, Sockaddr)> {
    let mut buf = vec![0u8; 65536];
    let fd = socket.as_raw_fd();
    let (n, from) = offer(SOCKADDR_STORAGE, |p, l| {
        if !msg {
            // SAFETY: buf, p and l are live buffers of their lengths.
            return returned(unsafe {
                libc::recvfrom(fd, buf.as_mut_ptr().cast(), buf.len(), 0, p, l)
            });
        }
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: a zeroed msghdr is valid; the fields set point to live buffers.
        let mut hdr: libc::msghdr = unsafe { mem::zeroed() };
        hdr.msg_name = p.cast();
        // SAFETY: l points into a live Sockaddr.
        hdr.msg_namelen = unsafe { *l };
        hdr.msg_iov = &raw mut iov;
        hdr.msg_iovlen = 1;
        // SAFETY: hdr is valid.
        let n = returned(unsafe { libc::recvmsg(fd, &raw mut hdr, 0) })?;
        // SAFETY: as above.
        unsafe { *l = hdr.msg_namelen };
        Ok(n)
    })?;
    buf.truncate(n);
    Ok((buf, from))
}

impl Sock {
    /// bind(2) to `addr` with exactly its length (a [`SocketAddr`] has its struct's).
    pub fn bind_addr(&self, addr: impl Into<Sockaddr>) -> Call<()> {
        let addr = addr.into();
        // SAFETY: the pointer is valid for sizeof(sockaddr_storage) >= addr.len octets (the
        // kernel refuses more with EINVAL).
        let rc = unsafe { libc::bind(self.socket().as_raw_fd(), addr.ptr(), addr.len) };
        returned(rc as libc::ssize_t).map(drop)
    }

    /// connect(2) to `addr` with exactly its length; a blocking socket waits for the handshake.
    pub async fn connect_addr(&self, addr: impl Into<Sockaddr>) -> Result<Call<()>> {
        let (addr, sock) = (addr.into(), self.clone());
        blocking("connect()", move || {
            // SAFETY: as for bind.
            let rc = unsafe { libc::connect(sock.socket().as_raw_fd(), addr.ptr(), addr.len) };
            returned(rc as libc::ssize_t).map(drop)
        })
        .await
    }

    /// listen(2) with `backlog`.
    pub fn listen(&self, backlog: i32) -> Call<()> {
        call(self.socket().listen(backlog))
    }

    /// accept(2), offering `sizeof(struct sockaddr_storage)`: the new socket and its peer's
    /// address with the kernel's length. Blocks until a connection is queued.
    pub async fn accept_addr(&self) -> Result<Call<(Sock, Sockaddr)>> {
        let sock = self.clone();
        blocking("accept()", move || {
            let (fd, peer) = offer(SOCKADDR_STORAGE, |p, l| {
                // SAFETY: p and l point into a live Sockaddr.
                returned(unsafe { libc::accept(sock.socket().as_raw_fd(), p, l) } as libc::ssize_t)
            })?;
            // SAFETY: accept returned a new descriptor that nothing else owns.
            let accepted = unsafe { Socket::from_raw_fd(fd as i32) };
            Ok((Sock::new(accepted, sock.host()), peer))
        })
        .await
    }

    /// getsockname(2), offering `sizeof(struct sockaddr_storage)`.
    pub fn getsockname(&self) -> Call<Sockaddr> {
        self.getsockname_into(SOCKADDR_STORAGE)
    }

    /// getsockname(2), offering a buffer of `cap` octets (at most `sizeof(struct
    /// sockaddr_storage)`).
    pub fn getsockname_into(&self, cap: libc::socklen_t) -> Call<Sockaddr> {
        self.name(cap, libc::getsockname)
    }

    /// getpeername(2), offering `sizeof(struct sockaddr_storage)`.
    pub fn getpeername(&self) -> Call<Sockaddr> {
        self.getpeername_into(SOCKADDR_STORAGE)
    }

    /// getpeername(2), offering a buffer of `cap` octets (at most `sizeof(struct
    /// sockaddr_storage)`).
    pub fn getpeername_into(&self, cap: libc::socklen_t) -> Call<Sockaddr> {
        self.name(cap, libc::getpeername)
    }

    /// getsockname(2) or getpeername(2), as `call` says, offering `cap` octets.
    fn name(&self, cap: libc::socklen_t, call: NameCall) -> Call<Sockaddr> {
        let fd = self.socket().as_raw_fd();
        // SAFETY: p and l point into a live Sockaddr.
        offer(cap, |p, l| {
            returned(unsafe { call(fd, p, l) } as libc::ssize_t)
        })
        .map(|(_, a)| a)
    }

    /// sendto(2) of `data` to `to` with exactly its length: how many octets were sent. Does not
    /// wait for anything but room in the send buffer.
    pub fn sendto(&self, data: &[u8], to: impl Into<Sockaddr>) -> Call<usize> {
        let to = to.into();
        // SAFETY: data and to are valid for their lengths.
        returned(unsafe {
            libc::sendto(
                self.socket().as_raw_fd(),
                data.as_ptr().cast(),
                data.len(),
                0,
                to.ptr(),
                to.len,
            )
        })
    }

    /// sendmsg(2) of `data` to `to` (its `msg_name`, with exactly its length): how many octets
    /// were sent.
    pub fn sendmsg(&self, data: &[u8], to: impl Into<Sockaddr>) -> Call<usize> {
        let to = to.into();
        let mut iov = libc::iovec {
            iov_base: data.as_ptr() as *mut _,
            iov_len: data.len(),
        };
        // SAFETY: a zeroed msghdr is valid; the fields set point to live buffers.
        let mut hdr: libc::msghdr = unsafe { mem::zeroed() };
        hdr.msg_name = to.ptr() as *mut _;
        hdr.msg_namelen = to.len;
        hdr.msg_iov = &raw mut iov;
        hdr.msg_iovlen = 1;
        // SAFETY: hdr is valid.
        returned(unsafe { libc::sendmsg(self.socket().as_raw_fd(), &raw const hdr, 0) })
    }

    /// recvfrom(2) of one datagram (up to 64 KiB), offering `sizeof(struct sockaddr_storage)`
    /// for the sender's address: the data, and the address with the kernel's length (0 when the
    /// sender has none). Blocks until a datagram is there.
    pub async fn recvfrom(&self) -> Result<Call<(Vec<u8>, Sockaddr)>> {
        let sock = self.clone();
        blocking("recvfrom()", move || receive(sock.socket(), false)).await
    }

    /// recvmsg(2) of one datagram, as [`Sock::recvfrom`]: the address's length is the
    /// `msg_namelen` the kernel set.
    pub async fn recvmsg(&self) -> Result<Call<(Vec<u8>, Sockaddr)>> {
        let sock = self.clone();
        blocking("recvmsg()", move || receive(sock.socket(), true)).await
    }
}

impl Host {
    /// A new socket of `domain` and `type`, unbound, made inside this host (so in its network
    /// namespace for ever): a UDP or unix socket, or a TCP one to bind and connect by hand. Its
    /// TCP-only calls ([`Sock::info`], [`Sock::state`]) fail on the other kinds.
    pub async fn socket(&self, domain: Domain, ty: Type) -> Result<Sock> {
        let host = self.name().to_owned();
        let made = self.run(move || Socket::new(domain, ty, None)).await?;
        let socket =
            made.map_err(|e| Error::io(format!("socket({domain:?}, {ty:?}) on host {host}"), e))?;
        Ok(Sock::new(socket, &host))
    }

    /// A new socket of `type` in the family of `addr`, made inside this host and bound to `addr`
    /// with exactly its length; an error that names the address when bind() fails (to assert on
    /// bind()'s errno, make the socket with [`Host::socket`] and call [`Sock::bind_addr`]).
    pub async fn bound(&self, ty: Type, addr: impl Into<Sockaddr>) -> Result<Sock> {
        let addr = addr.into();
        let domain = Domain::from(addr.family());
        let sock = self.socket(domain, ty).await?;
        sock.bind_addr(addr).map_err(|e| {
            Error::io(
                format!("bind() to {addr:?} on host {}", self.name()),
                io::Error::from_raw_os_error(e as i32),
            )
        })?;
        Ok(sock)
    }

    /// A connected pair of new sockets (socketpair(2)) of `domain` (`UNIX`) and `type`, made
    /// inside this host.
    pub async fn socket_pair(&self, domain: Domain, ty: Type) -> Result<(Sock, Sock)> {
        let host = self.name().to_owned();
        let made = self.run(move || Socket::pair(domain, ty, None)).await?;
        let (a, b) = made
            .map_err(|e| Error::io(format!("socketpair({domain:?}, {ty:?}) on host {host}"), e))?;
        Ok((Sock::new(a, &host), Sock::new(b, &host)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::errno::Errno;

    /// An unbound socket of the test's own namespace: these calls do not depend on where it
    /// was made.
    fn sock(domain: Domain, ty: Type) -> Sock {
        Sock::new(Socket::new(domain, ty, None).expect("socket"), "test")
    }

    #[test]
    fn ip_addresses_round_trip() {
        let v4: SocketAddr = "198.18.0.1:7000".parse().unwrap();
        let v6: SocketAddr = "[2001:db8::1]:7000".parse().unwrap();
        assert_eq!(Sockaddr::ip(v4).len, SOCKADDR_IN);
        assert_eq!(Sockaddr::ip(v6).len, SOCKADDR_IN6);
        assert_eq!(Sockaddr::ip(v4).socket_addr(), Some(v4));
        assert_eq!(Sockaddr::ip(v6).socket_addr(), Some(v6));
        assert_eq!(Sockaddr::ip(v6).family(), af(Family::V6));
        assert_eq!(
            Sockaddr::ip(v4).with_len(8).socket_addr(),
            None,
            "a cut address"
        );
        assert_eq!(Sockaddr::ip(v4), Sockaddr::from(v4));
        assert_ne!(
            Sockaddr::ip(v4),
            Sockaddr::ip(v4).with_len(8),
            "lengths differ"
        );
        let other: SocketAddr = "198.18.0.1:7001".parse().unwrap();
        assert_ne!(Sockaddr::ip(v4), Sockaddr::ip(other), "ports differ");
        assert_eq!(
            Sockaddr::ip(v4).with_len(2),
            Sockaddr::ip(other).with_len(2),
            "octets past the length do not count"
        );
        assert_eq!(
            v4_mapped(v4),
            "[::ffff:198.18.0.1]:7000".parse::<SocketAddr>().unwrap()
        );
    }

    #[test]
    fn unix_names_keep_their_length() {
        let a = Sockaddr::unix(b"\0name", SUN_PATH as libc::socklen_t + 5);
        assert_eq!(a.family(), libc::AF_UNIX);
        assert_eq!(a.sun_path(), b"\0name");
    }

    /// Unnamed unix sockets only: a unit test never binds in the test's own (root) namespace.
    #[test]
    fn the_kernel_returns_its_length_and_cuts_the_address() {
        let tcp = sock(Domain::IPV4, Type::STREAM);
        let at: SocketAddr = "198.18.0.1:7000".parse().unwrap();
        assert_eq!(
            tcp.bind_addr(Sockaddr::ip(at).with_len(SOCKADDR_IN - 1)),
            Err(Errno::EINVAL),
            "bind refuses a length below sizeof(struct sockaddr_in)"
        );
        let (a, _b) = Socket::pair(Domain::UNIX, Type::STREAM, None).expect("socketpair");
        let a = Sock::new(a, "test");
        let name = a.getsockname().expect("getsockname");
        assert_eq!((name.len, name.family()), (SA_FAMILY, libc::AF_UNIX));
        let cut = a.getpeername_into(1).expect("getpeername into 1 octet");
        assert_eq!(cut.len, SA_FAMILY, "the kernel's length, not the buffer's");
        assert!(cut.bytes()[1..].iter().all(|&b| b == FILL), "{cut:?}");
        assert_eq!(tcp.getpeername().map(|a| a.len), Err(Errno::ENOTCONN));
    }

    #[tokio::test]
    async fn a_datagram_from_an_unnamed_socket_has_no_address() {
        let (a, b) = Socket::pair(Domain::UNIX, Type::DGRAM, None).expect("socketpair");
        let (a, b) = (Sock::new(a, "test"), Sock::new(b, "test"));
        assert_eq!(a.write(b"one").await.unwrap(), Ok(3));
        assert_eq!(a.write(b"two").await.unwrap(), Ok(3));
        let (data, from) = b.recvfrom().await.unwrap().expect("recvfrom");
        assert_eq!((data.as_slice(), from.len), (&b"one"[..], 0));
        let (data, from) = b.recvmsg().await.unwrap().expect("recvmsg");
        assert_eq!((data.as_slice(), from.len), (&b"two"[..], 0));
    }
}
