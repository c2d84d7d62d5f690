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
    // supervisor writes its status at every event. NONBLOCK: a FIFO left under that name must
    // fail the open, not hang a supervisor inside PID 1 (it changes nothing for a plain file).
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::CLOEXEC | OFlags::NONBLOCK;
    let open = || rustix::fs::open(&tmp, flags, Mode::from_raw_mode(mode));
    let file = match open() {
        Ok(file) => file,
        // Something else than a file is in the way (a FIFO, a device): it is only our
        // scratch name, so it goes, and the write is tried once more.
        Err(rustix::io::Errno::NXIO | rustix::io::Errno::ISDIR) => {
            let _ = std::fs::remove_file(&tmp).or_else(|_| std::fs::remove_dir(&tmp));
            open().map_err(|e| CoreError::io("open", &tmp, e.into()))?
        }
        Err(e) => return Err(CoreError::io("open", &tmp, e.into())),
    };
    std::fs::File::from(file).write_all(contents).map_err(|e| CoreError::io("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| CoreError::io("rename", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_in_the_way_is_replaced_not_waited_on() {
        let dir = std::env::temp_dir().join(format!("ostler-atomic-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("status");
        nix::unistd::mkfifo(&dir.join("status.new"), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        write(&path, b"fresh", 0o644).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"fresh");
        assert!(std::fs::symlink_metadata(&path).unwrap().is_file());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
