//! Where the shutdown machinery finds things. A booted system uses the runtime paths of
//! design.md; `OSTLER_SCANDIR`, `OSTLER_RUNDIR` and `OSTLER_ETCDIR` move them (tests run the
//! whole chain unprivileged in a temporary tree).

use ostler_core::paths;
use std::path::PathBuf;

/// The directories involved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The scanner's directory (`/run/service`).
    pub scan_dir: PathBuf,
    /// The private runtime area (`/run/ostler`): the request for PID 1 goes there.
    pub run_dir: PathBuf,
    /// The admin's configuration (`/etc/ostler`): `rc.shutdown`, `rc.shutdown.final`.
    pub etc_dir: PathBuf,
}

/// The daemon's service name in the scan directory.
pub const DAEMON: &str = "ostler-shutdownd";
/// The catch-all logger's service name: left up until the very end.
pub const CATCH_ALL: &str = "ostler-log";

impl Layout {
    /// The system's paths, or the environment's overrides.
    pub fn from_env() -> Layout {
        let dir = paths::from_env;
        Layout {
            scan_dir: dir("OSTLER_SCANDIR", paths::SCAN_DIR),
            run_dir: dir("OSTLER_RUNDIR", paths::PRIVATE_DIR),
            etc_dir: dir("OSTLER_ETCDIR", paths::ETC_DIR),
        }
    }

    /// The daemon's FIFO.
    pub fn fifo(&self) -> PathBuf {
        self.scan_dir.join(DAEMON).join("fifo")
    }

    /// What PID 1's final stage reads: the action and the grace.
    pub fn final_request(&self) -> PathBuf {
        self.run_dir.join("shutdown")
    }

    /// An admin hook: `rc.shutdown` or `rc.shutdown.final`.
    pub fn hook(&self, name: &str) -> PathBuf {
        self.etc_dir.join(name)
    }
}
