//! POSIX `fcntl` whole-file locks. s6-svok, s6-svstat and s6-svc test these (F_GETLK), so a
//! `flock` lock would be invisible to them.

use nix::fcntl::{fcntl, FcntlArg};
use std::os::fd::AsFd;

fn whole_file(kind: libc::c_short) -> libc::flock {
    // SAFETY: flock is a plain C struct; all-zero is a valid value before we fill it.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock
}

/// Takes a write lock on the whole file without waiting. `Ok(false)` when another process
/// holds it.
pub fn try_lock(fd: impl AsFd) -> std::io::Result<bool> {
    let lock = whole_file(libc::F_WRLCK as libc::c_short);
    match fcntl(fd.as_fd(), FcntlArg::F_SETLK(&lock)) {
        Ok(_) => Ok(true),
        Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EACCES) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Whether another process holds a lock on the file (what s6-svok asks).
pub fn is_locked(fd: impl AsFd) -> std::io::Result<bool> {
    let mut lock = whole_file(libc::F_RDLCK as libc::c_short);
    fcntl(fd.as_fd(), FcntlArg::F_GETLK(&mut lock))?;
    Ok(lock.l_type != libc::F_UNLCK as libc::c_short)
}

/// Whether `path` exists and is locked by a live process: the "is it supervised?" test.
/// A missing file means "not supervised".
pub fn path_is_locked(path: &std::path::Path) -> std::io::Result<bool> {
    match std::fs::File::open(path) {
        Ok(file) => is_locked(&file),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}
