//! The disk a machine's firmware boots by itself (`--format disk`): one GPT image with an
//! EFI System Partition holding a Unified Kernel Image ([`uki`](crate::uki)) at the
//! removable-media path `\EFI\BOOT\BOOTX64.EFI`, and the ext4 root partition the UKI's command
//! line names by partition UUID. With `bios`, GRUB's BIOS stage goes into the MBR and a BIOS
//! boot partition, and the kernel and initramfs onto the ESP as plain files, so legacy BIOS
//! boots the same kernel, initramfs and command line.
//!
//! No root, loop devices or mounts: the FAT filesystem is made in a file by `mkfs.vfat` and
//! filled by `mcopy`; the partitions are copied into place and the table is written here
//! ([`ostler_core::gpt`]). Every GUID and the FAT volume id are fixed, every time is the
//! epoch, so the same inputs give the same bytes.

use crate::host::{self, GRUB_MKIMAGE, MCOPY, MKFS_VFAT, QEMU_IMG, SBSIGN};
use crate::tree::{read_dir_sorted, write};
use crate::{uki, ImageError};
use ostler_core::gpt::{Guid, Partition, Table, SECTOR};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The disk's GUID and the partitions' (fixed, for reproducible bytes).
const DISK_GUID: &str = "0571e500-0000-4000-8000-000000000010";
const ESP_GUID: &str = "0571e500-0000-4000-8000-000000000011";
/// The root partition's GUID: the default command line's `root=PARTUUID=`.
pub const ROOT_PARTUUID: &str = "0571e500-0000-4000-8000-000000000012";
const BIOS_GUID: &str = "0571e500-0000-4000-8000-000000000013";
/// Partition types: the EFI System Partition, the Discoverable Partitions spec's "Linux root
/// (x86-64)", and GRUB's BIOS boot partition.
const ESP_TYPE: &str = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
const ROOT_TYPE: &str = "4f68bce3-e8cd-4db1-96e7-fbcaf984b709";
const BIOS_TYPE: &str = "21686148-6449-6e6f-744e-656564454649";
/// The FAT volume id (shown as the ESP's UUID, `4F53-5441`).
const FAT_SERIAL: &str = "4f535441";
/// Partitions start on MiB boundaries; the first at 1 MiB, as every partitioner does.
const ALIGN: u64 = 2048;
/// The ESP's size floor: 64 MiB with 512-byte clusters is FAT32's 65 525 clusters and more.
const ESP_MIN: u64 = 64 << 20;
/// Where the hybrid's plain kernel and initramfs live on the ESP.
const BIOS_KERNEL: &str = "ostler/vmlinuz";
const BIOS_INITRD: &str = "ostler/initrd.img";
/// GRUB's i386-pc files (package grub-pc-bin).
const GRUB_I386: &str = "/usr/lib/grub/i386-pc";

/// The kernel command line without `--cmdline`: the root partition by its GUID, read-write,
/// and the console on the screen and the serial port (the last one is /dev/console, where
/// ostler's boot messages go).
pub fn default_cmdline() -> String {
    format!("root=PARTUUID={ROOT_PARTUUID} rootfstype=ext4 rw console=tty0 console=ttyS0,115200")
}

/// The command line to build in: `given` (from `--cmdline`), with the root partition added
/// when it names no `root=`.
pub fn cmdline(given: Option<&str>) -> String {
    match given {
        None => default_cmdline(),
        Some(text) if text.split_whitespace().any(|w| w.starts_with("root=")) => text.trim().to_string(),
        Some(text) => format!("root=PARTUUID={ROOT_PARTUUID} rootfstype=ext4 rw {}", text.trim()),
    }
}

/// How the disk is made, besides its contents.
#[derive(Clone, Debug, Default)]
pub struct DiskOptions {
    /// systemd's EFI stub.
    pub stub: PathBuf,
    /// The kernel (bzImage).
    pub kernel: PathBuf,
    /// The kernel command line, as [`cmdline`] makes it.
    pub cmdline: String,
    /// Also bootable by legacy BIOS, through GRUB.
    pub bios: bool,
    /// Sign the UKI for Secure Boot with this key and certificate (PEM).
    pub sign: Option<(PathBuf, PathBuf)>,
}

/// What [`make`] wrote.
#[derive(Clone, Debug)]
pub struct Made {
    /// The UKI (also on the ESP).
    pub uki: PathBuf,
    /// The raw disk image.
    pub raw: PathBuf,
    /// The same disk as qcow2.
    pub qcow2: PathBuf,
    /// The command line inside the UKI (and GRUB's configuration), as a file.
    pub cmdline: PathBuf,
}

/// Makes `out/ostler.efi`, `out/disk.img`, `out/disk.qcow2` and `out/cmdline` from the root
/// filesystem image `root_fs` and the boot initramfs; `os_release` names the system.
pub fn make(
    options: &DiskOptions,
    out: &Path,
    root_fs: &Path,
    initramfs: &Path,
    os_release: &[u8],
    epoch: u64,
    work: &Path,
) -> Result<Made, ImageError> {
    let read = |path: &Path| std::fs::read(path).map_err(ImageError::io("read", path));
    let kernel = read(&options.kernel)?;
    let initrd = read(initramfs)?;
    let stub = uki::read_stub(&options.stub)?;
    let parts = uki::Parts { os_release, cmdline: options.cmdline.as_bytes(), kernel: &kernel, initrd: &initrd };
    let made = Made {
        uki: out.join("ostler.efi"),
        raw: out.join("disk.img"),
        qcow2: out.join("disk.qcow2"),
        cmdline: out.join("cmdline"),
    };
    let unsigned = uki::build(&stub, &options.stub, &parts)?;
    match &options.sign {
        None => write(&made.uki, &unsigned)?,
        Some((key, cert)) => sign(&unsigned, key, cert, &made.uki, work)?,
    }
    write(&made.cmdline, options.cmdline.as_bytes())?;

    let esp_dir = work.join("esp");
    write(&esp_dir.join("EFI/BOOT/BOOTX64.EFI"), &read(&made.uki)?)?;
    if options.bios {
        write(&esp_dir.join(BIOS_KERNEL), &kernel)?;
        write(&esp_dir.join(BIOS_INITRD), &initrd)?;
    }
    let esp = work.join("esp.img");
    let esp_size = esp_size(&esp_dir)?;
    make_esp(&esp_dir, &esp, esp_size, epoch)?;

    let root_size = root_fs.metadata().map_err(ImageError::io("read", root_fs))?.len();
    let esp_sectors = esp_size / SECTOR;
    let root_first = ALIGN + esp_sectors.div_ceil(ALIGN) * ALIGN;
    let root_sectors = root_size.div_ceil(SECTOR);
    // The backup table takes the last 33 sectors; a MiB keeps the end aligned too.
    let sectors = (root_first + root_sectors).div_ceil(ALIGN) * ALIGN + ALIGN;
    let mut partitions = vec![
        partition(1, ESP_TYPE, ESP_GUID, ALIGN, esp_sectors, "ESP"),
        partition(2, ROOT_TYPE, ROOT_PARTUUID, root_first, root_sectors, "root"),
    ];
    let core = if options.bios {
        let core = grub_core(&options.cmdline, work)?;
        let first = ostler_core::gpt::FIRST_USABLE;
        partitions.push(partition(3, BIOS_TYPE, BIOS_GUID, first, ALIGN - first, "BIOS boot"));
        Some(core)
    } else {
        None
    };

    let staged = work.join("disk.img");
    let mut disk = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&staged)
        .map_err(ImageError::io("create", &staged))?;
    disk.set_len(sectors * SECTOR).map_err(ImageError::io("size", &staged))?;
    copy_sparse(&esp, &mut disk, ALIGN * SECTOR, &staged)?;
    copy_sparse(root_fs, &mut disk, root_first * SECTOR, &staged)?;
    let table = Table { disk_guid: guid(DISK_GUID), partitions, sectors };
    table.write(&mut disk).map_err(ImageError::io("write the partition table of", &staged))?;
    if let Some(core) = core {
        install_grub(&mut disk, &core).map_err(ImageError::io("write GRUB's BIOS stage into", &staged))?;
    }
    disk.sync_all().map_err(ImageError::io("write", &staged))?;
    drop(disk);
    std::fs::rename(&staged, &made.raw).map_err(ImageError::io("move into place", &made.raw))?;

    // qemu-img writes no time or name into a qcow2; the same raw image gives the same bytes.
    host::run(QEMU_IMG.command()?.args(["convert", "-f", "raw", "-O", "qcow2"]).arg(&made.raw).arg(&made.qcow2), "")?;
    Ok(made)
}

fn partition(number: u32, kind: &str, id: &str, first: u64, sectors: u64, name: &str) -> Partition {
    Partition {
        number,
        type_guid: guid(kind),
        guid: guid(id),
        first,
        last: first + sectors - 1,
        attributes: 0,
        name: name.into(),
    }
}

fn guid(text: &str) -> Guid {
    Guid::parse(text).unwrap_or(Guid::NONE)
}

/// The ESP's size: [`ESP_MIN`], or the files and a quarter more, rounded to MiB.
fn esp_size(dir: &Path) -> Result<u64, ImageError> {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).map_err(ImageError::io("read directory", &dir))?.flatten() {
            let meta = entry.metadata().map_err(ImageError::io("read", entry.path()))?;
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                total += meta.len().div_ceil(4096) * 4096;
            }
        }
    }
    Ok((total + total / 4 + (4 << 20)).max(ESP_MIN).div_ceil(1 << 20) << 20)
}

/// Makes the FAT32 filesystem image `image` of `size` bytes holding the tree `dir`.
fn make_esp(dir: &Path, image: &Path, size: u64, epoch: u64) -> Result<(), ImageError> {
    set_times(dir, epoch)?;
    let _ = std::fs::remove_file(image);
    // --invariant pins the volume id and label time; -i after it gives ours. -h: the sectors
    // before the partition, which some firmware checks.
    host::run(
        MKFS_VFAT
            .command()?
            .args(["-C", "-F", "32", "-n", "ESP", "--invariant", "-i", FAT_SERIAL, "-h"])
            .arg(ALIGN.to_string())
            .arg(image)
            .arg((size / 1024).to_string()),
        "",
    )?;
    let mut copy = MCOPY.command()?;
    // FAT keeps local time: UTC makes it the epoch everywhere. -m keeps the (epoch) mtimes,
    // -s copies directories with their contents.
    copy.env("TZ", "UTC").env("MTOOLS_SKIP_CHECK", "1").arg("-i").arg(image).args(["-s", "-m"]);
    for entry in read_dir_sorted(dir)? {
        copy.arg(dir.join(entry));
    }
    host::run(copy.arg("::/"), "").map(drop)
}

/// Gives every file and directory under `dir` the epoch as its modification time.
fn set_times(dir: &Path, epoch: u64) -> Result<(), ImageError> {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch);
    for name in read_dir_sorted(dir)? {
        let path = dir.join(name);
        if path.is_dir() {
            set_times(&path, epoch)?;
        }
        let file = std::fs::File::open(&path).map_err(ImageError::io("open", &path))?;
        file.set_modified(time).map_err(ImageError::io("set the time of", &path))?;
    }
    Ok(())
}

/// Copies the file `from` into `disk` at `offset`, leaving holes where it is all zeros (the
/// disk file is new, so they read as zeros).
fn copy_sparse(from: &Path, disk: &mut std::fs::File, offset: u64, disk_path: &Path) -> Result<(), ImageError> {
    let mut source = std::fs::File::open(from).map_err(ImageError::io("read", from))?;
    let mut block = vec![0u8; 1 << 16];
    let mut at = offset;
    loop {
        let n = read_full(&mut source, &mut block).map_err(ImageError::io("read", from))?;
        if n == 0 {
            return Ok(());
        }
        if block[..n].iter().any(|&b| b != 0) {
            disk.seek(SeekFrom::Start(at)).map_err(ImageError::io("write", disk_path))?;
            disk.write_all(&block[..n]).map_err(ImageError::io("write", disk_path))?;
        }
        at += n as u64;
    }
}

fn read_full(file: &mut std::fs::File, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Signs the UKI with `sbsign` into `target`.
fn sign(unsigned: &[u8], key: &Path, cert: &Path, target: &Path, work: &Path) -> Result<(), ImageError> {
    let key_text = std::fs::read(key).map_err(ImageError::io("read the signing key", key))?;
    // sbsign asks for a passphrase on the terminal; a build must not stop for that.
    if key_text.windows(9).any(|w| w == b"ENCRYPTED") {
        return Err(ImageError::DiskOption(format!(
            "{}: the key is encrypted and sbsign would ask for its passphrase; decrypt a copy first \
             (openssl pkey -in {0} -out KEY.plain) and pass that to --sign",
            key.display()
        )));
    }
    let input = work.join("ostler-unsigned.efi");
    write(&input, unsigned)?;
    host::run(
        SBSIGN.command()?.arg("--key").arg(key).arg("--cert").arg(cert).arg("--output").arg(target).arg(&input),
        "--sign takes an unencrypted PEM private key and --cert its PEM certificate",
    )
    .map(drop)
}

/// GRUB's BIOS core image: it finds the ESP on the disk it was loaded from and boots the
/// plain kernel and initramfs there with `cmdline`. Made by `grub-mkimage` with an embedded
/// configuration (reproducible, unlike grub-mkstandalone).
fn grub_core(cmdline: &str, work: &Path) -> Result<Vec<u8>, ImageError> {
    if !Path::new(GRUB_I386).join("boot.img").is_file() {
        return Err(ImageError::MissingTool { tool: "/usr/lib/grub/i386-pc/boot.img", package: "grub-pc-bin" });
    }
    // Plain commands only: no `if`, no variables (the core image has no `normal` module).
    // Serial and screen both, as the UKI's console= does.
    let config = format!(
        "serial --unit=0 --speed=115200\nterminal_input serial console\nterminal_output serial console\n\
         linux /{BIOS_KERNEL} {cmdline}\ninitrd /{BIOS_INITRD}\nboot\n"
    );
    let config_path = work.join("grub-early.cfg");
    write(&config_path, config.as_bytes())?;
    let core = work.join("core.img");
    // "(,gpt1)": the first partition of the disk GRUB was loaded from, whatever BIOS calls it;
    // GRUB sets `root` to it, so the paths above need no device.
    host::run(
        GRUB_MKIMAGE
            .command()?
            .args(["-O", "i386-pc", "-d", GRUB_I386, "-p", "(,gpt1)/grub", "-c"])
            .arg(&config_path)
            .arg("-o")
            .arg(&core)
            .args(["biosdisk", "part_gpt", "fat", "linux", "echo", "serial", "terminal"]),
        "",
    )?;
    let bytes = std::fs::read(&core).map_err(ImageError::io("read", &core))?;
    let room = (ALIGN - ostler_core::gpt::FIRST_USABLE) * SECTOR;
    if bytes.len() as u64 > room || bytes.len() < 512 {
        return Err(ImageError::DiskOption(format!(
            "GRUB's core image is {} bytes; the BIOS boot partition holds {room}",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// Does what `grub-bios-setup` does, on a file: GRUB's boot.img into the MBR's code area
/// (keeping the table and signature), pointed at the core image, and the core image into the
/// BIOS boot partition, its first sector pointed at the rest.
fn install_grub(disk: &mut std::fs::File, core: &[u8]) -> std::io::Result<()> {
    let boot = std::fs::read(Path::new(GRUB_I386).join("boot.img"))?;
    if boot.len() != 512 {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "boot.img is not one sector"));
    }
    let first = ostler_core::gpt::FIRST_USABLE;
    let mut mbr = [0u8; 512];
    disk.seek(SeekFrom::Start(0))?;
    disk.read_exact(&mut mbr)?;
    let bpb: Vec<u8> = mbr[0x03..0x5A].to_vec();
    mbr[..0x1B8].copy_from_slice(&boot[..0x1B8]);
    // boot.img's BIOS parameter block area stays the disk's.
    mbr[0x03..0x5A].copy_from_slice(&bpb);
    // The LBA of the core image's first sector.
    mbr[0x5C..0x64].copy_from_slice(&first.to_le_bytes());
    // Boot from the drive the BIOS says (DL), and skip boot.img's floppy/drive check.
    mbr[0x64] = 0xFF;
    mbr[0x66..0x68].copy_from_slice(&[0x90, 0x90]);
    let mut core = core.to_vec();
    // The core image's first sector (diskboot.img) lists where the rest is: right after it.
    core[0x1F4..0x1FC].copy_from_slice(&(first + 1).to_le_bytes());
    core[0x1FE..0x200].copy_from_slice(&0x0820u16.to_le_bytes());
    disk.seek(SeekFrom::Start(0))?;
    disk.write_all(&mbr)?;
    disk.seek(SeekFrom::Start(first * SECTOR))?;
    disk.write_all(&core)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_partition_is_added_unless_named() {
        assert!(default_cmdline().starts_with(&format!("root=PARTUUID={ROOT_PARTUUID} ")));
        assert!(default_cmdline().ends_with("console=tty0 console=ttyS0,115200"), "serial last: /dev/console");
        assert_eq!(cmdline(Some("root=/dev/sda2 quiet")), "root=/dev/sda2 quiet");
        let added = cmdline(Some("console=ttyS1"));
        assert!(added.starts_with("root=PARTUUID=") && added.ends_with(" console=ttyS1"), "{added}");
    }

    #[test]
    fn the_esp_has_a_floor_and_grows_with_its_files() {
        let dir = std::env::temp_dir().join(format!("ostler-esp-size-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("EFI")).unwrap();
        std::fs::write(dir.join("EFI/small"), [0u8; 10]).unwrap();
        assert_eq!(esp_size(&dir).unwrap(), ESP_MIN);
        std::fs::File::create(dir.join("EFI/big")).unwrap().set_len(80 << 20).unwrap();
        let size = esp_size(&dir).unwrap();
        assert!(size >= 100 << 20 && size.is_multiple_of(1 << 20), "{size}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
