//! Capturing every frame on a link end: an AF_PACKET socket inside the host's namespace, bound to
//! the interface, with the kernel's nanosecond timestamps and its count of frames it had to drop,
//! read through a receive ring (see `ring.rs`) by a thread of its own.
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
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use crate::{
    Topology,
    error::{Error, Result},
    expect::Expectation,
    network::host::Host,
    packets::decode::{self, Flags, Frame, Packet},
    packets::pcap,
    packets::ring::{self, Ring},
};

/// What the kernel counted for a capture socket (`PACKET_STATISTICS`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames the socket received, including the dropped ones, a count.
    pub received: u64,
    /// Frames the kernel dropped because the capture's ring was full, a count.
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
        let at = match zero {
            Zero::At(t) => t,
            Zero::FirstFrame | Zero::FirstSyn => self.first_frame_at(),
        };
        let mut packets = decode::decode(&self.frames, &names, at);
        if let Zero::FirstSyn = zero {
            // Decoded once from the first frame; the SYN's time is then everyone's zero.
            let syn = decode::segments(&packets)
                .find(|s| s.flags.contains(Flags::SYN))
                .map_or(0, |s| s.at_ns);
            for packet in &mut packets {
                match packet {
                    Packet::Tcp(s) => s.at_ns -= syn,
                    Packet::Other(o) => o.at_ns -= syn,
                }
            }
        }
        packets
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
        self.capture_shaped(ifname, ring::FULL).await
    }

    /// [`Host::capture`] with a ring of `shape` (`ring::BACKGROUND` for a capture nobody waits on).
    pub(crate) async fn capture_shaped(&self, ifname: &str, shape: ring::Shape) -> Result<Capture> {
        let (host, name) = (self.name().to_owned(), ifname.to_owned());
        let what = |doing: &str| format!("{doing} a capture on {name} of host {host}");
        let opened = {
            let name = name.clone();
            self.run(move || interface_index(&name).and_then(|index| Ring::open(index, shape)))
                .await?
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

/// On the capture's own thread: copies the ring's blocks until told to stop, then until the
/// kernel has handed over the last, partly filled block.
/// How long a stopping capture waits for the kernel to hand over the frames it counted.
const HANDOVER_LIMIT: Duration = Duration::from_secs(2);

fn read_until_stopped(
    mut ring: Ring,
    host: String,
    ifname: String,
    stop: &AtomicBool,
) -> io::Result<Captured> {
    let mut blocks = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        ring.take(ring.retire_ms(), &mut blocks)?;
    }
    // Every frame the kernel took before the stop must be read. It hands a partly filled block
    // over when the block's retire timer fires, RETIRE_MS after its first frame, and a loaded
    // machine runs that timer late (a quiet period of a few RETIRE_MS once lost the last two
    // frames of an exchange): so count what it took (PACKET_STATISTICS, reset by each read) and
    // wait for the blocks that hold them.
    let (mut received, mut dropped) = ring.stats()?;
    let deadline = Instant::now() + HANDOVER_LIMIT;
    while ring::frame_count(&blocks) < received.saturating_sub(dropped) {
        if Instant::now() >= deadline {
            return Err(io::Error::other(format!(
                "the capture on {host} {ifname} took {} frames but handed over only {} within {HANDOVER_LIMIT:?}",
                received - dropped,
                ring::frame_count(&blocks)
            )));
        }
        ring.take(ring.retire_ms(), &mut blocks)?;
    }
    // Frames that arrived since the count: whatever comes within three retire periods.
    let quiet = 3 * ring.retire_ms();
    while ring.take(quiet, &mut blocks)? > 0 {}
    let (late, late_dropped) = ring.stats()?;
    received += late;
    dropped += late_dropped;
    Ok(Captured {
        host,
        ifname,
        frames: ring::frames(&blocks),
        stats: Stats { received, dropped },
    })
}

/// The index of interface `ifname` in the calling thread's namespace.
fn interface_index(ifname: &str) -> io::Result<u32> {
    let name = std::ffi::CString::new(ifname).map_err(|_| io::Error::other("a NUL in the name"))?;
    // SAFETY: a valid C string.
    match unsafe { libc::if_nametoindex(name.as_ptr()) } {
        0 => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no interface {ifname}"),
        )),
        index => Ok(index),
    }
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
        self.record_shaped(hosts, ring::FULL).await
    }

    /// [`Topology::record`] with rings of `shape`.
    pub(crate) async fn record_shaped(
        &self,
        hosts: &[&str],
        shape: ring::Shape,
    ) -> Result<Recording> {
        let mut captures = Vec::new();
        for &name in hosts {
            let host = self.host(name)?;
            for end in self
                .links()
                .iter()
                .flat_map(|l| l.ends())
                .filter(|e| e.host() == name)
            {
                captures.push(host.capture_shaped(end.ifname(), shape).await?);
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
        Ok(&self.captured[self.index_of(host)?])
    }

    /// The index of the first capture on `host`, in `captured` and in `files`.
    fn index_of(&self, host: &str) -> Result<usize> {
        self.captured
            .iter()
            .position(|c| c.host == host)
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

    /// Checks the capture on `host` against `expectation`, with times from its first SYN.
    ///
    /// A capture that lost frames fails with [`Error::LossyCapture`] before anything is compared;
    /// a mismatch fails with [`Error::Expectation`], whose report names the pcap. Either way the
    /// pcap files are kept.
    pub fn check(&self, net: &Topology, host: &str, expectation: &Expectation) -> Result<()> {
        let index = self.index_of(host)?;
        let (captured, pcap) = (&self.captured[index], &self.files[index]);
        if let Err(e) = complete(captured, pcap) {
            self.keep();
            return Err(e);
        }
        let packets = captured.packets(net, Zero::FirstSyn);
        // Under emulation every timestamp may be late by the emulation's allowance (a guest's
        // vCPU waits for the host: a RST was seen 23 ms after its SYN in a 6.12 guest under TCG,
        // against a file's 20 ms); on real hardware the file's tolerance stands as written.
        let emulation = crate::kernel().map_or(Duration::ZERO, |k| k.emulation());
        let widened;
        let expectation = if emulation.is_zero() {
            expectation
        } else {
            widened = expectation.widened_by(emulation);
            &widened
        };
        let result = expectation
            .check(decode::segments(&packets))
            .map_err(|mismatch| {
                self.keep();
                Error::Expectation(mismatch.with_pcap(pcap).with_loss(format!(
                    "{} frames dropped by the kernel",
                    captured.stats.dropped
                )))
            });
        if self.keep.load(Ordering::Relaxed) {
            write_check(pcap, host, expectation, &result);
        }
        result
    }

    /// Keeps the pcap files even when the test passes.
    pub fn keep(&self) {
        self.keep.store(true, Ordering::Relaxed);
    }
}

/// Leaves `check-<host>.txt` next to the pcap: the expectation (its file's text when it came
/// from one) and the result, side by side on a mismatch. Best effort: a report, not a verdict.
fn write_check(pcap: &Path, host: &str, expectation: &Expectation, result: &Result<()>) {
    let Some(dir) = pcap.parent() else { return };
    let source = expectation.source();
    let text = std::fs::read_to_string(source)
        .unwrap_or_else(|_| format!("({} lines built in Rust)\n", expectation.lines().len()));
    let verdict = match result {
        Ok(()) => "every line matched".to_owned(),
        Err(e) => e.to_string(),
    };
    let report = format!(
        "expectation: {source}\ncapture: {}\n\n{text}\n---- result\n{verdict}\n",
        pcap.display()
    );
    let path = dir.join(format!("check-{host}.txt"));
    let _ = std::fs::write(path, report);
}

/// Fails when the kernel dropped frames from the capture: it cannot prove what was on the wire.
fn complete(captured: &Captured, pcap: &Path) -> Result<()> {
    if captured.stats.dropped == 0 {
        return Ok(());
    }
    Err(Error::LossyCapture {
        pcap: pcap.display().to_string(),
        dropped: captured.stats.dropped,
        received: captured.stats.received,
    })
}

impl Drop for Recorded {
    fn drop(&mut self) {
        let dir = self.files.first().and_then(|f| f.parent());
        if dir.is_some_and(held) {
            // A runner decides once it knows the verdict: release_output().
            return;
        }
        if self.keep.load(Ordering::Relaxed) || std::thread::panicking() {
            // The netcase command (which sets NETCASE_OUT) lists the files in its report.
            if std::env::var_os("NETCASE_OUT").is_none() {
                for file in &self.files {
                    eprintln!("netcase: capture kept: {}", file.display());
                }
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

/// Output directories whose recordings stay on disk until [`release_output`]: a runner learns a
/// case's verdict only after the case has dropped its recordings, and a failing case must keep
/// its pcaps for the bug report.
static HELD: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

fn held(dir: &Path) -> bool {
    HELD.lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .any(|d| d == dir)
}

/// Keeps every recording made into `dir` (see [`output_dir`]) until [`release_output`].
pub fn hold_output(dir: &Path) {
    HELD.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(dir.to_owned());
}

/// Ends [`hold_output`]: with `keep`, the files stay (and are listed on stderr); without it,
/// unless NETCASE_KEEP=1, the pcaps and check files in `dir` are removed, and `dir` if empty.
pub fn release_output(dir: &Path, keep: bool) {
    {
        // Holds nest (a case's runner inside a #[netcase::test]): the outermost decides.
        let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = held.iter().position(|d| d == dir) {
            held.remove(at);
        }
        if held.iter().any(|d| d == dir) {
            return;
        }
    }
    // What impairments dropped was kept for a bundle; none is written now.
    drop(crate::impair::record::take(dir));
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            name.is_some_and(|n| n.ends_with(".pcap") || n.starts_with("check-"))
        })
        .collect();
    if keep || keep_requested() {
        for file in &files {
            eprintln!("netcase: kept: {}", file.display());
        }
        return;
    }
    for file in &files {
        let _ = std::fs::remove_file(file);
    }
    let _ = std::fs::remove_dir(dir);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lossy_capture_is_refused_with_its_reason() {
        let mut captured = Captured {
            host: "client".to_owned(),
            ifname: "eth0".to_owned(),
            frames: Vec::new(),
            stats: Stats {
                received: 10,
                dropped: 3,
            },
        };
        let err = complete(&captured, Path::new("x/client-eth0.pcap")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "capture x/client-eth0.pcap lost 3 of 10 frames (the kernel's PACKET_STATISTICS): \
             it cannot show what was on the wire; nothing was checked"
        );
        captured.stats.dropped = 0;
        assert!(complete(&captured, Path::new("x")).is_ok());
    }
}
