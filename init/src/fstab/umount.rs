//! `ostler umount-all`: the reverse of mount-all, for the shutdown. Swap areas are turned off
//! first, then the mounts of the fstab are unmounted in reverse file order; one that is busy is
//! remounted read-only and reported. `/` and the kernel filesystems stage 1 mounts are left
//! alone: the final stage remounts `/` read-only after every process is gone.

use super::resolve::resolve;
use super::sys;
use super::{line_error, read, read_mounted, read_swaps, swap_is_active, Config, Outcome, Problem};
use std::path::Path;
use sys_mount::MountFlags;

/// Turns off the fstab's swap areas and unmounts its filesystems, newest line first.
pub fn umount_all(config: &Config) -> Vec<Outcome> {
    let (entries, mut outcomes) = match read(config) {
        Ok(read) => read,
        Err(error) => return vec![Outcome::Failed(error)],
    };
    let active = read_swaps(config);
    for entry in entries.iter().filter(|e| e.is_swap()) {
        let Some(device) = resolve(&entry.spec, &config.disks) else { continue };
        if !swap_is_active(&device, &active) {
            continue;
        }
        outcomes.push(match sys::swapoff(&device) {
            Ok(()) => Outcome::Done(format!("swap off on {}", device.display())),
            Err(e) => Outcome::Failed(line_error(
                config,
                entry.line,
                Problem::Swapoff { device: device.display().to_string(), error: e },
            )),
        });
    }
    let kernel: Vec<&str> = crate::mounts::wanted().iter().map(|w| w.target).collect();
    for entry in entries.iter().rev().filter(|e| !e.is_swap()) {
        if entry.target == "/" || kernel.contains(&entry.target.as_str()) {
            continue;
        }
        if !read_mounted(config).iter().any(|m| m.target == entry.target) {
            continue;
        }
        let target = Path::new(&entry.target);
        let error = |problem| line_error(config, entry.line, problem);
        outcomes.push(match sys::unmount(target) {
            Ok(()) => Outcome::Done(format!("unmounted {}", entry.target)),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => match sys::remount(target, MountFlags::RDONLY, None) {
                Ok(()) => Outcome::Warning(error(Problem::Busy(entry.target.clone()))),
                Err(_) => Outcome::Failed(error(Problem::Unmount { target: entry.target.clone(), error: e })),
            },
            Err(e) => Outcome::Failed(error(Problem::Unmount { target: entry.target.clone(), error: e })),
        });
    }
    outcomes
}
