//! The chain-loading commands: `ostler caps`, `ostler limit` (s6-softlimit's role) and `ostler
//! envdir` (s6-envdir's). Each builds a [`Declared`], applies it to itself through the same
//! [`Prepared::apply`] the supervisor uses, and execs the rest of its command line.

use super::{envdir, Declared};
use std::ffi::CString;

/// Applies `declared` to this process and execs `program`; returns only a failure's exit code
/// (111; 100 for a usage problem), after saying what failed, led by `name`.
pub fn exec(name: &str, declared: &Declared, program: &[String]) -> u8 {
    let Some(argv): Option<Vec<CString>> = program.iter().map(|a| CString::new(a.as_str()).ok()).collect() else {
        eprintln!("{name}: fatal: an argument holds a NUL byte");
        return 100;
    };
    let Some(first) = argv.first() else {
        eprintln!("{name}: fatal: no program to run; give it after the options");
        return 100;
    };
    let prepared = match declared.prepare(std::path::Path::new(".")) {
        Ok(prepared) => prepared,
        Err(problem) => {
            eprintln!("{name}: fatal: {problem}");
            return 111;
        }
    };
    for (key, value) in &prepared.env {
        match value {
            Some(value) => std::env::set_var(key, value),
            None => std::env::remove_var(key),
        }
    }
    // SAFETY: single-threaded; apply only makes system calls.
    if let Err(errno) = unsafe { prepared.apply() } {
        let reason = std::io::Error::from_raw_os_error(errno);
        eprintln!("{name}: fatal: unable to take the declared privileges: {reason}; changing users and capabilities needs root (or CAP_SETUID, CAP_SETPCAP)");
        return 111;
    }
    if let Some(cwd) = &prepared.cwd {
        if let Err(e) = nix::unistd::chdir(cwd.as_c_str()) {
            eprintln!("{name}: fatal: unable to change directory to {}: {e}", cwd.to_string_lossy());
            return 111;
        }
    }
    match nix::unistd::execvp(first, &argv) {
        Err(e) => {
            eprintln!("{name}: fatal: unable to exec {}: {e}", program[0]);
            if e == nix::errno::Errno::ENOENT {
                127
            } else {
                126
            }
        }
        Ok(never) => match never {},
    }
}

/// `ostler envdir`'s changes to this process's environment: s6-envdir's `-I` (a missing
/// directory changes nothing), `-f`, `-n`.
pub fn envdir(name: &str, dir: &std::path::Path, loose: bool, mode: envdir::Mode) -> Result<(), u8> {
    match envdir::read(dir, mode) {
        Ok(changes) => {
            for (key, value) in changes {
                match value {
                    Some(value) => std::env::set_var(key, value),
                    None => std::env::remove_var(key),
                }
            }
            Ok(())
        }
        Err(e) if loose && e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => {
            eprintln!("{name}: fatal: unable to read the environment directory {}: {e}", dir.display());
            Err(111)
        }
    }
}
