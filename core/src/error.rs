//! The error type of the core crate: every variant names the file it is about.

use std::path::PathBuf;

/// What went wrong while reading or writing one of the shared formats.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A system call on a path failed.
    #[error("unable to {action} {path}: {source}")]
    Io {
        /// What we tried to do, as a verb ("open", "rename"…).
        action: &'static str,
        /// The file it was about.
        path: PathBuf,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
    /// A settings file holds something we cannot use.
    #[error("{path}: {problem}; {fix}")]
    BadSetting {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
        /// What to write instead.
        fix: &'static str,
    },
    /// A status file has a size no s6 version writes.
    #[error(
        "{path}: {len} bytes is not a supervise status (35 or 43 bytes); the supervisor may be of an unknown version"
    )]
    BadStatus {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: usize,
    },
}

impl CoreError {
    /// Wraps an I/O error with the action and path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CoreError::Io { action, path: path.into(), source }
    }

    /// The raw errno, when the error came from a system call.
    pub fn errno(&self) -> Option<i32> {
        match self {
            CoreError::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}
