//! The `supervise/status` file: what a supervisor tells the world about its service.
//!
//! s6 2.11, 2.12, 2.14 and 2.15 write 35 big-endian bytes: stamp (12), readystamp (12),
//! pid (u64), wstat (u16), flags (1). s6 2.13.x wrote 43: a u64 pgid after the pid. We write
//! 35 and read both.

use crate::{atomic, CoreError, Tain};
use std::path::Path;

/// Name of the status file inside `supervise/`.
pub const FILE: &str = "status";

/// The flags byte: bit 0 paused, 1 finishing, 2 wantup, 3 ready.
const PAUSED: u8 = 1;
const FINISHING: u8 = 2;
const WANT_UP: u8 = 4;
const READY: u8 = 8;

/// One supervised service's state, as stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// Last up/down transition (run spawned or run died).
    pub stamp: Tain,
    /// Readiness notified, or down and finish done, or supervisor start.
    pub readystamp: Tain,
    /// The run process while up, the finish process while finishing, else 0.
    pub pid: u64,
    /// Raw wait status of the last death of run.
    pub wstat: u16,
    /// Stopped by `p`/`P`.
    pub paused: bool,
    /// `finish` is running.
    pub finishing: bool,
    /// The supervisor wants the service up.
    pub want_up: bool,
    /// Notified ready when up; finish done when down.
    pub ready: bool,
}

/// How a service last stopped, decoded from `wstat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Death {
    /// It exited with this code.
    Exited(u8),
    /// A signal of this number killed it.
    Signaled(i32),
}

impl Status {
    /// Size of the layout we write.
    pub const LEN: usize = 35;
    /// Size of s6 2.13's layout, which we also read.
    pub const LEN_2_13: usize = 43;

    /// The service is up: a pid and not finishing.
    pub fn is_up(&self) -> bool {
        self.pid != 0 && !self.finishing
    }

    /// How the last run died.
    pub fn death(&self) -> Death {
        let w = i32::from(self.wstat);
        if w & 0x7f == 0 {
            Death::Exited(((w >> 8) & 0xff) as u8)
        } else {
            Death::Signaled(w & 0x7f)
        }
    }

    /// The 35 bytes.
    pub fn pack(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[0..12].copy_from_slice(&self.stamp.pack());
        out[12..24].copy_from_slice(&self.readystamp.pack());
        out[24..32].copy_from_slice(&self.pid.to_be_bytes());
        out[32..34].copy_from_slice(&self.wstat.to_be_bytes());
        out[34] = self.flags();
        out
    }

    fn flags(&self) -> u8 {
        let mut flags = 0;
        for (set, bit) in
            [(self.paused, PAUSED), (self.finishing, FINISHING), (self.want_up, WANT_UP), (self.ready, READY)]
        {
            if set {
                flags |= bit;
            }
        }
        flags
    }

    /// Reads either layout; `None` for any other length.
    pub fn unpack(bytes: &[u8]) -> Option<Status> {
        let (wstat_at, flags_at) = match bytes.len() {
            Self::LEN => (32, 34),
            Self::LEN_2_13 => (40, 42),
            _ => return None,
        };
        let tain = |at: usize| {
            let mut b = [0u8; 12];
            b.copy_from_slice(&bytes[at..at + 12]);
            Tain::unpack(&b)
        };
        let mut pid = [0u8; 8];
        pid.copy_from_slice(&bytes[24..32]);
        let flags = bytes[flags_at];
        Some(Status {
            stamp: tain(0),
            readystamp: tain(12),
            pid: u64::from_be_bytes(pid),
            wstat: u16::from_be_bytes([bytes[wstat_at], bytes[wstat_at + 1]]),
            paused: flags & PAUSED != 0,
            finishing: flags & FINISHING != 0,
            want_up: flags & WANT_UP != 0,
            ready: flags & READY != 0,
        })
    }

    /// Reads `SUPERVISE_DIR/status`.
    pub fn read(supervise_dir: &Path) -> Result<Status, CoreError> {
        let path = supervise_dir.join(FILE);
        let bytes = std::fs::read(&path).map_err(|e| CoreError::io("read", &path, e))?;
        Status::unpack(&bytes).ok_or(CoreError::BadStatus { path, len: bytes.len() })
    }

    /// Writes `SUPERVISE_DIR/status` atomically.
    pub fn write(&self, supervise_dir: &Path) -> Result<(), CoreError> {
        atomic::write(&supervise_dir.join(FILE), &self.pack(), 0o666)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn decodes_the_s6_example() {
        let bytes = hex("400000006b02cc972fb18368 400000006b02cc972f709d39 00000000000029eb 0000 04");
        let status = Status::unpack(&bytes).unwrap();
        assert_eq!(status.pid, 0x29eb);
        assert!(status.want_up && !status.ready && !status.paused && !status.finishing);
        assert!(status.is_up());
        assert_eq!(status.stamp.to_text(), "@400000006b02cc972fb18368");
        assert_eq!(status.pack().to_vec(), bytes);
    }

    #[test]
    fn flags_table_of_the_facts_sheet() {
        let cases = [
            (0x04, false, false, true, false),
            (0x08, false, false, false, true),
            (0x0c, false, false, true, true),
            (0x06, false, true, true, false),
            (0x05, true, false, true, false),
        ];
        for (byte, paused, finishing, want_up, ready) in cases {
            let mut bytes = [0u8; 35];
            bytes[34] = byte;
            let s = Status::unpack(&bytes).unwrap();
            assert_eq!((s.paused, s.finishing, s.want_up, s.ready), (paused, finishing, want_up, ready), "{byte:#x}");
            assert_eq!(s.pack()[34], byte);
        }
    }

    #[test]
    fn reads_the_2_13_layout() {
        let mut bytes = [0u8; 43];
        bytes[31] = 7; // pid
        bytes[39] = 7; // pgid
        bytes[40] = 0x03; // wstat = exit 3
        bytes[42] = 0x0c;
        let s = Status::unpack(&bytes).unwrap();
        assert_eq!(s.pid, 7);
        assert_eq!(s.wstat, 0x0300);
        assert_eq!(s.death(), Death::Exited(3));
        assert!(s.ready && s.want_up);
    }

    #[test]
    fn death_decodes_signals() {
        let s = Status { wstat: 0x000f, ..Status::default() };
        assert_eq!(s.death(), Death::Signaled(15));
        assert_eq!(Status::unpack(&[0u8; 34]), None);
    }
}
