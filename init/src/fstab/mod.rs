//! `/etc/fstab`: `ostler mount-all` mounts what it lists, `ostler umount-all` takes it down
//! again at shutdown.
//!
//! - [`parse`]: the file read into checked [`Entry`]s, with line numbers;
//! - [`resolve`]: `LABEL=`, `UUID=`, `PARTLABEL=`, `PARTUUID=` to a device node;
//! - [`mount_all`] / [`umount_all`]: one [`Outcome`] per line that did (or failed) something;
//! - `loopdev`: loop devices for `loop` entries; `sys`: the system calls.
//!
//! Mounts go through the sys-mount crate; the kernel filesystems of stage 1 (`/proc`, `/sys`,
//! `/dev`…) are mounted with nix's plain `mount` and never touched here.

mod loopdev;
mod mount;
pub mod parse;
pub mod resolve;
mod sys;
mod umount;

pub use mount::{mount_all, Mode};
pub use parse::{Entry, LineError, Spec};
pub use resolve::Disks;
pub use umount::umount_all;

use std::io;
use std::path::{Path, PathBuf};

/// Where mount-all and umount-all read from; each path can be moved for tests.
#[derive(Debug, Clone)]
pub struct Config {
    /// The fstab (`/etc/fstab`).
    pub fstab: PathBuf,
    /// Where devices are found.
    pub disks: Disks,
    /// What is mounted (`/proc/self/mountinfo`).
    pub mountinfo: PathBuf,
    /// The active swap areas (`/proc/swaps`).
    pub swaps: PathBuf,
}

impl Config {
    /// The system's paths, with this fstab.
    pub fn new(fstab: PathBuf) -> Config {
        Config { fstab, disks: Disks::default(), mountinfo: "/proc/self/mountinfo".into(), swaps: "/proc/swaps".into() }
    }
}

/// What happened to one line.
#[derive(Debug)]
pub enum Outcome {
    /// Something was done (or, with `--dry-run`, would be): a line for the log.
    Done(String),
    /// Nothing to do, with the reason (`_netdev`, already mounted…).
    Note(String),
    /// Not done, and that is allowed (`nofail`, a busy filesystem remounted read-only).
    Warning(FstabError),
    /// Not done: the command fails (the other lines are still done).
    Failed(FstabError),
}

/// An error, with the file and line it comes from.
#[derive(Debug, thiserror::Error)]
pub enum FstabError {
    /// The file could not be read.
    #[error("unable to read {}: {source}; give the file with --fstab", path.display())]
    Read {
        /// The fstab.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// One line.
    #[error("{}:{line}: {problem}", path.display())]
    Line {
        /// The fstab.
        path: PathBuf,
        /// From 1.
        line: usize,
        /// What is wrong (boxed: a mount error is large, and errors travel in every Result).
        problem: Box<Problem>,
    },
}

/// What went wrong with one line.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// The line does not read.
    #[error(transparent)]
    Parse(#[from] LineError),
    /// The device, label or UUID is not there.
    #[error("{0}: no such filesystem; add nofail if the disk may be absent")]
    NotFound(String),
    /// The mount point is missing.
    #[error("{0}: the mount point does not exist; create it (mount-all never creates mount points)")]
    NoMountPoint(String),
    /// A `loop` source could not be bound.
    #[error(
        "unable to set up a loop device for {file}: {error}; is the loop module loaded and /dev/loop-control there?"
    )]
    Loop {
        /// The file.
        file: String,
        /// Why.
        error: io::Error,
    },
    /// mount(2) failed.
    #[error("unable to mount {source_name} on {target} ({fstype}): {error}{hint}")]
    Mount {
        /// What.
        source_name: String,
        /// Where.
        target: String,
        /// As what.
        fstype: String,
        /// Why.
        error: io::Error,
        /// What to do.
        hint: &'static str,
    },
    /// A remount failed.
    #[error("unable to remount {target} {how}: {error}")]
    Remount {
        /// Where.
        target: String,
        /// `read-write`, `read-only`, `with its bind options`.
        how: &'static str,
        /// Why.
        error: io::Error,
    },
    /// `_netdev`: not mounted now.
    #[error(
        "{0}: _netdev, skipped: the network comes up after mount-all; mount it from a oneshot that needs the network"
    )]
    NetDev(String),
    /// swapon(2) failed.
    #[error("unable to turn on swap on {device}: {error}")]
    Swapon {
        /// Where.
        device: String,
        /// Why.
        error: io::Error,
    },
    /// swapoff(2) failed.
    #[error("unable to turn off swap on {device}: {error}")]
    Swapoff {
        /// Where.
        device: String,
        /// Why.
        error: io::Error,
    },
    /// umount(2) failed, and so did the read-only remount.
    #[error("unable to unmount {target}: {error}")]
    Unmount {
        /// Where.
        target: String,
        /// Why.
        error: io::Error,
    },
    /// umount(2) found it busy; it was remounted read-only.
    #[error("{0}: busy (a process still uses it); remounted read-only")]
    Busy(String),
}

/// Reads and parses the fstab: its entries, and an outcome per line that does not read.
fn read(config: &Config) -> Result<(Vec<Entry>, Vec<Outcome>), FstabError> {
    let text = std::fs::read_to_string(&config.fstab)
        .map_err(|source| FstabError::Read { path: config.fstab.clone(), source })?;
    let (entries, problems) = parse::parse(&text);
    let failed =
        problems.into_iter().map(|(line, problem)| Outcome::Failed(line_error(config, line, problem.into()))).collect();
    Ok((entries, failed))
}

fn line_error(config: &Config, line: usize, problem: Problem) -> FstabError {
    FstabError::Line { path: config.fstab.clone(), line, problem: Box::new(problem) }
}

/// One mount of the mount table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mounted {
    target: String,
    read_only: bool,
}

/// The mount table (`/proc/self/mountinfo`): mount point (field 5) and whether the mount is
/// read-only (field 6), oldest first.
fn mounted(mountinfo: &str) -> Vec<Mounted> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(' ').skip(4);
            let target = ostler_core::mountinfo::unescape(fields.next()?);
            let read_only = fields.next()?.split(',').any(|o| o == "ro");
            Some(Mounted { target, read_only })
        })
        .collect()
}

fn read_mounted(config: &Config) -> Vec<Mounted> {
    mounted(&std::fs::read_to_string(&config.mountinfo).unwrap_or_default())
}

/// The active swap areas of `/proc/swaps` (its first column, escapes decoded).
fn active_swaps(swaps: &str) -> Vec<PathBuf> {
    swaps
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().next())
        .map(|field| PathBuf::from(ostler_core::mountinfo::unescape(field)))
        .collect()
}

/// True when `device` is one of the `active` swap areas (compared as real paths).
fn swap_is_active(device: &Path, active: &[PathBuf]) -> bool {
    let real = std::fs::canonicalize(device).unwrap_or_else(|_| device.to_path_buf());
    active.iter().any(|area| *area == real || area == device)
}

fn read_swaps(config: &Config) -> Vec<PathBuf> {
    active_swaps(&std::fs::read_to_string(&config.swaps).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mount_table_and_the_swaps() {
        let mountinfo = "22 1 254:0 / / ro,relatime shared:1 - ext4 /dev/vda ro\n\
                         30 22 0:25 / /srv/My\\040Files rw,nosuid - tmpfs tmpfs rw\n";
        assert_eq!(
            mounted(mountinfo),
            [
                Mounted { target: "/".into(), read_only: true },
                Mounted { target: "/srv/My Files".into(), read_only: false }
            ]
        );
        let swaps = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n\
                     /swap\\040file                             file\t\t8188\t\t0\t\t5\n/dev/vdb2 partition 1024 0 -2\n";
        let active = active_swaps(swaps);
        assert_eq!(active, [PathBuf::from("/swap file"), PathBuf::from("/dev/vdb2")]);
        assert!(swap_is_active(Path::new("/dev/vdb2"), &active));
        assert!(!swap_is_active(Path::new("/dev/vdb3"), &active));
    }
}
