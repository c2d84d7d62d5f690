//! `ostler mark NAME`: copies standard input to standard output with every line led by
//! `NAME: `, so that the services of a container, all writing to the container's output, can
//! be told apart (`podman logs`, `kubectl logs`).
//!
//! It is the logger of each service that has none when ostler is a container's init: the
//! scanner holds the pipe between the service and it, so either restarts without a line lost.
//! A line longer than [`LONGEST`] is cut there and goes on in the next, marked again. A write
//! that fails (the engine closed the container's output) drops the line; the service is never
//! made to wait for it. On SIGTERM what is already in the pipe is copied, then it exits.

use nix::sys::signal::{SigSet, Signal};
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};

/// The longest piece of a line written as one line.
pub const LONGEST: usize = 4096;

/// Runs the filter until end of input (or SIGTERM); returns the exit code.
pub fn run(name: &str) -> u8 {
    // Ours to handle: TERM means "drain and go"; a closed output is not a reason to die.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGTERM);
    let signal_fd = signals
        .thread_block()
        .and_then(|()| nix::sys::signalfd::SignalFd::with_flags(&signals, nix::sys::signalfd::SfdFlags::SFD_CLOEXEC));
    // SAFETY: installs SIG_IGN, no handler code. HUP is what a scanner's prune sends a
    // logger: the end of input comes next, and ends it.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
    let stdin = std::io::stdin();
    let mut marker = Marker::new(name);
    let mut buffer = vec![0u8; 64 * 1024];
    let mut stop = false;
    loop {
        if !stop {
            stop = wait_input(stdin.as_fd(), signal_fd.as_ref().ok().map(|fd| fd.as_fd()));
            if stop {
                // From now on read without waiting, and stop at the first empty read.
                let _ = nix::fcntl::fcntl(&stdin, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK));
            }
        }
        match nix::unistd::read(&stdin, &mut buffer) {
            Ok(0) => break,
            Ok(n) => marker.feed(&buffer[..n], &mut std::io::stdout().lock()),
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => break,
        }
    }
    marker.finish(&mut std::io::stdout().lock());
    0
}

/// Waits for input (or its end); returns whether a SIGTERM came meanwhile.
fn wait_input(input: BorrowedFd<'_>, signals: Option<BorrowedFd<'_>>) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout};
    let mut fds = vec![PollFd::new(input, PollFlags::POLLIN)];
    fds.extend(signals.map(|fd| PollFd::new(fd, PollFlags::POLLIN)));
    loop {
        match nix::poll::poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return false,
            Ok(_) => return fds.get(1).and_then(PollFd::revents).is_some_and(|r| r.contains(PollFlags::POLLIN)),
        }
    }
}

/// Cuts input into lines and writes each with its mark.
pub struct Marker {
    prefix: Vec<u8>,
    partial: Vec<u8>,
}

impl Marker {
    /// Lines will be led by `NAME: `.
    pub fn new(name: &str) -> Marker {
        Marker { prefix: format!("{name}: ").into_bytes(), partial: Vec::new() }
    }

    /// Writes every whole line of `bytes` (with what was left of the last call in front).
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut impl Write) {
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            let (line, rest) = bytes.split_at(end);
            self.partial.extend_from_slice(line);
            self.flush_line(out);
            bytes = &rest[1..];
        }
        self.partial.extend_from_slice(bytes);
        while self.partial.len() >= LONGEST {
            let rest = self.partial.split_off(LONGEST);
            self.flush_line(out);
            self.partial = rest;
        }
    }

    /// Writes what is left, as a line of its own.
    pub fn finish(&mut self, out: &mut impl Write) {
        if !self.partial.is_empty() {
            self.flush_line(out);
        }
    }

    fn flush_line(&mut self, out: &mut impl Write) {
        let mut line = Vec::with_capacity(self.prefix.len() + self.partial.len() + 1);
        line.extend_from_slice(&self.prefix);
        line.append(&mut self.partial);
        line.push(b'\n');
        // Lost when the output is gone: nobody is there to read it.
        let _ = out.write_all(&line);
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(pieces: &[&[u8]]) -> String {
        let mut marker = Marker::new("web");
        let mut out = Vec::new();
        for piece in pieces {
            marker.feed(piece, &mut out);
        }
        marker.finish(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_line_is_marked_whole_even_when_it_comes_in_pieces() {
        assert_eq!(marked(&[b"one\ntw", b"o\n\nthree"]), "web: one\nweb: two\nweb: \nweb: three\n");
        assert_eq!(marked(&[b""]), "");
    }

    #[test]
    fn a_long_line_is_cut_and_each_piece_marked() {
        let long = vec![b'x'; LONGEST + 10];
        let out = marked(&[&long, b"\n"]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), "web: ".len() + LONGEST);
        assert_eq!(lines[1], format!("web: {}", "x".repeat(10)));
    }
}
