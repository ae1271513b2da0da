//! The `netcase` command over this workspace's cases: [`netcase::cli`] says what it does.

use std::process::ExitCode;

use netcase::cli::Suite;

/// This workspace's cases, the notes' claims they check, the fixtures they read, its target
/// directory and commit.
static SUITE: Suite = Suite {
    behaviours: netcase_cases::BEHAVIOURS,
    claims: netcase_cases::claims::NOTES,
    fixtures: &[concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures")],
    target: concat!(env!("CARGO_MANIFEST_DIR"), "/../target"),
    commit: env!("NETCASE_COMMIT"),
};

fn main() -> ExitCode {
    netcase::cli::main(&SUITE)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::SUITE;

    #[test]
    fn an_unknown_filter_names_the_closest_cases() {
        let Err(err) = SUITE.select(&["socket_adresses".to_owned()], false) else {
            panic!("a misspelt filter matched");
        };
        assert!(err.contains("no case matches \"socket_adresses\""), "{err}");
        assert!(err.contains("socket_addresses::"), "{err}");
    }

    /// What `netcase kernels` runs without filters: the fast cases, the one the matrix test
    /// runs among them.
    #[test]
    fn the_default_subset_is_the_fast_cases() {
        let max = Duration::from_millis(1500);
        let picked = SUITE.quick(max, false);
        assert!(picked.iter().all(|d| d.info.expected <= max));
        assert!(
            picked
                .iter()
                .any(|d| d.info.name == "socket_addresses::seen_by_both_ends")
        );
    }
}
