//! The logger of ostler, in s6-log's role, and the tools that read what it writes.
//!
//! - [`Script`] ([`script`]): s6-log's script language, parsed once into a flat list of steps;
//! - [`run`] ([`run`](mod@run)): the logger's event loop over an input fd, writing logdirs
//!   ([`logdir`]) through a crash-safe input journal ([`journal`]);
//! - [`logs`]: `ostler logs`, a service's log directory in order, with local times, `-f`;
//! - [`tai64nlocal`]: the `s6-tai64nlocal` filter;
//! - [`mark`]: `ostler mark NAME`, a container service's lines led by its name.
//!
//! Everything on disk is s6-log's format: s6-log adopts a logdir ostler wrote and the reverse.
#![deny(missing_docs)]

pub mod error;
pub mod journal;
pub mod lines;
pub mod localtime;
pub mod logdir;
pub mod logs;
pub mod mark;
pub mod regex;
pub mod run;
pub mod script;
mod sys;
pub mod tai64nlocal;
pub mod voice;
pub mod walk;

pub use error::{LogError, ScriptError};
pub use run::{run, Options};
pub use script::Script;
pub use voice::Verbosity;

/// Takes ownership of a descriptor number from the command line (`-d FD`), if it is open.
pub fn adopt_fd(fd: i32) -> Option<std::os::fd::OwnedFd> {
    sys::ensure_std_fds();
    sys::adopt_fd(fd)
}
