//! `ostler setuidgid USER PROG…` (s6-setuidgid's role): run a program as a user, with that
//! user's group as its only group. A service's `run` uses it to drop root before it execs.

use nix::unistd::{execvp, setgid, setgroups, setuid, User};
use std::ffi::CString;

/// Becomes USER and execs PROG; returns only the exit code of a failure (111, or 100 for an
/// unknown user).
pub fn run(user: &str, program: &[String]) -> u8 {
    let account = match User::from_name(user) {
        Ok(Some(account)) => account,
        Ok(None) => {
            eprintln!("ostler setuidgid: fatal: unknown user {user}: add it to /etc/passwd or name another");
            return 100;
        }
        Err(e) => {
            eprintln!("ostler setuidgid: fatal: unable to read the user database for {user}: {e}");
            return 111;
        }
    };
    let Some(argv): Option<Vec<CString>> = program.iter().map(|a| CString::new(a.as_str()).ok()).collect() else {
        eprintln!("ostler setuidgid: fatal: an argument holds a NUL byte");
        return 100;
    };
    let Some(first) = argv.first() else {
        eprintln!("ostler setuidgid: fatal: no program to run; usage: ostler setuidgid USER PROG [ARGS…]");
        return 100;
    };
    // Groups first: once the uid is not root's, they cannot be changed any more.
    let dropped = setgroups(&[account.gid]).and_then(|()| setgid(account.gid)).and_then(|()| setuid(account.uid));
    if let Err(e) = dropped {
        eprintln!("ostler setuidgid: fatal: unable to become {user}: {e}; only root can");
        return 111;
    }
    match execvp(first, &argv) {
        Err(e) => {
            eprintln!("ostler setuidgid: fatal: unable to exec {}: {e}", program[0]);
            111
        }
        Ok(never) => match never {},
    }
}
