//! The system calls of the event loops: reaping, signalling, the signalfd they read, and the
//! `notify-socket` datagram socket (starting programs is [`crate::spawn`]'s). Everything here
//! is a thin wrapper with typed arguments.

use nix::errno::Errno;
use nix::sys::signal::{kill, killpg, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::{AsRawFd, OwnedFd};

/// The poll timeout that wakes at `deadline` (never before it: rounded up to the next
/// millisecond, so a loop does not spin just short of it); `None` waits forever. While a child
/// started without waiting is still on its way to exec, a few milliseconds at most, so its
/// stack is given back soon after (see [`crate::spawn::tidy_starts`]).
pub fn poll_timeout(deadline: Option<std::time::Instant>) -> nix::poll::PollTimeout {
    use nix::poll::PollTimeout;
    let deadline = match crate::spawn::tidy_starts() {
        true => {
            let soon = std::time::Instant::now() + TIDY_AGAIN;
            Some(deadline.map_or(soon, |at| at.min(soon)))
        }
        false => deadline,
    };
    let Some(deadline) = deadline else { return PollTimeout::NONE };
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    let millis = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
    PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX)
}

/// How soon a loop looks again at children started without waiting that have not exec'd yet.
const TIDY_AGAIN: std::time::Duration = std::time::Duration::from_millis(5);

/// Signals every loop blocks and reads from a signalfd.
pub fn handled_signals() -> SigSet {
    let mut set = SigSet::empty();
    for signal in [
        Signal::SIGCHLD,
        Signal::SIGALRM,
        Signal::SIGABRT,
        Signal::SIGHUP,
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGPWR,
        Signal::SIGWINCH,
    ] {
        set.add(signal);
    }
    set
}

/// Blocks the handled signals and returns a non-blocking signalfd for them. SIGPIPE is ignored
/// (a dead reader must never kill a supervisor); children get it back by [`spawn`]. SIGCHLD
/// comes for deaths only: a child stopped or continued (`svc -p`, `svc -c`) is nothing to
/// reap, and with a thousand children each waitpid that finds nothing still walks them all.
pub fn signal_fd() -> nix::Result<SignalFd> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler};
    let set = handled_signals();
    set.thread_block()?;
    // SAFETY: SIG_IGN is a valid disposition and installs no handler code.
    unsafe { nix::sys::signal::signal(Signal::SIGPIPE, SigHandler::SigIgn) }?;
    // SAFETY: SIG_DFL installs no handler code; SA_NOCLDSTOP only filters what is sent (an
    // exec resets the flags, so the services do not inherit it).
    unsafe { sigaction(Signal::SIGCHLD, &SigAction::new(SigHandler::SigDfl, SaFlags::SA_NOCLDSTOP, SigSet::empty())) }?;
    SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
}

/// One reaped child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reaped {
    /// Its pid.
    pub pid: i32,
    /// Its raw wait status, as s6 stores it.
    pub wstat: u16,
    /// The errno it could not exec with, when it was started by [`crate::spawn::start`] and
    /// failed (it then exited 127).
    pub exec_failed: Option<i32>,
}

/// Reaps one dead child without waiting; `None` when there is none (or no child at all).
pub fn reap_one() -> Option<Reaped> {
    loop {
        match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => {
                let wstat = ((code & 0xff) as u16) << 8;
                let exec_failed = crate::spawn::exec_failure(pid.as_raw());
                return Some(Reaped { pid: pid.as_raw(), wstat, exec_failed });
            }
            Ok(WaitStatus::Signaled(pid, signal, core)) => {
                let wstat = (signal as u16 & 0x7f) | if core { 0x80 } else { 0 };
                let exec_failed = crate::spawn::exec_failure(pid.as_raw());
                return Some(Reaped { pid: pid.as_raw(), wstat, exec_failed });
            }
            Ok(WaitStatus::StillAlive) => return None,
            Ok(_) => continue,
            Err(Errno::EINTR) => continue,
            Err(_) => return None,
        }
    }
}

/// Sends a signal to a process or, with `group`, to its process group. A process that is
/// already gone is not an error.
pub fn signal(pid: i32, signal: Signal, group: bool) -> nix::Result<()> {
    if pid <= 0 {
        return Ok(());
    }
    let result = if group { killpg(Pid::from_raw(pid), signal) } else { kill(Pid::from_raw(pid), signal) };
    match result {
        Err(Errno::ESRCH) => Ok(()),
        other => other,
    }
}
/// A unix datagram socket bound at `path` (non-blocking, close-on-exec), which hears the
/// sender's credentials with each datagram (SO_PASSCRED), for `notify-socket`.
///
/// Raw libc, as [`receive_datagram`]: rustix's socket calls (its `net` feature) cost 0.9 KB
/// more of the static binary here, measured, and nix's need a feature that adds a crate.
pub fn bind_datagram_socket(path: &std::path::Path) -> std::io::Result<OwnedFd> {
    use std::os::fd::FromRawFd;
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: a zeroed sockaddr_un is valid; the path is copied within sun_path with room for
    // its final NUL; the fd is new and ours.
    unsafe {
        let mut address: libc::sockaddr_un = std::mem::zeroed();
        if bytes.len() >= address.sun_path.len() {
            return Err(std::io::ErrorKind::InvalidInput.into());
        }
        address.sun_family = libc::AF_UNIX as _;
        for (to, from) in address.sun_path.iter_mut().zip(bytes) {
            *to = *from as _;
        }
        let raw = libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, 0);
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let fd = OwnedFd::from_raw_fd(raw);
        let on: libc::c_int = 1;
        let size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        if libc::setsockopt(raw, libc::SOL_SOCKET, libc::SO_PASSCRED, (&on as *const libc::c_int).cast(), size) < 0
            || libc::bind(raw, (&address as *const libc::sockaddr_un).cast(), std::mem::size_of_val(&address) as _) < 0
        {
            return Err(std::io::Error::last_os_error());
        }
        Ok(fd)
    }
}

/// One datagram read without waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// Its length; more than the buffer when it was cut.
    pub len: usize,
    /// The sender's pid, as the kernel tells it (SCM_CREDENTIALS).
    pub pid: Option<i32>,
}

/// Reads one datagram into `buf`; `Err(WouldBlock)` when there is none.
///
/// Raw recvmsg(2) from libc: rustix's ancillary-data reader does the same for about 1.5 KB
/// more of the static binary (measured).
pub fn receive_datagram(fd: std::os::fd::BorrowedFd<'_>, buf: &mut [u8]) -> std::io::Result<Datagram> {
    // Room for the credentials only: fds a sender passes along (systemd's FDSTORE) do not
    // fit, and the kernel closes them instead of giving them to us.
    #[repr(C)]
    struct Control {
        header: libc::cmsghdr,
        credentials: libc::ucred,
    }
    // SAFETY: zeroed msghdr and Control are valid (null pointers, zero lengths, then filled);
    // recvmsg writes at most iov_len bytes into `buf` and msg_controllen into `control`, both
    // alive for the call; the control message is read only when the kernel says it is there.
    unsafe {
        let mut control: Control = std::mem::zeroed();
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        let mut message: libc::msghdr = std::mem::zeroed();
        message.msg_iov = &mut iov;
        message.msg_iovlen = 1;
        message.msg_control = (&mut control as *mut Control).cast();
        message.msg_controllen = std::mem::size_of::<Control>() as _;
        let flags = libc::MSG_DONTWAIT | libc::MSG_TRUNC | libc::MSG_CMSG_CLOEXEC;
        let len = libc::recvmsg(fd.as_raw_fd(), &mut message, flags);
        if len < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let full = libc::CMSG_LEN(std::mem::size_of::<libc::ucred>() as u32) as usize;
        let has_credentials = message.msg_controllen as usize >= full
            && control.header.cmsg_level == libc::SOL_SOCKET
            && control.header.cmsg_type == libc::SCM_CREDENTIALS;
        Ok(Datagram { len: len as usize, pid: has_credentials.then_some(control.credentials.pid) })
    }
}

/// Opens a FIFO for reading without blocking and without ever seeing EOF: on Linux an
/// O_RDWR open of a FIFO succeeds at once and is its own writer.
pub fn open_fifo_rdwr(path: &std::path::Path) -> nix::Result<OwnedFd> {
    use rustix::fs::{open, Mode, OFlags};
    open(path, OFlags::RDWR | OFlags::NONBLOCK | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| Errno::from_raw(e.raw_os_error()))
}

/// Makes this process the reaper of its descendants' orphans, so that a scanner that is not
/// PID 1 (in a container, under a test) still collects every zombie its services leave.
pub fn become_subreaper() {
    if nix::unistd::getpid().as_raw() != 1 {
        let _ = nix::sys::prctl::set_child_subreaper(true);
    }
}
