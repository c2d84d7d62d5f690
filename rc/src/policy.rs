//! Debian's policy layer (`/usr/sbin/policy-rc.d`, ostler installed under that name): what
//! `invoke-rc.d NAME ACTION` does when a package's maintainer script asks for it. Without a
//! policy, invoke-rc.d would run `/etc/init.d/NAME` behind the supervisor's back — a second,
//! unsupervised daemon on `start`, the supervised one killed from outside on `stop`. Here the
//! action is done through the service manager and invoke-rc.d is told not to run the script
//! (101, "forbidden by policy", which invoke-rc.d reports and answers with success).
//!
//! The init script's name is the service's: ostler's Debian definitions are named after the
//! init scripts (`ssh`, `nginx`, `cron`, `rsyslog`). The exit codes are Debian's
//! (README.policy-rc.d in init-system-helpers).

/// Run the init script as asked.
pub const ALLOW: u8 = 0;
/// Unknown action.
pub const UNKNOWN_ACTION: u8 = 1;
/// Do not run the init script.
pub const FORBID: u8 = 101;
/// A usage error.
pub const SYNTAX: u8 = 103;

/// What the supervisor does in the init script's place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// Bring the service up (`service NAME start`).
    Start,
    /// Bring it down.
    Stop,
    /// Restart its process (a new binary after an upgrade).
    Restart,
    /// Restart it only if it is up.
    TryRestart,
    /// Its reload signal (SIGHUP), as most daemons take it.
    Reload,
}

/// The decision for `ACTION` on the init script `id`: what to do (if anything) and the exit
/// code. `defined`: a service of that name exists; `running`: ostler is the running init (its
/// scanner answers), not a chroot or an image being built.
pub fn decide(action: &str, defined: bool, running: bool) -> (Option<Act>, u8) {
    // invoke-rc.d puts the action in parentheses when the runlevel links say not to run it,
    // and may give several, to be tried in order; the first is the one meant.
    let first = action.split_whitespace().next().unwrap_or_default();
    let action = first.trim_start_matches('(').trim_end_matches(')');
    let act = match action {
        "start" => Act::Start,
        "stop" | "force-stop" => Act::Stop,
        "restart" | "force-reload" => Act::Restart,
        "try-restart" => Act::TryRestart,
        "reload" => Act::Reload,
        // Nothing to do in the init script's place, and nothing it may do either.
        "status" => return (None, FORBID),
        "" => return (None, SYNTAX),
        _ => return (None, UNKNOWN_ACTION),
    };
    match defined && running {
        true => (Some(act), FORBID),
        false => (None, FORBID),
    }
}

/// Whether a scanner reads `scan_dir`'s control FIFO: ostler runs this system (not a chroot,
/// not an image being built).
pub fn ostler_runs(scan_dir: &std::path::Path) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    // Opening a FIFO for writing without blocking fails (ENXIO) when nobody reads it.
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(scan_dir.join(".s6-svscan/control"))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_action_is_done_by_the_supervisor_and_the_script_never_runs() {
        assert_eq!(decide("start", true, true), (Some(Act::Start), FORBID));
        assert_eq!(decide("(start)", true, true), (Some(Act::Start), FORBID));
        assert_eq!(decide("restart", true, true), (Some(Act::Restart), FORBID));
        assert_eq!(decide("force-reload", true, true), (Some(Act::Restart), FORBID));
        assert_eq!(decide("try-restart", true, true), (Some(Act::TryRestart), FORBID));
        assert_eq!(decide("reload force-reload", true, true), (Some(Act::Reload), FORBID));
        assert_eq!(decide("stop", true, true), (Some(Act::Stop), FORBID));
        assert_eq!(decide("status", true, true), (None, FORBID));
    }

    #[test]
    fn without_a_definition_or_a_running_init_nothing_happens() {
        assert_eq!(decide("start", false, true), (None, FORBID));
        assert_eq!(decide("restart", true, false), (None, FORBID));
        assert_eq!(decide("frobnicate", true, true), (None, UNKNOWN_ACTION));
        assert_eq!(decide("", true, true), (None, SYNTAX));
    }
}
