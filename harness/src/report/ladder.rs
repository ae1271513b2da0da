//! The ladder diagram of an exchange, as a standalone SVG: two hosts as vertical lines, each
//! segment an arrow from its sender to its receiver, labelled with its time, its connection's
//! port on the left host and its flags. Each connection (a pair of ports) has a colour of its
//! own, named in a legend under the title, so that a case with several connections reads as
//! several streams. Segments that were sent again later are drawn dashed and red and marked with
//! a cross: the first copy got no answer (it was lost, or its answer was).

use std::{fmt::Write as _, net::SocketAddr};

use crate::packets::decode::{Flags, Segment};

/// The most segments one diagram draws; the rest are counted in its title.
pub const MAX_ROWS: usize = 300;
/// The diagram's width, in pixels.
pub const WIDTH: u32 = 800;
/// Where the first legend row sits, and how far apart legend rows are.
const LEGEND_Y: u32 = 40;
const LEGEND_ROW: u32 = 18;
/// Legend entries per row.
const LEGEND_PER_ROW: usize = 3;
const ROW: u32 = 30;
const LEFT_X: u32 = 230;
const RIGHT_X: u32 = 690;
/// The connections' colours, in order of first appearance (then again from the first): dark
/// enough on white to read as text, none of them the red of a segment sent again.
const PALETTE: [&str; 6] = [
    "#1f2937", "#1d4ed8", "#047857", "#7c3aed", "#b45309", "#0e7490",
];
/// A segment sent again later.
const RESENT: &str = "#b91c1c";

/// The height of a diagram of `rows` segments and `connections` connections, in pixels.
pub fn height(rows: usize, connections: usize) -> u32 {
    top(connections) + ROW * rows.min(MAX_ROWS) as u32 + 30
}

/// Where the host lines start, under the title, the legend and the host names.
fn top(connections: usize) -> u32 {
    let legend_rows = connections.div_ceil(LEGEND_PER_ROW).max(1) as u32;
    LEGEND_Y + LEGEND_ROW * legend_rows + 30
}

/// A connection as the diagram sees it: the left host's end and the right host's.
type Ends = (SocketAddr, SocketAddr);

/// How far apart in time a capture's segment and an impairment's record of the same headers may
/// be and still be the same packet: the capture's tap and the drop program run in one softirq
/// on the receiving side (microseconds apart), or a link's transit apart on the sending side;
/// a hundred milliseconds leaves room for a starved emulated CPU, and stays far below any
/// retransmission timer, so a resent copy is never taken for the dropped one.
const SAME_PACKET: i64 = 100_000_000;

/// Draws `segments` between `left` and `right` (host names), titled `title`. Segments between
/// other hosts are left out. Those `drops` records (an impairment's, in the same time base) are
/// drawn ending in a cross before their receiver.
pub fn svg(
    title: &str,
    left: &str,
    right: &str,
    segments: &[Segment],
    drops: &[Segment],
) -> String {
    let shown: Vec<&Segment> = segments
        .iter()
        .filter(|s| (s.from == left && s.to == right) || (s.from == right && s.to == left))
        .collect();
    let dropped = dropped(&shown, drops);
    let ends = |s: &Segment| -> Ends {
        if s.from == left {
            (s.src, s.dst)
        } else {
            (s.dst, s.src)
        }
    };
    let mut connections: Vec<Ends> = Vec::new();
    for s in &shown {
        if !connections.contains(&ends(s)) {
            connections.push(ends(s));
        }
    }
    let colour = |e: Ends| {
        let i = connections.iter().position(|c| *c == e).unwrap_or(0);
        (i, PALETTE[i % PALETTE.len()])
    };
    let rows = shown.len().min(MAX_ROWS);
    let (h, top) = (height(rows, connections.len()), top(connections.len()));
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{h}" viewBox="0 0 {WIDTH} {h}" font-family="DejaVu Sans Mono, monospace" font-size="12">
<rect width="100%" height="100%" fill="#ffffff"/>
<defs>"##
    );
    for (i, c) in PALETTE.iter().chain([&RESENT]).enumerate() {
        let _ = write!(
            out,
            r##"<marker id="head{i}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{c}"/></marker>"##
        );
    }
    let _ = writeln!(
        out,
        r##"</defs>
<text x="{mid}" y="20" text-anchor="middle" font-size="14" font-weight="bold">{title}</text>"##,
        mid = WIDTH / 2,
        title = escape(&if shown.len() > rows {
            format!("{title} (first {rows} of {} segments)", shown.len())
        } else {
            title.to_owned()
        }),
    );
    for (i, (l, r)) in connections.iter().enumerate() {
        let (x, y) = (
            20 + (i % LEGEND_PER_ROW) as u32 * (WIDTH - 40) / LEGEND_PER_ROW as u32,
            LEGEND_Y + LEGEND_ROW * (i / LEGEND_PER_ROW) as u32,
        );
        let c = PALETTE[i % PALETTE.len()];
        let _ = writeln!(
            out,
            r##"<rect x="{x}" y="{ry}" width="10" height="10" fill="{c}"/><text x="{tx}" y="{y}" fill="{c}">{left}:{lp} ⇄ {right}:{rp}</text>"##,
            ry = y - 9,
            tx = x + 14,
            left = escape(left),
            right = escape(right),
            lp = l.port(),
            rp = r.port(),
        );
    }
    let _ = writeln!(
        out,
        r##"<text x="{LEFT_X}" y="{ny}" text-anchor="middle" font-size="13" font-weight="bold">{left}</text>
<text x="{RIGHT_X}" y="{ny}" text-anchor="middle" font-size="13" font-weight="bold">{right}</text>
<line x1="{LEFT_X}" y1="{top}" x2="{LEFT_X}" y2="{bottom}" stroke="#6b7280" stroke-width="2"/>
<line x1="{RIGHT_X}" y1="{top}" x2="{RIGHT_X}" y2="{bottom}" stroke="#6b7280" stroke-width="2"/>"##,
        ny = top - 12,
        left = escape(left),
        right = escape(right),
        bottom = h - 20,
    );
    let resent = sent_again(&shown);
    for (i, segment) in shown.iter().take(rows).enumerate() {
        let y = top + 16 + ROW * i as u32;
        let (x1, x2) = if segment.from == left {
            (LEFT_X, RIGHT_X)
        } else {
            (RIGHT_X, LEFT_X)
        };
        let (index, own) = colour(ends(segment));
        if dropped[i] {
            // Short of the receiver, ending in a cross: where the impairment dropped it.
            let stop = (x1 as i64 + (x2 as i64 - x1 as i64) * 4 / 5) as u32;
            let (cy, a, c) = (y + 10, stop - 5, stop + 5);
            let _ = writeln!(
                out,
                r##"<text x="10" y="{ty}" fill="#374151">{time:+.6} s</text>
<line x1="{x1}" y1="{y}" x2="{stop}" y2="{cy}" stroke="{own}" stroke-width="1.5"/>
<path d="M{a},{b} L{c},{d} M{a},{d} L{c},{b}" stroke="{RESENT}" stroke-width="2.5"/>
<text x="{lx}" y="{ly}" text-anchor="middle" fill="{own}">:{port} {label} <tspan fill="{RESENT}">dropped</tspan></text>"##,
                ty = y + 4,
                time = segment.at_secs(),
                b = cy - 5,
                d = cy + 5,
                lx = (LEFT_X + RIGHT_X) / 2,
                ly = y - 2,
                port = ends(segment).0.port(),
                label = escape(&label(segment)),
            );
            continue;
        }
        let lost = resent[i];
        let (colour, dash, marker) = if lost {
            (RESENT, r#" stroke-dasharray="6 4""#, PALETTE.len())
        } else {
            (own, "", index % PALETTE.len())
        };
        let _ = writeln!(
            out,
            r##"<text x="10" y="{ty}" fill="#374151">{time:+.6} s</text>
<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y2}" stroke="{colour}" stroke-width="1.5"{dash} marker-end="url(#head{marker})"/>
<text x="{lx}" y="{ly}" text-anchor="middle" fill="{colour}">:{port} {label}</text>"##,
            ty = y + 4,
            time = segment.at_secs(),
            y2 = y + 12,
            lx = (LEFT_X + RIGHT_X) / 2,
            ly = y - 2,
            port = ends(segment).0.port(),
            label = escape(&label(segment)),
        );
        if lost {
            let (cx, cy) = ((x1 + x2) / 2, y + 6);
            let _ = writeln!(
                out,
                r##"<path d="M{a},{b} L{c},{d} M{a},{d} L{c},{b}" stroke="{RESENT}" stroke-width="2"/>"##,
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

/// For each shown segment, whether one of `drops` is it: the same headers, the nearest in time
/// within [`SAME_PACKET`]; each record names one segment at most.
fn dropped(shown: &[&Segment], drops: &[Segment]) -> Vec<bool> {
    let same = |a: &Segment, b: &Segment| {
        (a.src, a.dst, a.seq, a.ack, a.flags, a.len) == (b.src, b.dst, b.seq, b.ack, b.flags, b.len)
    };
    let mut marked = vec![false; shown.len()];
    for drop in drops {
        let nearest = shown
            .iter()
            .enumerate()
            .filter(|(i, s)| !marked[*i] && same(s, drop))
            .map(|(i, s)| (i, (s.at_ns - drop.at_ns).abs()))
            .filter(|(_, apart)| *apart <= SAME_PACKET)
            .min_by_key(|(_, apart)| *apart);
        if let Some((i, _)) = nearest {
            marked[i] = true;
        }
    }
    marked
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
                        && (later.src, later.dst) == (s.src, s.dst)
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
        let svg = svg("a <b> & c", "client", "server", &[syn, again, other], &[]);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains("a &lt;b&gt; &amp; c"));
        let resent = format!("marker-end=\"url(#head{})\"", PALETTE.len());
        assert_eq!(svg.matches(&resent).count(), 1);
        assert_eq!(
            svg.matches("marker-end=\"url(#head0)\"").count(),
            1,
            "router left out"
        );
        assert!(svg.contains("+1.000000 s"));
        assert!(svg.contains(&format!("height=\"{}\"", height(2, 1))));
    }

    #[test]
    fn connections_get_their_own_colour_and_a_legend_with_ports() {
        let mut a = segment(0, "client", "server", Flags::SYN, 0, 0);
        let mut b = a.clone();
        b.src = "198.18.0.1:2000".parse().unwrap();
        b.at_ns = 1_000_000;
        // The same sequence number on another connection is not a retransmission.
        let mut reply = segment(2, "server", "client", Flags::SYN | Flags::ACK, 0, 0);
        (reply.src, reply.dst) = (b.dst, b.src);
        a.seq = 7;
        b.seq = 7;
        let svg = svg("two", "client", "server", &[a, b, reply], &[]);
        assert!(svg.contains("client:1000 ⇄ server:80"), "{svg}");
        assert!(svg.contains("client:2000 ⇄ server:80"), "{svg}");
        assert_eq!(
            svg.matches("url(#head0)").count(),
            1,
            "the first connection"
        );
        assert_eq!(
            svg.matches("url(#head1)").count(),
            2,
            "the second, both ways"
        );
        assert!(
            !svg.contains(&format!("url(#head{})", PALETTE.len())),
            "nothing resent"
        );
        assert!(
            svg.contains(">:2000 S. seq 0 ack 0<"),
            "labelled with the client's port: {svg}"
        );
    }

    #[test]
    fn a_recorded_drop_ends_in_a_cross_before_the_receiver() {
        let syn = segment(0, "client", "server", Flags::SYN, 0, 0);
        let again = segment(1000, "client", "server", Flags::SYN, 0, 0);
        // The impairment's record of the first SYN, 20 µs after the sender's capture saw it.
        let mut record = syn.clone();
        record.at_ns += 20_000;
        let svg = svg("drop", "client", "server", &[syn, again], &[record.clone()]);
        assert_eq!(svg.matches(">dropped</tspan>").count(), 1, "{svg}");
        assert!(
            svg.contains(r#"x2="598""#),
            "stops short of the server (690): {svg}"
        );
        assert!(
            !svg.contains(&format!("url(#head{})", PALETTE.len())),
            "drawn dropped, not resent"
        );
        assert_eq!(
            svg.matches("url(#head0)").count(),
            1,
            "the second SYN arrives"
        );
        // A record far from any copy in time names none.
        record.at_ns += 500_000_000;
        let far = svg_of(&record);
        assert!(!far.contains("dropped"), "{far}");
    }

    fn svg_of(record: &Segment) -> String {
        let syn = segment(0, "client", "server", Flags::SYN, 0, 0);
        svg(
            "far",
            "client",
            "server",
            &[syn],
            std::slice::from_ref(record),
        )
    }
}
