//! The registry of cases: names unique, each behaviour with its cargo tests, declarations sane.

use std::collections::BTreeSet;

use netcase_cases::cases;

#[test]
fn every_case_is_declared_once_and_has_its_tests() {
    let mut names = BTreeSet::new();
    for def in cases() {
        let info = &def.info;
        assert!(names.insert(info.name), "{} is declared twice", info.name);
        let (behaviour, what) = info
            .name
            .split_once("::")
            .unwrap_or_else(|| panic!("{}: name it behaviour::what", info.name));
        assert!(
            !what.is_empty() && !info.families.is_empty(),
            "{}",
            info.name
        );
        assert!(
            !info.summary.is_empty() && !info.summary.contains('\n'),
            "{}: a one-line summary",
            info.name
        );
        let tests = format!("{}/tests/suite/{behaviour}.rs", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&tests)
            .unwrap_or_else(|e| panic!("{}: its tests belong in {tests}: {e}", info.name));
        assert!(
            text.contains(&format!("{behaviour}::")),
            "{tests} does not run the cases of {behaviour}"
        );
    }
}
