//! Atomic replacement of a small file, as skalibs does it: write `NAME.new` (truncated, no
//! fsync: these files live on tmpfs or are rewritten constantly), then rename it over `NAME`.

use crate::CoreError;
use rustix::fs::{Mode, OFlags};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Replaces `path` with `contents`; the file is created with `mode` (less the umask).
pub fn write(path: &Path, contents: &[u8], mode: u32) -> Result<(), CoreError> {
    let mut tmp = PathBuf::from(path);
    let mut name = tmp.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".new");
    tmp.set_file_name(name);
    // rustix makes the system call itself: libc's open adds an fcntl for O_CLOEXEC, and a
    // supervisor writes its status at every event.
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::CLOEXEC;
    let file =
        rustix::fs::open(&tmp, flags, Mode::from_raw_mode(mode)).map_err(|e| CoreError::io("open", &tmp, e.into()))?;
    std::fs::File::from(file).write_all(contents).map_err(|e| CoreError::io("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| CoreError::io("rename", path, e))
}
