//! `notify-socket` (issue 12, "Readiness of real daemons"): run gets `NOTIFY_SOCKET` and says
//! it is ready the way systemd's Type=notify daemons do. Under `ostler supervise` and the
//! in-process scanner: `U` only after `READY=1`, `STATUS=` shown by svstat, strangers'
//! datagrams dropped, a new socket per start, nothing without the file; and under the
//! service manager, `rc change -u` and `ostler ready` wait for `READY=1`.

mod util;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use util::*;

const LONG: Duration = Duration::from_secs(10);

/// A daemon in the sd_notify style: writes the NOTIFY_SOCKET it got into `notify-env` (in
/// its directory), says `STATUS=starting`, waits for the test's `go` file, then says
/// `READY=1` and `STATUS=serving` in one datagram.
fn daemon(go: &Path) -> String {
    format!(
        "#!/usr/bin/env python3\n\
         import os, socket, time\n\
         path = os.environ['NOTIFY_SOCKET']\n\
         open('notify-env.new', 'w').write(path)\n\
         os.rename('notify-env.new', 'notify-env')\n\
         s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
         s.sendto(b'STATUS=starting', path)\n\
         while not os.path.exists('{}'):\n    time.sleep(0.02)\n\
         s.sendto(b'READY=1\\nSTATUS=serving', path)\n\
         time.sleep(1000)\n",
        go.display()
    )
}

fn supervise(procs: &mut Processes, tree: &TempTree, service: &Path) -> PathBuf {
    let err = tree.join("err");
    let mut command = Command::new(ostler());
    command.arg("supervise").arg(service).stderr(std::fs::File::create(&err).unwrap()).env_remove("NOTIFY_SOCKET");
    procs.spawn(command);
    err
}

fn svstat(service: &Path, args: &[&str]) -> String {
    let (code, out, err) = cmd(Command::new(ostler()).arg("svstat").args(args).arg(service));
    assert_eq!(code, 0, "{err}");
    out.trim_end().to_string()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Reads events into `got` until it holds `count` of `byte`.
fn events_until(events: &ostler_core::fifodir::Subscription, got: &mut Vec<u8>, byte: u8, count: usize) {
    wait_until(&format!("event {:?} #{count}", byte as char), LONG, || {
        got.extend(events.read().unwrap());
        got.iter().filter(|&&b| b == byte).count() >= count
    });
}

#[test]
fn ready_and_status_come_from_run_only_and_each_start_gets_a_new_socket() {
    let tree = TempTree::new("notify");
    let go = tree.join("go");
    let service = tree.service("svc", &daemon(&go));
    tree.file("svc/notify-socket", "");
    ostler_core::fifodir::create(&service.join("event")).unwrap();
    let events = ostler_core::fifodir::Subscription::new(&service.join("event")).unwrap();
    let mut procs = Processes::new();
    let err = supervise(&mut procs, &tree, &service);

    let socket = service.join("supervise/notify");
    wait_until("STATUS=starting", LONG, || read(&service.join("supervise/notify-status")) == "starting");
    // Absolute, and reachable by a daemon that dropped its privileges: see notify.rs.
    assert_eq!(read(&service.join("notify-env")), socket.to_str().unwrap());
    let meta = std::fs::metadata(&socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o666);
    assert_eq!(std::fs::metadata(service.join("supervise")).unwrap().permissions().mode() & 0o777, 0o711);
    assert!(!wait_status(&service, "up", |s| s.is_up()).ready, "ready before READY=1");
    let line = svstat(&service, &[]);
    assert!(line.starts_with("up (pid ") && line.ends_with(" seconds; status: starting"), "{line}");
    assert!(!line.contains("ready"), "{line}");

    // A stranger (this test) says READY=1: dropped, with one warning.
    let stranger = UnixDatagram::unbound().unwrap();
    stranger.send_to(b"READY=1\nSTATUS=hacked", &socket).unwrap();
    stranger.send_to(b"READY=1", &socket).unwrap();
    wait_until("the warning", LONG, || read(&err).contains("not run"));
    assert!(status(&service).is_some_and(|s| !s.ready), "a stranger's READY=1 was obeyed");
    assert_eq!(read(&service.join("supervise/notify-status")), "starting");

    std::fs::write(&go, "").unwrap();
    let mut got = Vec::new();
    events_until(&events, &mut got, b'U', 1);
    assert_eq!(got, b"suU");
    let line = svstat(&service, &[]);
    assert!(line.contains(", ready ") && line.ends_with(" seconds; status: serving"), "{line}");
    assert_eq!(svstat(&service, &["-o", "up,ready"]), "true true", "-o fields stay s6's");
    assert_eq!(read(&err).matches("warning").count(), 1, "{}", read(&err));

    // A restart: the old socket is gone (a client connected to it is refused), a new one is
    // made, and READY=1 on it makes the new run ready.
    let old = UnixDatagram::unbound().unwrap();
    old.connect(&socket).unwrap();
    let first = status_pid(&service);
    assert_eq!(cmd(Command::new(ostler()).args(["svc", "-k"]).arg(&service)).0, 0);
    events_until(&events, &mut got, b'd', 1);
    let second = wait_up(&service, first, LONG);
    events_until(&events, &mut got, b'U', 2);
    assert!(old.send(b"READY=1").is_err(), "the first run's socket is still open");
    assert!(status(&service).is_some_and(|s| s.ready && s.pid == second));
    assert!(svstat(&service, &[]).ends_with("; status: serving"));
}

#[test]
fn without_the_file_nothing_is_made_and_notification_fd_wins_over_it() {
    let tree = TempTree::new("notify-none");
    let plain = tree.service("plain", "#!/bin/sh\necho \"${NOTIFY_SOCKET-unset}\" > seen\nexec sleep 1000");
    let both = tree.service("both", "#!/bin/sh\necho \"${NOTIFY_SOCKET-unset}\" > seen\necho >&3\nexec sleep 1000");
    tree.file("both/notify-socket", "");
    tree.file("both/notification-fd", "3\n");
    let mut procs = Processes::new();
    supervise(&mut procs, &tree, &plain);
    let err = tree.join("err-both");
    let mut command = Command::new(ostler());
    command.arg("supervise").arg(&both).stderr(std::fs::File::create(&err).unwrap()).env_remove("NOTIFY_SOCKET");
    procs.spawn(command);
    for service in [&plain, &both] {
        wait_until("run's note", LONG, || read(&service.join("seen")) == "unset\n");
        wait_status(service, "up", |s| s.is_up());
        assert!(!service.join("supervise/notify").exists());
    }
    // notification-fd is used, and the clash said.
    wait_status(&both, "ready", |s| s.is_up() && s.ready);
    assert!(read(&err).contains("notify-socket") && read(&err).contains("notification-fd is used"), "{}", read(&err));
    assert!(!svstat(&plain, &[]).contains("status:"));
}

#[test]
fn in_the_scanner_a_descendant_of_run_may_notify_and_svc_waits_for_it() {
    let tree = TempTree::new("notify-scan");
    let scan = tree.dir("scan");
    let go = tree.join("go");
    // run is a shell that starts the daemon as its child: the sender is run's descendant.
    let service = tree.service("scan/svc", "#!/bin/sh\n./daemon.py\n");
    tree.script("scan/svc/daemon.py", &daemon(&go));
    tree.file("scan/svc/notify-socket", "");
    tree.file("scan/svc/down", "");
    let mut procs = Processes::new();
    let err = tree.join("err");
    let mut command = Command::new(ostler());
    command.arg("svscan").arg(&scan).stderr(std::fs::File::create(&err).unwrap()).env_remove("NOTIFY_SOCKET");
    procs.spawn(command);
    // The status is written once the control FIFO is open (the lock is taken before it).
    wait_until("supervised", LONG, || listening(&service));
    std::fs::write(&go, "").unwrap();
    let (code, _, stderr) = cmd(Command::new(ostler()).args(["svc", "-wU", "-T", "10000", "-u"]).arg(&service));
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("never reports readiness"), "svc -wU knows notify-socket: {stderr}");
    assert!(status(&service).is_some_and(|s| s.is_up() && s.ready));
    assert!(svstat(&service, &[]).ends_with("; status: serving"));
    assert!(!read(&err).contains("warning"), "{}", read(&err));
    // Down: the socket and the status text go with run.
    assert_eq!(cmd(Command::new(ostler()).args(["svc", "-wD", "-T", "10000", "-d"]).arg(&service)).0, 0);
    assert!(!service.join("supervise/notify").exists() && !service.join("supervise/notify-status").exists());
    assert!(!svstat(&service, &[]).contains("status:"));
}

fn rc_command(tree: &TempTree, args: &[&str]) -> Command {
    let mut command = Command::new(ostler());
    command
        .args(args)
        .env("OSTLER_DEFS", tree.join("sv"))
        .env("OSTLER_RUNDIR", tree.join("run"))
        .env("OSTLER_SCANDIR", tree.join("scan"))
        .env_remove("NOTIFY_SOCKET");
    command
}

#[test]
fn rc_change_and_ready_wait_for_ready_1() {
    let tree = TempTree::new("notify-rc");
    let go = tree.join("go");
    tree.file("sv/daemon/type", "longrun\n");
    tree.script("sv/daemon/run", &daemon(&go));
    tree.file("sv/daemon/notify-socket", "");
    // rc check: the file is known, and the clash with notification-fd is a warning.
    tree.file("sv/clash/type", "longrun\n");
    tree.script("sv/clash/run", "#!/bin/sh\nexec sleep 1000\n");
    tree.file("sv/clash/notify-socket", "");
    tree.file("sv/clash/notification-fd", "3\n");
    let (code, out, err) = cmd(&mut rc_command(&tree, &["rc", "check", tree.join("sv").to_str().unwrap()]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("clash/notify-socket: warning: notify-socket is ignored"), "{err}");
    assert!(!err.contains("daemon"), "{err}");

    tree.dir("run");
    let mut procs = Processes::new();
    start_scanner(&mut procs, &tree.dir("scan"), &[], &tree.join("scanner.err"));
    wait_scanner(&tree.join("scan"));
    let change = procs.spawn(rc_command(&tree, &["rc", "change", "-u", "daemon"]));
    let live = tree.join("run/sv/daemon");
    wait_until("STATUS=starting", LONG, || read(&live.join("supervise/notify-status")) == "starting");
    wait_status(&live, "up", |s| s.is_up());
    assert!(procs.running(change), "rc change returned before READY=1");
    let (code, _, err) = cmd(&mut rc_command(&tree, &["ready", "daemon"]));
    assert_eq!(code, 1);
    assert!(err.contains("daemon is running, not ready yet"), "{err}");
    std::fs::write(&go, "").unwrap();
    assert_eq!(procs.wait_exit(change, LONG).code(), Some(0));
    assert!(status(&live).is_some_and(|s| s.is_up() && s.ready));
    assert_eq!(cmd(&mut rc_command(&tree, &["ready", "daemon"])).0, 0);
}
