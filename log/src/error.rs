//! The logger's error type. Every variant names what it is about (a directive, a file) and its
//! message says what to do; the caller prefixes `ostler log: fatal: ` (or the command's name).

use std::path::PathBuf;

/// What stopped the logger, `ostler logs` or `ostler tai64nlocal`.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A script directive that cannot be used.
    #[error("{0}")]
    Script(#[from] ScriptError),
    /// A system call on a path failed.
    #[error("unable to {action} {}: {}", path.display(), describe(source))]
    Io {
        /// What we tried to do, as a verb ("open", "rename"…).
        action: &'static str,
        /// The file it was about.
        path: PathBuf,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
    /// Another process holds a logdir's lock.
    #[error("unable to lock {}: another logger holds it; stop that logger first", path.display())]
    Busy {
        /// The lock file.
        path: PathBuf,
    },
    /// A system call that is about no file failed.
    #[error("unable to {action}: {}", describe(source))]
    System {
        /// What we tried to do.
        action: &'static str,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
    /// A bad argument of `ostler logs`.
    #[error("{0}")]
    Usage(String),
}

impl LogError {
    /// Wraps an I/O error with the action and path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        LogError::Io { action, path: path.into(), source }
    }

    /// Wraps an I/O error about no particular file.
    pub fn system(action: &'static str, source: impl Into<std::io::Error>) -> Self {
        LogError::System { action, source: source.into() }
    }

    /// s6's exit codes: 100 for a bad script or usage, 111 for a system failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            LogError::Script(_) | LogError::Usage(_) => 100,
            LogError::Io { .. } | LogError::Busy { .. } | LogError::System { .. } => 111,
        }
    }
}

/// A script directive that cannot be used: which one, what is wrong and how to write it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// Not a directive at all.
    #[error("unrecognized directive \"{0}\": see ostler log --help")]
    Unrecognized(String),
    /// A known directive written wrongly.
    #[error("directive \"{directive}\": {problem}")]
    Bad {
        /// The directive as written.
        directive: String,
        /// What is wrong and what to write instead.
        problem: String,
    },
    /// The script selects lines but never does anything with them.
    #[error("no action directive: add a logdir (./dir or /dir), 1, 2 or =FILE to the script")]
    NoAction,
}

/// An I/O error's reason without Rust's "(os error N)" tail: "No space left on device".
pub fn describe(error: &std::io::Error) -> String {
    match error.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_string(),
        None => error.to_string(),
    }
}
