//! The catch-all logger: reads the FIFO that PID 1, stage 2 and every service without a logger
//! of its own write to, and keeps it in `/run/ostler/uncaught-logs/` — an s6-log directory
//! written by ostler's logger ([`SCRIPT`]: timestamped, bounded to about a mebibyte) — while
//! copying it to the console until stage 2's last line, so the boot is visible and the running
//! system's console stays quiet.
//!
//! It is the scanner's `ostler-log` service: stage 1 links its `run` to ostler, and ostler
//! started as `./run ostler-log` comes here. Two processes: this one tees the FIFO to the
//! console and into a pipe; a forked child runs the logger on that pipe.

use crate::paths;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The logger's script: TAI64N stamps, five archives of at most 200 kB beside `current`.
pub const SCRIPT: &[&str] = &["t", "n5", "s200000"];

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
    let (to_logger, logger) = match start_logger(dir) {
        Ok(pair) => pair,
        Err(message) => {
            crate::console::write_console(&format!("ostler-log: {message}\n"));
            return 111;
        }
    };
    let mut to_logger = std::fs::File::from(to_logger);
    let mut console =
        console.and_then(|path| std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NOCTTY).open(path).ok());
    let mut buf = vec![0u8; 8192];
    let mut line_start = Vec::new();
    loop {
        let n = match std::io::Read::read(&mut input, &mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
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
        // The pipe blocks while the logger catches up (a full disk: it retries): nothing is
        // dropped, and PID 1's own writes into the FIFO never block (they are non-blocking).
        if to_logger.write_all(chunk).is_err() {
            break;
        }
    }
    // End of input: the logger sees EOF, finishes what it holds, and exits.
    drop(to_logger);
    match nix::sys::wait::waitpid(logger, None) {
        Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => code as u8,
        _ => 111,
    }
}

/// Forks the logger on a pipe; returns the pipe's write end and the logger's pid.
fn start_logger(dir: &Path) -> Result<(std::os::fd::OwnedFd, nix::unistd::Pid), String> {
    let mut script: Vec<std::ffi::OsString> = SCRIPT.iter().map(std::ffi::OsString::from).collect();
    script.push(dir.as_os_str().to_owned());
    let script = ostler_log::Script::parse(&script).map_err(|e| format!("bad catch-all script: {e}"))?;
    let (read, write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("unable to make a pipe: {e}"))?;
    // SAFETY: the child only runs the logger on its own fds and then _exits; the catch-all is a
    // single-threaded process.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            drop(write);
            // Its own complaints (a full /run, say) go to the console, not into the FIFO it reads.
            if let Ok(console) =
                std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NOCTTY).open("/dev/console")
            {
                let _ = nix::unistd::dup2_stderr(&console);
            }
            // -p: SIGTERM does not stop it; it ends at the end of its input.
            let options = ostler_log::Options { protect: true, ..Default::default() };
            let code = ostler_log::run(script, read, options);
            // SAFETY: ends the child without running the parent's exit path.
            unsafe { libc::_exit(i32::from(code)) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => Ok((write, child)),
        Err(e) => Err(format!("unable to fork the logger: {e}")),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn notification_fd() -> std::os::fd::BorrowedFd<'static> {
    // SAFETY: fd 3 is only probed, written to once and closed once, before anything of ours
    // can be opened on it.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(3) }
}
