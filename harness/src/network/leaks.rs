//! Finding what keeps a network namespace alive: for checking that nothing leaked.

use std::{fs, path::Path};

/// Every thread and open fd on the machine that holds the network namespace with inode `inode`
/// (see [`crate::Host::netns_inode`]), described as `pid 12 (comm) thread 13` or `pid 12 (comm) fd 7`.
///
/// An empty list means no process or thread holds the namespace any more: the kernel frees it,
/// and every interface in it, once the last socket created there is closed. Processes that end
/// while the scan runs are skipped.
pub fn netns_holders(inode: u64) -> Vec<String> {
    let target = format!("net:[{inode}]");
    let mut holders = Vec::new();
    let Ok(procs) = fs::read_dir("/proc") else {
        return holders;
    };
    for proc in procs.flatten() {
        let name = proc.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let comm = fs::read_to_string(proc.path().join("comm")).unwrap_or_default();
        let who = format!("pid {pid} ({})", comm.trim());
        for (dir, kind) in [("task", "thread"), ("fd", "fd")] {
            let Ok(entries) = fs::read_dir(proc.path().join(dir)) else {
                continue;
            };
            for entry in entries.flatten() {
                let link = match kind {
                    "thread" => entry.path().join("ns/net"),
                    _ => entry.path(),
                };
                if points_to(&link, &target) {
                    holders.push(format!(
                        "{who} {kind} {}",
                        entry.file_name().to_string_lossy()
                    ));
                }
            }
        }
    }
    holders
}

fn points_to(link: &Path, target: &str) -> bool {
    fs::read_link(link).is_ok_and(|t| t.as_os_str() == target)
}
