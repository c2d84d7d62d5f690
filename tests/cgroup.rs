//! A control group per longrun (issue 14), on the host: the scanner given a group
//! (`OSTLER_CGROUP=DIR` on the host's cgroup2) puts each service in its own, a stop ends the
//! double-forked child too, a death clears the group before the restart, svstat shows the
//! count (not as s6-svstat); without cgroup2 there is one warning and services run; a scanner
//! that is not PID 1 makes no groups and says so only when a service asks for a limit.
//! The booted-guest half (controllers, pids-max, memory-max) is in tests/boot.rs.

mod util;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use util::*;

const LONG: Duration = Duration::from_secs(10);

/// A daemon's double fork: a child puts a grandchild in a session of its own and exits, so
/// neither run's process group nor its children hold it any more; then run stays.
const DOUBLE_FORK: &str = "#!/bin/sh\n\
    sh -c 'setsid sleep 1001 </dev/null >/dev/null 2>&1 & echo $! > orphan.new; mv orphan.new orphan'\n\
    exec sleep 1002\n";

/// The host's cgroup2 mount point (on these machines the hybrid layout's
/// /sys/fs/cgroup/unified, which has no controllers).
fn cgroup2_mount() -> Option<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    mountinfo.lines().find_map(|line| {
        let (before, after) = line.split_once(" - ")?;
        (after.split(' ').next() == Some("cgroup2")).then(|| PathBuf::from(before.split(' ').nth(4).unwrap()))
    })
}

/// A group for one test's scanner, emptied and removed on drop (after the processes are gone:
/// declare it before the `Processes`).
struct TestGroup(PathBuf);

impl TestGroup {
    fn new(mount: &Path, label: &str) -> TestGroup {
        TestGroup(mount.join(format!("ostler-test-{label}-{}", std::process::id())))
    }
}

impl Drop for TestGroup {
    fn drop(&mut self) {
        let services = self.0.join("services");
        let groups: Vec<PathBuf> = std::fs::read_dir(&services)
            .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect())
            .unwrap_or_default();
        for group in groups.iter().chain([&self.0.join("ostler")]) {
            let _ = std::fs::write(group.join("cgroup.kill"), "1");
            let end = std::time::Instant::now() + LONG;
            while std::fs::remove_dir(group).is_err() && group.exists() && std::time::Instant::now() < end {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = std::fs::remove_dir(&services);
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn scanner(procs: &mut Processes, scan: &Path, group: Option<&Path>, err: &Path) {
    let mut command = Command::new(ostler());
    command.arg("svscan").arg(scan).stderr(std::fs::File::create(err).unwrap()).env_remove("OSTLER_CGROUP");
    if let Some(group) = group {
        command.env("OSTLER_CGROUP", group);
    }
    procs.spawn(command);
}

fn svstat(service: &Path) -> String {
    cmd(Command::new(ostler()).arg("svstat").arg(service)).1.trim_end().to_string()
}

fn procs_of(group: &Path) -> Vec<i32> {
    std::fs::read_to_string(group.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect()
}

/// `ps -p PID` finds it (alive or a zombie not yet reaped).
fn ps_finds(pid: i32) -> bool {
    Command::new("ps").args(["-o", "pid=", "-p", &pid.to_string()]).output().is_ok_and(|o| o.status.success())
}

fn orphan(service: &Path) -> i32 {
    wait_for("the double-forked child's pid", LONG, || {
        std::fs::read_to_string(service.join("orphan")).ok()?.trim().parse().ok()
    })
}

#[test]
fn a_stop_ends_the_double_forked_child_and_a_death_clears_the_group() {
    let Some(mount) = cgroup2_mount() else {
        // No cgroup2 at all: the degrade is what there is to check.
        return without_cgroup2_there_is_one_warning_and_services_run();
    };
    let tree = TempTree::new("cgroup");
    let base = TestGroup::new(&mount, "stop");
    let mut procs = Processes::new();
    let scan = tree.dir("scan");
    let service = tree.service("scan/df", DOUBLE_FORK);
    tree.file("scan/df/memory-max", "64M\n");
    let err = tree.join("err");
    scanner(&mut procs, &scan, Some(&base.0), &err);
    let group = base.0.join("services/df.service");
    let first = orphan(&service);
    procs.watch(first as u32);
    wait_until("run and the orphan in df.service", LONG, || procs_of(&group).len() == 2);
    assert!(procs_of(&group).contains(&first), "{:?}", procs_of(&group));
    let status = svstat(&service);
    assert!(status.starts_with("up (pid ") && status.contains(", 2 processes"), "{status}");
    // As s6-svstat, the line is s6's.
    let link = tree.join("s6-svstat");
    std::os::unix::fs::symlink(ostler(), &link).unwrap();
    let s6_line = cmd(Command::new(&link).arg(&service)).1;
    assert!(s6_line.starts_with("up (pid ") && !s6_line.contains("process"), "{s6_line}");
    // What this host's cgroup2 offers decides between the limit and one warning about it.
    let stderr = std::fs::read_to_string(&err).unwrap();
    let controllers = std::fs::read_to_string(base.0.join("services/cgroup.subtree_control")).unwrap_or_default();
    if controllers.contains("memory") {
        assert_eq!(std::fs::read_to_string(group.join("memory.max")).unwrap().trim(), "67108864");
    } else {
        assert_eq!(stderr.matches("warning: control groups:").count(), 1, "{stderr}");
        assert!(stderr.contains("has no memory"), "{stderr}");
        assert!(stderr.contains("df/memory-max: the memory controller is not available"), "{stderr}");
    }

    // The stop: down once run is dead, and by then nothing of it is left.
    let (code, _, stderr) = cmd(Command::new(ostler()).args(["svc", "-wD", "-T", "10000", "-d"]).arg(&service));
    assert_eq!(code, 0, "{stderr}");
    wait_until("df.service empty", LONG, || procs_of(&group).is_empty());
    wait_until("the double-forked child gone from ps", LONG, || !ps_finds(first));
    assert!(!svstat(&service).contains("process"), "{}", svstat(&service));

    // A death while wanted up: what run left is ended before the restart.
    std::fs::remove_file(service.join("orphan")).unwrap();
    assert_eq!(cmd(Command::new(ostler()).args(["svc", "-wu", "-T", "10000", "-u"]).arg(&service)).0, 0);
    let second = orphan(&service);
    procs.watch(second as u32);
    let old_run = status_pid(&service);
    std::fs::remove_file(service.join("orphan")).unwrap();
    assert_eq!(cmd(Command::new(ostler()).args(["svc", "-k"]).arg(&service)).0, 0);
    wait_until("the orphan of the killed run gone", LONG, || !alive(second));
    let third = orphan(&service);
    procs.watch(third as u32);
    assert!(status_pid(&service) != old_run && alive(third));
    let stderr = std::fs::read_to_string(&err).unwrap();
    assert!(stderr.matches("warning").count() <= 2, "no warning per start: {stderr}");
}

#[test]
fn without_cgroup2_there_is_one_warning_and_services_run() {
    let tree = TempTree::new("cgroup-none");
    let mut procs = Processes::new();
    let scan = tree.dir("scan");
    // A plain directory where the group should be: not cgroup2.
    let not_cgroup = tree.dir("not-cgroup");
    let mut services = Vec::new();
    for name in ["a", "b"] {
        services.push(tree.service(&format!("scan/{name}"), "#!/bin/sh\nexec sleep 1003\n"));
        tree.file(format!("scan/{name}/pids-max"), "10\n");
    }
    let err = tree.join("err");
    scanner(&mut procs, &scan, Some(&not_cgroup), &err);
    for service in &services {
        wait_until("up", LONG, || is_up(service));
        procs.watch(status_pid(service) as u32);
        let status = svstat(service);
        assert!(status.starts_with("up (pid ") && !status.contains("process"), "{status}");
        assert!(!service.join("supervise/cgroup").exists());
    }
    let stderr = std::fs::read_to_string(&err).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one warning, no more: {stderr}");
    assert!(
        stderr.contains("warning: control groups:") && stderr.contains("is not on a cgroup2 filesystem"),
        "{stderr}"
    );
    assert!(stderr.contains("services run without groups"), "says what still works: {stderr}");
}

#[test]
fn a_scanner_that_is_not_pid_1_makes_no_group_and_tells_only_a_service_with_limits() {
    let tree = TempTree::new("cgroup-off");
    let mut procs = Processes::new();
    let scan = tree.dir("scan");
    let plain = tree.service("scan/plain", "#!/bin/sh\nexec sleep 1004\n");
    let err = tree.join("err");
    scanner(&mut procs, &scan, None, &err);
    wait_until("up", LONG, || is_up(&plain));
    procs.watch(status_pid(&plain) as u32);
    assert_eq!(std::fs::read_to_string(&err).unwrap(), "", "nothing said without limit files");
    let mut limited = Vec::new();
    for name in ["m", "n"] {
        limited.push(tree.service(&format!("scan/{name}"), "#!/bin/sh\nexec sleep 1005\n"));
        tree.file(format!("scan/{name}/memory-max"), "1G\n");
    }
    assert_eq!(cmd(Command::new(ostler()).args(["svscanctl", "-a"]).arg(&scan)).0, 0);
    for service in &limited {
        wait_until("up", LONG, || is_up(service));
        procs.watch(status_pid(service) as u32);
    }
    let stderr = std::fs::read_to_string(&err).unwrap();
    assert_eq!(stderr.lines().count(), 1, "said once for the scanner: {stderr}");
    assert!(stderr.contains("memory-max: control groups are off") && stderr.contains("not PID 1"), "{stderr}");
}

/// The last line a command printed: the service manager's own lines (`ostler rc: NAME: up`)
/// may reach the console after the prompt of the command that caused them.
fn last(guest: &mut guest::Guest, command: &str) -> String {
    guest.sh(command).lines().last().unwrap_or_default().trim_end().to_string()
}

/// Writes a service definition for the service manager on the guest's tmpfs /etc: `run`
/// (a shell script) and `files` (name, contents).
fn define(guest: &mut guest::Guest, name: &str, run: &str, files: &[(&str, &str)]) {
    let dir = format!("/etc/ostler/sv/{name}");
    guest.sh(&format!("mkdir -p {dir} && echo longrun > {dir}/type"));
    // One command per prompt: a second line would leave a prompt for the next command to see.
    guest.sh(&format!("cat > {dir}/run <<'EOF'\n{run}EOF"));
    guest.sh(&format!("chmod +x {dir}/run"));
    for (file, contents) in files {
        guest.sh(&format!("echo {contents} > {dir}/{file}"));
    }
}

/// The booted minimal image (Debian's kernel, every controller once stage 1 mounts cgroup2):
/// one boot for the double-fork stop, pids-max against a fork bomb, and memory-max's OOM kill
/// and restart.
#[test]
fn in_a_booted_guest_stop_pids_max_and_memory_max() {
    use guest::{Guest, COMMAND, POWEROFF};
    let mut guest = Guest::boot("cgroup", "quiet");
    guest.login();
    let mounted = guest.sh("grep cgroup2 /proc/mounts");
    assert!(mounted.starts_with("cgroup2 /sys/fs/cgroup cgroup2"), "{mounted}");
    let delegated = guest.sh("cat /sys/fs/cgroup/services/cgroup.subtree_control");
    for controller in ["memory", "pids", "cpu", "io"] {
        assert!(delegated.contains(controller), "{controller} not enabled for the services: {delegated}");
    }
    assert_eq!(guest.sh("ostler logs /run/ostler/uncaught-logs | grep -c 'control groups'"), "0", "no warning");
    // Boot's services are in their groups already.
    let syslogd = guest.sh("cat /sys/fs/cgroup/services/syslogd.service/cgroup.procs");
    assert!(!syslogd.is_empty(), "syslogd's group is empty");

    // The double fork: stopped, nothing of it left, by the group and by ps.
    let double_fork = "#!/bin/sh\n\
        sh -c 'setsid sleep 1001 </dev/null >/dev/null 2>&1 & echo $! > /run/df-orphan'\n\
        exec sleep 1002\n";
    define(&mut guest, "df", double_fork, &[]);
    guest.sh("service df start");
    let group = "/sys/fs/cgroup/services/df.service";
    guest.sh_until("run and the orphan in df's group", COMMAND, &format!("wc -l < {group}/cgroup.procs"), |out| {
        out.trim() == "2"
    });
    let status = last(&mut guest, "service df status");
    eprintln!("guest: service df status: {status}");
    assert!(status.starts_with("up (pid ") && status.contains(", 2 processes, "), "{status}");
    assert!(last(&mut guest, "ostler svstat /run/service/df").contains(" KiB"), "memory shown");
    assert_eq!(last(&mut guest, "ps | grep -c '[s]leep 1001'"), "1", "the orphan runs");
    guest.sh("service df stop");
    assert!(last(&mut guest, "service df status").starts_with("down "), "df still up");
    guest.sh_until("df's group empty", COMMAND, &format!("cat {group}/cgroup.procs | wc -l"), |out| out.trim() == "0");
    guest.sh_until("the orphan gone from ps", COMMAND, "ps | grep -c '[s]leep 100[12]'", |out| out.trim() == "0");

    // A fork bomb under pids-max: held at 16 tasks, the machine and the other services go on.
    let bomb = "#!/bin/sh\n\
        i=0\n\
        while [ $i -lt 200 ]; do sleep 1000 & i=$((i+1)); done\n\
        exec sleep 1000\n";
    define(&mut guest, "bomb", bomb, &[("pids-max", "16")]);
    define(&mut guest, "calm", "#!/bin/sh\nexec sleep 1003\n", &[]);
    guest.sh("service calm start");
    guest.sh("service bomb start");
    let bomb_group = "/sys/fs/cgroup/services/bomb.service";
    assert_eq!(last(&mut guest, &format!("cat {bomb_group}/pids.max")), "16");
    guest.sh_until("forks refused in bomb's group", COMMAND, &format!("cat {bomb_group}/pids.events"), |out| {
        out.strip_prefix("max ").and_then(|n| n.trim().parse::<u32>().ok()).is_some_and(|n| n > 0)
    });
    let current: u32 = last(&mut guest, &format!("cat {bomb_group}/pids.current")).trim().parse().unwrap();
    assert!(current <= 16, "{current} tasks in bomb's group");
    eprintln!("guest: bomb: {current} tasks, {}", last(&mut guest, &format!("cat {bomb_group}/pids.events")));
    assert_eq!(last(&mut guest, "echo $((6*7))"), "42", "the machine answers");
    assert!(last(&mut guest, "service calm status").starts_with("up (pid "), "calm is not up");
    assert!(last(&mut guest, "service syslogd status").starts_with("up (pid "), "syslogd is not up");
    guest.sh("service bomb stop");
    guest.sh_until("bomb's group empty", COMMAND, &format!("cat {bomb_group}/pids.current"), |out| out.trim() == "0");

    // memory-max: the service is OOM-killed, counted in memory.events, and restarted.
    let hog = "#!/bin/sh\nsleep 2\nexec dd if=/dev/zero of=/dev/null bs=64M count=1\n";
    define(&mut guest, "hog", hog, &[("memory-max", "16M")]);
    guest.sh("service hog start");
    let hog_group = "/sys/fs/cgroup/services/hog.service";
    assert_eq!(last(&mut guest, &format!("cat {hog_group}/memory.max")), (16u64 << 20).to_string());
    let first = guest::svstat_pid(&last(&mut guest, "ostler svstat /run/service/hog")).expect("hog's pid");
    guest.sh_until("hog OOM-killed", COMMAND, &format!("grep oom_kill {hog_group}/memory.events"), |out| {
        out.lines().any(|l| l.split_whitespace().last().is_some_and(|n| n != "0"))
    });
    guest.sh_until("hog back with a new pid", COMMAND, "ostler svstat /run/service/hog", |out| {
        let out = out.lines().last().unwrap_or_default();
        out.starts_with("up (pid ") && guest::svstat_pid(out).is_some_and(|pid| pid != first)
    });
    let deaths = last(&mut guest, "od -An -tu1 -j12 -N2 /run/service/hog/supervise/death_tally");
    assert!(deaths.split_whitespace().any(|n| n == "137" || n == "9"), "not killed by SIGKILL: {deaths}");
    guest.sh("service hog stop");

    guest.console.send("poweroff\n");
    let status = guest.wait_exit(POWEROFF);
    assert!(status.success(), "QEMU ended with {status}; stderr:\n{}", guest.qemu_stderr());
}
