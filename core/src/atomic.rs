//! Atomic replacement of a small file, as skalibs does it: write `NAME.new` (truncated, no
//! fsync: these files live on tmpfs or are rewritten constantly), then rename it over `NAME`.

use crate::CoreError;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Replaces `path` with `contents`; the file is created with `mode` (less the umask).
pub fn write(path: &Path, contents: &[u8], mode: u32) -> Result<(), CoreError> {
    let mut tmp = PathBuf::from(path);
    let mut name = tmp.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".new");
    tmp.set_file_name(name);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| CoreError::io("open", &tmp, e))?;
    file.write_all(contents).map_err(|e| CoreError::io("write", &tmp, e))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| CoreError::io("rename", path, e))
}
