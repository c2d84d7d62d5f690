//! The debian profile (issue 12): `ostler image build --profile debian` — a Debian bookworm
//! root made by mmdebstrap, ostler as its init, skel-debian/'s services — booted with Debian's
//! kernel under QEMU (`qemu/boot --disk … --forward`), checked from the host over the forwarded
//! ports: nginx answers, ssh logs in with the key given at build time, every service is up
//! (sshd and rsyslog ready by sd_notify), the serial getty prompts, syslog and cron work, an
//! fstab of every kind (a second disk by label, a bind mount, a loop file, a swap file, a
//! `nofail` line for an absent disk) mounts and comes down at `poweroff`, a reinstalled package
//! restarts its daemon through the supervisor, and `poweroff` leaves both disks clean. One boot
//! serves every check. The image also carries ostler's completions and man pages.
//!
//! Needs root (mmdebstrap --mode=root, and the root's owners kept through tar and mke2fs -d,
//! as CI runs), mmdebstrap, qemu-img (tools/setup), ssh, ssh-keygen and curl, QEMU and a
//! kernel (qemu/setup), and the static musl ostler (`cargo build --release --target
//! x86_64-unknown-linux-musl`). The mmdebstrap tarball is cached in ~/.cache/ostler (≈ 25 s
//! once, with its downloads).

mod util;

use std::path::{Path, PathBuf};
use std::process::Command;
use util::guest::*;
use util::{outcome, require, run, TempTree};

/// SOURCE_DATE_EPOCH of the test images (2025-01-01).
const EPOCH: &str = "1735689600";

/// `ostler image build --profile debian` into `out`, with `cache` and the public key `key`.
fn build(out: &Path, cache: &Path, key: &Path) {
    build_with(out, cache, key, &[]);
}

/// [`build`] with more options (`--format disk`).
fn build_with(out: &Path, cache: &Path, key: &Path, more: &[&str]) {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the debian profile is built as root (mmdebstrap --mode=root; owners kept by tar and mke2fs); run the tests as root, as CI does"
    );
    let output = run(
        util::ostler(),
        [
            "image".as_ref(),
            "build".as_ref(),
            "--profile".as_ref(),
            "debian".as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
            "--ostler".as_ref(),
            guest_ostler().as_os_str(),
            "--skel".as_ref(),
            source_tree().join("skel-debian").as_os_str(),
            "--cache".as_ref(),
            cache.as_os_str(),
            "--authorized-key".as_ref(),
            key.as_os_str(),
            "--epoch".as_ref(),
            EPOCH.as_ref(),
        ]
        .into_iter()
        .chain(more.iter().map(std::ffi::OsStr::new)),
    );
    let (code, stdout, stderr) = outcome(&output);
    assert_eq!(code, 0, "ostler image build --profile debian failed:\n{stdout}{stderr}");
}

/// nginx's default page through the forward to the guest's port 80 (DHCP may still be
/// finishing: curl retries for a minute).
fn assert_nginx_answers(http_port: u16) {
    let page = run(
        require("curl"),
        ["-sS", "-m", "10", "--retry", "60", "--retry-all-errors", "--retry-delay", "1"]
            .into_iter()
            .chain([format!("http://127.0.0.1:{http_port}/").as_str()]),
    );
    let (code, body, err) = outcome(&page);
    assert!(code == 0 && body.contains("Welcome to nginx!"), "curl: {code} {err}\n{body}");
}

/// A fresh ed25519 key pair in `tree` (`key`, `key.pub`); returns the private key's path.
fn key_pair(tree: &TempTree) -> PathBuf {
    let key = tree.join("key");
    let output = run(
        require("ssh-keygen"),
        ["-q", "-t", "ed25519", "-N", "", "-C", "ostler-test", "-f"]
            .iter()
            .map(std::ffi::OsStr::new)
            .chain([key.as_os_str()]),
    );
    assert!(output.status.success(), "ssh-keygen: {}", String::from_utf8_lossy(&output.stderr));
    key
}

/// A TCP port of 127.0.0.1 free right now (the kernel's choice), for a forward.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Runs `command` in the guest over ssh as root; returns (exit code, stdout + stderr).
fn ssh(key: &Path, port: u16, command: &str) -> (i32, String) {
    ssh_with_input(key, port, command, None)
}

/// [`ssh`] with the file `input` (if any) on the command's standard input.
fn ssh_with_input(key: &Path, port: u16, command: &str, input: Option<&Path>) -> (i32, String) {
    let mut ssh = Command::new(require("ssh"));
    if let Some(input) = input {
        ssh.stdin(std::fs::File::open(input).unwrap());
    }
    ssh.arg("-i").arg(key).args(["-p", &port.to_string()]);
    for option in [
        "StrictHostKeyChecking=no",
        "UserKnownHostsFile=/dev/null",
        "BatchMode=yes",
        "ConnectTimeout=20",
        "ConnectionAttempts=6",
        "LogLevel=ERROR",
    ] {
        ssh.args(["-o", option]);
    }
    let output = ssh.arg("root@127.0.0.1").arg(command).output().expect("unable to run ssh");
    let (code, out, err) = outcome(&output);
    (code, format!("{out}{err}"))
}

/// Debian's cron package (the host's mirror: the root's own version), downloaded once with
/// `apt-get download` and kept in `cache` beside the root's tarball.
fn cron_deb(cache: &Path) -> PathBuf {
    let find = |dir: &Path| {
        std::fs::read_dir(dir).ok()?.flatten().map(|e| e.path()).find(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy().into_owned();
            name.starts_with("cron_") && name.ends_with("_amd64.deb")
        })
    };
    if let Some(deb) = find(cache) {
        return deb;
    }
    let download = TempTree::new("cron-deb");
    // As root, apt's _apt user may not write the directory: download as root (a warning less).
    let output = Command::new(require("apt-get"))
        .args(["-q", "-o", "APT::Sandbox::User=root", "download", "cron"])
        .current_dir(download.path())
        .output()
        .expect("unable to run apt-get");
    let (code, out, err) = outcome(&output);
    assert_eq!(code, 0, "apt-get download cron (the host's mirror):\n{out}{err}");
    let deb = find(download.path()).expect("apt-get download cron wrote no cron_*_amd64.deb");
    std::fs::create_dir_all(cache).unwrap();
    let cached = cache.join(deb.file_name().unwrap());
    std::fs::copy(&deb, cache.join("cron.deb.partial")).unwrap();
    std::fs::rename(cache.join("cron.deb.partial"), &cached).unwrap();
    cached
}

/// An ext4 filesystem labelled `data` in a 32 MiB file `path`, for the guest's second disk.
fn data_disk(path: &Path) {
    let output = run(
        require("mke2fs"),
        ["-q", "-F", "-t", "ext4", "-L", "data"]
            .iter()
            .map(std::ffi::OsStr::new)
            .chain([path.as_os_str(), "32M".as_ref()]),
    );
    let (code, out, err) = outcome(&output);
    assert_eq!(code, 0, "mke2fs -L data: {out}{err}");
}

/// The lines the test adds to the guest's /etc/fstab: the second disk by label, a bind mount,
/// an ext4 image file through a loop device, a swap file, and a disk that is not there.
const FSTAB: &str = "\
LABEL=data          /data       ext4  defaults  0 2
/srv/bind-source    /mnt/bind   none  bind      0 0
/var/lib/loop.ext4  /mnt/loop   ext4  loop      0 0
/swapfile           none        swap  sw        0 0
LABEL=absent        /mnt/absent ext4  nofail    0 2
";

/// Makes what [`FSTAB`] names in the guest (mount points, the loop file, the swap file), adds
/// the lines to /etc/fstab and runs `ostler mount-all`, the oneshot mount-all's `up`.
const MOUNT_ALL: &str = "set -e; mkdir -p /data /srv/bind-source /mnt/bind /mnt/loop /mnt/absent; \
     echo bound > /srv/bind-source/marker; \
     truncate -s 16M /var/lib/loop.ext4; mke2fs -q -t ext4 -L loopfile /var/lib/loop.ext4; \
     dd if=/dev/zero of=/swapfile bs=1M count=16 status=none; chmod 600 /swapfile; mkswap /swapfile > /dev/null; \
     cat >> /etc/fstab; set +e; ostler mount-all; echo mount-all-exit=$?";

#[test]
fn debian_image_serves_http_and_ssh_runs_every_service_and_powers_off_clean() {
    let tree = TempTree::new("debian");
    let key = key_pair(&tree);
    let out = tree.join("image");
    let started = std::time::Instant::now();
    build(&out, &util::debian::cache_dir(), &key.with_extension("pub"));
    eprintln!("built the debian image in {:?}", started.elapsed());
    for name in ["disk.ext4", "disk.qcow2", "boot.cpio.lz4"] {
        assert!(out.join(name).is_file(), "the build made no {name}");
    }
    let info = run(require("qemu-img"), ["info".as_ref(), out.join("disk.qcow2").as_os_str()]);
    assert!(String::from_utf8_lossy(&info.stdout).contains("file format: qcow2"), "disk.qcow2 is not qcow2");
    let root = out.join("root");
    assert!(root.join("usr/sbin/init").is_symlink() && root.join("usr/bin/ostler").is_file());
    // ostler's completions (bash, zsh, fish; for `ostler` and `service`) and man pages.
    for path in [
        "usr/share/bash-completion/completions/ostler",
        "usr/share/bash-completion/completions/service",
        "usr/share/zsh/vendor-completions/_ostler",
        "usr/share/zsh/vendor-completions/_service",
        "usr/share/fish/vendor_completions.d/ostler.fish",
        "usr/share/fish/vendor_completions.d/service.fish",
        "usr/share/man/man1/ostler.1.gz",
        "usr/share/man/man1/ostler-mount-all.1.gz",
    ] {
        let size = root.join(path).metadata().map(|m| m.len()).unwrap_or(0);
        assert!(size > 0, "the image has no {path}");
    }
    let completion = std::fs::read_to_string(root.join("usr/share/bash-completion/completions/service")).unwrap();
    assert!(completion.contains("complete -F _service"), "bash completion of service:\n{completion}");
    assert!(!root.join("etc/ssh/ssh_host_ed25519_key").exists(), "host keys were built into the image");
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &str| root.join(path).metadata().unwrap().permissions().mode() & 0o777;
    assert_eq!((mode("root/.ssh"), mode("root/.ssh/authorized_keys")), (0o700, 0o600));

    let deb = cron_deb(&util::debian::cache_dir());
    let data = tree.join("data.ext4");
    data_disk(&data);

    let (ssh_port, http_port) = (free_port(), free_port());
    let disk = out.join("disk.ext4");
    let media = ["--disk".into(), disk.clone(), "--initramfs".into(), out.join("boot.cpio.lz4")];
    let options: Vec<String> = ["--memory", "1024", "--forward"]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("{ssh_port}:22"), "--forward".into(), format!("{http_port}:80")])
        .chain(["--extra-disk".into(), data.display().to_string()])
        .collect();
    // `ro`: the root-rw service checks the root with fsck before it remounts it read-write.
    let booted = std::time::Instant::now();
    let mut guest = Guest::start_with(&media, "ro", TempTree::new("debian-guest"), &options);
    let complete = guest.console.expect("boot complete in ", BOOT);
    assert!(complete.contains("root-rw: up"), "root-rw did not come up:\n{complete}");
    eprintln!("guest: boot complete at +{:?}", booted.elapsed());

    assert_nginx_answers(http_port);
    eprintln!("guest: nginx answered at +{:?}", booted.elapsed());

    let (code, status) = ssh(&key, ssh_port, "ostler svstat /run/service/ssh");
    assert_eq!(code, 0, "ssh: {status}\nconsole:\n{}", guest.console.tail(3000));
    assert!(status.starts_with("up (pid "), "sshd: {status}");
    eprintln!("guest: ssh worked at +{:?}", booted.elapsed());

    // nginx runs as www-data from the start, with only cap_net_bind_service (bounding,
    // ambient, effective) and no_new_privs, as its definition declares; its workers too.
    let (code, status) = ssh(
        &key,
        ssh_port,
        "p=$(cat /run/nginx/nginx.pid); grep -E '^(Uid|CapEff|CapBnd|CapAmb|NoNewPrivs):' /proc/$p/status; \
         for w in $(pgrep -P $p); do grep '^Uid:' /proc/$w/status; done | sort -u",
    );
    assert_eq!(code, 0, "{status}");
    let lines: Vec<String> = status.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    assert_eq!(
        lines,
        [
            "Uid: 33 33 33 33",
            "CapEff: 0000000000000400",
            "CapBnd: 0000000000000400",
            "CapAmb: 0000000000000400",
            "NoNewPrivs: 1",
            "Uid: 33 33 33 33",
        ],
        "nginx's master (and its workers) as declared"
    );
    // The same service without the ambient capability cannot bind port 80, and says so; with
    // it back, it serves again. (The live copy's files are read at each start.)
    let (code, out) = ssh(
        &key,
        ssh_port,
        "mv /run/service/nginx/ambient-capabilities /run/ambient.saved && ostler svc -r /run/service/nginx && \
         for i in $(seq 100); do grep -q 'Permission denied' /var/log/nginx/stderr/current && break; sleep 0.2; done; \
         grep -o 'bind() to 0.0.0.0:80 failed (13: Permission denied)' /var/log/nginx/stderr/current | tail -n 1; \
         mv /run/ambient.saved /run/service/nginx/ambient-capabilities && ostler svc -r /run/service/nginx",
    );
    assert_eq!((code, out.trim()), (0, "bind() to 0.0.0.0:80 failed (13: Permission denied)"), "{out}");
    assert_nginx_answers(http_port);

    // A cron job, first: cron reads /etc/cron.d again at the minute after it changed and runs
    // the job then, up to a minute from now; the marker is checked last, before poweroff.
    let (code, out) = ssh(
        &key,
        ssh_port,
        "echo '* * * * * root echo ran > /run/cron-marker' > /etc/cron.d/ostler-test; chmod 644 /etc/cron.d/ostler-test",
    );
    assert_eq!(code, 0, "{out}");
    let cron_installed = std::time::Instant::now();

    // sshd and rsyslog told the supervisor they were ready (sd_notify over $NOTIFY_SOCKET).
    for service in ["ssh", "rsyslog"] {
        let (code, status) = ssh(&key, ssh_port, &format!("ostler svstat /run/service/{service}"));
        assert_eq!(code, 0, "{status}");
        eprintln!("guest: {service}: {status}");
        assert!(status.starts_with("up (pid ") && status.contains("ready"), "{service} is not ready: {status}");
    }

    // The serial getty's prompt on the console (ttyS0).
    assert!(
        guest.console.saw_within("login: ", std::time::Duration::from_secs(30)),
        "no login prompt on ttyS0:\n{}",
        guest.console.tail(3000)
    );

    // logger reaches rsyslog, which writes /var/log/syslog.
    let (code, out) = ssh(&key, ssh_port, "logger hello-from-test");
    assert_eq!(code, 0, "logger: {out}");
    let logged =
        wait_for(|| Some(ssh(&key, ssh_port, "grep -c hello-from-test /var/log/syslog").1).filter(|n| n.trim() == "1"));
    assert!(logged.is_some(), "`logger hello-from-test` is not in /var/log/syslog");

    // /etc/fstab: every kind of line, mounted by `ostler mount-all` (the oneshot's `up`, run
    // again now that the table has them); the absent disk is a warning, not a failure.
    let fstab = tree.file("fstab", FSTAB);
    let (code, out) = ssh_with_input(&key, ssh_port, MOUNT_ALL, Some(&fstab));
    eprintln!("guest: mount-all:\n{out}");
    assert!(code == 0 && out.contains("mount-all-exit=0"), "mount-all: {out}");
    assert!(
        out.contains("warning: /etc/fstab:") && out.contains("LABEL=absent"),
        "no warning for the nofail line: {out}"
    );
    let (_, mounts) = ssh(
        &key,
        ssh_port,
        "findmnt -no SOURCE,FSTYPE /data; findmnt -no FSTYPE /mnt/bind; cat /mnt/bind/marker; findmnt -no SOURCE,FSTYPE /mnt/loop; \
         swapon --show=NAME,TYPE --noheadings; findmnt /mnt/absent || echo absent-not-mounted; \
         echo data-survives > /data/file",
    );
    let lines: Vec<String> = mounts.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    assert_eq!(lines.len(), 6, "{mounts}");
    assert_eq!(lines[0], "/dev/vdb ext4", "{mounts}");
    assert_eq!(lines[1..3], ["ext4", "bound"], "{mounts}");
    assert!(lines[3].starts_with("/dev/loop") && lines[3].ends_with(" ext4"), "{mounts}");
    assert_eq!(lines[4..], ["/swapfile file", "absent-not-mounted"], "{mounts}");

    // Every service of `default` (with the log companions) is up.
    let (code, list) = ssh(&key, ssh_port, "ostler service list");
    assert_eq!(code, 0, "{list}");
    let defined: Vec<String> = std::fs::read_dir(source_tree().join("skel-debian/etc/ostler/sv/default/contents.d"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for name in &defined {
        let line = list.lines().find(|l| l.split_whitespace().next() == Some(name.as_str()));
        let line = line.unwrap_or_else(|| panic!("{name} is not in `service list`:\n{list}"));
        assert!(line.split_whitespace().nth(1) == Some("up"), "{name} is not up:\n{list}");
    }
    for line in list.lines().skip(1) {
        assert!(line.split_whitespace().nth(1) == Some("up"), "not up: {line}\n{list}");
    }
    // PID 1 is ostler; the root was checked and is read-write; rsyslog writes the syslog.
    // sshd's log companion, as the `log` user, has sshd's own lines (-e: on stderr).
    let (_, facts) = ssh(
        &key,
        ssh_port,
        "tr '\\0' ' ' < /proc/1/cmdline; echo; findmnt -no OPTIONS /; test -s /var/log/syslog && echo syslog-written; \
         stat -c %U /var/log/ssh; ostler logs ssh | grep -c 'Server listening'",
    );
    let lines: Vec<&str> = facts.lines().collect();
    assert_eq!(lines.len(), 5, "{facts}");
    assert!(lines[0].contains("ostler svscan"), "{facts}");
    assert!(lines.get(1).is_some_and(|o| o.starts_with("rw")), "{facts}");
    assert_eq!(lines[2..], ["syslog-written", "log", "2"], "{facts}");

    // A restart through the supervisor: `service` (ostler's, in Debian's place) and a package
    // script's `invoke-rc.d` (policy-rc.d) each give the daemon a new pid, nginx still answers,
    // and a SIGKILLed sshd comes back.
    let pid = |service: &str| {
        ssh(&key, ssh_port, &format!("ostler svstat -o pid /run/service/{service}")).1.trim().to_string()
    };
    let nginx = pid("nginx");
    let (code, out) = ssh(&key, ssh_port, "service nginx restart");
    assert_eq!(code, 0, "service nginx restart: {out}");
    let restarted = wait_for(|| Some(pid("nginx")).filter(|p| *p != nginx && p != "-1"));
    assert!(restarted.is_some(), "service nginx restart: nginx's pid stayed {nginx}");
    let page = run(
        require("curl"),
        ["-sS", "-m", "10", "--retry", "20", "--retry-all-errors", "--retry-delay", "1"]
            .into_iter()
            .chain([format!("http://127.0.0.1:{http_port}/").as_str()]),
    );
    assert!(outcome(&page).1.contains("Welcome to nginx!"), "nginx after its restart: {}", outcome(&page).2);
    let sshd = pid("ssh");
    let (code, out) = ssh(&key, ssh_port, "invoke-rc.d ssh restart; test -e /usr/sbin/service.debian && echo diverted");
    assert_eq!(code, 0, "invoke-rc.d ssh restart: {out}");
    assert!(out.contains("diverted"), "Debian's service was not set aside: {out}");
    let sshd2 = wait_for(|| Some(pid("ssh")).filter(|p| *p != sshd && p != "-1"));
    let sshd2 = sshd2.unwrap_or_else(|| panic!("invoke-rc.d ssh restart: ssh's pid stayed {sshd}"));
    let _ = ssh(&key, ssh_port, &format!("kill -9 {sshd2}"));
    let sshd3 = wait_for(|| Some(pid("ssh")).filter(|p| *p != sshd2 && p != "-1"));
    assert!(sshd3.is_some(), "ssh's process was KILLed and not brought back");
    // QEMU's forward accepts before the new sshd listens (a reset then): wait for it to answer.
    let answers = wait_for(|| (ssh(&key, ssh_port, "true").0 == 0).then(String::new));
    assert!(answers.is_some(), "the restarted sshd does not answer");

    // A package reinstalled offline (`dpkg -i`, as an upgrade does): cron's postinst runs
    // `invoke-rc.d cron restart`, which ostler's policy-rc.d turns into a restart by the
    // supervisor: a new pid, and /etc/init.d/cron did not start a second daemon.
    let cron = pid("cron");
    let (code, out) = ssh_with_input(&key, ssh_port, "cat > /tmp/cron.deb && dpkg -i /tmp/cron.deb", Some(&deb));
    assert_eq!(code, 0, "dpkg -i {}: {out}", deb.display());
    let cron2 = wait_for(|| Some(pid("cron")).filter(|p| *p != cron && p != "-1"));
    assert!(cron2.is_some(), "dpkg -i cron: cron's pid stayed {cron}\n{out}");
    let (_, count) = ssh(&key, ssh_port, "pgrep -c -x cron");
    assert_eq!(count.trim(), "1", "cron daemons after dpkg -i: {count}");

    // The cron job ran (at the first minute boundary after it was written).
    let marker = wait_for_long(std::time::Duration::from_secs(150), || {
        Some(ssh(&key, ssh_port, "cat /run/cron-marker 2>/dev/null").1).filter(|m| !m.trim().is_empty())
    });
    assert!(marker.is_some(), "cron did not run the job of /etc/cron.d/ostler-test");
    eprintln!("guest: cron ran the job {:?} after it was written", cron_installed.elapsed());

    let before_poweroff = guest.console.text().len();
    let _ = ssh(&key, ssh_port, "poweroff");
    let status = guest.wait_exit(POWEROFF);
    let shutdown = guest.console.text().get(before_poweroff..).unwrap_or_default().to_string();
    // The oneshot mount-all's `down` (`ostler umount-all`) unmounted the fstab's filesystems
    // while the services went down, before the final stage.
    let services_down = shutdown.split("poweroff: services down").next().unwrap_or_default();
    for device in ["vdb", "loop0"] {
        let unmounted = format!("EXT4-fs ({device}): unmounting filesystem");
        assert!(services_down.contains(&unmounted), "{device} was not unmounted with the services:\n{shutdown}");
    }
    assert!(status.success(), "QEMU ended with {status} after poweroff; stderr:\n{}", guest.qemu_stderr());
    let (code, fsck, err) = outcome(&run(require("e2fsck"), ["-fn".as_ref(), disk.as_os_str()]));
    assert_eq!(code, 0, "e2fsck -fn after poweroff:\n{fsck}{err}");
    let (code, fsck, err) = outcome(&run(require("e2fsck"), ["-fn".as_ref(), data.as_os_str()]));
    assert_eq!(code, 0, "e2fsck -fn of the data disk after poweroff:\n{fsck}{err}");
    let (_, file, err) = outcome(&run(require("debugfs"), ["-R".as_ref(), "cat /file".as_ref(), data.as_os_str()]));
    assert_eq!(file.trim(), "data-survives", "/data/file after poweroff: {file}{err}");
    // And the loop file's filesystem, taken out of the root disk.
    let loop_file = tree.join("loop.ext4");
    let dump = format!("dump /var/lib/loop.ext4 {}", loop_file.display());
    let _ = run(require("debugfs"), ["-R".as_ref(), dump.as_ref(), disk.as_os_str()]);
    let (code, fsck, err) = outcome(&run(require("e2fsck"), ["-fn".as_ref(), loop_file.as_os_str()]));
    assert_eq!(code, 0, "e2fsck -fn of /var/lib/loop.ext4 after poweroff:\n{fsck}{err}");
}

/// `ostler import-unit` on the booted image's own systemd units: Debian's ssh.service,
/// nginx.service, cron.service and rsyslog.service replace the image's hand-written
/// definitions, `ostler rc reload` swaps them in, and the four daemons run from them.
#[test]
fn imported_debian_units_run_the_daemons_in_the_booted_image() {
    let tree = TempTree::new("debian-import");
    let key = key_pair(&tree);
    let out = tree.join("image");
    build(&out, &util::debian::cache_dir(), &key.with_extension("pub"));
    let (ssh_port, http_port) = (free_port(), free_port());
    let options: Vec<String> = ["--memory", "1024", "--forward"]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("{ssh_port}:22"), "--forward".into(), format!("{http_port}:80")])
        .collect();
    let media = ["--disk".into(), out.join("disk.ext4"), "--initramfs".into(), out.join("boot.cpio.lz4")];
    let mut guest = Guest::start_with(&media, "ro", TempTree::new("debian-import-guest"), &options);
    guest.console.expect("boot complete in ", BOOT);
    let ready =
        wait_for_long(std::time::Duration::from_secs(90), || (ssh(&key, ssh_port, "true").0 == 0).then(String::new));
    assert!(ready.is_some(), "no ssh:\n{}", guest.console.tail(3000));

    let (code, out) = ssh(&key, ssh_port, "ostler import-unit --force ssh nginx cron rsyslog 2>&1");
    assert_eq!(code, 0, "import-unit: {out}");
    // The image's own nginx.conf (written for its least-privilege nginx) keeps the pid file in
    // /run/nginx, which Debian's unit does not make: the one line added to what was imported.
    // The reload replaces ssh, whose control group holds this session: it runs from the root
    // group, so that it outlives the session.
    let (code, out) = ssh(
        &key,
        ssh_port,
        "echo 'nginx 0755' > /etc/ostler/sv/nginx/runtime-directory; \
         sh -c 'echo $$ > /sys/fs/cgroup/cgroup.procs; exec ostler rc reload' > /run/reload.log 2>&1 < /dev/null & \
         echo started",
    );
    assert_eq!((code, out.trim()), (0, "started"), "{out}");
    let settled = wait_for_long(std::time::Duration::from_secs(120), || {
        let (code, out) = ssh(
            &key,
            ssh_port,
            "for s in ssh nginx cron rsyslog; do head -3 /run/service/$s/run | grep -q 'ostler import-unit' || echo $s: not imported; \
             ostler svstat /run/service/$s | grep -q '^up ' || echo $s: not up; done",
        );
        (code == 0 && out.trim().is_empty()).then_some(out)
    });
    let (_, log) = ssh(&key, ssh_port, "cat /run/reload.log");
    assert!(settled.is_some(), "the imported definitions did not all run; reload said:\n{log}");
    let (code, processes) = ssh(&key, ssh_port, "ps -eo args");
    assert_eq!(code, 0);
    for daemon in ["/usr/sbin/sshd -D", "nginx: master process", "/usr/sbin/cron -f", "/usr/sbin/rsyslogd -n"] {
        assert!(processes.contains(daemon), "{daemon} is not running:\n{processes}");
    }
    assert_nginx_answers(http_port);
    let _ = ssh(&key, ssh_port, "poweroff");
    let status = guest.wait_exit(POWEROFF);
    assert!(status.success(), "QEMU ended with {status}");
}

/// The debian profile as a firmware-bootable disk: OVMF boots its UKI from the ESP (no
/// `-kernel`), the root is the disk's second partition, nginx answers and ssh powers it off.
#[test]
fn debian_disk_image_boots_through_uefi_and_serves_http() {
    let tree = TempTree::new("debian-disk");
    let key = key_pair(&tree);
    let out = tree.join("image");
    build_with(&out, &util::debian::cache_dir(), &key.with_extension("pub"), &["--format", "disk"]);
    for name in ["disk.img", "disk.qcow2", "ostler.efi", "boot.cpio.lz4"] {
        assert!(out.join(name).is_file(), "the build made no {name}");
    }
    let (ssh_port, http_port) = (free_port(), free_port());
    let options: Vec<String> = ["--memory", "1024", "--firmware", "uefi", "--forward"]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("{ssh_port}:22"), "--forward".into(), format!("{http_port}:80")])
        .collect();
    let mut guest =
        Guest::start_with(&["--image".into(), out.join("disk.img")], "", TempTree::new("debian-disk-guest"), &options);
    let complete = guest.console.expect("boot complete in ", BOOT);
    assert!(complete.contains("BdsDxe: starting Boot"), "OVMF did not start the disk's boot option:\n{complete}");
    assert!(complete.contains("nginx: up"), "nginx did not come up:\n{complete}");
    assert_nginx_answers(http_port);
    let (code, root) = ssh(&key, ssh_port, "grep ' / ' /proc/mounts; cat /proc/cmdline");
    assert_eq!(code, 0, "ssh: {root}");
    assert!(root.starts_with("/dev/vda2 / ext4 rw"), "the root is not the disk's partition: {root}");
    let built = std::fs::read_to_string(out.join("cmdline")).unwrap();
    assert!(root.contains(built.trim()), "the kernel did not get the UKI's command line: {root}");
    let _ = ssh(&key, ssh_port, "poweroff");
    let status = guest.wait_exit(POWEROFF);
    assert!(status.success(), "QEMU ended with {status}:\n{}", guest.console.tail(2000));
}

/// Two builds with the same epoch, each with its own mmdebstrap run, give the same tarball
/// (while the mirror's content stays the same), the same disk.ext4, disk.qcow2 and boot.cpio.lz4.
#[test]
fn debian_root_tarball_is_byte_reproducible() {
    let tree = TempTree::new("debian-repro");
    let key = key_pair(&tree);
    // The first tarball: the shared cache's (built there if missing); the second: a fresh
    // cache, so mmdebstrap runs again.
    let (cache_a, cache_b) = (util::debian::cache_dir(), tree.dir("cache"));
    build(&tree.join("a"), &cache_a, &key.with_extension("pub"));
    build(&tree.join("b"), &cache_b, &key.with_extension("pub"));
    let tarball = |cache: &Path| {
        let mut found: Vec<PathBuf> = std::fs::read_dir(cache)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("debian-bookworm-ostler-"))
            .collect();
        found.sort();
        found
    };
    let fresh = tarball(&cache_b);
    assert_eq!(fresh.len(), 1, "{fresh:?}");
    let cached = cache_a.join(fresh[0].file_name().unwrap());
    let same = std::fs::read(&cached).unwrap() == std::fs::read(&fresh[0]).unwrap();
    assert!(same, "{} and {} differ", cached.display(), fresh[0].display());
    // And so the disks (every inode's times set to the epoch after mke2fs) and their qcow2.
    for name in ["disk.ext4", "disk.qcow2", "boot.cpio.lz4"] {
        let (a, b) = (tree.join("a").join(name), tree.join("b").join(name));
        let same = run(require("cmp"), ["-s".as_ref(), a.as_os_str(), b.as_os_str()]).status.success();
        assert!(same, "{name}: the two builds differ");
    }
}

/// Polls `probe` (every half second, up to 30 s) until it gives a value.
fn wait_for(probe: impl FnMut() -> Option<String>) -> Option<String> {
    wait_for_long(std::time::Duration::from_secs(30), probe)
}

/// Polls `probe` every half second until it gives a value, up to `deadline`.
fn wait_for_long(deadline: std::time::Duration, mut probe: impl FnMut() -> Option<String>) -> Option<String> {
    let end = std::time::Instant::now() + deadline;
    while std::time::Instant::now() < end {
        if let Some(value) = probe() {
            return Some(value);
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    None
}
