//! The `minimal` profile: Debian's busybox-static for the userland, the static ostler binary
//! as init and power commands, and the `skel/` tree for `/etc`.

use crate::{busybox, elf, tree, ImageError, Options};
use std::path::{Path, PathBuf};

/// Directories every image has, even empty: mount points and the places services write to.
pub const DIRECTORIES: &[&str] =
    &["bin", "dev", "etc", "proc", "root", "run", "sbin", "sys", "tmp", "usr/bin", "usr/sbin", "var/log"];

/// Paths whose mode is not the usual 0755 / 0644.
pub const SPECIAL_MODES: &[(&str, u32)] = &[("etc/shadow", 0o600), ("root", 0o700), ("tmp", 0o1777)];

/// Where ostler lives in the image.
pub const OSTLER: &str = "bin/ostler";

/// The names under which ostler is installed; argv[0] selects what it does.
pub const OSTLER_LINKS: &[&str] =
    &["init", "sbin/init", "sbin/poweroff", "sbin/reboot", "sbin/halt", "sbin/shutdown", "sbin/service"];

/// Fills `root` (an empty directory) with the minimal profile; `work` is scratch space.
pub fn populate(options: &Options, root: &Path, work: &Path) -> Result<(), ImageError> {
    let ostler = read_static(&options.ostler, true)?;
    if !options.skel.is_dir() {
        return Err(ImageError::NoSkel { path: options.skel.clone() });
    }
    let deb = busybox::deb(options.busybox_deb.as_deref(), &options.cache)?;
    let unpacked = work.join("busybox");
    let busybox_binary = busybox::unpack(&deb, &unpacked)?;
    let busybox_bytes = read_static(&busybox_binary, false)?;
    let applets = busybox::applets(&busybox_binary)?;

    for dir in DIRECTORIES {
        let path = root.join(dir);
        std::fs::create_dir_all(&path).map_err(ImageError::io("create directory", &path))?;
    }
    write(&root.join("bin/busybox"), &busybox_bytes)?;
    let copyright = unpacked.join("usr/share/doc/busybox-static/copyright");
    if copyright.is_file() {
        let target = root.join("usr/share/doc/busybox-static/copyright");
        let bytes = std::fs::read(&copyright).map_err(ImageError::io("read", &copyright))?;
        write(&target, &bytes)?;
    }
    for applet in &applets {
        tree::symlink(Path::new("/bin/busybox"), &root.join(applet))?;
    }
    write(&root.join(OSTLER), &ostler)?;
    for link in OSTLER_LINKS {
        tree::symlink(&Path::new("/").join(OSTLER), &root.join(link))?;
    }
    tree::copy_tree(&options.skel, root)
}

/// Reads a binary that must be static x86-64 (the image has no loader or libc).
pub(crate) fn read_static(path: &Path, is_ostler: bool) -> Result<Vec<u8>, ImageError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && is_ostler => {
            return Err(ImageError::NoOstler { path: path.to_path_buf() })
        }
        Err(e) => return Err(ImageError::io("read", path)(e)),
    };
    match elf::static_x86_64_problem(&bytes) {
        None => Ok(bytes),
        Some(reason) => Err(ImageError::NotStatic { path: path.to_path_buf(), reason }),
    }
}

fn write(path: &PathBuf, bytes: &[u8]) -> Result<(), ImageError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(ImageError::io("create directory", parent))?;
    }
    std::fs::write(path, bytes).map_err(ImageError::io("write", path))?;
    // Executables: the mode is settled by tree::normalize from this execute bit.
    use std::os::unix::fs::PermissionsExt;
    let mode = if bytes.starts_with(b"\x7fELF") { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(ImageError::io("set the mode of", path))
}
