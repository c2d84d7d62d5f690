//! Children started without waiting for their exec: each runs in this process's memory, on a
//! stack of its own, reading the plan kept here, while the spawner goes on with the next
//! service. The kernel zeroes a word of the record once the child has exec'd or exited
//! (CLONE_CHILD_CLEARTID); only then is the record dropped and the stack reused (the record
//! lives at the top of the stack's mapping). A child that
//! cannot exec writes its errno into the record and exits 127: the spawner learns it when it
//! reaps the child ([`ended`]), as s6-supervise learns it from its child's exit.

use super::child::{self, Report};
use super::clone::{self, Borrow};
use super::stack::{self, Stack};
use super::{Arrays, SpawnPlan};
use std::cell::RefCell;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

/// A child on its way to exec, and everything it reads. It lives at the top of the child's
/// stack mapping ([`stack::RECORD`]), not on the heap: a burst of a hundred starts would leave
/// the heap that much bigger for good.
struct Launch {
    plan: SpawnPlan,
    arrays: Arrays,
    /// Non-zero while the child runs in this process's memory.
    present: AtomicU32,
    /// The errno of a failed start, written by the child before it exits; 0 if none.
    failed: AtomicI32,
    pid: i32,
}

const _: () = assert!(std::mem::size_of::<Launch>() <= stack::RECORD && std::mem::align_of::<Launch>() <= 4096);

/// A record and the stack it lives on.
struct Running {
    launch: NonNull<Launch>,
    stack: Stack,
}

impl Running {
    fn launch(&self) -> &Launch {
        // SAFETY: written by start() and dropped only by release().
        unsafe { self.launch.as_ref() }
    }

    /// Drops the record and gives its stack back: only once the child has left this memory.
    fn release(self) {
        // SAFETY: the child has exec'd or exited (present is zero, or it was reaped): nothing
        // reads the record any more, and it is dropped once.
        unsafe { std::ptr::drop_in_place(self.launch.as_ptr()) };
        stack::give(self.stack);
    }
}

thread_local! {
    /// Records stay here from the start until the child has exec'd (then [`sweep`] drops
    /// them) or, when it failed, until it is reaped ([`ended`]).
    static LAUNCHES: RefCell<Vec<Running>> = const { RefCell::new(Vec::new()) };
}

/// Failed starts kept for their reaping at most: a child reaped by someone else (a
/// `waitpid` of its own pid elsewhere) would otherwise keep its record forever.
const FAILED_KEPT: usize = 64;

/// Starts the plan without waiting for the exec. Gives the plan back when this way is not
/// available here (not x86_64, a kernel before 5.3), for the caller to start it another way.
pub(super) fn start(plan: SpawnPlan) -> Result<i32, Box<SpawnPlan>> {
    sweep();
    let Ok(mut stack) = stack::take() else { return Err(Box::new(plan)) };
    let arrays = Arrays::of(&plan);
    let at = stack.record().cast::<Launch>();
    // SAFETY: the record's room is ours, aligned (page-aligned) and large enough (asserted);
    // whatever was there before was dropped by release().
    unsafe { at.write(Launch { plan, arrays, present: AtomicU32::new(1), failed: AtomicI32::new(0), pid: 0 }) };
    // SAFETY: the child reads the record through `at` and runs on the stack below it; both
    // stay where they are, unchanged, until `present` is zero.
    let started = unsafe {
        let present = Borrow::Detach((*at).present.as_ptr());
        clone::in_this_memory(&(*at).plan, &mut stack, present, entry, at.cast())
    };
    match started {
        Ok(pid) => {
            // SAFETY: the child only reads the plan and arrays; pid is ours.
            unsafe { (*at).pid = pid.as_raw() };
            // SAFETY: `at` points into the mapping, never null.
            let launch = unsafe { NonNull::new_unchecked(at) };
            LAUNCHES.with(|launches| launches.borrow_mut().push(Running { launch, stack }));
            Ok(pid.as_raw())
        }
        Err(_) => {
            // SAFETY: no child was made: the record is read back once and not dropped again.
            let Launch { plan, .. } = unsafe { at.read() };
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
            let launch = launches[at].launch();
            if launch.present.load(Ordering::Acquire) != 0 {
                continue;
            }
            if launch.failed.load(Ordering::Acquire) != 0 {
                failed += 1;
                if failed <= FAILED_KEPT {
                    continue;
                }
            }
            launches.swap_remove(at).release();
        }
    });
}

/// Whether a child still runs in this process's memory: the loop then wakes soon to sweep.
pub(super) fn in_flight() -> bool {
    LAUNCHES.with(|launches| launches.borrow().iter().any(|l| l.launch().present.load(Ordering::Acquire) != 0))
}

/// A reaped child: its record is dropped, and if it could not exec, the errno why.
pub(super) fn ended(pid: i32) -> Option<i32> {
    LAUNCHES.with(|launches| {
        let mut launches = launches.borrow_mut();
        let at = launches.iter().position(|l| l.launch().pid == pid)?;
        let running = launches.swap_remove(at);
        let errno = running.launch().failed.load(Ordering::Acquire);
        running.release();
        (errno != 0).then_some(errno)
    })
}
