//! Options of the control and query clients: svc, svstat, svwait, svscanctl.
//! (Placeholder: the clients are being written; each currently refuses to run.)

use clap::Args;
use std::path::PathBuf;

/// Send commands to supervised services (s6-svc).
#[derive(Args, Debug)]
pub struct SvcArgs {
    /// Service directories.
    pub dirs: Vec<PathBuf>,
}
/// Print the status of a supervised service (s6-svstat).
#[derive(Args, Debug)]
pub struct SvstatArgs {
    /// Service directory.
    pub dir: PathBuf,
}
/// Wait for services to reach a state (s6-svwait).
#[derive(Args, Debug)]
pub struct SvwaitArgs {
    /// Service directories.
    pub dirs: Vec<PathBuf>,
}
/// Send commands to a scanner (s6-svscanctl).
#[derive(Args, Debug)]
pub struct SvscanctlArgs {
    /// Scan directory.
    pub dir: PathBuf,
}

pub fn svc(_: SvcArgs) -> u8 {
    100
}
pub fn svstat(_: SvstatArgs) -> u8 {
    100
}
pub fn svwait(_: SvwaitArgs) -> u8 {
    100
}
pub fn svscanctl(_: SvscanctlArgs) -> u8 {
    100
}
