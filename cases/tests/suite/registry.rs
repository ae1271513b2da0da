//! The registry of cases: names unique and well formed, declarations sane.

use std::collections::BTreeSet;

use libtest_mimic::Trial;
use netcase_cases::cases;

/// This module's tests.
pub fn trials() -> Vec<Trial> {
    vec![crate::plain(
        "registry::every_case_is_declared_once_and_sanely",
        every_case_is_declared_once_and_sanely,
    )]
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
