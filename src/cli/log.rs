//! Options of the logger (`ostler log`, s6-log's role), of `ostler logs` and of
//! `ostler tai64nlocal`.

use clap::Args;
use std::ffi::OsString;
use std::os::fd::AsFd;
use std::path::PathBuf;

/// Log what arrives on standard input into log directories (s6-log's role).
///
/// Reads lines from standard input and runs the SCRIPT on each: a list of directives, as
/// s6-log reads them. Selection: `+RE` selects a line that matches the POSIX extended regular
/// expression RE, `-RE` deselects it, `f` selects exactly the lines no action took yet (every
/// line starts selected, and the selection carries over actions). Actions on selected lines:
/// `./DIR` or `/DIR` appends to the log directory DIR, `1` copies to standard output, `2`
/// alerts on standard error, `=FILE` rewrites FILE with the line. Settings, in force for the
/// actions after them: `nN` archives kept (10), `sN` size of `current` that triggers a
/// rotation (99999, 4096..268435455), `SN` most bytes of all archives (0: no limit), `lN`
/// rotate once within N bytes of the size (2000, at most s/2), `rN` milliseconds before a
/// retry (2000), `EN` bytes of a line an alert shows (200, 0: all), `^N` size of a status
/// file, padded with newlines (1001, 0: the line as is), `pSTR` prefix `STR ` (a bare `p`
/// clears it), `!CMD` processor run as `execlineb -Pc CMD` and `?CMD` as `/bin/sh -c CMD` on
/// each rotated file (an empty one clears it). `t` and `T` stamp the next action's lines with
/// a TAI64N label and with local time.
///
/// A log directory holds `current`, the archives `@TAI64N.s` (rotated) and `@TAI64N.u` (saved
/// unfinished after a crash), `state`, and `lock`: exactly s6-log's layout, so either program
/// takes over from the other. Lines are never lost or written twice when the logger is
/// killed and restarted on the same pipe (see docs/log.md); a full or read-only disk is
/// retried every r milliseconds.
///
/// Signals: SIGALRM rotates every non-empty log directory; SIGTERM (unless -p) and SIGHUP make
/// the logger exit once no line is half read. Exit codes: 0 at the end of the input, 100 for
/// a bad script, 111 when a log directory is locked by another logger or cannot be opened.
#[derive(Args, Debug)]
pub struct LogArgs {
    /// Write a newline to file descriptor FD once every log directory is open, then close it
    /// (readiness notification, as a supervisor's notification-fd expects).
    #[arg(short = 'd', value_name = "FD", value_parser = clap::value_parser!(i32).range(0..))]
    pub readiness_fd: Option<i32>,

    /// Quiet: say nothing but fatal errors (no warnings about retries).
    #[arg(short = 'q', conflicts_with = "verbose")]
    pub quiet: bool,

    /// Verbose: also say when a log directory rotates and when its processor runs.
    #[arg(short = 'v')]
    pub verbose: bool,

    /// Blocking mode, as s6-log's -b: accepted for compatibility; ostler always leaves unread
    /// input in the pipe until it is written, so it never holds unwritten lines in memory.
    #[arg(short = 'b')]
    pub blocking: bool,

    /// Protect: SIGTERM does not stop the logger (SIGHUP and the end of the input still do).
    #[arg(short = 'p')]
    pub protect: bool,

    /// Cut lines longer than LINELIMIT bytes, the rest being a line of its own (0: never;
    /// values below 48 mean 48).
    #[arg(short = 'l', value_name = "LINELIMIT", default_value_t = 8192)]
    pub line_limit: u32,

    /// The logging script: directives as described above, such as `n20 s1000000 t ./main`.
    /// Put `--` first when the first directive starts with `-`.
    #[arg(value_name = "SCRIPT", required = true, trailing_var_arg = true)]
    pub script: Vec<OsString>,
}

/// Show a service's logs, oldest first, with local times.
///
/// Reads the log directory of service NAME (`/var/log/NAME`, or NAME itself when it holds a
/// `/`): the archives in order, then `current`. A TAI64N label at the start of a line (what
/// the logger's `t` directive writes) is shown as local time.
#[derive(Args, Debug)]
pub struct LogsArgs {
    /// The service, or a log directory's path.
    pub name: PathBuf,

    /// Follow: keep showing new lines as they are written, across rotations (until
    /// interrupted). Shows the last 10 lines first unless -n says otherwise.
    #[arg(short = 'f', long = "follow")]
    pub follow: bool,

    /// Show only the last N lines.
    #[arg(short = 'n', long = "lines", value_name = "N")]
    pub lines: Option<usize>,

    /// Show only lines written at or after TIME: `YYYY-MM-DD HH:MM:SS` in local time, a
    /// TAI64N label `@…`, or a time ago such as `-30s`, `-5min`, `-2h`, `-1d`. Lines without a
    /// label go with the label before them.
    #[arg(long = "since", value_name = "TIME", allow_hyphen_values = true)]
    pub since: Option<String>,

    /// The directory that holds the services' log directories [default: OSTLER_LOGDIR, else
    /// the caller's own instance's (`ostler user`) when it runs, else /var/log].
    #[arg(long = "dir", value_name = "LOGROOT")]
    pub dir: Option<PathBuf>,
}

/// Replace TAI64N labels at the start of lines by local time (s6-tai64nlocal's role).
///
/// Copies standard input to standard output; a line that starts with `@` and 24 hex digits
/// gets them replaced by `YYYY-MM-DD HH:MM:SS.nnnnnnnnn` in the local time zone (TZ).
#[derive(Args, Debug)]
pub struct Tai64nlocalArgs {}

pub fn log(args: LogArgs) -> u8 {
    let script = match ostler_log::Script::parse(&args.script) {
        Ok(script) => script,
        Err(e) => {
            eprintln!("ostler log: fatal: {e}");
            return 100;
        }
    };
    let readiness = match args.readiness_fd {
        None => None,
        Some(fd) => match ostler_log::adopt_fd(fd) {
            Some(fd) => Some(fd),
            None => {
                eprintln!("ostler log: fatal: -d {fd}: file descriptor {fd} is not open; give the descriptor the supervisor opened for readiness");
                return 100;
            }
        },
    };
    let verbosity = if args.quiet {
        ostler_log::Verbosity::Quiet
    } else if args.verbose {
        ostler_log::Verbosity::Verbose
    } else {
        ostler_log::Verbosity::Normal
    };
    let input = match std::io::stdin().as_fd().try_clone_to_owned() {
        Ok(input) => input,
        Err(e) => {
            eprintln!("ostler log: fatal: unable to use standard input: {e}");
            return 111;
        }
    };
    let options =
        ostler_log::Options { readiness, verbosity, protect: args.protect, line_limit: args.line_limit as usize };
    ostler_log::run(script, input, options)
}

pub fn logs(args: LogsArgs) -> u8 {
    let since = match args.since.as_deref().map(ostler_log::logs::parse_since).transpose() {
        Ok(since) => since,
        Err(e) => {
            eprintln!("ostler logs: fatal: {e}");
            return 100;
        }
    };
    let root = args.dir.unwrap_or_else(ostler_core::paths::log_root);
    let mut dir = ostler_log::logs::log_dir(&args.name, Some(&root));
    // A service whose `log` file names another directory: the service manager knows which.
    if !dir.exists() {
        if let Some(elsewhere) = super::rc::companion_log_dir(&args.name) {
            dir = elsewhere;
        }
    }
    ostler_log::logs::run(ostler_log::logs::LogsOptions { dir, follow: args.follow, lines: args.lines, since })
}

pub fn tai64nlocal(_args: Tai64nlocalArgs) -> u8 {
    ostler_log::tai64nlocal::run()
}
