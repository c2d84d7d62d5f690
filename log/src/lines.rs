//! Cutting input into lines as s6-log does: a line ends at a newline or a NUL byte (both are
//! written out as a newline), and a line longer than the line limit is cut after `limit`
//! bytes, the rest being a line of its own (selected, stamped and prefixed like any other).

/// Where the next line of `data` ends: `(content, advance)` — its length without terminator,
/// and how many input bytes it takes. `None` when more input is needed first. At `eof` an
/// unterminated rest is a line too. `limit` 0 means no limit.
pub fn next_line(data: &[u8], limit: usize, eof: bool) -> Option<(usize, usize)> {
    // A terminator right after `limit` bytes still belongs to a line of exactly `limit`.
    let window = if limit == 0 { data.len() } else { data.len().min(limit + 1) };
    if let Some(end) = find_terminator(&data[..window]) {
        return Some((end, end + 1));
    }
    if limit > 0 && data.len() > limit {
        return Some((limit, limit));
    }
    if eof && !data.is_empty() {
        let length = if limit > 0 { data.len().min(limit) } else { data.len() };
        return Some((length, length));
    }
    None
}

/// Whether `data` holds at least one whole line (what the loop waits for).
pub fn has_line(data: &[u8], limit: usize) -> bool {
    next_line(data, limit, false).is_some()
}

/// The first newline or NUL, eight bytes at a time.
pub fn find_terminator(data: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const NEWLINES: u64 = 0x0a0a_0a0a_0a0a_0a0a;
    let mut chunks = data.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7]]);
        let newline = word ^ NEWLINES;
        // The classic "has a zero byte" test, for the word itself (NUL) and for the word
        // xor newlines; the lowest flagged byte is always a real match.
        let flags = (newline.wrapping_sub(ONES) & !newline & HIGHS) | (word.wrapping_sub(ONES) & !word & HIGHS);
        if flags != 0 {
            return Some(base + flags.trailing_zeros() as usize / 8);
        }
        base += 8;
    }
    chunks.remainder().iter().position(|&b| b == b'\n' || b == 0).map(|i| base + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminators_are_found_at_every_position() {
        for length in 0..40 {
            for at in 0..length {
                for terminator in [b'\n', 0] {
                    let mut data = vec![b'x'; length];
                    data[at] = terminator;
                    if at + 1 < length {
                        data[at + 1] = b'\n';
                    }
                    assert_eq!(find_terminator(&data), Some(at), "{length} {at} {terminator}");
                }
            }
            assert_eq!(find_terminator(&vec![0x8a; length]), None);
            assert_eq!(find_terminator(&vec![0x0b; length]), None);
        }
    }

    #[test]
    fn long_lines_are_cut_at_the_limit() {
        let mut data = vec![b'a'; 100];
        data.push(b'\n');
        assert_eq!(next_line(&data, 48, false), Some((48, 48)));
        assert_eq!(next_line(&data[96..], 48, false), Some((4, 5)));
        // Exactly `limit` bytes then a newline: one line.
        let mut exact = vec![b'b'; 48];
        exact.push(b'\n');
        assert_eq!(next_line(&exact, 48, false), Some((48, 49)));
        // Exactly `limit` bytes and nothing yet: wait for the next byte.
        assert_eq!(next_line(&exact[..48], 48, false), None);
        assert_eq!(next_line(&exact[..48], 48, true), Some((48, 48)));
        assert_eq!(next_line(&data, 0, false), Some((100, 101)));
    }

    #[test]
    fn nul_ends_a_line_and_eof_ends_the_last() {
        assert_eq!(next_line(b"a\0b\n", 8192, false), Some((1, 2)));
        assert_eq!(next_line(b"partial", 8192, false), None);
        assert_eq!(next_line(b"partial", 8192, true), Some((7, 7)));
        assert_eq!(next_line(b"", 8192, true), None);
        assert!(has_line(b"x\n", 8192) && !has_line(b"x", 8192));
    }
}
