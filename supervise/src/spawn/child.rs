//! The child half of a spawn: set up, then exec. It runs between clone and exec, in a forked
//! copy of the spawner or in the spawner's own memory, so it makes only direct system calls
//! ([`crate::raw`]): no allocation, no lock, no `errno`.

use super::{Arrays, FdPlan, SpawnPlan, IGNORED_AT_START, INHERITED_FD_LIMIT};
use crate::raw::call;
use std::os::fd::RawFd;

/// How a child tells its spawner why it could not exec.
#[derive(Clone, Copy)]
pub(super) enum Report {
    /// A forked child: its errno down a close-on-exec pipe (EOF means "started").
    Pipe(RawFd),
    /// A child in the spawner's memory: its errno written there.
    Shared(*mut i32),
}

impl Report {
    /// Tells the spawner the start failed with `errno`, and exits 127.
    ///
    /// # Safety
    /// In the child: the pipe is ours, or the shared word is alive until we exit.
    unsafe fn fail(self, errno: i32) -> ! {
        let errno = errno.max(1);
        match self {
            Report::Pipe(fd) => {
                let bytes = errno.to_ne_bytes();
                let _ = call!(libc::SYS_write, fd, bytes.as_ptr(), 4);
            }
            Report::Shared(at) => std::ptr::write_volatile(at, errno),
        }
        exit(127)
    }
}

/// `_exit(2)`, directly.
fn exit(code: i32) -> ! {
    loop {
        // SAFETY: exit_group takes any code and does not return.
        let _ = unsafe { call!(libc::SYS_exit_group, code) };
    }
}

/// The kernel's `struct sigaction` on x86_64 and the generic layout: handler, flags,
/// restorer, an 8-byte mask.
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// Puts `signal` back at its default action.
///
/// # Safety
/// In the child.
unsafe fn default_action(signal: i32) {
    let action = KernelSigaction { handler: 0, flags: 0, restorer: 0, mask: 0 };
    let _ = call!(libc::SYS_rt_sigaction, signal, &action as *const KernelSigaction, 0usize, 8usize);
}

/// Set up, then exec; on failure report the errno and exit 127.
///
/// # Safety
/// Must be called only in a freshly forked child, or in a child of clone(CLONE_VM) whose
/// plan and arrays stay alive and unchanged until it has exec'd or exited.
pub(super) unsafe fn exec(plan: &SpawnPlan, arrays: &Arrays, report: Report) -> ! {
    if let Err(errno) = set_up(plan, report) {
        report.fail(errno)
    }
    extern "C" {
        static environ: *const *const libc::c_char;
    }
    let envp = arrays.envp.as_ref().map_or(environ, |envp| envp.as_ptr());
    let Err(errno) = call!(libc::SYS_execve, plan.program.as_ptr(), arrays.argv.as_ptr(), envp) else { exit(127) };
    report.fail(errno)
}

/// Everything before the exec (or a built-in, which runs here and exits).
///
/// # Safety
/// As [`exec`].
unsafe fn set_up(plan: &SpawnPlan, report: Report) -> Result<(), i32> {
    let _ = call!(libc::SYS_setsid);
    // Give the program a clean signal state: nothing blocked, nothing ignored that we ignore.
    let empty: u64 = 0;
    let _ = call!(libc::SYS_rt_sigprocmask, libc::SIG_SETMASK, &empty as *const u64, 0usize, 8usize);
    default_action(libc::SIGPIPE);
    // And what this process inherited ignored (a scanner started under nohup ignores SIGHUP):
    // a shell cannot even trap a signal ignored when it starts, so a `down-signal` of HUP
    // would never reach the service.
    let ignored = IGNORED_AT_START.get().copied().unwrap_or(0);
    for signal in 1..64 {
        if ignored & (1u64 << signal) != 0 {
            default_action(signal);
        }
    }
    // Into the service's control group, before the exec and before run can fork: one
    // write(2). A failure leaves run outside the group rather than not running it.
    if let Some(group) = plan.cgroup.as_ref().filter(|g| !g.born_in.get() && plan.builtin.is_none()) {
        let procs = libc::O_WRONLY | libc::O_CLOEXEC;
        if let Ok(fd) = call!(libc::SYS_openat, group.dir, c"cgroup.procs".as_ptr(), procs) {
            let _ = call!(libc::SYS_write, fd, b"0".as_ptr(), 1usize);
            let _ = call!(libc::SYS_close, fd);
        }
    }
    if let Some(cwd) = &plan.cwd {
        call!(libc::SYS_chdir, cwd.as_ptr())?;
    }
    place_fds(plan)?;
    if let Some((path, target)) = &plan.lock {
        take_lock(path, *target, report)?;
    }
    if let Some(&(soft, hard)) = INHERITED_FD_LIMIT.get() {
        let limit = libc::rlimit { rlim_cur: soft as libc::rlim_t, rlim_max: hard as libc::rlim_t };
        let _ = call!(libc::SYS_prlimit64, 0usize, libc::RLIMIT_NOFILE, &limit as *const libc::rlimit, 0usize);
    }
    // Last before the exec (or a built-in): the limits, ids and capabilities the service
    // declared; the working directory after the ids change, as the user.
    if let Some(privileges) = &plan.privileges {
        privileges.apply()?;
        if let Some(cwd) = &privileges.cwd {
            call!(libc::SYS_chdir, cwd.as_ptr())?;
        }
    }
    if let Some((builtins, name)) = &plan.builtin {
        close_all_but_placed(plan);
        // The report pipe is closed with the rest: the spawner reads "started".
        if let Some(code) = builtins(name) {
            exit(i32::from(code));
        }
    }
    Ok(())
}

/// Puts each planned fd on its target: first every source above every target, so that
/// placing one never clobbers another's source.
///
/// # Safety
/// As [`exec`].
unsafe fn place_fds(plan: &SpawnPlan) -> Result<(), i32> {
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
        let high = call!(libc::SYS_fcntl, source, libc::F_DUPFD_CLOEXEC, above)?;
        moved[count] = (high as RawFd, target);
        count += 1;
    }
    for &(high, target) in &moved[..count] {
        call!(libc::SYS_dup3, high, target, 0usize)?;
    }
    Ok(())
}

/// `lock-fd`: opens the lock file on `target` and takes its lock, waiting for it if another
/// copy of the service still holds it — after releasing the spawner.
///
/// # Safety
/// As [`exec`]; only forked children get here (a plan with a lock is never started in the
/// spawner's memory).
unsafe fn take_lock(path: &std::ffi::CStr, target: RawFd, report: Report) -> Result<(), i32> {
    // Place the fd first, then lock: closing any fd of a file drops the process's fcntl
    // locks on it, so the lock must be taken on the final fd.
    let fd = call!(libc::SYS_openat, libc::AT_FDCWD, path.as_ptr(), libc::O_RDWR | libc::O_CREAT, 0o644)? as RawFd;
    if fd != target {
        call!(libc::SYS_dup3, fd, target, 0usize)?;
        let _ = call!(libc::SYS_close, fd);
    }
    let mut lock: libc::flock = std::mem::zeroed();
    lock.l_type = libc::F_WRLCK as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    if call!(libc::SYS_fcntl, target, libc::F_SETLK, &lock as *const libc::flock).is_ok() {
        return Ok(());
    }
    // Held: wait for it here, in the child, but release the spawner first (closing the
    // report pipe reads as "started"), so a scanner never blocks on one service's lock.
    if let Report::Pipe(fd) = report {
        let _ = call!(libc::SYS_close, fd);
    }
    loop {
        match call!(libc::SYS_fcntl, target, libc::F_SETLKW, &lock as *const libc::flock) {
            Ok(_) => return Ok(()),
            Err(libc::EINTR) => continue,
            Err(_) => exit(111),
        }
    }
}

/// For a built-in, which no exec will strip of the spawner's fds: closes every fd above 2 but
/// those placed for the service (exec would have closed them, all being close-on-exec).
///
/// # Safety
/// In a forked child.
unsafe fn close_all_but_placed(plan: &SpawnPlan) {
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
            let _ = call!(libc::SYS_close_range, from, fd - 1, 0usize);
        }
        from = fd + 1;
    }
    let _ = call!(libc::SYS_close_range, from, libc::c_uint::MAX, 0usize);
}
