//! Whether a run finished: `run.json` in its output directory.
//!
//! A run writes `run.json` when it starts (state `running`, with its pid, the start time of that
//! process and the boot it ran in), rewrites its summary and index as its cases finish, and at
//! its end writes state `finished`, or `interrupted` with why (`SIGTERM`, `Ctrl-C (SIGINT)`) and
//! when. A run killed outright (SIGKILL, a machine switched off) cannot write anything: its
//! `run.json` still says `running`, but its process is gone, or the pid now belongs to another
//! process (another start time, another boot). [`RunRecord::status`] tells these apart, and
//! `netcase show` says so.
//!
//! ```json
//! {"schema": "netcase/run/1", "state": "running", "pid": 4242, "pid_start": 871234,
//!  "boot_id": "…", "started": "2026-12-01T10:00:00Z", "command": ["netcase", "run", "…"],
//!  "parts": ["backlog.zero.v4", "…"]}
//! ```

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The schema identifier every `run.json` carries.
pub const RUN_SCHEMA: &str = "netcase/run/1";

/// The file's name, in the run's output directory.
pub const RUN_FILE: &str = "run.json";

/// What a run said about itself last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// It started and has not said it ended (it may have been killed: see [`RunRecord::status`]).
    Running,
    /// It ran to its end.
    Finished,
    /// It was stopped early (a signal) and wrote what it had.
    Interrupted,
}

/// `run.json`: who runs (or ran) in an output directory, since when, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Always [`RUN_SCHEMA`].
    pub schema: String,
    /// What the run said last.
    pub state: State,
    /// Why it stopped early (`SIGTERM`, `Ctrl-C (SIGINT)`), when it was interrupted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// The run's process id.
    pub pid: u32,
    /// That process's start time, in clock ticks since boot (`/proc/PID/stat`, field 22): tells
    /// the run's process from a later one that got the same pid.
    pub pid_start: Option<u64>,
    /// The boot the run ran in (`/proc/sys/kernel/random/boot_id`).
    pub boot_id: Option<String>,
    /// When it started, UTC (RFC 3339, seconds).
    pub started: String,
    /// When it ended, UTC, once it has said so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
    /// Its command line.
    pub command: Vec<String>,
    /// What it is made of: the case bundles of a run (`backlog.zero.v4`), the kernels'
    /// directories of a matrix (`this-kernel`, a release), the tests of `netcase tests`
    /// (`connects`). Empty until known.
    pub parts: Vec<String>,
    /// How the program the run drove ended, once it has, as the standard library prints an
    /// exit status (`exit status: 101`, `signal: 11 (SIGSEGV)`): `netcase tests`'s test binary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<String>,
}

/// What a run's directory tells about the run, its process looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Its process is still running.
    Running,
    /// It ran to its end.
    Finished,
    /// It was stopped early and said why.
    Interrupted(String),
    /// It said it was running, but its process is gone: it was killed.
    Killed,
}

impl RunRecord {
    /// A record of this process starting now, running `command`, made of `parts`.
    pub fn start(command: Vec<String>, parts: Vec<String>) -> RunRecord {
        let pid = std::process::id();
        RunRecord {
            schema: RUN_SCHEMA.to_owned(),
            state: State::Running,
            why: None,
            pid,
            pid_start: process_start(pid),
            boot_id: boot_id(),
            started: rfc3339(SystemTime::now()),
            ended: None,
            command,
            parts,
            exit_status: None,
        }
    }

    /// Marks the run ended now: `finished`, or `interrupted` because of `why`.
    pub fn end(&mut self, why: Option<String>) {
        self.state = if why.is_some() {
            State::Interrupted
        } else {
            State::Finished
        };
        self.why = why;
        self.ended = Some(rfc3339(SystemTime::now()));
    }

    /// Writes the record to `dir/run.json` (through a temporary file: a reader never sees half).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).expect("a run record serialises");
        write_atomic(&dir.join(RUN_FILE), (json + "\n").as_bytes())
    }

    /// Reads `dir/run.json`; `Ok(None)` when there is none.
    pub fn read(dir: &Path) -> Result<Option<RunRecord>> {
        let path = dir.join(RUN_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
        };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            Error::io(
                format!("{} does not parse", path.display()),
                std::io::Error::other(e),
            )
        })
    }

    /// Where the run stands: what it said, and for a run that said `running`, whether its
    /// process is still the one that wrote it.
    pub fn status(&self) -> Status {
        match self.state {
            State::Finished => Status::Finished,
            State::Interrupted => {
                Status::Interrupted(self.why.clone().unwrap_or_else(|| "a signal".to_owned()))
            }
            State::Running if self.is_alive() => Status::Running,
            State::Running => Status::Killed,
        }
    }

    /// Whether this process wrote the record.
    pub fn is_this_process(&self) -> bool {
        let pid = std::process::id();
        self.pid == pid && self.boot_id == boot_id() && self.pid_start == process_start(pid)
    }

    /// Whether the process that wrote the record still runs: same boot, same pid, same start.
    fn is_alive(&self) -> bool {
        if self.boot_id.is_some() && self.boot_id != boot_id() {
            return false;
        }
        match process_start(self.pid) {
            None => false,
            Some(start) => self.pid_start.is_none_or(|s| s == start),
        }
    }

    /// One line for a person: where the run stands, with `done` of its parts having results.
    pub fn describe(&self, done: usize) -> String {
        let who = format!("the run (pid {}, started {})", self.pid, self.started);
        let of = if self.parts.is_empty() {
            format!("{done} cases have results")
        } else {
            format!("{done} of {} have results", self.parts.len())
        };
        let mut line = String::new();
        let _ = match self.status() {
            Status::Finished => write!(
                line,
                "finished: {who} ended at {}; {of}",
                self.ended.as_deref().unwrap_or("?")
            ),
            Status::Interrupted(why) => write!(
                line,
                "interrupted: {who} was stopped by {why} at {} and wrote what it had; {of}",
                self.ended.as_deref().unwrap_or("?")
            ),
            Status::Killed => write!(
                line,
                "interrupted: {who} ended without finishing — killed?; {of}"
            ),
            Status::Running => write!(line, "running: {who} is still running; {of} so far"),
        };
        line
    }
}

/// Checks that a run can write its output directory `dir`: creates it, and a probe file in it.
/// The error is the line to show (`cannot write the output directory DIR: why`).
pub fn writable(dir: &Path) -> std::result::Result<(), String> {
    let probe = dir.join(".netcase-write-test");
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&probe, b""))
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| format!("cannot write the output directory {}: {e}", dir.display()))
}

/// Writes `bytes` to `path` through a temporary file beside it and a rename, so that a reader
/// (or a run killed in the middle) never leaves half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let temporary: PathBuf = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&temporary, bytes)
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// The start time of process `pid`, in clock ticks since boot; `None` when there is no such
/// process.
pub fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    // Field 3 (state) is the first after it; field 22 (starttime) the twentieth.
    after.split_whitespace().nth(19)?.parse().ok()
}

fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_owned())
}

/// `at` as RFC 3339 in UTC, to the second: `2026-12-01T10:00:00Z`.
pub fn rfc3339(at: SystemTime) -> String {
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn times_are_written_as_rfc3339() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let at = UNIX_EPOCH + Duration::from_secs(1_709_210_096);
        assert_eq!(rfc3339(at), "2024-02-29T12:34:56Z");
    }

    #[test]
    fn this_process_is_alive_and_a_record_of_a_dead_one_is_killed() {
        let mut record = RunRecord::start(vec!["netcase".into()], vec!["a.v4".into()]);
        assert!(record.pid_start.is_some(), "/proc/self/stat");
        assert_eq!(record.status(), Status::Running);
        // Another process with the same pid would have another start time.
        record.pid_start = record.pid_start.map(|s| s + 1);
        assert_eq!(record.status(), Status::Killed);
        assert!(
            record.describe(0).starts_with("interrupted: the run (pid"),
            "{}",
            record.describe(0)
        );
        assert!(record.describe(0).ends_with("killed?; 0 of 1 have results"));
        record.end(Some("SIGTERM".to_owned()));
        assert_eq!(record.status(), Status::Interrupted("SIGTERM".to_owned()));
        record.end(None);
        assert_eq!(record.status(), Status::Finished);
    }

    #[test]
    fn records_round_trip_through_their_file() {
        let dir = std::env::temp_dir().join(format!("netcase-run-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(RunRecord::read(&dir).unwrap(), None);
        let record = RunRecord::start(vec!["netcase".into(), "run".into()], Vec::new());
        record.write(&dir).unwrap();
        assert_eq!(RunRecord::read(&dir).unwrap(), Some(record));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
