//! The registry of cases: names unique and well formed, declarations sane.

use std::collections::BTreeSet;

use libtest_mimic::Trial;
use netcase_cases::cases;

/// This module's tests.
pub fn trials() -> Vec<Trial> {
    vec![
        crate::plain(
            "registry::every_case_is_declared_once_and_sanely",
            every_case_is_declared_once_and_sanely,
        ),
        crate::plain(
            "registry::the_readme_claims_table_is_the_registrys",
            the_readme_claims_table_is_the_registrys,
        ),
    ]
}

/// The README's claims table is what `netcase claims` writes from the registry: the same rows,
/// in the same order; a verdict cell may differ only where the run it came from did not pass
/// (it then says `PASS (v4), SKIP (v6): why`). Regenerate it with `netcase claims --results DIR`
/// after a `netcase run`.
fn the_readme_claims_table_is_the_registrys() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let (begin, end) = ("<!-- claims:begin -->\n", "<!-- claims:end -->");
    let start = readme
        .find(begin)
        .expect("README.md: no claims:begin marker")
        + begin.len();
    let stop = readme.find(end).expect("README.md: no claims:end marker");
    let cases: Vec<_> = cases().collect();
    let table = netcase::claims::table(netcase_cases::claims::NOTES, &cases, None);
    let (wanted, found): (Vec<&str>, Vec<&str>) = (
        table.lines().collect(),
        readme[start..stop].lines().collect(),
    );
    assert_eq!(
        wanted.len(),
        found.len(),
        "README.md's claims table has {} lines, the registry's {}: regenerate it with `netcase \
         claims --results DIR`",
        found.len(),
        wanted.len()
    );
    let cells = |line: &str| -> Vec<String> { line.split(" | ").map(str::to_owned).collect() };
    for (want, got) in wanted.iter().zip(&found) {
        let (mut w, g) = (cells(want), cells(got));
        if w.len() == 4
            && g.len() == 4
            && !matches!(g[2].as_str(), "confirmed" | "refuted" | "qualified")
        {
            w[2].clone_from(&g[2]);
        }
        assert_eq!(
            w, g,
            "README.md's claims table differs from the registry: regenerate it with `netcase claims --results DIR`"
        );
    }
}

fn every_case_is_declared_once_and_sanely() {
    let mut names = BTreeSet::new();
    for def in cases() {
        let info = &def.info;
        assert!(names.insert(info.name), "{} is declared twice", info.name);
        let (behaviour, what) = info
            .name
            .split_once("::")
            .unwrap_or_else(|| panic!("{}: name it behaviour::what", info.name));
        assert!(
            !behaviour.is_empty() && !what.is_empty() && !what.contains("::"),
            "{}: name it behaviour::what",
            info.name
        );
        assert!(!info.families.is_empty(), "{}: no family", info.name);
        assert!(
            !info.summary.is_empty() && !info.summary.contains('\n'),
            "{}: a one-line summary",
            info.name
        );
        assert!(
            info.expected > std::time::Duration::ZERO,
            "{}: an expected duration",
            info.name
        );
    }
}
