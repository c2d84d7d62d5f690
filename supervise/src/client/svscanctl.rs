//! `ostler svscanctl`: send command letters to a scanner (s6-svscanctl), through
//! `SCANDIR/.s6-svscan/control`.

use super::{exit, write_control};
use std::path::PathBuf;

const PROGRAM: &str = "ostler svscanctl";

/// What to send, and where.
#[derive(Clone, Debug)]
pub struct Options {
    /// The scan directory.
    pub dir: PathBuf,
    /// The control letters, in command-line order.
    pub letters: Vec<u8>,
}

/// Runs svscanctl; the result is the exit code: 0, 100 when no scanner runs on the
/// directory, 111 on a system failure.
pub fn run(options: &Options) -> u8 {
    match write_control(&options.dir, ".s6-svscan", "scanner", &options.letters) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("{PROGRAM}: {e}");
            e.exit_code()
        }
    }
}
