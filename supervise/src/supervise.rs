//! `ostler supervise DIR`: one supervisor in its own process, in s6-supervise's role, so that
//! s6-svscan (or anything else) can run ostler's supervisor.
//!
//! Signals, as s6-supervise: TERM = `d` then `x`; HUP = `x`; QUIT = exit now, service left
//! running; INT = SIGINT to the service's process group, then exit.

use crate::say::say;
use crate::supervisor::{Outcome, Stdio, Supervisor};
use crate::sys;
use nix::poll::{poll, PollFd, PollFlags};
use nix::sys::signal::Signal;
use std::os::fd::AsFd;
use std::path::Path;
use std::time::Instant;

const PROGRAM: &str = "ostler supervise";

/// Supervises `dir` until told to exit; returns the exit code (0, 100 when already
/// supervised, 111 on a system failure).
pub fn run(dir: &Path, builtins: Option<crate::spawn::Builtins>) -> u8 {
    crate::spawn::note_ignored_signals();
    let signals = match sys::signal_fd() {
        Ok(fd) => fd,
        Err(e) => {
            say!("{PROGRAM}: fatal: unable to set up signal handling: {e}");
            return 111;
        }
    };
    let name = dir.to_string_lossy().trim_end_matches('/').to_string();
    let no_groups = crate::cgroup::Cgroups::off("ostler supervise runs without them: ostler svscan makes them");
    let mut supervisor = match Supervisor::start(PROGRAM, dir, name, Stdio::default(), builtins, &no_groups) {
        Ok(s) => s,
        Err(e @ crate::SuperviseError::AlreadySupervised(_)) => {
            say!("{PROGRAM}: fatal: {e}");
            return 100;
        }
        Err(e) => {
            say!("{PROGRAM}: fatal: {e}");
            return 111;
        }
    };
    loop {
        let timeout = sys::poll_timeout(supervisor.next_deadline());
        let (signal_ready, control_ready, notify_ready) = {
            let mut fds = vec![
                PollFd::new(signals.as_fd(), PollFlags::POLLIN),
                PollFd::new(supervisor.control_fd(), PollFlags::POLLIN),
            ];
            if let Some(fd) = supervisor.notification_fd() {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
            }
            if let Err(e) = poll(&mut fds, timeout) {
                if e != nix::errno::Errno::EINTR {
                    say!("{PROGRAM}: fatal: unable to poll: {e}");
                    return 111;
                }
            }
            let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
            (ready(&fds[0]), ready(&fds[1]), fds.get(2).is_some_and(ready))
        };
        if signal_ready {
            while let Ok(Some(info)) = signals.read_signal() {
                let outcome = match Signal::try_from(info.ssi_signo as i32) {
                    Ok(Signal::SIGTERM) => supervisor.terminate(),
                    Ok(Signal::SIGHUP) => supervisor.hangup(),
                    Ok(Signal::SIGQUIT) => {
                        supervisor.quit_now();
                        return 0;
                    }
                    Ok(Signal::SIGINT) => {
                        if let Some(pid) = supervisor.run_pid() {
                            let _ = sys::signal(pid, Signal::SIGINT, true);
                        }
                        supervisor.quit_now();
                        return 0;
                    }
                    _ => Outcome::Running,
                };
                if outcome == Outcome::Exited {
                    return 0;
                }
            }
            while let Some(reaped) = sys::reap_one() {
                if supervisor.on_death(reaped.pid, reaped.wstat, reaped.exec_failed) == Outcome::Exited {
                    return 0;
                }
            }
        }
        if notify_ready && supervisor.on_notification() == Outcome::Exited {
            return 0;
        }
        if control_ready && supervisor.on_control() == Outcome::Exited {
            return 0;
        }
        if supervisor.on_deadline(Instant::now()) == Outcome::Exited {
            return 0;
        }
    }
}
