//! `ostler rc change`: bring a set of services up or down.
//!
//! Going up, every service of the closure (the names and what they depend on) that is not up
//! yet counts its dependencies still on their way; every service at zero starts at once, and
//! each one that comes up lets its dependents count down — so a service starts the moment its
//! last dependency is up, never level by level. A longrun is up when ready (`U`) if it has a
//! `notification-fd` or `notify-socket`, when started (`u`) otherwise; a oneshot when `up`
//! exits 0. Going down mirrors it over the dependents. A failure stops only what depends on
//! it. Everything waits in one poll: the supervisors' event FIFOs, the oneshots' pidfds, and
//! the nearest deadline.
//!
//! Exit codes as s6-rc's: 0, 1 (something failed), 2 (something timed out), 3 (unknown name),
//! 4 (the live state is unusable).

use crate::live::{self, Layout, State, Up};
use crate::model::{Db, Kind, Service};
use crate::sys;
use ostler_core::fifodir::{self, Subscription};
use ostler_core::timeline::{now_ms, Entry};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
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
                say(format_args!("{name} is not defined in {}; see ostler rc list all", layout.defs_text()));
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
        say(format_args!("unable to create {}: {e}; is it writable (root)?", layout.rc_dir().display()));
        return exit::LIVE;
    }
    let _lock = match sys::lock(&layout.rc_dir().join("lock")) {
        Ok(lock) => lock,
        Err(e) => {
            say(format_args!("unable to lock {}: {e}", layout.rc_dir().join("lock").display()));
            return exit::LIVE;
        }
    };
    if let Err(e) = layout.record_defs() {
        say(format_args!("warning: {e}; later commands may not find these definitions by themselves"));
    }
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
    /// A longrun going up that the scanner starts by itself (see [`live::Prepared`]).
    started_by_scanner: bool,
    /// Its live directory may hold a `down` file.
    down_file: bool,
    /// Its live directory has a `notification-fd` or `notify-socket` (`None`: not known yet).
    notifies: Option<bool>,
    /// A `u` the supervisor could not take yet (the scanner is starting it): sent again on its
    /// next event, since a supervisor announces its start once its control FIFO is open.
    retry: bool,
    /// The pid its supervisor reported with the status that ended its transition.
    pid: Option<u64>,
    entry: Entry,
}

impl Track {
    fn new(waiting: usize, watch: Watch, entry: Entry) -> Track {
        Track {
            step: Step::Waiting(waiting),
            watch,
            deadline: None,
            started_by_scanner: false,
            down_file: true,
            notifies: None,
            retry: false,
            pid: None,
            entry,
        }
    }
}

/// The longest a change waits without looking at its longruns' status (see `check`).
const RECHECK: Duration = Duration::from_secs(1);

/// How often, at most, the live state is written while longruns come and go: each write is
/// the whole state, so writing at every wake-up of a change of N services wrote N² lines
/// (issue 15's boot at N = 100). It is always written before a oneshot's script starts (the
/// script may look at what is up) and when the change ends.
const STATE_EVERY: Duration = Duration::from_millis(50);

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
    /// The state has changed since it was last written.
    dirty: bool,
    /// When the state was last written.
    saved: Option<Instant>,
    /// For each service of the change, those of the change that wait for it (the reverse of
    /// `waits_for`), made once instead of a search of every definition at each end.
    waited_by: BTreeMap<String, Vec<String>>,
    /// In a container: ostler, to mark each oneshot's lines with its name (`ostler mark`).
    marker: Option<PathBuf>,
    /// Those markers, reaped as they end.
    markers: Vec<Child>,
}

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
            dirty: false,
            saved: None,
            waited_by: BTreeMap::new(),
            marker: ostler_core::paths::marker(&layout.run_dir),
            markers: Vec::new(),
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
            Direction::Down { .. } => self.db.down_waits(name),
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
        self.note_waiters(&todo);
        let mut live = live::Builder::default();
        // Every longrun's events are subscribed to before the first link: whatever the scanner
        // starts, its supervisor's events are heard.
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
                match self.subscribe(&mut live, service) {
                    Ok(subscription) => watch = Watch::Events(subscription),
                    Err(message) => {
                        say(format_args!("{name}: {message}"));
                        self.failed = true;
                        continue;
                    }
                }
            }
            self.tracks.insert(name.clone(), Track::new(waiting, watch, entry));
        }
        // Longruns going up: live directories, all linked before one rescan. Those that can
        // start at once are left without a `down` file: the scanner starts them itself.
        let mut rescan = false;
        if self.going_up() {
            for name in &todo {
                let Some(service) = self.db.services.get(name).filter(|s| s.kind == Kind::Longrun) else { continue };
                let Some(track) = self.tracks.get_mut(name) else { continue };
                let down = !matches!(track.step, Step::Waiting(0));
                match live.prepare(self.layout, self.db, service, down) {
                    Ok(prepared) => {
                        rescan |= prepared.linked;
                        track.started_by_scanner = prepared.started_by_scanner;
                        track.down_file = prepared.down;
                        track.notifies = prepared.notifies;
                    }
                    Err(e) => {
                        say(format_args!("{name}: unable to make its live service directory: {e}"));
                        self.failed = true;
                        self.tracks.remove(name);
                    }
                }
            }
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
        self.flush(state);
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
                        say(format_args!("warning: {name} is essential: not stopping it (use -D to)"));
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

    /// Makes `waited_by` for the services of the change.
    fn note_waiters(&mut self, todo: &BTreeSet<String>) {
        for name in todo {
            for waited in self.waits_for(name).into_iter().filter(|d| todo.contains(d)) {
                self.waited_by.entry(waited).or_default().push(name.clone());
            }
        }
    }

    /// For each service of the change, the number of services on the longest chain that waits
    /// on it (itself included).
    fn heights(&self, todo: &BTreeSet<String>) -> BTreeMap<String, usize> {
        let mut heights: BTreeMap<String, usize> = BTreeMap::new();
        // Waiting edges point from a service to its neighbours; the height follows them back,
        // along `waited_by` (made once: a search of every definition per service made this
        // quadratic in the number of services).
        fn visit(
            name: &str,
            waited_by: &BTreeMap<String, Vec<String>>,
            heights: &mut BTreeMap<String, usize>,
            depth_left: usize,
        ) -> usize {
            if let Some(h) = heights.get(name) {
                return *h;
            }
            // The model has no cycles; the depth bound only guards against a broken one.
            let below = match waited_by.get(name) {
                Some(next) if depth_left > 0 => {
                    next.iter().map(|n| visit(n, waited_by, heights, depth_left - 1)).max().unwrap_or(0)
                }
                _ => 0,
            };
            heights.insert(name.to_string(), below + 1);
            below + 1
        }
        for name in todo {
            visit(name, &self.waited_by, &mut heights, todo.len() + 1);
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

    fn subscribe(&self, live: &mut live::Builder, service: &Service) -> Result<Subscription, String> {
        let dir = self.layout.service_dir(service);
        let made = if self.going_up() {
            live.make_dir(self.layout, service).map(|_| ())
        } else {
            std::fs::create_dir_all(&dir)
        };
        made.map_err(|e| format!("unable to create {}: {e}", dir.display()))?;
        let event = dir.join("event");
        ostler_core::fifodir::create(&event).map_err(|e| e.to_string())?;
        Subscription::new(&event).map_err(|e| e.to_string())
    }

    /// Writes the state if it changed: never ahead of the services.
    fn flush(&mut self, state: &State) {
        if std::mem::take(&mut self.dirty) {
            self.saved = Some(Instant::now());
            if let Err(e) = state.save(self.layout) {
                say(format_args!("warning: {e}; the live state is behind"));
            }
        }
    }

    /// Writes the state if it changed and was last written [`STATE_EVERY`] ago or more.
    fn flush_now_and_then(&mut self, state: &State) {
        if self.saved.is_none_or(|at| at.elapsed() >= STATE_EVERY) {
            self.flush(state);
        }
    }

    /// Starts one transition.
    fn start(&mut self, name: &str, state: &mut State) {
        let db = self.db;
        let Some(service) = db.services.get(name) else { return };
        if service.kind == Kind::Oneshot {
            self.flush(state);
        }
        let now = Instant::now();
        let going_up = self.going_up();
        let limit = if going_up { service.timeout_up } else { service.timeout_down };
        let dir = self.layout.service_dir(service);
        let Some(track) = self.tracks.get_mut(name) else { return };
        track.step = Step::Running;
        // The change's own limit bounds each service's, as s6-rc's -t bounds each -T: a
        // script still running then is killed, a longrun still coming up told to go down.
        track.deadline = limit.map(|l| now + l).into_iter().chain(self.limit).min();
        track.entry.started = Some(now_ms());
        let immediate = match service.kind {
            // Its supervisor, started by the scanner's rescan, starts it: its events will say.
            Kind::Longrun if going_up && track.started_by_scanner => None,
            Kind::Longrun => {
                let (letter, down_file) = if going_up { (b"u", false) } else { (b"d", true) };
                if down_file {
                    let _ = std::fs::write(dir.join("down"), "");
                } else if track.down_file {
                    let _ = std::fs::remove_file(dir.join("down"));
                }
                match ostler_supervise::client::write_control(&dir, "supervise", "ostler supervise", letter) {
                    Err(_) if going_up => track.retry = true,
                    // Nothing supervises it, and the `down` file keeps any supervisor that
                    // comes from starting it: it is down.
                    Err(_) => return self.finish(name, Ok(()), state),
                    Ok(()) => {}
                }
                // Maybe there already (a scanner-started service whose events came before we
                // subscribed): the status says.
                as_wanted(&dir, going_up, &mut track.notifies).map(|pid| {
                    track.pid = Some(pid);
                    Ok(())
                })
            }
            Kind::Oneshot => {
                let argv = if going_up { &service.up } else { &service.down };
                let script = service.source.as_ref().map(|s| s.join(if going_up { "up" } else { "down" }));
                match script {
                    // No file, or one with only comments: nothing to run, done.
                    Some(script) if !argv.is_empty() => {
                        match spawn_marked(self.marker.as_deref(), &mut self.markers, argv, &script, name) {
                            Ok(Some((child, pidfd))) => {
                                track.watch = Watch::Script(child, pidfd);
                                None
                            }
                            Ok(None) => Some(Ok(())),
                            Err(message) => Some(Err(message)),
                        }
                    }
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
                    say(format_args!("{name}: still going after the change's time limit; left as it is"));
                    if let Some(track) = self.tracks.get_mut(&name) {
                        track.step = Step::Done;
                        track.entry.result = "timeout".into();
                    }
                }
                self.timed_out = true;
                continue;
            }
            let recheck = Instant::now() + RECHECK;
            let deadline =
                running.iter().filter_map(|n| self.tracks[n].deadline).chain(self.limit).chain([recheck]).min();
            let readable = self.poll(&running, deadline);
            let now = Instant::now();
            let idle = readable.is_empty();
            for name in running {
                self.check(&name, readable.contains(&name), idle, now, state);
            }
            self.flush_now_and_then(state);
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
    fn check(&mut self, name: &str, readable: bool, idle: bool, now: Instant, state: &mut State) {
        // Nothing to read, not idle, not late: nothing to look at (every wake-up comes here for
        // every running transition).
        let late = |track: &Track| track.deadline.is_some_and(|d| now >= d);
        if !readable && !idle && !self.tracks.get(name).is_some_and(late) {
            return;
        }
        let db = self.db;
        let Some(service) = db.services.get(name) else { return };
        let dir = self.layout.service_dir(service);
        let going_up = self.going_up();
        let Some(track) = self.tracks.get_mut(name) else { return };
        let outcome = match &mut track.watch {
            Watch::Events(subscription) if readable => {
                let bytes = subscription.read().unwrap_or_default();
                if track.retry {
                    track.retry =
                        ostler_supervise::client::write_control(&dir, "supervise", "ostler supervise", b"u").is_err();
                }
                if bytes.contains(&b'x') && going_up {
                    Some(Err("its supervisor exited".to_string()))
                } else if going_up && !bytes.is_empty() && bytes.iter().all(|&b| b == fifodir::event::START) {
                    // A supervisor writes its status before it announces a change (s6's
                    // protocol), and its start alone never brings the service up: its `u` or
                    // `U` will come.
                    None
                } else {
                    as_wanted(&dir, going_up, &mut track.notifies).map(|pid| {
                        track.pid = Some(pid);
                        Ok(())
                    })
                }
            }
            Watch::Script(child, _) if readable => match child.try_wait() {
                Ok(Some(status)) if status.success() => Some(Ok(())),
                Ok(Some(status)) => Some(Err(describe(status))),
                Ok(None) => None,
                Err(e) => Some(Err(e.to_string())),
            },
            // A second without any event: the status says all the same (an event lost would be a
            // change that never ends; this look is its safety net, and costs nothing while
            // events come).
            Watch::Events(_) if idle => as_wanted(&dir, going_up, &mut track.notifies).map(|pid| {
                track.pid = Some(pid);
                Ok(())
            }),
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
        let db = self.db;
        let Some(service) = db.services.get(name) else { return };
        let millis = self.started.elapsed().as_millis();
        let going_up = self.going_up();
        let Some(track) = self.tracks.get_mut(name) else { return };
        track.step = Step::Done;
        track.watch = Watch::Nothing;
        match &outcome {
            Ok(()) => {
                track.entry.ready = Some(now_ms());
                track.entry.result = "ok".into();
                if going_up {
                    state.up.insert(name.to_string(), Up { kind: service.kind, fingerprint: service.fingerprint });
                } else {
                    state.up.remove(name);
                }
                self.dirty = true;
                if self.verbose {
                    let word = if going_up { "up" } else { "down" };
                    let pid = match track.pid {
                        Some(pid) if service.kind == Kind::Longrun && going_up => format!(" (pid {pid})"),
                        _ => pid_note(&self.layout.service_dir(service), service.kind, going_up),
                    };
                    say(format_args!("{name}: {word}{pid} ({millis} ms)"));
                }
            }
            Err(reason) => {
                track.entry.result = if reason == "timeout" { "timeout".into() } else { format!("failed {reason}") };
                self.failed = true;
                let tail = last_log_lines(db, service);
                say(format_args!("{name}: failed: {reason}{tail}"));
            }
        }
        let neighbours = self.waited_by.get(name).cloned().unwrap_or_default();
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

/// Writes one line to stderr with one system call (stderr is unbuffered: `eprintln!` writes
/// each piece of its format on its own).
fn say(message: std::fmt::Arguments<'_>) {
    let line = format!("ostler rc: {message}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Spawns a oneshot's `up` or `down` (`script`), lexed as `argv`, with `RC_NAME` set, in the
/// definition's directory; stdin is /dev/null.
/// `None`: nothing to run.
/// With `output`, its stdout and stderr go there.
fn spawn(
    argv: &[Vec<u8>],
    script: &Path,
    name: &str,
    output: Option<OwnedFd>,
) -> Result<Option<(Child, OwnedFd)>, String> {
    let Some(mut command) = sys::script_command(argv) else { return Ok(None) };
    command.env("RC_NAME", name).stdin(std::process::Stdio::null());
    if let Some(output) = output {
        let copy = output.try_clone().map_err(|e| format!("unable to pass {name} its output: {e}"))?;
        command.stdout(output).stderr(copy);
    }
    if let Some(dir) = script.parent() {
        command.current_dir(dir);
    }
    let program = String::from_utf8_lossy(&argv[0]).into_owned();
    let child = command.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "unable to run {}: {program} not found; install it (execline's programs come with the execline package) or give its full path",
            script.display()
        ),
        _ => format!("unable to run {} ({program}): {e}", script.display()),
    })?;
    let pidfd = sys::pidfd(&child).map_err(|e| format!("unable to watch {}: {e}", script.display()))?;
    Ok(Some((child, pidfd)))
}

/// [`spawn`], with its output through a marker when there is one. A marker ends when the
/// last writer of its pipe does (which may outlive the oneshot: a daemon it started);
/// one that has not is left to the init to reap.
fn spawn_marked(
    marker: Option<&Path>,
    markers: &mut Vec<Child>,
    argv: &[Vec<u8>],
    script: &Path,
    name: &str,
) -> Result<Option<(Child, OwnedFd)>, String> {
    markers.retain_mut(|m| !matches!(m.try_wait(), Ok(Some(_))));
    let output = match marker {
        Some(ostler) => match start_marker(ostler, name) {
            Ok((marker, input)) => {
                markers.push(marker);
                Some(input)
            }
            Err(e) => {
                say(format_args!("{name}: warning: unable to mark its lines ({e}); they go out unmarked"));
                None
            }
        },
        None => None,
    };
    spawn(argv, script, name, output)
}

/// `ostler mark NAME` reading a fresh pipe; returns it and the pipe's write end.
fn start_marker(ostler: &Path, name: &str) -> std::io::Result<(Child, OwnedFd)> {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let marker = std::process::Command::new(ostler).args(["mark", name]).stdin(read).spawn()?;
    Ok((marker, write))
}

/// The pid in the supervisor's status when it shows the service up (and ready, if it
/// notifies: `notifies` is looked up once) or down with its finish ended, as wanted.
fn as_wanted(dir: &Path, up: bool, notifies: &mut Option<bool>) -> Option<u64> {
    let status = read_status(dir)?;
    if !up {
        // Down once its finish has ended too (s6's `D`): what depends on it, and what comes
        // after (a container's cont-finish.d), sees it really stopped.
        return (!status.is_up() && !status.finishing).then_some(status.pid);
    }
    if !status.is_up() {
        return None;
    }
    let notifies = *notifies.get_or_insert_with(|| ostler_core::settings::notifies_readiness(dir));
    (!notifies || status.ready).then_some(status.pid)
}

/// `supervise/status`, in one read: the supervisor replaces it whole (rename).
fn read_status(dir: &Path) -> Option<ostler_core::Status> {
    let supervise = dir.join("supervise");
    let bytes = sys::read_small(&supervise.join(ostler_core::status::FILE), 64).ok()?;
    ostler_core::Status::unpack(&bytes).or_else(|| ostler_core::Status::read(&supervise).ok())
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        _ => status.to_string(),
    }
}

fn pid_note(dir: &Path, kind: Kind, up: bool) -> String {
    if kind != Kind::Longrun || !up {
        return String::new();
    }
    read_status(dir).map(|s| format!(" (pid {})", s.pid)).unwrap_or_default()
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

fn append(path: &Path, text: &str) {
    let _ = sys::append(path, text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::{open, OFlag};
    use nix::sys::stat::Mode;
    use ostler_core::Status;

    /// Plays a supervisor's part: its `supervise/control` FIFO, held open for reading.
    fn supervise(dir: &Path) -> OwnedFd {
        let supervise = dir.join("supervise");
        std::fs::create_dir_all(&supervise).unwrap();
        nix::unistd::mkfifo(&supervise.join("control"), Mode::from_bits_truncate(0o600)).unwrap();
        open(&supervise.join("control"), OFlag::O_RDONLY | OFlag::O_NONBLOCK, Mode::empty()).unwrap()
    }

    /// Writes the status, then announces it, as a supervisor does.
    fn announce(dir: &Path, pid: u64, event: &[u8]) {
        Status { pid, want_up: pid != 0, ..Status::default() }.write(&dir.join("supervise")).unwrap();
        fifodir::notify(&dir.join("event"), event).unwrap();
    }

    fn letters(control: &OwnedFd) -> Vec<u8> {
        let mut buf = [0u8; 16];
        match nix::unistd::read(control, &mut buf) {
            Ok(n) => buf[..n].to_vec(),
            Err(_) => Vec::new(),
        }
    }

    fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        let give_up = Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(Instant::now() < give_up, "gave up waiting for {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn the_heads_of_the_longest_chains_are_highest_either_way() {
        let root = std::env::temp_dir().join(format!("ostler-rc-heights-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let layout = Layout { defs: vec![root.join("sv")], run_dir: root.join("run"), scan_dir: root.join("scan") };
        // c needs b, b needs a; d needs a; e alone.
        for (name, deps) in [("a", ""), ("b", "a"), ("c", "b"), ("d", "a"), ("e", "")] {
            let dir = layout.defs[0].join(name);
            std::fs::create_dir_all(dir.join("dependencies.d")).unwrap();
            std::fs::write(dir.join("type"), "oneshot\n").unwrap();
            std::fs::write(dir.join("up"), "true\n").unwrap();
            if !deps.is_empty() {
                std::fs::write(dir.join("dependencies.d").join(deps), "").unwrap();
            }
        }
        let (db, problems) = Db::load(&layout.defs).unwrap();
        assert_eq!(problems, []);
        let todo: BTreeSet<String> = ["a", "b", "c", "d", "e"].map(String::from).into();
        let heights = |direction: Direction| {
            let mut run = Run::new(&layout, &db, direction, &Change::plain(vec![], direction, false));
            run.note_waiters(&todo);
            let heights = run.heights(&todo);
            todo.iter().map(|n| heights[n]).collect::<Vec<_>>()
        };
        assert_eq!(heights(Direction::Up), [3, 2, 1, 1, 1], "up: a is the head of a-b-c");
        assert_eq!(heights(Direction::Down { essential_too: false }), [1, 2, 3, 2, 1], "down: c is the head of c-b-a");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_new_longrun_is_left_to_the_scanner_and_one_that_waits_is_told_u() {
        let root = std::env::temp_dir().join(format!("ostler-rc-engine-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let layout = Layout { defs: vec![root.join("sv")], run_dir: root.join("run"), scan_dir: root.join("scan") };
        for (name, deps) in [("first", ""), ("second", "first")] {
            let dir = layout.defs[0].join(name);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("type"), "longrun\n").unwrap();
            std::fs::write(dir.join("run"), "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(dir.join("run"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
            if !deps.is_empty() {
                std::fs::create_dir_all(dir.join("dependencies.d")).unwrap();
                std::fs::write(dir.join("dependencies.d").join(deps), "").unwrap();
            }
        }
        std::fs::create_dir_all(&layout.scan_dir).unwrap();
        let (db, problems) = Db::load(&layout.defs).unwrap();
        assert_eq!(problems, []);
        let (first, second) = (layout.run_dir.join("sv/first"), layout.run_dir.join("sv/second"));
        let code = std::thread::scope(|scope| {
            let change =
                scope.spawn(|| change(&layout, &db, &Change::plain(vec!["second".into()], Direction::Up, true)));
            // The scanner's part: both linked; `first` has no down file and so its supervisor
            // starts it, `second` waits for `first` and for a `u`.
            wait_for("the links", || layout.scan_dir.join("first").exists() && layout.scan_dir.join("second").exists());
            assert!(!first.join("down").exists() && second.join("down").exists());
            let control = supervise(&first);
            announce(&first, 0, b"s");
            announce(&first, 100, b"u");
            // `second`'s supervisor comes late: the `u` it missed is sent on its start.
            wait_for("first saved", || State::load(&layout).up.contains_key("first"));
            let late = supervise(&second);
            announce(&second, 0, b"s");
            let mut told = Vec::new();
            wait_for("a u for second", || {
                told.extend(letters(&late));
                !told.is_empty()
            });
            assert_eq!(told, b"u");
            announce(&second, 101, b"u");
            let code = change.join().unwrap();
            assert_eq!(letters(&control), b"", "first was started by the scanner: nothing to tell it");
            code
        });
        assert_eq!(code, 0);
        assert!(!second.join("down").exists());
        assert_eq!(State::load(&layout).up.keys().collect::<Vec<_>>(), ["first", "second"]);
        for dir in [&first, &second] {
            let listeners = std::fs::read_dir(dir.join("event")).unwrap().count();
            assert_eq!(listeners, 0, "{} keeps a listener FIFO", dir.display());
        }
        std::fs::remove_dir_all(&root).unwrap();
    }
}
