//! The scanner's own behaviour (s6-compat.md §5): its control letters and signals, the
//! `.s6-svscan/` diversions, finish, periodic rescans, the service limit, and a supervisor's
//! exit and return. s6's clients drive it where they can.

mod util;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use util::*;

const LONG: Duration = Duration::from_secs(10);

fn signal(pid: u32, signal: Signal) {
    kill(Pid::from_raw(pid as i32), signal).unwrap();
}

fn s6_svscanctl(scan: &Path, letters: &str) -> i32 {
    cmd(Command::new(require("s6-svscanctl")).arg(format!("-{letters}")).arg(scan)).0
}

#[test]
fn diversions_replace_the_built_in_action_and_finish_runs_at_the_end() {
    let tree = TempTree::new("diversions");
    let scan = tree.dir("scan");
    let a = tree.service("scan/a", "#!/bin/sh\nexec sleep 1000");
    let marks = tree.join("marks");
    for name in ["SIGUSR1", "SIGTERM", "finish"] {
        tree.script(format!("scan/.s6-svscan/{name}"), &format!("#!/bin/sh\necho {name} >> {}", marks.display()));
    }
    let mut procs = Processes::new();
    let scanner = start_scanner(&mut procs, &scan, &[], &tree.join("err"));
    wait_until("a up", LONG, || is_up(&a));
    signal(scanner, Signal::SIGUSR1);
    wait_until("SIGUSR1 diversion", LONG, || std::fs::read_to_string(&marks).is_ok_and(|m| m.contains("SIGUSR1")));
    // SIGTERM is diverted too: the scanner keeps going.
    signal(scanner, Signal::SIGTERM);
    wait_until("SIGTERM diversion", LONG, || std::fs::read_to_string(&marks).is_ok_and(|m| m.contains("SIGTERM")));
    assert!(procs.running(scanner) && is_up(&a));
    // The control letter is not diverted: it terminates, then finish runs in place of the scanner.
    assert_eq!(s6_svscanctl(&scan, "t"), 0);
    assert_eq!(procs.wait_exit(scanner, LONG).code(), Some(0));
    assert!(std::fs::read_to_string(&marks).unwrap().contains("finish"));
    assert!(!supervised(&a));
}

#[test]
fn term_int_and_quit_stop_everything_and_terminate_lets_loggers_drain() {
    for (how, sig) in [("term", Signal::SIGTERM), ("quit", Signal::SIGQUIT), ("int", Signal::SIGINT)] {
        let tree = TempTree::new(how);
        let scan = tree.dir("scan");
        let out = tree.join("out");
        let a =
            tree.service("scan/a", "#!/bin/sh\ntrap 'echo bye; exit 0' TERM\necho hello\nwhile :; do sleep 0.05; done");
        let log = tree.service("scan/a/log", &format!("#!/bin/sh\nexec cat >> {}", out.display()));
        let mut procs = Processes::new();
        let scanner = start_scanner(&mut procs, &scan, &[], &tree.join("err"));
        wait_until("pair up", LONG, || is_up(&a) && is_up(&log));
        // "up" means forked: wait for the service's first words so that its trap is set.
        wait_until("hello logged", LONG, || std::fs::read_to_string(&out).is_ok_and(|t| t.contains("hello")));
        let logger = status_pid(&log);
        signal(scanner, sig);
        assert_eq!(procs.wait_exit(scanner, LONG).code(), Some(0), "{how}");
        // The logger saw EOF only after the service's last words.
        assert!(!alive(logger as i32), "{how}: logger left running");
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(text.contains("hello"), "{how}: {text:?}");
        // Terminate lets loggers drain (they get HUP: exit at EOF); quit stops them at once, as
        // s6-svscan's SIGTERM to every supervisor does, so the last words may be lost there.
        if sig != Signal::SIGQUIT {
            assert!(text.contains("bye"), "{how}: {text:?}");
        }
    }
}

#[test]
fn hangup_rescans_and_prunes() {
    let tree = TempTree::new("hup");
    let scan = tree.dir("scan");
    let a = tree.service("scan/a", "#!/bin/sh\nexec sleep 1000");
    let mut procs = Processes::new();
    let scanner = start_scanner(&mut procs, &scan, &[], &tree.join("err"));
    wait_until("a up", LONG, || is_up(&a));
    let b = tree.service("scan/b", "#!/bin/sh\nexec sleep 1000");
    let moved = tree.join("moved-a");
    std::fs::rename(&a, &moved).unwrap();
    signal(scanner, Signal::SIGHUP);
    wait_until("b up", LONG, || is_up(&b));
    wait_until("a stopped", LONG, || !supervised(&moved));
    // SIGALRM only rescans.
    let c = tree.service("scan/c", "#!/bin/sh\nexec sleep 1000");
    signal(scanner, Signal::SIGALRM);
    wait_until("c up", LONG, || is_up(&c));
}

#[test]
fn once_a_pruned_service_is_forgotten_the_others_are_still_told_apart() {
    // The scanner keys each side's timers, control FIFO and readiness pipe by its entry; a
    // pruned entry that goes shifts those after it. Each of these then must reach its own.
    let tree = TempTree::new("forgotten");
    let scan = tree.dir("scan");
    let a = tree.service("scan/a", "#!/bin/sh\nexec sleep 1000");
    tree.service("scan/a/log", "#!/bin/sh\nexec cat > /dev/null");
    let b = tree.service("scan/b", "#!/bin/sh\nexec sleep 1000");
    let c = tree.service("scan/c", "#!/bin/sh\nexec sleep 1000");
    let go = tree.join("go");
    let d = tree.service(
        "scan/d",
        &format!("#!/bin/sh\nwhile [ ! -e {} ]; do sleep 0.05; done\necho >&3\nexec sleep 1000", go.display()),
    );
    tree.file("scan/d/notification-fd", "3\n");
    let mut procs = Processes::new();
    let scanner = start_scanner(&mut procs, &scan, &[], &tree.join("err"));
    for service in [&a, &b, &c, &d] {
        wait_until("all up", LONG, || is_up(service));
    }
    let moved = tree.join("moved-a");
    std::fs::rename(&a, &moved).unwrap();
    signal(scanner, Signal::SIGHUP);
    wait_until("a and its logger stopped", LONG, || !supervised(&moved) && !supervised(&moved.join("log")));
    // A control letter reaches c alone.
    assert_eq!(cmd(Command::new(require("s6-svc")).arg("-d").arg(&c)).0, 0);
    wait_until("c down", LONG, || !is_up(&c));
    assert!(is_up(&b), "b went down with c");
    // b's run, killed, comes back (a restart its supervisor times).
    let pid = status_pid(&b);
    signal(pid as u32, Signal::SIGKILL);
    wait_until("b back", LONG, || is_up(&b) && status_pid(&b) != pid);
    // d's readiness pipe is still d's.
    std::fs::write(&go, "").unwrap();
    wait_until("d ready", LONG, || status(&d).is_some_and(|s| s.ready));
    assert!(!is_up(&c), "c came back up");
}

#[test]
fn no_rescan_unless_told_but_t_rescans_periodically() {
    let tree = TempTree::new("periodic");
    let scan = tree.dir("scan");
    let mut procs = Processes::new();
    start_scanner(&mut procs, &scan, &[], &tree.join("err"));
    wait_scanner(&scan);
    let quiet = tree.service("scan/quiet", "#!/bin/sh\nexec sleep 1000");
    std::thread::sleep(Duration::from_millis(600));
    assert!(status(&quiet).is_none(), "the scanner rescanned without being told");
    // Another scanner with -t 200.
    let scan2 = tree.dir("scan2");
    start_scanner(&mut procs, &scan2, &["-t", "200"], &tree.join("err2"));
    wait_scanner(&scan2);
    let found = tree.service("scan2/found", "#!/bin/sh\nexec sleep 1000");
    let start = Instant::now();
    wait_until("periodic rescan", LONG, || is_up(&found));
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn the_service_limit_is_kept_and_reported() {
    let tree = TempTree::new("limit");
    let scan = tree.dir("scan");
    for name in ["a", "b", "c"] {
        tree.service(&format!("scan/{name}"), "#!/bin/sh\nexec sleep 1000");
    }
    let mut procs = Processes::new();
    let err = tree.join("err");
    start_scanner(&mut procs, &scan, &["-c", "2"], &err);
    wait_until("two up", LONG, || is_up(&scan.join("a")) && is_up(&scan.join("b")));
    wait_until("warning", LONG, || {
        std::fs::read_to_string(&err).is_ok_and(|e| e.contains("not supervising c") && e.contains("-c"))
    });
    assert!(status(&scan.join("c")).is_none());
    // The limit counts the services found at a scan: one moved out leaves room for c.
    std::fs::rename(scan.join("a"), tree.join("a-away")).unwrap();
    assert_eq!(s6_svscanctl(&scan, "a"), 0);
    wait_until("c up in a's place", LONG, || is_up(&scan.join("c")));
    assert!(is_up(&scan.join("b")));
}

#[test]
fn a_supervisor_told_to_exit_comes_back() {
    // s6: `s6-svc -x` on a down service → event `x`, then `s` when the scanner restarts it.
    let tree = TempTree::new("exit-return");
    let scan = tree.dir("scan");
    let a = tree.service("scan/a", "#!/bin/sh\nexec sleep 1000");
    tree.file("scan/a/down", "");
    // Subscribe before the first supervisor exists, as s6-svwait may: the lock is taken before
    // the first `s` goes out, so a subscription made once `supervised` holds could catch that
    // `s` or miss it. From here the bytes are exact: start, exit, start again.
    ostler_core::fifodir::create(&a.join("event")).unwrap();
    let events = ostler_core::fifodir::Subscription::new(&a.join("event")).unwrap();
    let mut procs = Processes::new();
    start_scanner(&mut procs, &scan, &[], &tree.join("err"));
    let mut got = Vec::new();
    wait_until("the first s", LONG, || {
        got.extend(events.read().unwrap());
        !got.is_empty()
    });
    assert!(supervised(&a));
    assert_eq!(cmd(Command::new(require("s6-svc")).arg("-x").arg(&a)).0, 0);
    wait_until("x then s", LONG, || {
        got.extend(events.read().unwrap());
        got.len() >= 3
    });
    assert_eq!(got, b"sxs");
    assert!(supervised(&a));
}

#[test]
fn a_second_scanner_on_the_same_directory_exits_100() {
    let tree = TempTree::new("second-scanner");
    let scan = tree.dir("scan");
    let mut procs = Processes::new();
    start_scanner(&mut procs, &scan, &[], &tree.join("err"));
    wait_scanner(&scan);
    wait_until("locked", LONG, || ostler_core::lock::path_is_locked(&scan.join(".s6-svscan/lock")).unwrap_or(false));
    let (code, _, err) = cmd(Command::new(ostler()).arg("svscan").arg(&scan));
    assert_eq!(code, 100, "{err}");
    let (code, _, _) = cmd(Command::new(require("s6-svscan")).arg(&scan));
    assert_eq!(code, 100, "s6-svscan must see ostler's lock");
}

#[test]
fn a_service_whose_link_left_is_stopped_and_its_status_says_so() {
    // As with s6-supervise, which lives inside its directory: the link goes, the prune stops
    // the service, and supervise/status in the real directory records it.
    let tree = TempTree::new("unlinked");
    let scan = tree.dir("scan");
    let real = tree.service("live/a", "#!/bin/sh\nexec sleep 1000");
    std::os::unix::fs::symlink(&real, scan.join("a")).unwrap();
    let mut procs = Processes::new();
    start_scanner(&mut procs, &scan, &[], &tree.join("err"));
    wait_until("a up", LONG, || is_up(&real));
    let pid = status_pid(&real);
    std::fs::remove_file(scan.join("a")).unwrap();
    assert_eq!(s6_svscanctl(&scan, "an"), 0);
    wait_until("the process gone", LONG, || !alive(pid as i32));
    wait_until("the status written", LONG, || !is_up(&real));
    let err = std::fs::read_to_string(tree.join("err")).unwrap_or_default();
    assert!(!err.contains("unable to open"), "{err}");
}

#[test]
fn named_pipes_join_services_and_a_bad_line_is_reported() {
    // Two producers and a consumer joined by the pipe `sink` the scanner holds (ostler-pipes,
    // what the service manager writes for a funnel), without the service manager.
    let tree = TempTree::new("named-pipes");
    let scan = tree.dir("scan");
    let out = tree.join("out");
    for name in ["p1", "p2"] {
        tree.service(&format!("scan/{name}"), &format!("#!/bin/sh\necho from-{name}\nexec sleep 1000"));
        tree.file(format!("scan/{name}/ostler-pipes"), "stdout sink\n");
    }
    let sink = tree.service("scan/sink", &format!("#!/bin/sh\nexec cat >> {}", out.display()));
    tree.file("scan/sink/ostler-pipes", "# the funnel's end\nstdin sink\nstderr sink\n");
    let mut procs = Processes::new();
    let err = tree.join("err");
    start_scanner(&mut procs, &scan, &[], &err);
    let lines = || std::fs::read_to_string(&out).unwrap_or_default();
    wait_until("both producers in the sink", LONG, || lines().contains("from-p1") && lines().contains("from-p2"));
    let warning = std::fs::read_to_string(&err).unwrap_or_default();
    assert!(
        warning.contains("sink/ostler-pipes: line 3: `stderr sink`: write `stdin NAME` or `stdout NAME`"),
        "{warning}"
    );
    // The pipe outlives its reader: the next line of p1 reaches a new sink.
    let first = status_pid(&sink);
    signal(first as u32, Signal::SIGKILL);
    wait_until("sink back", LONG, || is_up(&sink) && status_pid(&sink) != first);
    signal(status_pid(&scan.join("p1")) as u32, Signal::SIGKILL);
    wait_until("p1's second line", LONG, || lines().matches("from-p1").count() == 2);
    assert_eq!(lines().matches("from-p2").count(), 1);
}

#[test]
fn a_fifo_under_a_settings_name_never_blocks_the_scanner() {
    // The supervisors run inside the scanner (PID 1 at boot): opening a FIFO for reading
    // would wait for a writer forever. It is reported and the default used instead.
    let tree = TempTree::new("fifo-settings");
    let scan = tree.dir("scan");
    let odd = tree.service("scan/odd", "#!/bin/sh\nexec sleep 1000");
    for name in ["timeout-kill", "ostler-pipes", "supervise/death_tally", "supervise/status.new"] {
        std::fs::create_dir_all(odd.join("supervise")).unwrap();
        nix::unistd::mkfifo(&odd.join(name), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    }
    let other = tree.service("scan/other", "#!/bin/sh\nexec sleep 1000");
    let mut procs = Processes::new();
    let err = tree.join("err");
    start_scanner(&mut procs, &scan, &[], &err);
    wait_until("both up", LONG, || is_up(&odd) && is_up(&other));
    let said = std::fs::read_to_string(&err).unwrap_or_default();
    for name in ["timeout-kill", "ostler-pipes"] {
        assert!(said.contains(&format!("{name}: is not a regular file")), "{name}: {said}");
    }
}
