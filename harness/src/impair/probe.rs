//! What this kernel can do to a link, found once per process by trying it in a throwaway
//! namespace (never in the root namespace).

use std::sync::OnceLock;

use netlink_packet_route::RouteNetlinkMessage;

use super::{CLSACT, filter, qdisc, request, root_qdisc, shape};
use crate::{impair::bpf::DropProgram, network::netlink::LOOPBACK_INDEX};

/// A kernel facility a test may need: what an impairment needs, or a sysctl.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    /// `sch_netem`: delay, jitter, reordering, duplication, correlated loss.
    Netem,
    /// `sch_tbf`: rate limits.
    Tbf,
    /// `ifb`: a device to shape a link's arriving packets on, out of the sender's sight, fed by
    /// a u32 filter with a mirred action.
    Ifb,
    /// A clsact qdisc running an eBPF classifier (cls_bpf, direct action): drops, loss, counts.
    Bpf,
    /// A sysctl in a host's namespace, by its path below /proc/sys, with the version that
    /// brought it: for a case that shows what only that knob can do (`tcp_syn_linear_timeouts`
    /// set to 2). A case that only needs the knob's effect to be absent sets it instead, and a
    /// kernel without it behaves as [`crate::network::sysctl::Sysctl::absent_means`] says.
    Sysctl(&'static str, crate::kernel::Version),
}

impl Feature {
    /// Every impairment feature, in the order reports list them.
    pub const ALL: [Feature; 4] = [Feature::Bpf, Feature::Netem, Feature::Tbf, Feature::Ifb];

    /// A sysctl `knob` as a feature; `knob` must declare the version that brought it.
    pub const fn sysctl<T>(knob: crate::network::sysctl::Sysctl<T>) -> Feature {
        match knob.introduced() {
            Some(version) => Feature::Sysctl(knob.path(), version),
            None => panic!("a sysctl needed as a feature declares the version that brought it"),
        }
    }

    /// What the kernel lacks when this feature is missing, and what to do.
    pub fn missing(self) -> String {
        match self {
            Feature::Netem => "it has no sch_netem qdisc (CONFIG_NET_SCH_NETEM; on most \
                               distributions `modprobe sch_netem` on the machine loads it)"
                .to_owned(),
            Feature::Tbf => {
                "it has no sch_tbf qdisc (CONFIG_NET_SCH_TBF; try `modprobe sch_tbf`)".to_owned()
            }
            Feature::Ifb => "it has no ifb device, or no u32 classifier with a mirred action to \
                             feed one (CONFIG_IFB, CONFIG_NET_CLS_U32, CONFIG_NET_ACT_MIRRED; try \
                             `modprobe ifb numifbs=0; modprobe -a cls_u32 act_mirred`)"
                .to_owned(),
            Feature::Bpf => {
                let mut why = "it cannot attach an eBPF classifier to a clsact qdisc \
                               (CONFIG_NET_CLS_BPF, CONFIG_NET_SCH_INGRESS, CONFIG_BPF_SYSCALL \
                               and CAP_BPF are needed)"
                    .to_owned();
                if let Some(refused) = BPF_REFUSED.get() {
                    why.push_str("; loading netcase's drop program failed: ");
                    why.push_str(refused);
                }
                why
            }
            Feature::Sysctl(path, version) => format!(
                "it has no {} (it came in Linux {version})",
                path.replace('/', ".")
            ),
        }
    }

    /// A short name, as in `netcase list`.
    pub fn name(self) -> String {
        match self {
            Feature::Netem => "netem".to_owned(),
            Feature::Tbf => "tbf".to_owned(),
            Feature::Ifb => "ifb".to_owned(),
            Feature::Bpf => "bpf".to_owned(),
            Feature::Sysctl(path, _) => path.rsplit('/').next().unwrap_or(path).to_owned(),
        }
    }
}

/// Which [`Feature`]s this kernel has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    netem: bool,
    tbf: bool,
    ifb: bool,
    bpf: bool,
}

impl Features {
    /// Whether the kernel has `feature`.
    pub fn has(&self, feature: Feature) -> bool {
        match feature {
            Feature::Netem => self.netem,
            Feature::Tbf => self.tbf,
            Feature::Ifb => self.ifb,
            Feature::Bpf => self.bpf,
            Feature::Sysctl(path, _) => crate::kernel::kernel().is_ok_and(|k| k.has_path(path)),
        }
    }
}

/// Why loading the drop program failed, when the probe found it did.
static BPF_REFUSED: OnceLock<String> = OnceLock::new();

/// What this kernel can do, probed on first use (a few milliseconds) and remembered.
///
/// The probe runs in a namespace of its own that is gone when it returns. Without the privileges
/// to create one, every feature reads as missing.
pub fn features() -> Features {
    static PROBED: OnceLock<Features> = OnceLock::new();
    *PROBED.get_or_init(|| {
        std::thread::spawn(probe).join().unwrap_or(Features {
            netem: false,
            tbf: false,
            ifb: false,
            bpf: false,
        })
    })
}

/// Runs on a thread of its own, which it moves into a new namespace.
fn probe() -> Features {
    let none = Features {
        netem: false,
        tbf: false,
        ifb: false,
        bpf: false,
    };
    if nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).is_err() {
        return none;
    }
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return none;
    };
    runtime.block_on(async {
        let Ok((connection, handle, _)) = rtnetlink::new_connection() else {
            return none;
        };
        tokio::spawn(connection);
        let root = |kind: &str, options| {
            let mut msg = root_qdisc(LOOPBACK_INDEX, kind);
            msg.attributes.push(options);
            RouteNetlinkMessage::NewQueueDiscipline(msg)
        };
        let create = netlink_packet_core::NLM_F_CREATE | netlink_packet_core::NLM_F_REPLACE;
        let netem = request(
            &handle,
            root("netem", shape::netem_options(&shape::Shaping::default())),
            create,
        )
        .await
        .is_ok();
        let tbf = request(
            &handle,
            root("tbf", shape::tbf_options(1_000_000, 1500)),
            create,
        )
        .await
        .is_ok();
        let clsact = qdisc(LOOPBACK_INDEX, CLSACT, "clsact");
        let clsact = request(
            &handle,
            RouteNetlinkMessage::NewQueueDiscipline(clsact),
            create,
        )
        .await
        .is_ok();
        // The device, and the filter that feeds it (u32 with a mirred action).
        let ifb = clsact
            && shape::create_ifb(&handle, 2, "ifb-probe", 1500)
                .await
                .is_ok()
            && shape::redirect_to_ifb(&handle, LOOPBACK_INDEX, super::REDIRECT_PRIORITY, 2)
                .await
                .is_ok();
        let loaded = DropProgram::load();
        if let Err(e) = &loaded {
            // The verifier's last words say what it refused.
            let text = e.to_string();
            let last: Vec<&str> = text.lines().rev().take(3).collect();
            let _ = BPF_REFUSED.set(last.into_iter().rev().collect::<Vec<_>>().join(" / "));
        }
        let bpf = match loaded {
            Ok(program) => {
                clsact
                    && request(
                        &handle,
                        RouteNetlinkMessage::NewTrafficFilter(filter(
                            LOOPBACK_INDEX,
                            program.prog_fd(),
                        )),
                        create,
                    )
                    .await
                    .is_ok()
            }
            Err(_) => false,
        };
        Features {
            netem,
            tbf,
            ifb,
            bpf,
        }
    })
}
