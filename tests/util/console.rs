//! A guest's serial console over a unix socket (QEMU's `-serial unix:PATH,server=on`): a
//! thread collects everything the guest writes; the test waits for text and types lines.

use super::POLL_EVERY;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One serial console.
#[derive(Debug)]
pub struct Console {
    stream: UnixStream,
    seen: Arc<Mutex<Vec<u8>>>,
    /// Where the next `expect` starts looking (a byte offset into everything seen).
    cursor: usize,
    reader: Option<JoinHandle<()>>,
}

impl Console {
    /// Connects to the socket, waiting under `deadline` for it to appear.
    pub fn connect(socket: &Path, deadline: Duration) -> Console {
        let end = Instant::now() + deadline;
        let stream = loop {
            match UnixStream::connect(socket) {
                Ok(stream) => break stream,
                Err(e) if Instant::now() < end => {
                    let _ = e;
                    std::thread::sleep(POLL_EVERY);
                }
                Err(e) => panic!("unable to connect to the console {}: {e}", socket.display()),
            }
        };
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut from = stream.try_clone().expect("unable to clone the console socket");
        let into = Arc::clone(&seen);
        let reader = std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = from.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                into.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(&buffer[..n]);
            }
        });
        Console { stream, seen, cursor: 0, reader: Some(reader) }
    }

    /// Everything the guest has written so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// The last `n` characters seen, for failure messages.
    pub fn tail(&self, n: usize) -> String {
        let text = self.text();
        let chars: Vec<char> = text.chars().collect();
        chars[chars.len().saturating_sub(n)..].iter().collect()
    }

    /// Whether `pattern` appears anywhere in what was seen.
    pub fn saw(&self, pattern: &str) -> bool {
        self.text().contains(pattern)
    }

    /// The position just past the first `pattern` at or after `from`, if any.
    fn find(&self, pattern: &str, from: usize) -> Option<(usize, usize)> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let from = from.min(seen.len());
        seen[from..]
            .windows(pattern.len().max(1))
            .position(|w| w == pattern.as_bytes())
            .map(|at| (from + at, from + at + pattern.len()))
    }

    /// Waits until `pattern` appears after the cursor; returns the text from the cursor up to
    /// the pattern (excluded) and moves the cursor past it. Panics after `deadline`, showing
    /// the end of the console.
    pub fn expect(&mut self, pattern: &str, deadline: Duration) -> String {
        self.expect_from(self.cursor, pattern, deadline)
    }

    /// As `expect`, but looks in everything seen since the console was connected.
    pub fn expect_anywhere(&mut self, pattern: &str, deadline: Duration) -> String {
        self.expect_from(0, pattern, deadline)
    }

    fn expect_from(&mut self, from: usize, pattern: &str, deadline: Duration) -> String {
        let end = Instant::now() + deadline;
        loop {
            if let Some((start, after)) = self.find(pattern, from) {
                let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
                let before = String::from_utf8_lossy(&seen[from.min(start)..start]).into_owned();
                drop(seen);
                self.cursor = self.cursor.max(after);
                return before;
            }
            let ended = self.reader.as_ref().is_some_and(|r| r.is_finished());
            if ended || Instant::now() >= end {
                panic!(
                    "{} waiting for {pattern:?} on the console; its last lines:\n{}",
                    if ended { "the console closed (QEMU exited)" } else { "timed out" },
                    self.tail(3000)
                );
            }
            std::thread::sleep(POLL_EVERY);
        }
    }

    /// Whether `pattern` appears anywhere within `deadline` (no panic when it does not).
    pub fn saw_within(&self, pattern: &str, deadline: Duration) -> bool {
        let end = Instant::now() + deadline;
        loop {
            if self.saw(pattern) {
                return true;
            }
            if Instant::now() >= end || self.reader.as_ref().is_some_and(|r| r.is_finished()) {
                return false;
            }
            std::thread::sleep(POLL_EVERY);
        }
    }

    /// Types `text` on the console.
    pub fn send(&mut self, text: &str) {
        self.stream.write_all(text.as_bytes()).unwrap_or_else(|e| panic!("unable to type on the console: {e}"));
    }

    /// Moves the cursor to the end of what was seen.
    pub fn skip_seen(&mut self) {
        self.cursor = self.seen.lock().unwrap_or_else(|e| e.into_inner()).len();
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}
