//! The text form: lines split into tokens, numbers with `${variables}`, errors with a position.

use std::{fmt, time::Duration};

use super::{Expectation, Line, MAX_DURATION, MAX_REPEAT, Repeat, Timing, Unlisted, Vars};
use crate::packets::decode::Flags;

/// A line of an expectation file that could not be read, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The file, as given to the parser.
    pub file: String,
    /// The line, 1-based (0 when the file could not be read at all).
    pub line: usize,
    /// The column, 1-based, in characters.
    pub column: usize,
    /// What is wrong, and what to write instead.
    pub what: String,
}

/// `file:line:column: what`, as compilers print, so that editors jump to it.
impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.what)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.what
            )
        }
    }
}

impl std::error::Error for ParseError {}

/// What a segment line looks like, for error messages.
const SHAPE: &str = "a segment line is `[@T|+T|*] from>to FLAGS [seq N] [ack N] [len N] [win N] \
                     [mss N] [wscale N] [xN [every D | gaps D,..]] [~D]`";

/// Numbers are fixed-point with this many units per written unit (nine decimal places), so that
/// `0.1` is exact and a duration in seconds is its count of nanoseconds.
const SCALE: i128 = 1_000_000_000;

pub(super) fn parse(
    text: &str,
    file: &str,
    vars: &(impl Vars + ?Sized),
) -> Result<Expectation, ParseError> {
    let mut expectation = Expectation {
        source: file.to_owned(),
        ..Expectation::default()
    };
    let (mut tolerance_set, mut unlisted_set) = (false, false);
    let mut last = 0;
    for (index, raw) in text.lines().enumerate() {
        last = index + 1;
        let cx = Cx {
            file,
            line: index + 1,
            vars,
        };
        let tokens = tokenize(raw);
        let Some(first) = tokens.first() else {
            continue;
        };
        let directive = match first.text {
            "tolerance" => &mut tolerance_set,
            "unlisted" => &mut unlisted_set,
            _ => {
                expectation.lines.push(cx.segment_line(&tokens)?);
                continue;
            }
        };
        if !expectation.lines.is_empty() {
            return Err(cx.err(
                first.column,
                format!(
                    "`{}` after a segment line: directives hold for the whole file, so put \
                     them at the top",
                    first.text
                ),
            ));
        }
        if *directive {
            return Err(cx.err(
                first.column,
                format!("`{}` given twice: keep one", first.text),
            ));
        }
        *directive = true;
        let value = match tokens.get(1) {
            Some(value) if tokens.len() == 2 => value,
            _ => {
                return Err(cx.err(
                    first.column,
                    format!(
                        "`{}` takes one value: `tolerance 20ms`, `unlisted allowed` or \
                         `unlisted forbidden`",
                        first.text
                    ),
                ));
            }
        };
        match (first.text, value.text) {
            ("tolerance", _) => expectation.tolerance = cx.duration(*value)?,
            (_, "allowed") => expectation.unlisted = Unlisted::Allowed,
            (_, "forbidden") => expectation.unlisted = Unlisted::Forbidden,
            (_, other) => {
                return Err(cx.err(
                    value.column,
                    format!("`unlisted {other}`: write `unlisted allowed` or `unlisted forbidden`"),
                ));
            }
        }
    }
    if expectation.lines.is_empty() {
        return Err(Cx {
            file,
            line: last.max(1),
            vars,
        }
        .err(
            1,
            "no segment line: an expectation needs at least one, like `@0 client>server S`",
        ));
    }
    Ok(expectation)
}

/// A word of a line and the column (1-based, in characters) where it starts.
#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    text: &'a str,
    column: usize,
}

impl<'a> Token<'a> {
    /// The token without its first `bytes` bytes (ASCII prefixes only).
    fn tail(self, bytes: usize) -> Token<'a> {
        Token {
            text: self.text.get(bytes..).unwrap_or(""),
            column: self.column.saturating_add(bytes),
        }
    }

    /// The column just past its end.
    fn end(self) -> usize {
        self.column.saturating_add(self.text.chars().count())
    }
}

/// The words of a line up to its comment.
fn tokenize(line: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let mut start: Option<(usize, usize)> = None;
    let mut close = |start: &mut Option<(usize, usize)>, end: usize| {
        if let Some((from, column)) = start.take() {
            tokens.push(Token {
                text: line.get(from..end).unwrap_or(""),
                column,
            });
        }
    };
    let mut end = line.len();
    for (column, (at, c)) in line.char_indices().enumerate() {
        if c == '#' {
            end = at;
            break;
        }
        if c.is_whitespace() {
            close(&mut start, at);
        } else if start.is_none() {
            start = Some((at, column + 1));
        }
    }
    close(&mut start, end);
    tokens
}

/// Where the parser is, and the settings `${name}` resolves from.
struct Cx<'a, V: ?Sized> {
    file: &'a str,
    line: usize,
    vars: &'a V,
}

impl<V: Vars + ?Sized> Cx<'_, V> {
    fn err(&self, column: usize, what: impl Into<String>) -> ParseError {
        ParseError {
            file: self.file.to_owned(),
            line: self.line,
            column,
            what: what.into(),
        }
    }

    fn segment_line(&self, tokens: &[Token<'_>]) -> Result<Line, ParseError> {
        let mut words = tokens.iter().copied().peekable();
        let end = tokens.last().map_or(1, |t| t.end());
        let mut timing = Timing::Any;
        let mut timed = None;
        if let Some(first) = words.peek().copied() {
            let timing_word = match first.text.as_bytes().first() {
                Some(b'@') => {
                    timing = Timing::At(self.duration(first.tail(1))?);
                    true
                }
                Some(b'+') => {
                    timing = Timing::After(self.duration(first.tail(1))?);
                    true
                }
                _ => first.text == "*",
            };
            if timing_word {
                timed = (first.text != "*").then_some(first);
                words.next();
            }
        }
        let missing = |what: &str| self.err(end, format!("missing {what}: {SHAPE}"));
        let mut direction = words.next().ok_or_else(|| missing("the direction"))?;
        let forbidden = direction.text.starts_with('!');
        if direction.text == "!" {
            direction = words.next().ok_or_else(|| missing("the direction"))?;
        } else if forbidden {
            direction = direction.tail(1);
        }
        if let (true, Some(t)) = (forbidden, timed) {
            return Err(self.err(
                t.column,
                "a forbidden line (`!`) has no timing: it holds between the segments its \
                 neighbours match; remove the timing",
            ));
        }
        let (from, to) = self.direction(direction)?;
        let flags = self.flags(words.next().ok_or_else(|| missing("the flags"))?)?;
        let mut line = Line {
            number: self.line,
            forbidden,
            timing,
            ..Line::segment(from, to, flags)
        };
        let (mut count, mut every, mut gaps) = (None, None, None);
        while let Some(word) = words.next() {
            let mut value = |name: &str| {
                words.next().ok_or_else(|| {
                    self.err(
                        word.end().saturating_add(1),
                        format!("`{name}` needs a value after it: `{name} 1`"),
                    )
                })
            };
            let f = &mut line.fields;
            let twice = |set: bool| match set {
                true => Err(self.err(
                    word.column,
                    format!("`{}` given twice: keep one", word.text),
                )),
                false => Ok(()),
            };
            match word.text {
                "seq" => {
                    twice(f.seq.is_some())?;
                    f.seq = Some(self.whole(value("seq")?, u32::MAX.into(), "seq")? as u32);
                }
                "ack" => {
                    twice(f.ack.is_some())?;
                    f.ack = Some(self.whole(value("ack")?, u32::MAX.into(), "ack")? as u32);
                }
                "len" => {
                    twice(f.len.is_some())?;
                    f.len = Some(self.whole(value("len")?, u32::MAX.into(), "len")? as u32);
                }
                "win" => {
                    twice(f.win.is_some())?;
                    f.win = Some(self.whole(value("win")?, u16::MAX.into(), "win")? as u16);
                }
                "mss" => {
                    twice(f.mss.is_some())?;
                    f.mss = Some(self.whole(value("mss")?, u16::MAX.into(), "mss")? as u16);
                }
                "wscale" => {
                    // RFC 7323 caps the shift at 14; Linux never sends more.
                    twice(f.wscale.is_some())?;
                    f.wscale = Some(self.whole(value("wscale")?, 14, "wscale")? as u8);
                }
                "every" => {
                    twice(every.is_some())?;
                    every = Some((word, self.duration(value("every")?)?));
                }
                "gaps" => {
                    twice(gaps.is_some())?;
                    gaps = Some((word, self.durations(value("gaps")?)?));
                }
                text if text.starts_with('~') => {
                    twice(line.tolerance.is_some())?;
                    if forbidden {
                        return Err(self.err(
                            word.column,
                            "a forbidden line has no timing, so no tolerance: remove it",
                        ));
                    }
                    line.tolerance = Some(self.duration(word.tail(1))?);
                }
                text if text.starts_with('x')
                    && matches!(text.as_bytes().get(1), Some(b'0'..=b'9' | b'$')) =>
                {
                    twice(count.is_some())?;
                    if forbidden {
                        return Err(self.err(word.column, "a forbidden line cannot repeat"));
                    }
                    let n = self.whole(word.tail(1), MAX_REPEAT.into(), "a count")? as u32;
                    if n == 0 {
                        return Err(self.err(word.column, "x0: a count is at least 1"));
                    }
                    count = Some(n);
                }
                other => {
                    return Err(self.err(word.column, format!("unexpected `{other}`: {SHAPE}")));
                }
            }
        }
        line.repeat = match (count, every, gaps) {
            (_, Some(_), Some((word, _))) => {
                return Err(self.err(word.column, "`every` or `gaps`, not both: keep one"));
            }
            (None, Some((word, _)), None) | (None, None, Some((word, _))) => {
                return Err(self.err(
                    word.column,
                    format!(
                        "`{}` needs a count before it: `x5 every 1s`, `x3 gaps 1s,2s`",
                        word.text
                    ),
                ));
            }
            (None, None, None) => Repeat::Once,
            (Some(n), None, None) => Repeat::Untimed(n),
            (Some(n), Some((_, gap)), None) => Repeat::Every(n, gap),
            (Some(n), None, Some((word, list))) => {
                if list.len() != n as usize - 1 {
                    return Err(self.err(
                        word.column,
                        format!(
                            "x{n} has {} gaps between its segments but `gaps` lists {}: list \
                             one gap fewer than the count",
                            n - 1,
                            list.len()
                        ),
                    ));
                }
                Repeat::Gaps(list)
            }
        };
        Ok(line)
    }

    fn direction<'t>(&self, token: Token<'t>) -> Result<(&'t str, &'t str), ParseError> {
        let Some((from, to)) = token.text.split_once('>') else {
            return Err(self.err(
                token.column,
                format!(
                    "expected a direction like `client>server`, found `{}`: {SHAPE}",
                    token.text
                ),
            ));
        };
        let to_column = token.column.saturating_add(from.chars().count() + 1);
        for (name, column) in [(from, token.column), (to, to_column)] {
            if name.is_empty() {
                return Err(self.err(
                    column,
                    "a host name is missing: write the direction as `client>server`",
                ));
            }
            let bad = name
                .chars()
                .position(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'));
            if let Some(at) = bad {
                return Err(self.err(
                    column.saturating_add(at),
                    format!("bad host name `{name}`: host names are made of A-Z a-z 0-9 _ -"),
                ));
            }
        }
        if from == to {
            return Err(self.err(
                token.column,
                format!(
                    "`{}` goes from a host to itself: name two hosts",
                    token.text
                ),
            ));
        }
        Ok((from, to))
    }

    fn flags(&self, token: Token<'_>) -> Result<Flags, ParseError> {
        if token.text == "none" {
            return Ok(Flags::empty());
        }
        let mut flags = Flags::empty();
        for (i, c) in token.text.chars().enumerate() {
            let column = token.column.saturating_add(i);
            let flag = match c {
                'S' => Flags::SYN,
                'F' => Flags::FIN,
                'P' => Flags::PSH,
                'R' => Flags::RST,
                'U' => Flags::URG,
                'E' => Flags::ECE,
                'W' => Flags::CWR,
                '.' => Flags::ACK,
                _ => {
                    return Err(self.err(
                        column,
                        format!(
                            "unknown flag `{c}`: flags are tcpdump's letters S F P R U E W, and \
                             `.` for ACK (`S.`, `P.`, `none` for no flag)"
                        ),
                    ));
                }
            };
            if flags.contains(flag) {
                return Err(self.err(column, format!("flag `{c}` given twice")));
            }
            flags = flags | flag;
        }
        Ok(flags)
    }

    /// A whole number from `0` to `max`, the whole token; `what` names it in errors.
    fn whole(&self, token: Token<'_>, max: u64, what: &str) -> Result<u64, ParseError> {
        let (value, rest) = self.sum(token)?;
        self.at_end(rest)?;
        if value % SCALE != 0 {
            return Err(self.err(
                token.column,
                format!("{what} must be a whole number, not `{}`", token.text),
            ));
        }
        match u64::try_from(value / SCALE) {
            Ok(n) if n <= max => Ok(n),
            _ => Err(self.err(
                token.column,
                format!("{what} `{}` is out of range: it is 0 to {max}", token.text),
            )),
        }
    }

    /// A duration, the whole token.
    fn duration(&self, token: Token<'_>) -> Result<Duration, ParseError> {
        let (duration, rest) = self.duration_prefix(token)?;
        self.at_end(rest)?;
        Ok(duration)
    }

    /// Durations separated by commas, the whole token: `1s,2s,4s`.
    fn durations(&self, token: Token<'_>) -> Result<Vec<Duration>, ParseError> {
        let mut list = Vec::new();
        let mut rest = token;
        loop {
            let (duration, after) = self.duration_prefix(rest)?;
            list.push(duration);
            if list.len() >= MAX_REPEAT as usize {
                return Err(self.err(
                    token.column,
                    format!(
                        "more than {} gaps: a line repeats at most {MAX_REPEAT} times",
                        MAX_REPEAT - 1
                    ),
                ));
            }
            match after.text.strip_prefix(',') {
                Some(_) => rest = after.tail(1),
                None => {
                    self.at_end(after)?;
                    return Ok(list);
                }
            }
        }
    }

    /// A duration at the start of `token` (a sum, then `s`, `ms` or nothing for seconds), and
    /// what follows it.
    fn duration_prefix<'t>(&self, token: Token<'t>) -> Result<(Duration, Token<'t>), ParseError> {
        let (value, rest) = self.sum(token)?;
        let (nanos, rest) = if rest.text.starts_with("ms") {
            (value / 1000, rest.tail(2))
        } else if rest.text.starts_with('s') {
            (value, rest.tail(1))
        } else {
            (value, rest)
        };
        match u64::try_from(nanos) {
            Ok(n) if Duration::from_nanos(n) <= MAX_DURATION => Ok((Duration::from_nanos(n), rest)),
            Ok(_) => Err(self.err(
                token.column,
                "a duration is at most a day (86400s): check the number and its unit",
            )),
            Err(_) => Err(self.err(token.column, "a duration cannot be negative")),
        }
    }

    fn at_end(&self, rest: Token<'_>) -> Result<(), ParseError> {
        match rest.text.is_empty() {
            true => Ok(()),
            false => Err(self.err(
                rest.column,
                format!(
                    "unexpected `{}` after a number: numbers are like `5`, `0.2`, `${{name}}+1`; \
                     durations end in `s`, `ms` or nothing (seconds)",
                    rest.text
                ),
            )),
        }
    }

    /// Numbers and `${name}`s joined by `+` and `-` at the start of `token`, in units of
    /// 1/[`SCALE`], and what follows them.
    fn sum<'t>(&self, token: Token<'t>) -> Result<(i128, Token<'t>), ParseError> {
        let (mut total, mut rest) = self.atom(token)?;
        loop {
            let sign = match rest.text.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return Ok((total, rest)),
            };
            let (value, after) = self.atom(rest.tail(1))?;
            total = total
                .checked_add(sign * value)
                .ok_or_else(|| self.err(token.column, "number too large"))?;
            rest = after;
        }
    }

    /// One number or `${name}` at the start of `token`, and what follows it.
    fn atom<'t>(&self, token: Token<'t>) -> Result<(i128, Token<'t>), ParseError> {
        let Some(inner) = token.text.strip_prefix("${") else {
            return match decimal(token.text) {
                Ok((value, used)) => Ok((value, token.tail(used))),
                Err(why) => Err(self.err(token.column, format!("{why} at `{}`", token.text))),
            };
        };
        let Some(name) = inner.split_once('}').map(|(name, _)| name) else {
            return Err(self.err(token.column, "`${` without `}`: write `${name}`"));
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(self.err(
                token.column,
                format!("bad variable name `{name}`: names are made of A-Z a-z 0-9 _"),
            ));
        }
        let Some(text) = self.vars.var(name) else {
            return Err(self.err(
                token.column,
                format!(
                    "unknown variable `${{{name}}}`: the settings given to the parser have no \
                     `{name}`; check the spelling, or pass it"
                ),
            ));
        };
        match decimal(text.trim()) {
            Ok((value, used)) if used == text.trim().len() => {
                Ok((value, token.tail(name.len() + 3)))
            }
            _ => Err(self.err(
                token.column,
                format!("variable `${{{name}}}` is {text:?}, not a number: use a setting that holds one number"),
            )),
        }
    }
}

/// A decimal number at the start of `text` (`12`, `0.25`: at most 18 digits before the point and
/// 9 after), in units of 1/[`SCALE`], and how many bytes it took.
fn decimal(text: &str) -> Result<(i128, usize), &'static str> {
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    let whole = digits(text);
    if whole == 0 {
        return Err("expected a number");
    }
    if whole > 18 {
        return Err("too many digits (at most 18 before the point)");
    }
    let value = |s: &str| s.bytes().fold(0i128, |n, d| n * 10 + i128::from(d - b'0'));
    let mut total = value(text.get(..whole).unwrap_or("")) * SCALE;
    let Some(after) = text.get(whole..).and_then(|s| s.strip_prefix('.')) else {
        return Ok((total, whole));
    };
    let frac = digits(after);
    if frac == 0 {
        return Err("expected a digit after the point");
    }
    if frac > 9 {
        return Err("too many digits (at most 9 after the point)");
    }
    let mut part = value(after.get(..frac).unwrap_or(""));
    for _ in frac..9 {
        part *= 10;
    }
    total += part;
    Ok((total, whole + 1 + frac))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expect::DEFAULT_TOLERANCE;

    fn parse(text: &str) -> Result<Expectation, ParseError> {
        Expectation::parse(
            text,
            "t.expect",
            &[
                ("tcp_syn_retries", "6"),
                ("intvl", " 75\n"),
                ("rmem", "4096 131072"),
            ],
        )
    }

    fn line(text: &str) -> Line {
        let e = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        e.lines[0].clone()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_file_parses_into_the_lines_the_builder_makes() {
        let text = "\
@0      client>server S        # the SYN
+0.0s   server>client S. ack 1
+0      client>server . seq 1 ack 1
*       client>server P. len 5
client>server F. seq 6 ack 1 win 502 mss 1460 wscale 7
+1.0s   client>server S x5 every 1.0s
+1s     client>server S x3 gaps 1s,2s ~300ms
!client>server R
! server>client R.
+412ms  server>client none x2
@1.5    server>client UEW.
";
        let built = Expectation::new()
            .line(Line::segment("client", "server", Flags::SYN).at(ms(0)))
            .line(
                Line::segment("server", "client", Flags::SYN | Flags::ACK)
                    .after(ms(0))
                    .ack(1),
            )
            .line(
                Line::segment("client", "server", Flags::ACK)
                    .after(ms(0))
                    .seq(1)
                    .ack(1),
            )
            .line(Line::segment("client", "server", Flags::PSH | Flags::ACK).len(5))
            .line(
                Line::segment("client", "server", Flags::FIN | Flags::ACK)
                    .seq(6)
                    .ack(1)
                    .win(502)
                    .mss(1460)
                    .wscale(7),
            )
            .line(
                Line::segment("client", "server", Flags::SYN)
                    .after(ms(1000))
                    .every(5, ms(1000)),
            )
            .line(
                Line::segment("client", "server", Flags::SYN)
                    .after(ms(1000))
                    .gaps([ms(1000), ms(2000)])
                    .tolerance(ms(300)),
            )
            .line(Line::forbidden("client", "server", Flags::RST))
            .line(Line::forbidden("server", "client", Flags::RST | Flags::ACK))
            .line(
                Line::segment("server", "client", Flags::empty())
                    .after(ms(412))
                    .times(2),
            )
            .line(
                Line::segment(
                    "server",
                    "client",
                    Flags::URG | Flags::ECE | Flags::CWR | Flags::ACK,
                )
                .at(ms(1500)),
            );
        let parsed = parse(text).unwrap();
        assert_eq!(parsed.lines(), built.lines());
        assert_eq!(
            (parsed.tolerance, parsed.unlisted),
            (DEFAULT_TOLERANCE, Unlisted::Allowed)
        );
        assert_eq!(parsed.source, "t.expect");
    }

    #[test]
    fn the_example_in_the_module_docs_parses() {
        let docs = include_str!("mod.rs");
        let block = docs.split("//! ```text\n").nth(1).unwrap();
        let block = block.split("//! ```").next().unwrap();
        let text: String = block.lines().map(|l| format!("{}\n", &l[3..])).collect();
        let e = parse(&text).unwrap();
        assert_eq!(e.lines.len(), 6);
        assert_eq!(e.tolerance, ms(20));
    }

    #[test]
    fn a_line_prints_as_it_parses() {
        for text in [
            "@0 client>server S",
            "+1s client>server S x3 gaps 1s,2s ~300ms",
            "+412ms server>client P. seq 1 ack 6 len 5 win 502",
            "* a>b S. mss 1460 wscale 7 x5 every 1.5s",
            "!client>server F.",
            "* a>b none x2",
        ] {
            assert_eq!(line(text).to_string(), text);
        }
        // Numbers print resolved and in the shortest form.
        assert_eq!(line("+1.000s a>b S ~0.05").to_string(), "+1s a>b S ~50ms");
    }

    #[test]
    fn directives_set_the_file_and_a_line_overrides_tolerance() {
        let e = parse("# head\n\ntolerance 20ms\nunlisted forbidden\n@0 a>b S ~30ms\n* a>b S.\n")
            .unwrap();
        assert_eq!(e.tolerance, ms(20));
        assert_eq!(e.unlisted, Unlisted::Forbidden);
        assert_eq!(e.lines[0].tolerance, Some(ms(30)));
        assert_eq!(e.lines[1].tolerance, None);
        assert_eq!((e.lines[0].number, e.lines[1].number), (5, 6));
        assert_eq!(
            parse("unlisted allowed\n* a>b S").unwrap().unlisted,
            Unlisted::Allowed
        );
    }

    #[test]
    fn variables_and_sums_resolve() {
        let l = line("+${intvl}s a>b . x${tcp_syn_retries}+1 every ${intvl}-74.5");
        assert_eq!(l.timing, Timing::After(Duration::from_secs(75)));
        assert_eq!(l.repeat, Repeat::Every(7, ms(500)));
        assert_eq!(
            line("* a>b S. ack ${tcp_syn_retries}+1-2").fields.ack,
            Some(5)
        );
        assert_eq!(
            line("@${tcp_syn_retries}ms a>b S").timing,
            Timing::At(ms(6))
        );
        assert_eq!(line("@0.25 a>b S").timing, Timing::At(ms(250)));
        assert_eq!(
            line("@0.000000001 a>b S").timing,
            Timing::At(Duration::from_nanos(1))
        );
    }

    #[test]
    fn repetition_times_each_copy() {
        let l = line("+1s a>b S x4 gaps 1s,2s,4s");
        assert_eq!(l.count(), 4);
        let timings: Vec<Timing> = (1..=4).map(|k| l.timing_of(k)).collect();
        let after = |s| Timing::After(Duration::from_secs(s));
        assert_eq!(timings, [after(1), after(1), after(2), after(4)]);
        let l = line("@2 a>b S x3");
        assert_eq!(
            (l.timing_of(1), l.timing_of(2)),
            (Timing::At(Duration::from_secs(2)), Timing::Any)
        );
        assert_eq!(line("* a>b S x1 every 1s").count(), 1);
    }

    #[test]
    fn errors_say_where_and_what() {
        let cases = [
            ("", "t.expect:1:1: no segment line"),
            ("# only\n\n", "t.expect:2:1: no segment line"),
            (
                "@0 client",
                "t.expect:1:4: expected a direction like `client>server`",
            ),
            ("@0", "t.expect:1:3: missing the direction"),
            ("@0 a>b", "t.expect:1:7: missing the flags"),
            ("@0 a>b SX", "t.expect:1:9: unknown flag `X`"),
            ("@0 a>b S.S", "t.expect:1:10: flag `S` given twice"),
            ("@0 a>a S", "t.expect:1:4: `a>a` goes from a host to itself"),
            ("@0 >b S", "t.expect:1:4: a host name is missing"),
            ("@0 a>b.c S", "t.expect:1:7: bad host name `b.c`"),
            ("@x a>b S", "t.expect:1:2: expected a number at `x`"),
            (
                "@1.x a>b S",
                "t.expect:1:2: expected a digit after the point",
            ),
            (
                "@1.0000000001 a>b S",
                "t.expect:1:2: too many digits (at most 9 after the point)",
            ),
            (
                "@1000000000000000000 a>b S",
                "t.expect:1:2: too many digits",
            ),
            ("@1h a>b S", "t.expect:1:3: unexpected `h` after a number"),
            ("@86401 a>b S", "t.expect:1:2: a duration is at most a day"),
            ("@1-2 a>b S", "t.expect:1:2: a duration cannot be negative"),
            ("* a>b S seq", "t.expect:1:13: `seq` needs a value after it"),
            (
                "* a>b S seq 1.5",
                "t.expect:1:13: seq must be a whole number",
            ),
            (
                "* a>b S win 65536",
                "t.expect:1:13: win `65536` is out of range: it is 0 to 65535",
            ),
            (
                "* a>b S wscale 15",
                "t.expect:1:16: wscale `15` is out of range: it is 0 to 14",
            ),
            (
                "* a>b S ack 4294967296",
                "t.expect:1:13: ack `4294967296` is out of range",
            ),
            ("* a>b S len 1 len 2", "t.expect:1:15: `len` given twice"),
            (
                "* a>b S bogus",
                "t.expect:1:9: unexpected `bogus`: a segment line is",
            ),
            ("* a>b S x0", "t.expect:1:9: x0: a count is at least 1"),
            (
                "* a>b S x1001",
                "t.expect:1:10: a count `1001` is out of range",
            ),
            (
                "* a>b S every 1s",
                "t.expect:1:9: `every` needs a count before it",
            ),
            (
                "* a>b S x3 gaps 1s",
                "t.expect:1:12: x3 has 2 gaps between its segments but `gaps` lists 1",
            ),
            (
                "* a>b S x3 gaps 1s,,2s",
                "t.expect:1:20: expected a number at `,2s`",
            ),
            (
                "* a>b S x2 every 1s gaps 1s",
                "t.expect:1:21: `every` or `gaps`, not both",
            ),
            (
                "+1s !a>b R",
                "t.expect:1:1: a forbidden line (`!`) has no timing",
            ),
            (
                "!a>b R ~5ms",
                "t.expect:1:8: a forbidden line has no timing, so no tolerance",
            ),
            ("!a>b R x2", "t.expect:1:8: a forbidden line cannot repeat"),
            (
                "* a>b S\ntolerance 1ms",
                "t.expect:2:1: `tolerance` after a segment line",
            ),
            (
                "tolerance 1ms\ntolerance 2ms\n* a>b S",
                "t.expect:2:1: `tolerance` given twice",
            ),
            (
                "tolerance\n* a>b S",
                "t.expect:1:1: `tolerance` takes one value",
            ),
            (
                "unlisted maybe\n* a>b S",
                "t.expect:1:10: `unlisted maybe`: write `unlisted allowed`",
            ),
            (
                "\n\n  @0  a>b S x${nope}",
                "t.expect:3:14: unknown variable `${nope}`",
            ),
            (
                "* a>b S ack ${rmem}",
                "t.expect:1:13: variable `${rmem}` is \"4096 131072\", not a number",
            ),
            (
                "* a>b S ack ${tcp_syn_retries",
                "t.expect:1:13: `${` without `}`",
            ),
            (
                "* a>b S ack ${a-b}",
                "t.expect:1:13: bad variable name `a-b`",
            ),
            (
                "* a>b S ack 1+${nope}",
                "t.expect:1:15: unknown variable `${nope}`",
            ),
            ("* a>b S ~", "t.expect:1:10: expected a number at ``"),
            // Columns count characters, not bytes.
            ("* é>b S", "t.expect:1:3: bad host name `é`"),
            ("* a>b Sé", "t.expect:1:8: unknown flag `é`"),
        ];
        for (text, expected) in cases {
            let err = parse(text).expect_err(text).to_string();
            assert!(
                err.starts_with(expected),
                "{text:?}\n  gave:     {err}\n  expected: {expected}"
            );
        }
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let err = Expectation::load("/nonexistent/x.expect", &()).unwrap_err();
        assert_eq!(err.line, 0);
        assert!(
            err.to_string()
                .starts_with("/nonexistent/x.expect: cannot read"),
            "{err}"
        );
    }

    #[test]
    fn comments_and_white_space_split_words() {
        let tokens: Vec<(&str, usize)> = tokenize(" @0\tclient>server S.# ack 1")
            .iter()
            .map(|t| (t.text, t.column))
            .collect();
        assert_eq!(tokens, [("@0", 2), ("client>server", 5), ("S.", 19)]);
        assert!(tokenize("   # nothing").is_empty());
    }
}
