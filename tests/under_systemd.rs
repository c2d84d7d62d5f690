//! ostler under systemd (issue 14): the unit `dist/systemd/ostler.service` in a Debian
//! bookworm root booted with systemd as PID 1 (systemd-sysv, made by mmdebstrap and cached in
//! ~/.cache/ostler as the s6-overlay tests' root is: tests/util/debian.rs), under QEMU TCG
//! through `qemu/boot --disk` and the shared image's boot initramfs, driven on the serial
//! console. The unit, enabled at boot, is `active` only once ostler has told systemd READY=1
//! (`Type=notify`) with its status line; it supervises a longrun (a heartbeat whose run script
//! leaves a background child behind); `systemctl stop ostler` stops it cleanly — the unit
//! `inactive` with `Result=success`, no KILL by systemd and no grace waited by ostler (the
//! orphan ended with the services, not at the grace), the service's process and its orphan
//! gone, the unit's control group gone; `systemctl start ostler` runs it again from a fresh
//! runtime area.
//!
//! Needs root (the root's owners kept through tar and mke2fs -d, as CI runs), mmdebstrap and
//! e2fsprogs (tools/setup), QEMU and a kernel (qemu/setup), and the static musl ostler
//! (`cargo build --release --target x86_64-unknown-linux-musl`).

mod util;

use std::path::Path;
use std::time::{Duration, Instant};
use util::guest::*;
use util::{outcome, require, run, TempTree};

/// The longrun the unit's ostler supervises: a heartbeat file every second, and a background
/// child left behind (its pid in /run/heartbeat.child) that only an orderly stop of
/// everything ostler started ends.
const HEARTBEAT_RUN: &str = "#!/bin/sh\n\
sleep 600 &\n\
echo $! > /run/heartbeat.child\n\
exec /bin/sh -c 'while :; do date +%s > /run/heartbeat; sleep 1; done'\n";

/// The Debian root with systemd, ostler at /usr/sbin/ostler, the unit enabled, a `default`
/// bundle with the heartbeat, root's password empty (the serial login), as an ext4 disk
/// labelled `ostler` (what the boot initramfs mounts) in `tree`.
fn make_disk(tree: &TempTree) -> std::path::PathBuf {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the systemd root is extracted and made into a disk as root (owners kept); run the tests as root, as CI does"
    );
    let tarball = util::debian::tarball(&util::debian::SYSTEMD);
    let root = tree.dir("root");
    let (code, _, err) = outcome(&run(
        require("tar"),
        ["--numeric-owner".as_ref(), "-xpf".as_ref(), tarball.as_os_str(), "-C".as_ref(), root.as_os_str()],
    ));
    assert_eq!(code, 0, "tar -x {}: {err}", tarball.display());

    let shadow = root.join("etc/shadow");
    let text = std::fs::read_to_string(&shadow).unwrap();
    // root's password field emptied: the serial getty logs in without one (pam_unix nullok).
    let text: String = text
        .lines()
        .map(|line| match line.strip_prefix("root:").and_then(|rest| rest.split_once(':')) {
            Some((_, after)) => format!("root::{after}\n"),
            None => format!("{line}\n"),
        })
        .collect();
    std::fs::write(&shadow, text).unwrap();

    let install = |source: &Path, target: &str, mode: u32| {
        let target = root.join(target);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(source, &target).unwrap_or_else(|e| panic!("unable to copy {}: {e}", source.display()));
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    install(&guest_ostler(), "usr/sbin/ostler", 0o755);
    install(&source_tree().join("dist/systemd/ostler.service"), "etc/systemd/system/ostler.service", 0o644);
    let wants = root.join("etc/systemd/system/multi-user.target.wants");
    std::fs::create_dir_all(&wants).unwrap();
    std::os::unix::fs::symlink("/etc/systemd/system/ostler.service", wants.join("ostler.service")).unwrap();

    let sv = root.join("etc/ostler/sv");
    let write = |relative: &str, text: &str, mode: u32| {
        let path = sv.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    write("default/type", "bundle\n", 0o644);
    write("default/contents.d/heartbeat", "", 0o644);
    write("heartbeat/type", "longrun\n", 0o644);
    write("heartbeat/run", HEARTBEAT_RUN, 0o755);

    let disk = tree.join("disk.ext4");
    std::fs::File::create(&disk).unwrap().set_len(1 << 30).unwrap();
    let (code, out, err) = outcome(&run(
        require("mke2fs"),
        ["-q", "-F", "-t", "ext4", "-b", "4096", "-L", "ostler", "-E", "root_owner=0:0", "-d"]
            .iter()
            .map(std::ffi::OsStr::new)
            .chain([root.as_os_str(), disk.as_os_str()]),
    ));
    assert_eq!(code, 0, "mke2fs -d: {out}{err}");
    let _ = std::fs::remove_dir_all(&root);
    disk
}

/// `systemctl show -p PROPERTY --value ostler`.
fn property(guest: &mut Guest, name: &str) -> String {
    guest.sh(&format!("systemctl show -p {name} --value ostler")).trim().to_string()
}

/// Whether process `pid` exists in the guest.
fn alive(guest: &mut Guest, pid: u32) -> bool {
    guest.sh(&format!("test -d /proc/{pid} && echo alive || echo gone")).contains("alive")
}

#[test]
fn ostler_runs_as_a_systemd_service_and_stops_cleanly() {
    let started = Instant::now();
    let tree = TempTree::new("under-systemd");
    let disk = make_disk(&tree);
    let initramfs = shared_image().join("boot.cpio.lz4");
    let prepared = started.elapsed();
    let media = ["--disk".into(), disk, "--initramfs".into(), initramfs];
    let mut guest = Guest::start_with(&media, "quiet systemd.show_status=0", tree, &["--memory".into(), "512".into()]);
    guest.login();
    // Debian's bash wraps each command's output in bracketed-paste escapes on a terminal.
    guest.sh("bind 'set enable-bracketed-paste off'");
    let logged_in = started.elapsed();

    // Active only after READY=1, with ostler's status line.
    let state = guest.sh_until("the unit to be active", COMMAND, "systemctl is-active ostler", |out| {
        out.trim() == "active" || out.trim() == "failed"
    });
    assert_eq!(
        state.trim(),
        "active",
        "{}",
        guest.sh("systemctl status ostler --no-pager -l; journalctl -u ostler --no-pager")
    );
    assert_eq!(property(&mut guest, "StatusText"), "running: the default bundle is up");
    let status = guest.sh("systemctl status ostler --no-pager");
    assert!(
        status.contains("active (running)") && status.contains("Status: \"running: the default bundle is up\""),
        "{status}"
    );
    let main_pid: u32 = property(&mut guest, "MainPID").parse().unwrap();
    let status = guest.sh("ostler svstat /run/service/heartbeat");
    let service_pid = svstat_pid(&status).unwrap_or_else(|| panic!("heartbeat is not up: {status}"));
    let child: u32 = guest
        .sh_until("the heartbeat's child", COMMAND, "cat /run/heartbeat.child", |out| out.trim().parse::<u32>().is_ok())
        .trim()
        .parse()
        .unwrap();
    // Everything of ostler's is in the unit's control group (systemd made it; ostler's own
    // groups, when it makes them, are below it: Delegate=yes).
    let procs =
        guest.sh("cat $(find /sys/fs/cgroup/system.slice/ostler.service -name cgroup.procs) | sort -n | tr '\\n' ' '");
    for pid in [main_pid, service_pid, child] {
        assert!(procs.split_whitespace().any(|p| p == pid.to_string()), "{pid} is not in the unit's group: {procs}");
    }
    assert!(!guest
        .sh("tr '\\0' '\\n' < /proc/$(pgrep -f 'ostler svscan' | head -n 1)/environ")
        .contains("NOTIFY_SOCKET"));

    // The stop: ostler's own, in order, well within TimeoutStopSec (20 s): no KILL by systemd.
    let stop = Instant::now();
    let out = guest.sh("systemctl stop ostler; echo stopped $?");
    let stop_time = stop.elapsed();
    assert!(out.contains("stopped 0"), "systemctl stop ostler: {out}");
    assert_eq!(property(&mut guest, "ActiveState"), "inactive");
    assert_eq!(property(&mut guest, "Result"), "success");
    for pid in [main_pid, service_pid, child] {
        assert!(!alive(&mut guest, pid), "process {pid} outlived `systemctl stop ostler`");
    }
    assert!(guest.sh("test -e /sys/fs/cgroup/system.slice/ostler.service && echo left || echo none").contains("none"));
    // Nothing waited for a grace: not systemd's KILL, not ostler's own (its 10 s).
    let journal = guest.sh("journalctl -u ostler --no-pager -o cat");
    assert!(!journal.contains("SIGKILL") && !journal.contains("end of the grace"), "{journal}");
    assert!(stop_time < Duration::from_secs(8), "the stop took {stop_time:?}:\n{journal}");

    // Again, from a fresh runtime area.
    let out = guest.sh("systemctl start ostler; echo started $?");
    assert!(out.contains("started 0"), "systemctl start ostler: {out}");
    let status = guest.sh("ostler svstat /run/service/heartbeat");
    let again = svstat_pid(&status).unwrap_or_else(|| panic!("heartbeat is not up again: {status}"));
    assert_ne!(again, service_pid);
    eprintln!(
        "under systemd: disk ready in {prepared:?}, logged in at {logged_in:?}, stop took {stop_time:?}, all in {:?}",
        started.elapsed()
    );
}
