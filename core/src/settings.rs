//! The small files of a service directory that tune its supervision, read afresh at every
//! start and stop as s6 does. Each is read with a size limit; a bad one is reported with
//! its path and the fix, and the default is used, so one bad file never stops a supervisor.

use crate::{death_tally, signame, CoreError};
use nix::sys::signal::Signal;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

/// Largest settings file we read; anything longer is refused as not a setting.
const MAX_LEN: u64 = 256;

/// Default `timeout-finish`.
pub const DEFAULT_TIMEOUT_FINISH: Duration = Duration::from_millis(5000);

/// The tunables of one service directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `notification-fd`: the fd on which run writes a newline when ready.
    pub notification_fd: Option<i32>,
    /// `lock-fd`: the fd on which run gets a lock on `supervise/service-lock`.
    pub lock_fd: Option<i32>,
    /// `timeout-kill`: SIGKILL this long after a down command, if still alive.
    pub timeout_kill: Option<Duration>,
    /// `timeout-finish`: how long finish may run (`None` = unlimited).
    pub timeout_finish: Option<Duration>,
    /// `max-death-tally`: deaths kept in `supervise/death_tally`.
    pub max_death_tally: u16,
    /// `down-signal`: sent by `d`, `D` and `r`.
    pub down_signal: Signal,
    /// `flag-newpidns`: run as PID 1 of a new PID namespace.
    pub new_pid_namespace: bool,
    /// `flag-timeout-killpg`: the timeout-kill SIGKILL goes to the process group.
    pub timeout_kill_group: bool,
    /// `finish` is there, a file we may execute.
    pub has_finish: bool,
    /// `notify-socket` (an ostler extension): run gets `NOTIFY_SOCKET`, systemd's readiness
    /// protocol. Off when `notification-fd` is there too: s6's own file wins.
    pub notify_socket: bool,
    /// `memory-max`, `pids-max`, `cpu-weight`, `io-weight` (ostler's own): the service's
    /// control-group limits.
    pub group_limits: GroupLimits,
    /// `kill-mode` (ostler's own, systemd's values): `process` leaves what run left in the
    /// service's control group when it dies (sshd's sessions outlive a restart of sshd);
    /// `control-group` (the default) and `mixed` end it.
    pub keep_leftovers: bool,
    /// Which of [`PRIVILEGE_FILES`] are there: the supervisor reads those (supervise's
    /// `privileges`). Known from the same listing, so a service without any pays nothing more
    /// and one with some opens only those.
    pub privilege_files: PrivilegeFiles,
}

/// Which of [`PRIVILEGE_FILES`] a service directory holds, from one listing of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrivilegeFiles(u16);

impl PrivilegeFiles {
    /// Lists `dir` for them.
    pub fn list(dir: &Path) -> PrivilegeFiles {
        Found::list(dir).privileges
    }

    /// The ones among `names`, a listing of the directory made already.
    pub fn among<'a>(names: impl IntoIterator<Item = &'a std::ffi::OsStr>) -> PrivilegeFiles {
        let bits = names.into_iter().filter_map(|name| PRIVILEGE_FILES.iter().position(|file| name == *file));
        PrivilegeFiles(bits.fold(0, |all, i| all | 1 << i))
    }

    /// Whether any is there.
    pub fn any(self) -> bool {
        self.0 != 0
    }

    /// Whether `name` (one of [`PRIVILEGE_FILES`]) is there, or may be (the directory could
    /// not be listed).
    pub fn has(self, name: &str) -> bool {
        PRIVILEGE_FILES.iter().position(|file| *file == name).is_some_and(|i| self.0 & (1 << i) != 0)
    }
}

/// The control-group limits a service directory sets, each written to the group's file of
/// the same name (`memory-max` to `memory.max`…) before run starts. `None`: the kernel's
/// default (`max`, or a weight of 100).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupLimits {
    /// `memory-max`: bytes, or `max`.
    pub memory_max: Option<Limit>,
    /// `pids-max`: tasks, or `max`.
    pub pids_max: Option<Limit>,
    /// `cpu-weight`: 1 to 10000.
    pub cpu_weight: Option<Limit>,
    /// `io-weight`: 1 to 10000.
    pub io_weight: Option<Limit>,
}

/// One control-group limit's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// `max`: no limit.
    Max,
    /// A number (bytes, tasks or a weight).
    Value(u64),
}

/// Each limit file: its name in the service directory, the group's file it is written to,
/// and the kernel's value when the file is absent.
pub const LIMIT_FILES: [(&str, &str, &str); 4] = [
    ("memory-max", "memory.max", "max"),
    ("pids-max", "pids.max", "max"),
    ("cpu-weight", "cpu.weight", "100"),
    ("io-weight", "io.weight", "100"),
];

impl GroupLimits {
    /// The values in [`LIMIT_FILES`]' order.
    pub fn values(&self) -> [Option<Limit>; 4] {
        [self.memory_max, self.pids_max, self.cpu_weight, self.io_weight]
    }
}

/// Parses the contents of a limit file named `file` (one of [`LIMIT_FILES`]): `max` or a
/// number for `memory-max` (with K, M, G or T: powers of 1024) and `pids-max`, a weight of 1
/// to 10000 for the others. The error says what is wrong.
pub fn parse_limit(file: &str, text: &str) -> Result<Limit, String> {
    let text = text.trim();
    let weight = file.ends_with("-weight");
    if text == "max" && !weight {
        return Ok(Limit::Max);
    }
    let (digits, unit) = match text.as_bytes().last().map(u8::to_ascii_uppercase) {
        Some(suffix @ (b'K' | b'M' | b'G' | b'T')) if file == "memory-max" => {
            (&text[..text.len() - 1], 1u64 << (10 * (1 + b"KMGT".iter().position(|&u| u == suffix).unwrap_or(0))))
        }
        _ => (text, 1),
    };
    let value = digits.parse::<u64>().ok().and_then(|n| n.checked_mul(unit));
    match (value, weight) {
        (Some(n @ 1..=10000), true) => Ok(Limit::Value(n)),
        (Some(n), false) => Ok(Limit::Value(n)),
        _ if weight => Err(format!("{text:?} is not a weight; write a number from 1 to 10000 (100 is the default)")),
        _ if file == "memory-max" => {
            Err(format!("{text:?} is not a size; write bytes, with K, M or G if you like (64M), or max"))
        }
        _ => Err(format!("{text:?} is not a number; write a whole number such as 64, or max")),
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            notification_fd: None,
            lock_fd: None,
            timeout_kill: None,
            timeout_finish: Some(DEFAULT_TIMEOUT_FINISH),
            max_death_tally: death_tally::DEFAULT_MAX,
            down_signal: Signal::SIGTERM,
            new_pid_namespace: false,
            timeout_kill_group: false,
            has_finish: false,
            notify_socket: false,
            group_limits: GroupLimits::default(),
            keep_leftovers: false,
            privilege_files: PrivilegeFiles::default(),
        }
    }
}

impl Settings {
    /// Reads the settings of `service_dir`. Problems come back beside the settings (which then
    /// hold the default for that file), to be reported; they never stop the reading.
    pub fn load(service_dir: &Path) -> (Settings, Vec<CoreError>) {
        let mut problems = Vec::new();
        let mut settings = Settings::default();
        let found = Found::list(service_dir);
        settings.privilege_files = found.privileges;
        let mut read = |name: &str| match found.has(name).then(|| read_small(&service_dir.join(name)))? {
            Ok(text) => text.map(|t| (service_dir.join(name), t)),
            Err(e) => {
                problems.push(e);
                None
            }
        };
        let notification = read("notification-fd");
        let lock = read("lock-fd");
        let kill = read("timeout-kill");
        let finish = read("timeout-finish");
        let tally = read("max-death-tally");
        let signal = read("down-signal");
        let kill_mode = read("kill-mode");
        let limits = LIMIT_FILES.map(|(file, _, _)| read(file).map(|(path, text)| (file, path, text)));
        let mut check = |parsed: Result<(), CoreError>| {
            if let Err(e) = parsed {
                problems.push(e);
            }
        };
        if let Some((path, text)) = notification {
            check(parse_fd(&path, &text).map(|fd| settings.notification_fd = Some(fd)));
        }
        if let Some((path, text)) = lock {
            check(parse_fd(&path, &text).map(|fd| settings.lock_fd = Some(fd)));
        }
        if settings.lock_fd.is_some() && settings.lock_fd == settings.notification_fd {
            check(Err(CoreError::BadSetting {
                path: service_dir.join("lock-fd"),
                problem: "is the same fd as notification-fd".into(),
                fix: "choose two different fds; lock-fd is ignored until then",
            }));
            settings.lock_fd = None;
        }
        if let Some((path, text)) = kill {
            check(
                parse_millis(&path, &text)
                    .map(|ms| settings.timeout_kill = (ms > 0).then(|| Duration::from_millis(ms))),
            );
        }
        if let Some((path, text)) = finish {
            check(
                parse_millis(&path, &text)
                    .map(|ms| settings.timeout_finish = (ms > 0).then(|| Duration::from_millis(ms))),
            );
        }
        if let Some((path, text)) = tally {
            check(
                parse_millis(&path, &text)
                    .map(|n| settings.max_death_tally = n.min(u64::from(death_tally::LIMIT)) as u16),
            );
        }
        if let Some((path, text)) = signal {
            match signame::parse(&text) {
                Some(sig) => settings.down_signal = sig,
                None => check(Err(CoreError::BadSetting {
                    path,
                    problem: format!("{:?} is not a signal", text.trim()),
                    fix: "write a signal name such as TERM or HUP, or its number; SIGTERM is used until then",
                })),
            }
        }
        if let Some((path, text)) = kill_mode {
            match text.trim() {
                "process" => settings.keep_leftovers = true,
                "control-group" | "mixed" => {}
                other => check(Err(CoreError::BadSetting {
                    path,
                    problem: format!("{other:?} is not a kill mode"),
                    fix: "write control-group (end every process of the service, the default) or process (only run); control-group is used until then",
                })),
            }
        }
        let mut values = [None; 4];
        for (value, (file, path, text)) in values.iter_mut().zip(limits).filter_map(|(v, l)| Some((v, l?))) {
            match parse_limit(file, &text) {
                Ok(limit) => *value = Some(limit),
                Err(problem) => {
                    check(Err(CoreError::BadSetting { path, problem, fix: "the kernel's default is used until then" }))
                }
            }
        }
        let [memory_max, pids_max, cpu_weight, io_weight] = values;
        settings.group_limits = GroupLimits { memory_max, pids_max, cpu_weight, io_weight };
        // A listed name may be a dangling link: the flags count only when they lead somewhere.
        let there = |name: &str| found.has(name) && service_dir.join(name).exists();
        settings.new_pid_namespace = there("flag-newpidns");
        settings.timeout_kill_group = there("flag-timeout-killpg");
        settings.notify_socket = there("notify-socket");
        if settings.notify_socket && settings.notification_fd.is_some() {
            // notification-fd wins: it is what s6-supervise and s6-svc -wU go by, so the
            // directory behaves the same under s6 and under ostler.
            check(Err(CoreError::BadSetting {
                path: service_dir.join("notify-socket"),
                problem: "is there with notification-fd".into(),
                fix: "keep one of the two; notification-fd is used and notify-socket ignored until then",
            }));
            settings.notify_socket = false;
        }
        settings.has_finish = found.has("finish") && {
            let finish = service_dir.join("finish");
            nix::unistd::access(&finish, nix::unistd::AccessFlags::X_OK).is_ok() && finish.is_file()
        };
        (settings, problems)
    }
}

/// The files settings come from.
const FILES: [&str; 15] = [
    "notification-fd",
    "lock-fd",
    "timeout-kill",
    "timeout-finish",
    "max-death-tally",
    "down-signal",
    "flag-newpidns",
    "flag-timeout-killpg",
    "finish",
    "notify-socket",
    "memory-max",
    "pids-max",
    "cpu-weight",
    "io-weight",
    "kill-mode",
];

const _: () = assert!(FILES.len() <= 16 && PRIVILEGE_FILES.len() <= 16, "Found keeps each set in 16 bits");

/// The files of a service's declared privileges (read and applied by supervise's
/// `privileges`); listed here so that one listing of the directory says whether there are any.
pub const PRIVILEGE_FILES: &[&str] = &[
    "user",
    "groups",
    "capabilities",
    "ambient-capabilities",
    "no-new-privs",
    "limits",
    "environment",
    "environment-file",
    "working-directory",
    "umask",
    "runtime-directory",
    "state-directory",
    "logs-directory",
];

/// Which of [`FILES`] one listing of a service directory found, and which of
/// [`PRIVILEGE_FILES`]. Listing once and opening only what is there costs 4 system calls where
/// probing each file costs 9, at every start and stop of every service.
struct Found {
    settings: u16,
    privileges: PrivilegeFiles,
}

impl Found {
    fn list(dir: &Path) -> Found {
        let (mut settings, mut privileges) = (0u16, 0u16);
        let listed = crate::listing::open(dir).and_then(|fd| {
            crate::listing::each(&fd, |name, _| {
                let is = |file: &&str| file.as_bytes() == name.to_bytes();
                if let Some(i) = FILES.iter().position(is) {
                    settings |= 1 << i;
                } else if let Some(i) = PRIVILEGE_FILES.iter().position(is) {
                    privileges |= 1 << i;
                }
            })
        });
        // A directory we may not list (no read permission) may still hold readable files:
        // look for each one then.
        match listed {
            Ok(_) => Found { settings, privileges: PrivilegeFiles(privileges) },
            Err(_) => Found { settings: u16::MAX, privileges: PrivilegeFiles(u16::MAX) },
        }
    }

    fn has(&self, name: &str) -> bool {
        FILES.iter().position(|file| *file == name).is_some_and(|i| self.settings & (1 << i) != 0)
    }
}

/// Whether `service_dir` says its service notifies readiness: a `notification-fd`, or an
/// ostler `notify-socket`. Waiters (svc -wU, the service manager) go by this.
pub fn notifies_readiness(service_dir: &Path) -> bool {
    service_dir.join("notification-fd").exists() || service_dir.join("notify-socket").exists()
}

/// Reads a whole small text file; `Ok(None)` when it does not exist. Never blocks: the
/// scanner and its supervisors run in PID 1, and a FIFO or a device under a setting's name
/// must be an error, not a wait for a writer that never comes.
pub fn read_small(path: &Path) -> Result<Option<String>, CoreError> {
    let bad = |problem: String| CoreError::BadSetting {
        path: path.into(),
        problem,
        fix: "it should hold one short value; the default is used until then",
    };
    read_text(path, MAX_LEN).map_err(|unreadable| match unreadable {
        Unreadable::Io(action, e) => CoreError::io(action, path, e),
        Unreadable::NotRegular => CoreError::BadSetting {
            path: path.into(),
            problem: "is not a regular file".into(),
            fix: "make it a plain file holding one short value; the default is used until then",
        },
        Unreadable::TooLong => bad(format!("is longer than {MAX_LEN} bytes")),
        Unreadable::NotText => bad("is not text".into()),
    })
}

/// Why [`read_text`] could not read a file.
#[derive(Debug)]
pub enum Unreadable {
    /// A system call failed: which, and why.
    Io(&'static str, std::io::Error),
    /// It is not a regular file (a FIFO, a device, a directory).
    NotRegular,
    /// It is longer than the limit.
    TooLong,
    /// It is not UTF-8.
    NotText,
}

/// Reads a regular file of at most `max` bytes as text, without blocking; `Ok(None)` when it
/// does not exist. Its size from `fstat` says when the whole file is in, so a file costs open,
/// fstat, one read and close (an empty one no read): the supervisor reads these at every start
/// of every service.
pub fn read_text(path: &Path, max: u64) -> Result<Option<String>, Unreadable> {
    match read_bytes(path, max)? {
        Some(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| Unreadable::NotText),
        None => Ok(None),
    }
}

/// [`read_text`] for bytes that need not be text (an environment directory's values): a
/// regular file of at most `max` bytes, read without blocking; `Ok(None)` when it does not
/// exist. Never [`Unreadable::NotText`].
pub fn read_bytes(path: &Path, max: u64) -> Result<Option<Vec<u8>>, Unreadable> {
    use rustix::fs::{Mode, OFlags};
    let mut file = match rustix::fs::open(path, OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC, Mode::empty()) {
        Ok(fd) => std::fs::File::from(fd),
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(e) => return Err(Unreadable::Io("open", e.into())),
    };
    let metadata = file.metadata().map_err(|e| Unreadable::Io("stat", e))?;
    if !metadata.is_file() {
        return Err(Unreadable::NotRegular);
    }
    if metadata.len() > max {
        return Err(Unreadable::TooLong);
    }
    let mut bytes = vec![0; metadata.len() as usize];
    let mut filled = 0;
    while filled < bytes.len() {
        match file.read(&mut bytes[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Unreadable::Io("read", e)),
        }
    }
    bytes.truncate(filled);
    Ok(Some(bytes))
}

fn parse_fd(path: &Path, text: &str) -> Result<i32, CoreError> {
    match text.trim().parse::<i32>() {
        Ok(fd) if (1..=1_048_575).contains(&fd) => Ok(fd),
        _ => Err(CoreError::BadSetting {
            path: path.into(),
            problem: format!("{:?} is not a usable fd number", text.trim()),
            fix: "write a decimal fd of 1 or more, such as 3; the file is ignored until then",
        }),
    }
}

fn parse_millis(path: &Path, text: &str) -> Result<u64, CoreError> {
    text.trim().parse::<u64>().map_err(|_| CoreError::BadSetting {
        path: path.into(),
        problem: format!("{:?} is not a whole number", text.trim()),
        fix: "write a decimal number such as 3000 (milliseconds, or a count); the default is used until then",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &[u8])]) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ostler-settings-{}-{}", std::process::id(), crate::Tain::now().nanos));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, contents) in files {
            std::fs::write(dir.join(name), contents).unwrap();
        }
        dir
    }

    #[test]
    fn defaults_when_absent() {
        let dir = dir_with(&[]);
        let (settings, problems) = Settings::load(&dir);
        assert_eq!(settings, Settings::default());
        assert!(problems.is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn reads_good_values() {
        let dir = dir_with(&[
            ("notification-fd", b"3\n"),
            ("timeout-kill", b"250"),
            ("timeout-finish", b"0"),
            ("max-death-tally", b"99999"),
            ("down-signal", b"HUP\n"),
        ]);
        let (settings, problems) = Settings::load(&dir);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(settings.notification_fd, Some(3));
        assert_eq!(settings.timeout_kill, Some(Duration::from_millis(250)));
        assert_eq!(settings.timeout_finish, None);
        assert_eq!(settings.max_death_tally, 4096);
        assert_eq!(settings.down_signal, Signal::SIGHUP);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn garbage_is_reported_with_the_path_and_defaults_kept() {
        let big = vec![b'7'; 1 << 20];
        let dir = dir_with(&[
            ("notification-fd", b"x"),
            ("timeout-kill", b"-5"),
            ("timeout-finish", &big),
            ("down-signal", b"\xff\x00"),
            ("lock-fd", b"0"),
        ]);
        let (settings, problems) = Settings::load(&dir);
        assert_eq!(settings, Settings::default());
        assert_eq!(problems.len(), 5, "{problems:?}");
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert!(text.iter().any(|t| t.contains("notification-fd") && t.contains("\"x\"")), "{text:?}");
        assert!(text.iter().any(|t| t.contains("timeout-kill") && t.contains("-5")), "{text:?}");
        assert!(text.iter().any(|t| t.contains("timeout-finish") && t.contains("longer")), "{text:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn kill_mode_process_keeps_leftovers() {
        for (text, keep, bad) in
            [("process\n", true, 0), ("control-group", false, 0), ("mixed", false, 0), ("none", false, 1)]
        {
            let dir = dir_with(&[("kill-mode", text.as_bytes())]);
            let (settings, problems) = Settings::load(&dir);
            assert_eq!((settings.keep_leftovers, problems.len()), (keep, bad), "{text:?}: {problems:?}");
            std::fs::remove_dir_all(dir).unwrap();
        }
    }

    #[test]
    fn group_limits() {
        let dir =
            dir_with(&[("memory-max", b"64M\n"), ("pids-max", b"max"), ("cpu-weight", b"0"), ("io-weight", b"500")]);
        let (settings, problems) = Settings::load(&dir);
        let limits = settings.group_limits;
        assert_eq!(limits.memory_max, Some(Limit::Value(64 << 20)));
        assert_eq!(
            (limits.pids_max, limits.cpu_weight, limits.io_weight),
            (Some(Limit::Max), None, Some(Limit::Value(500)))
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].to_string().contains("cpu-weight"), "{problems:?}");
        assert_eq!(parse_limit("memory-max", "2g"), Ok(Limit::Value(2 << 30)));
        assert_eq!(parse_limit("pids-max", "12"), Ok(Limit::Value(12)));
        assert!(parse_limit("pids-max", "12K").is_err() && parse_limit("io-weight", "max").is_err());
        assert!(parse_limit("memory-max", "99999999999T").is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn notify_socket_alone_and_with_notification_fd() {
        let dir = dir_with(&[("notify-socket", b"")]);
        let (settings, problems) = Settings::load(&dir);
        assert!(settings.notify_socket && problems.is_empty(), "{problems:?}");
        assert!(notifies_readiness(&dir));
        std::fs::write(dir.join("notification-fd"), "3\n").unwrap();
        let (settings, problems) = Settings::load(&dir);
        assert_eq!((settings.notify_socket, settings.notification_fd), (false, Some(3)));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].to_string().contains("notification-fd is used"), "{problems:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
