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
            eprintln!("ostler log: warning: {message}");
        }
    }

    /// A normal event worth a line with `-v`.
    pub fn info(self, message: std::fmt::Arguments) {
        if self >= Verbosity::Verbose {
            eprintln!("ostler log: info: {message}");
        }
    }
}
