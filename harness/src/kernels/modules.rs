//! A kernel's loadable modules: which files the cases need, in the order `insmod` must load
//! them (dependencies first), decompressed so that busybox `insmod` can load them.
//!
//! Dependencies come from `modules.dep` when the tree has one (an installed kernel), and
//! otherwise from each module's own `depends=` field in its `.modinfo` section (a tree unpacked
//! with `dpkg -x` has no `modules.dep`: `depmod` writes it at installation).

use std::{
    collections::{BTreeMap, BTreeSet},
    io::Read,
    path::{Path, PathBuf},
};

/// The modules the cases use, when the kernel has them as modules: veth links, IPv6, packet
/// capture (af_packet), the qdiscs and classifiers of the impairments (netem, tbf, ifb fed by u32
/// with mirred, clsact with cls_bpf), and sock_diag for TCP sockets (inet_diag, tcp_diag). The
/// options behind them: [`super::config::NEEDS`].
pub const WANTED: &[&str] = &[
    "veth",
    "ipv6",
    "af_packet",
    "sch_netem",
    "sch_tbf",
    "ifb",
    "sch_ingress",
    "cls_bpf",
    "cls_u32",
    "act_mirred",
    "inet_diag",
    "tcp_diag",
];

/// The module name of a file: `kernel/net/sched/sch-x.ko.xz` is `sch_x`.
pub fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.split(".ko").next().unwrap_or(file);
    stem.replace('-', "_")
}

/// A module to load: its name and its decompressed contents.
pub type Loaded = (String, Vec<u8>);

/// A kernel's module tree, `lib/modules/<release>`.
pub struct Tree {
    root: PathBuf,
    /// Module name to its file, relative to `root`.
    files: BTreeMap<String, String>,
    /// Module name to its dependencies, from `modules.dep` when the tree has one.
    dep: Option<BTreeMap<String, Vec<String>>>,
    /// Modules built into the kernel (`modules.builtin`).
    builtin: BTreeSet<String>,
}

impl Tree {
    /// Reads the tree at `root` (`.../lib/modules/<release>`).
    pub fn open(root: &Path) -> std::io::Result<Tree> {
        let mut files = BTreeMap::new();
        let mut stack = vec![root.join("kernel")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir)? {
                let path = entry?.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.to_string_lossy().contains(".ko") {
                    let relative = path.strip_prefix(root).unwrap_or(&path);
                    let relative = relative.to_string_lossy().into_owned();
                    files.insert(module_name(&relative), relative);
                }
            }
        }
        let dep = std::fs::read_to_string(root.join("modules.dep"))
            .ok()
            .map(|t| parse_modules_dep(&t));
        let builtin = std::fs::read_to_string(root.join("modules.builtin"))
            .unwrap_or_default()
            .lines()
            .map(module_name)
            .collect();
        Ok(Tree {
            root: root.to_owned(),
            files,
            dep,
            builtin,
        })
    }

    /// Whether `name` is built into the kernel.
    pub fn is_builtin(&self, name: &str) -> bool {
        self.builtin.contains(name)
    }

    /// The file of module `name`, relative to the tree.
    pub fn file(&self, name: &str) -> Option<&str> {
        self.files.get(name).map(String::as_str)
    }

    /// The module's contents, decompressed (`.ko.xz` with `xz -dc`, `.ko.zst` with `zstd -dc`,
    /// `.ko.gz` here).
    pub fn read(&self, name: &str) -> Result<Vec<u8>, String> {
        let file = self
            .file(name)
            .ok_or_else(|| format!("no module {name} in {}", self.root.display()))?;
        let path = self.root.join(file);
        let tool = |program: &str| -> Result<Vec<u8>, String> {
            let out =
                crate::fork::output(std::process::Command::new(program).arg("-dc").arg(&path))
                    .map_err(|e| format!("{program} -dc {}: {e}", path.display()))?;
            if out.status.success() {
                Ok(out.stdout)
            } else {
                Err(format!(
                    "{program} -dc {}: {}",
                    path.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        if file.ends_with(".xz") {
            tool("xz")
        } else if file.ends_with(".zst") {
            tool("zstd")
        } else {
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            if file.ends_with(".gz") {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&bytes[..])
                    .read_to_end(&mut out)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                Ok(out)
            } else {
                Ok(bytes)
            }
        }
    }

    /// The modules `wanted` needs, dependencies first, each with its decompressed contents;
    /// and the wanted names the kernel has neither as a module nor built in.
    pub fn closure(&self, wanted: &[&str]) -> Result<(Vec<Loaded>, Vec<String>), String> {
        let mut contents: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut missing = Vec::new();
        let wanted: Vec<String> = wanted
            .iter()
            .filter(|w| !self.is_builtin(w))
            .filter(|w| {
                let known = self.files.contains_key(**w);
                if !known {
                    missing.push((**w).to_owned());
                }
                known
            })
            .map(|w| (*w).to_owned())
            .collect();
        let order = resolve(&wanted, |name| {
            if let Some(dep) = &self.dep {
                return Ok(dep.get(name).cloned().unwrap_or_default());
            }
            let bytes = self.read(name)?;
            let depends = modinfo_depends(&bytes);
            contents.insert(name.to_owned(), bytes);
            Ok(depends)
        })?;
        let mut loaded = Vec::new();
        for name in order {
            let bytes = match contents.remove(&name) {
                Some(b) => b,
                None => self.read(&name)?,
            };
            loaded.push((name, bytes));
        }
        Ok((loaded, missing))
    }
}

/// Reads `modules.dep`: `kernel/a/x.ko.xz: kernel/b/y.ko.xz kernel/c/z.ko.xz`, by module name.
pub fn parse_modules_dep(text: &str) -> BTreeMap<String, Vec<String>> {
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(module, deps)| {
            (
                module_name(module.trim()),
                deps.split_whitespace().map(module_name).collect(),
            )
        })
        .collect()
}

/// The `depends=` field of a module's `.modinfo` section (NUL-separated `key=value` strings).
pub fn modinfo_depends(module: &[u8]) -> Vec<String> {
    const KEY: &[u8] = b"\0depends=";
    let Some(at) = module.windows(KEY.len()).position(|w| w == KEY) else {
        return Vec::new();
    };
    let value = &module[at + KEY.len()..];
    let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
    String::from_utf8_lossy(&value[..end])
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.replace('-', "_"))
        .collect()
}

/// Orders `wanted` and everything they depend on (as `depends` says) so that each module
/// comes after its dependencies; each module once. A dependency cycle is an error.
pub fn resolve(
    wanted: &[String],
    mut depends: impl FnMut(&str) -> Result<Vec<String>, String>,
) -> Result<Vec<String>, String> {
    fn visit(
        name: &str,
        depends: &mut dyn FnMut(&str) -> Result<Vec<String>, String>,
        visiting: &mut Vec<String>,
        order: &mut Vec<String>,
    ) -> Result<(), String> {
        if order.iter().any(|n| n == name) {
            return Ok(());
        }
        if visiting.iter().any(|n| n == name) {
            return Err(format!(
                "a module dependency cycle: {} -> {name}",
                visiting.join(" -> ")
            ));
        }
        visiting.push(name.to_owned());
        for dep in depends(name)? {
            visit(&dep, depends, visiting, order)?;
        }
        visiting.pop();
        order.push(name.to_owned());
        Ok(())
    }
    let mut order = Vec::new();
    for name in wanted {
        visit(name, &mut depends, &mut Vec::new(), &mut order)?;
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "\
kernel/net/sched/sch_netem.ko.xz:
kernel/net/sched/cls_bpf.ko.xz:
kernel/net/ipv4/tcp_diag.ko.xz: kernel/net/ipv4/inet_diag.ko.xz
kernel/net/ipv4/inet_diag.ko.xz:
kernel/drivers/net/veth.ko.xz:
kernel/net/x/top.ko.xz: kernel/net/x/mid-dle.ko.xz kernel/net/x/base.ko.xz
kernel/net/x/mid-dle.ko.xz: kernel/net/x/base.ko.xz
kernel/net/x/base.ko.xz:
";

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn names_drop_the_directory_the_suffix_and_dashes() {
        assert_eq!(module_name("kernel/net/sched/sch_netem.ko.xz"), "sch_netem");
        assert_eq!(module_name("kernel/x/mid-dle.ko"), "mid_dle");
        assert_eq!(module_name("veth.ko.zst"), "veth");
    }

    #[test]
    fn dependencies_come_first_and_once() {
        let dep = parse_modules_dep(DEP);
        assert_eq!(dep["tcp_diag"], ["inet_diag"]);
        let order = resolve(&names(&["tcp_diag", "top", "inet_diag", "veth"]), |n| {
            Ok(dep.get(n).cloned().unwrap_or_default())
        })
        .unwrap();
        assert_eq!(
            order,
            ["inet_diag", "tcp_diag", "base", "mid_dle", "top", "veth"]
        );
    }

    #[test]
    fn a_cycle_is_an_error() {
        let err = resolve(&names(&["a"]), |n| {
            Ok(names(if n == "a" { &["b"] } else { &["a"] }))
        })
        .unwrap_err();
        assert!(err.contains("cycle"), "{err}");
    }

    #[test]
    fn modinfo_gives_the_dependencies() {
        let module = b"\x7fELF junk\0license=GPL\0depends=inet_diag,nf-x\0name=tcp_diag\0";
        assert_eq!(modinfo_depends(module), ["inet_diag", "nf_x"]);
        assert!(modinfo_depends(b"\0depends=\0name=veth\0").is_empty());
        assert!(modinfo_depends(b"no modinfo").is_empty());
    }

    #[test]
    fn a_tree_without_modules_dep_reads_modinfo_and_skips_builtins() {
        let root = std::env::temp_dir().join(format!("netcase-modules-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("kernel/net")).unwrap();
        std::fs::write(
            root.join("kernel/net/tcp_diag.ko"),
            b"ELF\0depends=inet_diag\0",
        )
        .unwrap();
        std::fs::write(root.join("kernel/net/inet_diag.ko"), b"ELF\0depends=\0").unwrap();
        std::fs::write(root.join("modules.builtin"), "kernel/drivers/net/veth.ko\n").unwrap();
        let tree = Tree::open(&root).unwrap();
        let (loaded, missing) = tree.closure(&["veth", "tcp_diag", "sch_netem"]).unwrap();
        let order: Vec<&str> = loaded.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(order, ["inet_diag", "tcp_diag"]);
        assert_eq!(loaded[1].1, b"ELF\0depends=inet_diag\0");
        assert_eq!(missing, ["sch_netem"]);
        let _ = std::fs::remove_dir_all(&root);
    }
}
