//! Secure Boot with the tests' own key: a fresh self-signed certificate, and an OVMF variable
//! store with that certificate enrolled as PK, KEK and db and Secure Boot on.
//!
//! The store is made by the real firmware, not written by hand: OVMF's empty store
//! (`OVMF_VARS_4M.fd`, setup mode) is booted under OVMF's Secure Boot build with Debian's
//! kernel loaded directly and a tiny busybox initramfs. Its /init mounts efivarfs and writes db,
//! then KEK, then PK (the PK ends setup mode), each a time-based authenticated payload made on
//! the host with efitools (`cert-to-efi-sig-list`, `sign-efi-sig-list`). It then reboots; on the
//! second boot (Secure Boot now on: OVMF loads a directly given kernel it cannot verify
//! through its legacy loader) /init checks SetupMode = 0, SecureBoot = 1 and that PK, KEK and
//! db hold exactly the test certificate, and powers off.
//!
//! Tools: openssl, efitools, cpio, busybox-static (/bin/busybox), QEMU, OVMF and a kernel in
//! /boot with its modules (efivarfs is a module in Debian's kernel). A missing one fails with
//! a message naming its package.

use super::console::Console;
use super::guest::{boot_slot, require_qemu, source_tree};
use super::{outcome, Processes, TempTree};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// OVMF's empty variable store: setup mode, no keys, Secure Boot off.
pub const OVMF_VARS_EMPTY: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";
/// OVMF's Secure Boot build (needs SMM; qemu/boot --firmware uefi-secure uses it).
pub const OVMF_CODE_SECURE: &str = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd";
/// EFI_GLOBAL_VARIABLE: PK, KEK, SecureBoot, SetupMode.
pub const EFI_GLOBAL: &str = "8be4df61-93ca-11d2-aa0d-00e098032b8c";
/// EFI_IMAGE_SECURITY_DATABASE_GUID: db.
pub const IMAGE_SECURITY: &str = "d719b2cb-3d3a-4596-a3bc-dad00e67656f";
/// The owner GUID of the tests' signature lists (any fixed GUID does).
const OWNER: &str = "31787d3b-f973-42ba-802c-90de524be580";
/// NON_VOLATILE | BOOTSERVICE_ACCESS | RUNTIME_ACCESS | TIME_BASED_AUTHENTICATED_WRITE_ACCESS.
const ATTRIBUTES: u32 = 0x27;
/// The two boots of the enrolment together (≈ 15 s under TCG; allow for a busy host).
const ENROL: Duration = Duration::from_secs(300);
/// The last line /init prints when every check passed.
const DONE: &str = "ENROL: SECURE BOOT ON";
/// The start of the line /init prints when something failed.
const FAILED: &str = "ENROL: FAILED";

/// Makes a fresh RSA-2048 key (unencrypted PEM) and its self-signed certificate in `dir`:
/// `(dir/key.pem, dir/cert.pem)`.
pub fn test_key(dir: &Path) -> (PathBuf, PathBuf) {
    require_tool("openssl", "openssl");
    let key = dir.join("key.pem");
    let cert = dir.join("cert.pem");
    checked(
        Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=ostler test key/", "-days", "3650"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert),
    );
    (key, cert)
}

/// Writes to `out` a copy of OVMF's empty variable store in which the firmware itself has
/// enrolled `cert` as PK, KEK and db (the payloads signed with `key`), Secure Boot on. Panics,
/// showing the serial console, when anything fails; `out` is only written on success. Takes
/// the boot slot (util::guest::boot_slot) for its QEMU: do not call it while holding one.
pub fn enrolled_varstore(key: &Path, cert: &Path, out: &Path) {
    for tool in ["cert-to-efi-sig-list", "sign-efi-sig-list"] {
        require_tool(tool, "efitools");
    }
    require_tool("cpio", "cpio");
    require_qemu();
    for firmware in [OVMF_VARS_EMPTY, OVMF_CODE_SECURE] {
        assert!(Path::new(firmware).is_file(), "{firmware} is missing; install OVMF (Debian: apt-get install ovmf)");
    }
    let busybox = static_busybox();
    let kernel = newest_kernel();
    let version = kernel
        .file_name()
        .and_then(|name| name.to_str())
        .and_then(|name| name.strip_prefix("vmlinuz-"))
        .unwrap_or_else(|| panic!("cannot tell the kernel version from {}", kernel.display()))
        .to_string();

    let tree = TempTree::new("secure-boot-enrol");
    let root = tree.dir("initramfs");
    for dir in ["bin", "dev", "proc", "sys", "tmp", "keys", "modules"] {
        tree.dir(root.join(dir));
    }
    std::fs::copy(&busybox, root.join("bin/busybox")).unwrap();

    // The signature lists (what the variables hold afterwards, checked by /init) and the
    // variables as efivarfs takes them: the attributes, then the authenticated payload.
    let esl = tree.join("cert.esl");
    checked(Command::new("cert-to-efi-sig-list").args(["-g", OWNER]).arg(cert).arg(&esl));
    std::fs::copy(&esl, root.join("keys/cert.esl")).unwrap();
    for name in ["PK", "KEK", "db"] {
        let auth = tree.join(format!("{name}.auth"));
        checked(
            Command::new("sign-efi-sig-list").arg("-k").arg(key).arg("-c").arg(cert).arg(name).arg(&esl).arg(&auth),
        );
        let mut variable = ATTRIBUTES.to_le_bytes().to_vec();
        variable.extend(std::fs::read(&auth).unwrap());
        std::fs::write(root.join(format!("keys/{name}.var")), variable).unwrap();
    }

    let modules = efivarfs_modules(&version, &root.join("modules"));
    let init =
        INIT.replace("@MODULES@", &modules.join(" ")).replace("@GLOBAL@", EFI_GLOBAL).replace("@DB@", IMAGE_SECURITY);
    std::fs::write(root.join("init"), init).unwrap();
    std::fs::set_permissions(root.join("init"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let cpio = tree.join("enrol.cpio");
    checked(
        Command::new("sh")
            .args(["-c", "cd \"$1\" && find . | LC_ALL=C sort | cpio -o -H newc --quiet --owner 0:0 > \"$2\"", "sh"])
            .arg(&root)
            .arg(&cpio),
    );

    // The firmware writes the keys into this copy; `out` gets it once every check passed.
    let store = tree.join("vars.fd");
    std::fs::copy(OVMF_VARS_EMPTY, &store).unwrap();
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o644)).unwrap();
    let started = Instant::now();
    run_enrolment(&tree, &kernel, &cpio, &store);
    eprintln!("secure boot: test key enrolled by OVMF in {:.1} s", started.elapsed().as_secs_f64());
    std::fs::copy(&store, out).unwrap_or_else(|e| panic!("unable to write {}: {e}", out.display()));
}

/// Boots the enrolment (through qemu/boot, the store written in place, rebooting once) and
/// waits for /init's verdict and QEMU's exit.
fn run_enrolment(tree: &TempTree, kernel: &Path, cpio: &Path, store: &Path) {
    let _slot = boot_slot();
    let socket = tree.join("console.sock");
    let stderr = tree.join("qemu.stderr");
    let mut command = Command::new(source_tree().join("qemu/boot"));
    command
        .arg("--kernel")
        .arg(kernel)
        .arg("--initramfs")
        .arg(cpio)
        .args(["--firmware", "uefi-secure"])
        .arg("--vars-in-place")
        .arg(store)
        .arg("--reboot")
        .arg("--serial")
        .arg(format!("unix:{}", socket.display()))
        .args(["--timeout", "600"])
        .stderr(std::fs::File::create(&stderr).unwrap());
    let mut procs = Processes::new();
    let qemu = procs.spawn(command);
    let console = Console::connect(&socket, Duration::from_secs(60));
    let fail = |procs: &mut Processes, console: &Console, why: &str| -> ! {
        let log = console.tail(6000);
        let qemu_stderr = std::fs::read_to_string(&stderr).unwrap_or_default();
        // Stop QEMU (by pid) before panicking, so the message is the last word.
        drop(std::mem::take(procs));
        panic!(
            "enrolling the test key in an OVMF variable store failed: {why}\n--- serial console (end) ---\n{log}\n--- qemu/boot stderr ---\n{qemu_stderr}"
        );
    };
    let end = Instant::now() + ENROL;
    loop {
        let text = console.text();
        if text.contains(FAILED) {
            // Let /init print the rest of its lines.
            std::thread::sleep(Duration::from_secs(1));
            fail(&mut procs, &console, "the guest's checks failed (lines starting with ENROL:)");
        }
        if text.contains("Kernel panic") {
            std::thread::sleep(Duration::from_secs(1));
            fail(&mut procs, &console, "the kernel panicked");
        }
        if text.contains(DONE) {
            break;
        }
        if !procs.running(qemu) {
            fail(&mut procs, &console, "QEMU ended before /init reported");
        }
        if Instant::now() >= end {
            fail(&mut procs, &console, &format!("no verdict from /init within {ENROL:?}"));
        }
        std::thread::sleep(super::POLL_EVERY);
    }
    if !console.saw("secureboot: Secure boot enabled") {
        fail(&mut procs, &console, "the kernel did not print \"secureboot: Secure boot enabled\" on the second boot");
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while procs.running(qemu) {
        if Instant::now() >= deadline {
            fail(&mut procs, &console, "QEMU did not exit after /init's poweroff");
        }
        std::thread::sleep(super::POLL_EVERY);
    }
    let status = procs.wait_exit(qemu, Duration::from_secs(5));
    if !status.success() {
        fail(&mut procs, &console, &format!("qemu/boot ended with {status}"));
    }
}

/// The enrolment's /init. First boot (setup mode): write db, KEK, then PK, each in one
/// write() (`dd bs=1M`), check that setup mode ended, reboot. Second boot: check SetupMode 0,
/// SecureBoot 1 and the three variables' contents, power off. Every outcome is a line
/// starting with `ENROL:`.
const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() { echo "ENROL: FAILED: $*"; poweroff -f; sleep 60; }
for m in @MODULES@; do insmod "/modules/$m" || fail "insmod $m"; done
mount -t efivarfs efivarfs /sys/firmware/efi/efivars || fail "mount efivarfs (booted without UEFI?)"
V=/sys/firmware/efi/efivars
G=@GLOBAL@
D=@DB@
# The first data byte of a variable (after its 4 bytes of attributes), or "none".
byte() { if [ -e "$V/$1" ]; then set -- $(od -An -tu1 "$V/$1"); echo "${5:-empty}"; else echo none; fi; }
setup=$(byte SetupMode-$G)
secure=$(byte SecureBoot-$G)
echo "ENROL: found SetupMode=$setup SecureBoot=$secure"
case $setup in
1)
    for v in db-$D KEK-$G PK-$G; do
        name=${v%%-*}
        err=$(dd if=/keys/$name.var of=$V/$v bs=1M 2>&1) || fail "writing $name: $err"
        echo "ENROL: wrote $name"
    done
    setup=$(byte SetupMode-$G)
    [ "$setup" = 0 ] || fail "SetupMode is $setup after PK was written, not 0"
    echo "ENROL: setup mode ended; rebooting to check"
    reboot -f
    sleep 60
    ;;
0)
    for v in PK-$G KEK-$G db-$D; do
        tail -c +5 "$V/$v" | cmp -s - /keys/cert.esl || fail "${v%%-*} does not hold the test certificate"
        echo "ENROL: ${v%%-*} holds the test certificate"
    done
    [ "$secure" = 1 ] || fail "SecureBoot is $secure, not 1"
    echo "ENROL: SECURE BOOT ON"
    poweroff -f
    sleep 60
    ;;
*)
    fail "no SetupMode variable ($setup)"
    ;;
esac
"#;

/// The newest /boot/vmlinuz-* (by version, as qemu/boot picks it).
fn newest_kernel() -> PathBuf {
    let output = Command::new("sh")
        .args(["-c", "ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1"])
        .output()
        .expect("unable to run sh");
    let name = String::from_utf8_lossy(&output.stdout).trim().to_string();
    assert!(!name.is_empty(), "no kernel in /boot; install one (Debian: apt-get install linux-image-amd64)");
    PathBuf::from(name)
}

/// Copies efivarfs and what it depends on (per modules.dep, decompressed) into `into`; returns
/// their file names in load order (none when efivarfs is built in).
fn efivarfs_modules(version: &str, into: &Path) -> Vec<String> {
    let base = PathBuf::from("/lib/modules").join(version);
    let builtin = std::fs::read_to_string(base.join("modules.builtin")).unwrap_or_default();
    if builtin.lines().any(|line| module_name(line) == Some("efivarfs")) {
        return Vec::new();
    }
    let dep = std::fs::read_to_string(base.join("modules.dep")).unwrap_or_else(|e| {
        panic!("cannot read {}: {e}; install the kernel's modules (Debian: linux-image-amd64)", base.display())
    });
    let line = dep
        .lines()
        .find(|line| line.split(':').next().and_then(module_name) == Some("efivarfs"))
        .unwrap_or_else(|| panic!("efivarfs is neither built into {version} nor in its modules.dep"));
    let (module, deps) = line.split_once(':').unwrap();
    // modules.dep lists what a module needs with the first-to-load last.
    let mut order: Vec<&str> = deps.split_whitespace().rev().collect();
    order.push(module.trim());
    order
        .into_iter()
        .map(|relative| {
            let source = base.join(relative);
            let name = format!("{}.ko", module_name(relative).unwrap());
            let target = into.join(&name);
            let decompress = match relative.rsplit_once(".ko").map(|(_, ext)| ext) {
                Some("") => None,
                Some(".xz") => Some(("xz", "xz-utils")),
                Some(".zst") => Some(("zstd", "zstd")),
                Some(".gz") => Some(("gzip", "gzip")),
                _ => panic!("unknown module file {}", source.display()),
            };
            match decompress {
                None => {
                    std::fs::copy(&source, &target)
                        .unwrap_or_else(|e| panic!("unable to copy {}: {e}", source.display()));
                }
                Some((tool, package)) => {
                    require_tool(tool, package);
                    let output = Command::new(tool).arg("-dc").arg(&source).output().unwrap();
                    assert!(output.status.success(), "{tool} -dc {} failed", source.display());
                    std::fs::write(&target, output.stdout).unwrap();
                }
            }
            name
        })
        .collect()
}

/// `efivarfs` for `kernel/fs/efivarfs/efivarfs.ko.xz` (and the like).
fn module_name(path: &str) -> Option<&str> {
    let file = path.trim().rsplit('/').next()?;
    file.split_once(".ko").map(|(name, _)| name)
}

/// The host's busybox, checked to be static (the initramfs has no libraries).
fn static_busybox() -> PathBuf {
    let path = PathBuf::from("/bin/busybox");
    let elf = std::fs::read(&path).unwrap_or_else(|e| {
        panic!("{} is missing ({e}); install busybox-static (Debian: apt-get install busybox-static)", path.display())
    });
    assert!(
        elf.len() > 64 && &elf[..4] == b"\x7fELF" && elf[4] == 2,
        "{} is not a 64-bit ELF file; install busybox-static",
        path.display()
    );
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let (size, count) = (u16_at(0x36), u16_at(0x38));
    let dynamic = (0..count).any(|i| {
        let at = phoff + i * size;
        elf.get(at..at + 4).is_some_and(|t| u32::from_le_bytes(t.try_into().unwrap()) == 3)
        // PT_INTERP
    });
    assert!(
        !dynamic,
        "{} is dynamically linked; the enrolment's initramfs needs busybox-static (Debian: apt-get install busybox-static)",
        path.display()
    );
    path
}

/// Panics unless `command` is on PATH, naming the Debian package that has it.
pub fn require_tool(command: &str, package: &str) {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .any(|dir| dir.join(command).metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0));
    assert!(
        found,
        "the Secure Boot tests need `{command}`, which is not on PATH; install it (Debian: apt-get install {package})"
    );
}

/// Runs a command; panics with its output unless it succeeds.
fn checked(command: &mut Command) {
    let output = command
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("unable to run {command:?}: {e}"));
    let (code, stdout, stderr) = outcome(&output);
    assert_eq!(code, 0, "{command:?} failed:\n{stdout}{stderr}");
}
