//! s6-overlay's `S6_LOGGING` 1 and 2: a catch-all logger (`ostler log`, with
//! `S6_LOGGING_SCRIPT`) writes what the services, stage 2 and the init print into
//! `/run/uncaught-logs`; with 2, CMD's output too. The init holds the pipe's read end, so a
//! logger that dies is started again without a line lost, and the logger is the last process
//! to go: it is spared the stop's TERM and KILL and ends when the pipe's last writer is gone.

use nix::unistd::Pid;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

/// The running logger.
#[derive(Debug)]
pub struct Logger {
    /// Its process, while it runs.
    pub pid: Option<Pid>,
    /// The pipe's read end, for the next logger.
    input: OwnedFd,
    /// The container's own stdout and stderr, from before they went to the pipe.
    pub original: (OwnedFd, OwnedFd),
    dir: PathBuf,
    script: Vec<String>,
}

impl Logger {
    /// Starts the logger into `dir` and points our stdout and stderr (what every process
    /// started from now on gets) at it.
    pub fn start(dir: PathBuf, script: Vec<String>) -> Result<Logger, String> {
        let fail = |what: &str, e: &dyn std::fmt::Display| format!("unable to {what} for the catch-all logger: {e}");
        std::fs::create_dir_all(&dir).map_err(|e| fail(&format!("make {}", dir.display()), &e))?;
        let (input, output) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| fail("make a pipe", &e))?;
        let keep = |fd: i32| {
            nix::fcntl::fcntl(unsafe_borrow(fd), nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3))
                .map_err(|e| fail("keep stdout", &e))
        };
        // SAFETY: the descriptors F_DUPFD_CLOEXEC just made are ours alone.
        let original = unsafe {
            use std::os::fd::FromRawFd;
            (OwnedFd::from_raw_fd(keep(1)?), OwnedFd::from_raw_fd(keep(2)?))
        };
        let mut logger = Logger { pid: None, input, original, dir, script };
        logger.spawn()?;
        nix::unistd::dup2_stdout(&output).map_err(|e| fail("redirect stdout", &e))?;
        nix::unistd::dup2_stderr(&output).map_err(|e| fail("redirect stderr", &e))?;
        Ok(logger)
    }

    /// (Re)starts `ostler log SCRIPT… DIR` on the pipe.
    pub fn spawn(&mut self) -> Result<(), String> {
        let ostler = std::env::current_exe().map_err(|e| format!("unable to find my own binary: {e}"))?;
        let dup = |fd: &OwnedFd| fd.try_clone().map_err(|e| format!("unable to pass the pipe to the logger: {e}"));
        let child = std::process::Command::new(&ostler)
            .arg0("ostler")
            .arg("log")
            .args(&self.script)
            .arg(&self.dir)
            .stdin(dup(&self.input)?)
            .stdout(dup(&self.original.0)?)
            .stderr(dup(&self.original.1)?)
            .spawn()
            .map_err(|e| format!("unable to start the catch-all logger ({}): {e}", ostler.display()))?;
        self.pid = Some(Pid::from_raw(child.id() as i32));
        Ok(())
    }

    /// Gives our stdout and stderr back to the container: our last hold on the pipe's write
    /// side, so the logger sees its end once the other writers are gone.
    pub fn let_go(&self) {
        let _ = nix::unistd::dup2_stdout(&self.original.0);
        let _ = nix::unistd::dup2_stderr(&self.original.1);
    }
}

/// A borrowed descriptor from its number (0, 1, 2: open for as long as we run).
fn unsafe_borrow(fd: i32) -> std::os::fd::BorrowedFd<'static> {
    // SAFETY: only called for the standard descriptors, which stay open.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
}
