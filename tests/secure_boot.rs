//! Secure Boot (issue 13): the firmware-bootable disk image (`ostler image build --format disk`)
//! signed with the tests' own key boots under OVMF's Secure Boot firmware; the same image
//! unsigned, or signed with a key the firmware does not know, is refused by the firmware.
//!
//! The key is made fresh for each run (`openssl req -x509`), and the variable store that
//! enrolls it (PK, KEK and db, Secure Boot on) is made by the real firmware, once per run
//! (tests/util/secure_boot.rs); each boot starts from a copy of it (`qemu/boot --vars`). Both
//! are kept in the target directory's tmp (`secure-boot/`), remade by every run.
//!
//! Needs what the boot tests need (the static musl ostler, QEMU, Debian's kernel) and OVMF,
//! efitools, sbsigntool, openssl, cpio and busybox-static; a missing tool fails the test.

mod util;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use util::console::Console;
use util::guest::{boot_slot, build_image_with, require_qemu, source_tree, BOOT, COMMAND, POWEROFF};
use util::secure_boot::{enrolled_varstore, require_tool, test_key};
use util::{Processes, TempTree};

/// The images' --epoch (2024-01-01, as the other boot tests).
const EPOCH: u64 = 1_704_067_200;
/// From QEMU's start to the firmware's refusal (OVMF alone takes ≈ 4 s under TCG).
const REFUSAL: Duration = Duration::from_secs(120);

/// The run's test key and the variable store enrolling it.
struct Keys {
    key: PathBuf,
    cert: PathBuf,
    vars: PathBuf,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("secure-boot");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (key, cert) = test_key(&dir);
        let vars = dir.join("enrolled-vars.fd");
        enrolled_varstore(&key, &cert, &vars);
        Keys { key, cert, vars }
    })
}

/// Builds the minimal image as a firmware-bootable disk into `out` (signed with `sign`: key and
/// certificate); returns the path of its disk.img.
fn build_disk(out: &Path, sign: Option<&Keys>) -> PathBuf {
    let mut options = vec!["--format".to_string(), "disk".to_string()];
    if let Some(keys) = sign {
        require_tool("sbsign", "sbsigntool");
        options.extend(["--sign".to_string(), keys.key.display().to_string()]);
        options.extend(["--cert".to_string(), keys.cert.display().to_string()]);
    }
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let started = Instant::now();
    build_image_with(out, EPOCH, &options);
    eprintln!("secure boot: image built in {:.1} s", started.elapsed().as_secs_f64());
    let disk = out.join("disk.img");
    assert!(disk.is_file(), "ostler image build --format disk made no {}", disk.display());
    disk
}

/// A disk image booting under OVMF's Secure Boot firmware with the enrolled store.
struct Machine {
    console: Console,
    qemu: u32,
    procs: Processes,
    tree: TempTree,
    started: Instant,
    _slot: std::sync::MutexGuard<'static, ()>,
}

impl Machine {
    fn boot(disk: &Path, vars: &Path, tree: TempTree) -> Machine {
        require_qemu();
        let slot = boot_slot();
        let socket = tree.join("console.sock");
        let mut command = Command::new(source_tree().join("qemu/boot"));
        command
            .arg("--image")
            .arg(disk)
            .args(["--firmware", "uefi-secure"])
            .arg("--vars")
            .arg(vars)
            .arg("--serial")
            .arg(format!("unix:{}", socket.display()))
            .args(["--timeout", util::guest::QEMU_LIMIT_SECONDS])
            .stderr(std::fs::File::create(tree.join("qemu.stderr")).unwrap());
        let mut procs = Processes::new();
        let started = Instant::now();
        let qemu = procs.spawn(command);
        let console = Console::connect(&socket, Duration::from_secs(60));
        Machine { console, qemu, procs, tree, started, _slot: slot }
    }

    fn seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn qemu_stderr(&self) -> String {
        std::fs::read_to_string(self.tree.join("qemu.stderr")).unwrap_or_default()
    }
}

#[test]
fn signed_disk_image_boots_with_secure_boot_on() {
    let keys = keys();
    let tree = TempTree::new("secure-boot-signed");
    let disk = build_disk(&tree.join("image"), Some(keys));
    let mut machine = Machine::boot(&disk, &keys.vars, tree);

    machine.console.expect("EFI stub: UEFI Secure Boot is enabled.", BOOT);
    machine.console.expect("Linux version", BOOT);
    machine.console.expect("secureboot: Secure boot enabled", BOOT);
    let kernel = machine.seconds();
    machine.console.expect("boot complete in ", BOOT);
    let complete = machine.seconds();

    machine.console.expect_anywhere("login: ", BOOT);
    machine.console.send("root\n");
    machine.console.expect("# ", COMMAND);
    machine.console.send("poweroff\n");
    let end = Instant::now() + POWEROFF;
    while machine.procs.running(machine.qemu) {
        assert!(
            Instant::now() < end,
            "QEMU did not exit within {POWEROFF:?} of poweroff; the console's last lines:\n{}",
            machine.console.tail(3000)
        );
        std::thread::sleep(util::POLL_EVERY);
    }
    let status = machine.procs.wait_exit(machine.qemu, Duration::from_secs(5));
    assert!(status.success(), "QEMU ended with {status} after poweroff; stderr:\n{}", machine.qemu_stderr());
    eprintln!(
        "secure boot: signed image: kernel's \"Secure boot enabled\" at {kernel:.1} s, boot complete at {complete:.1} s, QEMU ended at {:.1} s",
        machine.seconds()
    );
}

#[test]
fn unsigned_disk_image_is_refused_by_the_firmware() {
    let keys = keys();
    let tree = TempTree::new("secure-boot-unsigned");
    let disk = build_disk(&tree.join("image"), None);
    let machine = Machine::boot(&disk, &keys.vars, tree);
    expect_refused(machine, "unsigned image");
}

#[test]
fn disk_image_signed_with_a_key_not_enrolled_is_refused() {
    let keys = keys();
    let tree = TempTree::new("secure-boot-other-key");
    let (key, cert) = test_key(&tree.dir("other-key"));
    let other = Keys { key, cert, vars: keys.vars.clone() };
    let disk = build_disk(&tree.join("image"), Some(&other));
    let machine = Machine::boot(&disk, &keys.vars, tree);
    expect_refused(machine, "image signed with another key");
}

/// The firmware refuses the disk's UKI: "Access Denied", then it tries its other boot options
/// (its internal shell: a Security Violation under Secure Boot) and gives up; nothing of the
/// kernel ever runs. Dropping the machine then stops QEMU by its pid.
fn expect_refused(mut machine: Machine, what: &str) {
    machine.console.expect("Access Denied", REFUSAL);
    let denied = machine.seconds();
    machine.console.expect("No bootable option or device was found", REFUSAL);
    let gave_up = machine.seconds();
    for never in ["Linux version", "EFI stub"] {
        assert!(
            !machine.console.saw(never),
            "{never:?} appeared on the console: the {what} ran; the console:\n{}",
            machine.console.tail(3000)
        );
    }
    assert!(machine.procs.running(machine.qemu), "QEMU ended; stderr:\n{}", machine.qemu_stderr());
    eprintln!(
        "secure boot: {what} refused (\"Access Denied\") at {denied:.1} s, no boot option left at {gave_up:.1} s"
    );
}
