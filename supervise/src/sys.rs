//! The only place that calls the system for processes and signals: spawning a program the way
//! a supervisor must (own session, chosen fds, clean signal state, an added variable), reaping,
//! signalling, the signalfd the event loops read, and the `notify-socket` datagram socket.
//! Everything here is a thin wrapper with typed arguments.

use nix::errno::Errno;
use nix::sys::signal::{kill, killpg, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// The poll timeout that wakes at `deadline` (never before it: rounded up to the next
/// millisecond, so a loop does not spin just short of it); `None` waits forever.
pub fn poll_timeout(deadline: Option<std::time::Instant>) -> nix::poll::PollTimeout {
    use nix::poll::PollTimeout;
    let Some(deadline) = deadline else { return PollTimeout::NONE };
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    let millis = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
    PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX)
}

/// Signals every loop blocks and reads from a signalfd.
pub fn handled_signals() -> SigSet {
    let mut set = SigSet::empty();
    for signal in [
        Signal::SIGCHLD,
        Signal::SIGALRM,
        Signal::SIGABRT,
        Signal::SIGHUP,
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGPWR,
        Signal::SIGWINCH,
    ] {
        set.add(signal);
    }
    set
}

/// Blocks the handled signals and returns a non-blocking signalfd for them. SIGPIPE is ignored
/// (a dead reader must never kill a supervisor); children get it back by [`spawn`].
pub fn signal_fd() -> nix::Result<SignalFd> {
    let set = handled_signals();
    set.thread_block()?;
    // SAFETY: SIG_IGN is a valid disposition and installs no handler code.
    unsafe { nix::sys::signal::signal(Signal::SIGPIPE, nix::sys::signal::SigHandler::SigIgn) }?;
    SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
}

/// One reaped child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reaped {
    /// Its pid.
    pub pid: i32,
    /// Its raw wait status, as s6 stores it.
    pub wstat: u16,
}

/// Reaps one dead child without waiting; `None` when there is none (or no child at all).
pub fn reap_one() -> Option<Reaped> {
    loop {
        match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => {
                return Some(Reaped { pid: pid.as_raw(), wstat: ((code & 0xff) as u16) << 8 })
            }
            Ok(WaitStatus::Signaled(pid, signal, core)) => {
                let wstat = (signal as u16 & 0x7f) | if core { 0x80 } else { 0 };
                return Some(Reaped { pid: pid.as_raw(), wstat });
            }
            Ok(WaitStatus::StillAlive) => return None,
            Ok(_) => continue,
            Err(Errno::EINTR) => continue,
            Err(_) => return None,
        }
    }
}

/// Sends a signal to a process or, with `group`, to its process group. A process that is
/// already gone is not an error.
pub fn signal(pid: i32, signal: Signal, group: bool) -> nix::Result<()> {
    if pid <= 0 {
        return Ok(());
    }
    let result = if group { killpg(Pid::from_raw(pid), signal) } else { kill(Pid::from_raw(pid), signal) };
    match result {
        Err(Errno::ESRCH) => Ok(()),
        other => other,
    }
}

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

/// A control group for a child: clone3(CLONE_INTO_CGROUP) puts it there as it is born, for
/// nothing; where the kernel cannot (before 5.7, or a full `pids.max`), the child writes `0`
/// to `cgroup.procs` — a migration, which costs a whole RCU grace period (7–13 ms measured)
/// when the kernel's threadgroup lock has gone back to its fast mode, as it has between two
/// isolated restarts.
#[derive(Debug)]
pub struct CgroupPlan {
    /// The group's directory, open (O_RDONLY | O_DIRECTORY).
    pub dir: RawFd,
    /// Set while the child is being born in the group: it then writes nothing.
    born_in: std::cell::Cell<bool>,
}

impl CgroupPlan {
    /// The group whose directory is open on `dir`.
    pub fn new(dir: RawFd) -> CgroupPlan {
        CgroupPlan { dir, born_in: std::cell::Cell::new(false) }
    }
}

/// Whether clone3 can place a child in a group (cleared at the first ENOSYS or EINVAL: a
/// kernel before 5.7).
static CLONE_INTO_CGROUP_WORKS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// clone3's `CLONE_INTO_CGROUP` flag (Linux 5.7).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// clone3's arguments, as far as `cgroup` (CLONE_ARGS_SIZE_VER2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

impl CloneArgs {
    fn into_group(flags: u64, group: &CgroupPlan) -> CloneArgs {
        CloneArgs {
            flags: flags | CLONE_INTO_CGROUP,
            exit_signal: libc::SIGCHLD as u64,
            cgroup: group.dir as u64,
            ..CloneArgs::default()
        }
    }
}

/// Notes a failed clone3 into a group: the child will join by writing instead, and a kernel
/// that does not know the call or the flag is not asked again.
fn clone3_failed(group: &CgroupPlan, errno: Errno) {
    group.born_in.set(false);
    if matches!(errno, Errno::ENOSYS | Errno::EINVAL | Errno::E2BIG) {
        CLONE_INTO_CGROUP_WORKS.store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The group a child may be born in: there is one, it is not a built-in, and clone3 works.
fn clone3_group(plan: &SpawnPlan) -> Option<&CgroupPlan> {
    let group = plan.cgroup.as_ref().filter(|_| plan.builtin.is_none())?;
    CLONE_INTO_CGROUP_WORKS.load(std::sync::atomic::Ordering::Relaxed).then_some(group)
}

/// clone3 with CLONE_VM | CLONE_VFORK into a group, the child running `entry(arg)` on
/// `stack`: what nix's clone does with clone(2), in assembly since the child must not return
/// into a function whose frame is on the parent's stack.
///
/// # Safety
/// As clone(CLONE_VM | CLONE_VFORK): `entry` must never return and may only make raw system
/// calls; `arg` must stay valid until the child has exec'd or exited (this call waits for it).
#[cfg(target_arch = "x86_64")]
unsafe fn clone3_vm_into_group(
    group: &CgroupPlan,
    stack: &mut [u8],
    entry: extern "C" fn(*mut libc::c_void) -> !,
    arg: *mut libc::c_void,
) -> Result<Pid, Errno> {
    let mut args = CloneArgs::into_group((libc::CLONE_VM | libc::CLONE_VFORK) as u64, group);
    args.stack = stack.as_mut_ptr() as u64;
    args.stack_size = stack.len() as u64;
    let ret: isize;
    // The child starts after `syscall` on the new stack (16-byte aligned: the top of a
    // mapping), with the parent's registers: r12 and r13 carry arg and entry to it.
    core::arch::asm!(
        "syscall",
        "test rax, rax",
        "jnz 2f",
        "mov rdi, r12",
        "call r13",
        "ud2",
        "2:",
        inlateout("rax") libc::SYS_clone3 as isize => ret,
        in("rdi") &args as *const CloneArgs,
        in("rsi") std::mem::size_of::<CloneArgs>(),
        in("r12") arg,
        in("r13") entry as usize,
        lateout("rcx") _,
        lateout("r11") _,
        options(nostack),
    );
    if ret < 0 {
        return Err(Errno::from_raw(-ret as i32));
    }
    Ok(Pid::from_raw(ret as i32))
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn clone3_vm_into_group(
    _: &CgroupPlan,
    _: &mut [u8],
    _: extern "C" fn(*mut libc::c_void) -> !,
    _: *mut libc::c_void,
) -> Result<Pid, Errno> {
    Err(Errno::ENOSYS)
}

/// Whether this kernel kills a child born in a group (CLONE_INTO_CGROUP) once `cgroup.kill`
/// has been written there, as 6.18 does (the group's kill count is compared with the
/// parent's group's): a child is born in `dir` and must exit 0. `None` when clone3 cannot
/// place it at all.
pub fn born_killed_after_cgroup_kill(dir: RawFd) -> Option<bool> {
    let group = CgroupPlan::new(dir);
    let args = CloneArgs::into_group(0, &group);
    // SAFETY: a fork-like clone3; the child only calls _exit.
    let pid = unsafe { libc::syscall(libc::SYS_clone3, &args as *const CloneArgs, std::mem::size_of::<CloneArgs>()) };
    match pid {
        -1 => None,
        // SAFETY: in the child: _exit is async-signal-safe.
        0 => unsafe { libc::_exit(0) },
        pid => match waitpid(Pid::from_raw(pid as i32), None) {
            Ok(WaitStatus::Signaled(_, Signal::SIGKILL, _)) => Some(true),
            Ok(_) => Some(false),
            Err(_) => None,
        },
    }
}

/// The child's side of [`clone3_vm_into_group`]: `arg` is the spawn's closure.
extern "C" fn clone3_entry(arg: *mut libc::c_void) -> ! {
    // SAFETY: arg is the `&mut dyn FnMut` spawn_borrowing_memory passed, alive while the
    // parent waits for the child to exec or exit.
    let child = unsafe { &mut *arg.cast::<&mut dyn FnMut() -> isize>() };
    let code = child();
    // SAFETY: _exit is async-signal-safe (child_exec never returns: not reached).
    unsafe { libc::_exit(code as i32) }
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

/// Starts a program in its own session. Returns its pid once it has executed, or the errno
/// that made the exec (or the set-up before it) fail; a failed child is reaped here.
pub fn spawn(plan: &SpawnPlan) -> Result<i32, Errno> {
    let mut argv_ptrs: Vec<*const libc::c_char> = plan.argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    // Declared environment changes make a whole new array (with `env` in it); else `env`
    // alone is added to this process's.
    let declared_env = plan.privileges.as_ref().filter(|p| !p.env.is_empty()).map(|p| {
        let mut vars = p.environment();
        if let Some(extra) = &plan.env {
            let key = extra.to_bytes().split(|&b| b == b'=').next().unwrap_or_default().to_vec();
            vars.retain(|v| v.to_bytes().split(|&b| b == b'=').next() != Some(&key[..]));
            vars.push(extra.clone());
        }
        vars
    });
    let envp = match &declared_env {
        Some(vars) => Some(vars.iter().map(|v| v.as_ptr()).chain(std::iter::once(std::ptr::null())).collect()),
        None => plan.env.as_deref().map(environment_with),
    };
    let envp = envp.as_deref();
    // A built-in runs in the child instead of an exec, a busy lock-fd is waited for in the
    // child, a new PID namespace needs clone flags of its own: those need a real fork. Every
    // other start borrows this process's memory until the exec.
    if plan.builtin.is_none() && plan.lock.is_none() && !plan.new_pid_namespace {
        return spawn_borrowing_memory(plan, &argv_ptrs, envp);
    }
    let (report_read, report_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // SAFETY: the child runs only async-signal-safe calls (see child_exec) before exec or _exit.
    let forked =
        unsafe { fork_into_group(plan).map_or_else(|| fork_maybe_in_new_pid_namespace(plan.new_pid_namespace), Ok) };
    match forked? {
        nix::unistd::ForkResult::Child => {
            drop(report_read);
            // SAFETY: in the child after fork; child_exec never returns.
            unsafe { child_exec(plan, &argv_ptrs, envp, Report::Pipe(report_write.as_raw_fd())) }
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

/// The stack of a child that borrows the spawner's memory: deep enough for child_exec and
/// musl's execve, with room to spare.
const CHILD_STACK_SIZE: usize = 64 * 1024;

thread_local! {
    /// Mapped at the first start and reused by every one after: its pages are touched only as
    /// deep as a child goes (a heap buffer would be zeroed, page by page, when allocated).
    static CHILD_STACK: std::cell::RefCell<Option<&'static mut [u8]>> = const { std::cell::RefCell::new(None) };
}

fn map_child_stack() -> Result<&'static mut [u8], Errno> {
    use nix::sys::mman::{mmap_anonymous, MapFlags, ProtFlags};
    let len = const { std::num::NonZeroUsize::new(CHILD_STACK_SIZE).unwrap() };
    // SAFETY: a fresh private anonymous mapping, never unmapped: nothing else refers to it,
    // and its pages read as zeroes, so the slice is initialised.
    unsafe {
        let at = mmap_anonymous(
            None,
            len,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_PRIVATE | MapFlags::MAP_STACK,
        )?;
        Ok(std::slice::from_raw_parts_mut(at.as_ptr().cast::<u8>(), CHILD_STACK_SIZE))
    }
}

/// clone(2) with CLONE_VM | CLONE_VFORK, as posix_spawn does: the child runs in this
/// process's memory, on a stack of its own, and this process resumes only once the child has
/// exec'd or exited. Nothing is copied — no page tables, no copy-on-write faults in the
/// parent afterwards, nothing for the exec to tear down — which makes a start of a service
/// several times cheaper than a fork of a long-lived supervisor (most under emulation). The
/// child reports a failure by writing its errno into this process's memory.
fn spawn_borrowing_memory(
    plan: &SpawnPlan,
    argv: &[*const libc::c_char],
    envp: Option<&[*const libc::c_char]>,
) -> Result<i32, Errno> {
    use nix::sched::CloneFlags;
    let mut failed: i32 = 0;
    let failed_at: *mut i32 = &mut failed;
    let pid = CHILD_STACK.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.is_none() {
            *slot = Some(map_child_stack()?);
        }
        let Some(stack) = slot.as_deref_mut() else { return Err(Errno::ENOMEM) };
        let mut child = Box::new(|| -> isize {
            // SAFETY: in the child of clone(CLONE_VM | CLONE_VFORK); the parent is suspended
            // until child_exec execs or _exits, and child_exec only makes raw system calls.
            unsafe { child_exec(plan, argv, envp, Report::Shared(failed_at)) }
        });
        if let Some(group) = clone3_group(plan) {
            group.born_in.set(true);
            let mut entry: &mut dyn FnMut() -> isize = &mut *child;
            let arg = (&mut entry as *mut &mut dyn FnMut() -> isize).cast();
            // SAFETY: as for clone below; `entry` lives on this frame until the child is gone.
            match unsafe { clone3_vm_into_group(group, stack, clone3_entry, arg) } {
                Ok(pid) => return Ok(pid),
                Err(errno) => clone3_failed(group, errno),
            }
        }
        // SAFETY: the child touches nothing the suspended parent could be using: it writes
        // only `failed` and its own stack, and allocates nothing.
        unsafe { nix::sched::clone(child, stack, CloneFlags::CLONE_VM | CloneFlags::CLONE_VFORK, Some(libc::SIGCHLD)) }
    })?;
    // SAFETY: the child has exec'd or exited: nobody else writes `failed` any more.
    match unsafe { std::ptr::read_volatile(failed_at) } {
        0 => Ok(pid.as_raw()),
        errno => {
            let _ = waitpid(pid, None);
            Err(Errno::from_raw(errno))
        }
    }
}

/// How a child tells its spawner why it could not exec.
#[derive(Clone, Copy)]
enum Report {
    /// A forked child: its errno down a close-on-exec pipe (EOF means "started").
    Pipe(RawFd),
    /// A child borrowing the spawner's memory: its errno written there.
    Shared(*mut i32),
}

/// fork(2), or, for `flag-newpidns`, clone(2) with CLONE_NEWPID and no new stack — which
/// behaves as fork, the child being PID 1 of a new PID namespace.
///
/// # Safety
/// As fork: the child may only call async-signal-safe functions.
unsafe fn fork_maybe_in_new_pid_namespace(new_pid_namespace: bool) -> Result<nix::unistd::ForkResult, Errno> {
    if !new_pid_namespace {
        return nix::unistd::fork();
    }
    let flags = (libc::CLONE_NEWPID | libc::SIGCHLD) as libc::c_ulong;
    match libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) {
        -1 => Err(Errno::last()),
        0 => Ok(nix::unistd::ForkResult::Child),
        pid => Ok(nix::unistd::ForkResult::Parent { child: Pid::from_raw(pid as i32) }),
    }
}

/// clone3 into the plan's group, without a new stack: a fork whose child is born in the
/// group (and, with `flag-newpidns`, PID 1 of a new PID namespace). `None` when there is no
/// group to be born in, or clone3 refused it: fork then, the child joins by writing.
///
/// # Safety
/// As fork: the child may only call async-signal-safe functions. Not for a built-in (which
/// runs ostler's code in the child: a raw clone leaves libc's idea of the thread id stale).
unsafe fn fork_into_group(plan: &SpawnPlan) -> Option<nix::unistd::ForkResult> {
    let group = clone3_group(plan)?;
    let flags = if plan.new_pid_namespace { libc::CLONE_NEWPID as u64 } else { 0 };
    let args = CloneArgs::into_group(flags, group);
    group.born_in.set(true);
    match libc::syscall(libc::SYS_clone3, &args as *const CloneArgs, std::mem::size_of::<CloneArgs>()) {
        -1 => {
            clone3_failed(group, Errno::last());
            None
        }
        0 => Some(nix::unistd::ForkResult::Child),
        pid => Some(nix::unistd::ForkResult::Parent { child: Pid::from_raw(pid as i32) }),
    }
}

/// The child half of [`spawn`]: set up, then exec; on failure report errno and `_exit(127)`.
///
/// # Safety
/// Must be called only in a freshly forked child, or in a child of clone(CLONE_VM |
/// CLONE_VFORK) with `Report::Shared`. It uses raw libc calls because they are
/// async-signal-safe and allocate nothing.
unsafe fn child_exec(
    plan: &SpawnPlan,
    argv: &[*const libc::c_char],
    envp: Option<&[*const libc::c_char]>,
    report: Report,
) -> ! {
    let fail = |report: Report| -> ! {
        let errno = *libc::__errno_location();
        match report {
            Report::Pipe(fd) => {
                let bytes = errno.to_ne_bytes();
                libc::write(fd, bytes.as_ptr().cast(), 4);
            }
            Report::Shared(at) => std::ptr::write_volatile(at, errno.max(1)),
        }
        libc::_exit(127)
    };
    libc::setsid();
    // Give the program a clean signal state: nothing blocked, nothing ignored that we ignore.
    let mut empty: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut empty);
    libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    // And what this process inherited ignored (a scanner started under nohup ignores SIGHUP):
    // a shell cannot even trap a signal ignored when it starts, so a `down-signal` of HUP
    // would never reach the service.
    let ignored = IGNORED_AT_START.get().copied().unwrap_or(0);
    for signal in 1..64 {
        if ignored & (1u64 << signal) != 0 {
            libc::signal(signal, libc::SIG_DFL);
        }
    }
    // Into the service's control group, before the exec and before run can fork: one
    // write(2). A failure leaves run outside the group rather than not running it.
    if let Some(group) = plan.cgroup.as_ref().filter(|g| !g.born_in.get() && plan.builtin.is_none()) {
        let procs = libc::openat(group.dir, c"cgroup.procs".as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if procs >= 0 {
            libc::write(procs, b"0".as_ptr().cast(), 1);
            libc::close(procs);
        }
    }
    if let Some(cwd) = &plan.cwd {
        if libc::chdir(cwd.as_ptr()) != 0 {
            fail(report);
        }
    }
    // First move every source fd above every target, so that placing one never clobbers
    // another's source.
    let above = plan.extra.iter().map(|&(_, target)| target).max().unwrap_or(1).max(1) + 1;
    let mut moved: [(RawFd, RawFd); 8] = [(-1, -1); 8];
    let mut count = 0;
    for (source, target) in [(plan.stdin, 0), (plan.stdout, 1)]
        .into_iter()
        .filter_map(|(p, t)| if let FdPlan::From(s) = p { Some((s, t)) } else { None })
        .chain(plan.extra.iter().copied())
    {
        if count == moved.len() {
            break;
        }
        let high = libc::fcntl(source, libc::F_DUPFD_CLOEXEC, above);
        if high < 0 {
            fail(report);
        }
        moved[count] = (high, target);
        count += 1;
    }
    for &(high, target) in &moved[..count] {
        if libc::dup2(high, target) < 0 {
            fail(report);
        }
    }
    if let Some((path, target)) = &plan.lock {
        // Place the fd first, then lock: closing any fd of a file drops the process's fcntl
        // locks on it, so the lock must be taken on the final fd.
        let mut fd = libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CREAT, 0o644);
        if fd < 0 {
            fail(report);
        }
        if fd != *target {
            if libc::dup2(fd, *target) < 0 {
                fail(report);
            }
            libc::close(fd);
            fd = *target;
        }
        let mut lock: libc::flock = std::mem::zeroed();
        lock.l_type = libc::F_WRLCK as libc::c_short;
        lock.l_whence = libc::SEEK_SET as libc::c_short;
        if libc::fcntl(fd, libc::F_SETLK, &lock) < 0 {
            // Another copy of the service still holds it: wait for it here, in the child, but
            // release the spawner first (closing the report pipe reads as "started"), so a
            // scanner never blocks on one service's lock. (Only forked children get here:
            // spawn never lends its memory to a plan with a lock.)
            if let Report::Pipe(fd) = report {
                libc::close(fd);
            }
            while libc::fcntl(fd, libc::F_SETLKW, &lock) < 0 {
                if *libc::__errno_location() != libc::EINTR {
                    libc::_exit(111);
                }
            }
        }
    }
    if let Some(&(soft, hard)) = INHERITED_FD_LIMIT.get() {
        let limit = libc::rlimit { rlim_cur: soft as libc::rlim_t, rlim_max: hard as libc::rlim_t };
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
    // Last before the exec (or a built-in): the limits, ids and capabilities the service
    // declared; the working directory after the ids change, as the user.
    if let Some(privileges) = &plan.privileges {
        if let Err(errno) = privileges.apply() {
            *libc::__errno_location() = errno;
            fail(report);
        }
        if let Some(cwd) = &privileges.cwd {
            if libc::chdir(cwd.as_ptr()) != 0 {
                fail(report);
            }
        }
    }
    if let Some((builtins, name)) = &plan.builtin {
        // No exec will close the spawner's fds: close every one above 2 but those placed for
        // the service (exec would have closed them, all being close-on-exec).
        let mut keep: [RawFd; 3] = [-1; 3];
        for (slot, target) in
            keep.iter_mut().zip(plan.extra.iter().map(|&(_, t)| t).chain(plan.lock.iter().map(|(_, t)| *t)))
        {
            *slot = target;
        }
        keep.sort_unstable();
        let mut from: RawFd = 3;
        for &fd in keep.iter().filter(|&&fd| fd >= 3) {
            if fd > from {
                libc::syscall(libc::SYS_close_range, from as libc::c_uint, (fd - 1) as libc::c_uint, 0 as libc::c_uint);
            }
            from = fd + 1;
        }
        libc::syscall(libc::SYS_close_range, from as libc::c_uint, libc::c_uint::MAX, 0 as libc::c_uint);
        // The report pipe is closed with the rest: the spawner reads "started".
        if let Some(code) = builtins(name) {
            libc::_exit(i32::from(code));
        }
    }
    match envp {
        Some(envp) => libc::execve(plan.program.as_ptr(), argv.as_ptr(), envp.as_ptr()),
        None => libc::execv(plan.program.as_ptr(), argv.as_ptr()),
    };
    fail(report)
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

/// A unix datagram socket bound at `path` (non-blocking, close-on-exec), which hears the
/// sender's credentials with each datagram (SO_PASSCRED), for `notify-socket`.
///
/// Raw libc, as [`receive_datagram`]: rustix's socket calls (its `net` feature) cost 0.9 KB
/// more of the static binary here, measured, and nix's need a feature that adds a crate.
pub fn bind_datagram_socket(path: &std::path::Path) -> std::io::Result<OwnedFd> {
    use std::os::fd::FromRawFd;
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: a zeroed sockaddr_un is valid; the path is copied within sun_path with room for
    // its final NUL; the fd is new and ours.
    unsafe {
        let mut address: libc::sockaddr_un = std::mem::zeroed();
        if bytes.len() >= address.sun_path.len() {
            return Err(std::io::ErrorKind::InvalidInput.into());
        }
        address.sun_family = libc::AF_UNIX as _;
        for (to, from) in address.sun_path.iter_mut().zip(bytes) {
            *to = *from as _;
        }
        let raw = libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, 0);
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let fd = OwnedFd::from_raw_fd(raw);
        let on: libc::c_int = 1;
        let size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        if libc::setsockopt(raw, libc::SOL_SOCKET, libc::SO_PASSCRED, (&on as *const libc::c_int).cast(), size) < 0
            || libc::bind(raw, (&address as *const libc::sockaddr_un).cast(), std::mem::size_of_val(&address) as _) < 0
        {
            return Err(std::io::Error::last_os_error());
        }
        Ok(fd)
    }
}

/// One datagram read without waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// Its length; more than the buffer when it was cut.
    pub len: usize,
    /// The sender's pid, as the kernel tells it (SCM_CREDENTIALS).
    pub pid: Option<i32>,
}

/// Reads one datagram into `buf`; `Err(WouldBlock)` when there is none.
///
/// Raw recvmsg(2) from libc: rustix's ancillary-data reader does the same for about 1.5 KB
/// more of the static binary (measured).
pub fn receive_datagram(fd: std::os::fd::BorrowedFd<'_>, buf: &mut [u8]) -> std::io::Result<Datagram> {
    // Room for the credentials only: fds a sender passes along (systemd's FDSTORE) do not
    // fit, and the kernel closes them instead of giving them to us.
    #[repr(C)]
    struct Control {
        header: libc::cmsghdr,
        credentials: libc::ucred,
    }
    // SAFETY: zeroed msghdr and Control are valid (null pointers, zero lengths, then filled);
    // recvmsg writes at most iov_len bytes into `buf` and msg_controllen into `control`, both
    // alive for the call; the control message is read only when the kernel says it is there.
    unsafe {
        let mut control: Control = std::mem::zeroed();
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        let mut message: libc::msghdr = std::mem::zeroed();
        message.msg_iov = &mut iov;
        message.msg_iovlen = 1;
        message.msg_control = (&mut control as *mut Control).cast();
        message.msg_controllen = std::mem::size_of::<Control>() as _;
        let flags = libc::MSG_DONTWAIT | libc::MSG_TRUNC | libc::MSG_CMSG_CLOEXEC;
        let len = libc::recvmsg(fd.as_raw_fd(), &mut message, flags);
        if len < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let full = libc::CMSG_LEN(std::mem::size_of::<libc::ucred>() as u32) as usize;
        let has_credentials = message.msg_controllen as usize >= full
            && control.header.cmsg_level == libc::SOL_SOCKET
            && control.header.cmsg_type == libc::SCM_CREDENTIALS;
        Ok(Datagram { len: len as usize, pid: has_credentials.then_some(control.credentials.pid) })
    }
}

/// Opens a FIFO for reading without blocking and without ever seeing EOF: on Linux an
/// O_RDWR open of a FIFO succeeds at once and is its own writer.
pub fn open_fifo_rdwr(path: &std::path::Path) -> nix::Result<OwnedFd> {
    use rustix::fs::{open, Mode, OFlags};
    open(path, OFlags::RDWR | OFlags::NONBLOCK | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| Errno::from_raw(e.raw_os_error()))
}

/// Makes this process the reaper of its descendants' orphans, so that a scanner that is not
/// PID 1 (in a container, under a test) still collects every zombie its services leave.
pub fn become_subreaper() {
    if nix::unistd::getpid().as_raw() != 1 {
        let _ = nix::sys::prctl::set_child_subreaper(true);
    }
}

/// The signals this process found ignored when it started (bit N: signal N), which its
/// children get back at their default.
static IGNORED_AT_START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

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
static INHERITED_FD_LIMIT: std::sync::OnceLock<(u64, u64)> = std::sync::OnceLock::new();

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
