//! The kernel configuration the cases need, checked before a kernel boots: a kernel without an
//! essential option cannot run any case ([`Untestable`]: no point booting it), one without a
//! feature's option only makes the cases that need that feature SKIP ([`Checked`]).
//!
//! An option built as a module (`=m`) counts only when the module is in the kernel's module tree
//! (`lib/modules/<release>`, from `make modules_install INSTALL_MOD_PATH=DIR` and `--modules
//! DIR`, or a package's own) and the guest loads it ([`super::modules::WANTED`]). A kernel
//! without a configuration (a bare bzImage) cannot be checked: it boots, and its cases say what
//! it lacks.
//!
//! The options ([`NEEDS`]):
//!
//! Essential, for any case to run:
//!
//! | option | what needs it |
//! |---|---|
//! | `CONFIG_X86_64` | the guest's x86-64 netcase and busybox, under qemu-system-x86_64 |
//! | `CONFIG_BLK_DEV_INITRD` | the initramfs, the guest's whole userland |
//! | `CONFIG_RD_GZIP` | the initramfs is gzip-compressed |
//! | `CONFIG_BINFMT_ELF` | netcase and busybox |
//! | `CONFIG_BINFMT_SCRIPT` | /init is a shell script |
//! | `CONFIG_DEVTMPFS` | /init mounts devtmpfs on /dev |
//! | `CONFIG_PROC_FS` | /proc: sockets, timers, the kernel's version |
//! | `CONFIG_PROC_SYSCTL` | the TCP sysctls each host sets in its namespace |
//! | `CONFIG_SYSFS` | /sys: the link ends' queues |
//! | `CONFIG_TTY`, `CONFIG_SERIAL_8250`, `CONFIG_SERIAL_8250_CONSOLE` | the results come back over the console on ttyS0 |
//! | `CONFIG_FUTEX`, `CONFIG_EPOLL`, `CONFIG_EVENTFD` | netcase's threads and its async runtime |
//! | `CONFIG_NET`, `CONFIG_INET` | TCP over IPv4 |
//! | `CONFIG_IPV6` | TCP over IPv6 (every case's v6 run) |
//! | `CONFIG_NET_NS` | a network namespace per host |
//! | `CONFIG_VETH` | the veth links between hosts |
//! | `CONFIG_RPS` | each link end's receive queue steered to one CPU (rps_cpus) |
//! | `CONFIG_PACKET` | the capture of every link end (AF_PACKET rings) |
//! | `CONFIG_INET_DIAG`, `CONFIG_INET_TCP_DIAG` | sock_diag: the TCP sockets' states, timers and counters |
//!
//! Per feature, for the cases that need it (they SKIP without):
//!
//! | option | what needs it |
//! |---|---|
//! | `CONFIG_NET_SCH_NETEM` | the netem qdisc: delay, jitter, reordering (feature `netem`) |
//! | `CONFIG_NET_SCH_TBF` | the tbf qdisc: rate limits (feature `tbf`) |
//! | `CONFIG_IFB` | ifb devices: shaping what a link end receives (feature `ifb`) |
//! | `CONFIG_NET_CLS_U32` | the u32 classifier that feeds an ifb (feature `ifb`) |
//! | `CONFIG_NET_ACT_MIRRED` | the mirred action that feeds an ifb (feature `ifb`) |
//! | `CONFIG_NET_CLS_ACT` | classifier actions: mirred, and eBPF direct action (features `bpf`, `ifb`) |
//! | `CONFIG_NET_SCH_INGRESS` | the clsact qdisc (features `bpf`, `ifb`) |
//! | `CONFIG_NET_CLS_BPF` | the eBPF classifier: drops, loss, counts (feature `bpf`) |
//! | `CONFIG_BPF_SYSCALL` | loading netcase's eBPF drop program (feature `bpf`) |
//! | `CONFIG_SYN_COOKIES` | net.ipv4.tcp_syncookies (`backlog::half_open_limit`) |
//! | `CONFIG_UNIX` | AF_UNIX sockets (`socket_addresses::unix_lengths`) |
//!
//! Modules the guest loads when they are modules: `veth`, `inet_diag`, `tcp_diag`, `ipv6`,
//! `af_packet`, `sch_netem`, `sch_tbf`, `ifb`, `sch_ingress`, `cls_bpf`, `cls_u32`, `act_mirred`;
//! the other options must be built in (`=y`).

use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
};

use super::{Image, modules};
use crate::{case::Def, impair::Feature};

/// Who needs an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// Every case: without it the kernel cannot be tested.
    Every,
    /// The cases that need one of these features.
    Features(&'static [Feature]),
    /// These cases, by name.
    Cases(&'static [&'static str]),
}

/// A kernel option the cases need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    /// The option, as `.config` names it (`CONFIG_VETH`).
    pub option: &'static str,
    /// What it gives the cases.
    pub what: &'static str,
    /// Who needs it.
    pub by: By,
    /// Its module, when it may be one that the guest loads ([`modules::WANTED`]).
    pub module: Option<&'static str>,
}

impl Need {
    /// Whether no case can run without it.
    pub fn essential(&self) -> bool {
        self.by == By::Every
    }

    /// What needs it, in words: `veth links: every case`.
    pub fn needed_by(&self) -> String {
        let who = match self.by {
            By::Every => "every case".to_owned(),
            By::Features(features) => {
                let names: Vec<String> = features.iter().map(|f| f.name()).collect();
                format!("the cases that need {}", names.join(" or "))
            }
            By::Cases(cases) => cases.join(", "),
        };
        format!("{}: {who}", self.what)
    }

    /// Whether `def` needs it.
    pub fn needed_by_case(&self, def: &Def) -> bool {
        match self.by {
            By::Every => true,
            By::Features(features) => def.info.needs.iter().any(|f| features.contains(f)),
            By::Cases(cases) => cases.contains(&def.info.name),
        }
    }
}

const fn every(option: &'static str, what: &'static str, module: Option<&'static str>) -> Need {
    Need {
        option,
        what,
        by: By::Every,
        module,
    }
}

const fn feature(
    option: &'static str,
    what: &'static str,
    features: &'static [Feature],
    module: Option<&'static str>,
) -> Need {
    Need {
        option,
        what,
        by: By::Features(features),
        module,
    }
}

/// Every option the cases need: the essential ones first.
pub const NEEDS: &[Need] = &[
    every(
        "CONFIG_X86_64",
        "an x86-64 kernel for the guest's x86-64 netcase and busybox",
        None,
    ),
    every(
        "CONFIG_BLK_DEV_INITRD",
        "the initramfs, the guest's whole userland",
        None,
    ),
    every("CONFIG_RD_GZIP", "the initramfs is gzip-compressed", None),
    every("CONFIG_BINFMT_ELF", "running netcase and busybox", None),
    every("CONFIG_BINFMT_SCRIPT", "/init is a shell script", None),
    every("CONFIG_DEVTMPFS", "/init mounts devtmpfs on /dev", None),
    every(
        "CONFIG_PROC_FS",
        "/proc: sockets, timers, the kernel's version",
        None,
    ),
    every(
        "CONFIG_PROC_SYSCTL",
        "the TCP sysctls each host sets in its namespace",
        None,
    ),
    every("CONFIG_SYSFS", "/sys: the link ends' queues", None),
    every(
        "CONFIG_TTY",
        "the results come back over the console on ttyS0",
        None,
    ),
    every(
        "CONFIG_SERIAL_8250",
        "the results come back over the console on ttyS0",
        None,
    ),
    every(
        "CONFIG_SERIAL_8250_CONSOLE",
        "the results come back over the console on ttyS0",
        None,
    ),
    every("CONFIG_FUTEX", "netcase's threads", None),
    every("CONFIG_EPOLL", "netcase's async runtime", None),
    every("CONFIG_EVENTFD", "netcase's async runtime", None),
    every("CONFIG_NET", "networking", None),
    every("CONFIG_INET", "TCP over IPv4", None),
    every("CONFIG_IPV6", "TCP over IPv6", Some("ipv6")),
    every("CONFIG_NET_NS", "a network namespace per host", None),
    every("CONFIG_VETH", "veth links", Some("veth")),
    every(
        "CONFIG_RPS",
        "each link end's receive queue steered to one CPU (rps_cpus)",
        None,
    ),
    every(
        "CONFIG_PACKET",
        "the capture of every link end (AF_PACKET)",
        Some("af_packet"),
    ),
    every(
        "CONFIG_INET_DIAG",
        "sock_diag of the TCP sockets",
        Some("inet_diag"),
    ),
    every(
        "CONFIG_INET_TCP_DIAG",
        "sock_diag of the TCP sockets",
        Some("tcp_diag"),
    ),
    feature(
        "CONFIG_NET_SCH_NETEM",
        "the netem qdisc",
        &[Feature::Netem],
        Some("sch_netem"),
    ),
    feature(
        "CONFIG_NET_SCH_TBF",
        "the tbf qdisc",
        &[Feature::Tbf],
        Some("sch_tbf"),
    ),
    feature("CONFIG_IFB", "ifb devices", &[Feature::Ifb], Some("ifb")),
    feature(
        "CONFIG_NET_CLS_U32",
        "the u32 classifier that feeds an ifb",
        &[Feature::Ifb],
        Some("cls_u32"),
    ),
    feature(
        "CONFIG_NET_ACT_MIRRED",
        "the mirred action that feeds an ifb",
        &[Feature::Ifb],
        Some("act_mirred"),
    ),
    feature(
        "CONFIG_NET_CLS_ACT",
        "classifier actions (mirred, eBPF direct action)",
        &[Feature::Bpf, Feature::Ifb],
        None,
    ),
    feature(
        "CONFIG_NET_SCH_INGRESS",
        "the clsact qdisc",
        &[Feature::Bpf, Feature::Ifb],
        Some("sch_ingress"),
    ),
    feature(
        "CONFIG_NET_CLS_BPF",
        "the eBPF classifier",
        &[Feature::Bpf],
        Some("cls_bpf"),
    ),
    feature(
        "CONFIG_BPF_SYSCALL",
        "loading netcase's eBPF drop program",
        &[Feature::Bpf],
        None,
    ),
    Need {
        option: "CONFIG_SYN_COOKIES",
        what: "net.ipv4.tcp_syncookies",
        by: By::Cases(&["backlog::half_open_limit"]),
        module: None,
    },
    Need {
        option: "CONFIG_UNIX",
        what: "AF_UNIX sockets",
        by: By::Cases(&["socket_addresses::unix_lengths"]),
        module: None,
    },
];

/// How an option is set in a `.config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// `=y`.
    BuiltIn,
    /// `=m`.
    Module,
    /// `# CONFIG_X is not set`, absent, or another value.
    NotSet,
}

/// A kernel's build configuration, as a `.config` or `boot/config-<release>` holds it.
#[derive(Debug, Clone, Default)]
pub struct Config {
    values: BTreeMap<String, String>,
}

impl Config {
    /// Reads `CONFIG_X=value` lines (`# CONFIG_X is not set` and other comments leave `X`
    /// unset).
    pub fn parse(text: &str) -> Config {
        let values = text
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("CONFIG_"))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        Config { values }
    }

    /// How `option` (`CONFIG_VETH`) is set.
    pub fn setting(&self, option: &str) -> Setting {
        match self.values.get(option).map(String::as_str) {
            Some("y") => Setting::BuiltIn,
            Some("m") => Setting::Module,
            _ => Setting::NotSet,
        }
    }
}

/// Why an option the cases need does not count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// It is not set.
    NotSet,
    /// It is a module, and no module tree was given.
    NoModules,
    /// It is a module that the module tree at this path does not have.
    ModuleNotIn(PathBuf),
    /// It is a module that the guest does not load.
    NotLoaded,
}

/// An option the cases need that the kernel lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// The option.
    pub need: &'static Need,
    /// Why it does not count.
    pub why: Why,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let option = self.need.option;
        match &self.why {
            Why::NotSet => write!(f, "{option} is not set")?,
            Why::NoModules => write!(
                f,
                "{option} is built as a module but no modules given ({MODULES_HINT})"
            )?,
            Why::ModuleNotIn(dir) => write!(
                f,
                "{option} is built as a module but {} is not in {}",
                self.need.module.unwrap_or("its module"),
                dir.display()
            )?,
            Why::NotLoaded => write!(
                f,
                "{option} is built as a module, which the guest does not load (build it in: =y)"
            )?,
        }
        write!(f, " ({})", self.need.needed_by())
    }
}

/// How to give a kernel's modules.
const MODULES_HINT: &str = "--modules DIR from `make modules_install INSTALL_MOD_PATH=DIR`";

/// One line for `missing`: each option with what needs it; the modules not given together.
fn describe(missing: &[Missing]) -> String {
    let mut parts: Vec<String> = missing
        .iter()
        .filter(|m| m.why != Why::NoModules)
        .map(ToString::to_string)
        .collect();
    let modules: Vec<String> = missing
        .iter()
        .filter(|m| m.why == Why::NoModules)
        .map(|m| format!("{} ({})", m.need.option, m.need.needed_by()))
        .collect();
    match modules.as_slice() {
        [] => {}
        [_] => parts.extend(
            missing
                .iter()
                .filter(|m| m.why == Why::NoModules)
                .map(ToString::to_string),
        ),
        _ => parts.push(format!(
            "built as a module but no modules given ({MODULES_HINT}): {}",
            modules.join(", ")
        )),
    }
    parts.join("; ")
}

/// The options of `NEEDS` that `config` lacks, given the kernel's module tree (its path and
/// contents) when it has one.
pub fn missing(config: &Config, modules: Option<(&Path, &modules::Tree)>) -> Vec<Missing> {
    NEEDS
        .iter()
        .filter_map(|need| {
            let why = match config.setting(need.option) {
                Setting::BuiltIn => return None,
                Setting::NotSet => Why::NotSet,
                Setting::Module => match (need.module, modules) {
                    (None, _) => Why::NotLoaded,
                    (Some(m), _) if !modules::WANTED.contains(&m) => Why::NotLoaded,
                    (Some(_), None) => Why::NoModules,
                    (Some(m), Some((_, tree))) if tree.file(m).is_some() || tree.is_builtin(m) => {
                        return None;
                    }
                    (Some(_), Some((dir, _))) => Why::ModuleNotIn(dir.to_owned()),
                },
            };
            Some(Missing { need, why })
        })
        .collect()
}

/// A kernel that lacks what every case needs: booting it would be pointless.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untestable {
    /// The kernel, as it was named.
    pub kernel: String,
    /// The essential options it lacks.
    pub missing: Vec<Missing>,
    /// The feature options it lacks too.
    pub features: Vec<Missing>,
}

impl Untestable {
    /// `cannot be tested: CONFIG_VETH is not set (veth links: every case); ...`: a column's
    /// breakdown.
    pub fn reason(&self) -> String {
        format!("cannot be tested: {}", describe(&self.missing))
    }
}

impl fmt::Display for Untestable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kernel, self.reason())
    }
}

impl std::error::Error for Untestable {}

/// A kernel that can be tested, and what its configuration says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The configuration checked, or `None` when the kernel has none (nothing was checked).
    pub config: Option<PathBuf>,
    /// Why it was not checked, when it was not.
    pub unchecked: Option<String>,
    /// The feature options it lacks: the cases that need them will SKIP.
    pub missing: Vec<Missing>,
}

impl Checked {
    /// The names of those of `cases` that need an option it lacks.
    pub fn cases<'a>(&self, cases: impl IntoIterator<Item = &'a Def>) -> Vec<&'static str> {
        cases
            .into_iter()
            .filter(|def| self.missing.iter().any(|m| m.need.needed_by_case(def)))
            .map(|def| def.info.name)
            .collect()
    }

    /// A line to print, naming those of `cases` that will SKIP; `None` when there is nothing to
    /// say.
    pub fn summary<'a>(&self, cases: impl IntoIterator<Item = &'a Def>) -> Option<String> {
        if let Some(why) = &self.unchecked {
            return Some(format!(
                "its configuration cannot be checked before it boots ({why})"
            ));
        }
        if self.missing.is_empty() {
            return None;
        }
        let skipped = self.cases(cases);
        let which = if skipped.is_empty() {
            "none of the cases selected needs them".to_owned()
        } else {
            format!("these cases will SKIP: {}", skipped.join(", "))
        };
        Some(format!(
            "its configuration lacks what some cases need: {}; {which}",
            describe(&self.missing)
        ))
    }
}

/// Checks `image`'s configuration against [`NEEDS`] before it boots: an [`Untestable`] when it
/// lacks an essential option, else what it lacks for some features. A kernel without a
/// configuration is not checked ([`Checked::unchecked`]).
pub fn check(image: &Image) -> Result<Checked, Untestable> {
    let Some(path) = &image.config else {
        return Ok(Checked {
            config: None,
            unchecked: Some(
                "no configuration: neither a build tree's .config nor boot/config-RELEASE"
                    .to_owned(),
            ),
            missing: Vec::new(),
        });
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            return Ok(Checked {
                config: None,
                unchecked: Some(format!("{}: {e}", path.display())),
                missing: Vec::new(),
            });
        }
    };
    let config = Config::parse(&text);
    let tree = image
        .modules
        .as_deref()
        .and_then(|dir| modules::Tree::open(dir).ok().map(|tree| (dir, tree)));
    let all = match (&tree, &image.modules) {
        (Some((dir, tree)), _) => missing(&config, Some((dir, tree))),
        // An unreadable tree has none of its modules.
        (None, Some(dir)) => missing(&config, None)
            .into_iter()
            .map(|m| match m.why {
                Why::NoModules => Missing {
                    why: Why::ModuleNotIn(dir.clone()),
                    ..m
                },
                _ => m,
            })
            .collect(),
        (None, None) => missing(&config, None),
    };
    let (essential, features): (Vec<Missing>, Vec<Missing>) =
        all.into_iter().partition(|m| m.need.essential());
    if !essential.is_empty() {
        return Err(Untestable {
            kernel: image.source.clone(),
            missing: essential,
            features,
        });
    }
    Ok(Checked {
        config: Some(path.clone()),
        unchecked: None,
        missing: features,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{body, kernels::image};

    async fn nothing(_: Arc<crate::case::Case>, _: Arc<crate::Topology>) -> crate::Result<()> {
        Ok(())
    }

    static PLAIN: Def = Def::new("test::plain", "needs a topology", body!(nothing));
    static DELAYED: Def =
        Def::new("test::delayed", "needs netem", body!(nothing)).needs(&[Feature::Netem]);
    static DROPS: Def = Def::new("test::drops", "needs bpf", body!(nothing)).needs(&[Feature::Bpf]);

    /// Every option set as `setting` (`y` or `m`), but `leave_out`.
    fn config(setting: &str, leave_out: &[&str]) -> String {
        let mut text = "# Linux/x86 6.13.0 Kernel Configuration\nCONFIG_HZ=250\n".to_owned();
        for need in NEEDS {
            if leave_out.contains(&need.option) {
                text.push_str(&format!("# {} is not set\n", need.option));
            } else if need.module.is_some() {
                text.push_str(&format!("{}={setting}\n", need.option));
            } else {
                text.push_str(&format!("{}=y\n", need.option));
            }
        }
        text
    }

    fn image(dir: &Path, config: &str, modules: Option<PathBuf>) -> Image {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(".config"), config).unwrap();
        Image {
            source: "linux/".to_owned(),
            release: "6.13.0".to_owned(),
            vmlinuz: dir.join("arch/x86/boot/bzImage"),
            modules,
            config: Some(dir.join(".config")),
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("netcase-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        root
    }

    #[test]
    fn a_config_reads_built_in_modules_and_not_set() {
        let config = Config::parse(
            "# comment\nCONFIG_VETH=m\nCONFIG_NET_NS=y\n# CONFIG_IFB is not set\n\
             CONFIG_DEFAULT_TCP_CONG=\"cubic\"\n  CONFIG_INET=y  \n",
        );
        assert_eq!(config.setting("CONFIG_VETH"), Setting::Module);
        assert_eq!(config.setting("CONFIG_NET_NS"), Setting::BuiltIn);
        assert_eq!(config.setting("CONFIG_INET"), Setting::BuiltIn);
        assert_eq!(config.setting("CONFIG_IFB"), Setting::NotSet);
        assert_eq!(config.setting("CONFIG_DEFAULT_TCP_CONG"), Setting::NotSet);
        assert_eq!(config.setting("CONFIG_ABSENT"), Setting::NotSet);
    }

    #[test]
    fn the_table_holds_together() {
        let mut seen = std::collections::BTreeSet::new();
        for need in NEEDS {
            assert!(seen.insert(need.option), "{} twice", need.option);
            assert!(need.option.starts_with("CONFIG_"), "{}", need.option);
            if let Some(module) = need.module {
                assert!(modules::WANTED.contains(&module), "{module} is not loaded");
            }
        }
        // Every module the guest loads is some option's.
        for module in modules::WANTED {
            assert!(
                NEEDS.iter().any(|n| n.module == Some(module)),
                "{module} has no option"
            );
        }
        // The essential ones come first, and the doc lists each option.
        let first_feature = NEEDS.iter().position(|n| !n.essential()).unwrap();
        assert!(NEEDS[first_feature..].iter().all(|n| !n.essential()));
        let doc = include_str!("config.rs");
        for need in NEEDS {
            assert!(
                doc.contains(&format!("`{}`", need.option)),
                "{}",
                need.option
            );
        }
    }

    #[test]
    fn a_kernel_without_an_essential_option_cannot_be_tested() {
        let dir = scratch("config-essential");
        let untestable = check(&image(
            &dir,
            &config(
                "y",
                &["CONFIG_VETH", "CONFIG_NET_NS", "CONFIG_NET_SCH_NETEM"],
            ),
            None,
        ))
        .unwrap_err();
        assert_eq!(
            untestable.to_string(),
            "linux/: cannot be tested: CONFIG_NET_NS is not set (a network namespace per host: \
             every case); CONFIG_VETH is not set (veth links: every case)"
        );
        assert!(untestable.reason().starts_with("cannot be tested: "));
        assert_eq!(untestable.features.len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_module_needs_the_modules() {
        let dir = scratch("config-modules");
        let untestable = check(&image(&dir, &config("m", &[]), None)).unwrap_err();
        let text = untestable.to_string();
        assert!(
            text.starts_with(
                "linux/: cannot be tested: built as a module but no modules given (--modules DIR \
                 from `make modules_install INSTALL_MOD_PATH=DIR`): CONFIG_IPV6 (TCP over IPv6: \
                 every case), CONFIG_VETH (veth links: every case), "
            ),
            "{text}"
        );
        assert!(!text.contains("CONFIG_NET_SCH_NETEM"), "{text}");
        assert_eq!(untestable.features.len(), 7);

        // One module alone says the same in one item.
        let one = config("y", &[]).replace("CONFIG_VETH=y", "CONFIG_VETH=m");
        let text = check(&image(&dir, &one, None)).unwrap_err().to_string();
        assert_eq!(
            text,
            "linux/: cannot be tested: CONFIG_VETH is built as a module but no modules given \
             (--modules DIR from `make modules_install INSTALL_MOD_PATH=DIR`) (veth links: every \
             case)"
        );

        // A tree with veth but without sch_netem: netem's cases will SKIP.
        let modules = dir.join("mods/lib/modules/6.13.0");
        std::fs::create_dir_all(modules.join("kernel/drivers/net")).unwrap();
        std::fs::write(modules.join("kernel/drivers/net/veth.ko"), b"").unwrap();
        let one = one.replace("CONFIG_NET_SCH_NETEM=y", "CONFIG_NET_SCH_NETEM=m");
        let checked = check(&image(&dir, &one, Some(modules.clone()))).unwrap();
        assert_eq!(checked.missing.len(), 1);
        assert_eq!(checked.missing[0].why, Why::ModuleNotIn(modules.clone()));
        assert_eq!(checked.cases([&PLAIN, &DELAYED, &DROPS]), ["test::delayed"]);
        assert_eq!(
            checked.summary([&PLAIN, &DELAYED, &DROPS]).unwrap(),
            format!(
                "its configuration lacks what some cases need: CONFIG_NET_SCH_NETEM is built as \
                 a module but sch_netem is not in {} (the netem qdisc: the cases that need \
                 netem); these cases will SKIP: test::delayed",
                modules.display()
            )
        );
        assert!(
            checked
                .summary([&PLAIN])
                .unwrap()
                .ends_with("none of the cases selected needs them")
        );

        // A module the guest does not load must be built in.
        let unix = config("y", &[]).replace("CONFIG_UNIX=y", "CONFIG_UNIX=m");
        let checked = check(&image(&dir, &unix, None)).unwrap();
        assert_eq!(checked.missing[0].why, Why::NotLoaded);
        assert!(
            checked.missing[0]
                .to_string()
                .contains("which the guest does not load (build it in: =y)")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn everything_built_in_needs_no_modules_and_no_config_is_not_checked() {
        let dir = scratch("config-built-in");
        let checked = check(&image(&dir, &config("y", &[]), None)).unwrap();
        assert_eq!(checked.missing, []);
        assert_eq!(checked.summary([&PLAIN, &DELAYED]), None);
        let mut bare = image(&dir, "", None);
        bare.config = None;
        let checked = check(&bare).unwrap();
        assert!(
            checked
                .summary([&PLAIN])
                .unwrap()
                .contains("cannot be checked before it boots")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The Debian cloud kernels the matrix boots pass, with their modules; without them, their
    /// modules (veth, sock_diag) are missing.
    #[test]
    fn the_debian_kernels_pass() {
        for prefix in ["linux-image-6.1.0-", "linux-image-6.12."] {
            let Some(dir) = image::tests::debian(prefix) else {
                continue;
            };
            let image = image::resolve(dir.to_str().unwrap(), &dir).unwrap();
            let checked = check(&image).unwrap_or_else(|u| panic!("{u}"));
            assert_eq!(checked.missing, [], "{}", image.release);
            assert!(checked.config.is_some());
            let without = Image {
                modules: None,
                ..image
            };
            let untestable = check(&without).unwrap_err();
            let options: Vec<&str> = untestable.missing.iter().map(|m| m.need.option).collect();
            assert_eq!(
                options,
                ["CONFIG_VETH", "CONFIG_INET_DIAG", "CONFIG_INET_TCP_DIAG"]
            );
        }
    }
}
