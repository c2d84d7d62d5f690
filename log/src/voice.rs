//! What the logger says on its standard error, and how much: `-q` keeps warnings quiet, `-v`
//! adds a line per rotation and processor run.

/// How much the logger says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// `-q`: fatal errors only.
    Quiet,
    /// Warnings too (the default).
    #[default]
    Normal,
    /// `-v`: rotations and processors as well.
    Verbose,
}

impl Verbosity {
    /// A problem the logger works around (and retries).
    pub fn warn(self, message: std::fmt::Arguments) {
        if self >= Verbosity::Normal {
            say(format_args!("ostler log: warning: {message}"));
        }
    }

    /// A normal event worth a line with `-v`.
    pub fn info(self, message: std::fmt::Arguments) {
        if self >= Verbosity::Verbose {
            say(format_args!("ostler log: info: {message}"));
        }
    }
}

/// One line on standard error, in one write. Unlike `eprintln!`, a failing standard error
/// (full, or past a file-size limit, which is when there is most to say) is not a panic.
pub fn say(message: std::fmt::Arguments) {
    let line = format!("{message}\n");
    let _ = crate::sys::write_all_fd(crate::sys::borrow_std(2), line.as_bytes());
}
