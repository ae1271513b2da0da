//! Expectations: the TCP segments a test must see, as a script that reads like packetdrill's.
//!
//! An expectation file (`fixtures/expect/*.expect`) has one line per expected segment, in the
//! order the segments must appear:
//!
//! ```text
//! # Five octets the server never acknowledges: the client resends them, the timeout doubling.
//! tolerance 20ms                           # optional, for the whole file; default 50 ms
//! unlisted allowed                         # optional; the default
//! @0      client>server S
//! +0      server>client S. ack 1
//! +0      client>server . seq 1 ack 1
//! *       client>server P. seq 1 ack 1 len 5
//! +200ms  client>server P. seq 1 ack 1 len 5 x3 gaps 400ms,800ms ~100ms
//! !server>client R.
//! ```
//!
//! # Lines
//!
//! `#` starts a comment, to the end of the line; blank lines are ignored. A segment line is
//! `[timing] from>to FLAGS [seq N] [ack N] [len N] [win N] [mss N] [wscale N] [xN [every D | gaps
//! D,...]] [~D]`, its parts separated by white space.
//!
//! - `from>to` names the sending and the receiving host (`[A-Za-z0-9_-]+`, as the topology does).
//! - FLAGS are tcpdump's letters as [`Flags`] prints them: `S F P R U E W`, `.` for ACK (`none`
//!   for no flag). The flag set must be exactly that: `F` does not match a segment with `F.`.
//! - `seq` and `ack` are relative ([`Segment::rel_seq`], [`Segment::rel_ack`]); `len` is the
//!   payload in octets, `win` the window as on the wire, `mss` and `wscale` the options.
//! - Timing: `@T` is T after the timeline's zero; `+T` is T after the segment the previous line
//!   matched (after the zero for the first line); `*` or nothing is any time. T is in seconds,
//!   or in milliseconds with `ms` (`1.0s`, `0.2`, `412ms`), at most a day.
//! - `~D` is this line's tolerance; `tolerance D` at the top of the file sets the file's; else
//!   [`DEFAULT_TOLERANCE`]. A timed line matches a segment within ± tolerance of its time.
//! - `xN` repeats a line N times, as N lines would: the first copy has the line's timing, each next
//!   one comes `every D` after the one before, or after the next gap of `gaps D1,D2,...`, which
//!   lists exactly N-1 gaps. Without either, the copies have no timing. N is at most [`MAX_REPEAT`].
//! - `!from>to FLAGS [fields]` forbids: no such segment may appear after the segment the previous
//!   line matched and before the one the next line matches; on the last line, until the end of
//!   the timeline. A forbidden line has no timing, tolerance or repetition.
//! - `${name}` stands for a number anywhere one is expected (`every ${tcp_keepalive_intvl}s`,
//!   `x${tcp_syn_retries}+1`), resolved from host settings (see [`Vars`]). Numbers and variables
//!   add and subtract (`${a}+1`, `${a}-${b}`), nothing more; a unit suffix applies to the sum.
//!
//! # Directives
//!
//! Before the first segment line, once each: `tolerance D`, and `unlisted allowed` (the default)
//! or `unlisted forbidden`. With `unlisted forbidden`, a segment that no line matches may not come
//! before the segment the last line matches; segments after that are never checked (a test's
//! teardown need not be spelled out; end with a `!` line to forbid something to the end).
//!
//! # Matching
//!
//! Only TCP segments count, and only those whose two hosts both appear in the expectation; they
//! are taken in time order. Lines are matched in order, each to the first segment after the
//! previous match that has the line's direction, flags and fields and is on time; segments passed
//! over on the way are unlisted. The first line that matches nothing fails the check, and the
//! [`Mismatch`] shows expected lines and actual segments side by side and says why.

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    hash::BuildHasher,
    path::Path,
    time::Duration,
};

use crate::packets::decode::{Flags, Segment};

mod check;
mod parse;

pub use check::{Mismatch, Reason};
pub use parse::ParseError;

/// The tolerance of a timed line unless its file or the line sets one: 50 milliseconds.
///
/// Linux TCP timers run on jiffies (4 ms at HZ=250); the timer wheel rounds a timer's expiry up to
/// its level's granularity (`LVL_GRAN` in kernel/time/timer.c: 8 jiffies, 32 ms at HZ=250, for
/// timers of 63 to 503 jiffies, 0.25 s to 2.01 s); and the capturing thread may wait for a core on
/// a loaded 2-core machine. 50 ms covers all three on a quiet machine. Timers of 504 jiffies and
/// more (2.016 s to 16 s at HZ=250) sit in 64-jiffy buckets (256 ms) and need a `~` of their own;
/// [`crate::rules::wheel_granularity`] computes the granularity for any timer.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_millis(50);

/// The longest duration an expectation may state, in seconds: a day.
pub const MAX_DURATION: Duration = Duration::from_secs(86_400);

/// The most copies one line may ask for with `xN`, in segments.
pub const MAX_REPEAT: u32 = 1000;

/// Whether segments that match no line may appear between matched ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Unlisted {
    /// They may: the expectation names only the segments that matter (the default).
    #[default]
    Allowed,
    /// They may not: every segment up to the last matched one must be listed.
    Forbidden,
}

/// Host settings by name, which `${name}` in an expectation resolves to; [`crate::Host::settings`]
/// returns one.
pub trait Vars {
    /// The value of the setting `name`, as text.
    fn var(&self, name: &str) -> Option<&str>;
}

impl<S: BuildHasher> Vars for HashMap<String, String, S> {
    fn var(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl Vars for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

/// No settings at all.
impl Vars for () {
    fn var(&self, _: &str) -> Option<&str> {
        None
    }
}

/// Settings as `(name, value)` pairs, handy in tests.
impl<const N: usize> Vars for [(&str, &str); N] {
    fn var(&self, name: &str) -> Option<&str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

/// The segments a timeline must hold, in order: parsed from a file or built in Rust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    source: String,
    tolerance: Duration,
    unlisted: Unlisted,
    lines: Vec<Line>,
}

impl Default for Expectation {
    fn default() -> Self {
        Expectation {
            source: "<built in Rust>".to_owned(),
            tolerance: DEFAULT_TOLERANCE,
            unlisted: Unlisted::Allowed,
            lines: Vec::new(),
        }
    }
}

impl Expectation {
    /// An empty expectation with the default tolerance, unlisted segments allowed.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same expectation with every timed line's tolerance (the file's, and each line's own)
    /// wider by `by` on both sides: what emulation adds to any timestamp
    /// ([`crate::Kernel::emulation`], nothing on real hardware).
    pub fn widened_by(&self, by: Duration) -> Expectation {
        let mut wider = self.clone();
        wider.tolerance = (wider.tolerance + by).min(MAX_DURATION);
        for line in &mut wider.lines {
            line.tolerance = line.tolerance.map(|t| (t + by).min(MAX_DURATION));
        }
        wider
    }

    /// Sets the tolerance of timed lines that set none, at most [`MAX_DURATION`].
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance.min(MAX_DURATION);
        self
    }

    /// Sets whether unlisted segments may appear.
    pub fn unlisted(mut self, unlisted: Unlisted) -> Self {
        self.unlisted = unlisted;
        self
    }

    /// Appends a line; it is numbered by its position (1-based) in reports.
    pub fn line(mut self, mut line: Line) -> Self {
        line.number = self.lines.len().saturating_add(1);
        self.lines.push(line);
        self
    }

    /// Parses the text of an expectation file; `file` names it in errors and reports, and `vars`
    /// resolves `${name}`.
    pub fn parse(text: &str, file: &str, vars: &(impl Vars + ?Sized)) -> Result<Self, ParseError> {
        parse::parse(text, file, vars)
    }

    /// Reads and parses the expectation file at `path`.
    pub fn load(path: impl AsRef<Path>, vars: &(impl Vars + ?Sized)) -> Result<Self, ParseError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, &file, vars),
            Err(e) => Err(ParseError {
                file,
                line: 0,
                column: 0,
                what: format!("cannot read the expectation file: {e}; check the path"),
            }),
        }
    }

    /// Checks `segments` (a `&[Segment]`, or [`crate::packets::decode::segments`] of decoded packets)
    /// against the lines: `Ok` if every line found its segment, else the first line that did not,
    /// shown side by side with the timeline.
    pub fn check<'s>(
        &self,
        segments: impl IntoIterator<Item = &'s Segment>,
    ) -> Result<(), Mismatch> {
        check::check(self, segments)
    }

    /// Where it came from: the file it was parsed from, or `<built in Rust>`.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The lines, in order.
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }
}

/// One line of an expectation: a segment that must appear (or, forbidden, must not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    number: usize,
    from: String,
    to: String,
    flags: Flags,
    forbidden: bool,
    timing: Timing,
    fields: Fields,
    repeat: Repeat,
    tolerance: Option<Duration>,
}

/// When a segment must come.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Timing {
    #[default]
    Any,
    /// After the timeline's zero.
    At(Duration),
    /// After the previous matched segment.
    After(Duration),
}

/// The header values a line names; `None` matches any.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Fields {
    seq: Option<u32>,
    ack: Option<u32>,
    len: Option<u32>,
    win: Option<u16>,
    mss: Option<u16>,
    wscale: Option<u8>,
}

/// How many copies of a line, and how far apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Repeat {
    #[default]
    Once,
    Untimed(u32),
    Every(u32, Duration),
    Gaps(Vec<Duration>),
}

impl Line {
    /// A segment from `from` to `to` with exactly `flags`, at any time.
    pub fn segment(from: &str, to: &str, flags: Flags) -> Self {
        Line {
            number: 0,
            from: from.to_owned(),
            to: to.to_owned(),
            flags,
            forbidden: false,
            timing: Timing::Any,
            fields: Fields::default(),
            repeat: Repeat::Once,
            tolerance: None,
        }
    }

    /// A segment that must not appear between its neighbours' matches (see the module docs).
    pub fn forbidden(from: &str, to: &str, flags: Flags) -> Self {
        Line {
            forbidden: true,
            ..Line::segment(from, to, flags)
        }
    }

    /// Sets the time after the timeline's zero, at most [`MAX_DURATION`].
    pub fn at(mut self, time: Duration) -> Self {
        self.timing = Timing::At(time.min(MAX_DURATION));
        self
    }

    /// Sets the time after the previous matched segment, at most [`MAX_DURATION`].
    pub fn after(mut self, delay: Duration) -> Self {
        self.timing = Timing::After(delay.min(MAX_DURATION));
        self
    }

    /// Sets the relative sequence number.
    pub fn seq(mut self, seq: u32) -> Self {
        self.fields.seq = Some(seq);
        self
    }

    /// Sets the relative acknowledgement number.
    pub fn ack(mut self, ack: u32) -> Self {
        self.fields.ack = Some(ack);
        self
    }

    /// Sets the payload length, in octets.
    pub fn len(mut self, len: u32) -> Self {
        self.fields.len = Some(len);
        self
    }

    /// Sets the window, as on the wire (unscaled).
    pub fn win(mut self, win: u16) -> Self {
        self.fields.win = Some(win);
        self
    }

    /// Sets the MSS option, in octets.
    pub fn mss(mut self, mss: u16) -> Self {
        self.fields.mss = Some(mss);
        self
    }

    /// Sets the window scale option, as a shift count.
    pub fn wscale(mut self, wscale: u8) -> Self {
        self.fields.wscale = Some(wscale);
        self
    }

    /// Repeats the line `count` times (clamped to 1..=[`MAX_REPEAT`]), the copies at any time.
    pub fn times(mut self, count: u32) -> Self {
        self.repeat = Repeat::Untimed(count.clamp(1, MAX_REPEAT));
        self
    }

    /// Repeats the line `count` times (clamped to 1..=[`MAX_REPEAT`]), each copy `gap` after the
    /// one before.
    pub fn every(mut self, count: u32, gap: Duration) -> Self {
        self.repeat = Repeat::Every(count.clamp(1, MAX_REPEAT), gap.min(MAX_DURATION));
        self
    }

    /// Repeats the line once more per gap (at most [`MAX_REPEAT`] in all), each copy the next gap
    /// after the one before.
    pub fn gaps(mut self, gaps: impl IntoIterator<Item = Duration>) -> Self {
        let max = MAX_REPEAT as usize - 1;
        let gaps = gaps.into_iter().take(max).map(|g| g.min(MAX_DURATION));
        self.repeat = Repeat::Gaps(gaps.collect());
        self
    }

    /// Sets this line's timing tolerance, at most [`MAX_DURATION`].
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = Some(tolerance.min(MAX_DURATION));
        self
    }

    /// Its line number in the file (1-based), or its position among built lines.
    pub fn number(&self) -> usize {
        self.number
    }

    /// How many segments it stands for, in segments.
    fn count(&self) -> u32 {
        match &self.repeat {
            Repeat::Once => 1,
            Repeat::Untimed(n) | Repeat::Every(n, _) => *n,
            Repeat::Gaps(gaps) => u32::try_from(gaps.len()).map_or(MAX_REPEAT, |n| n + 1),
        }
    }

    /// The timing of copy `k` (1-based).
    fn timing_of(&self, k: u32) -> Timing {
        if k <= 1 {
            return self.timing;
        }
        match &self.repeat {
            Repeat::Once | Repeat::Untimed(_) => Timing::Any,
            Repeat::Every(_, gap) => Timing::After(*gap),
            Repeat::Gaps(gaps) => {
                let gap = usize::try_from(k - 2).ok().and_then(|i| gaps.get(i));
                gap.map_or(Timing::Any, |g| Timing::After(*g))
            }
        }
    }

    /// Whether `s` has this line's direction, flags and fields; timing aside.
    fn fits(&self, s: &Segment) -> bool {
        s.from == self.from
            && s.to == self.to
            && s.flags == self.flags
            && self.wrong_field(s).is_none()
    }

    /// The first field `s` does not have as this line says: (name, expected, actual).
    fn wrong_field(&self, s: &Segment) -> Option<(&'static str, u32, Option<u32>)> {
        let f = &self.fields;
        let o = &s.options;
        [
            ("seq", f.seq, Some(s.rel_seq)),
            ("ack", f.ack, Some(s.rel_ack)),
            ("len", f.len, Some(s.len)),
            ("win", f.win.map(u32::from), Some(u32::from(s.window))),
            ("mss", f.mss.map(u32::from), o.mss.map(u32::from)),
            ("wscale", f.wscale.map(u32::from), o.wscale.map(u32::from)),
        ]
        .into_iter()
        .find_map(|(name, want, got)| match want {
            Some(want) if got != Some(want) => Some((name, want, got)),
            _ => None,
        })
    }

    /// Copy `k` of the line as a line of its own, for reports: `+1s client>server S (2/3)`.
    fn copy_text(&self, k: u32) -> String {
        let mut text = format!("{} {}", self.timing_of(k), self.body());
        if let Some(t) = self.tolerance {
            text.push_str(&format!(" ~{}", Secs(t)));
        }
        if self.count() > 1 {
            text.push_str(&format!(" ({k}/{})", self.count()));
        }
        text
    }

    /// Direction, flags and fields: `client>server P. seq 1 len 5`.
    fn body(&self) -> String {
        let bang = if self.forbidden { "!" } else { "" };
        let mut text = format!("{bang}{}>{} {}", self.from, self.to, self.flags);
        let f = &self.fields;
        let fields = [
            ("seq", f.seq),
            ("ack", f.ack),
            ("len", f.len),
            ("win", f.win.map(u32::from)),
            ("mss", f.mss.map(u32::from)),
            ("wscale", f.wscale.map(u32::from)),
        ];
        for (name, value) in fields {
            if let Some(value) = value {
                text.push_str(&format!(" {name} {value}"));
            }
        }
        text
    }
}

/// The line as it would be written, numbers resolved: `+1s client>server S x3 gaps 1s,2s ~300ms`.
impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.forbidden {
            write!(f, "{} ", self.timing)?;
        }
        f.write_str(&self.body())?;
        match &self.repeat {
            Repeat::Once => {}
            Repeat::Untimed(n) => write!(f, " x{n}")?,
            Repeat::Every(n, gap) => write!(f, " x{n} every {}", Secs(*gap))?,
            Repeat::Gaps(gaps) => {
                let list: Vec<String> = gaps.iter().map(|g| Secs(*g).to_string()).collect();
                write!(f, " x{} gaps {}", self.count(), list.join(","))?;
            }
        }
        if let Some(t) = self.tolerance {
            write!(f, " ~{}", Secs(t))?;
        }
        Ok(())
    }
}

impl fmt::Display for Timing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timing::Any => f.write_str("*"),
            Timing::At(t) => write!(f, "@{}", Secs(*t)),
            Timing::After(t) => write!(f, "+{}", Secs(*t)),
        }
    }
}

/// A duration as the format writes it: `0`, `412ms`, `1.5s`.
struct Secs(Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.is_zero() {
            f.write_str("0")
        } else if d.as_secs() == 0 && d.subsec_nanos() % 1_000_000 == 0 {
            write!(f, "{}ms", d.subsec_millis())
        } else {
            let frac = format!("{:09}", d.subsec_nanos());
            let frac = frac.trim_end_matches('0');
            let dot = if frac.is_empty() { "" } else { "." };
            write!(f, "{}{dot}{frac}s", d.as_secs())
        }
    }
}

/// A duration in nanoseconds, for arithmetic on timestamps (saturating; durations here are at
/// most [`MAX_DURATION`] anyway).
fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}
