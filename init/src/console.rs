//! Writing to the console from PID 1: never panics, never fails the boot.

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
    ostler_core::console::write(text);
}
