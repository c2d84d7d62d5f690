//! A control group (cgroup v2) per supervised service, made by the scanner: every process a
//! service makes stays in its group, so stopping it ends them all (`cgroup.kill`), and the
//! limit files (`memory-max`, `pids-max`, `cpu-weight`, `io-weight`) become the group's.
//!
//! Layout under the base (the root for PID 1's scanner, the scanner's own group when it was
//! delegated, or `OSTLER_CGROUP=DIR`): `services/NAME.service` per service, `NAME.log` per
//! logger, and, when the base is not the hierarchy's root, `ostler/` holding the scanner
//! itself (cgroup v2 lets a group that hands controllers to its children hold no process).
//!
//! What a start costs: the supervisor opens the group once and keeps it open; run is born in
//! it (clone3's CLONE_INTO_CGROUP: no system call more than the spawn's); limits are written
//! only when their file changed. A death costs one write of `1` to `cgroup.kill`.

use crate::say::say;
use ostler_core::settings::{GroupLimits, Limit, LIMIT_FILES};
use std::cell::Cell;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// The variable that tells a scanner which group to use: `delegated` (its own group, given to
/// it as systemd's `Delegate=yes` does), a directory on a cgroup2 filesystem, or `off`.
/// Without it only PID 1's scanner makes groups.
pub const ENV: &str = "OSTLER_CGROUP";

/// cgroup2's filesystem magic number (statfs f_type).
const CGROUP2_SUPER_MAGIC: u64 = 0x6367_7270;

/// The controllers the limit files need, in [`LIMIT_FILES`]' order.
const CONTROLLERS: [&str; 4] = ["memory", "pids", "cpu", "io"];

/// The scanner's control groups, shared by its supervisors.
#[derive(Debug)]
pub struct Cgroups {
    /// Where the service groups are made; `None` when groups are off.
    services: Option<PathBuf>,
    /// Why groups are off, or what is missing: told once, at the first limit file when not at
    /// the start.
    missing: Option<String>,
    /// Whether `missing` has been told.
    told: Cell<bool>,
    /// The controllers enabled for the services' groups (bits in [`CONTROLLERS`]' order).
    enabled: u8,
    /// The limit files whose missing controller has been reported (bits as `enabled`).
    reported: Cell<u8>,
    /// Whether the kernel has `cgroup.kill` (5.14).
    kill_file: bool,
}

impl Cgroups {
    /// No groups, for `reason` (told, once, only if a service asks for a limit).
    pub fn off(reason: &str) -> Rc<Cgroups> {
        Rc::new(Cgroups {
            services: None,
            missing: Some(reason.to_string()),
            told: Cell::new(false),
            enabled: 0,
            reported: Cell::new(0),
            kill_file: false,
        })
    }

    /// Sets up the scanner's groups, as [`ENV`] and being PID 1 decide; says in one warning
    /// what does not work and what still does.
    pub fn setup(program: &str) -> Rc<Cgroups> {
        let wanted = std::env::var_os(ENV);
        // Not for the services' environment: a scanner among them must not take ours.
        // SAFETY (of the environment): the scanner is single-threaded.
        std::env::remove_var(ENV);
        let base = match wanted.as_ref().map(|v| v.to_string_lossy().into_owned()) {
            Some(v) if v == "off" => return Cgroups::off("OSTLER_CGROUP=off"),
            Some(v) if v == "delegated" => own_group(),
            Some(dir) => Ok(Base { dir: PathBuf::from(dir), root: false }),
            None if nix::unistd::getpid().as_raw() == 1 => own_group(),
            // systemd marks a group it delegated (Delegate=yes: `ostler hosted`, a user unit).
            None if own_group().is_ok_and(|base| delegated(&base.dir)) => own_group(),
            None => {
                return Cgroups::off(
                    "this scanner is not PID 1 and its group was not delegated to it (systemd's \
                     Delegate=yes); OSTLER_CGROUP=delegated or =DIR (on cgroup2) gives it one",
                )
            }
        };
        let cgroups = match base.and_then(|base| Cgroups::make(&base)) {
            Ok(cgroups) => cgroups,
            Err(reason) => Cgroups {
                services: None,
                missing: Some(reason),
                told: Cell::new(false),
                enabled: 0,
                reported: Cell::new(0),
                kill_file: false,
            },
        };
        if let Some(missing) = &cgroups.missing {
            let works = if cgroups.services.is_some() {
                "services get their groups, and a stop still ends every process of a service"
            } else {
                "services run without groups: a stop ends run as s6 does, and the limit files are ignored"
            };
            say!("{program}: warning: control groups: {missing}; {works}");
            cgroups.told.set(true);
        }
        Rc::new(cgroups)
    }

    fn make(base: &Base) -> Result<Cgroups, String> {
        let dir = &base.dir;
        std::fs::create_dir_all(dir).map_err(|e| format!("unable to make {}: {e}", dir.display()))?;
        match rustix::fs::statfs(dir) {
            Ok(fs) if fs.f_type as u64 == CGROUP2_SUPER_MAGIC => {}
            Ok(_) => return Err(format!("{} is not on a cgroup2 filesystem", dir.display())),
            Err(e) => return Err(format!("unable to stat {}: {e}", dir.display())),
        }
        if !base.root {
            // The scanner leaves the base for a leaf of its own, so the base may hand
            // controllers down.
            let own = dir.join("ostler");
            make_dir(&own)?;
            write(&own.join("cgroup.procs"), b"0").map_err(|e| format!("unable to join {}: {e}", own.display()))?;
            // What else of ours is there (`ostler hosted`, stage 2 of a container) goes too.
            for pid in std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default().lines() {
                let _ = write(&own.join("cgroup.procs"), pid.as_bytes());
            }
        }
        let services = dir.join("services");
        make_dir(&services)?;
        let available = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
        let mut enabled = 0u8;
        let mut refused = Vec::new();
        for (bit, controller) in CONTROLLERS.iter().enumerate() {
            if !available.split_whitespace().any(|c| c == *controller) {
                continue;
            }
            let plus = format!("+{controller}");
            let result = write(&dir.join("cgroup.subtree_control"), plus.as_bytes())
                .and_then(|()| write(&services.join("cgroup.subtree_control"), plus.as_bytes()));
            match result {
                Ok(()) => enabled |= 1 << bit,
                Err(e) => refused.push(format!("{controller} ({e})")),
            }
        }
        let kill_file = services.join("cgroup.kill").exists() && !kill_spoils_birth(&services);
        let mut missing = Vec::new();
        let absent: Vec<&str> =
            CONTROLLERS.iter().enumerate().filter(|(bit, _)| enabled & (1 << bit) == 0).map(|(_, c)| *c).collect();
        if !absent.is_empty() {
            let offered = if available.trim().is_empty() { "none".to_string() } else { available.trim().to_string() };
            let mut text = format!(
                "{} has no {} controller (it offers: {offered}), so {} are ignored",
                dir.display(),
                absent.join(", "),
                CONTROLLERS
                    .iter()
                    .zip(LIMIT_FILES)
                    .filter(|(c, _)| absent.contains(c))
                    .map(|(_, (file, _, _))| file)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if !refused.is_empty() {
                text.push_str(&format!(" (refused: {})", refused.join(", ")));
            }
            missing.push(text);
        }
        if !services.join("cgroup.kill").exists() {
            missing.push("no cgroup.kill (kernel before 5.14): a stop kills the group's processes one by one".into());
        }
        Ok(Cgroups {
            services: Some(services),
            missing: (!missing.is_empty()).then(|| missing.join("; ")),
            told: Cell::new(false),
            enabled,
            reported: Cell::new(0),
            kill_file,
        })
    }

    /// Whether services get groups.
    pub fn on(&self) -> bool {
        self.services.is_some()
    }

    /// Tells, once per scanner, that a service asked for limits that cannot be set: the
    /// setup's reason when groups are off, else the file whose controller is missing.
    pub(crate) fn limit_refused(&self, program: &str, service_dir: &Path, limits: &GroupLimits) {
        for (bit, (value, (file, _, _))) in limits.values().iter().zip(LIMIT_FILES).enumerate() {
            if value.is_none() {
                continue;
            }
            if self.services.is_none() {
                if !self.told.replace(true) {
                    let reason = self.missing.as_deref().unwrap_or("off");
                    say!(
                        "{program}: warning: {}: control groups are off ({reason}); the service runs without \
                         its limits (said once)",
                        service_dir.join(file).display()
                    );
                }
                return;
            }
            if self.enabled & (1 << bit) == 0 && self.reported.get() & (1 << bit) == 0 {
                self.reported.set(self.reported.get() | (1 << bit));
                say!(
                    "{program}: warning: {}: the {} controller is not available here; services run without this \
                     limit (said once)",
                    service_dir.join(file).display(),
                    CONTROLLERS[bit]
                );
            }
        }
    }
}

/// A base directory and whether it is the hierarchy's root (which may hold processes).
struct Base {
    dir: PathBuf,
    root: bool,
}

/// The scanner's own group: the cgroup2 mount plus the `0::PATH` line of /proc/self/cgroup.
fn own_group() -> Result<Base, String> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    // Fields: id parent major:minor root mount-point options… - fstype source options.
    let mount = mountinfo.lines().find_map(|line| {
        let (before, after) = line.split_once(" - ")?;
        (after.split(' ').next() == Some("cgroup2")).then_some(())?;
        let mut fields = before.split(' ');
        let root = fields.nth(3)?;
        let point = fields.next()?;
        Some((unescape(root), unescape(point)))
    });
    let Some((mount_root, point)) = mount else {
        return Err("no cgroup2 filesystem is mounted (stage 1 mounts one on /sys/fs/cgroup)".into());
    };
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let Some(path) = own.lines().find_map(|line| line.strip_prefix("0::")) else {
        return Err("/proc/self/cgroup has no cgroup2 line".into());
    };
    let relative = path.strip_prefix(mount_root.trim_end_matches('/')).unwrap_or(path).trim_start_matches('/');
    let dir = Path::new(&point).join(relative);
    // The hierarchy's root is the one group without a cgroup.type.
    let root = !dir.join("cgroup.type").exists();
    Ok(Base { dir, root })
}

/// Whether writing `cgroup.kill` would make the group kill every child later born in it
/// (Linux 6.18 does, with CLONE_INTO_CGROUP): found with a probe group, once. Then a group's
/// leftovers are frozen and killed one by one instead.
fn kill_spoils_birth(services: &Path) -> bool {
    let probe = services.join("ostler-probe");
    if make_dir(&probe).is_err() {
        return false;
    }
    let dir = std::fs::File::open(&probe);
    let spoiled = dir
        .ok()
        .filter(|_| write(&probe.join("cgroup.kill"), b"1").is_ok())
        .is_some_and(|dir| crate::spawn::born_killed_after_cgroup_kill(dir.as_raw_fd()) == Some(true));
    let _ = std::fs::remove_dir(&probe);
    spoiled
}

/// Whether systemd delegated `dir` (its `trusted.delegate` or, for a user's manager,
/// `user.delegate` extended attribute is `1`).
fn delegated(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else { return false };
    [c"trusted.delegate", c"user.delegate"].iter().any(|name| {
        let mut value = [0u8; 8];
        // SAFETY: both strings are NUL-terminated and live; the kernel writes at most
        // value.len() bytes into the buffer.
        let len = unsafe { libc::getxattr(path.as_ptr(), name.as_ptr(), value.as_mut_ptr().cast(), value.len()) };
        len >= 1 && value[0] == b'1'
    })
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok());
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The group name of a service (`foo` → `foo.service`, `foo/log` → `foo.log`): never one of
/// cgroupfs's own files, and distinct for every pair of names. Control characters and `\`
/// are written `\xHH`.
pub fn group_name(service: &str) -> String {
    let (name, suffix) = match service.strip_suffix("/log") {
        Some(main) => (main, ".log"),
        None => (service, ".service"),
    };
    let mut out = String::with_capacity(name.len() + suffix.len());
    for c in name.chars() {
        match c {
            '\\' | '/' | '\0'..='\x1f' | '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out + suffix
}

/// One service's group, held by its supervisor.
#[derive(Debug)]
pub struct Group {
    dir: PathBuf,
    /// The directory, open: clone3 puts run in the group as it is born. The group's files
    /// are opened relative to it when first needed, not when the group is made: an open in
    /// cgroupfs costs about as much as the mkdir (≈5 µs), and most groups never need
    /// `cgroup.kill` nor `cgroup.procs`.
    dir_fd: OwnedFd,
    /// `cgroup.events`, read (one pread) to skip the kill when nothing is left; opened at
    /// the first death.
    events: std::cell::OnceCell<Option<OwnedFd>>,
    /// What each limit file holds as far as we know (`None`: unknown, write it).
    applied: [Option<Option<Limit>>; 4],
    cgroups: Rc<Cgroups>,
}

impl Group {
    /// Makes (or takes over) the group of `service`; `Ok(None)` when groups are off.
    pub fn make(cgroups: &Rc<Cgroups>, service: &str) -> Result<Option<Group>, String> {
        let Some(services) = &cgroups.services else { return Ok(None) };
        let dir = services.join(group_name(service));
        let fresh = match std::fs::create_dir(&dir) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(format!("unable to make the control group {}: {e}", dir.display())),
        };
        let dir_fd = rustix::fs::open(
            &dir,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| format!("unable to open {}: {e}", dir.display()))?;
        // A fresh group holds the kernel's defaults; one left by an earlier supervisor may not.
        let applied = if fresh { [Some(None); 4] } else { [None; 4] };
        Ok(Some(Group { dir, dir_fd, events: std::cell::OnceCell::new(), applied, cgroups: cgroups.clone() }))
    }

    /// The group's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What a spawn needs to start a child in the group.
    pub fn plan(&self) -> crate::spawn::CgroupPlan {
        crate::spawn::CgroupPlan::new(self.dir_fd.as_raw_fd())
    }

    /// Writes the limits that changed since the last start (none, usually: no system call).
    pub fn apply(&mut self, program: &str, service_dir: &Path, limits: &GroupLimits) {
        let wanted = limits.values();
        if wanted.iter().zip(&self.applied).all(|(want, have)| Some(*want) == *have) {
            return;
        }
        self.cgroups.limit_refused(program, service_dir, limits);
        for (bit, (want, (file, kernel_file, default))) in wanted.iter().zip(LIMIT_FILES).enumerate() {
            if self.applied[bit] == Some(*want) {
                continue;
            }
            if self.cgroups.enabled & (1 << bit) == 0 {
                self.applied[bit] = Some(*want);
                continue;
            }
            let value = match want {
                None => default.to_string(),
                Some(Limit::Max) => "max".to_string(),
                Some(Limit::Value(n)) => n.to_string(),
            };
            match write(&self.dir.join(kernel_file), value.as_bytes()) {
                Ok(()) => self.applied[bit] = Some(*want),
                Err(e) => say!(
                    "{program}: warning: {}: unable to write {value} to {}: {e}; the service runs without it",
                    service_dir.join(file).display(),
                    self.dir.join(kernel_file).display()
                ),
            }
        }
    }

    /// Ends every process left in the group: nothing when `cgroup.events` says it is empty
    /// (the usual case: one pread), else `cgroup.kill`, or, on kernels without it (or where it
    /// spoils the group, see [`kill_spoils_birth`]), the group frozen and SIGKILL sent to each
    /// pid listed (a few passes, never waiting).
    pub fn kill_all(&self) {
        if !self.populated() {
            return;
        }
        if self.cgroups.kill_file && write(&self.dir.join("cgroup.kill"), b"1").is_ok() {
            return;
        }
        // Frozen, nothing of it can fork between the reading of the pids and their kill.
        let frozen = write(&self.dir.join("cgroup.freeze"), b"1").is_ok();
        for _ in 0..4 {
            let pids = self.pids();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
        }
        if frozen {
            let _ = write(&self.dir.join("cgroup.freeze"), b"0");
        }
    }

    /// Whether anything is in the group (`true` when unknown).
    fn populated(&self) -> bool {
        let events = self.events.get_or_init(|| {
            use rustix::fs::{Mode, OFlags};
            rustix::fs::openat(&self.dir_fd, "cgroup.events", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ok()
        });
        let Some(events) = events else { return true };
        let mut buf = [0u8; 64];
        match rustix::io::pread(events, &mut buf, 0) {
            Ok(n) => !buf[..n].starts_with(b"populated 0"),
            Err(_) => true,
        }
    }

    fn pids(&self) -> Vec<i32> {
        std::fs::read_to_string(self.dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }
}

impl Drop for Group {
    /// An empty group goes with its supervisor; one still in use stays (rmdir refuses it).
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// What `ostler svstat` shows of a group: its processes and, with the memory controller, the
/// memory they use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// Processes in the group.
    pub processes: usize,
    /// `memory.current`, bytes.
    pub memory: Option<u64>,
}

impl Usage {
    /// Reads the group at `dir`; `None` when it is not there.
    pub fn read(dir: &Path) -> Option<Usage> {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).ok()?;
        let memory = std::fs::read_to_string(dir.join("memory.current")).ok().and_then(|t| t.trim().parse().ok());
        Some(Usage { processes: procs.lines().filter(|l| !l.trim().is_empty()).count(), memory })
    }

    /// `3 processes, 2.1 MiB`.
    pub fn text(&self) -> String {
        let mut text = format!("{} process{}", self.processes, if self.processes == 1 { "" } else { "es" });
        if let Some(bytes) = self.memory {
            text.push_str(&format!(", {}", human_bytes(bytes)));
        }
        text
    }
}

/// Bytes in binary units with one decimal: `512 B`, `2.1 MiB`.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// The file in `supervise/` that names the service's group (for `ostler svstat`).
pub const GROUP_FILE: &str = "cgroup";

fn make_dir(dir: &Path) -> Result<(), String> {
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("unable to make {}: {e}", dir.display())),
    }
}

/// Writes `bytes` to an existing cgroupfs file in one write(2).
fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::OpenOptions::new().write(true).custom_flags(libc::O_CLOEXEC).open(path)?.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_never_collide_and_escape_what_cgroupfs_cannot_take() {
        assert_eq!(group_name("sshd"), "sshd.service");
        assert_eq!(group_name("sshd/log"), "sshd.log");
        assert_eq!(group_name("a.log"), "a.log.service");
        assert_eq!(group_name("cgroup.procs"), "cgroup.procs.service");
        assert_eq!(group_name("x\ny"), "x\\x0ay.service");
    }

    #[test]
    fn usage_reads_like_svstat_says() {
        assert_eq!(Usage { processes: 3, memory: Some(2202009) }.text(), "3 processes, 2.1 MiB");
        assert_eq!(Usage { processes: 1, memory: None }.text(), "1 process");
        assert_eq!(human_bytes(512), "512 B");
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }
}
