//! Stacks for children that run in this process's memory until they exec: mapped on demand,
//! with a guard page below, and kept for the next child. Only the pages a child touches are
//! ever resident (a heap buffer would be zeroed, page by page, when allocated).

use nix::errno::Errno;
use nix::sys::mman::{mmap_anonymous, mprotect, munmap, MapFlags, ProtFlags};
use std::cell::RefCell;
use std::ptr::NonNull;

/// Deep enough for the child's set-up and the kernel's execve, with room to spare.
const USABLE: usize = 64 * 1024;

/// One page below the stack, never mapped readable: an overflow faults instead of writing
/// into whatever mapping lies below.
const GUARD: usize = 4096;

/// Room at the top of each stack's mapping, above the stack itself, for the record of the
/// child that runs on it (see `launch`): a burst of starts then leaves nothing on the heap, the
/// records going with their stacks (unmapped, or kept for the next).
pub(super) const RECORD: usize = 1024;

/// Stacks kept for reuse once their children have left: a start needs one, a burst of starts
/// that do not wait needs one per child still on its way to exec. Beyond these the rest are
/// unmapped, so a burst leaves no memory behind.
const KEPT: usize = 2;

/// A child's stack: a private anonymous mapping, unmapped when dropped.
pub(super) struct Stack {
    at: NonNull<libc::c_void>,
}

impl Stack {
    fn map() -> Result<Stack, Errno> {
        let len = const { std::num::NonZeroUsize::new(USABLE + GUARD).unwrap() };
        // SAFETY: a fresh private anonymous mapping that nothing else refers to.
        unsafe {
            let at = mmap_anonymous(
                None,
                len,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_PRIVATE | MapFlags::MAP_STACK,
            )?;
            if let Err(errno) = mprotect(at, GUARD, ProtFlags::PROT_NONE) {
                let _ = munmap(at, USABLE + GUARD);
                return Err(errno);
            }
            Ok(Stack { at })
        }
    }

    /// The usable region: its lowest address and its size (the stack grows down from the top,
    /// below the record's room).
    pub(super) fn region(&mut self) -> (*mut u8, usize) {
        // SAFETY: GUARD is within the mapping.
        (unsafe { self.at.as_ptr().cast::<u8>().add(GUARD) }, USABLE - RECORD)
    }

    /// The record's room: [`RECORD`] bytes at the top of the mapping, page-aligned.
    pub(super) fn record(&mut self) -> *mut u8 {
        // SAFETY: within the mapping: GUARD + USABLE is its end.
        unsafe { self.at.as_ptr().cast::<u8>().add(GUARD + USABLE - RECORD) }
    }

    /// The usable region as a slice, for nix's clone.
    pub(super) fn as_slice(&mut self) -> &mut [u8] {
        let (at, len) = self.region();
        // SAFETY: the region is mapped read-write for as long as self lives, and its pages
        // read as zeroes until written, so the slice is initialised.
        unsafe { std::slice::from_raw_parts_mut(at, len) }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours, and nobody runs on it any more (see give).
        let _ = unsafe { munmap(self.at, USABLE + GUARD) };
    }
}

thread_local! {
    static KEPT_STACKS: RefCell<Vec<Stack>> = const { RefCell::new(Vec::new()) };
}

/// A stack for a new child: a kept one, or a new mapping.
pub(super) fn take() -> Result<Stack, Errno> {
    KEPT_STACKS.with(|kept| kept.borrow_mut().pop()).map_or_else(Stack::map, Ok)
}

/// Gives back a stack whose child has exec'd or exited: kept for the next, or unmapped.
pub(super) fn give(stack: Stack) {
    KEPT_STACKS.with(|kept| {
        let mut kept = kept.borrow_mut();
        if kept.len() < KEPT {
            kept.push(stack);
        }
    });
}
