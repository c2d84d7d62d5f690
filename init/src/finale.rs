//! The end of the line. `poweroff`, `reboot` and `halt` (and PID 1's signals, through the
//! scanner's diversions) record what to do in `/run/ostler/shutdown` and tell the scanner to
//! terminate: every service goes down and every logger drains. The scanner then execs its
//! finish program — ostler again, still PID 1 — which stops whatever is left, unmounts and
//! calls reboot(2). The service-manager-ordered shutdown and its hooks are issue 6's.

use crate::console::write_console;
use crate::paths;
use nix::sys::reboot::RebootMode;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long processes get between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(3);

/// What the machine does at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Power off.
    Poweroff,
    /// Reboot.
    Reboot,
    /// Halt without powering off.
    Halt,
}

impl Action {
    /// The word stored in the request file.
    pub fn word(self) -> &'static str {
        match self {
            Action::Poweroff => "poweroff",
            Action::Reboot => "reboot",
            Action::Halt => "halt",
        }
    }

    /// Reads a stored word.
    pub fn from_word(word: &str) -> Option<Action> {
        match word.trim() {
            "poweroff" => Some(Action::Poweroff),
            "reboot" => Some(Action::Reboot),
            "halt" => Some(Action::Halt),
            _ => None,
        }
    }

    fn mode(self) -> RebootMode {
        match self {
            Action::Poweroff => RebootMode::RB_POWER_OFF,
            Action::Reboot => RebootMode::RB_AUTOBOOT,
            Action::Halt => RebootMode::RB_HALT_SYSTEM,
        }
    }
}

/// Asks the running system to shut down: records the action, then tells the scanner to
/// terminate. With `force`, syncs and calls reboot(2) at once, as `poweroff -f` does.
pub fn request(action: Action, force: bool, program: &str) -> u8 {
    if force {
        nix::unistd::sync();
        let _ = nix::sys::reboot::reboot(action.mode());
        eprintln!("{program}: unable to {}: only root can, and only on the host; try without -f", action.word());
        return 111;
    }
    if let Err(e) = ostler_core::atomic::write(Path::new(paths::SHUTDOWN_REQUEST), action.word().as_bytes(), 0o600) {
        eprintln!("{program}: {e}; is this system running ostler, and are you root?");
        return 111;
    }
    match ostler_supervise::client::write_control(Path::new(paths::SCAN_DIR), ".s6-svscan", "ostler svscan", b"t") {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{program}: {e}; the scanner is not running: use -f to {} at once", action.word());
            e.exit_code()
        }
    }
}

/// What a scanner diversion (`/run/service/.s6-svscan/NAME`, a link to ostler) does.
pub fn diversion(name: &str) -> u8 {
    match name {
        // ctrl-alt-del, with the kernel's own reboot disabled.
        "SIGINT" => request(Action::Reboot, false, "ostler"),
        "SIGPWR" | "SIGUSR1" => request(Action::Poweroff, false, "ostler"),
        "SIGUSR2" => request(Action::Halt, false, "ostler"),
        "finish" => final_stage(),
        "crash" => crash(),
        // SIGTERM, SIGQUIT: deliberately nothing.
        _ => 0,
    }
}

/// The scanner has stopped: stop everything else, unmount, and reboot(2) as requested.
/// Runs as PID 1; never returns normally on a real machine.
pub fn final_stage() -> u8 {
    let action = std::fs::read_to_string(paths::SHUTDOWN_REQUEST).ok().and_then(|w| Action::from_word(&w));
    let action = action.unwrap_or_else(|| {
        write_console("ostler: the scanner stopped without a shutdown request; powering off\n");
        Action::Poweroff
    });
    write_console(&format!("ostler: {}: stopping every process\n", action.word()));
    let started = Instant::now();
    let _ = kill(Pid::from_raw(-1), Signal::SIGTERM);
    let _ = kill(Pid::from_raw(-1), Signal::SIGCONT);
    if !reap_until_none_left(Instant::now() + GRACE) {
        write_console("ostler: some processes ignored SIGTERM; killing them\n");
        let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
        reap_until_none_left(Instant::now() + Duration::from_secs(2));
    }
    nix::unistd::sync();
    unmount_all();
    nix::unistd::sync();
    write_console(&format!("ostler: {} after {} ms\n", action.word(), started.elapsed().as_millis()));
    if nix::unistd::getpid().as_raw() == 1 {
        let _ = nix::sys::reboot::reboot(action.mode());
        // Only a PID namespace's init gets here (reboot(2) ends the namespace instead).
        loop {
            nix::unistd::pause();
        }
    }
    0
}

/// Reaps children until none is left (true) or the deadline passes (false).
fn reap_until_none_left(deadline: Instant) -> bool {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    loop {
        match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
            Err(nix::errno::Errno::ECHILD) => return true,
            Ok(WaitStatus::StillAlive) => {
                if Instant::now() >= deadline {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            _ => {}
        }
    }
}

/// Unmounts every filesystem, newest first; what is busy is remounted read-only. `/` itself
/// is remounted read-only.
fn unmount_all() {
    use nix::mount::{mount, umount2, MntFlags, MsFlags};
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let points = crate::mounts::mount_points(&mountinfo);
    for point in points.iter().rev() {
        if point == "/" || point == "/proc" || point == "/sys" || point == "/dev" {
            continue;
        }
        if umount2(point.as_str(), MntFlags::empty()).is_err() {
            let _ = mount(
                None::<&str>,
                point.as_str(),
                None::<&str>,
                MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                None::<&str>,
            );
        }
    }
    let _ = mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY, None::<&str>);
}

/// The scanner could not go on: say so on the console, offer a shell, then power off.
pub fn crash() -> u8 {
    write_console("ostler: the scanner crashed; starting an emergency shell (exit it to power off)\n");
    crate::stage1::emergency_shell();
    let _ = std::fs::write(paths::SHUTDOWN_REQUEST, "poweroff");
    final_stage()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        for action in [Action::Poweroff, Action::Reboot, Action::Halt] {
            assert_eq!(Action::from_word(&format!("{}\n", action.word())), Some(action));
        }
        assert_eq!(Action::from_word("dance"), None);
    }
}
