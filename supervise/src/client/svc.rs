//! `ostler svc`: send command letters to the supervisors of services (s6-svc), and optionally
//! wait until the services reach a state.
//!
//! The letters go to `DIR/supervise/control` in the order given, as one write. With a wait,
//! the order is subscribe, read status, send, wait (see [`super::wait`]), so the events the
//! commands cause cannot be missed.

use super::svwait::describe_dirs;
use super::wait::{Listener, Outcome, Quorum, Target};
use super::{exit, write_control};
use nix::sys::signal::Signal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const PROGRAM: &str = "ostler svc";

/// What to send, where, and what to wait for.
#[derive(Clone, Debug)]
pub struct Options {
    /// The service directories.
    pub dirs: Vec<PathBuf>,
    /// The control letters, in command-line order.
    pub letters: Vec<u8>,
    /// Wait for this state after sending.
    pub wait: Option<Target>,
    /// Give up waiting after this long (`None`: wait forever).
    pub timeout: Option<Duration>,
}

/// The letter that makes a supervisor send `signal` to its service (`svc -s`), for the
/// signals s6's supervisors know how to send.
pub fn letter_for_signal(signal: Signal) -> Option<u8> {
    Some(match signal {
        Signal::SIGALRM => b'a',
        Signal::SIGABRT => b'b',
        Signal::SIGQUIT => b'q',
        Signal::SIGHUP => b'h',
        Signal::SIGKILL => b'k',
        Signal::SIGTERM => b't',
        Signal::SIGINT => b'i',
        Signal::SIGUSR1 => b'1',
        Signal::SIGUSR2 => b'2',
        Signal::SIGSTOP => b'p',
        Signal::SIGCONT => b'c',
        Signal::SIGWINCH => b'y',
        _ => return None,
    })
}

/// Runs svc; the result is the exit code: 0, 100 when a supervisor is not running, 111 on a
/// system failure; with a wait, the number of services that failed to get there, or 99 on
/// timeout.
pub fn run(options: &Options) -> u8 {
    let Some(target) = options.wait else {
        return send_all(options);
    };
    let deadline = options.timeout.map(|t| Instant::now() + t);
    let target = readiness_checked(target, &options.dirs);
    let listener = match Listener::subscribe(&options.dirs) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("{PROGRAM}: {e}");
            return e.exit_code();
        }
    };
    if !options.letters.is_empty() {
        let code = send_all(options);
        if code != exit::OK {
            return code;
        }
    }
    match listener.wait(target, Quorum::All, deadline) {
        Ok(Outcome::TimedOut) => {
            eprintln!(
                "{PROGRAM}: timed out waiting for {} to be {}; raise -T, or check the service with ostler svstat",
                describe_dirs(&options.dirs),
                target.describe()
            );
            exit::TIMEOUT
        }
        Ok(outcome) => outcome.exit_code(),
        Err(e) => {
            eprintln!("{PROGRAM}: {e}");
            e.exit_code()
        }
    }
}

/// A service without a `notification-fd` file (or ostler's `notify-socket`) never reports
/// readiness: waiting for it would last forever, so (as s6-svc does) warn and wait for up
/// instead.
fn readiness_checked(target: Target, dirs: &[PathBuf]) -> Target {
    if !target.needs_readiness() {
        return target;
    }
    let mut result = target;
    for dir in dirs {
        if !ostler_core::settings::notifies_readiness(dir) {
            eprintln!(
                "{PROGRAM}: warning: {} has no notification-fd file, so it never reports readiness; \
                 waiting for {} instead of {}",
                dir.display(),
                target.without_readiness().describe(),
                target.describe()
            );
            result = target.without_readiness();
        }
    }
    result
}

/// Sends the letters to every directory; reports each failure, returns the first one's code.
fn send_all(options: &Options) -> u8 {
    let mut code = exit::OK;
    for dir in &options.dirs {
        if let Err(e) = write_control(dir, "supervise", "supervisor", &options.letters) {
            eprintln!("{PROGRAM}: {e}");
            if code == exit::OK {
                code = e.exit_code();
            }
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_map_to_letters() {
        assert_eq!(letter_for_signal(Signal::SIGTERM), Some(b't'));
        assert_eq!(letter_for_signal(Signal::SIGSTOP), Some(b'p'));
        assert_eq!(letter_for_signal(Signal::SIGWINCH), Some(b'y'));
        assert_eq!(letter_for_signal(Signal::SIGSEGV), None);
    }
}
