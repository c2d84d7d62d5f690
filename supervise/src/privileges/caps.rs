//! Capability names and sets. Names are read with the `caps` crate (its list is the kernel's);
//! sets are kept as bit masks, so that the child of a spawn applies them with plain system
//! calls (capset, prctl), which allocate nothing.

use std::str::FromStr;

/// A set of capabilities, bit N for capability N.
pub type Mask = u64;

/// Parses capability names, separated by white space: `cap_` prefix optional, any case. A
/// leading `~` makes it the complement (systemd's inverted `CapabilityBoundingSet=~…`).
pub fn parse(text: &str) -> Result<Mask, String> {
    let (invert, text) = match text.trim_start().strip_prefix('~') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let mut mask = 0;
    for word in text.split_whitespace() {
        let canonical = caps::to_canonical(word);
        let cap = caps::Capability::from_str(&canonical).map_err(|_| {
            format!("{word:?} is not a capability name (such as cap_net_bind_service); see capabilities(7)")
        })?;
        mask |= cap.bitmask();
    }
    Ok(if invert { all() & !mask } else { mask })
}

/// Every capability the `caps` crate knows.
pub fn all() -> Mask {
    caps::all().iter().fold(0, |mask, cap| mask | cap.bitmask())
}

/// The names in `mask`, lowercase, sorted by number (for messages and `ostler caps`' output).
pub fn names(mask: Mask) -> Vec<String> {
    let mut known: Vec<caps::Capability> = caps::all().into_iter().filter(|c| mask & c.bitmask() != 0).collect();
    known.sort_by_key(|c| c.index());
    known.iter().map(|c| c.to_string().to_lowercase()).collect()
}

/// The highest capability number the running kernel has (`/proc/sys/kernel/cap_last_cap`).
pub fn last_cap() -> u32 {
    // Read once: the running kernel's list does not change.
    static LAST: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *LAST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(40)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_any_case_with_or_without_the_prefix() {
        let one = parse("cap_net_bind_service").unwrap();
        assert_eq!(one, 1 << 10);
        assert_eq!(parse("NET_BIND_SERVICE\n").unwrap(), one);
        assert_eq!(parse("CAP_CHOWN  cap_kill").unwrap(), 1 | 1 << 5);
        assert_eq!(parse("").unwrap(), 0);
        assert_eq!(parse("~cap_sys_admin").unwrap(), all() & !(1 << 21));
        assert!(parse("cap_fly").unwrap_err().contains("\"cap_fly\""));
        assert_eq!(names(1 << 10 | 1), ["cap_chown", "cap_net_bind_service"]);
    }
}
