//! Capturing every frame on a link end: an AF_PACKET socket inside the host's namespace, bound to
//! the interface, with the kernel's nanosecond timestamps and its count of frames it had to drop.
//!
//! ```no_run
//! # async fn demo(net: &netcase::Topology) -> netcase::Result<()> {
//! let recording = net.record(&["client", "server"]).await?; // every link end of both hosts
//! // ... traffic ...
//! let recorded = recording.stop().await?;                    // pcaps under target/netcase/<test>/
//! for packet in recorded.on("server")?.packets(net, netcase::capture::Zero::FirstSyn) {
//!     println!("{packet}");
//! }
//! # Ok(()) }
//! ```

use std::{
    io,
    mem::{size_of, zeroed},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, SystemTime},
};

use crate::{
    Topology,
    decode::{self, Flags, Frame, Packet},
    error::{Error, Result},
    host::Host,
    pcap,
};

/// The receive buffer a capture asks for, in octets: a burst at link speed must fit while the
/// host's thread is busy elsewhere.
const RECEIVE_BUFFER: libc::c_int = 64 << 20;
/// `PACKET_STATISTICS` from linux/if_packet.h.
const PACKET_STATISTICS: libc::c_int = 6;

/// What the kernel counted for a capture socket (`PACKET_STATISTICS`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames the socket received, including the dropped ones, a count.
    pub received: u64,
    /// Frames the kernel dropped because the socket's buffer was full, a count.
    pub dropped: u64,
}

/// A capture running on one interface of a host; [`Capture::stop`] ends it.
pub struct Capture {
    host: String,
    ifname: String,
    stop: Arc<AtomicBool>,
    reader: Option<std::thread::JoinHandle<io::Result<Captured>>>,
}

/// The frames one capture saw.
#[derive(Debug, Clone)]
pub struct Captured {
    /// The host it ran on.
    pub host: String,
    /// The interface inside the host.
    pub ifname: String,
    /// Every frame, in the order the kernel delivered them.
    pub frames: Vec<Frame>,
    /// The kernel's counts.
    pub stats: Stats,
}

impl Captured {
    /// The frames decoded, with host names from `net` and times relative to `zero`.
    pub fn packets(&self, net: &Topology, zero: Zero) -> Vec<Packet> {
        let names = |ip| net.host_of(ip).map(str::to_owned);
        let zero = match zero {
            Zero::At(t) => t,
            Zero::FirstFrame => self.first_frame_at(),
            Zero::FirstSyn => {
                let absolute = decode::decode(&self.frames, &names, SystemTime::UNIX_EPOCH);
                decode::segments(&absolute)
                    .find(|s| s.flags.contains(Flags::SYN))
                    .map_or_else(
                        || self.first_frame_at(),
                        |s| SystemTime::UNIX_EPOCH + Duration::from_nanos(s.at_ns.max(0) as u64),
                    )
            }
        };
        decode::decode(&self.frames, &names, zero)
    }

    fn first_frame_at(&self) -> SystemTime {
        self.frames.first().map_or(SystemTime::UNIX_EPOCH, |f| f.at)
    }
}

impl Host {
    /// Starts capturing every frame on interface `ifname` of this host, both directions. Returns
    /// once the socket is bound: from then on nothing on the interface is missed.
    ///
    /// The socket is opened on the host's thread, so it belongs to the host's namespace; a thread
    /// of its own reads it, so that a busy host does not make the capture fall behind.
    pub async fn capture(&self, ifname: &str) -> Result<Capture> {
        let (host, name) = (self.name().to_owned(), ifname.to_owned());
        let what = |doing: &str| format!("{doing} a capture on {name} of host {host}");
        let opened = {
            let name = name.clone();
            self.run(move || open(&name)).await?
        };
        let socket = opened.map_err(|e| Error::io(what("opening"), e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (stop, host, name) = (stop.clone(), host.clone(), name.clone());
            std::thread::Builder::new()
                .name(format!("netcase-cap-{host}"))
                .spawn(move || read_until_stopped(socket, host, name, &stop))
                .map_err(|e| Error::io(what("starting the reader of"), e))?
        };
        Ok(Capture {
            host,
            ifname: name,
            stop,
            reader: Some(reader),
        })
    }
}

impl Capture {
    /// Stops the capture, after taking every frame the kernel has already queued for it.
    pub async fn stop(mut self) -> Result<Captured> {
        self.stop.store(true, Ordering::Relaxed);
        let label = self.label();
        let reader = self.reader.take();
        let joined = tokio::task::spawn_blocking(move || reader.map(|r| r.join()))
            .await
            .map_err(|e| Error::io(format!("stopping the capture {label}"), io::Error::other(e)))?;
        match joined {
            Some(Ok(Ok(captured))) => Ok(captured),
            Some(Ok(Err(e))) => Err(Error::io(format!("reading the capture {label}"), e)),
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => Err(Error::HostGone(self.host.clone())),
        }
    }

    /// The host and interface, as `host-ifname`.
    pub fn label(&self) -> String {
        format!("{}-{}", self.host, self.ifname)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        // A capture dropped without stop(): its reader sees the flag within one poll interval.
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// How long the reader waits for frames before it looks at the stop flag, in milliseconds.
const POLL_MS: libc::c_int = 2;

/// On the capture's own thread: reads frames until told to stop, then takes what is queued.
fn read_until_stopped(
    socket: OwnedFd,
    host: String,
    ifname: String,
    stop: &AtomicBool,
) -> io::Result<Captured> {
    let mut frames = Vec::new();
    let mut buffer = vec![0u8; pcap::SNAPLEN as usize];
    while !stop.load(Ordering::Relaxed) {
        let mut poll = libc::pollfd {
            fd: socket.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut poll, 1, POLL_MS) } < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        drain(&socket, &mut buffer, &mut frames)?;
    }
    drain(&socket, &mut buffer, &mut frames)?;
    Ok(Captured {
        host,
        ifname,
        frames,
        stats: stats(&socket)?,
    })
}

/// An AF_PACKET socket bound to `ifname` in the calling thread's namespace, non-blocking, with
/// nanosecond receive timestamps.
fn open(ifname: &str) -> io::Result<OwnedFd> {
    let name = std::ffi::CString::new(ifname).map_err(|_| io::Error::other("a NUL in the name"))?;
    // SAFETY: a valid C string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no interface {ifname}"),
        ));
    }
    // Protocol 0 receives nothing until bind() names the protocol and the interface, so frames
    // of other interfaces never slip in between.
    // SAFETY: plain socket() call; the fd is owned right after.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by socket() and is owned by nothing else.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    set_int(&socket, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
    // Forcing the size needs CAP_NET_ADMIN, which the harness has; fall back to the allowed size.
    if set_int(
        &socket,
        libc::SOL_SOCKET,
        libc::SO_RCVBUFFORCE,
        RECEIVE_BUFFER,
    )
    .is_err()
    {
        set_int(&socket, libc::SOL_SOCKET, libc::SO_RCVBUF, RECEIVE_BUFFER)?;
    }
    // SAFETY: an all-zero sockaddr_ll is valid; the fields set below make it a bind address.
    let mut addr: libc::sockaddr_ll = unsafe { zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    addr.sll_ifindex = index as i32;
    // SAFETY: addr is a sockaddr_ll of the size given.
    let rc = unsafe {
        libc::bind(
            socket.as_raw_fd(),
            (&addr as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(socket)
}

fn set_int(
    socket: &OwnedFd,
    level: libc::c_int,
    option: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the option value is a c_int of the size given.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            option,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Reads every frame queued on the socket, until it would block.
fn drain(socket: &OwnedFd, buffer: &mut [u8], frames: &mut Vec<Frame>) -> io::Result<()> {
    loop {
        let mut iov = libc::iovec {
            iov_base: buffer.as_mut_ptr().cast(),
            iov_len: buffer.len(),
        };
        let mut control = [0u64; 16];
        // SAFETY: an all-zero msghdr is valid; the pointers set below outlive the call.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = size_of::<[u64; 16]>();
        // SAFETY: msg describes a buffer and a control area that live until the call returns.
        let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, libc::MSG_TRUNC) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock => Ok(()),
                io::ErrorKind::Interrupted => continue,
                _ => Err(e),
            };
        }
        let wire_len = n as usize;
        let kept = wire_len.min(buffer.len());
        frames.push(Frame {
            at: timestamp(&msg).unwrap_or_else(SystemTime::now),
            data: buffer[..kept].to_vec(),
            wire_len: wire_len as u32,
        });
    }
}

/// The `SCM_TIMESTAMPNS` the kernel attached to a received message.
fn timestamp(msg: &libc::msghdr) -> Option<SystemTime> {
    // SAFETY: msg was filled in by recvmsg; the CMSG macros walk its control area within bounds.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
            {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                return Some(
                    SystemTime::UNIX_EPOCH + Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32),
                );
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
    None
}

/// The kernel's counts since the socket was opened (reading them resets them; this is read once).
fn stats(socket: &OwnedFd) -> io::Result<Stats> {
    #[repr(C)]
    #[derive(Default)]
    struct TpacketStats {
        packets: u32,
        drops: u32,
    }
    let mut raw = TpacketStats::default();
    let mut len = size_of::<TpacketStats>() as libc::socklen_t;
    // SAFETY: raw is a tpacket_stats of the size given.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_PACKET,
            PACKET_STATISTICS,
            (&mut raw as *mut TpacketStats).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Stats {
        received: u64::from(raw.packets),
        dropped: u64::from(raw.drops),
    })
}

/// Where the timeline's zero is.
#[derive(Debug, Clone, Copy)]
pub enum Zero {
    /// The first SYN in the recording (the first frame when there is none).
    FirstSyn,
    /// The first frame in the recording.
    FirstFrame,
    /// A marked instant, for example `SystemTime::now()` just before the test acts.
    At(SystemTime),
}

/// Captures on several link ends at once, started together; [`Recording::stop`] ends them all.
pub struct Recording {
    captures: Vec<Capture>,
}

impl Topology {
    /// Starts capturing on every link end of each host in `hosts`.
    pub async fn record(&self, hosts: &[&str]) -> Result<Recording> {
        let mut captures = Vec::new();
        for &name in hosts {
            let host = self.host(name)?;
            for end in self
                .links()
                .iter()
                .flat_map(|l| l.ends())
                .filter(|e| e.host() == name)
            {
                captures.push(host.capture(end.ifname()).await?);
            }
        }
        Ok(Recording { captures })
    }

    /// The host that has address `ip` on one of its links.
    pub fn host_of(&self, ip: std::net::IpAddr) -> Option<&str> {
        self.links()
            .iter()
            .flat_map(|l| l.ends())
            .find(|e| e.addrs().any(|a| a == ip))
            .map(|e| e.host())
    }
}

impl Recording {
    /// Stops every capture and writes one pcap per link end to [`output_dir`]`/<host>-<ifname>.pcap`.
    /// The files stay when the test fails (or with `NETCASE_KEEP=1`), and go when it passes.
    pub async fn stop(self) -> Result<Recorded> {
        let mut captured = Vec::with_capacity(self.captures.len());
        for capture in self.captures {
            captured.push(capture.stop().await?);
        }
        let dir = output_dir();
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let mut files = Vec::with_capacity(captured.len());
        for c in &captured {
            let path = dir.join(format!("{}-{}.pcap", c.host, c.ifname));
            pcap::write(&path, &c.frames)
                .map_err(|e| Error::io("writing a capture", io::Error::other(e)))?;
            files.push(path);
        }
        Ok(Recorded {
            captured,
            files,
            keep: AtomicBool::new(keep_requested()),
        })
    }
}

/// What a [`Recording`] saw, and the pcap files it wrote.
#[derive(Debug)]
pub struct Recorded {
    captured: Vec<Captured>,
    files: Vec<PathBuf>,
    keep: AtomicBool,
}

impl Recorded {
    /// Each capture, in the order they were started.
    pub fn captures(&self) -> &[Captured] {
        &self.captured
    }

    /// The pcap files, one per capture.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Frames the kernel dropped from any of the captures, a count. A lossy capture cannot prove
    /// what was on the wire.
    pub fn dropped(&self) -> u64 {
        self.captured.iter().map(|c| c.stats.dropped).sum()
    }

    /// The first capture on `host` (the host's first link end that was recorded).
    pub fn on(&self, host: &str) -> Result<&Captured> {
        self.captured
            .iter()
            .find(|c| c.host == host)
            .ok_or_else(|| Error::UnknownHost {
                name: host.to_owned(),
                context: "this recording".to_owned(),
                known: self
                    .captured
                    .iter()
                    .map(|c| format!("{}-{}", c.host, c.ifname))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Keeps the pcap files even when the test passes.
    pub fn keep(&self) {
        self.keep.store(true, Ordering::Relaxed);
    }
}

impl Drop for Recorded {
    fn drop(&mut self) {
        if self.keep.load(Ordering::Relaxed) || std::thread::panicking() {
            for file in &self.files {
                eprintln!("netcase: capture kept: {}", file.display());
            }
            return;
        }
        for file in &self.files {
            let _ = std::fs::remove_file(file);
        }
        if let Some(dir) = self.files.first().and_then(|f| f.parent()) {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

fn keep_requested() -> bool {
    std::env::var("NETCASE_KEEP").is_ok_and(|v| v == "1")
}

/// Where the current test's files go: `target/netcase/<test name>/`.
///
/// The test name is the name of the thread running it (libtest and nextest name it after the
/// test, `::` becoming `.`); `target` is the directory cargo built the test into
/// (`CARGO_TARGET_DIR`, else the `target` above the test binary), or `NETCASE_OUT` when set.
pub fn output_dir() -> PathBuf {
    let thread = std::thread::current();
    let test = thread
        .name()
        .filter(|n| *n != "main")
        .unwrap_or("unnamed")
        .replace("::", ".");
    let base = std::env::var_os("NETCASE_OUT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(|t| Path::new(&t).join("netcase")))
        .or_else(|| {
            let exe = std::env::current_exe().ok()?;
            let target = exe
                .ancestors()
                .find(|a| a.file_name().is_some_and(|n| n == "target"))?;
            Some(target.join("netcase"))
        })
        .unwrap_or_else(|| std::env::temp_dir().join("netcase"));
    base.join(test)
}
