//! s6's own clients (Debian's s6 2.11: s6-svstat, s6-svc, s6-svwait, s6-svscanctl, s6-svok)
//! driving ostler's supervisor and scanner: every scenario is played once against s6's
//! daemons and once against ostler's, and what s6's tools print must be the same.

mod util;

use std::path::Path;
use std::process::Command;
use std::time::Duration;
use util::*;

const LONG: Duration = Duration::from_secs(10);

/// Which daemon plays the supervisor.
#[derive(Clone, Copy, Debug)]
enum Daemon {
    S6,
    Ostler,
}

fn start_supervisor(procs: &mut Processes, daemon: Daemon, service: &Path, err: &Path) -> u32 {
    let err = std::fs::File::create(err).unwrap();
    match daemon {
        Daemon::S6 => procs.spawn({
            let mut c = Command::new(require("s6-supervise"));
            c.arg(service).stderr(err);
            // s6-supervise passes on what it was started ignoring (a suite run as a background
            // job ignores SIGINT and SIGQUIT; ostler resets them): both start from defaults.
            // SAFETY: signal(2) only, between fork and exec.
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut c, || {
                    for signal in [libc::SIGINT, libc::SIGQUIT, libc::SIGHUP] {
                        libc::signal(signal, libc::SIG_DFL);
                    }
                    Ok(())
                });
            }
            c
        }),
        Daemon::Ostler => procs.spawn({
            let mut c = Command::new(ostler());
            c.arg("supervise").arg(service).stderr(err);
            c
        }),
    }
}

/// s6-svstat's line, with every number masked (pids and seconds differ between runs).
fn svstat(service: &Path, args: &[&str]) -> String {
    let (code, out, err) = cmd(Command::new(require("s6-svstat")).args(args).arg(service));
    let mut masked = String::new();
    for c in format!("{code} {out}{err}").chars() {
        if !c.is_ascii_digit() {
            masked.push(c);
        } else if !masked.ends_with('N') {
            masked.push('N');
        }
    }
    masked
}

fn svc(service: &Path, args: &[&str]) -> i32 {
    cmd(Command::new(require("s6-svc")).args(args).arg(service)).0
}

/// The whole life of a notifying service, observed through s6's tools.
fn notifying_service_story(daemon: Daemon) -> Vec<String> {
    let tree = TempTree::new("story");
    let service = tree.service("svc", "#!/bin/sh\necho >&3\nexec sleep 1000");
    tree.file("svc/notification-fd", "3\n");
    tree.file("svc/down", "");
    let mut procs = Processes::new();
    let supervisor = start_supervisor(&mut procs, daemon, &service, &tree.join("err"));
    wait_until("supervisor ready", LONG, || listening(&service));
    let mut story = vec![svstat(&service, &[])];
    story.push(format!("wU {}", svc(&service, &["-wU", "-T", "5000", "-u"])));
    story.push(svstat(&service, &[]));
    let first = status_pid(&service);
    story.push(svstat(&service, &["-o", "up,wantedup,normallyup,ready,paused,exitcode,signal,signum"]));
    svc(&service, &["-p"]);
    wait_until("paused", LONG, || status_flags(&service) & 1 == 1);
    story.push(svstat(&service, &[]));
    svc(&service, &["-c"]);
    wait_until("continued", LONG, || status_flags(&service) & 1 == 0);
    story.push(format!("wD {}", svc(&service, &["-wD", "-T", "5000", "-d"])));
    story.push(svstat(&service, &[]));
    story.push(svstat(&service, &["-o", "up,wantedup,normallyup,ready,paused,exitcode,signal,signum"]));
    // Up once, then SIGKILL: it stays down, since `o` does not want it up.
    svc(&service, &["-o"]);
    let second = wait_up(&service, first, LONG);
    // Ready before the kill, under either supervisor: whether it had notified changes what
    // svstat says of the death, and how fast each supervisor starts it must not.
    wait_until("ready", LONG, || status_flags(&service) & 8 == 8);
    story.push(svstat(&service, &[]));
    svc(&service, &["-k"]);
    // Down and ready: s6-supervise writes the death twice (down, then down and ready once it
    // found no finish), ostler once; a look between s6's two writes (a loaded machine: seen in
    // CI) would compare a moment, not the state.
    wait_until("killed", LONG, || !is_up(&service) && status_flags(&service) & 8 == 8);
    story.push(svstat(&service, &[]));
    // Wanted up: a kill restarts it.
    story.push(format!("wu {}", svc(&service, &["-wu", "-T", "5000", "-u"])));
    let third = wait_up(&service, second, LONG);
    wait_until("ready again", LONG, || status_flags(&service) & 8 == 8);
    story.push(svstat(&service, &[]));
    // s6-svwait on a service already up, and a timeout.
    story.push(format!(
        "svwait-u {}",
        cmd(Command::new(require("s6-svwait")).args(["-u", "-t", "3000"]).arg(&service)).0
    ));
    story.push(format!(
        "svwait-d-timeout {}",
        cmd(Command::new(require("s6-svwait")).args(["-d", "-t", "200"]).arg(&service)).0
    ));
    // Exit: the supervisor takes the service down and goes.
    svc(&service, &["-dx"]);
    let status = procs.wait_exit(supervisor, LONG);
    story.push(format!("supervisor exit {:?}", status.code()));
    story.push(svstat(&service, &[]));
    assert!(!alive(third as i32), "the service outlived its supervisor's exit");
    story
}

#[test]
fn s6_tools_see_ostler_supervise_as_they_see_s6_supervise() {
    let s6 = notifying_service_story(Daemon::S6);
    let ours = notifying_service_story(Daemon::Ostler);
    assert_eq!(ours, s6);
}

/// A service that exits 3 at once, with a slow finish: the finishing and crash-loop states.
fn crashing_service_story(daemon: Daemon) -> Vec<String> {
    let tree = TempTree::new("crash");
    let service = tree.service("svc", "#!/bin/sh\nexit 3");
    tree.script("svc/finish", "#!/bin/sh\necho \"$@\" >> ../finish-args\nexec sleep 0.4");
    let mut procs = Processes::new();
    start_supervisor(&mut procs, daemon, &service, &tree.join("err"));
    wait_until("finishing", LONG, || status_flags(&service) & 2 == 2);
    let mut story = vec![svstat(&service, &[])];
    wait_until("finish done", LONG, || status_flags(&service) & 2 == 0);
    story.push(svstat(&service, &[]));
    story.push(svstat(&service, &["-o", "up,wantedup,ready,exitcode,signal,signum"]));
    // The tally records each death as (tain, exit code, signal): 14 bytes each.
    wait_until("two deaths", LONG, || {
        std::fs::metadata(service.join("supervise/death_tally")).map(|m| m.len()).unwrap_or(0) >= 28
    });
    let tally = std::fs::read(service.join("supervise/death_tally")).unwrap();
    story.push(format!("tally record {:?}", &tally[12..14]));
    svc(&service, &["-dx"]);
    let args = std::fs::read_to_string(tree.join("finish-args")).unwrap();
    // s6 2.11 passes three arguments; ostler adds the dead run's pgid as s6 ≥ 2.13 does.
    let root = tree.path().display().to_string();
    let first_three: Vec<&str> = args.lines().next().unwrap().split(' ').take(3).collect();
    story.push(format!("finish args {}", first_three.join(" ").replace(&root, "ROOT")));
    story
}

#[test]
fn finish_and_crash_states_match_s6() {
    let s6 = crashing_service_story(Daemon::S6);
    let ours = crashing_service_story(Daemon::Ostler);
    assert_eq!(ours, s6);
}

#[test]
fn s6_svc_on_an_unsupervised_directory_fails_the_same_way() {
    let tree = TempTree::new("unsupervised");
    let service = tree.service("svc", "#!/bin/sh\nexec sleep 1000");
    let s6 = svstat(&service, &[]);
    assert!(s6.starts_with("N "), "{s6}");
    // Now under ostler, then stopped: the same answer once it is gone.
    let mut procs = Processes::new();
    let pid = start_supervisor(&mut procs, Daemon::Ostler, &service, &tree.join("err"));
    wait_until("up", LONG, || is_up(&service));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    procs.wait_exit(pid, LONG);
    assert_eq!(svstat(&service, &[]), s6);
    assert_eq!(svc(&service, &["-u"]), 100);
}

#[test]
fn a_second_supervisor_on_the_same_directory_exits_100() {
    let tree = TempTree::new("second");
    let service = tree.service("svc", "#!/bin/sh\nexec sleep 1000");
    let mut procs = Processes::new();
    start_supervisor(&mut procs, Daemon::Ostler, &service, &tree.join("err"));
    wait_until("up", LONG, || is_up(&service));
    let (code, _, err) = cmd(Command::new(ostler()).arg("supervise").arg(&service));
    assert_eq!(code, 100, "{err}");
    assert!(err.contains("another supervisor") && err.contains("svc"), "{err}");
    let (code, _, _) = cmd(Command::new(require("s6-supervise")).arg(&service));
    assert_eq!(code, 100, "s6-supervise must see ostler's lock");
}

#[test]
fn events_reach_s6_listeners_in_s6_order() {
    // s6-svwait subscribes to event/ itself; s6-svc -wD / -wu depend on the same bytes. Here
    // we also read a raw subscription to check the exact bytes of a SIGKILL of a ready service.
    let tree = TempTree::new("events");
    let service = tree.service("svc", "#!/bin/sh\necho >&3\nexec sleep 1000");
    tree.file("svc/notification-fd", "3");
    let mut procs = Processes::new();
    start_supervisor(&mut procs, Daemon::Ostler, &service, &tree.join("err"));
    wait_until("ready", LONG, || is_up(&service) && status_flags(&service) & 8 == 8);
    let events = ostler_core::fifodir::Subscription::new(&service.join("event")).unwrap();
    // Ready for more than a second: the restart is immediate and the bytes are d, D, u, U.
    std::thread::sleep(Duration::from_millis(1100));
    // The `U` of the first start may still be in flight when we subscribed: drop it.
    events.read().unwrap();
    let first = status_pid(&service);
    svc(&service, &["-k"]);
    let mut got = Vec::new();
    wait_until("events dDuU", LONG, || {
        got.extend(events.read().unwrap());
        got.len() >= 4
    });
    assert_eq!(String::from_utf8_lossy(&got), "dDuU", "s6 ≥ 2.12 writes dD in one go; 2.11 in two: the same bytes");
    assert_ne!(wait_up(&service, first, LONG), first);
}

#[test]
fn s6_svscan_runs_ostler_as_its_supervisor() {
    // Debian's s6-svscan execs /usr/bin/s6-supervise by its full path, so "ostler first in
    // PATH" is not enough: in a private mount namespace, ostler is bind-mounted over
    // /usr/bin/s6-supervise (ostler is multi-call: argv[0] `s6-supervise` = `ostler supervise`).
    // Needs root, as CI is.
    assert!(nix::unistd::geteuid().is_root(), "this test needs root (mount namespace and bind mount); CI runs as root");
    let tree = TempTree::new("mixed-a");
    let scan = tree.dir("scan");
    let a = tree.service("scan/a", "#!/bin/sh\nexec sleep 1000");
    let logged = tree.service("scan/b", "#!/bin/sh\necho hello-from-b\nexec sleep 1000");
    tree.script("scan/b/log/run", &format!("#!/bin/sh\nexec cat > {}", tree.join("b.out").display()));
    let mut procs = Processes::new();
    let err = std::fs::File::create(tree.join("err")).unwrap();
    let mut command = Command::new(require("unshare"));
    command
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            "mount --bind \"$1\" /usr/bin/s6-supervise && exec s6-svscan \"$2\"",
            "sh",
        ])
        .arg(ostler())
        .arg(&scan)
        .stderr(err);
    let scanner = procs.spawn(command);
    wait_until("services up", LONG, || is_up(&a) && is_up(&logged) && is_up(&logged.join("log")));
    wait_until("log line", LONG, || {
        std::fs::read_to_string(tree.join("b.out")).is_ok_and(|s| s.contains("hello-from-b"))
    });
    // The supervisor processes are ostler: the same inode as the binary under test.
    let supervisors = pids_named_children(scanner);
    assert_eq!(supervisors.len(), 3, "{supervisors:?}");
    let ours = std::fs::metadata(ostler()).map(|m| std::os::unix::fs::MetadataExt::ino(&m)).unwrap();
    for (pid, _) in &supervisors {
        let exe =
            std::fs::metadata(format!("/proc/{pid}/exe")).map(|m| std::os::unix::fs::MetadataExt::ino(&m)).unwrap();
        assert_eq!(exe, ours, "supervisor {pid} is not ostler");
    }
    // s6's clients on ostler's supervisors under s6's scanner.
    let first = status_pid(&a);
    assert_eq!(svc(&a, &["-k"]), 0);
    wait_up(&a, first, LONG);
    cmd(Command::new(require("s6-svscanctl")).arg("-t").arg(&scan));
    assert_eq!(procs.wait_exit(scanner, LONG).code(), Some(0));
    assert!(!supervised(&a) && !supervised(&logged.join("log")));
}

#[test]
fn ostler_svscan_runs_s6_supervise() {
    let tree = TempTree::new("mixed-b");
    let scan = tree.dir("scan");
    let a = tree.service("scan/a", "#!/bin/sh\nexec sleep 1000");
    let logged = tree.service("scan/b", "#!/bin/sh\necho hello-from-b\nexec sleep 1000");
    tree.script("scan/b/log/run", &format!("#!/bin/sh\nexec cat > {}", tree.join("b.out").display()));
    let mut procs = Processes::new();
    let scanner = start_scanner(&mut procs, &scan, &["--supervisor", "s6-supervise"], &tree.join("err"));
    wait_until("services up", LONG, || is_up(&a) && is_up(&logged) && is_up(&logged.join("log")));
    wait_until("log line", LONG, || {
        std::fs::read_to_string(tree.join("b.out")).is_ok_and(|s| s.contains("hello-from-b"))
    });
    let supervisor_pids = pids_named_children(scanner);
    assert_eq!(supervisor_pids.len(), 3, "{supervisor_pids:?}");
    assert!(supervisor_pids.iter().all(|(_, exe)| exe.ends_with("s6-supervise")), "{supervisor_pids:?}");
    // s6's clients drive the scanner too.
    assert_eq!(cmd(Command::new(require("s6-svscanctl")).arg("-t").arg(&scan)).0, 0);
    assert_eq!(procs.wait_exit(scanner, LONG).code(), Some(0));
    assert!(!supervised(&a) && !supervised(&logged));
}

/// (pid, executable) of each child of `parent`.
fn pids_named_children(parent: u32) -> Vec<(i32, String)> {
    children_of(parent)
        .into_iter()
        .map(|(pid, _)| {
            let exe =
                std::fs::read_link(format!("/proc/{pid}/exe")).map(|p| p.display().to_string()).unwrap_or_default();
            (pid, exe)
        })
        .collect()
}

/// Which signals reach the service for each of s6-svc's signal letters.
fn signal_letters_story(daemon: Daemon) -> String {
    let tree = TempTree::new("letters");
    let got = tree.join("got");
    let mut script = String::from("#!/bin/sh\n");
    for name in ["TERM", "INT", "HUP", "QUIT", "ALRM", "USR1", "USR2", "WINCH"] {
        script.push_str(&format!("trap 'echo {name} >> {}' {name}\n", got.display()));
    }
    let trapped = tree.join("trapped");
    script.push_str(&format!("touch {}\nwhile :; do sleep 0.02; done", trapped.display()));
    let service = tree.service("svc", &script);
    let mut procs = Processes::new();
    start_supervisor(&mut procs, daemon, &service, &tree.join("err"));
    wait_until("up", LONG, || is_up(&service));
    let pid = status_pid(&service);
    wait_file(&trapped); // the shell has installed its traps
    for (letter, count) in [("-t", 1), ("-i", 2), ("-h", 3), ("-q", 4), ("-a", 5), ("-1", 6), ("-2", 7), ("-y", 8)] {
        assert_eq!(svc(&service, &[letter]), 0);
        wait_until(&format!("{letter} delivered"), LONG, || {
            std::fs::read_to_string(&got).map_or(0, |s| s.lines().count()) >= count
        });
    }
    assert_eq!(status_pid(&service), pid, "a signal letter restarted the service");
    svc(&service, &["-k"]);
    std::fs::read_to_string(&got).unwrap()
}

#[test]
fn signal_letters_deliver_the_same_signals_as_under_s6() {
    let s6 = signal_letters_story(Daemon::S6);
    assert_eq!(s6, "TERM\nINT\nHUP\nQUIT\nALRM\nUSR1\nUSR2\nWINCH\n");
    assert_eq!(signal_letters_story(Daemon::Ostler), s6);
}
