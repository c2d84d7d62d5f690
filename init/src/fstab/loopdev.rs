//! Loop devices for `loop` entries: a free one from `/dev/loop-control`, bound to the file
//! with `LOOP_CONFIGURE` (Linux 5.8), or `LOOP_SET_FD` + `LOOP_SET_STATUS64` on older kernels.
//!
//! Done here rather than with sys-mount's `loop` feature: that feature pulls the loopdev-3
//! crate, whose build script runs bindgen and so needs libclang on the build machine; four
//! ioctls do not justify it. Every device is set up with `LO_FLAGS_AUTOCLEAR`: the kernel
//! detaches it when its last user goes — the mount at unmount time, or our own descriptor
//! when the mount failed — so nothing needs to remember it.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// `<linux/loop.h>`'s flags.
const LO_FLAGS_READ_ONLY: u32 = 1;
const LO_FLAGS_AUTOCLEAR: u32 = 4;
/// How many times a free device is asked for when another program takes it first.
const TRIES: usize = 5;

/// `struct loop_info64` of `<linux/loop.h>`.
#[repr(C)]
struct LoopInfo64 {
    device: u64,
    inode: u64,
    rdevice: u64,
    offset: u64,
    size_limit: u64,
    number: u32,
    encrypt_type: u32,
    encrypt_key_size: u32,
    flags: u32,
    file_name: [u8; 64],
    crypt_name: [u8; 64],
    encrypt_key: [u8; 32],
    init: [u64; 2],
}

/// `struct loop_config` of `<linux/loop.h>`.
#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

// The loop ioctls are plain numbers, not _IOW-encoded: hence the `_bad` forms.
nix::ioctl_none_bad!(loop_ctl_get_free, 0x4C82);
nix::ioctl_write_ptr_bad!(loop_configure, 0x4C0A, LoopConfig);
nix::ioctl_write_int_bad!(loop_set_fd, 0x4C00);
nix::ioctl_write_ptr_bad!(loop_set_status64, 0x4C04, LoopInfo64);
nix::ioctl_none_bad!(loop_clr_fd, 0x4C01);

/// A loop device bound to a file. Keep it until the mount is made: closing it before would
/// let the kernel's autoclear detach the device.
#[derive(Debug)]
pub struct LoopDevice {
    /// `/dev/loopN`.
    pub path: PathBuf,
    _device: OwnedFd,
}

/// Whether the device may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `ro`.
    ReadOnly,
    /// Writable when the file is.
    ReadWrite,
}

/// Binds `file` to a free loop device under `dev` (`/dev`).
pub fn attach(file: &Path, dev: &Path, access: Access) -> io::Result<LoopDevice> {
    let backing = open_backing(file, access)?;
    let read_only = access == Access::ReadOnly || !writable(&backing);
    let control =
        OpenOptions::new().read(true).write(true).custom_flags(libc::O_CLOEXEC).open(dev.join("loop-control"))?;
    let mut last = io::Error::from(io::ErrorKind::ResourceBusy);
    for _ in 0..TRIES {
        // SAFETY: LOOP_CTL_GET_FREE takes no argument; the fd is the open loop-control.
        let number = unsafe { loop_ctl_get_free(control.as_raw_fd()) }.map_err(io::Error::from)?;
        let path = dev.join(format!("loop{number}"));
        let device = OpenOptions::new().read(true).write(!read_only).custom_flags(libc::O_CLOEXEC).open(&path)?;
        match bind(&device, &backing, file, read_only) {
            Ok(()) => return Ok(LoopDevice { path, _device: device.into() }),
            // Another program bound it between the two calls: ask for the next free one.
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

fn open_backing(file: &Path, access: Access) -> io::Result<std::fs::File> {
    let read_only = || OpenOptions::new().read(true).custom_flags(libc::O_CLOEXEC).open(file);
    match access {
        Access::ReadOnly => read_only(),
        // A file on a read-only filesystem, or one we may not write, is bound read-only.
        Access::ReadWrite => {
            OpenOptions::new().read(true).write(true).custom_flags(libc::O_CLOEXEC).open(file).or_else(|e| {
                match e.raw_os_error() {
                    Some(libc::EROFS | libc::EACCES) => read_only(),
                    _ => Err(e),
                }
            })
        }
    }
}

fn writable(file: &std::fs::File) -> bool {
    nix::fcntl::fcntl(file, nix::fcntl::FcntlArg::F_GETFL).is_ok_and(|flags| flags & libc::O_ACCMODE == libc::O_RDWR)
}

fn info(file: &Path, read_only: bool) -> LoopInfo64 {
    let mut info = LoopInfo64 {
        device: 0,
        inode: 0,
        rdevice: 0,
        offset: 0,
        size_limit: 0,
        number: 0,
        encrypt_type: 0,
        encrypt_key_size: 0,
        flags: LO_FLAGS_AUTOCLEAR | if read_only { LO_FLAGS_READ_ONLY } else { 0 },
        file_name: [0; 64],
        crypt_name: [0; 64],
        encrypt_key: [0; 32],
        init: [0; 2],
    };
    // The kernel shows this name in /sys/block/loopN/loop/backing_file only when it has no
    // path of its own; 63 bytes and a NUL at most.
    let name = file.as_os_str().as_encoded_bytes();
    let length = name.len().min(63);
    info.file_name[..length].copy_from_slice(&name[..length]);
    info
}

fn bind(device: &std::fs::File, backing: &std::fs::File, file: &Path, read_only: bool) -> io::Result<()> {
    let config =
        LoopConfig { fd: backing.as_raw_fd() as u32, block_size: 0, info: info(file, read_only), reserved: [0; 8] };
    // SAFETY: `config` is a complete struct loop_config that lives across the call.
    match unsafe { loop_configure(device.as_raw_fd(), &config) } {
        Ok(_) => return Ok(()),
        // Before Linux 5.8 there is no LOOP_CONFIGURE: the two older calls do the same.
        Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOTTY) => {}
        Err(e) => return Err(e.into()),
    }
    // SAFETY: LOOP_SET_FD takes the backing file's descriptor, open for the call's length.
    unsafe { loop_set_fd(device.as_raw_fd(), backing.as_raw_fd()) }.map_err(io::Error::from)?;
    let status = info(file, read_only);
    // SAFETY: `status` is a complete struct loop_info64 that lives across the call.
    if let Err(e) = unsafe { loop_set_status64(device.as_raw_fd(), &status) } {
        // SAFETY: LOOP_CLR_FD takes no argument; it undoes our LOOP_SET_FD.
        let _ = unsafe { loop_clr_fd(device.as_raw_fd()) };
        return Err(e.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_structures_have_the_kernel_sizes() {
        assert_eq!(std::mem::size_of::<LoopInfo64>(), 232);
        assert_eq!(std::mem::size_of::<LoopConfig>(), 304);
        let info = info(Path::new("/var/cache.img"), true);
        assert_eq!(info.flags, LO_FLAGS_AUTOCLEAR | LO_FLAGS_READ_ONLY);
        assert_eq!(&info.file_name[..15], b"/var/cache.img\0");
    }
}
