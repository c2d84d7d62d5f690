//! From a spec to a device node. `LABEL=`, `UUID=`, `PARTLABEL=` and `PARTUUID=` are looked up
//! in `/dev/disk/by-*` when udev made those links; otherwise (early in the boot, or with no
//! udev at all) by reading the block devices of `/proc/partitions` ourselves: the superblocks
//! of ext2/3/4 and swap for labels and UUIDs, the kernel's `uevent` of each partition for
//! PARTLABEL (`PARTNAME=`) and PARTUUID.

use crate::fstab::parse::Spec;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Where devices are looked for; each path can be moved for tests.
#[derive(Debug, Clone)]
pub struct Disks {
    /// udev's links: `by-label/`, `by-uuid/`, `by-partlabel/`, `by-partuuid/` (`/dev/disk`).
    pub links: PathBuf,
    /// Where device nodes are (`/dev`).
    pub dev: PathBuf,
    /// The kernel's list of block devices (`/proc/partitions`).
    pub partitions: PathBuf,
    /// The kernel's block devices in sysfs, for `uevent` (`/sys/class/block`).
    pub sys_block: PathBuf,
}

impl Default for Disks {
    fn default() -> Self {
        Disks {
            links: "/dev/disk".into(),
            dev: "/dev".into(),
            partitions: "/proc/partitions".into(),
            sys_block: "/sys/class/block".into(),
        }
    }
}

/// How many bytes of a device are read: swap's signature ends its first page, up to 64 KiB.
const HEAD: usize = 65536;
/// An ext2/3/4 superblock starts 1024 bytes in; its fields, from there.
const EXT_SUPERBLOCK: usize = 1024;
const EXT_MAGIC: usize = EXT_SUPERBLOCK + 0x38;
const EXT_UUID: usize = EXT_SUPERBLOCK + 0x68;
const EXT_LABEL: usize = EXT_SUPERBLOCK + 0x78;
/// A swap area's header follows 1024 bytes of boot space: version, last page, bad pages,
/// then the UUID and the label; "SWAPSPACE2" ends the first page.
const SWAP_UUID: usize = 1024 + 12;
const SWAP_LABEL: usize = SWAP_UUID + 16;
const SWAP_PAGE_SIZES: &[usize] = &[4096, 8192, 16384, 65536];

/// What a superblock says about its filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `ext` or `swap`.
    pub kind: &'static str,
    /// The label, when there is one.
    pub label: Option<String>,
    /// The UUID, lower-case with dashes.
    pub uuid: String,
}

/// Reads the label and UUID of an ext2/3/4 filesystem or a swap area from the first bytes
/// of its device; `None` for anything else.
pub fn identify(head: &[u8]) -> Option<Identity> {
    let text = |bytes: &[u8]| {
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        (end > 0).then(|| String::from_utf8_lossy(&bytes[..end]).into_owned())
    };
    if head.get(EXT_MAGIC..EXT_MAGIC + 2) == Some(&[0x53, 0xef]) {
        let uuid = format_uuid(head.get(EXT_UUID..EXT_UUID + 16)?);
        return Some(Identity { kind: "ext", label: text(head.get(EXT_LABEL..EXT_LABEL + 16)?), uuid });
    }
    let swap = SWAP_PAGE_SIZES.iter().any(|&page| head.get(page - 10..page) == Some(b"SWAPSPACE2"));
    if swap {
        let uuid = format_uuid(head.get(SWAP_UUID..SWAP_UUID + 16)?);
        return Some(Identity { kind: "swap", label: text(head.get(SWAP_LABEL..SWAP_LABEL + 16)?), uuid });
    }
    None
}

fn format_uuid(bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// udev's encoding of a name in `/dev/disk/by-label/`: bytes other than letters, digits and
/// `#+-.:=@_` become `\xNN`.
fn udev_encode(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'#' | b'+' | b'-' | b'.' | b':' | b'=' | b'@' | b'_' => {
                char::from(b).to_string()
            }
            _ => format!("\\x{b:02x}"),
        })
        .collect()
}

/// The device a spec names, if it is there now. A path is returned as written (whether it
/// exists is the mount's business: `tmpfs` is a name, not a file).
pub fn resolve(spec: &Spec, disks: &Disks) -> Option<PathBuf> {
    let (links, value) = match spec {
        Spec::Path(path) => return Some(PathBuf::from(path)),
        Spec::Label(label) => ("by-label", label),
        Spec::Uuid(uuid) => ("by-uuid", uuid),
        Spec::PartLabel(label) => ("by-partlabel", label),
        Spec::PartUuid(uuid) => ("by-partuuid", uuid),
    };
    let link = disks.links.join(links).join(udev_encode(value));
    if let Ok(device) = std::fs::canonicalize(&link) {
        return Some(device);
    }
    block_devices(disks).into_iter().find(|name| matches(spec, name, disks)).map(|name| disks.dev.join(name))
}

/// The names of `/proc/partitions` (`vda`, `vda1`, `loop0`…).
fn block_devices(disks: &Disks) -> Vec<String> {
    let text = std::fs::read_to_string(&disks.partitions).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // major minor #blocks name; the header and blank line have no number first.
            (fields.len() == 4 && fields[0].parse::<u32>().is_ok()).then(|| fields[3].to_string())
        })
        .collect()
}

/// True when block device `name` is the one `spec` asks for.
fn matches(spec: &Spec, name: &str, disks: &Disks) -> bool {
    match spec {
        Spec::Path(_) => false,
        Spec::Label(label) => identity(&disks.dev.join(name)).is_some_and(|id| id.label.as_deref() == Some(label)),
        Spec::Uuid(uuid) => identity(&disks.dev.join(name)).is_some_and(|id| id.uuid.eq_ignore_ascii_case(uuid)),
        Spec::PartLabel(label) => uevent(disks, name, "PARTNAME").as_deref() == Some(label.as_str()),
        Spec::PartUuid(uuid) => uevent(disks, name, "PARTUUID").is_some_and(|found| found.eq_ignore_ascii_case(uuid)),
    }
}

/// The superblock identity of a device (reads at most [`HEAD`] bytes).
pub fn identity(device: &Path) -> Option<Identity> {
    let file = std::fs::File::open(device).ok()?;
    let mut head = Vec::with_capacity(HEAD);
    file.take(HEAD as u64).read_to_end(&mut head).ok()?;
    identify(&head)
}

/// One variable of a block device's `uevent` in sysfs.
fn uevent(disks: &Disks, name: &str, variable: &str) -> Option<String> {
    let text = std::fs::read_to_string(disks.sys_block.join(name).join("uevent")).ok()?;
    text.lines().find_map(|line| line.strip_prefix(variable)?.strip_prefix('=').map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Tree(PathBuf);

    impl Tree {
        fn new(label: &str) -> Tree {
            let root = std::env::temp_dir().join(format!("ostler-resolve-{label}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&root);
            std::fs::create_dir_all(&root).unwrap();
            Tree(root)
        }

        fn disks(&self) -> Disks {
            Disks {
                links: self.0.join("dev/disk"),
                dev: self.0.join("dev"),
                partitions: self.0.join("partitions"),
                sys_block: self.0.join("sys"),
            }
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn ext_and_swap_superblocks() {
        let mut head = vec![0u8; 8192];
        assert_eq!(identify(&head), None);
        head[EXT_MAGIC..EXT_MAGIC + 2].copy_from_slice(&[0x53, 0xef]);
        head[EXT_LABEL..EXT_LABEL + 6].copy_from_slice(b"ostler");
        head[EXT_UUID] = 0xab;
        let ext = identify(&head).unwrap();
        assert_eq!((ext.kind, ext.label.as_deref()), ("ext", Some("ostler")));
        assert_eq!(ext.uuid, "ab000000-0000-0000-0000-000000000000");
        let mut swap = vec![0u8; 4096];
        swap[4086..].copy_from_slice(b"SWAPSPACE2");
        swap[SWAP_LABEL..SWAP_LABEL + 4].copy_from_slice(b"swp1");
        let id = identify(&swap).unwrap();
        assert_eq!((id.kind, id.label.as_deref()), ("swap", Some("swp1")));
        swap[SWAP_LABEL] = 0;
        assert_eq!(identify(&swap).unwrap().label, None, "no label");
        assert_eq!(identify(&swap[..2000]), None, "too short to tell");
    }

    #[test]
    fn udev_links_come_first() {
        let tree = Tree::new("links");
        let disks = tree.disks();
        std::fs::create_dir_all(disks.links.join("by-label")).unwrap();
        std::fs::create_dir_all(disks.links.join("by-partuuid")).unwrap();
        std::fs::write(disks.dev.join("vdb1"), "").unwrap();
        std::os::unix::fs::symlink("../../vdb1", disks.links.join("by-label/my\\x20data")).unwrap();
        std::os::unix::fs::symlink("../../vdb1", disks.links.join("by-partuuid/abcd-01")).unwrap();
        let vdb1 = std::fs::canonicalize(disks.dev.join("vdb1")).unwrap();
        assert_eq!(resolve(&Spec::Label("my data".into()), &disks), Some(vdb1.clone()));
        assert_eq!(resolve(&Spec::PartUuid("abcd-01".into()), &disks), Some(vdb1));
        assert_eq!(resolve(&Spec::Label("other".into()), &disks), None);
        assert_eq!(resolve(&Spec::Path("tmpfs".into()), &disks), Some(PathBuf::from("tmpfs")));
    }

    #[test]
    fn without_udev_the_partitions_are_read() {
        let tree = Tree::new("scan");
        let disks = tree.disks();
        std::fs::create_dir_all(&disks.dev).unwrap();
        std::fs::write(
            &disks.partitions,
            "major minor  #blocks  name\n\n 254        0   8192 vda\n 254  1  4096 vda1\n   7   0   8192 loop0\n",
        )
        .unwrap();
        std::fs::write(disks.dev.join("vda"), vec![0u8; 4096]).unwrap();
        let mut swap = vec![0u8; 4096];
        swap[4086..].copy_from_slice(b"SWAPSPACE2");
        swap[SWAP_LABEL..SWAP_LABEL + 3].copy_from_slice(b"swp");
        swap[SWAP_UUID..SWAP_UUID + 2].copy_from_slice(&[0x12, 0x34]);
        std::fs::write(disks.dev.join("vda1"), &swap).unwrap();
        std::fs::create_dir_all(disks.sys_block.join("vda1")).unwrap();
        std::fs::write(disks.sys_block.join("vda1/uevent"), "MAJOR=254\nPARTN=1\nPARTNAME=esp\nPARTUUID=0FC63DAF-01\n")
            .unwrap();
        // A real ext4 image, labelled and with a known UUID, by mke2fs.
        let image = disks.dev.join("loop0");
        std::fs::write(&image, vec![0u8; 2 << 20]).unwrap();
        let uuid = "5a9b3c4d-1e2f-4a5b-8c6d-7e8f9a0b1c2d";
        let made = std::process::Command::new("mke2fs")
            .args(["-q", "-F", "-t", "ext4", "-L", "ostler-data", "-U", uuid])
            .arg(&image)
            .status();
        assert!(
            made.as_ref().is_ok_and(|s| s.success()),
            "this test needs mke2fs (Debian: apt-get install e2fsprogs): {made:?}"
        );
        assert_eq!(resolve(&Spec::Label("ostler-data".into()), &disks), Some(disks.dev.join("loop0")));
        assert_eq!(resolve(&Spec::Uuid(uuid.to_uppercase()), &disks), Some(disks.dev.join("loop0")));
        assert_eq!(resolve(&Spec::Label("swp".into()), &disks), Some(disks.dev.join("vda1")));
        assert_eq!(
            resolve(&Spec::Uuid("12340000-0000-0000-0000-000000000000".into()), &disks),
            Some(disks.dev.join("vda1"))
        );
        assert_eq!(resolve(&Spec::PartLabel("esp".into()), &disks), Some(disks.dev.join("vda1")));
        assert_eq!(resolve(&Spec::PartUuid("0fc63daf-01".into()), &disks), Some(disks.dev.join("vda1")));
        assert_eq!(resolve(&Spec::Label("absent".into()), &disks), None);
        let id = identity(&image).unwrap();
        assert_eq!((id.kind, id.label.as_deref(), id.uuid.as_str()), ("ext", Some("ostler-data"), uuid));
    }
}
