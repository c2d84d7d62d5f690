//! The firmware-bootable disk (`ostler image build --format disk`): booted by OVMF (and, the
//! `--bios` hybrid, by SeaBIOS) under QEMU with no `-kernel`, from the raw image and the
//! qcow2, on virtio, NVMe, AHCI and USB disks; byte-reproducible; and written by `ostler image
//! write` to a larger loop device, which then boots with its backup GPT at the new end.
//!
//! Real parts only: Debian's OVMF and SeaBIOS, Debian's kernel, systemd's EFI stub, GRUB's
//! BIOS stage. Each boot runs on a copy, so the shared images stay as built.

mod util;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;
use util::guest::*;
use util::{outcome, require, run, TempTree};

const EPOCH: u64 = 1_704_067_200;

/// The UEFI-only and the hybrid image, each built once per run.
fn shared(bios: bool) -> &'static Path {
    static UEFI: OnceLock<PathBuf> = OnceLock::new();
    static HYBRID: OnceLock<PathBuf> = OnceLock::new();
    let (cell, name, options): (_, _, &[&str]) = if bios {
        (&HYBRID, "disk-image-bios", &["--format", "disk", "--bios"])
    } else {
        (&UEFI, "disk-image", &["--format", "disk"])
    };
    cell.get_or_init(|| {
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
        build_image_with(&out, EPOCH, options);
        out
    })
}

/// A copy of `file` in `tree`, for the guest to write to.
fn copy(file: &Path, tree: &TempTree) -> PathBuf {
    let target = tree.join(file.file_name().unwrap());
    std::fs::copy(file, &target).unwrap();
    target
}

/// Boots `disk` through `firmware` on `bus`, and checks what every firmware boot must show:
/// `boot complete` with every default service up and no failure, the root mounted from the
/// disk's second partition (`root_device`), found by the command line built into the image.
/// Returns the logged-in guest.
fn boot(label: &str, disk: &Path, firmware: &str, bus: &str, root_device: &str) -> Guest {
    let tree = TempTree::new(label);
    let copy = copy(disk, &tree);
    let options = ["--firmware", firmware, "--bus", bus, "--memory", "512"].map(String::from);
    let mut guest = Guest::start_with(&["--image".into(), copy], "", tree, &options);
    let qemu = std::fs::read(format!("/proc/{}/cmdline", guest.qemu)).unwrap_or_default();
    let qemu: Vec<_> = qemu.split(|&b| b == 0).map(String::from_utf8_lossy).collect();
    assert!(!qemu.iter().any(|a| a == "-kernel" || a == "-initrd"), "QEMU was handed a kernel: {qemu:?}");
    let complete = guest.console.expect("boot complete", BOOT);
    for longrun in default_longruns() {
        assert!(complete.contains(&format!("{longrun}: up")), "{longrun} is not up:\n{complete}");
    }
    let line = guest.console.expect("\n", COMMAND);
    assert!(!line.contains("failure"), "boot complete with failures: {line}");
    guest.login();
    let cmdline = guest.sh("cat /proc/cmdline");
    let built = std::fs::read_to_string(disk.parent().unwrap().join("cmdline")).unwrap();
    // GRUB (the hybrid under BIOS) puts BOOT_IMAGE= in front.
    assert!(cmdline.trim().ends_with(built.trim()), "the kernel did not get the built-in command line: {cmdline}");
    let root = guest.sh("grep ' / ' /proc/mounts");
    assert!(root.starts_with(&format!("{root_device} / ext4 rw")), "root is not {root_device}, read-write: {root}");
    guest
}

fn power_off(mut guest: Guest) {
    guest.console.send("poweroff\n");
    let status = guest.wait_exit(POWEROFF);
    assert!(status.success(), "QEMU ended with {status} after poweroff:\n{}", guest.console.tail(2000));
}

#[test]
fn ovmf_boots_the_raw_image_by_itself_and_poweroff_ends_qemu() {
    let image = shared(false);
    let mut guest = boot("disk-uefi-raw", &image.join("disk.img"), "uefi", "virtio", "/dev/vda2");
    // The firmware started the UKI from the removable-media path, and Linux knows it booted
    // through UEFI.
    let text = guest.console.text();
    assert!(text.contains("BdsDxe: starting Boot"), "OVMF did not start a boot option:\n{}", guest.console.tail(4000));
    assert!(text.contains("EFI stub: Loaded initrd"), "the stub did not hand over the initramfs");
    assert_eq!(guest.sh("test -d /sys/firmware/efi && echo uefi"), "uefi");
    power_off(guest);
}

#[test]
fn ovmf_boots_the_qcow2() {
    let image = shared(false);
    let info = run(require("qemu-img"), ["info".as_ref(), image.join("disk.qcow2").as_os_str()]);
    assert!(String::from_utf8_lossy(&info.stdout).contains("file format: qcow2"));
    power_off(boot("disk-uefi-qcow2", &image.join("disk.qcow2"), "uefi", "virtio", "/dev/vda2"));
}

#[test]
fn ovmf_boots_the_image_from_an_nvme_disk() {
    power_off(boot("disk-uefi-nvme", &shared(false).join("disk.img"), "uefi", "nvme", "/dev/nvme0n1p2"));
}

#[test]
fn ovmf_boots_the_image_from_an_ahci_disk() {
    power_off(boot("disk-uefi-ahci", &shared(false).join("disk.img"), "uefi", "ahci", "/dev/sda2"));
}

#[test]
fn ovmf_boots_the_image_from_a_usb_stick() {
    // xhci_pci, usb_storage and sd_mod from the boot initramfs: the way a laptop boots it.
    power_off(boot("disk-uefi-usb", &shared(false).join("disk.img"), "uefi", "usb", "/dev/sda2"));
}

#[test]
fn seabios_boots_the_hybrid_through_grub() {
    let mut guest = boot("disk-bios-seabios", &shared(true).join("disk.img"), "bios", "virtio", "/dev/vda2");
    assert_eq!(guest.sh("test -d /sys/firmware/efi && echo uefi || echo bios"), "bios");
    power_off(guest);
}

#[test]
fn ovmf_boots_the_hybrid_too() {
    let mut guest = boot("disk-bios-ovmf", &shared(true).join("disk.img"), "uefi", "virtio", "/dev/vda2");
    assert_eq!(guest.sh("test -d /sys/firmware/efi && echo uefi || echo bios"), "uefi");
    power_off(guest);
}

#[test]
fn the_uefi_only_image_does_not_pretend_to_boot_under_bios() {
    // The protective MBR has no boot code: SeaBIOS must not reach a kernel (the hybrid is
    // what legacy BIOS needs). Proves the hybrid test above boots through GRUB's stage.
    let tree = TempTree::new("disk-uefi-under-bios");
    let copy = copy(&shared(false).join("disk.img"), &tree);
    let options = ["--firmware", "bios"].map(String::from);
    let mut guest = Guest::start_with(&["--image".into(), copy], "", tree, &options);
    assert!(
        !guest.console.saw_within("Linux version", Duration::from_secs(20)),
        "SeaBIOS booted the UEFI-only image:\n{}",
        guest.console.tail(2000)
    );
    assert!(guest.running());
}

#[test]
fn two_builds_give_identical_bytes() {
    let tree = TempTree::new("disk-reproducible");
    let (first, second) = (tree.join("one"), tree.join("two"));
    build_image_with(&first, EPOCH, &["--format", "disk", "--bios"]);
    build_image_with(&second, EPOCH, &["--format", "disk", "--bios"]);
    for name in ["ostler.efi", "disk.img", "disk.qcow2", "cmdline"] {
        let (a, b) = (std::fs::read(first.join(name)).unwrap(), std::fs::read(second.join(name)).unwrap());
        assert!(a == b, "{name} differs between two builds of the same inputs");
    }
    // The table is a valid GPT that other tools agree with, and the ESP a valid FAT.
    let (code, stdout, stderr) = outcome(&run(require("sgdisk"), ["-v".as_ref(), first.join("disk.img").as_os_str()]));
    assert!(code == 0 && stdout.contains("No problems found"), "sgdisk -v:\n{stdout}{stderr}");
    let (code, stdout, _) = outcome(&run(require("sgdisk"), ["-p".as_ref(), first.join("disk.img").as_os_str()]));
    assert_eq!(code, 0);
    for (number, code, name) in [("1", "EF00", "ESP"), ("2", "8304", "root"), ("3", "EF02", "BIOS boot")] {
        assert!(
            stdout
                .lines()
                .any(|l| l.split_whitespace().next() == Some(number) && l.contains(code) && l.ends_with(name)),
            "partition {number} is not {code} {name}:\n{stdout}"
        );
    }
}

#[test]
fn image_write_to_a_larger_loop_device_gives_a_disk_that_boots() {
    let image = shared(false).join("disk.img");
    let tree = TempTree::new("disk-write");
    let backing = tree.join("stick.img");
    let size = image.metadata().unwrap().len() + (64 << 20);
    std::fs::File::create(&backing).unwrap().set_len(size).unwrap();
    let (code, device, stderr) =
        outcome(&run(require("losetup"), ["--find".as_ref(), "--show".as_ref(), backing.as_os_str()]));
    assert_eq!(code, 0, "losetup: {stderr}");
    let device = device.trim().to_string();
    let detach = LoopDevice(device.clone());
    let output =
        run(util::ostler(), ["image".as_ref(), "write".as_ref(), "--yes".as_ref(), image.as_os_str(), device.as_ref()]);
    let (code, stdout, stderr) = outcome(&output);
    assert_eq!(code, 0, "ostler image write:\n{stdout}{stderr}");
    drop(detach);

    let tree_guest = TempTree::new("disk-write-boot");
    let options = ["--firmware", "uefi", "--bus", "virtio", "--memory", "512"].map(String::from);
    let mut guest = Guest::start_with(&["--image".into(), backing.clone()], "", tree_guest, &options);
    guest.console.expect("boot complete", BOOT);
    guest.login();
    // The kernel checks the backup table: one left where the image ended would be reported.
    let complaints = guest.sh("dmesg | grep -i 'gpt' | grep -iv 'efi: ' || true");
    assert!(!complaints.to_lowercase().contains("alternate gpt"), "the backup GPT is not at the end:\n{complaints}");
    let sectors = guest.sh("cat /sys/block/vda/size");
    assert_eq!(sectors.trim(), (size / 512).to_string(), "the guest sees another disk size");
    assert!(guest.sh("grep ' / ' /proc/mounts").starts_with("/dev/vda2 / ext4 rw"));
    power_off(guest);
}

/// Detaches a loop device when dropped, whatever the test did.
struct LoopDevice(String);

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = std::process::Command::new("losetup").args(["-d", &self.0]).status();
    }
}
