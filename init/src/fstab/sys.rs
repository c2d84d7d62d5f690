//! The system calls of fstab mounting. Mounts, remounts and unmounts go through the sys-mount
//! crate (the brief's crate for what users configure; stage 1's kernel filesystems stay on
//! nix's plain `mount`); swapon(2) and swapoff(2) are libc's, which nix does not wrap.

use std::ffi::CString;
use std::io;
use std::path::Path;
use sys_mount::{FilesystemType, Mount, MountFlags, SupportedFilesystems, UnmountFlags};

/// The type to mount with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsType<'a> {
    /// This type.
    Named(&'a str),
    /// Each block filesystem of `/proc/filesystems` in turn, until one mounts (sys-mount's
    /// automatic mode).
    Auto,
}

/// Mounts `source` on `target`; returns the type that mounted.
pub fn mount(
    source: &Path,
    target: &Path,
    fstype: FsType,
    flags: MountFlags,
    data: Option<&str>,
) -> io::Result<String> {
    let mut builder = Mount::builder().flags(flags);
    if let Some(data) = data {
        builder = builder.data(data);
    }
    let name = match fstype {
        FsType::Named(name) => name,
        FsType::Auto => return mount_auto(source, target, flags, data),
    };
    // sys-mount's Mount unmounts nothing when dropped (only its UnmountDrop does).
    let mounted = builder.fstype(FilesystemType::Manual(name)).mount(source, target)?;
    Ok(mounted.get_fstype().to_string())
}

/// Type `auto`: each block filesystem sys-mount finds in `/proc/filesystems`, in turn. One at
/// a time rather than sys-mount's `FilesystemType::Auto`, which reports the last type's error:
/// EINVAL ("not this type") from whatever comes last hides the one that matters (EBUSY, EROFS,
/// ENXIO) from the type that recognised the device.
fn mount_auto(source: &Path, target: &Path, flags: MountFlags, data: Option<&str>) -> io::Result<String> {
    let supported = SupportedFilesystems::new()?;
    let mut telling = None;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no block filesystem in /proc/filesystems");
    for name in supported.dev_file_systems() {
        match mount(source, target, FsType::Named(name), flags, data) {
            Ok(mounted) => return Ok(mounted),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = e,
            Err(e) => {
                telling.get_or_insert(e);
            }
        }
    }
    Err(telling.unwrap_or(last))
}

/// Changes the flags (and data) of what is mounted on `target`.
pub fn remount(target: &Path, flags: MountFlags, data: Option<&str>) -> io::Result<()> {
    // The source and type of a remount are ignored by the kernel.
    mount(Path::new(""), target, FsType::Named("none"), flags | MountFlags::REMOUNT, data).map(drop)
}

/// Unmounts `target` (no lazy detach: a busy filesystem is for the caller to handle).
pub fn unmount(target: &Path) -> io::Result<()> {
    sys_mount::unmount(target, UnmountFlags::empty())
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// `SWAP_FLAG_*` of `<sys/swap.h>`.
const SWAP_FLAG_PREFER: libc::c_int = 0x8000;
const SWAP_FLAG_PRIO_MASK: libc::c_int = 0x7fff;
const SWAP_FLAG_DISCARD: libc::c_int = 0x10000;

/// swapon(2)'s flags for a priority and discard.
pub fn swap_flags(priority: Option<u16>, discard: bool) -> libc::c_int {
    let priority = priority.map_or(0, |p| SWAP_FLAG_PREFER | (libc::c_int::from(p) & SWAP_FLAG_PRIO_MASK));
    priority | if discard { SWAP_FLAG_DISCARD } else { 0 }
}

/// Turns on swap on `device` (a partition or a file).
pub fn swapon(device: &Path, flags: libc::c_int) -> io::Result<()> {
    let path = c_path(device)?;
    // SAFETY: swapon reads a NUL-terminated path that lives across the call.
    match unsafe { libc::swapon(path.as_ptr(), flags) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Turns off swap on `device`.
pub fn swapoff(device: &Path) -> io::Result<()> {
    let path = c_path(device)?;
    // SAFETY: swapoff reads a NUL-terminated path that lives across the call.
    match unsafe { libc::swapoff(path.as_ptr()) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_flags_carry_priority_and_discard() {
        assert_eq!(swap_flags(None, false), 0);
        assert_eq!(swap_flags(Some(5), false), 0x8005);
        assert_eq!(swap_flags(Some(0), true), 0x18000);
    }
}
