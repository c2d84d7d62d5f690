//! `ostler rc change`: bring a set of services up or down.
//!
//! Going up, every service of the closure (the names and what they depend on) that is not up
//! yet counts its dependencies still on their way; every service at zero starts at once, and
//! each one that comes up lets its dependents count down — so a service starts the moment its
//! last dependency is up, never level by level. A longrun is up when ready (`U`) if it has a
//! `notification-fd`, when started (`u`) otherwise; a oneshot when `up` exits 0. Going down
//! mirrors it over the dependents. A failure stops only what depends on it. Everything waits
//! in one poll: the supervisors' event FIFOs, the oneshots' pidfds, and the nearest deadline.
//!
//! Exit codes as s6-rc's: 0, 1 (something failed), 2 (something timed out), 3 (unknown name),
//! 4 (the live state is unusable).

use crate::live::{self, Layout, State, Up};
use crate::model::{Db, Kind, Service};
use crate::sys;
use ostler_core::fifodir::Subscription;
use ostler_core::timeline::{now_ms, Entry};
use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

/// Up or down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// `-u`.
    Up,
    /// `-d` (essential services are kept) or `-D` (they are not).
    Down {
        /// `-D`.
        essential_too: bool,
    },
}

/// What to change.
#[derive(Clone, Debug)]
pub struct Change {
    /// Service and bundle names.
    pub names: Vec<String>,
    /// Which way.
    pub direction: Direction,
    /// `-p`: first bring down everything outside the closure.
    pub prune: bool,
    /// `-n`: only print what would be done.
    pub dry_run: bool,
    /// Print a line per service (boot, `service`).
    pub verbose: bool,
    /// Give up on what is still running after this long (the shutdown's grace); `None`: each
    /// service's own timeout only.
    pub limit: Option<Duration>,
}

impl Change {
    /// A plain change of `names` (no prune, no dry run, no time limit).
    pub fn plain(names: Vec<String>, direction: Direction, verbose: bool) -> Change {
        Change { names, direction, prune: false, dry_run: false, verbose, limit: None }
    }
}

/// Exit codes.
pub mod exit {
    /// A service failed.
    pub const FAILED: u8 = 1;
    /// A service timed out.
    pub const TIMEOUT: u8 = 2;
    /// A name is not defined.
    pub const UNKNOWN: u8 = 3;
    /// The live state cannot be used.
    pub const LIVE: u8 = 4;
}

/// Runs a change; returns the exit code. Messages go to stderr, starting with `ostler rc:`.
pub fn change(layout: &Layout, db: &Db, change: &Change) -> u8 {
    let mut atoms = BTreeSet::new();
    for name in &change.names {
        match db.atoms_of(name) {
            Some(found) => atoms.extend(found),
            None => {
                eprintln!("ostler rc: {name} is not defined in {}; see ostler rc list all", layout.defs.display());
                return exit::UNKNOWN;
            }
        }
    }
    if change.dry_run {
        // A plan changes nothing: no lock, nothing written, a read-only run directory will do.
        let state = State::load(layout);
        let mut run = Run::new(layout, db, change.direction, change);
        return run.go(&atoms, &mut state.clone());
    }
    if let Err(e) = std::fs::create_dir_all(layout.rc_dir()) {
        eprintln!("ostler rc: unable to create {}: {e}; is it writable (root)?", layout.rc_dir().display());
        return exit::LIVE;
    }
    let _lock = match sys::lock(&layout.rc_dir().join("lock")) {
        Ok(lock) => lock,
        Err(e) => {
            eprintln!("ostler rc: unable to lock {}: {e}", layout.rc_dir().join("lock").display());
            return exit::LIVE;
        }
    };
    let mut state = State::load(layout);
    let mut code = 0;
    if change.prune && change.direction == Direction::Up {
        let keep = db.up_closure(&atoms);
        let outside: BTreeSet<String> = state.up.keys().filter(|n| !keep.contains(*n)).cloned().collect();
        let mut run = Run::new(layout, db, Direction::Down { essential_too: false }, change);
        code = code.max(run.go(&outside, &mut state));
    }
    let mut run = Run::new(layout, db, change.direction, change);
    code.max(run.go(&atoms, &mut state))
}

/// Where one service is in this change.
#[derive(Debug)]
enum Step {
    /// Waiting for this many neighbours (dependencies going up, dependents going down).
    Waiting(usize),
    /// Its transition is under way.
    Running,
    /// Finished (success or not).
    Done,
}

/// One in-flight transition's means of waiting.
enum Watch {
    /// A longrun: its supervisor's events.
    Events(Subscription),
    /// A oneshot: its script.
    Script(Child, OwnedFd),
    /// Nothing to wait for (already there, or a oneshot without `down`).
    Nothing,
}

struct Track {
    step: Step,
    watch: Watch,
    deadline: Option<Instant>,
    /// A `u` the supervisor could not take yet (it is being started by the scanner).
    retry_at: Option<Instant>,
    entry: Entry,
}

struct Run<'a> {
    layout: &'a Layout,
    db: &'a Db,
    direction: Direction,
    dry_run: bool,
    verbose: bool,
    tracks: BTreeMap<String, Track>,
    failed: bool,
    timed_out: bool,
    started: Instant,
    limit: Option<Instant>,
}

/// How long to wait before sending `u` again to a supervisor that is not listening yet.
const RETRY: Duration = Duration::from_millis(10);

impl<'a> Run<'a> {
    fn new(layout: &'a Layout, db: &'a Db, direction: Direction, change: &Change) -> Run<'a> {
        Run {
            layout,
            db,
            direction,
            dry_run: change.dry_run,
            verbose: change.verbose,
            tracks: BTreeMap::new(),
            failed: false,
            timed_out: false,
            started: Instant::now(),
            limit: change.limit.map(|l| Instant::now() + l),
        }
    }

    fn going_up(&self) -> bool {
        self.direction == Direction::Up
    }

    /// The neighbours a service waits for in this direction.
    fn waits_for(&self, name: &str) -> Vec<String> {
        match self.direction {
            Direction::Up => {
                self.db.services.get(name).map(|s| s.dependencies.iter().cloned().collect()).unwrap_or_default()
            }
            Direction::Down { .. } => self.db.dependents(name),
        }
    }

    fn go(&mut self, atoms: &BTreeSet<String>, state: &mut State) -> u8 {
        let todo = self.plan(atoms, state);
        if todo.is_empty() {
            return 0;
        }
        if self.dry_run {
            return self.print_plan(&todo);
        }
        let asked = now_ms();
        // Longruns going up: live directories first, all linked before one rescan. Those that
        // can start at once are left without a `down` file: the scanner starts them itself.
        let mut rescan = false;
        for name in &todo {
            let waiting = self.pending(name, &todo, state);
            let Some(service) = self.db.services.get(name) else { continue };
            let entry = Entry {
                name: name.clone(),
                kind: service.kind.word().to_string(),
                asked,
                started: None,
                ready: None,
                result: String::new(),
                dependencies: self.waits_for(name).into_iter().filter(|d| todo.contains(d)).collect(),
            };
            let mut watch = Watch::Nothing;
            if service.kind == Kind::Longrun {
                let subscription = match self.subscribe(service) {
                    Ok(s) => s,
                    Err(message) => {
                        eprintln!("ostler rc: {name}: {message}");
                        self.failed = true;
                        continue;
                    }
                };
                watch = Watch::Events(subscription);
                if self.going_up() {
                    match live::prepare(self.layout, self.db, service, waiting > 0) {
                        Ok((_, new)) => rescan |= new,
                        Err(e) => {
                            eprintln!("ostler rc: {name}: unable to make its live service directory: {e}");
                            self.failed = true;
                            continue;
                        }
                    }
                }
            }
            self.tracks.insert(
                name.clone(),
                Track { step: Step::Waiting(waiting), watch, deadline: None, retry_at: None, entry },
            );
        }
        if rescan {
            let _ = ostler_supervise::client::write_control(&self.layout.scan_dir, ".s6-svscan", "ostler svscan", b"a");
        }
        let mut ready: Vec<String> =
            self.tracks.iter().filter(|(_, t)| matches!(t.step, Step::Waiting(0))).map(|(n, _)| n.clone()).collect();
        // Each start takes a moment (a fork and an exec): the heads of the longest chains go
        // first, since everything behind them waits on them.
        let heights = self.heights(&todo);
        ready.sort_by_key(|name| std::cmp::Reverse(heights.get(name).copied().unwrap_or(0)));
        for name in ready {
            self.start(&name, state);
        }
        self.wait_all(state);
        let timeline: String = self.tracks.values().map(|t| t.entry.to_line()).collect();
        if self.going_up() {
            append(&self.layout.timeline(), &timeline);
        }
        if self.timed_out {
            exit::TIMEOUT
        } else if self.failed {
            exit::FAILED
        } else {
            0
        }
    }

    /// The services this change acts on.
    fn plan(&mut self, atoms: &BTreeSet<String>, state: &State) -> BTreeSet<String> {
        match self.direction {
            Direction::Up => self.db.up_closure(atoms).into_iter().filter(|n| !state.up.contains_key(n)).collect(),
            Direction::Down { essential_too } => {
                let mut todo: BTreeSet<String> =
                    self.db.down_closure(atoms).into_iter().filter(|n| state.up.contains_key(n)).collect();
                if !essential_too {
                    let essential: BTreeSet<String> = todo
                        .iter()
                        .filter(|n| self.db.services.get(*n).is_some_and(|s| s.essential))
                        .cloned()
                        .collect();
                    for name in &essential {
                        eprintln!("ostler rc: warning: {name} is essential: not stopping it (use -D to)");
                    }
                    // An essential service keeps what it depends on up too.
                    let held = self.db.up_closure(&essential);
                    todo.retain(|n| !held.contains(n));
                }
                todo
            }
        }
    }

    fn print_plan(&self, todo: &BTreeSet<String>) -> u8 {
        let word = if self.going_up() { "up" } else { "down" };
        for name in todo {
            let kind = self.db.services.get(name).map_or("?", |s| s.kind.word());
            let after: Vec<String> = self.waits_for(name).into_iter().filter(|d| todo.contains(d)).collect();
            let after = if after.is_empty() { String::new() } else { format!(" after {}", after.join(" ")) };
            println!("{word} {name} ({kind}){after}");
        }
        0
    }

    /// For each service of the change, the number of services on the longest chain that waits
    /// on it (itself included).
    fn heights(&self, todo: &BTreeSet<String>) -> BTreeMap<String, usize> {
        let mut heights: BTreeMap<String, usize> = BTreeMap::new();
        // Waiting edges point from a service to its neighbours; the height follows them back.
        let waiting_on = |name: &str| -> Vec<String> {
            match self.direction {
                Direction::Up => self.db.dependents(name),
                Direction::Down { .. } => {
                    self.db.services.get(name).map(|s| s.dependencies.iter().cloned().collect()).unwrap_or_default()
                }
            }
        };
        fn visit(
            name: &str,
            todo: &BTreeSet<String>,
            next: &dyn Fn(&str) -> Vec<String>,
            heights: &mut BTreeMap<String, usize>,
            depth: usize,
        ) -> usize {
            if let Some(h) = heights.get(name) {
                return *h;
            }
            // The model has no cycles; the depth bound only guards against a broken one.
            let below = if depth > todo.len() {
                0
            } else {
                next(name)
                    .iter()
                    .filter(|n| todo.contains(*n))
                    .map(|n| visit(n, todo, next, heights, depth + 1))
                    .max()
                    .unwrap_or(0)
            };
            heights.insert(name.to_string(), below + 1);
            below + 1
        }
        for name in todo {
            visit(name, todo, &waiting_on, &mut heights, 0);
        }
        heights
    }

    /// How many neighbours `name` waits for.
    fn pending(&self, name: &str, todo: &BTreeSet<String>, state: &State) -> usize {
        self.waits_for(name)
            .iter()
            .filter(|n| todo.contains(*n) && (self.going_up() || state.up.contains_key(*n)))
            .count()
    }

    fn subscribe(&self, service: &Service) -> Result<Subscription, String> {
        let event = self.layout.service_dir(service).join("event");
        if let Some(parent) = event.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("unable to create {}: {e}", parent.display()))?;
        }
        ostler_core::fifodir::create(&event).map_err(|e| e.to_string())?;
        Subscription::new(&event).map_err(|e| e.to_string())
    }

    /// Starts one transition.
    fn start(&mut self, name: &str, state: &mut State) {
        let Some(service) = self.db.services.get(name).cloned() else { return };
        let now = Instant::now();
        let going_up = self.going_up();
        let limit = if going_up { service.timeout_up } else { service.timeout_down };
        let dir = self.layout.service_dir(&service);
        let Some(track) = self.tracks.get_mut(name) else { return };
        track.step = Step::Running;
        track.deadline = limit.map(|l| now + l);
        track.entry.started = Some(now_ms());
        let immediate = match service.kind {
            Kind::Longrun => {
                let (letter, down_file) = if going_up { (b"u", false) } else { (b"d", true) };
                if down_file {
                    let _ = std::fs::write(dir.join("down"), "");
                } else {
                    let _ = std::fs::remove_file(dir.join("down"));
                }
                if ostler_supervise::client::write_control(&dir, "supervise", "ostler supervise", letter).is_err()
                    && going_up
                {
                    track.retry_at = Some(now + RETRY);
                }
                // Maybe there already (a scanner-started service whose events came before we
                // subscribed): the status says.
                is_up_as_wanted(&dir, going_up).then_some(Ok(()))
            }
            Kind::Oneshot => {
                let script = service.source.as_ref().map(|s| s.join(if going_up { "up" } else { "down" }));
                match script {
                    Some(script) if script.exists() => match spawn(&script, name) {
                        Ok((child, pidfd)) => {
                            track.watch = Watch::Script(child, pidfd);
                            None
                        }
                        Err(message) => Some(Err(message)),
                    },
                    _ => Some(Ok(())),
                }
            }
            Kind::Bundle => Some(Ok(())),
        };
        if let Some(outcome) = immediate {
            self.finish(name, outcome, state);
        }
    }

    /// Waits for every transition to end.
    fn wait_all(&mut self, state: &mut State) {
        loop {
            let running: Vec<String> =
                self.tracks.iter().filter(|(_, t)| matches!(t.step, Step::Running)).map(|(n, _)| n.clone()).collect();
            if running.is_empty() {
                // Whatever still waits has a neighbour that failed (marked) or was not started.
                for track in self.tracks.values_mut() {
                    if matches!(track.step, Step::Waiting(_)) {
                        track.step = Step::Done;
                        track.entry.result = "skipped".into();
                    }
                }
                return;
            }
            if self.limit.is_some_and(|limit| Instant::now() >= limit) {
                for name in running {
                    eprintln!("ostler rc: {name}: still going after the change's time limit; left as it is");
                    if let Some(track) = self.tracks.get_mut(&name) {
                        track.step = Step::Done;
                        track.entry.result = "timeout".into();
                    }
                }
                self.timed_out = true;
                continue;
            }
            let deadline = running
                .iter()
                .filter_map(|n| {
                    let t = &self.tracks[n];
                    match (t.deadline, t.retry_at) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    }
                })
                .chain(self.limit)
                .min();
            let readable = self.poll(&running, deadline);
            let now = Instant::now();
            for name in running {
                self.check(&name, readable.contains(&name), now, state);
            }
        }
    }

    /// Polls the running transitions' fds; returns the names with something to read.
    fn poll(&self, running: &[String], deadline: Option<Instant>) -> BTreeSet<String> {
        let mut names = Vec::new();
        let mut fds = Vec::new();
        for name in running {
            let fd = match &self.tracks[name].watch {
                Watch::Events(subscription) => subscription.fd(),
                Watch::Script(_, pidfd) => pidfd.as_fd(),
                Watch::Nothing => continue,
            };
            names.push(name.clone());
            fds.push(nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN));
        }
        let _ = nix::poll::poll(&mut fds, ostler_supervise::poll_timeout(deadline));
        fds.iter().zip(names).filter(|(fd, _)| fd.revents().is_some_and(|r| !r.is_empty())).map(|(_, n)| n).collect()
    }

    /// Looks at one running transition after a wake-up.
    fn check(&mut self, name: &str, readable: bool, now: Instant, state: &mut State) {
        let Some(service) = self.db.services.get(name).cloned() else { return };
        let dir = self.layout.service_dir(&service);
        let going_up = self.going_up();
        let Some(track) = self.tracks.get_mut(name) else { return };
        if let Some(at) = track.retry_at {
            if now >= at {
                track.retry_at = None;
                if ostler_supervise::client::write_control(&dir, "supervise", "ostler supervise", b"u").is_err() {
                    track.retry_at = Some(now + RETRY);
                }
            }
        }
        let outcome = match &mut track.watch {
            Watch::Events(subscription) if readable => {
                let bytes = subscription.read().unwrap_or_default();
                if bytes.contains(&b'x') && going_up {
                    Some(Err("its supervisor exited".to_string()))
                } else if is_up_as_wanted(&dir, going_up) {
                    Some(Ok(()))
                } else {
                    None
                }
            }
            Watch::Script(child, _) if readable => match child.try_wait() {
                Ok(Some(status)) if status.success() => Some(Ok(())),
                Ok(Some(status)) => Some(Err(describe(status))),
                Ok(None) => None,
                Err(e) => Some(Err(e.to_string())),
            },
            _ => None,
        };
        let outcome = match outcome {
            Some(outcome) => Some(outcome),
            None if track.deadline.is_some_and(|d| now >= d) => {
                if let Watch::Script(child, _) = &mut track.watch {
                    let _ = child.kill();
                    let _ = child.wait();
                } else if going_up {
                    // s6-rc: a longrun that did not come up in time is told to go down.
                    let _ = std::fs::write(dir.join("down"), "");
                    let _ = ostler_supervise::client::write_control(&dir, "supervise", "ostler supervise", b"d");
                }
                self.timed_out = true;
                Some(Err("timeout".to_string()))
            }
            None => None,
        };
        if let Some(outcome) = outcome {
            self.finish(name, outcome, state);
        }
    }

    /// A transition ended: record it, and let the neighbours go on (or not).
    fn finish(&mut self, name: &str, outcome: Result<(), String>, state: &mut State) {
        let Some(service) = self.db.services.get(name).cloned() else { return };
        let millis = self.started.elapsed().as_millis();
        let Some(track) = self.tracks.get_mut(name) else { return };
        track.step = Step::Done;
        track.watch = Watch::Nothing;
        match &outcome {
            Ok(()) => {
                track.entry.ready = Some(now_ms());
                track.entry.result = "ok".into();
                if self.going_up() {
                    state.up.insert(name.to_string(), Up { kind: service.kind, fingerprint: service.fingerprint });
                } else {
                    state.up.remove(name);
                }
                if let Err(e) = state.save(self.layout) {
                    eprintln!("ostler rc: warning: {e}; the live state is behind");
                }
                if self.verbose {
                    let word = if self.going_up() { "up" } else { "down" };
                    let pid = pid_note(&self.layout.service_dir(&service), service.kind, self.going_up());
                    eprintln!("ostler rc: {name}: {word}{pid} ({millis} ms)");
                }
            }
            Err(reason) => {
                track.entry.result = if reason == "timeout" { "timeout".into() } else { format!("failed {reason}") };
                self.failed = true;
                let tail = last_log_lines(self.db, &service);
                eprintln!("ostler rc: {name}: failed: {reason}{tail}");
            }
        }
        let neighbours: Vec<String> = match self.direction {
            Direction::Up => self.db.dependents(name),
            Direction::Down { .. } => service.dependencies.iter().cloned().collect(),
        };
        for neighbour in neighbours {
            let Some(track) = self.tracks.get_mut(&neighbour) else { continue };
            if let Step::Waiting(count) = &mut track.step {
                if outcome.is_err() {
                    // Only what depends on the failure stays where it is; it is reported as
                    // skipped when nothing else runs.
                    continue;
                }
                *count = count.saturating_sub(1);
                if *count == 0 {
                    self.start(&neighbour, state);
                }
            }
        }
    }
}

/// Spawns a oneshot's script with `RC_NAME` set; stdin is /dev/null.
fn spawn(script: &std::path::Path, name: &str) -> Result<(Child, OwnedFd), String> {
    let mut command = sys::script_command(script)?;
    command.env("RC_NAME", name).stdin(std::process::Stdio::null());
    if let Some(dir) = script.parent() {
        command.current_dir(dir);
    }
    let child = command.spawn().map_err(|e| format!("unable to run {}: {e}", script.display()))?;
    let pidfd = sys::pidfd(&child).map_err(|e| format!("unable to watch {}: {e}", script.display()))?;
    Ok((child, pidfd))
}

/// True when the supervisor's status shows the service up (and ready, if it notifies) or down.
fn is_up_as_wanted(dir: &std::path::Path, up: bool) -> bool {
    let Ok(status) = ostler_core::Status::read(&dir.join("supervise")) else { return false };
    if !up {
        return !status.is_up();
    }
    let notifies = dir.join("notification-fd").exists();
    status.is_up() && (!notifies || status.ready)
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        _ => status.to_string(),
    }
}

fn pid_note(dir: &std::path::Path, kind: Kind, up: bool) -> String {
    if kind != Kind::Longrun || !up {
        return String::new();
    }
    ostler_core::Status::read(&dir.join("supervise")).map(|s| format!(" (pid {})", s.pid)).unwrap_or_default()
}

/// The last lines its logger wrote, for a failure report.
fn last_log_lines(db: &Db, service: &Service) -> String {
    let Some(log_dir) = service.producer_for.as_ref().and_then(|c| db.services.get(c)).and_then(|c| c.log_dir.clone())
    else {
        return String::new();
    };
    let text = std::fs::read_to_string(log_dir.join("current")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(5).collect();
    if lines.is_empty() {
        return String::new();
    }
    let shown: Vec<&str> = lines.into_iter().rev().collect();
    format!("; its last log lines ({}):\n  {}", log_dir.display(), shown.join("\n  "))
}

fn append(path: &PathBuf, text: &str) {
    use std::io::Write;
    if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = file.write_all(text.as_bytes());
    }
}
