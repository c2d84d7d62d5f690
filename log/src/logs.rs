//! `ostler logs`: a service's log directory read in order — the archives `@….s` / `@….u` by
//! name (their names are the times they were closed), then `current` — with each line's
//! leading TAI64N label shown as local time. `-n` keeps the last lines, `--since` the recent
//! ones, and `-f` follows `current` across rotations.
//!
//! Following uses inotify on the directory (a write, a new `current`), with a one-second poll
//! as a safety net; a rotation is noticed by `current` changing inode, and the old file is
//! read to its end before the new one is taken from its start.

use crate::error::LogError;
use crate::localtime::{self, push_converted};
use crate::logdir::is_archive_name;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use ostler_core::Tain;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The lines `-f` shows first when `-n` is not given, as `tail -f` does.
pub const FOLLOW_LINES: usize = 10;
/// The safety-net interval of `-f`.
const FOLLOW_POLL: Duration = Duration::from_secs(1);

/// What to show.
#[derive(Debug, Clone)]
pub struct LogsOptions {
    /// The log directory.
    pub dir: PathBuf,
    /// `-f`.
    pub follow: bool,
    /// `-n`.
    pub lines: Option<usize>,
    /// `--since`.
    pub since: Option<Tain>,
}

/// The log directory of a service: NAME under `root` (default `/var/log`), or NAME itself
/// when it holds a `/`.
pub fn log_dir(name: &Path, root: Option<&Path>) -> PathBuf {
    if name.as_os_str().as_encoded_bytes().contains(&b'/') {
        name.to_path_buf()
    } else {
        root.unwrap_or(Path::new("/var/log")).join(name)
    }
}

/// Reads `--since`: `YYYY-MM-DD HH:MM:SS` (or without seconds, or a date alone) in local
/// time, `@` and a TAI64N label, or a time ago such as `-30s`, `-5min`, `-2h`, `-1d`.
pub fn parse_since(text: &str) -> Result<Tain, LogError> {
    let bad = || {
        LogError::Usage(format!(
            "--since \"{text}\": write a local time as YYYY-MM-DD HH:MM:SS, a TAI64N label as @…, or a time ago such as -5min"
        ))
    };
    if text.starts_with('@') {
        return localtime::parse_label(text.as_bytes()).filter(|_| text.len() == Tain::TEXT_LEN).ok_or_else(bad);
    }
    if let Some(ago) = text.strip_prefix('-') {
        let split = ago.find(|c: char| !c.is_ascii_digit()).unwrap_or(ago.len());
        let count: u64 = ago[..split].parse().map_err(|_| bad())?;
        let unit = match ago[split..].trim() {
            "" | "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hour" | "hours" => 3600,
            "d" | "day" | "days" => 86400,
            _ => return Err(bad()),
        };
        let back = Duration::from_secs(count.checked_mul(unit).ok_or_else(bad)?);
        let then = SystemTime::now().checked_sub(back).unwrap_or(UNIX_EPOCH);
        return Ok(Tain::from_system(then));
    }
    let (date, time) = text.trim().split_once([' ', 'T']).unwrap_or((text.trim(), "00:00:00"));
    let numbers = |part: &str, sep: char| -> Option<Vec<u32>> { part.split(sep).map(|n| n.parse().ok()).collect() };
    let date = numbers(date, '-').filter(|d| d.len() == 3).ok_or_else(bad)?;
    let time = numbers(time, ':').filter(|t| t.len() == 2 || t.len() == 3).ok_or_else(bad)?;
    crate::sys::tzset();
    let year = i32::try_from(date[0]).map_err(|_| bad())?;
    let unix = crate::sys::mktime(year, date[1], date[2], time[0], time[1], time.get(2).copied().unwrap_or(0))
        .ok_or_else(bad)?;
    Ok(localtime::from_unix(unix, 0))
}

/// Runs `ostler logs`; returns the exit code.
pub fn run(options: LogsOptions) -> u8 {
    crate::sys::tzset();
    let stdout = io::stdout();
    let mut out = Output { fd: stdout.as_fd(), buffer: Vec::with_capacity(128 * 1024) };
    match show(&options, &mut out) {
        Ok(()) => 0,
        Err(Failure::Closed) => 0,
        Err(Failure::Log(e)) => {
            eprintln!("ostler logs: fatal: {e}");
            e.exit_code()
        }
    }
}

enum Failure {
    /// Our reader went away (`| head`): a normal end.
    Closed,
    Log(LogError),
}

impl From<LogError> for Failure {
    fn from(e: LogError) -> Self {
        Failure::Log(e)
    }
}

struct Output<'a> {
    fd: std::os::fd::BorrowedFd<'a>,
    buffer: Vec<u8>,
}

impl Output<'_> {
    fn line(&mut self, line: &[u8]) -> Result<(), Failure> {
        push_converted(&mut self.buffer, line);
        self.buffer.push(b'\n');
        if self.buffer.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Failure> {
        let result = crate::sys::write_all_fd(self.fd, &self.buffer);
        self.buffer.clear();
        match result {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(Failure::Closed),
            Err(e) => Err(Failure::Log(LogError::system("write to standard output", e))),
        }
    }
}

/// A file of the log directory and the time it ends at (an archive's name; now for
/// `current`).
struct Source {
    path: PathBuf,
    end: Tain,
}

fn sources(dir: &Path) -> Result<Vec<Source>, LogError> {
    let mut archives = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| LogError::io("read the log directory", dir, e))? {
        let entry = entry.map_err(|e| LogError::io("read the log directory", dir, e))?;
        let name = entry.file_name();
        if is_archive_name(name.as_encoded_bytes()) {
            archives.push(name);
        }
    }
    archives.sort();
    let mut list: Vec<Source> = archives
        .into_iter()
        .map(|name| {
            let end = localtime::parse_label(name.as_encoded_bytes()).unwrap_or_default();
            Source { path: dir.join(name), end }
        })
        .collect();
    list.push(Source { path: dir.join("current"), end: Tain::now() });
    Ok(list)
}

fn show(options: &LogsOptions, out: &mut Output) -> Result<(), Failure> {
    let mut watch = None;
    if options.follow {
        // Watch before reading, so that nothing written meanwhile is missed.
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
            .map_err(|e| LogError::system("start inotify", e))?;
        let flags = AddWatchFlags::IN_MODIFY | AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO;
        inotify.add_watch(&options.dir, flags).map_err(|e| LogError::io("watch", &options.dir, e.into()))?;
        watch = Some(inotify);
    }
    let sources = sources(&options.dir)?;
    let limit = options.lines.or(options.follow.then_some(FOLLOW_LINES));
    let mut reader = LineReader::default();
    let mut last = limit.map(|n| VecDeque::with_capacity(n.min(4096)));
    let (first, mut skip) = match (limit, options.since) {
        (Some(n), None) => start_for_last(&sources, n)?,
        _ => (0, 0),
    };
    let mut follow_at = None;
    for (index, source) in sources.iter().enumerate().skip(first) {
        if options.since.is_some_and(|since| source.end < since) {
            continue;
        }
        let Some(mut file) = open_if_there(&source.path)? else { continue };
        let is_current = index + 1 == sources.len();
        let mut filter = Since::new(options.since, source.end);
        reader.reset();
        let keep_tail = is_current && options.follow;
        reader.read_all(&mut file, &source.path, keep_tail, |line| {
            if skip > 0 {
                skip -= 1;
                return Ok(());
            }
            if !filter.keeps(line) {
                return Ok(());
            }
            match &mut last {
                Some(ring) if options.since.is_some() => {
                    if ring.len() == limit.unwrap_or(0) {
                        ring.pop_front();
                    }
                    if limit != Some(0) {
                        ring.push_back(line.to_vec());
                    }
                    Ok(())
                }
                _ => out.line(line),
            }
        })?;
        if is_current {
            let offset = reader.offset;
            follow_at = Some((file, offset));
        }
    }
    if let Some(ring) = last.filter(|_| options.since.is_some()) {
        for line in ring {
            out.line(&line)?;
        }
    }
    out.flush()?;
    match watch {
        Some(inotify) => follow(&options.dir, inotify, follow_at, reader, out),
        None => Ok(()),
    }
}

/// Where to start so as to show the last `n` lines: (source index, lines to skip in it).
fn start_for_last(sources: &[Source], n: usize) -> Result<(usize, usize), LogError> {
    let mut needed = n;
    for (index, source) in sources.iter().enumerate().rev() {
        let Some(mut file) = open_if_there(&source.path)? else { continue };
        let mut count = 0;
        let mut reader = LineReader::default();
        reader
            .read_all(&mut file, &source.path, false, |_| -> Result<(), Failure> {
                count += 1;
                Ok(())
            })
            .map_err(|e| match e {
                Failure::Log(e) => e,
                Failure::Closed => LogError::Usage(String::new()),
            })?;
        if count >= needed {
            return Ok((index, count - needed));
        }
        needed -= count;
    }
    Ok((0, 0))
}

fn open_if_there(path: &Path) -> Result<Option<File>, LogError> {
    match File::open(path) {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LogError::io("open", path, e)),
    }
}

/// `--since` over one file: a labelled line is kept when its label is recent enough; a line
/// without a label goes with the last label before it in the file, or, before any, with the
/// file's end time (so a file that may hold recent lines is shown).
struct Since {
    since: Option<Tain>,
    keeping: bool,
}

impl Since {
    fn new(since: Option<Tain>, end: Tain) -> Since {
        Since { since, keeping: since.is_none_or(|since| since <= end) }
    }

    fn keeps(&mut self, line: &[u8]) -> bool {
        if let (Some(since), Some(stamp)) = (self.since, localtime::parse_label(line)) {
            self.keeping = stamp >= since;
        }
        self.keeping
    }
}

/// Reads whole lines from a file; remembers the offset after the last whole line.
#[derive(Default)]
struct LineReader {
    partial: Vec<u8>,
    offset: u64,
    buffer: Vec<u8>,
}

impl LineReader {
    fn reset(&mut self) {
        self.partial.clear();
        self.offset = 0;
    }

    /// Calls `each` on every whole line from the current position to the end of `file`;
    /// an unfinished last line is kept for later when `keep_tail`, else shown as a line.
    fn read_all(
        &mut self,
        file: &mut File,
        path: &Path,
        keep_tail: bool,
        mut each: impl FnMut(&[u8]) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        if self.buffer.is_empty() {
            self.buffer.resize(64 * 1024, 0);
        }
        loop {
            let n = match file.read(&mut self.buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Failure::Log(LogError::io("read", path, e))),
            };
            let mut chunk = &self.buffer[..n];
            while let Some(end) = chunk.iter().position(|&b| b == b'\n') {
                self.offset += (self.partial.len() + end + 1) as u64;
                if self.partial.is_empty() {
                    each(&chunk[..end])?;
                } else {
                    self.partial.extend_from_slice(&chunk[..end]);
                    let line = std::mem::take(&mut self.partial);
                    each(&line)?;
                }
                chunk = &chunk[end + 1..];
            }
            self.partial.extend_from_slice(chunk);
        }
        if !keep_tail && !self.partial.is_empty() {
            self.offset += self.partial.len() as u64;
            let line = std::mem::take(&mut self.partial);
            each(&line)?;
        }
        Ok(())
    }
}

/// `-f`: shows what is appended to `current`, across rotations, until stopped.
fn follow(
    dir: &Path,
    inotify: Inotify,
    mut at: Option<(File, u64)>,
    mut reader: LineReader,
    out: &mut Output,
) -> Result<(), Failure> {
    let current = dir.join("current");
    loop {
        if let Some((file, _)) = &mut at {
            reader.read_all(file, &current, true, |line| out.line(line))?;
            out.flush()?;
        }
        // A rotation: `current` is a new file. The old one is complete: finish it, then start
        // the new one from its beginning.
        let on_disk = std::fs::metadata(&current).ok().map(|m| (m.dev(), m.ino()));
        let ours = at.as_ref().and_then(|(file, _)| file.metadata().ok()).map(|m| (m.dev(), m.ino()));
        if on_disk.is_some() && on_disk != ours {
            if let Some((file, _)) = &mut at {
                reader.read_all(file, &current, false, |line| out.line(line))?;
                out.flush()?;
            }
            reader.reset();
            at = open_if_there(&current)?.map(|file| (file, 0));
            continue;
        }
        let mut fds = [PollFd::new(inotify.as_fd(), PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(FOLLOW_POLL).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, timeout) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(Failure::Log(LogError::system("poll", e))),
        }
        // Drain the events: what they say is re-read from the files anyway.
        while let Ok(events) = inotify.read_events() {
            if events.is_empty() {
                break;
            }
        }
    }
}
