//! Starting a program the way a supervisor must: its own session, chosen fds, a clean signal
//! state, declared privileges, born in its control group.
//!
//! Most starts borrow this process's memory until the exec (clone with CLONE_VM, as
//! posix_spawn does): nothing is copied — no page tables, no copy-on-write faults in the
//! spawner afterwards, nothing for the exec to tear down — which makes a start several times
//! cheaper than a fork of a long-lived supervisor, most under emulation. [`spawn`] waits for
//! the child's exec, and so knows at once whether it failed; [`start`] does not wait
//! ([`launch`]), so a scanner starting a hundred services on a busy machine does not wait a
//! scheduling delay for each, and learns of a failed exec when it reaps the child. A child
//! that must run ostler's own code (a built-in), wait for a lock, or be PID 1 of a new PID
//! namespace is forked.

mod child;
mod clone;
mod launch;
mod stack;

pub use clone::{born_killed_after_cgroup_kill, CgroupPlan};

use child::Report;
use nix::errno::Errno;
use nix::sys::wait::waitpid;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// What a child gets on a given fd.
#[derive(Clone, Copy, Debug)]
pub enum FdPlan {
    /// Whatever the spawner has there.
    Inherit,
    /// This fd of the spawner, duplicated onto the target fd.
    From(RawFd),
}

impl FdPlan {
    /// A held fd, or inherit when there is none.
    pub fn of(fd: &Option<std::rc::Rc<OwnedFd>>) -> FdPlan {
        fd.as_ref().map_or(FdPlan::Inherit, |fd| FdPlan::From(fd.as_raw_fd()))
    }
}

/// Everything needed to start a program, prepared before fork so the child only calls
/// async-signal-safe functions.
pub struct SpawnPlan {
    /// Directory to run in (`None` = stay).
    pub cwd: Option<CString>,
    /// The program.
    pub program: CString,
    /// argv, program name first.
    pub argv: Vec<CString>,
    /// fd 0 and fd 1.
    pub stdin: FdPlan,
    /// fd 1.
    pub stdout: FdPlan,
    /// Extra fds: (source fd in the spawner, target fd in the child).
    pub extra: Vec<(RawFd, RawFd)>,
    /// A file to open, lock (waiting for the lock) and place on a target fd: `lock-fd`.
    pub lock: Option<(CString, RawFd)>,
    /// Start the program as PID 1 of a new PID namespace (`flag-newpidns`; needs root).
    pub new_pid_namespace: bool,
    /// The program is ostler itself, started as `./run NAME`: run ostler's built-in service
    /// `NAME` in the forked child instead of exec'ing the same binary again.
    pub builtin: Option<(Builtins, String)>,
    /// One `KEY=VALUE` added to the inherited environment, replacing `KEY` if it is there
    /// (`NOTIFY_SOCKET` for run, with `notify-socket`).
    pub env: Option<CString>,
    /// The service's declared privileges, applied after the fds are placed and before the
    /// exec; with an environment of their own (which then carries `env` too).
    pub privileges: Option<crate::privileges::Prepared>,
    /// The service's control group, which the child is born in (or joins before anything
    /// else). Not for a built-in, which stays with the spawner.
    pub cgroup: Option<CgroupPlan>,
}
impl SpawnPlan {
    /// A program with these arguments, everything else inherited as it is.
    pub fn plain(program: CString, argv: Vec<CString>) -> SpawnPlan {
        SpawnPlan {
            cwd: None,
            program,
            argv,
            stdin: FdPlan::Inherit,
            stdout: FdPlan::Inherit,
            extra: Vec::new(),
            lock: None,
            new_pid_namespace: false,
            builtin: None,
            env: None,
            privileges: None,
            cgroup: None,
        }
    }
}

/// ostler's built-in services, by name (the catch-all logger…): runs the one named, if any,
/// and returns its exit code. Handed down from the front door, which knows them all.
pub type Builtins = fn(&str) -> Option<u8>;

/// The identity (device, inode) of the running binary, to recognise a `run` that is ostler.
pub fn own_binary() -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    static SELF: std::sync::OnceLock<Option<(u64, u64)>> = std::sync::OnceLock::new();
    *SELF.get_or_init(|| std::fs::metadata("/proc/self/exe").ok().map(|m| (m.dev(), m.ino())))
}

/// The arrays execve takes, built before the clone so the child only reads them.
struct Arrays {
    argv: Vec<*const libc::c_char>,
    /// `None`: this process's environment as it is.
    envp: Option<Vec<*const libc::c_char>>,
    /// What `envp` points into when the service declared its environment.
    _declared: Option<Vec<CString>>,
}

impl Arrays {
    fn of(plan: &SpawnPlan) -> Arrays {
        let argv = plan.argv.iter().map(|a| a.as_ptr()).chain(std::iter::once(std::ptr::null())).collect();
        // Declared environment changes make a whole new array (with `env` in it); else `env`
        // alone is added to this process's.
        let declared = plan.privileges.as_ref().filter(|p| !p.env.is_empty()).map(|p| {
            let mut vars = p.environment();
            if let Some(extra) = &plan.env {
                let key = extra.to_bytes().split(|&b| b == b'=').next().unwrap_or_default().to_vec();
                vars.retain(|v| v.to_bytes().split(|&b| b == b'=').next() != Some(&key[..]));
                vars.push(extra.clone());
            }
            vars
        });
        let envp = match &declared {
            Some(vars) => Some(vars.iter().map(|v| v.as_ptr()).chain(std::iter::once(std::ptr::null())).collect()),
            None => plan.env.as_deref().map(environment_with),
        };
        Arrays { argv, envp, _declared: declared }
    }
}

/// Whether the plan needs a real fork: a built-in runs in the child instead of an exec, a busy
/// lock-fd is waited for in the child, a new PID namespace needs clone flags of its own.
fn needs_fork(plan: &SpawnPlan) -> bool {
    plan.builtin.is_some() || plan.lock.is_some() || plan.new_pid_namespace
}

/// Starts a program in its own session without waiting for its exec, where it can: returns
/// its pid. A failed exec is learnt when the child is reaped ([`exec_failure`]). Plans that
/// need a fork, and systems where the child cannot be left running in this memory, are
/// started by [`spawn`], which waits.
pub fn start(plan: SpawnPlan) -> Result<i32, Errno> {
    if needs_fork(&plan) {
        return spawn(&plan);
    }
    match launch::start(plan) {
        Ok(pid) => Ok(pid),
        Err(plan) => spawn(&plan),
    }
}

/// The errno a child started by [`start`] failed to exec with, once it has been reaped (its
/// exit status is then 127); `None` for any other child. Call for every reaped pid: it also
/// forgets the child.
pub fn exec_failure(pid: i32) -> Option<i32> {
    launch::ended(pid)
}

/// Forgets the children started by [`start`] that have exec'd; true if one is still on its
/// way to exec, when the caller should look again soon (a few milliseconds), so that a burst
/// of starts leaves no stacks behind.
pub fn tidy_starts() -> bool {
    launch::sweep();
    launch::in_flight()
}

/// Starts a program in its own session. Returns its pid once it has executed, or the errno
/// that made the exec (or the set-up before it) fail; a failed child is reaped here.
pub fn spawn(plan: &SpawnPlan) -> Result<i32, Errno> {
    let arrays = Arrays::of(plan);
    if !needs_fork(plan) {
        return spawn_in_this_memory(plan, &arrays);
    }
    let (report_read, report_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // SAFETY: the child runs only direct system calls (see child) before exec or _exit.
    match unsafe { clone::fork(plan) }? {
        nix::unistd::ForkResult::Child => {
            drop(report_read);
            // SAFETY: in the child after fork; exec never returns.
            unsafe { child::exec(plan, &arrays, Report::Pipe(report_write.as_raw_fd())) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(report_write);
            let mut errno = [0u8; 4];
            let got = loop {
                match nix::unistd::read(&report_read, &mut errno) {
                    Err(Errno::EINTR) => continue,
                    other => break other,
                }
            };
            match got {
                Ok(4) => {
                    let _ = waitpid(child, None);
                    Err(Errno::from_raw(i32::from_ne_bytes(errno)))
                }
                _ => Ok(child.as_raw()),
            }
        }
    }
}

/// What a child waited for reads: the plan, its arrays, where to write its errno.
struct Borrowed<'a> {
    plan: &'a SpawnPlan,
    arrays: &'a Arrays,
    failed: *mut i32,
}

/// The child's side of [`spawn_in_this_memory`].
extern "C" fn borrowed_entry(arg: *mut libc::c_void) -> ! {
    // SAFETY: arg is the Borrowed on the suspended parent's frame.
    unsafe {
        let borrowed = &*arg.cast::<Borrowed>();
        child::exec(borrowed.plan, borrowed.arrays, Report::Shared(borrowed.failed))
    }
}

/// Starts the child in this process's memory and waits for its exec (CLONE_VFORK). The child
/// reports a failure by writing its errno into this process's memory.
fn spawn_in_this_memory(plan: &SpawnPlan, arrays: &Arrays) -> Result<i32, Errno> {
    let mut failed: i32 = 0;
    let mut stack = stack::take()?;
    let mut borrowed = Borrowed { plan, arrays, failed: &mut failed };
    let arg: *mut libc::c_void = (&mut borrowed as *mut Borrowed).cast();
    // SAFETY: this process is suspended until the child has exec'd or exited; the child
    // writes only `failed` and its own stack.
    let pid = unsafe {
        match clone::in_this_memory(plan, &mut stack, clone::Borrow::Wait, borrowed_entry, arg) {
            Err(Errno::ENOSYS) => clone::in_this_memory_by_clone(&mut stack, borrowed_entry, arg),
            other => other,
        }
    };
    stack::give(stack);
    let pid = pid?;
    // SAFETY: the child has exec'd or exited: nobody else writes `failed` any more.
    match unsafe { std::ptr::read_volatile(&failed) } {
        0 => Ok(pid.as_raw()),
        errno => {
            let _ = waitpid(pid, None);
            Err(Errno::from_raw(errno))
        }
    }
}

/// This process's environment with `extra` (`KEY=VALUE`) in place of any `KEY=`, as the
/// null-terminated array execve takes; built before the fork, so the child only reads it.
fn environment_with(extra: &std::ffi::CStr) -> Vec<*const libc::c_char> {
    extern "C" {
        static environ: *const *const libc::c_char;
    }
    let bytes = extra.to_bytes();
    let key = &bytes[..bytes.iter().position(|&b| b == b'=').map_or(bytes.len(), |at| at + 1)];
    let mut envp = Vec::new();
    // SAFETY: libc's environ is a null-terminated array of C strings; this process is single
    // threaded and nothing changes its environment while the array is in use.
    unsafe {
        let mut at = environ;
        while !at.is_null() && !(*at).is_null() {
            if !std::ffi::CStr::from_ptr(*at).to_bytes().starts_with(key) {
                envp.push(*at);
            }
            at = at.add(1);
        }
    }
    envp.extend([extra.as_ptr(), std::ptr::null()]);
    envp
}

/// The signals this process found ignored when it started (bit N: signal N), which its
/// children get back at their default.
pub(super) static IGNORED_AT_START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// Notes which signals were ignored when this process started; call before ignoring any.
pub fn note_ignored_signals() {
    IGNORED_AT_START.get_or_init(|| {
        let mut mask = 0u64;
        for signal in 1..64 {
            // SAFETY: a query only (no new action); a zeroed sigaction is valid to fill.
            let ignored = unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                libc::sigaction(signal, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
            };
            if ignored {
                mask |= 1 << signal;
            }
        }
        mask
    });
}

/// The open-files limit this process started with, which its children get back.
pub(super) static INHERITED_FD_LIMIT: std::sync::OnceLock<(u64, u64)> = std::sync::OnceLock::new();

/// Raises the limit of open files: an in-process scanner holds two fds per service (its
/// `supervise/lock` and its `control` FIFO), so the usual 1024 would stop near 500 services.
/// Root raises the hard limit too, up to the kernel's `fs.nr_open`; others go to their hard
/// limit. Programs we spawn get the original limits back (see [`spawn`]), since some daemons
/// close every fd up to the limit and would crawl with a million.
pub fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    note_ignored_signals();
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else { return };
    let _ = INHERITED_FD_LIMIT.set((soft, hard));
    let ceiling = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok())
        .unwrap_or(hard)
        .min(1 << 20);
    if ceiling > hard && setrlimit(Resource::RLIMIT_NOFILE, ceiling, ceiling).is_ok() {
        return;
    }
    if soft < hard {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}
