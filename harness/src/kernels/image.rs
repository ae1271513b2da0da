//! A kernel to boot, from what names it: a Linux build tree (`arch/x86/boot/bzImage`, `.config`
//! and `include/config/kernel.release`, as `make` leaves them), a bzImage or `vmlinuz` file (its
//! modules found next to it, as `dpkg -x` lays them out: `boot/vmlinuz-R` and `lib/modules/R`), a
//! directory holding such a tree, a `.deb`, or a Debian package name
//! (`linux-image-6.1.0-56-cloud-amd64`, fetched with `apt-get download`). Packages are unpacked
//! with `dpkg -x` into the kernel cache ([`cache_dir`]), never installed.
//!
//! A kernel's release is what names it (`include/config/kernel.release`, `vmlinuz-R`), or else
//! the version string of its bzImage header ([`bzimage_release`]). A build tree's modules are
//! where `make modules_install INSTALL_MOD_PATH=DIR` put them: [`resolve_with`] takes such DIRs
//! (`--modules DIR`) and picks, for each kernel, the one with `lib/modules/<its release>`; a build
//! tree with exactly one such DIR among its own subdirectories needs none.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

/// A kernel to boot.
#[derive(Debug, Clone)]
pub struct Image {
    /// What named it (the `--kernel` argument), for messages.
    pub source: String,
    /// Its release (`uname -r`), also its directory in the output.
    pub release: String,
    /// The kernel image (a bzImage).
    pub vmlinuz: PathBuf,
    /// `lib/modules/<release>`, when there is one.
    pub modules: Option<PathBuf>,
    /// Its build configuration (`boot/config-<release>`, a build tree's `.config`), when there
    /// is one.
    pub config: Option<PathBuf>,
}

/// Where kernels are unpacked and initramfs images built: `$NETCASE_KERNEL_CACHE`, or else
/// `netcase/kernels` in cargo's target directory (`$CARGO_TARGET_DIR`, or else `target`: the
/// workspace's, for a command built in one).
pub fn cache_dir(target: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os("NETCASE_KERNEL_CACHE") {
        return PathBuf::from(dir);
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| target.to_owned(), PathBuf::from);
    let target = std::fs::canonicalize(&target).unwrap_or(target);
    target.join("netcase/kernels")
}

/// Holds the kernel cache for this process alone until dropped (an exclusive `flock` on
/// `CACHE/.lock`): two matrices at once, or two guests of one, must not download, unpack or
/// strip into the same files together.
pub(crate) fn lock_cache(cache: &Path) -> Result<std::fs::File, String> {
    use std::os::fd::AsRawFd;
    let path = cache.join(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    loop {
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(file);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(format!("locking {}: {e}", path.display()));
        }
    }
}

/// Finds, fetches or unpacks the kernel `spec` names; its modules next to it, if any.
pub fn resolve(spec: &str, cache: &Path) -> Result<Image, String> {
    resolve_with(spec, cache, &[])
}

/// Finds, fetches or unpacks the kernel `spec` names, with its modules from the first of
/// `module_roots` that has `lib/modules/<its release>` (each an `INSTALL_MOD_PATH` of `make
/// modules_install`; `usr/lib/modules` too), or else next to it as [`resolve`] finds them. A
/// root with no `lib/modules` at all is an error.
pub fn resolve_with(spec: &str, cache: &Path, module_roots: &[PathBuf]) -> Result<Image, String> {
    for root in module_roots {
        if !MODULE_DIRS.iter().any(|d| root.join(d).is_dir()) {
            return Err(format!(
                "--modules {}: no lib/modules in it (`make modules_install INSTALL_MOD_PATH=DIR` \
                 puts them in DIR/lib/modules/RELEASE)",
                root.display()
            ));
        }
    }
    let (mut image, tree) = find(spec, cache)?;
    image.source = spec.to_owned();
    if let Some(modules) = module_roots
        .iter()
        .find_map(|root| modules_in(root, &image.release))
    {
        image.modules = Some(modules);
    } else if let Some(tree) = tree {
        image.modules = modules_inside(&tree, &image.release)?;
    }
    Ok(image)
}

/// Where `make modules_install INSTALL_MOD_PATH=DIR` puts the modules, below DIR (the second
/// when the kernel's `KERNEL_MODULE_DIRECTORY` says so, or a merged-/usr tree).
const MODULE_DIRS: [&str; 2] = ["lib/modules", "usr/lib/modules"];

/// `ROOT/lib/modules/<release>` (or `ROOT/usr/lib/modules/<release>`), when it holds modules.
fn modules_in(root: &Path, release: &str) -> Option<PathBuf> {
    MODULE_DIRS
        .iter()
        .map(|d| root.join(d).join(release))
        .find(|p| p.join("kernel").is_dir())
}

/// The kernel `spec` names, and its build tree when it is one.
fn find(spec: &str, cache: &Path) -> Result<(Image, Option<PathBuf>), String> {
    let path = Path::new(spec);
    if spec.ends_with(".deb") && path.is_file() {
        return from_deb(path, cache, 0).map(|i| (i, None));
    }
    if path.is_dir() {
        if path.join(BUILT_IMAGE).is_file() {
            return Ok((from_build_tree(path)?, Some(path.to_owned())));
        }
        return from_tree(path).map(|i| (i, None));
    }
    if path.is_file() {
        // The bzImage of a build tree is that tree.
        let tree = path
            .ancestors()
            .nth(4)
            .filter(|_| path.ends_with(BUILT_IMAGE));
        if let Some(tree) = tree.filter(|t| t.join(".config").is_file()) {
            let tree = if tree.as_os_str().is_empty() {
                Path::new(".")
            } else {
                tree
            };
            return Ok((from_build_tree(tree)?, Some(tree.to_owned())));
        }
        return from_vmlinuz(path).map(|i| (i, None));
    }
    if spec.starts_with("linux-image-") && !spec.contains('/') {
        let deb = download(spec, cache)?;
        return from_deb(&deb, cache, 0).map(|i| (i, None));
    }
    Err(format!(
        "--kernel {spec:?}: neither a build tree, a bzImage, a vmlinuz, a directory, a .deb nor a \
         linux-image-* package"
    ))
}

/// Where `make` leaves the kernel image of an x86 build tree.
const BUILT_IMAGE: &str = "arch/x86/boot/bzImage";

/// A build tree as `make` leaves it (`make O=DIR` too): its bzImage, `.config`, the release in
/// `include/config/kernel.release` (or else in the bzImage); its modules apart
/// ([`modules_inside`], `--modules`).
fn from_build_tree(tree: &Path) -> Result<Image, String> {
    let vmlinuz = tree.join(BUILT_IMAGE);
    let release_file = tree.join("include/config/kernel.release");
    let release = match std::fs::read_to_string(&release_file) {
        Ok(text) if !text.trim().is_empty() => {
            bzimage_release(&vmlinuz)?;
            text.trim().to_owned()
        }
        _ => bzimage_release(&vmlinuz)?,
    };
    let config = Some(tree.join(".config")).filter(|p| p.is_file());
    Ok(Image {
        source: tree.display().to_string(),
        release,
        vmlinuz,
        modules: None,
        config,
    })
}

/// The modules of `release` in the one subdirectory of a build tree that `make modules_install
/// INSTALL_MOD_PATH=` put them in (`mod/lib/modules/<release>`, say); none when no subdirectory
/// has them, an error when several do.
fn modules_inside(tree: &Path, release: &str) -> Result<Option<PathBuf>, String> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(tree)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .filter_map(|p| modules_in(&p, release))
        .collect();
    found.sort();
    match found.len() {
        0 | 1 => Ok(found.pop()),
        _ => {
            let list: Vec<String> = found.iter().map(|p| p.display().to_string()).collect();
            Err(format!(
                "{}: modules for {release} in several places ({}): pick one with --modules DIR",
                tree.display(),
                list.join(", ")
            ))
        }
    }
}

/// A bzImage or vmlinuz file: its release from its name (`vmlinuz-R`, `bzImage-R`) or else from
/// its header; its modules and config next to it as `dpkg -x` lays them out.
fn from_vmlinuz(path: &Path) -> Result<Image, String> {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let header = bzimage_release(path)?;
    let release = file
        .strip_prefix("vmlinuz-")
        .or_else(|| file.strip_prefix("bzImage-"))
        .filter(|r| !r.is_empty())
        .map_or(header, str::to_owned);
    let boot = path.parent().unwrap_or(Path::new("."));
    let root = boot.parent().unwrap_or(Path::new("."));
    let modules = modules_in(root, &release);
    let config = Some(boot.join(format!("config-{release}"))).filter(|p| p.is_file());
    Ok(Image {
        source: path.display().to_string(),
        release,
        vmlinuz: path.to_owned(),
        modules,
        config,
    })
}

/// The release of the x86 boot image at `path`: the first word of the version string its setup
/// header points to (`kernel_version` at 0x20E, plus 0x200; Documentation/arch/x86/boot.rst).
/// A file without the header's `HdrS` magic at 0x202 is not a bzImage: an error says so.
pub fn bzimage_release(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(0x200 + 0x1_0000 + 256).read_to_end(&mut bytes))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    release_of_header(&bytes).map_err(|why| format!("{}: {why}", path.display()))
}

/// [`bzimage_release`] over the first bytes of the image.
fn release_of_header(bytes: &[u8]) -> Result<String, String> {
    let u16_at = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    if bytes.get(0x202..0x206) != Some(b"HdrS") {
        let what = if bytes.starts_with(b"\x7fELF") {
            "an ELF file (an uncompressed vmlinux?)"
        } else {
            "it has no x86 boot header (no \"HdrS\" at 0x202)"
        };
        return Err(format!(
            "not a bzImage: {what}; give the arch/x86/boot/bzImage of a build, or its tree"
        ));
    }
    let protocol = u16_at(0x206).unwrap_or(0);
    let pointer = u16_at(0x20E).unwrap_or(0);
    if protocol < 0x200 || pointer == 0 {
        return Err(format!(
            "its boot header (protocol {protocol:#x}) has no version string: name the file \
             vmlinuz-RELEASE"
        ));
    }
    let start = usize::from(pointer) + 0x200;
    let text = bytes
        .get(start..)
        .ok_or_else(|| format!("its version string at {start:#x} is past the file's end"))?;
    let end = text
        .iter()
        .position(|&b| b == 0)
        .ok_or("its version string has no end")?;
    let release = String::from_utf8_lossy(&text[..end])
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_owned();
    if release.is_empty() || !release.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!(
            "its version string does not start with a release: {:?}",
            String::from_utf8_lossy(&text[..end.min(80)])
        ));
    }
    Ok(release)
}

fn from_tree(dir: &Path) -> Result<Image, String> {
    let boot = dir.join("boot");
    let mut images: Vec<PathBuf> = std::fs::read_dir(&boot)
        .map_err(|e| {
            format!(
                "{}: neither a build tree ({BUILT_IMAGE}) nor a dpkg tree (boot/vmlinuz-*): {e}",
                dir.display()
            )
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .collect();
    images.sort();
    let vmlinuz = images
        .pop()
        .ok_or_else(|| format!("{}: no boot/vmlinuz-*", dir.display()))?;
    from_vmlinuz(&vmlinuz)
}

/// Unpacks `deb` with `dpkg -x` (once) and finds its kernel; a meta-package is followed to the
/// `linux-image-*` it depends on.
fn from_deb(deb: &Path, cache: &Path, depth: usize) -> Result<Image, String> {
    let stem = deb
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = cache.join(&stem);
    if !dir.join(".unpacked").is_file() {
        let partial = cache.join(format!("{stem}.partial"));
        let _ = std::fs::remove_dir_all(&partial);
        std::fs::create_dir_all(&partial).map_err(|e| format!("{}: {e}", partial.display()))?;
        run(Command::new("dpkg").arg("-x").arg(deb).arg(&partial))?;
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&partial, &dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        std::fs::write(dir.join(".unpacked"), b"")
            .map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    match from_tree(&dir) {
        Ok(image) => Ok(image),
        // A meta-package has no kernel of its own: follow it.
        Err(_) if depth < 2 && !dir.join("boot").is_dir() => {
            let depends = run(Command::new("dpkg-deb")
                .args(["-f"])
                .arg(deb)
                .arg("Depends"))?;
            let next = depends
                .split([',', '|'])
                .map(|d| d.split_whitespace().next().unwrap_or(""))
                .find(|d| d.starts_with("linux-image-"))
                .ok_or_else(|| {
                    format!(
                        "{}: no kernel inside, nor a linux-image-* dependency",
                        deb.display()
                    )
                })?;
            let deb = download(next, cache)?;
            from_deb(&deb, cache, depth + 1)
        }
        Err(e) => Err(e),
    }
}

/// `apt-get download PACKAGE` into the cache (once).
fn download(package: &str, cache: &Path) -> Result<PathBuf, String> {
    let debs = cache.join("debs");
    std::fs::create_dir_all(&debs).map_err(|e| format!("{}: {e}", debs.display()))?;
    let find = || {
        std::fs::read_dir(&debs).ok().and_then(|entries| {
            entries.filter_map(|e| e.ok().map(|e| e.path())).find(|p| {
                p.file_name().is_some_and(|n| {
                    let n = n.to_string_lossy();
                    n.starts_with(&format!("{package}_")) && n.ends_with(".deb")
                })
            })
        })
    };
    if let Some(deb) = find() {
        return Ok(deb);
    }
    eprintln!("netcase: apt-get download {package}");
    run(Command::new("apt-get")
        .args(["download", "-q", package])
        .current_dir(&debs))?;
    find().ok_or_else(|| format!("apt-get download {package} left no .deb"))
}

/// Runs `command` to its end (killed at once on a stop) and returns its standard output.
fn run(command: &mut Command) -> Result<String, String> {
    let program = command.get_program().to_owned();
    let what = |e| format!("{program:?}: {e}");
    let child = crate::fork::spawn(
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
    .map_err(what)?;
    let registered = crate::stop::register(&child, crate::stop::How::Kill).map_err(what)?;
    let out = child.wait_with_output().map_err(what)?;
    drop(registered);
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{:?} {:?}: {}",
            command.get_program(),
            command.get_args().collect::<Vec<_>>(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The first bytes of a bzImage: the setup header's `HdrS`, boot protocol 2.15, and a
    /// version string starting with `release`.
    pub(crate) fn fake_bzimage(release: &str) -> Vec<u8> {
        let mut bytes = vec![0u8; 0x400];
        bytes[0x202..0x206].copy_from_slice(b"HdrS");
        bytes[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
        bytes[0x20e..0x210].copy_from_slice(&0x100u16.to_le_bytes());
        let version = format!("{release} (someone@example.org) #1 SMP PREEMPT_DYNAMIC\0");
        bytes[0x300..0x300 + version.len()].copy_from_slice(version.as_bytes());
        bytes
    }

    /// A Debian kernel unpacked in the kernel cache, when the machine has one: the directory
    /// (`NETCASE_KERNEL_CACHE`, or the workspace's `target/netcase/kernels`) whose name starts
    /// with `prefix`.
    pub(crate) fn debian(prefix: &str) -> Option<PathBuf> {
        let caches = std::env::var_os("NETCASE_KERNEL_CACHE")
            .map(PathBuf::from)
            .into_iter()
            .chain([Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/netcase/kernels")]);
        for cache in caches {
            let found = std::fs::read_dir(&cache)
                .into_iter()
                .flatten()
                .filter_map(|e| e.ok().map(|e| e.path()))
                .find(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
                        && p.join("boot").is_dir()
                });
            if found.is_some() {
                return found;
            }
        }
        eprintln!("no {prefix}* in the kernel cache: that part of the test is left out");
        None
    }

    fn scratch(name: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("netcase-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        root
    }

    #[test]
    fn a_dpkg_tree_gives_its_release_modules_and_config() {
        let root = scratch("tree");
        std::fs::create_dir_all(root.join("boot")).unwrap();
        std::fs::create_dir_all(root.join("lib/modules/6.1.0-9-cloud-amd64/kernel")).unwrap();
        // The name says the release, whatever the header says.
        std::fs::write(
            root.join("boot/vmlinuz-6.1.0-9-cloud-amd64"),
            fake_bzimage("6.1.0-9-other"),
        )
        .unwrap();
        std::fs::write(
            root.join("boot/config-6.1.0-9-cloud-amd64"),
            b"CONFIG_HZ=250\n",
        )
        .unwrap();
        let image = resolve(root.to_str().unwrap(), &root).unwrap();
        assert_eq!(image.release, "6.1.0-9-cloud-amd64");
        assert_eq!(image.source, root.to_str().unwrap());
        assert!(
            image
                .modules
                .unwrap()
                .ends_with("lib/modules/6.1.0-9-cloud-amd64")
        );
        assert!(image.config.is_some());
        assert!(resolve("no-such-thing", &root).is_err());
        let _ = std::fs::remove_dir_all(&root);
    }

    /// A build tree as `make` leaves it, its bzImage a real Debian vmlinuz when the machine has
    /// one; its modules from `--modules`, or from the one subdirectory that has them.
    #[test]
    fn a_build_tree_gives_its_bzimage_release_config_and_modules() {
        let root = scratch("build-tree");
        let tree = root.join("linux");
        std::fs::create_dir_all(tree.join("arch/x86/boot")).unwrap();
        std::fs::create_dir_all(tree.join("include/config")).unwrap();
        let bzimage = tree.join(BUILT_IMAGE);
        let release = match debian("linux-image-6.1.0-") {
            Some(dir) => {
                let vmlinuz = from_tree(&dir).unwrap().vmlinuz;
                std::fs::copy(&vmlinuz, &bzimage).unwrap();
                let name = vmlinuz.file_name().unwrap().to_string_lossy().into_owned();
                name.strip_prefix("vmlinuz-").unwrap().to_owned()
            }
            None => {
                std::fs::write(&bzimage, fake_bzimage("6.1.0-57-cloud-amd64")).unwrap();
                "6.1.0-57-cloud-amd64".to_owned()
            }
        };
        // Only the header says the release.
        assert_eq!(bzimage_release(&bzimage).unwrap(), release);
        let bare = resolve(bzimage.to_str().unwrap(), &root);
        assert!(bare.is_ok_and(|i| i.release == release && i.config.is_none()));

        std::fs::write(tree.join(".config"), "CONFIG_VETH=y\n").unwrap();
        std::fs::write(
            tree.join("include/config/kernel.release"),
            format!("{release}\n"),
        )
        .unwrap();
        for spec in [&tree, &bzimage] {
            let image = resolve(spec.to_str().unwrap(), &root).unwrap();
            assert_eq!(image.release, release);
            assert_eq!(image.vmlinuz, bzimage);
            assert_eq!(image.config, Some(tree.join(".config")));
            assert_eq!(image.modules, None);
        }

        // make modules_install INSTALL_MOD_PATH=DIR, outside the tree.
        let installed = root.join("mods");
        let modules = installed.join("lib/modules").join(&release);
        std::fs::create_dir_all(modules.join("kernel")).unwrap();
        let other = root.join("other");
        std::fs::create_dir_all(other.join("lib/modules/5.10.0/kernel")).unwrap();
        let image = resolve_with(
            tree.to_str().unwrap(),
            &root,
            &[other.clone(), installed.clone()],
        )
        .unwrap();
        assert_eq!(image.modules.as_ref(), Some(&modules));
        let err = resolve_with(tree.to_str().unwrap(), &root, &[tree.join("arch")]).unwrap_err();
        assert!(err.contains("no lib/modules in it"), "{err}");

        // ...or inside it, once: found; twice: which one?
        let inside = tree.join("mod/lib/modules").join(&release);
        std::fs::create_dir_all(inside.join("kernel")).unwrap();
        let image = resolve(tree.to_str().unwrap(), &root).unwrap();
        assert_eq!(image.modules, Some(inside));
        std::fs::create_dir_all(
            tree.join("modules/lib/modules")
                .join(&release)
                .join("kernel"),
        )
        .unwrap();
        let err = resolve(tree.to_str().unwrap(), &root).unwrap_err();
        assert!(err.contains("pick one with --modules DIR"), "{err}");
        // --modules settles it.
        let image = resolve_with(tree.to_str().unwrap(), &root, &[installed]).unwrap();
        assert_eq!(image.modules, Some(modules));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_file_that_is_not_a_bzimage_is_refused() {
        let root = scratch("not-a-kernel");
        let text = root.join("bzImage");
        std::fs::write(&text, b"#!/bin/sh\necho not a kernel\n").unwrap();
        let err = resolve(text.to_str().unwrap(), &root).unwrap_err();
        assert!(err.contains("bzImage: not a bzImage"), "{err}");
        assert!(err.contains("no \"HdrS\" at 0x202"), "{err}");
        let elf = root.join("vmlinuz-6.1.0");
        std::fs::write(&elf, b"\x7fELF\x02\x01\x01").unwrap();
        let err = resolve(elf.to_str().unwrap(), &root).unwrap_err();
        assert!(err.contains("an ELF file"), "{err}");

        let mut header = fake_bzimage("6.1.0");
        header[0x20e..0x210].copy_from_slice(&0u16.to_le_bytes());
        assert!(
            release_of_header(&header)
                .unwrap_err()
                .contains("vmlinuz-RELEASE")
        );
        let mut header = fake_bzimage("6.1.0");
        header[0x300..0x305].copy_from_slice(b"Linux");
        assert!(release_of_header(&header).is_err());
        assert_eq!(
            release_of_header(&fake_bzimage("6.13.0-rc1+")).unwrap(),
            "6.13.0-rc1+"
        );
        let _ = std::fs::remove_dir_all(&root);
    }
}
