//! `ostler init`: stage 1, PID 1's first moments.
//!
//! 1. mount /proc, /sys, /dev, /dev/pts, /dev/shm, /run (what is not mounted yet); from an
//!    initramfs with `root=` on the kernel command line, switch to that disk first and exec its
//!    init ([`root_disk`]);
//! 2. build /run/ostler (0700) and /run/service with the catch-all logger and the diversions;
//! 3. open the catch-all FIFO for writing *without blocking*: no reader exists yet, and a
//!    normal open would wait for one forever (the reader is a service of the scanner, which
//!    only starts once we exec it). Opening a reader first, then the writer, then closing the
//!    reader does it;
//! 4. fork stage 2 in its own session: it opens the same FIFO normally, which blocks until the
//!    catch-all logger reads it — proof the scanner runs — then brings the system up;
//! 5. exec the scanner on /run/service: PID 1 until shutdown.
//!
//! A fatal problem is told on the console and leads to an emergency shell when one exists;
//! PID 1 never just exits (that would be a kernel panic with no explanation).

use crate::cmdline::{self, KernelWords};
use crate::console::{write_console, Console};
use crate::{early, mounts, paths, root_disk};
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// The shell offered on the console in an emergency.
const SHELL: &str = "/bin/sh";

/// Stage 2, as the front door hands it to us: it runs in the forked child directly, without an
/// exec of its own (one exec less on the way to a booted system: under emulation an exec of a
/// megabyte binary is most of stage 2's cost).
pub type Stage2 = fn(Vec<String>) -> u8;

/// Runs stage 1. Returns only when something is wrong (the exit code); as PID 1 it does not
/// return at all.
pub fn run(arguments: Vec<String>, stage2: Stage2) -> u8 {
    if nix::unistd::getpid().as_raw() != 1 {
        return telinit(&arguments);
    }
    nix::sys::stat::umask(Mode::from_bits_truncate(0o022));
    let _ = std::env::set_current_dir("/");
    let problems = mounts::mount_kernel_filesystems(&|_| {});
    let words = std::fs::read_to_string("/proc/cmdline").map(|l| cmdline::parse(&l)).unwrap_or_default();
    let console = Console { debug: words.debug, quiet: words.quiet };
    standard_fds_on_console();
    if !console.quiet {
        console.say("stage 1");
    }
    for problem in problems {
        console.say(&format!("warning: {problem}; going on without it"));
    }
    if let Some(root) = words.root.as_ref().filter(|_| root_disk::on_initramfs()) {
        return fatal(&root_disk::switch(&console, root, &arguments));
    }
    let stage2_args = stage2_arguments(&words, arguments);
    match boot(&console, &words, stage2_args, stage2) {
        Ok(never) => match never {},
        Err(problem) => fatal(&problem),
    }
}

/// Kernel words plus init's own arguments (the kernel passes unknown words to init as
/// arguments too, so each is given once).
fn stage2_arguments(words: &KernelWords, arguments: Vec<String>) -> Vec<String> {
    let mut all = words.for_stage2.clone();
    for argument in arguments {
        if !all.contains(&argument) && cmdline::parse(&argument).for_stage2 == [argument.clone()] {
            all.push(argument);
        }
    }
    all
}

/// Steps 2 to 5. Returns only with the reason it could not go on.
fn boot(
    console: &Console,
    words: &KernelWords,
    stage2_args: Vec<String>,
    stage2: Stage2,
) -> Result<std::convert::Infallible, String> {
    let ostler = std::env::current_exe().map_err(|e| format!("unable to find my own binary: {e}"))?;
    early::build(&ostler).map_err(|e| {
        format!("unable to build {} and {}: {e}; is /run writable?", paths::PRIVATE_DIR, paths::SCAN_DIR)
    })?;
    console.step("runtime tree built");
    if words.emergency {
        console.say("emergency: a root shell on the console; exit it to go on booting");
        emergency_shell();
    }
    let fifo_writer = open_fifo_without_reader(Path::new(paths::CATCH_ALL_FIFO))
        .map_err(|e| format!("unable to open {} for writing: {e}", paths::CATCH_ALL_FIFO))?;
    console.step("catch-all FIFO open");
    fork_stage2(stage2, stage2_args)?;
    console.step("stage 2 forked; exec'ing the scanner");
    // From here our output goes to the catch-all logger; the console only through it.
    let _ = nix::unistd::dup2_stdout(&fifo_writer);
    let _ = nix::unistd::dup2_stderr(&fifo_writer);
    drop(fifo_writer);
    if let Ok(null) = std::fs::File::open("/dev/null") {
        let _ = nix::unistd::dup2_stdin(&null);
    }
    // ctrl-alt-del becomes SIGINT to us (the scanner), diverted to a reboot request.
    let _ = nix::sys::reboot::set_cad_enabled(false);
    let error = exec(&ostler, &["svscan", paths::SCAN_DIR]);
    // Our stdout is the FIFO now: tell the console directly.
    Err(format!("unable to exec the scanner ({} svscan): {error}", ostler.display()))
}

/// The FIFO trick: a reader makes the non-blocking write open succeed; the reader then goes.
fn open_fifo_without_reader(fifo: &Path) -> nix::Result<OwnedFd> {
    let reader = open(fifo, OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC, Mode::empty())?;
    let writer = open(fifo, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty())?;
    drop(reader);
    Ok(writer)
}

/// Forks stage 2: own session, stdin /dev/null, stdout and stderr the FIFO opened *blocking*
/// (so it waits for the catch-all logger), then runs it and exits with its code.
fn fork_stage2(stage2: Stage2, args: Vec<String>) -> Result<(), String> {
    let fifo = CString::new(paths::CATCH_ALL_FIFO).map_err(|_| "bad FIFO path".to_string())?;
    // SAFETY: PID 1 has a single thread, so the child may run ordinary code after fork.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            let _ = nix::unistd::setsid();
            if let Ok(null) = std::fs::File::open("/dev/null") {
                let _ = nix::unistd::dup2_stdin(&null);
            }
            // This open is the synchronisation: it returns once the catch-all logger reads.
            if let Ok(out) = open(fifo.as_c_str(), OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty()) {
                let _ = nix::unistd::dup2_stdout(&out);
                let _ = nix::unistd::dup2_stderr(&out);
            }
            let code = stage2(args);
            // SAFETY: _exit ends the child without running PID 1's exit path.
            unsafe { libc::_exit(i32::from(code)) }
        }
        Ok(nix::unistd::ForkResult::Parent { .. }) => Ok(()),
        Err(e) => Err(format!("unable to fork stage 2: {e}")),
    }
}

/// Execs ostler with arguments; returns only the error.
fn exec(ostler: &Path, args: &[&str]) -> nix::errno::Errno {
    let Ok(program) = CString::new(ostler.as_os_str().as_encoded_bytes()) else { return nix::errno::Errno::EINVAL };
    let mut argv = vec![program.clone()];
    argv.extend(args.iter().filter_map(|a| CString::new(*a).ok()));
    match nix::unistd::execv(&program, &argv) {
        Err(e) => e,
        Ok(never) => match never {},
    }
}

/// Makes sure fds 0, 1 and 2 are the console (the kernel opens it for init only when
/// /dev/console existed before /dev was mounted).
fn standard_fds_on_console() {
    // SAFETY: fd 1 is only probed with F_GETFD.
    let stdout = unsafe { std::os::fd::BorrowedFd::borrow_raw(1) };
    if nix::fcntl::fcntl(stdout, nix::fcntl::FcntlArg::F_GETFD).is_ok() {
        return;
    }
    if let Ok(console) = open("/dev/console", OFlag::O_RDWR | OFlag::O_NOCTTY, Mode::empty()) {
        let _ = nix::unistd::dup2_stdin(&console);
        let _ = nix::unistd::dup2_stdout(&console);
        let _ = nix::unistd::dup2_stderr(&console);
        if console.as_raw_fd() <= 2 {
            std::mem::forget(console);
        }
    }
}

/// Runs a root shell on the console and waits for it. Nothing happens when there is no shell.
pub fn emergency_shell() {
    if !Path::new(SHELL).exists() {
        write_console(&format!("ostler: no emergency shell: {SHELL} does not exist\n"));
        return;
    }
    // SAFETY: the child only calls async-signal-safe functions before exec or _exit.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => unsafe {
            libc::setsid();
            let console = libc::open(c"/dev/console".as_ptr(), libc::O_RDWR);
            if console >= 0 {
                libc::ioctl(console, libc::TIOCSCTTY, 1);
                libc::dup2(console, 0);
                libc::dup2(console, 1);
                libc::dup2(console, 2);
            }
            libc::execl(c"/bin/sh".as_ptr(), c"-sh".as_ptr(), std::ptr::null::<libc::c_char>());
            libc::_exit(127)
        },
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            // Reap everything until the shell is gone (PID 1 adopts its orphans).
            loop {
                match nix::sys::wait::wait() {
                    Ok(status) if status.pid() == Some(child) => return,
                    Ok(_) => {}
                    Err(nix::errno::Errno::EINTR) => {}
                    Err(_) => return,
                }
            }
        }
        Err(e) => write_console(&format!("ostler: unable to fork a shell: {e}\n")),
    }
}

/// Something fatal happened as PID 1: say it, offer a shell, then keep reaping forever rather
/// than exit (an exiting PID 1 is a kernel panic).
fn fatal(problem: &str) -> u8 {
    write_console(&format!(
        "ostler: fatal: {problem}\nostler: starting an emergency shell; fix the problem, then reboot -f\n"
    ));
    loop {
        emergency_shell();
        write_console("ostler: the emergency shell ended; starting another\n");
        if !Path::new(SHELL).exists() {
            loop {
                nix::unistd::pause();
            }
        }
    }
}

/// `init` when not PID 1: `init 0` powers off, `init 6` reboots, as SysV's telinit.
fn telinit(arguments: &[String]) -> u8 {
    use ostler_shutdown::{client::telinit, Action};
    match arguments.first().map(String::as_str) {
        Some("0") => telinit(Action::Poweroff),
        Some("6") => telinit(Action::Reboot),
        _ => {
            eprintln!("init: not PID 1: use `init 0` to power off or `init 6` to reboot");
            100
        }
    }
}
