//! Helpers shared by the integration tests: a temporary directory tree that removes itself, a
//! guard that stops the processes a test started (by pid), waiters that poll a condition under
//! a deadline, and the paths of the binaries under test.
//!
//! Use from a test file with `mod util;`. Not every test file uses every helper.
#![allow(dead_code)]

pub mod console;
pub mod container;
pub mod debian;
pub mod guest;
pub mod secure_boot;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How often the waiters look again.
pub const POLL_EVERY: Duration = Duration::from_millis(5);
/// A generous default deadline for things that normally take milliseconds.
pub const DEADLINE: Duration = Duration::from_secs(10);
/// How long the guard lets a process stop after SIGTERM before SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// The ostler binary built for these tests.
pub fn ostler() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ostler"))
}

/// Panics with a clear message if `command` is not on PATH: a missing peer tool must fail the
/// test, never skip it silently.
pub fn require(command: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(command);
        if candidate.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false) {
            return candidate;
        }
    }
    panic!(
        "this test needs `{command}`, which is not on PATH ({}); install it (Debian: apt-get install s6 execline)",
        path.to_string_lossy()
    );
}

/// Where Debian's execline keeps its programs (`foreground`, `if`, `redirfd`…), out of PATH.
pub const EXECLINE_BIN: &str = "/usr/lib/execline/bin";

/// Panics with a clear message unless Debian's execline is installed: `execlineb` on PATH and
/// its programs in [`EXECLINE_BIN`]. Returns the path of `execlineb`.
pub fn require_execline() -> PathBuf {
    for program in ["foreground", "if", "redirfd", "importas", "execlineb"] {
        let path = Path::new(EXECLINE_BIN).join(program);
        assert!(
            path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0),
            "this test needs execline's {program} at {}, which is missing; install it (Debian: apt-get install execline)",
            path.display()
        );
    }
    require("execlineb")
}

/// A fresh directory under the system's temp dir, removed (with everything in it) on drop.
#[derive(Debug)]
pub struct TempTree {
    root: PathBuf,
}

impl TempTree {
    /// Makes an empty tree whose name starts with `label`.
    pub fn new(label: &str) -> TempTree {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let root = std::env::temp_dir().join(format!("ostler-test-{label}-{}-{n}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap_or_else(|e| panic!("unable to create {}: {e}", root.display()));
        TempTree { root }
    }

    /// The tree's root.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// A path inside the tree.
    pub fn join(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.root.join(relative)
    }

    /// Makes a directory (and its parents) inside the tree.
    pub fn dir(&self, relative: impl AsRef<Path>) -> PathBuf {
        let path = self.join(relative);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("unable to create {}: {e}", path.display()));
        path
    }

    /// Writes a file (making its parent directories).
    pub fn file(&self, relative: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("unable to write {}: {e}", path.display()));
        path
    }

    /// Writes an executable file (mode 0755), such as a `run` script.
    pub fn script(&self, relative: impl AsRef<Path>, contents: &str) -> PathBuf {
        let path = self.file(relative, contents);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// Makes a service directory `name` with a `run` script, and returns its path.
    pub fn service(&self, name: &str, run: &str) -> PathBuf {
        self.script(Path::new(name).join("run"), run);
        self.join(name)
    }
}

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Owns the processes a test started. On drop each one gets SIGTERM, then SIGKILL if it has
/// not exited within a grace period, and is waited for, by pid. Pids that are not our
/// children (a service run by a supervisor) can be watched too: they get SIGKILL on drop if
/// still there, as a safety net when their supervisor had to be killed.
#[derive(Debug, Default)]
pub struct Processes {
    children: Vec<Child>,
    watched: Vec<u32>,
}

impl Processes {
    /// An empty guard.
    pub fn new() -> Processes {
        Processes::default()
    }

    /// Starts `command` (stdin and stdout on /dev/null, stderr inherited) and keeps it.
    /// Returns its pid.
    pub fn spawn(&mut self, mut command: Command) -> u32 {
        command.stdin(Stdio::null()).stdout(Stdio::null());
        let child = command.spawn().unwrap_or_else(|e| panic!("unable to start {command:?}: {e}"));
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Also SIGKILLs `pid` on drop if it still exists then.
    pub fn watch(&mut self, pid: u32) {
        self.watched.push(pid);
    }

    /// Waits for the child `pid` to exit, under `deadline`; panics if it does not.
    pub fn wait_exit(&mut self, pid: u32, deadline: Duration) -> ExitStatus {
        let index = self.children.iter().position(|c| c.id() == pid).expect("not a child of this guard");
        let end = Instant::now() + deadline;
        loop {
            if self.children[index].try_wait().unwrap().is_some() {
                // Already reaped: wait() only hands back the status it keeps.
                return self.children.remove(index).wait().unwrap();
            }
            assert!(Instant::now() < end, "process {pid} did not exit within {deadline:?}");
            std::thread::sleep(POLL_EVERY);
        }
    }

    /// Whether the child `pid` is still running.
    pub fn running(&mut self, pid: u32) -> bool {
        self.children.iter_mut().find(|c| c.id() == pid).is_some_and(|c| c.try_wait().unwrap().is_none())
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        let mut any_killed = false;
        for child in &self.children {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        }
        let end = Instant::now() + GRACE;
        for child in &mut self.children {
            loop {
                match child.try_wait() {
                    Ok(None) if Instant::now() < end => std::thread::sleep(POLL_EVERY),
                    Ok(None) => {
                        any_killed = true;
                        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
                        let _ = child.wait();
                        break;
                    }
                    _ => break,
                }
            }
        }
        for pid in &self.watched {
            let pid = Pid::from_raw(*pid as i32);
            if any_killed && kill(pid, None).is_ok() {
                let _ = kill(pid, Signal::SIGKILL);
            }
        }
    }
}

/// Polls `condition` every few milliseconds until it is true; panics naming `what` if
/// `deadline` passes first.
pub fn wait_until(what: &str, deadline: Duration, mut condition: impl FnMut() -> bool) {
    let end = Instant::now() + deadline;
    loop {
        if condition() {
            return;
        }
        assert!(Instant::now() < end, "timed out after {deadline:?} waiting for {what}");
        std::thread::sleep(POLL_EVERY);
    }
}

/// Polls `probe` until it returns something; panics naming `what` after `deadline`.
pub fn wait_for<T>(what: &str, deadline: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let mut found = None;
    wait_until(what, deadline, || {
        found = probe();
        found.is_some()
    });
    found.unwrap()
}

/// The status of a service directory, if its supervisor has written one.
pub fn status(service_dir: &Path) -> Option<ostler_core::Status> {
    ostler_core::Status::read(&service_dir.join("supervise")).ok()
}

/// Waits until the service's status satisfies `condition`, and returns that status.
pub fn wait_status(
    service_dir: &Path,
    what: &str,
    condition: impl Fn(&ostler_core::Status) -> bool,
) -> ostler_core::Status {
    wait_for(&format!("{} to be {what}", service_dir.display()), DEADLINE, || {
        status(service_dir).filter(|s| condition(s))
    })
}

/// Waits until `path` exists.
pub fn wait_file(path: &Path) {
    wait_until(&format!("{} to exist", path.display()), DEADLINE, || path.exists());
}

/// Whether a supervisor holds `DIR/supervise/lock` (what s6-svok tests).
pub fn supervised(service_dir: &Path) -> bool {
    ostler_core::lock::path_is_locked(&service_dir.join("supervise/lock")).unwrap_or(false)
}

/// Whether a process reads the FIFO at `path`: a writer's non-blocking open fails with ENXIO
/// while nobody does (what s6's clients see as "not listening").
pub fn has_reader(path: &Path) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(path).is_ok()
}

/// Whether a supervisor holds the lock and has finished starting: it reads its control FIFO
/// and has written a status. It takes the lock first, so the lock alone leaves a moment in
/// which `svc` finds nobody listening and `svc -w` no status to start from.
pub fn listening(service_dir: &Path) -> bool {
    let supervise = service_dir.join("supervise");
    supervised(service_dir) && has_reader(&supervise.join("control")) && supervise.join("status").exists()
}

/// Waits until a scanner on `scan_dir` reads its control FIFO. The FIFO exists a moment before
/// it is opened, and `svscanctl` in that moment finds nobody listening.
pub fn wait_scanner(scan_dir: &Path) {
    let control = scan_dir.join(".s6-svscan/control");
    wait_until(&format!("a scanner to read {}", control.display()), DEADLINE, || has_reader(&control));
}

/// Runs a command to completion and returns its output.
pub fn run<I, S>(program: impl AsRef<OsStr>, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let program = program.as_ref();
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("unable to run {}: {e}", program.to_string_lossy()))
}

/// Exit code, stdout and stderr of an output, as text.
pub fn outcome(output: &Output) -> (i32, String, String) {
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

// Service-status shorthands and process probes used by the supervision tests.

/// Runs a command to completion: (exit code, stdout, stderr).
pub fn cmd(command: &mut Command) -> (i32, String, String) {
    let output = command
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("unable to run {command:?}: {e}"));
    outcome(&output)
}

/// The pid in the status (0 when down or unreadable).
pub fn status_pid(service: &Path) -> u64 {
    status(service).map_or(0, |s| s.pid)
}

/// The flags byte of the status.
pub fn status_flags(service: &Path) -> u8 {
    status(service).map_or(0, |s| s.pack()[34])
}

/// The raw status, when one is written.
pub fn status_bytes(service: &Path) -> Option<[u8; 35]> {
    status(service).map(|s| s.pack())
}

/// Up: a pid and not finishing.
pub fn is_up(service: &Path) -> bool {
    status(service).is_some_and(|s| s.is_up())
}

/// Waits until the service is up with a pid other than `not`; returns the pid.
pub fn wait_up(service: &Path, not: u64, within: Duration) -> u64 {
    wait_until(&format!("{} up", service.display()), within, || is_up(service) && status_pid(service) != not);
    status_pid(service)
}

/// Whether `pid` is alive and not a zombie.
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')))
}

/// Starts `ostler svscan EXTRA… SCAN_DIR`, stderr into a file.
pub fn start_scanner(procs: &mut Processes, scan_dir: &Path, extra: &[&str], stderr_file: &Path) -> u32 {
    let err = std::fs::File::create(stderr_file).unwrap();
    let mut command = Command::new(ostler());
    command.arg("svscan").args(extra).arg(scan_dir).stderr(err);
    procs.spawn(command)
}

/// Children of a process, by /proc.
pub fn children_of(parent: u32) -> Vec<(i32, char)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let Some(rest) = stat.rsplit(')').next() else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(1) == Some(&parent.to_string().as_str()) {
            found.push((pid, fields[0].chars().next().unwrap_or('?')));
        }
    }
    found
}
