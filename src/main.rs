//! ostler's front door: one multi-call binary. The subcommand comes from argv[0] when ostler
//! is installed under another name (`init`, `poweroff`, `s6-supervise`…), otherwise from the
//! first argument. Each subcommand's options are parsed here with clap and handed to the one
//! `run` function of the crate that does the work; that function's exit code is ours.

mod cli;

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

// musl's malloc hands every freed page back to the kernel at once: a supervisor that reads a
// directory or writes a status file per event paid an mmap/munmap pair (and fresh-page
// faults) each time — a quarter of the syscalls of a boot. dlmalloc keeps freed memory for
// the next allocation.
#[global_allocator]
static ALLOCATOR: Heap = Heap { busy: AtomicBool::new(false), heap: UnsafeCell::new(dlmalloc::Dlmalloc::new()) };

/// dlmalloc behind a spin lock. dlmalloc's own global allocator takes a pthread mutex around
/// every call, and musl's mutex was a tenth of the instructions of an `ostler rc change`;
/// ostler runs one thread (it forks only from one), so the lock is never contended.
struct Heap {
    busy: AtomicBool,
    heap: UnsafeCell<dlmalloc::Dlmalloc>,
}

// SAFETY: every access to `heap` happens with `busy` held.
unsafe impl Sync for Heap {}

struct Held<'a>(&'a AtomicBool);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Heap {
    /// The heap, with the lock held until the guard drops.
    fn lock(&self) -> (Held<'_>, *mut dlmalloc::Dlmalloc) {
        while self.busy.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            std::hint::spin_loop();
        }
        (Held(&self.busy), self.heap.get())
    }
}

// SAFETY: dlmalloc's methods are called under the lock, with the layouts GlobalAlloc gives.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let (_held, heap) = self.lock();
        (*heap).malloc(layout.size(), layout.align())
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let (_held, heap) = self.lock();
        (*heap).calloc(layout.size(), layout.align())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let (_held, heap) = self.lock();
        (*heap).free(ptr, layout.size(), layout.align())
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let (_held, heap) = self.lock();
        (*heap).realloc(ptr, layout.size(), layout.align(), new_size)
    }
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let argv = cli::with_subcommand_from_argv0(args);
    let command = match cli::parse(&argv) {
        Ok(command) => command,
        Err(e) => {
            let _ = e.print();
            // s6's tools exit 100 on usage errors; --help and --version are not errors.
            return ExitCode::from(if e.use_stderr() { 100 } else { 0 });
        }
    };
    ExitCode::from(cli::run(command))
}
