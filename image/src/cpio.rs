//! The initramfs archive: the "newc" cpio format the kernel unpacks (see the kernel's
//! `Documentation/driver-api/early-userspace/buffer-format.rst`), written from a list of
//! entries in a fixed order with fixed owners, times and inode numbers, so the same tree always
//! gives the same bytes.

use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// The magic that opens every newc header (no checksum variant).
const MAGIC: &[u8; 6] = b"070701";
/// The name of the entry that ends an archive.
const TRAILER: &str = "TRAILER!!!";

/// File-type bits of a cpio `mode` field (the same values as Linux `st_mode`).
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

/// What an entry is, and what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Directory,
    /// A regular file with these contents.
    File(Vec<u8>),
    /// A symbolic link to this target.
    Symlink(PathBuf),
    /// A character device node (major, minor), such as `/dev/console` (5, 1).
    CharDevice(u32, u32),
}

/// One file of the archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Path inside the image, relative, without a leading `/` (`bin/ostler`).
    pub path: PathBuf,
    /// Permission bits (`0o755`, `0o1777`…), without the file type.
    pub permissions: u32,
    /// What it is.
    pub kind: Kind,
}

impl Entry {
    fn type_bits(&self) -> u32 {
        match self.kind {
            Kind::Directory => S_IFDIR,
            Kind::File(_) => S_IFREG,
            Kind::Symlink(_) => S_IFLNK,
            Kind::CharDevice(..) => S_IFCHR,
        }
    }
}

/// Puts entries in archive order: parents before their contents, siblings by name (bytes).
/// Comparing paths component by component gives exactly that, whatever the order the host's
/// directories were read in.
pub fn sort(entries: &mut [Entry]) {
    entries.sort_by(|a, b| compare(&a.path, &b.path));
}

/// Orders two paths component by component, each compared as bytes.
fn compare(a: &Path, b: &Path) -> std::cmp::Ordering {
    Iterator::cmp(names(a), names(b))
}

fn names(path: &Path) -> impl Iterator<Item = &[u8]> {
    path.components().filter_map(|c| match c {
        Component::Normal(name) => Some(name.as_bytes()),
        _ => None,
    })
}

/// Writes `entries` as a newc archive, in the order given (call [`sort`] first), every entry
/// owned by 0:0 with modification time `mtime`, inode numbers counting from 1, then the trailer.
pub fn write(entries: &[Entry], mtime: u32, out: &mut impl Write) -> io::Result<()> {
    let mut written = 0usize;
    for (index, entry) in entries.iter().enumerate() {
        let name = entry.path.as_os_str().as_bytes();
        let (data, nlink, rdev): (&[u8], u32, (u32, u32)) = match &entry.kind {
            Kind::Directory => (&[], 2, (0, 0)),
            Kind::File(contents) => (contents, 1, (0, 0)),
            Kind::Symlink(target) => (target.as_os_str().as_bytes(), 1, (0, 0)),
            Kind::CharDevice(major, minor) => (&[], 1, (*major, *minor)),
        };
        let header = Header {
            inode: index as u32 + 1,
            mode: entry.type_bits() | (entry.permissions & 0o7777),
            nlink,
            mtime,
            size: data.len(),
            rdev,
        };
        written += header.write(name, out)?;
        out.write_all(data)?;
        written += data.len();
        written += pad(written, out)?;
    }
    let trailer = Header { inode: 0, mode: 0, nlink: 1, mtime: 0, size: 0, rdev: (0, 0) };
    written += trailer.write(TRAILER.as_bytes(), out)?;
    // Round the whole archive up to 512 bytes, as cpio(1) does; the kernel skips the zeros.
    let tail = (512 - written % 512) % 512;
    out.write_all(&vec![0; tail])?;
    Ok(())
}

/// The fields of one newc header that vary here.
struct Header {
    inode: u32,
    mode: u32,
    nlink: u32,
    mtime: u32,
    size: usize,
    rdev: (u32, u32),
}

impl Header {
    /// Writes the header and the NUL-terminated name, padded to 4 bytes; returns the length.
    fn write(&self, name: &[u8], out: &mut impl Write) -> io::Result<usize> {
        let fields = [
            self.inode,
            self.mode,
            0, // uid
            0, // gid
            self.nlink,
            self.mtime,
            self.size as u32,
            0, // devmajor
            0, // devminor
            self.rdev.0,
            self.rdev.1,
            name.len() as u32 + 1,
            0, // check
        ];
        let mut header = Vec::with_capacity(110 + name.len() + 4);
        header.extend_from_slice(MAGIC);
        for field in fields {
            header.extend_from_slice(format!("{field:08X}").as_bytes());
        }
        header.extend_from_slice(name);
        header.push(0);
        header.resize(header.len().div_ceil(4) * 4, 0);
        out.write_all(&header)?;
        Ok(header.len())
    }
}

/// Writes the zeros that bring `written` to a multiple of 4; returns how many.
fn pad(written: usize, out: &mut impl Write) -> io::Result<usize> {
    let zeros = (4 - written % 4) % 4;
    out.write_all(&[0; 3][..zeros])?;
    Ok(zeros)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, kind: Kind) -> Entry {
        Entry { path: path.into(), permissions: 0o755, kind }
    }

    /// One entry read back: (name, mode, [uid, gid, nlink, mtime], rdev, data).
    type Parsed = (String, u32, [u32; 4], (u32, u32), Vec<u8>);

    /// Reads an archive back, checking the framing.
    fn parse(mut bytes: &[u8]) -> Vec<Parsed> {
        let total = bytes.len();
        let mut found = Vec::new();
        loop {
            assert_eq!(&bytes[..6], MAGIC);
            let field = |i: usize| {
                u32::from_str_radix(std::str::from_utf8(&bytes[6 + 8 * i..14 + 8 * i]).unwrap(), 16).unwrap()
            };
            let (mode, uid, gid, nlink, mtime) = (field(1), field(2), field(3), field(4), field(5));
            let size = field(6) as usize;
            let rdev = (field(9), field(10));
            let name_size = field(11) as usize;
            let name = String::from_utf8(bytes[110..110 + name_size - 1].to_vec()).unwrap();
            assert_eq!(bytes[110 + name_size - 1], 0, "name is NUL-terminated");
            let data_start = (110 + name_size).div_ceil(4) * 4;
            let data = bytes[data_start..data_start + size].to_vec();
            let next = (data_start + size).div_ceil(4) * 4;
            bytes = &bytes[next..];
            if name == TRAILER {
                assert_eq!(total % 512, 0, "archive padded to 512 bytes");
                assert!(bytes.iter().all(|b| *b == 0));
                return found;
            }
            assert_eq!((uid, gid), (0, 0));
            found.push((name, mode, [uid, gid, nlink, mtime], rdev, data));
        }
    }

    #[test]
    fn entries_round_trip_with_fixed_owner_and_time() {
        let entries = vec![
            entry("bin", Kind::Directory),
            entry("bin/busybox", Kind::File(b"\x7fELF...".to_vec())),
            entry("bin/sh", Kind::Symlink("/bin/busybox".into())),
            Entry { path: "dev/console".into(), permissions: 0o600, kind: Kind::CharDevice(5, 1) },
            Entry { path: "tmp".into(), permissions: 0o1777, kind: Kind::Directory },
        ];
        let mut out = Vec::new();
        write(&entries, 1_700_000_000, &mut out).unwrap();
        let found = parse(&out);
        assert_eq!(found.len(), 5);
        assert_eq!(found[0].0, "bin");
        assert_eq!(found[0].1, 0o040755);
        assert_eq!(found[1].1, 0o100755);
        assert_eq!(found[1].4, b"\x7fELF...");
        assert_eq!(found[2].1, 0o120755);
        assert_eq!(found[2].4, b"/bin/busybox");
        assert_eq!(found[3].1, 0o020600);
        assert_eq!(found[3].3, (5, 1));
        assert_eq!(found[4].1, 0o041777);
        assert!(found.iter().all(|f| f.2[3] == 1_700_000_000));
    }

    #[test]
    fn header_fields_are_eight_uppercase_hex_digits() {
        let mut out = Vec::new();
        write(&[entry("a", Kind::File(vec![b'x'; 0x1ab]))], 0xdead, &mut out).unwrap();
        let header = std::str::from_utf8(&out[..110]).unwrap();
        assert_eq!(&header[..6], "070701");
        assert_eq!(&header[6..14], "00000001", "first inode is 1");
        assert_eq!(&header[46..54], "0000DEAD", "mtime");
        assert_eq!(&header[54..62], "000001AB", "file size");
        assert_eq!(&header[94..102], "00000002", "name size counts the NUL");
        // Name "a\0" after 110 bytes of header pads to 112, where the data starts.
        assert_eq!(&out[110..112], b"a\0");
        assert_eq!(out[112], b'x');
    }

    #[test]
    fn empty_archive_is_only_the_trailer() {
        let mut out = Vec::new();
        write(&[], 0, &mut out).unwrap();
        assert_eq!(out.len(), 512);
        assert!(parse(&out).is_empty());
    }

    #[test]
    fn sort_puts_parents_first_then_names_bytewise() {
        let mut entries: Vec<Entry> = ["usr/bin/awk", "a.b", "usr", "a/b", "bin/sh", "a", "usr/bin", "bin", "B"]
            .iter()
            .map(|p| entry(p, Kind::Directory))
            .collect();
        sort(&mut entries);
        let order: Vec<_> = entries.iter().map(|e| e.path.to_str().unwrap()).collect();
        // "a/b" sorts right after "a" (its parent), before "a.b", although '.' < '/' as bytes.
        assert_eq!(order, ["B", "a", "a/b", "a.b", "bin", "bin/sh", "usr", "usr/bin", "usr/bin/awk"]);
    }

    #[test]
    fn same_entries_in_any_order_give_same_bytes() {
        let make = |names: &[&str]| {
            let mut entries: Vec<Entry> = names.iter().map(|p| entry(p, Kind::File(p.as_bytes().to_vec()))).collect();
            sort(&mut entries);
            let mut out = Vec::new();
            write(&entries, 42, &mut out).unwrap();
            out
        };
        assert_eq!(make(&["x", "y/z", "y", "w"]), make(&["y", "w", "y/z", "x"]));
    }
}
