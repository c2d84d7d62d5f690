//! The input journal: what makes a SIGKILL lose no line and write none twice.
//!
//! Input is moved from the pipe into the file `ostler-input` of the first logdir with
//! `splice`, which takes from the pipe exactly what it writes to the file, even when the
//! process is killed during the call. Lines are then processed from the journal, and after
//! each batch the header records, in one small write, how far the journal has been processed
//! and the size every logdir's `current` had then ("marks"). After a kill, the next logger
//! cuts each `current` back to its mark (dropping a batch that was written but not recorded),
//! and processes the journal again from the recorded point: each line ends up in the logdirs
//! exactly once.
//!
//! Layout: two header slots of 4096 bytes, written alternately, each with a sequence number
//! and a checksum, so a torn header write leaves the other (older, consistent) slot; then the
//! data, from [`DATA_START`] to the end of the file. The processed prefix is dropped by
//! truncating the file when it grows past [`COMPACT_AT`], moving the unprocessed rest (an
//! unfinished line) to the front first; a `valid_end` field makes that move restartable.

use crate::error::LogError;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The journal's file name inside the first logdir. s6-log ignores it.
pub const FILE_NAME: &str = "ostler-input";
/// Size of one header slot.
const SLOT: u64 = 4096;
/// Where the data starts.
pub const DATA_START: u64 = 2 * SLOT;
/// Processed bytes after which the file is truncated.
pub const COMPACT_AT: u64 = 256 * 1024;
const MAGIC: &[u8; 8] = b"OSTLRJ01";
const FIXED: usize = 8 + 8 + 8 + 8 + 4 + 4;
/// Marks that fit in a slot; a script with more logdirs records only the first ones.
pub const MAX_MARKS: usize = (SLOT as usize - FIXED - 8) / 24;

/// The state of one logdir's `current` at a commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    /// Device of `current`.
    pub dev: u64,
    /// Inode of `current`.
    pub ino: u64,
    /// Its size.
    pub size: u64,
}

/// The size recorded for the file `(dev, ino)`, if any.
pub fn mark_for(marks: &[Mark], dev: u64, ino: u64) -> Option<u64> {
    marks.iter().find(|m| m.dev == dev && m.ino == ino).map(|m| m.size)
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Header {
    seq: u64,
    start: u64,
    valid_end: u64,
    marks: Vec<Mark>,
}

impl Header {
    fn encode(&self) -> Vec<u8> {
        let marks = &self.marks[..self.marks.len().min(MAX_MARKS)];
        let mut out = Vec::with_capacity(FIXED + 24 * marks.len() + 8);
        out.extend_from_slice(MAGIC);
        for value in [self.seq, self.start, self.valid_end] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        out.extend_from_slice(&(marks.len() as u32).to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        for mark in marks {
            for value in [mark.dev, mark.ino, mark.size] {
                out.extend_from_slice(&value.to_le_bytes());
            }
        }
        let sum = checksum(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Option<Header> {
        let u64_at = |at: usize| -> Option<u64> { Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?)) };
        if bytes.get(..8)? != MAGIC {
            return None;
        }
        let count = u32::from_le_bytes(bytes.get(32..36)?.try_into().ok()?) as usize;
        if count > MAX_MARKS {
            return None;
        }
        let body = FIXED + 24 * count;
        if checksum(bytes.get(..body)?) != u64_at(body)? {
            return None;
        }
        let marks = (0..count)
            .map(|i| {
                let at = FIXED + 24 * i;
                Some(Mark { dev: u64_at(at)?, ino: u64_at(at + 8)?, size: u64_at(at + 16)? })
            })
            .collect::<Option<Vec<Mark>>>()?;
        Some(Header { seq: u64_at(8)?, start: u64_at(16)?, valid_end: u64_at(24)?, marks })
    }
}

/// FNV-1a: enough to tell a torn write from a whole one.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// An open journal.
#[derive(Debug)]
pub struct Journal {
    file: File,
    path: PathBuf,
    seq: u64,
    start: u64,
    end: u64,
    marks: Vec<Mark>,
}

/// What a journal held when it was opened.
#[derive(Debug, Default)]
pub struct Recovered {
    /// The marks of the last commit: cut each `current` back to its mark.
    pub marks: Vec<Mark>,
    /// Whether the journal existed (a logger died without finishing).
    pub existed: bool,
}

impl Journal {
    /// Opens (or creates) the journal in `dir`, finishing a compaction a kill interrupted.
    pub fn open(dir: &Path) -> Result<(Journal, Recovered), LogError> {
        let path = dir.join(FILE_NAME);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| LogError::io("open", &path, e))?;
        let len = file.metadata().map_err(|e| LogError::io("stat", &path, e))?.len();
        let mut journal = Journal { file, path, seq: 0, start: DATA_START, end: DATA_START, marks: Vec::new() };
        let header = if len >= DATA_START { journal.best_header() } else { None };
        let Some(header) = header else {
            // New (or unreadable: nothing in it can be trusted). Start empty.
            journal.file.set_len(DATA_START).map_err(|e| LogError::io("truncate", &journal.path, e))?;
            journal.write_header(0, &[]).map_err(|e| LogError::io("write", &journal.path, e))?;
            return Ok((journal, Recovered { marks: Vec::new(), existed: len > 0 }));
        };
        journal.seq = header.seq;
        journal.marks = header.marks.clone();
        if header.valid_end >= DATA_START && header.valid_end <= len {
            // A compaction had moved the rest to the front: finish cutting the file there. A
            // compaction only ever shortens the file: a `valid_end` past its end is no cut to
            // finish (growing the file to it made up data, or failed past i64::MAX and kept
            // every later logger from starting).
            journal.file.set_len(header.valid_end).map_err(|e| LogError::io("truncate", &journal.path, e))?;
        }
        journal.end = journal.file.metadata().map_err(|e| LogError::io("stat", &journal.path, e))?.len();
        if journal.end < DATA_START {
            journal.file.set_len(DATA_START).map_err(|e| LogError::io("truncate", &journal.path, e))?;
            journal.end = DATA_START;
        }
        // A start past the end means the file was truncated after a full commit: empty.
        journal.start = header.start.max(DATA_START).min(journal.end);
        journal.write_header(0, &header.marks).map_err(|e| LogError::io("write", &journal.path, e))?;
        Ok((journal, Recovered { marks: header.marks, existed: true }))
    }

    fn best_header(&self) -> Option<Header> {
        let mut slots = Vec::new();
        for index in 0..2 {
            let mut bytes = vec![0u8; SLOT as usize];
            if self.file.read_exact_at(&mut bytes, index * SLOT).is_ok() {
                slots.extend(Header::decode(&bytes));
            }
        }
        slots.into_iter().max_by_key(|h| h.seq)
    }

    fn write_header(&mut self, valid_end: u64, marks: &[Mark]) -> io::Result<()> {
        // Saturating: a header found at open may hold any sequence number (u64::MAX overflowed).
        let header = Header { seq: self.seq.saturating_add(1), start: self.start, valid_end, marks: marks.to_vec() };
        self.file.write_all_at(&header.encode(), (header.seq % 2) * SLOT)?;
        self.seq = header.seq;
        self.marks = header.marks;
        Ok(())
    }

    /// The path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes ingested but not yet committed as processed.
    pub fn unprocessed(&self) -> u64 {
        self.end - self.start
    }

    /// Reads the unprocessed bytes (after opening) into `into`.
    pub fn read_unprocessed(&self, into: &mut Vec<u8>) -> io::Result<()> {
        let from = into.len();
        into.resize(from + self.unprocessed() as usize, 0);
        self.file.read_exact_at(&mut into[from..], self.start)
    }

    /// Moves up to `max` bytes from the pipe `input` into the journal and appends them to
    /// `into`. `Ok(0)` is the end of the input; `WouldBlock` means the pipe is empty.
    pub fn splice_from(&mut self, input: BorrowedFd, max: usize, into: &mut Vec<u8>) -> io::Result<usize> {
        let mut offset = self.end as i64;
        let moved = crate::sys::splice_to_file(input, self.file.as_fd(), &mut offset, max)?;
        let from = into.len();
        into.resize(from + moved, 0);
        self.file.read_exact_at(&mut into[from..], self.end)?;
        self.end += moved as u64;
        Ok(moved)
    }

    /// Appends bytes read from an input that cannot be spliced (not a pipe).
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all_at(bytes, self.end)?;
        self.end += bytes.len() as u64;
        Ok(())
    }

    /// Records that `consumed` more bytes are processed and that the logdirs now stand at
    /// `marks`: the one write that commits a batch.
    pub fn commit(&mut self, consumed: u64, marks: &[Mark]) -> io::Result<()> {
        let start = self.start;
        self.start += consumed;
        let result = self.write_header(0, marks);
        if result.is_err() {
            self.start = start;
        }
        result
    }

    /// Records new marks with nothing more processed (after a rotation opened a new
    /// `current`).
    pub fn record(&mut self, marks: &[Mark]) -> io::Result<()> {
        if marks == self.marks.as_slice() {
            return Ok(());
        }
        self.write_header(0, marks)
    }

    /// Drops the processed prefix once it is large (or at once when `now`, to give back
    /// space): `rest` (the unprocessed bytes, an unfinished line) moves to the front. Each step
    /// leaves a header that a restart can finish from.
    pub fn compact(&mut self, rest: &[u8], now: bool) -> io::Result<()> {
        let processed = self.start - DATA_START;
        let threshold = if now { 1 } else { COMPACT_AT };
        if processed < threshold || rest.len() as u64 > processed || self.unprocessed() != rest.len() as u64 {
            return Ok(());
        }
        let marks = self.marks.clone();
        let valid_end = DATA_START + rest.len() as u64;
        if rest.is_empty() {
            // A kill after the truncation finds start past the end: empty, as it should.
            self.file.set_len(DATA_START)?;
            self.start = DATA_START;
            self.end = DATA_START;
            return self.write_header(0, &marks);
        }
        self.file.write_all_at(rest, DATA_START)?;
        self.start = DATA_START;
        self.write_header(valid_end, &marks)?;
        self.file.set_len(valid_end)?;
        self.end = valid_end;
        self.write_header(0, &marks)
    }

    /// Removes the journal at a clean exit, when everything in it is processed.
    pub fn remove(self) -> io::Result<()> {
        if self.unprocessed() == 0 {
            std::fs::remove_file(&self.path)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dir(PathBuf);
    impl Dir {
        fn new(name: &str) -> Dir {
            let path = std::env::temp_dir().join(format!("ostler-journal-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).unwrap();
            Dir(path)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn mark(size: u64) -> Mark {
        Mark { dev: 1, ino: 2, size }
    }

    #[test]
    fn header_round_trip_and_torn_slot() {
        let header = Header { seq: 7, start: 9000, valid_end: 0, marks: vec![mark(5), mark(6)] };
        let bytes = header.encode();
        assert_eq!(Header::decode(&bytes), Some(header));
        let mut torn = bytes.clone();
        torn[20] ^= 1;
        assert_eq!(Header::decode(&torn), None);
        assert_eq!(Header::decode(&[0u8; 64]), None);
    }

    #[test]
    fn commits_survive_reopening() {
        let dir = Dir::new("reopen");
        let (mut journal, recovered) = Journal::open(&dir.0).unwrap();
        assert!(!recovered.existed);
        journal.append(b"one\ntwo\nthr").unwrap();
        journal.commit(8, &[mark(8)]).unwrap();
        drop(journal);
        let (journal, recovered) = Journal::open(&dir.0).unwrap();
        assert!(recovered.existed);
        assert_eq!(recovered.marks, vec![mark(8)]);
        let mut rest = Vec::new();
        journal.read_unprocessed(&mut rest).unwrap();
        assert_eq!(rest, b"thr");
        journal.remove().unwrap();
        assert!(dir.0.join(FILE_NAME).exists(), "not removed while a line is unprocessed");
    }

    #[test]
    fn a_torn_last_header_falls_back_to_the_one_before() {
        let dir = Dir::new("torn");
        let (mut journal, _) = Journal::open(&dir.0).unwrap();
        journal.append(b"a\nb\n").unwrap();
        journal.commit(2, &[mark(2)]).unwrap();
        journal.commit(2, &[mark(4)]).unwrap();
        let slot = (journal.seq % 2) * SLOT;
        journal.file.write_all_at(b"garbage", slot + 10).unwrap();
        drop(journal);
        let (journal, recovered) = Journal::open(&dir.0).unwrap();
        assert_eq!(recovered.marks, vec![mark(2)], "the torn commit did not happen");
        let mut rest = Vec::new();
        journal.read_unprocessed(&mut rest).unwrap();
        assert_eq!(rest, b"b\n");
    }

    #[test]
    fn compaction_keeps_the_unfinished_line_at_every_step() {
        let dir = Dir::new("compact");
        let (mut journal, _) = Journal::open(&dir.0).unwrap();
        let big = vec![b'x'; COMPACT_AT as usize];
        journal.append(&big).unwrap();
        journal.append(b"\nunfinished").unwrap();
        journal.commit(COMPACT_AT + 1, &[mark(1)]).unwrap();
        journal.compact(b"unfinished", false).unwrap();
        assert_eq!(journal.file.metadata().unwrap().len(), DATA_START + 10);
        drop(journal);
        let (journal, _) = Journal::open(&dir.0).unwrap();
        let mut rest = Vec::new();
        journal.read_unprocessed(&mut rest).unwrap();
        assert_eq!(rest, b"unfinished");

        // Killed between the header that moved the start and the truncation.
        let (mut journal, _) = Journal::open(&dir.0).unwrap();
        journal.append(&big).unwrap();
        journal.commit(10 + COMPACT_AT, &[mark(2)]).unwrap();
        journal.append(b"tail").unwrap();
        journal.file.write_all_at(b"tail", DATA_START).unwrap();
        journal.start = DATA_START;
        journal.write_header(DATA_START + 4, &[mark(2)]).unwrap();
        drop(journal);
        let (journal, _) = Journal::open(&dir.0).unwrap();
        let mut rest = Vec::new();
        journal.read_unprocessed(&mut rest).unwrap();
        assert_eq!(rest, b"tail");
    }

    #[test]
    fn truncation_after_a_full_commit_reads_as_empty() {
        let dir = Dir::new("empty");
        let (mut journal, _) = Journal::open(&dir.0).unwrap();
        journal.append(&vec![b'y'; 1000]).unwrap();
        journal.commit(1000, &[mark(3)]).unwrap();
        journal.file.set_len(DATA_START).unwrap();
        drop(journal);
        let (journal, recovered) = Journal::open(&dir.0).unwrap();
        assert_eq!(journal.unprocessed(), 0);
        assert_eq!(recovered.marks, vec![mark(3)]);
    }
}
