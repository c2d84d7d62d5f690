//! The kernel's tables that `ostler image write` checks a target against: device numbers,
//! /proc/self/mountinfo, /proc/swaps, and the block devices' tree in sysfs (partitions,
//! `holders/`, `slaves/`, loop devices' backing files). Reading only; a fake sysfs in tests.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A device number, as sysfs and mountinfo write it (`8:17`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DevNum {
    /// The major number.
    pub major: u64,
    /// The minor number.
    pub minor: u64,
}

impl DevNum {
    /// From `st_rdev` or `st_dev`.
    pub fn of(dev: u64) -> DevNum {
        DevNum { major: nix::sys::stat::major(dev), minor: nix::sys::stat::minor(dev) }
    }

    /// From `MAJOR:MINOR`.
    pub fn parse(text: &str) -> Option<DevNum> {
        let (major, minor) = text.trim().split_once(':')?;
        Some(DevNum { major: major.parse().ok()?, minor: minor.parse().ok()? })
    }
}

/// One line of /proc/self/mountinfo, the fields the checks need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// Field 3: the device number of the filesystem (0:N for btrfs and the virtual ones).
    pub dev: DevNum,
    /// Field 5: where it is mounted.
    pub point: String,
    /// The source after the ` - ` separator (`/dev/sda2`, `overlay`…).
    pub source: String,
}

/// The mounts of a mountinfo text (octal escapes decoded).
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let separator = fields.iter().skip(6).position(|f| *f == "-")? + 6;
            Some(Mount {
                dev: DevNum::parse(fields.get(2)?)?,
                point: ostler_core::mountinfo::unescape(fields.get(4)?),
                source: ostler_core::mountinfo::unescape(fields.get(separator + 2)?),
            })
        })
        .collect()
}

/// The swap areas of a /proc/swaps text (the header skipped, escapes decoded).
pub fn parse_swaps(text: &str) -> Vec<String> {
    text.lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().next())
        .map(ostler_core::mountinfo::unescape)
        .collect()
}

/// The block devices' tree in sysfs (a fake one in tests).
pub(super) struct Sysfs {
    root: PathBuf,
}

impl Sysfs {
    pub(super) fn new(root: impl Into<PathBuf>) -> Sysfs {
        Sysfs { root: root.into() }
    }

    /// The device's directory (`/sys/devices/…/block/sdb[/sdb1]`).
    pub(super) fn dir(&self, dev: DevNum) -> Option<PathBuf> {
        std::fs::canonicalize(self.root.join(format!("dev/block/{}:{}", dev.major, dev.minor))).ok()
    }

    /// The disk a partition's directory belongs to; None for a whole disk.
    pub(super) fn disk_of(dir: &Path) -> Option<PathBuf> {
        dir.join("partition").exists().then(|| dir.parent().map(Path::to_path_buf)).flatten()
    }

    pub(super) fn name(dir: &Path) -> String {
        dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }

    /// A sysfs attribute, trimmed.
    pub(super) fn read(dir: &Path, attribute: &str) -> Option<String> {
        std::fs::read_to_string(dir.join(attribute)).ok().map(|text| text.trim().to_string())
    }

    /// The names in a directory (`holders/`, `slaves/`), sorted.
    pub(super) fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|entries| entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// The device itself and, for a whole disk, its partitions: names and numbers.
    pub(super) fn family(&self, dir: &Path) -> Vec<(String, DevNum)> {
        let mut family: Vec<(String, DevNum)> =
            Self::read(dir, "dev").and_then(|d| DevNum::parse(&d)).map(|d| (Self::name(dir), d)).into_iter().collect();
        if Self::disk_of(dir).is_none() {
            for name in Self::entries(dir) {
                let child = dir.join(&name);
                if child.join("partition").exists() {
                    if let Some(dev) = Self::read(&child, "dev").and_then(|d| DevNum::parse(&d)) {
                        family.push((name, dev));
                    }
                }
            }
        }
        family
    }

    /// Every device the given ones rest on: themselves, the disks of partitions, and what
    /// device mapper or md builds them from (`slaves/`), recursively.
    pub(super) fn below(&self, devs: &[DevNum]) -> BTreeSet<DevNum> {
        let mut found = BTreeSet::new();
        let mut pending: Vec<PathBuf> = devs.iter().filter_map(|&d| self.dir(d)).collect();
        while let Some(dir) = pending.pop() {
            let Some(dev) = Self::read(&dir, "dev").and_then(|d| DevNum::parse(&d)) else { continue };
            if !found.insert(dev) {
                continue;
            }
            pending.extend(Self::disk_of(&dir));
            let slaves = dir.join("slaves");
            pending
                .extend(Self::entries(&slaves).iter().filter_map(|name| std::fs::canonicalize(slaves.join(name)).ok()));
        }
        found
    }

    /// The loop device whose backing file is `file`, if one is.
    pub(super) fn loop_backed_by(&self, file: &Path) -> Option<String> {
        let block = self.root.join("block");
        Self::entries(&block).into_iter().find(|name| {
            Self::read(&block.join(name), "loop/backing_file")
                .is_some_and(|backing| Path::new(backing.strip_suffix(" (deleted)").unwrap_or(&backing)) == file)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn mountinfo_gives_numbers_points_and_sources() {
        let text = "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n\
                    40 27 0:38 / /mnt/my\\040stick rw shared:5 master:1 - btrfs /dev/sdb1 rw\n\
                    41 27 0:39 / /tmp rw - tmpfs tmpfs rw\n\
                    broken line\n";
        let mounts = parse_mountinfo(text);
        assert_eq!(mounts.len(), 3);
        assert_eq!(
            mounts[0],
            Mount { dev: DevNum { major: 254, minor: 0 }, point: "/".into(), source: "/dev/vda".into() }
        );
        assert_eq!(mounts[1].point, "/mnt/my stick");
        assert_eq!(mounts[1].source, "/dev/sdb1", "optional fields are skipped");
        assert_eq!(mounts[2].dev, DevNum { major: 0, minor: 39 });
    }

    #[test]
    fn swaps_skip_the_header() {
        let text = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/sdb2   partition\t1\t0\t-2\n/swap\\040file file 1 0 -3\n";
        assert_eq!(parse_swaps(text), ["/dev/sdb2", "/swap file"]);
        assert!(parse_swaps("Filename Type Size Used Priority\n").is_empty());
    }

    #[test]
    fn device_numbers_parse_and_split() {
        assert_eq!(DevNum::parse("8:17\n"), Some(DevNum { major: 8, minor: 17 }));
        assert_eq!(DevNum::parse("8"), None);
        assert_eq!(DevNum::of(nix::sys::stat::makedev(259, 3)), DevNum { major: 259, minor: 3 });
    }

    /// A sysfs with sda (partitions sda1, sda2), dm-0 on sda2, and sdb (no partitions).
    fn fake_sysfs() -> (PathBuf, Sysfs) {
        let root = std::env::temp_dir().join(format!(
            "ostler-write-sysfs-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&root);
        let devices = root.join("devices/virtual/block");
        let make = |path: &str, dev: &str, partition: bool| {
            let dir = devices.join(path);
            std::fs::create_dir_all(dir.join("holders")).unwrap();
            std::fs::create_dir_all(dir.join("slaves")).unwrap();
            std::fs::write(dir.join("dev"), format!("{dev}\n")).unwrap();
            if partition {
                std::fs::write(dir.join("partition"), "1\n").unwrap();
            }
            std::fs::create_dir_all(root.join("dev/block")).unwrap();
            symlink(&dir, root.join("dev/block").join(dev)).unwrap();
        };
        make("sda", "8:0", false);
        make("sda/sda1", "8:1", true);
        make("sda/sda2", "8:2", true);
        make("dm-0", "253:0", false);
        make("sdb", "8:16", false);
        symlink(devices.join("sda/sda2"), devices.join("dm-0/slaves/sda2")).unwrap();
        symlink(devices.join("dm-0"), devices.join("sda/sda2/holders/dm-0")).unwrap();
        (root.clone(), Sysfs::new(root))
    }

    #[test]
    fn sysfs_family_and_what_the_system_rests_on() {
        let (root, sysfs) = fake_sysfs();
        let sda = sysfs.dir(DevNum { major: 8, minor: 0 }).unwrap();
        let sda2 = sysfs.dir(DevNum { major: 8, minor: 2 }).unwrap();
        assert_eq!(Sysfs::disk_of(&sda2), Some(sda.clone()));
        assert_eq!(Sysfs::disk_of(&sda), None);
        let names: Vec<String> = sysfs.family(&sda).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["sda", "sda1", "sda2"]);
        assert_eq!(sysfs.family(&sda2).len(), 1, "a partition's family is itself");
        assert_eq!(Sysfs::entries(&sda2.join("holders")), ["dm-0"]);

        // Root on dm-0, built on sda2: sda2 and its disk sda are below it, sdb and sda1 not.
        let below = sysfs.below(&[DevNum { major: 253, minor: 0 }]);
        let expected: BTreeSet<DevNum> =
            [(253, 0), (8, 2), (8, 0)].into_iter().map(|(major, minor)| DevNum { major, minor }).collect();
        assert_eq!(below, expected);
        // Root directly on sdb; a 0:N (btrfs, tmpfs) number is nowhere in sysfs.
        let below = sysfs.below(&[DevNum { major: 8, minor: 16 }, DevNum { major: 0, minor: 30 }]);
        assert_eq!(below.into_iter().collect::<Vec<_>>(), [DevNum { major: 8, minor: 16 }]);
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn loop_backing_files_are_matched_exactly() {
        let root = std::env::temp_dir().join(format!("ostler-write-loop-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("block/loop3/loop")).unwrap();
        std::fs::create_dir_all(root.join("block/sda")).unwrap();
        std::fs::write(root.join("block/loop3/loop/backing_file"), "/srv/disk.img (deleted)\n").unwrap();
        let sysfs = Sysfs::new(&root);
        assert_eq!(sysfs.loop_backed_by(Path::new("/srv/disk.img")).as_deref(), Some("loop3"));
        assert_eq!(sysfs.loop_backed_by(Path::new("/srv/disk.im")), None);
        std::fs::remove_dir_all(root).unwrap();
    }
}
