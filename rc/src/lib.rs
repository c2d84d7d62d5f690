//! The service manager (s6-rc's role), reading s6-rc source definitions directly — no compile
//! step — and keeping its live state under `/run/ostler/rc`.
//!
//! - [`source`]: definition directories as they are on disk (several read together, as
//!   s6-rc-compile takes them);
//! - [`execline`]: execline's lexer, for oneshots' `up` and `down` (s6-rc's language);
//! - [`model`]: the checked model (`ostler rc check`): kinds, dependencies with bundles
//!   expanded, pipelines, log companions, and every problem with its file and fix;
//! - [`live`]: the live state: which services are up, the live service directories linked
//!   into the scan directory;
//! - [`engine`]: `ostler rc change`: a state change, each service started the moment its
//!   dependencies are up, as parallel as the graph allows, with the boot timeline;
//! - [`reload`]: `ostler rc reload`: the difference between the definitions and the live state,
//!   applied in one step;
//! - [`ready`]: `ostler ready`: whether services are up and ready (probes);
//! - [`policy`]: Debian's `policy-rc.d`: package scripts' init-script actions done through the
//!   service manager;
//! - [`s6rc`]: s6-rc's own command line (`s6-rc -u change NAME`), for ostler installed as
//!   `s6-rc`;
//! - [`unit`]: `ostler import-unit`: systemd service units made into definitions.
#![deny(missing_docs)]

pub mod engine;
pub mod execline;
pub mod live;
pub mod model;
pub mod policy;
pub mod ready;
pub mod reload;
pub mod s6rc;
pub mod source;
mod sys;
#[cfg(test)]
mod testing;
pub mod unit;

pub use model::{Db, Kind, Level, Problem};
