//! `ostler image write` against real loop devices (as root; CI is root): it refuses a regular
//! file and a partition without --force, a mounted device, a device smaller than the image,
//! the disk holding the running system and a missing --yes without a terminal, each with its
//! own message; and it writes an image to a larger loop device and to a larger file (--force)
//! so that the bytes match, the backup GPT is at the new end and `sgdisk -v` finds no problem.
//! Booting a written disk is tests/disk_image.rs's job.
//!
//! The image is made here with `ostler_core::gpt` (an ESP and a root partition, random bytes in
//! both). Loop devices are global to the machine: a guard detaches each one, even when a test
//! panics; mounts happen inside `unshare --mount` and vanish with it. Every refusal is tried
//! without --yes and with stdin not a terminal, so a check that failed to refuse would still
//! write nothing. A sandbox without loop devices fails the tests with what is missing.

mod util;

use ostler_core::gpt::{Guid, Partition, Table, SECTOR};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Command;
use util::{cmd, ostler, wait_until, TempTree, DEADLINE};

/// The image's size in sectors (8 MiB) and its partitions' bounds.
const IMAGE_SECTORS: u64 = 16_384;
const ESP: (u64, u64) = (2048, 8191);
const ROOT: (u64, u64) = (8192, 16_350);

/// A program from PATH or the sbin directories (losetup, sgdisk and mkfs.ext4 live there).
fn tool(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from));
    dirs.map(|dir| dir.join(name)).find(|candidate| candidate.is_file()).unwrap_or_else(|| {
        panic!("this test needs `{name}`, which is not installed; install it (Debian: apt-get install {package})")
    })
}

/// Runs a helper tool and panics with its stderr when it fails; its stdout.
fn must(command: &mut Command) -> String {
    let (code, stdout, stderr) = cmd(command);
    assert_eq!(code, 0, "{command:?} failed: {stderr}");
    stdout
}

/// A loop device over a file of the temp tree, detached on drop (even when the test panics).
struct Loop {
    device: PathBuf,
}

impl Loop {
    /// A loop device over `file`; with `scan`, the kernel is asked for its partitions.
    fn attach(file: &Path, scan: bool) -> Loop {
        let mut command = Command::new(tool("losetup", "mount"));
        command.args(["--find", "--show"]);
        if scan {
            command.arg("--partscan");
        }
        let (code, stdout, stderr) = cmd(command.arg(file));
        assert_eq!(code, 0, "this test needs loop devices (`losetup --find --show` failed: {stderr})");
        Loop { device: PathBuf::from(stdout.trim()) }
    }

    /// The device of partition `number` (`/dev/loop3p1`).
    fn partition(&self, number: u32) -> PathBuf {
        PathBuf::from(format!("{}p{number}", self.device.display()))
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new(tool("losetup", "mount")).arg("-d").arg(&self.device).status();
    }
}

/// An 8 MiB GPT disk image in `dir`: an ESP and a root partition full of random bytes (so a
/// misplaced block shows), with both table copies.
fn image(dir: &TempTree) -> PathBuf {
    let mut bytes = vec![0u8; (IMAGE_SECTORS * SECTOR) as usize];
    let mut random = std::fs::File::open("/dev/urandom").unwrap();
    random.read_exact(&mut bytes[(ESP.0 * SECTOR) as usize..((ROOT.1 + 1) * SECTOR) as usize]).unwrap();
    // Boot code in the MBR: relocating the table must leave it.
    bytes[..440].iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
    let mut disk = std::io::Cursor::new(bytes);
    table(IMAGE_SECTORS).write(&mut disk).unwrap();
    dir.file("disk.img", disk.into_inner())
}

fn table(sectors: u64) -> Table {
    let partition = |number, type_guid, guid, (first, last): (u64, u64), name: &str| Partition {
        number,
        type_guid: Guid::parse(type_guid).unwrap(),
        guid: Guid::parse(guid).unwrap(),
        first,
        last,
        attributes: 0,
        name: name.into(),
    };
    Table {
        disk_guid: Guid::parse("0f5a7d3c-1e2b-4c6d-8e9f-a0b1c2d3e4f5").unwrap(),
        partitions: vec![
            partition(1, "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "11111111-2222-4333-8444-555555555501", ESP, "ESP"),
            partition(2, "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", "11111111-2222-4333-8444-555555555502", ROOT, "root"),
        ],
        sectors,
    }
}

/// A file of `mib` MiB in the tree, all zeros (sparse).
fn blank(dir: &TempTree, name: &str, mib: u64) -> PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path).unwrap().set_len(mib << 20).unwrap();
    path
}

/// `ostler image write ARGS…` with stdin not a terminal: (exit code, stdout, stderr).
fn write(args: &[&Path]) -> (i32, String, String) {
    cmd(Command::new(ostler()).args(["image", "write"]).args(args))
}

/// Asserts a refusal: exit 100, one message starting with our name and holding `expected`,
/// and nothing written to `target` (still all zeros, when it is given).
fn refused(outcome: (i32, String, String), expected: &str, target: Option<&Path>) {
    let (code, stdout, stderr) = outcome;
    assert_eq!(code, 100, "not refused: stdout {stdout}, stderr {stderr}");
    assert!(stderr.contains(expected), "the refusal does not say {expected:?}: {stderr}");
    assert!(stderr.lines().all(|line| line.starts_with("ostler image write: ")), "{stderr}");
    if let Some(target) = target {
        let mut bytes = Vec::new();
        std::fs::File::open(target).unwrap().take(1 << 20).read_to_end(&mut bytes).unwrap();
        assert!(bytes.iter().all(|&b| b == 0), "{} was written to", target.display());
    }
}

#[test]
fn refuses_a_regular_file_without_force() {
    let dir = TempTree::new("write-file");
    let image = image(&dir);
    let target = blank(&dir, "target.img", 16);
    refused(write(&[&image, &target]), "is a regular file, not a block device", Some(&target));
    refused(write(&[&image, &target]), "pass --force", None);
    refused(write(&[&image, &dir.join("missing")]), "does not exist; find the disk with `lsblk", None);
    refused(write(&[&image, Path::new("/dev/null")]), "is a character device, not a disk", None);
    refused(write(&[&image, dir.path()]), "is a directory, not a disk", None);
    // The file is never grown: a smaller one is refused even with --force.
    let small = blank(&dir, "small.img", 4);
    refused(
        write(&[Path::new("--force"), Path::new("--yes"), &image, &small]),
        "is smaller than the image",
        Some(&small),
    );
    assert_eq!(std::fs::metadata(&small).unwrap().len(), 4 << 20);
}

#[test]
fn refuses_a_qcow2_image() {
    let dir = TempTree::new("write-qcow2");
    let qcow2 = dir.file("disk.qcow2", b"QFI\xfb\0\0\0\x03 and the rest");
    let target = blank(&dir, "target.img", 16);
    refused(write(&[Path::new("--force"), &qcow2, &target]), "is a qcow2 image", Some(&target));
    refused(
        write(&[Path::new("--force"), &qcow2, &target]),
        &format!("write {}", dir.join("disk.img").display()),
        None,
    );
}

#[test]
fn refuses_a_partition_without_force() {
    let dir = TempTree::new("write-partition");
    let image = image(&dir);
    let backing = blank(&dir, "disk.img.backing", 32);
    let mut layout = table(65_536);
    layout.partitions.truncate(1);
    layout.partitions[0].last = 2048 + IMAGE_SECTORS - 1;
    layout.write(&mut std::fs::File::options().read(true).write(true).open(&backing).unwrap()).unwrap();
    let disk = Loop::attach(&backing, true);
    let partition = disk.partition(1);
    // --partscan needs the kernel's GPT parser (CONFIG_EFI_PARTITION); without it the
    // partition is added by hand (BLKPG, as partx does).
    if !partition.exists() {
        must(Command::new(tool("partx", "util-linux")).arg("--add").arg(&disk.device));
    }
    wait_until(&format!("{} to appear", partition.display()), DEADLINE, || partition.exists());
    let disk_name = disk.device.file_name().unwrap().to_string_lossy().into_owned();
    refused(
        write(&[&image, &partition]),
        &format!("is a partition of /dev/{disk_name}, not a whole disk; the image holds its own partition table, so give /dev/{disk_name}"),
        None,
    );
    // With --force, the partition (8 MiB) takes the image; the disk's table is left alone.
    let (code, _, stderr) = write(&[Path::new("--force"), Path::new("--yes"), &image, &partition]);
    assert_eq!(code, 0, "{stderr}");
    let mut written = vec![0u8; (IMAGE_SECTORS * SECTOR) as usize];
    let mut device = std::fs::File::open(&disk.device).unwrap();
    device.seek(SeekFrom::Start(2048 * SECTOR)).unwrap();
    device.read_exact(&mut written).unwrap();
    assert!(written == std::fs::read(&image).unwrap(), "the partition does not hold the image");
    assert_eq!(Table::read(&mut device).unwrap().partitions.len(), 1, "the disk's own table changed");
}

#[test]
fn refuses_a_mounted_device() {
    let dir = TempTree::new("write-mounted");
    let image = image(&dir);
    let backing = blank(&dir, "fs.img", 32);
    let device = Loop::attach(&backing, false);
    must(Command::new(tool("mkfs.ext4", "e2fsprogs")).args(["-q", "-F"]).arg(&device.device));
    let point = dir.dir("mnt");
    // Mounted in a private mount namespace that ends with the shell: nothing to unmount.
    let script = r#"mount "$1" "$2" || exit 90; shift 2; exec "$@""#;
    let (code, stdout, stderr) = cmd(Command::new(tool("unshare", "util-linux"))
        .args(["--mount", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(&device.device)
        .arg(&point)
        .arg(ostler())
        .args(["image", "write", "--force"])
        .arg(&image)
        .arg(&device.device));
    assert_ne!(code, 90, "unable to mount {}: {stderr}", device.device.display());
    let name = device.device.file_name().unwrap().to_string_lossy().into_owned();
    refused(
        (code, stdout, stderr),
        &format!("is in use: /dev/{name} is mounted on {}; unmount it (`umount {}`)", point.display(), point.display()),
        None,
    );
    let mut superblock = [0u8; 2];
    let mut file = std::fs::File::open(&device.device).unwrap();
    file.seek(SeekFrom::Start(1024 + 0x38)).unwrap();
    file.read_exact(&mut superblock).unwrap();
    assert_eq!(superblock, [0x53, 0xEF], "the filesystem was overwritten");
}

#[test]
fn refuses_a_device_smaller_than_the_image() {
    let dir = TempTree::new("write-small");
    let image = image(&dir);
    let device = Loop::attach(&blank(&dir, "small.img", 4), false);
    refused(
        write(&[Path::new("--yes"), &image, &device.device]),
        "is smaller than the image (4194304 bytes, the image 8388608); use a disk of at least 8 MiB",
        Some(&device.device),
    );
}

/// The disk the running system's `/` is on (`/dev/vda`, the disk of `/dev/sda2`…), found as
/// the kernel reports it: mountinfo's device number of `/`, resolved in /sys/dev/block.
fn root_disk() -> Option<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let numbers = mountinfo.lines().map(|line| line.split(' ').collect::<Vec<_>>()).find(|f| f.get(4) == Some(&"/"))?
        [2]
    .to_string();
    let dir = std::fs::canonicalize(format!("/sys/dev/block/{numbers}")).ok()?;
    let disk = if dir.join("partition").exists() { dir.parent()?.to_path_buf() } else { dir };
    Some(Path::new("/dev").join(disk.file_name()?))
}

/// The disk of the first block device mountinfo lists (where a container's /etc/hostname and
/// /etc/resolv.conf come from), for when `/` itself is an overlay.
fn first_mounted_disk() -> Option<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mountinfo.lines().find_map(|line| {
        let dir = std::fs::canonicalize(format!("/sys/dev/block/{}", line.split(' ').nth(2)?)).ok()?;
        let disk = if dir.join("partition").exists() { dir.parent()?.to_path_buf() } else { dir };
        Some(Path::new("/dev").join(disk.file_name()?)).filter(|path| path.exists())
    })
}

#[test]
fn refuses_the_disk_of_the_running_system() {
    let dir = TempTree::new("write-root");
    let image = image(&dir);
    // Without --yes and with stdin not a terminal: were the check broken, the question would
    // still refuse, and the exclusive open would find the disk busy.
    match root_disk() {
        Some(disk) => {
            refused(write(&[&image, &disk]), &format!("{} holds the running system (/", disk.display()), None)
        }
        None => {
            // `/` is an overlay or tmpfs (a container): no disk holds it, so the disk its
            // bind-mounted files come from is refused as mounted instead.
            let disk = first_mounted_disk().expect("no block device is mounted anywhere: nothing to try the check on");
            eprintln!("/ is on no block device here; checking {} (mounted) instead", disk.display());
            refused(write(&[&image, &disk]), "is in use: ", None);
        }
    }
}

#[test]
fn refuses_to_write_unasked_without_a_terminal() {
    let dir = TempTree::new("write-unasked");
    let image = image(&dir);
    let device = Loop::attach(&blank(&dir, "target.img", 32), false);
    let outcome = write(&[&image, &device.device]);
    assert!(
        outcome.2.contains(&format!("{}: 33554432 bytes (33.6 MB, 32 MiB)", device.device.display())),
        "{}",
        outcome.2
    );
    assert!(outcome.2.contains("every byte on it will be lost"), "{}", outcome.2);
    refused(outcome, "standard input is not a terminal, so nobody can confirm", Some(&device.device));
}

/// Checks a written 32 MiB target: the image's bytes (less what the move of the backup table
/// rewrites), both tables, the backup at the end, and sgdisk's verdict.
fn check_written(target: &Path, image: &Path, stdout: &str) {
    let sectors = 65_536;
    assert!(stdout.contains("wrote 8388608 bytes (8 MiB)"), "{stdout}");
    assert!(stdout.contains(&format!("moved the backup GPT to sector {}", sectors - 1)), "{stdout}");
    let image = std::fs::read(image).unwrap();
    let written = std::fs::read(target).unwrap();
    assert_eq!(written.len() as u64, sectors * SECTOR);
    assert!(written[..440] == image[..440], "the MBR's boot code changed");
    // From the primary entry array to the partitions' end, every byte is the image's.
    let (from, to) = ((2 * SECTOR) as usize, ((ROOT.1 + 1) * SECTOR) as usize);
    assert!(written[from..to] == image[from..to], "the written bytes differ from the image's");
    let mut file = std::fs::File::open(target).unwrap();
    let read = Table::read(&mut file).unwrap();
    assert_eq!(read, table(sectors), "the primary table does not describe the whole target");
    assert_eq!(&written[((sectors - 1) * SECTOR) as usize..][..8], b"EFI PART", "no backup header in the last sector");
    assert_ne!(&written[((IMAGE_SECTORS - 1) * SECTOR) as usize..][..8], b"EFI PART", "the old backup header is left");
    let (code, stdout, stderr) = cmd(Command::new(tool("sgdisk", "gdisk")).arg("--verify").arg(target));
    assert!(code == 0 && stdout.contains("No problems found"), "sgdisk -v: {stdout}{stderr}");
}

#[test]
fn writes_a_larger_loop_device() {
    let dir = TempTree::new("write-loop");
    let image = image(&dir);
    let device = Loop::attach(&blank(&dir, "target.img", 32), false);
    let (code, stdout, stderr) = write(&[Path::new("--yes"), &image, &device.device]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("removable no; every byte on it will be lost"), "{stderr}");
    check_written(&device.device, &image, &stdout);
}

#[test]
fn writes_a_larger_file_with_force() {
    let dir = TempTree::new("write-forced-file");
    let image = image(&dir);
    let target = blank(&dir, "target.img", 32);
    let (code, stdout, stderr) = write(&[Path::new("--force"), Path::new("--yes"), &image, &target]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("a regular file of 33554432 bytes"), "{stderr}");
    assert_eq!(std::fs::metadata(&target).unwrap().len(), 32 << 20, "the file changed size");
    check_written(&target, &image, &stdout);
    // A file a loop device is attached to is in use, --force or not.
    let attached = Loop::attach(&target, false);
    let name = attached.device.file_name().unwrap().to_string_lossy().into_owned();
    refused(
        write(&[Path::new("--force"), Path::new("--yes"), &image, &target]),
        &format!("is in use: it is attached to /dev/{name}; detach it (`losetup -d /dev/{name}`)"),
        None,
    );
}
