//! Options of `ostler import-unit`. The work is in `ostler_rc::unit`.

use clap::Args;
use std::path::PathBuf;

/// Make systemd service units into service definitions.
///
/// Each unit becomes a definition named after it (ssh.service → ssh) in the definitions
/// directory: User=, capabilities, limits, environment, directories and control-group limits
/// become ostler's own files; the commands a `run` script (a oneshot's `up.sh`); Restart= a
/// `finish` script; dependencies on units that have definitions `dependencies.d/`. Every line
/// that is not carried over is a warning on stderr, `FILE:LINE: Key=value is not carried over:
/// why`. Templates are instantiated (getty@tty1.service from getty@.service) and specifiers
/// (%i, %n…) replaced. The mapping is in docs/import-unit.md.
///
/// Exit codes: 0 every unit written (warnings allowed); 1 a unit could not be imported (not
/// found, no ExecStart=, a definition that exists without --force); 100 usage; 111 a
/// definition could not be written.
#[derive(Args, Debug)]
pub struct ImportUnitArgs {
    /// The definitions directory to write into (default: OSTLER_DEFS's first directory, else
    /// /etc/ostler/sv).
    #[arg(long, value_name = "DIR")]
    pub defs: Option<PathBuf>,
    /// The root the units are looked up in, as systemd would (its /etc/systemd/system over
    /// /run over /usr/lib/systemd/system, with drop-ins).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Also every unit the root enables (its /etc/systemd/system/*.target.wants), and add
    /// what is written to the `default` bundle.
    #[arg(long)]
    pub enabled: bool,
    /// Replace definitions that exist.
    #[arg(long)]
    pub force: bool,
    /// Units: names (ssh, ssh.service, getty@tty1.service) or unit files' paths.
    #[arg(value_name = "UNIT", required_unless_present = "enabled")]
    pub units: Vec<String>,
}

pub fn run(args: ImportUnitArgs) -> u8 {
    let defs = args.defs.unwrap_or_else(|| {
        std::env::var_os("OSTLER_DEFS")
            .and_then(|dirs| std::env::split_paths(&dirs).find(|d| !d.as_os_str().is_empty()))
            .unwrap_or_else(|| PathBuf::from("/etc/ostler/sv"))
    });
    let request =
        ostler_rc::unit::Request { defs, root: args.root, units: args.units, enabled: args.enabled, force: args.force };
    let report = ostler_rc::unit::import(&request);
    for warning in &report.warnings {
        eprintln!("ostler import-unit: {warning}");
    }
    for path in &report.written {
        println!("{}", path.display());
    }
    let mut code = 0;
    for error in &report.failed {
        eprintln!("ostler import-unit: {error}");
        code = match error {
            ostler_rc::unit::ImportError::Write { .. } => 111,
            _ if code == 111 => 111,
            _ => 1,
        };
    }
    code
}
