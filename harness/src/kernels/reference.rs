//! The reference's results, kept between runs: `git bisect run` compares every commit's kernel
//! with the same reference, and booting the reference again at every step would double each
//! step's work. A reference's run is kept under `CACHE/references/<key>/` when it delivered
//! every result, and used again when nothing it depends on changed: the key is a fingerprint
//! of the kernel image, its config and module tree's path, this netcase binary, the test binary
//! and the guest's command line (the cases and families). `--fresh-reference` boots it anyway
//! (and keeps the new run).

use std::path::{Path, PathBuf};

use super::{
    Image,
    compare::{Column, Kernel},
    read_results,
};
use crate::report::Verdict;

/// The cache's key for `image` run by `exe` (and `binary`) with the guest arguments `args`.
pub(super) fn key(
    image: &Image,
    exe: &Path,
    binary: Option<&Path>,
    args: &[String],
) -> Result<String, String> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let mut parts: Vec<Vec<u8>> = vec![read(&image.vmlinuz)?, read(exe)?];
    if let Some(config) = &image.config {
        parts.push(read(config)?);
    }
    if let Some(binary) = binary {
        parts.push(read(binary)?);
    }
    let modules = image.modules.as_deref().map(Path::to_string_lossy);
    parts.push(modules.unwrap_or_default().as_bytes().to_vec());
    parts.push(args.join("\0").into_bytes());
    let hash = parts.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, part| {
        // Each part's length first, so that moving bytes between parts changes the key.
        (part.len() as u64)
            .to_le_bytes()
            .iter()
            .chain(part)
            .fold(h, |h, b| {
                (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
            })
    });
    Ok(format!("{}-{hash:016x}", image.release))
}

fn dir(cache: &Path, key: &str) -> PathBuf {
    cache.join("references").join(key)
}

/// The reference's kernel kept under `key`, copied into `out` (its directory in this run's
/// output), or `None`.
pub(super) fn load(cache: &Path, key: &str, out: &Path) -> Option<Kernel> {
    let kept = dir(cache, key);
    let column: Column =
        serde_json::from_str(&std::fs::read_to_string(kept.join("column.json")).ok()?).ok()?;
    let _ = std::fs::remove_dir_all(out);
    copy_tree(&kept.join("run"), out).ok()?;
    let results = read_results(out);
    (!results.is_empty()).then_some(Kernel { column, results })
}

/// Keeps `kernel`, whose run is in `from`, under `key`, when it delivered every result and
/// none was cut short.
pub(super) fn keep(cache: &Path, key: &str, kernel: &Kernel, from: &Path) {
    let whole = kernel.column.broken.is_none()
        && !kernel.results.is_empty()
        && kernel
            .results
            .iter()
            .all(|r| r.verdict != Verdict::Interrupted);
    if !whole {
        return;
    }
    let kept = dir(cache, key);
    let partial = kept.with_extension("partial");
    let _ = std::fs::remove_dir_all(&partial);
    let column = serde_json::to_string_pretty(&kernel.column).expect("a column serialises");
    let written = copy_tree(from, &partial.join("run"))
        .and_then(|()| std::fs::write(partial.join("column.json"), column));
    if written.is_ok() {
        let _ = std::fs::remove_dir_all(&kept);
        let _ = std::fs::rename(&partial, &kept);
    } else {
        let _ = std::fs::remove_dir_all(&partial);
    }
}

/// Copies the directory `from` to `to`, files and directories only.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_reference_comes_back_and_the_key_follows_its_inputs() {
        let root = std::env::temp_dir().join(format!("netcase-reference-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("run/case.v4")).unwrap();
        std::fs::write(root.join("vmlinuz"), b"kernel").unwrap();
        std::fs::write(root.join("exe"), b"netcase").unwrap();
        let image = Image {
            release: "6.12.9".to_owned(),
            vmlinuz: root.join("vmlinuz"),
            modules: None,
            config: None,
            source: "vmlinuz".to_owned(),
        };
        let args = ["run".to_owned(), "a::b".to_owned()];
        let k = key(&image, &root.join("exe"), None, &args).unwrap();
        assert!(k.starts_with("6.12.9-"), "{k}");
        let other = key(&image, &root.join("exe"), None, &args[..1]).unwrap();
        assert_ne!(k, other, "the cases are part of the key");
        assert!(key(&image, &root.join("absent"), None, &args).is_err());

        let result = crate::report::CaseResult {
            verdict: Verdict::Pass,
            ..crate::report::CaseResult::unfinished(
                &crate::case::CaseInfo::named("a::b", "s"),
                "v4",
                1,
                crate::report::kernel(),
                super::super::Options::new(Vec::new(), PathBuf::new(), Path::new("t")).tool,
                String::new(),
            )
        };
        let json = serde_json::to_string(&result).unwrap();
        std::fs::write(root.join("run/case.v4/result.json"), json).unwrap();
        let kernel = Kernel {
            column: Column {
                name: "6.12.9".to_owned(),
                release: "6.12.9".to_owned(),
                emulation: "tcg".to_owned(),
                boot_to_first_case_s: Some(9.0),
                wall_s: 20.0,
                broken: None,
            },
            results: vec![result],
        };
        let cache = root.join("cache");
        keep(&cache, &k, &kernel, &root.join("run"));
        let back = load(&cache, &k, &root.join("out")).expect("kept");
        assert_eq!(back.results.len(), 1);
        assert_eq!(back.column.wall_s, 20.0);
        assert!(root.join("out/case.v4/result.json").is_file());
        assert!(load(&cache, &other, &root.join("out2")).is_none());
        let _ = std::fs::remove_dir_all(&root);
    }
}
