//! The kernel filesystems stage 1 mounts, each only when nothing is mounted there yet (the
//! kernel or an initramfs may have done it).

use ostler_core::mountinfo::mount_points;
use std::path::Path;

/// One mount stage 1 wants.
pub struct Wanted {
    /// Where.
    pub target: &'static str,
    /// Filesystem type.
    pub fstype: &'static str,
    /// Flags.
    pub flags: nix::mount::MsFlags,
    /// Data (options).
    pub data: &'static str,
}

/// Where cgroup2 goes.
const CGROUP: &str = "/sys/fs/cgroup";

/// cgroup2's options, the best first: a kernel that refuses one set gets the next.
const CGROUP_OPTIONS: [&str; 3] = ["nsdelegate,memory_recursiveprot", "nsdelegate", ""];

/// The kernel filesystems, in the order they must be mounted.
pub fn wanted() -> Vec<Wanted> {
    use nix::mount::MsFlags as F;
    let safe = F::MS_NOSUID | F::MS_NODEV | F::MS_NOEXEC;
    vec![
        Wanted { target: "/proc", fstype: "proc", flags: safe, data: "" },
        Wanted { target: "/sys", fstype: "sysfs", flags: safe, data: "" },
        // cgroup v2, for the services' control groups; without the two options on kernels
        // that lack them (memory_recursiveprot: 5.7).
        Wanted { target: CGROUP, fstype: "cgroup2", flags: safe, data: CGROUP_OPTIONS[0] },
        Wanted { target: "/dev", fstype: "devtmpfs", flags: F::MS_NOSUID, data: "mode=0755" },
        Wanted {
            target: "/dev/pts",
            fstype: "devpts",
            flags: F::MS_NOSUID | F::MS_NOEXEC,
            data: "gid=5,mode=0620,ptmxmode=0666",
        },
        Wanted { target: "/dev/shm", fstype: "tmpfs", flags: F::MS_NOSUID | F::MS_NODEV, data: "mode=1777" },
        Wanted { target: "/run", fstype: "tmpfs", flags: F::MS_NOSUID | F::MS_NODEV, data: "mode=0755" },
    ]
}

/// Mounts what is missing; returns a message per failure (the boot goes on without it).
pub fn mount_kernel_filesystems(step: &dyn Fn(&str)) -> Vec<String> {
    let mut problems = Vec::new();
    // Before /proc is mounted nothing is known; it is read again once /proc is there.
    let read = || std::fs::read_to_string("/proc/self/mountinfo").map(|m| mount_points(&m)).unwrap_or_default();
    let mut mounted = read();
    for wanted in wanted() {
        if mounted.iter().any(|m| m == wanted.target) {
            step(&format!("{} already mounted", wanted.target));
            continue;
        }
        let _ = std::fs::create_dir_all(wanted.target);
        let mount = |data: &str| {
            let data = (!data.is_empty()).then_some(data);
            nix::mount::mount(Some(wanted.fstype), Path::new(wanted.target), Some(wanted.fstype), wanted.flags, data)
        };
        let mut result = mount(wanted.data);
        if wanted.target == CGROUP {
            for options in &CGROUP_OPTIONS[1..] {
                if result != Err(nix::errno::Errno::EINVAL) {
                    break;
                }
                result = mount(options);
            }
        }
        match result {
            Ok(()) => {
                step(&format!("mounted {} on {}", wanted.fstype, wanted.target));
                if wanted.target == "/proc" {
                    mounted = read();
                } else {
                    mounted.push(wanted.target.to_string());
                }
            }
            Err(e) => problems.push(format!("unable to mount {} on {}: {e}", wanted.fstype, wanted.target)),
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_comes_first_and_run_is_there() {
        let order: Vec<&str> = wanted().iter().map(|w| w.target).collect();
        assert_eq!(order.first(), Some(&"/proc"));
        assert!(order.contains(&"/run") && order.contains(&"/dev/pts"));
        let dev = order.iter().position(|t| *t == "/dev").unwrap();
        assert!(order.iter().position(|t| *t == "/dev/pts").unwrap() > dev);
    }
}
