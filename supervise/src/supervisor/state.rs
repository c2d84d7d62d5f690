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
    /// `run`, started without waiting for its exec, could not exec (errno) and exited with
    /// this raw wait status (127).
    RunNotExecuted(i32, u16),
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
    /// From now on run and finish get /dev/null as stdin and stdout (`x` while up: a logger
    /// must be able to see EOF once the service is gone).
    DetachStdio,
    /// End every process left in the service's control group (when it has one): the
    /// service is down only once nothing of it runs, and a restart starts from nothing.
    EndGroup,
    /// Tell the user `run` could not be started and when we try again.
    ReportSpawnFailure(i32, Duration),
    /// The supervisor's work is over.
    Exit,
}

/// Clock and settings for one step.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    /// Monotonic now, for deadlines.
    pub now: Instant,
    /// Wall-clock now, for the status stamps.
    pub wall: Tain,
    /// The settings, read from the service directory when a step first needs them: most
    /// commands (a `u` to a service that is up) need none.
    pub tunables: &'a dyn Fn() -> Tunables,
}

/// What the machine takes from the service directory.
#[derive(Clone, Copy, Debug)]
pub struct Tunables {
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

impl Env<'_> {
    fn tunables(&self) -> Tunables {
        (self.tunables)()
    }
}

/// How the down phase after a death ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    /// There was no finish (or it could not start): `d` has not been posted yet.
    NoFinish,
    /// finish exited.
    FinishDone,
    /// finish exited 125: do not restart.
    PermanentFailure,
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
        // A restart that falls due while finish runs waits for finish, not for a timer.
        let restart = if self.state == State::Finishing { None } else { self.restart_at };
        crate::timing::earliest(crate::timing::earliest(restart, self.kill_at), self.finish_kill_at)
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
                self.finish_kill_at = env.tunables().timeout_finish.map(|t| env.now + t);
                actions.extend([Action::WriteStatus, Action::Announce(b"d")]);
            }
            Event::SpawnFailed(Program::Run, errno) => {
                self.restart_at = Some(env.now + SPAWN_RETRY);
                actions.push(Action::ReportSpawnFailure(errno, SPAWN_RETRY));
                if self.exiting {
                    actions.push(Action::Exit);
                }
            }
            Event::SpawnFailed(Program::Finish { .. }, _) => self.finished(Ending::NoFinish, env, &mut actions),
            Event::RunDied(wstat) => match self.state {
                State::Up => self.run_died(wstat, env, &mut actions),
                // A run we no longer track (can't happen: the loop matches deaths by pid).
                State::Down | State::Finishing => {}
            },
            Event::RunNotExecuted(errno, wstat) => {
                if self.state == State::Up {
                    actions.push(Action::ReportSpawnFailure(errno, SPAWN_RETRY));
                    self.run_died(wstat, env, &mut actions);
                    // As for a start refused at once: the admin has to fix something.
                    if self.restart_at.is_some() {
                        self.restart_at = Some(env.now + SPAWN_RETRY);
                    }
                }
            }
            Event::FinishDied(wstat) => match self.state {
                State::Finishing => {
                    let ending = if wstat == 125 << 8 { Ending::PermanentFailure } else { Ending::FinishDone };
                    self.finished(ending, env, &mut actions)
                }
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
                        Action::Signal(env.tunables().down_signal, Target::Process),
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
                        Action::Signal(env.tunables().down_signal, Target::Process),
                        Action::Signal(Signal::SIGCONT, Target::Process),
                    ]);
                    if let Some(timeout) = env.tunables().timeout_kill {
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
                match self.state {
                    State::Down => actions.push(Action::Exit),
                    State::Up | State::Finishing => actions.push(Action::DetachStdio),
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
        if env.tunables().has_finish {
            self.state = State::Finishing;
            actions.push(Action::Spawn(Program::Finish { wstat, pid }));
        } else {
            self.finished(Ending::NoFinish, env, actions);
        }
    }

    /// finish is over (or there was none): the service is down and ready.
    fn finished(&mut self, ending: Ending, env: &Env, actions: &mut Vec<Action>) {
        let permanent_failure = ending == Ending::PermanentFailure;
        self.state = State::Down;
        self.pid = 0;
        self.finish_kill_at = None;
        self.ready = true;
        self.readystamp = env.wall;
        if permanent_failure {
            self.want_up = false;
        }
        // Without a finish, `d` and `D` go out in one write, as s6 ≥ 2.12 does: one pass over
        // the fifodir instead of two.
        let events: &'static [u8] = match ending {
            Ending::NoFinish => b"dD",
            Ending::FinishDone => b"D",
            Ending::PermanentFailure => b"OD",
        };
        actions.extend([Action::EndGroup, Action::WriteStatus, Action::Announce(events)]);
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
                let target = if env.tunables().kill_group { Target::Group } else { Target::Process };
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
        // While finish runs, an overdue restart waits for it to end (see `finished`).
        if due(self.restart_at) && self.state != State::Finishing {
            self.restart_at = None;
            if self.state == State::Down && self.want_up && !self.exiting {
                actions.push(Action::Spawn(Program::Run));
            }
        }
    }
}

/// The first byte a supervisor posts when it starts.
pub const START_EVENT: &[u8] = &[event::START];

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal as Sig;
    use Action::*;

    fn defaults() -> Tunables {
        Tunables {
            down_signal: Sig::SIGTERM,
            timeout_kill: None,
            kill_group: false,
            timeout_finish: Some(Duration::from_secs(5)),
            has_finish: false,
        }
    }

    fn with_finish() -> Tunables {
        Tunables { has_finish: true, ..defaults() }
    }

    fn env(now: Instant) -> Env<'static> {
        Env { now, wall: Tain { secs: 1 << 62, nanos: 0 }, tunables: &defaults }
    }

    /// A machine that is up with run = pid 42.
    fn up(now: Instant) -> Machine {
        let mut machine = Machine::new(true, Tain::default());
        let e = env(now);
        assert_eq!(machine.step(Event::Control(Letter::Up), &e), [WriteStatus, Spawn(Program::Run)]);
        assert_eq!(machine.step(Event::Spawned(Program::Run, 42), &e), [WriteStatus, Announce(b"u")]);
        machine
    }

    #[test]
    fn signal_letters_reach_run_only_while_up() {
        let now = Instant::now();
        let cases = [
            (Letter::Alarm, Sig::SIGALRM),
            (Letter::Abort, Sig::SIGABRT),
            (Letter::Quit, Sig::SIGQUIT),
            (Letter::Hangup, Sig::SIGHUP),
            (Letter::Kill, Sig::SIGKILL),
            (Letter::Term, Sig::SIGTERM),
            (Letter::Interrupt, Sig::SIGINT),
            (Letter::Usr1, Sig::SIGUSR1),
            (Letter::Usr2, Sig::SIGUSR2),
            (Letter::Winch, Sig::SIGWINCH),
        ];
        for (letter, signal) in cases {
            let mut machine = up(now);
            assert_eq!(
                machine.step(Event::Control(letter), &env(now)),
                [Signal(signal, Target::Process)],
                "{letter:?}"
            );
            let mut down = Machine::new(false, Tain::default());
            assert_eq!(down.step(Event::Control(letter), &env(now)), [], "{letter:?} while down");
        }
    }

    #[test]
    fn down_sends_the_down_signal_then_cont_and_arms_timeout_kill() {
        let now = Instant::now();
        let mut machine = up(now);
        let hup =
            || Tunables { down_signal: Sig::SIGHUP, timeout_kill: Some(Duration::from_millis(300)), ..defaults() };
        let e = Env { tunables: &hup, ..env(now) };
        assert_eq!(
            machine.step(Event::Control(Letter::Down), &e),
            [Signal(Sig::SIGHUP, Target::Process), Signal(Sig::SIGCONT, Target::Process), WriteStatus]
        );
        assert!(!machine.want_up);
        assert_eq!(machine.next_deadline(), Some(now + Duration::from_millis(300)));
        let later = env(now + Duration::from_millis(300));
        assert_eq!(
            machine.step(Event::Deadline, &later),
            [Signal(Sig::SIGKILL, Target::Process), Signal(Sig::SIGCONT, Target::Process)]
        );
        // It dies: down, ready, no restart since it is wanted down.
        let actions = machine.step(Event::RunDied(9), &later);
        assert_eq!(actions, [CloseNotification, RecordDeath(9), EndGroup, WriteStatus, Announce(b"dD")]);
        assert_eq!(machine.state, State::Down);
        assert!(machine.ready && machine.status().pid == 0 && machine.wstat == 9);
        assert_eq!(machine.next_deadline(), None);
    }

    #[test]
    fn permanent_letters_touch_the_down_file() {
        let now = Instant::now();
        let mut machine = up(now);
        assert_eq!(machine.step(Event::Control(Letter::DownPermanent), &env(now))[0], CreateDownFile);
        let mut machine = Machine::new(false, Tain::default());
        assert_eq!(
            machine.step(Event::Control(Letter::UpPermanent), &env(now)),
            [RemoveDownFile, WriteStatus, Spawn(Program::Run)]
        );
        let mut machine = up(now);
        assert_eq!(machine.step(Event::Control(Letter::DownFileOnly), &env(now)), [CreateDownFile, WriteStatus]);
        assert_eq!(machine.state, State::Up, "Q kills nothing");
        assert!(!machine.want_up);
    }

    #[test]
    fn crash_restarts_after_a_second_unless_ready_for_a_second() {
        let now = Instant::now();
        // Never ready: paced.
        let mut machine = up(now);
        let actions = machine.step(Event::RunDied(3 << 8), &env(now));
        assert!(!actions.contains(&Spawn(Program::Run)));
        assert_eq!(machine.next_deadline(), Some(now + RESTART_PACE));
        assert_eq!(machine.step(Event::Deadline, &env(now + RESTART_PACE)), [Spawn(Program::Run)]);
        // Ready for a second or more: at once.
        let mut machine = up(now);
        assert_eq!(machine.step(Event::Ready, &env(now)), [CloseNotification, WriteStatus, Announce(b"U")]);
        let actions = machine.step(Event::RunDied(9), &env(now + READY_GRACE));
        assert_eq!(actions.last(), Some(&Spawn(Program::Run)));
        // Ready for less than a second: paced.
        let mut machine = up(now);
        machine.step(Event::Ready, &env(now));
        let actions = machine.step(Event::RunDied(9), &env(now + READY_GRACE / 2));
        assert!(!actions.contains(&Spawn(Program::Run)));
    }

    #[test]
    fn finish_runs_between_death_and_down_and_125_means_permanent() {
        let now = Instant::now();
        let mut machine = up(now);
        let e = Env { tunables: &with_finish, ..env(now) };
        let actions = machine.step(Event::RunDied(1 << 8), &e);
        assert_eq!(actions.last(), Some(&Spawn(Program::Finish { wstat: 1 << 8, pid: 42 })));
        assert_eq!(
            machine.step(Event::Spawned(Program::Finish { wstat: 1 << 8, pid: 42 }, 43), &e),
            [WriteStatus, Announce(b"d")]
        );
        let status = machine.status();
        assert!(status.finishing && status.pid == 43 && !status.is_up() && !status.ready);
        // finish exits 125: permanent failure, no restart.
        let actions = machine.step(Event::FinishDied(125 << 8), &env(now + Duration::from_secs(2)));
        assert_eq!(actions, [EndGroup, WriteStatus, Announce(b"OD")]);
        assert!(!machine.want_up && machine.ready && machine.state == State::Down);
        assert_eq!(machine.next_deadline(), None);
    }

    #[test]
    fn finish_is_killed_after_timeout_finish() {
        let now = Instant::now();
        let mut machine = up(now);
        let e = Env { tunables: &with_finish, ..env(now) };
        machine.step(Event::RunDied(0), &e);
        machine.step(Event::Spawned(Program::Finish { wstat: 0, pid: 42 }, 43), &e);
        assert_eq!(machine.next_deadline(), Some(now + Duration::from_secs(5)), "restart waits for finish");
        let late = env(now + Duration::from_secs(5));
        assert_eq!(
            machine.step(Event::Deadline, &late),
            [Signal(Sig::SIGCONT, Target::Process), Signal(Sig::SIGKILL, Target::Process)]
        );
        // Killed finish: down, then the overdue restart happens at once.
        let actions = machine.step(Event::FinishDied(9), &late);
        assert_eq!(actions, [EndGroup, WriteStatus, Announce(b"D"), Spawn(Program::Run)]);
    }

    #[test]
    fn exit_waits_for_the_service_to_be_down() {
        let now = Instant::now();
        let mut machine = up(now);
        assert_eq!(machine.step(Event::Control(Letter::Exit), &env(now)), [DetachStdio]);
        let actions = machine.step(Event::RunDied(0), &env(now));
        assert_eq!(actions.last(), Some(&Exit));
        let mut down = Machine::new(false, Tain::default());
        assert_eq!(down.step(Event::Control(Letter::Exit), &env(now)), [Exit]);
        let mut machine = up(now);
        let actions = machine.step(Event::Terminate, &env(now));
        assert_eq!(actions[0], Signal(Sig::SIGTERM, Target::Process));
        assert!(machine.exiting && !machine.want_up);
    }

    #[test]
    fn once_starts_a_down_service_without_wanting_it_up() {
        let now = Instant::now();
        let mut machine = Machine::new(false, Tain::default());
        assert_eq!(machine.step(Event::Control(Letter::Once), &env(now)), [WriteStatus, Spawn(Program::Run)]);
        machine.step(Event::Spawned(Program::Run, 7), &env(now));
        let actions = machine.step(Event::RunDied(0), &env(now + Duration::from_secs(5)));
        assert!(!actions.contains(&Spawn(Program::Run)));
        assert_eq!(machine.next_deadline(), None);
    }

    #[test]
    fn pause_and_continue_mark_paused_and_death_clears_it() {
        let now = Instant::now();
        let mut machine = up(now);
        assert_eq!(
            machine.step(Event::Control(Letter::Pause), &env(now)),
            [Signal(Sig::SIGSTOP, Target::Process), WriteStatus]
        );
        assert!(machine.status().paused);
        assert_eq!(
            machine.step(Event::Control(Letter::ContinueGroup), &env(now)),
            [Signal(Sig::SIGCONT, Target::Group), WriteStatus]
        );
        assert!(!machine.status().paused);
        machine.step(Event::Control(Letter::PauseGroup), &env(now));
        machine.step(Event::RunDied(9), &env(now));
        assert!(!machine.status().paused);
    }

    #[test]
    fn spawn_failure_keeps_the_status_and_retries_later() {
        let now = Instant::now();
        let mut machine = Machine::new(true, Tain::default());
        machine.step(Event::Control(Letter::Up), &env(now));
        let before = machine.status();
        let actions = machine.step(Event::SpawnFailed(Program::Run, libc::ENOENT), &env(now));
        assert_eq!(actions, [ReportSpawnFailure(libc::ENOENT, SPAWN_RETRY)]);
        assert_eq!(machine.status(), before);
        assert_eq!(machine.next_deadline(), Some(now + SPAWN_RETRY));
        // `u` retries at once.
        assert_eq!(machine.step(Event::Control(Letter::Up), &env(now)), [WriteStatus, Spawn(Program::Run)]);
    }

    #[test]
    fn a_run_that_could_not_exec_is_a_death_reported_and_retried_later() {
        let now = Instant::now();
        let mut machine = up(now);
        let actions = machine.step(Event::RunNotExecuted(libc::ENOENT, 127 << 8), &env(now));
        assert_eq!(actions[0], ReportSpawnFailure(libc::ENOENT, SPAWN_RETRY));
        assert!(actions.contains(&RecordDeath(127 << 8)) && actions.contains(&Announce(b"dD")), "{actions:?}");
        assert!(!actions.contains(&Spawn(Program::Run)), "{actions:?}");
        let status = machine.status();
        assert!(!status.is_up() && status.want_up && status.wstat == 127 << 8, "{status:?}");
        // Not at the crash pace (1 s): the admin has to fix something.
        assert_eq!(machine.next_deadline(), Some(now + SPAWN_RETRY));
        // A stale report (the service is down already) changes nothing.
        assert!(machine.step(Event::RunNotExecuted(libc::ENOENT, 127 << 8), &env(now)).is_empty());
    }

    #[test]
    fn the_initial_status_matches_s6() {
        let fresh = Machine::new(true, Tain { secs: 5, nanos: 6 }).status();
        assert_eq!(fresh.pack()[34], 0x0c, "want up + ready");
        let fresh = Machine::new(false, Tain { secs: 5, nanos: 6 }).status();
        assert_eq!(fresh.pack()[34], 0x08, "ready only");
        assert_eq!(fresh.stamp, fresh.readystamp);
    }
}
