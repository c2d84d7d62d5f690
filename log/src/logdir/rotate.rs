//! A rotation, as s6-log does it: sync `current`, rename it `previous`, open a new `current`
//! (writing resumes here), mark `previous` complete; then either archive it as `@now.s`, or
//! run the processor (`previous` on its stdin, `processed` on its stdout, `state` on fd 4,
//! `newstate` on fd 5) and, when it succeeds, sync and mark `processed`, sync `newstate`,
//! drop `previous`, rename `newstate` to `state` and archive `processed` as `@now.s`. Then
//! the oldest archives go until at most `n` are left and they take at most `S` bytes.
//!
//! Archiving is "link if the file has one name, then unlink", so a repeat after a kill
//! between the two does not archive twice.

use super::{remove_file_if_there, set_done_bit, Logdir};
use crate::script::ProcessorKind;
use ostler_core::Tain;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where a rotation stands.
#[derive(Debug)]
pub enum Phase {
    /// No rotation under way.
    Idle,
    /// The next step to take.
    Step(Step),
    /// The processor runs.
    Processing(Child),
}

impl Phase {
    /// No rotation under way.
    pub fn is_idle(&self) -> bool {
        matches!(self, Phase::Idle)
    }
}

/// The steps of a rotation, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// fsync `current`.
    SyncCurrent,
    /// rename `current` to `previous`.
    RenameCurrent,
    /// open a new `current`.
    OpenCurrent,
    /// chmod u+x `previous`.
    MarkPrevious,
    /// archive `previous` (no processor).
    ArchivePrevious,
    /// start the processor.
    Spawn,
    /// fsync and chmod u+x `processed`.
    MarkProcessed,
    /// fsync `newstate`.
    SyncNewstate,
    /// unlink `previous`.
    DropPrevious,
    /// rename `newstate` to `state`.
    RenameState,
    /// archive `processed`.
    ArchiveProcessed,
}

impl Logdir {
    /// Starts a wanted rotation once the batch is written.
    pub fn begin_rotation(&mut self) {
        if self.rotate_wanted && self.phase.is_idle() && self.out.is_empty() {
            self.rotate_wanted = false;
            self.phase = Phase::Step(Step::SyncCurrent);
            self.voice.info(format_args!("rotating {}", self.spec.path.display()));
        }
    }

    /// Takes every step that can be taken now; stops at a running processor, a retry
    /// deadline, or the end of the rotation.
    pub fn advance(&mut self, now: Instant) {
        loop {
            if self.retry_at.is_some_and(|at| at > now) {
                return;
            }
            let step = match &mut self.phase {
                Phase::Idle => return,
                Phase::Step(step) => *step,
                Phase::Processing(child) => match child.try_wait() {
                    Ok(None) => return,
                    Ok(Some(status)) if status.success() => {
                        self.phase = Phase::Step(Step::MarkProcessed);
                        continue;
                    }
                    Ok(Some(status)) => {
                        let delay = self.spec.rotation.retry_ms;
                        self.voice.warn(format_args!(
                            "processor failed in {} ({status}): retrying in {delay} ms",
                            self.spec.path.display()
                        ));
                        self.retry_at = Some(now + Duration::from_millis(u64::from(delay)));
                        self.phase = Phase::Step(Step::Spawn);
                        continue;
                    }
                    Err(e) => {
                        self.failed(now, "wait for the processor in", "", &e);
                        return;
                    }
                },
            };
            match self.take(step) {
                Ok(next) => {
                    self.retry_at = None;
                    self.phase = next;
                }
                Err((name, e)) => {
                    self.failed(now, step.verb(), name, &e);
                    return;
                }
            }
        }
    }

    /// One step; the phase after it, or the file it failed on.
    fn take(&mut self, step: Step) -> Result<Phase, (&'static str, io::Error)> {
        let next = |step| Ok(Phase::Step(step));
        match step {
            Step::SyncCurrent => {
                if let Some(file) = &self.current {
                    file.sync_all().map_err(|e| ("current", e))?;
                }
                next(Step::RenameCurrent)
            }
            Step::RenameCurrent => {
                std::fs::rename(self.file("current"), self.file("previous")).map_err(|e| ("current", e))?;
                self.current = None;
                next(Step::OpenCurrent)
            }
            Step::OpenCurrent => {
                self.open_current().map_err(|e| ("current", e))?;
                next(Step::MarkPrevious)
            }
            Step::MarkPrevious => {
                let previous =
                    OpenOptions::new().read(true).open(self.file("previous")).map_err(|e| ("previous", e))?;
                set_done_bit(&previous, true).map_err(|e| ("previous", e))?;
                next(if self.spec.processor.is_some() { Step::Spawn } else { Step::ArchivePrevious })
            }
            Step::ArchivePrevious => {
                self.archive("previous", 's').map_err(|e| ("previous", e))?;
                Ok(Phase::Idle)
            }
            Step::Spawn => {
                let child = self.spawn().map_err(|e| ("", e))?;
                Ok(Phase::Processing(child))
            }
            Step::MarkProcessed => {
                let processed =
                    OpenOptions::new().append(true).open(self.file("processed")).map_err(|e| ("processed", e))?;
                processed.sync_all().map_err(|e| ("processed", e))?;
                set_done_bit(&processed, true).map_err(|e| ("processed", e))?;
                next(Step::SyncNewstate)
            }
            Step::SyncNewstate => {
                match OpenOptions::new().append(true).open(self.file("newstate")) {
                    Ok(file) => file.sync_all().map_err(|e| ("newstate", e))?,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(("newstate", e)),
                }
                next(Step::DropPrevious)
            }
            Step::DropPrevious => {
                remove_file_if_there(&self.file("previous")).map_err(|e| ("previous", e))?;
                next(Step::RenameState)
            }
            Step::RenameState => {
                match std::fs::rename(self.file("newstate"), self.file("state")) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(("newstate", e)),
                }
                next(Step::ArchiveProcessed)
            }
            Step::ArchiveProcessed => {
                self.archive("processed", 's').map_err(|e| ("processed", e))?;
                self.voice.info(format_args!("processed {}", self.spec.path.display()));
                Ok(Phase::Idle)
            }
        }
    }

    /// Runs the processor on `previous`, in the logdir.
    fn spawn(&self) -> io::Result<Child> {
        let Some(processor) = &self.spec.processor else {
            return Err(io::ErrorKind::NotFound.into());
        };
        let previous = File::open(self.file("previous"))?;
        let processed = open_truncated(&self.file("processed"))?;
        let state: OwnedFd = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CREAT | libc::O_CLOEXEC)
            .mode(0o666)
            .open(self.file("state"))?
            .into();
        let newstate: OwnedFd = open_truncated(&self.file("newstate"))?.into();
        let mut command = match processor.kind {
            ProcessorKind::Execline => {
                let mut command = Command::new("execlineb");
                command.arg("-Pc");
                command
            }
            ProcessorKind::Shell => {
                let mut command = Command::new("/bin/sh");
                command.arg("-c");
                command
            }
        };
        command.arg(&processor.command).current_dir(&self.spec.path).stdin(previous).stdout(processed);
        command.stderr(Stdio::inherit());
        self.voice.info(format_args!("running the processor in {}", self.spec.path.display()));
        crate::sys::spawn_with_state(&mut command, &state, &newstate)
    }

    /// Archives `name` as `@now.SUFFIX` (if it exists), then trims.
    pub(super) fn archive(&self, name: &str, suffix: char) -> io::Result<()> {
        let path = self.file(name);
        let meta = match std::fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if meta.nlink() == 1 {
            let mut stamp = Tain::now();
            loop {
                let archive = self.file(&format!("{}.{suffix}", stamp.to_text()));
                match std::fs::hard_link(&path, &archive) {
                    Ok(()) => break,
                    // Two archives in the same nanosecond (s6-log 2.11 stops here): the next one.
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => stamp = next_nanosecond(stamp),
                    Err(e) => return Err(e),
                }
            }
        }
        std::fs::remove_file(&path)?;
        self.trim()
    }

    /// Deletes the oldest archives while more than `n` are left or they take more than `S`.
    fn trim(&self) -> io::Result<()> {
        let mut archives = Vec::new();
        for entry in std::fs::read_dir(&self.spec.path)? {
            let entry = entry?;
            let name = entry.file_name();
            if is_archive_name(name.as_encoded_bytes()) {
                let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                archives.push((name, size));
            }
        }
        archives.sort();
        let rotation = self.spec.rotation;
        let mut total: u64 = archives.iter().map(|(_, size)| size).sum();
        let mut count = archives.len();
        for (name, size) in &archives {
            let too_many = count > rotation.keep as usize;
            let too_big = rotation.total > 0 && total > u64::from(rotation.total);
            if !too_many && !too_big {
                break;
            }
            match std::fs::remove_file(self.spec.path.join(name)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            count -= 1;
            total -= size;
        }
        Ok(())
    }
}

impl Step {
    fn verb(self) -> &'static str {
        match self {
            Step::SyncCurrent | Step::MarkProcessed | Step::SyncNewstate => "sync",
            Step::RenameCurrent | Step::RenameState => "rename",
            Step::OpenCurrent => "open",
            Step::MarkPrevious => "mark complete",
            Step::ArchivePrevious | Step::ArchiveProcessed => "archive",
            Step::Spawn => "run the processor in",
            Step::DropPrevious => "remove",
        }
    }
}

/// `@` + 24 lowercase hex digits + `.s` or `.u`.
pub fn is_archive_name(name: &[u8]) -> bool {
    name.len() == 27
        && name[0] == b'@'
        && name[1..25].iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        && name[25] == b'.'
        && (name[26] == b's' || name[26] == b'u')
}

fn next_nanosecond(stamp: Tain) -> Tain {
    if stamp.nanos >= 999_999_999 {
        Tain { secs: stamp.secs + 1, nanos: 0 }
    } else {
        Tain { secs: stamp.secs, nanos: stamp.nanos + 1 }
    }
}

fn open_truncated(path: &std::path::Path) -> io::Result<File> {
    OpenOptions::new().write(true).create(true).truncate(true).mode(0o666).custom_flags(libc::O_CLOEXEC).open(path)
}
