//! The catch-all logger: reads the FIFO that PID 1, stage 2 and every service without a logger
//! of its own write to, keeps it in `/run/ostler/uncaught-logs/` (bounded: `current` plus one
//! `previous`, a mebibyte each), and copies it to the console until stage 2's last line, so the
//! boot is visible and the running system's console stays quiet.
//!
//! It is the scanner's `ostler-log` service: stage 1 links its `run` to ostler, and ostler
//! started as `./run ostler-log` comes here. (The full logger, with s6-log's script language,
//! is issue 4's.)

use crate::paths;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Size at which `current` becomes `previous`.
const ROTATE_AT: u64 = 1 << 20;

/// Runs the catch-all logger until every writer of the FIFO is gone; returns the exit code.
pub fn run() -> u8 {
    run_on(Path::new(paths::CATCH_ALL_FIFO), Path::new(paths::UNCAUGHT_LOGS), Some(Path::new("/dev/console")))
}

/// The logger, with its paths given (tests run it unprivileged).
pub fn run_on(fifo: &Path, dir: &Path, console: Option<&Path>) -> u8 {
    // fd 3 is the notification pipe when the supervisor gave us one (notification-fd); look
    // before opening anything, which could otherwise land on fd 3.
    let notify = nix::fcntl::fcntl(notification_fd(), nix::fcntl::FcntlArg::F_GETFD).is_ok();
    // A write end exists (PID 1's), so this open does not wait.
    let mut input = match std::fs::File::open(fifo) {
        Ok(file) => file,
        Err(e) => {
            crate::console::write_console(&format!("ostler-log: unable to open {}: {e}\n", fifo.display()));
            return 111;
        }
    };
    if notify {
        let _ = nix::unistd::write(notification_fd(), b"\n");
        let _ = nix::unistd::close(3);
    }
    let mut console =
        console.and_then(|path| std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NOCTTY).open(path).ok());
    let current = dir.join("current");
    let mut log = open_append(&current);
    let mut size = log.as_ref().and_then(|f| f.metadata().ok()).map_or(0, |m| m.len());
    let mut buf = vec![0u8; 8192];
    let mut line_start = Vec::new();
    loop {
        let n = match std::io::Read::read(&mut input, &mut buf) {
            Ok(0) => return 0,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return 111,
        };
        let chunk = &buf[..n];
        if let Some(out) = console.as_mut() {
            let _ = out.write_all(chunk);
            // Stop copying after the line that says the boot is complete.
            line_start.extend_from_slice(chunk);
            if contains(&line_start, paths::BOOT_COMPLETE.as_bytes()) {
                console = None;
                line_start = Vec::new();
            } else if line_start.len() > 4096 {
                line_start.drain(..line_start.len() - 256);
            }
        }
        if size >= ROTATE_AT {
            let _ = std::fs::rename(&current, dir.join("previous"));
            log = open_append(&current);
            size = 0;
        }
        if let Some(file) = log.as_mut() {
            if file.write_all(chunk).is_ok() {
                size += chunk.len() as u64;
            }
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn open_append(path: &Path) -> Option<std::fs::File> {
    std::fs::OpenOptions::new().append(true).create(true).mode(0o600).open(path).ok()
}

fn notification_fd() -> std::os::fd::BorrowedFd<'static> {
    // SAFETY: fd 3 is only probed, written to once and closed once, before anything of ours
    // can be opened on it.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(3) }
}
