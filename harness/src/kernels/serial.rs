//! The result protocol over the guest's serial console (ttyS0, which is also its kernel console
//! and the standard output of its programs).
//!
//! Every line of the protocol starts with `@@netcase <nonce> `, where the nonce is chosen by the
//! host for this boot and given on the kernel command line: no other output (kernel messages,
//! the cases' progress lines, a previous boot) can be taken for it. Lines without it are kept in
//! the console log and otherwise ignored.
//!
//! ```text
//! @@netcase <nonce> begin <uptime seconds>          the guest's /init is running
//! @@netcase <nonce> file <length> <fnv64 hex> <path> a file follows ...
//! @@netcase <nonce> data <base64>                    ... as base64 lines of at most 76 characters
//! @@netcase <nonce> done                             ... and is complete
//! @@netcase <nonce> end <exit status>                the run finished with this status
//! ```
//!
//! A file whose length or checksum does not match (a kernel message written into the middle of
//! a line, a lost byte) is reported as garbled, by name. The host's verdict on a boot is one of
//! [`Finished`] or a [`StreamError`]: the kernel panicked, the stream stopped before its end,
//! or the deadline passed.

use std::{
    fmt::Write as _,
    io::Write,
    path::Path,
    sync::mpsc,
    time::{Duration, Instant},
};

/// The prefix of every protocol line, before the nonce.
pub const PREFIX: &str = "@@netcase";

/// The longest base64 text on one `data` line, in characters.
const LINE: usize = 76;

/// FNV-1a, 64 bits, of `bytes`: the per-file checksum (a check against damage, not tampering).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 with padding; `None` for anything else.
pub fn unbase64(text: &str) -> Option<Vec<u8>> {
    let text = text.as_bytes();
    if text.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    for (index, chunk) in text.chunks(4).enumerate() {
        let last = index == text.len() / 4 - 1;
        let pads = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pads > 2 || (pads > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pads] {
            let v = ALPHABET.iter().position(|&a| a == c)? as u32;
            n = (n << 6) | v;
        }
        n <<= 6 * pads as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pads]);
    }
    Some(out)
}

/// Writes every file under `dir` (paths relative to it, sorted) and the end marker with
/// `status` to `out`, as the guest does after its run.
pub fn send(out: &mut dyn Write, nonce: &str, dir: &Path, status: i32) -> std::io::Result<()> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    for path in files {
        let name = path.strip_prefix(dir).unwrap_or(&path).to_string_lossy();
        let bytes = std::fs::read(&path)?;
        out.write_all(file_lines(nonce, &name, &bytes).as_bytes())?;
        out.flush()?;
    }
    writeln!(out, "{PREFIX} {nonce} end {status}")?;
    out.flush()
}

/// The protocol lines that carry one file.
pub fn file_lines(nonce: &str, name: &str, bytes: &[u8]) -> String {
    let mut text = format!(
        "{PREFIX} {nonce} file {} {:016x} {name}\n",
        bytes.len(),
        fnv1a(bytes)
    );
    let encoded = base64(bytes);
    for chunk in encoded.as_bytes().chunks(LINE) {
        let _ = writeln!(
            text,
            "{PREFIX} {nonce} data {}",
            String::from_utf8_lossy(chunk)
        );
    }
    let _ = writeln!(text, "{PREFIX} {nonce} done");
    text
}

/// A file received whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Its path, relative to the guest's output directory.
    pub name: String,
    /// Its contents.
    pub bytes: Vec<u8>,
}

/// A file that arrived damaged: its name and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Garbled {
    /// Its path, or `?` when the damage hit its header.
    pub name: String,
    /// What was wrong.
    pub why: String,
}

/// A guest run that reached its end marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// The exit status of `netcase run` in the guest.
    pub status: i32,
    /// The files received whole.
    pub files: Vec<Received>,
    /// The files that arrived damaged.
    pub garbled: Vec<Garbled>,
}

/// Why a guest's stream has no end marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamError {
    /// The kernel panicked; the panic line.
    Panic(String),
    /// The console closed (qemu exited) before the end marker; the last protocol step seen.
    Truncated(String),
    /// Nothing ended the stream within the deadline; the last protocol step seen.
    Hung(Duration, String),
    /// The guest never said `begin` within the boot deadline (a kernel that does not boot, or
    /// an accelerator that does not work).
    NoBoot(Duration),
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamError::Panic(line) => write!(f, "the guest kernel panicked: {line}"),
            StreamError::Truncated(last) => {
                write!(
                    f,
                    "the guest's console closed before its end marker (last: {last})"
                )
            }
            StreamError::Hung(after, last) => write!(
                f,
                "the guest did not finish within {:.0} s and was stopped (last: {last})",
                after.as_secs_f64()
            ),
            StreamError::NoBoot(after) => write!(
                f,
                "the guest did not reach its /init within {:.0} s",
                after.as_secs_f64()
            ),
        }
    }
}

/// What one console line meant.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Not a protocol line.
    Other,
    /// `begin`, with the guest's uptime in seconds.
    Begin(f64),
    /// A file header, data or its end.
    File,
    /// The stream ended.
    End(Result<Finished, StreamError>),
}

struct Partial {
    name: String,
    length: usize,
    checksum: u64,
    text: String,
    damaged: Option<String>,
}

/// Reads a console stream line by line.
pub struct Parser {
    marker: String,
    current: Option<Partial>,
    files: Vec<Received>,
    garbled: Vec<Garbled>,
    last: String,
}

impl Parser {
    /// A parser for the boot whose nonce is `nonce`.
    pub fn new(nonce: &str) -> Parser {
        Parser {
            marker: format!("{PREFIX} {nonce} "),
            current: None,
            files: Vec::new(),
            garbled: Vec::new(),
            last: "nothing".to_owned(),
        }
    }

    /// The last protocol step seen, for messages.
    pub fn last(&self) -> &str {
        &self.last
    }

    /// Reads one console line (without its line end).
    pub fn feed(&mut self, line: &str) -> Step {
        let line = line.trim_end_matches(['\r', '\n']);
        if line.contains("Kernel panic - not syncing") {
            let at = line.find("Kernel panic").unwrap_or(0);
            return Step::End(Err(StreamError::Panic(line[at..].to_owned())));
        }
        // The marker may follow other output on the same line (escape sequences from the
        // firmware, a message without its line end).
        let Some(at) = line.find(&self.marker) else {
            return Step::Other;
        };
        let rest = &line[at + self.marker.len()..];
        let (verb, args) = rest.split_once(' ').unwrap_or((rest, ""));
        match verb {
            "begin" => {
                self.last = "begin".to_owned();
                Step::Begin(args.trim().parse().unwrap_or(0.0))
            }
            "file" => {
                self.close_damaged("a new file began before it was done");
                let mut fields = args.splitn(3, ' ');
                let length = fields.next().and_then(|l| l.parse().ok());
                let checksum = fields.next().and_then(|c| u64::from_str_radix(c, 16).ok());
                let name = fields.next().unwrap_or("").to_owned();
                match (length, checksum) {
                    (Some(length), Some(checksum)) if !name.is_empty() && safe(&name) => {
                        self.last = format!("file {name}");
                        self.current = Some(Partial {
                            name,
                            length,
                            checksum,
                            text: String::new(),
                            damaged: None,
                        });
                    }
                    // Its data lines are swallowed up to its `done`, and it is reported once.
                    _ => {
                        self.current = Some(Partial {
                            name: if name.is_empty() {
                                "?".to_owned()
                            } else {
                                name
                            },
                            length: 0,
                            checksum: 0,
                            text: String::new(),
                            damaged: Some(format!("a garbled or unsafe file header: {args:?}")),
                        })
                    }
                }
                Step::File
            }
            "data" => {
                match &mut self.current {
                    Some(p) if args.len() <= LINE && args.len() % 4 == 0 => p.text.push_str(args),
                    Some(p) => {
                        p.damaged
                            .get_or_insert_with(|| format!("a garbled data line: {args:?}"));
                    }
                    None => self.garbled.push(Garbled {
                        name: "?".to_owned(),
                        why: "data outside a file".to_owned(),
                    }),
                }
                Step::File
            }
            "done" => {
                if let Some(p) = self.current.take() {
                    self.last = format!("done {}", p.name);
                    self.complete(p);
                }
                Step::File
            }
            "end" => {
                self.close_damaged("the stream ended inside it");
                Step::End(match args.trim().parse::<i32>() {
                    Ok(status) => Ok(Finished {
                        status,
                        files: std::mem::take(&mut self.files),
                        garbled: std::mem::take(&mut self.garbled),
                    }),
                    Err(_) => Err(StreamError::Truncated(format!(
                        "a garbled end marker: {args:?}"
                    ))),
                })
            }
            _ => Step::Other,
        }
    }

    fn close_damaged(&mut self, why: &str) {
        if let Some(p) = self.current.take() {
            self.garbled.push(Garbled {
                name: p.name,
                why: why.to_owned(),
            });
        }
    }

    fn complete(&mut self, p: Partial) {
        let why = if let Some(why) = p.damaged {
            Some(why)
        } else {
            match unbase64(&p.text) {
                None => Some("its base64 does not decode".to_owned()),
                Some(b) if b.len() != p.length => {
                    Some(format!("{} bytes arrived, {} were sent", b.len(), p.length))
                }
                Some(b) if fnv1a(&b) != p.checksum => Some("its checksum differs".to_owned()),
                Some(bytes) => {
                    self.files.push(Received {
                        name: p.name.clone(),
                        bytes,
                    });
                    None
                }
            }
        };
        if let Some(why) = why {
            self.garbled.push(Garbled { name: p.name, why });
        }
    }
}

/// Whether a received path stays inside the output directory.
fn safe(name: &str) -> bool {
    !name.starts_with('/') && name.split('/').all(|part| !part.is_empty() && part != "..")
}

/// When things happened during one boot, from its start.
#[derive(Debug, Clone, Default)]
pub struct Timing {
    /// The guest's /init said `begin`.
    pub begin: Option<Duration>,
    /// The guest's uptime at `begin`, in seconds.
    pub begin_uptime_s: Option<f64>,
    /// The first case started (its `start` line).
    pub first_case: Option<Duration>,
}

/// Reads console lines from `lines` (closed when the console closes) until the stream ends, the
/// console closes, `boot_deadline` passes without `begin` or `deadline` passes; every line also
/// goes to `log`. Never waits past the deadline.
pub fn collect(
    lines: &mpsc::Receiver<String>,
    parser: &mut Parser,
    started: Instant,
    boot_deadline: Duration,
    deadline: Duration,
    log: &mut dyn Write,
) -> (Result<Finished, StreamError>, Timing) {
    let mut timing = Timing::default();
    loop {
        let limit = if timing.begin.is_some() {
            deadline
        } else {
            boot_deadline.min(deadline)
        };
        let Some(left) = limit.checked_sub(started.elapsed()) else {
            let verdict = if timing.begin.is_none() {
                StreamError::NoBoot(limit)
            } else {
                StreamError::Hung(limit, parser.last().to_owned())
            };
            return (Err(verdict), timing);
        };
        let line = match lines.recv_timeout(left) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return (
                    Err(StreamError::Truncated(parser.last().to_owned())),
                    timing,
                );
            }
        };
        if !line.contains(&parser.marker) || !line.contains(" data ") {
            let _ = writeln!(log, "{line}");
        }
        match parser.feed(&line) {
            Step::Begin(uptime) => {
                timing.begin = Some(started.elapsed());
                timing.begin_uptime_s = Some(uptime);
            }
            Step::End(outcome) => return (outcome, timing),
            Step::Other if timing.begin.is_some() && timing.first_case.is_none() => {
                if line.starts_with("start ") {
                    timing.first_case = Some(started.elapsed());
                }
            }
            Step::Other | Step::File => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE: &str = "5f3a9c";

    fn stream(files: &[(&str, &[u8])], status: i32) -> Vec<String> {
        let mut text = format!("Booting\n{PREFIX} {NONCE} begin 3.25\nstart a [v4]\n");
        for (name, bytes) in files {
            text.push_str(&file_lines(NONCE, name, bytes));
        }
        let _ = writeln!(text, "{PREFIX} {NONCE} end {status}");
        text.lines().map(str::to_owned).collect()
    }

    fn run(lines: &[String], deadline: Duration, close: bool) -> Result<Finished, StreamError> {
        let (tx, rx) = mpsc::channel();
        for line in lines {
            tx.send(line.clone()).unwrap();
        }
        // An open console that says nothing more is a hung guest.
        let _keep = if close {
            drop(tx);
            None
        } else {
            Some(tx)
        };
        let mut parser = Parser::new(NONCE);
        let started = Instant::now();
        let (outcome, _) = collect(
            &rx,
            &mut parser,
            started,
            deadline,
            deadline,
            &mut Vec::new(),
        );
        assert!(started.elapsed() < deadline + Duration::from_secs(1));
        outcome
    }

    #[test]
    fn base64_round_trips_every_length() {
        assert_eq!(base64(b"Man"), "TWFu");
        assert_eq!(base64(b"Ma"), "TWE=");
        assert_eq!(base64(b"M"), "TQ==");
        for n in 0..300 {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(unbase64(&base64(&bytes)).unwrap(), bytes);
        }
        assert!(unbase64("TQ=").is_none());
        assert!(unbase64("T*==").is_none());
        assert!(unbase64("TQ==TWFu").is_none());
    }

    #[test]
    fn a_whole_stream_gives_the_files_and_the_status() {
        let big: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let lines = stream(&[("a.v4/result.json", b"{}\n"), ("a.v4/x.pcap", &big)], 1);
        let done = run(&lines, Duration::from_secs(5), true).unwrap();
        assert_eq!(done.status, 1);
        assert!(done.garbled.is_empty());
        assert_eq!(done.files.len(), 2);
        assert_eq!(done.files[1].bytes, big);
    }

    #[test]
    fn the_sender_writes_what_the_parser_reads() {
        let dir = std::env::temp_dir().join(format!("netcase-serial-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("case.v6")).unwrap();
        std::fs::write(dir.join("summary.json"), b"{\"ok\":1}").unwrap();
        std::fs::write(dir.join("case.v6/result.json"), b"[]").unwrap();
        let mut out = Vec::new();
        send(&mut out, NONCE, &dir, 0).unwrap();
        let lines: Vec<String> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        let mut parser = Parser::new(NONCE);
        let end = lines.iter().map(|l| parser.feed(l)).last().unwrap();
        let Step::End(Ok(done)) = end else {
            panic!("no end: {end:?}");
        };
        let names: Vec<&str> = done.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["case.v6/result.json", "summary.json"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn other_nonces_and_noise_are_ignored() {
        let mut lines = stream(&[("r.json", b"abc")], 0);
        lines.insert(1, format!("{PREFIX} 000000 end 7"));
        lines.insert(2, "[    1.2] random: crng init done".to_owned());
        let done = run(&lines, Duration::from_secs(5), true).unwrap();
        assert_eq!(done.status, 0);
        assert_eq!(done.files[0].bytes, b"abc");
    }

    #[test]
    fn a_truncated_stream_says_where_it_stopped() {
        let lines = stream(&[("r.json", &[7u8; 400])], 0);
        let cut = &lines[..lines.len() - 4];
        let err = run(cut, Duration::from_secs(5), true).unwrap_err();
        assert_eq!(err, StreamError::Truncated("file r.json".to_owned()));
        assert!(err.to_string().contains("before its end marker"));
    }

    #[test]
    fn a_garbled_line_names_the_damaged_file_and_keeps_the_others() {
        let mut lines = stream(&[("bad.txt", &[1u8; 200]), ("good.txt", b"fine")], 0);
        // A kernel message written into the middle of a data line.
        let i = lines.iter().position(|l| l.contains(" data ")).unwrap();
        lines[i].insert_str(30, "[ 4.1] veth: x");
        let done = run(&lines, Duration::from_secs(5), true).unwrap();
        assert_eq!(done.files.len(), 1);
        assert_eq!(done.files[0].name, "good.txt");
        assert_eq!(done.garbled[0].name, "bad.txt");

        // A changed character keeps the base64 valid: the checksum catches it.
        let mut lines = stream(&[("sum.txt", b"hello world, hello")], 0);
        let i = lines.iter().position(|l| l.contains(" data ")).unwrap();
        lines[i] = lines[i].replacen("aGVs", "aGVt", 1);
        let done = run(&lines, Duration::from_secs(5), true).unwrap();
        assert_eq!(done.garbled.len(), 1, "{done:?}");
        assert!(done.garbled[0].why.contains("checksum"), "{done:?}");
    }

    #[test]
    fn a_kernel_panic_ends_the_stream_at_once() {
        let mut lines = stream(&[("r.json", b"x")], 0);
        lines.insert(
            3,
            "[    5.0] Kernel panic - not syncing: Attempted to kill init!".to_owned(),
        );
        let err = run(&lines, Duration::from_secs(30), false).unwrap_err();
        assert!(matches!(&err, StreamError::Panic(l) if l.starts_with("Kernel panic")));
    }

    #[test]
    fn a_hung_guest_is_stopped_at_the_deadline() {
        let lines = stream(&[], 0);
        let began = &lines[..3];
        let err = run(began, Duration::from_millis(300), false).unwrap_err();
        assert!(matches!(err, StreamError::Hung(_, ref last) if last == "begin"));
    }

    #[test]
    fn a_guest_that_never_boots_is_told_apart() {
        let lines = vec!["Booting from ROM..".to_owned()];
        let err = run(&lines, Duration::from_millis(200), false).unwrap_err();
        assert!(matches!(err, StreamError::NoBoot(_)));
    }

    #[test]
    fn paths_cannot_leave_the_output_directory() {
        let lines = stream(&[("../../etc/passwd", b"x"), ("/abs", b"y")], 0);
        let done = run(&lines, Duration::from_secs(5), true).unwrap();
        assert!(done.files.is_empty());
        assert_eq!(done.garbled.len(), 2);
    }
}
