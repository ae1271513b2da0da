//! A cpio archive in the "newc" format (`070701`), the format the kernel unpacks an initramfs
//! from: a 110-byte ASCII header per entry, its name and its data, each padded to 4 bytes, and a
//! `TRAILER!!!` entry at the end.

use std::collections::BTreeSet;

const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFCHR: u32 = 0o020_000;

/// An archive being written; parent directories are added on first use.
#[derive(Default)]
pub struct Archive {
    bytes: Vec<u8>,
    inode: u32,
    names: BTreeSet<String>,
}

impl Archive {
    /// An empty archive.
    pub fn new() -> Archive {
        Archive::default()
    }

    /// Adds the directory `path` (relative, `a/b`), and its parents.
    pub fn dir(&mut self, path: &str) {
        let path = path.trim_matches('/');
        if path.is_empty() || self.names.contains(path) {
            return;
        }
        self.parents(path);
        self.entry(path, S_IFDIR | 0o755, 0, 0, b"");
    }

    /// Adds a regular file with permission bits `mode` (for example `0o755`).
    pub fn file(&mut self, path: &str, mode: u32, data: &[u8]) {
        let path = path.trim_matches('/');
        self.parents(path);
        self.entry(path, S_IFREG | (mode & 0o7777), 0, 0, data);
    }

    /// Adds a symbolic link at `path` pointing to `target`.
    pub fn symlink(&mut self, path: &str, target: &str) {
        let path = path.trim_matches('/');
        self.parents(path);
        self.entry(path, S_IFLNK | 0o777, 0, 0, target.as_bytes());
    }

    /// Adds a character device node (`major`, `minor`), read-write for its owner.
    pub fn char_device(&mut self, path: &str, major: u32, minor: u32) {
        let path = path.trim_matches('/');
        self.parents(path);
        self.entry(path, S_IFCHR | 0o600, major, minor, b"");
    }

    /// Whether `path` was added.
    pub fn contains(&self, path: &str) -> bool {
        self.names.contains(path.trim_matches('/'))
    }

    /// Ends the archive with its trailer and returns its bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, 0, 0, b"");
        self.bytes
    }

    fn parents(&mut self, path: &str) {
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir(parent);
        }
    }

    fn entry(&mut self, name: &str, mode: u32, rdev_major: u32, rdev_minor: u32, data: &[u8]) {
        self.inode += 1;
        self.names.insert(name.to_owned());
        let nlink = if mode & S_IFDIR == S_IFDIR { 2 } else { 1 };
        let fields = [
            self.inode,
            mode,
            0, // uid
            0, // gid
            nlink,
            0, // mtime: reproducible archives
            u32::try_from(data.len()).expect("an initramfs file under 4 GiB"),
            0, // devmajor
            0, // devminor
            rdev_major,
            rdev_minor,
            u32::try_from(name.len() + 1).expect("a short name"),
            0, // check
        ];
        self.bytes.extend_from_slice(b"070701");
        for field in fields {
            self.bytes
                .extend_from_slice(format!("{field:08X}").as_bytes());
        }
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.push(0);
        self.pad();
        self.bytes.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while self.bytes.len() % 4 != 0 {
            self.bytes.push(0);
        }
    }
}

/// One entry read back from an archive.
#[cfg(test)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its path.
    pub name: String,
    /// Type and permission bits.
    pub mode: u32,
    /// The device numbers of a device node.
    pub rdev: (u32, u32),
    /// Its contents (a link's target for a symbolic link).
    pub data: Vec<u8>,
}

#[cfg(test)]
impl Entry {
    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        self.mode & 0o170_000 == S_IFDIR
    }

    /// Whether it is a symbolic link.
    pub fn is_symlink(&self) -> bool {
        self.mode & 0o170_000 == S_IFLNK
    }
}

/// Reads a newc archive (up to its trailer), for tests.
#[cfg(test)]
pub fn parse(bytes: &[u8]) -> Result<Vec<Entry>, String> {
    let mut at = 0;
    let mut entries = Vec::new();
    let align = |n: usize| n.div_ceil(4) * 4;
    loop {
        let header = bytes
            .get(at..at + 110)
            .ok_or_else(|| format!("a header cut short at byte {at}"))?;
        if &header[..6] != b"070701" {
            return Err(format!("no newc magic at byte {at}"));
        }
        let field = |i: usize| -> Result<u32, String> {
            let text = std::str::from_utf8(&header[6 + 8 * i..14 + 8 * i])
                .map_err(|_| format!("a non-ASCII header field at byte {at}"))?;
            u32::from_str_radix(text, 16).map_err(|_| format!("a bad header field {text:?}"))
        };
        let (mode, size, namesize) = (field(1)?, field(6)? as usize, field(11)? as usize);
        let rdev = (field(9)?, field(10)?);
        let name_start = at + 110;
        let name = bytes
            .get(name_start..name_start + namesize.saturating_sub(1))
            .ok_or("a name cut short")?;
        let name = String::from_utf8_lossy(name).into_owned();
        let data_start = align(name_start + namesize);
        let data = bytes
            .get(data_start..data_start + size)
            .ok_or_else(|| format!("the data of {name} cut short"))?
            .to_vec();
        at = align(data_start + size);
        if name == "TRAILER!!!" {
            return Ok(entries);
        }
        entries.push(Entry {
            name,
            mode,
            rdev,
            data,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut a = Archive::new();
        a.file("bin/busybox", 0o755, b"\x7fELF...");
        a.symlink("bin/sh", "busybox");
        a.char_device("dev/console", 5, 1);
        a.file("init", 0o755, b"#!/bin/sh\n");
        a.dir("proc");
        a.dir("proc");
        a.finish()
    }

    #[test]
    fn an_archive_reads_back_with_its_parents_and_types() {
        let entries = parse(&sample()).unwrap();
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "bin",
                "bin/busybox",
                "bin/sh",
                "dev",
                "dev/console",
                "init",
                "proc"
            ]
        );
        assert!(entries[0].is_dir());
        assert_eq!(entries[1].data, b"\x7fELF...");
        assert_eq!(entries[1].mode, 0o100_755);
        assert!(entries[2].is_symlink());
        assert_eq!(entries[2].data, b"busybox");
        assert_eq!(entries[4].rdev, (5, 1));
    }

    #[test]
    fn every_entry_starts_on_a_four_byte_boundary() {
        let bytes = sample();
        assert_eq!(bytes.len() % 4, 0);
        let mut at = 0;
        let mut count = 0;
        while let Some(i) = bytes[at..].windows(6).position(|w| w == b"070701") {
            assert_eq!((at + i) % 4, 0);
            at += i + 6;
            count += 1;
        }
        assert_eq!(count, 8, "seven entries and the trailer");
    }

    #[test]
    fn a_cut_archive_is_an_error_not_a_panic() {
        let bytes = sample();
        assert!(parse(&bytes[..bytes.len() - 40]).is_err());
        assert!(parse(b"garbage").is_err());
    }

    /// GNU cpio lists the archive as written (a SKIP line without cpio; `.ci/run` installs it).
    #[test]
    fn gnu_cpio_lists_the_archive() {
        let Some(cpio) = crate::privileges::program("cpio", "cpio") else {
            return;
        };
        let Ok(mut child) = crate::fork::spawn(
            std::process::Command::new(cpio)
                .args(["-t", "--quiet"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped()),
        ) else {
            panic!("cpio is installed but could not be started");
        };
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&sample()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let listed = String::from_utf8_lossy(&out.stdout);
        let listed: Vec<&str> = listed.lines().collect();
        assert_eq!(
            listed,
            [
                "bin",
                "bin/busybox",
                "bin/sh",
                "dev",
                "dev/console",
                "init",
                "proc"
            ]
        );
    }
}
