//! `ostler init --container [-- CMD…]`: the init of a container, in tini's place and
//! s6-overlay's.
//!
//! 1. not PID 1 (a pod sharing its PID namespace): become the subreaper of our descendants;
//! 2. every catchable signal is blocked and read from a signalfd — TTIN, TTOU and TSTP too, so
//!    the init of a terminal session is never stopped;
//! 3. mount what is missing and allowed, choose the runtime area ([`runtime`]);
//! 4. when there are definitions (`/etc/ostler/sv`, `OSTLER_DEFS`): the scanner, a child in its
//!    own session, output to the container's; once its first scan is done, stage 2 brings the
//!    `default` bundle up (a forked child);
//! 5. then CMD, in its own process group, the terminal's foreground group when there is one;
//! 6. every signal but SIGCHLD goes to CMD (its group with `--process-group`); the stop signal
//!    (SIGTERM) means the orderly stop ([`stop`]): CMD first, then the services in reverse
//!    dependency order, then every process left TERM and, at the grace, KILL. No fixed sleep;
//! 7. exit with CMD's status (128 + N when killed by signal N), 126/127 when it cannot be run,
//!    0 without CMD — or the number a service wrote to `RUNDIR/exitcode`.
//!
//! Every zombie is reaped all the while: ours, and the orphans the namespace hands us.

mod catch_all;
pub mod detect;
pub mod runtime;
pub mod s6_overlay;
mod stop;

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Stage 2, run in a forked child with the runtime area's paths.
pub type Stage2 = fn(defs: Vec<PathBuf>, private: PathBuf, scan: PathBuf) -> u8;

/// Whether the named services are up and ready (`ostler ready`); `Err` names one that is not
/// defined.
pub type Ready = fn(defs: &[PathBuf], private: &Path, scan: &Path, names: &[String]) -> Result<bool, String>;

/// What the front door lends the init: the service manager's parts.
#[derive(Clone, Copy)]
pub struct Hooks {
    /// Brings `default` up.
    pub stage2: Stage2,
    /// Answers `--wait-for`.
    pub ready: Ready,
}

/// How often `--wait-for` looks at the services while stage 2 runs.
const READY_POLL: Duration = Duration::from_millis(10);

/// What the front door gathered from the command line and the environment.
#[derive(Clone, Debug)]
pub struct Options {
    /// The main program and its arguments (none: run until stopped).
    pub command: Vec<OsString>,
    /// The whole stop's budget: at its end what is left is killed.
    pub grace: Duration,
    /// The signal that means "stop" (SIGTERM).
    pub stop_signal: Signal,
    /// Signals go to CMD's process group, not CMD alone.
    pub process_group: bool,
    /// The services CMD waits for (none: the whole `default` bundle).
    pub wait_for: Vec<String>,
    /// The longest the services may take to come up before CMD (none: no limit).
    pub wait_max: Option<Duration>,
    /// When they fail or take longer: stop the container (exit 1) rather than go on.
    pub stop_on_failure: bool,
    /// Not a container: an instance under another init, on the runtime area it names
    /// ([`crate::instance`]).
    pub instance: Option<crate::instance::Instance>,
}

/// The signals that stay with the kernel's default action: a fault in the init is fatal.
const KERNEL_SIGNALS: [Signal; 7] =
    [Signal::SIGFPE, Signal::SIGILL, Signal::SIGSEGV, Signal::SIGBUS, Signal::SIGABRT, Signal::SIGTRAP, Signal::SIGSYS];

/// Runs the container; returns its exit code.
pub fn run(options: &Options, hooks: Hooks) -> u8 {
    if nix::unistd::getpid().as_raw() != 1 {
        if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
            eprintln!("ostler: warning: not PID 1 and unable to become a subreaper ({e}); orphans will not be reaped");
        }
    }
    let (signals, original_mask) = match block_signals() {
        Ok(pair) => pair,
        Err(e) => {
            eprintln!("ostler: fatal: unable to read signals through a signalfd: {e}");
            return 111;
        }
    };
    let mut init = Init {
        options,
        signals,
        original_mask,
        command: None,
        status: None,
        stop_asked: false,
        s6: None,
        exitcode_file: None,
        logger: None,
        stopping: false,
        stage2: None,
        // With CMD, readiness is CMD's to tell (it inherits NOTIFY_SOCKET, as under tini).
        notifier: options.command.is_empty().then(crate::sd_notify::Notifier::take_from_env).flatten(),
        start_problem: None,
    };
    init.main(hooks)
}

/// The state of a running container.
struct Init<'a> {
    options: &'a Options,
    signals: SignalFd,
    original_mask: SigSet,
    /// CMD's process, while it runs.
    command: Option<Pid>,
    /// CMD's exit code, once known.
    status: Option<u8>,
    /// The stop signal came.
    stop_asked: bool,
    /// Running an s6-overlay image: its settings.
    s6: Option<s6_overlay::Settings>,
    /// Where a service may write the container's exit code.
    exitcode_file: Option<PathBuf>,
    /// s6-overlay's catch-all logger (`S6_LOGGING` 1, 2).
    logger: Option<catch_all::Logger>,
    /// The orderly stop has begun (a logger that dies is not started again).
    stopping: bool,
    /// Stage 2, while it runs (CMD may start before it is done: `--wait-for`, `--wait-max`).
    stage2: Option<Pid>,
    /// `$NOTIFY_SOCKET`'s manager (systemd's `Type=notify`, podman's `--sdnotify=container`):
    /// told READY=1 once the services are up, STOPPING=1 when the stop begins.
    notifier: Option<crate::sd_notify::Notifier>,
    /// What did not come up at the start, for the manager's status line.
    start_problem: Option<String>,
}

impl Init<'_> {
    fn main(&mut self, hooks: Hooks) -> u8 {
        let options: &Options = self.options;
        let instance = options.instance.as_ref();
        if nix::unistd::geteuid().is_root() && instance.is_none() {
            runtime::mount_what_is_missing();
        }
        // Without definitions there is nothing to supervise: no runtime area, tini's cost.
        let mut defs = instance.map_or_else(definitions, |i| i.defs.clone());
        let own_default = defs.iter().any(|d| d.join("default").is_dir());
        let overlay = if own_default || instance.is_some() { None } else { s6_overlay::find() };
        // An instance holds its lock for as long as it runs.
        let mut _lock = None;
        let area = if let Some(instance) = instance {
            if !own_default {
                let first = defs.first().map(|d| d.join("default").display().to_string()).unwrap_or_default();
                eprintln!("ostler: no default bundle in {}: make {first} (a `type` file saying bundle, and contents.d/ naming the services)", defs_text(&defs));
                return 111;
            }
            match crate::instance::take(instance) {
                Ok((area, lock)) => {
                    _lock = Some(lock);
                    std::env::set_var("OSTLER_DEFS", std::env::join_paths(&defs).unwrap_or_default());
                    std::env::set_var("OSTLER_LOGDIR", &instance.logs);
                    Some(area)
                }
                Err(e) => {
                    eprintln!("ostler: {e}");
                    return 111;
                }
            }
        } else if own_default || overlay.is_some() {
            let own = nix::unistd::getpid().as_raw() == 1 || detect::own_pid_namespace();
            match runtime::prepare(own) {
                Ok(area) => Some(area),
                Err(e) => {
                    eprintln!("ostler: {e}");
                    return 111;
                }
            }
        } else {
            None
        };
        let mut exitcode_files = Vec::new();
        let mut scanner = None;
        if let Some(area) = &area {
            if let Some(warning) = &area.warning {
                eprintln!("ostler: warning: {warning}");
            }
            std::env::set_var("OSTLER_SCANDIR", &area.scan);
            std::env::set_var("OSTLER_RUNDIR", &area.private);
            exitcode_files.push(area.private.join("exitcode"));
            if let Some(layout) = &overlay {
                let settings = s6_overlay::Settings::from_env();
                if let Some(fd) = settings.wait_for_closing_fd {
                    wait_for_end_of_file(fd);
                }
                match s6_overlay::prepare(layout, &settings, &area.private) {
                    Ok(prepared) => {
                        defs = prepared.defs;
                        exitcode_files.insert(0, prepared.exitcode);
                    }
                    Err(e) => {
                        eprintln!("ostler: {e}");
                        return 111;
                    }
                }
                std::env::set_var("OSTLER_VERBOSITY", settings.verbosity.to_string());
                if settings.logging >= 1 {
                    let dir = match area.private.starts_with("/run") {
                        true => PathBuf::from("/run/uncaught-logs"),
                        false => area.private.join("uncaught-logs"),
                    };
                    match catch_all::Logger::start(dir, settings.logging_script.clone()) {
                        Ok(logger) => self.logger = Some(logger),
                        Err(e) => eprintln!("ostler: warning: {e}; everything goes to the container's output"),
                    }
                }
                self.s6 = Some(settings);
            }
            if let Some(dir) = instance.and_then(|i| i.catch_all.clone()) {
                // Our output so far went to whoever started us (`ostler user start` relays it
                // until end of file); from here on it all goes to the log.
                if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
                    let _ = nix::unistd::dup2_stdout(&null);
                    let _ = nix::unistd::dup2_stderr(&null);
                }
                match catch_all::Logger::start(dir, ["n20", "s1000000", "T"].map(String::from).to_vec()) {
                    Ok(logger) => self.logger = Some(logger),
                    Err(e) => eprintln!("ostler: warning: {e}; the output goes where ours went"),
                }
            }
            // Each service's lines reach the container's output led by its name.
            if self.s6.as_ref().is_none_or(|s| s.logging == 0) {
                let _ = std::fs::write(area.private.join(ostler_core::paths::MARK_LINES), b"");
            }
            // `halt`, `poweroff`, `reboot` inside the container find us there (an instance
            // under another init leaves them to that init).
            if instance.is_none() {
                let me = format!("{} {}\n", nix::unistd::getpid(), self.options.stop_signal as i32);
                let _ = std::fs::write(area.private.join(ostler_shutdown::client::CONTAINER_INIT), me);
            }
            let hook = self.run_hook().err();
            let problem = match hook {
                Some(problem) if self.options.stop_on_failure => Some(problem),
                _ => match self.start_services(area, defs, hooks) {
                    Ok((pid, problem)) => {
                        scanner = Some(pid);
                        hook.or(problem)
                    }
                    Err(problem) => Some(problem),
                },
            };
            let behaviour = self.s6.as_ref().map(|_| s6_overlay::contenv::number("S6_BEHAVIOUR_IF_STAGE2_FAILS", 0));
            self.start_problem.clone_from(&problem);
            match problem {
                Some(problem) if self.options.stop_on_failure => {
                    eprintln!("ostler: {problem}; stopping the container (--on-failure stop)");
                    self.status = Some(1);
                }
                // s6-overlay's default is to go on silently.
                Some(_) if behaviour == Some(0) => {}
                Some(problem) if self.options.command.is_empty() => {
                    eprintln!("ostler: warning: {problem}; the rest runs")
                }
                Some(problem) => eprintln!("ostler: warning: {problem}; starting the main program all the same"),
                None => {}
            }
        }
        if self.status.is_none() && !self.stop_asked {
            if let Some(notifier) = &self.notifier {
                notifier.send(&format!("READY=1\nSTATUS={}", self.ready_text(area.is_some())));
            }
            self.start_command();
        }
        while self.status.is_none() && !self.stop_asked {
            self.wait_event(None);
        }
        self.exitcode_file = exitcode_files.first().cloned();
        stop::orderly(self, area.as_ref().zip(scanner));
        let written = exitcode_files.iter().find_map(|file| read_exitcode(file));
        let code = match &self.s6 {
            Some(_) => written.unwrap_or(0),
            None => written.or(self.status).unwrap_or(0),
        };
        if self.s6.as_ref().is_some_and(|s| s.sync_disks) {
            nix::unistd::sync();
        }
        if let Some(remove) = area.as_ref().and_then(|area| area.remove.as_ref()) {
            let _ = std::fs::remove_dir_all(remove);
        }
        // A stopped instance leaves no live state for clients to take for a running one.
        if let (Some(area), Some(_)) = (&area, instance) {
            let _ = std::fs::remove_dir_all(&area.scan);
            let _ = std::fs::remove_dir_all(&area.private);
        }
        code
    }

    /// The status line a manager shows once we are ready (`systemctl status`).
    fn ready_text(&self, services: bool) -> String {
        match (&self.start_problem, services) {
            (Some(problem), _) => format!("running; {problem}"),
            (None, true) => "running: the default bundle is up".to_string(),
            (None, false) => "running".to_string(),
        }
    }

    /// s6-overlay's `S6_STAGE2_HOOK`: a shell command run before the services; its failure
    /// is a failure of the start.
    fn run_hook(&mut self) -> Result<(), String> {
        let Some(hook) = self.s6.as_ref().and_then(|s| s.stage2_hook.clone()) else { return Ok(()) };
        let status = std::process::Command::new("/bin/sh")
            .args(["-c", &hook])
            .status()
            .map_err(|e| format!("unable to run the S6_STAGE2_HOOK with /bin/sh: {e}"))?;
        // Reaped by the wait above; the signalfd still holds its SIGCHLD, which is harmless.
        match status.success() {
            true => Ok(()),
            false => Err(format!("the S6_STAGE2_HOOK {hook:?} failed ({status})")),
        }
    }

    /// The scanner, then stage 2 until the default bundle is up — or the services of
    /// `--wait-for` are ready, or stage 2 failed, or the wait is over. Returns the scanner's
    /// pid and what did not come up, if anything; an error when the scanner cannot start.
    fn start_services(
        &mut self,
        area: &runtime::Runtime,
        defs: Vec<PathBuf>,
        hooks: Hooks,
    ) -> Result<(Pid, Option<String>), String> {
        let scanner = start_scanner(area)?;
        let (private, scan) = (area.private.clone(), area.scan.clone());
        let wanted = self.options.wait_for.clone();
        let ready = |defs: &[PathBuf]| (hooks.ready)(defs, &area.private, &area.scan, &wanted);
        let defs_kept = defs.clone();
        // SAFETY: we are single-threaded; the child runs stage 2 and _exits.
        let child = match unsafe { nix::unistd::fork() } {
            Ok(nix::unistd::ForkResult::Child) => {
                // In the background of a terminal CMD may own: never stopped by it.
                for signal in [libc::SIGTTIN, libc::SIGTTOU, libc::SIGTSTP] {
                    // SAFETY: installs SIG_IGN, no handler code.
                    unsafe { libc::signal(signal, libc::SIG_IGN) };
                }
                let how = nix::sys::signal::SigmaskHow::SIG_SETMASK;
                let _ = nix::sys::signal::sigprocmask(how, Some(&self.original_mask), None);
                let code = (hooks.stage2)(defs, private, scan);
                // SAFETY: ends the child without running the parent's exit path.
                unsafe { libc::_exit(i32::from(code)) }
            }
            Ok(nix::unistd::ForkResult::Parent { child }) => child,
            Err(e) => return Ok((scanner, Some(format!("unable to fork stage 2: {e}")))),
        };
        self.stage2 = Some(child);
        let deadline = self.options.wait_max.map(|max| Instant::now() + max);
        let not_ready = |names: &[String]| format!("{} not ready", names.join(", "));
        loop {
            // With --wait-for, a look at the services every READY_POLL while stage 2 runs.
            let poll = Instant::now() + READY_POLL;
            let next = if wanted.is_empty() { deadline } else { Some(deadline.map_or(poll, |d| d.min(poll))) };
            let exited = self.wait_event_for(child, next);
            if !wanted.is_empty() {
                match ready(&defs_kept) {
                    Ok(true) => return Ok((scanner, None)),
                    Err(name) => return Ok((scanner, Some(format!("--wait-for {name}: no such service")))),
                    Ok(false) if exited.is_some() => {
                        let code = exited.unwrap_or_default();
                        return Ok((scanner, Some(format!("stage 2 exited {code} and {}", not_ready(&wanted)))));
                    }
                    Ok(false) => {}
                }
            } else if let Some(code) = exited {
                let problem = (code != 0).then(|| format!("stage 2 exited {code} (see above)"));
                return Ok((scanner, problem));
            }
            if self.stop_asked {
                return Ok((scanner, None));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                let waited = self.options.wait_max.unwrap_or_default().as_millis();
                let what =
                    if wanted.is_empty() { "the services are not all up".to_string() } else { not_ready(&wanted) };
                return Ok((scanner, Some(format!("{what} after {waited} ms"))));
            }
        }
    }

    /// Waits for an event; returns `child`'s exit code if it was reaped.
    fn wait_event_for(&mut self, child: Pid, deadline: Option<Instant>) -> Option<u8> {
        let reaped = self.wait_event(deadline);
        reaped.into_iter().find(|(pid, _)| *pid == child).map(|(_, code)| code)
    }

    /// CMD, if there is one: own process group, the terminal's foreground, the original signal
    /// mask; 126/127 when it cannot run.
    fn start_command(&mut self) {
        if self.options.command.is_empty() {
            return;
        }
        // s6-overlay's S6_CMD_ARG0: words in front of CMD (an old ENTRYPOINT).
        let arg0 = self.s6.as_ref().map(|s| s.cmd_arg0.clone()).unwrap_or_default();
        let words: Vec<OsString> =
            arg0.into_iter().map(OsString::from).chain(self.options.command.iter().cloned()).collect();
        let Some(program) = words.first() else { return };
        // S6_LOGGING 1 (and 2 with S6_CMD_USE_TERMINAL on a terminal): CMD keeps the
        // container's output; the rest goes to the catch-all logger.
        let mut output = None;
        if let (Some(logger), Some(s6)) = (&self.logger, &self.s6) {
            let terminal = s6.cmd_use_terminal && nix::unistd::isatty(&logger.original.0).unwrap_or(false);
            if s6.logging == 1 || terminal {
                output = logger.original.0.try_clone().ok().zip(logger.original.1.try_clone().ok());
            }
        }
        // With a terminal to hand over, or a signal mask to give back that is not empty, the
        // child runs code of ours before the exec (a fork). Otherwise posix_spawn, which
        // borrows our memory until the exec: a fork's page-table copy less (a tenth of a short
        // container's time).
        let terminal = nix::unistd::isatty(std::io::stdin()).unwrap_or(false);
        let started = match terminal || self.original_mask != SigSet::empty() {
            true => spawn_forked(&words, output, self.original_mask),
            false => spawn_plain(&words, output),
        };
        match started {
            Ok(pid) => self.command = Some(pid),
            Err(e) => {
                let code = if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 };
                let fix = if code == 127 { "check the name and PATH" } else { "make it an executable file" };
                eprintln!("ostler: unable to run {}: {e}; {fix}", program.to_string_lossy());
                self.status = Some(code);
            }
        }
    }

    /// Waits for signals (until `deadline`), handles them, and returns what was reaped.
    fn wait_event(&mut self, deadline: Option<Instant>) -> Vec<(Pid, u8)> {
        let fd = std::os::fd::AsFd::as_fd(&self.signals);
        let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN)];
        let _ = nix::poll::poll(&mut fds, ostler_supervise::poll_timeout(deadline));
        while let Ok(Some(info)) = self.signals.read_signal() {
            let Ok(signal) = Signal::try_from(info.ssi_signo as i32) else { continue };
            match signal {
                // The terminal's stop signals are for the process group in the foreground,
                // CMD's, which the terminal sends them to itself (tini, catatonit do the same).
                Signal::SIGCHLD | Signal::SIGTTIN | Signal::SIGTTOU | Signal::SIGTSTP => {}
                // s6-overlay without S6_CMD_RECEIVE_SIGNALS: these stop the container, CMD
                // among the last.
                _ if self.services_stop_first() && s6_overlay::STOP_SIGNALS.contains(&signal) => self.stop_asked = true,
                _ if signal == self.options.stop_signal => self.ask_stop(),
                // Without a main program to take them, INT and TERM stop the container too.
                Signal::SIGINT | Signal::SIGTERM if self.command.is_none() => self.stop_asked = true,
                _ => self.forward(signal),
            }
        }
        self.reap()
    }

    /// s6-overlay: CMD's end (or a failed start) writes the exit code, before the stop, whose
    /// finish scripts may write another; a stop from outside writes none (exit 0) unless CMD
    /// receives the signals and ends of it.
    fn record_exit(&self) {
        let Some(s6) = &self.s6 else { return };
        if let (Some(code), Some(file)) = (self.status, &self.exitcode_file) {
            if !self.stop_asked || s6.cmd_receives_signals {
                let _ = std::fs::write(file, format!("{code}\n"));
            }
        }
    }

    /// s6-overlay's default order: the services stop before CMD, which goes with the rest.
    fn services_stop_first(&self) -> bool {
        self.s6.as_ref().is_some_and(|s| !s.cmd_receives_signals)
    }

    fn ask_stop(&mut self) {
        self.stop_asked = true;
        self.forward(self.options.stop_signal);
    }

    fn forward(&self, signal: Signal) {
        if let Some(pid) = self.command {
            let target = if self.options.process_group { Pid::from_raw(-pid.as_raw()) } else { pid };
            let _ = nix::sys::signal::kill(target, signal);
        }
    }

    /// Reaps every zombie; CMD's status is kept. Returns each reaped child and its code.
    fn reap(&mut self) -> Vec<(Pid, u8)> {
        let mut reaped = Vec::new();
        loop {
            let code = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid, code as u8),
                Ok(WaitStatus::Signaled(pid, signal, _)) => (pid, 128 + signal as u8),
                Ok(WaitStatus::StillAlive) | Err(_) => return reaped,
                Ok(_) => continue,
            };
            if Some(code.0) == self.command {
                self.command = None;
                self.status = Some(code.1);
            }
            if Some(code.0) == self.stage2 {
                self.stage2 = None;
            }
            if let Some(logger) = self.logger.as_mut().filter(|l| l.pid == Some(code.0)) {
                logger.pid = None;
                if !self.stopping {
                    if let Err(e) = logger.spawn() {
                        eprintln!("ostler: {e}");
                    }
                }
            }
            reaped.push(code);
        }
    }
}

/// CMD through posix_spawn: its own process group, every signal unblocked and at its default
/// action (our SIGPIPE is ignored; TTIN, TTOU, TSTP must stop it), `output` on 1 and 2, our
/// environment as it is (libc's `environ`: no copy of it to make).
fn spawn_plain(
    words: &[OsString],
    output: Option<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)>,
) -> std::io::Result<Pid> {
    use std::ffi::CString;
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    extern "C" {
        static environ: *const *mut libc::c_char;
    }
    let cstring =
        |bytes: &[u8]| CString::new(bytes).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput));
    let argv = words.iter().map(|w| cstring(w.as_bytes())).collect::<std::io::Result<Vec<_>>>()?;
    let mut pointers: Vec<*mut libc::c_char> = argv.iter().map(|a| a.as_ptr().cast_mut()).collect();
    pointers.push(std::ptr::null_mut());
    let check = |code: i32| if code == 0 { Ok(()) } else { Err(std::io::Error::from_raw_os_error(code)) };
    // SAFETY: the attribute and file-action objects are initialised before use and destroyed
    // after; every pointer given to posix_spawn lives until it returns (argv's strings in
    // `argv`, the environment in libc's `environ`, which nothing changes meanwhile).
    unsafe {
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        check(libc::posix_spawnattr_init(&mut attr))?;
        check(libc::posix_spawn_file_actions_init(&mut actions))?;
        let flags = libc::POSIX_SPAWN_SETPGROUP | libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF;
        let mut defaults = SigSet::empty();
        for signal in [Signal::SIGPIPE, Signal::SIGTTIN, Signal::SIGTTOU, Signal::SIGTSTP] {
            defaults.add(signal);
        }
        let mut result = check(libc::posix_spawnattr_setflags(&mut attr, flags as libc::c_short))
            .and_then(|()| check(libc::posix_spawnattr_setpgroup(&mut attr, 0)))
            .and_then(|()| check(libc::posix_spawnattr_setsigmask(&mut attr, SigSet::empty().as_ref())))
            .and_then(|()| check(libc::posix_spawnattr_setsigdefault(&mut attr, defaults.as_ref())));
        if let (Ok(()), Some((out, err))) = (&result, &output) {
            result = check(libc::posix_spawn_file_actions_adddup2(&mut actions, out.as_raw_fd(), 1))
                .and_then(|()| check(libc::posix_spawn_file_actions_adddup2(&mut actions, err.as_raw_fd(), 2)));
        }
        let mut pid: libc::pid_t = 0;
        if result.is_ok() {
            let spawn = if argv[0].as_bytes().contains(&b'/') { libc::posix_spawn } else { libc::posix_spawnp };
            result = check(spawn(&mut pid, argv[0].as_ptr(), &actions, &attr, pointers.as_ptr(), environ));
        }
        libc::posix_spawn_file_actions_destroy(&mut actions);
        libc::posix_spawnattr_destroy(&mut attr);
        result.map(|()| Pid::from_raw(pid))
    }
}

/// CMD through a fork: its own process group, the terminal's foreground when there is one,
/// `mask` given back, `output` on 1 and 2.
fn spawn_forked(
    words: &[OsString],
    output: Option<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)>,
    mask: SigSet,
) -> std::io::Result<Pid> {
    let mut command = std::process::Command::new(&words[0]);
    command.args(&words[1..]).process_group(0);
    if let Some((out, err)) = output {
        command.stdout(out).stderr(err);
    }
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            // Every signal is still blocked (TTOU too), so taking the terminal from a
            // background group does not stop the child.
            if libc::isatty(0) == 1 {
                libc::tcsetpgrp(0, libc::getpgrp());
            }
            libc::pthread_sigmask(libc::SIG_SETMASK, mask.as_ref(), std::ptr::null_mut());
            Ok(())
        });
    }
    command.spawn().map(|child| Pid::from_raw(child.id() as i32))
}

/// The scanner on the runtime area's scan directory, in its own session, stdin /dev/null,
/// output the container's; returns once its first scan is done (it says so on fd 3).
fn start_scanner(area: &runtime::Runtime) -> Result<Pid, String> {
    let ostler = std::env::current_exe().map_err(|e| format!("unable to find my own binary: {e}"))?;
    let (ready_read, ready_write) = nix::unistd::pipe().map_err(|e| format!("unable to make a pipe: {e}"))?;
    let mut command = std::process::Command::new(&ostler);
    // Named `ostler`: installed as `/init` (s6-overlay's place), its own name means `init`.
    command.arg0("ostler").args(["svscan", "-d", "3"]).arg(&area.scan).stdin(std::process::Stdio::null());
    let write_fd = std::os::fd::AsRawFd::as_raw_fd(&ready_write);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            libc::setsid();
            if libc::dup2(write_fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let scanner = command.spawn().map_err(|e| format!("unable to start the scanner ({}): {e}", ostler.display()))?;
    drop(ready_write);
    // A line once the first scan is done, or end of file if the scanner dies first.
    let mut line = [0u8; 1];
    let _ = nix::unistd::read(&ready_read, &mut line);
    Ok(Pid::from_raw(scanner.id() as i32))
}

/// Blocks every signal but the kernel's (the terminal's stop signals too: blocked, they never
/// stop the init of a terminal session); returns the signalfd and the mask to give children
/// back.
fn block_signals() -> nix::Result<(SignalFd, SigSet)> {
    let mut all = SigSet::all();
    for signal in KERNEL_SIGNALS {
        all.remove(signal);
    }
    let original = all.thread_swap_mask(nix::sys::signal::SigmaskHow::SIG_BLOCK)?;
    let fd = SignalFd::with_flags(&all, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
    Ok((fd, original))
}

/// s6-overlay's `S6_WAIT_FOR_CLOSING_FD`: the engine says "go" by closing its end of `fd`.
fn wait_for_end_of_file(fd: i32) {
    let mut buffer = [0u8; 512];
    loop {
        // SAFETY: reads into our buffer from a descriptor the engine gave us; nothing is
        // owned or closed here.
        match unsafe { libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len()) } {
            n if n > 0 => continue,
            -1 if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => continue,
            _ => return,
        }
    }
}

/// Definition directories for messages: `A, B`.
fn defs_text(defs: &[PathBuf]) -> String {
    defs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// The definition directories: `OSTLER_DEFS` (A:B) or `/etc/ostler/sv`.
fn definitions() -> Vec<PathBuf> {
    match std::env::var_os("OSTLER_DEFS").filter(|v| !v.is_empty()) {
        Some(list) => std::env::split_paths(&list).collect(),
        None => vec![PathBuf::from(ostler_core::paths::ETC_DIR).join("sv")],
    }
}

/// The exit code a service wrote (a number from 0 to 255, as s6-overlay's finish scripts do).
fn read_exitcode(path: &std::path::Path) -> Option<u8> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}
