//! The logger that marks a container service's lines with its name: a `log/` directory whose
//! `run` is ostler itself and which holds [`MARK_LOGGER`](crate::paths::MARK_LOGGER). The
//! supervisor recognises ostler as `run` and starts `ostler mark NAME` in place.

use std::path::Path;

/// Writes `DIR/log/` (kept when it is there already).
pub fn write(dir: &Path, ostler: &Path) -> std::io::Result<()> {
    let log = dir.join("log");
    match std::fs::create_dir(&log) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    match std::os::unix::fs::symlink(ostler, log.join("run")) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    std::fs::write(log.join(crate::paths::MARK_LOGGER), b"")
}
