//! The system calls of the shutdown path that nix does not wrap the way we need: waiting for a
//! child with a deadline (pidfd + poll), waiting for SIGCHLD with a deadline (sigtimedwait), and
//! writing to the console.

use nix::sys::signal::{SigSet, Signal};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// Writes a line to /dev/console (stderr when there is none); never fails.
pub fn console(text: &str) {
    ostler_core::console::write(&format!("ostler: {text}\n"));
}

/// Waits for `child` until `limit` has passed; kills it then (and reaps it). `None` when it
/// had to be killed.
pub fn wait_child(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id() as libc::pid_t, 0) };
    if raw >= 0 {
        // SAFETY: the syscall just returned this fd, and nothing else owns it.
        let pidfd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let mut fds = [nix::poll::PollFd::new(std::os::fd::AsFd::as_fd(&pidfd), nix::poll::PollFlags::POLLIN)];
            let millis = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
            match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(millis)) {
                Ok(n) if n > 0 => break,
                _ => {}
            }
        }
    }
    match child.try_wait() {
        Ok(Some(status)) => Some(status),
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            None
        }
    }
}

/// Blocks SIGCHLD, so that [`await_child_signal`] can wait for it.
pub fn block_sigchld() {
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    let _ = set.thread_block();
}

/// Waits until a child changes state or `deadline` passes (SIGCHLD must be blocked).
pub fn await_child_signal(deadline: Instant) {
    let left = deadline.saturating_duration_since(Instant::now());
    let timeout = libc::timespec { tv_sec: left.as_secs() as _, tv_nsec: left.subsec_nanos() as _ };
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    // SAFETY: sigtimedwait reads the set and the timeout we own; a null info is allowed.
    unsafe {
        libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &timeout);
    }
}
