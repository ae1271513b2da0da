//! Classic pcap files: written with pcap-file (nanosecond timestamps, Ethernet link type), which
//! Wireshark, tshark and tcpdump open as they are; read back by a small reader of our own that
//! refuses bad input with a message instead of panicking or allocating what a header claims.

use std::{
    borrow::Cow,
    fs::File,
    io::{BufWriter, Write},
    path::Path,
    time::{Duration, SystemTime},
};

use pcap_file::{
    DataLink, Endianness, TsResolution,
    pcap::{PcapHeader, PcapPacket, PcapWriter},
};

use crate::packets::decode::Frame;

/// The link type of every file netcase writes and reads: Ethernet (LINKTYPE_ETHERNET).
const LINKTYPE_ETHERNET: u32 = 1;
/// The most octets of one frame a file may hold: a 64 KiB IP packet with its Ethernet header.
pub const SNAPLEN: u32 = 65_535 + 14;

/// What is wrong with a pcap file, and where.
#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a pcap file netcase can read.
    #[error("{path}: {what}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong, with the byte offset where it is.
        what: String,
    },
}

/// Writes `frames` to `path` as a classic pcap file with nanosecond timestamps.
pub fn write(path: &Path, frames: &[Frame]) -> Result<(), PcapError> {
    let io = |source| PcapError::Io {
        path: path.display().to_string(),
        source,
    };
    let format = |e: pcap_file::PcapError| PcapError::Format {
        path: path.display().to_string(),
        what: e.to_string(),
    };
    let file = File::create(path).map_err(io)?;
    let header = PcapHeader {
        version_major: 2,
        version_minor: 4,
        ts_correction: 0,
        ts_accuracy: 0,
        snaplen: SNAPLEN,
        datalink: DataLink::ETHERNET,
        ts_resolution: TsResolution::NanoSecond,
        endianness: Endianness::native(),
    };
    let mut writer = PcapWriter::with_header(BufWriter::new(file), header).map_err(format)?;
    for frame in frames {
        let packet = PcapPacket {
            timestamp: frame
                .at
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default(),
            orig_len: frame.wire_len,
            data: Cow::Borrowed(&frame.data),
        };
        writer.write_packet(&packet).map_err(format)?;
    }
    writer.into_writer().flush().map_err(io)
}

/// Reads a classic pcap file of Ethernet frames (either byte order, micro- or nanosecond
/// timestamps).
pub fn read(path: &Path) -> Result<Vec<Frame>, PcapError> {
    let bytes = std::fs::read(path).map_err(|source| PcapError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse(&bytes).map_err(|what| PcapError::Format {
        path: path.display().to_string(),
        what,
    })
}

/// Parses the bytes of a classic pcap file; the error says what is wrong and at which offset.
pub fn parse(bytes: &[u8]) -> Result<Vec<Frame>, String> {
    let magic = bytes
        .get(..4)
        .ok_or("truncated: shorter than the 4-octet magic number")?;
    let (little, nanos) = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => (true, false),
        [0xa1, 0xb2, 0xc3, 0xd4] => (false, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => (true, true),
        [0xa1, 0xb2, 0x3c, 0x4d] => (false, true),
        [0x0a, 0x0d, 0x0d, 0x0a] => {
            return Err(
                "this is pcapng; netcase reads classic pcap (editcap -F pcap converts it)".into(),
            );
        }
        other => {
            return Err(format!(
                "not a pcap file: magic number {other:02x?} at offset 0"
            ));
        }
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let linktype = u32_at(20).ok_or("truncated: the 24-octet file header is incomplete")?;
    if linktype & 0x0fff_ffff != LINKTYPE_ETHERNET {
        return Err(format!(
            "link type {linktype} at offset 20: netcase reads Ethernet captures (link type {LINKTYPE_ETHERNET})"
        ));
    }
    let mut frames = Vec::new();
    let mut at = 24usize;
    while at < bytes.len() {
        let field = |n: usize| u32_at(at + 4 * n);
        let (Some(secs), Some(frac), Some(captured), Some(wire_len)) =
            (field(0), field(1), field(2), field(3))
        else {
            return Err(format!(
                "truncated: record header at offset {at} is incomplete"
            ));
        };
        if captured > SNAPLEN {
            return Err(format!(
                "record at offset {at} claims {captured} captured octets, more than any frame ({SNAPLEN})"
            ));
        }
        let start = at + 16;
        let data = bytes.get(start..start + captured as usize).ok_or_else(|| {
            format!(
                "truncated: record at offset {at} needs {captured} octets, {} remain",
                bytes.len().saturating_sub(start)
            )
        })?;
        let frac = if nanos {
            u64::from(frac)
        } else {
            u64::from(frac) * 1000
        };
        if frac >= 1_000_000_000 {
            return Err(format!(
                "record at offset {at}: fraction of a second {frac} ns is not below 1 s"
            ));
        }
        frames.push(Frame {
            at: SystemTime::UNIX_EPOCH
                + Duration::from_secs(u64::from(secs))
                + Duration::from_nanos(frac),
            data: data.to_vec(),
            wire_len,
        });
        at = start + captured as usize;
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames() -> Vec<Frame> {
        (0..3u8)
            .map(|i| Frame {
                at: SystemTime::UNIX_EPOCH
                    + Duration::new(1_700_000_000, 123_456_789 + u32::from(i)),
                data: vec![i; 60 + usize::from(i)],
                wire_len: 60 + u32::from(i),
            })
            .collect()
    }

    fn written() -> Vec<u8> {
        // Tests run in parallel: each call writes in a directory of its own.
        static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("netcase-pcap-{}-{call}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.pcap");
        write(&path, &frames()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        bytes
    }

    #[test]
    fn round_trip_keeps_nanoseconds() {
        assert_eq!(parse(&written()).unwrap(), frames());
    }

    #[test]
    fn bad_files_say_what_and_where() {
        let good = written();
        let mut pcapng = good.clone();
        pcapng[..4].copy_from_slice(&[0x0a, 0x0d, 0x0d, 0x0a]);
        let mut linux_sll = good.clone();
        linux_sll[20] = 113;
        let mut huge = good.clone();
        huge[24 + 8..24 + 12].copy_from_slice(&u32::MAX.to_le_bytes());
        let cases: [(&[u8], &str); 6] = [
            (&[], "shorter than the 4-octet magic"),
            (&good[..10], "file header is incomplete"),
            (&good[..good.len() - 1], "needs 62 octets, 61 remain"),
            (&pcapng, "this is pcapng"),
            (&linux_sll, "link type 113 at offset 20"),
            (&huge, "claims 4294967295 captured octets"),
        ];
        for (bytes, expected) in cases {
            let err = parse(bytes).unwrap_err();
            assert!(err.contains(expected), "expected {expected:?} in {err:?}");
        }
        assert!(
            parse(b"GIF89a..............................")
                .unwrap_err()
                .contains("not a pcap file")
        );
    }

    /// No input makes the reader panic: random bytes and random damage to a good file.
    #[test]
    fn the_reader_never_panics() {
        let good = written();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..20_000 {
            let mut bytes = if round % 2 == 0 {
                good.clone()
            } else {
                vec![0; (next() % 200) as usize]
            };
            for _ in 0..(next() % 8) {
                if bytes.is_empty() {
                    break;
                }
                let at = (next() as usize) % bytes.len();
                bytes[at] = next() as u8;
            }
            let cut = (next() as usize) % (bytes.len() + 1);
            bytes.truncate(cut.max(bytes.len() / 2));
            let _ = parse(&bytes);
        }
    }
}
