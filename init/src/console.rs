//! Writing to the console from PID 1: never panics, never fails the boot.

use std::io::Write;

/// The system console, opened afresh for each message so it works before and after /dev is
/// mounted.
pub struct Console {
    /// Print step-by-step messages (`ostler.debug`).
    pub debug: bool,
    /// Print only what matters (`quiet`).
    pub quiet: bool,
}

impl Console {
    /// A message everybody should see.
    pub fn say(&self, message: &str) {
        write_console(&format!("ostler: {message}\n"));
    }

    /// A step, shown with `ostler.debug`.
    pub fn step(&self, message: &str) {
        if self.debug {
            self.say(message);
        }
    }
}

/// Writes to /dev/console, or to stderr when the console cannot be opened; errors ignored.
pub fn write_console(text: &str) {
    match std::fs::OpenOptions::new().write(true).custom_flags_noctty().open("/dev/console") {
        Ok(mut console) => {
            let _ = console.write_all(text.as_bytes());
        }
        Err(_) => {
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
    }
}

trait NoCtty {
    fn custom_flags_noctty(&mut self) -> &mut Self;
}

impl NoCtty for std::fs::OpenOptions {
    fn custom_flags_noctty(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        // Opening a tty without O_NOCTTY could make it our controlling terminal.
        self.custom_flags(libc::O_NOCTTY)
    }
}
