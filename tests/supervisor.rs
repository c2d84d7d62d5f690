//! `ostler supervise`'s settings files at work: timeout-kill, down-signal, lock-fd,
//! max-death-tally, timeout-finish, and the readiness pipe.

mod util;

use std::process::Command;
use std::time::{Duration, Instant};
use util::*;

const LONG: Duration = Duration::from_secs(10);

fn supervise(procs: &mut Processes, tree: &TempTree, service: &std::path::Path) -> u32 {
    let err = std::fs::File::create(tree.join("err")).unwrap();
    let mut command = Command::new(ostler());
    command.arg("supervise").arg(service).stderr(err);
    procs.spawn(command)
}

fn svc(service: &std::path::Path, args: &[&str]) -> i32 {
    cmd(Command::new(ostler()).arg("svc").args(args).arg(service)).0
}

#[test]
fn timeout_kill_ends_a_service_that_ignores_its_down_signal() {
    let tree = TempTree::new("timeout-kill");
    let trapped = tree.join("trapped");
    let service = tree
        .service("svc", &format!("#!/bin/sh\ntrap '' TERM\ntouch {}\nwhile :; do sleep 0.05; done", trapped.display()));
    tree.file("svc/timeout-kill", "300\n");
    let mut procs = Processes::new();
    supervise(&mut procs, &tree, &service);
    wait_until("up", LONG, || is_up(&service));
    wait_file(&trapped); // the shell has set its trap
    let asked = Instant::now();
    assert_eq!(svc(&service, &["-d"]), 0);
    let down = wait_status(&service, "down", |s| !s.is_up());
    let took = asked.elapsed();
    assert_eq!(down.wstat & 0x7f, 9, "killed by SIGKILL: {down:?}");
    assert!(took >= Duration::from_millis(280) && took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn down_signal_is_what_d_sends() {
    let tree = TempTree::new("down-signal");
    let trapped = tree.join("trapped");
    let service = tree.service(
        "svc",
        &format!("#!/bin/sh\ntrap 'exit 7' HUP\ntouch {}\nwhile :; do sleep 0.05; done", trapped.display()),
    );
    tree.file("svc/down-signal", "SIGHUP\n");
    let mut procs = Processes::new();
    supervise(&mut procs, &tree, &service);
    wait_until("up", LONG, || is_up(&service));
    wait_file(&trapped);
    assert_eq!(svc(&service, &["-wd", "-T", "5000", "-d"]), 0);
    let status = status(&service).unwrap();
    assert_eq!(status.wstat, 7 << 8, "the HUP trap's exit code: {status:?}");
}

#[test]
fn lock_fd_gives_run_a_held_lock_and_creates_the_file() {
    let tree = TempTree::new("lock-fd");
    let service = tree.service("svc", "#!/bin/sh\nexec sleep 1000");
    tree.file("svc/lock-fd", "5");
    let mut procs = Processes::new();
    supervise(&mut procs, &tree, &service);
    wait_until("up", LONG, || is_up(&service));
    let lock = service.join("supervise/service-lock");
    wait_until("service-lock held", LONG, || ostler_core::lock::path_is_locked(&lock).unwrap_or(false));
    let pid = status_pid(&service);
    let target = std::fs::read_link(format!("/proc/{pid}/fd/5")).unwrap();
    assert_eq!(target, lock.canonicalize().unwrap());
}

#[test]
fn the_death_tally_keeps_the_last_max_deaths() {
    let tree = TempTree::new("tally");
    let service = tree.service("svc", "#!/bin/sh\nexit 4");
    tree.file("svc/max-death-tally", "2");
    let counter = tree.join("count");
    tree.script("svc/finish", &format!("#!/bin/sh\necho x >> {}", counter.display()));
    let mut procs = Processes::new();
    supervise(&mut procs, &tree, &service);
    wait_until("three deaths", LONG, || std::fs::read_to_string(&counter).map_or(0, |s| s.lines().count()) >= 3);
    let tally = std::fs::read(service.join("supervise/death_tally")).unwrap();
    assert_eq!(tally.len(), 28, "two records of 14 bytes");
    let deaths = ostler_core::death_tally::unpack_all(&tally);
    assert!(deaths.iter().all(|d| d.code == 4 && d.signal == 0));
    assert!(deaths[0].when < deaths[1].when);
}

#[test]
fn a_slow_finish_is_killed_after_timeout_finish() {
    let tree = TempTree::new("timeout-finish");
    let service = tree.service("svc", "#!/bin/sh\nexit 0");
    tree.script("svc/finish", "#!/bin/sh\nexec sleep 1000");
    tree.file("svc/timeout-finish", "200");
    tree.file("svc/down", "");
    let mut procs = Processes::new();
    supervise(&mut procs, &tree, &service);
    wait_until("supervised", LONG, || listening(&service));
    let asked = Instant::now();
    assert_eq!(svc(&service, &["-o"]), 0);
    wait_status(&service, "finishing", |s| s.finishing);
    let finish = status_pid(&service);
    wait_status(&service, "down and finished", |s| !s.finishing && s.pid == 0 && s.ready);
    assert!(asked.elapsed() < Duration::from_secs(3));
    assert!(!alive(finish as i32));
}

#[test]
fn readiness_needs_a_newline_and_eof_means_never() {
    let tree = TempTree::new("readiness");
    let ready = tree.service("ready", "#!/bin/sh\nprintf 'almost' >&3\nsleep 0.3\necho >&3\nexec sleep 1000");
    tree.file("ready/notification-fd", "3");
    let never = tree.service("never", "#!/bin/sh\nexec 3>&-\nexec sleep 1000");
    tree.file("never/notification-fd", "3");
    let mut procs = Processes::new();
    supervise(&mut procs, &tree, &ready);
    let err = std::fs::File::create(tree.join("err2")).unwrap();
    let mut command = Command::new(ostler());
    command.arg("supervise").arg(&never).stderr(err);
    procs.spawn(command);
    wait_until("both up", LONG, || is_up(&ready) && is_up(&never));
    assert!(status(&ready).is_some_and(|s| !s.ready), "ready before the newline");
    wait_status(&ready, "ready", |s| s.ready && s.is_up());
    // The other closed its fd without a newline: never ready, and `svwait -U` times out.
    assert_eq!(cmd(Command::new(ostler()).args(["svwait", "-U", "-t", "300"]).arg(&never)).0, 99);
    assert!(status(&never).is_some_and(|s| !s.ready));
}

#[test]
fn a_busy_service_lock_delays_run_without_blocking_the_supervisor() {
    let tree = TempTree::new("lock-busy");
    let marker = tree.join("started");
    let service = tree.service("svc", &format!("#!/bin/sh\n: > {}\nexec sleep 1000", marker.display()));
    tree.file("svc/lock-fd", "5");
    tree.file("svc/down", "");
    // Another copy of the service holds the service lock: s6-setlock, from Debian's s6.
    tree.file("svc/supervise/service-lock", "");
    let mut procs = Processes::new();
    let err = std::fs::File::create(tree.join("err")).unwrap();
    let mut command = Command::new(require("s6-setlock"));
    command.arg("-n").arg(service.join("supervise/service-lock")).args(["sleep", "1000"]).stderr(err);
    let locker = procs.spawn(command);
    wait_until("lock taken", LONG, || {
        ostler_core::lock::path_is_locked(&service.join("supervise/service-lock")).unwrap_or(false)
    });
    supervise(&mut procs, &tree, &service);
    wait_until("supervised", LONG, || listening(&service));
    assert_eq!(svc(&service, &["-u"]), 0);
    // The supervisor still answers while run waits for the lock.
    assert_eq!(svc(&service, &["-wu", "-T", "3000", "-u"]), 0);
    std::thread::sleep(Duration::from_millis(200));
    assert!(!marker.exists(), "run went on without the lock");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(locker as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    wait_until("run started once the lock was free", LONG, || marker.exists());
}

#[test]
fn flag_newpidns_makes_run_pid_1_of_its_own_namespace() {
    assert!(nix::unistd::geteuid().is_root(), "this test needs root (a new PID namespace); CI runs as root");
    let tree = TempTree::new("newpidns");
    let seen = tree.join("pid");
    // As PID 1, the shell ignores an unhandled TERM: give it a handler.
    let service = tree.service(
        "svc",
        &format!("#!/bin/sh\necho $$ > {}\ntrap 'exit 0' TERM\nwhile :; do sleep 0.05; done", seen.display()),
    );
    tree.file("svc/flag-newpidns", "");
    let mut procs = Processes::new();
    supervise(&mut procs, &tree, &service);
    wait_until("pid recorded", LONG, || std::fs::read_to_string(&seen).is_ok_and(|s| s.ends_with('\n')));
    assert_eq!(std::fs::read_to_string(&seen).unwrap().trim(), "1");
    // run may write its pid before the supervisor has written the status that names it.
    let outside = wait_status(&service, "up with a pid", |s| s.pid != 0).pid;
    assert!(outside > 1, "the status holds the pid as seen from outside");
    assert_eq!(svc(&service, &["-wd", "-T", "5000", "-d"]), 0);
    assert_eq!(status(&service).unwrap().wstat, 0);
}

#[test]
fn services_get_back_the_signals_their_supervisor_was_started_ignoring() {
    // Under nohup the supervisor starts with SIGHUP ignored; a shell started with a signal
    // ignored cannot trap it, so a HUP down-signal would never stop the service.
    use std::os::unix::process::CommandExt;
    let tree = TempTree::new("ignored-signals");
    let trapped = tree.join("trapped");
    let service = tree.service(
        "svc",
        &format!("#!/bin/sh\ntrap 'exit 7' HUP\ntouch {}\nwhile :; do sleep 0.05; done", trapped.display()),
    );
    tree.file("svc/down-signal", "SIGHUP\n");
    let err = std::fs::File::create(tree.join("err")).unwrap();
    let mut command = Command::new(ostler());
    command.arg("supervise").arg(&service).stderr(err);
    // SAFETY: signal(2) only, between fork and exec.
    unsafe {
        command.pre_exec(|| {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut procs = Processes::new();
    procs.spawn(command);
    wait_until("up", LONG, || is_up(&service));
    wait_file(&trapped);
    assert_eq!(svc(&service, &["-wd", "-T", "5000", "-d"]), 0, "the HUP did not stop the service");
    assert_eq!(status(&service).unwrap().wstat, 7 << 8);
}

#[test]
fn a_command_that_changes_nothing_leaves_the_status_file_as_it_is() {
    let tree = TempTree::new("no-op-status");
    let (trapped, alarmed) = (tree.join("trapped"), tree.join("alarmed"));
    let script = format!(
        "#!/bin/sh\ntrap 'touch {}' ALRM\ntouch {}\nwhile :; do sleep 0.05; done",
        alarmed.display(),
        trapped.display()
    );
    let service = tree.service("svc", &script);
    let mut procs = Processes::new();
    supervise(&mut procs, &tree, &service);
    wait_until("up", LONG, || is_up(&service));
    wait_file(&trapped);
    let file = service.join("supervise/status");
    let inode = || std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&file).unwrap());
    let before = inode();
    // `u` to a service that is up changes nothing; the `a` after it shows it was handled.
    assert_eq!(svc(&service, &["-u", "-a"]), 0);
    wait_file(&alarmed);
    assert_eq!(inode(), before, "a `u` to a service already up wrote supervise/status again");
    // A change is written (a new file renamed over the old one).
    assert_eq!(svc(&service, &["-d"]), 0);
    wait_status(&service, "down", |s| !s.is_up());
    assert_ne!(inode(), before, "the down status was not written");
}
