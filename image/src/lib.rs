//! The image builder: `ostler image build` makes a bootable system from a profile.
//!
//! The `minimal` profile ([`minimal`]) is Debian's busybox-static, the static ostler binary
//! (as `/sbin/init`, `/init` and the power commands) and the `skel/` tree. From that root
//! directory come two outputs, both byte-reproducible for the same inputs and epoch:
//!
//! - `initramfs.cpio.lz4`: a newc archive ([`cpio`]) written here, in a fixed order, with fixed
//!   owners and times, compressed by `lz4 -l` (or `initramfs.cpio.gz`, by `gzip -n`: see
//!   [`Compression`]);
//! - `disk.ext4`: an ext4 image made by `mke2fs -d` with its random parts pinned ([`ext4`]).
//!
//! With kernel modules, a third: `boot.cpio.lz4` ([`boot_initramfs`]), which boots the disk.
//!
//! The `debian` profile ([`debian`]) is a Debian bookworm root made by mmdebstrap with ostler
//! as init: `disk.ext4` (with Debian's owners), `disk.qcow2` and `boot.cpio.lz4`; no initramfs
//! of the whole system.
//!
//! With [`Format::Disk`], the machine's images and one more ([`disk`]): a GPT disk image that
//! firmware boots by itself, its EFI System Partition holding a Unified Kernel Image ([`uki`])
//! of the kernel, the boot initramfs and the command line (`disk.img`, `disk.qcow2`,
//! `ostler.efi`).
//!
//! With [`Format::Oci`], the tree (less the services only a machine can run) becomes an OCI
//! image instead ([`oci`]): an image layout directory and its oci-archive, whose layer is a tar
//! written here too ([`tar`]).
//!
//! [`write`] copies a disk image onto a USB stick or disk, refusing every unsafe target.
//!
//! Host programs ([`host`]) are found with the package to install when they are missing.
#![deny(missing_docs)]

pub mod boot_initramfs;
pub mod busybox;
pub mod cpio;
pub mod debian;
pub mod disk;
mod elf;
mod error;
pub mod ext4;
mod host;
pub mod minimal;
pub mod oci;
mod tar;
mod tree;
pub mod uki;
pub mod write;

pub use error::ImageError;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The epoch used when neither `--epoch` nor `SOURCE_DATE_EPOCH` gives one:
/// 2024-01-01T00:00:00Z. Any fixed value makes builds reproducible; this one is recognisable.
pub const DEFAULT_EPOCH: u64 = 1_704_067_200;

/// The file in an output directory that marks it as ours (so a rebuild may clear it).
const MARKER: &str = ".ostler-image";

/// What goes into an image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Profile {
    /// busybox-static, ostler, skel/.
    #[default]
    Minimal,
    /// Debian bookworm (mmdebstrap), ostler, skel-debian/.
    Debian,
}

/// What a build makes of the root tree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// A machine's images: the initramfs, the ext4 disk and, with kernel modules, the
    /// initramfs that boots the disk.
    #[default]
    Dir,
    /// [`Format::Dir`]'s images and a disk that firmware boots by itself ([`disk`]).
    Disk,
    /// An OCI image for a container engine ([`oci`]): the layout `oci/` and the oci-archive
    /// `image.oci.tar`, with ostler as the entrypoint. No initramfs, no disk.
    Oci,
}

/// How the initramfs images are compressed.
///
/// The kernel decompresses the initramfs before it runs `/init`, so the choice is boot time:
/// measured under QEMU TCG (`bench/boot/run --icount 0 --compress …`), gzip's inflate costs
/// about 20 ms per MB it unpacks and lz4 about a fifth of that (the same boot reached `/init`
/// ≈ 50 ms earlier with lz4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// lz4's *legacy* frame format (`lz4 -l -9`), the only lz4 format the kernel reads
    /// (CONFIG_RD_LZ4): `initramfs.cpio.lz4`, `boot.cpio.lz4`.
    #[default]
    Lz4,
    /// gzip (`gzip -n -9`), for kernels and bootloaders without lz4: `initramfs.cpio.gz`,
    /// `boot.cpio.gz`.
    Gzip,
}

impl Compression {
    /// Every compression, so a rebuild can clear what another one left.
    pub const ALL: [Compression; 2] = [Compression::Lz4, Compression::Gzip];

    /// The file name of the whole-system initramfs.
    pub fn initramfs_name(self) -> &'static str {
        match self {
            Compression::Lz4 => "initramfs.cpio.lz4",
            Compression::Gzip => "initramfs.cpio.gz",
        }
    }

    /// The file name of the initramfs that boots the disk.
    pub fn boot_initramfs_name(self) -> &'static str {
        match self {
            Compression::Lz4 => "boot.cpio.lz4",
            Compression::Gzip => "boot.cpio.gz",
        }
    }

    /// The command that compresses a file to its standard output. Neither writes a name or a
    /// time into its output (lz4's legacy frames have no room for them; gzip is told `-n`), so
    /// the same archive gives the same bytes.
    fn command(self) -> Result<Command, ImageError> {
        Ok(match self {
            Compression::Lz4 => {
                let mut command = host::LZ4.command()?;
                command.args(["-l", "-9", "-q", "-c"]);
                command
            }
            Compression::Gzip => {
                let mut command = host::GZIP.command()?;
                command.args(["-n", "-9", "-c"]);
                command
            }
        })
    }
}

/// What to build, and from what.
#[derive(Clone, Debug)]
pub struct Options {
    /// The profile.
    pub profile: Profile,
    /// The output directory: `root/`, `initramfs.cpio.lz4`, `disk.ext4` (or `oci/` and
    /// `image.oci.tar`) go there.
    pub out: PathBuf,
    /// What is made of the root tree.
    pub format: Format,
    /// How the initramfs images are compressed (and so named).
    pub compression: Compression,
    /// The static ostler binary to install.
    pub ostler: PathBuf,
    /// A busybox-static `.deb` to use instead of the cached or downloaded one.
    pub busybox_deb: Option<PathBuf>,
    /// Where downloaded `.deb` files are kept between builds.
    pub cache: PathBuf,
    /// The `/etc` skeleton tree (`skel/` of the source tree).
    pub skel: PathBuf,
    /// The time every file carries, in seconds since 1970 (SOURCE_DATE_EPOCH).
    pub epoch: u64,
    /// The disk size in bytes; `None` sizes it to the contents.
    pub disk_size: Option<u64>,
    /// A `/lib/modules/VERSION` directory: with one, `boot.cpio.lz4` (the initramfs that boots
    /// `disk.ext4`) is made with the modules `modules` names.
    pub kernel_modules: Option<PathBuf>,
    /// The modules the boot initramfs loads before it mounts the disk.
    pub modules: Vec<String>,
    /// The debian profile: root's `~/.ssh/authorized_keys`.
    pub authorized_key: Option<PathBuf>,
    /// The debian profile: packages besides its own (in `image/src/debian.sh`).
    pub packages: Vec<String>,
    /// [`Format::Disk`]: the stub, kernel, command line, BIOS stage and signing.
    pub disk: disk::DiskOptions,
}

/// What a build made.
#[derive(Clone, Debug)]
pub struct Built {
    /// The root directory.
    pub root: PathBuf,
    /// How many entries it holds.
    pub entries: usize,
    /// What was made of it.
    pub outputs: Outputs,
}

/// The images a build made from the root directory, by [`Format`].
#[derive(Clone, Debug)]
pub enum Outputs {
    /// [`Format::Dir`].
    Machine {
        /// The compressed initramfs (not with the debian profile).
        initramfs: Option<PathBuf>,
        /// The ext4 disk image.
        disk: PathBuf,
        /// The disk as qcow2 (the debian profile).
        qcow2: Option<PathBuf>,
        /// The initramfs that boots the disk, when kernel modules were given.
        boot_initramfs: Option<PathBuf>,
        /// [`Format::Disk`]: the firmware-bootable disk.
        firmware: Option<disk::Made>,
    },
    /// [`Format::Oci`].
    Oci(oci::Made),
}

/// Builds an image, printing what it made on stdout or the reason it could not on stderr;
/// returns the exit code (0, or 111 on failure).
pub fn build(options: Options) -> u8 {
    match make(&options) {
        Ok(built) => {
            let size = |path: &Path| path.metadata().map_or(0, |m| m.len());
            // The debian profile's root is not read back, so not counted.
            if built.entries > 0 {
                println!("root       {} ({} entries)", built.root.display(), built.entries);
            }
            match &built.outputs {
                Outputs::Machine { initramfs, disk, qcow2, boot_initramfs, firmware } => {
                    for (name, path) in [("initramfs", initramfs), ("qcow2", qcow2)] {
                        if let Some(path) = path {
                            println!("{name:10} {} ({} bytes)", path.display(), size(path));
                        }
                    }
                    println!("disk       {} ({} MiB, label {})", disk.display(), size(disk) >> 20, ext4::LABEL);
                    match boot_initramfs {
                        Some(boot) => println!("boot       {} ({} bytes; boots the disk)", boot.display(), size(boot)),
                        None => println!("boot       none: no kernel modules found; pass --kernel-modules /lib/modules/VERSION to boot the disk"),
                    }
                    if let Some(made) = firmware {
                        println!(
                            "uki        {} ({} bytes; \\EFI\\BOOT\\BOOTX64.EFI on the ESP)",
                            made.uki.display(),
                            size(&made.uki)
                        );
                        println!(
                            "image      {} ({} MiB; GPT: ESP and root; write it to a disk with `ostler image write`)",
                            made.raw.display(),
                            size(&made.raw) >> 20
                        );
                        println!("qcow2      {} ({} bytes)", made.qcow2.display(), size(&made.qcow2));
                        println!("cmdline    {}", std::fs::read_to_string(&made.cmdline).unwrap_or_default());
                    }
                }
                Outputs::Oci(made) => {
                    println!(
                        "oci        {} (image layout; manifest {}, layer {} bytes)",
                        made.layout.display(),
                        made.manifest,
                        made.layer_size
                    );
                    println!(
                        "archive    {} ({} bytes; run it: podman run --rm oci-archive:{})",
                        made.archive.display(),
                        size(&made.archive),
                        made.archive.display()
                    );
                }
            }
            0
        }
        Err(e) => {
            eprintln!("ostler image build: {e}");
            111
        }
    }
}

/// Builds an image; the library form of [`build`].
pub fn make(options: &Options) -> Result<Built, ImageError> {
    let out = &options.out;
    // An epoch the outputs cannot record is refused before anything is cleared.
    match options.format {
        Format::Dir | Format::Disk => cpio_mtime(options).map(|_| ())?,
        Format::Oci => oci::check_epoch(options.epoch)?,
    }
    prepare_output(out)?;
    let root = out.join("root");
    let work = out.join(".work");
    std::fs::create_dir_all(&root).map_err(ImageError::io("create directory", &root))?;
    std::fs::create_dir_all(&work).map_err(ImageError::io("create directory", &work))?;

    match options.profile {
        Profile::Minimal => minimal::populate(options, &root, &work)?,
        Profile::Debian => {
            let ostler = debian::populate(options, &root)?;
            let disk = out.join("disk.ext4");
            let size = options.disk_size.unwrap_or(1 << 30);
            ext4::format(&root, &disk, size, options.epoch, &[])?;
            debian::fix_times(&disk, &root, options.epoch)?;
            let boot_initramfs = boot_image(options, &ostler, None, &work)?;
            let (qcow2, firmware) = if options.format == Format::Disk {
                let made = firmware_disk(options, &root, &disk, boot_initramfs.as_deref(), &work)?;
                (None, Some(made))
            } else {
                let qcow2 = out.join("disk.qcow2");
                debian::qcow2(&disk, &qcow2, options.epoch)?;
                (Some(qcow2), None)
            };
            std::fs::remove_dir_all(&work).map_err(ImageError::io("remove", &work))?;
            let outputs = Outputs::Machine { initramfs: None, disk, qcow2, boot_initramfs, firmware };
            return Ok(Built { root, entries: 0, outputs });
        }
    }
    if options.format == Format::Oci {
        oci::keep_container_services(&root)?;
    }
    tree::normalize(&root, options.epoch, minimal::SPECIAL_MODES)?;
    let entries = tree::entries(&root)?;

    let outputs = match options.format {
        Format::Dir | Format::Disk => machine_images(options, &root, &entries, &work)?,
        Format::Oci => {
            Outputs::Oci(oci::make(&entries, options.epoch, &work, &out.join(oci::LAYOUT), &out.join(oci::ARCHIVE))?)
        }
    };

    std::fs::remove_dir_all(&work).map_err(ImageError::io("remove", &work))?;
    Ok(Built { root, entries: entries.len(), outputs })
}

/// The initramfs, the disk and (with kernel modules) the boot initramfs, from the root tree.
fn machine_images(options: &Options, root: &Path, entries: &[cpio::Entry], work: &Path) -> Result<Outputs, ImageError> {
    let out = &options.out;
    let mtime = cpio_mtime(options)?;
    let initramfs = out.join(options.compression.initramfs_name());
    write_initramfs(entries, mtime, options.compression, work, &initramfs)?;

    let disk = out.join("disk.ext4");
    let size = options.disk_size.unwrap_or_else(|| ext4::size_for(entries));
    let staged_disk = work.join("disk.ext4");
    ext4::make(root, entries, &staged_disk, size, options.epoch)?;
    std::fs::rename(&staged_disk, &disk).map_err(ImageError::io("move into place", &disk))?;

    let read = |relative: &str| {
        let path = root.join(relative);
        std::fs::read(&path).map_err(ImageError::io("read", &path))
    };
    let boot_initramfs = boot_image(options, &read(minimal::OSTLER)?, Some(read("bin/busybox")?), work)?;
    let firmware = match options.format {
        Format::Disk => Some(firmware_disk(options, root, &disk, boot_initramfs.as_deref(), work)?),
        _ => None,
    };
    Ok(Outputs::Machine { initramfs: Some(initramfs), disk, qcow2: None, boot_initramfs, firmware })
}

/// The firmware-bootable disk of the root filesystem image `root_fs`, booted through the boot
/// initramfs; the system's name comes from the root's os-release.
fn firmware_disk(
    options: &Options,
    root: &Path,
    root_fs: &Path,
    boot_initramfs: Option<&Path>,
    work: &Path,
) -> Result<disk::Made, ImageError> {
    let Some(initramfs) = boot_initramfs else {
        return Err(ImageError::NoModules {
            path: PathBuf::from("/lib/modules"),
            reason: "--format disk boots through the boot initramfs, which needs the kernel's modules".into(),
        });
    };
    // Debian's /etc/os-release is a relative link into /usr/lib, which resolves inside root.
    let os_release = ["etc/os-release", "usr/lib/os-release"]
        .iter()
        .find_map(|name| std::fs::read(root.join(name)).ok())
        .unwrap_or_else(|| b"NAME=ostler\nID=ostler\n".to_vec());
    disk::make(&options.disk, &options.out, root_fs, initramfs, &os_release, options.epoch, work)
}

/// The initramfs that boots the disk, when kernel modules were given; `busybox` is the static
/// busybox's bytes, else they come from the busybox-static `.deb`.
fn boot_image(
    options: &Options,
    ostler: &[u8],
    busybox: Option<Vec<u8>>,
    work: &Path,
) -> Result<Option<PathBuf>, ImageError> {
    let Some(modules_dir) = &options.kernel_modules else { return Ok(None) };
    let busybox = match busybox {
        Some(bytes) => bytes,
        None => {
            let deb = busybox::deb(options.busybox_deb.as_deref(), &options.cache)?;
            let binary = busybox::unpack(&deb, &work.join("busybox"))?;
            std::fs::read(&binary).map_err(ImageError::io("read", &binary))?
        }
    };
    let boot_root = work.join("boot-root");
    boot_initramfs::populate(&boot_root, ostler, &busybox, modules_dir, &options.modules)?;
    tree::normalize(&boot_root, options.epoch, boot_initramfs::SPECIAL_MODES)?;
    let target = options.out.join(options.compression.boot_initramfs_name());
    write_initramfs(&tree::entries(&boot_root)?, cpio_mtime(options)?, options.compression, work, &target)?;
    Ok(Some(target))
}

/// The epoch as the initramfs's modification time: newc has 32 bits for it (until 2106).
fn cpio_mtime(options: &Options) -> Result<u32, ImageError> {
    u32::try_from(options.epoch).map_err(|_| ImageError::Io {
        action: "use the epoch (past 2106, too large for cpio) for",
        path: options.out.clone(),
        source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
    })
}

/// Makes `out` ready: created if missing, cleared of a previous build (the images of either
/// compression and of either format, so none is left from an earlier build to be booted or run
/// by mistake), refused when it holds something else.
fn prepare_output(out: &Path) -> Result<(), ImageError> {
    match std::fs::read_dir(out) {
        Ok(mut children) => {
            if children.next().is_some() && !out.join(MARKER).exists() {
                return Err(ImageError::ForeignOutput { path: out.to_path_buf() });
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(out).map_err(ImageError::io("create directory", out))?;
        }
        Err(e) => return Err(ImageError::io("read directory", out)(e)),
    }
    std::fs::write(out.join(MARKER), b"made by ostler image build; the directory is cleared on rebuild\n")
        .map_err(ImageError::io("write", out.join(MARKER)))?;
    for name in ["root", ".work", oci::LAYOUT] {
        let path = out.join(name);
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(ImageError::io("remove", &path))?;
        }
    }
    let initramfs_names = Compression::ALL.into_iter().flat_map(|c| [c.initramfs_name(), c.boot_initramfs_name()]);
    for name in initramfs_names.chain(["disk.ext4", "disk.qcow2", "disk.img", "ostler.efi", "cmdline", oci::ARCHIVE]) {
        let path = out.join(name);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(ImageError::io("remove", &path)(e)),
            _ => {}
        }
    }
    Ok(())
}

/// Writes the entries (plus the device nodes) as a newc archive and compresses it with
/// `compression` (`lz4 -l` or `gzip -n`: no name, no time in the output).
fn write_initramfs(
    entries: &[cpio::Entry],
    mtime: u32,
    compression: Compression,
    work: &Path,
    target: &Path,
) -> Result<(), ImageError> {
    let mut all = entries.to_vec();
    for (path, mode, major, minor) in ext4::DEVICES {
        all.push(cpio::Entry { path: path.into(), permissions: *mode, kind: cpio::Kind::CharDevice(*major, *minor) });
    }
    cpio::sort(&mut all);
    let mut archive = Vec::new();
    cpio::write(&all, mtime, &mut archive).map_err(ImageError::io("write", target))?;
    let plain = work.join("initramfs.cpio");
    std::fs::write(&plain, &archive).map_err(ImageError::io("write", &plain))?;
    let staged = work.join("initramfs.cpio.compressed");
    let file = std::fs::File::create(&staged).map_err(ImageError::io("create", &staged))?;
    host::run(compression.command()?.arg(&plain).stdout(file), "")?;
    std::fs::rename(&staged, target).map_err(ImageError::io("move into place", target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_say_the_compression() {
        assert_eq!(Compression::default(), Compression::Lz4);
        assert_eq!(Compression::Lz4.initramfs_name(), "initramfs.cpio.lz4");
        assert_eq!(Compression::Lz4.boot_initramfs_name(), "boot.cpio.lz4");
        assert_eq!(Compression::Gzip.initramfs_name(), "initramfs.cpio.gz");
        assert_eq!(Compression::Gzip.boot_initramfs_name(), "boot.cpio.gz");
    }

    #[test]
    fn a_rebuild_clears_the_images_of_either_compression_and_format() {
        let out = std::env::temp_dir().join(format!("ostler-image-prepare-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(out.join("root/etc")).unwrap();
        std::fs::create_dir_all(out.join("oci/blobs/sha256")).unwrap();
        std::fs::write(out.join(MARKER), b"").unwrap();
        let images =
            ["initramfs.cpio.lz4", "boot.cpio.lz4", "initramfs.cpio.gz", "boot.cpio.gz", "disk.ext4", "image.oci.tar"];
        for name in images {
            std::fs::write(out.join(name), b"old").unwrap();
        }
        prepare_output(&out).unwrap();
        for name in images.iter().chain(&["root", "oci"]) {
            assert!(!out.join(name).exists(), "{name} is left from the previous build");
        }
        assert!(out.join(MARKER).exists());
        std::fs::remove_dir_all(&out).unwrap();
    }

    #[test]
    fn lz4_writes_the_legacy_frame_the_kernel_reads() {
        if host::LZ4.find().is_err() {
            eprintln!("lz4 is not installed (apt-get install lz4): not checked");
            return;
        }
        let work = std::env::temp_dir().join(format!("ostler-image-lz4-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).unwrap();
        let entries = [cpio::Entry { path: "etc".into(), permissions: 0o755, kind: cpio::Kind::Directory }];
        let target = work.join("out.cpio.lz4");
        write_initramfs(&entries, 1_704_067_200, Compression::Lz4, &work, &target).unwrap();
        let first = std::fs::read(&target).unwrap();
        // The legacy magic, 0x184C2102 little-endian; the newer frame format (0x184D2204) is
        // refused by the kernel ("invalid magic at start of compressed archive").
        assert_eq!(first[..4], [0x02, 0x21, 0x4c, 0x18]);
        write_initramfs(&entries, 1_704_067_200, Compression::Lz4, &work, &target).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), first, "two compressions of one archive differ");
        std::fs::remove_dir_all(&work).unwrap();
    }
}
