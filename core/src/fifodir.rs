//! The `event/` fifodir: a directory of FIFOs, one per listener, through which a supervisor
//! announces what happens to its service, one byte per event (s6's `ftrig1` protocol).
//!
//! A listener makes `.ftrig1:@<tain>:<6 chars>` (the dot hides it from notifiers while it is
//! being set up), opens it for reading without blocking plus a write end (so it never sees
//! EOF), then renames it without the dot. A notifier writes to every `ftrig1:@…` entry of
//! exactly 39 characters, and removes the ones nobody reads any more.

use crate::{CoreError, Tain};
use nix::sys::stat::Mode;
use rustix::fs::OFlags;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Length of a listener FIFO's name.
pub const NAME_LEN: usize = 39;
/// The prefix of listener FIFOs.
pub const PREFIX: &str = "ftrig1:@";

/// Event bytes a supervisor posts (s6-compat.md §4).
pub mod event {
    /// The supervisor started.
    pub const START: u8 = b's';
    /// `run` was spawned.
    pub const UP: u8 = b'u';
    /// The service notified readiness.
    pub const READY: u8 = b'U';
    /// `run` died (finish, if any, has been spawned).
    pub const DOWN: u8 = b'd';
    /// Down, and finish is done.
    pub const DOWN_DONE: u8 = b'D';
    /// finish exited 125: permanent failure.
    pub const ONCE: u8 = b'O';
    /// The supervisor is exiting.
    pub const EXIT: u8 = b'x';
}

/// Makes the fifodir if it does not exist: mode 03730 (setgid, sticky, group-writable), group
/// set to our effective group, as s6-supervise does. An existing directory is left alone.
pub fn create(dir: &Path) -> Result<(), CoreError> {
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(CoreError::io("mkdir", dir, e)),
    }
    let gid = nix::unistd::getegid();
    nix::unistd::chown(dir, None, Some(gid)).map_err(|e| CoreError::io("chown", dir, e.into()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o3730)).map_err(|e| CoreError::io("chmod", dir, e))
}

/// Whether a directory entry is a listener FIFO.
pub fn is_listener(name: &[u8]) -> bool {
    name.len() == NAME_LEN && name.starts_with(PREFIX.as_bytes())
}

/// Writes `bytes` to every listener in `dir`, in one write each; removes listeners whose
/// reader is gone. Never blocks. A missing directory is not an error (nobody listens).
pub fn notify(dir: &Path, bytes: &[u8]) -> Result<(), CoreError> {
    use rustix::fs::{openat, unlinkat, AtFlags, FileType, Mode};
    use rustix::io::Errno;
    let fifodir = match crate::listing::open(dir) {
        Ok(fd) => fd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(CoreError::io("open", dir, e)),
    };
    let listed = crate::listing::each(&fifodir, |name, file_type| {
        if !is_listener(name.to_bytes()) {
            return;
        }
        // A FIFO only, never followed: the notifier is a supervisor inside PID 1, and whoever
        // may subscribe (the fifodir's group) may also put a symbolic link or a file under a
        // listener's name. Followed, it would make root write event bytes into any file
        // (/etc/passwd), device or other daemon's control FIFO. Such an entry is no listener:
        // it goes like a listener that is gone. (The type is looked at before the open, so no
        // device is ever opened, and after it, since the entry may change in between.)
        let flags = OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        let gone = match file_type {
            FileType::Fifo | FileType::Unknown => match openat(&fifodir, name, flags, Mode::empty()) {
                Ok(fifo) if !is_fifo(&fifo) => true,
                Ok(fifo) => rustix::io::write(&fifo, bytes) == Err(Errno::PIPE),
                // ELOOP: a symbolic link.
                Err(e) => e == Errno::NXIO || e == Errno::LOOP,
            },
            _ => true,
        };
        if gone {
            let _ = unlinkat(&fifodir, name, AtFlags::empty());
        }
    });
    listed.map_err(|e| CoreError::io("read", dir, e))
}

fn is_fifo(fd: &OwnedFd) -> bool {
    use rustix::fs::FileType;
    rustix::fs::fstat(fd).is_ok_and(|stat| FileType::from_raw_mode(stat.st_mode) == FileType::Fifo)
}

/// A listener FIFO in a fifodir; unsubscribes (unlinks) on drop.
#[derive(Debug)]
pub struct Subscription {
    path: PathBuf,
    /// Opened read-write: Linux lets a FIFO be opened so, at once, and its own writer keeps
    /// it from ever reading as closed (one open instead of a reader and a writer).
    reader: OwnedFd,
}

impl Subscription {
    /// Subscribes to `dir`.
    pub fn new(dir: &Path) -> Result<Subscription, CoreError> {
        for attempt in 0..16u32 {
            let stamp = Tain::now().to_text();
            let name = format!("{PREFIX}{}:{}", &stamp[1..], random_suffix(attempt));
            let hidden = dir.join(format!(".{name}"));
            match nix::unistd::mkfifo(&hidden, Mode::from_bits_truncate(0o600)) {
                Ok(()) => {}
                Err(nix::errno::Errno::EEXIST) => continue,
                Err(e) => return Err(CoreError::io("mkfifo", &hidden, e.into())),
            }
            // rustix, not libc: musl's open adds an fcntl after each, and a boot subscribes once
            // per service.
            let flags = OFlags::RDWR | OFlags::NONBLOCK | OFlags::CLOEXEC;
            let reader = match rustix::fs::open(&hidden, flags, rustix::fs::Mode::empty()) {
                Ok(fd) => fd,
                Err(e) => {
                    let _ = std::fs::remove_file(&hidden);
                    return Err(CoreError::io("open", &hidden, e.into()));
                }
            };
            let path = dir.join(&name);
            if let Err(e) = std::fs::rename(&hidden, &path) {
                let _ = std::fs::remove_file(&hidden);
                return Err(CoreError::io("rename", &hidden, e));
            }
            return Ok(Subscription { path, reader });
        }
        Err(CoreError::io("mkfifo", dir, std::io::Error::from_raw_os_error(libc::EEXIST)))
    }

    /// The read end, for poll.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.reader.as_fd()
    }

    /// Reads what has arrived, without blocking; empty when nothing has.
    pub fn read(&self) -> std::io::Result<Vec<u8>> {
        let mut buf = [0u8; 256];
        match nix::unistd::read(&self.reader, &mut buf) {
            Ok(n) => Ok(buf[..n].to_vec()),
            Err(nix::errno::Errno::EAGAIN) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Six characters from [A-Za-z0-9], different for each process and attempt.
fn random_suffix(attempt: u32) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded from the OS's randomness once per process, then varies per instance.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(attempt);
    hasher.write_u32(Tain::now().nanos);
    let seed = hasher.finish().to_le_bytes();
    seed[..6].iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_names() {
        let name = format!("{PREFIX}400000006b02cc972fb18368:abcdef");
        assert_eq!(name.len(), NAME_LEN);
        assert!(is_listener(name.as_bytes()));
        assert!(!is_listener(b".ftrig1:@400000006b02cc972fb18368:abcdef"));
        assert!(!is_listener(b"ftrig1:@short"));
    }

    #[test]
    fn a_link_or_file_under_a_listener_name_is_removed_never_written_through() {
        let dir = std::env::temp_dir().join(format!("ostler-fifodir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, "intact\n").unwrap();
        let link = dir.join(format!("{PREFIX}400000006b02cc972fb18368:linked"));
        let file = dir.join(format!("{PREFIX}400000006b02cc972fb18368:a-file"));
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        std::fs::write(&file, "").unwrap();
        let listener = Subscription::new(&dir).unwrap();
        notify(&dir, b"u").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "intact\n", "written through a link");
        assert!(std::fs::symlink_metadata(&link).is_err() && !file.exists(), "not listeners: they go");
        assert_eq!(listener.read().unwrap(), b"u", "the real listener still hears");
        drop(listener);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
