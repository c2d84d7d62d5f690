//! Supervision: the scanner (s6-svscan's role), the per-service supervisor (s6-supervise's
//! role), and the clients that talk to them (svc, svstat, svwait, svscanctl).
//!
//! - [`supervisor::Supervisor`]: one service, as an object an event loop drives;
//! - [`supervise::run`]: the `ostler supervise DIR` process, one supervisor;
//! - [`scan`]: the scanner, which runs the supervisors in its own process (or spawns a
//!   supervisor program per service, such as s6-supervise);
//! - [`client`]: svc, svstat, svwait, svscanctl;
//! - [`cgroup`]: a control group (cgroup v2) per service the scanner supervises;
//! - [`setuidgid`]: run a program as a user (s6-setuidgid's role);
//! - [`privileges`]: a service's declared user, capabilities, limits, environment…, applied
//!   by the supervisor between fork and exec, and by `ostler caps`, `limit`, `envdir`.
#![deny(missing_docs)]

pub mod cgroup;
pub mod client;
pub mod error;
pub mod privileges;
mod raw;
mod say;
pub mod scan;
pub mod setuidgid;
mod spawn;
pub mod supervise;
pub mod supervisor;
mod sys;

pub use spawn::Builtins;
pub use sys::poll_timeout;
pub mod timing;

pub use error::SuperviseError;
