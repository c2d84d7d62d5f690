//! What a service may do: its user and groups, capabilities (bounding and ambient sets,
//! `no_new_privs`), resource limits, environment, working directory and umask — declared by
//! files in its directory, which the supervisor applies between fork and exec (no exec of a
//! helper, so a service pays nothing for them), or given to the chain-loading commands
//! `ostler caps`, `ostler limit` and `ostler envdir` in a `run` script. Both go through
//! [`Declared`] → [`Prepared`] → [`Prepared::apply`].
//!
//! The files (docs/service-directory.md):
//!
//! | file | holds |
//! | --- | --- |
//! | `user` | `NAME` or `NAME:GROUP` (or numbers): run and finish become that user, with the groups /etc/group gives it |
//! | `groups` | more supplementary groups, by name or number |
//! | `capabilities` | the bounding set: capability names (`cap_net_bind_service` …; `~` inverts); empty: none |
//! | `ambient-capabilities` | capabilities kept across the change of user and exec (raised into the ambient set) |
//! | `no-new-privs` | (empty) set `no_new_privs`: no setuid bit or file capability raises privileges |
//! | `limits` | `RESOURCE SOFT[:HARD]` lines (`nofile 1024:4096`) |
//! | `environment/` | an environment directory (s6-envdir's format) |
//! | `environment-file` | paths of `KEY=VALUE` files read at each start (`-PATH`: may be missing) |
//! | `working-directory` | where run starts (default: the service directory; `~`: the user's home) |
//! | `umask` | octal |
//! | `runtime-directory`, `state-directory`, `logs-directory` | `NAME [MODE]` lines: made under /run, /var/lib, /var/log and given to the user before run starts |

pub mod caps;
pub mod chain;
pub mod envdir;
pub mod limits;

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Largest privilege file read (a `limits` or `capabilities` file is a few lines).
const MAX_LEN: u64 = 4096;

/// The files that declare directories, and where each one's directories are made.
const DIRECTORY_FILES: [(&str, &str); 3] =
    [("runtime-directory", "/run"), ("state-directory", "/var/lib"), ("logs-directory", "/var/log")];

use ostler_core::settings::PrivilegeFiles;
/// The files this module reads, for the check that a directory has any.
pub use ostler_core::settings::PRIVILEGE_FILES as FILES;
use rustix::thread::{Gid, Uid};

/// What a service directory (or a command line) declares.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Declared {
    /// `NAME` or `NAME:GROUP`.
    pub user: Option<String>,
    /// More supplementary groups.
    pub groups: Vec<String>,
    /// The bounding set to keep (`None`: leave it).
    pub bounding: Option<caps::Mask>,
    /// Raised into the ambient set.
    pub ambient: caps::Mask,
    /// `no_new_privs`.
    pub no_new_privs: bool,
    /// Resource limits.
    pub limits: Vec<limits::Limit>,
    /// An environment directory.
    pub environment: Option<PathBuf>,
    /// `KEY=VALUE` files, each with whether it may be missing.
    pub environment_files: Vec<(PathBuf, bool)>,
    /// Where run starts.
    pub working_directory: Option<PathBuf>,
    /// The umask.
    pub umask: Option<u32>,
    /// Directories to make before run starts: (base, name, mode).
    pub directories: Vec<(&'static str, String, u32)>,
}

impl Declared {
    /// Reads the privilege files of `dir`. `None` when it has none (the common case: a
    /// service pays one directory listing for the question). Problems are messages naming the
    /// file, the line and the fix; the file is then left out and the others still apply —
    /// except that a bad `user` or capability file is an error of the whole declaration
    /// (starting with more privileges than declared is never the fallback).
    pub fn load(dir: &Path) -> Result<Option<Declared>, Refused> {
        Declared::read(dir, PrivilegeFiles::list(dir))
    }

    /// [`load`](Declared::load) with the directory already listed (the supervisor's
    /// settings did it): only the files there are opened.
    pub fn read(dir: &Path, present: PrivilegeFiles) -> Result<Option<Declared>, Refused> {
        if !present.any() {
            return Ok(None);
        }
        let at = |name: &str, message: String| Refused { file: dir.join(name), message };
        let read = |name: &str| -> Result<Option<String>, Refused> {
            if !present.has(name) {
                return Ok(None);
            }
            read_small(&dir.join(name)).map_err(|message| at(name, message))
        };
        let mut declared = Declared::default();
        if let Some(text) = read("user")? {
            let user = text.trim();
            if user.is_empty() || user.contains(char::is_whitespace) {
                return Err(at("user", "write one user name (or NAME:GROUP) in it".into()));
            }
            declared.user = Some(user.to_string());
        }
        if let Some(text) = read("groups")? {
            declared.groups = text.split_whitespace().map(str::to_string).collect();
        }
        if let Some(text) = read("capabilities")? {
            declared.bounding = Some(caps::parse(&text).map_err(|e| at("capabilities", e))?);
        }
        if let Some(text) = read("ambient-capabilities")? {
            declared.ambient = caps::parse(&text).map_err(|e| at("ambient-capabilities", e))?;
        }
        declared.no_new_privs = present.has("no-new-privs");
        if let Some(text) = read("limits")? {
            declared.limits = limits::parse_file(&text).map_err(|e| at("limits", e))?;
        }
        if present.has("environment") {
            declared.environment = Some(dir.join("environment"));
        }
        if let Some(text) = read("environment-file")? {
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
                let (optional, path) = match line.strip_prefix('-') {
                    Some(path) => (true, path),
                    None => (false, line),
                };
                declared.environment_files.push((PathBuf::from(path), optional));
            }
        }
        if let Some(text) = read("working-directory")? {
            declared.working_directory = Some(PathBuf::from(text.trim()));
        }
        if let Some(text) = read("umask")? {
            let mask = u32::from_str_radix(text.trim(), 8)
                .ok()
                .filter(|m| *m <= 0o777)
                .ok_or_else(|| at("umask", format!("{:?} is not an octal umask such as 027", text.trim())))?;
            declared.umask = Some(mask);
        }
        for (file, base) in DIRECTORY_FILES {
            let Some(text) = read(file)? else { continue };
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
                let mut words = line.split_whitespace();
                let name = words.next().unwrap_or_default();
                let mode = match words.next() {
                    Some(mode) => u32::from_str_radix(mode, 8)
                        .ok()
                        .filter(|m| *m <= 0o7777)
                        .ok_or_else(|| at(file, format!("{mode:?} is not an octal mode such as 0755")))?,
                    None => 0o755,
                };
                // `.` alone would be the base itself: /var/lib given to the service's user.
                let no_name = name.split('/').all(|part| part.is_empty() || part == ".");
                if no_name || name.starts_with('/') || name.split('/').any(|part| part == "..") {
                    return Err(at(file, format!("{name:?}: give a name relative to {base}, without ..")));
                }
                declared.directories.push((base, name.to_string(), mode));
            }
        }
        if declared.ambient != 0 {
            if let Some(bounding) = declared.bounding {
                let outside = declared.ambient & !bounding;
                if outside != 0 {
                    return Err(at(
                        "ambient-capabilities",
                        format!(
                            "{} not in the bounding set (capabilities); add them there",
                            caps::names(outside).join(" ")
                        ),
                    ));
                }
            }
        }
        Ok(Some(declared))
    }

    /// Resolves names and reads what is read at each start (the user database, environment
    /// files), and makes the declared directories; `service_dir` is where relative paths start.
    pub fn prepare(&self, service_dir: &Path) -> Result<Prepared, String> {
        let ids = match &self.user {
            Some(spec) => Some(resolve_user_cached(spec, &self.groups)?),
            None if !self.groups.is_empty() => {
                return Err("groups without user: name the user in `user` too".into());
            }
            None => None,
        };
        let mut env = Vec::new();
        if let Some(dir) = &self.environment {
            let changes = envdir::read(dir, envdir::Mode::default())
                .map_err(|e| format!("unable to read the environment directory {}: {e}", dir.display()))?;
            env.extend(changes);
        }
        for (path, optional) in &self.environment_files {
            match envdir::read_environment_file(path) {
                Ok(changes) => env.extend(changes),
                Err(e) if *optional && e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("unable to read the environment file {}: {e}", path.display())),
            }
        }
        let cwd = match &self.working_directory {
            Some(dir) => {
                let dir = match (dir.strip_prefix("~"), &ids) {
                    (Ok(rest), Some(ids)) => ids.home.join(rest),
                    _ => service_dir.join(dir),
                };
                Some(CString::new(dir.as_os_str().as_bytes()).map_err(|_| "working-directory holds a NUL byte")?)
            }
            None => None,
        };
        for (base, name, mode) in &self.directories {
            let file = DIRECTORY_FILES.iter().find(|(_, b)| b == base).map_or("", |(file, _)| file);
            make_directory(Path::new(base), name, *mode, ids.as_ref()).map_err(|why| match why {
                Unmade::Io(message) => message,
                Unmade::Declared(problem) => format!("{}: {name}: {problem}", service_dir.join(file).display()),
            })?;
        }
        let limits = self
            .limits
            .iter()
            .map(|l| (l.resource, l.soft.unwrap_or(limits::INFINITY), l.hard, l.soft.is_none()))
            .collect();
        Ok(Prepared {
            ids: ids.map(|ids| {
                let groups = ids.groups.iter().map(|&g| Gid::from_raw(g)).collect();
                (Uid::from_raw(ids.uid), Gid::from_raw(ids.gid), groups)
            }),
            bounding: self.bounding,
            ambient: self.ambient,
            no_new_privs: self.no_new_privs,
            limits,
            umask: self.umask,
            cwd,
            env,
            last_cap: caps::last_cap(),
        })
    }
}

/// A privilege file that cannot be used: which, and why with the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// The file.
    pub file: PathBuf,
    /// What is wrong, and what to do.
    pub message: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.message)
    }
}

/// A declaration resolved for one start: numbers and bit masks only, so that [`apply`] (run in
/// the child of a spawn) is plain system calls.
///
/// [`apply`]: Prepared::apply
#[derive(Clone, Debug, Default)]
pub struct Prepared {
    /// uid, gid, supplementary groups.
    pub ids: Option<(Uid, Gid, Vec<Gid>)>,
    /// The bounding set to keep.
    pub bounding: Option<caps::Mask>,
    /// The ambient set to raise.
    pub ambient: caps::Mask,
    /// `no_new_privs`.
    pub no_new_privs: bool,
    /// (resource, soft, hard, soft-is-the-hard-limit).
    pub limits: Vec<(limits::Resource, u64, Option<u64>, bool)>,
    /// The umask.
    pub umask: Option<u32>,
    /// Where run starts, instead of the service directory.
    pub cwd: Option<CString>,
    /// Environment changes: set (`Some`) or remove (`None`).
    pub env: Vec<(OsString, Option<OsString>)>,
    /// The kernel's highest capability number.
    pub last_cap: u32,
}

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

impl Prepared {
    /// Applies everything but the environment and the working directory (the caller builds the
    /// environment array and changes directory) to this process: limits, umask, bounding set,
    /// groups and ids, capabilities, `no_new_privs`. Returns the failing call's errno.
    ///
    /// # Safety
    /// Async-signal-safe: only system calls, no allocation, so it may run in the child of a
    /// fork or of a vfork-style clone that shares the parent's memory.
    pub unsafe fn apply(&self) -> Result<(), i32> {
        use crate::raw::call;
        // Direct system calls (see crate::raw): the child may share the spawner's memory, and
        // with it the C library's errno.
        for &(resource, soft, hard, soft_is_hard) in &self.limits {
            let mut current: libc::rlimit = std::mem::zeroed();
            call!(libc::SYS_prlimit64, 0usize, resource as u32, 0usize, &mut current as *mut libc::rlimit)?;
            let hard = hard.map_or(current.rlim_max, |h| h as libc::rlim_t);
            let soft = if soft_is_hard { hard } else { (soft as libc::rlim_t).min(hard) };
            let limit = libc::rlimit { rlim_cur: soft, rlim_max: hard };
            call!(libc::SYS_prlimit64, 0usize, resource as u32, &limit as *const libc::rlimit, 0usize)?;
        }
        if let Some(mask) = self.umask {
            let _ = call!(libc::SYS_umask, mask);
        }
        // The bounding set can only shrink, and only with CAP_SETPCAP: before the ids change.
        if let Some(keep) = self.bounding {
            for cap in 0..=self.last_cap.min(63) {
                if keep & (1 << cap) == 0 {
                    match call!(libc::SYS_prctl, libc::PR_CAPBSET_DROP, cap) {
                        Ok(_) | Err(libc::EINVAL) => {}
                        Err(errno) => return Err(errno),
                    }
                }
            }
        }
        if let Some((uid, gid, groups)) = &self.ids {
            // Ambient capabilities must survive the change from root: keep the permitted set.
            if self.ambient != 0 {
                call!(libc::SYS_prctl, libc::PR_SET_KEEPCAPS, 1usize)?;
            }
            // The kernel's per-thread calls, not the C library's: musl's setuid() stops every
            // thread of the process with signals first, which a child sharing the
            // supervisor's memory neither needs nor should do (and it costs nine calls more).
            use rustix::thread::{set_thread_groups, set_thread_res_gid, set_thread_res_uid};
            let changed = set_thread_groups(groups)
                .and_then(|()| set_thread_res_gid(*gid, *gid, *gid))
                .and_then(|()| set_thread_res_uid(*uid, *uid, *uid));
            if let Err(e) = changed {
                return Err(e.raw_os_error());
            }
        }
        if self.ambient != 0 {
            // Permitted, effective and inheritable become exactly the ambient set, which an
            // ambient capability must be in; then each is raised.
            let header = [CAPABILITY_VERSION_3, 0];
            let low = self.ambient as u32;
            let high = (self.ambient >> 32) as u32;
            let data = [low, low, low, high, high, high];
            call!(libc::SYS_capset, header.as_ptr(), data.as_ptr())?;
            for cap in 0..=self.last_cap.min(63) {
                if self.ambient & (1 << cap) != 0 {
                    call!(libc::SYS_prctl, libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_RAISE, cap)?;
                }
            }
            if self.ids.is_some() {
                let _ = call!(libc::SYS_prctl, libc::PR_SET_KEEPCAPS, 0usize);
            }
        }
        if self.no_new_privs {
            call!(libc::SYS_prctl, libc::PR_SET_NO_NEW_PRIVS, 1usize)?;
        }
        Ok(())
    }

    /// This process's environment with the changes made, as `KEY=VALUE` strings.
    pub fn environment(&self) -> Vec<CString> {
        let mut vars: Vec<(OsString, OsString)> = std::env::vars_os().collect();
        for (key, value) in &self.env {
            vars.retain(|(k, _)| k != key);
            if let Some(value) = value {
                vars.push((key.clone(), value.clone()));
            }
        }
        vars.into_iter()
            .filter_map(|(k, v)| {
                let mut bytes = k.into_encoded_bytes();
                bytes.push(b'=');
                bytes.extend_from_slice(v.as_bytes());
                CString::new(bytes).ok()
            })
            .collect()
    }
}

/// A user's ids, groups and home.
#[derive(Clone, Debug)]
struct Ids {
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
    home: PathBuf,
}

/// What identifies the user database as it is: device, inode, size and modification time of
/// /etc/passwd and of /etc/group (`None`: missing). Editors and `useradd` replace the files
/// (a new inode) or at least change their time.
type DatabaseState = [Option<(u64, u64, u64, i64, i64)>; 2];

fn database_state() -> DatabaseState {
    use std::os::unix::fs::MetadataExt;
    ["/etc/passwd", "/etc/group"]
        .map(|path| std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec())))
}

/// Users resolved so far, with the state of the database they were resolved in.
type Resolved = Vec<((String, Vec<String>), DatabaseState, Ids)>;

static RESOLVED: std::sync::Mutex<Resolved> = std::sync::Mutex::new(Vec::new());

/// [`resolve_user`], looked up again only when /etc/passwd or /etc/group has changed: a
/// service that restarts pays two `stat`s instead of reading both files (and asking nscd)
/// at each start. Users served by nscd alone are looked up again when the files change
/// or the scanner restarts.
fn resolve_user_cached(spec: &str, more: &[String]) -> Result<Ids, String> {
    let state = database_state();
    let mut resolved = RESOLVED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, _, ids)) = resolved.iter().find(|(key, s, _)| key.0 == spec && key.1 == more && *s == state) {
        return Ok(ids.clone());
    }
    let ids = resolve_user(spec, more)?;
    // Entries of an older state are dead; a bound keeps a scanner of many users small.
    resolved.retain(|(_, s, _)| *s == state);
    if resolved.len() >= 256 {
        resolved.clear();
    }
    resolved.push(((spec.to_string(), more.to_vec()), state, ids.clone()));
    Ok(ids)
}

/// `NAME[:GROUP]` (names or numbers) and more groups, from the user and group databases: the
/// user's own groups as /etc/group lists them (as login and systemd give them), GROUP in place
/// of the primary group.
fn resolve_user(spec: &str, more: &[String]) -> Result<Ids, String> {
    use nix::unistd::{Gid, Group, Uid, User};
    let (name, group) = match spec.split_once(':') {
        Some((name, group)) => (name, Some(group)),
        None => (spec, None),
    };
    if name.parse::<u32>() == Ok(u32::MAX) {
        return Err(format!("{name} is not a user id (-1 means \"no change\" to the kernel): name another in `user`"));
    }
    let account = match name.parse::<u32>() {
        Ok(uid) => User::from_uid(Uid::from_raw(uid)).ok().flatten(),
        Err(_) => User::from_name(name).ok().flatten(),
    };
    let (uid, mut gid, home, login) = match (account, name.parse::<u32>()) {
        (Some(user), _) => (user.uid.as_raw(), user.gid.as_raw(), user.dir, Some(user.name)),
        // A bare number need not be in /etc/passwd (a container's arbitrary uid).
        (None, Ok(uid)) => (uid, uid, PathBuf::from("/"), None),
        (None, Err(_)) => {
            return Err(format!("unknown user {name:?}: add it to /etc/passwd or name another in `user`"))
        }
    };
    let group_id = |text: &str| -> Result<u32, String> {
        match text.parse::<u32>() {
            Ok(u32::MAX) => Err(format!("{text} is not a group id: name another")),
            Ok(gid) => Ok(gid),
            Err(_) => Group::from_name(text)
                .ok()
                .flatten()
                .map(|g| g.gid.as_raw())
                .ok_or_else(|| format!("unknown group {text:?}: add it to /etc/group or name another")),
        }
    };
    if let Some(group) = group {
        gid = group_id(group)?;
    }
    let mut groups = vec![gid];
    if let Some(login) = login.and_then(|l| CString::new(l).ok()) {
        if let Ok(list) = nix::unistd::getgrouplist(&login, Gid::from_raw(gid)) {
            groups.extend(list.iter().map(|g| g.as_raw()));
        }
    }
    for extra in more {
        groups.push(group_id(extra)?);
    }
    groups.sort_unstable();
    groups.dedup();
    Ok(Ids { uid, gid, groups, home })
}

/// Why a declared directory was not made.
#[derive(Debug)]
enum Unmade {
    /// A system call failed: the message names the path.
    Io(String),
    /// The declaration cannot be carried out as it is: the fix, for the declaring file.
    Declared(String),
}

/// Makes `base/name` (and the directories between) with `mode`, owned by the service's user
/// when it has one; a directory already there is kept, and given the mode and the owner.
///
/// Root does this in a tree the service's user may own (its own directory, made at an earlier
/// start): by path, a symbolic link the user planted (`app -> /etc`) would have root chown
/// `/etc/cache`, or `/etc` itself, to the user. So the path is walked from `base` one name at
/// a time, each opened with `O_NOFOLLOW` (a link anywhere is refused), and the mode and owner
/// are set on the last descriptor, not on a path.
fn make_directory(base: &Path, name: &str, mode: u32, ids: Option<&Ids>) -> Result<(), Unmade> {
    use rustix::fs::{AtFlags, FileType, Mode, OFlags};
    use rustix::io::Errno;
    let unable = |what: &str, path: &Path, e: Errno| Unmade::Io(format!("unable to {what} {}: {e}", path.display()));
    // The base is the system's (/run, /var/lib, /var/log), root's alone: followed as given.
    std::fs::create_dir_all(base).map_err(|e| Unmade::Io(format!("unable to make {}: {e}", base.display())))?;
    let directory = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut fd = rustix::fs::open(base, directory, Mode::empty()).map_err(|e| unable("open", base, e))?;
    let mut walked = PathBuf::new();
    for part in name.split('/').filter(|part| !part.is_empty() && *part != ".") {
        walked.push(part);
        let open =
            |fd: &std::os::fd::OwnedFd| rustix::fs::openat(fd, part, directory | OFlags::NOFOLLOW, Mode::empty());
        let opened = match open(&fd) {
            Err(Errno::NOENT) => match rustix::fs::mkdirat(&fd, part, Mode::from_raw_mode(0o777)) {
                Ok(()) | Err(Errno::EXIST) => open(&fd),
                Err(e) => return Err(unable("make", &base.join(&walked), e)),
            },
            opened => opened,
        };
        fd = match opened {
            Ok(next) => next,
            // O_NOFOLLOW with O_DIRECTORY: a link is ENOTDIR (the directory test comes first)
            // or ELOOP, as is a file; the entry itself says which.
            Err(e @ (Errno::NOTDIR | Errno::LOOP)) => {
                let what = rustix::fs::statat(&fd, part, AtFlags::SYMLINK_NOFOLLOW)
                    .map(|stat| FileType::from_raw_mode(stat.st_mode));
                return Err(Unmade::Declared(match what {
                    Ok(FileType::Symlink) => format!(
                        "{} is a symbolic link; the declared directory must be a real directory",
                        walked.display()
                    ),
                    Ok(_) => format!(
                        "{} is not a directory; remove it, or declare another name",
                        base.join(&walked).display()
                    ),
                    Err(_) => return Err(unable("open", &base.join(&walked), e)),
                }));
            }
            Err(e) => return Err(unable("open", &base.join(&walked), e)),
        };
    }
    let path = base.join(&walked);
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode)).map_err(|e| unable("set the mode of", &path, e))?;
    if let Some(ids) = ids {
        rustix::fs::fchown(&fd, Some(Uid::from_raw(ids.uid)), Some(Gid::from_raw(ids.gid)))
            .map_err(|e| Unmade::Io(format!("unable to give {} to uid {}: {e}", path.display(), ids.uid)))?;
    }
    Ok(())
}

/// A privilege file's text (`None`: gone since the listing). Never blocks, as the settings'
/// reading does not: a FIFO named `user` must not hang the scanner (PID 1).
fn read_small(path: &Path) -> Result<Option<String>, String> {
    use ostler_core::settings::Unreadable;
    ostler_core::settings::read_text(path, MAX_LEN).map_err(|unreadable| match unreadable {
        Unreadable::Io(action, e) => format!("unable to {action} it: {e}"),
        Unreadable::NotRegular => "is not a regular file: make it a plain text file".into(),
        Unreadable::TooLong => format!("is longer than {MAX_LEN} bytes: it should hold a few short lines"),
        Unreadable::NotText => "is not text (UTF-8): write it with a text editor".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(files: &[(&str, &str)]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "ostler-privileges-{}-{}",
            std::process::id(),
            files.iter().map(|f| f.0).collect::<Vec<_>>().join("-")
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn no_files_no_declaration() {
        let d = dir(&[("run", "#!/bin/sh\n")]);
        assert_eq!(Declared::load(&d).unwrap(), None);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn files_are_read_and_checked() {
        let d = dir(&[
            ("user", "www-data\n"),
            ("capabilities", "cap_net_bind_service cap_setuid\n"),
            ("ambient-capabilities", "cap_net_bind_service\n"),
            ("no-new-privs", ""),
            ("limits", "nofile 1024:4096\n"),
            ("umask", "027\n"),
            ("runtime-directory", "nginx 0750\n"),
        ]);
        let declared = Declared::load(&d).unwrap().unwrap();
        assert_eq!(declared.user.as_deref(), Some("www-data"));
        assert_eq!(declared.bounding, Some(1 << 10 | 1 << 7));
        assert_eq!(declared.ambient, 1 << 10);
        assert!(declared.no_new_privs);
        assert_eq!(declared.umask, Some(0o027));
        assert_eq!(declared.directories, [("/run", "nginx".to_string(), 0o750)]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn bad_files_name_the_file_and_the_fix() {
        let d = dir(&[("capabilities", "cap_chown\n"), ("ambient-capabilities", "cap_kill\n")]);
        let error = Declared::load(&d).unwrap_err().to_string();
        assert!(error.contains("ambient-capabilities: cap_kill not in the bounding set"), "{error}");
        std::fs::remove_dir_all(&d).unwrap();
        let d = dir(&[("umask", "999\n")]);
        assert!(Declared::load(&d).unwrap_err().to_string().contains("umask: \"999\" is not an octal umask"));
        std::fs::remove_dir_all(&d).unwrap();
        let d = dir(&[("runtime-directory", "../etc\n")]);
        assert!(Declared::load(&d).unwrap_err().to_string().contains("relative to /run"));
        std::fs::remove_dir_all(&d).unwrap();
        let d = dir(&[("state-directory", "./\n")]);
        assert!(Declared::load(&d).unwrap_err().to_string().contains("relative to /var/lib"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn declared_directories_are_walked_without_following_a_link() {
        use std::os::unix::fs::PermissionsExt;
        let base = dir(&[("kept", "")]);
        let outside = dir(&[("outside", "")]);
        let mode_of = |path: &Path| std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777;
        let declared = |message: Result<(), Unmade>| match message {
            Err(Unmade::Declared(message)) => message,
            Err(Unmade::Io(message)) => panic!("a system call's failure: {message}"),
            Ok(()) => panic!("made"),
        };
        // Made, between directories too; made again, kept with what it holds.
        make_directory(&base, "app/cache", 0o750, None).unwrap();
        assert_eq!(mode_of(&base.join("app/cache")), 0o750);
        std::fs::write(base.join("app/cache/data"), "x").unwrap();
        make_directory(&base, "app//./cache/", 0o700, None).unwrap();
        assert_eq!(mode_of(&base.join("app/cache")), 0o700, "an existing directory takes the declared mode");
        assert!(base.join("app/cache/data").exists(), "and keeps what it holds");

        // A link the service's user planted, in the middle of the path or at its end.
        let outside_mode = mode_of(&outside);
        std::os::unix::fs::symlink(&outside, base.join("link")).unwrap();
        let message = declared(make_directory(&base, "link/cache", 0o777, None));
        assert_eq!(message, "link is a symbolic link; the declared directory must be a real directory");
        assert!(!outside.join("cache").exists(), "nothing made through the link");
        std::os::unix::fs::symlink(&outside, base.join("app/last")).unwrap();
        let message = declared(make_directory(&base, "app/last", 0o777, None));
        assert_eq!(message, "app/last is a symbolic link; the declared directory must be a real directory");
        assert_eq!(mode_of(&outside), outside_mode, "the link's target untouched");
        let message = declared(make_directory(&base, "kept/sub", 0o755, None));
        assert!(message.ends_with("kept is not a directory; remove it, or declare another name"), "{message}");
        std::fs::remove_dir_all(&base).unwrap();
        std::fs::remove_dir_all(&outside).unwrap();
    }

    #[test]
    fn a_fifo_in_place_of_a_file_is_refused_without_blocking() {
        let d = dir(&[("no-new-privs", "")]);
        nix::unistd::mkfifo(&d.join("user"), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        // A blocking open of a FIFO with no writer would never return.
        let error = Declared::load(&d).unwrap_err().to_string();
        assert!(error.contains("user: is not a regular file"), "{error}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn only_the_files_listed_are_read() {
        let d = dir(&[("umask", "027\n"), ("limits", "nofile 10\n")]);
        let listed = PrivilegeFiles::list(&d);
        assert!(listed.has("umask") && listed.has("limits") && !listed.has("user"));
        // A file made after the listing is not read: the listing is the one the start used.
        std::fs::write(d.join("user"), "nobody\n").unwrap();
        let declared = Declared::read(&d, listed).unwrap().unwrap();
        assert_eq!((declared.user, declared.umask), (None, Some(0o027)));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn numbers_need_no_database_and_unknown_names_are_refused() {
        let ids = resolve_user("4242:4343", &[]).unwrap();
        assert_eq!((ids.uid, ids.gid, ids.groups), (4242, 4343, vec![4343]));
        assert!(resolve_user("no-such-user-ostler", &[]).unwrap_err().contains("unknown user"));
        assert!(resolve_user("0:no-such-group-ostler", &[]).unwrap_err().contains("unknown group"));
        assert!(resolve_user("4294967295", &[]).unwrap_err().contains("not a user id"));
        assert!(resolve_user("0:4294967295", &[]).unwrap_err().contains("not a group id"));
        // Resolved again (or not) in the same database: the same answer.
        let first = resolve_user_cached("0", &[]).unwrap();
        let again = resolve_user_cached("0", &[]).unwrap();
        assert_eq!((first.uid, first.gid, first.groups), (again.uid, again.gid, again.groups));
    }
}
