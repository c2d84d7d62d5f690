//! The orderly stop of a container, within one budget (the grace): CMD first (it already has
//! the stop signal), then the services in reverse dependency order, then the scanner, then
//! every process left TERM (and CONT), and what is still there at the end of the grace KILL.
//! Each step ends as soon as its processes are gone: no fixed sleep.

use super::{runtime::Runtime, Init};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::time::{Duration, Instant};

/// How long processes KILLed at the end of the grace get to be reaped.
const AFTER_KILL: Duration = Duration::from_secs(2);

pub(super) fn orderly(init: &mut Init<'_>, services: Option<(&Runtime, Pid)>) {
    init.stopping = true;
    if let Some(notifier) = &init.notifier {
        let _ = notifier.try_send("STOPPING=1\nSTATUS=stopping the services");
    }
    let deadline = Instant::now() + init.options.grace;
    // CMD first, unless s6-overlay's order puts it with the last (it then has no signal yet).
    while init.command.is_some() && !init.services_stop_first() && Instant::now() < deadline {
        init.wait_event(Some(deadline));
    }
    init.record_exit();
    // A stage 2 still bringing services up holds the service manager: it goes first.
    if let Some(stage2) = init.stage2 {
        let _ = kill(stage2, Signal::SIGTERM);
        while init.stage2.is_some() && Instant::now() < deadline {
            init.wait_event(Some(deadline));
        }
    }
    if let Some((area, scanner)) = services {
        let layout = ostler_shutdown::Layout {
            scan_dir: area.scan.clone(),
            run_dir: area.private.clone(),
            etc_dir: ostler_core::paths::from_env("OSTLER_ETCDIR", ostler_core::paths::ETC_DIR),
        };
        let killed =
            ostler_shutdown::daemon::services_down(&layout, deadline.saturating_duration_since(Instant::now()));
        if !killed.is_empty() {
            eprintln!("ostler: killed after the grace: {}", killed.join(" "));
        }
        end_leftovers(&area.scan, scanner);
        // Loggers drain, then the scanner exits.
        let _ = kill(scanner, Signal::SIGTERM);
        while process_exists(scanner) && Instant::now() < deadline {
            init.wait_event(Some(deadline));
        }
    }
    // The catch-all logger goes last: it writes down what the others say as they stop.
    let spare = init.logger.as_ref().and_then(|l| l.pid);
    // No child left means no descendant left (a descendant's parent is one, or us).
    if children_left(spare) {
        signal_all(Signal::SIGTERM, spare);
        signal_all(Signal::SIGCONT, spare);
        while children_left(spare) && Instant::now() < deadline {
            init.wait_event(Some(deadline));
        }
        if children_left(spare) {
            let left = descendants().into_iter().filter(|&p| Some(p) != spare).count();
            eprintln!("ostler: {left} process(es) still there at the end of the grace: killed");
            signal_all(Signal::SIGKILL, spare);
            let end = Instant::now() + AFTER_KILL;
            while children_left(spare) && Instant::now() < end {
                init.wait_event(Some(end));
            }
        }
    }
    drain_logger(init);
}

/// Lets the catch-all logger read to the end of the pipe and exit (KILLed if it does not).
fn drain_logger(init: &mut Init<'_>) {
    let Some(logger) = &init.logger else { return };
    logger.let_go();
    let end = Instant::now() + AFTER_KILL;
    while init.logger.as_ref().is_some_and(|l| l.pid.is_some()) && Instant::now() < end {
        init.wait_event(Some(end));
    }
    if let Some(pid) = init.logger.as_ref().and_then(|l| l.pid) {
        let _ = kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
    }
}

/// Whether `pid` is still our child (a zombie not yet reaped counts).
fn process_exists(pid: Pid) -> bool {
    kill(pid, None).is_ok()
}

/// Whether any child but `spare` is left; zombies are reaped on the way (CMD's status is
/// known by now; the logger's death is seen by the event loop).
fn children_left(spare: Option<Pid>) -> bool {
    if let Some(spare) = spare {
        return descendants().into_iter().any(|p| p != spare && !is_zombie(p));
    }
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => return true,
            Err(_) => return false,
            Ok(_) => {}
        }
    }
}

/// Whether `pid` is a zombie (dead, not yet reaped).
fn is_zombie(pid: Pid) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(')').is_none_or(|(_, rest)| rest.trim_start().starts_with('Z'))
}

/// Sends `signal` to every process we are the init of but `spare`: as PID 1 of a namespace,
/// all of them; as a subreaper in a shared namespace, our descendants only.
fn signal_all(signal: Signal, spare: Option<Pid>) {
    if nix::unistd::getpid().as_raw() == 1 && spare.is_none() {
        let _ = kill(Pid::from_raw(-1), signal);
        return;
    }
    for pid in descendants().into_iter().filter(|&p| Some(p) != spare) {
        let _ = kill(pid, signal);
    }
}

/// Once the services are down, what they left behind goes: a daemon's background child, which
/// the scanner (their subreaper) inherited, holds the service's log pipe open, so its logger
/// never reads end of file and the scanner waits for it until the grace. Every process of the
/// scanner's but the loggers still up (their pid in a `supervise/status`) gets TERM and CONT,
/// with all below it.
fn end_leftovers(scan: &std::path::Path, scanner: Pid) {
    let mut spared = Vec::new();
    for entry in std::fs::read_dir(scan).into_iter().flatten().flatten() {
        for dir in [entry.path(), entry.path().join("log")] {
            if let Ok(status) = ostler_core::Status::read(&dir.join("supervise")) {
                if status.is_up() {
                    spared.push(status.pid as i32);
                }
            }
        }
    }
    let processes = parent_links();
    let orphans = processes
        .iter()
        .filter(|&&(pid, ppid)| ppid == scanner.as_raw() && !spared.contains(&pid))
        .map(|&(pid, _)| pid);
    let mut doomed: Vec<i32> = Vec::new();
    for orphan in orphans {
        doomed.extend(below(&processes, orphan));
    }
    for pid in doomed {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        let _ = kill(Pid::from_raw(pid), Signal::SIGCONT);
    }
}

/// Our descendants, from /proc's parent links.
fn descendants() -> Vec<Pid> {
    let me = nix::unistd::getpid().as_raw();
    below(&parent_links(), me).into_iter().filter(|&p| p != me).map(Pid::from_raw).collect()
}

/// `root` and every process below it in `links` (pid, parent).
fn below(links: &[(i32, i32)], root: i32) -> Vec<i32> {
    let mut found = vec![root];
    let mut index = 0;
    while index < found.len() {
        let parent = found[index];
        found.extend(links.iter().filter(|&&(pid, ppid)| ppid == parent && pid != root).map(|&(pid, _)| pid));
        index += 1;
    }
    found
}

/// Every process and its parent, from /proc.
fn parent_links() -> Vec<(i32, i32)> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // The parent is the second field after the command's closing parenthesis.
        let Some(ppid) = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok())
        else {
            continue;
        };
        parents.push((pid, ppid));
    }
    parents
}
