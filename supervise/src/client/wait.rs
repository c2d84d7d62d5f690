//! The listening engine behind `svwait` and `svc -w`: wait until services reach a state.
//!
//! The order matters and is s6's: subscribe to each `DIR/event` fifodir first, then read each
//! `supervise/status`, and only then (for `svc -w`) send commands and consume event bytes. An
//! event that happens between the status read and the wait is then queued in our FIFO, never
//! lost. Each event byte moves a service to a known (up, ready) pair: `d` = down, `D` = down and
//! finish done, `u` = up, `U` = up and ready. `O` (finish asked for no restart) while we want
//! the service up, or `x` (the supervisor exits) while it is not where we want it, make that
//! service "failed": it is done, and counts in the exit code.

use super::exit;
use ostler_core::fifodir::{self, event, Subscription};
use ostler_core::{CoreError, Status};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The state to wait for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// `u`: up.
    Up,
    /// `U`: up and notified ready.
    UpReady,
    /// `d`: down.
    Down,
    /// `D`: down and finish done.
    DownReady,
    /// `r`: down at least once, then up again.
    Restarted,
    /// `R`: down at least once, then up and ready again.
    RestartedReady,
}

impl Target {
    /// The target for one of s6's letters `u U d D r R`.
    pub fn from_letter(letter: char) -> Option<Target> {
        Some(match letter {
            'u' => Target::Up,
            'U' => Target::UpReady,
            'd' => Target::Down,
            'D' => Target::DownReady,
            'r' => Target::Restarted,
            'R' => Target::RestartedReady,
            _ => return None,
        })
    }

    /// Whether reaching this target needs a readiness notification from the service.
    pub fn needs_readiness(self) -> bool {
        matches!(self, Target::UpReady | Target::RestartedReady)
    }

    /// The same target without readiness: what to wait for when a service cannot notify.
    pub fn without_readiness(self) -> Target {
        match self {
            Target::UpReady => Target::Up,
            Target::RestartedReady => Target::Restarted,
            other => other,
        }
    }

    fn wants_up(self) -> bool {
        !matches!(self, Target::Down | Target::DownReady)
    }

    /// Words for messages: "up", "up and ready"…
    pub fn describe(self) -> &'static str {
        match self {
            Target::Up => "up",
            Target::UpReady => "up and ready",
            Target::Down => "down",
            Target::DownReady => "down with finish done",
            Target::Restarted => "restarted",
            Target::RestartedReady => "restarted and ready",
        }
    }
}

/// How many services must reach the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quorum {
    /// `-a`: every one of them.
    All,
    /// `-o`: any one of them.
    Any,
}

/// What one service is known to be doing, as far as the wait is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Watch {
    /// Up (run is alive and not finishing).
    pub up: bool,
    /// Ready: notified when up, finish done when down.
    pub ready: bool,
    /// Seen down since the wait began (for the restart targets).
    pub was_down: bool,
    /// Done without reaching the target (`O` or `x`).
    pub failed: bool,
}

impl Watch {
    /// The starting point, from the status file.
    pub fn from_status(status: &Status) -> Watch {
        let up = status.is_up();
        Watch { up, ready: status.ready, was_down: !up, failed: false }
    }

    /// Whether the service is where `target` wants it.
    pub fn reached(&self, target: Target) -> bool {
        match target {
            Target::Up => self.up,
            Target::UpReady => self.up && self.ready,
            Target::Down => !self.up,
            Target::DownReady => !self.up && self.ready,
            Target::Restarted => self.was_down && self.up,
            Target::RestartedReady => self.was_down && self.up && self.ready,
        }
    }

    /// Whether nothing more needs to happen to this service.
    pub fn done(&self, target: Target) -> bool {
        self.failed || self.reached(target)
    }

    /// Takes one event byte into account; bytes we do not know are ignored.
    pub fn apply(&mut self, byte: u8, target: Target) {
        if self.failed {
            return;
        }
        let (up, ready) = match byte {
            event::DOWN => (false, false),
            event::DOWN_DONE => (false, true),
            event::UP => (true, false),
            event::READY => (true, true),
            event::ONCE => {
                if target.wants_up() {
                    self.failed = true;
                }
                return;
            }
            event::EXIT => {
                if !self.reached(target) {
                    self.failed = true;
                }
                return;
            }
            _ => return,
        };
        self.up = up;
        self.ready = ready;
        if !up {
            self.was_down = true;
        }
    }
}

/// Whether the whole wait is over.
pub fn finished(watches: &[Watch], target: Target, quorum: Quorum) -> bool {
    match quorum {
        Quorum::All => watches.iter().all(|w| w.done(target)),
        Quorum::Any => watches.iter().any(|w| w.done(target)),
    }
}

/// Why a wait could not be set up or carried on.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// Making or subscribing to `DIR/event` failed.
    #[error("unable to subscribe to events for {dir}: {source}; check that it is a service directory")]
    Subscribe {
        /// The service directory.
        dir: PathBuf,
        /// The underlying failure.
        #[source]
        source: CoreError,
    },
    /// `DIR/supervise/status` could not be read.
    #[error("unable to read the status of {dir}: {source}; is it supervised? start its supervisor first")]
    Status {
        /// The service directory.
        dir: PathBuf,
        /// The underlying failure.
        #[source]
        source: CoreError,
    },
    /// poll or read on the subscriptions failed.
    #[error("unable to {action} the event FIFO of {dir}: {source}")]
    Io {
        /// What we tried to do.
        action: &'static str,
        /// The service directory.
        dir: PathBuf,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
}

impl WaitError {
    /// The exit code: every one of these is a system failure.
    pub fn exit_code(&self) -> u8 {
        exit::SYSTEM
    }
}

/// How a wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The target was reached; `failed` services ended without reaching it.
    Done {
        /// Services that ended failed (`O` or `x`).
        failed: usize,
    },
    /// The deadline passed first.
    TimedOut,
}

impl Outcome {
    /// The exit code: the count of failed services (at most 98), or 99 on timeout.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Done { failed } => failed.min(usize::from(exit::TIMEOUT - 1)) as u8,
            Outcome::TimedOut => exit::TIMEOUT,
        }
    }
}

/// Services subscribed to, with their state as read right after subscribing.
#[derive(Debug)]
pub struct Listener {
    dirs: Vec<PathBuf>,
    subscriptions: Vec<Subscription>,
    watches: Vec<Watch>,
}

impl Listener {
    /// Subscribes to every `DIR/event` (making the fifodir if missing, as s6 does, so one can
    /// wait for a service whose supervisor has not started yet), then reads every status.
    pub fn subscribe(dirs: &[PathBuf]) -> Result<Listener, WaitError> {
        Listener::subscribe_with(dirs, false)
    }

    /// Like [`Listener::subscribe`], but a service with no status yet (its supervisor not yet
    /// started: boot, a service manager) counts as down instead of being an error.
    pub fn subscribe_before_start(dirs: &[PathBuf]) -> Result<Listener, WaitError> {
        Listener::subscribe_with(dirs, true)
    }

    fn subscribe_with(dirs: &[PathBuf], missing_is_down: bool) -> Result<Listener, WaitError> {
        let mut subscriptions = Vec::with_capacity(dirs.len());
        for dir in dirs {
            let event_dir = dir.join("event");
            let subscribe = |event_dir: &Path| {
                fifodir::create(event_dir)?;
                Subscription::new(event_dir)
            };
            let subscription =
                subscribe(&event_dir).map_err(|source| WaitError::Subscribe { dir: dir.clone(), source })?;
            subscriptions.push(subscription);
        }
        let mut watches = Vec::with_capacity(dirs.len());
        for dir in dirs {
            let status = match Status::read(&dir.join("supervise")) {
                Err(e) if missing_is_down && e.errno() == Some(libc::ENOENT) => Status::default(),
                other => other.map_err(|source| WaitError::Status { dir: dir.clone(), source })?,
            };
            watches.push(Watch::from_status(&status));
        }
        Ok(Listener { dirs: dirs.to_vec(), subscriptions, watches })
    }

    /// Waits until `quorum` of the services reach `target`, or `deadline` passes (`None`:
    /// no deadline). Sleeps in poll only.
    pub fn wait(mut self, target: Target, quorum: Quorum, deadline: Option<Instant>) -> Result<Outcome, WaitError> {
        loop {
            if finished(&self.watches, target, quorum) {
                let failed = self.watches.iter().filter(|w| w.failed).count();
                return Ok(Outcome::Done { failed });
            }
            let timeout = match deadline {
                None => nix::poll::PollTimeout::NONE,
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(Outcome::TimedOut);
                    }
                    crate::sys::poll_timeout(Some(deadline))
                }
            };
            let mut fds: Vec<nix::poll::PollFd> = self
                .subscriptions
                .iter()
                .map(|s| nix::poll::PollFd::new(s.fd(), nix::poll::PollFlags::POLLIN))
                .collect();
            match nix::poll::poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    return Err(WaitError::Io { action: "poll", dir: self.dirs[0].clone(), source: e.into() });
                }
            }
            let readable: Vec<bool> = fds.iter().map(|fd| fd.revents().is_some_and(|r| !r.is_empty())).collect();
            drop(fds);
            for (index, readable) in readable.into_iter().enumerate() {
                if readable {
                    self.drain(index, target)?;
                }
            }
        }
    }

    fn drain(&mut self, index: usize, target: Target) -> Result<(), WaitError> {
        loop {
            let bytes = self.subscriptions[index].read().map_err(|source| WaitError::Io {
                action: "read",
                dir: self.dirs[index].clone(),
                source,
            })?;
            if bytes.is_empty() {
                return Ok(());
            }
            for byte in bytes {
                self.watches[index].apply(byte, target);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(up: bool, ready: bool) -> Watch {
        Watch { up, ready, was_down: !up, failed: false }
    }

    #[test]
    fn events_set_the_pair() {
        let mut w = watch(false, true);
        for (byte, up, ready) in [(b'u', true, false), (b'U', true, true), (b'd', false, false), (b'D', false, true)] {
            w.apply(byte, Target::Up);
            assert_eq!((w.up, w.ready), (up, ready), "{}", byte as char);
        }
        w.apply(b's', Target::Up);
        assert_eq!((w.up, w.ready), (false, true));
    }

    #[test]
    fn targets() {
        let table = [
            (Target::Up, [false, false, true, true]),
            (Target::UpReady, [false, false, false, true]),
            (Target::Down, [true, true, false, false]),
            (Target::DownReady, [false, true, false, false]),
        ];
        let states = [(false, false), (false, true), (true, false), (true, true)];
        for (target, expected) in table {
            for ((up, ready), want) in states.iter().zip(expected) {
                assert_eq!(watch(*up, *ready).reached(target), want, "{target:?} {up} {ready}");
            }
        }
    }

    #[test]
    fn restart_needs_a_down_first() {
        let mut w = watch(true, true);
        assert!(!w.reached(Target::Restarted));
        w.apply(b'd', Target::Restarted);
        assert!(!w.reached(Target::Restarted));
        w.apply(b'u', Target::Restarted);
        assert!(w.reached(Target::Restarted));
        assert!(!w.reached(Target::RestartedReady));
        w.apply(b'U', Target::RestartedReady);
        assert!(w.reached(Target::RestartedReady));
    }

    #[test]
    fn once_and_exit_fail() {
        let mut w = watch(false, false);
        w.apply(b'O', Target::Up);
        assert!(w.failed && w.done(Target::Up));

        let mut w = watch(false, false);
        w.apply(b'O', Target::Down);
        assert!(!w.failed);

        let mut w = watch(true, false);
        w.apply(b'x', Target::Up);
        assert!(!w.failed, "x while already up is no failure");
        w.apply(b'x', Target::Down);
        assert!(w.failed);
    }

    #[test]
    fn quorum() {
        let watches = [watch(true, false), watch(false, false)];
        assert!(!finished(&watches, Target::Up, Quorum::All));
        assert!(finished(&watches, Target::Up, Quorum::Any));
        assert_eq!(Outcome::Done { failed: 2 }.exit_code(), 2);
        assert_eq!(Outcome::TimedOut.exit_code(), 99);
    }
}
