//! The ways a child is made: clone3 in this process's memory on a stack of its own (waited
//! for or not), into its control group as it is born; or a real fork where the child must run
//! ostler's own code or wait for a lock.

use super::stack::Stack;
use super::SpawnPlan;
use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::RawFd;

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
    pub(super) born_in: std::cell::Cell<bool>,
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
    fn new(flags: u64) -> CloneArgs {
        CloneArgs { flags, exit_signal: libc::SIGCHLD as u64, ..CloneArgs::default() }
    }

    fn into_group(flags: u64, group: &CgroupPlan) -> CloneArgs {
        CloneArgs { cgroup: group.dir as u64, ..CloneArgs::new(flags | CLONE_INTO_CGROUP) }
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

/// How a child in this process's memory is started.
pub(super) enum Borrow {
    /// This process waits until the child has exec'd or exited (CLONE_VFORK).
    Wait,
    /// It does not wait; the kernel zeroes this word when the child has exec'd or exited
    /// (CLONE_CHILD_CLEARTID), so its stack and plan may be reused or freed then.
    Detach(*mut u32),
}

/// clone3 with CLONE_VM, into the plan's group when it has one (else the child joins by
/// writing), the child running `entry(arg)` on `stack`. ENOSYS where clone3 cannot be used
/// this way (not x86_64; a kernel before 5.3).
///
/// # Safety
/// `entry` must never return and may only make direct system calls (crate::raw); `arg` and
/// what it points to must stay valid and unchanged until the child has exec'd or exited, and
/// so must `stack`.
pub(super) unsafe fn in_this_memory(
    plan: &SpawnPlan,
    stack: &mut Stack,
    borrow: Borrow,
    entry: extern "C" fn(*mut libc::c_void) -> !,
    arg: *mut libc::c_void,
) -> Result<Pid, Errno> {
    let mut flags = libc::CLONE_VM as u64;
    let mut child_tid = 0;
    match borrow {
        Borrow::Wait => flags |= libc::CLONE_VFORK as u64,
        Borrow::Detach(word) => {
            flags |= libc::CLONE_CHILD_CLEARTID as u64;
            child_tid = word as u64;
        }
    }
    let (top, size) = stack.region();
    let with = |args: CloneArgs| CloneArgs { child_tid, stack: top as u64, stack_size: size as u64, ..args };
    if let Some(group) = clone3_group(plan) {
        group.born_in.set(true);
        match clone3_on_stack(&with(CloneArgs::into_group(flags, group)), entry, arg) {
            Ok(pid) => return Ok(pid),
            Err(errno) => clone3_failed(group, errno),
        }
    }
    clone3_on_stack(&with(CloneArgs::new(flags)), entry, arg)
}

/// clone3 with a new stack, the child calling `entry(arg)`: in assembly, since the child must
/// not return into a function whose frame is on the parent's stack.
///
/// # Safety
/// As [`in_this_memory`].
#[cfg(target_arch = "x86_64")]
unsafe fn clone3_on_stack(
    args: &CloneArgs,
    entry: extern "C" fn(*mut libc::c_void) -> !,
    arg: *mut libc::c_void,
) -> Result<Pid, Errno> {
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
        in("rdi") args as *const CloneArgs,
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
unsafe fn clone3_on_stack(
    _: &CloneArgs,
    _: extern "C" fn(*mut libc::c_void) -> !,
    _: *mut libc::c_void,
) -> Result<Pid, Errno> {
    Err(Errno::ENOSYS)
}

/// clone(2) with CLONE_VM | CLONE_VFORK through nix, where clone3 cannot be used: the child
/// writes `cgroup.procs` to join its group.
///
/// # Safety
/// As [`in_this_memory`] with [`Borrow::Wait`].
pub(super) unsafe fn in_this_memory_by_clone(
    stack: &mut Stack,
    entry: extern "C" fn(*mut libc::c_void) -> !,
    arg: *mut libc::c_void,
) -> Result<Pid, Errno> {
    use nix::sched::CloneFlags;
    let arg = arg as usize;
    let child = Box::new(move || -> isize { entry(arg as *mut libc::c_void) });
    nix::sched::clone(child, stack.as_slice(), CloneFlags::CLONE_VM | CloneFlags::CLONE_VFORK, Some(libc::SIGCHLD))
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

/// A real fork (into the plan's group when clone3 can, and for `flag-newpidns` as PID 1 of a
/// new PID namespace).
///
/// # Safety
/// As fork: the child may only call async-signal-safe functions.
pub(super) unsafe fn fork(plan: &SpawnPlan) -> Result<nix::unistd::ForkResult, Errno> {
    fork_into_group(plan).map_or_else(|| fork_maybe_in_new_pid_namespace(plan.new_pid_namespace), Ok)
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
