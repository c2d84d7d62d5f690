//! The supervisor's state machine, with no I/O: [`Machine::step`] takes one event and returns
//! the actions the event loop must perform. Every (state, event) pair is decided here, so the
//! whole behaviour of s6-supervise that we reproduce fits on one screen and is tested by tables.

use crate::timing::{READY_GRACE, RESTART_PACE, SPAWN_RETRY};
use nix::sys::signal::Signal;
use ostler_core::fifodir::event;
use ostler_core::letter::Letter;
use ostler_core::{Status, Tain};
use std::time::{Duration, Instant};

/// Where the service is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Nothing runs.
    Down,
    /// `run` runs.
    Up,
    /// `run` died and `finish` runs.
    Finishing,
}

/// Whom a signal goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The process itself.
    Process,
    /// Its whole process group (run is a session leader, so pgid = pid).
    Group,
}

/// Which program to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program {
    /// `./run NAME`.
    Run,
    /// `./finish CODE SIGNAL NAME PGID` after run died with this wait status and pid.
    Finish {
        /// Raw wait status of the run that died.
        wstat: u16,
        /// Its pid (= its process group).
        pid: i32,
    },
}

/// Something that happened to the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A byte on the control FIFO.
    Control(Letter),
    /// A program we asked for was started.
    Spawned(Program, i32),
    /// A program could not be started (errno).
    SpawnFailed(Program, i32),
    /// `run` exited with this raw wait status.
    RunDied(u16),
    /// `finish` exited with this raw wait status.
    FinishDied(u16),
    /// A newline arrived on the notification pipe.
    Ready,
    /// A deadline passed (the loop calls this when `now` reaches [`Machine::next_deadline`]).
    Deadline,
    /// SIGTERM to the supervisor: like `d` then `x`.
    Terminate,
    /// SIGHUP to the supervisor: like `x`.
    Hangup,
}

/// What the event loop must do, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Start a program, then feed back `Spawned` or `SpawnFailed`.
    Spawn(Program),
    /// Send a signal to the run process (or finish, while finishing).
    Signal(Signal, Target),
    /// Write `supervise/status` from [`Machine::status`].
    WriteStatus,
    /// Post these event bytes to `event/`, in one write.
    Announce(&'static [u8]),
    /// Append this death to `supervise/death_tally`.
    RecordDeath(u16),
    /// Create the `down` file.
    CreateDownFile,
    /// Delete the `down` file.
    RemoveDownFile,
    /// Stop listening on the notification pipe.
    CloseNotification,
    /// Tell the user `run` could not be started and when we try again.
    ReportSpawnFailure(i32, Duration),
    /// The supervisor's work is over.
    Exit,
}

/// Settings and clock for one step, read by the loop from the service directory.
#[derive(Clone, Copy, Debug)]
pub struct Env {
    /// Monotonic now, for deadlines.
    pub now: Instant,
    /// Wall-clock now, for the status stamps.
    pub wall: Tain,
    /// `down-signal`.
    pub down_signal: Signal,
    /// `timeout-kill`.
    pub timeout_kill: Option<Duration>,
    /// `flag-timeout-killpg`.
    pub kill_group: bool,
    /// `timeout-finish`.
    pub timeout_finish: Option<Duration>,
    /// Whether an executable `finish` exists.
    pub has_finish: bool,
}

/// One service's supervision state: what `supervise/status` holds, plus the timers.
#[derive(Clone, Debug)]
pub struct Machine {
    /// Where the service is.
    pub state: State,
    /// The pid of run (Up) or finish (Finishing).
    pub pid: i32,
    /// Status fields.
    pub want_up: bool,
    /// Stopped by `p`/`P`.
    pub paused: bool,
    /// Ready flag: notified when up, finish done when down.
    pub ready: bool,
    /// `x` received: exit once down.
    pub exiting: bool,
    /// Last up/down transition.
    pub stamp: Tain,
    /// Last readiness change.
    pub readystamp: Tain,
    /// Raw wait status of the last death of run.
    pub wstat: u16,
    /// When the current run notified readiness.
    ready_at: Option<Instant>,
    /// When to start run again.
    restart_at: Option<Instant>,
    /// When to SIGKILL run after a down command.
    kill_at: Option<Instant>,
    /// When to SIGKILL finish.
    finish_kill_at: Option<Instant>,
}

impl Machine {
    /// A fresh supervisor: down, wanting up unless the `down` file exists. The caller then
    /// steps `Control(Letter::Up)` at once when wanted up, to start the service.
    pub fn new(want_up: bool, wall: Tain) -> Machine {
        Machine {
            state: State::Down,
            pid: 0,
            want_up,
            paused: false,
            ready: true,
            exiting: false,
            stamp: wall,
            readystamp: wall,
            wstat: 0,
            ready_at: None,
            restart_at: None,
            kill_at: None,
            finish_kill_at: None,
        }
    }

    /// The status as written to `supervise/status`.
    pub fn status(&self) -> Status {
        Status {
            stamp: self.stamp,
            readystamp: self.readystamp,
            pid: u64::try_from(self.pid).unwrap_or(0),
            wstat: self.wstat,
            paused: self.paused,
            finishing: self.state == State::Finishing,
            want_up: self.want_up,
            ready: self.ready,
        }
    }

    /// The nearest pending deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        [self.restart_at, self.kill_at, self.finish_kill_at].into_iter().flatten().min()
    }

    /// Applies one event; returns what the loop must do.
    pub fn step(&mut self, event: Event, env: &Env) -> Vec<Action> {
        let mut actions = Vec::new();
        match event {
            Event::Control(letter) => self.control(letter, env, &mut actions),
            Event::Spawned(Program::Run, pid) => {
                self.state = State::Up;
                self.pid = pid;
                self.stamp = env.wall;
                self.ready = false;
                self.ready_at = None;
                self.restart_at = None;
                actions.extend([Action::WriteStatus, Action::Announce(b"u")]);
            }
            Event::Spawned(Program::Finish { .. }, pid) => {
                self.state = State::Finishing;
                self.pid = pid;
                self.finish_kill_at = env.timeout_finish.map(|t| env.now + t);
                actions.extend([Action::WriteStatus, Action::Announce(b"d")]);
            }
            Event::SpawnFailed(Program::Run, errno) => {
                self.restart_at = Some(env.now + SPAWN_RETRY);
                actions.push(Action::ReportSpawnFailure(errno, SPAWN_RETRY));
                if self.exiting {
                    actions.push(Action::Exit);
                }
            }
            Event::SpawnFailed(Program::Finish { .. }, _) => {
                actions.push(Action::Announce(b"d"));
                self.finished(false, env, &mut actions);
            }
            Event::RunDied(wstat) => match self.state {
                State::Up => self.run_died(wstat, env, &mut actions),
                // A run we no longer track (can't happen: the loop matches deaths by pid).
                State::Down | State::Finishing => {}
            },
            Event::FinishDied(wstat) => match self.state {
                State::Finishing => self.finished(wstat == 125 << 8, env, &mut actions),
                State::Down | State::Up => {}
            },
            Event::Ready => match self.state {
                State::Up if !self.ready => {
                    self.ready = true;
                    self.readystamp = env.wall;
                    self.ready_at = Some(env.now);
                    actions.extend([Action::CloseNotification, Action::WriteStatus, Action::Announce(b"U")]);
                }
                State::Up | State::Down | State::Finishing => actions.push(Action::CloseNotification),
            },
            Event::Deadline => self.deadlines(env, &mut actions),
            Event::Terminate => {
                self.control(Letter::Down, env, &mut actions);
                self.control(Letter::Exit, env, &mut actions);
            }
            Event::Hangup => self.control(Letter::Exit, env, &mut actions),
        }
        actions
    }

    fn control(&mut self, letter: Letter, env: &Env, actions: &mut Vec<Action>) {
        use Letter::*;
        let up = self.state == State::Up;
        match letter {
            Alarm | Abort | Quit | Hangup | Kill | Term | Interrupt | Usr1 | Usr2 | Winch => {
                if let (true, Some(signal)) = (up, letter.plain_signal()) {
                    actions.push(Action::Signal(signal, Target::Process));
                }
            }
            Pause | PauseGroup | Continue | ContinueGroup => {
                if up {
                    let target =
                        if matches!(letter, PauseGroup | ContinueGroup) { Target::Group } else { Target::Process };
                    let pause = matches!(letter, Pause | PauseGroup);
                    let signal = if pause { Signal::SIGSTOP } else { Signal::SIGCONT };
                    self.paused = pause;
                    actions.extend([Action::Signal(signal, target), Action::WriteStatus]);
                }
            }
            KillGroup => {
                if up {
                    actions.push(Action::Signal(Signal::SIGKILL, Target::Group));
                }
            }
            Restart => {
                if up {
                    actions.extend([
                        Action::Signal(env.down_signal, Target::Process),
                        Action::Signal(Signal::SIGCONT, Target::Process),
                    ]);
                }
            }
            Up | UpPermanent => {
                if letter == UpPermanent {
                    actions.push(Action::RemoveDownFile);
                }
                self.want_up = true;
                match self.state {
                    State::Down => {
                        self.restart_at = None;
                        actions.extend([Action::WriteStatus, Action::Spawn(Program::Run)]);
                    }
                    State::Up | State::Finishing => actions.push(Action::WriteStatus),
                }
            }
            Down | DownPermanent => {
                if letter == DownPermanent {
                    actions.push(Action::CreateDownFile);
                }
                self.want_up = false;
                self.restart_at = None;
                if up {
                    actions.extend([
                        Action::Signal(env.down_signal, Target::Process),
                        Action::Signal(Signal::SIGCONT, Target::Process),
                    ]);
                    if let Some(timeout) = env.timeout_kill {
                        self.kill_at = Some(env.now + timeout);
                    }
                }
                actions.push(Action::WriteStatus);
            }
            Once => {
                self.want_up = false;
                self.restart_at = None;
                actions.push(Action::WriteStatus);
                if self.state == State::Down {
                    actions.push(Action::Spawn(Program::Run));
                }
            }
            OnceNoStart => {
                self.want_up = false;
                self.restart_at = None;
                actions.push(Action::WriteStatus);
            }
            DownFileOnly => {
                self.want_up = false;
                self.restart_at = None;
                actions.extend([Action::CreateDownFile, Action::WriteStatus]);
            }
            Exit => {
                self.exiting = true;
                if self.state == State::Down {
                    actions.push(Action::Exit);
                }
            }
        }
    }

    fn run_died(&mut self, wstat: u16, env: &Env, actions: &mut Vec<Action>) {
        let pid = self.pid;
        self.pid = 0;
        self.wstat = wstat;
        self.stamp = env.wall;
        self.paused = false;
        self.ready = false;
        self.kill_at = None;
        actions.extend([Action::CloseNotification, Action::RecordDeath(wstat)]);
        let ready_long_enough = self.ready_at.is_some_and(|at| env.now.saturating_duration_since(at) >= READY_GRACE);
        self.restart_at = Some(if ready_long_enough { env.now } else { env.now + RESTART_PACE });
        self.ready_at = None;
        if env.has_finish {
            self.state = State::Finishing;
            actions.push(Action::Spawn(Program::Finish { wstat, pid }));
        } else {
            self.state = State::Down;
            actions.push(Action::Announce(b"d"));
            self.finished(false, env, actions);
        }
    }

    /// finish is over (or there was none): the service is down and ready.
    fn finished(&mut self, permanent_failure: bool, env: &Env, actions: &mut Vec<Action>) {
        self.state = State::Down;
        self.pid = 0;
        self.finish_kill_at = None;
        self.ready = true;
        self.readystamp = env.wall;
        if permanent_failure {
            self.want_up = false;
        }
        actions.extend([Action::WriteStatus, Action::Announce(if permanent_failure { b"OD" } else { b"D" })]);
        if self.exiting {
            self.restart_at = None;
            actions.push(Action::Exit);
        } else if !self.want_up {
            self.restart_at = None;
        } else if self.restart_at.is_some_and(|at| at <= env.now) {
            self.restart_at = None;
            actions.push(Action::Spawn(Program::Run));
        }
    }

    fn deadlines(&mut self, env: &Env, actions: &mut Vec<Action>) {
        let due = |at: Option<Instant>| at.is_some_and(|at| at <= env.now);
        if due(self.kill_at) {
            self.kill_at = None;
            if self.state == State::Up {
                let target = if env.kill_group { Target::Group } else { Target::Process };
                actions.extend([Action::Signal(Signal::SIGKILL, target), Action::Signal(Signal::SIGCONT, target)]);
            }
        }
        if due(self.finish_kill_at) {
            self.finish_kill_at = None;
            if self.state == State::Finishing {
                actions.extend([
                    Action::Signal(Signal::SIGCONT, Target::Process),
                    Action::Signal(Signal::SIGKILL, Target::Process),
                ]);
            }
        }
        if due(self.restart_at) {
            self.restart_at = None;
            if self.state == State::Down && self.want_up && !self.exiting {
                actions.push(Action::Spawn(Program::Run));
            }
        }
    }
}

/// The first byte a supervisor posts when it starts.
pub const START_EVENT: &[u8] = &[event::START];
