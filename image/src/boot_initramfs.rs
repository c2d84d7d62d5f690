//! `boot.cpio.lz4` (`boot.cpio.gz` with `--compress gzip`): the small initramfs that boots
//! `disk.ext4`. Debian's kernel builds the disk's drivers (virtio_pci, virtio_blk) and ext4 as
//! modules, so something must load them before the disk can be the root. That something is
//! ostler's own stage 1: given `root=` while running from an initramfs, it loads the modules
//! `/etc/ostler/modules` names (with what `modules.dep` says they need), mounts the disk and
//! switches to it.
//!
//! The tree: ostler (as `/init`, `/sbin/init`), busybox with `sh` for an emergency shell, the
//! mount points, `/etc/ostler/modules`, and under `/lib/modules/VERSION/` only the modules
//! needed, with a `modules.dep` that lists just them.

use crate::tree::{self, write};
use crate::ImageError;
use ostler_core::modules_dep::name_of;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Modules loaded when none are named: a virtio disk holding ext4, as `qemu/boot --disk` gives.
/// ext4 and jbd2 need a crc32c implementation that `modules.dep` does not list (it is a
/// "softdep" on an alias): crc32c_generic is named here for them.
pub const DEFAULT_MODULES: &[&str] = &["virtio_pci", "virtio_blk", "crc32c_generic", "ext4"];

/// Modules the boot initramfs of a firmware-bootable disk loads (`--format disk`): what real
/// machines keep their root on — virtio (VMs), NVMe (with Intel's VMD in front on many
/// laptops), AHCI/SATA, USB storage behind any USB host controller, SD/MMC — the keyboards an
/// emergency shell needs, and the filesystems (ext4 for the root, FAT for the ESP). Debian's
/// kernel builds them all as modules; their dependencies come along from `modules.dep`.
pub const HARDWARE_MODULES: &[&str] = &[
    "virtio_pci",
    "virtio_blk",
    "virtio_scsi",
    "nvme",
    "vmd",
    "ahci",
    "sd_mod",
    "xhci_pci",
    "ehci_pci",
    "ohci_pci",
    "uhci_hcd",
    "usb_storage",
    "uas",
    "sdhci_pci",
    "sdhci_acpi",
    "mmc_block",
    "usbhid",
    "hid_generic",
    "crc32c_generic",
    "ext4",
    "vfat",
    "nls_cp437",
    "nls_iso8859_1",
];

/// Modes in the boot initramfs that are not 0755 / 0644 by the files' own bits.
pub const SPECIAL_MODES: &[(&str, u32)] = &[("bin/ostler", 0o755), ("bin/busybox", 0o755)];

/// Mount points the boot initramfs needs: the kernel filesystems and the disk's.
const DIRECTORIES: &[&str] = &["bin", "dev", "etc/ostler", "proc", "run", "sbin", "sys", "sysroot"];

/// Fills `root` (empty) with the boot initramfs tree; `ostler` and `busybox` are the binaries'
/// bytes, `modules_dir` a `/lib/modules/VERSION` directory of the kernel that will boot.
pub fn populate(
    root: &Path,
    ostler: &[u8],
    busybox: &[u8],
    modules_dir: &Path,
    wanted: &[String],
) -> Result<(), ImageError> {
    for dir in DIRECTORIES {
        let path = root.join(dir);
        std::fs::create_dir_all(&path).map_err(ImageError::io("create directory", &path))?;
    }
    write(&root.join("bin/ostler"), ostler)?;
    for link in ["init", "sbin/init"] {
        tree::symlink(Path::new("/bin/ostler"), &root.join(link))?;
    }
    write(&root.join("bin/busybox"), busybox)?;
    tree::symlink(Path::new("/bin/busybox"), &root.join("bin/sh"))?;

    let version = modules_dir.file_name().ok_or_else(|| ImageError::NoModules {
        path: modules_dir.to_path_buf(),
        reason: "it names no kernel version".into(),
    })?;
    let dep_path = modules_dir.join("modules.dep");
    let dep = std::fs::read_to_string(&dep_path).map_err(|e| ImageError::NoModules {
        path: modules_dir.to_path_buf(),
        reason: format!("unable to read {}: {e}", dep_path.display()),
    })?;
    let files = closure(&dep, wanted).map_err(|name| ImageError::NoModules {
        path: modules_dir.to_path_buf(),
        reason: format!("it has no module {name} (is it built into this kernel? then leave it out)"),
    })?;
    let target = root.join("lib/modules").join(version);
    let mut listed = String::new();
    for line in dep.lines() {
        if line.split_once(':').is_some_and(|(file, _)| files.contains(file.trim())) {
            listed.push_str(line);
            listed.push('\n');
        }
    }
    for file in &files {
        let source = modules_dir.join(file);
        let bytes = std::fs::read(&source).map_err(ImageError::io("read", &source))?;
        write(&target.join(file), &bytes)?;
    }
    write(&target.join("modules.dep"), listed.as_bytes())?;
    let mut list = String::from("# Loaded by ostler's stage 1 before it mounts root= (ostler image build)\n");
    for name in wanted {
        list.push_str(name);
        list.push('\n');
    }
    write(&root.join("etc/ostler/modules"), list.as_bytes())
}

/// The module files `wanted` needs, dependencies included, as `modules.dep` names them; the
/// error is a name it does not know.
fn closure(dep: &str, wanted: &[String]) -> Result<BTreeSet<String>, String> {
    let table = ostler_core::modules_dep::parse(dep);
    let find = |name: &str| table.iter().find(|(file, _)| name_of(file) == name.replace('-', "_"));
    let mut files = BTreeSet::new();
    for name in wanted {
        let (file, deps) = find(name).ok_or_else(|| name.clone())?;
        files.insert(file.to_string());
        let mut pending: Vec<&str> = deps.clone();
        while let Some(dep) = pending.pop() {
            if files.insert(dep.to_string()) {
                if let Some((_, more)) = table.iter().find(|(file, _)| file == &dep) {
                    pending.extend(more);
                }
            }
        }
    }
    Ok(files)
}

/// The newest `/lib/modules/VERSION` that has a kernel `/boot/vmlinuz-VERSION` beside it (the
/// kernel `qemu/boot` picks), if any.
pub fn host_modules() -> Option<PathBuf> {
    let mut versions: Vec<String> = std::fs::read_dir("/boot")
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("vmlinuz-").map(str::to_string))
        .filter(|v| Path::new("/lib/modules").join(v).join("modules.dep").is_file())
        .collect();
    versions.sort_by_key(|v| version_key(v));
    versions.pop().map(|v| Path::new("/lib/modules").join(v))
}

/// Sorts `6.1.0-9` before `6.1.0-10`: numbers compare as numbers.
fn version_key(version: &str) -> Vec<(u64, String)> {
    version
        .split(|c: char| !c.is_ascii_alphanumeric())
        .map(|part| (part.parse().unwrap_or(0), part.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/jbd2/jbd2.ko
kernel/fs/jbd2/jbd2.ko:
kernel/lib/crc16.ko:
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/e1000.ko:
";

    #[test]
    fn only_what_is_needed() {
        let files = closure(DEP, &["virtio-blk".to_string(), "ext4".to_string()]).unwrap();
        assert_eq!(files.len(), 6);
        assert!(files.contains("kernel/drivers/virtio/virtio_ring.ko"));
        assert!(!files.contains("kernel/drivers/net/e1000.ko"));
        assert_eq!(closure(DEP, &["nvme".to_string()]).unwrap_err(), "nvme");
    }

    #[test]
    fn versions_sort_by_number() {
        let mut v = vec!["6.1.0-10-amd64", "6.1.0-9-amd64", "5.10.0-30-amd64"];
        v.sort_by_key(|v| version_key(v));
        assert_eq!(v, ["5.10.0-30-amd64", "6.1.0-9-amd64", "6.1.0-10-amd64"]);
    }
}
