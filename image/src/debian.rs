//! The `debian` profile: a Debian bookworm `minbase` root made by `mmdebstrap` (with an ssh
//! server, nginx, cron, rsyslog, udev and DHCP), ostler as its init, and the `skel-debian/`
//! tree (the service definitions, fstab, apt's pins) over it. Unlike the minimal profile, the
//! root keeps Debian's owners, modes and file capabilities, so the build runs as root
//! (`mmdebstrap --mode=root`, `tar -xp`, `mke2fs -d`).
//!
//! The mmdebstrap tarball takes ~25 s with its downloads; it is kept in the cache directory,
//! named after a hash of the recipe (packages, options, epoch), and is byte-identical
//! from one build to the next while the mirror's content stays the same (SOURCE_DATE_EPOCH,
//! no ssh host keys, no copy of the host's hostname or resolv.conf). The mirror is read from
//! the host's apt sources at run time and written nowhere.

use crate::{host, ImageError, Options};
use std::path::Path;
use std::process::{Command, Stdio};

/// The shell half of the profile: mmdebstrap, tar, the links, the skeleton, qemu-img.
const SCRIPT: &str = include_str!("debian.sh");

/// Runs `debian.sh` with `args`.
fn script(args: &[&std::ffi::OsStr], epoch: u64) -> Result<(), ImageError> {
    let mut command = Command::new("/bin/sh");
    command.arg("-c").arg(SCRIPT).arg("debian.sh").args(args);
    host::run(command.stdin(Stdio::null()).env("SOURCE_DATE_EPOCH", epoch.to_string()), "").map(drop)
}

/// Fills `root` (empty) with the Debian root, ostler, skel-debian/, the authorized key and
/// the kernel's modules (udev loads the NIC's and the RNG's); returns ostler's bytes (for the
/// boot initramfs).
pub fn populate(options: &Options, root: &Path) -> Result<Vec<u8>, ImageError> {
    let ostler = crate::minimal::read_static(&options.ostler, true)?;
    if !options.skel.is_dir() {
        return Err(ImageError::NoSkel { path: options.skel.clone() });
    }
    let packages = options.packages.join(",");
    // The tarball is named after the recipe: FNV-1a (stable across Rust versions) of the
    // packages added, the epoch and the part of the script that runs mmdebstrap (with the list).
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in format!("{packages} {} {}", options.epoch, recipe()).bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let tarball = options.cache.join(format!("debian-bookworm-ostler-{hash:016x}.tar"));
    let key = options.authorized_key.clone().unwrap_or_default();
    let modules = options.kernel_modules.clone().unwrap_or_default();
    let args: [&std::ffi::OsStr; 8] = [
        "root".as_ref(),
        tarball.as_os_str(),
        root.as_os_str(),
        options.ostler.as_os_str(),
        options.skel.as_os_str(),
        key.as_os_str(),
        modules.as_os_str(),
        packages.as_ref(),
    ];
    script(&args, options.epoch)?;
    Ok(ostler)
}

/// The part of the script that makes the tarball: from its arguments to the mmdebstrap run.
fn recipe() -> &'static str {
    SCRIPT.split("\ntarball=").nth(1).unwrap_or_default().split("\ntar -C").next().unwrap_or_default()
}

/// Gives every inode of `disk`, made from `root`, the epoch's times (mke2fs copies the host's).
pub fn fix_times(disk: &Path, root: &Path, epoch: u64) -> Result<(), ImageError> {
    script(&["times".as_ref(), disk.as_os_str(), root.as_os_str()], epoch)
}

/// Converts the raw `disk` to `qcow2`.
pub fn qcow2(disk: &Path, qcow2: &Path, epoch: u64) -> Result<(), ImageError> {
    script(&["qcow2".as_ref(), disk.as_os_str(), qcow2.as_os_str()], epoch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_key_covers_the_package_list_and_the_mmdebstrap_run() {
        let recipe = recipe();
        assert!(recipe.contains("\npackages=openssh-server,"), "{recipe}");
        assert!(recipe.contains("mmdebstrap --mode=root --variant=minbase"), "{recipe}");
        assert!(recipe.trim_end().ends_with("fi"), "{recipe}");
    }

    #[test]
    fn the_script_is_valid_shell() {
        let status = Command::new("/bin/sh").args(["-n", "-c", SCRIPT]).status().unwrap();
        assert!(status.success());
    }
}
