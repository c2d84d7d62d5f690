//! The ext4 disk image: `mke2fs -d ROOT` with everything random pinned (UUID, directory hash
//! seed, the times it reads from the clock), then a `debugfs` pass that sets what mke2fs copies
//! from the host and cannot be told otherwise — inode change times and owners — and adds the
//! device nodes an unprivileged build cannot create on the host.

use crate::cpio::{Entry, Kind};
use crate::host::{self, DEBUGFS, MKE2FS};
use crate::ImageError;
use std::fmt::Write as _;
use std::path::Path;

/// The filesystem UUID of every ostler image (fixed, for reproducible bytes).
pub const UUID: &str = "0571e500-0000-4000-8000-000000000001";
/// The directory-index hash seed (fixed, for reproducible bytes).
const HASH_SEED: &str = "0571e500-0000-4000-8000-000000000002";
/// The volume label: `root=LABEL=ostler` finds the disk.
pub const LABEL: &str = "ostler";
/// Block size: always 4 KiB, so the host's mke2fs.conf "small" type does not pick 1 KiB.
const BLOCK: u64 = 4096;
const MIB: u64 = 1 << 20;

/// A disk size that fits `entries` with room to spare: the data rounded to blocks, half as
/// much again, plus 16 MiB for the journal, metadata and logs; at least 32 MiB.
pub fn size_for(entries: &[Entry]) -> u64 {
    let data: u64 = entries
        .iter()
        .map(|e| match &e.kind {
            Kind::File(contents) => (contents.len() as u64).div_ceil(BLOCK) * BLOCK,
            Kind::Directory => BLOCK,
            // Short symlinks live in the inode; long ones take a block.
            Kind::Symlink(target) => {
                if target.as_os_str().len() < 60 {
                    0
                } else {
                    BLOCK
                }
            }
            Kind::CharDevice(..) => 0,
        })
        .sum();
    let inodes = entries.len() as u64 * 256;
    let size = data + data / 2 + inodes + 16 * MIB;
    size.div_ceil(MIB).max(32) * MIB
}

/// The number of inodes to make: the entries twice over plus room, so later files fit too.
fn inode_count(entries: &[Entry]) -> u64 {
    (entries.len() as u64 * 2 + 1024).div_ceil(64) * 64
}

/// Device nodes added to the disk (and the initramfs): the console, which the kernel opens
/// for init's stdin/stdout/stderr before anything has mounted devtmpfs.
pub const DEVICES: &[(&str, u32, u32, u32)] = &[("dev/console", 0o600, 5, 1)];

/// Makes `image` (replacing it) of `size` bytes from the tree `root`, whose `entries` are given.
pub fn make(root: &Path, entries: &[Entry], image: &Path, size: u64, epoch: u64) -> Result<(), ImageError> {
    format(root, image, size, epoch, &["-N", &inode_count(entries).to_string()])?;
    let epoch_text = epoch.to_string();
    let script_path = image.with_extension("debugfs");
    std::fs::write(&script_path, fix_up_script(entries, epoch)).map_err(ImageError::io("write", &script_path))?;
    let result = host::run(
        DEBUGFS.command()?.arg("-w").arg("-f").arg(&script_path).arg(image).env("E2FSPROGS_FAKE_TIME", &epoch_text),
        "",
    );
    let _ = std::fs::remove_file(&script_path);
    let output = result?;
    // debugfs reports errors on stderr but still exits 0; any line that is not an echoed
    // command is a failure.
    let complaints: Vec<_> = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|line| !line.starts_with("debugfs ") && !line.trim().is_empty())
        .map(str::to_string)
        .collect();
    if !complaints.is_empty() {
        return Err(ImageError::ToolFailed {
            command: format!("debugfs -w -f {} {}", script_path.display(), image.display()),
            status: "reported errors".into(),
            stderr: complaints.join("\n"),
            hint: String::new(),
        });
    }
    Ok(())
}

/// Runs mke2fs on a fresh sparse `image` of `size` bytes with the tree `root` as its contents:
/// label [`LABEL`], everything random pinned; `more` are more mke2fs options.
pub fn format(root: &Path, image: &Path, size: u64, epoch: u64, more: &[&str]) -> Result<(), ImageError> {
    let _ = std::fs::remove_file(image);
    let file = std::fs::File::create(image).map_err(ImageError::io("create", image))?;
    file.set_len(size).map_err(ImageError::io("size", image))?;
    drop(file);
    let extended = format!("root_owner=0:0,hash_seed={HASH_SEED},lazy_itable_init=0,nodiscard");
    host::run(
        MKE2FS
            .command()?
            .args(["-q", "-F", "-t", "ext4", "-T", "default", "-b", "4096", "-I", "256", "-m", "0"])
            .args(more)
            .args(["-L", LABEL, "-U", UUID, "-E", &extended, "-d"])
            .arg(root)
            .arg(image)
            // mke2fs reads the clock for the superblock's and the new inodes' times.
            .env("E2FSPROGS_FAKE_TIME", epoch.to_string())
            // Keep the host's mke2fs.conf from changing what it would otherwise do.
            .env_remove("MKE2FS_CONFIG")
            .env_remove("MKE2FS_DEVICE_SECTSIZE")
            .env_remove("MKE2FS_FIRST_META_BG"),
        "if it says the filesystem is full, pass a larger --disk-size",
    )
    .map(drop)
}

/// The debugfs commands that make every inode owned by 0:0 with all four times at `epoch`,
/// and add [`DEVICES`].
pub fn fix_up_script(entries: &[Entry], epoch: u64) -> String {
    let mut script = String::new();
    for (path, mode, major, minor) in DEVICES {
        // debugfs's mknod takes a name in the current directory, not a path.
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
        let _ = writeln!(script, "cd /{parent}\nmknod {name} c {major} {minor}\ncd /");
        let _ = writeln!(script, "sif /{path} mode 0{:o}", 0o020000 | mode);
    }
    let paths = std::iter::once(String::new())
        .chain(entries.iter().map(|e| e.path.to_string_lossy().into_owned()))
        .chain(std::iter::once("lost+found".to_string()))
        .chain(DEVICES.iter().map(|d| d.0.to_string()));
    for path in paths {
        for (field, value) in
            [("uid", 0), ("gid", 0), ("atime", epoch), ("mtime", epoch), ("ctime", epoch), ("crtime", epoch)]
        {
            let value = if field.ends_with("time") { format!("@{value}") } else { value.to_string() };
            let _ = writeln!(script, "sif /{path} {field} {value}");
        }
    }
    script
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, size: usize) -> Entry {
        Entry { path: path.into(), permissions: 0o644, kind: Kind::File(vec![0; size]) }
    }

    #[test]
    fn size_has_a_floor_and_grows_with_the_data() {
        assert_eq!(size_for(&[]), 32 * MIB);
        let big = [file("bin/ostler", 40 * MIB as usize)];
        let size = size_for(&big);
        assert!(size >= 40 * MIB * 3 / 2 + 16 * MIB, "{size}");
        assert_eq!(size % MIB, 0);
    }

    #[test]
    fn script_sets_owner_and_times_of_every_inode_and_makes_the_console() {
        let script = fix_up_script(&[file("etc/passwd", 10)], 1234);
        assert!(script.starts_with("cd /dev\nmknod console c 5 1\ncd /\nsif /dev/console mode 020600\n"));
        for path in ["/", "/etc/passwd", "/lost+found", "/dev/console"] {
            for field in ["uid 0", "gid 0", "atime @1234", "mtime @1234", "ctime @1234", "crtime @1234"] {
                assert!(script.contains(&format!("sif {path} {field}\n")), "{path} {field}:\n{script}");
            }
        }
    }
}
