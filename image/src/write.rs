//! `ostler image write IMAGE DEVICE`: copies a raw disk image onto a whole disk (a USB stick, a
//! laptop's disk) after refusing every target that would hurt, then moves the backup GPT to the
//! end of a larger disk, syncs, and asks the kernel to re-read the partitions.
//!
//! The checks, in order: the image is a raw file (not qcow2, not truncated); the device exists;
//! it is a whole disk's block device (a partition or a regular file only with `--force`); it
//! does not hold the running system (`/`, `/usr`, `/boot`, directly, on a partition or under
//! device mapper or md); nothing on it is mounted, used as swap or held by another device; it
//! is at least as large as the image; its logical sectors are 512 bytes (the table's). Only
//! `--force`'s two cases can be overridden. The kernel's tables are read from sysfs and /proc
//! (`kernel`); the ioctls are in `sys`.

mod kernel;
mod sys;

use crate::ImageError;
use kernel::{parse_mountinfo, parse_swaps, DevNum, Sysfs};
use ostler_core::gpt::{self, Table, SECTOR};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Bytes per read and write: large enough that a USB stick sees few, big writes.
const BUFFER: usize = 4 << 20;
/// Bytes written to a block device between two syncs, so the progress shown is what reached
/// the device rather than the page cache, and the final sync does not take minutes.
const SYNC_EVERY: u64 = 64 << 20;
/// The first bytes of a qcow2 image.
const QCOW2_MAGIC: &[u8; 4] = b"QFI\xfb";
/// Mount points whose disks are the running system.
const SYSTEM_MOUNTS: [&str; 5] = ["/", "/usr", "/boot", "/boot/efi", "/efi"];

/// What to write where.
#[derive(Clone, Debug)]
pub struct WriteOptions {
    /// The raw disk image.
    pub image: PathBuf,
    /// The whole disk (or, with `force`, a partition or a regular file).
    pub device: PathBuf,
    /// Also write to a partition, or into a regular file at least as large as the image.
    pub force: bool,
    /// Write without asking.
    pub yes: bool,
}

/// What kind of thing the target is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetKind {
    /// A whole disk (`/dev/sdb`), by its kernel name.
    Disk(String),
    /// A partition (`--force`), by its kernel name and its disk's.
    Partition {
        /// The partition's name (`sdb1`).
        name: String,
        /// Its disk's name (`sdb`).
        disk: String,
    },
    /// A regular file (`--force`).
    File,
}

/// A checked target, open for writing (exclusively, for a block device), and its image.
#[derive(Debug)]
pub struct Target {
    /// The device as given.
    pub path: PathBuf,
    /// Disk, partition or file.
    pub kind: TargetKind,
    /// Its size in bytes.
    pub bytes: u64,
    /// The disk's model, vendor and removable flag from sysfs, when it has them.
    pub model: Option<String>,
    /// See `model`.
    pub vendor: Option<String>,
    /// See `model`.
    pub removable: Option<bool>,
    /// The image.
    pub image: PathBuf,
    /// Its size in bytes.
    pub image_bytes: u64,
    /// Its partition table, when it has one (it moves to the end of a larger target).
    pub table: Option<Table>,
    image_file: File,
    device_file: File,
}

impl Target {
    /// The line shown before asking: what the target is and that its contents go.
    pub fn describe(&self) -> String {
        let size = format!("{} bytes ({}, {})", self.bytes, decimal(self.bytes), binary(self.bytes));
        match &self.kind {
            TargetKind::File => {
                format!("{}: a regular file of {size}; its contents will be replaced", self.path.display())
            }
            TargetKind::Disk(_) | TargetKind::Partition { .. } => {
                let part = match &self.kind {
                    TargetKind::Partition { disk, .. } => format!(", a partition of /dev/{disk}"),
                    _ => String::new(),
                };
                let removable = match self.removable {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "unknown",
                };
                // A /dev/disk/by-id/… name is followed by the kernel's.
                let name = match &self.kind {
                    TargetKind::Disk(name) | TargetKind::Partition { name, .. } => Path::new("/dev").join(name),
                    TargetKind::File => PathBuf::new(),
                };
                let also = if name == self.path { String::new() } else { format!(" ({})", name.display()) };
                format!(
                    "{}{also}: {size}{part}, model {} (vendor {}), removable {removable}; every byte on it will be lost",
                    self.path.display(),
                    self.model.as_deref().unwrap_or("unknown"),
                    self.vendor.as_deref().unwrap_or("unknown"),
                )
            }
        }
    }

    /// The question asked before writing.
    pub fn question(&self) -> String {
        format!("Write {} ({}) to {}? [y/N] ", self.image.display(), binary(self.image_bytes), self.path.display())
    }
}

/// Where the backup table went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backup {
    /// Moved to this sector, the target's last.
    Moved(u64),
    /// Already at the end: the target is exactly the image's size.
    AtEnd,
    /// The image has no GUID partition table.
    NoTable,
}

/// What the kernel made of the request to re-read the partitions.
#[derive(Debug)]
pub enum Reread {
    /// It re-read them.
    Done,
    /// It could not (EBUSY: something holds a partition, EINVAL: a loop device without
    /// partition scanning…): the reason.
    Failed(io::Error),
    /// The target is a file or a partition: nothing to re-read.
    NotADisk,
}

/// What was done.
#[derive(Debug)]
pub struct Written {
    /// Bytes written (the image's size).
    pub bytes: u64,
    /// How long the copy and the syncs took.
    pub elapsed: Duration,
    /// Where the backup GPT is.
    pub backup: Backup,
    /// Whether the kernel re-read the partitions.
    pub reread: Reread,
}

/// Checks, shows, asks (unless `--yes`), writes and reports; the exit code: 0 written, 1
/// declined at the question, 100 refused, 111 failed.
pub fn run(options: &WriteOptions) -> u8 {
    use std::io::IsTerminal;
    let target = match check(options) {
        Ok(target) => target,
        Err(e) => {
            eprintln!("ostler image write: {e}");
            // A refusal is the caller's to fix (100); a failing read or ioctl is the system's.
            return if matches!(e, ImageError::Io { .. }) { 111 } else { 100 };
        }
    };
    eprintln!("ostler image write: {}", target.describe());
    if !options.yes {
        if !io::stdin().is_terminal() {
            eprintln!("ostler image write: {}", ImageError::WriteUnconfirmed { device: target.path.clone() });
            return 100;
        }
        eprint!("ostler image write: {}", target.question());
        let mut answer = String::new();
        if io::stdin().read_line(&mut answer).is_err() || !is_yes(&answer) {
            eprintln!("ostler image write: nothing written to {}", target.path.display());
            return 1;
        }
    }
    let terminal = io::stderr().is_terminal();
    let mut shown = 0;
    let mut progress = |done: u64, total: u64| {
        // A line per 1 % at most; only a terminal wants them.
        let percent = done * 100 / total.max(1);
        if terminal && (percent > shown || done == total) {
            shown = percent;
            eprint!("\rostler image write: {} of {} ({percent}%)  ", binary(done), binary(total));
            if done == total {
                eprintln!();
            }
        }
    };
    let path = target.path.clone();
    match write(target, &mut progress) {
        Ok(written) => {
            println!("{}", report(&path, &written));
            0
        }
        Err(e) => {
            eprintln!("ostler image write: {e}");
            111
        }
    }
}

/// The lines printed once the image is written.
fn report(path: &Path, written: &Written) -> String {
    let seconds = written.elapsed.as_secs_f64();
    let rate = written.bytes as f64 / seconds.max(0.001);
    let mut lines = vec![format!(
        "ostler image write: wrote {} bytes ({}) to {} in {seconds:.1} s ({}/s) and synced",
        written.bytes,
        binary(written.bytes),
        path.display(),
        binary(rate as u64)
    )];
    lines.push(match written.backup {
        Backup::Moved(sector) => {
            format!("ostler image write: moved the backup GPT to sector {sector}, the last of {}", path.display())
        }
        Backup::AtEnd => "ostler image write: the backup GPT is already at the end".into(),
        Backup::NoTable => "ostler image write: the image has no GPT; nothing to move".into(),
    });
    match &written.reread {
        Reread::Done => lines.push("ostler image write: the kernel re-read the partition table".into()),
        Reread::Failed(e) => lines.push(format!(
            "ostler image write: note: the kernel did not re-read the partition table ({e}); the disk is written and boots, but this system sees the new partitions only after `partprobe {}` or replugging it",
            path.display()
        )),
        Reread::NotADisk => {}
    }
    lines.join("\n")
}

/// Does every check, in order, and opens the target for writing (exclusively, for a block
/// device: the kernel then refuses it to a mount until it is written).
pub fn check(options: &WriteOptions) -> Result<Target, ImageError> {
    let (image_file, image_bytes, table) = check_image(&options.image)?;
    let device = &options.device;
    let metadata = match std::fs::metadata(device) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(ImageError::WriteNoDevice { device: device.clone() })
        }
        Err(e) => return Err(ImageError::io("look at", device)(e)),
    };
    let sysfs = Sysfs::new("/sys");
    let file_type = metadata.file_type();
    let mut target = if file_type.is_block_device() {
        let dev = DevNum::of(metadata.rdev());
        let dir = sysfs
            .dir(dev)
            .ok_or_else(|| ImageError::io("find in /sys/dev/block", device)(io::ErrorKind::NotFound.into()))?;
        let kind = match Sysfs::disk_of(&dir) {
            Some(disk) => {
                let (name, disk) = (Sysfs::name(&dir), Sysfs::name(&disk));
                if !options.force {
                    return Err(ImageError::WritePartition { device: device.clone(), disk });
                }
                TargetKind::Partition { name, disk }
            }
            None => TargetKind::Disk(Sysfs::name(&dir)),
        };
        check_block(device, &sysfs, &dir)?;
        let probe = File::open(device).map_err(|e| open_error(device, e))?;
        let bytes = sys::size(&probe).map_err(ImageError::io("get the size (BLKGETSIZE64) of", device))?;
        check_size(device, bytes, image_bytes)?;
        let sector = sys::logical_sector_size(&probe).map_err(ImageError::io("get the sector size of", device))?;
        if u64::from(sector) != SECTOR {
            return Err(ImageError::WriteSectorSize { device: device.clone(), sector });
        }
        drop(probe);
        let device_file = sys::open_exclusive(device).map_err(|e| match e.raw_os_error() {
            Some(nix::libc::EBUSY) => ImageError::WriteInUse {
                device: device.clone(),
                what: "the kernel refuses to open it exclusively (a filesystem, device mapper, md, swap or another program holds it)".into(),
                fix: "find what uses it with `lsblk` and `fuser -vm` and stop it".into(),
            },
            _ => open_error(device, e),
        })?;
        let disk_dir = Sysfs::disk_of(&dir).unwrap_or_else(|| dir.clone());
        let read = |file: &str| Sysfs::read(&disk_dir, file).filter(|text| !text.is_empty());
        Target {
            path: device.clone(),
            kind,
            bytes,
            model: read("device/model"),
            vendor: read("device/vendor"),
            removable: read("removable").map(|flag| flag == "1"),
            image: options.image.clone(),
            image_bytes,
            table,
            image_file,
            device_file,
        }
    } else if file_type.is_file() {
        if !options.force {
            return Err(ImageError::WriteRegularFile { device: device.clone() });
        }
        check_file(device, &metadata, &options.image, &sysfs)?;
        check_size(device, metadata.len(), image_bytes)?;
        let device_file = File::options().read(true).write(true).open(device).map_err(|e| open_error(device, e))?;
        Target {
            path: device.clone(),
            kind: TargetKind::File,
            bytes: metadata.len(),
            model: None,
            vendor: None,
            removable: None,
            image: options.image.clone(),
            image_bytes,
            table,
            image_file,
            device_file,
        }
    } else {
        let kind = if file_type.is_dir() {
            "a directory"
        } else if file_type.is_char_device() {
            "a character device"
        } else {
            "neither a block device nor a file"
        };
        return Err(ImageError::WriteNotBlockDevice { device: device.clone(), kind });
    };
    target.image_file.seek(SeekFrom::Start(0)).map_err(ImageError::io("read", &options.image))?;
    Ok(target)
}

/// Copies the image onto the checked target, moves the backup table to the target's end, syncs
/// and has the kernel re-read the partitions. `progress` hears (bytes written, image bytes).
pub fn write(mut target: Target, progress: &mut dyn FnMut(u64, u64)) -> Result<Written, ImageError> {
    let start = Instant::now();
    let device = target.path.clone();
    let block = target.kind != TargetKind::File;
    let mut buffer = vec![0u8; BUFFER];
    let (mut done, mut synced) = (0u64, 0u64);
    progress(0, target.image_bytes);
    // Every byte is written, zeros too: skipping them would leave the old data in place.
    loop {
        let n = fill(&mut target.image_file, &mut buffer).map_err(ImageError::io("read", &target.image))?;
        if n == 0 {
            break;
        }
        target.device_file.write_all(&buffer[..n]).map_err(ImageError::io("write to", &device))?;
        done += n as u64;
        if block && done - synced >= SYNC_EVERY {
            target.device_file.sync_data().map_err(ImageError::io("sync", &device))?;
            synced = done;
        }
        progress(done.min(target.image_bytes), target.image_bytes);
    }
    if done != target.image_bytes {
        return Err(ImageError::WriteImageChanged {
            image: target.image.clone(),
            expected: target.image_bytes,
            read: done,
        });
    }
    let backup = match &target.table {
        None => Backup::NoTable,
        Some(_) => {
            let sectors = target.bytes / SECTOR;
            let moved = gpt::relocate_backup(&mut target.device_file, sectors)
                .map_err(|source| ImageError::WriteRelocate { device: device.clone(), source })?;
            if moved {
                Backup::Moved(sectors - 1)
            } else {
                Backup::AtEnd
            }
        }
    };
    // fsync on a block device writes its page cache out and flushes the device's own cache;
    // nothing more (BLKFLSBUF would only drop clean pages) is needed for the data to be there.
    target.device_file.sync_all().map_err(ImageError::io("sync", &device))?;
    drop(target.device_file);
    let reread = match target.kind {
        TargetKind::Disk(_) => match File::open(&device).and_then(|f| sys::reread_partitions(&f)) {
            Ok(()) => Reread::Done,
            Err(e) => Reread::Failed(e),
        },
        TargetKind::Partition { .. } | TargetKind::File => Reread::NotADisk,
    };
    Ok(Written { bytes: done, elapsed: start.elapsed(), backup, reread })
}

/// Opens the image and checks it: a raw, non-empty regular file, not truncated below what its
/// GPT says. Returns it, its size and its table.
fn check_image(image: &Path) -> Result<(File, u64, Option<Table>), ImageError> {
    let mut file = File::open(image).map_err(ImageError::io("open the image", image))?;
    let metadata = file.metadata().map_err(ImageError::io("look at", image))?;
    if !metadata.is_file() {
        return Err(ImageError::WriteImageNotFile { image: image.to_path_buf() });
    }
    let mut magic = [0u8; 4];
    let n = fill(&mut file, &mut magic).map_err(ImageError::io("read", image))?;
    if n == 0 {
        return Err(ImageError::WriteImageEmpty { image: image.to_path_buf() });
    }
    if &magic == QCOW2_MAGIC {
        let raw = image.parent().unwrap_or(Path::new("")).join("disk.img");
        return Err(ImageError::WriteQcow2 { image: image.to_path_buf(), raw });
    }
    let table = Table::read(&mut file).ok();
    if let Some(table) = &table {
        if table.sectors.saturating_mul(SECTOR) > metadata.len() {
            return Err(ImageError::WriteImageTruncated {
                image: image.to_path_buf(),
                bytes: metadata.len(),
                table_bytes: table.sectors.saturating_mul(SECTOR),
            });
        }
    }
    file.seek(SeekFrom::Start(0)).map_err(ImageError::io("read", image))?;
    Ok((file, metadata.len(), table))
}

/// The checks of a block device that nothing overrides: not the running system, not in use.
fn check_block(device: &Path, sysfs: &Sysfs, dir: &Path) -> Result<(), ImageError> {
    let mountinfo =
        std::fs::read_to_string("/proc/self/mountinfo").map_err(ImageError::io("read", "/proc/self/mountinfo"))?;
    let mounts = parse_mountinfo(&mountinfo);
    let family = sysfs.family(dir);
    let members: BTreeSet<DevNum> = family.iter().map(|(_, dev)| *dev).collect();
    let system: Vec<&str> = mounts
        .iter()
        .filter(|m| SYSTEM_MOUNTS.contains(&m.point.as_str()))
        .filter(|m| {
            let devs: Vec<DevNum> = [Some(m.dev), block_dev(&m.source)].into_iter().flatten().collect();
            !sysfs.below(&devs).is_disjoint(&members)
        })
        .map(|m| m.point.as_str())
        .collect();
    if !system.is_empty() {
        let mut points = system;
        points.dedup();
        return Err(ImageError::WriteRunningSystem { device: device.to_path_buf(), points: points.join(", ") });
    }
    for (name, dev) in &family {
        let mount = mounts.iter().find(|m| m.dev == *dev || block_dev(&m.source) == Some(*dev));
        if let Some(mount) = mount {
            return Err(ImageError::WriteInUse {
                device: device.to_path_buf(),
                what: format!("/dev/{name} is mounted on {}", mount.point),
                fix: format!("unmount it (`umount {}`) and try again", mount.point),
            });
        }
    }
    let swaps = std::fs::read_to_string("/proc/swaps").unwrap_or_default();
    for path in parse_swaps(&swaps) {
        if let Some((name, _)) = block_dev(&path).and_then(|d| family.iter().find(|(_, f)| *f == d)) {
            return Err(ImageError::WriteInUse {
                device: device.to_path_buf(),
                what: format!("/dev/{name} is in use as swap"),
                fix: format!("turn it off (`swapoff {path}`) and try again"),
            });
        }
    }
    for (name, _) in &family {
        let member = if *name == Sysfs::name(dir) { dir.to_path_buf() } else { dir.join(name) };
        if let Some(holder) = Sysfs::entries(&member.join("holders")).first() {
            return Err(ImageError::WriteInUse {
                device: device.to_path_buf(),
                what: format!("/dev/{name} is held by /dev/{holder} (device mapper, LVM, md RAID or a loop device)"),
                fix: format!(
                    "stop /dev/{holder} first (`dmsetup remove`, `vgchange -an`, `mdadm --stop` or `losetup -d`)"
                ),
            });
        }
    }
    Ok(())
}

/// The checks of a regular file as target (`--force`): not the image itself, not behind a
/// loop device, not swap.
fn check_file(device: &Path, metadata: &std::fs::Metadata, image: &Path, sysfs: &Sysfs) -> Result<(), ImageError> {
    let same = std::fs::metadata(image).is_ok_and(|i| i.dev() == metadata.dev() && i.ino() == metadata.ino());
    if same {
        return Err(ImageError::WriteInUse {
            device: device.to_path_buf(),
            what: "it is the image itself".into(),
            fix: "give another file or a disk".into(),
        });
    }
    let canonical = std::fs::canonicalize(device).map_err(ImageError::io("resolve", device))?;
    if let Some(loop_device) = sysfs.loop_backed_by(&canonical) {
        return Err(ImageError::WriteInUse {
            device: device.to_path_buf(),
            what: format!("it is attached to /dev/{loop_device}"),
            fix: format!("detach it (`losetup -d /dev/{loop_device}`) and try again"),
        });
    }
    let swaps = std::fs::read_to_string("/proc/swaps").unwrap_or_default();
    if parse_swaps(&swaps).iter().any(|path| std::fs::canonicalize(path).is_ok_and(|p| p == canonical)) {
        return Err(ImageError::WriteInUse {
            device: device.to_path_buf(),
            what: "it is in use as swap".into(),
            fix: format!("turn it off (`swapoff {}`) and try again", device.display()),
        });
    }
    Ok(())
}

fn check_size(device: &Path, bytes: u64, image_bytes: u64) -> Result<(), ImageError> {
    if bytes < image_bytes {
        return Err(ImageError::WriteTooSmall { device: device.to_path_buf(), bytes, image_bytes });
    }
    Ok(())
}

/// Failing to open the target: root is the usual fix.
fn open_error(device: &Path, source: io::Error) -> ImageError {
    if source.kind() == io::ErrorKind::PermissionDenied {
        ImageError::WriteNoPermission { device: device.to_path_buf() }
    } else {
        ImageError::io("open for writing", device)(source)
    }
}

/// Reads until `buffer` is full or the end of the file; the bytes read.
fn fill(file: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buffer.len() {
        match file.read(&mut buffer[n..]) {
            Ok(0) => break,
            Ok(m) => n += m,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The device number of `path` when it is a block device (a mount's source, a swap area).
fn block_dev(path: &str) -> Option<DevNum> {
    if !path.starts_with('/') {
        return None;
    }
    let metadata = std::fs::metadata(path).ok()?;
    metadata.file_type().is_block_device().then(|| DevNum::of(metadata.rdev()))
}

/// "y" or "yes", in any case.
fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// A size in powers of 1024: "512 bytes", "64 MiB", "1.5 GiB".
pub fn binary(bytes: u64) -> String {
    scaled(bytes, 1024.0, ["KiB", "MiB", "GiB", "TiB"])
}

/// A size in powers of 1000, as disks are sold: "32 GB", "1.5 TB".
pub fn decimal(bytes: u64) -> String {
    scaled(bytes, 1000.0, ["kB", "MB", "GB", "TB"])
}

fn scaled(bytes: u64, base: f64, units: [&str; 4]) -> String {
    let mut value = bytes as f64;
    if value < base {
        return format!("{bytes} bytes");
    }
    let mut unit = units[0];
    for next in units {
        unit = next;
        value /= base;
        if value < base {
            break;
        }
    }
    let text = format!("{value:.1}");
    format!("{} {unit}", text.strip_suffix(".0").unwrap_or(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(binary(512), "512 bytes");
        assert_eq!(binary(64 << 20), "64 MiB");
        assert_eq!(binary(3 << 29), "1.5 GiB");
        assert_eq!(decimal(32_010_928_128), "32 GB");
        assert_eq!(binary(32_010_928_128), "29.8 GiB");
        assert_eq!(decimal(2_000_398_934_016), "2 TB");
    }

    #[test]
    fn only_yes_is_yes() {
        for answer in ["y\n", "Y", "yes\n", " YES "] {
            assert!(is_yes(answer), "{answer:?}");
        }
        for answer in ["", "\n", "n", "no", "yess", "ja"] {
            assert!(!is_yes(answer), "{answer:?}");
        }
    }

    fn image_with_table(dir: &Path, sectors: u64) -> PathBuf {
        let path = dir.join("disk.img");
        let mut file = File::options().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
        file.set_len(sectors * SECTOR).unwrap();
        let table = Table {
            disk_guid: gpt::Guid::parse("0f5a7d3c-1e2b-4c6d-8e9f-a0b1c2d3e4f5").unwrap(),
            partitions: vec![gpt::Partition {
                number: 1,
                type_guid: gpt::Guid::parse("C12A7328-F81F-11D2-BA4B-00A0C93EC93B").unwrap(),
                guid: gpt::Guid::parse("11111111-2222-4333-8444-555555555501").unwrap(),
                first: 2048,
                last: 4095,
                attributes: 0,
                name: "ESP".into(),
            }],
            sectors,
        };
        table.write(&mut file).unwrap();
        path
    }

    #[test]
    fn images_qcow2_empty_and_truncated_are_refused() {
        let dir = std::env::temp_dir().join(format!("ostler-write-image-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let image = image_with_table(&dir, 8192);
        let (_, bytes, table) = check_image(&image).unwrap();
        assert_eq!((bytes, table.map(|t| t.sectors)), (8192 * SECTOR, Some(8192)));

        let qcow2 = dir.join("disk.qcow2");
        std::fs::write(&qcow2, b"QFI\xfb\0\0\0\x03").unwrap();
        let error = check_image(&qcow2).unwrap_err().to_string();
        assert!(error.contains("qcow2") && error.contains(&format!("{}", dir.join("disk.img").display())), "{error}");

        let empty = dir.join("empty.img");
        std::fs::write(&empty, b"").unwrap();
        assert!(check_image(&empty).unwrap_err().to_string().contains("empty"));

        File::options().write(true).open(&image).unwrap().set_len(4096 * SECTOR).unwrap();
        let error = check_image(&image).unwrap_err().to_string();
        assert!(error.contains("truncated"), "{error}");

        let plain = dir.join("plain.img");
        std::fs::write(&plain, vec![7u8; 4096]).unwrap();
        assert!(check_image(&plain).unwrap().2.is_none(), "an image without a GPT is written as it is");
        assert!(check_image(&dir).unwrap_err().to_string().contains("not a regular file"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_report_says_where_the_backup_went() {
        let written = Written {
            bytes: 64 << 20,
            elapsed: Duration::from_secs(2),
            backup: Backup::Moved(2_097_151),
            reread: Reread::Failed(io::Error::from_raw_os_error(nix::libc::EBUSY)),
        };
        let text = report(Path::new("/dev/sdb"), &written);
        assert!(text.contains("wrote 67108864 bytes (64 MiB) to /dev/sdb in 2.0 s (32 MiB/s)"), "{text}");
        assert!(text.contains("sector 2097151"), "{text}");
        assert!(text.contains("partprobe /dev/sdb"), "{text}");
        assert!(text.lines().all(|line| line.starts_with("ostler image write: ")), "{text}");
    }
}
