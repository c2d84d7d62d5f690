//! The container environment as s6-overlay keeps it: one file per variable in
//! `/run/s6/container_environment`, holding the value exactly; `with-contenv` and
//! `printcontenv` read it back.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

/// s6-overlay's own place for it.
pub const DIR: &str = "/run/s6/container_environment";

/// Where the init left its state, when not in /run (an `OSTLER_*` variable survives the reset
/// of the environment).
pub const STATE_VARIABLE: &str = "OSTLER_S6_STATE";

/// The directory in use: s6-overlay's, or the one under the state the init named.
pub fn dir() -> PathBuf {
    match std::env::var_os(STATE_VARIABLE).filter(|v| !v.is_empty()) {
        Some(state) => PathBuf::from(state).join("container_environment"),
        None => PathBuf::from(DIR),
    }
}

/// Writes every variable of this process's environment into `dir` (made, mode 0755).
pub fn dump(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, value) in std::env::vars_os() {
        // A name with a slash cannot be a file; no shell could use it either.
        if name.is_empty() || name.as_bytes().contains(&b'/') || name == "." || name == ".." {
            continue;
        }
        std::fs::write(dir.join(&name), value.as_bytes())?;
    }
    Ok(())
}

/// Whether the environment was kept (`S6_KEEP_ENV` other than 0): then `with-contenv` does
/// nothing and `printcontenv` reads the environment.
pub fn kept() -> bool {
    std::env::var("S6_KEEP_ENV").is_ok_and(|v| v.trim().parse::<u64>().map_or(!v.trim().is_empty(), |n| n != 0))
}

/// A variable of the container environment.
pub fn var(name: &str) -> Option<OsString> {
    if kept() {
        return std::env::var_os(name);
    }
    std::fs::read(dir().join(name)).ok().map(OsString::from_vec)
}

/// A numeric setting of the container environment, `default` when unset or not a number.
pub fn number(name: &str, default: u64) -> u64 {
    var(name).and_then(|v| v.to_str()?.trim().parse().ok()).unwrap_or(default)
}

/// `with-contenv PROG ARGS…`: runs PROG with the container environment (only PATH kept of
/// the current one, as s6-overlay does), or as it is when the environment was kept.
pub fn with_contenv(program: &[OsString]) -> u8 {
    let Some((first, rest)) = program.split_first() else {
        eprintln!("with-contenv: usage: with-contenv PROG [ARGS…]");
        return 100;
    };
    let mut command = std::process::Command::new(first);
    command.args(rest);
    if !kept() {
        let dir = dir();
        match std::fs::read_dir(&dir) {
            Ok(entries) => {
                let path = std::env::var_os("PATH");
                command.env_clear();
                if let Some(path) = path {
                    command.env("PATH", path);
                }
                for entry in entries.flatten() {
                    if let Ok(value) = std::fs::read(entry.path()) {
                        command.env(entry.file_name(), OsStr::from_bytes(&value));
                    }
                }
            }
            Err(e) => {
                eprintln!(
                    "with-contenv: warning: unable to read {}: {e}; running {} with the current environment",
                    dir.display(),
                    first.to_string_lossy()
                );
            }
        }
    }
    let e = command.exec();
    let code = if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 };
    eprintln!("with-contenv: unable to run {}: {e}; check the name and PATH", first.to_string_lossy());
    code
}

/// `printcontenv NAME`: prints the variable and a newline; exit 1 when it is not set.
pub fn printcontenv(name: &str) -> u8 {
    match var(name) {
        Some(value) => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(value.as_bytes());
            let _ = out.write_all(b"\n");
            0
        }
        None => 1,
    }
}
