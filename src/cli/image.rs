//! `ostler image build`: options of the image builder. The work is in the `ostler-image` crate.

use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Build bootable images: a root directory, an initramfs and an ext4 disk; or an OCI image.
#[derive(Args, Debug)]
pub struct ImageArgs {
    #[command(subcommand)]
    pub command: ImageCommand,
}

/// What to do with images.
#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Build an image: OUT/root (the tree), OUT/initramfs.cpio.lz4 (newc, lz4; .cpio.gz with
    /// --compress gzip), OUT/disk.ext4 and OUT/boot.cpio.lz4 (the initramfs that boots it). With
    /// --format oci: OUT/root, OUT/oci (an OCI image layout) and OUT/image.oci.tar (the same
    /// image as an oci-archive), with ostler as the container's init; no initramfs or disk.
    ///
    /// The same inputs give the same bytes: every file is owned by 0:0 and carries the time
    /// --epoch (or SOURCE_DATE_EPOCH), entries are sorted, and the filesystem UUID and hash seed
    /// are fixed. Needs dpkg-deb (dpkg), mke2fs and debugfs (e2fsprogs), lz4 (or gzip), and
    /// apt-get (apt) when busybox-static has to be downloaded; no root privileges. --format oci
    /// needs gzip instead of mke2fs, debugfs and lz4.
    Build(Box<BuildArgs>),
    /// Write a disk image (OUT/disk.img of `ostler image build --format disk`) to a USB stick or
    /// disk, which then boots a machine: every byte of DEVICE is replaced.
    ///
    /// Refused, whatever the options: a device holding the running system (/, /usr or /boot on
    /// it, directly or under device mapper or md), a device with anything mounted, used as swap
    /// or held by device mapper, md or a loop device, a device smaller than the image, a disk
    /// with logical sectors other than 512 bytes (4Kn), and a qcow2 image. Refused unless
    /// --force: a partition, and a regular file (written in place, never grown). Shows the
    /// device's size, model and vendor and asks before writing (--yes does not ask; without a
    /// terminal on stdin, --yes is needed). Then moves the backup GPT to the end of a larger
    /// disk, syncs, and has the kernel re-read the partitions. Runs as root. Exit status: 0
    /// written, 1 declined at the question, 100 refused, 111 failed.
    Write(WriteArgs),
}

/// Options of `ostler image write`.
#[derive(Args, Debug)]
pub struct WriteArgs {
    /// The raw disk image: OUT/disk.img of `ostler image build --format disk` (not disk.qcow2).
    #[arg(value_name = "IMAGE")]
    pub image: PathBuf,

    /// The whole disk to write, such as /dev/sdb or /dev/disk/by-id/usb-…; `lsblk -d -o
    /// NAME,SIZE,MODEL,TRAN` lists the disks.
    #[arg(value_name = "DEVICE")]
    pub device: PathBuf,

    /// Write without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Also write into a partition, or into a regular file already at least as large as the
    /// image. Overrides nothing else.
    #[arg(long)]
    pub force: bool,
}

/// Options of `ostler image build`.
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// What goes into the image.
    #[arg(long, value_enum, default_value_t = ProfileArg::Minimal)]
    pub profile: ProfileArg,

    /// debian: a public key for root's ~/.ssh/authorized_keys (ssh logs in as root with it).
    #[arg(long, value_name = "FILE")]
    pub authorized_key: Option<PathBuf>,

    /// debian: a package to install besides the profile's (repeat for several).
    #[arg(long = "package", value_name = "NAME")]
    pub packages: Vec<String>,

    /// Output directory. A previous build there is replaced; a non-empty directory that is not
    /// one is refused.
    #[arg(long, value_name = "DIR", default_value = "target/image")]
    pub out: PathBuf,

    /// What to make of the tree. dir: a machine's images (initramfs, disk.ext4, boot
    /// initramfs). oci: an OCI image for container engines, in OUT/oci and OUT/image.oci.tar
    /// (`podman run oci-archive:OUT/image.oci.tar`): one gzip layer, the tree less the services
    /// only a machine runs (the gettys, klogd, hostname, loopback), and ENTRYPOINT
    /// ["/bin/ostler", "init", "--container", "--"] with no CMD, so the image runs its services
    /// until stopped, or the command given after the image name once they are up. --compress,
    /// --disk-size, --kernel-modules and --module are for dir only.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = FormatArg::Dir)]
    pub format: FormatArg,

    /// How the two initramfs images are compressed. lz4 (`lz4 -l -9`, the legacy frame format
    /// the kernel reads; CONFIG_RD_LZ4) decompresses about five times faster than gzip at
    /// boot: initramfs.cpio.lz4, boot.cpio.lz4. gzip (`gzip -n -9`) is for kernels or
    /// bootloaders without lz4: initramfs.cpio.gz, boot.cpio.gz.
    #[arg(long, value_enum, value_name = "METHOD", default_value_t = CompressArg::Lz4)]
    pub compress: CompressArg,

    /// The static (musl) ostler binary to install as /bin/ostler, with /sbin/init, /init and
    /// the power commands linked to it.
    #[arg(long, value_name = "PATH", default_value = "target/x86_64-unknown-linux-musl/release/ostler")]
    pub ostler: PathBuf,

    /// A busybox-static .deb to use. Default: the one in the cache directory, downloaded there
    /// with `apt-get download busybox-static` when there is none.
    #[arg(long, value_name = "PATH")]
    pub busybox_deb: Option<PathBuf>,

    /// Where downloaded packages are kept. Default: $XDG_CACHE_HOME/ostler, else
    /// $HOME/.cache/ostler.
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,

    /// The /etc skeleton tree copied over the root. Default: the source tree's skel/
    /// (skel-debian/ for --profile debian).
    #[arg(long, value_name = "DIR")]
    pub skel: Option<PathBuf>,

    /// The time, in seconds since 1970, that every file and filesystem field carries.
    /// Default: $SOURCE_DATE_EPOCH, else 1704067200 (2024-01-01).
    #[arg(long, value_name = "SECONDS")]
    pub epoch: Option<u64>,

    /// Size of disk.ext4 in MiB. Default: the contents, half as much again, plus 16 MiB (at
    /// least 32 MiB).
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(8..=1 << 20))]
    pub disk_size: Option<u64>,

    /// The /lib/modules/VERSION directory of the kernel that will boot disk.ext4: the modules
    /// --module names are copied from it into OUT/boot.cpio.lz4, the small initramfs that loads
    /// them, mounts the disk (root=) and switches to it. Default: the newest
    /// /lib/modules/VERSION with a /boot/vmlinuz-VERSION beside it (the kernel qemu/boot
    /// picks); without one, no boot.cpio.lz4 is made.
    #[arg(long, value_name = "DIR")]
    pub kernel_modules: Option<PathBuf>,

    /// A module the boot initramfs loads before it mounts the disk (repeat for several; their
    /// dependencies come along). Default: virtio_pci, virtio_blk, crc32c_generic
    /// and ext4 (a softdep of ext4 that modules.dep does not list, so it is named). With
    /// --format disk, added to the hardware set the disk's initramfs always loads (virtio,
    /// NVMe, VMD, AHCI/SATA, USB storage and host controllers, SD/MMC, USB keyboards, ext4,
    /// FAT).
    #[arg(long = "module", value_name = "NAME")]
    pub modules: Vec<String>,

    /// disk: the kernel command line built into the UKI (and GRUB's configuration with
    /// --bios). Default: root=PARTUUID=<the root partition> rootfstype=ext4 rw console=tty0
    /// console=ttyS0,115200; a line without root= gets the root partition put in front.
    #[arg(long, value_name = "TEXT")]
    pub cmdline: Option<String>,

    /// disk: also bootable by legacy BIOS: GRUB's BIOS stage in the MBR and a BIOS boot
    /// partition, the kernel and initramfs on the ESP as plain files (needs grub-pc-bin).
    /// UEFI still boots the UKI.
    #[arg(long)]
    pub bios: bool,

    /// disk: sign the UKI for Secure Boot with this unencrypted PEM private key (sbsign,
    /// package sbsigntool); needs --cert.
    #[arg(long, value_name = "KEY", requires = "cert")]
    pub sign: Option<PathBuf>,

    /// disk: the PEM certificate of --sign's key, the one to enroll in the firmware's db.
    #[arg(long, value_name = "CERT", requires = "sign")]
    pub cert: Option<PathBuf>,

    /// disk: the kernel put into the UKI. Default: /boot/vmlinuz-VERSION of --kernel-modules.
    #[arg(long, value_name = "FILE")]
    pub kernel: Option<PathBuf>,

    /// disk: systemd's EFI stub the UKI is built on.
    #[arg(long, value_name = "FILE", default_value = ostler_image::uki::STUB)]
    pub stub: PathBuf,
}

/// The profiles `--profile` accepts.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ProfileArg {
    /// Debian's busybox-static as the userland, ostler as init, skel/ as /etc: boots to a
    /// root login on the serial console and tty1.
    Minimal,
    /// Debian bookworm minbase (mmdebstrap; cached) with sshd, nginx, cron, rsyslog, udev and
    /// DHCP, ostler as init, skel-debian/: OUT/root, disk.ext4, disk.qcow2, boot.cpio.lz4.
    /// Runs as root.
    Debian,
}

/// The formats `--format` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// The machine's images (the default): initramfs, disk.ext4, boot initramfs.
    Dir,
    /// The machine's images and a GPT disk that firmware boots by itself: OUT/disk.img (raw),
    /// OUT/disk.qcow2, OUT/ostler.efi (the UKI on its ESP) and OUT/cmdline.
    Disk,
    /// An OCI image layout and oci-archive, with ostler as the container's init.
    Oci,
}

/// The compressions `--compress` accepts.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum CompressArg {
    /// lz4, legacy frame format (the default): fast to decompress at boot.
    Lz4,
    /// gzip: for kernels and bootloaders without lz4 support.
    Gzip,
}

pub fn run(args: ImageArgs) -> u8 {
    match args.command {
        ImageCommand::Build(build) => match options(*build) {
            Ok(options) => ostler_image::build(options),
            Err(message) => {
                eprintln!("ostler image build: {message}");
                100
            }
        },
        ImageCommand::Write(write) => ostler_image::write::run(&ostler_image::write::WriteOptions {
            image: write.image,
            device: write.device,
            force: write.force,
            yes: write.yes,
        }),
    }
}

/// Resolves the defaults that come from the environment.
fn options(args: BuildArgs) -> Result<ostler_image::Options, String> {
    let epoch = match (args.epoch, std::env::var("SOURCE_DATE_EPOCH")) {
        (Some(epoch), _) => epoch,
        (None, Ok(text)) if !text.trim().is_empty() => text.trim().parse().map_err(|_| {
            format!("SOURCE_DATE_EPOCH={text:?} is not a number of seconds; set it to e.g. 1704067200 or unset it")
        })?,
        (None, _) => ostler_image::DEFAULT_EPOCH,
    };
    let debian = matches!(args.profile, ProfileArg::Debian);
    if debian && args.format == FormatArg::Oci {
        return Err("--profile debian makes no OCI image; drop --format oci".into());
    }
    if args.format != FormatArg::Disk {
        let disk_only = [
            ("--cmdline", args.cmdline.is_some()),
            ("--bios", args.bios),
            ("--sign", args.sign.is_some()),
            ("--kernel", args.kernel.is_some()),
        ];
        if let Some((option, _)) = disk_only.iter().find(|(_, given)| *given) {
            return Err(format!("{option} is for the firmware-bootable disk; add --format disk"));
        }
    }
    if args.format == FormatArg::Oci {
        let machine_only = [
            ("--disk-size", args.disk_size.is_some()),
            ("--kernel-modules", args.kernel_modules.is_some()),
            ("--module", !args.modules.is_empty()),
        ];
        if let Some((option, _)) = machine_only.iter().find(|(_, given)| *given) {
            return Err(format!(
                "{option} is for the disk image, which --format oci does not make; drop it, or build with --format dir"
            ));
        }
    }
    let kernel_modules = args.kernel_modules.clone().or_else(ostler_image::boot_initramfs::host_modules);
    let cache = args
        .cache
        .or_else(default_cache)
        .ok_or("no cache directory: neither XDG_CACHE_HOME nor HOME is set; pass --cache DIR".to_string())?;
    Ok(ostler_image::Options {
        profile: match args.profile {
            ProfileArg::Minimal => ostler_image::Profile::Minimal,
            ProfileArg::Debian => ostler_image::Profile::Debian,
        },
        out: args.out,
        format: match args.format {
            FormatArg::Dir => ostler_image::Format::Dir,
            FormatArg::Disk => ostler_image::Format::Disk,
            FormatArg::Oci => ostler_image::Format::Oci,
        },
        compression: match args.compress {
            CompressArg::Lz4 => ostler_image::Compression::Lz4,
            CompressArg::Gzip => ostler_image::Compression::Gzip,
        },
        ostler: args.ostler,
        busybox_deb: args.busybox_deb,
        cache,
        skel: args.skel.unwrap_or_else(|| PathBuf::from(if debian { "skel-debian" } else { "skel" })),
        epoch,
        disk_size: args.disk_size.map(|mib| mib << 20),
        disk: ostler_image::disk::DiskOptions {
            stub: args.stub,
            kernel: match (&args.kernel, &kernel_modules) {
                (Some(kernel), _) => kernel.clone(),
                (None, Some(modules)) => PathBuf::from("/boot")
                    .join(format!("vmlinuz-{}", modules.file_name().unwrap_or_default().to_string_lossy())),
                (None, None) => PathBuf::from("/boot/vmlinuz"),
            },
            cmdline: ostler_image::disk::cmdline(args.cmdline.as_deref()),
            bios: args.bios,
            sign: args.sign.zip(args.cert),
        },
        kernel_modules,
        modules: match (args.format, args.modules.is_empty()) {
            (FormatArg::Disk, _) => {
                let hardware = ostler_image::boot_initramfs::HARDWARE_MODULES.iter().map(|m| m.to_string());
                hardware.chain(args.modules).collect()
            }
            (_, true) => ostler_image::boot_initramfs::DEFAULT_MODULES.iter().map(|m| m.to_string()).collect(),
            (_, false) => args.modules,
        },
        authorized_key: args.authorized_key,
        packages: args.packages,
    })
}

fn default_cache() -> Option<PathBuf> {
    let non_empty = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    non_empty("XDG_CACHE_HOME").or_else(|| non_empty("HOME").map(|home| home.join(".cache"))).map(|c| c.join("ostler"))
}
