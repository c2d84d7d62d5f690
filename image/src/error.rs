//! What can go wrong while building an image; every message names the path or tool and says
//! what to do about it.

use std::path::PathBuf;

/// An image build failure.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A host tool the build needs is not installed.
    #[error(
        "`{tool}` is not installed (looked in PATH, /usr/sbin and /sbin); install it with `apt-get install {package}`"
    )]
    MissingTool {
        /// The program's name.
        tool: &'static str,
        /// The Debian package that ships it.
        package: &'static str,
    },
    /// A host tool ran and failed.
    #[error("`{command}` failed ({status}){}{hint}", if stderr.is_empty() { String::new() } else { format!(": {stderr}") })]
    ToolFailed {
        /// The command line, for the reader to try by hand.
        command: String,
        /// How it ended.
        status: String,
        /// What it said on stderr (trimmed).
        stderr: String,
        /// What to do, starting with "; " (or empty).
        hint: String,
    },
    /// A file operation failed.
    #[error("unable to {action} {}: {source}", path.display())]
    Io {
        /// What was being done ("read", "create directory"…).
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
    /// The ostler binary to install is missing.
    #[error("{} does not exist; build it with `cargo build --release --target x86_64-unknown-linux-musl` (from the source tree), or pass --ostler PATH", path.display())]
    NoOstler {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The ostler binary (or busybox) is not a static x86-64 executable.
    #[error("{} is not usable in the image: {reason}; give a static x86-64 build (`cargo build --release --target x86_64-unknown-linux-musl`)", path.display())]
    NotStatic {
        /// The binary.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The kernel modules for the boot initramfs are not usable.
    #[error("{} cannot give the boot initramfs its modules: {reason}; pass --kernel-modules /lib/modules/VERSION of the kernel that boots the disk (package linux-image-amd64)", path.display())]
    NoModules {
        /// The modules directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The skeleton tree is missing.
    #[error("{} is not a directory; run from the ostler source tree or pass --skel DIR", path.display())]
    NoSkel {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The output directory holds something that is not a previous image.
    #[error("{} exists, is not empty and was not made by `ostler image build`; choose another --out or empty it", path.display())]
    ForeignOutput {
        /// The output directory.
        path: PathBuf,
    },
    /// A name that the tools downstream cannot carry.
    #[error("{}: file names in the image must be UTF-8 without spaces or control characters; rename it", path.display())]
    BadName {
        /// The offending path, inside the image.
        path: PathBuf,
    },
    /// The epoch is past what an output can record.
    #[error("the epoch {epoch} is past what {format} can hold (at most {max}); give an earlier --epoch or SOURCE_DATE_EPOCH")]
    EpochTooLarge {
        /// The epoch given.
        epoch: u64,
        /// What would have to hold it ("a tar header").
        format: &'static str,
        /// The largest it holds.
        max: u64,
    },
    /// The EFI stub a UKI is built on is not usable.
    #[error("{}: cannot make a UKI from this EFI stub: {reason}; install systemd-boot-efi and use its linuxx64.efi.stub (or pass --stub FILE)", path.display())]
    BadStub {
        /// The stub.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An option of the disk image that cannot be carried out as given.
    #[error("{0}")]
    DiskOption(String),
    /// A file or archive too large for the newc format (4 GiB per file).
    #[error("{}: too large for an initramfs ({size} bytes; the newc format stops at 4 GiB)", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// `ostler image write`: the image is a qcow2, which firmware cannot boot from a disk.
    #[error("{} is a qcow2 image, which would not boot once copied to a disk; write {}, the raw one", image.display(), raw.display())]
    WriteQcow2 {
        /// The image given.
        image: PathBuf,
        /// The raw image beside it.
        raw: PathBuf,
    },
    /// `ostler image write`: the image is not a regular file.
    #[error("{} is not a regular file; give the raw disk image, DIR/disk.img from `ostler image build --format disk`", image.display())]
    WriteImageNotFile {
        /// The image given.
        image: PathBuf,
    },
    /// `ostler image write`: the image is empty.
    #[error("{} is empty; rebuild it with `ostler image build --format disk`", image.display())]
    WriteImageEmpty {
        /// The image given.
        image: PathBuf,
    },
    /// `ostler image write`: the image is shorter than its own partition table says.
    #[error("{} is truncated: {bytes} bytes, but its partition table says {table_bytes}; rebuild it with `ostler image build --format disk` (or copy it again)", image.display())]
    WriteImageTruncated {
        /// The image given.
        image: PathBuf,
        /// Its size.
        bytes: u64,
        /// The size its GPT describes.
        table_bytes: u64,
    },
    /// `ostler image write`: the image's size changed while it was being written.
    #[error("{} changed while it was written ({read} bytes read, {expected} expected); the target is incomplete: write it again once nothing rebuilds the image", image.display())]
    WriteImageChanged {
        /// The image.
        image: PathBuf,
        /// Its size when checked.
        expected: u64,
        /// What was read.
        read: u64,
    },
    /// `ostler image write`: the device does not exist.
    #[error("{} does not exist; find the disk with `lsblk -d -o NAME,SIZE,MODEL,TRAN` and give its /dev path (such as /dev/sdb)", device.display())]
    WriteNoDevice {
        /// The device given.
        device: PathBuf,
    },
    /// `ostler image write`: the target is a regular file and `--force` was not given.
    #[error("{} is a regular file, not a block device; give a disk such as /dev/sdb (`lsblk -d -o NAME,SIZE,MODEL,TRAN` lists them), or pass --force to write the image into the file (it must already be at least as large as the image)", device.display())]
    WriteRegularFile {
        /// The file given.
        device: PathBuf,
    },
    /// `ostler image write`: the target is a partition and `--force` was not given.
    #[error("{} is a partition of /dev/{disk}, not a whole disk; the image holds its own partition table, so give /dev/{disk} (every partition on it is lost), or pass --force to write the image into this partition", device.display())]
    WritePartition {
        /// The partition given.
        device: PathBuf,
        /// Its disk's kernel name.
        disk: String,
    },
    /// `ostler image write`: the target is neither a block device nor a file.
    #[error("{} is {kind}, not a disk; give a whole disk's block device such as /dev/sdb (`lsblk -d -o NAME,SIZE,MODEL,TRAN` lists them)", device.display())]
    WriteNotBlockDevice {
        /// The path given.
        device: PathBuf,
        /// What it is ("a directory").
        kind: &'static str,
    },
    /// `ostler image write`: the device holds the running system.
    #[error("{} holds the running system ({points} on it); writing it would destroy the system you are running, and --force does not override this; give another disk (`lsblk -d -o NAME,SIZE,MODEL,TRAN`)", device.display())]
    WriteRunningSystem {
        /// The device given.
        device: PathBuf,
        /// The system mount points on it ("/, /boot").
        points: String,
    },
    /// `ostler image write`: something on the device is in use.
    #[error("{} is in use: {what}; {fix} (--force does not override this)", device.display())]
    WriteInUse {
        /// The device given.
        device: PathBuf,
        /// What uses it.
        what: String,
        /// What to do.
        fix: String,
    },
    /// `ostler image write`: the device is smaller than the image.
    #[error("{} is smaller than the image ({bytes} bytes, the image {image_bytes}); use a disk of at least {} MiB (--force does not override this)", device.display(), image_bytes.div_ceil(1 << 20))]
    WriteTooSmall {
        /// The device given.
        device: PathBuf,
        /// Its size.
        bytes: u64,
        /// The image's.
        image_bytes: u64,
    },
    /// `ostler image write`: the device's logical sectors are not 512 bytes.
    #[error("{} has {sector}-byte logical sectors, but the image's partition table is laid out for 512-byte sectors and would not be found (a 4Kn disk); use another disk (USB sticks, and most SATA and NVMe disks, have 512-byte sectors)", device.display())]
    WriteSectorSize {
        /// The device given.
        device: PathBuf,
        /// Its logical sector size.
        sector: u32,
    },
    /// `ostler image write`: opening the device was not permitted.
    #[error("no permission to open {} for writing; run as root (`sudo ostler image write …`)", device.display())]
    WriteNoPermission {
        /// The device given.
        device: PathBuf,
    },
    /// `ostler image write`: nobody can answer the question.
    #[error("standard input is not a terminal, so nobody can confirm that {} may be overwritten; pass --yes to write without asking", device.display())]
    WriteUnconfirmed {
        /// The device given.
        device: PathBuf,
    },
    /// `ostler image write`: the backup GPT could not be moved to the end of the device.
    #[error("the image is written, but moving its backup GPT to the end of {} failed ({source}); it boots, and `sgdisk -e {}` moves the backup", device.display(), device.display())]
    WriteRelocate {
        /// The device.
        device: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl ImageError {
    /// An `Io` error for `action` on `path`.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ImageError {
        let path = path.into();
        move |source| ImageError::Io { action, path, source }
    }
}
