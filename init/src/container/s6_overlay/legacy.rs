//! s6-overlay's "legacy" directories, run as its own oneshots run them (the `base` and
//! `legacy-services` parts of the tree [`super::sources`] writes):
//! - `cont-init`: `/etc/cont-init.d/*` in name order, each run as a program; a failure is
//!   reported and, with `S6_BEHAVIOUR_IF_STAGE2_FAILS` 2, fails the oneshot;
//! - `cont-finish`: `/etc/cont-finish.d/*` the same way when the container stops, each within
//!   `S6_KILL_FINISH_MAXTIME` ms when set;
//! - `services-up`: each `/etc/services.d/NAME/` copied into the state area and linked into
//!   the scan directory, then a rescan; with `S6_CMD_WAIT_FOR_SERVICES`, a wait until they are
//!   up (ready when they notify) within `S6_CMD_WAIT_FOR_SERVICES_MAXTIME`;
//! - `services-down`: their links removed, their supervisors told to go, and a wait for their
//!   finish scripts within `S6_SERVICES_GRACETIME` (3000 ms).
//!
//! The settings are read from the container environment (they are not in the services'
//! environment once it is reset).

use super::contenv;

/// One line on stderr in one write: the services' lines go to the same place, and a line
/// written in pieces would be cut by theirs.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = std::io::stderr().write_all(format!("{}\n", format_args!($($arg)*)).as_bytes());
    }};
}
use ostler_supervise::client::wait::{Listener, Quorum, Target};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// `/etc`, or the profile's `/etc/cont-profile.d/PROFILE`.
fn etc() -> PathBuf {
    match contenv::var("S6_RUNTIME_PROFILE").filter(|p| !p.is_empty()) {
        Some(profile) => Path::new("/etc/cont-profile.d").join(profile),
        None => PathBuf::from("/etc"),
    }
}

fn verbosity() -> u64 {
    contenv::number("S6_VERBOSITY", 2)
}

/// The entries of `dir` in name order (none when it is missing).
fn sorted(dir: &Path) -> Vec<PathBuf> {
    let mut names: Vec<_> = std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
    names.sort();
    names
}

/// `cont-init`: returns the oneshot's exit code.
pub fn cont_init() -> u8 {
    let verbosity = verbosity();
    let mut failed = false;
    for script in sorted(&etc().join("cont-init.d")) {
        if verbosity >= 2 {
            say!("cont-init: info: running {}", script.display());
        }
        let code = run(&script, None);
        if verbosity >= 2 {
            say!("cont-init: info: {} exited {code}", script.display());
        }
        failed |= code != 0;
    }
    outcome(failed, verbosity, "cont-init: warning: some scripts exited nonzero")
}

/// The oneshot's exit code after a failure, as `S6_BEHAVIOUR_IF_STAGE2_FAILS` says: 0 go on
/// silently, 1 go on with `warning`, 2 fail (and so stop the container).
fn outcome(failed: bool, verbosity: u64, warning: &str) -> u8 {
    let behaviour = contenv::number("S6_BEHAVIOUR_IF_STAGE2_FAILS", 0);
    if !failed || behaviour == 0 {
        return 0;
    }
    if verbosity >= 1 {
        say!("{warning}");
    }
    u8::from(behaviour >= 2)
}

/// `cont-finish`: always 0 (a stop goes on whatever the scripts do).
pub fn cont_finish() -> u8 {
    let verbosity = verbosity();
    let limit = Some(contenv::number("S6_KILL_FINISH_MAXTIME", 0)).filter(|&ms| ms > 0).map(Duration::from_millis);
    for script in sorted(&etc().join("cont-finish.d")) {
        if verbosity >= 2 {
            say!("cont-finish: info: running {}", script.display());
        }
        let code = run(&script, limit);
        if code != 0 && verbosity >= 1 {
            say!("cont-finish: warning: {} exited {code}", script.display());
        }
    }
    0
}

/// Runs one script to its end (KILLed after `limit`); its exit code, 128 + N when killed by N,
/// 126/127 when it cannot be run.
fn run(script: &Path, limit: Option<Duration>) -> u8 {
    let mut child = match Command::new(script).spawn() {
        Ok(child) => child,
        Err(e) => {
            let fix = match e.kind() {
                std::io::ErrorKind::PermissionDenied => "make it executable (chmod +x)",
                _ => "check its #! line",
            };
            say!("ostler: unable to run {}: {e}; {fix}", script.display());
            return if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 };
        }
    };
    let deadline = limit.map(|limit| Instant::now() + limit);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if deadline.is_some_and(|d| Instant::now() >= d) => {
                say!("ostler: {} still runs after S6_KILL_FINISH_MAXTIME: killed", script.display());
                let _ = child.kill();
                match child.wait() {
                    Ok(status) => break status,
                    Err(_) => return 111,
                }
            }
            Ok(None) if deadline.is_none() => match child.wait() {
                Ok(status) => break status,
                Err(_) => return 111,
            },
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => return 111,
        }
    };
    use std::os::unix::process::ExitStatusExt;
    status.code().map_or_else(|| 128 + status.signal().unwrap_or(0) as u8, |c| c as u8)
}

/// Where the copies of /etc/services.d live.
fn copies() -> PathBuf {
    contenv::dir().parent().unwrap_or(Path::new("/run/s6")).join("legacy-services")
}

fn scan_dir() -> PathBuf {
    ostler_core::paths::from_env("OSTLER_SCANDIR", ostler_core::paths::SCAN_DIR)
}

fn run_dir() -> PathBuf {
    ostler_core::paths::from_env("OSTLER_RUNDIR", ostler_core::paths::PRIVATE_DIR)
}

/// `services-up`: returns the oneshot's exit code.
pub fn services_up() -> u8 {
    let verbosity = verbosity();
    let (copies, scan) = (copies(), scan_dir());
    let _ = std::fs::remove_dir_all(&copies);
    if let Err(e) = std::fs::create_dir_all(&copies) {
        say!("ostler: unable to make {}: {e}; give the container a writable /run", copies.display());
        return 111;
    }
    let marker = ostler_core::paths::marker(&run_dir());
    let mut with_readiness = Vec::new();
    let mut without = Vec::new();
    for source in sorted(&etc().join("services.d")).into_iter().filter(|p| p.is_dir()) {
        let Some(name) = source.file_name() else { continue };
        let copy = copies.join(name);
        if let Err(e) = copy_tree(&source, &copy) {
            say!("ostler: unable to copy {} to {}: {e}; it is left out", source.display(), copy.display());
            continue;
        }
        if let (Some(ostler), false) = (&marker, copy.join("log").exists()) {
            let _ = ostler_core::mark_logger::write(&copy, ostler);
        }
        let notifies = copy.join("notification-fd").exists();
        if verbosity >= 2 {
            let note = if notifies { "" } else { " (no readiness notification)" };
            say!("services-up: info: copying legacy longrun {}{note}", name.to_string_lossy());
        }
        if notifies { &mut with_readiness } else { &mut without }.push(copy);
    }
    let all: Vec<PathBuf> = with_readiness.iter().chain(&without).cloned().collect();
    // Subscribed before the scanner starts them: no event can be missed.
    let wait = contenv::number("S6_CMD_WAIT_FOR_SERVICES", 0) > 0;
    let listeners =
        wait.then(|| (Listener::subscribe_before_start(&with_readiness), Listener::subscribe_before_start(&without)));
    for copy in &all {
        let link = scan.join(copy.file_name().unwrap_or_default());
        let _ = std::fs::remove_file(&link);
        if let Err(e) = std::os::unix::fs::symlink(copy, &link) {
            say!("ostler: unable to link {}: {e}", link.display());
        }
    }
    rescan(&scan, b"a");
    let Some((ready, up)) = listeners else { return 0 };
    let maxtime = contenv::number("S6_CMD_WAIT_FOR_SERVICES_MAXTIME", 0);
    let deadline = (maxtime > 0).then(|| Instant::now() + Duration::from_millis(maxtime));
    let mut late = false;
    for (listener, target, dirs) in [(ready, Target::UpReady, &with_readiness), (up, Target::Up, &without)] {
        if dirs.is_empty() {
            continue;
        }
        late |= !matches!(listener.and_then(|l| l.wait(target, Quorum::All, deadline)).map(|o| o.exit_code()), Ok(0));
    }
    outcome(late, verbosity, "services-up: warning: some legacy longruns failed to start")
}

/// `services-down`: always 0. Each is brought down first, while its output still reaches
/// its logger (a supervisor told to exit lets go of it), then unlinked and its supervisor
/// told to go.
pub fn services_down() -> u8 {
    let (copies, scan) = (copies(), scan_dir());
    let dirs = sorted(&copies);
    if dirs.is_empty() {
        return 0;
    }
    let grace = Duration::from_millis(contenv::number("S6_SERVICES_GRACETIME", 3000));
    match Listener::subscribe(&dirs) {
        Ok(listener) => {
            for dir in &dirs {
                let _ = ostler_supervise::client::write_control(dir, "supervise", "supervisor", b"d");
            }
            let _ = listener.wait(Target::DownReady, Quorum::All, Some(Instant::now() + grace));
        }
        Err(e) => say!("ostler: {e}; stopping the services.d longruns without waiting for them"),
    }
    for dir in &dirs {
        let _ = std::fs::remove_file(scan.join(dir.file_name().unwrap_or_default()));
    }
    rescan(&scan, b"an");
    0
}

/// Sends letters to the scanner.
fn rescan(scan: &Path, letters: &[u8]) {
    if let Err(e) = ostler_supervise::client::write_control(scan, ".s6-svscan", "scanner", letters) {
        say!("ostler: {e}");
    }
}

/// `cp -a` of a service directory: files with their modes, links as links, directories.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir(to)?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755))?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&source)?, &target)?;
        } else if kind.is_dir() {
            copy_tree(&source, &target)?;
        } else {
            std::fs::copy(&source, &target)?;
        }
    }
    Ok(())
}
