//! The clients: each one job, each speaking s6's on-disk protocol only, so they work against
//! s6's daemons as well as ours.
//!
//! - [`svc`]: write command letters to a supervisor's `supervise/control` (s6-svc);
//! - [`svstat`]: print a service's `supervise/status` (s6-svstat);
//! - [`svwait`]: wait until services reach a state (s6-svwait);
//! - [`svscanctl`]: write command letters to a scanner's `.s6-svscan/control` (s6-svscanctl);
//! - [`wait`]: the listening engine shared by svwait and `svc -w`.
//!
//! Each client is a plain function taking an options struct and returning the process's exit
//! code; messages go to stderr, prefixed with the program's name.

pub mod svc;
pub mod svscanctl;
pub mod svstat;
pub mod svwait;
pub mod wait;

use nix::errno::Errno;
use nix::fcntl::{fcntl, open, FcntlArg, OFlag};
use nix::sys::stat::Mode;
use std::path::{Path, PathBuf};

/// Exit codes shared by every client, as s6's tools use them.
pub mod exit {
    /// Everything went as asked.
    pub const OK: u8 = 0;
    /// A wait ran out of time.
    pub const TIMEOUT: u8 = 99;
    /// Bad usage, or nobody is listening on the control FIFO.
    pub const USAGE: u8 = 100;
    /// A system call failed.
    pub const SYSTEM: u8 = 111;
}

/// Why letters could not be written to a daemon's control FIFO.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The FIFO exists but nobody reads it: the daemon is not running.
    #[error("unable to control {dir}: {daemon} not listening; start it first")]
    NotListening {
        /// The directory we were asked to control.
        dir: PathBuf,
        /// "supervisor" or "scanner".
        daemon: &'static str,
    },
    /// The daemon's directory exists but holds no control FIFO.
    #[error("something is wrong with {path}: it has no control FIFO; restart the {daemon} that owns it")]
    NoFifo {
        /// The daemon's directory (`DIR/supervise`, `DIR/.s6-svscan`).
        path: PathBuf,
        /// "supervisor" or "scanner".
        daemon: &'static str,
    },
    /// The directory itself cannot be used.
    #[error("unable to control {dir}: {source}; check the path")]
    BadDir {
        /// The directory we were asked to control.
        dir: PathBuf,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The caller may not reach or write the FIFO: only the daemon's own user may (root, for
    /// the system's services), since a letter stops, starts or signals the service.
    #[error("unable to control {dir}: permission denied ({path}); only the user the {daemon} runs as may control it (root, for the system's services): see docs/security.md")]
    Denied {
        /// The directory we were asked to control.
        dir: PathBuf,
        /// The FIFO.
        path: PathBuf,
        /// "supervisor" or "scanner".
        daemon: &'static str,
    },
    /// Opening or writing the FIFO failed for another reason.
    #[error("unable to {action} {path}: {source}")]
    Io {
        /// What we tried to do.
        action: &'static str,
        /// The FIFO.
        path: PathBuf,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
}

impl ControlError {
    /// The exit code s6's tools use for this failure: 100 when the daemon is absent, 111 for
    /// system errors.
    pub fn exit_code(&self) -> u8 {
        match self {
            ControlError::NotListening { .. } | ControlError::NoFifo { .. } => exit::USAGE,
            ControlError::BadDir { .. } | ControlError::Denied { .. } | ControlError::Io { .. } => exit::SYSTEM,
        }
    }
}

/// Writes `letters` to `dir/subdir/control`, the way s6's clients do: the open never blocks
/// (ENXIO means no daemon reads the FIFO), the write does (a daemon is there to drain it).
///
/// When the FIFO is missing, the cause decides the answer, as in s6 2.11: a missing or unusable
/// `dir` is a system error; a missing `subdir` means the daemon never ran (not listening); a
/// `subdir` without its FIFO is a broken daemon directory.
pub fn write_control(dir: &Path, subdir: &str, daemon: &'static str, letters: &[u8]) -> Result<(), ControlError> {
    let daemon_dir = dir.join(subdir);
    let fifo = daemon_dir.join("control");
    let fd = match open(&fifo, OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ENXIO) => return Err(ControlError::NotListening { dir: dir.into(), daemon }),
        Err(Errno::ENOENT) => return Err(why_no_fifo(dir, &daemon_dir, daemon)),
        Err(Errno::ENOTDIR) => {
            return Err(ControlError::BadDir { dir: dir.into(), source: Errno::ENOTDIR.into() });
        }
        Err(Errno::EACCES | Errno::EPERM) => return Err(ControlError::Denied { dir: dir.into(), path: fifo, daemon }),
        Err(e) => return Err(ControlError::Io { action: "open", path: fifo, source: e.into() }),
    };
    // A reader exists: from now on a full pipe should make us wait, not fail.
    fcntl(&fd, FcntlArg::F_SETFL(OFlag::empty())).map_err(|e| ControlError::Io {
        action: "set blocking mode on",
        path: fifo.clone(),
        source: e.into(),
    })?;
    let mut written = 0;
    while written < letters.len() {
        match nix::unistd::write(&fd, &letters[written..]) {
            Ok(n) => written += n,
            Err(Errno::EINTR) => {}
            Err(e) => return Err(ControlError::Io { action: "write to", path: fifo, source: e.into() }),
        }
    }
    Ok(())
}

fn why_no_fifo(dir: &Path, daemon_dir: &Path, daemon: &'static str) -> ControlError {
    match std::fs::metadata(dir) {
        Err(e) => return ControlError::BadDir { dir: dir.into(), source: e },
        Ok(meta) if !meta.is_dir() => {
            return ControlError::BadDir { dir: dir.into(), source: Errno::ENOTDIR.into() };
        }
        Ok(_) => {}
    }
    match std::fs::metadata(daemon_dir) {
        Ok(meta) if meta.is_dir() => ControlError::NoFifo { path: daemon_dir.into(), daemon },
        _ => ControlError::NotListening { dir: dir.into(), daemon },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "ostler-client-{name}-{}-{}",
            std::process::id(),
            ostler_core::Tain::now().nanos
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn missing_pieces_are_told_apart() {
        let dir = temp_dir("control");
        let err = write_control(&dir.join("nothing"), "supervise", "supervisor", b"u").unwrap_err();
        assert!(matches!(err, ControlError::BadDir { .. }), "{err}");
        assert_eq!(err.exit_code(), 111);

        let err = write_control(&dir, "supervise", "supervisor", b"u").unwrap_err();
        assert!(matches!(err, ControlError::NotListening { .. }), "{err}");
        assert_eq!(err.exit_code(), 100);

        std::fs::create_dir(dir.join("supervise")).unwrap();
        let err = write_control(&dir, "supervise", "supervisor", b"u").unwrap_err();
        assert!(matches!(err, ControlError::NoFifo { .. }), "{err}");
        assert_eq!(err.exit_code(), 100);

        nix::unistd::mkfifo(&dir.join("supervise/control"), Mode::from_bits_truncate(0o600)).unwrap();
        let err = write_control(&dir, "supervise", "supervisor", b"u").unwrap_err();
        assert!(matches!(err, ControlError::NotListening { .. }), "{err}");

        std::fs::write(dir.join("file"), b"").unwrap();
        let err = write_control(&dir.join("file"), "supervise", "supervisor", b"u").unwrap_err();
        assert!(matches!(err, ControlError::BadDir { .. }), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn letters_arrive_in_order() {
        let dir = temp_dir("letters");
        std::fs::create_dir(dir.join("supervise")).unwrap();
        let fifo = dir.join("supervise/control");
        nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o600)).unwrap();
        let reader = open(&fifo, OFlag::O_RDONLY | OFlag::O_NONBLOCK, Mode::empty()).unwrap();
        write_control(&dir, "supervise", "supervisor", b"dux").unwrap();
        let mut buf = [0u8; 16];
        let n = nix::unistd::read(&reader, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"dux");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
