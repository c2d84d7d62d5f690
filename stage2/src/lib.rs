//! `ostler stage2`: from "the scanner runs" to "the default bundle is up".
//!
//! Stage 1 forks it with its output on the catch-all FIFO, opened blocking: it starts only once
//! the catch-all logger reads, which proves the scanner runs. It then runs
//! `/etc/ostler/rc.init` if there is one, and has the service manager (`ostler rc`) bring up
//! the `default` bundle of `/etc/ostler/sv`: each service the moment its dependencies are up,
//! the longruns from live copies in `/run/ostler/sv` linked into `/run/service`, with the boot
//! timeline in `/run/ostler/timeline`. It prints one line per service and
//! `ostler: boot complete in N ms` (N = time since the kernel started).
//!
//! [`analyze`] reads the boot timeline the service manager writes (`ostler analyze`).

pub mod analyze;
use ostler_rc::engine::{self, Change, Direction};
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// Where stage 2 reads and writes; overridable so tests run it in a temporary tree.
#[derive(Clone, Debug)]
pub struct Options {
    /// `/etc/ostler`: `rc.init` and `sv/`.
    pub etc: PathBuf,
    /// The definition directories, read together; none: `OSTLER_DEFS` (`A:B`) when set, else
    /// `ETC/sv`. The service manager writes them down in the live state, so that later
    /// commands (`service`, the shutdown daemon) read the same ones.
    pub defs: Vec<PathBuf>,
    /// `/run/ostler`: live copies go into `sv/`.
    pub private: PathBuf,
    /// `/run/service`: the scan directory.
    pub scan: PathBuf,
    /// How long longruns may take to come up (kept for the command line; the service
    /// manager's own `timeout-up` files decide).
    pub timeout: Duration,
    /// Arguments from the kernel command line, passed to rc.init.
    pub args: Vec<String>,
    /// A line per service and the boot's figures; without, failures only (a container's
    /// `S6_VERBOSITY` below 2).
    pub verbose: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            etc: PathBuf::from("/etc/ostler"),
            defs: Vec::new(),
            private: PathBuf::from("/run/ostler"),
            scan: PathBuf::from("/run/service"),
            timeout: Duration::from_secs(60),
            args: Vec::new(),
            verbose: true,
        }
    }
}

/// Brings the system up; returns the exit code (0 when every service came up).
pub fn run(options: &Options) -> u8 {
    let started = Instant::now();
    // When stage 2 gets here the catch-all logger reads, so the scanner runs: the first mark of
    // the boot timeline.
    if let (Some(ms), true) = (uptime_ms(), options.verbose) {
        say(&format!("stage 2 at {ms} ms"));
    }
    let mut failures = 0;
    let rc_init = options.etc.join("rc.init");
    if rc_init.exists() {
        match Command::new(&rc_init).args(&options.args).status() {
            Ok(status) if status.success() => {
                if options.verbose {
                    say(&format!("rc.init: ok ({} ms)", started.elapsed().as_millis()));
                }
            }
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
    let defs = match (options.defs.is_empty(), std::env::var_os("OSTLER_DEFS")) {
        (false, _) => options.defs.clone(),
        (true, Some(list)) if !list.is_empty() => ostler_rc::live::split_defs(&list),
        _ => vec![options.etc.join("sv")],
    };
    let layout = ostler_rc::live::Layout { defs, run_dir: options.private.clone(), scan_dir: options.scan.clone() };
    let db = match ostler_rc::Db::load(&layout.defs) {
        Ok((db, problems)) => {
            for problem in &problems {
                match problem.level {
                    ostler_rc::Level::Error => {
                        failures += 1;
                        say(&format!("{problem} (left out)"));
                    }
                    ostler_rc::Level::LeftOut | ostler_rc::Level::Warning => say(&problem.to_string()),
                }
            }
            db
        }
        Err(e) => {
            say(&format!("{e}; no service started"));
            return finish(1, options.verbose);
        }
    };
    if !db.services.contains_key("default") {
        let first = layout.def_dir("default");
        say(&format!(
            "{}: there is no default bundle; make {} with `type` = bundle and a contents.d/",
            layout.defs_text(),
            first.display()
        ));
        return finish(failures + 1, options.verbose);
    }
    let change = Change {
        names: vec!["default".to_string()],
        direction: Direction::Up,
        prune: false,
        dry_run: false,
        verbose: options.verbose,
        limit: None,
    };
    // Every service is reported on its own line by the service manager as it comes up.
    if engine::change(&layout, &db, &change) != 0 {
        failures += 1;
    }
    finish(failures, options.verbose)
}

fn finish(failures: usize, verbose: bool) -> u8 {
    let uptime = uptime_ms().map_or_else(String::new, |ms| format!("in {ms} ms"));
    if failures == 0 {
        if verbose {
            say(&format!("boot complete {uptime}"));
        }
        0
    } else {
        say(&format!("boot complete {uptime}, with {failures} failure(s) (see above)"));
        1
    }
}

/// Uptime in milliseconds (CLOCK_BOOTTIME: since the kernel started).
/// Milliseconds since the kernel started — or, in a container, since its init started: it sets
/// [`STARTED_VARIABLE`] (the machine's uptime then means nothing to the container).
fn uptime_ms() -> Option<u128> {
    let now = boottime_ms()?;
    let started = std::env::var(STARTED_VARIABLE).ok().and_then(|v| v.parse::<u128>().ok()).unwrap_or(0);
    Some(now.saturating_sub(started))
}

/// Where a container's init leaves its start (CLOCK_BOOTTIME, ms) for stage 2's figures.
pub const STARTED_VARIABLE: &str = "OSTLER_STARTED_MS";

/// CLOCK_BOOTTIME in milliseconds (what /proc/uptime counts).
pub fn boottime_ms() -> Option<u128> {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME)
        .ok()
        .map(|t| t.tv_sec() as u128 * 1000 + t.tv_nsec() as u128 / 1_000_000)
}

fn say(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "ostler: {line}");
}
