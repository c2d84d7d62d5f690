//! Options of the scanner and the supervisor.

use clap::Args;
use std::path::PathBuf;

/// Supervise one service directory (s6-supervise).
#[derive(Args, Debug)]
pub struct SuperviseArgs {
    /// The service directory.
    pub dir: PathBuf,
}

/// Scan a directory and supervise every service in it (s6-svscan).
#[derive(Args, Debug)]
pub struct SvscanArgs {
    /// The scan directory.
    pub dir: Option<PathBuf>,
}

pub fn supervise(_: SuperviseArgs) -> u8 {
    100
}
pub fn svscan(_: SvscanArgs) -> u8 {
    100
}
