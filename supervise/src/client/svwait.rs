//! `ostler svwait`: wait until one, or all, of some services are up, ready, down… (s6-svwait).

use super::exit;
use super::wait::{Listener, Outcome, Quorum, Target};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const PROGRAM: &str = "ostler svwait";

/// What to wait for.
#[derive(Clone, Debug)]
pub struct Options {
    /// The service directories.
    pub dirs: Vec<PathBuf>,
    /// The state they must reach.
    pub target: Target,
    /// All of them, or any one.
    pub quorum: Quorum,
    /// Give up after this long (`None`: wait forever).
    pub timeout: Option<Duration>,
}

/// Runs svwait; the result is the exit code: the number of services that ended without
/// reaching the target (their supervisor exited, or finish refused a restart), 99 on timeout,
/// 111 when the services cannot be watched.
pub fn run(options: &Options) -> u8 {
    let deadline = options.timeout.map(|t| Instant::now() + t);
    let outcome = Listener::subscribe(&options.dirs).and_then(|l| l.wait(options.target, options.quorum, deadline));
    match outcome {
        Ok(Outcome::TimedOut) => {
            eprintln!(
                "{PROGRAM}: timed out waiting for {} to be {}; raise -t, or check the service with ostler svstat",
                describe_dirs(&options.dirs),
                options.target.describe()
            );
            exit::TIMEOUT
        }
        Ok(outcome) => outcome.exit_code(),
        Err(e) => {
            eprintln!("{PROGRAM}: {e}");
            e.exit_code()
        }
    }
}

/// "a", or "a, b and c".
pub fn describe_dirs(dirs: &[PathBuf]) -> String {
    let names: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_lists_read_well() {
        let dirs: Vec<PathBuf> = ["a", "b", "c"].iter().map(PathBuf::from).collect();
        assert_eq!(describe_dirs(&dirs[..1]), "a");
        assert_eq!(describe_dirs(&dirs), "a, b and c");
    }
}
