//! The end of the line: the shutdown daemon, the commands that talk to it, and what PID 1
//! does last.
//!
//! - [`request`]: what a shutdown request is (action, delay, grace) and its one-line wire form;
//! - [`when`]: `shutdown`'s TIME (`now`, `+MIN`, `HH:MM`);
//! - [`client`]: `poweroff`, `reboot`, `halt`, `shutdown` and PID 1's signal diversions: they
//!   write requests to the daemon's FIFO (or, with `-f`, reboot(2) at once);
//! - [`daemon`]: `ostler-shutdownd`, an early service: it keeps the pending request, and at its
//!   time brings the services down, runs `rc.shutdown` and hands over to PID 1;
//! - [`final_stage`]: PID 1 once the scanner has stopped: TERM and CONT to everything, grace,
//!   KILL, sync, unmount, `/` read-only, `rc.shutdown.final`, reboot(2);
//! - [`layout`]: where all this lives (overridable, for tests).
#![deny(missing_docs)]

pub mod client;
pub mod daemon;
pub mod final_stage;
pub mod layout;
pub mod request;
mod sys;
pub mod when;

pub use layout::Layout;
pub use request::{Action, Request};
