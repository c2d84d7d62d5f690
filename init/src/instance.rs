//! ostler's scanner and service manager run as an instance under another init: the system's
//! under systemd (`ostler hosted`, the `ostler.service` unit), or one user's own
//! (`ostler user`). Both are the container init's machinery ([`crate::container`]) with the
//! runtime area given rather than chosen: made fresh at start (a stale service-manager state
//! would claim services are up), guarded by a lock so a second instance on the same paths is
//! refused, and never taken for a container's (no mounts, no s6-overlay, `poweroff` still
//! reaches the real init). Readiness goes to `$NOTIFY_SOCKET` when there is one.

use nix::fcntl::{Flock, FlockArg};
use ostler_core::paths;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Which instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The system's, under another init: /etc/ostler/sv, /run/service, /run/ostler, /var/log.
    System,
    /// One user's, with the XDG base directories.
    User,
}

/// Where an instance keeps its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    /// Which instance.
    pub kind: Kind,
    /// The definition directories.
    pub defs: Vec<PathBuf>,
    /// The scan directory.
    pub scan: PathBuf,
    /// The private area.
    pub private: PathBuf,
    /// Where services' log directories go by default (`OSTLER_LOGDIR` for what it starts).
    pub logs: PathBuf,
    /// The lock file, beside the runtime area (it outlives the area's renewal).
    pub lock: PathBuf,
    /// A catch-all logger's directory for everything the instance and its services print
    /// (`ostler user start`: no terminal, no journal to print to); none: our own output.
    pub catch_all: Option<PathBuf>,
}

/// The file in the private area holding the instance's pid.
pub const PID_FILE: &str = "pid";

impl Instance {
    /// The system's instance under another init: the runtime paths of a booted system
    /// (`OSTLER_SCANDIR`, `OSTLER_RUNDIR`, `OSTLER_DEFS`, `OSTLER_LOGDIR` move them).
    pub fn system() -> Instance {
        let private = paths::from_env("OSTLER_RUNDIR", paths::PRIVATE_DIR);
        let lock = lock_beside(&private);
        Instance {
            kind: Kind::System,
            defs: defs_from_env().unwrap_or_else(|| vec![PathBuf::from(paths::ETC_DIR).join("sv")]),
            scan: paths::from_env("OSTLER_SCANDIR", paths::SCAN_DIR),
            private,
            logs: paths::from_env("OSTLER_LOGDIR", paths::LOG_ROOT),
            lock,
            catch_all: None,
        }
    }

    /// The calling user's instance (see [`paths::UserInstance`]); `OSTLER_DEFS` and
    /// `OSTLER_LOGDIR` still move the definitions and the logs.
    pub fn user() -> Instance {
        let user = paths::UserInstance::for_user(nix::unistd::geteuid().as_raw());
        Instance {
            kind: Kind::User,
            defs: defs_from_env().unwrap_or_else(|| vec![user.defs.clone()]),
            lock: user.runtime.join("lock"),
            scan: user.scan,
            private: user.private,
            logs: paths::from_env("OSTLER_LOGDIR", &user.logs.to_string_lossy()),
            catch_all: None,
        }
    }

    /// The instance's pid while it runs (its lock is held), from the pid file.
    pub fn running(&self) -> Option<nix::unistd::Pid> {
        if !self.locked() {
            return None;
        }
        let text = std::fs::read_to_string(self.private.join(PID_FILE)).ok()?;
        text.trim().parse().ok().map(nix::unistd::Pid::from_raw)
    }

    /// Whether an instance holds the lock: from its start until its very end (its runtime
    /// area removed).
    pub fn locked(&self) -> bool {
        File::open(&self.lock).is_ok_and(|file| Flock::lock(file, FlockArg::LockSharedNonblock).is_err())
    }
}

/// `OSTLER_DEFS=A:B`, when set.
fn defs_from_env() -> Option<Vec<PathBuf>> {
    let list = std::env::var_os("OSTLER_DEFS").filter(|v| !v.is_empty())?;
    Some(std::env::split_paths(&list).collect())
}

/// `/run/ostler` → `/run/ostler.lock`.
fn lock_beside(private: &Path) -> PathBuf {
    let mut name = private.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    private.with_file_name(name)
}

/// The instance's runtime area, taken: the lock held (by the returned guard, for as long as
/// the instance runs), what an earlier run left removed, the two directories made anew, our
/// pid written. Refused while another instance holds the lock.
pub fn take(instance: &Instance) -> Result<(crate::container::runtime::Runtime, Flock<File>), String> {
    let parent = instance.lock.parent().unwrap_or(Path::new("/"));
    make_private_base(instance, parent)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&instance.lock)
        .map_err(|e| format!("unable to open {}: {e}", instance.lock.display()))?;
    let lock = Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|_| {
        let pid = std::fs::read_to_string(instance.private.join(PID_FILE)).unwrap_or_default();
        format!("another instance runs on {} (pid {}); stop it first", instance.scan.display(), pid.trim())
    })?;
    for dir in [&instance.scan, &instance.private] {
        match std::fs::remove_dir_all(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(format!("unable to remove what an earlier run left in {}: {e}", dir.display()))
            }
            _ => {}
        }
    }
    for (dir, mode) in [(&instance.scan, 0o755), (&instance.private, 0o700)] {
        std::fs::create_dir_all(dir.parent().unwrap_or(Path::new("/")))
            .and_then(|()| crate::early::make_dir(dir, mode))
            .map_err(|e| format!("unable to make {}: {e}", dir.display()))?;
    }
    let me = format!("{}\n", nix::unistd::getpid());
    std::fs::write(instance.private.join(PID_FILE), me)
        .map_err(|e| format!("unable to write {}: {e}", instance.private.join(PID_FILE).display()))?;
    let area = crate::container::runtime::Runtime {
        scan: instance.scan.clone(),
        private: instance.private.clone(),
        warning: None,
        remove: None,
    };
    Ok((area, lock))
}

/// A user instance's runtime base: made 0700 when missing; refused when it is not a directory
/// of ours (the /tmp fallback is shared with every user, who could have made it first).
fn make_private_base(instance: &Instance, base: &Path) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    if instance.kind == Kind::System {
        return std::fs::create_dir_all(base).map_err(|e| format!("unable to make {}: {e}", base.display()));
    }
    if let Some(parent) = base.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("unable to make {}: {e}", parent.display()))?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(base) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            return Err(format!("unable to make {}: {e}", base.display()))
        }
        _ => {}
    }
    let uid = nix::unistd::geteuid().as_raw();
    let meta = std::fs::symlink_metadata(base).map_err(|e| format!("unable to stat {}: {e}", base.display()))?;
    if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o022 != 0 {
        return Err(format!(
            "{} is not a directory of uid {uid} that only it may write; remove it, or set XDG_RUNTIME_DIR to a private directory",
            base.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_goes_beside_the_private_area() {
        assert_eq!(lock_beside(Path::new("/run/ostler")), PathBuf::from("/run/ostler.lock"));
    }
}
