//! `ostler tai64nlocal`: copies its input to its output, replacing a TAI64N label at the start
//! of each line (`@` and 24 hex digits) by local time, byte for byte as `s6-tai64nlocal`
//! does. Only a newline starts a line; a label that is not a time (before 1970, beyond the C
//! library's calendar) is left as it is.

use crate::localtime::push_converted;
use std::io;
use std::os::fd::AsFd;

/// How many bytes a label takes.
const LABEL: usize = ostler_core::Tain::TEXT_LEN;
/// Output is written once this much is gathered.
const FLUSH_AT: usize = 64 * 1024;

/// The filter's state between chunks of input.
#[derive(Debug)]
pub struct Filter {
    /// At the start of a line: the first bytes of it, until there are enough to tell.
    head: Vec<u8>,
    at_line_start: bool,
}

impl Default for Filter {
    fn default() -> Self {
        Filter { head: Vec::with_capacity(LABEL), at_line_start: true }
    }
}

impl Filter {
    /// Converts one chunk of input, appending to `out`.
    pub fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<u8>) {
        while !chunk.is_empty() {
            if self.at_line_start {
                let room = LABEL - self.head.len();
                let take = chunk.iter().take(room).position(|&b| b == b'\n').unwrap_or(room.min(chunk.len()));
                self.head.extend_from_slice(&chunk[..take]);
                chunk = &chunk[take..];
                let line_ended = chunk.first() == Some(&b'\n');
                if self.head.len() == LABEL || line_ended || self.head.first().is_some_and(|&b| b != b'@') {
                    push_converted(out, &self.head);
                    self.head.clear();
                    self.at_line_start = false;
                } else {
                    return; // need more input to tell
                }
            }
            match chunk.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    out.extend_from_slice(&chunk[..=end]);
                    chunk = &chunk[end + 1..];
                    self.at_line_start = true;
                }
                None => {
                    out.extend_from_slice(chunk);
                    chunk = &[];
                }
            }
        }
    }

    /// The end of the input: what was held back goes out as it is (or converted, if whole).
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        push_converted(out, &self.head);
        self.head.clear();
    }
}

/// Filters standard input to standard output; returns the exit code.
pub fn run() -> u8 {
    crate::sys::tzset();
    match filter_stdio() {
        Ok(()) => 0,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("ostler tai64nlocal: fatal: unable to copy the input: {}", crate::error::describe(&e));
            111
        }
    }
}

fn filter_stdio() -> io::Result<()> {
    let stdin = io::stdin();
    let stdout = io::stdout();
    let mut filter = Filter::default();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut out = Vec::with_capacity(FLUSH_AT * 2);
    loop {
        let n = match nix::unistd::read(stdin.as_fd(), &mut buffer) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            filter.finish(&mut out);
            return crate::sys::write_all_fd(stdout.as_fd(), &out);
        }
        filter.feed(&buffer[..n], &mut out);
        if out.len() >= FLUSH_AT {
            crate::sys::write_all_fd(stdout.as_fd(), &out)?;
            out.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert_in_pieces(input: &[u8], piece: usize) -> Vec<u8> {
        let mut filter = Filter::default();
        let mut out = Vec::new();
        for chunk in input.chunks(piece) {
            filter.feed(chunk, &mut out);
        }
        filter.finish(&mut out);
        out
    }

    #[test]
    fn labels_at_line_starts_only_whatever_the_chunking() {
        crate::sys::utc_for_tests();
        let input = b"@400000000000000a00000000 a\nx@400000000000000a00000000\n@4000\n\n@400000000000000a00000001";
        let wanted =
            b"1970-01-01 00:00:00.000000000 a\nx@400000000000000a00000000\n@4000\n\n1970-01-01 00:00:00.000000001";
        for piece in [1, 2, 3, 7, 25, 26, 1000] {
            assert_eq!(convert_in_pieces(input, piece), wanted, "pieces of {piece}");
        }
    }
}
