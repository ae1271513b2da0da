//! A kernel to boot, from what names it: a `vmlinuz` file (its modules found next to it, as
//! `dpkg -x` lays them out: `boot/vmlinuz-R` and `lib/modules/R`), a directory holding such a
//! tree, a `.deb`, or a Debian package name (`linux-image-6.1.0-56-cloud-amd64`, fetched with
//! `apt-get download`). Packages are unpacked with `dpkg -x` into the kernel cache
//! ([`cache_dir`]), never installed.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

/// A kernel to boot.
#[derive(Debug, Clone)]
pub struct Image {
    /// Its release (`uname -r`), also its directory in the output.
    pub release: String,
    /// The kernel image.
    pub vmlinuz: PathBuf,
    /// `lib/modules/<release>`, when there is one.
    pub modules: Option<PathBuf>,
    /// `boot/config-<release>`, when there is one.
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

/// Finds, fetches or unpacks the kernel `spec` names.
pub fn resolve(spec: &str, cache: &Path) -> Result<Image, String> {
    let path = Path::new(spec);
    if spec.ends_with(".deb") && path.is_file() {
        return from_deb(path, cache, 0);
    }
    if path.is_dir() {
        return from_tree(path);
    }
    if path.is_file() {
        return from_vmlinuz(path);
    }
    if spec.starts_with("linux-image-") && !spec.contains('/') {
        let deb = download(spec, cache)?;
        return from_deb(&deb, cache, 0);
    }
    Err(format!(
        "--kernel {spec:?}: neither a vmlinuz, a directory, a .deb nor a linux-image-* package"
    ))
}

fn from_vmlinuz(path: &Path) -> Result<Image, String> {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let release = file
        .strip_prefix("vmlinuz-")
        .or_else(|| file.strip_prefix("bzImage-"))
        .unwrap_or(&file)
        .to_owned();
    let boot = path.parent().unwrap_or(Path::new("."));
    let root = boot.parent().unwrap_or(Path::new("."));
    let modules = [
        root.join("lib/modules").join(&release),
        root.join("usr/lib/modules").join(&release),
    ]
    .into_iter()
    .find(|p| p.join("kernel").is_dir());
    let config = Some(boot.join(format!("config-{release}"))).filter(|p| p.is_file());
    Ok(Image {
        release,
        vmlinuz: path.to_owned(),
        modules,
        config,
    })
}

fn from_tree(dir: &Path) -> Result<Image, String> {
    let boot = dir.join("boot");
    let mut images: Vec<PathBuf> = std::fs::read_dir(&boot)
        .map_err(|e| format!("{}: no boot/vmlinuz-* ({e})", dir.display()))?
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
        Err(_) if depth < 2 => {
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
mod tests {
    use super::*;

    #[test]
    fn a_dpkg_tree_gives_its_release_modules_and_config() {
        let root = std::env::temp_dir().join(format!("netcase-tree-{}", std::process::id()));
        std::fs::create_dir_all(root.join("boot")).unwrap();
        std::fs::create_dir_all(root.join("lib/modules/6.1.0-9-cloud-amd64/kernel")).unwrap();
        std::fs::write(root.join("boot/vmlinuz-6.1.0-9-cloud-amd64"), b"").unwrap();
        std::fs::write(
            root.join("boot/config-6.1.0-9-cloud-amd64"),
            b"CONFIG_HZ=250\n",
        )
        .unwrap();
        let image = resolve(root.to_str().unwrap(), &root).unwrap();
        assert_eq!(image.release, "6.1.0-9-cloud-amd64");
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
}
