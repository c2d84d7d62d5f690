//! The scanner, in s6-svscan's role: one supervisor per service directory of the scan
//! directory, plus one for `X/log` when it exists, joined by a pipe the scanner creates and
//! holds while the pair is known, so either side can restart without losing a byte. Pipes
//! between other services (longer pipelines, funnels) are named in `ostler-pipes` and held the
//! same way ([`pipes`]).
//!
//! By default the supervisors live inside the scanner's own process ([`Supervisor`] objects
//! driven by this loop): one process for the whole tree instead of one per service, while each
//! service keeps its own s6-exact `supervise/` and `event/`. With a supervisor program (such
//! as s6-supervise, or `ostler supervise`) it spawns one process per service instead, as
//! s6-svscan does, and restarts it a second after it dies.
//!
//! The scanner rescans only when told (control letter `a`, SIGALRM, SIGHUP) unless a period is
//! given, and reaps every child, orphans included: when it is not PID 1 it makes itself the
//! subreaper of its descendants, so orphans come to it rather than to the real init.

mod pipes;
mod rescan;
mod timers;
mod watched;

use crate::error::SuperviseError;
use crate::say::say;
use crate::spawn::{self, FdPlan, SpawnPlan};
use crate::supervisor::{Outcome, Stdio, Supervisor};
use crate::sys;
use crate::timing::{self, CONTROL_READ, SUPERVISOR_RESPAWN};
use nix::poll::{poll, PollFd, PollFlags};
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use ostler_core::letter::ScanLetter;
use ostler_core::lock;
use std::collections::{BTreeSet, HashMap};
use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};
use watched::{ControlSet, Watched};

const PROGRAM: &str = "ostler svscan";

/// Services that read the scanner's own output (s6-linux-init's and ostler's catch-all).
const CATCH_ALL_LOGGERS: &[&str] = &["s6-svscan-log", "ostler-log"];

/// How the scanner is asked to run.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The scan directory.
    pub dir: PathBuf,
    /// Rescan this often as well as when told (`-t`); `None` = only when told.
    pub rescan: Option<Duration>,
    /// Most services supervised at once (`-c`); a service and its logger count as one.
    pub max_services: usize,
    /// Write a newline to this fd once the first scan is done (`-d`).
    pub readiness_fd: Option<RawFd>,
    /// Spawn this program per service (`PROGRAM NAME`, cwd = scan directory) instead of
    /// supervising in-process.
    pub supervisor_program: Option<PathBuf>,
    /// ostler's built-in services, for services whose `run` is ostler itself.
    pub builtins: Option<crate::spawn::Builtins>,
}

/// Runs the scanner until it is told to stop, then execs `.s6-svscan/finish` (or returns 0
/// when there is none). Returns the exit code: 100 when another scanner holds the directory,
/// 111 when it cannot set up.
pub fn run(options: Options) -> u8 {
    match Scanner::new(options) {
        Ok(mut scanner) => {
            scanner.main_loop();
            scanner.finish()
        }
        Err(e @ SuperviseError::AlreadyScanned(_)) => {
            say!("{PROGRAM}: fatal: {e}");
            100
        }
        Err(e) => {
            say!("{PROGRAM}: fatal: {e}");
            crash()
        }
    }
}

/// Which of a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Half {
    Main,
    Log,
}

/// One side of an entry, by the entry's serial: unlike its index, it does not change while
/// the entry lives.
type Key = (u32, Half);

/// One side's supervisor.
enum Slot {
    /// Supervised in this process.
    Internal(Watched),
    /// A supervisor process.
    External(i32),
    /// No supervisor now; start one at this time if the service is still active.
    Stopped(Option<Instant>),
}

struct Entry {
    name: String,
    id: (u64, u64),
    /// Given when added, never reused.
    serial: u32,
    /// Each side's deadline as last told to the timers.
    timers: [Option<Instant>; 2],
    /// Seen in the last scan.
    active: bool,
    main: Slot,
    log: Option<Slot>,
    /// The log pipe: (read end, write end), held while the pair is known.
    pipe: Option<(Rc<OwnedFd>, Rc<OwnedFd>)>,
    /// The named pipes its directory asks for (`ostler-pipes`), held while it is known.
    pipes: pipes::Held,
}

impl Slot {
    /// The slot of a supervisor that has exited: restarted a second later while its service is
    /// still active (as s6-svscan does), else left stopped.
    fn after_exit(active: bool) -> Slot {
        Slot::Stopped(active.then(|| Instant::now() + SUPERVISOR_RESPAWN))
    }
}

impl Entry {
    fn slot(&self, half: Half) -> Option<&Slot> {
        match half {
            Half::Main => Some(&self.main),
            Half::Log => self.log.as_ref(),
        }
    }

    fn slot_mut(&mut self, half: Half) -> Option<&mut Slot> {
        match half {
            Half::Main => Some(&mut self.main),
            Half::Log => self.log.as_mut(),
        }
    }

    fn all_stopped(&self) -> bool {
        matches!(self.main, Slot::Stopped(_)) && self.log.as_ref().is_none_or(|s| matches!(s, Slot::Stopped(_)))
    }
}

/// What the loop must do after a wake-up, gathered so each is done once per turn.
#[derive(Default)]
struct Todo {
    scan: bool,
    prune: Option<Prune>,
    stop: Option<Stop>,
    abort: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Prune {
    /// Loggers get HUP-like treatment: they exit at EOF.
    Gentle,
    /// Loggers are stopped too.
    Hard,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// `t`, SIGTERM, SIGINT: services down, loggers drain and exit.
    Terminate,
    /// `q`, SIGQUIT: every supervisor told to stop.
    Quit,
}

/// A readable fd found by poll.
#[derive(Clone, Copy)]
enum Ready {
    Signals,
    Control,
    SupervisorControl(usize, Half),
    Notification(usize, Half),
}

struct Scanner {
    options: Options,
    entries: Vec<Entry>,
    /// Each entry's index, by serial.
    positions: HashMap<u32, usize>,
    next_serial: u32,
    /// The sides' deadlines.
    timers: timers::Timers<Key>,
    /// The sides with fds of their own to poll: a notification fd, or a control FIFO the set
    /// could not take.
    polled: BTreeSet<Key>,
    signals: SignalFd,
    control: OwnedFd,
    controls: ControlSet,
    _lock: OwnedFd,
    next_rescan: Option<Instant>,
    /// Some entry is inactive (gone from the scan directory, or stopping): `tidy` has work.
    untidy: bool,
    stopping: Option<Stop>,
    abort: bool,
    cgroups: Rc<crate::cgroup::Cgroups>,
}

impl Scanner {
    fn new(options: Options) -> Result<Scanner, SuperviseError> {
        spawn::note_ignored_signals();
        crate::say::never_wait();
        let signals = sys::signal_fd().map_err(|e| SuperviseError::io("set up signals for", &options.dir, e.into()))?;
        spawn::raise_fd_limit();
        sys::become_subreaper();
        std::env::set_current_dir(&options.dir).map_err(|e| SuperviseError::io("chdir to", &options.dir, e))?;
        let private = Path::new(".s6-svscan");
        match std::fs::DirBuilder::new().mode(0o700).create(private) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(SuperviseError::io("mkdir", &options.dir.join(private), e)),
        }
        let lock_path = options.dir.join(".s6-svscan/lock");
        let lock_file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(".s6-svscan/lock")
            .map_err(|e| SuperviseError::io("open", &lock_path, e))?;
        match lock::try_lock(&lock_file) {
            Ok(true) => {}
            Ok(false) => return Err(SuperviseError::AlreadyScanned(options.dir.clone())),
            Err(e) => return Err(SuperviseError::io("lock", &lock_path, e)),
        }
        let control_path = Path::new(".s6-svscan/control");
        match nix::unistd::mkfifo(control_path, nix::sys::stat::Mode::from_bits_truncate(0o600)) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(SuperviseError::io("mkfifo", &options.dir.join(control_path), e.into())),
        }
        let control = sys::open_fifo_rdwr(control_path)
            .map_err(|e| SuperviseError::io("open", &options.dir.join(control_path), e.into()))?;
        // After the lock: a second scanner on the directory must not move anything.
        let cgroups = match options.supervisor_program {
            None => crate::cgroup::Cgroups::setup(PROGRAM),
            Some(_) => crate::cgroup::Cgroups::off("the supervisors are programs of their own"),
        };
        Ok(Scanner {
            options,
            entries: Vec::new(),
            positions: HashMap::new(),
            next_serial: 0,
            timers: timers::Timers::new(),
            polled: BTreeSet::new(),
            signals,
            control,
            controls: ControlSet::new(),
            _lock: lock_file.into(),
            next_rescan: None,
            untidy: false,
            stopping: None,
            abort: false,
            cgroups,
        })
    }

    fn main_loop(&mut self) {
        self.scan();
        if let Some(fd) = self.options.readiness_fd {
            // SAFETY: the fd was handed to us on the command line to be written once and closed.
            let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
            let _ = nix::unistd::write(&fd, b"\n");
        }
        loop {
            if self.abort || (self.stopping.is_some() && self.entries.is_empty()) {
                return;
            }
            let (ready, deadline) = self.wait();
            let mut todo = Todo::default();
            for event in ready {
                match event {
                    Ready::Signals => self.on_signals(&mut todo),
                    Ready::Control => self.on_control(&mut todo),
                    Ready::SupervisorControl(index, half) => {
                        self.drive(index, half, |s| s.on_control());
                    }
                    Ready::Notification(index, half) => {
                        self.drive(index, half, |s| s.on_notification());
                    }
                }
            }
            let now = Instant::now();
            if self.next_rescan.is_some_and(|at| at <= now) {
                todo.scan = true;
            }
            // A deadline set while handling this turn's events lies ahead: the next wait
            // sees it. So when none was due before, none is due now.
            if deadline.is_some_and(|at| at <= now) {
                self.fire_deadlines(now);
            }
            self.act(todo);
            self.tidy();
        }
    }

    /// Polls every fd we listen on until one is readable or the nearest deadline passes. The
    /// supervisors' control FIFOs are one fd: their set's. Returns what is readable, and that
    /// deadline.
    fn wait(&mut self) -> (Vec<Ready>, Option<Instant>) {
        let deadline = timing::earliest(self.next_rescan, self.earliest_timer());
        let mut tags = vec![Ready::Signals, Ready::Control];
        let mut fds = vec![
            PollFd::new(self.signals.as_fd(), PollFlags::POLLIN),
            PollFd::new(self.control.as_fd(), PollFlags::POLLIN),
        ];
        for &(serial, half) in &self.polled {
            let Some(&index) = self.positions.get(&serial) else { continue };
            if let Some(Slot::Internal(supervisor)) = self.entries[index].slot(half) {
                if !supervisor.in_set() {
                    tags.push(Ready::SupervisorControl(index, half));
                    fds.push(PollFd::new(supervisor.control_fd(), PollFlags::POLLIN));
                }
                if let Some(fd) = supervisor.notification_fd() {
                    tags.push(Ready::Notification(index, half));
                    fds.push(PollFd::new(fd, PollFlags::POLLIN));
                }
            }
        }
        // The set's fd goes last, past the tags: what it holds is asked after the poll.
        let set = self.controls.fd();
        if let Some(fd) = set {
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
        }
        if poll(&mut fds, sys::poll_timeout(deadline)).is_err() {
            return (Vec::new(), deadline);
        }
        let readable = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
        let mut ready: Vec<Ready> = fds.iter().zip(tags).filter(|(fd, _)| readable(fd)).map(|(_, tag)| tag).collect();
        if set.is_some() && fds.last().is_some_and(readable) {
            ready.extend(self.readable_controls());
        }
        (ready, deadline)
    }

    /// The supervisors whose control FIFO the set finds readable.
    fn readable_controls(&self) -> Vec<Ready> {
        let readable = self.controls.readable();
        let mut ready = Vec::with_capacity(readable.len());
        for tag in readable {
            let (serial, half) = watched_key(tag);
            if let Some(&index) = self.positions.get(&serial) {
                ready.push(Ready::SupervisorControl(index, half));
            }
        }
        ready
    }

    /// The earliest deadline of any side.
    fn earliest_timer(&mut self) -> Option<Instant> {
        let (positions, entries) = (&self.positions, &self.entries);
        let live = entries.len() * 2;
        self.timers.compact(
            live,
            entries.iter().flat_map(|e| {
                [Half::Main, Half::Log].into_iter().filter_map(move |h| Some((e.timers[h as usize]?, (e.serial, h))))
            }),
        );
        self.timers.earliest(|key| told(positions, entries, key))
    }

    /// Tells the timers and the poll what one side now waits for: after anything that may
    /// have changed its supervisor, its slot, or whether its entry is active.
    fn refresh(&mut self, index: usize, half: Half) {
        let stopping = self.stopping.is_some();
        let Some(entry) = self.entries.get_mut(index) else { return };
        let (deadline, polled) = match entry.slot(half) {
            Some(Slot::Internal(supervisor)) => {
                (supervisor.next_deadline(), !supervisor.in_set() || supervisor.notification_fd().is_some())
            }
            Some(Slot::Stopped(at)) if entry.active && !stopping => (*at, false),
            _ => (None, false),
        };
        let key = (entry.serial, half);
        if entry.timers[half as usize] != deadline {
            entry.timers[half as usize] = deadline;
            if let Some(at) = deadline {
                self.timers.push(at, key);
            }
        }
        if polled {
            self.polled.insert(key);
        } else {
            self.polled.remove(&key);
        }
    }

    /// [`Scanner::refresh`] for every side: after a scan, a prune, a stop, a tidy.
    fn refresh_all(&mut self) {
        for index in 0..self.entries.len() {
            self.refresh(index, Half::Main);
            self.refresh(index, Half::Log);
        }
    }

    fn on_signals(&mut self, todo: &mut Todo) {
        while let Ok(Some(info)) = self.signals.read_signal() {
            let Ok(signal) = Signal::try_from(info.ssi_signo as i32) else { continue };
            match signal {
                Signal::SIGCHLD => {}
                Signal::SIGALRM => todo.scan = true,
                Signal::SIGABRT => todo.abort = true,
                _ if self.divert(signal) => {}
                Signal::SIGHUP => {
                    todo.scan = true;
                    todo.prune = Some(Prune::Gentle);
                }
                Signal::SIGINT | Signal::SIGTERM => todo.stop = Some(Stop::Terminate),
                Signal::SIGQUIT => todo.stop = Some(Stop::Quit),
                _ => {}
            }
        }
        self.reap();
    }

    /// Runs `.s6-svscan/SIG<NAME>` when it exists, instead of the built-in action.
    fn divert(&self, signal: Signal) -> bool {
        let path = format!(".s6-svscan/{}", signal.as_str());
        let Ok(program) = CString::new(path.clone()) else { return false };
        match spawn::spawn(&SpawnPlan::plain(program.clone(), vec![program])) {
            Ok(_) => true,
            Err(nix::errno::Errno::ENOENT) => false,
            Err(e) => {
                say!("{PROGRAM}: warning: unable to spawn {path}: {e}; doing the default action instead");
                false
            }
        }
    }

    fn on_control(&mut self, todo: &mut Todo) {
        let mut buf = [0u8; CONTROL_READ];
        let Ok(n) = nix::unistd::read(&self.control, &mut buf) else { return };
        for letter in buf[..n].iter().filter_map(|b| ScanLetter::from_byte(*b)) {
            match letter {
                ScanLetter::Reap => self.reap(),
                ScanLetter::Scan => todo.scan = true,
                ScanLetter::Abort => todo.abort = true,
                ScanLetter::Hangup => {
                    todo.scan = true;
                    todo.prune = Some(Prune::Gentle);
                }
                ScanLetter::Interrupt | ScanLetter::Terminate => todo.stop = Some(Stop::Terminate),
                ScanLetter::Quit => todo.stop = Some(Stop::Quit),
                ScanLetter::Prune => todo.prune = Some(todo.prune.unwrap_or(Prune::Gentle)),
                ScanLetter::PruneHard => todo.prune = Some(Prune::Hard),
            }
        }
    }

    /// Reaps every dead child; each death goes to the supervisor it belongs to, and orphans
    /// are simply collected.
    fn reap(&mut self) {
        while let Some(dead) = sys::reap_one() {
            self.on_death(dead);
        }
    }

    fn on_death(&mut self, dead: sys::Reaped) {
        let pid = dead.pid;
        let stopping = self.stopping.is_some();
        for index in 0..self.entries.len() {
            for half in [Half::Main, Half::Log] {
                let entry = &mut self.entries[index];
                let active = entry.active && !stopping;
                let Some(slot) = entry.slot_mut(half) else { continue };
                match slot {
                    Slot::Internal(supervisor) if supervisor.owns(pid) => {
                        if supervisor.on_death(pid, dead.wstat, dead.exec_failed) == Outcome::Exited {
                            *slot = Slot::after_exit(active);
                        }
                    }
                    Slot::External(child) if *child == pid => *slot = Slot::after_exit(active),
                    _ => continue,
                }
                self.refresh(index, half);
                return;
            }
        }
    }

    /// Calls `f` on an in-process supervisor; an exit leaves its slot stopped.
    fn drive(&mut self, index: usize, half: Half, f: impl FnOnce(&mut Supervisor) -> Outcome) {
        let stopping = self.stopping.is_some();
        let Some(entry) = self.entries.get_mut(index) else { return };
        let active = entry.active && !stopping;
        if let Some(slot) = entry.slot_mut(half) {
            if let Slot::Internal(supervisor) = slot {
                if f(supervisor) == Outcome::Exited {
                    *slot = Slot::after_exit(active);
                }
            }
        }
        self.refresh(index, half);
    }

    fn fire_deadlines(&mut self, now: Instant) {
        let (positions, entries) = (&self.positions, &self.entries);
        let due = self.timers.due(now, |key| told(positions, entries, key));
        for (serial, half) in due {
            let Some(&index) = self.positions.get(&serial) else { continue };
            // Taken out of the timers: both ways below tell them again. A current deadline is
            // one `refresh` found, and it runs after every change to the side or its entry.
            self.entries[index].timers[half as usize] = None;
            match self.entries[index].slot(half) {
                Some(Slot::Stopped(Some(_))) => self.start_half(index, half),
                Some(Slot::Internal(_)) => self.drive(index, half, |s| s.on_deadline(now)),
                _ => {}
            }
        }
    }

    fn act(&mut self, todo: Todo) {
        if todo.abort {
            self.abort = true;
            return;
        }
        if let Some(stop) = todo.stop {
            self.stop(stop);
            return;
        }
        if todo.scan && self.stopping.is_none() {
            self.scan();
        }
        if let Some(prune) = todo.prune {
            self.prune(prune);
        }
    }

    /// Compares the scan directory with what we supervise: new directories get supervisors,
    /// known ones stay active, missing ones become inactive (stopped only by a prune).
    fn scan(&mut self) {
        self.next_rescan = self.options.rescan.map(|period| Instant::now() + period);
        let found = match rescan::scan(Path::new(".")) {
            Ok(found) => found,
            Err(e) => {
                say!(
                    "{PROGRAM}: warning: unable to read {}: {e}; keeping the services as they are",
                    self.options.dir.display()
                );
                return;
            }
        };
        // Known directories by identity, looked up once each (a search of every entry for each
        // one found made a rescan of a thousand services quadratic, in PID 1).
        let mut known: HashMap<(u64, u64), usize> = HashMap::with_capacity(self.entries.len());
        for (index, entry) in self.entries.iter_mut().enumerate() {
            entry.active = false;
            known.entry(entry.id).or_insert(index);
        }
        self.untidy = true;
        let mut active = 0;
        for service in found {
            let same = |e: &Entry| e.id == service.id && e.name == service.name;
            let index = match known.get(&service.id) {
                Some(&index) if same(&self.entries[index]) => Some(index),
                // The same directory under two names: rare, searched.
                Some(_) => self.entries.iter().position(same),
                None => None,
            };
            if let Some(index) = index {
                if !self.entries[index].active {
                    self.entries[index].active = true;
                    active += 1;
                }
                continue;
            }
            if active >= self.options.max_services {
                say!(
                    "{PROGRAM}: warning: not supervising {}: {} services already; raise the limit with -c",
                    service.name,
                    self.options.max_services
                );
                continue;
            }
            let before = self.entries.len();
            self.add(service);
            active += self.entries.len() - before;
        }
        // Entries gone from the directory no longer restart their supervisors.
        self.refresh_all();
    }

    fn add(&mut self, service: rescan::Found) {
        let logged = rescan::has_log(Path::new(&service.name));
        let pipe = if logged {
            match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
                Ok((read, write)) => Some((Rc::new(read), Rc::new(write))),
                Err(e) => {
                    say!(
                        "{PROGRAM}: warning: unable to make the log pipe of {}: {e}; trying at the next scan",
                        service.name
                    );
                    return;
                }
            }
        } else {
            None
        };
        let Some(pipes) = self.named_pipes(&service.name) else { return };
        let serial = self.next_serial;
        self.next_serial = self.next_serial.wrapping_add(1);
        self.positions.insert(serial, self.entries.len());
        self.entries.push(Entry {
            name: service.name,
            id: service.id,
            serial,
            timers: [None, None],
            active: true,
            main: Slot::Stopped(None),
            log: logged.then_some(Slot::Stopped(None)),
            pipe,
            pipes,
        });
        let index = self.entries.len() - 1;
        // The logger first, so that it is reading before the service writes.
        if logged {
            self.start_half(index, Half::Log);
        }
        self.start_half(index, Half::Main);
    }

    /// The named pipes `NAME/ostler-pipes` asks for: found in the services that hold them
    /// already, or made. `None` when a pipe cannot be made (tried again at the next scan).
    fn named_pipes(&self, name: &str) -> Option<pipes::Held> {
        let file = format!("{name}/{}", pipes::FILE);
        let text = match ostler_core::settings::read_small(Path::new(&file)) {
            Ok(Some(text)) => text,
            Ok(None) => return Some(pipes::Held::default()),
            Err(e) => {
                say!("{PROGRAM}: warning: {e}; {name} starts without its pipes");
                return Some(pipes::Held::default());
            }
        };
        let (wanted, problems) = pipes::Wanted::parse(&text);
        for problem in problems {
            say!("{PROGRAM}: warning: {file}: {problem}; the line is ignored");
        }
        let get = |pipe: &Option<String>| -> Result<Option<Rc<pipes::Pipe>>, ()> {
            let Some(pipe) = pipe else { return Ok(None) };
            if let Some(held) = self.entries.iter().find_map(|e| e.pipes.find(pipe)) {
                return Ok(Some(held.clone()));
            }
            pipes::make(pipe).map(Some).map_err(|e| {
                say!("{PROGRAM}: warning: unable to make the pipe {pipe} of {name}: {e}; trying at the next scan");
            })
        };
        let stdin = get(&wanted.stdin).ok()?;
        // The same name on both sides: one pipe, not two made in turn.
        let stdout = match (&stdin, &wanted.stdout) {
            (Some(pipe), Some(out)) if &pipe.name == out => Some(pipe.clone()),
            _ => get(&wanted.stdout).ok()?,
        };
        Some(pipes::Held { stdin, stdout })
    }

    /// Starts the supervisor of one side of an entry.
    fn start_half(&mut self, index: usize, half: Half) {
        let entry = &mut self.entries[index];
        let serial = entry.serial;
        let (name, stdio) = match half {
            Half::Main => {
                let stdin = entry.pipes.stdin.as_ref().map(|p| p.read.clone());
                let stdout = entry.pipes.stdout.as_ref().map(|p| p.write.clone());
                (
                    entry.name.clone(),
                    Stdio { stdin, stdout: stdout.or_else(|| entry.pipe.as_ref().map(|p| p.1.clone())) },
                )
            }
            Half::Log => {
                (format!("{}/log", entry.name), Stdio { stdin: entry.pipe.as_ref().map(|p| p.0.clone()), stdout: None })
            }
        };
        let slot = match &self.options.supervisor_program {
            // The directory itself, not its name in the scan directory: a supervisor keeps
            // writing its supervise/ when the link leaves the scan directory before a prune,
            // as s6-supervise does from inside its directory.
            None => match Supervisor::start(
                PROGRAM,
                &resolved(&name),
                name.clone(),
                stdio,
                self.options.builtins,
                &self.cgroups,
            ) {
                Ok(supervisor) => Slot::Internal(self.controls.watch(supervisor, watch_tag((serial, half)))),
                Err(e) => {
                    say!("{PROGRAM}: warning: unable to supervise {name}: {e}; trying again in a second");
                    Slot::Stopped(Some(Instant::now() + SUPERVISOR_RESPAWN))
                }
            },
            Some(program) => match spawn_supervisor(program, &name, &stdio) {
                Ok(pid) => Slot::External(pid),
                Err(e) => {
                    say!(
                        "{PROGRAM}: warning: unable to spawn {} {name}: {e}; trying again in a second",
                        program.display()
                    );
                    Slot::Stopped(Some(Instant::now() + SUPERVISOR_RESPAWN))
                }
            },
        };
        if let Some(target) = self.entries[index].slot_mut(half) {
            *target = slot;
        }
        self.refresh(index, half);
    }

    /// Stops the supervisors of inactive entries.
    fn prune(&mut self, prune: Prune) {
        for index in 0..self.entries.len() {
            if self.entries[index].active {
                continue;
            }
            for half in [Half::Main, Half::Log] {
                if let Some(Slot::Internal(supervisor)) = self.entries[index].slot_mut(half) {
                    supervisor.follow_move();
                }
            }
            self.tell(index, Half::Main, Signal::SIGTERM);
            let log_signal = if prune == Prune::Hard { Signal::SIGTERM } else { Signal::SIGHUP };
            self.tell(index, Half::Log, log_signal);
        }
    }

    fn stop(&mut self, stop: Stop) {
        self.stopping = Some(stop);
        // A catch-all logger reads what our stdout and stderr point to: it can only see EOF,
        // and so exit, once we let go of them (s6-svscan does the same for s6-svscan-log).
        if CATCH_ALL_LOGGERS.iter().any(|name| Path::new(name).is_dir()) {
            crate::say::let_go();
            if let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") {
                let _ = nix::unistd::dup2_stdout(&null);
                let _ = nix::unistd::dup2_stderr(&null);
            }
        }
        for index in 0..self.entries.len() {
            self.entries[index].active = false;
            self.untidy = true;
            self.tell(index, Half::Main, Signal::SIGTERM);
            let log_signal = if stop == Stop::Quit { Signal::SIGTERM } else { Signal::SIGHUP };
            self.tell(index, Half::Log, log_signal);
            // Our copy of the pipe goes; each side's own copy lives until it exits, so the
            // logger reads to the end of what the service wrote, then sees EOF.
            self.entries[index].pipe = None;
            self.entries[index].pipes = pipes::Held::default();
        }
    }

    /// Tells one side's supervisor to stop, the way a signal would tell s6-supervise.
    fn tell(&mut self, index: usize, half: Half, signal: Signal) {
        let stopping = self.stopping.is_some();
        let Some(entry) = self.entries.get_mut(index) else { return };
        let active = entry.active && !stopping;
        let Some(slot) = entry.slot_mut(half) else { return };
        match slot {
            Slot::Internal(supervisor) => {
                let outcome = if signal == Signal::SIGHUP { supervisor.hangup() } else { supervisor.terminate() };
                if outcome == Outcome::Exited {
                    *slot = Slot::after_exit(active);
                }
            }
            Slot::External(pid) => {
                let _ = sys::signal(*pid, signal, false);
            }
            Slot::Stopped(at) => *at = None,
        }
        self.refresh(index, half);
    }

    /// Forgets inactive entries whose supervisors have all stopped, closing their log pipe.
    /// Only entries a scan or a stop made inactive can go, so most turns have nothing to do.
    fn tidy(&mut self) {
        if !self.untidy {
            return;
        }
        for entry in &mut self.entries {
            // An inactive service whose main side is gone: drop our write end, so the logger
            // sees EOF once the service's last writer is gone.
            if !entry.active && matches!(entry.main, Slot::Stopped(_)) {
                entry.pipe = None;
                entry.pipes = pipes::Held::default();
            }
        }
        let before = self.entries.len();
        self.entries.retain(|e| e.active || !e.all_stopped());
        if self.entries.len() != before {
            self.positions = self.entries.iter().enumerate().map(|(index, e)| (e.serial, index)).collect();
            let positions = &self.positions;
            self.polled.retain(|(serial, _)| positions.contains_key(serial));
        }
        self.untidy = self.entries.iter().any(|e| !e.active);
    }

    /// After the loop: exec `.s6-svscan/finish`, or return 0 without one.
    fn finish(self) -> u8 {
        drop(self);
        match exec_in_place(".s6-svscan/finish") {
            nix::errno::Errno::ENOENT => 0,
            e => {
                say!("{PROGRAM}: fatal: unable to exec .s6-svscan/finish: {e}; make it executable");
                111
            }
        }
    }
}

/// The deadline last told to the timers for `key`'s side (`None` once its entry is gone).
fn told(positions: &HashMap<u32, usize>, entries: &[Entry], (serial, half): Key) -> Option<Instant> {
    entries[*positions.get(&serial)?].timers[half as usize]
}

/// The tag a side's control FIFO carries in the set, and back.
fn watch_tag((serial, half): Key) -> u64 {
    u64::from(serial) << 1 | half as u64
}

fn watched_key(tag: u64) -> Key {
    ((tag >> 1) as u32, if tag & 1 == 0 { Half::Main } else { Half::Log })
}

/// Spawns `PROGRAM NAME` in the scan directory with the pipe ends as its stdin/stdout.
fn spawn_supervisor(program: &Path, name: &str, stdio: &Stdio) -> Result<i32, nix::errno::Errno> {
    let cstr = |bytes: &[u8]| CString::new(bytes).map_err(|_| nix::errno::Errno::EINVAL);
    let program = cstr(find_in_path(program).as_os_str().as_bytes())?;
    let argv = vec![program.clone(), cstr(name.as_bytes())?];
    let plan = SpawnPlan {
        stdin: FdPlan::of(&stdio.stdin),
        stdout: FdPlan::of(&stdio.stdout),
        ..SpawnPlan::plain(program, argv)
    };
    spawn::spawn(&plan)
}

/// A bare program name is looked up in PATH, as a shell would; a path is used as it is.
fn find_in_path(program: &Path) -> PathBuf {
    if program.components().count() > 1 {
        return program.to_path_buf();
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| nix::unistd::access(candidate, nix::unistd::AccessFlags::X_OK).is_ok())
        .unwrap_or_else(|| program.to_path_buf())
}

/// Execs a program with no arguments, with signals unblocked; returns only on failure.
fn exec_in_place(path: &str) -> nix::errno::Errno {
    let Ok(program) = CString::new(path) else { return nix::errno::Errno::EINVAL };
    let _ = sys::handled_signals().thread_unblock();
    match nix::unistd::execv(&program, &[&program]) {
        Err(e) => e,
        Ok(never) => match never {},
    }
}

/// A fatal error: exec `.s6-svscan/crash` when there is one, else exit 111.
fn crash() -> u8 {
    let _ = exec_in_place(".s6-svscan/crash");
    111
}

/// Where a scan-directory entry (`NAME` or `NAME/log`) really is: `NAME`'s link followed,
/// or the entry itself, as an absolute path. One readlink: resolving every component
/// (`canonicalize`) costs one per component, for each service the scanner adds.
fn resolved(name: &str) -> std::path::PathBuf {
    let (top, inside) = match name.split_once('/') {
        Some((top, inside)) => (top, Some(inside)),
        None => (name, None),
    };
    let here = || std::env::current_dir().unwrap_or_default();
    let dir = match std::fs::read_link(top) {
        Ok(target) if target.is_absolute() => target,
        Ok(target) => here().join(target),
        Err(_) => here().join(top),
    };
    match inside {
        Some(inside) => dir.join(inside),
        None => dir,
    }
}
