//! PID 1's last act. The scanner has stopped (every service down, every logger drained) and
//! exec'd this as its finish program. Each step is reported on the console with its duration:
//!
//! 1. SIGTERM then SIGCONT to every process left; reap until none is left or the grace ends;
//!    then SIGKILL and reap;
//! 2. sync; swap off; every filesystem unmounted, newest first (a busy one is remounted
//!    read-only); loop devices detached; `/` remounted read-only;
//! 3. `/etc/ostler/rc.shutdown.final ACTION` (bounded), sync, reboot(2).

use crate::request::DEFAULT_GRACE;
use crate::{sys, Action, Layout};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::reboot::RebootMode;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use ostler_core::mountinfo::{mount_points, unescape};
use std::time::{Duration, Instant};

/// How long processes SIGKILLed get to be reaped.
const AFTER_KILL: Duration = Duration::from_secs(2);
/// Mount points left alone: `/` is remounted read-only instead, and the kernel filesystems
/// hold nothing to lose (rc.shutdown.final may still need them).
const KEPT: &[&str] = &["/", "/proc", "/sys", "/dev"];

/// reboot(2)'s mode for an action.
pub fn mode(action: Action) -> RebootMode {
    match action {
        Action::Poweroff => RebootMode::RB_POWER_OFF,
        Action::Reboot => RebootMode::RB_AUTOBOOT,
        Action::Halt => RebootMode::RB_HALT_SYSTEM,
    }
}

/// The final stage. As PID 1 it does not return; elsewhere (a PID namespace's init) it
/// returns 0 once everything is stopped.
pub fn run() -> u8 {
    let layout = Layout::from_env();
    let (action, grace) = read_request(&layout);
    let word = action.word();
    let started = Instant::now();
    sys::block_sigchld();
    // The scanner ran in its scan directory: a working directory there would keep /run busy.
    let _ = nix::unistd::chdir("/");

    let step = Instant::now();
    let _ = kill(Pid::from_raw(-1), Signal::SIGTERM);
    let _ = kill(Pid::from_raw(-1), Signal::SIGCONT);
    let mut note = String::new();
    if !reap_until_none_left(Instant::now() + grace) {
        let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
        reap_until_none_left(Instant::now() + AFTER_KILL);
        note = format!("; some ignored SIGTERM for {} ms and were killed", grace.as_millis());
    }
    sys::console(&format!("{word}: every process stopped ({} ms{note})", step.elapsed().as_millis()));

    let step = Instant::now();
    nix::unistd::sync();
    swap_off();
    let busy = unmount_all();
    detach_loop_devices();
    let root_ro = mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY, None::<&str>);
    nix::unistd::sync();
    let mut note = String::new();
    if !busy.is_empty() {
        note.push_str(&format!("; busy, remounted read-only: {}", busy.join(" ")));
    }
    if let Err(e) = root_ro {
        note.push_str(&format!("; / stays read-write: {e}"));
    }
    sys::console(&format!("{word}: filesystems unmounted and synced ({} ms{note})", step.elapsed().as_millis()));

    crate::daemon::run_hook(&layout.hook("rc.shutdown.final"), word);
    nix::unistd::sync();
    sys::console(&format!("{word} ({} ms after the services)", started.elapsed().as_millis()));
    if nix::unistd::getpid().as_raw() == 1 {
        let _ = nix::sys::reboot::reboot(mode(action));
        // Only a PID namespace's init gets here (reboot(2) ends the namespace instead).
        loop {
            nix::unistd::pause();
        }
    }
    0
}

/// The scanner could not go on: say so, offer a shell where there is one, then power off.
pub fn crash() -> u8 {
    sys::console("the scanner crashed; starting an emergency shell (exit it to power off)");
    let console = || std::fs::OpenOptions::new().read(true).write(true).open("/dev/console");
    let shell = match (console(), console(), console()) {
        (Ok(input), Ok(output), Ok(errors)) => {
            std::process::Command::new("/bin/sh").arg0_login().stdin(input).stdout(output).stderr(errors).spawn()
        }
        _ => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
    };
    if let Ok(mut shell) = shell {
        let _ = shell.wait();
    }
    let layout = Layout::from_env();
    let _ = std::fs::write(layout.final_request(), "poweroff\n");
    run()
}

trait LoginShell {
    fn arg0_login(&mut self) -> &mut Self;
}

impl LoginShell for std::process::Command {
    fn arg0_login(&mut self) -> &mut Self {
        use std::os::unix::process::CommandExt;
        self.arg0("-sh")
    }
}

/// The action and grace the daemon left; poweroff with the default grace when there is none
/// (the scanner stopped for another reason).
fn read_request(layout: &Layout) -> (Action, Duration) {
    let text = std::fs::read_to_string(layout.final_request()).unwrap_or_default();
    let mut lines = text.lines();
    let action = lines.next().and_then(Action::from_word);
    let grace = lines.next().and_then(|l| l.trim().parse().ok()).map(Duration::from_millis);
    let action = action.unwrap_or_else(|| {
        sys::console("the scanner stopped without a shutdown request; powering off");
        Action::Poweroff
    });
    (action, grace.unwrap_or(DEFAULT_GRACE).min(crate::request::MAX_GRACE))
}

/// Reaps children until none is left (true) or the deadline passes (false). Sleeps only in
/// sigtimedwait, woken by SIGCHLD.
fn reap_until_none_left(deadline: Instant) -> bool {
    loop {
        match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
            Err(nix::errno::Errno::ECHILD) => return true,
            Ok(WaitStatus::StillAlive) => {
                if Instant::now() >= deadline {
                    return false;
                }
                sys::await_child_signal(deadline);
            }
            Err(nix::errno::Errno::EINTR) | Ok(_) => {}
            Err(_) => return true,
        }
    }
}

/// Turns off every swap area of /proc/swaps.
fn swap_off() {
    let swaps = std::fs::read_to_string("/proc/swaps").unwrap_or_default();
    for device in swaps.lines().skip(1).filter_map(|l| l.split_whitespace().next()) {
        if let Ok(path) = std::ffi::CString::new(unescape(device)) {
            // SAFETY: swapoff reads a NUL-terminated path we own.
            if unsafe { libc::swapoff(path.as_ptr()) } != 0 {
                sys::console(&format!("warning: unable to turn off swap on {device}"));
            }
        }
    }
}

/// Unmounts everything but [`KEPT`], newest first; returns the mount points that were busy
/// (remounted read-only instead).
fn unmount_all() -> Vec<String> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut busy = Vec::new();
    for point in mount_points(&mountinfo).iter().rev() {
        if KEPT.contains(&point.as_str()) {
            continue;
        }
        if umount2(point.as_str(), MntFlags::empty()).is_err() {
            let flags = MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
            let _ = mount(None::<&str>, point.as_str(), None::<&str>, flags, None::<&str>);
            // A mount under one that is busy may go with it later: only what is still there counts.
            busy.push(point.clone());
        }
    }
    let still: Vec<String> = mount_points(&std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default());
    busy.retain(|p| still.contains(p));
    busy
}

/// Detaches every loop device that still has a backing file.
fn detach_loop_devices() {
    const LOOP_CLR_FD: libc::c_ulong = 0x4C01;
    let Ok(blocks) = std::fs::read_dir("/sys/block") else { return };
    for entry in blocks.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("loop") || !entry.path().join("loop/backing_file").exists() {
            continue;
        }
        if let Ok(device) = std::fs::File::open(format!("/dev/{name}")) {
            // SAFETY: LOOP_CLR_FD takes no argument and acts on the loop device we opened.
            unsafe { libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(&device), LOOP_CLR_FD as _, 0) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_file_gives_action_and_grace() {
        let dir = std::env::temp_dir().join(format!("ostler-final-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let layout = Layout { scan_dir: dir.clone(), run_dir: dir.clone(), etc_dir: dir.clone() };
        std::fs::write(layout.final_request(), "reboot\n1500\n").unwrap();
        assert_eq!(read_request(&layout), (Action::Reboot, Duration::from_millis(1500)));
        std::fs::write(layout.final_request(), "halt\n").unwrap();
        assert_eq!(read_request(&layout), (Action::Halt, DEFAULT_GRACE));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
