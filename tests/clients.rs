//! The clients (svc, svstat, svwait, svscanctl) against Debian's real s6 2.11: ostler's
//! output must be byte for byte s6's own tools' output on the same directory, and ostler's
//! commands must drive s6-supervise and s6-svscan as s6's own commands do.
//!
//! Each test starts its own s6-supervise or s6-svscan on a fresh temporary tree and stops
//! every process it started, by pid.

mod util;

use ostler_core::Status;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use util::{ostler, outcome, require, run, wait_status, wait_until, Processes, TempTree, DEADLINE};

const SLEEP: &str = "#!/bin/sh\nexec sleep 1000\n";
const NOTIFY: &str = "#!/bin/sh\necho >&3\nexec sleep 1000 3>&-\n";
const ALL_FIELDS: &str =
    "up,wantedup,normallyup,ready,paused,pid,exitcode,signal,signum,updownsince,readysince,updownfor,readyfor";

/// One service directory under a real s6-supervise.
struct Supervised {
    processes: Processes,
    dir: PathBuf,
    supervisor: u32,
    _tree: TempTree,
}

impl Supervised {
    /// Makes the service with `run`, lets `extra` add files, starts s6-supervise on it and
    /// waits until it has written its status.
    fn start(label: &str, run: &str, extra: impl FnOnce(&TempTree, &Path)) -> Supervised {
        require("s6-supervise");
        let tree = TempTree::new(label);
        let dir = tree.service("svc", run);
        extra(&tree, &dir);
        let mut processes = Processes::new();
        let mut command = Command::new("s6-supervise");
        command.arg(&dir);
        let supervisor = processes.spawn(command);
        wait_until("s6-supervise to listen", DEADLINE, || util::listening(&dir));
        wait_status(&dir, "written", |_| true);
        Supervised { processes, dir, supervisor, _tree: tree }
    }

    fn status(&self) -> Status {
        util::status(&self.dir).expect("status")
    }

    fn wait(&mut self, what: &str, condition: impl Fn(&Status) -> bool) -> Status {
        let status = wait_status(&self.dir, what, condition);
        if status.pid != 0 {
            self.processes.watch(status.pid as u32);
        }
        status
    }

    /// Runs the real s6-svc with `args` on this service.
    fn s6_svc(&self, args: &[&str]) {
        let output = run("s6-svc", args.iter().map(Path::new).chain([self.dir.as_path()]));
        assert!(output.status.success(), "s6-svc {args:?}: {output:?}");
    }

    /// Runs `ostler SUBCOMMAND args… DIR`.
    fn ostler(&self, subcommand: &str, args: &[&str]) -> (i32, String, String) {
        let first = [subcommand];
        let all = first.iter().chain(args).map(Path::new).chain([self.dir.as_path()]);
        outcome(&run(ostler(), all))
    }
}

// ---------------------------------------------------------------------------------------------
// svstat: same bytes as s6-svstat, in every state of the facts sheet's table

/// Both tools' outputs on the same directory; seconds can differ only at a second boundary,
/// so retry a few times before calling a difference a difference.
fn assert_svstat_same(service: &Supervised, args: &[&str]) {
    require("s6-svstat");
    let mut last = None;
    for _ in 0..3 {
        let ours = service.ostler("svstat", args);
        let theirs = outcome(&run("s6-svstat", args.iter().map(Path::new).chain([service.dir.as_path()])));
        if ours == theirs {
            assert_eq!(ours.0, 0, "{ours:?}");
            return;
        }
        last = Some((ours, theirs));
    }
    let (ours, theirs) = last.unwrap();
    panic!("svstat {args:?} differs from s6-svstat\n ours:   {ours:?}\n theirs: {theirs:?}");
}

fn assert_svstat_all_forms(service: &Supervised) {
    assert_svstat_same(service, &[]);
    assert_svstat_same(service, &["-n"]);
    assert_svstat_same(service, &["-o", ALL_FIELDS]);
    assert_svstat_same(service, &["-uwNrpest"]);
    assert_svstat_same(service, &["-p", "-o", "up,signum", "-e"]);
}

#[test]
fn svstat_up_without_notification() {
    let mut service = Supervised::start("svstat-up", SLEEP, |_, _| {});
    service.wait("up", |s| s.is_up());
    assert_svstat_all_forms(&service);
}

#[test]
fn svstat_down_file_never_run() {
    let service = Supervised::start("svstat-down-file", SLEEP, |tree, _| {
        tree.file("svc/down", "");
    });
    assert_eq!(service.status().pid, 0);
    assert_svstat_all_forms(&service);
}

#[test]
fn svstat_up_and_ready() {
    let mut service = Supervised::start("svstat-ready", NOTIFY, |tree, _| {
        tree.file("svc/notification-fd", "3\n");
    });
    service.wait("up and ready", |s| s.is_up() && s.ready);
    assert_svstat_all_forms(&service);
}

#[test]
fn svstat_after_down() {
    let mut service = Supervised::start("svstat-after-d", SLEEP, |_, _| {});
    service.wait("up", |s| s.is_up());
    service.s6_svc(&["-d"]);
    service.wait("down with finish done", |s| !s.is_up() && s.ready);
    assert_svstat_all_forms(&service);
}

#[test]
fn svstat_exit_3_restart_pending() {
    let mut service = Supervised::start("svstat-exit3", "#!/bin/sh\nexit 3\n", |_, _| {});
    // The service dies at once and is restarted each second: compare in a down window.
    for attempt in 0.. {
        service.wait("down after exit 3", |s| !s.is_up() && s.wstat == 0x0300 && s.want_up);
        let down = |args: &[&str]| {
            let ours = service.ostler("svstat", args);
            let theirs = outcome(&run("s6-svstat", args.iter().map(Path::new).chain([service.dir.as_path()])));
            (ours, theirs)
        };
        let (ours, theirs) = down(&[]);
        let (ours_o, theirs_o) = down(&["-o", ALL_FIELDS]);
        let still_down = !service.status().is_up();
        if ours == theirs && ours_o == theirs_o {
            assert!(ours.1.starts_with("down (exitcode 3)"), "{ours:?}");
            return;
        }
        assert!(
            attempt < 5 || still_down,
            "svstat differs from s6-svstat:\n{ours:?}\n{theirs:?}\n{ours_o:?}\n{theirs_o:?}"
        );
        assert!(attempt < 10, "never got a stable reading");
    }
}

#[test]
fn svstat_finish_running() {
    let mut service = Supervised::start("svstat-finish", SLEEP, |tree, _| {
        tree.script("svc/finish", "#!/bin/sh\nexec sleep 3\n");
    });
    service.wait("up", |s| s.is_up());
    service.s6_svc(&["-k"]);
    service.wait("finishing", |s| s.finishing);
    assert_svstat_same(&service, &[]);
    assert_svstat_same(&service, &["-o", ALL_FIELDS]);
    assert!(service.status().finishing, "finish ended before the comparison; raise its sleep");
}

#[test]
fn svstat_paused() {
    let mut service = Supervised::start("svstat-paused", SLEEP, |_, _| {});
    service.wait("up", |s| s.is_up());
    service.s6_svc(&["-p"]);
    service.wait("paused", |s| s.paused);
    assert_svstat_all_forms(&service);
    service.s6_svc(&["-c"]);
}

#[test]
fn svstat_refuses_like_s6() {
    require("s6-svstat");
    let tree = TempTree::new("svstat-refuse");
    let not_supervised = tree.service("svc", SLEEP);
    let file = tree.file("file", "");
    for (dir, code) in [(not_supervised, 1), (tree.join("missing"), 1), (file, 111)] {
        let ours = outcome(&run(ostler(), [Path::new("svstat"), &dir]));
        let theirs = outcome(&run("s6-svstat", [&dir]));
        assert_eq!((ours.0, theirs.0), (code, code), "{dir:?}: {ours:?} {theirs:?}");
        assert!(ours.2.starts_with("ostler svstat: "), "{ours:?}");
        assert!(ours.1.is_empty());
    }
    for bad in ["pid,,up", ",pid", "nope", "pid,up,pid,up,pid,up,pid,up,pid,up,pid,up,pid,up,pid,up,pid"] {
        let ours = outcome(&run(ostler(), [Path::new("svstat"), Path::new("-o"), Path::new(bad), tree.path()]));
        let theirs = outcome(&run("s6-svstat", [Path::new("-o"), Path::new(bad), tree.path()]));
        assert_eq!((ours.0, theirs.0), (100, 100), "-o {bad}: {ours:?} {theirs:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// svc: the letters reach the supervisor in order, and drive s6-supervise

/// A hand-made `supervise/control` FIFO with a reader, to see the exact bytes a client writes.
fn bytes_written(program: &Path, args: &[&str]) -> Vec<u8> {
    use nix::fcntl::{open, OFlag};
    use nix::sys::stat::Mode;
    let tree = TempTree::new("svc-bytes");
    let fifo = tree.dir("svc/supervise").join("control");
    nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o600)).unwrap();
    let reader = open(&fifo, OFlag::O_RDONLY | OFlag::O_NONBLOCK, Mode::empty()).unwrap();
    let output = run(program, args.iter().map(Path::new).chain([tree.join("svc").as_path()]));
    assert!(output.status.success(), "{program:?} {args:?}: {output:?}");
    let mut buf = [0u8; 256];
    let n = nix::unistd::read(&reader, &mut buf).unwrap_or(0);
    buf[..n].to_vec()
}

#[test]
fn svc_writes_the_same_bytes_as_s6_svc() {
    let s6_svc = require("s6-svc");
    let cases: &[&[&str]] =
        &[&["-du"], &["-ud"], &["-du", "-u", "-dxd", "-a"], &["-abqhkti12pcyroduDUxOQ"], &["-k", "-t", "-k"], &["-x"]];
    for args in cases {
        let ours = bytes_written(&ostler(), &[&["svc"][..], args].concat());
        let theirs = bytes_written(&s6_svc, args);
        assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs), "{args:?}");
    }
    // -s maps signals to their letters, in place; long names keep their place too.
    let ours = bytes_written(&ostler(), &["svc", "-d", "-s", "TERM", "--up", "-sSIGHUP", "-k"]);
    assert_eq!(ours, b"dtuhk");
}

#[test]
fn svc_refuses_like_s6() {
    require("s6-svc");
    let tree = TempTree::new("svc-refuse");
    let not_supervised = tree.service("svc", SLEEP);
    let file = tree.file("file", "");
    for (dir, code) in [(not_supervised, 100), (tree.join("missing"), 111), (file, 111)] {
        let ours = outcome(&run(ostler(), [Path::new("svc"), Path::new("-u"), &dir]));
        let theirs = outcome(&run("s6-svc", [Path::new("-u"), &dir]));
        assert_eq!((ours.0, theirs.0), (code, code), "{dir:?}: {ours:?} {theirs:?}");
        assert!(ours.2.starts_with("ostler svc: "), "{ours:?}");
    }
    let ours = outcome(&run(ostler(), [Path::new("svc"), Path::new("-s"), Path::new("SEGV"), tree.path()]));
    assert_eq!(ours.0, 100, "{ours:?}");
}

#[test]
fn svc_letters_drive_s6_supervise() {
    let mut service = Supervised::start("svc-letters", SLEEP, |_, _| {});
    let first = service.wait("up", |s| s.is_up()).pid;

    assert_eq!(service.ostler("svc", &["-d"]).0, 0);
    let s = service.wait("down", |s| !s.is_up() && s.ready);
    assert!(!s.want_up);
    assert_eq!(s.wstat, 15, "killed by SIGTERM");

    assert_eq!(service.ostler("svc", &["-u"]).0, 0);
    let second = service.wait("up again", |s| s.is_up()).pid;
    assert_ne!(first, second);

    assert_eq!(service.ostler("svc", &["-p"]).0, 0);
    service.wait("paused", |s| s.paused);
    assert_eq!(service.ostler("svc", &["-c"]).0, 0);
    service.wait("continued", |s| !s.paused);

    // t and k kill it; it is wanted up, so it comes back with a new pid.
    assert_eq!(service.ostler("svc", &["-t"]).0, 0);
    let third = service.wait("restarted after -t", |s| s.is_up() && s.pid != second).pid;
    assert_eq!(service.ostler("svc", &["-k"]).0, 0);
    let s = service.wait("restarted after -k", |s| s.is_up() && s.pid != third);
    assert!(s.want_up);

    // o: down now, and once up it is not wanted up.
    assert_eq!(service.ostler("svc", &["-d"]).0, 0);
    service.wait("down", |s| !s.is_up() && s.ready);
    assert_eq!(service.ostler("svc", &["-o"]).0, 0);
    let s = service.wait("up once", |s| s.is_up());
    assert!(!s.want_up);

    // x with d: the service stops, then the supervisor exits.
    assert_eq!(service.ostler("svc", &["-dx"]).0, 0);
    let supervisor = service.supervisor;
    let exit = service.processes.wait_exit(supervisor, DEADLINE);
    assert!(exit.success(), "{exit:?}");
    assert!(!service.status().is_up());
}

#[test]
fn svc_wait_up_and_down() {
    let mut service = Supervised::start("svc-wait", SLEEP, |tree, _| {
        tree.file("svc/down", "");
    });
    // Each returns only once the state is reached: assert at once, no polling.
    assert_eq!(service.ostler("svc", &["-wu", "-u"]).0, 0);
    let s = service.status();
    assert!(s.is_up(), "{s:?}");
    service.processes.watch(s.pid as u32);

    assert_eq!(service.ostler("svc", &["-wd", "-d"]).0, 0);
    assert!(!service.status().is_up());

    assert_eq!(service.ostler("svc", &["-T", "5000", "-wu", "-u"]).0, 0);
    assert!(service.status().is_up());
    assert_eq!(service.ostler("svc", &["-wD", "-d"]).0, 0);
    let s = service.status();
    assert!(!s.is_up() && s.ready, "{s:?}");

    // No notification-fd: -wU warns and waits for up.
    let (code, _, stderr) = service.ostler("svc", &["-wU", "-u"]);
    assert_eq!(code, 0);
    assert!(stderr.contains("warning") && stderr.contains("notification-fd"), "{stderr}");
    assert!(service.status().is_up());

    // A wait with nothing to make it happen times out with 99, like s6-svc.
    let started = Instant::now();
    let (code, _, stderr) = service.ostler("svc", &["-T", "200", "-wd"]);
    assert_eq!(code, 99, "{stderr}");
    assert!(started.elapsed() >= Duration::from_millis(200));
    let theirs = run("s6-svc", [Path::new("-T"), Path::new("200"), Path::new("-wd"), &service.dir]);
    assert_eq!(theirs.status.code(), Some(99));
}

#[test]
fn svc_wait_ready() {
    let mut service = Supervised::start("svc-wait-ready", NOTIFY, |tree, _| {
        tree.file("svc/notification-fd", "3\n");
        tree.file("svc/down", "");
    });
    let (code, _, stderr) = service.ostler("svc", &["-wU", "-u"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    let s = service.status();
    assert!(s.is_up() && s.ready, "{s:?}");
    service.processes.watch(s.pid as u32);
    // -wR -r: down, then up and ready again, with a new pid.
    assert_eq!(service.ostler("svc", &["-wR", "-r"]).0, 0);
    let after = service.status();
    assert!(after.is_up() && after.ready && after.pid != s.pid, "{after:?}");
    service.processes.watch(after.pid as u32);
}

// ---------------------------------------------------------------------------------------------
// svwait

/// Starts `ostler svwait args… DIR` in the background and waits until it has subscribed.
fn svwait_in_background(service: &mut Supervised, args: &[&str]) -> u32 {
    let event = service.dir.join("event");
    let listeners = || {
        std::fs::read_dir(&event)
            .map(|entries| entries.flatten().filter(|e| e.file_name().to_string_lossy().starts_with("ftrig1:")).count())
            .unwrap_or(0)
    };
    let before = listeners();
    let mut command = Command::new(ostler());
    command.arg("svwait").args(args).arg(&service.dir);
    let pid = service.processes.spawn(command);
    wait_until("svwait to subscribe", DEADLINE, || listeners() > before);
    pid
}

#[test]
fn svwait_follows_the_service() {
    let mut service = Supervised::start("svwait", NOTIFY, |tree, _| {
        tree.file("svc/notification-fd", "3\n");
        tree.file("svc/down", "");
    });
    let waiter = svwait_in_background(&mut service, &["-u"]);
    assert!(service.processes.running(waiter));
    service.s6_svc(&["-u"]);
    assert_eq!(service.processes.wait_exit(waiter, DEADLINE).code(), Some(0));
    assert!(service.status().is_up());

    // Already ready: returns at once.
    service.wait("ready", |s| s.ready);
    assert_eq!(service.ostler("svwait", &["-U"]).0, 0);

    let waiter = svwait_in_background(&mut service, &["-D"]);
    service.s6_svc(&["-d"]);
    assert_eq!(service.processes.wait_exit(waiter, DEADLINE).code(), Some(0));
    let s = service.status();
    assert!(!s.is_up() && s.ready, "{s:?}");

    let waiter = svwait_in_background(&mut service, &["-U", "-t", "10000"]);
    service.s6_svc(&["-u"]);
    assert_eq!(service.processes.wait_exit(waiter, DEADLINE).code(), Some(0));
    let s = service.status();
    assert!(s.is_up() && s.ready, "{s:?}");

    let waiter = svwait_in_background(&mut service, &["-d"]);
    service.s6_svc(&["-d"]);
    assert_eq!(service.processes.wait_exit(waiter, DEADLINE).code(), Some(0));
    assert!(!service.status().is_up());
}

#[test]
fn svwait_times_out_with_99() {
    let mut service = Supervised::start("svwait-timeout", SLEEP, |_, _| {});
    service.wait("up", |s| s.is_up());
    for args in [["-d", "-t", "200"], ["-U", "-t", "200"]] {
        let started = Instant::now();
        let (code, _, stderr) = service.ostler("svwait", &args);
        assert_eq!(code, 99, "{args:?}: {stderr}");
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(stderr.starts_with("ostler svwait: timed out"), "{stderr}");
        let theirs = run("s6-svwait", args.iter().map(Path::new).chain([service.dir.as_path()]));
        assert_eq!(theirs.status.code(), Some(99), "s6-svwait {args:?}");
    }
}

#[test]
fn svwait_counts_a_supervisor_exit_as_failure() {
    let mut service = Supervised::start("svwait-exit", SLEEP, |tree, _| {
        tree.file("svc/down", "");
    });
    // Waiting for up while the supervisor exits: done, one failure.
    let waiter = svwait_in_background(&mut service, &["-u"]);
    service.s6_svc(&["-x"]);
    assert_eq!(service.processes.wait_exit(waiter, DEADLINE).code(), Some(1));
}

// ---------------------------------------------------------------------------------------------
// svscanctl

#[test]
fn svscanctl_drives_s6_svscan() {
    require("s6-svscan");
    require("s6-svscanctl");
    let tree = TempTree::new("svscanctl");
    let scan = tree.dir("scan");
    let mut processes = Processes::new();
    let mut command = Command::new("s6-svscan");
    command.arg(&scan);
    let scanner = processes.spawn(command);
    util::wait_scanner(&scan);

    // A service added after the start is picked up at the next scan, which -a asks for.
    let service = tree.service("scan/late", SLEEP);
    assert_eq!(outcome(&run(ostler(), [Path::new("svscanctl"), Path::new("-a"), &scan])).0, 0);
    let s = wait_status(&service, "up", |s| s.is_up());
    processes.watch(s.pid as u32);

    // -t: everything stops, and the scanner exits 0 (no finish script).
    assert_eq!(outcome(&run(ostler(), [Path::new("svscanctl"), Path::new("-t"), &scan])).0, 0);
    let exit = processes.wait_exit(scanner, DEADLINE);
    assert!(exit.success(), "{exit:?}");
    wait_until("the service's supervisor to exit", DEADLINE, || !util::supervised(&service));

    // Nobody listening now: 100, as s6-svscanctl.
    let ours = outcome(&run(ostler(), [Path::new("svscanctl"), Path::new("-a"), &scan]));
    let theirs = outcome(&run("s6-svscanctl", [Path::new("-a"), &scan]));
    assert_eq!((ours.0, theirs.0), (100, 100), "{ours:?} {theirs:?}");
    assert!(ours.2.starts_with("ostler svscanctl: "), "{ours:?}");
}

#[test]
fn svwait_counts_finish_125_as_failure_like_s6() {
    require("s6-svwait");
    let mut service = Supervised::start("svwait-125", "#!/bin/sh\nexit 0\n", |tree, _| {
        tree.script("svc/finish", "#!/bin/sh\nexit 125\n");
        tree.file("svc/down", "");
    });
    // Waiting for up and ready (never: no notification-fd) while finish refuses a restart:
    // both tools end with one failure.
    let ours = svwait_in_background(&mut service, &["-U", "-t", "10000"]);
    let event = service.dir.join("event");
    let listeners = || std::fs::read_dir(&event).map(|e| e.count()).unwrap_or(0);
    let before = listeners();
    let mut command = Command::new("s6-svwait");
    command.args(["-U", "-t", "10000"]).arg(&service.dir);
    let theirs = service.processes.spawn(command);
    wait_until("s6-svwait to subscribe", DEADLINE, || listeners() > before);
    service.s6_svc(&["-u"]);
    assert_eq!(service.processes.wait_exit(theirs, DEADLINE).code(), Some(1), "s6-svwait");
    assert_eq!(service.processes.wait_exit(ours, DEADLINE).code(), Some(1), "ostler svwait");
}

#[test]
fn svwait_any_or_all() {
    require("s6-supervise");
    let tree = TempTree::new("svwait-quorum");
    let up = tree.service("up", SLEEP);
    let down = tree.service("down", SLEEP);
    tree.file("down/down", "");
    let mut processes = Processes::new();
    for dir in [&up, &down] {
        let mut command = Command::new("s6-supervise");
        command.arg(dir);
        processes.spawn(command);
    }
    let s = wait_status(&up, "up", |s| s.is_up());
    processes.watch(s.pid as u32);
    wait_status(&down, "written", |_| true);
    let svwait = |args: &[&str]| {
        let args = ["svwait"].iter().chain(args).map(Path::new).chain([up.as_path(), down.as_path()]);
        outcome(&run(ostler(), args)).0
    };
    assert_eq!(svwait(&["-o", "-u"]), 0);
    assert_eq!(svwait(&["-o", "-d"]), 0);
    assert_eq!(svwait(&["-a", "-u", "-t", "200"]), 99);
    assert_eq!(svwait(&["-u", "-t", "200"]), 99, "-a is the default");
    assert_eq!(svwait(&["-a", "-o", "-u"]), 0, "the last of -a and -o counts");
}
