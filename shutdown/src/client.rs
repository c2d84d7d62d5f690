//! The commands: `poweroff`, `reboot`, `halt` (`-f`, `-n`, `-w`), `shutdown` and PID 1's signal
//! diversions. They write one line to the shutdown daemon's FIFO; the daemon does the work.

use crate::request::{Command, Request, DEFAULT_GRACE};
use crate::{sys, when, Action, Layout};
use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use std::path::PathBuf;
use std::time::Duration;

/// Why a request did not reach the daemon.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing reads the FIFO.
    #[error("the shutdown daemon is not running ({}); is this system running ostler? use -f to act at once", fifo.display())]
    NotRunning {
        /// The daemon's FIFO.
        fifo: PathBuf,
    },
    /// Opening or writing the FIFO failed.
    #[error("unable to write to {}: {source}; are you root?", fifo.display())]
    Io {
        /// The daemon's FIFO.
        fifo: PathBuf,
        /// The system's reason.
        source: Errno,
    },
}

/// Sends one command to the daemon.
pub fn send(layout: &Layout, command: Command) -> Result<(), ClientError> {
    connect(layout)?.send(command)
}

/// The daemon's FIFO, open for writing.
pub struct Connection {
    fifo: PathBuf,
    fd: std::os::fd::OwnedFd,
}

/// Opens the daemon's FIFO. Only root may (it is 0600): a user is refused here, before any
/// wall message announces a shutdown that will not happen.
pub fn connect(layout: &Layout) -> Result<Connection, ClientError> {
    let fifo = layout.fifo();
    match open(&fifo, OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC, Mode::empty()) {
        Ok(fd) => Ok(Connection { fifo, fd }),
        Err(Errno::ENXIO | Errno::ENOENT) => Err(ClientError::NotRunning { fifo }),
        Err(source) => Err(ClientError::Io { fifo, source }),
    }
}

impl Connection {
    /// Writes one command.
    pub fn send(self, command: Command) -> Result<(), ClientError> {
        // A line is far below PIPE_BUF: it is written whole or not at all.
        match nix::unistd::write(&self.fd, command.encode().as_bytes()) {
            Ok(_) => Ok(()),
            Err(source) => Err(ClientError::Io { fifo: self.fifo, source }),
        }
    }
}

/// What `poweroff`, `reboot` and `halt` were asked.
#[derive(Clone, Copy, Debug, Default)]
pub struct PowerOptions {
    /// `-f`: at once, without the orderly shutdown.
    pub force: bool,
    /// `-n`: with `-f`, no sync first.
    pub no_sync: bool,
    /// `-w`: only the wtmp record — ostler keeps none, so nothing happens.
    pub wtmp_only: bool,
    /// `-W`: no wall message.
    pub no_wall: bool,
}

/// `poweroff`, `reboot`, `halt`.
pub fn power(action: Action, options: PowerOptions) -> u8 {
    let program = action.word();
    if options.wtmp_only {
        return 0;
    }
    if options.force {
        if !options.no_sync {
            nix::unistd::sync();
        }
        let _ = nix::sys::reboot::reboot(crate::final_stage::mode(action));
        eprintln!("{program}: unable to {program}: only root can, and not inside a container; try without -f");
        return 111;
    }
    let layout = Layout::from_env();
    if let Some(code) = stop_container(&layout, program) {
        return code;
    }
    let daemon = match connect(&layout) {
        Ok(daemon) => daemon,
        Err(e) => return report(program, Err(e)),
    };
    if !options.no_wall {
        wall(&format!("The system is going down for {program} NOW!"));
    }
    report(program, daemon.send(Command::Shutdown(now(action, DEFAULT_GRACE))))
}

/// The file a container's init leaves in its private area: its pid and its stop signal.
pub const CONTAINER_INIT: &str = "container-init";

/// In a container, `poweroff`, `reboot` and `halt` all mean "stop the container": the init's
/// stop signal, sent to it. `None` when this is not a container ostler is the init of.
fn stop_container(layout: &Layout, program: &str) -> Option<u8> {
    let text = std::fs::read_to_string(layout.run_dir.join(CONTAINER_INIT)).ok()?;
    let mut words = text.split_whitespace().map(str::parse::<i32>);
    let (Some(Ok(pid)), Some(Ok(signo))) = (words.next(), words.next()) else { return None };
    let signal = nix::sys::signal::Signal::try_from(signo).ok()?;
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal) {
        Ok(()) => Some(0),
        Err(e) => {
            eprintln!("{program}: unable to tell the container's init (pid {pid}) to stop: {e}; run as its user");
            Some(111)
        }
    }
}

/// What `shutdown` was asked.
#[derive(Clone, Debug)]
pub struct ShutdownOptions {
    /// The action; `None` with `-k` (warn only).
    pub action: Option<Action>,
    /// `-c`: cancel the pending shutdown.
    pub cancel: bool,
    /// `-t`: the grace.
    pub grace: Duration,
    /// TIME (`now` when cancelling).
    pub time: String,
    /// The wall message.
    pub message: String,
}

/// `shutdown`.
pub fn shutdown(options: &ShutdownOptions) -> u8 {
    let layout = Layout::from_env();
    if options.cancel {
        let code = report("shutdown", send(&layout, Command::Cancel));
        if code == 0 {
            wall(&with_message("The scheduled shutdown is cancelled.", &options.message));
        }
        return code;
    }
    let when = match when::parse(&options.time) {
        Ok(when) => when,
        Err(problem) => {
            eprintln!("shutdown: {problem}; see shutdown --help");
            return 100;
        }
    };
    let delay = when.delay(when::seconds_of_day_now());
    // Refused (not root, no daemon) before the wall message, which would announce it anyway.
    let daemon = match options.action.map(|_| connect(&layout)) {
        Some(Err(e)) => return report("shutdown", Err(e)),
        daemon => daemon.and_then(Result::ok),
    };
    let what = options.action.map_or("shutdown", Action::word);
    let announce = if delay.is_zero() {
        format!("The system is going down for {what} NOW!")
    } else {
        format!("The system is going down for {what} in {} minute(s)!", delay.as_secs().div_ceil(60))
    };
    wall(&with_message(&announce, &options.message));
    let (Some(action), Some(daemon)) = (options.action, daemon) else { return 0 };
    let request = Request { action, delay, grace: options.grace };
    report("shutdown", daemon.send(Command::Shutdown(request)))
}

/// What a scanner diversion (`/run/service/.s6-svscan/NAME`, a link to ostler) does: PID 1's
/// signals become requests to the daemon, as s6-linux-init maps them.
pub fn diversion(name: &str) -> u8 {
    let action = match name {
        // ctrl-alt-del, with the kernel's own reboot disabled.
        "SIGINT" => Action::Reboot,
        "SIGPWR" | "SIGUSR1" => Action::Poweroff,
        "SIGUSR2" => Action::Halt,
        "finish" => return crate::final_stage::run(),
        "crash" => return crate::final_stage::crash(),
        // SIGTERM, SIGQUIT, SIGWINCH: deliberately nothing, so a stray `kill 1` does no harm.
        _ => return 0,
    };
    let layout = Layout::from_env();
    match send(&layout, Command::Shutdown(now(action, DEFAULT_GRACE))) {
        Ok(()) => 0,
        Err(e) => {
            // Without its daemon the machine must still obey: hand over to PID 1 directly.
            sys::console(&format!("{e}; {} without stopping services first", action.word()));
            crate::daemon::hand_over(&layout, now(action, DEFAULT_GRACE))
        }
    }
}

/// `init 0` / `init 6` from a shell.
pub fn telinit(action: Action) -> u8 {
    report("init", send(&Layout::from_env(), Command::Shutdown(now(action, DEFAULT_GRACE))))
}

fn now(action: Action, grace: Duration) -> Request {
    Request { action, delay: Duration::ZERO, grace }
}

fn report(program: &str, outcome: Result<(), ClientError>) -> u8 {
    match outcome {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{program}: {e}");
            111
        }
    }
}

fn with_message(announce: &str, message: &str) -> String {
    if message.is_empty() {
        announce.to_string()
    } else {
        format!("{announce}\n{message}")
    }
}

/// Writes a broadcast to every terminal someone is on. ostler keeps no utmp: the terminals are
/// the console, every pseudo-terminal, and every terminal that is some process's controlling
/// terminal (a getty's, a login shell's).
pub fn wall(text: &str) {
    let banner = format!("\r\nBroadcast message from {}:\r\n\r\n{}\r\n\r\n", who(), text.replace('\n', "\r\n"));
    for terminal in terminals() {
        let opened =
            std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK).open(&terminal);
        if let Ok(mut file) = opened {
            let _ = std::io::Write::write_all(&mut file, banner.as_bytes());
        }
    }
}

use std::os::unix::fs::OpenOptionsExt;

fn who() -> String {
    let uid = nix::unistd::getuid();
    let name = nix::unistd::User::from_uid(uid).ok().flatten().map(|u| u.name).unwrap_or_else(|| uid.to_string());
    let host = nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
    if host.is_empty() {
        name
    } else {
        format!("{name}@{host}")
    }
}

/// The console's terminals, /dev/pts/N, and the controlling terminals of running processes,
/// each once (the console is named by its devices, so a getty on it does not get it twice).
fn terminals() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = match std::fs::read_to_string("/sys/class/tty/console/active") {
        Ok(active) => active.split_whitespace().map(|name| PathBuf::from("/dev").join(name)).collect(),
        Err(_) => vec![PathBuf::from("/dev/console")],
    };
    if let Ok(pts) = std::fs::read_dir("/dev/pts") {
        found.extend(pts.flatten().filter(|e| e.file_name() != "ptmx").map(|e| e.path()));
    }
    let mut numbers = std::collections::BTreeSet::new();
    if let Ok(procs) = std::fs::read_dir("/proc") {
        for entry in procs.flatten() {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
            // Field 7, tty_nr, after the parenthesised command name (which may hold spaces).
            let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else { continue };
            if let Some(tty) = rest.split(' ').nth(4).and_then(|t| t.parse::<u64>().ok()).filter(|t| *t != 0) {
                numbers.insert(tty);
            }
        }
    }
    for tty in numbers {
        let (major, minor) = (((tty >> 8) & 0xfff), ((tty & 0xff) | ((tty >> 12) & 0xfff00)));
        let path = match major {
            4 if minor < 64 => PathBuf::from(format!("/dev/tty{minor}")),
            4 => PathBuf::from(format!("/dev/ttyS{}", minor - 64)),
            _ => continue,
        };
        if !found.contains(&path) {
            found.push(path);
        }
    }
    found
}
