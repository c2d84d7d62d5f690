//! System calls made directly, without the C library, for the child half of a spawn.
//!
//! A child started without its parent waiting (see [`crate::launch`]) runs in the parent's
//! memory, with the parent's thread pointer, while the parent goes on: the C library's
//! `errno` — a field of the parent thread's descriptor — is shared with it. A failing call
//! made through the C library would write the parent's `errno` under its feet, and reading
//! `errno` afterwards could read the parent's. These calls return the error instead and touch
//! no memory but what they are given.

/// A system call's result: its return value, or the errno it failed with.
pub type Outcome = Result<usize, i32>;

/// Makes system call `number` with up to six arguments (unused ones zero).
///
/// # Safety
/// As the system call itself: the arguments must be what the kernel expects for it.
#[cfg(target_arch = "x86_64")]
pub unsafe fn syscall(number: libc::c_long, args: [usize; 6]) -> Outcome {
    let ret: isize;
    core::arch::asm!(
        "syscall",
        inlateout("rax") number as isize => ret,
        in("rdi") args[0],
        in("rsi") args[1],
        in("rdx") args[2],
        in("r10") args[3],
        in("r8") args[4],
        in("r9") args[5],
        lateout("rcx") _,
        lateout("r11") _,
        options(nostack),
    );
    // The kernel returns -4095..-1 for an error.
    if (-4095..0).contains(&ret) {
        Err(-ret as i32)
    } else {
        Ok(ret as usize)
    }
}

/// Elsewhere through the C library: only children that the parent waits for run this (the
/// spawn that does not wait exists on x86_64 only), so `errno` is theirs to use.
///
/// # Safety
/// As the system call itself.
#[cfg(not(target_arch = "x86_64"))]
pub unsafe fn syscall(number: libc::c_long, args: [usize; 6]) -> Outcome {
    let ret = libc::syscall(number, args[0], args[1], args[2], args[3], args[4], args[5]);
    if ret == -1 {
        Err(*libc::__errno_location())
    } else {
        Ok(ret as usize)
    }
}

/// Shorthand: `call!(SYS_x, a, b)` is `syscall(SYS_x, [a as usize, b as usize, 0, 0, 0, 0])`.
macro_rules! call {
    ($number:expr $(, $arg:expr)* $(,)?) => {{
        let mut args = [0usize; 6];
        let given = [$($arg as usize),*];
        args[..given.len()].copy_from_slice(&given);
        $crate::raw::syscall($number, args)
    }};
}
pub(crate) use call;
