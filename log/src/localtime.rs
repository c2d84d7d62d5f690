//! TAI64N labels as text, and as local time the way s6's tools print it:
//! `YYYY-MM-DD HH:MM:SS.nnnnnnnnn`.
//!
//! A label counts TAI seconds from 2^62. skalibs turns it into UTC by taking off 10 s and the
//! leap seconds inserted before it, and shows an inserted leap second itself as second 60 of
//! the minute before; labels that fall before 1970 or that the C library cannot place in a
//! calendar are left as they are. We do the same, so `ostler tai64nlocal` and
//! `s6-tai64nlocal` print the same bytes.

use crate::sys;
use ostler_core::Tain;

/// Unix time of 00:00:00 UTC on the day after each leap second (IERS Bulletin C), oldest first.
const LEAP_SECONDS: [i64; 27] = [
    78796800, 94694400, 126230400, 157766400, 189302400, 220924800, 252460800, 283996800, 315532800, 362793600,
    394329600, 425865600, 489024000, 567993600, 631152000, 662688000, 709948800, 741484800, 773020800, 820454400,
    867715200, 915148800, 1136073600, 1230768000, 1341100800, 1435708800, 1483228800,
];

/// TAI − UTC before the first leap second, as skalibs counts it.
const TAI_UTC_BASE: i64 = 10;
/// 2^62: the label of TAI second 0.
const LABEL_ZERO: u64 = 1 << 62;

/// A label in UTC: the Unix second, and whether it is an inserted leap second (which then
/// shows as second 60 of the Unix second given).
fn to_unix(label: u64) -> Option<(i64, bool)> {
    let tai = i64::try_from(label.checked_sub(LABEL_ZERO)?).ok()?;
    let mut inserted = 0i64;
    for (k, day_after) in LEAP_SECONDS.iter().enumerate() {
        // Before the k-th (from 0) leap second TAI - UTC is TAI_UTC_BASE + k, so 23:59:59 of
        // that day is TAI second day_after - 1 + TAI_UTC_BASE + k, and the leap second the next.
        let leap = day_after + TAI_UTC_BASE + k as i64;
        if tai == leap {
            return Some((day_after - 1, true));
        }
        if tai > leap {
            inserted = k as i64 + 1;
        }
    }
    let unix = tai - TAI_UTC_BASE - inserted;
    (unix >= 0).then_some((unix, false))
}

/// The label of a Unix time (the inverse of [`to_unix`] outside leap seconds).
pub fn from_unix(unix: i64, nanos: u32) -> Tain {
    let inserted = LEAP_SECONDS.iter().filter(|&&day_after| unix >= day_after).count() as i64;
    let tai = unix + TAI_UTC_BASE + inserted;
    Tain { secs: LABEL_ZERO.wrapping_add_signed(tai), nanos }
}

/// Appends `tain` as local time, `YYYY-MM-DD HH:MM:SS.nnnnnnnnn`. Returns false (appending
/// nothing) when the label is not a time skalibs would print.
pub fn push_local(out: &mut Vec<u8>, tain: Tain) -> bool {
    let Some((unix, leap)) = to_unix(tain.secs) else { return false };
    let Some(tm) = sys::localtime(unix) else { return false };
    let second = if leap { 60 } else { tm.tm_sec };
    let year = i64::from(tm.tm_year) + 1900;
    let text =
        format!("{year:04}-{:02}-{:02} {:02}:{:02}:{second:02}.", tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min);
    out.extend_from_slice(text.as_bytes());
    // skalibs writes the nanoseconds into nine places: a (malformed) count of a billion or
    // more keeps its first nine digits.
    let nanos = format!("{:09}", tain.nanos);
    out.extend_from_slice(&nanos.as_bytes()[..9]);
    true
}

/// Appends `tain` as text: `@` and 24 lowercase hex digits.
pub fn push_label(out: &mut Vec<u8>, tain: Tain) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'@');
    for byte in tain.pack() {
        out.push(HEX[usize::from(byte >> 4)]);
        out.push(HEX[usize::from(byte & 15)]);
    }
}

/// Reads a label at the start of `bytes`: `@` and 24 hex digits of either case.
pub fn parse_label(bytes: &[u8]) -> Option<Tain> {
    if bytes.len() < Tain::TEXT_LEN || bytes[0] != b'@' {
        return None;
    }
    let mut packed = [0u8; 12];
    for (i, byte) in packed.iter_mut().enumerate() {
        let high = hex_value(bytes[1 + 2 * i])?;
        let low = hex_value(bytes[2 + 2 * i])?;
        *byte = high << 4 | low;
    }
    Some(Tain::unpack(&packed))
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Appends `line` with a leading label replaced by local time, as `s6-tai64nlocal` does;
/// a line without a convertible label is appended unchanged.
pub fn push_converted(out: &mut Vec<u8>, line: &[u8]) {
    if let Some(tain) = parse_label(line) {
        if push_local(out, tain) {
            out.extend_from_slice(&line[Tain::TEXT_LEN..]);
            return;
        }
    }
    out.extend_from_slice(line);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(unix: i64, offset: i64) -> u64 {
        LABEL_ZERO + (unix + offset) as u64
    }

    #[test]
    fn now_is_unix_plus_37() {
        assert_eq!(to_unix(label(1_700_000_000, 37)), Some((1_700_000_000, false)));
        assert_eq!(from_unix(1_700_000_000, 0).secs, label(1_700_000_000, 37));
    }

    #[test]
    fn leap_seconds_show_as_second_60() {
        // 2016-12-31 23:59:60 UTC: TAI second 1483228800 + 36.
        assert_eq!(to_unix(label(1_483_228_800, 36)), Some((1_483_228_799, true)));
        assert_eq!(to_unix(label(1_483_228_800, 37)), Some((1_483_228_800, false)));
        assert_eq!(to_unix(label(1_483_228_799, 36)), Some((1_483_228_799, false)));
        // 2008-12-31 23:59:60: 33 then.
        assert_eq!(to_unix(label(1_230_768_000, 33)), Some((1_230_767_999, true)));
        assert_eq!(to_unix(label(1_230_768_000, 34)), Some((1_230_768_000, false)));
    }

    #[test]
    fn before_1970_and_below_2_to_62_are_not_times() {
        assert_eq!(to_unix(LABEL_ZERO + 9), None);
        assert_eq!(to_unix(LABEL_ZERO + 10), Some((0, false)));
        assert_eq!(to_unix(LABEL_ZERO - 1), None);
        assert_eq!(to_unix(0), None);
    }

    #[test]
    fn labels_parse_in_either_case() {
        let tain = parse_label(b"@400000006B04C7CA2e2800a8 rest").unwrap();
        assert_eq!(tain.secs, 0x4000_0000_6b04_c7ca);
        assert_eq!(tain.nanos, 0x2e28_00a8);
        assert_eq!(parse_label(b"@400000006b04c7ca2e2800a"), None);
        assert_eq!(parse_label(b"@400000006b04c7ca2e2800ag"), None);
        let mut text = Vec::new();
        push_label(&mut text, tain);
        assert_eq!(text, b"@400000006b04c7ca2e2800a8");
    }

    #[test]
    fn local_text_has_nine_digit_nanoseconds() {
        sys::utc_for_tests();
        let mut out = Vec::new();
        assert!(push_local(&mut out, Tain { secs: label(1_483_228_800, 36), nanos: 5 }));
        assert_eq!(out, b"2016-12-31 23:59:60.000000005");
        out.clear();
        assert!(push_local(&mut out, Tain { secs: label(0, 10), nanos: 4_294_967_295 }));
        assert_eq!(out, b"1970-01-01 00:00:00.429496729");
        out.clear();
        push_converted(&mut out, b"@400000000000000a00000000 x");
        assert_eq!(out, b"1970-01-01 00:00:00.000000000 x");
        out.clear();
        push_converted(&mut out, b"@4000000000000009 not a label");
        assert_eq!(out, b"@4000000000000009 not a label");
    }
}
