//! No input makes the expectation parser or checker panic: 20,000 generated files, random and
//! mutated from valid ones, each parsed, and those that parse checked against a random timeline.
//! The generator is a seeded xorshift, so a failure reproduces with the same seed.

use std::collections::HashMap;

use netcase::{
    decode::{Flags, Segment},
    expect::Expectation,
};

/// Files to try, in files.
const RUNS: usize = 20_000;
const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// xorshift64 (Marsaglia, 2003): enough randomness for inputs, and no dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Valid files to mutate: every construct of the format.
const VALID: &[&str] = &[
    "tolerance 20ms\nunlisted forbidden\n@0 client>server S\n+0.0s server>client S. ack 1\n\
     +0 client>server . seq 1 ack 1\n* client>server P. len 5 # data\n",
    "+1.0s client>server S x5 every 1.0s\n+1s client>server S x3 gaps 1s,2s ~300ms\n\
     !client>server F\n",
    "@${a}ms client>server S. win 502 mss 1460 wscale 7 x${b}+1 every ${a}-1s ~${c}\n\
     ! server>client R.\n* server>client none\n",
    "unlisted allowed\n\n# comment\n@1.5 client>server UEW. seq 4294967295 ack 0 len 65535\n",
];

/// Characters the format gives meaning to, and some it does not.
const ALPHABET: &[&str] = &[
    "@",
    "+",
    "-",
    "*",
    "!",
    "~",
    "#",
    ">",
    ".",
    ",",
    " ",
    "\t",
    "\n",
    "\r\n",
    "$",
    "{",
    "}",
    "${",
    "0",
    "1",
    "9",
    "0.5",
    "412",
    "99999999999999999999",
    "s",
    "ms",
    "x",
    "x5",
    "S",
    "F",
    "P",
    "R",
    "U",
    "E",
    "W",
    "S.",
    "client",
    "server",
    "client>server",
    "server>client",
    "seq",
    "ack",
    "len",
    "win",
    "mss",
    "wscale",
    "every",
    "gaps",
    "tolerance",
    "unlisted",
    "allowed",
    "forbidden",
    "none",
    "${a}",
    "${b}",
    "${zz}",
    "é",
    "\u{0}",
    "\u{ff}",
    "🦀",
    "1.",
    ".5",
    "1.0000000001",
    "86400",
    "86401",
];

fn random_text(rng: &mut XorShift) -> String {
    let n = rng.below(40);
    (0..n)
        .map(|_| ALPHABET[rng.below(ALPHABET.len())])
        .collect()
}

/// A valid file with byte flips, truncations and duplicated spans; lossy back to text, since the
/// parser takes `&str`.
fn mutated(rng: &mut XorShift) -> String {
    let mut bytes = VALID[rng.below(VALID.len())].as_bytes().to_vec();
    for _ in 0..1 + rng.below(4) {
        if bytes.is_empty() {
            break;
        }
        let at = rng.below(bytes.len());
        match rng.below(4) {
            0 => bytes[at] ^= 1 << rng.below(8),
            1 => bytes.truncate(at),
            2 => {
                let end = (at + 1 + rng.below(16)).min(bytes.len());
                let span = bytes[at..end].to_vec();
                bytes.splice(at..at, span);
            }
            _ => bytes[at] = b"@+!~#>.,x$ 9\n"[rng.below(13)],
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Lines built from the format's grammar, mostly valid, so that `check` gets many expectations.
fn grammar_text(rng: &mut XorShift) -> String {
    let pick = |rng: &mut XorShift, from: &[&'static str]| from[rng.below(from.len())];
    let mut text = String::new();
    if rng.below(3) == 0 {
        text.push_str(pick(
            rng,
            &[
                "unlisted forbidden\n",
                "tolerance 1ms\n",
                "tolerance ${a}s\n",
            ],
        ));
    }
    for _ in 0..1 + rng.below(6) {
        let bang = rng.below(6) == 0;
        if !bang {
            text.push_str(pick(
                rng,
                &[
                    "", "* ", "@0 ", "+0 ", "+1s ", "@2.5 ", "+${a}ms ", "+10ms ",
                ],
            ));
        }
        text.push_str(if bang { "!" } else { "" });
        text.push_str(pick(
            rng,
            &["client>server ", "server>client ", "client>router "],
        ));
        text.push_str(pick(
            rng,
            &["S", "S.", ".", "P.", "F.", "R", "R.", "none", "SFPRUEW."],
        ));
        for _ in 0..rng.below(3) {
            let field = pick(rng, &[" seq", " ack", " len", " win", " mss", " wscale"]);
            text.push_str(&format!("{field} {}", rng.below(3)));
        }
        if !bang && rng.below(3) == 0 {
            text.push_str(pick(
                rng,
                &[
                    " x2",
                    " x3 every 1s",
                    " x3 gaps 1s,2s",
                    " x${b}",
                    " x1000 every 0",
                ],
            ));
        }
        if !bang && rng.below(3) == 0 {
            text.push_str(pick(rng, &[" ~0", " ~1ms", " ~86400s", " ~${a}"]));
        }
        text.push('\n');
    }
    text
}

fn random_timeline(rng: &mut XorShift) -> Vec<Segment> {
    let hosts = ["client", "server", "router"];
    let mut at_ns: i64 = rng.below(1000) as i64 - 500;
    (0..rng.below(12))
        .map(|_| {
            at_ns = at_ns.saturating_add(rng.below(3_000_000_000) as i64);
            let from = hosts[rng.below(3)];
            let to = hosts[rng.below(3)];
            let addr = "198.18.0.1:1".parse().expect("address");
            Segment {
                at_ns: if rng.below(50) == 0 { i64::MAX } else { at_ns },
                from: from.to_owned(),
                to: to.to_owned(),
                src: addr,
                dst: addr,
                flags: Flags::from_bits(rng.next() as u8),
                seq: rng.next() as u32,
                ack: rng.next() as u32,
                rel_seq: rng.below(8) as u32,
                rel_ack: rng.below(8) as u32,
                len: rng.below(3) as u32,
                window: rng.next() as u16,
                options: Default::default(),
            }
        })
        .collect()
}

#[test]
fn no_input_panics() {
    let vars: HashMap<String, String> = [("a", "3"), ("b", "2"), ("c", "junk")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into_iter()
        .collect();
    let mut rng = XorShift(SEED);
    let (mut parsed, mut refused) = (0, 0);
    for _ in 0..RUNS {
        let text = match rng.below(3) {
            0 => random_text(&mut rng),
            1 => mutated(&mut rng),
            _ => grammar_text(&mut rng),
        };
        match Expectation::parse(&text, "fuzz.expect", &vars) {
            Ok(e) => {
                parsed += 1;
                if let Err(m) = e.check(&random_timeline(&mut rng)) {
                    assert!(!m.to_string().is_empty());
                }
            }
            Err(e) => {
                refused += 1;
                let shown = e.to_string();
                assert!(shown.starts_with("fuzz.expect:"), "{shown}");
                assert!(e.line >= 1 && e.column >= 1, "{shown} for {text:?}");
            }
        }
    }
    // Both paths ran often enough to mean something.
    assert!(
        parsed > 1000 && refused > 1000,
        "parsed {parsed}, refused {refused}"
    );
}
