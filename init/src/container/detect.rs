//! Whether ostler runs in a container: `OSTLER_CONTAINER=1|0` decides when set; otherwise a PID
//! namespace other than the kernel's first one, or a marker an engine leaves (`container=` in
//! the environment — podman, systemd-nspawn, LXC —, `/run/.containerenv` — podman —,
//! `/.dockerenv` — Docker). A plain `runc run` leaves no marker: the PID namespace tells.

use std::path::Path;

/// The inode of the kernel's first PID namespace (`PROC_PID_INIT_INO`), which every machine's
/// PID 1 runs in and no container's does.
const INITIAL_PID_NAMESPACE: u64 = 0xEFFF_FFFC;

/// Why ostler thinks it is (or is not) in a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// `OSTLER_CONTAINER` says so.
    Told(bool),
    /// The PID namespace is not the kernel's first one.
    PidNamespace,
    /// An engine's marker.
    Marker(&'static str),
    /// Nothing says so.
    Nothing,
}

impl Finding {
    /// Whether the finding means "a container".
    pub fn is_container(&self) -> bool {
        !matches!(self, Finding::Told(false) | Finding::Nothing)
    }
}

/// Whether this process is in a PID namespace of its own (not the kernel's first); unknown
/// (no /proc) counts as no.
pub fn own_pid_namespace() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/ns/pid").is_ok_and(|meta| meta.ino() != INITIAL_PID_NAMESPACE)
}

/// Looks, in the order the module comment gives.
pub fn find() -> Finding {
    match std::env::var("OSTLER_CONTAINER").as_deref() {
        Ok("1") => return Finding::Told(true),
        Ok("0") => return Finding::Told(false),
        _ => {}
    }
    // Without /proc (a machine's PID 1 before it mounts it) the namespace is unknown: a
    // container's /proc is always mounted by its engine.
    if own_pid_namespace() {
        return Finding::PidNamespace;
    }
    if std::env::var_os("container").is_some_and(|v| !v.is_empty()) {
        return Finding::Marker("container=");
    }
    for marker in ["/run/.containerenv", "/.dockerenv"] {
        if Path::new(marker).exists() {
            return Finding::Marker(marker);
        }
    }
    Finding::Nothing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_told_false_and_nothing_mean_a_machine() {
        assert!(Finding::Told(true).is_container());
        assert!(Finding::PidNamespace.is_container());
        assert!(Finding::Marker("/.dockerenv").is_container());
        assert!(!Finding::Told(false).is_container());
        assert!(!Finding::Nothing.is_container());
    }
}
