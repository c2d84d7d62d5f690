//! Messages to stderr that can never take the process down: `eprintln!` panics when stderr
//! fails (a full FIFO, a dead catch-all logger), and a panic in PID 1 is a kernel panic.
//!
//! Each message is formatted first and written with one write(2): `writeln!` on the unbuffered
//! stderr writes each piece of the format separately, so on the catch-all FIFO, which every
//! service without a logger shares, another writer's line could land in the middle of ours —
//! seen when the FIFO is full: the scanner waits after the first piece, and a service's line
//! goes in before the rest (tests/chaos.rs). A line of up to PIPE_BUF bytes (4096) goes into a
//! pipe whole.
//!
//! And a scanner never waits to say something: when its stderr is a FIFO (PID 1's is the
//! catch-all logger's), its own lines go through a non-blocking opening of that FIFO of their
//! own ([`never_wait`]), while the services it starts keep the blocking one they inherit. A full
//! FIFO (a stuck logger, a full /run) then drops the scanner's line instead of stopping PID 1:
//! no reaping, no restart, no control letter read until the logger drains.

use std::os::fd::{AsFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

/// The scanner's own non-blocking writer on its stderr FIFO, once [`never_wait`] made it; -1
/// for none.
static OWN: AtomicI32 = AtomicI32::new(-1);

/// Makes this process's own messages never wait for a full stderr FIFO (see the module).
/// Opened read-write: a write-only non-blocking open fails while the FIFO has no reader yet,
/// as the catch-all FIFO has none when PID 1's scanner starts its logger.
pub fn never_wait() {
    use rustix::fs::{fstat, open, FileType, Mode, OFlags};
    let Ok(stat) = fstat(std::io::stderr().as_fd()) else { return };
    if FileType::from_raw_mode(stat.st_mode) != FileType::Fifo {
        return;
    }
    let flags = OFlags::RDWR | OFlags::NONBLOCK | OFlags::CLOEXEC;
    if let Ok(fd) = open("/proc/self/fd/2", flags, Mode::empty()) {
        let old = OWN.swap(fd.into_raw_fd(), Ordering::Relaxed);
        close(old);
    }
}

/// Lets go of the writer [`never_wait`] made (at the scanner's end, so that the catch-all
/// logger, reading that FIFO, can see its end).
pub fn let_go() {
    close(OWN.swap(-1, Ordering::Relaxed));
}

fn close(fd: i32) {
    if fd >= 0 {
        // SAFETY: the fd was ours (made by never_wait) and nothing else holds it now.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
    }
}

/// Writes one whole line: through the non-blocking writer when there is one (a full FIFO
/// drops the line), else to stderr.
pub fn line(text: &[u8]) {
    use std::io::Write as _;
    match OWN.load(Ordering::Relaxed) {
        -1 => {
            let _ = std::io::stderr().lock().write_all(text);
        }
        fd => {
            // SAFETY: the fd stays open until let_go, which takes it out first.
            let _ = rustix::io::write(unsafe { BorrowedFd::borrow_raw(fd) }, text);
        }
    }
}

/// Writes one line to stderr, ignoring any failure.
macro_rules! say {
    ($($arg:tt)*) => {{
        let mut line = format!($($arg)*);
        line.push('\n');
        $crate::say::line(line.as_bytes());
    }};
}
pub(crate) use say;
