//! The image builder: `ostler image build` makes a bootable system from a profile.
//!
//! The `minimal` profile ([`minimal`]) is Debian's busybox-static, the static ostler binary
//! (as `/sbin/init`, `/init` and the power commands) and the `skel/` tree. From that root
//! directory come two outputs, both byte-reproducible for the same inputs and epoch:
//!
//! - `initramfs.cpio.gz`: a newc archive ([`cpio`]) written here, in a fixed order, with fixed
//!   owners and times, compressed by `gzip -n`;
//! - `disk.ext4`: an ext4 image made by `mke2fs -d` with its random parts pinned ([`ext4`]).
//!
//! Host programs ([`host`]) are found with the package to install when they are missing.
#![deny(missing_docs)]

pub mod boot_initramfs;
pub mod busybox;
pub mod cpio;
mod elf;
mod error;
pub mod ext4;
mod host;
pub mod minimal;
mod tree;

pub use error::ImageError;

use std::path::{Path, PathBuf};

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
}

/// What to build, and from what.
#[derive(Clone, Debug)]
pub struct Options {
    /// The profile.
    pub profile: Profile,
    /// The output directory: `root/`, `initramfs.cpio.gz`, `disk.ext4` go there.
    pub out: PathBuf,
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
    /// A `/lib/modules/VERSION` directory: with one, `boot.cpio.gz` (the initramfs that boots
    /// `disk.ext4`) is made with the modules `modules` names.
    pub kernel_modules: Option<PathBuf>,
    /// The modules the boot initramfs loads before it mounts the disk.
    pub modules: Vec<String>,
}

/// What a build made.
#[derive(Clone, Debug)]
pub struct Built {
    /// The root directory.
    pub root: PathBuf,
    /// How many entries it holds.
    pub entries: usize,
    /// The compressed initramfs.
    pub initramfs: PathBuf,
    /// The ext4 disk image.
    pub disk: PathBuf,
    /// The initramfs that boots the disk, when kernel modules were given.
    pub boot_initramfs: Option<PathBuf>,
}

/// Builds an image, printing what it made on stdout or the reason it could not on stderr;
/// returns the exit code (0, or 111 on failure).
pub fn build(options: Options) -> u8 {
    match make(&options) {
        Ok(built) => {
            let size = |path: &Path| path.metadata().map_or(0, |m| m.len());
            println!("root       {} ({} entries)", built.root.display(), built.entries);
            println!("initramfs  {} ({} bytes)", built.initramfs.display(), size(&built.initramfs));
            println!("disk       {} ({} MiB, label {})", built.disk.display(), size(&built.disk) >> 20, ext4::LABEL);
            match &built.boot_initramfs {
                Some(boot) => println!("boot       {} ({} bytes; boots the disk)", boot.display(), size(boot)),
                None => println!("boot       none: no kernel modules found; pass --kernel-modules /lib/modules/VERSION to boot the disk"),
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
    let mtime = u32::try_from(options.epoch).map_err(|_| ImageError::Io {
        action: "use the epoch (past 2106, too large for cpio) for",
        path: out.clone(),
        source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
    })?;
    prepare_output(out)?;
    let root = out.join("root");
    let work = out.join(".work");
    std::fs::create_dir_all(&root).map_err(ImageError::io("create directory", &root))?;
    std::fs::create_dir_all(&work).map_err(ImageError::io("create directory", &work))?;

    match options.profile {
        Profile::Minimal => minimal::populate(options, &root, &work)?,
    }
    tree::normalize(&root, options.epoch, minimal::SPECIAL_MODES)?;
    let entries = tree::entries(&root)?;

    let initramfs = out.join("initramfs.cpio.gz");
    write_initramfs(&entries, mtime, &work, &initramfs)?;

    let disk = out.join("disk.ext4");
    let size = options.disk_size.unwrap_or_else(|| ext4::size_for(&entries));
    let staged_disk = work.join("disk.ext4");
    ext4::make(&root, &entries, &staged_disk, size, options.epoch)?;
    std::fs::rename(&staged_disk, &disk).map_err(ImageError::io("move into place", &disk))?;

    let boot_initramfs = match &options.kernel_modules {
        Some(modules_dir) => {
            let boot_root = work.join("boot-root");
            let read = |relative: &str| {
                let path = root.join(relative);
                std::fs::read(&path).map_err(ImageError::io("read", &path))
            };
            boot_initramfs::populate(
                &boot_root,
                &read(minimal::OSTLER)?,
                &read("bin/busybox")?,
                modules_dir,
                &options.modules,
            )?;
            tree::normalize(&boot_root, options.epoch, boot_initramfs::SPECIAL_MODES)?;
            let target = out.join("boot.cpio.gz");
            write_initramfs(&tree::entries(&boot_root)?, mtime, &work, &target)?;
            Some(target)
        }
        None => None,
    };

    std::fs::remove_dir_all(&work).map_err(ImageError::io("remove", &work))?;
    Ok(Built { root, entries: entries.len(), initramfs, disk, boot_initramfs })
}

/// Makes `out` ready: created if missing, cleared of a previous build, refused when it holds
/// something else.
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
    for name in ["root", ".work"] {
        let path = out.join(name);
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(ImageError::io("remove", &path))?;
        }
    }
    Ok(())
}

/// Writes the entries (plus the device nodes) as a newc archive and compresses it with
/// `gzip -n` (no name, no time in the gzip header).
fn write_initramfs(entries: &[cpio::Entry], mtime: u32, work: &Path, target: &Path) -> Result<(), ImageError> {
    let mut all = entries.to_vec();
    for (path, mode, major, minor) in ext4::DEVICES {
        all.push(cpio::Entry { path: path.into(), permissions: *mode, kind: cpio::Kind::CharDevice(*major, *minor) });
    }
    cpio::sort(&mut all);
    let mut archive = Vec::new();
    cpio::write(&all, mtime, &mut archive).map_err(ImageError::io("write", target))?;
    let plain = work.join("initramfs.cpio");
    std::fs::write(&plain, &archive).map_err(ImageError::io("write", &plain))?;
    let staged = work.join("initramfs.cpio.gz");
    let file = std::fs::File::create(&staged).map_err(ImageError::io("create", &staged))?;
    host::run(host::GZIP.command()?.args(["-n", "-9", "-c"]).arg(&plain).stdout(file), "")?;
    std::fs::rename(&staged, target).map_err(ImageError::io("move into place", target))
}
