//! The crate's system calls that the standard library does not offer: local time, `splice`,
//! signal masks and the signalfd, the processor's file descriptors, a descriptor number given
//! on the command line. Each `unsafe` block says why it is sound.

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

extern "C" {
    // In every C library we build with (glibc, musl); the libc crate does not declare it.
    #[link_name = "tzset"]
    fn c_tzset();
}

/// Reads the time zone (`TZ`, else `/etc/localtime`) again.
pub fn tzset() {
    // SAFETY: tzset takes no arguments and only updates the C library's time-zone state.
    unsafe { c_tzset() }
}

/// Unit tests read times in UTC; the time zone is set once for the whole test process.
#[cfg(test)]
pub fn utc_for_tests() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::env::set_var("TZ", "UTC");
        tzset();
    });
}

/// The calendar time of a Unix second in the local time zone, `None` when the C library
/// cannot represent it (a year beyond its range).
pub fn localtime(unix: i64) -> Option<libc::tm> {
    // time_t is 64 bits here, but not on every target. The libc crate marks musl's time_t
    // deprecated (a notice for 32-bit musl targets, whose time_t it will widen).
    #[allow(clippy::useless_conversion, deprecated)]
    let time: libc::time_t = unix.try_into().ok()?;
    // SAFETY: tm is a plain C struct; zeroes are a valid value for localtime_r to overwrite.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call; localtime_r is the
    // reentrant form and keeps no pointer to them.
    let result = unsafe { libc::localtime_r(&time, &mut tm) };
    (!result.is_null()).then_some(tm)
}

/// The Unix second of a local calendar time (`mktime`), `None` if it has none.
pub fn mktime(year: i32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> Option<i64> {
    // SAFETY: see `localtime`.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    tm.tm_year = year - 1900;
    tm.tm_mon = month as i32 - 1;
    tm.tm_mday = day as i32;
    tm.tm_hour = hour as i32;
    tm.tm_min = minute as i32;
    tm.tm_sec = second as i32;
    tm.tm_isdst = -1;
    // SAFETY: `tm` is valid and writable; mktime normalizes it in place.
    let time = unsafe { libc::mktime(&mut tm) };
    (time != -1).then_some(time)
}

/// Moves up to `len` bytes from the pipe `input` into `file` at `*offset` without waiting,
/// and advances the offset. The pipe loses exactly the bytes the file gains, even if we are
/// killed during the call: this is what makes the input journal exact.
pub fn splice_to_file(input: BorrowedFd, file: BorrowedFd, offset: &mut i64, len: usize) -> io::Result<usize> {
    let flags = nix::fcntl::SpliceFFlags::SPLICE_F_NONBLOCK | nix::fcntl::SpliceFFlags::SPLICE_F_MOVE;
    Ok(nix::fcntl::splice(input, None, file, Some(offset), len, flags)?)
}

/// Whether `fd` is a pipe or FIFO.
pub fn is_pipe(fd: BorrowedFd) -> bool {
    nix::sys::stat::fstat(fd).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFIFO)
}

/// Ignores the signals a logger must survive: SIGPIPE (a closed stdout makes `1` fail, not
/// the logger) and SIGXFSZ (a file-size limit makes the write fail with EFBIG, which we
/// retry like a full disk).
pub fn ignore_write_signals() {
    for signal in [Signal::SIGPIPE, Signal::SIGXFSZ] {
        // SAFETY: SigIgn installs no handler code, so nothing can run in signal context.
        let _ = unsafe { nix::sys::signal::signal(signal, nix::sys::signal::SigHandler::SigIgn) };
    }
}

/// Blocks `signals` and returns a signalfd that reads them.
pub fn signal_fd(signals: &[Signal]) -> io::Result<SignalFd> {
    let mut set = SigSet::empty();
    for signal in signals {
        set.add(*signal);
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
    Ok(SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?)
}

/// Takes ownership of a descriptor number given on the command line, if it is open.
pub fn adopt_fd(fd: RawFd) -> Option<OwnedFd> {
    if fd < 0 || nix::fcntl::fcntl(unsafe_borrow(fd), nix::fcntl::FcntlArg::F_GETFD).is_err() {
        return None;
    }
    // SAFETY: the descriptor is open (F_GETFD succeeded) and the command line hands it to us:
    // nothing else in this process owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn unsafe_borrow<'a>(fd: RawFd) -> BorrowedFd<'a> {
    // SAFETY: only used for an F_GETFD probe, which is harmless on any number.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// Starts a processor with its state files: `state` on fd 4 (read) and `newstate` on fd 5
/// (write), and the default action of the signals we ignore. Both stay open in the parent
/// until this returns, so they are open in the child when it places them.
pub fn spawn_with_state(command: &mut Command, state: &OwnedFd, newstate: &OwnedFd) -> io::Result<Child> {
    let (state, newstate) = (state.as_raw_fd(), newstate.as_raw_fd());
    // SAFETY: the closure runs in the child between fork and exec and only makes
    // async-signal-safe calls (fcntl, dup2, signal) on descriptors that the borrows above keep
    // open until spawn returns.
    unsafe {
        command.pre_exec(move || {
            // Copy both above 5 first so that placing one cannot overwrite the other.
            let high_state = libc::fcntl(state, libc::F_DUPFD_CLOEXEC, 10);
            let high_newstate = libc::fcntl(newstate, libc::F_DUPFD_CLOEXEC, 10);
            if high_state < 0 || high_newstate < 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::dup2(high_state, 4) < 0 || libc::dup2(high_newstate, 5) < 0 {
                return Err(io::Error::last_os_error());
            }
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            libc::signal(libc::SIGXFSZ, libc::SIG_DFL);
            Ok(())
        });
    }
    command.spawn()
}

/// Standard output (1) or error (2), borrowed for a write.
pub fn borrow_std(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: `ensure_std_fds` made 0, 1 and 2 open at start, and nothing in this crate
    // closes them, so they stay valid for the life of the process.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// Opens /dev/null on any of fds 0, 1, 2 that is closed, so that no file we open later lands
/// there (and gets alerts written into it).
pub fn ensure_std_fds() {
    for fd in 0..=2 {
        if nix::fcntl::fcntl(unsafe_borrow(fd), nix::fcntl::FcntlArg::F_GETFD).is_err() {
            // The lowest free descriptor: this one. Keep it open for the process's lifetime.
            if let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") {
                std::mem::forget(null);
            }
        }
    }
}

/// Writes all of `bytes` to `fd`, retrying on EINTR.
pub fn write_all_fd(fd: impl AsFd, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match nix::unistd::write(fd.as_fd(), bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
