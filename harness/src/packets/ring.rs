//! A TPACKET_V3 receive ring: the kernel writes captured frames into blocks of memory shared with
//! the process, and hands a block over when it is full or `RETIRE_MS` after its first frame. The
//! reader copies whole blocks out, one copy and no system call per frame, and splits them into
//! frames only when the capture stops: the reader keeps up with a link at full speed.

use std::{
    io,
    mem::{size_of, zeroed},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    ptr::NonNull,
    sync::atomic::{Ordering, fence},
    time::{Duration, SystemTime},
};

use crate::packets::decode::Frame;

/// The size of one block of the ring, in octets (a multiple of the page size).
const BLOCK_SIZE: u32 = 1 << 20;
/// How big a ring is and how soon the kernel hands a block over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    /// The number of blocks.
    pub block_nr: u32,
    /// How long the kernel waits before it hands over a block that is not full, in
    /// milliseconds; the reader polls as often.
    pub retire_ms: u32,
}

/// A test's own captures: 32 MiB (a quarter of a second of a 1 Gbit/s link), handed over within
/// `RETIRE_MS`, so that a wait for a frame to be seen ends soon after it was.
pub(crate) const FULL: Shape = Shape {
    block_nr: 32,
    retire_ms: RETIRE_MS,
};

/// A capture nobody waits on (the whole topology, kept for a bug report): 8 MiB and 20 ms. Many
/// of them at once (one per link end of every test running) cost a tenth of the memory and of
/// the wake-ups; 2 ms rings on every link end of 16 tests at once delayed the tests' own timing
/// by hundreds of milliseconds on two cores.
pub(crate) const BACKGROUND: Shape = Shape {
    block_nr: 8,
    retire_ms: 20,
};
/// The frame size the kernel divides the ring by; in V3 it only bounds the frame count, in octets.
const FRAME_SIZE: u32 = 2048;
/// How long the kernel waits before it hands over a block that is not full, in milliseconds.
const RETIRE_MS: u32 = 2;

// From linux/if_packet.h.
const PACKET_RX_RING: libc::c_int = 5;
const PACKET_STATISTICS: libc::c_int = 6;
const PACKET_VERSION: libc::c_int = 10;
const TPACKET_V3: libc::c_int = 2;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_KERNEL: u32 = 0;
/// Offsets in `struct tpacket_block_desc` (its `tpacket_hdr_v1` starts at 8).
const BLOCK_STATUS: usize = 8;
const BLOCK_NUM_PKTS: usize = 12;
const BLOCK_FIRST_PKT: usize = 16;
const BLOCK_LEN: usize = 20;
/// Offsets in `struct tpacket3_hdr`.
const PKT_NEXT: usize = 0;
const PKT_SEC: usize = 4;
const PKT_NSEC: usize = 8;
const PKT_SNAPLEN: usize = 12;
const PKT_LEN: usize = 16;
const PKT_MAC: usize = 24;

#[repr(C)]
struct TpacketReq3 {
    block_size: u32,
    block_nr: u32,
    frame_size: u32,
    frame_nr: u32,
    retire_blk_tov: u32,
    sizeof_priv: u32,
    feature_req_word: u32,
}

/// An AF_PACKET socket with a receive ring mapped into the process.
pub(crate) struct Ring {
    socket: OwnedFd,
    map: NonNull<u8>,
    next: u32,
    shape: Shape,
}

// SAFETY: the mapping belongs to the Ring alone and is only touched through `&mut self`; the
// kernel's side of it is synchronised through the block status word.
unsafe impl Send for Ring {}

impl Ring {
    /// A ring on interface `index` of the calling thread's namespace, capturing both directions.
    pub(crate) fn open(index: u32, shape: Shape) -> io::Result<Ring> {
        let Shape {
            block_nr,
            retire_ms,
        } = shape;
        // Protocol 0 receives nothing until bind() names the protocol and the interface, so frames
        // of other interfaces never slip in, and none lands outside the ring.
        // SAFETY: plain socket() call; the fd is owned right after.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd was just returned by socket() and is owned by nothing else.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };
        setsockopt(&socket, PACKET_VERSION, &TPACKET_V3)?;
        let request = TpacketReq3 {
            block_size: BLOCK_SIZE,
            block_nr,
            frame_size: FRAME_SIZE,
            frame_nr: BLOCK_SIZE / FRAME_SIZE * block_nr,
            retire_blk_tov: retire_ms,
            sizeof_priv: 0,
            feature_req_word: 0,
        };
        setsockopt(&socket, PACKET_RX_RING, &request)?;
        // SAFETY: maps the ring the kernel just allocated for this socket, at its full length.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                (BLOCK_SIZE * block_nr) as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                socket.as_raw_fd(),
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ring = Ring {
            socket,
            map: NonNull::new(map.cast()).ok_or_else(|| io::Error::other("mmap returned null"))?,
            next: 0,
            shape,
        };
        // SAFETY: an all-zero sockaddr_ll is valid; the fields set below make it a bind address.
        let mut addr: libc::sockaddr_ll = unsafe { zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        addr.sll_ifindex = index as i32;
        // SAFETY: addr is a sockaddr_ll of the size given.
        let rc = unsafe {
            libc::bind(
                ring.socket.as_raw_fd(),
                (&addr as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ring)
    }

    /// Waits up to `wait_ms` for the kernel to hand over blocks, and appends a copy of each to
    /// `blocks`, returning the blocks to the kernel. Returns how many it took.
    pub(crate) fn take(&mut self, wait_ms: i32, blocks: &mut Vec<Vec<u8>>) -> io::Result<usize> {
        let mut taken = 0;
        loop {
            let block = self.block(self.next);
            // SAFETY: the status word lies inside the block; the kernel writes it concurrently,
            // hence the volatile read and the fence before the block's contents are read.
            let status = unsafe { block.add(BLOCK_STATUS).cast::<u32>().read_volatile() };
            if status & TP_STATUS_USER == 0 {
                if taken > 0 || wait_ms == 0 {
                    return Ok(taken);
                }
                let mut poll = libc::pollfd {
                    fd: self.socket.as_raw_fd(),
                    events: libc::POLLIN | libc::POLLERR,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                if unsafe { libc::poll(&mut poll, 1, wait_ms) } < 0 {
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::Interrupted {
                        return Err(e);
                    }
                }
                let status = unsafe { block.add(BLOCK_STATUS).cast::<u32>().read_volatile() };
                if status & TP_STATUS_USER == 0 {
                    return Ok(0);
                }
            }
            fence(Ordering::Acquire);
            // SAFETY: the block is ours until its status goes back to the kernel; blk_len is
            // bounded by the block size, which is checked before copying.
            unsafe {
                let len =
                    (block.add(BLOCK_LEN).cast::<u32>().read() as usize).min(BLOCK_SIZE as usize);
                blocks.push(std::slice::from_raw_parts(block, len).to_vec());
                fence(Ordering::Release);
                block
                    .add(BLOCK_STATUS)
                    .cast::<u32>()
                    .write_volatile(TP_STATUS_KERNEL);
            }
            self.next = (self.next + 1) % self.shape.block_nr;
            taken += 1;
        }
    }

    fn block(&self, n: u32) -> *mut u8 {
        // SAFETY: n < block_nr, so the offset stays inside the mapping.
        unsafe { self.map.as_ptr().add((n * BLOCK_SIZE) as usize) }
    }

    /// How long the kernel may keep a block that is not full, in milliseconds.
    pub(crate) fn retire_ms(&self) -> i32 {
        self.shape.retire_ms as i32
    }

    /// What the kernel counted since the ring was opened: frames received and frames dropped
    /// because the ring was full (reading the counts resets them).
    pub(crate) fn stats(&self) -> io::Result<(u64, u64)> {
        let mut raw = [0u32; 3];
        let mut len = size_of::<[u32; 3]>() as libc::socklen_t;
        // SAFETY: raw is a tpacket_stats_v3 of the size given.
        let rc = unsafe {
            libc::getsockopt(
                self.socket.as_raw_fd(),
                libc::SOL_PACKET,
                PACKET_STATISTICS,
                raw.as_mut_ptr().cast(),
                &mut len,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((u64::from(raw[0]), u64::from(raw[1])))
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what open() mapped; nothing refers to it any more.
        let len = (BLOCK_SIZE * self.shape.block_nr) as usize;
        unsafe { libc::munmap(self.map.as_ptr().cast(), len) };
    }
}

fn setsockopt<T>(socket: &OwnedFd, option: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: value is a plain C value of the size given.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_PACKET,
            option,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Splits copied blocks into frames. A block that does not hold what its header says is cut
/// short at the first frame that would reach past it: no read leaves the block.
/// How many frames `blocks` hold, from their headers.
pub(crate) fn frame_count(blocks: &[Vec<u8>]) -> u64 {
    blocks
        .iter()
        .filter_map(|b| b.get(BLOCK_NUM_PKTS..BLOCK_NUM_PKTS + 4))
        .map(|n| u64::from(u32::from_ne_bytes(n.try_into().unwrap_or_default())))
        .sum()
}

pub(crate) fn frames(blocks: &[Vec<u8>]) -> Vec<Frame> {
    let mut frames = Vec::new();
    for block in blocks {
        let u32_at = |at: usize| -> Option<u32> {
            Some(u32::from_ne_bytes(
                block.get(at..at.checked_add(4)?)?.try_into().ok()?,
            ))
        };
        let u16_at = |at: usize| -> Option<u16> {
            Some(u16::from_ne_bytes(
                block.get(at..at.checked_add(2)?)?.try_into().ok()?,
            ))
        };
        let (Some(count), Some(first)) = (u32_at(BLOCK_NUM_PKTS), u32_at(BLOCK_FIRST_PKT)) else {
            continue;
        };
        let mut at = first as usize;
        for _ in 0..count {
            let fields = (
                u32_at(at + PKT_NEXT),
                u32_at(at + PKT_SEC),
                u32_at(at + PKT_NSEC),
                u32_at(at + PKT_SNAPLEN),
                u32_at(at + PKT_LEN),
                u16_at(at + PKT_MAC),
            );
            let (Some(next), Some(sec), Some(nsec), Some(snaplen), Some(wire_len), Some(mac)) =
                fields
            else {
                break;
            };
            let start = at + mac as usize;
            let Some(data) = block.get(start..start + snaplen as usize) else {
                break;
            };
            frames.push(Frame {
                at: SystemTime::UNIX_EPOCH + Duration::new(u64::from(sec), nsec.min(999_999_999)),
                data: data.to_vec(),
                wire_len,
            });
            if next == 0 {
                break;
            }
            at += next as usize;
        }
    }
    frames
}
