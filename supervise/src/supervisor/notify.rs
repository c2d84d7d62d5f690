//! `notify-socket`, an ostler extension (s6 has nothing like it): readiness for daemons that
//! only speak systemd's sd_notify protocol. run gets `NOTIFY_SOCKET`, the path of a unix
//! datagram socket at `supervise/notify`; a datagram holding the line `READY=1` counts as the
//! newline on a notification-fd, and `STATUS=text` is kept in `supervise/notify-status` for
//! svstat. Every other line is ignored (docs/service-directory.md says why, one by one).
//!
//! Only run and its descendants are heard: the kernel tells each datagram's sender
//! (SCM_CREDENTIALS), and its parents are followed through /proc up to run.

use crate::sys;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The socket's name in `supervise/`.
pub const SOCKET: &str = "notify";
/// The last `STATUS=` text, in `supervise/`.
pub const STATUS_FILE: &str = "notify-status";
/// The largest datagram read; a longer one is dropped whole (sd_notify's are a few lines).
const MAX_DATAGRAM: usize = 4096;
/// Datagrams read per wake-up at most, so a flood cannot hold the loop.
const BATCH: usize = 64;
/// Parents followed at most from a sender up to run.
const MAX_DEPTH: usize = 64;

/// What one datagram says that ostler acts on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message<'a> {
    /// `READY=1`.
    pub ready: bool,
    /// The last `STATUS=` line's text.
    pub status: Option<&'a [u8]>,
}

/// Reads the newline-separated `KEY=VALUE` lines of a datagram. `STOPPING=1`, `RELOADING=1`,
/// `WATCHDOG=1`, `MAINPID=`, `EXTEND_TIMEOUT_USEC=` and anything unknown are ignored.
pub fn parse(datagram: &[u8]) -> Message<'_> {
    let mut message = Message::default();
    for line in datagram.split(|&b| b == b'\n') {
        if line == b"READY=1" {
            message.ready = true;
        } else if let Some(text) = line.strip_prefix(b"STATUS=") {
            message.status = Some(text);
        }
    }
    message
}

/// The parent pid in the text of `/proc/PID/stat` (after the name, which may hold anything
/// but ends at the last `)`, comes the state, then the parent).
fn parent_in_stat(stat: &[u8]) -> Option<i32> {
    let end = stat.iter().rposition(|&b| b == b')')?;
    let mut fields = stat[end + 1..].split(|&b| b == b' ').filter(|f| !f.is_empty());
    fields.next()?;
    std::str::from_utf8(fields.next()?).ok()?.parse().ok()
}

/// Whether `pid` is `run` or one of its descendants, following /proc's parents.
fn descends_from(mut pid: i32, run: i32) -> bool {
    for _ in 0..MAX_DEPTH {
        if pid == run {
            return true;
        }
        if pid <= 1 {
            return false;
        }
        match std::fs::read(format!("/proc/{pid}/stat")).ok().and_then(|stat| parent_in_stat(&stat)) {
            Some(parent) => pid = parent,
            None => return false,
        }
    }
    false
}

/// The socket of one run, removed with its status file when dropped (when run dies).
#[derive(Debug)]
pub struct Socket {
    fd: OwnedFd,
    supervise_dir: PathBuf,
    /// The last `STATUS=` text.
    status: Vec<u8>,
    /// A stranger's datagram was reported already (one line per run, not one per datagram).
    warned: bool,
}

impl Socket {
    /// Makes the socket in `supervise_dir` (absolute), after removing a stale one; returns it
    /// and the `NOTIFY_SOCKET=PATH` run gets.
    pub fn open(supervise_dir: &Path) -> std::io::Result<(Socket, std::ffi::CString)> {
        let path = supervise_dir.join(SOCKET);
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(supervise_dir.join(STATUS_FILE));
        let fd = sys::bind_datagram_socket(&path)?;
        let socket = Socket { fd, supervise_dir: supervise_dir.to_path_buf(), status: Vec::new(), warned: false };
        // sd_notify reaches the path anew at each message, with the daemon's identity of the
        // moment, which may be a user it dropped to: anyone may reach the socket (search
        // only on supervise/, 0711; the socket 0666), and the sender's pid is what is checked.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))?;
        std::fs::set_permissions(supervise_dir, std::fs::Permissions::from_mode(0o711))?;
        let mut variable = b"NOTIFY_SOCKET=".to_vec();
        variable.extend_from_slice(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()));
        let variable = std::ffi::CString::new(variable).map_err(|_| std::io::ErrorKind::InvalidInput)?;
        Ok((socket, variable))
    }

    /// The socket, to poll for reading.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Reads what is waiting. Keeps the last status (in `supervise/notify-status` too);
    /// `warn` hears of a stranger's datagram, once. Returns whether `READY=1` came from `run`
    /// or a descendant.
    pub fn drain(&mut self, run: i32, mut warn: impl FnMut(String)) -> bool {
        let mut ready = false;
        let mut buf = [0u8; MAX_DATAGRAM];
        for _ in 0..BATCH {
            let Ok(datagram) = sys::receive_datagram(self.fd.as_fd(), &mut buf) else { break };
            let sender = datagram.pid.unwrap_or(0);
            if !descends_from(sender, run) {
                if !std::mem::replace(&mut self.warned, true) {
                    warn(format!(
                        "dropping a message on supervise/notify from pid {sender}, which is not run ({run}) or \
                         one of its descendants (more are dropped silently)"
                    ));
                }
                continue;
            }
            if datagram.len > buf.len() {
                continue;
            }
            let message = parse(&buf[..datagram.len]);
            ready |= message.ready;
            if let Some(text) = message.status.filter(|text| *text != self.status) {
                self.status = text.to_vec();
                let path = self.supervise_dir.join(STATUS_FILE);
                if let Err(e) = ostler_core::atomic::write(&path, text, 0o644) {
                    warn(e.to_string());
                }
            }
        }
        ready
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.supervise_dir.join(SOCKET));
        let _ = std::fs::remove_file(self.supervise_dir.join(STATUS_FILE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_we_act_on_and_lines_we_ignore() {
        assert_eq!(parse(b"READY=1"), Message { ready: true, status: None });
        assert_eq!(
            parse(b"STATUS=starting\nREADY=1\nSTATUS=serving\n"),
            Message { ready: true, status: Some(b"serving") }
        );
        for ignored in [
            &b"STOPPING=1"[..],
            b"RELOADING=1",
            b"WATCHDOG=1",
            b"MAINPID=42",
            b"EXTEND_TIMEOUT_USEC=5000000",
            b"READY=0",
            b"READY=1x",
            b"",
            b"\xff\x00garbage",
        ] {
            assert_eq!(parse(ignored), Message::default(), "{ignored:?}");
        }
        assert_eq!(parse(b"STATUS="), Message { ready: false, status: Some(b"") });
    }

    #[test]
    fn the_parent_is_read_past_a_name_with_spaces_and_parentheses() {
        assert_eq!(parent_in_stat(b"42 (sshd) S 7 42 42 0 -1"), Some(7));
        assert_eq!(parent_in_stat(b"42 (a) b) (c) R 1 42 42"), Some(1));
        assert_eq!(parent_in_stat(b"42 (sshd"), None);
        assert_eq!(parent_in_stat(b"42 (x) S"), None);
    }

    #[test]
    fn this_process_descends_from_its_parent_and_not_from_a_sibling() {
        let me = std::process::id() as i32;
        let parent = nix::unistd::getppid().as_raw();
        assert!(descends_from(me, me));
        assert!(descends_from(me, parent));
        assert!(!descends_from(parent, me));
        assert!(!descends_from(0, me));
    }
}
