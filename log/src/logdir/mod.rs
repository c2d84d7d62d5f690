//! One logdir, kept exactly as s6-log keeps it (see docs/log.md): `lock`, `current`, `state`,
//! the transient `previous`, `processed`, `newstate`, and the archives `@<tai64n>.s` / `.u`.
//! The owner-execute bit is the commit marker: `current` has it only after a clean exit,
//! `previous` once it is complete, `processed` once the processor succeeded.
//!
//! This module opens a logdir (lock, salvage what a killed logger left) and writes to it;
//! [`rotate`] moves it through a rotation. Every step can be repeated after a failure or a
//! kill and ends in the same state, so a failed step is simply retried after `r` ms.

mod rotate;

use crate::error::LogError;
use crate::journal::{self, Mark};
use crate::script::LogdirSpec;
use crate::voice::Verbosity;
use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use rotate::{is_archive_name, Phase};

/// The owner-execute bit: "this file is complete".
const DONE_BIT: u32 = 0o100;

/// An open logdir.
#[derive(Debug)]
pub struct Logdir {
    /// Path and settings.
    pub spec: LogdirSpec,
    /// Held for our lifetime: the fcntl lock on `lock`.
    _lock: File,
    /// `current`, or `None` while a rotation has renamed it and not yet opened the new one.
    current: Option<File>,
    /// Device and inode of `current`.
    id: (u64, u64),
    /// Bytes in `current`.
    size: u64,
    /// Output of the batch being processed, not yet written.
    pub out: Vec<u8>,
    /// Bytes of `out` already written.
    written: usize,
    /// Where a rotation stands.
    phase: Phase,
    /// `current` is due for a rotation (size reached, or SIGALRM).
    rotate_wanted: bool,
    /// A failed write or step is retried then.
    retry_at: Option<Instant>,
    voice: Verbosity,
}

impl Logdir {
    /// Creates the directory if needed and takes its lock. Busy → [`LogError::Busy`].
    pub fn lock(spec: LogdirSpec, voice: Verbosity) -> Result<Logdir, LogError> {
        let dir = &spec.path;
        match std::fs::DirBuilder::new().mode(0o2700).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
            Err(e) => return Err(LogError::io("create the logdir", dir, e)),
        }
        let lock_path = dir.join("lock");
        let lock = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o666)
            .custom_flags(libc::O_CLOEXEC)
            .open(&lock_path)
            .map_err(|e| LogError::io("open", &lock_path, e))?;
        match ostler_core::lock::try_lock(&lock) {
            Ok(true) => {}
            Ok(false) => return Err(LogError::Busy { path: lock_path }),
            Err(e) => return Err(LogError::io("lock", &lock_path, e)),
        }
        Ok(Logdir {
            spec,
            _lock: lock,
            current: None,
            id: (0, 0),
            size: 0,
            out: Vec::new(),
            written: 0,
            phase: Phase::Idle,
            rotate_wanted: false,
            retry_at: None,
            voice,
        })
    }

    /// The directory's device and inode, to refuse a script naming it twice.
    pub fn dir_id(&self) -> Result<(u64, u64), LogError> {
        let meta = std::fs::metadata(&self.spec.path).map_err(|e| LogError::io("stat", &self.spec.path, e))?;
        Ok((meta.dev(), meta.ino()))
    }

    fn file(&self, name: &str) -> PathBuf {
        self.spec.path.join(name)
    }

    /// After a kill: cuts `current` back to the size the journal recorded for it, dropping a
    /// batch that was written but never committed (the journal still holds its lines).
    pub fn cut_back(&self, marks: &[Mark]) -> Result<(), LogError> {
        let path = self.file("current");
        let meta = match std::fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(LogError::io("stat", &path, e)),
        };
        if let Some(size) = journal::mark_for(marks, meta.dev(), meta.ino()) {
            if meta.len() > size {
                let file = OpenOptions::new().write(true).open(&path).map_err(|e| LogError::io("open", &path, e))?;
                file.set_len(size).map_err(|e| LogError::io("truncate", &path, e))?;
            }
        }
        Ok(())
    }

    /// Opens `current` for appending, first salvaging what a logger that did not exit
    /// cleanly left: s6-log's startup, step for step.
    pub fn start(&mut self) -> Result<(), LogError> {
        let current = self.file("current");
        let clean = match std::fs::metadata(&current) {
            Ok(meta) => meta.mode() & DONE_BIT != 0,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(LogError::io("stat", &current, e)),
        };
        if !clean {
            self.salvage()?;
        }
        self.open_current().map_err(|e| LogError::io("open", self.file("current"), e))?;
        // In use: not complete until we exit cleanly.
        self.set_done_bit_on_current(false)
    }

    /// The unclean start: state goes (it may not match what was archived); a finished
    /// `processed` wins over `previous`, else `previous` is kept as an unfinished archive;
    /// `current` is archived as unfinished too (even empty, as s6-log does).
    fn salvage(&mut self) -> Result<(), LogError> {
        for name in ["state", "newstate"] {
            remove_if_there(&self.file(name))?;
        }
        let processed = self.file("processed");
        let processed_done = match std::fs::metadata(&processed) {
            Ok(meta) => meta.mode() & DONE_BIT != 0,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(LogError::io("stat", &processed, e)),
        };
        let archive =
            |name: &str, suffix| self.archive(name, suffix).map_err(|e| LogError::io("archive", self.file(name), e));
        if processed_done {
            remove_if_there(&self.file("previous"))?;
            archive("processed", 's')?;
        } else {
            remove_if_there(&processed)?;
            archive("previous", 'u')?;
        }
        archive("current", 'u')?;
        let state = self.file("state");
        create_empty(&state)?;
        Ok(())
    }

    fn open_current(&mut self) -> io::Result<()> {
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o666)
            .custom_flags(libc::O_CLOEXEC)
            .open(self.file("current"))?;
        let meta = file.metadata()?;
        self.id = (meta.dev(), meta.ino());
        self.size = meta.len();
        self.current = Some(file);
        Ok(())
    }

    fn set_done_bit_on_current(&self, done: bool) -> Result<(), LogError> {
        let path = self.file("current");
        let Some(file) = &self.current else { return Ok(()) };
        set_done_bit(file, done).map_err(|e| LogError::io("chmod", &path, e))
    }

    /// The journal's view of this logdir.
    pub fn mark(&self) -> Mark {
        Mark { dev: self.id.0, ino: self.id.1, size: self.size }
    }

    /// Whether the next line may be added to this logdir's batch.
    pub fn accepts(&self) -> bool {
        self.current.is_some() && self.retry_at.is_none() && (!self.rotate_wanted || self.phase.is_idle())
    }

    /// Adds output for the batch; returns true when `current` is then due for rotation,
    /// which ends the batch.
    pub fn push(&mut self, bytes: &[u8]) -> bool {
        self.out.extend_from_slice(bytes);
        self.check_size()
    }

    /// Marks the logdir due for rotation once `current` (with the batch) reaches `s - l`.
    pub fn check_size(&mut self) -> bool {
        if self.size + (self.out.len() - self.written) as u64 >= self.spec.rotation.threshold() {
            self.rotate_wanted = true;
        }
        self.rotate_wanted
    }

    /// SIGALRM: rotate now if `current` holds anything and no rotation is under way.
    pub fn want_rotation(&mut self) {
        if self.phase.is_idle() && self.size + self.out.len() as u64 > 0 {
            self.rotate_wanted = true;
        }
    }

    /// Writes the batch's output. False when it could not (a retry is set).
    pub fn flush(&mut self, now: Instant) -> bool {
        if self.written == self.out.len() {
            self.out.clear();
            self.written = 0;
            return true;
        }
        if self.retry_at.is_some_and(|at| at > now) {
            return false;
        }
        let Some(file) = self.current.as_mut() else { return false };
        while self.written < self.out.len() {
            match file.write(&self.out[self.written..]) {
                Ok(0) => return self.failed(now, "write", "current", &io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.written += n;
                    self.size += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.failed(now, "write", "current", &e),
            }
        }
        self.retry_at = None;
        self.out.clear();
        self.written = 0;
        true
    }

    /// Says what failed and sets the retry deadline; always false.
    fn failed(&mut self, now: Instant, action: &str, name: &str, error: &io::Error) -> bool {
        let delay = self.spec.rotation.retry_ms;
        self.voice.warn(format_args!(
            "unable to {action} {}: {}: retrying in {delay} ms",
            self.file(name).display(),
            crate::error::describe(error)
        ));
        self.retry_at = Some(now + Duration::from_millis(u64::from(delay)));
        false
    }

    /// When this logdir next wants to act (a retry).
    pub fn deadline(&self) -> Option<Instant> {
        self.retry_at
    }

    /// Whether nothing is under way: no rotation, no processor, no unwritten output.
    pub fn is_quiet(&self) -> bool {
        self.phase.is_idle() && self.out.is_empty() && !self.rotate_wanted
    }

    /// A clean exit: `current` is synced and marked complete.
    pub fn finish(&mut self) -> Result<(), LogError> {
        let path = self.file("current");
        if let Some(file) = &self.current {
            file.sync_all().map_err(|e| LogError::io("fsync", &path, e))?;
        }
        self.set_done_bit_on_current(true)
    }
}

/// Removes a file; a missing one is fine.
fn remove_file_if_there(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn remove_if_there(path: &Path) -> Result<(), LogError> {
    remove_file_if_there(path).map_err(|e| LogError::io("remove", path, e))
}

/// Creates (or empties) a file with mode 0666 less the umask.
fn create_empty(path: &Path) -> Result<(), LogError> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o666)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map(drop)
        .map_err(|e| LogError::io("create", path, e))
}

/// Sets or clears the owner-execute bit of an open file.
fn set_done_bit(file: &File, done: bool) -> io::Result<()> {
    let mode = file.metadata()?.mode() & 0o7777;
    let wanted = if done { mode | DONE_BIT } else { mode & !DONE_BIT };
    if wanted != mode {
        file.set_permissions(Permissions::from_mode(wanted))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
