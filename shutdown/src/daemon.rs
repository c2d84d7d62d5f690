//! `ostler-shutdownd`: an early service of stage 1, in s6-linux-init-shutdownd's role. It reads
//! requests from its FIFO, keeps the pending one (a later request replaces it, `c` cancels it),
//! and when its time comes:
//!
//! 1. takes every service down — the service manager's in reverse dependency order, then `d`
//!    to every other supervisor (loggers excepted, so they drain) — waits up to the grace, then
//!    SIGKILLs what is still up;
//! 2. runs `/etc/ostler/rc.shutdown ACTION` (at most [`HOOK_LIMIT`]);
//! 3. hands over to PID 1: writes the action and grace for the final stage and tells the
//!    scanner to terminate (loggers drain, then the scanner execs the final stage).
//!
//! Each step is reported on the console with its duration; none can hang forever.

use crate::request::{Command, Request};
use crate::{sys, Layout};
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use ostler_supervise::client::wait::{Listener, Outcome, Quorum, Target};
use ostler_supervise::client::write_control;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The longest `rc.shutdown` may run before it is killed.
pub const HOOK_LIMIT: Duration = Duration::from_secs(60);
/// How long services killed after the grace get to be reaped and recorded.
const AFTER_KILL: Duration = Duration::from_secs(2);
/// The longest line the FIFO may carry; longer ones are garbage.
const MAX_LINE: usize = 128;

/// Runs the daemon (its working directory is its service directory). Returns only on failure
/// to start, or after handing over to PID 1.
pub fn run() -> u8 {
    let layout = Layout::from_env();
    let fifo_path = layout.fifo();
    // Read-write: we hold a writer ourselves, so the FIFO never reads EOF between clients.
    let fifo = match open(&fifo_path, OFlag::O_RDWR | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC, Mode::empty()) {
        Ok(fifo) => fifo,
        Err(e) => {
            eprintln!("ostler-shutdownd: fatal: unable to open {}: {e}; stage 1 makes it", fifo_path.display());
            return 111;
        }
    };
    let mut pending: Option<(Request, Instant)> = None;
    let mut line = Vec::new();
    loop {
        wait_readable(&fifo, pending.map(|(_, at)| at));
        for command in read_commands(&fifo, &mut line) {
            pending = apply(command, pending);
        }
        if let Some((request, at)) = pending {
            if Instant::now() >= at {
                return carry_out(&layout, request);
            }
        }
    }
}

fn wait_readable(fifo: &OwnedFd, deadline: Option<Instant>) {
    let mut fds = [nix::poll::PollFd::new(fifo.as_fd(), nix::poll::PollFlags::POLLIN)];
    let _ = nix::poll::poll(&mut fds, ostler_supervise::poll_timeout(deadline));
}

/// Reads what is there and returns the complete lines as commands; garbage is reported and
/// dropped, a partial line waits for its end.
fn read_commands(fifo: &OwnedFd, line: &mut Vec<u8>) -> Vec<Command> {
    let mut commands = Vec::new();
    let mut buffer = [0u8; 512];
    while let Ok(n) = nix::unistd::read(fifo, &mut buffer) {
        if n == 0 {
            break;
        }
        for &byte in &buffer[..n] {
            if byte != b'\n' {
                if line.len() < MAX_LINE {
                    line.push(byte);
                }
                continue;
            }
            match Command::decode(line) {
                Some(command) => commands.push(command),
                None => {
                    // Formatted first and written with one write(2): eprintln! writes each
                    // piece on its own, and on the catch-all FIFO, shared with every service
                    // without a logger, another writer's line could land inside this one.
                    let warning = format!(
                        "ostler-shutdownd: warning: ignoring {:?}: a request is `p|r|h DELAY_MS GRACE_MS` or `c`\n",
                        String::from_utf8_lossy(line)
                    );
                    let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), warning.as_bytes());
                }
            }
            line.clear();
        }
    }
    commands
}

/// The pending request after `command`.
fn apply(command: Command, pending: Option<(Request, Instant)>) -> Option<(Request, Instant)> {
    match command {
        Command::Cancel => {
            match pending {
                Some((request, _)) => sys::console(&format!("the scheduled {} is cancelled", request.action.word())),
                None => eprintln!("ostler-shutdownd: nothing to cancel"),
            }
            None
        }
        Command::Shutdown(request) => {
            if !request.delay.is_zero() {
                sys::console(&format!("{} in {} s", request.action.word(), request.delay.as_secs()));
            }
            Some((request, Instant::now() + request.delay))
        }
    }
}

/// The sequence. Returns after handing over (the scanner then stops this service too).
fn carry_out(layout: &Layout, request: Request) -> u8 {
    let word = request.action.word();
    let step = Instant::now();
    sys::console(&format!("{word}: taking the services down"));
    let killed = services_down(layout, request.grace);
    let note =
        if killed.is_empty() { String::new() } else { format!("; killed after the grace: {}", killed.join(" ")) };
    sys::console(&format!("{word}: services down ({} ms{note})", step.elapsed().as_millis()));
    run_hook(&layout.hook("rc.shutdown"), word);
    hand_over(layout, request)
}

/// Step 3: the request for the final stage, then `t` to the scanner.
pub fn hand_over(layout: &Layout, request: Request) -> u8 {
    let text = format!("{}\n{}\n", request.action.word(), request.grace.as_millis());
    if let Err(e) = ostler_core::atomic::write(&layout.final_request(), text.as_bytes(), 0o600) {
        sys::console(&format!("warning: {e}; the final stage will power off"));
    }
    match write_control(&layout.scan_dir, ".s6-svscan", "ostler svscan", b"t") {
        Ok(()) => 0,
        Err(e) => {
            sys::console(&format!("unable to tell the scanner to stop: {e}"));
            111
        }
    }
}

/// Takes every service down: first the service manager's, in reverse dependency order (what
/// depends on a service goes before it), then whatever else the scan directory holds but the
/// early services, all within the grace; returns the names of those still up after it (they
/// are SIGKILLed).
pub fn services_down(layout: &Layout, grace: Duration) -> Vec<String> {
    let started = Instant::now();
    // The definitions the live state was made from (stage 2 wrote them down).
    let defs = ostler_rc::live::recorded_defs(&layout.run_dir).unwrap_or_else(|| vec![layout.etc_dir.join("sv")]);
    let rc = ostler_rc::live::Layout { defs, run_dir: layout.run_dir.clone(), scan_dir: layout.scan_dir.clone() };
    let up: Vec<String> = ostler_rc::live::State::load(&rc).up.into_keys().collect();
    if !up.is_empty() {
        if let Ok((db, _)) = ostler_rc::Db::load(&rc.defs) {
            let change = ostler_rc::engine::Change {
                names: up.into_iter().filter(|n| db.services.contains_key(n)).collect(),
                direction: ostler_rc::engine::Direction::Down { essential_too: true },
                prune: false,
                dry_run: false,
                verbose: false,
                limit: Some(grace),
            };
            ostler_rc::engine::change(&rc, &db, &change);
        }
    }
    let grace = grace.saturating_sub(started.elapsed());
    let dirs = services(&layout.scan_dir);
    let Ok(listener) = Listener::subscribe_before_start(&dirs) else {
        // No event directory to listen on: send the letters all the same, without waiting.
        dirs.iter().for_each(|dir| tell(dir, b"d"));
        return Vec::new();
    };
    dirs.iter().for_each(|dir| tell(dir, b"d"));
    if let Ok(Outcome::Done { .. }) = listener.wait(Target::Down, Quorum::All, Some(Instant::now() + grace)) {
        return Vec::new();
    }
    let stubborn: Vec<PathBuf> = dirs.into_iter().filter(|dir| is_up(dir)).collect();
    if let Ok(listener) = Listener::subscribe_before_start(&stubborn) {
        stubborn.iter().for_each(|dir| tell(dir, b"k"));
        let _ = listener.wait(Target::Down, Quorum::All, Some(Instant::now() + AFTER_KILL));
    }
    stubborn.iter().filter_map(|d| d.file_name()).map(|n| n.to_string_lossy().into_owned()).collect()
}

/// The service directories to take down: not hidden, not the catch-all logger, not us.
fn services(scan_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(scan_dir) else { return Vec::new() };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            !name.starts_with('.') && name != crate::layout::DAEMON && name != crate::layout::CATCH_ALL
        })
        .map(|e| e.path())
        .filter(|p| p.join("supervise").is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn tell(dir: &Path, letters: &[u8]) {
    let _ = write_control(dir, "supervise", "ostler supervise", letters);
}

fn is_up(dir: &Path) -> bool {
    ostler_core::Status::read(&dir.join("supervise")).is_ok_and(|s| s.is_up())
}

/// Runs an admin hook with the action word as its argument, bounded by [`HOOK_LIMIT`];
/// reports on the console. A missing hook is skipped silently.
pub(crate) fn run_hook(path: &Path, word: &str) {
    if !is_executable(path) {
        return;
    }
    let name = path.display();
    let started = Instant::now();
    let mut command = std::process::Command::new(path);
    command.arg(word).stdin(std::process::Stdio::null());
    match command.spawn() {
        Ok(mut child) => match sys::wait_child(&mut child, HOOK_LIMIT) {
            Some(status) if status.success() => {
                sys::console(&format!("{name} done ({} ms)", started.elapsed().as_millis()))
            }
            Some(status) => {
                sys::console(&format!("{name} failed ({status}, {} ms); going on", started.elapsed().as_millis()))
            }
            None => sys::console(&format!("{name} took longer than {} s: killed; going on", HOOK_LIMIT.as_secs())),
        },
        Err(e) => sys::console(&format!("unable to run {name}: {e}; going on")),
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Action;

    #[test]
    fn later_requests_replace_and_cancel_clears() {
        let first = Request { action: Action::Reboot, delay: Duration::from_secs(60), grace: Duration::from_secs(3) };
        let pending = apply(Command::Shutdown(first), None);
        assert_eq!(pending.map(|(r, _)| r), Some(first));
        let second = Request { action: Action::Halt, delay: Duration::ZERO, grace: Duration::from_secs(1) };
        let pending = apply(Command::Shutdown(second), pending);
        let (request, at) = pending.unwrap();
        assert_eq!(request, second);
        assert!(at <= Instant::now());
        assert!(apply(Command::Cancel, pending).is_none());
    }
}
