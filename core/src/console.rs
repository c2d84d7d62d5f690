//! Writing to the system console (`/dev/console`), as PID 1 and the shutdown path do: opened
//! afresh for each message (so it works before and after /dev is mounted), never as our
//! controlling terminal, never failing.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

/// Writes `text` to /dev/console, or to stderr when the console cannot be opened; errors are
/// ignored.
pub fn write(text: &str) {
    // Without O_NOCTTY, opening a tty could make it our controlling terminal.
    match std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NOCTTY).open("/dev/console") {
        Ok(mut console) => {
            let _ = console.write_all(text.as_bytes());
        }
        Err(_) => {
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
    }
}
