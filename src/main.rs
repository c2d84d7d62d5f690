//! ostler's front door: one multi-call binary. The subcommand comes from argv[0] when ostler
//! is installed under another name (`init`, `poweroff`, `s6-supervise`…), otherwise from the
//! first argument. Each subcommand's options are parsed here with clap and handed to the one
//! `run` function of the crate that does the work; that function's exit code is ours.

mod cli;

use std::ffi::OsString;
use std::process::ExitCode;

// musl's malloc hands every freed page back to the kernel at once: a supervisor that reads a
// directory or writes a status file per event paid an mmap/munmap pair (and fresh-page
// faults) each time — a quarter of the syscalls of a boot. dlmalloc keeps freed memory for
// the next allocation.
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

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
