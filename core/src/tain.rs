//! TAI64N timestamps ("tain"), as s6 stores them: a big-endian u64 label (2^62 + TAI seconds)
//! and a big-endian u32 of nanoseconds, 12 bytes in all; as text, `@` and 24 lowercase hex digits.
//!
//! skalibs built normally takes the system clock as UTC and adds 10 s plus the 27 leap seconds
//! known today, so the label is `2^62 + unix + 37`. We do the same so s6's tools agree with ours.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Offset between the Unix time and the TAI64 label.
const TAI_OFFSET: u64 = (1 << 62) + 37;

/// A TAI64N timestamp.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tain {
    /// The TAI64 label: 2^62 + TAI seconds.
    pub secs: u64,
    /// Nanoseconds, below 10^9.
    pub nanos: u32,
}

impl Tain {
    /// Length of the packed form.
    pub const PACKED_LEN: usize = 12;
    /// Length of the text form, `@` included.
    pub const TEXT_LEN: usize = 25;

    /// The wall clock now.
    pub fn now() -> Tain {
        Tain::from_system(SystemTime::now())
    }

    /// Converts a system time (clamped to the epoch).
    pub fn from_system(time: SystemTime) -> Tain {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        Tain { secs: since.as_secs() + TAI_OFFSET, nanos: since.subsec_nanos() }
    }

    /// Converts back to a system time (clamped to the epoch).
    pub fn to_system(self) -> SystemTime {
        // Seconds clamped too: a label read from a file may be past what a SystemTime holds
        // (i64 seconds), where the addition panics.
        let secs = self.secs.saturating_sub(TAI_OFFSET).min(i64::MAX as u64);
        UNIX_EPOCH + Duration::new(secs, self.nanos.min(999_999_999))
    }

    /// The 12 packed bytes.
    pub fn pack(self) -> [u8; 12] {
        let mut out = [0u8; 12];
        out[..8].copy_from_slice(&self.secs.to_be_bytes());
        out[8..].copy_from_slice(&self.nanos.to_be_bytes());
        out
    }

    /// Reads 12 packed bytes.
    pub fn unpack(bytes: &[u8; 12]) -> Tain {
        let mut secs = [0u8; 8];
        secs.copy_from_slice(&bytes[..8]);
        let mut nanos = [0u8; 4];
        nanos.copy_from_slice(&bytes[8..]);
        Tain { secs: u64::from_be_bytes(secs), nanos: u32::from_be_bytes(nanos) }
    }

    /// The text form: `@` followed by the packed bytes in lowercase hex.
    pub fn to_text(self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(Self::TEXT_LEN);
        out.push('@');
        // Digit by digit: a `format!` per byte made this a tenth of what a service manager's
        // event subscription costs in user time.
        for byte in self.pack() {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        out
    }

    /// Parses the text form (exactly `@` and 24 hex digits).
    pub fn parse_text(text: &str) -> Option<Tain> {
        let hex = text.strip_prefix('@')?;
        if hex.len() != 24 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut bytes = [0u8; 12];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Tain::unpack(&bytes))
    }

    /// Whole seconds from `self` to `later`, 0 if `later` is earlier (s6 clamps future stamps).
    pub fn seconds_until(self, later: Tain) -> u64 {
        if later <= self {
            return 0;
        }
        let mut secs = later.secs - self.secs;
        if later.nanos < self.nanos {
            secs -= 1;
        }
        secs
    }

    /// The duration from `self` to `later`, zero if `later` is earlier.
    pub fn duration_until(self, later: Tain) -> Duration {
        // Nanoseconds clamped as in `to_system`: a stamp read from a file may hold 10^9 or more,
        // which `Duration::new` carries into the seconds (a panic at u64::MAX seconds) and which
        // can make the earlier stamp the longer duration (a panic in the subtraction).
        let exact = |tain: Tain| Duration::new(tain.secs, tain.nanos.min(999_999_999));
        exact(later).saturating_sub(exact(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_is_unix_plus_37() {
        let t = Tain::from_system(UNIX_EPOCH + Duration::new(1_700_000_000, 5));
        assert_eq!(t.secs, 0x4000_0000_0000_0000 + 1_700_000_000 + 37);
        assert_eq!(t.nanos, 5);
        assert_eq!(t.to_system(), UNIX_EPOCH + Duration::new(1_700_000_000, 5));
    }

    #[test]
    fn text_round_trip_matches_s6_example() {
        let text = "@400000006b02cc972fb18368";
        let t = Tain::parse_text(text).unwrap();
        assert_eq!(t.secs, 0x4000_0000_6b02_cc97);
        assert_eq!(t.nanos, 0x2fb1_8368);
        assert_eq!(t.to_text(), text);
        assert_eq!(Tain::unpack(&t.pack()), t);
    }

    #[test]
    fn text_rejects_bad_forms() {
        for bad in ["", "@", "400000006b02cc972fb18368", "@400000006b02cc972fb1836", "@400000006b02cc972fb1836g"] {
            assert_eq!(Tain::parse_text(bad), None, "{bad}");
        }
    }

    #[test]
    fn seconds_until_clamps_and_rounds_down() {
        let a = Tain { secs: 100, nanos: 900_000_000 };
        let b = Tain { secs: 102, nanos: 100_000_000 };
        assert_eq!(a.seconds_until(b), 1);
        assert_eq!(b.seconds_until(a), 0);
        assert_eq!(a.duration_until(b), Duration::from_millis(1200));
    }
}
