//! The command line: every subcommand's options (clap derive), and the dispatch to the crate
//! that does the work. `ostler man DIR` writes a man page per subcommand from these same
//! definitions.

mod clients;
mod image;
mod man;
mod supervision;

use clap::{Parser, Subcommand};
use std::ffi::OsString;

/// ostler: an init system in the s6 tradition, in one binary.
#[derive(Parser, Debug)]
#[command(name = "ostler", version, about, long_about = None, propagate_version = true)]
pub struct Ostler {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    Svscan(supervision::SvscanArgs),
    Supervise(supervision::SuperviseArgs),
    Svc(clients::SvcArgs),
    Svstat(clients::SvstatArgs),
    Svwait(clients::SvwaitArgs),
    Svscanctl(clients::SvscanctlArgs),
    Image(image::ImageArgs),
    Man(man::ManArgs),
}

/// Runs one parsed command; the result is the process's exit code.
pub fn run(ostler: Ostler) -> u8 {
    match ostler.command {
        Command::Svscan(args) => supervision::svscan(args),
        Command::Supervise(args) => supervision::supervise(args),
        Command::Svc(args) => clients::svc(args),
        Command::Svstat(args) => clients::svstat(args),
        Command::Svwait(args) => clients::svwait(args),
        Command::Svscanctl(args) => clients::svscanctl(args),
        Command::Image(args) => image::run(args),
        Command::Man(args) => man::run(args),
    }
}

/// Names under which ostler may be installed, and the subcommand each one means.
const ALIASES: &[(&str, &str)] = &[
    ("s6-svscan", "svscan"),
    ("s6-supervise", "supervise"),
    ("s6-svc", "svc"),
    ("s6-svstat", "svstat"),
    ("s6-svwait", "svwait"),
    ("s6-svscanctl", "svscanctl"),
];

/// When argv[0] names a subcommand (ostler installed as `s6-supervise`, say), inserts that
/// subcommand so clap sees `ostler supervise …`.
pub fn with_subcommand_from_argv0(mut args: Vec<OsString>) -> Vec<OsString> {
    let name = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some((_, sub)) = ALIASES.iter().find(|(alias, _)| *alias == name) {
        args[0] = OsString::from("ostler");
        args.insert(1, OsString::from(*sub));
    }
    args
}
