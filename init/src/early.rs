//! The runtime tree stage 1 builds on the fresh `/run`: the private area, the scan directory,
//! the catch-all logger's and the shutdown daemon's services, and the scanner's diversions that turn PID 1's signals into
//! shutdown requests.

use crate::paths;
use std::os::unix::fs::{symlink, DirBuilderExt, PermissionsExt};
use std::path::Path;

/// Signal diversions of the scanner (PID 1), as s6-linux-init sets them: each is a link to
/// ostler, which knows the name. SIGTERM and SIGQUIT are diverted to nothing, so a stray
/// `kill 1` does not tear the system down.
pub const DIVERSIONS: &[&str] = &["SIGINT", "SIGPWR", "SIGUSR1", "SIGUSR2", "SIGTERM", "SIGQUIT", "finish", "crash"];

/// Makes `/run/ostler` (0700), its catch-all log directory, `/run/service` with the catch-all
/// logger's service directory and FIFO, the shutdown daemon's, and `/run/service/.s6-svscan/` with the diversions.
pub fn build(ostler: &Path) -> std::io::Result<()> {
    make_dir(paths::PRIVATE_DIR, 0o700)?;
    make_dir(paths::UNCAUGHT_LOGS, 0o700)?;
    make_dir(paths::SCAN_DIR, 0o755)?;
    let service = Path::new(paths::CATCH_ALL_SERVICE);
    make_dir(service, 0o755)?;
    // `run` is ostler itself; started as `./run ostler-log`, it knows to be the catch-all logger.
    replace_link(ostler, &service.join("run"))?;
    std::fs::write(service.join("notification-fd"), "3\n")?;
    match nix::unistd::mkfifo(paths::CATCH_ALL_FIFO, nix::sys::stat::Mode::from_bits_truncate(0o600)) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
        Err(e) => return Err(e.into()),
    }
    // The shutdown daemon: `run` is ostler too, its FIFO takes requests from poweroff & co.
    let daemon = Path::new(paths::SHUTDOWN_SERVICE);
    make_dir(daemon, 0o755)?;
    replace_link(ostler, &daemon.join("run"))?;
    match nix::unistd::mkfifo(paths::SHUTDOWN_FIFO, nix::sys::stat::Mode::from_bits_truncate(0o600)) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
        Err(e) => return Err(e.into()),
    }
    let private = Path::new(paths::SCAN_DIR).join(".s6-svscan");
    make_dir(&private, 0o700)?;
    for name in DIVERSIONS {
        replace_link(ostler, &private.join(name))?;
    }
    Ok(())
}

pub(crate) fn make_dir(path: impl AsRef<Path>, mode: u32) -> std::io::Result<()> {
    let path = path.as_ref();
    match std::fs::DirBuilder::new().mode(mode).create(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

fn replace_link(target: &Path, link: &Path) -> std::io::Result<()> {
    let _ = std::fs::remove_file(link);
    symlink(target, link)
}
