//! Checks that a binary can run in the image: an x86-64 ELF executable without a program
//! interpreter (the image has no dynamic loader and no libc).

/// Why a binary cannot go into the image, or `None` when it can.
pub fn static_x86_64_problem(bytes: &[u8]) -> Option<&'static str> {
    const PT_INTERP: u32 = 3;
    const EM_X86_64: u16 = 62;
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" {
        return Some("not an ELF file");
    }
    if bytes[4] != 2 || bytes[5] != 1 {
        return Some("not a 64-bit little-endian ELF file");
    }
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    if u16_at(0x12) != EM_X86_64 {
        return Some("not built for x86-64");
    }
    let phoff = u64::from_le_bytes(bytes[0x20..0x28].try_into().unwrap_or_default()) as usize;
    let phentsize = u16_at(0x36) as usize;
    let phnum = u16_at(0x38) as usize;
    if phentsize < 4 {
        return Some("damaged ELF program headers");
    }
    for index in 0..phnum {
        let at = phoff.saturating_add(index.saturating_mul(phentsize));
        let Some(header) = bytes.get(at..at + 4) else {
            return Some("damaged ELF program headers");
        };
        if u32::from_le_bytes(header.try_into().unwrap_or_default()) == PT_INTERP {
            return Some("dynamically linked (it names a program interpreter)");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF header with `types` as its program headers.
    fn elf(machine: u16, types: &[u32]) -> Vec<u8> {
        let mut bytes = vec![0u8; 64 + 56 * types.len()];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = 2;
        bytes[5] = 1;
        bytes[0x12..0x14].copy_from_slice(&machine.to_le_bytes());
        bytes[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        bytes[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        bytes[0x38..0x3a].copy_from_slice(&(types.len() as u16).to_le_bytes());
        for (i, t) in types.iter().enumerate() {
            bytes[64 + 56 * i..68 + 56 * i].copy_from_slice(&t.to_le_bytes());
        }
        bytes
    }

    #[test]
    fn static_binary_passes() {
        assert_eq!(static_x86_64_problem(&elf(62, &[6, 1, 1, 7])), None);
    }

    #[test]
    fn dynamic_binary_is_refused() {
        assert!(static_x86_64_problem(&elf(62, &[6, 3, 1])).unwrap().contains("dynamically"));
    }

    #[test]
    fn other_machines_and_non_elf_are_refused() {
        assert!(static_x86_64_problem(&elf(183, &[1])).unwrap().contains("x86-64"));
        assert!(static_x86_64_problem(b"#!/bin/sh\n").is_some());
        let mut truncated = elf(62, &[1, 1]);
        truncated.truncate(80);
        assert!(static_x86_64_problem(&truncated).is_some());
    }

    #[test]
    fn the_test_binary_itself_is_classified() {
        // Whatever this test binary is (glibc dynamic or musl static), the check must not panic.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let _ = static_x86_64_problem(&me);
    }
}
