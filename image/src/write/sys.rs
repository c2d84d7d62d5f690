//! The only system calls of `ostler image write` beyond std's: the block device ioctls and
//! the exclusive open.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

// <linux/fs.h>: BLKGETSIZE64 _IOR(0x12, 114, size_t), BLKSSZGET _IO(0x12, 104) with an int
// result, BLKRRPART _IO(0x12, 95).
nix::ioctl_read!(blkgetsize64, 0x12, 114, u64);
nix::ioctl_read_bad!(blksszget, nix::request_code_none!(0x12, 104), nix::libc::c_int);
nix::ioctl_none!(blkrrpart, 0x12, 95);

/// The device's size in bytes.
pub fn size(device: &File) -> io::Result<u64> {
    let mut bytes = 0u64;
    // SAFETY: BLKGETSIZE64 writes one u64 through the pointer, which lives across the call.
    unsafe { blkgetsize64(device.as_raw_fd(), &mut bytes) }?;
    Ok(bytes)
}

/// The device's logical sector size.
pub fn logical_sector_size(device: &File) -> io::Result<u32> {
    let mut size: nix::libc::c_int = 0;
    // SAFETY: BLKSSZGET writes one int through the pointer, which lives across the call.
    unsafe { blksszget(device.as_raw_fd(), &mut size) }?;
    u32::try_from(size).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

/// Asks the kernel to read the partition table again.
pub fn reread_partitions(device: &File) -> io::Result<()> {
    // SAFETY: BLKRRPART takes no argument and acts on the device we opened.
    unsafe { blkrrpart(device.as_raw_fd()) }?;
    Ok(())
}

/// Opens a block device for reading and writing with O_EXCL, which for a block device
/// (open(2)) fails with EBUSY while it is mounted or otherwise claimed, and keeps it from
/// being mounted while open.
pub fn open_exclusive(device: &Path) -> io::Result<File> {
    File::options().read(true).write(true).custom_flags(nix::libc::O_EXCL).open(device)
}
