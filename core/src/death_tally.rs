//! `supervise/death_tally`: the last deaths of a service, oldest first, 14 bytes each:
//! the tain of the death, then the exit code (128 + signal when signalled), then the signal
//! (0 when it exited).

use crate::{atomic, CoreError, Tain};
use std::path::Path;

/// Name of the file inside `supervise/`.
pub const FILE: &str = "death_tally";
/// Bytes per record.
pub const RECORD_LEN: usize = 14;
/// Default number of deaths kept (`max-death-tally` absent).
pub const DEFAULT_MAX: u16 = 100;
/// Largest `max-death-tally` s6 accepts.
pub const LIMIT: u16 = 4096;

/// One death.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Death {
    /// When it died.
    pub when: Tain,
    /// Exit code, or 128 + signal.
    pub code: u8,
    /// The signal, 0 if it exited.
    pub signal: u8,
}

impl Death {
    /// Builds a record from a raw wait status.
    pub fn from_wstat(when: Tain, wstat: u16) -> Death {
        let sig = (wstat & 0x7f) as u8;
        if sig == 0 {
            Death { when, code: (wstat >> 8) as u8, signal: 0 }
        } else {
            Death { when, code: 128u8.wrapping_add(sig), signal: sig }
        }
    }

    /// The 14 bytes.
    pub fn pack(&self) -> [u8; RECORD_LEN] {
        let mut out = [0u8; RECORD_LEN];
        out[..12].copy_from_slice(&self.when.pack());
        out[12] = self.code;
        out[13] = self.signal;
        out
    }

    /// Reads one record.
    pub fn unpack(bytes: &[u8; RECORD_LEN]) -> Death {
        let mut when = [0u8; 12];
        when.copy_from_slice(&bytes[..12]);
        Death { when: Tain::unpack(&when), code: bytes[12], signal: bytes[13] }
    }
}

/// Every whole record in `bytes`, oldest first.
pub fn unpack_all(bytes: &[u8]) -> Vec<Death> {
    bytes
        .chunks_exact(RECORD_LEN)
        .map(|chunk| {
            let mut record = [0u8; RECORD_LEN];
            record.copy_from_slice(chunk);
            Death::unpack(&record)
        })
        .collect()
}

/// Writes the tally atomically into `supervise_dir`.
pub fn write(supervise_dir: &Path, deaths: &[Death]) -> Result<(), CoreError> {
    let mut bytes = Vec::with_capacity(deaths.len() * RECORD_LEN);
    for death in deaths {
        bytes.extend_from_slice(&death.pack());
    }
    atomic::write(&supervise_dir.join(FILE), &bytes, 0o666)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_exit_and_signal() {
        let when = Tain { secs: 1, nanos: 2 };
        assert_eq!(Death::from_wstat(when, 0x0300), Death { when, code: 3, signal: 0 });
        assert_eq!(Death::from_wstat(when, 9), Death { when, code: 137, signal: 9 });
        let packed = Death::from_wstat(when, 9).pack();
        assert_eq!(&packed[12..], &[137, 9]);
        assert_eq!(unpack_all(&[packed, packed].concat()).len(), 2);
    }
}
