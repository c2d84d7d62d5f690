//! `ostler import-unit` (issue 14): Debian's own `ssh.service`, `nginx.service`,
//! `cron.service` and `rsyslog.service`, taken from a bookworm root, made into definitions that
//! `ostler rc check` accepts and that run those daemons in the foreground with their settings;
//! every unit a root enables, into the `default` bundle; a template's instance; a unit with lines
//! ostler cannot carry over, giving exactly those warnings.
//!
//! The Debian root: the debian image profile's cached tarball (`image/src/debian.sh`,
//! `~/.cache/ostler/debian-bookworm-ostler-*.tar`) when there is one, else one built here with
//! the same four daemons (tests/util/debian.rs).
//!
//! For the booted image (the daemons running under ostler): inside it, as root,
//! `ostler import-unit --defs /etc/ostler/sv --force ssh nginx cron rsyslog && ostler rc reload`
//! replaces the image's hand-written definitions with the imported ones; or
//! [`import_debian_units`] on the image's root before it is packed.

mod util;

use std::path::{Path, PathBuf};
use std::process::Command;
use util::*;

/// A bookworm root with the four daemons, for when the image's tarball is not cached.
const DAEMONS: util::debian::Recipe = util::debian::Recipe {
    label: "import-unit",
    packages: &["openssh-server", "nginx", "cron", "rsyslog"],
    hostname: "ostler-import",
};

/// A Debian root's tarball holding the four daemons' units.
fn tarball() -> PathBuf {
    let cache = util::debian::cache_dir();
    let mut cached: Vec<PathBuf> = std::fs::read_dir(&cache)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("debian-bookworm-ostler-") && name.ends_with(".tar")
        })
        .collect();
    cached.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    cached.pop().unwrap_or_else(|| util::debian::tarball(&DAEMONS))
}

/// The root's unit directories, extracted into `root`.
fn unit_tree(root: &Path) {
    let tarball = tarball();
    let status = Command::new("tar")
        .arg("-xf")
        .arg(&tarball)
        .arg("-C")
        .arg(root)
        .args(["--wildcards", "./usr/lib/systemd/system*", "./etc/systemd/system*"])
        .status()
        .unwrap();
    assert!(status.success(), "unable to extract the unit directories of {}", tarball.display());
}

/// Imports Debian's four daemons from `root` into `defs` (for the booted-image test as well):
/// the exit code, stdout and stderr.
pub fn import_debian_units(root: &Path, defs: &Path) -> (i32, String, String) {
    cmd(Command::new(ostler())
        .arg("import-unit")
        .arg("--root")
        .arg(root)
        .arg("--defs")
        .arg(defs)
        .args(["ssh", "nginx", "cron", "rsyslog"]))
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn rc_check(defs: &Path) {
    let (code, out, err) = cmd(Command::new(ostler()).arg("rc").arg("check").arg(defs));
    assert_eq!(code, 0, "rc check: {out}{err}");
    assert!(!err.contains("warning"), "rc check warned: {err}");
}

#[test]
fn debian_daemons_become_definitions_that_run_them_in_the_foreground() {
    let tree = TempTree::new("import-debian");
    let root = tree.dir("root");
    unit_tree(&root);
    let defs = tree.dir("sv");
    let (code, out, err) = import_debian_units(&root, &defs);
    assert_eq!(code, 0, "{err}");
    let lib = root.join("usr/lib/systemd/system");
    let written: Vec<String> =
        ["ssh", "nginx", "cron", "rsyslog"].iter().map(|n| format!("{}\n", defs.join(n).display())).collect();
    assert_eq!(out, written.concat());
    // Exactly the lines of Debian's units that have no counterpart.
    let expected = [
        format!("{}:11: ExecReload=/usr/sbin/sshd -t is not carried over: ostler has no reload action; run it by hand, then `ostler svc -h /run/service/ssh` if the daemon reloads on SIGHUP", lib.join("ssh.service").display()),
        format!("{}:12: ExecReload=/bin/kill -HUP $MAINPID is not carried over: ostler has no reload action; `ostler svc -h /run/service/ssh` sends the daemon SIGHUP, as this line does", lib.join("ssh.service").display()),
        format!("{}:24: ExecReload=/usr/sbin/nginx -g 'daemon on; master_process on;' -s reload is not carried over: ostler has no reload action; run it by hand, then `ostler svc -h /run/service/nginx` if the daemon reloads on SIGHUP", lib.join("nginx.service").display()),
        format!("{}:3: Requires=syslog.socket is not carried over: ostler has no socket activation: the daemon must open its socket itself (most have an option or a default for it)", lib.join("rsyslog.service").display()),
    ];
    let expected: Vec<String> = expected.iter().map(|w| format!("ostler import-unit: {w}")).collect();
    assert_eq!(err.lines().collect::<Vec<_>>(), expected);

    // ssh: sshd -D, ready by sd_notify, its condition, its environment file, /run/sshd.
    let ssh = defs.join("ssh");
    let run = read(ssh.join("run"));
    assert!(run.starts_with("#!/bin/sh\n# ssh: OpenBSD Secure Shell server\n"), "{run}");
    assert!(run.contains("/usr/sbin/sshd -t || exit\nexec /usr/sbin/sshd -D ${SSHD_OPTS}\n"), "{run}");
    assert!(run.contains("[ -e /etc/ssh/sshd_not_to_be_run ]"), "{run}");
    assert!(ssh.join("notify-socket").is_file());
    assert_eq!(read(ssh.join("environment-file")), "-/etc/default/ssh\n");
    assert_eq!(read(ssh.join("runtime-directory")), "sshd 0755\n");
    assert_eq!(read(ssh.join("kill-mode")), "process\n", "sessions outlive a restart of sshd");
    let finish = read(ssh.join("finish"));
    assert!(finish.contains("255:*) exit 125"), "RestartPreventExitStatus=255: {finish}");
    // nginx: forking → daemon off; graceful stop on SIGQUIT within 5 s.
    let nginx = defs.join("nginx");
    let run = read(nginx.join("run"));
    assert!(run.contains("/usr/sbin/nginx -t -q -g 'daemon on; master_process on;' || exit\n"), "{run}");
    assert!(run.ends_with("exec /usr/sbin/nginx -g 'daemon off; master_process on;'\n"), "{run}");
    assert_eq!(read(nginx.join("down-signal")), "SIGQUIT\n");
    assert_eq!(read(nginx.join("timeout-kill")), "5000\n");
    assert!(read(nginx.join("finish")).contains("exit 125  # Restart=no"));
    // cron: cron -f, SIGPIPE left as it is (IgnoreSIGPIPE=false).
    let run = read(defs.join("cron/run"));
    assert!(run.ends_with("exec /usr/sbin/cron -f ${EXTRA_OPTS}\n") && !run.contains("PIPE"), "{run}");
    assert_eq!(read(defs.join("cron/environment-file")), "-/etc/default/cron\n");
    // rsyslog: rsyslogd -n, output to /dev/null, 16384 files.
    let run = read(defs.join("rsyslog/run"));
    assert!(run.contains("exec >/dev/null 2>&1\n") && run.ends_with("exec /usr/sbin/rsyslogd -n -iNONE\n"), "{run}");
    assert_eq!(read(defs.join("rsyslog/limits")), "nofile 16384:16384\n");
    for name in ["ssh", "nginx", "cron", "rsyslog"] {
        assert_eq!(read(defs.join(name).join("type")), "longrun\n");
        let status = Command::new("sh").arg("-n").arg(defs.join(name).join("run")).status().unwrap();
        assert!(status.success(), "{name}/run is not a valid sh script");
    }
    rc_check(&defs);

    // A second import refuses to replace them; --force does.
    let (code, _, err) = import_debian_units(&root, &defs);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!(
            "{}: exists already; remove it, or give --force to replace it",
            defs.join("ssh").display()
        )),
        "{err}"
    );
    let (code, _, err) = cmd(Command::new(ostler())
        .arg("import-unit")
        .arg("--root")
        .arg(&root)
        .arg("--defs")
        .arg(&defs)
        .args(["--force", "sshd"]));
    assert_eq!(code, 0, "{err}");
    assert!(defs.join("ssh/run").is_file() && !defs.join("sshd").exists(), "sshd is an alias of ssh");
}

#[test]
fn every_enabled_unit_into_the_default_bundle() {
    let tree = TempTree::new("import-enabled");
    let root = tree.dir("root");
    unit_tree(&root);
    let defs = tree.dir("sv");
    let (code, _, err) = cmd(Command::new(ostler())
        .arg("import-unit")
        .arg("--root")
        .arg(&root)
        .arg("--defs")
        .arg(&defs)
        .arg("--enabled"));
    assert_eq!(code, 0, "{err}");
    let mut names: Vec<String> = std::fs::read_dir(defs.join("default/contents.d"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for daemon in ["cron", "nginx", "rsyslog", "ssh"] {
        assert!(names.iter().any(|n| n == daemon), "{daemon} not enabled: {names:?}");
    }
    assert!(err.contains("apt-daily.timer is not imported: ostler imports services, not .timer units"), "{err}");
    rc_check(&defs);
}

#[test]
fn a_template_instance() {
    let tree = TempTree::new("import-template");
    let root = tree.dir("root");
    tree.file(
        "root/usr/lib/systemd/system/worker@.service",
        "[Unit]\nDescription=Worker %i\n[Service]\nExecStart=/usr/bin/worker --queue %I --name %n --dir %t/%p\nRestart=always\n",
    );
    let defs = tree.dir("sv");
    let (code, _, err) = cmd(Command::new(ostler())
        .arg("import-unit")
        .arg("--root")
        .arg(&root)
        .arg("--defs")
        .arg(&defs)
        .arg("worker@mail-in"));
    assert_eq!((code, err.as_str()), (0, ""));
    let run = read(defs.join("worker@mail-in/run"));
    assert!(
        run.ends_with("exec /usr/bin/worker --queue mail/in --name worker@mail-in.service --dir /run/worker\n"),
        "{run}"
    );
    let (code, _, err) =
        cmd(Command::new(ostler()).arg("import-unit").arg("--root").arg(&root).arg("--defs").arg(&defs).arg("worker@"));
    assert_eq!(code, 1);
    assert!(err.contains("is a template; name an instance, such as worker@NAME.service"), "{err}");
}

#[test]
fn unsupported_lines_give_exactly_their_warnings() {
    let tree = TempTree::new("import-warnings");
    let unit = tree.file(
        "units/odd.service",
        "[Unit]\n\
         Description=Odd\n\
         OnFailure=notify@%n.service\n\
         ConditionVirtualization=!container\n\
         ConditionPathExists=/etc/odd.conf\n\
         [Service]\n\
         Type=simple\n\
         User=odd\n\
         ExecStartPre=+/bin/mkdir -p /var/odd\n\
         ExecStart=/usr/bin/odd --host %H\n\
         ExecReload=/usr/bin/odd --reload\n\
         PrivateTmp=yes\n\
         ProtectSystem=strict\n\
         Nice=5\n\
         KillMode=none\n\
         Restart=on-watchdog\n\
         WatchdogSec=30\n\
         [Install]\n\
         WantedBy=multi-user.target\n",
    );
    tree.file("units/odd.service.d/override.conf", "[Service]\nEnvironment=A=1\nDynamicUser=yes\n");
    let defs = tree.dir("sv");
    let (code, out, err) = cmd(Command::new(ostler()).arg("import-unit").arg("--defs").arg(&defs).arg(&unit));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("{}\n", defs.join("odd").display()));
    let f = unit.display();
    let d = tree.join("units/odd.service.d/override.conf");
    let d = d.display();
    let expected = [
        format!("{f}:3: OnFailure=notify@odd.service.service is not carried over: ostler has no such hook; a finish script can run the command"),
        format!("{f}:4: ConditionVirtualization=!container is not carried over: ConditionVirtualization= cannot be checked from a script; the service starts whatever it says (test it in the run script if it matters)"),
        format!("{f}:9: ExecStartPre=+/bin/mkdir -p /var/odd: the + prefix (full privileges) is not carried over: the supervisor applies `user` and the capabilities to run itself, so it runs with the service's privileges; make it a oneshot the service depends on"),
        format!("{f}:10: %H in ExecStart= is not carried over: it stands for something of the running machine, or nothing ostler knows; it is written as it is — replace it by its value"),
        format!("{f}:11: ExecReload=/usr/bin/odd --reload is not carried over: ostler has no reload action; run it by hand, then `ostler svc -h /run/service/odd` if the daemon reloads on SIGHUP"),
        format!("{f}:12: PrivateTmp=yes is not carried over: ostler runs services without namespaces or system-call filters (sandboxing); the service runs without this restriction"),
        format!("{f}:13: ProtectSystem=strict is not carried over: ostler runs services without namespaces or system-call filters (sandboxing); the service runs without this restriction"),
        format!("{f}:14: Nice=5 is not carried over: ostler does not set scheduling; put `nice`, `chrt`, `ionice` or `taskset` before the daemon in run"),
        format!("{f}:15: KillMode=none is not carried over: ostler ends what the daemon leaves in the service's control group (kill-mode control-group), or leaves all of it (kill-mode process); it never leaves the main process running"),
        format!("{f}:16: Restart=on-watchdog is not carried over: \"on-watchdog\": ostler has no watchdog or such condition; the service is not restarted"),
        format!("{f}:17: WatchdogSec=30 is not carried over: ostler has no watchdog; liveness is the process being alive"),
        format!("{d}:3: DynamicUser=yes is not carried over: ostler does not make users; make one (adduser --system) and name it in `user`"),
    ];
    let expected: Vec<String> = expected.iter().map(|w| format!("ostler import-unit: {w}")).collect();
    assert_eq!(err.lines().collect::<Vec<_>>(), expected);
    let odd = defs.join("odd");
    assert_eq!(read(odd.join("user")), "odd\n");
    assert_eq!(read(odd.join("environment/A")), "1\n");
    assert!(read(odd.join("run")).ends_with("exec /usr/bin/odd --host %H\n"));
    rc_check(&defs);
}

#[test]
fn a_unit_without_exec_start_is_not_imported() {
    let tree = TempTree::new("import-fail");
    let unit = tree.file("units/empty.service", "[Service]\nUser=x\n");
    let good = tree.file("units/good.service", "[Service]\nExecStart=/bin/sleep 1000\n");
    let defs = tree.dir("sv");
    let (code, out, err) =
        cmd(Command::new(ostler()).arg("import-unit").arg("--defs").arg(&defs).arg(&unit).arg(&good));
    assert_eq!(code, 1);
    assert_eq!(out, format!("{}\n", defs.join("good").display()), "the others are written");
    assert_eq!(
        err,
        format!("ostler import-unit: {}: no ExecStart=: nothing to run, so nothing to import\n", unit.display())
    );
    let (code, _, err) = cmd(Command::new(ostler()).arg("import-unit").arg("--defs").arg(&defs));
    assert_eq!(code, 100, "{err}");
}
