//! GUID partition tables (UEFI 2.10, chapter 5), on 512-byte sectors: written for the disk
//! images `ostler image build --format disk` makes, read by stage 1 to find `root=PARTUUID=`,
//! and moved to the end of a larger disk by `ostler image write`.
//!
//! The layout is the one every tool writes: a protective MBR at LBA 0, the header at LBA 1,
//! 128 entries of 128 bytes at LBA 2–33; the same entries and a mirrored header in the last 33
//! sectors of the disk.

use std::io::{self, Read, Seek, SeekFrom, Write};

/// The sector size these tables are laid out for (a 4Kn disk needs the table rewritten).
pub const SECTOR: u64 = 512;
/// Entries in the array, and bytes per entry: the sizes every implementation writes.
const ENTRIES: u32 = 128;
const ENTRY_SIZE: u32 = 128;
/// Sectors the entry array fills: 128 × 128 / 512.
const ARRAY_SECTORS: u64 = (ENTRIES as u64 * ENTRY_SIZE as u64) / SECTOR;
/// The first sector a partition may use: after the MBR, the header and the array.
pub const FIRST_USABLE: u64 = 2 + ARRAY_SECTORS;
/// Bytes of the header the CRC covers.
const HEADER_SIZE: u32 = 92;
const SIGNATURE: &[u8; 8] = b"EFI PART";

/// A GUID in the byte order the table stores it (the first three fields little-endian).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guid(pub [u8; 16]);

impl Guid {
    /// The unused-entry type.
    pub const NONE: Guid = Guid([0; 16]);

    /// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (either case).
    pub fn parse(text: &str) -> Option<Guid> {
        let hex: String = text.chars().filter(|&c| c != '-').collect();
        let groups: Vec<usize> = text.split('-').map(str::len).collect();
        if hex.len() != 32 || groups != [8, 4, 4, 4, 12] {
            return None;
        }
        let mut plain = [0u8; 16];
        for (i, byte) in plain.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        let mut stored = plain;
        stored[0..4].reverse();
        stored[4..6].reverse();
        stored[6..8].reverse();
        Some(Guid(stored))
    }
}

impl std::fmt::Display for Guid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-",
            b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9]
        )?;
        b[10..].iter().try_for_each(|x| write!(f, "{x:02x}"))
    }
}

/// One partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// Its number: its entry's place in the array, from 1 (`/dev/vda2` is number 2).
    pub number: u32,
    /// What it holds (the EFI System Partition, a Linux root…).
    pub type_guid: Guid,
    /// Its own GUID: what `root=PARTUUID=` names.
    pub guid: Guid,
    /// Its first and last sector (inclusive).
    pub first: u64,
    /// See `first`.
    pub last: u64,
    /// The attribute bits (bit 2: legacy BIOS bootable).
    pub attributes: u64,
    /// Its name (at most 36 UTF-16 units).
    pub name: String,
}

/// A whole table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// The disk's GUID.
    pub disk_guid: Guid,
    /// The partitions, by number.
    pub partitions: Vec<Partition>,
    /// The disk's size in sectors when the table was read or is to be written.
    pub sectors: u64,
}

impl Table {
    /// The last sector a partition may use on a disk of `sectors`: before the backup array.
    pub fn last_usable(sectors: u64) -> u64 {
        sectors - 2 - ARRAY_SECTORS
    }

    /// Writes the protective MBR's partition record and signature, the primary table and the
    /// backup table to `disk` (the MBR's boot code, bytes 0–439, is left as it is).
    pub fn write(&self, disk: &mut (impl Write + Seek)) -> io::Result<()> {
        let last_usable = Self::last_usable(self.sectors);
        if let Some(p) = self.partitions.iter().find(|p| p.first < FIRST_USABLE || p.last > last_usable) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("partition {} ({}–{}) is outside the usable sectors", p.number, p.first, p.last),
            ));
        }
        let array = self.array()?;
        let array_crc = crc32(&array);
        disk.seek(SeekFrom::Start(0x1BE))?;
        disk.write_all(&protective_record(self.sectors))?;
        disk.seek(SeekFrom::Start(SECTOR))?;
        disk.write_all(&self.header(1, self.sectors - 1, 2, array_crc))?;
        disk.write_all(&array)?;
        let backup_array = self.sectors - 1 - ARRAY_SECTORS;
        disk.seek(SeekFrom::Start(backup_array * SECTOR))?;
        disk.write_all(&array)?;
        disk.write_all(&self.header(self.sectors - 1, 1, backup_array, array_crc))?;
        disk.flush()
    }

    /// Reads the primary table of `disk`, checking both CRCs.
    pub fn read(disk: &mut (impl Read + Seek)) -> io::Result<Table> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
        let mut header = [0u8; SECTOR as usize];
        disk.seek(SeekFrom::Start(SECTOR))?;
        disk.read_exact(&mut header)?;
        if &header[0..8] != SIGNATURE {
            return Err(invalid("no GUID partition table (no \"EFI PART\" at sector 1)"));
        }
        let size = u32_at(&header, 12);
        if !(HEADER_SIZE..=SECTOR as u32).contains(&size) {
            return Err(invalid("the GPT header has an impossible size"));
        }
        let mut zeroed = header[..size as usize].to_vec();
        zeroed[16..20].fill(0);
        if crc32(&zeroed) != u32_at(&header, 16) {
            return Err(invalid("the GPT header's CRC does not match"));
        }
        let (entries, entry_size) = (u32_at(&header, 80), u32_at(&header, 84));
        if entry_size < 128 || entries > 1024 {
            return Err(invalid("the GPT entry array has an impossible shape"));
        }
        let mut array = vec![0u8; entries as usize * entry_size as usize];
        disk.seek(SeekFrom::Start(u64_at(&header, 72) * SECTOR))?;
        disk.read_exact(&mut array)?;
        if crc32(&array) != u32_at(&header, 88) {
            return Err(invalid("the GPT entry array's CRC does not match"));
        }
        let partitions = array
            .chunks(entry_size as usize)
            .zip(1..)
            .filter(|(entry, _)| entry[0..16] != [0; 16])
            .map(|(entry, number)| Partition {
                number,
                type_guid: guid_at(entry, 0),
                guid: guid_at(entry, 16),
                first: u64_at(entry, 32),
                last: u64_at(entry, 40),
                attributes: u64_at(entry, 48),
                name: String::from_utf16_lossy(
                    &entry[56..128]
                        .chunks(2)
                        .map(|c| u16::from_le_bytes([c[0], c[1]]))
                        .take_while(|&u| u != 0)
                        .collect::<Vec<_>>(),
                ),
            })
            .collect();
        Ok(Table { disk_guid: guid_at(&header, 56), partitions, sectors: u64_at(&header, 32) + 1 })
    }

    /// The entry array's bytes.
    fn array(&self) -> io::Result<Vec<u8>> {
        let mut array = vec![0u8; (ENTRIES * ENTRY_SIZE) as usize];
        for p in &self.partitions {
            let name: Vec<u16> = p.name.encode_utf16().collect();
            if p.number == 0 || p.number > ENTRIES || name.len() > 36 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("partition {} ({:?}): number 1–128 and a name of at most 36 characters", p.number, p.name),
                ));
            }
            let entry = &mut array[(p.number - 1) as usize * ENTRY_SIZE as usize..][..ENTRY_SIZE as usize];
            entry[0..16].copy_from_slice(&p.type_guid.0);
            entry[16..32].copy_from_slice(&p.guid.0);
            entry[32..40].copy_from_slice(&p.first.to_le_bytes());
            entry[40..48].copy_from_slice(&p.last.to_le_bytes());
            entry[48..56].copy_from_slice(&p.attributes.to_le_bytes());
            for (i, unit) in name.iter().enumerate() {
                entry[56 + 2 * i..58 + 2 * i].copy_from_slice(&unit.to_le_bytes());
            }
        }
        Ok(array)
    }

    /// A header sector: this copy at `mine`, the other at `other`, its array at `array_lba`.
    fn header(&self, mine: u64, other: u64, array_lba: u64, array_crc: u32) -> Vec<u8> {
        let mut h = vec![0u8; SECTOR as usize];
        h[0..8].copy_from_slice(SIGNATURE);
        h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        h[12..16].copy_from_slice(&HEADER_SIZE.to_le_bytes());
        h[24..32].copy_from_slice(&mine.to_le_bytes());
        h[32..40].copy_from_slice(&other.to_le_bytes());
        h[40..48].copy_from_slice(&FIRST_USABLE.to_le_bytes());
        h[48..56].copy_from_slice(&Self::last_usable(self.sectors).to_le_bytes());
        h[56..72].copy_from_slice(&self.disk_guid.0);
        h[72..80].copy_from_slice(&array_lba.to_le_bytes());
        h[80..84].copy_from_slice(&ENTRIES.to_le_bytes());
        h[84..88].copy_from_slice(&ENTRY_SIZE.to_le_bytes());
        h[88..92].copy_from_slice(&array_crc.to_le_bytes());
        let crc = crc32(&h[..HEADER_SIZE as usize]);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        h
    }
}

/// Rewrites the table of `disk` for a disk of `sectors` (larger than the image it came from):
/// the backup table moves to the end and the partitions may use what lies between; the old
/// backup header is zeroed so nothing finds it. Returns false when it was already there.
pub fn relocate_backup(disk: &mut (impl Read + Write + Seek), sectors: u64) -> io::Result<bool> {
    let mut table = Table::read(disk)?;
    if table.sectors == sectors {
        return Ok(false);
    }
    if sectors < table.sectors {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the disk ({sectors} sectors) is smaller than its table says ({})", table.sectors),
        ));
    }
    let old_backup = table.sectors - 1;
    table.sectors = sectors;
    // Write the new copies first: a crash in between leaves a valid primary table.
    table.write(disk)?;
    disk.seek(SeekFrom::Start(old_backup * SECTOR))?;
    disk.write_all(&[0u8; SECTOR as usize])?;
    disk.flush()?;
    Ok(true)
}

/// The protective MBR's first partition record (type 0xEE over the whole disk, as far as 32
/// bits reach) followed by the other three, empty, and the 0x55AA signature.
fn protective_record(sectors: u64) -> [u8; 66] {
    let mut record = [0u8; 66];
    // Status 0, CHS of LBA 1, type 0xEE, the CHS end saturated, LBA 1, size.
    record[0..8].copy_from_slice(&[0x00, 0x00, 0x02, 0x00, 0xEE, 0xFF, 0xFF, 0xFF]);
    record[8..12].copy_from_slice(&1u32.to_le_bytes());
    let size = u32::try_from(sectors - 1).unwrap_or(u32::MAX);
    record[12..16].copy_from_slice(&size.to_le_bytes());
    record[64..66].copy_from_slice(&[0x55, 0xAA]);
    record
}

/// CRC-32 (IEEE 802.3, reflected), as the GPT uses. Bit by bit: it runs over 16 KiB once per
/// table, and a table-driven crate would cost more binary than it saves time.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or_default())
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default())
}

fn guid_at(bytes: &[u8], at: usize) -> Guid {
    Guid(bytes[at..at + 16].try_into().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const ESP: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";

    fn table(sectors: u64) -> Table {
        Table {
            disk_guid: Guid::parse("0f5a7d3c-1e2b-4c6d-8e9f-a0b1c2d3e4f5").unwrap(),
            partitions: vec![Partition {
                number: 1,
                type_guid: Guid::parse(ESP).unwrap(),
                guid: Guid::parse("11111111-2222-4333-8444-555555555501").unwrap(),
                first: 2048,
                last: 2048 + 131_072 - 1,
                attributes: 0,
                name: "ESP".into(),
            }],
            sectors,
        }
    }

    #[test]
    fn crc32_of_the_check_string() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn guid_text_and_mixed_endian_bytes() {
        let guid = Guid::parse(ESP).unwrap();
        // The ESP type as every GPT stores it.
        assert_eq!(guid.0[..4], [0x28, 0x73, 0x2A, 0xC1]);
        assert_eq!(guid.to_string(), ESP.to_lowercase());
        assert!(Guid::parse("c12a7328f81f11d2ba4b00a0c93ec93b").is_none());
        assert!(Guid::parse("C12A7328-F81F-11D2-BA4B-00A0C93EC93").is_none());
    }

    #[test]
    fn written_table_reads_back_with_both_copies() {
        let sectors = 266_240;
        let mut disk = Cursor::new(vec![0u8; (sectors * SECTOR) as usize]);
        table(sectors).write(&mut disk).unwrap();
        assert_eq!(Table::read(&mut disk).unwrap(), table(sectors));
        let bytes = disk.get_ref();
        assert_eq!(bytes[0x1C2], 0xEE);
        assert_eq!(bytes[510..512], [0x55, 0xAA]);
        let backup = &bytes[((sectors - 1) * SECTOR) as usize..];
        assert_eq!(&backup[..8], SIGNATURE);
        assert_eq!(u64_at(backup, 24), sectors - 1);
        assert_eq!(u64_at(backup, 72), sectors - 33);
    }

    #[test]
    fn a_flipped_byte_is_refused() {
        let mut disk = Cursor::new(vec![0u8; (4096 * SECTOR) as usize]);
        let mut small = table(4096);
        small.partitions[0].last = 3000;
        small.write(&mut disk).unwrap();
        disk.get_mut()[2 * SECTOR as usize + 60] ^= 1;
        let error = Table::read(&mut disk).unwrap_err();
        assert!(error.to_string().contains("CRC"), "{error}");
    }

    #[test]
    fn relocation_moves_the_backup_to_the_new_end() {
        let small = 8192;
        let mut t = table(small);
        t.partitions[0].last = 4000;
        let mut disk = Cursor::new(vec![0u8; (small * SECTOR) as usize]);
        t.write(&mut disk).unwrap();
        disk.get_mut().resize((small * 2 * SECTOR) as usize, 0);
        assert!(relocate_backup(&mut disk, small * 2).unwrap());
        let read = Table::read(&mut disk).unwrap();
        assert_eq!(read.sectors, small * 2);
        assert_eq!(read.partitions, t.partitions);
        let bytes = disk.get_ref();
        assert_eq!(&bytes[((small * 2 - 1) * SECTOR) as usize..][..8], SIGNATURE);
        assert_ne!(&bytes[((small - 1) * SECTOR) as usize..][..8], SIGNATURE, "the old backup header is left");
        assert!(!relocate_backup(&mut disk, small * 2).unwrap(), "a second move does nothing");
    }
}
