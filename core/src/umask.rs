//! The process's umask, asked once: ostler never changes it after start-up, and knowing it
//! saves a `chmod` after each `mkdir` or `open` whose mode it would not have cut.

/// The umask's bits.
pub fn get() -> u32 {
    static UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        // umask(2) can only be read by setting it: set, then put back at once.
        let mask = nix::sys::stat::umask(nix::sys::stat::Mode::empty());
        nix::sys::stat::umask(mask);
        mask.bits() as u32
    })
}

/// Whether a file or directory created with `mode` ends up with exactly `mode` (the umask
/// clears none of its bits; set-id and sticky bits always need a chmod).
pub fn keeps(mode: u32) -> bool {
    mode & (get() | 0o7000) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_without_changing_it() {
        let before = get();
        let now = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(before as _));
        assert_eq!(now.bits() as u32, before);
        assert!(!keeps(0o3730), "set-id bits always need a chmod");
        assert_eq!(keeps(0o700), 0o700 & before == 0);
    }
}
