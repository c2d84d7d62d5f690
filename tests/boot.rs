//! Boot tests (issue 3): the minimal image built by `ostler image build`, booted with Debian's
//! kernel under QEMU (`qemu/boot`; TCG on these machines), checked from its serial console.
//!
//! The guest runs the static musl build of ostler: `cargo build --release --target
//! x86_64-unknown-linux-musl` must have run first (tools/test does), or OSTLER_GUEST_BINARY
//! names one. QEMU and the kernel come from `qemu/setup` (qemu-system-x86, linux-image-amd64).
//! Boots run one at a time (TCG takes a core each); deadlines are generous, success is always
//! something seen on the console, never a sleep.

mod util;

use std::path::Path;
use std::time::Duration;
use util::guest::*;
use util::{outcome, require, run, TempTree};

#[test]
fn minimal_image_boots_to_a_root_login_and_powers_off() {
    let mut guest = Guest::boot("boot", "");
    guest.console.expect("ostler: stage 1", BOOT);
    let before = guest.console.expect("boot complete in ", BOOT);
    let millis = guest.console.expect(" ms", COMMAND);
    eprintln!("guest: boot complete in {millis} ms");
    for name in default_longruns() {
        assert!(before.contains(&name), "stage 2 printed no line for {name}:\n{before}");
    }
    guest.login();

    // Every default longrun, and the logger of those that have one, is up.
    for name in default_longruns() {
        let mut services = vec![name.clone()];
        // A `log/` directory or a `log` companion file: either way the logger is NAME/log.
        if source_tree().join("skel/etc/ostler/sv").join(&name).join("log").exists() {
            services.push(format!("{name}/log"));
        }
        for service in services {
            let status = guest.sh(&format!("ostler svstat /run/service/{service}"));
            assert!(status.starts_with("up (pid "), "{service} is not up: {status:?}");
        }
    }

    let pid1 = guest.sh("tr '\\0' ' ' < /proc/1/cmdline");
    assert!(pid1.contains("ostler") && pid1.contains("svscan") && pid1.contains("/run/service"), "PID 1 is {pid1:?}");

    // The catch-all logger keeps what the console showed, as an s6-log directory with stamps.
    let first = guest.sh("head -c 1 /run/ostler/uncaught-logs/current");
    assert_eq!(first, "@", "uncaught-logs/current does not start with a TAI64N label");
    let complete = guest.sh("ostler logs /run/ostler/uncaught-logs | grep -c 'boot complete'");
    assert_eq!(complete.lines().last(), Some("1"), "{complete}");

    // syslogd's log companion: ostler log, as the unprivileged `log` user, in s6-log's layout.
    let logger = guest.sh("ostler svstat /run/service/syslogd/log");
    let logger_pid = svstat_pid(&logger).unwrap_or_else(|| panic!("no logger pid in {logger:?}"));
    assert_eq!(guest.sh(&format!("stat -c %U /proc/{logger_pid}")), "log", "the logger runs as root");
    guest.sh("logger -t boottest hello-from-the-boot-test");
    guest.sh_until(
        "the line in syslogd's log",
        COMMAND,
        "ostler logs syslogd | grep -c hello-from-the-boot-test",
        |out| out.lines().last().is_some_and(|n| n.trim() != "0"),
    );

    let mode = guest.sh("stat -c %a /run/ostler");
    assert_eq!(mode, "700", "/run/ostler mode");

    // 100 orphans: each subshell exits at once, leaving its sleep to PID 1, which must reap it.
    guest.sh("for i in $(seq 100); do (sleep 0.1 &) ; done");
    guest.sh_until("no zombie after the orphan burst", COMMAND, "cat /proc/[0-9]*/stat | grep -c ') Z '", |out| {
        out.lines().last() == Some("0")
    });

    // A killed getty comes back with a new pid.
    let status = guest.sh("ostler svstat /run/service/getty-tty1");
    let old = svstat_pid(&status).unwrap_or_else(|| panic!("no pid in {status:?}"));
    guest.sh(&format!("kill {old}"));
    guest.sh_until("getty-tty1 back with a new pid", COMMAND, "ostler svstat /run/service/getty-tty1", |out| {
        out.starts_with("up ") && svstat_pid(out).is_some_and(|pid| pid != old)
    });

    guest.console.send("poweroff\n");
    let status = guest.wait_exit(POWEROFF);
    assert!(status.success(), "QEMU ended with {status} after poweroff; stderr:\n{}", guest.qemu_stderr());
}

#[test]
fn disk_image_boots_through_its_initramfs_and_keeps_what_was_written() {
    let mut guest = Guest::boot_disk("disk", "");
    guest.console.expect("ostler: stage 1", BOOT);
    guest.console.expect("boot complete in ", BOOT);
    guest.login();
    // The root is the disk, read-write; the initramfs is gone (its files were removed).
    let root = guest.sh("grep ' / ' /proc/mounts");
    assert!(root.starts_with("/dev/vda / ext4 rw"), "/ is {root:?}");
    let pid1 = guest.sh("tr '\\0' ' ' < /proc/1/cmdline");
    assert!(pid1.contains("svscan"), "PID 1 is {pid1:?}");
    let status = guest.sh("ostler svstat /run/service/syslogd");
    assert!(status.starts_with("up (pid "), "syslogd: {status:?}");
    // Written without sync: poweroff must bring it to the disk.
    guest.sh("echo kept-across-poweroff > /root/marker; head -c 1048576 /dev/urandom > /root/blob; md5sum /root/blob > /root/blob.md5");
    let sum = guest.sh("cut -d' ' -f1 /root/blob.md5");
    guest.console.send("poweroff\n");
    let status = guest.wait_exit(POWEROFF);
    assert!(status.success(), "QEMU ended with {status} after poweroff; stderr:\n{}", guest.qemu_stderr());

    let disk = guest.tree.join("disk.ext4");
    let fsck = run(require("e2fsck"), ["-fn".as_ref(), disk.as_os_str()]);
    let (code, out, err) = outcome(&fsck);
    assert_eq!(code, 0, "e2fsck -fn after poweroff:\n{out}{err}");
    let cat = |path: &str| {
        let output = run(require("debugfs"), ["-R".as_ref(), format!("cat {path}").as_ref(), disk.as_os_str()]);
        output.stdout
    };
    assert_eq!(String::from_utf8_lossy(&cat("/root/marker")), "kept-across-poweroff\n");
    let blob = cat("/root/blob");
    assert_eq!(blob.len(), 1 << 20, "the 1 MiB file written before poweroff");
    let copy = guest.tree.join("blob");
    std::fs::write(&copy, &blob).unwrap();
    let (_, host_sum, _) = outcome(&run(require("md5sum"), [copy.as_os_str()]));
    assert!(host_sum.starts_with(&sum), "the blob on the disk ({host_sum}) is not the one written ({sum})");
}

#[test]
fn quiet_boot_reaches_a_login_and_powers_off() {
    let mut guest = Guest::boot("quiet", "quiet");
    guest.login();
    let pid1 = guest.sh("tr '\\0' ' ' < /proc/1/cmdline");
    assert!(pid1.contains("svscan"), "PID 1 is {pid1:?}");
    guest.console.send("poweroff\n");
    let status = guest.wait_exit(POWEROFF);
    assert!(status.success(), "QEMU ended with {status}; stderr:\n{}", guest.qemu_stderr());
}

#[test]
fn emergency_gives_a_root_shell_before_stage_2() {
    let mut guest = Guest::boot("emergency", "emergency");
    guest.console.expect("ostler: stage 1", BOOT);
    // Type until a shell answers: the typed line reads `echo ab$((6*7))cd`, only a shell
    // prints "ab42cd".
    let end = std::time::Instant::now() + BOOT;
    loop {
        guest.console.send("echo ab$((6*7))cd\n");
        // Typed before the shell reads the terminal, the line may be lost: type again then.
        if guest.console.saw_within("ab42cd", Duration::from_secs(5)) {
            break;
        }
        assert!(std::time::Instant::now() < end, "no shell answered on the console:\n{}", guest.console.tail(3000));
    }
    let id = guest.sh_id();
    assert!(id.contains("uid=0"), "the emergency shell is not root: {id:?}");
    assert!(!guest.console.saw("boot complete"), "stage 2 ran although `emergency` was given");
}

impl Guest {
    /// `id` in whatever shell is on the console (its prompt is not ours).
    fn sh_id(&mut self) -> String {
        self.console.skip_seen();
        self.console.send("id; echo @@''done\n");
        self.console.expect("@@done", COMMAND)
    }
}

#[test]
fn image_build_is_byte_reproducible() {
    let tree = TempTree::new("image-repro");
    let (first, second, later) = (tree.join("first"), tree.join("second"), tree.join("later"));
    build_image(&first, 1_700_000_000);
    build_image(&second, 1_700_000_000);
    build_image(&later, 1_700_000_001);
    for output in ["initramfs.cpio.lz4", "disk.ext4", "boot.cpio.lz4"] {
        let a = std::fs::read(first.join(output)).unwrap_or_else(|e| panic!("{output}: {e}"));
        let b = std::fs::read(second.join(output)).unwrap();
        let c = std::fs::read(later.join(output)).unwrap();
        assert!(a == b, "{output} differs between two builds of the same inputs");
        assert!(a != c, "{output} does not change with the epoch: the epoch is not applied");
    }
    // gzip too (`gzip -n`: no name, no time), rebuilt over the lz4 build.
    let gzip = |out: &Path| {
        build_image_with(out, 1_700_000_000, &["--compress", "gzip"]);
        ["initramfs.cpio.gz", "boot.cpio.gz"].map(|name| std::fs::read(out.join(name)).unwrap())
    };
    assert!(gzip(&first) == gzip(&second), "the gzip initramfs images differ between two builds of the same inputs");
}

/// lz4 by default, in its legacy frame format (the only one the kernel reads); gzip on request;
/// a rebuild with the other leaves no image of the first behind (qemu/boot prefers .lz4).
#[test]
fn image_build_compresses_with_lz4_by_default_and_gzip_on_request() {
    const LZ4_LEGACY: [u8; 4] = [0x02, 0x21, 0x4c, 0x18];
    const GZIP: [u8; 2] = [0x1f, 0x8b];
    let tree = TempTree::new("image-compress");
    let out = tree.join("out");
    let magic = |name: &str, len: usize| {
        let bytes = std::fs::read(out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        bytes[..len].to_vec()
    };
    let exists = |name: &str| out.join(name).exists();

    build_image(&out, 1_704_067_200);
    assert_eq!(magic("initramfs.cpio.lz4", 4), LZ4_LEGACY, "initramfs.cpio.lz4 is not lz4's legacy format");
    assert_eq!(magic("boot.cpio.lz4", 4), LZ4_LEGACY, "boot.cpio.lz4 is not lz4's legacy format");
    assert!(!exists("initramfs.cpio.gz") && !exists("boot.cpio.gz"));
    // What the kernel will unpack: lz4 gives back the archive, a newc cpio.
    let plain = tree.join("initramfs.cpio");
    let (code, _, err) = outcome(&run(
        "lz4",
        ["-d".as_ref(), "-q".as_ref(), out.join("initramfs.cpio.lz4").as_os_str(), plain.as_os_str()],
    ));
    assert_eq!(code, 0, "lz4 -d: {err}");
    assert!(std::fs::read(&plain).unwrap().starts_with(b"070701"), "the lz4 image does not hold a newc archive");

    build_image_with(&out, 1_704_067_200, &["--compress", "gzip"]);
    assert_eq!(magic("initramfs.cpio.gz", 2), GZIP);
    assert_eq!(magic("boot.cpio.gz", 2), GZIP);
    assert!(!exists("initramfs.cpio.lz4") && !exists("boot.cpio.lz4"), "the gzip rebuild left the lz4 images");
}

#[test]
fn minimal_image_layout() {
    let tree = TempTree::new("image-layout");
    let out = tree.join("out");
    build_image(&out, 1_704_067_200);
    let root = out.join("root");
    let link = |p: &str| std::fs::read_link(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    for name in ["init", "sbin/init", "sbin/poweroff", "sbin/reboot", "sbin/halt", "sbin/shutdown", "sbin/service"] {
        assert_eq!(link(name), Path::new("/bin/ostler"), "{name}");
    }
    for applet in ["bin/sh", "sbin/getty", "sbin/syslogd", "sbin/klogd", "sbin/ip", "bin/login"] {
        assert_eq!(link(applet), Path::new("/bin/busybox"), "{applet}");
    }
    assert!(!root.join("linuxrc").exists() && std::fs::symlink_metadata(root.join("linuxrc")).is_err());
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &str| std::fs::symlink_metadata(root.join(p)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode("tmp"), 0o1777);
    assert_eq!(mode("root"), 0o700);
    assert_eq!(mode("etc/shadow"), 0o600);
    assert_eq!(mode("bin/ostler"), 0o755);
    assert_eq!(mode("etc/ostler/sv/getty-ttyS0/run"), 0o755);
    for dir in ["dev", "proc", "sys", "run", "var/log"] {
        assert!(root.join(dir).is_dir(), "{dir} missing");
    }
    let shadow = std::fs::read_to_string(root.join("etc/shadow")).unwrap();
    assert!(shadow.starts_with("root::"), "root's password is not empty: {shadow}");
}

#[test]
fn debug_steps_quiet_banner_and_sigint_to_pid_1_reboots() {
    // `quiet` hides the stage 1 banner; `ostler.debug` shows each step. SIGINT to PID 1 is what
    // the kernel sends on ctrl-alt-del (stage 1 disables the kernel's own reboot): it must end in
    // an orderly reboot, which under QEMU's -no-reboot ends QEMU.
    let mut guest = Guest::boot("debug", "quiet ostler.debug");
    guest.login();
    let seen = guest.console.text();
    assert!(seen.contains("ostler: runtime tree built") && seen.contains("ostler: catch-all FIFO open"), "{seen}");
    assert!(!seen.contains("ostler: stage 1"), "quiet still printed the banner:\n{seen}");
    guest.console.send("kill -INT 1\n");
    let status = guest.wait_exit(POWEROFF);
    assert!(status.success(), "QEMU ended with {status}; stderr:\n{}", guest.qemu_stderr());
    assert!(guest.console.saw("ostler: reboot"), "no reboot on the console:\n{}", guest.console.tail(2000));
}

#[test]
fn service_front_end_in_a_booted_guest() {
    let mut guest = Guest::boot("service", "quiet");
    guest.login();
    let list = guest.sh("service list");
    let header = list.lines().next().unwrap_or_default();
    assert!(header.starts_with("Service") && header.ends_with("OnBoot"), "{list}");
    for name in default_longruns() {
        let row = list
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} not listed:\n{list}"));
        assert!(row.contains("up (pid ") && row.ends_with("yes"), "{row}");
    }
    guest.sh("service syslogd stop");
    assert!(guest.sh("service syslogd status").starts_with("down "), "syslogd still up");
    assert_eq!(guest.sh("service syslogd disable"), "syslogd: disabled (not started at boot)");
    let row = guest.sh("service list | grep '^syslogd '");
    assert!(row.ends_with("no"), "{row}");
    assert_eq!(guest.sh("service syslogd enable"), "syslogd: enabled (starts at boot)");
    guest.sh("service syslogd start");
    assert!(guest.sh("service syslogd status").starts_with("up (pid "), "syslogd not back");
    // The boot timeline is there, and analyze reads it.
    let blame = guest.sh("ostler analyze blame");
    assert!(blame.contains("getty-ttyS0"), "{blame}");
    guest.console.send("poweroff\n");
    assert!(guest.wait_exit(POWEROFF).success());
}
