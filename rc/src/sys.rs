//! Processes of the service manager: a oneshot's script as a child with a pidfd (so that the
//! event loop polls it beside the supervisors' events), and the lock of the live state.

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Child, Command};

/// A pidfd for a child (Linux 5.3+).
pub fn pidfd(child: &Child) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id() as libc::pid_t, 0) };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the syscall just returned this fd, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw as i32) })
}

/// How to run an s6-rc script (`up`, `down`): directly when it has a `#!` line, through
/// `execlineb -P` (s6-rc's language) when execline is installed; otherwise an error saying so.
pub fn script_command(path: &Path) -> Result<Command, String> {
    let head = std::fs::read(path).map_err(|e| format!("unable to read {}: {e}", path.display()))?;
    if head.starts_with(b"#!") {
        // Run by its interpreter, so that the file needs no execute bit (s6-rc's do not).
        let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(&line[2..]).trim().to_string();
        let mut words = line.split_whitespace();
        let interpreter =
            words.next().ok_or_else(|| format!("{}: an empty #! line; name an interpreter", path.display()))?;
        let mut command = Command::new(interpreter);
        command.args(words).arg(path);
        return Ok(command);
    }
    for dir in ["/usr/bin", "/bin", "/usr/local/bin"] {
        let execlineb = Path::new(dir).join("execlineb");
        if execlineb.exists() {
            let mut command = Command::new(execlineb);
            command.arg("-P").arg(path);
            return Ok(command);
        }
    }
    Err(format!(
        "{} is execline (no #! line) and execlineb is not installed; add a #!/bin/sh line or install execline",
        path.display()
    ))
}

/// Takes the live state's lock (fcntl, whole file), waiting for another `ostler rc` to finish;
/// it lasts as long as the returned file is open.
pub fn lock(path: &Path) -> std::io::Result<std::fs::File> {
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path)?;
    // SAFETY: a zeroed flock is a valid "whole file" description once type and whence are set.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    loop {
        match nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_SETLKW(&lock)) {
            Ok(_) => return Ok(file),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
