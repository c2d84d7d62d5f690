//! Messages to stderr that can never take the process down: `eprintln!` panics when stderr
//! fails (a full FIFO, a dead catch-all logger), and a panic in PID 1 is a kernel panic.

/// Writes one line to stderr, ignoring any failure.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}
pub(crate) use say;
