//! The ladder diagram of an exchange, as a standalone SVG: two hosts as vertical lines, each
//! segment an arrow from its sender to its receiver, labelled with its time and flags.
//! Segments that were sent again later are drawn dashed and red and marked with a cross: the
//! first copy got no answer (it was lost, or its answer was).

use std::fmt::Write as _;

use crate::packets::decode::{Flags, Segment};

/// The most segments one diagram draws; the rest are counted in its title.
pub const MAX_ROWS: usize = 300;
/// The diagram's width, in pixels.
pub const WIDTH: u32 = 800;
const TOP: u32 = 70;
const ROW: u32 = 30;
const LEFT_X: u32 = 230;
const RIGHT_X: u32 = 690;

/// The height of a diagram of `rows` segments, in pixels.
pub fn height(rows: usize) -> u32 {
    TOP + ROW * rows.min(MAX_ROWS) as u32 + 30
}

/// Draws `segments` between `left` and `right` (host names), titled `title`. Segments between
/// other hosts are left out.
pub fn svg(title: &str, left: &str, right: &str, segments: &[Segment]) -> String {
    let shown: Vec<&Segment> = segments
        .iter()
        .filter(|s| (s.from == left && s.to == right) || (s.from == right && s.to == left))
        .collect();
    let rows = shown.len().min(MAX_ROWS);
    let h = height(rows);
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{h}" viewBox="0 0 {WIDTH} {h}" font-family="DejaVu Sans Mono, monospace" font-size="12">
<rect width="100%" height="100%" fill="#ffffff"/>
<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#1f2937"/></marker>
<marker id="lost" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#b91c1c"/></marker></defs>
<text x="{mid}" y="20" text-anchor="middle" font-size="14" font-weight="bold">{title}</text>
<text x="{LEFT_X}" y="50" text-anchor="middle" font-size="13" font-weight="bold">{left}</text>
<text x="{RIGHT_X}" y="50" text-anchor="middle" font-size="13" font-weight="bold">{right}</text>
<line x1="{LEFT_X}" y1="{TOP}" x2="{LEFT_X}" y2="{bottom}" stroke="#6b7280" stroke-width="2"/>
<line x1="{RIGHT_X}" y1="{TOP}" x2="{RIGHT_X}" y2="{bottom}" stroke="#6b7280" stroke-width="2"/>
"##,
        mid = WIDTH / 2,
        title = escape(&if shown.len() > rows {
            format!("{title} (first {rows} of {} segments)", shown.len())
        } else {
            title.to_owned()
        }),
        left = escape(left),
        right = escape(right),
        bottom = h - 20,
    );
    let resent = sent_again(&shown);
    for (i, segment) in shown.iter().take(rows).enumerate() {
        let y = TOP + 16 + ROW * i as u32;
        let (x1, x2) = if segment.from == left {
            (LEFT_X, RIGHT_X)
        } else {
            (RIGHT_X, LEFT_X)
        };
        let lost = resent[i];
        let (colour, dash, marker) = if lost {
            ("#b91c1c", r#" stroke-dasharray="6 4""#, "lost")
        } else {
            ("#1f2937", "", "arrow")
        };
        let _ = writeln!(
            out,
            r##"<text x="10" y="{ty}" fill="#374151">{time:+.6} s</text>
<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y2}" stroke="{colour}" stroke-width="1.5"{dash} marker-end="url(#{marker})"/>
<text x="{lx}" y="{ly}" text-anchor="middle" fill="{colour}">{label}</text>"##,
            ty = y + 4,
            time = segment.at_secs(),
            y2 = y + 12,
            lx = (LEFT_X + RIGHT_X) / 2,
            ly = y - 2,
            label = escape(&label(segment)),
        );
        if lost {
            let (cx, cy) = ((x1 + x2) / 2, y + 6);
            let _ = writeln!(
                out,
                r##"<path d="M{a},{b} L{c},{d} M{a},{d} L{c},{b}" stroke="#b91c1c" stroke-width="2"/>"##,
                a = cx - 5,
                b = cy - 5,
                c = cx + 5,
                d = cy + 5,
            );
        }
    }
    out.push_str("</svg>\n");
    out
}

/// Flags, relative sequence and acknowledgement numbers and length, as in a ladder diagram.
fn label(s: &Segment) -> String {
    let mut text = format!("{} seq {}", s.flags, s.rel_seq);
    if s.flags.contains(Flags::ACK) {
        let _ = write!(text, " ack {}", s.rel_ack);
    }
    if s.len > 0 {
        let _ = write!(text, " len {}", s.len);
    }
    text
}

/// For each segment, whether its sender sent the same sequence range with the same flags again
/// later (a retransmission follows it).
fn sent_again(segments: &[&Segment]) -> Vec<bool> {
    let carries =
        |s: &Segment| s.len > 0 || s.flags.contains(Flags::SYN) || s.flags.contains(Flags::FIN);
    segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            carries(s)
                && segments[i + 1..].iter().any(|later| {
                    later.from == s.from
                        && later.seq == s.seq
                        && later.len == s.len
                        && later.flags == s.flags
                })
        })
        .collect()
}

/// Escapes text for XML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packets::decode::Options;

    fn segment(at_ms: i64, from: &str, to: &str, flags: Flags, seq: u32, len: u32) -> Segment {
        Segment {
            at_ns: at_ms * 1_000_000,
            from: from.into(),
            to: to.into(),
            src: "198.18.0.1:1000".parse().unwrap(),
            dst: "198.18.0.2:80".parse().unwrap(),
            flags,
            seq,
            ack: 0,
            rel_seq: seq,
            rel_ack: 0,
            len,
            window: 0,
            options: Options::default(),
        }
    }

    #[test]
    fn a_retransmitted_syn_is_drawn_lost_and_labels_are_escaped() {
        let syn = segment(0, "client", "server", Flags::SYN, 0, 0);
        let again = segment(1000, "client", "server", Flags::SYN, 0, 0);
        let other = segment(1001, "router", "server", Flags::SYN, 0, 0);
        let svg = svg("a <b> & c", "client", "server", &[syn, again, other]);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains("a &lt;b&gt; &amp; c"));
        assert_eq!(svg.matches("marker-end=\"url(#lost)\"").count(), 1);
        assert_eq!(
            svg.matches("marker-end=\"url(#arrow)\"").count(),
            1,
            "router left out"
        );
        assert!(svg.contains("+1.000000 s"));
        assert!(svg.contains(&format!("height=\"{}\"", height(2))));
    }
}
