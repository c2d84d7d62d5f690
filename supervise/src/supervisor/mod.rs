//! One service's supervisor, as an object any event loop can drive: the `ostler supervise`
//! process drives one, the scanner drives one per service in its own process. It owns the
//! service's `supervise/` directory exactly as s6-supervise lays it out (`lock` held with an
//! fcntl lock, `control` FIFO, `status`, `death_tally`) and its `event/` fifodir, so s6's
//! clients cannot tell it from s6-supervise.

pub mod notify;
pub mod state;

use crate::cgroup::{Cgroups, Group};
use crate::error::SuperviseError;
use crate::say::say;
use crate::spawn::{self, Builtins, FdPlan, SpawnPlan};
use crate::sys;
use crate::timing::{CONTROL_READ, FILE_RETRY};
use nix::errno::Errno;
use ostler_core::death_tally::{self, Death};
use ostler_core::fifodir;
use ostler_core::letter::Letter;
use ostler_core::settings::Settings;
use ostler_core::{lock, Tain};
use rustix::fs::{Mode, OFlags};
use state::{Action, Env, Event, Machine, Program, State, Target, Tunables};
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

/// What a supervisor reports after handling something.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Keep driving it.
    Running,
    /// It has exited (event `x` posted); drop it.
    Exited,
}

/// The stdin and stdout its programs get: the scanner's log pipe ends, or inherited.
#[derive(Clone, Debug, Default)]
pub struct Stdio {
    /// fd 0 of run and finish.
    pub stdin: Option<Rc<OwnedFd>>,
    /// fd 1 of run and finish.
    pub stdout: Option<Rc<OwnedFd>>,
}

/// One supervised service.
pub struct Supervisor {
    /// The name given to run and finish (`foo`, or `foo/log`).
    name: String,
    /// The service directory.
    dir: PathBuf,
    /// Program name for messages (`ostler supervise` or `ostler svscan`).
    program: &'static str,
    control: OwnedFd,
    /// `supervise/lock`, held (and locked) while we supervise; also how we find the directory
    /// again if it is moved away (see [`Supervisor::follow_move`]).
    lock: OwnedFd,
    notification: Option<Readiness>,
    stdio: Stdio,
    /// Its logger marks its lines (`ostler mark`, in a container): stderr goes into the pipe
    /// too, so both reach the container's output led by its name. Known at start: the live
    /// directory is complete before the scanner sees it.
    stderr_to_log: bool,
    machine: Machine,
    deaths: Vec<Death>,
    builtins: Option<Builtins>,
    /// The status changed and is not written yet: written once per event, before any
    /// announcement (a listener woken by an event must read the new status).
    status_dirty: bool,
    /// What `supervise/status` holds, as we last wrote it.
    written_status: Option<ostler_core::Status>,
    /// `supervise/status` or `death_tally` could not be written (a full /run): when to try
    /// again. Until then what readers see is stale, so it is not left for the next change.
    retry_files_at: Option<Instant>,
    /// The death tally is to be written again.
    tally_dirty: bool,
    /// The start (`s`) is not announced yet: it goes out with the first announcement, or at
    /// the end of the first event at the latest.
    start_untold: bool,
    /// The service's control group, when the scanner makes them.
    group: Option<Group>,
    cgroups: Rc<Cgroups>,
}

impl Supervisor {
    /// Takes over `dir`: creates `supervise/` and `event/`, takes the lock (a second
    /// supervisor fails here), writes the first status and posts `s`, then starts the service
    /// unless `down` exists. With `cgroups` on, the service gets its control group.
    pub fn start(
        program: &'static str,
        dir: &Path,
        name: String,
        stdio: Stdio,
        builtins: Option<Builtins>,
        cgroups: &Rc<Cgroups>,
    ) -> Result<Supervisor, SuperviseError> {
        let supervise_dir = dir.join("supervise");
        make_dir(&supervise_dir, 0o700)?;
        let lock_path = supervise_dir.join("lock");
        let lock_file = std::fs::File::from(
            rustix::fs::open(&lock_path, OFlags::RDWR | OFlags::CREATE | OFlags::CLOEXEC, Mode::from_raw_mode(0o644))
                .map_err(|e| SuperviseError::io("open", &lock_path, e.into()))?,
        );
        match lock::try_lock(&lock_file) {
            Ok(true) => {}
            Ok(false) => return Err(SuperviseError::AlreadySupervised(dir.to_path_buf())),
            Err(e) => return Err(SuperviseError::io("lock", &lock_path, e)),
        }
        let control_path = supervise_dir.join("control");
        match nix::unistd::mkfifo(&control_path, nix::sys::stat::Mode::from_bits_truncate(0o600)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(SuperviseError::io("mkfifo", &control_path, e.into())),
        }
        let control =
            sys::open_fifo_rdwr(&control_path).map_err(|e| SuperviseError::io("open", &control_path, e.into()))?;
        fifodir::create(&dir.join("event"))?;
        let wall = Tain::now();
        let want_up = !dir.join("down").exists();
        let stderr_to_log = stdio.stdout.is_some() && dir.join("log").join(ostler_core::paths::MARK_LOGGER).exists();
        // ostler's built-in services (the catch-all logger…) run ostler's code in a forked
        // child, which stays in the scanner's group: no clone3 for them (see crate::spawn).
        let builtin = builtins.is_some() && is_own_binary(&dir.join("run"));
        let group = group_of(program, &name, &supervise_dir, (!builtin).then_some(cgroups));
        let mut supervisor = Supervisor {
            name,
            dir: dir.to_path_buf(),
            program,
            control,
            lock: lock_file.into(),
            notification: None,
            stdio,
            stderr_to_log,
            machine: Machine::new(want_up, wall),
            deaths: Vec::new(),
            builtins,
            status_dirty: false,
            written_status: None,
            retry_files_at: None,
            tally_dirty: false,
            start_untold: false,
            group,
            cgroups: cgroups.clone(),
        };
        // A fresh, empty death tally, as s6 truncates it at start (no rename needed: empty).
        // NONBLOCK: a FIFO under that name must not hang the scanner.
        let tally = supervise_dir.join(death_tally::FILE);
        let _ = rustix::fs::open(
            &tally,
            OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::CLOEXEC | OFlags::NONBLOCK,
            Mode::from_raw_mode(0o644),
        );
        if want_up {
            // `s` goes out with the spawn's `u`, after the status that says up: one status
            // write and one pass over the listeners instead of two — a fifth of what a
            // service's start costs its supervisor.
            supervisor.start_untold = true;
            supervisor.handle(Event::Control(Letter::Up));
        } else {
            supervisor.write_status();
            let _ = fifodir::notify(&dir.join("event"), state::START_EVENT);
        }
        Ok(supervisor)
    }

    /// The service directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Follows the service directory when it was moved away from where it was found (out of
    /// the scan directory, to be pruned): s6-supervise works from inside the directory, so its
    /// last writes — the down status, the death tally — follow it; ours follow the lock file
    /// we hold open, whose path the kernel keeps up to date. A directory deleted is left as it
    /// is (there is nothing to write to).
    pub fn follow_move(&mut self) {
        if self.dir.join("supervise").is_dir() {
            return;
        }
        let Ok(lock) = std::fs::read_link(format!("/proc/self/fd/{}", self.lock.as_raw_fd())) else { return };
        if !lock.ends_with("supervise/lock") || lock.as_os_str().as_bytes().ends_with(b" (deleted)") {
            return;
        }
        if let Some(dir) = lock.parent().and_then(Path::parent) {
            self.dir = dir.to_path_buf();
        }
    }

    /// The control FIFO, to poll for reading.
    pub fn control_fd(&self) -> BorrowedFd<'_> {
        self.control.as_fd()
    }

    /// The notification pipe or notify socket, to poll for reading, while one is open.
    pub fn notification_fd(&self) -> Option<BorrowedFd<'_>> {
        self.notification.as_ref().map(|channel| match channel {
            Readiness::Pipe(fd) => fd.as_fd(),
            Readiness::Socket(socket) => socket.fd(),
        })
    }

    /// The nearest deadline, for the loop's poll timeout.
    pub fn next_deadline(&self) -> Option<Instant> {
        crate::timing::earliest(self.machine.next_deadline(), self.retry_files_at)
    }

    /// Whether `pid` is this service's run or finish.
    pub fn owns(&self, pid: i32) -> bool {
        self.machine.pid == pid && self.machine.state != State::Down
    }

    /// Whether run or finish is alive.
    pub fn is_active(&self) -> bool {
        self.machine.state != State::Down
    }

    /// Reads and obeys what the control FIFO holds.
    pub fn on_control(&mut self) -> Outcome {
        let mut buf = [0u8; CONTROL_READ];
        let n = match nix::unistd::read(&self.control, &mut buf) {
            Ok(n) => n,
            Err(_) => return Outcome::Running,
        };
        for &byte in &buf[..n] {
            if let Some(letter) = Letter::from_byte(byte) {
                if self.handle(Event::Control(letter)) == Outcome::Exited {
                    return Outcome::Exited;
                }
            }
        }
        Outcome::Running
    }

    /// Reads the notification pipe: a newline means ready; EOF means it never will be. Or
    /// reads the notify socket: `READY=1` means ready.
    pub fn on_notification(&mut self) -> Outcome {
        let fd = match &mut self.notification {
            Some(Readiness::Pipe(fd)) => fd,
            Some(Readiness::Socket(socket)) => {
                let (run, program, name) = (self.machine.pid, self.program, &self.name);
                let ready = socket.drain(run, |message| say!("{program} {name}: warning: {message}"));
                return if ready { self.handle(Event::Ready) } else { Outcome::Running };
            }
            None => return Outcome::Running,
        };
        let mut buf = [0u8; 512];
        match nix::unistd::read(fd, &mut buf) {
            Ok(0) => {
                self.notification = None;
                Outcome::Running
            }
            Ok(n) if buf[..n].contains(&b'\n') => self.handle(Event::Ready),
            Ok(_) | Err(Errno::EAGAIN) | Err(Errno::EINTR) => Outcome::Running,
            Err(_) => {
                self.notification = None;
                Outcome::Running
            }
        }
    }

    /// A child of ours died: run or finish.
    pub fn on_death(&mut self, pid: i32, wstat: u16, exec_failed: Option<i32>) -> Outcome {
        match self.machine.state {
            State::Up if pid == self.machine.pid => match exec_failed {
                Some(errno) => self.handle(Event::RunNotExecuted(errno, wstat)),
                None => self.handle(Event::RunDied(wstat)),
            },
            State::Finishing if pid == self.machine.pid => {
                if let Some(errno) = exec_failed {
                    let reason = std::io::Error::from_raw_os_error(errno);
                    self.warn(&format!(
                        "unable to spawn {}/finish: {reason}; make finish an executable file or remove it",
                        self.dir.display()
                    ));
                }
                self.handle(Event::FinishDied(wstat))
            }
            State::Up | State::Finishing | State::Down => Outcome::Running,
        }
    }

    /// Fires the deadlines that are due.
    pub fn on_deadline(&mut self, now: Instant) -> Outcome {
        if self.retry_files_at.is_some_and(|at| at <= now) {
            self.retry_files_at = None;
            if std::mem::take(&mut self.tally_dirty) {
                self.write_tally();
            }
            self.status_dirty = true;
            self.flush_status();
        }
        match self.machine.next_deadline() {
            Some(at) if at <= now => self.handle(Event::Deadline),
            _ => Outcome::Running,
        }
    }

    /// SIGTERM-like: take the service down, then exit.
    pub fn terminate(&mut self) -> Outcome {
        self.handle(Event::Terminate)
    }

    /// SIGHUP-like: exit once the service is down by itself.
    pub fn hangup(&mut self) -> Outcome {
        self.handle(Event::Hangup)
    }

    /// SIGQUIT-like: exit now, leaving the service running.
    pub fn quit_now(self) {
        let _ = fifodir::notify(&self.dir.join("event"), &[fifodir::event::EXIT]);
    }

    /// The pid of run while up (for SIGINT to its group, and tests).
    pub fn run_pid(&self) -> Option<i32> {
        (self.machine.state == State::Up).then_some(self.machine.pid)
    }

    /// Steps the machine with `event`, then performs its actions (which may feed back more
    /// events: the result of a spawn).
    fn handle(&mut self, event: Event) -> Outcome {
        // The service directory's files are read at most once per event, when it first needs
        // them, as s6 re-reads them at each start and stop; the spawn and the death record
        // below use the same reading. A command that starts and stops nothing reads none.
        let reading = Reading::new(&self.dir);
        let tunables = || reading.tunables();
        let mut warned = false;
        let mut pending = vec![event];
        while let Some(event) = pending.pop() {
            let env = Env { now: Instant::now(), wall: Tain::now(), tunables: &tunables };
            for action in self.machine.step(event, &env) {
                if let (Action::Spawn(_), false) = (action, warned) {
                    warned = true;
                    for problem in reading.problems() {
                        self.warn(&problem.to_string());
                    }
                }
                match self.perform(action, &reading) {
                    Some(Feedback::Event(next)) => pending.push(next),
                    Some(Feedback::Exit) => {
                        self.flush_status();
                        self.announce(&[fifodir::event::EXIT]);
                        return Outcome::Exited;
                    }
                    None => {}
                }
            }
        }
        if self.start_untold {
            self.status_dirty = true;
        }
        self.flush_status();
        if self.start_untold {
            self.announce(&[]);
        }
        Outcome::Running
    }

    /// Posts `events` to the listeners, after the start if that is still untold.
    fn announce(&mut self, events: &[u8]) {
        let event_dir = self.dir.join("event");
        let _ = if std::mem::take(&mut self.start_untold) {
            fifodir::notify(&event_dir, &[state::START_EVENT, events].concat())
        } else {
            fifodir::notify(&event_dir, events)
        };
    }

    fn flush_status(&mut self) {
        if std::mem::take(&mut self.status_dirty) {
            self.write_status();
        }
    }

    fn perform(&mut self, action: Action, reading: &Reading) -> Option<Feedback> {
        match action {
            Action::Spawn(program) => return Some(Feedback::Event(self.spawn(program, reading.settings()))),
            Action::Signal(signal, target) => {
                let _ = sys::signal(self.machine.pid, signal, target == Target::Group);
            }
            Action::WriteStatus => self.status_dirty = true,
            Action::Announce(bytes) => {
                self.flush_status();
                self.announce(bytes);
            }
            Action::RecordDeath(wstat) => self.record_death(wstat, reading.settings().max_death_tally),
            Action::CreateDownFile => {
                let path = self.dir.join("down");
                if let Err(e) =
                    std::fs::OpenOptions::new().write(true).create(true).truncate(false).mode(0o644).open(&path)
                {
                    self.warn(&format!("unable to create {}: {e}", path.display()));
                }
            }
            Action::RemoveDownFile => {
                let path = self.dir.join("down");
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => self.warn(&format!("unable to remove {}: {e}", path.display())),
                }
            }
            // The notify socket stays open once ready, for STATUS= lines, until run dies.
            Action::CloseNotification => {
                if self.machine.state != State::Up || matches!(self.notification, Some(Readiness::Pipe(_))) {
                    self.notification = None;
                }
            }
            Action::DetachStdio => {
                let null =
                    std::fs::OpenOptions::new().read(true).write(true).custom_flags(libc::O_CLOEXEC).open("/dev/null");
                if let Ok(null) = null {
                    let null = Rc::new(OwnedFd::from(null));
                    self.stdio = Stdio { stdin: Some(null.clone()), stdout: Some(null) };
                }
            }
            Action::ReportSpawnFailure(errno, retry) => {
                let reason = std::io::Error::from_raw_os_error(errno);
                // A refused declaration (EPERM from plan) was explained just before.
                let fix = match errno {
                    libc::ENOENT | libc::EACCES | libc::ENOEXEC => "make run an executable file",
                    libc::EPERM => "fix what is said above",
                    _ => "see the reason",
                };
                self.warn(&format!(
                    "unable to spawn {}/run: {reason}; {fix} - trying again in {} seconds",
                    self.dir.display(),
                    retry.as_secs()
                ));
            }
            Action::EndGroup => {
                if let (Some(group), false) = (&self.group, reading.settings().keep_leftovers) {
                    group.kill_all();
                }
            }
            Action::Exit => return Some(Feedback::Exit),
        }
        None
    }

    /// Starts run or finish; the answer is the event to feed back.
    fn spawn(&mut self, program: Program, settings: &Settings) -> Event {
        if program == Program::Run {
            match &mut self.group {
                Some(group) => group.apply(self.program, &self.dir, &settings.group_limits),
                None if settings.group_limits != Default::default() => {
                    self.cgroups.limit_refused(self.program, &self.dir, &settings.group_limits)
                }
                None => {}
            }
        }
        let plan = match self.plan(program, settings) {
            Ok(plan) => plan,
            Err(errno) => return Event::SpawnFailed(program, errno as i32),
        };
        // Not waiting for the exec: a failed one comes back as the child's death (on_death).
        match spawn::start(plan.spawn) {
            Ok(pid) => {
                self.notification = plan.notification;
                Event::Spawned(program, pid)
            }
            Err(errno) => Event::SpawnFailed(program, errno as i32),
        }
    }

    fn plan(&self, program: Program, settings: &Settings) -> Result<Planned, Errno> {
        let cstr = |bytes: &[u8]| CString::new(bytes).map_err(|_| Errno::EINVAL);
        let mut extra = Vec::new();
        let mut notification = None;
        let mut keep_write_end = None;
        let mut env = None;
        let mut lock = None;
        let (file, args) = match program {
            Program::Run => {
                if let Some(fd) = settings.notification_fd {
                    let (read, write) =
                        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)?;
                    extra.push((write.as_raw_fd(), fd));
                    keep_write_end = Some(write);
                    notification = Some(Readiness::Pipe(read));
                }
                if settings.notify_socket {
                    // NOTIFY_SOCKET must be absolute: the daemon may change directory. (The
                    // scanner's directories are; `ostler supervise DIR` may be given a relative
                    // one.) Joining an absolute path to the cwd leaves it as it is.
                    let supervise_dir = self.dir.join("supervise");
                    let supervise_dir = if supervise_dir.is_absolute() {
                        Ok(supervise_dir)
                    } else {
                        std::env::current_dir().map(|cwd| cwd.join(supervise_dir))
                    };
                    match supervise_dir.and_then(|dir| notify::Socket::open(&dir)) {
                        Ok((socket, variable)) => {
                            notification = Some(Readiness::Socket(socket));
                            env = Some(variable);
                        }
                        Err(e) => self.warn(&format!(
                            "unable to make supervise/notify: {e}; run starts without NOTIFY_SOCKET (the path \
                             may be too long: 107 bytes at most)"
                        )),
                    }
                }
                if let Some(fd) = settings.lock_fd {
                    // Relative: run is started in the service directory.
                    lock = Some((cstr(b"supervise/service-lock")?, fd));
                }
                ("run", vec![self.name.clone()])
            }
            Program::Finish { wstat, pid } => {
                let signal = wstat & 0x7f;
                let code = if signal == 0 { (wstat >> 8).to_string() } else { "256".to_string() };
                ("finish", vec![code, signal.to_string(), self.name.clone(), pid.to_string()])
            }
        };
        let dir = if self.dir.as_os_str().is_empty() { Path::new(".") } else { &self.dir };
        if let (true, Some(pipe)) = (self.stderr_to_log, &self.stdio.stdout) {
            extra.push((pipe.as_raw_fd(), 2));
        }
        let privileges =
            if settings.privilege_files.any() { self.privileges(program, settings.privilege_files)? } else { None };
        // A declared working directory: run is named by its full path, not ./run.
        let program_path = match privileges.as_ref().and_then(|p| p.cwd.as_ref()) {
            Some(_) => std::env::current_dir().map_err(|_| Errno::ENOENT)?.join(dir).join(file),
            None => PathBuf::from(format!("./{file}")),
        };
        let mut argv = vec![cstr(format!("./{file}").as_bytes())?];
        for arg in args {
            argv.push(cstr(arg.as_bytes())?);
        }
        let spawn = SpawnPlan {
            cwd: Some(cstr(dir.as_os_str().as_bytes())?),
            program: cstr(program_path.as_os_str().as_bytes())?,
            argv,
            stdin: FdPlan::of(&self.stdio.stdin),
            stdout: FdPlan::of(&self.stdio.stdout),
            extra,
            lock,
            new_pid_namespace: settings.new_pid_namespace,
            builtin: match (self.builtins, program) {
                (Some(builtins), Program::Run) if is_own_binary(&dir.join("run")) => {
                    Some((builtins, self.name.clone()))
                }
                _ => None,
            },
            env,
            privileges,
            cgroup: self.group.as_ref().map(Group::plan),
        };
        Ok(Planned { spawn, notification, _write_end: keep_write_end })
    }

    /// The privileges run and finish get, from the service directory's files, read afresh at
    /// each start as the other settings are. A declaration that cannot be carried out is a
    /// failed start, reported with the reason and retried like any other: a service never
    /// starts with more than it declared.
    fn privileges(
        &self,
        program: Program,
        present: ostler_core::settings::PrivilegeFiles,
    ) -> Result<Option<crate::privileges::Prepared>, Errno> {
        let dir = if self.dir.as_os_str().is_empty() { Path::new(".") } else { &self.dir };
        let prepared =
            crate::privileges::Declared::read(dir, present).map_err(|r| r.to_string()).and_then(|declared| {
                match declared {
                    Some(mut declared) => {
                        // The directories are made for run, not again for finish.
                        if matches!(program, Program::Finish { .. }) {
                            declared.directories.clear();
                        }
                        declared.prepare(dir).map(Some)
                    }
                    None => Ok(None),
                }
            });
        prepared.map_err(|problem| {
            self.warn(&format!(
                "{problem}; not starting {}",
                match program {
                    Program::Run => "run",
                    Program::Finish { .. } => "finish",
                }
            ));
            Errno::EPERM
        })
    }

    fn write_status(&mut self) {
        let status = self.machine.status();
        // A command that changes nothing (`u` to a service already up) asks for the same bytes
        // again. s6-supervise rewrites them; no reader can tell, and the write (open, write,
        // rename) is most of what such a wake-up costs.
        if self.written_status == Some(status) {
            return;
        }
        let supervise_dir = self.dir.join("supervise");
        match status.write(&supervise_dir) {
            Ok(()) => {
                self.written_status = Some(status);
                self.written();
            }
            Err(e) => {
                self.written_status = None;
                self.unwritten(&format!("{e}; check that the service directory is writable"));
            }
        }
    }

    /// A supervise file could not be written: said once, tried again in a while (s6-supervise
    /// only warns, and its status stays wrong until the next change).
    fn unwritten(&mut self, problem: &str) {
        if self.retry_files_at.is_none() {
            self.warn(&format!("{problem}; trying again every second"));
        }
        self.retry_files_at = Some(Instant::now() + FILE_RETRY);
    }

    /// The files are written again: what was wrong is over.
    fn written(&mut self) {
        if !self.tally_dirty && self.retry_files_at.take().is_some() {
            self.warn("supervise files written again");
        }
    }

    fn write_tally(&mut self) {
        match death_tally::write(&self.dir.join("supervise"), &self.deaths) {
            Ok(()) => {}
            Err(e) => {
                self.tally_dirty = true;
                self.unwritten(&e.to_string());
            }
        }
    }

    fn record_death(&mut self, wstat: u16, max: u16) {
        let max = usize::from(max);
        if max == 0 {
            self.deaths.clear();
            return;
        }
        self.deaths.push(Death::from_wstat(Tain::now(), wstat));
        if self.deaths.len() > max {
            let extra = self.deaths.len() - max;
            self.deaths.drain(..extra);
        }
        self.write_tally();
    }

    fn warn(&self, message: &str) {
        say!("{} {}: warning: {message}", self.program, self.name);
    }
}

/// A spawn plan plus the fds the parent keeps: the notification pipe's read end (or the
/// notify socket), and the pipe's write end, which must stay open until the fork has happened.
struct Planned {
    spawn: SpawnPlan,
    notification: Option<Readiness>,
    _write_end: Option<OwnedFd>,
}

/// The service directory's settings for one event, read at the first need.
struct Reading {
    dir: PathBuf,
    read: std::cell::OnceCell<(Settings, Vec<ostler_core::CoreError>)>,
}

impl Reading {
    fn new(dir: &Path) -> Reading {
        Reading { dir: dir.to_path_buf(), read: std::cell::OnceCell::new() }
    }

    fn settings(&self) -> &Settings {
        &self.loaded().0
    }

    /// What could not be read (each file then has its default).
    fn problems(&self) -> &[ostler_core::CoreError] {
        &self.loaded().1
    }

    fn tunables(&self) -> Tunables {
        let settings = self.settings();
        Tunables {
            down_signal: settings.down_signal,
            timeout_kill: settings.timeout_kill,
            kill_group: settings.timeout_kill_group,
            timeout_finish: settings.timeout_finish,
            has_finish: settings.has_finish,
        }
    }

    fn loaded(&self) -> &(Settings, Vec<ostler_core::CoreError>) {
        self.read.get_or_init(|| Settings::load(&self.dir))
    }
}

/// How run tells it is ready.
enum Readiness {
    /// `notification-fd`: the read end of its pipe.
    Pipe(OwnedFd),
    /// `notify-socket`.
    Socket(notify::Socket),
}

enum Feedback {
    Event(Event),
    Exit,
}

fn make_dir(path: &Path, mode: u32) -> Result<(), SuperviseError> {
    match std::fs::DirBuilder::new().mode(mode).create(path) {
        // The umask may have cleared bits s6's clients rely on.
        Ok(()) if !ostler_core::umask::keeps(mode) => {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                .map_err(|e| SuperviseError::io("chmod", path, e))
        }
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(SuperviseError::io("mkdir", path, e)),
    }
}

/// The control group of service `name`, named in `supervise/cgroup` for `ostler svstat`
/// (a stale file is removed when there is no group).
fn group_of(program: &str, name: &str, supervise_dir: &Path, cgroups: Option<&Rc<Cgroups>>) -> Option<Group> {
    let file = supervise_dir.join(crate::cgroup::GROUP_FILE);
    let group = match cgroups.map_or(Ok(None), |cgroups| Group::make(cgroups, name)) {
        Ok(group) => group,
        Err(problem) => {
            say!("{program} {name}: warning: {problem}; the service runs without a control group");
            None
        }
    };
    let _ = match &group {
        Some(group) => std::fs::write(&file, format!("{}\n", group.dir().display())),
        None => std::fs::remove_file(&file),
    };
    group
}

/// Whether `path` (a `run`, usually a symlink) is the running ostler binary.
fn is_own_binary(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(own) = spawn::own_binary() else { return false };
    std::fs::metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == own)
}
