//! Errors of the scanner and the supervisor; each names the path and what to do.

use std::path::{Path, PathBuf};

/// What stops a supervisor or a scanner from starting.
#[derive(Debug, thiserror::Error)]
pub enum SuperviseError {
    /// A system call on a path failed.
    #[error("unable to {action} {path}: {source}")]
    Io {
        /// The verb.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Another supervisor holds `supervise/lock`.
    #[error("{0}: another supervisor already runs for this service; stop it first, or leave this one be")]
    AlreadySupervised(PathBuf),
    /// Another scanner holds `.s6-svscan/lock`.
    #[error("{0}: another scanner already runs on this directory; stop it first")]
    AlreadyScanned(PathBuf),
    /// A shared format could not be read or written.
    #[error(transparent)]
    Core(#[from] ostler_core::CoreError),
}

impl SuperviseError {
    /// Wraps an I/O error with the action and the path.
    pub fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        SuperviseError::Io { action, path: path.to_path_buf(), source }
    }
}
