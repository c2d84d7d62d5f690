//! Tar archives, for the OCI image: its layer (the root tree) and the oci-archive (the image
//! layout). POSIX ustar headers — with a PAX extended header before an entry whose name or link
//! target does not fit them — written in the order given (call [`cpio::sort`] first), every
//! entry owned by 0:0 with one modification time and no user or group names, so the same
//! entries always give the same bytes.
//!
//! [`cpio::sort`]: crate::cpio::sort

use crate::cpio::{Entry, Kind};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;

/// Headers, contents and the end of the archive come in blocks of this many bytes.
const BLOCK: usize = 512;

/// The largest modification time a header holds: 11 octal digits (the year 2242).
pub const MAX_MTIME: u64 = 0o777_7777_7777;

/// Entry types (the `typeflag` byte).
const REGULAR: u8 = b'0';
const SYMLINK: u8 = b'2';
const CHAR_DEVICE: u8 = b'3';
const DIRECTORY: u8 = b'5';
/// A PAX extended header: `key=value` records that apply to the entry after it.
const PAX: u8 = b'x';

/// The name of every PAX header entry; readers that know PAX never extract it.
const PAX_NAME: &[u8] = b"PaxHeader";

/// The width of the name and link-target fields.
const NAME_FIELD: usize = 100;

/// Writes `entries` as a tar archive, in the order given, each owned by 0:0 with modification
/// time `mtime`, then the two zero blocks that end an archive. Directories are named with a
/// trailing `/`, as tar(1) names them.
pub fn write(entries: &[Entry], mtime: u64, out: &mut impl Write) -> io::Result<()> {
    for entry in entries {
        let mut name = entry.path.as_os_str().as_bytes().to_vec();
        let (typeflag, data, link, device): (u8, &[u8], &[u8], (u32, u32)) = match &entry.kind {
            Kind::Directory => {
                name.push(b'/');
                (DIRECTORY, &[], &[], (0, 0))
            }
            Kind::File(contents) => (REGULAR, contents, &[], (0, 0)),
            Kind::Symlink(target) => (SYMLINK, &[], target.as_os_str().as_bytes(), (0, 0)),
            Kind::CharDevice(major, minor) => (CHAR_DEVICE, &[], &[], (*major, *minor)),
        };
        let mut records = Vec::new();
        if name.len() > NAME_FIELD {
            records.extend(pax_record("path", &name));
        }
        if link.len() > NAME_FIELD {
            records.extend(pax_record("linkpath", link));
        }
        if !records.is_empty() {
            let pax = Header {
                name: PAX_NAME,
                mode: 0o644,
                size: records.len() as u64,
                mtime,
                typeflag: PAX,
                ..Header::EMPTY
            };
            pax.write(out)?;
            write_padded(&records, out)?;
        }
        let header = Header {
            // A reader that knows PAX takes the full name from the record; the field holds a prefix.
            name: &name[..name.len().min(NAME_FIELD)],
            mode: entry.permissions & 0o7777,
            size: data.len() as u64,
            mtime,
            typeflag,
            link: &link[..link.len().min(NAME_FIELD)],
            device,
        };
        header.write(out)?;
        write_padded(data, out)?;
    }
    out.write_all(&[0; 2 * BLOCK])
}

/// One PAX record, `LENGTH KEY=VALUE\n`, where LENGTH counts the whole record, its own digits
/// included.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let rest = key.len() + value.len() + 3; // the space, '=' and '\n'
    let mut length = rest + 1;
    while length != rest + length.to_string().len() {
        length = rest + length.to_string().len();
    }
    let mut record = format!("{length} {key}=").into_bytes();
    record.extend_from_slice(value);
    record.push(b'\n');
    record
}

/// The fields of one ustar header that vary here.
struct Header<'a> {
    name: &'a [u8],
    mode: u32,
    size: u64,
    mtime: u64,
    typeflag: u8,
    link: &'a [u8],
    device: (u32, u32),
}

impl Header<'_> {
    const EMPTY: Header<'static> =
        Header { name: b"", mode: 0, size: 0, mtime: 0, typeflag: REGULAR, link: b"", device: (0, 0) };

    /// Writes the 512-byte header block.
    fn write(&self, out: &mut impl Write) -> io::Result<()> {
        let mut block = [0u8; BLOCK];
        block[..self.name.len()].copy_from_slice(self.name);
        octal(&mut block[100..108], u64::from(self.mode))?;
        octal(&mut block[108..116], 0)?; // uid
        octal(&mut block[116..124], 0)?; // gid
        octal(&mut block[124..136], self.size)?;
        octal(&mut block[136..148], self.mtime)?;
        block[156] = self.typeflag;
        block[157..157 + self.link.len()].copy_from_slice(self.link);
        block[257..263].copy_from_slice(b"ustar\0");
        block[263..265].copy_from_slice(b"00");
        // uname and gname (265..329) stay empty: the numeric owner is the only one.
        octal(&mut block[329..337], u64::from(self.device.0))?;
        octal(&mut block[337..345], u64::from(self.device.1))?;
        // The checksum is the sum of the header's bytes with its own field read as spaces,
        // written as six octal digits, a NUL and a space.
        block[148..156].fill(b' ');
        let sum: u64 = block.iter().map(|b| u64::from(*b)).sum();
        octal(&mut block[148..155], sum)?;
        out.write_all(&block)
    }
}

/// Writes `value` into `field` as zero-padded octal digits followed by a NUL.
fn octal(field: &mut [u8], value: u64) -> io::Result<()> {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    if text.len() > digits {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{value} does not fit a tar header field of {digits} octal digits"),
        ));
    }
    field[..digits].copy_from_slice(text.as_bytes());
    field[digits] = 0;
    Ok(())
}

/// Writes `data` and the zeros that bring it to a whole number of blocks.
fn write_padded(data: &[u8], out: &mut impl Write) -> io::Result<()> {
    out.write_all(data)?;
    let zeros = (BLOCK - data.len() % BLOCK) % BLOCK;
    out.write_all(&[0; BLOCK][..zeros])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, permissions: u32, kind: Kind) -> Entry {
        Entry { path: path.into(), permissions, kind }
    }

    /// One entry read back: (name, mode, uid, gid, mtime, typeflag, link, data).
    #[derive(Debug)]
    struct Parsed {
        name: String,
        mode: u64,
        owner: (u64, u64),
        mtime: u64,
        typeflag: u8,
        link: String,
        data: Vec<u8>,
    }

    fn number(field: &[u8]) -> u64 {
        let text = std::str::from_utf8(field).unwrap().trim_end_matches('\0');
        u64::from_str_radix(text, 8).unwrap()
    }

    fn text(field: &[u8]) -> String {
        String::from_utf8(field.split(|b| *b == 0).next().unwrap().to_vec()).unwrap()
    }

    /// Reads an archive back, checking each checksum and the framing, applying PAX records.
    fn parse(mut bytes: &[u8]) -> Vec<Parsed> {
        assert_eq!(bytes.len() % BLOCK, 0);
        let mut found = Vec::new();
        let mut pending_path = None;
        let mut pending_link = None;
        loop {
            let block = &bytes[..BLOCK];
            if block.iter().all(|b| *b == 0) {
                assert_eq!(bytes.len(), 2 * BLOCK, "two zero blocks end the archive");
                assert!(bytes.iter().all(|b| *b == 0));
                return found;
            }
            let mut blanked = block.to_vec();
            blanked[148..156].fill(b' ');
            let sum: u64 = blanked.iter().map(|b| u64::from(*b)).sum();
            assert_eq!(number(&block[148..155]), sum, "checksum");
            assert_eq!(&block[155..156], b" ");
            assert_eq!(&block[257..265], b"ustar\x0000", "magic \"ustar\\0\", version \"00\"");
            let size = number(&block[124..136]) as usize;
            let data = bytes[BLOCK..BLOCK + size].to_vec();
            bytes = &bytes[BLOCK + size.div_ceil(BLOCK) * BLOCK..];
            if block[156] == PAX {
                for record in std::str::from_utf8(&data).unwrap().split_terminator('\n') {
                    let (length, rest) = record.split_once(' ').unwrap();
                    assert_eq!(length.parse::<usize>().unwrap(), record.len() + 1, "record length");
                    let (key, value) = rest.split_once('=').unwrap();
                    match key {
                        "path" => pending_path = Some(value.to_string()),
                        "linkpath" => pending_link = Some(value.to_string()),
                        other => panic!("unexpected PAX key {other}"),
                    }
                }
                continue;
            }
            found.push(Parsed {
                name: pending_path.take().unwrap_or_else(|| text(&block[..100])),
                mode: number(&block[100..108]),
                owner: (number(&block[108..116]), number(&block[116..124])),
                mtime: number(&block[136..148]),
                typeflag: block[156],
                link: pending_link.take().unwrap_or_else(|| text(&block[157..257])),
                data,
            });
        }
    }

    #[test]
    fn entries_round_trip_with_fixed_owner_and_time() {
        let entries = [
            entry("bin", 0o755, Kind::Directory),
            entry("bin/busybox", 0o755, Kind::File(b"\x7fELF...".to_vec())),
            entry("bin/sh", 0o777, Kind::Symlink("/bin/busybox".into())),
            entry("dev/console", 0o600, Kind::CharDevice(5, 1)),
            entry("etc/shadow", 0o600, Kind::File(vec![b'x'; 513])),
            entry("tmp", 0o1777, Kind::Directory),
        ];
        let mut out = Vec::new();
        write(&entries, 1_704_067_200, &mut out).unwrap();
        let found = parse(&out);
        let summary: Vec<(&str, u64, u8)> = found.iter().map(|p| (p.name.as_str(), p.mode, p.typeflag)).collect();
        assert_eq!(
            summary,
            [
                ("bin/", 0o755, DIRECTORY),
                ("bin/busybox", 0o755, REGULAR),
                ("bin/sh", 0o777, SYMLINK),
                ("dev/console", 0o600, CHAR_DEVICE),
                ("etc/shadow", 0o600, REGULAR),
                ("tmp/", 0o1777, DIRECTORY),
            ]
        );
        assert!(found.iter().all(|p| p.owner == (0, 0) && p.mtime == 1_704_067_200));
        assert_eq!(found[1].data, b"\x7fELF...");
        assert_eq!(found[2].link, "/bin/busybox");
        assert_eq!(found[4].data.len(), 513, "contents over one block");
        let console = 4 * BLOCK; // after bin/, busybox and its one block of data, sh
        assert_eq!((number(&out[console + 329..console + 337]), number(&out[console + 337..console + 345])), (5, 1));
    }

    #[test]
    fn long_names_and_targets_go_in_pax_records() {
        let long = format!("usr/share/{}/file", "d".repeat(120));
        let target = format!("/{}", "t".repeat(150));
        let entries = [
            entry(&long, 0o644, Kind::File(b"data".to_vec())),
            entry("link", 0o777, Kind::Symlink(target.clone().into())),
            entry(&"n".repeat(100), 0o644, Kind::File(Vec::new())),
        ];
        let mut out = Vec::new();
        write(&entries, 0, &mut out).unwrap();
        let found = parse(&out);
        assert_eq!(found.len(), 3);
        assert_eq!(found[0].name, long);
        assert_eq!(found[0].data, b"data");
        assert_eq!(found[1].link, target);
        assert_eq!(found[2].name, "n".repeat(100), "a name of exactly 100 bytes fits the field");
        // Only the first two needed a PAX header: 2 × (PAX header + records) + 3 headers + data + end.
        assert_eq!(out.len(), BLOCK * (2 * 2 + 3 + 1 + 2));
    }

    #[test]
    fn pax_record_length_counts_its_own_digits() {
        assert_eq!(pax_record("path", b"abc"), b"12 path=abc\n");
        // 98 bytes besides the length: two digits would make 100, so it takes three.
        let record = pax_record("path", &[b'v'; 91]);
        assert_eq!(record.len(), 101);
        assert!(record.starts_with(b"101 path="));
    }

    #[test]
    fn a_time_past_the_field_is_refused() {
        let mut out = Vec::new();
        assert!(write(&[entry("a", 0o644, Kind::Directory)], MAX_MTIME, &mut out).is_ok());
        let error = write(&[entry("a", 0o644, Kind::Directory)], MAX_MTIME + 1, &mut Vec::new()).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn same_entries_give_same_bytes() {
        let make = || {
            let mut out = Vec::new();
            write(&[entry("a", 0o755, Kind::Directory), entry("a/b", 0o644, Kind::File(b"x".to_vec()))], 7, &mut out)
                .unwrap();
            out
        };
        assert_eq!(make(), make());
        assert_eq!(make().len(), 5 * BLOCK, "two headers, one block of data, the end");
    }

    #[test]
    fn tar_reads_what_is_written() {
        // GNU tar, when the host has it, lists the archive as written.
        let Ok(tar) = std::process::Command::new("tar").arg("--version").output() else {
            eprintln!("tar is not installed: not checked");
            return;
        };
        assert!(tar.status.success());
        let long = format!("d/{}", "x".repeat(140));
        let entries = [
            entry("d", 0o755, Kind::Directory),
            entry(&long, 0o600, Kind::File(b"hello".to_vec())),
            entry("d/l", 0o777, Kind::Symlink("/bin/busybox".into())),
        ];
        let mut archive = Vec::new();
        write(&entries, 1_704_067_200, &mut archive).unwrap();
        let path = std::env::temp_dir().join(format!("ostler-tar-test-{}.tar", std::process::id()));
        std::fs::write(&path, &archive).unwrap();
        let listing = std::process::Command::new("tar")
            .args(["--numeric-owner", "--utc", "-tvf"])
            .arg(&path)
            .env("LC_ALL", "C")
            .output()
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        let text = String::from_utf8_lossy(&listing.stdout);
        assert!(listing.status.success(), "{}", String::from_utf8_lossy(&listing.stderr));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("drwxr-xr-x 0/0") && lines[0].ends_with(" d/"), "{text}");
        assert!(lines[1].starts_with("-rw------- 0/0") && lines[1].ends_with(&long), "{text}");
        assert!(lines[1].contains("2024-01-01 00:00"), "{text}");
        assert!(lines[2].starts_with("lrwxrwxrwx 0/0") && lines[2].ends_with("d/l -> /bin/busybox"), "{text}");
    }
}
