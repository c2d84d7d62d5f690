//! `/proc/self/mountinfo`: the mount points it lists, as stage 1 (what is mounted already) and
//! the final stage (what to unmount, newest last) read them.

/// The mount points of a mountinfo text (field 5), `\040`-style escapes decoded, oldest first.
pub fn mount_points(mountinfo: &str) -> Vec<String> {
    mountinfo.lines().filter_map(|line| line.split(' ').nth(4)).map(unescape).collect()
}

/// Decodes the octal escapes (`\040` for a space) of the kernel's mount tables.
pub fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        // The kernel escapes one byte as three octal digits, so the first is 0 to 3; `\4xx` and
        // above are no escape (decoding one overflowed a byte: a panic in debug builds).
        let octal = |at: usize, top: u8| bytes.get(at).is_some_and(|b| (b'0'..=top).contains(b));
        if bytes[i] == b'\\' && octal(i + 1, b'3') && octal(i + 2, b'7') && octal(i + 3, b'7') {
            out.push((bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mount_points() {
        let text = "22 1 0:21 / /proc rw,nosuid - proc proc rw\n23 1 0:5 / /dev rw - devtmpfs udev rw\n24 1 0:6 / /mnt/with\\040space rw - tmpfs x rw\n";
        assert_eq!(mount_points(text), ["/proc", "/dev", "/mnt/with space"]);
        assert_eq!(unescape("/a\\011b"), "/a\tb");
        assert_eq!(unescape("/odd\\"), "/odd\\");
    }
}
