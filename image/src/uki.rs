//! The Unified Kernel Image: systemd's EFI stub with the kernel, the boot initramfs, the
//! command line and an os-release added as PE sections (`.linux`, `.initrd`, `.cmdline`,
//! `.osrel`). The firmware runs it as `\EFI\BOOT\BOOTX64.EFI`; the stub finds the sections by
//! name and boots the kernel with that initramfs and command line.
//!
//! Written here rather than by `objcopy`: binutils stamps the clock into the PE header (one
//! more thing to patch for reproducible bytes), takes absolute addresses that break with a
//! stub whose ImageBase is not 0, and warns but exits 0 when they are wrong. Here the
//! addresses are computed from the stub's own section table, so any stub works.
//!
//! The stub's COFF symbol table, which lies after its sections, is dropped: nothing at boot
//! reads it, and sbsign would otherwise warn about data between sections.

use crate::ImageError;
use std::path::Path;

/// Where Debian's `systemd-boot-efi` puts the stub.
pub const STUB: &str = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";

/// What goes into the image, in the order the sections are added.
pub struct Parts<'a> {
    /// `/etc/os-release`'s format: who made it (firmware menus and systemd-boot show it).
    pub os_release: &'a [u8],
    /// The kernel command line (without a trailing newline).
    pub cmdline: &'a [u8],
    /// The kernel (bzImage with the EFI stub).
    pub kernel: &'a [u8],
    /// The initramfs.
    pub initrd: &'a [u8],
}

/// Section characteristics: initialized data, readable.
const DATA_READ: u32 = 0x4000_0040;
/// The bytes of a section header.
const SECTION_HEADER: usize = 40;
/// New sections start on a page: the stub maps them at these addresses.
const PAGE: u32 = 4096;

/// Builds the UKI from the stub's bytes; `stub_path` is for messages.
pub fn build(stub: &[u8], stub_path: &Path, parts: &Parts) -> Result<Vec<u8>, ImageError> {
    let bad = |reason: &str| ImageError::BadStub { path: stub_path.to_path_buf(), reason: reason.to_string() };
    let pe = Pe::parse(stub).map_err(bad)?;
    let sections: [(&[u8; 8], &[u8]); 4] = [
        (b".osrel\0\0", parts.os_release),
        (b".cmdline", parts.cmdline),
        (b".linux\0\0", parts.kernel),
        (b".initrd\0", parts.initrd),
    ];
    let table_end = pe.section_table + SECTION_HEADER * (pe.sections + sections.len());
    if table_end > pe.size_of_headers || table_end > pe.first_raw {
        return Err(bad("its headers have no room for four more section headers"));
    }

    let mut out = stub[..pe.raw_end].to_vec();
    let mut address = align(pe.image_end, PAGE.max(pe.section_alignment));
    let mut end = pe.image_end;
    let mut initialized = pe.initialized_data;
    for (index, (name, data)) in sections.iter().enumerate() {
        let size = u32::try_from(data.len()).map_err(|_| bad("a part is larger than 4 GiB"))?;
        let raw_size = align(size, pe.file_alignment);
        let raw_at = u32::try_from(out.len()).map_err(|_| bad("the image would pass 4 GiB"))?;
        let mut header = [0u8; SECTION_HEADER];
        header[0..8].copy_from_slice(*name);
        header[8..12].copy_from_slice(&size.to_le_bytes());
        header[12..16].copy_from_slice(&address.to_le_bytes());
        header[16..20].copy_from_slice(&raw_size.to_le_bytes());
        header[20..24].copy_from_slice(&raw_at.to_le_bytes());
        header[36..40].copy_from_slice(&DATA_READ.to_le_bytes());
        let at = pe.section_table + SECTION_HEADER * (pe.sections + index);
        out[at..at + SECTION_HEADER].copy_from_slice(&header);
        out.extend_from_slice(data);
        out.resize(raw_at as usize + raw_size as usize, 0);
        initialized = initialized.wrapping_add(raw_size);
        end = address + size;
        address = align(end, PAGE.max(pe.section_alignment));
    }

    let count = u16::try_from(pe.sections + sections.len()).map_err(|_| bad("too many sections"))?;
    put_u16(&mut out, pe.coff + 2, count);
    // No symbol table: it was after the sections and is not copied.
    put_u32(&mut out, pe.coff + 8, 0);
    put_u32(&mut out, pe.coff + 12, 0);
    put_u32(&mut out, pe.optional + 8, initialized);
    put_u32(&mut out, pe.optional + 56, align(end, pe.section_alignment));
    put_u32(&mut out, pe.optional + 64, 0);
    let sum = checksum(&out, pe.optional + 64);
    put_u32(&mut out, pe.optional + 64, sum);
    Ok(out)
}

/// What the builder needs from the stub's headers (offsets into the file).
struct Pe {
    /// The COFF file header (after "PE\0\0").
    coff: usize,
    /// The optional header.
    optional: usize,
    section_table: usize,
    sections: usize,
    section_alignment: u32,
    file_alignment: u32,
    size_of_headers: usize,
    initialized_data: u32,
    /// The first section's data in the file: the section table may not grow past it.
    first_raw: usize,
    /// The end of the last section's data in the file.
    raw_end: usize,
    /// The end of the last section in memory (relative to the image base).
    image_end: u32,
}

impl Pe {
    fn parse(file: &[u8]) -> Result<Pe, &'static str> {
        let u16_at = |at: usize| file.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
        let u32_at = |at: usize| file.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        if file.get(0..2) != Some(b"MZ") {
            return Err("it is not a PE file (no MZ header)");
        }
        let pe = u32_at(0x3c).ok_or("it is truncated")? as usize;
        if file.get(pe..pe + 4) != Some(b"PE\0\0") {
            return Err("it is not a PE file (no PE signature)");
        }
        let coff = pe + 4;
        let sections = u16_at(coff + 2).ok_or("it is truncated")? as usize;
        let optional_size = u16_at(coff + 16).ok_or("it is truncated")? as usize;
        let optional = coff + 20;
        if u16_at(optional) != Some(0x20b) {
            return Err("it is not a 64-bit (PE32+) EFI image");
        }
        // Data directory 4, the certificate table: a signed stub's signature would cover
        // the old file only, and would sit between its sections and ours.
        if u32_at(optional + 112 + 4 * 8 + 4).is_some_and(|size| size != 0) {
            return Err("it is signed; use the unsigned stub (sign the finished image instead: --sign)");
        }
        let section_table = optional + optional_size;
        let mut first_raw = usize::MAX;
        let (mut raw_end, mut image_end) = (0usize, 0u32);
        for i in 0..sections {
            let at = section_table + SECTION_HEADER * i;
            let field = |offset: usize| u32_at(at + offset).ok_or("its section table is truncated");
            let (virtual_size, address, raw_size, raw_at) = (field(8)?, field(12)?, field(16)?, field(20)?);
            if raw_size > 0 {
                first_raw = first_raw.min(raw_at as usize);
                raw_end = raw_end.max(raw_at as usize + raw_size as usize);
            }
            image_end = image_end.max(address + virtual_size.max(raw_size));
        }
        if raw_end > file.len() || sections == 0 {
            return Err("its sections lie past the end of the file");
        }
        let section_alignment = u32_at(optional + 32).ok_or("it is truncated")?;
        let file_alignment = u32_at(optional + 36).ok_or("it is truncated")?;
        if !section_alignment.is_power_of_two() || !file_alignment.is_power_of_two() {
            return Err("its alignments are not powers of two");
        }
        Ok(Pe {
            coff,
            optional,
            section_table,
            sections,
            section_alignment,
            file_alignment,
            size_of_headers: u32_at(optional + 60).ok_or("it is truncated")? as usize,
            initialized_data: u32_at(optional + 8).ok_or("it is truncated")?,
            first_raw,
            raw_end,
            image_end,
        })
    }
}

/// The PE checksum: the file's 16-bit words summed with end-around carry, skipping the
/// checksum field itself, plus the file's length. Firmware ignores it; tools compare it.
fn checksum(file: &[u8], field: usize) -> u32 {
    let mut sum: u64 = 0;
    for (i, pair) in file.chunks(2).enumerate() {
        if i * 2 == field || i * 2 == field + 2 {
            continue;
        }
        sum += u64::from(u16::from_le_bytes([pair[0], *pair.get(1).unwrap_or(&0)]));
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum = (sum & 0xffff) + (sum >> 16);
    (sum as u32).wrapping_add(file.len() as u32)
}

fn align(value: u32, to: u32) -> u32 {
    value.div_ceil(to) * to
}

fn put_u16(bytes: &mut [u8], at: usize, value: u16) {
    bytes[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

/// Reads the stub, with the package to install when it is missing.
pub fn read_stub(path: &Path) -> Result<Vec<u8>, ImageError> {
    std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound if path == Path::new(STUB) => {
            ImageError::MissingTool { tool: "linuxx64.efi.stub", package: "systemd-boot-efi" }
        }
        _ => ImageError::io("read the EFI stub", path)(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal PE32+ with one section, the shape of systemd's stub.
    fn stub() -> Vec<u8> {
        let mut f = vec![0u8; 0x600];
        f[0..2].copy_from_slice(b"MZ");
        f[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        f[0x80..0x84].copy_from_slice(b"PE\0\0");
        let coff = 0x84;
        put_u16(&mut f, coff, 0x8664);
        put_u16(&mut f, coff + 2, 1);
        put_u32(&mut f, coff + 8, 0x1234);
        put_u16(&mut f, coff + 16, 240);
        let opt = coff + 20;
        put_u16(&mut f, opt, 0x20b);
        put_u32(&mut f, opt + 32, 0x200);
        put_u32(&mut f, opt + 36, 0x200);
        put_u32(&mut f, opt + 56, 0x1200);
        put_u32(&mut f, opt + 60, 0x400);
        let table = opt + 240;
        f[table..table + 5].copy_from_slice(b".text");
        put_u32(&mut f, table + 8, 0x100);
        put_u32(&mut f, table + 12, 0x1000);
        put_u32(&mut f, table + 16, 0x200);
        put_u32(&mut f, table + 20, 0x400);
        f[0x400] = 0xc3;
        // A symbol table after the section, which the UKI drops.
        f.extend_from_slice(b"SYMBOLS");
        f
    }

    fn parts() -> Parts<'static> {
        Parts { os_release: b"ID=ostler\n", cmdline: b"console=ttyS0", kernel: &[7u8; 5000], initrd: &[9u8; 300] }
    }

    #[test]
    fn sections_are_added_after_the_stub_on_pages() {
        let uki = build(&stub(), Path::new("stub"), &parts()).unwrap();
        let pe = Pe::parse(&uki).unwrap();
        assert_eq!(pe.sections, 5);
        let header = |i: usize| &uki[pe.section_table + 40 * i..][..40];
        let u32_of = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
        assert_eq!(&header(1)[..8], b".osrel\0\0");
        assert_eq!(u32_of(header(1), 12), 0x2000, "first page after the stub's 0x1000+0x200");
        assert_eq!(&header(3)[..8], b".linux\0\0");
        assert_eq!(u32_of(header(3), 8), 5000);
        let linux_at = u32_of(header(3), 20) as usize;
        assert_eq!(&uki[linux_at..linux_at + 5000], &[7u8; 5000][..]);
        assert_eq!(u32_of(header(4), 12) % 4096, 0);
        assert!(!uki.windows(7).any(|w| w == b"SYMBOLS"), "the symbol table is dropped");
        assert_eq!(u32::from_le_bytes(uki[0x84 + 12..0x84 + 16].try_into().unwrap()), 0);
        let size_of_image = u32_of(&uki, 0x84 + 20 + 56);
        assert_eq!(size_of_image, u32_of(header(4), 12) + 0x200);
        assert_eq!(uki.len() % 0x200, 0);
    }

    #[test]
    fn checksum_matches_the_standard_fold() {
        let uki = build(&stub(), Path::new("stub"), &parts()).unwrap();
        let field = 0x84 + 20 + 64;
        let stored = u32::from_le_bytes(uki[field..field + 4].try_into().unwrap());
        assert_eq!(stored, checksum(&uki, field));
        assert_ne!(stored, 0);
    }

    #[test]
    fn bad_stubs_are_refused_with_a_reason() {
        let message = |stub: &[u8]| build(stub, Path::new("/x/stub"), &parts()).unwrap_err().to_string();
        assert!(message(b"ELF").contains("not a PE file"), "{}", message(b"ELF"));
        let mut signed = stub();
        put_u32(&mut signed, 0x84 + 20 + 112 + 36, 0x100);
        assert!(message(&signed).contains("unsigned stub"));
        let mut crowded = stub();
        put_u32(&mut crowded, 0x84 + 20 + 60, 0x200);
        assert!(message(&crowded).contains("no room"), "{}", message(&crowded));
    }
}
