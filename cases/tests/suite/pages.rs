//! The report's pages as a person sees them, in headless Chromium: a run's index.html, the
//! ladder of a failing test's bundle with a dropped SYN, and a three-kernel comparison. Each is
//! laid out in a frame of a real browser window and measured: nothing wider than the window,
//! no visible text smaller than [`LEGIBLE_PX`]. Their screenshots are kept in fixtures/report/
//! and refreshed with NETCASE_BLESS=1, as the ladder example is.

use std::path::{Path, PathBuf};

use netcase::{
    Family, TestInfo, Topology,
    expect::Expectation,
    impair::{Packets, Which},
    kernels::compare::{Column, Comparison, Kernel},
    report::CaseResult,
    require_privileges, require_program,
};
use serde_json::Value;

/// The smallest text a reader is asked to read, in CSS pixels.
const LEGIBLE_PX: f64 = 11.0;

/// This module's tests.
pub fn trials() -> Vec<libtest_mimic::Trial> {
    vec![crate::plain(
        "pages::the_report_pages_lay_out_in_chromium",
        the_report_pages_lay_out_in_chromium,
    )]
}

/// Measures `pages` (a file and the width to lay it out at), all in one Chromium: each in a
/// frame of its width in a page of the probe's own, whose script reports each page's scroll
/// width, its smallest visible text (SVG text scaled as drawn) and the first elements reaching
/// past its frame.
fn layout(browser: &Path, profile: &Path, dir: &Path, pages: &[(&Path, u32)]) -> Vec<Value> {
    let probe = dir.join("probe.html");
    let script = r#"
window.addEventListener('load', () => {
  const all = [];
  for (const frame of document.querySelectorAll('iframe')) {
    const page = frame.contentDocument;
    const out = { smallest: 1000, where: '', wide: [] };
    const root = page.documentElement;
    // An SVG document has no body: its root is the picture.
    const body = page.body || root;
    out.client = frame.clientWidth;
    out.scroll = page.body ? root.scrollWidth : root.getBoundingClientRect().width;
    const texts = page.createTreeWalker(body, NodeFilter.SHOW_TEXT);
    while (texts.nextNode()) {
      const node = texts.currentNode;
      const el = node.parentElement;
      if (!node.textContent.trim() || el.closest('script, style, [hidden]')) continue;
      let size = parseFloat(page.defaultView.getComputedStyle(el).fontSize);
      const svg = el.closest('svg');
      if (svg && svg.getAttribute('width')) {
        size *= svg.getBoundingClientRect().width / parseFloat(svg.getAttribute('width'));
      }
      if (size < out.smallest) { out.smallest = size; out.where = node.textContent.trim().slice(0, 60); }
    }
    for (const el of body.querySelectorAll('*')) {
      if (el.getBoundingClientRect().right > out.client + 1) out.wide.push(el.tagName + ' ' + (el.id || el.className || ''));
    }
    out.wide = out.wide.slice(0, 5);
    all.push(out);
  }
  document.getElementById('layout').textContent = JSON.stringify(all);
});
"#;
    let frames: String = pages
        .iter()
        .map(|(page, width)| {
            format!(
                "<iframe src=\"file://{}\" style=\"display:block;width:{width}px;height:900px;\
                 border:0\"></iframe>",
                page.display()
            )
        })
        .collect();
    let html = format!(
        "<!doctype html><html><body style=\"margin:0\">{frames}<pre id=\"layout\">no \
         measurement</pre><script>{script}</script></body></html>"
    );
    std::fs::write(&probe, html).unwrap();
    let widest = pages.iter().map(|(_, w)| *w).max().unwrap_or(800);
    let dom = netcase::fork::output(
        crate::command::chromium(browser, profile)
            .args([
                "--dump-dom",
                "--allow-file-access-from-files",
                "--virtual-time-budget=3000",
            ])
            .arg(format!("--window-size={},1000", widest + 20))
            .arg(format!("file://{}", probe.display())),
    )
    .expect("chromium runs");
    let text = String::from_utf8_lossy(&dom.stdout);
    let json = text
        .split("<pre id=\"layout\">")
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .unwrap_or("");
    serde_json::from_str(&json.replace("&quot;", "\"").replace("&amp;", "&"))
        .unwrap_or_else(|e| panic!("no measurement ({e}): {text}"))
}

/// Asserts that a page measured by [`layout`] fits its frame and its text is legible.
fn check(name: &str, m: &Value) {
    let (scroll, client) = (m["scroll"].as_f64().unwrap(), m["client"].as_f64().unwrap());
    assert!(
        scroll <= client + 1.0,
        "{name}: {scroll} px wide in {client}: {m}"
    );
    let wide = m["wide"].as_array().map_or(0, Vec::len);
    assert_eq!(wide, 0, "{name}: past the edge: {m}");
    let smallest = m["smallest"].as_f64().unwrap();
    assert!(smallest >= LEGIBLE_PX, "{name}: text of {smallest} px: {m}");
}

/// With NETCASE_BLESS=1, keeps a screenshot of `page` at `width` as fixtures/report/`name`.
fn bless(browser: &Path, profile: &Path, page: &Path, width: u32, name: &str) {
    if !std::env::var("NETCASE_BLESS").is_ok_and(|v| v == "1") {
        return;
    }
    let png = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/report")
        .join(name);
    let shot = netcase::fork::output(
        crate::command::chromium(browser, profile)
            .arg(format!("--screenshot={}", png.display()))
            .arg(format!("--window-size={width},900"))
            .arg(format!("file://{}", page.display())),
    )
    .expect("chromium runs");
    assert!(
        png.is_file(),
        "{name}: {}",
        String::from_utf8_lossy(&shot.stderr)
    );
}

/// A test of one's own that fails with a dropped SYN: the first SYN dropped by a rule, and an
/// expectation that denies it. Its bundle, in `dir`.
fn failing_bundle(dir: &Path) -> PathBuf {
    let info = TestInfo {
        name: "dropped_syn",
        summary: "The first SYN is dropped; the expectation says it arrived.",
        package: "netcase-cases",
        krate: "suite",
        file: file!(),
        line: line!(),
        capture_all: true,
    };
    let thread = "pages.dropped_syn";
    let body = || async {
        let net = Topology::pair().await?;
        let cut = net.impair("client", "server").await?;
        cut.drop(Packets::syn(), Which::Nth(1))?;
        let watch = net.watch(&["client"]).await?;
        net.connect("client", "server", Family::V4, 7000).await?;
        drop(cut);
        let wrong = "@0 client>server S\n+0 server>client S. ack 1\n";
        let seen = watch.stop().await?;
        seen.check(
            &net,
            &Expectation::parse(wrong, "denies_the_drop.expect", &())?,
        )
    };
    let bundle = std::thread::Builder::new()
        .name(thread.to_owned())
        .spawn(move || {
            let dir = netcase::capture::output_dir();
            let outcome = netcase::bundle::run(info, Box::pin(body()));
            assert!(outcome.is_err(), "the expectation denies the drop");
            dir
        })
        .unwrap()
        .join()
        .expect("no panic");
    let moved = dir.join("dropped_syn");
    let _ = std::fs::remove_dir_all(&moved);
    std::fs::rename(&bundle, &moved).unwrap();
    moved
}

/// Three kernels' columns from one run's results: the second with a figure the kernel decides
/// changed, the third with a case skipped, so that the page marks differences.
fn comparison(run: &Path) -> String {
    let results: Vec<CaseResult> = std::fs::read_dir(run)
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.unwrap().path().join("result.json")).ok())
        .map(|t| serde_json::from_str(&t).unwrap())
        .collect();
    let column = |name: &str| Column {
        name: name.to_owned(),
        release: name.to_owned(),
        emulation: "tcg".to_owned(),
        boot_to_first_case_s: Some(6.0),
        wall_s: 300.0,
        broken: None,
    };
    let mut changed = results.clone();
    for r in &mut changed {
        for f in &mut r.figures {
            f.values.iter_mut().for_each(|v| *v += 1.0);
        }
    }
    let mut skipped = results.clone();
    if let Some(r) = skipped.first_mut() {
        r.verdict = netcase::report::Verdict::Skip;
        r.reason = Some("this kernel cannot run it: it has no tcp_syn_linear_timeouts".into());
    }
    Comparison::new(&[
        Kernel {
            column: column("this-kernel"),
            results,
        },
        Kernel {
            column: column("6.12.118+deb12-cloud-amd64"),
            results: changed,
        },
        Kernel {
            column: column("6.1.0-57-cloud-amd64"),
            results: skipped,
        },
    ])
    .html()
}

fn the_report_pages_lay_out_in_chromium() {
    require_privileges!();
    let browser = require_program!("chromium", "chromium");
    let dir = netcase::capture::output_dir();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let profile = dir.join("chromium-profile");
    let run = dir.join("run");
    crate::command::run_ok(&["socket_addresses::seen_"], &run);
    let bundle = failing_bundle(&dir);
    let readme = std::fs::read_to_string(bundle.join("README.md")).unwrap();
    assert!(readme.contains("denies_the_drop.expect:2"), "{readme}");
    let ladder = std::fs::read_to_string(bundle.join("ladder.svg")).unwrap();
    assert_eq!(ladder.matches(">dropped</tspan>").count(), 1, "{ladder}");
    let compared = dir.join("comparison.html");
    let html = comparison(&run);
    assert!(
        html.contains("6.1.0-57-cloud-amd64") && html.contains("differs"),
        "three columns"
    );
    std::fs::write(&compared, html).unwrap();

    let pages = [
        (run.join("index.html"), 1280, "index.png"),
        (bundle.join("ladder.svg"), 800, "ladder-drop.png"),
        (compared, 1280, "comparison.png"),
    ];
    let sizes: Vec<(&Path, u32)> = pages.iter().map(|(p, w, _)| (p.as_path(), *w)).collect();
    let measured = layout(&browser, &profile, &dir, &sizes);
    assert_eq!(measured.len(), pages.len(), "{measured:?}");
    for ((page, width, name), m) in pages.iter().zip(&measured) {
        check(name, m);
        bless(&browser, &profile, page, *width, name);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
