//! The runtime area of a container: what may be mounted, and where the scan directory and the
//! private area go.
//!
//! A container's engine mounts /proc, /dev, /dev/pts and /dev/shm itself; what is missing is
//! mounted when allowed and otherwise left (never an error: a container has no privilege to
//! spare). The runtime area wants a writable directory whose files may be executed (the
//! services' live copies run from it). The first that works, in order:
//! 1. `/run` as the engine left it (podman mounts a tmpfs there);
//! 2. `/run` after mounting a tmpfs on it (needs CAP_SYS_ADMIN, so root with a read-only root);
//! 3. `/tmp/ostler-UID`, `/var/tmp/ostler-UID`, `/dev/shm/ostler-UID` (a non-root user on a
//!    read-only root: podman gives a 1777 `/var/tmp`; runc's `/dev/shm` is 1777 but noexec).
//!
//! A place mounted `noexec` is taken only when nothing else is writable, with a warning.
//! `OSTLER_RUNDIR` and `OSTLER_SCANDIR` set by the caller win over all of it.
//!
//! Outside a container (`--container` given on a machine, in the kernel's first PID namespace)
//! /run/ostler may be the running system's: nothing shared is touched, the area is a fresh
//! `/tmp/ostler-container-PID`, removed at the end.

use ostler_core::paths;
use std::path::{Path, PathBuf};

/// Where the runtime area went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Runtime {
    /// The scan directory (`/run/service`).
    pub scan: PathBuf,
    /// The private area (`/run/ostler`).
    pub private: PathBuf,
    /// A warning for the user, when the place is not a good one.
    pub warning: Option<String>,
    /// A directory to remove at the end (the area made outside a container).
    pub remove: Option<PathBuf>,
}

/// Mounts the kernel filesystems that are missing, as far as allowed; the failures are the
/// engine's choice, not ours to report.
pub fn mount_what_is_missing() {
    for wanted in crate::mounts::wanted() {
        // /dev is the engine's (a devtmpfs over it would hide its devices); /run is handled
        // with the runtime area.
        if matches!(wanted.target, "/dev" | "/run") || is_mount_point(Path::new(wanted.target)) {
            continue;
        }
        let data = (!wanted.data.is_empty()).then_some(wanted.data);
        let _ = nix::mount::mount(Some(wanted.fstype), wanted.target, Some(wanted.fstype), wanted.flags, data);
    }
}

/// Whether something is mounted on `dir`: it is on another device than its parent. Two stats
/// where reading /proc/self/mountinfo (the kernel writes it anew for each read) cost a tenth
/// of a millisecond, most of a short container's own time.
fn is_mount_point(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let parent = dir.parent().unwrap_or(Path::new("/"));
    match (std::fs::symlink_metadata(dir), std::fs::metadata(parent)) {
        (Ok(dir), Ok(parent)) => dir.dev() != parent.dev(),
        _ => false,
    }
}

/// Chooses and makes the runtime area, emptied of what an earlier run of the same container
/// left (a stale service-manager state would claim services are up).
/// `in_own_namespace`: PID 1, or a PID namespace other than the kernel's first (so /run is the
/// container's own).
pub fn prepare(in_own_namespace: bool) -> Result<Runtime, String> {
    if let (Some(scan), Some(private)) = (given("OSTLER_SCANDIR"), given("OSTLER_RUNDIR")) {
        make(&scan, 0o755).and_then(|()| make(&private, 0o700)).map_err(|e| format!("{}: {e}", private.display()))?;
        return Ok(Runtime { scan, private, warning: None, remove: None });
    }
    if !in_own_namespace {
        let area = std::env::temp_dir().join(format!("ostler-container-{}", nix::unistd::getpid()));
        let (scan, private) = (area.join("service"), area.join("ostler"));
        fresh(&scan, 0o755).and_then(|()| fresh(&private, 0o700)).map_err(|e| format!("{}: {e}", area.display()))?;
        return Ok(Runtime { scan, private, warning: None, remove: Some(area) });
    }
    let uid = nix::unistd::geteuid();
    let run = (PathBuf::from(paths::SCAN_DIR), PathBuf::from(paths::PRIVATE_DIR));
    // /run twice: as it is, then with a tmpfs mounted on it when allowed.
    let mut places = vec![run.clone(), run];
    for base in paths::CONTAINER_AREA_BASES {
        let area = paths::container_area(base, uid.as_raw());
        places.push((area.join("service"), area.join("ostler")));
    }
    let mut noexec: Option<(PathBuf, PathBuf)> = None;
    for (index, (scan, private)) in places.into_iter().enumerate() {
        if index == 1 && !mount_run_tmpfs() {
            continue;
        }
        // /tmp, /var/tmp and /dev/shm are every user's: BASE/ostler-UID may have been made
        // first by someone else, as a link to elsewhere or a directory of theirs, where the
        // removal of an old area and the services' copies (run as root) would follow them.
        if index >= 2 && !scan.parent().is_some_and(own_private_dir) {
            continue;
        }
        if fresh(&scan, 0o755).and_then(|()| fresh(&private, 0o700)).is_err() {
            continue;
        }
        if !is_noexec(&private) {
            return Ok(Runtime { scan, private, warning: None, remove: None });
        }
        noexec.get_or_insert((scan, private));
    }
    match noexec {
        Some((scan, private)) => {
            let warning = Some(format!(
                "{} is mounted noexec and nothing better is writable: services cannot run from there; give the container a writable /run (podman does; runc: a tmpfs mount in config.json)",
                private.display()
            ));
            Ok(Runtime { scan, private, warning, remove: None })
        }
        None => Err(format!(
            "no writable place for the runtime area (/run, /tmp, /var/tmp, /dev/shm; uid {uid}); give the container a writable /run or set OSTLER_RUNDIR and OSTLER_SCANDIR"
        )),
    }
}

/// Makes `dir` (0700) when missing; whether it is then a directory (not a link) of ours that
/// no one else may write.
fn own_private_dir(dir: &Path) -> bool {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let _ = std::fs::DirBuilder::new().mode(0o700).create(dir);
    std::fs::symlink_metadata(dir)
        .is_ok_and(|m| m.is_dir() && m.uid() == nix::unistd::geteuid().as_raw() && m.mode() & 0o022 == 0)
}

fn given(variable: &str) -> Option<PathBuf> {
    std::env::var_os(variable).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// A tmpfs on /run, owned by us; false when not allowed.
fn mount_run_tmpfs() -> bool {
    use nix::mount::MsFlags;
    let data = format!("mode=0755,uid={},gid={}", nix::unistd::geteuid(), nix::unistd::getegid());
    nix::mount::mount(Some("tmpfs"), "/run", Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some(data.as_str()))
        .is_ok()
}

/// `dir` made anew (an earlier run's content removed), with `mode`.
fn fresh(dir: &Path, mode: u32) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    make(dir, mode)
}

fn make(dir: &Path, mode: u32) -> std::io::Result<()> {
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    crate::early::make_dir(dir, mode)
}

fn is_noexec(dir: &Path) -> bool {
    nix::sys::statvfs::statvfs(dir).is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_NOEXEC))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_place_is_used_only_when_it_is_a_private_directory_of_ours() {
        use std::os::unix::fs::PermissionsExt;
        let base = std::env::temp_dir().join(format!("ostler-runtime-area-{}", std::process::id()));
        std::fs::create_dir_all(&base).unwrap();
        let fresh = base.join("fresh");
        assert!(own_private_dir(&fresh), "a missing area is made, ours");
        let link = base.join("link");
        std::os::unix::fs::symlink(&fresh, &link).unwrap();
        assert!(!own_private_dir(&link), "a link (made by anyone) is followed");
        let open = base.join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(!own_private_dir(&open), "a directory others may write is used");
        std::fs::remove_dir_all(&base).unwrap();
    }
}
