//! Matching lines to a timeline, and the side-by-side report of the first line that failed.

use std::{collections::HashSet, fmt, path::PathBuf, time::Duration};

use super::{Expectation, Line, Timing, Unlisted, nanos};
use crate::packets::decode::{Flags, Segment};

/// Runs of more unlisted segments than this are shortened in reports, in rows.
const LONG_RUN: usize = 12;
/// How many rows of a shortened run show at each end, in rows.
const RUN_ENDS: usize = 5;
/// The widest the expected column is padded to, in characters.
const MAX_LEFT: usize = 60;

/// Why a line did not match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// No segment resembling it came.
    Missing,
    /// A segment no line names came, and the file says `unlisted forbidden`.
    Unexpected,
    /// The segment in its place had other flags.
    WrongFlags {
        /// The flags the line names.
        expected: Flags,
        /// The flags the segment had.
        got: Flags,
    },
    /// The segment in its place had another value in a field.
    WrongField {
        /// The field: `seq`, `ack`, `len`, `win`, `mss` or `wscale`.
        field: &'static str,
        /// The value the line names.
        expected: u32,
        /// The segment's value (`None`: the option was absent).
        got: Option<u32>,
    },
    /// The segment came later than the line's time plus its tolerance.
    Late {
        /// How much later than the line's time (reports print it in milliseconds).
        by: Duration,
    },
    /// The segment came earlier than the line's time minus its tolerance.
    Early {
        /// How much earlier than the line's time (reports print it in milliseconds).
        by: Duration,
    },
    /// A segment a `!` line forbids appeared.
    Forbidden,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Missing => f.write_str("missing"),
            Reason::Unexpected => f.write_str("unexpected segment"),
            Reason::WrongFlags { expected, got } => {
                write!(f, "wrong flags (expected {expected}, got {got})")
            }
            Reason::WrongField {
                field,
                expected,
                got,
            } => match got {
                Some(got) => write!(f, "wrong {field} (expected {expected}, got {got})"),
                None => write!(f, "wrong {field} (expected {expected}, got none)"),
            },
            Reason::Late { by } => write!(f, "late by {}", Millis(*by)),
            Reason::Early { by } => write!(f, "early by {}", Millis(*by)),
            Reason::Forbidden => f.write_str("forbidden segment appeared"),
        }
    }
}

/// The first line that did not match, with the expectation and the timeline side by side.
#[derive(Clone)]
pub struct Mismatch(Box<Details>);

/// Boxed, so that a `Result<(), Mismatch>` stays one pointer wide.
#[derive(Clone)]
struct Details {
    source: String,
    line: usize,
    reason: Reason,
    rows: Vec<Row>,
    pcap: Option<PathBuf>,
    loss: Option<String>,
}

impl Mismatch {
    /// Names the capture the timeline came from, so the reader can open it.
    pub fn with_pcap(mut self, path: impl Into<PathBuf>) -> Self {
        self.0.pcap = Some(path.into());
        self
    }

    /// Adds a note on capture loss (the kernel's drop count), which may explain a missing segment.
    pub fn with_loss(mut self, note: impl Into<String>) -> Self {
        self.0.loss = Some(note.into());
        self
    }

    /// Why the line did not match.
    pub fn reason(&self) -> &Reason {
        &self.0.reason
    }

    /// The line that did not match: its number in the file (1-based), or its position if built.
    pub fn line(&self) -> usize {
        self.0.line
    }
}

/// A row of the report: an expected line, an actual segment, or both.
#[derive(Debug, Clone, Default)]
struct Row {
    marked: bool,
    line: Option<usize>,
    left: String,
    right: String,
    note: Option<String>,
}

impl Row {
    fn segment(s: &Segment) -> Row {
        Row {
            right: s.to_string(),
            ..Row::default()
        }
    }

    fn line(line: &Line) -> Row {
        Row {
            line: Some(line.number),
            left: line.to_string(),
            ..Row::default()
        }
    }
}

/// ```text
/// late.expect:4: late by 412 ms
/// capture: target/netcase/x/client-eth0.pcap
///
///      line  expected               | actual
///         3  @0 client>server S     | 0.000000 client>server S seq 0 win 64240 length 0
/// >>      4  +1s client>server S    | 1.412000 client>server S seq 0 win 64240 length 0
///            ^ late by 412 ms: expected at 1.000000 s ± 50 ms, came at 1.412000 s
/// ```
impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.0;
        writeln!(f, "{}:{}: {}", m.source, m.line, m.reason)?;
        if let Some(pcap) = &m.pcap {
            writeln!(f, "capture: {}", pcap.display())?;
        }
        if let Some(loss) = &m.loss {
            writeln!(f, "capture loss: {loss}")?;
        }
        writeln!(f)?;
        let width = m
            .rows
            .iter()
            .map(|r| r.left.chars().count())
            .filter(|&w| w <= MAX_LEFT)
            .max()
            .unwrap_or(0)
            .max("expected".len());
        let row = |f: &mut fmt::Formatter<'_>, mark: &str, line: &str, left: &str, right: &str| {
            let text = format!("{mark:<2} {line:>4}  {left:<width$} | {right}");
            writeln!(f, "{}", text.trim_end())
        };
        row(f, "", "line", "expected", "actual")?;
        let mut i = 0;
        while let Some(r) = m.rows.get(i) {
            // A long run of unlisted segments (a bulk transfer) shows its ends only.
            let run = (m.rows.get(i..).unwrap_or(&[]).iter())
                .take_while(|r| !r.marked && r.line.is_none())
                .count();
            if run > LONG_RUN {
                for r in m.rows.iter().skip(i).take(RUN_ENDS) {
                    row(f, "", "", "", &r.right)?;
                }
                row(f, "", "", "", &format!("... {} more", run - 2 * RUN_ENDS))?;
                for r in m.rows.iter().skip(i + run - RUN_ENDS).take(RUN_ENDS) {
                    row(f, "", "", "", &r.right)?;
                }
                i += run;
                continue;
            }
            let number = r.line.map(|n| n.to_string()).unwrap_or_default();
            row(
                f,
                if r.marked { ">>" } else { "" },
                &number,
                &r.left,
                &r.right,
            )?;
            if let Some(note) = &r.note {
                writeln!(f, "{:<2} {:>4}  ^ {note}", "", "")?;
            }
            i += 1;
        }
        Ok(())
    }
}

/// The report, not the fields: a test that returns `Result<(), Mismatch>` or unwraps one prints
/// this, and the side-by-side view is what its reader needs.
impl fmt::Debug for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Mismatch {}

pub(super) fn check<'s>(
    expectation: &Expectation,
    segments: impl IntoIterator<Item = &'s Segment>,
) -> Result<(), Mismatch> {
    let hosts: HashSet<&str> = expectation
        .lines
        .iter()
        .flat_map(|l| [l.from.as_str(), l.to.as_str()])
        .collect();
    let mut timeline: Vec<&Segment> = segments
        .into_iter()
        .filter(|s| hosts.contains(s.from.as_str()) && hosts.contains(s.to.as_str()))
        .collect();
    timeline.sort_by_key(|s| s.at_ns);
    let mut walk = Walk {
        expectation,
        timeline,
        rows: Vec::new(),
        cursor: 0,
        prev_at: 0,
        pending: Vec::new(),
    };
    for (index, line) in expectation.lines.iter().enumerate() {
        if line.forbidden {
            walk.pending.push(line);
            continue;
        }
        for k in 1..=line.count() {
            walk.step(index, line, k)?;
        }
    }
    // Forbidden lines at the end hold to the end of the timeline.
    walk.pass_over(walk.timeline.len(), expectation.lines.len(), None, false)
}

/// The state of a check: how far the timeline has been matched, and the report so far.
struct Walk<'e, 's> {
    expectation: &'e Expectation,
    timeline: Vec<&'s Segment>,
    rows: Vec<Row>,
    /// The first segment not yet matched or passed over.
    cursor: usize,
    /// When the previous matched segment was captured, in nanoseconds (the zero before any).
    prev_at: i64,
    /// Forbidden lines since the previous match.
    pending: Vec<&'e Line>,
}

impl<'e> Walk<'e, '_> {
    /// Matches copy `k` of `line`, the `index`th line.
    fn step(&mut self, index: usize, line: &'e Line, k: u32) -> Result<(), Mismatch> {
        let tolerance = nanos(line.tolerance.unwrap_or(self.expectation.tolerance));
        let target = match line.timing_of(k) {
            Timing::Any => None,
            Timing::At(t) => Some(nanos(t)),
            Timing::After(t) => Some(self.prev_at.saturating_add(nanos(t))),
        };
        let on_time = |s: &Segment| {
            target.is_none_or(|t| s.at_ns.saturating_sub(t).unsigned_abs() <= tolerance as u64)
        };
        let rest = self.timeline.get(self.cursor..).unwrap_or(&[]);
        let Some(found) = rest.iter().position(|s| line.fits(s) && on_time(s)) else {
            // A forbidden segment before the point of failure is the earlier fault.
            self.pass_over(self.timeline.len(), index, None, false)?;
            return Err(self.diagnose(index, line, k, target, tolerance));
        };
        let at = self.cursor + found;
        self.pass_over(at, index, Some(line), true)?;
        for pending in std::mem::take(&mut self.pending) {
            self.rows.push(Row::line(pending));
        }
        let Some(segment) = self.timeline.get(at).copied() else {
            return Ok(());
        };
        self.rows.push(Row {
            line: Some(line.number),
            left: line.copy_text(k),
            right: segment.to_string(),
            ..Row::default()
        });
        self.prev_at = segment.at_ns;
        self.cursor = at + 1;
        Ok(())
    }

    /// Passes over the segments from the cursor up to `end` as unlisted, failing on the first one a
    /// pending forbidden line names, or (when a line matched at `end`, `next`) on any one with
    /// `unlisted forbidden`. `index` is the line being matched. Without `consume`, only looks.
    fn pass_over(
        &mut self,
        end: usize,
        index: usize,
        next: Option<&Line>,
        consume: bool,
    ) -> Result<(), Mismatch> {
        let strict = self.expectation.unlisted == Unlisted::Forbidden;
        let passed = self.timeline.get(self.cursor..end).unwrap_or(&[]);
        for (i, &segment) in passed.iter().enumerate() {
            let at = self.cursor + i;
            if let Some(&forbidden) = self.pending.iter().find(|l| l.fits(segment)) {
                let row = Row {
                    note: Some(format!(
                        "{}: line {} forbids it here",
                        Reason::Forbidden,
                        forbidden.number
                    )),
                    right: segment.to_string(),
                    ..Row::line(forbidden)
                };
                let number = forbidden.number;
                return Err(self.fail(Some(at), row, number, Reason::Forbidden, index));
            }
            if let (true, Some(next)) = (strict, next) {
                let row = Row {
                    note: Some(format!(
                        "{}: no line names it, and the file says `unlisted forbidden`; line {} \
                         was expected next",
                        Reason::Unexpected,
                        next.number
                    )),
                    right: segment.to_string(),
                    ..Row::default()
                };
                let number = next.number;
                return Err(self.fail(Some(at), row, number, Reason::Unexpected, index));
            }
        }
        if consume {
            self.rows.extend(passed.iter().map(|s| Row::segment(s)));
            self.cursor = end.max(self.cursor);
        }
        Ok(())
    }

    /// Why copy `k` of `line` matched nothing: the nearest segment that resembles it, and how it
    /// differs.
    fn diagnose(
        &mut self,
        index: usize,
        line: &Line,
        k: u32,
        target: Option<i64>,
        tolerance: i64,
    ) -> Mismatch {
        let rest = self.timeline.get(self.cursor..).unwrap_or(&[]);
        // Nearest to the line's time if it has one, else the first.
        let nearest = |pick: &dyn Fn(&Segment) -> bool| {
            let candidates = rest.iter().enumerate().filter(|(_, s)| pick(s));
            match target {
                Some(t) => candidates
                    .min_by_key(|(_, s)| s.at_ns.saturating_sub(t).unsigned_abs())
                    .map(|(i, _)| i),
                None => candidates.map(|(i, _)| i).next(),
            }
        };
        let same_way = |s: &Segment| s.from == line.from && s.to == line.to;
        let found = if let (Some(t), Some(i)) = (target, nearest(&|s| line.fits(s))) {
            rest.get(i).map(|s| {
                let by = s.at_ns.saturating_sub(t);
                let by_duration = Duration::from_nanos(by.unsigned_abs());
                let reason = match by > 0 {
                    true => Reason::Late { by: by_duration },
                    false => Reason::Early { by: by_duration },
                };
                let detail = format!(
                    ": expected at {} ± {}, came at {}",
                    Seconds(t),
                    Millis(Duration::from_nanos(tolerance.unsigned_abs())),
                    Seconds(s.at_ns)
                );
                (i, reason, detail)
            })
        } else if let Some(i) = nearest(&|s| same_way(s) && s.flags == line.flags) {
            rest.get(i)
                .and_then(|s| line.wrong_field(s))
                .map(|(field, expected, got)| {
                    let reason = Reason::WrongField {
                        field,
                        expected,
                        got,
                    };
                    (i, reason, String::new())
                })
        } else if let Some(i) = nearest(&same_way) {
            rest.get(i).map(|s| {
                let reason = Reason::WrongFlags {
                    expected: line.flags,
                    got: s.flags,
                };
                (i, reason, String::new())
            })
        } else {
            None
        };
        let (at, reason, detail) = match found {
            Some((i, reason, detail)) => (Some(self.cursor + i), reason, detail),
            None => {
                let when = target.map(|t| format!(" (expected at {})", Seconds(t)));
                let detail = format!(
                    ": no {}>{} segment after the previous match{}",
                    line.from,
                    line.to,
                    when.unwrap_or_default()
                );
                (None, Reason::Missing, detail)
            }
        };
        let row = Row {
            marked: true,
            line: Some(line.number),
            left: line.copy_text(k),
            right: at
                .and_then(|i| self.timeline.get(i))
                .map(|s| s.to_string())
                .unwrap_or_default(),
            note: Some(format!("{reason}{detail}")),
        };
        self.fail(at, row, line.number, reason, index.saturating_add(1))
    }

    /// The mismatch: the rows so far, the segments passed over up to `at`, `row` marked, then the
    /// lines from `lines_from` and the segments after `at` unmatched.
    fn fail(
        &mut self,
        at: Option<usize>,
        row: Row,
        number: usize,
        reason: Reason,
        lines_from: usize,
    ) -> Mismatch {
        let mut rows = std::mem::take(&mut self.rows);
        let upto = at.unwrap_or(self.cursor);
        let passed = self.timeline.get(self.cursor..upto).unwrap_or(&[]);
        rows.extend(passed.iter().map(|s| Row::segment(s)));
        // A forbidden line that fired is shown once, marked.
        let fired = (reason == Reason::Forbidden).then_some(number);
        let pending = self.pending.iter().filter(|l| Some(l.number) != fired);
        rows.extend(pending.map(|l| Row::line(l)));
        rows.push(Row {
            marked: true,
            ..row
        });
        let lines = self.expectation.lines.get(lines_from..).unwrap_or(&[]);
        rows.extend(lines.iter().map(Row::line));
        let after = at.map_or(self.cursor, |i| i.saturating_add(1));
        let rest = self.timeline.get(after..).unwrap_or(&[]);
        rows.extend(rest.iter().map(|s| Row::segment(s)));
        Mismatch(Box::new(Details {
            source: self.expectation.source.clone(),
            line: number,
            reason,
            rows,
            pcap: None,
            loss: None,
        }))
    }
}

/// A duration in milliseconds, to the microsecond: `412 ms`, `0.25 ms`.
struct Millis(Duration);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = self.0.as_micros();
        let frac = format!("{:03}", micros % 1000);
        let frac = frac.trim_end_matches('0');
        let dot = if frac.is_empty() { "" } else { "." };
        write!(f, "{}{dot}{frac} ms", micros / 1000)
    }
}

/// A time on the timeline in seconds, as [`Segment`]'s Display writes it: `1.000000 s`.
struct Seconds(i64);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.6} s", self.0 as f64 / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expect::Line;

    /// A segment `ms` milliseconds after the zero; `way` is `from>to`, `flags` tcpdump's letters.
    fn seg(ms: i64, way: &str, flags: &str, seq: u32, ack: u32, len: u32) -> Segment {
        let (from, to) = way.split_once('>').unwrap();
        let mut f = Flags::empty();
        for c in flags.chars() {
            f = f | match c {
                'S' => Flags::SYN,
                'F' => Flags::FIN,
                'P' => Flags::PSH,
                'R' => Flags::RST,
                '.' => Flags::ACK,
                _ => panic!("flag {c}"),
            };
        }
        let addr = |host: &str| match host {
            "client" => "198.18.0.1:40000".parse().unwrap(),
            _ => "198.18.0.2:80".parse().unwrap(),
        };
        Segment {
            at_ns: ms * 1_000_000,
            from: from.to_owned(),
            to: to.to_owned(),
            src: addr(from),
            dst: addr(to),
            flags: f,
            seq: 1000 + seq,
            ack: 5000 + ack,
            rel_seq: seq,
            rel_ack: ack,
            len,
            window: 502,
            options: Default::default(),
        }
    }

    fn handshake() -> Vec<Segment> {
        vec![
            seg(0, "client>server", "S", 0, 0, 0),
            seg(1, "server>client", "S.", 0, 1, 0),
            seg(2, "client>server", ".", 1, 1, 0),
            seg(3, "client>server", "P.", 1, 1, 5),
            seg(4, "server>client", ".", 1, 6, 0),
        ]
    }

    fn check(text: &str, segments: &[Segment]) -> Result<(), Mismatch> {
        let e = Expectation::parse(text, "t.expect", &()).unwrap_or_else(|e| panic!("{e}"));
        e.check(segments)
    }

    fn reason(text: &str, segments: &[Segment]) -> (usize, Reason) {
        let m = check(text, segments).expect_err("a mismatch");
        (m.line(), m.reason().clone())
    }

    const HANDSHAKE: &str = "\
@0 client>server S
+0 server>client S. ack 1
+0 client>server . seq 1 ack 1
+0 client>server P. seq 1 ack 1 len 5
";

    #[test]
    fn widening_adds_to_the_file_and_line_tolerances() {
        let text = "tolerance 20ms\n@0 client>server S\n+0 server>client R. ack 1\n";
        let late = [
            seg(0, "client>server", "S", 0, 0, 0),
            seg(23, "server>client", "R.", 0, 1, 0),
        ];
        let e = Expectation::parse(text, "t.expect", &()).unwrap();
        assert!(e.check(&late).is_err(), "23 ms late against 20 ms");
        let wider = e.widened_by(Duration::from_millis(50));
        assert!(wider.check(&late).is_ok(), "within 70 ms");
        let own = Expectation::parse(
            "@0 client>server S\n+0 server>client R. ack 1 ~1ms\n",
            "t",
            &(),
        )
        .unwrap();
        assert!(own.check(&late).is_err());
        assert!(
            own.widened_by(Duration::from_millis(30))
                .check(&late)
                .is_ok(),
            "1 + 30 ms"
        );
    }

    #[test]
    fn a_handshake_matches_and_unlisted_segments_are_passed_over() {
        check(HANDSHAKE, &handshake()).unwrap();
        check(
            "unlisted allowed\n@0 client>server S\n* client>server P. len 5",
            &handshake(),
        )
        .unwrap();
        // Hosts the file does not name never count, even with `unlisted forbidden`.
        let mut timeline = handshake();
        timeline.insert(1, seg(0, "router>server", "R", 0, 0, 0));
        check(&format!("unlisted forbidden\n{HANDSHAKE}"), &timeline).unwrap();
    }

    #[test]
    fn decoded_packets_check_directly_and_other_frames_never_count() {
        use crate::packets::decode::{Other, Packet, segments};
        let mut packets: Vec<Packet> = handshake().into_iter().map(Packet::Tcp).collect();
        let arp = Other {
            at_ns: 500_000,
            what: "ARP who-has 198.18.0.2 tell 198.18.0.1".to_owned(),
        };
        packets.insert(1, Packet::Other(arp));
        let e = Expectation::parse(&format!("unlisted forbidden\n{HANDSHAKE}"), "t", &()).unwrap();
        e.check(segments(&packets)).unwrap();
    }

    #[test]
    fn the_timeline_is_taken_in_time_order() {
        let mut timeline = handshake();
        timeline.reverse();
        check(HANDSHAKE, &timeline).unwrap();
    }

    #[test]
    fn each_way_of_not_matching_is_named() {
        let t = handshake();
        let wrong_flags = reason("@0 client>server S\n* server>client R.", &t);
        let expected = Flags::RST | Flags::ACK;
        let got = Flags::SYN | Flags::ACK;
        assert_eq!(wrong_flags, (2, Reason::WrongFlags { expected, got }));
        let wrong_ack = reason("* server>client S. ack 2", &t);
        assert_eq!(
            wrong_ack,
            (
                1,
                Reason::WrongField {
                    field: "ack",
                    expected: 2,
                    got: Some(1)
                }
            )
        );
        let no_mss = reason("* server>client S. mss 1460", &t);
        assert_eq!(
            no_mss,
            (
                1,
                Reason::WrongField {
                    field: "mss",
                    expected: 1460,
                    got: None
                }
            )
        );
        let late = reason(
            "@0 client>server S\n+0.5s client>server . ack 1 ~1ms",
            &[
                seg(0, "client>server", "S", 0, 0, 0),
                seg(912, "client>server", ".", 1, 1, 0),
            ],
        );
        assert_eq!(
            late,
            (
                2,
                Reason::Late {
                    by: Duration::from_millis(412)
                }
            )
        );
        let early = reason("@100ms client>server S", &t);
        assert_eq!(
            early,
            (
                1,
                Reason::Early {
                    by: Duration::from_millis(100)
                }
            )
        );
        let missing = reason("@0 client>server S\n* client>server F.", &t);
        assert_eq!(
            missing,
            (
                2,
                Reason::WrongFlags {
                    expected: Flags::FIN | Flags::ACK,
                    got: Flags::ACK
                }
            )
        );
        assert_eq!(reason("* server>client F.", &t[..1]), (1, Reason::Missing));
    }

    #[test]
    fn a_line_tolerance_beats_the_file_s_which_beats_the_default() {
        let t = [
            seg(0, "client>server", "S", 0, 0, 0),
            seg(1040, "client>server", "S", 0, 0, 0),
        ];
        let lines = "@0 client>server S\n+1s client>server S";
        check(lines, &t).unwrap(); // 40 ms late, within the default 50 ms
        let strict = format!("tolerance 20ms\n{lines}");
        assert_eq!(
            reason(&strict, &t),
            (
                3,
                Reason::Late {
                    by: Duration::from_millis(40)
                }
            )
        );
        check(&format!("{strict} ~45ms"), &t).unwrap();
        let built = Expectation::new()
            .tolerance(Duration::from_millis(20))
            .line(Line::segment("client", "server", Flags::SYN).at(Duration::ZERO))
            .line(Line::segment("client", "server", Flags::SYN).after(Duration::from_secs(1)));
        assert_eq!(built.check(&t).unwrap_err().line(), 2);
    }

    #[test]
    fn repeated_lines_time_each_copy_from_the_one_before() {
        let syns = |ms: &[i64]| -> Vec<Segment> {
            ms.iter()
                .map(|&m| seg(m, "client>server", "S", 0, 0, 0))
                .collect()
        };
        let gaps = "@0 client>server S x4 gaps 1s,2s,4s";
        check(gaps, &syns(&[0, 1010, 3020, 7000])).unwrap();
        let m = check(gaps, &syns(&[0, 1000, 3000, 7100])).unwrap_err();
        assert_eq!(
            m.reason(),
            &Reason::Late {
                by: Duration::from_millis(100)
            }
        );
        assert!(m.to_string().contains("(4/4)"), "{m}");
        check("@0 client>server S x3 every 1s", &syns(&[0, 1000, 2000])).unwrap();
        assert_eq!(
            reason("@0 client>server S x3 every 1s", &syns(&[0, 1000])),
            (1, Reason::Missing)
        );
        check("* client>server S x3", &syns(&[5, 500, 9000])).unwrap();
    }

    #[test]
    fn forbidden_lines_hold_between_their_neighbours() {
        let t = [
            seg(0, "client>server", "S", 0, 0, 0),
            seg(1, "server>client", "R.", 0, 1, 0),
            seg(2, "client>server", "S", 0, 0, 0),
        ];
        let between = "@0 client>server S\n!server>client R.\n* client>server S";
        assert_eq!(reason(between, &t), (2, Reason::Forbidden));
        // Before the previous line's match, it is not forbidden.
        check("!server>client R.\n@2ms client>server S", &t).unwrap();
        // On the last line, it holds to the end.
        assert_eq!(
            reason("@0 client>server S\n!server>client R.", &t),
            (2, Reason::Forbidden)
        );
        check(
            "@0 client>server S\n* client>server S\n!server>client R.",
            &t,
        )
        .unwrap();
        // Flags match exactly: R forbids no R.
        check("@0 client>server S\n!server>client R", &t).unwrap();
        // A forbidden segment before a line that fails is reported first.
        assert_eq!(
            reason(&format!("{between}\n* client>server F."), &t),
            (2, Reason::Forbidden)
        );
    }

    #[test]
    fn unlisted_forbidden_refuses_segments_no_line_names_until_the_last_match() {
        let t = handshake();
        let skipping = "unlisted forbidden\n@0 client>server S\n* client>server P. len 5";
        let m = check(skipping, &t).unwrap_err();
        assert_eq!((m.line(), m.reason()), (3, &Reason::Unexpected));
        let text = m.to_string();
        let marked = text.lines().find(|l| l.starts_with(">>")).unwrap();
        assert!(
            marked.ends_with("| 0.001000 server>client S. seq 0 ack 1 win 502 length 0"),
            "{m}"
        );
        // The server's ACK after the last match is not checked.
        check(&format!("unlisted forbidden\n{HANDSHAKE}"), &t).unwrap();
        let built = Expectation::new()
            .unlisted(Unlisted::Forbidden)
            .line(Line::segment("client", "server", Flags::PSH | Flags::ACK));
        assert_eq!(built.check(&t).unwrap_err().reason(), &Reason::Unexpected);
    }

    #[test]
    fn the_report_shows_both_columns_and_marks_the_failure() {
        let m = check("@0 client>server S\n+0 server>client R.", &handshake())
            .unwrap_err()
            .with_pcap("target/netcase/t/client-eth0.pcap")
            .with_loss("0 frames dropped");
        let text = m.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "t.expect:2: wrong flags (expected R., got S.)");
        assert_eq!(lines[1], "capture: target/netcase/t/client-eth0.pcap");
        assert_eq!(lines[2], "capture loss: 0 frames dropped");
        assert!(
            lines[5].starts_with("      1  @0 client>server S  | 0.000000 client>server S seq 0"),
            "{text}"
        );
        assert!(
            lines[6].starts_with(
                ">>    2  +0 server>client R. | 0.001000 server>client S. seq 0 ack 1"
            ),
            "{text}"
        );
        assert_eq!(lines[7], "         ^ wrong flags (expected R., got S.)");
        assert_eq!(format!("{m:?}"), text);
    }

    #[test]
    fn long_runs_of_unlisted_segments_are_shortened() {
        let mut t = vec![seg(0, "client>server", "S", 0, 0, 0)];
        t.extend((1..=100).map(|i| seg(i, "client>server", ".", 1, 1, 100)));
        let text = check("* client>server S\n* client>server F.", &t)
            .unwrap_err()
            .to_string();
        assert!(text.contains("... 89 more"), "{text}");
        assert!(text.lines().count() < 30, "{text}");
    }

    #[test]
    fn durations_print_in_milliseconds() {
        assert_eq!(Millis(Duration::from_millis(412)).to_string(), "412 ms");
        assert_eq!(
            Millis(Duration::from_micros(411_800)).to_string(),
            "411.8 ms"
        );
        assert_eq!(Seconds(1_000_200_000).to_string(), "1.000200 s");
    }
}
