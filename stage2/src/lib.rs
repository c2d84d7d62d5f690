//! `ostler stage2`: from "the scanner runs" to "the default bundle is up".
//!
//! Stage 1 forks it with its output on the catch-all FIFO, opened blocking: it starts only once
//! the catch-all logger reads, which proves the scanner runs. It then runs
//! `/etc/ostler/rc.init` if there is one, and brings up the `default` bundle of
//! `/etc/ostler/sv`: oneshots run their `up`, longruns are copied to `/run/ostler/sv/NAME`,
//! linked into `/run/service`, and started by one rescan. It prints one line per service and
//! `ostler: boot complete in N ms` (N = time since the kernel started).
//!
//! Until the service manager (issue 5) lands this is deliberately simple: no dependency order
//! among the members, oneshots one after another before the longruns. [`Plan`] is the seam:
//! the service manager will compute it instead.

mod copy;
mod definitions;

pub use definitions::{Definition, Kind, Plan};

use ostler_supervise::client::wait::{Listener, Outcome, Quorum, Target};
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// Where stage 2 reads and writes; overridable so tests run it in a temporary tree.
#[derive(Clone, Debug)]
pub struct Options {
    /// `/etc/ostler`: `rc.init` and `sv/`.
    pub etc: PathBuf,
    /// `/run/ostler`: live copies go into `sv/`.
    pub private: PathBuf,
    /// `/run/service`: the scan directory.
    pub scan: PathBuf,
    /// How long longruns may take to come up.
    pub timeout: Duration,
    /// Arguments from the kernel command line, passed to rc.init.
    pub args: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            etc: PathBuf::from("/etc/ostler"),
            private: PathBuf::from("/run/ostler"),
            scan: PathBuf::from("/run/service"),
            timeout: Duration::from_secs(60),
            args: Vec::new(),
        }
    }
}

/// Brings the system up; returns the exit code (0 when every service came up).
pub fn run(options: &Options) -> u8 {
    let started = Instant::now();
    // When stage 2 gets here the catch-all logger reads, so the scanner runs: the first mark of
    // the boot timeline.
    if let Some(ms) = uptime_ms() {
        say(&format!("stage 2 at {ms} ms"));
    }
    let mut failures = 0;
    let rc_init = options.etc.join("rc.init");
    if rc_init.exists() {
        match Command::new(&rc_init).args(&options.args).status() {
            Ok(status) if status.success() => say(&format!("rc.init: ok ({} ms)", started.elapsed().as_millis())),
            Ok(status) => {
                failures += 1;
                say(&format!("rc.init: failed ({status}); going on with the services"));
            }
            Err(e) => {
                failures += 1;
                say(&format!("rc.init: unable to run {}: {e}; make it executable", rc_init.display()));
            }
        }
    }
    let plan = match Plan::default_bundle(&options.etc.join("sv")) {
        Ok(plan) => plan,
        Err(problem) => {
            say(&format!("{problem}; no service started"));
            return finish(1);
        }
    };
    for problem in &plan.problems {
        failures += 1;
        say(problem);
    }
    for oneshot in plan.of_kind(Kind::Oneshot) {
        failures += run_oneshot(oneshot);
    }
    failures += start_longruns(options, &plan);
    finish(failures)
}

fn finish(failures: usize) -> u8 {
    let uptime = uptime_ms().map_or_else(String::new, |ms| format!("in {ms} ms"));
    if failures == 0 {
        say(&format!("boot complete {uptime}"));
        0
    } else {
        say(&format!("boot complete {uptime}, with {failures} failure(s) (see above)"));
        1
    }
}

fn run_oneshot(oneshot: &Definition) -> usize {
    let started = Instant::now();
    let up = oneshot.dir.join("up");
    match definitions::script_command(&up).and_then(|mut c| c.status().map_err(|e| e.to_string())) {
        Ok(status) if status.success() => {
            say(&format!("{}: up ({} ms)", oneshot.name, started.elapsed().as_millis()));
            0
        }
        Ok(status) => {
            say(&format!("{}: failed: up {status}", oneshot.name));
            1
        }
        Err(e) => {
            say(&format!("{}: failed: {e}", oneshot.name));
            1
        }
    }
}

/// Copies and links every longrun, subscribes to their events, rescans once, waits.
fn start_longruns(options: &Options, plan: &Plan) -> usize {
    let longruns: Vec<&Definition> = plan.of_kind(Kind::Longrun).collect();
    if longruns.is_empty() {
        return 0;
    }
    let live_root = options.private.join("sv");
    let mut live = Vec::new();
    let mut failures = 0;
    for longrun in &longruns {
        let target = live_root.join(&longrun.name);
        let link = options.scan.join(&longrun.name);
        let placed = copy::tree(&longrun.dir, &target)
            .and_then(|()| copy::replace_symlink(&target, &link))
            .map_err(|e| format!("{}: failed: unable to place it in {}: {e}", longrun.name, options.scan.display()));
        match placed {
            Ok(()) => live.push((longrun.name.clone(), link)),
            Err(message) => {
                failures += 1;
                say(&message);
            }
        }
    }
    let dirs: Vec<PathBuf> = live.iter().map(|(_, link)| link.clone()).collect();
    let listener = match Listener::subscribe_before_start(&dirs) {
        Ok(listener) => Some(listener),
        Err(e) => {
            say(&format!("warning: {e}; not waiting for the services"));
            None
        }
    };
    if let Err(e) = ostler_supervise::client::write_control(&options.scan, ".s6-svscan", "ostler svscan", b"a") {
        say(&format!("unable to tell the scanner to rescan: {e}"));
        return failures + live.len();
    }
    let deadline = Instant::now() + options.timeout;
    if let Some(listener) = listener {
        match listener.wait(Target::Up, Quorum::All, Some(deadline)) {
            Ok(Outcome::Done { .. }) => {}
            Ok(Outcome::TimedOut) => {
                say(&format!("warning: not every service was up after {} s", options.timeout.as_secs()))
            }
            Err(e) => say(&format!("warning: {e}")),
        }
    }
    for (name, link) in &live {
        match ostler_core::Status::read(&link.join("supervise")) {
            Ok(status) if status.is_up() => say(&format!("{name}: up (pid {})", status.pid)),
            _ => {
                failures += 1;
                say(&format!("{name}: failed: not up; see ostler svstat {}", link.display()));
            }
        }
    }
    failures
}

/// Uptime in milliseconds (CLOCK_BOOTTIME: since the kernel started).
fn uptime_ms() -> Option<u128> {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME)
        .ok()
        .map(|t| t.tv_sec() as u128 * 1000 + t.tv_nsec() as u128 / 1_000_000)
}

fn say(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "ostler: {line}");
}
