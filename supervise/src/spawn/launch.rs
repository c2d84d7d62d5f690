//! Children started without waiting for their exec: each runs in this process's memory, on a
//! stack of its own, reading the plan kept here, while the spawner goes on with the next
//! service. The kernel zeroes a word of the record once the child has exec'd or exited
//! (CLONE_CHILD_CLEARTID); only then is the record dropped and the stack reused. A child that
//! cannot exec writes its errno into the record and exits 127: the spawner learns it when it
//! reaps the child ([`ended`]), as s6-supervise learns it from its child's exit.

use super::child::{self, Report};
use super::clone::{self, Borrow};
use super::stack::{self, Stack};
use super::{Arrays, SpawnPlan};
use std::cell::RefCell;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

/// A child on its way to exec, and everything it reads.
struct Launch {
    plan: SpawnPlan,
    arrays: Arrays,
    stack: Stack,
    /// Non-zero while the child runs in this process's memory.
    present: AtomicU32,
    /// The errno of a failed start, written by the child before it exits; 0 if none.
    failed: AtomicI32,
    pid: i32,
}

thread_local! {
    /// Records stay here from the start until the child has exec'd (then [`sweep`] drops
    /// them) or, when it failed, until it is reaped ([`ended`]).
    // Boxed: the child holds the record's address, which must not move when the list grows.
    #[allow(clippy::vec_box)]
    static LAUNCHES: RefCell<Vec<Box<Launch>>> = const { RefCell::new(Vec::new()) };
}

/// Failed starts kept for their reaping at most: a child reaped by someone else (a
/// `waitpid` of its own pid elsewhere) would otherwise keep its record forever.
const FAILED_KEPT: usize = 64;

/// Starts the plan without waiting for the exec. Gives the plan back when this way is not
/// available here (not x86_64, a kernel before 5.3), for the caller to start it another way.
pub(super) fn start(plan: SpawnPlan) -> Result<i32, Box<SpawnPlan>> {
    sweep();
    let Ok(stack) = stack::take() else { return Err(Box::new(plan)) };
    let arrays = Arrays::of(&plan);
    let mut launch =
        Box::new(Launch { plan, arrays, stack, present: AtomicU32::new(1), failed: AtomicI32::new(0), pid: 0 });
    let arg: *mut Launch = &mut *launch;
    // SAFETY: the child reads the record through `arg` and runs on its stack; the record is
    // boxed (it never moves) and kept, unchanged, until `present` is zero.
    let started = unsafe {
        let present = Borrow::Detach((*arg).present.as_ptr());
        clone::in_this_memory(&(*arg).plan, &mut (*arg).stack, present, entry, arg.cast())
    };
    match started {
        Ok(pid) => {
            launch.pid = pid.as_raw();
            LAUNCHES.with(|launches| launches.borrow_mut().push(launch));
            Ok(pid.as_raw())
        }
        Err(_) => {
            let Launch { plan, stack, .. } = *launch;
            stack::give(stack);
            Err(Box::new(plan))
        }
    }
}

/// The child's side: its record is `arg`.
extern "C" fn entry(arg: *mut libc::c_void) -> ! {
    // SAFETY: arg is the record start() keeps alive until this child has exec'd or exited.
    unsafe {
        let launch = &*arg.cast::<Launch>();
        let report = Report::Shared(launch.failed.as_ptr());
        child::exec(&launch.plan, &launch.arrays, report)
    }
}

/// Drops the records of children that have exec'd, keeping their stacks for the next.
pub(super) fn sweep() {
    LAUNCHES.with(|launches| {
        let mut launches = launches.borrow_mut();
        let mut failed = 0;
        let mut at = launches.len();
        while at > 0 {
            at -= 1;
            let launch = &launches[at];
            if launch.present.load(Ordering::Acquire) != 0 {
                continue;
            }
            if launch.failed.load(Ordering::Acquire) != 0 {
                failed += 1;
                if failed <= FAILED_KEPT {
                    continue;
                }
            }
            stack::give(launches.swap_remove(at).stack);
        }
    });
}

/// Whether a child still runs in this process's memory: the loop then wakes soon to sweep.
pub(super) fn in_flight() -> bool {
    LAUNCHES.with(|launches| launches.borrow().iter().any(|l| l.present.load(Ordering::Acquire) != 0))
}

/// A reaped child: its record is dropped, and if it could not exec, the errno why.
pub(super) fn ended(pid: i32) -> Option<i32> {
    LAUNCHES.with(|launches| {
        let mut launches = launches.borrow_mut();
        let at = launches.iter().position(|l| l.pid == pid)?;
        let launch = launches.swap_remove(at);
        let errno = launch.failed.load(Ordering::Acquire);
        stack::give(launch.stack);
        (errno != 0).then_some(errno)
    })
}
