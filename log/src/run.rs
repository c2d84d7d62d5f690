//! The logger's event loop. One turn: take the rotation steps that are due, finish the batch
//! in flight, process new batches of lines while every logdir accepts them, then poll the
//! input, the signalfd and the nearest retry deadline. Nothing sleeps.
//!
//! A batch is a run of whole lines (at most [`BATCH_MAX`] input bytes, ending early after a
//! line that makes a logdir due for rotation). It is written to every logdir, then its alerts
//! and status files, and then committed to the journal in one write: see [`crate::journal`]
//! for why this loses and repeats no line when the logger is killed. Input that is not yet
//! in a committed batch stays in the journal (or, not read yet, in the pipe): memory use is
//! bounded by [`INGEST_CAP`] except for a single line longer than it with `-l 0`.

use crate::error::{describe, LogError};
use crate::journal::Journal;
use crate::lines::{has_line, next_line};
use crate::localtime;
use crate::logdir::Logdir;
use crate::regex::CLine;
use crate::script::{Script, Step};
use crate::sys;
use crate::voice::Verbosity;
use crate::walk::{walk, Dress, Sinks};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use ostler_core::Tain;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

/// Input bytes in one batch, at most.
pub const BATCH_MAX: usize = 1 << 20;
/// Unprocessed input held (journal and memory) before the logger stops reading.
pub const INGEST_CAP: usize = 1 << 20;
/// One read from an input that is not a pipe.
const READ_CHUNK: usize = 64 * 1024;
/// Processed bytes at the front of the memory buffer before it is compacted.
const COMPACT_MEMORY: usize = 64 * 1024;

/// How the logger runs, besides its script. The default is s6-log's: warnings on, SIGTERM
/// stops it, lines cut after 8192 bytes.
#[derive(Debug)]
pub struct Options {
    /// `-d`: write a newline here once the logdirs are open, then close it.
    pub readiness: Option<OwnedFd>,
    /// `-q` / `-v`.
    pub verbosity: Verbosity,
    /// `-p`: SIGTERM does not stop the logger.
    pub protect: bool,
    /// `-l`: bytes after which a line is cut (0: never). Values 1..47 mean 48.
    pub line_limit: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { readiness: None, verbosity: Verbosity::Normal, protect: false, line_limit: 8192 }
    }
}

/// Runs a logger over `input` until it ends (or SIGTERM / SIGHUP); returns the exit code. The
/// calling thread's signal mask gets SIGTERM, SIGHUP, SIGALRM and SIGCHLD blocked, and
/// SIGPIPE and SIGXFSZ are ignored: run it in a process (or forked child) of its own.
pub fn run(script: Script, input: OwnedFd, options: Options) -> u8 {
    match Logger::start(script, input, options) {
        Ok(mut logger) => logger.run(),
        Err(e) => {
            crate::voice::say(format_args!("ostler log: fatal: {e}"));
            e.exit_code()
        }
    }
}

struct Logger {
    steps: Vec<Step>,
    sinks: Sinks,
    journal: Option<Journal>,
    input: OwnedFd,
    /// The input is a pipe: move it into the journal with splice.
    splice: bool,
    eof: bool,
    /// Unprocessed input from `head` on (a mirror of the journal's unprocessed part).
    data: Vec<u8>,
    head: usize,
    /// Read from a non-pipe input, not yet in the journal.
    held: Vec<u8>,
    /// Input bytes of the batch being written (0: none).
    in_flight: usize,
    /// Its marks are recorded (before its first write).
    recorded: bool,
    /// Its alerts and status files are out.
    announced: bool,
    signals: SignalFd,
    stopping: bool,
    protect: bool,
    limit: usize,
    voice: Verbosity,
    uses_tai: bool,
    uses_local: bool,
    dress: Dress,
    cline: CLine,
    /// A failed ingest or commit is retried then.
    retry_at: Option<Instant>,
    retry_delay: Duration,
}

impl Logger {
    fn start(script: Script, input: OwnedFd, options: Options) -> Result<Logger, LogError> {
        sys::ensure_std_fds();
        let voice = options.verbosity;
        let uses_tai = script.uses_tai();
        let uses_local = script.uses_local();
        if uses_local {
            sys::tzset();
        }
        let mut logdirs = Vec::new();
        let mut seen = Vec::new();
        for spec in script.logdirs {
            let logdir = Logdir::lock(spec, voice)?;
            let id = logdir.dir_id()?;
            if let Some(first) = seen.iter().position(|other| *other == id) {
                let first: &Logdir = &logdirs[first];
                return Err(LogError::Script(crate::error::ScriptError::Bad {
                    directive: logdir.spec.path.display().to_string(),
                    problem: format!("same directory as logdir {}: name each logdir once", first.spec.path.display()),
                }));
            }
            seen.push(id);
            logdirs.push(logdir);
        }
        let mut journal = None;
        if let Some(first) = logdirs.first() {
            let (opened, recovered) = Journal::open(&first.spec.path)?;
            if recovered.existed {
                for logdir in &logdirs {
                    logdir.cut_back(&recovered.marks)?;
                }
            }
            journal = Some(opened);
        }
        for logdir in &mut logdirs {
            logdir.start()?;
        }
        let mut data = Vec::new();
        if let Some(journal) = &mut journal {
            journal.read_unprocessed(&mut data).map_err(|e| LogError::io("read", journal.path(), e))?;
            let marks: Vec<_> = logdirs.iter().map(Logdir::mark).collect();
            journal.record(&marks).map_err(|e| LogError::io("write", journal.path(), e))?;
        }
        sys::ignore_write_signals();
        let signals = sys::signal_fd(&[Signal::SIGTERM, Signal::SIGHUP, Signal::SIGALRM, Signal::SIGCHLD])
            .map_err(|e| LogError::system("set up the signals", e))?;
        let splice = journal.is_some() && sys::is_pipe(input.as_fd());
        let retry_delay =
            Duration::from_millis(logdirs.first().map_or(2000, |l: &Logdir| u64::from(l.spec.rotation.retry_ms)));
        let status = script.status_files.into_iter().map(|spec| (spec, None)).collect();
        if let Some(fd) = options.readiness {
            // The reader may be gone; readiness is a courtesy, not a reason to stop logging.
            let _ = sys::write_all_fd(&fd, b"\n");
        }
        let limit = match options.line_limit {
            0 => 0,
            n => n.max(48),
        };
        Ok(Logger {
            steps: script.steps,
            sinks: Sinks { logdirs, stdout: Vec::new(), stderr: Vec::new(), status },
            journal,
            input,
            splice,
            eof: false,
            data,
            head: 0,
            held: Vec::new(),
            in_flight: 0,
            recorded: false,
            announced: false,
            signals,
            stopping: false,
            protect: options.protect,
            limit,
            voice,
            uses_tai,
            uses_local,
            dress: Dress::default(),
            cline: CLine::default(),
            retry_at: None,
            retry_delay,
        })
    }

    fn run(&mut self) -> u8 {
        loop {
            let now = Instant::now();
            if self.retry_at.is_some_and(|at| at <= now) {
                // Due: this turn retries the ingest or the commit that failed.
                self.retry_at = None;
            }
            for logdir in &mut self.sinks.logdirs {
                if self.in_flight == 0 {
                    // A rotation asked for by SIGALRM, or left wanted by the last batch.
                    logdir.begin_rotation();
                }
                logdir.advance(now);
            }
            if self.in_flight > 0 {
                self.complete_batch(now);
            }
            while self.in_flight == 0 && self.retry_due(now) && self.sinks.logdirs.iter().all(Logdir::accepts) {
                let consumed = self.process_batch();
                if consumed == 0 {
                    break;
                }
                self.in_flight = consumed;
                self.recorded = false;
                self.announced = false;
                if !self.complete_batch(now) {
                    break;
                }
            }
            if self.done() {
                return self.finish();
            }
            self.wait(now);
        }
    }

    fn retry_due(&self, now: Instant) -> bool {
        self.retry_at.is_none_or(|at| at <= now)
    }

    /// Runs the script over whole lines; returns the input bytes taken (0: no whole line).
    fn process_batch(&mut self) -> usize {
        let data = std::mem::take(&mut self.data);
        let available = &data[self.head.min(data.len())..];
        let mut consumed = 0;
        let mut first = true;
        while let Some((length, advance)) = next_line(&available[consumed..], self.limit, self.eof) {
            if first {
                self.dress_batch();
                first = false;
            }
            let line = &available[consumed..consumed + length];
            let rotate = walk(&self.steps, &mut self.sinks, &self.dress, line, &mut self.cline);
            consumed += advance;
            if rotate || consumed >= BATCH_MAX {
                break;
            }
        }
        self.data = data;
        consumed
    }

    /// The stamps of this batch's lines.
    fn dress_batch(&mut self) {
        if !self.uses_tai && !self.uses_local {
            return;
        }
        let now = Tain::now();
        self.dress.tai.clear();
        self.dress.local.clear();
        if self.uses_tai {
            localtime::push_label(&mut self.dress.tai, now);
            self.dress.tai.push(b' ');
        }
        if self.uses_local && localtime::push_local(&mut self.dress.local, now) {
            self.dress.local.extend_from_slice(b"  ");
        }
    }

    /// Writes the batch to the logdirs, then its alerts and status files, then commits it.
    /// False if something must be retried first.
    fn complete_batch(&mut self, now: Instant) -> bool {
        if !self.recorded {
            // A rotation may have opened a new `current`: record it before writing to it.
            // Only before the first write of the batch: the marks must be the sizes the
            // logdirs had before it.
            let marks: Vec<_> = self.sinks.logdirs.iter().map(Logdir::mark).collect();
            if let Some(journal) = &mut self.journal {
                if let Err(e) = journal.record(&marks) {
                    let what = journal.path().display().to_string();
                    return self.failed(now, "write", &what, &e);
                }
            }
            self.recorded = true;
        }
        let mut written = true;
        for logdir in &mut self.sinks.logdirs {
            written &= logdir.flush(now);
        }
        if !written {
            return false;
        }
        if !self.announced {
            self.announce();
            self.announced = true;
        }
        let marks: Vec<_> = self.sinks.logdirs.iter().map(Logdir::mark).collect();
        if let Some(journal) = &mut self.journal {
            if let Err(e) = journal.commit(self.in_flight as u64, &marks) {
                let what = journal.path().display().to_string();
                return self.failed(now, "write", &what, &e);
            }
        }
        self.head += self.in_flight;
        self.in_flight = 0;
        self.retry_at = None;
        if let Some(journal) = &mut self.journal {
            if let Err(e) = journal.compact(&self.data[self.head..], false) {
                self.voice.warn(format_args!("unable to compact {}: {}", journal.path().display(), describe(&e)));
            }
        }
        for logdir in &mut self.sinks.logdirs {
            logdir.begin_rotation();
            logdir.advance(now);
        }
        true
    }

    /// Alerts and status files of the batch.
    fn announce(&mut self) {
        for (out, fd, name) in
            [(&mut self.sinks.stdout, 1, "standard output"), (&mut self.sinks.stderr, 2, "standard error")]
        {
            if !out.is_empty() {
                let result = sys::write_all_fd(sys::borrow_std(fd), out);
                if let Err(e) = result {
                    self.voice.warn(format_args!("unable to write to {name}: {}", describe(&e)));
                }
                out.clear();
            }
        }
        for (spec, content) in &mut self.sinks.status {
            if let Some(content) = content.take() {
                if let Err(e) = ostler_core::atomic::write(&spec.path, &content, 0o666) {
                    let reason =
                        e.errno().map_or_else(|| e.to_string(), |n| nix::errno::Errno::from_raw(n).desc().into());
                    self.voice.warn(format_args!("unable to write the status file {}: {reason}", spec.path.display()));
                }
            }
        }
    }

    fn failed(&mut self, now: Instant, action: &str, what: &str, error: &io::Error) -> bool {
        self.voice.warn(format_args!(
            "unable to {action} {what}: {}: retrying in {} ms",
            describe(error),
            self.retry_delay.as_millis()
        ));
        self.retry_at = Some(now + self.retry_delay);
        false
    }

    /// Everything read is processed and written, and no rotation is under way: exit at the
    /// end of the input, or when asked to stop (once no line is half read).
    fn done(&self) -> bool {
        let settled = self.in_flight == 0
            && self.head >= self.data.len()
            && self.held.is_empty()
            && self.sinks.logdirs.iter().all(Logdir::is_quiet);
        settled && (self.eof || self.stopping)
    }

    fn finish(&mut self) -> u8 {
        let mut code = 0;
        for logdir in &mut self.sinks.logdirs {
            if let Err(e) = logdir.finish() {
                crate::voice::say(format_args!("ostler log: fatal: {e}"));
                code = 111;
            }
        }
        if let Some(journal) = self.journal.take() {
            let path = journal.path().to_path_buf();
            if let Err(e) = journal.remove() {
                self.voice.warn(format_args!("unable to remove {}: {}", path.display(), describe(&e)));
            }
        }
        code
    }

    /// Polls the input (when more is wanted), the signals and the nearest deadline, then
    /// handles what arrived.
    fn wait(&mut self, now: Instant) {
        let want_input = self.wants_input();
        let deadline = self.sinks.logdirs.iter().filter_map(Logdir::deadline).chain(self.retry_at).min();
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(at) => {
                let ms = at.saturating_duration_since(now).as_millis().min(i32::MAX as u128) as i32;
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds = vec![PollFd::new(self.signals.as_fd(), PollFlags::POLLIN)];
        if want_input {
            fds.push(PollFd::new(self.input.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => return,
            Err(e) => {
                self.voice.warn(format_args!("unable to poll: {}", e.desc()));
                return;
            }
        }
        let signalled = fds[0].any().unwrap_or(false);
        let readable = want_input && fds.get(1).and_then(PollFd::any).unwrap_or(false);
        drop(fds);
        if signalled {
            self.drain_signals();
        }
        if readable {
            self.ingest(Instant::now());
        }
    }

    fn wants_input(&self) -> bool {
        if self.eof || self.retry_at.is_some() {
            return false;
        }
        let unprocessed = &self.data[self.head.min(self.data.len())..];
        if self.stopping {
            // Only to finish a half-read line.
            return !unprocessed.is_empty() && !has_line(unprocessed, self.limit);
        }
        unprocessed.len() + self.held.len() < INGEST_CAP || !has_line(unprocessed, self.limit)
    }

    fn drain_signals(&mut self) {
        while let Ok(Some(info)) = self.signals.read_signal() {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGTERM) if !self.protect => self.stopping = true,
                Ok(Signal::SIGHUP) => self.stopping = true,
                Ok(Signal::SIGALRM) => {
                    for logdir in &mut self.sinks.logdirs {
                        logdir.want_rotation();
                    }
                }
                // SIGCHLD: the next turn's `advance` reaps the processor.
                _ => {}
            }
        }
    }

    /// Takes in what the input has: spliced into the journal, or read (and then written to
    /// the journal) when the input is not a pipe.
    fn ingest(&mut self, now: Instant) {
        if self.head >= COMPACT_MEMORY || (self.head > 0 && self.head >= self.data.len()) {
            self.data.drain(..self.head.min(self.data.len()));
            self.head = 0;
        }
        if self.splice {
            self.ingest_splice(now);
        } else {
            self.ingest_read(now);
        }
    }

    fn ingest_splice(&mut self, now: Instant) {
        let Some(journal) = &mut self.journal else { return };
        loop {
            let room = INGEST_CAP.saturating_sub(self.data.len() - self.head).max(READ_CHUNK);
            match journal.splice_from(self.input.as_fd(), room, &mut self.data) {
                Ok(0) => {
                    self.eof = true;
                    return;
                }
                Ok(_) if self.data.len() - self.head >= INGEST_CAP => return,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    // This file system cannot take a splice: read and write instead.
                    self.splice = false;
                    return self.ingest_read(now);
                }
                Err(e) => {
                    // Out of space: give back what the journal holds already processed.
                    let _ = journal.compact(&self.data[self.head..], true);
                    let what = journal.path().display().to_string();
                    self.failed(now, "write", &what, &e);
                    return;
                }
            }
        }
    }

    fn ingest_read(&mut self, now: Instant) {
        if self.held.is_empty() {
            self.held.resize(READ_CHUNK, 0);
            match nix::unistd::read(&self.input, &mut self.held) {
                Ok(0) => {
                    self.held.clear();
                    self.eof = true;
                    return;
                }
                Ok(n) => self.held.truncate(n),
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => {
                    self.held.clear();
                    return;
                }
                Err(e) => {
                    self.held.clear();
                    self.voice.warn(format_args!("unable to read the input: {}: stopping", e.desc()));
                    self.eof = true;
                    return;
                }
            }
        }
        if let Some(journal) = &mut self.journal {
            if let Err(e) = journal.append(&self.held) {
                let what = journal.path().display().to_string();
                self.failed(now, "write", &what, &e);
                return;
            }
        }
        self.data.extend_from_slice(&self.held);
        self.held.clear();
    }
}
