//! Options of the control and query clients: svc, svstat, svwait, svscanctl, spelled as
//! s6's tools spell them (one-letter options, bundled: `-du`).
//!
//! Their command letters are meaningful in command-line order (`svc -du` stops then starts,
//! `svc -ud` the reverse) and may repeat, which a derived struct of flags cannot tell. So each
//! client has a derived struct of its options (the definitions, `--help` and man pages come
//! from it) wrapped in a hand-written `FromArgMatches` that rebuilds the order from clap's
//! argument indices.

use clap::{ArgAction, ArgMatches, Args, FromArgMatches};
use ostler_supervise::client::svstat::{Field, FieldError, MAX_FIELDS};
use ostler_supervise::client::svwait as svwait_client;
use ostler_supervise::client::wait::{Quorum, Target};
use ostler_supervise::client::{exit, svc as svc_client, svscanctl as svscanctl_client, svstat as svstat_client};
use std::path::PathBuf;
use std::time::Duration;

/// The arguments of `ids` in command-line order, as (index, id) pairs, repeats included.
fn in_order<'a>(matches: &ArgMatches, ids: impl IntoIterator<Item = &'a str>) -> Vec<(usize, &'a str)> {
    let mut seen = Vec::new();
    for id in ids {
        if let Some(indices) = matches.indices_of(id) {
            seen.extend(indices.map(|index| (index, id)));
        }
    }
    seen.sort_by_key(|(index, _)| *index);
    seen
}

/// A timeout in milliseconds where 0 means none, as s6's tools read it.
fn millis(ms: u64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms))
}

/// Implements clap's `Args` for a wrapper by delegating the definitions to its derived part.
macro_rules! delegate_args {
    ($wrapper:ty, $derived:ty) => {
        impl Args for $wrapper {
            fn augment_args(cmd: clap::Command) -> clap::Command {
                <$derived>::augment_args(cmd)
            }
            fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
                <$derived>::augment_args_for_update(cmd)
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// svc

/// Send commands to the supervisors of services (s6-svc).
///
/// Each letter option becomes one byte written to DIR/supervise/control, in the order given on
/// the command line: `-du` stops then starts, `-ud` starts then stops. Works with ostler's
/// supervisor and with s6-supervise. Signal letters act only while the service is up.
///
/// Exit status: 0 on success; 100 if a directory has no supervisor running or the usage is
/// wrong; 111 on a system error; with -w, the number of services that could not get there
/// (their supervisor exited, or finish exited 125), or 99 on timeout.
#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct SvcOptions {
    /// Send SIGALRM to the service.
    #[arg(short = 'a', long = "alarm", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    alarm: Vec<bool>,
    /// Send SIGABRT to the service.
    #[arg(short = 'b', long = "abort", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    abort: Vec<bool>,
    /// Send SIGQUIT to the service.
    #[arg(short = 'q', long = "quit", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    quit: Vec<bool>,
    /// Send SIGHUP to the service (often: reload the configuration). Note that -h is this, not
    /// help; use --help for help.
    #[arg(short = 'h', long = "hangup", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    hangup: Vec<bool>,
    /// Send SIGKILL to the service. If it is wanted up, the supervisor restarts it.
    #[arg(short = 'k', long = "kill", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    kill: Vec<bool>,
    /// Send SIGTERM to the service. If it is wanted up, the supervisor restarts it.
    #[arg(short = 't', long = "term", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    term: Vec<bool>,
    /// Send SIGINT to the service.
    #[arg(short = 'i', long = "interrupt", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    interrupt: Vec<bool>,
    /// Send SIGUSR1 to the service.
    #[arg(short = '1', long = "usr1", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    usr1: Vec<bool>,
    /// Send SIGUSR2 to the service.
    #[arg(short = '2', long = "usr2", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    usr2: Vec<bool>,
    /// Send SIGWINCH to the service.
    #[arg(short = 'y', long = "winch", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    winch: Vec<bool>,
    /// Pause: send SIGSTOP to the service and mark it paused.
    #[arg(short = 'p', long = "pause", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    pause: Vec<bool>,
    /// Continue: send SIGCONT to the service and clear the paused mark.
    #[arg(short = 'c', long = "continue", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    cont: Vec<bool>,
    /// Pause the whole process group of the service (SIGSTOP). Needs s6 2.13 or later, or
    /// ostler's supervisor; older s6 ignores it.
    #[arg(short = 'P', long = "pause-group", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    pause_group: Vec<bool>,
    /// Continue the whole process group of the service (SIGCONT). Needs s6 2.13 or later, or
    /// ostler's supervisor.
    #[arg(short = 'C', long = "continue-group", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    continue_group: Vec<bool>,
    /// Kill the whole process group of the service (SIGKILL). Needs s6 2.13 or later, or
    /// ostler's supervisor.
    #[arg(short = 'K', long = "kill-group", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    kill_group: Vec<bool>,
    /// Restart: send the service its down-signal (SIGTERM unless the down-signal file says
    /// otherwise); it is still wanted up, so the supervisor starts it again.
    #[arg(short = 'r', long = "restart", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    restart: Vec<bool>,
    /// Up: want the service up, and start it now if it is down. It is restarted whenever it
    /// dies.
    #[arg(short = 'u', long = "up", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    up: Vec<bool>,
    /// Up for good: like -u, after removing the service's `down` file, so it also starts up
    /// the next time its supervisor starts.
    #[arg(short = 'U', long = "up-persistent", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    up_persistent: Vec<bool>,
    /// Down: want the service down; if it is up, send it its down-signal then SIGCONT (and
    /// SIGKILL after timeout-kill milliseconds, if that file exists). It is not restarted.
    #[arg(short = 'd', long = "down", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    down: Vec<bool>,
    /// Down for good: like -d, after creating the service's `down` file, so it also stays
    /// down the next time its supervisor starts.
    #[arg(short = 'D', long = "down-persistent", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    down_persistent: Vec<bool>,
    /// Once: want the service down, but start it once now if it is down; it is not restarted
    /// when it dies.
    #[arg(short = 'o', long = "once", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    once: Vec<bool>,
    /// Once, at most: want the service down without touching it; if it is up it keeps running
    /// but is not restarted when it dies.
    #[arg(short = 'O', long = "no-restart", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    no_restart: Vec<bool>,
    /// Mark down: create the `down` file and want the service down, without stopping it.
    #[arg(short = 'Q', long = "mark-down", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    mark_down: Vec<bool>,
    /// Exit: the supervisor exits once the service is down (now if it already is). Combine
    /// with -d to stop the service and its supervisor. A scanner starts a new supervisor at
    /// its next scan.
    #[arg(short = 'x', long = "exit", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    exit: Vec<bool>,
    /// Send this signal through its letter: ALRM, ABRT, QUIT, HUP, KILL, TERM, INT, USR1,
    /// USR2, STOP, CONT or WINCH (with or without SIG, or as a number). Other signals cannot
    /// be sent through a supervisor.
    #[arg(short = 's', long = "signal", value_name = "SIG", action = ArgAction::Append)]
    signal: Vec<String>,
    /// After sending the commands, wait until every service is: u up, U up and ready, d down,
    /// D down with its finish script done, r restarted (down, then up), R restarted and
    /// ready. U and R need a notification-fd file in the service directory; without one,
    /// svc warns and waits for u or r instead.
    #[arg(short = 'w', long = "wait", value_name = "STATE",
          value_parser = clap::builder::PossibleValuesParser::new(["u", "U", "d", "D", "r", "R"]))]
    wait: Option<String>,
    /// With -w: give up after this many milliseconds and exit 99. 0, the default, waits
    /// forever.
    #[arg(short = 'T', long = "timeout", value_name = "MS", default_value_t = 0)]
    timeout: u64,
    /// Print help (-h is SIGHUP here).
    #[arg(long = "help", action = ArgAction::Help)]
    help: Option<bool>,
    /// Service directories.
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
}

/// The ids of svc's letter options and the byte each one writes.
const SVC_LETTERS: &[(&str, u8)] = &[
    ("alarm", b'a'),
    ("abort", b'b'),
    ("quit", b'q'),
    ("hangup", b'h'),
    ("kill", b'k'),
    ("term", b't'),
    ("interrupt", b'i'),
    ("usr1", b'1'),
    ("usr2", b'2'),
    ("winch", b'y'),
    ("pause", b'p'),
    ("cont", b'c'),
    ("pause_group", b'P'),
    ("continue_group", b'C'),
    ("kill_group", b'K'),
    ("restart", b'r'),
    ("up", b'u'),
    ("up_persistent", b'U'),
    ("down", b'd'),
    ("down_persistent", b'D'),
    ("once", b'o'),
    ("no_restart", b'O'),
    ("mark_down", b'Q'),
    ("exit", b'x'),
];

/// svc's parsed options, with the letters in command-line order.
#[derive(Debug)]
pub struct SvcArgs {
    options: Box<SvcOptions>,
    /// The letters to write, or why `-s` could not be turned into one.
    letters: Result<Vec<u8>, String>,
}

delegate_args!(SvcArgs, SvcOptions);

impl FromArgMatches for SvcArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let options = Box::new(SvcOptions::from_arg_matches(matches)?);
        let ids = SVC_LETTERS.iter().map(|(id, _)| *id).chain(["signal"]);
        let mut signals = options.signal.iter();
        let letters = in_order(matches, ids)
            .into_iter()
            .map(|(_, id)| match SVC_LETTERS.iter().find(|(known, _)| *known == id) {
                Some((_, letter)) => Ok(*letter),
                None => signal_letter(signals.next().map(String::as_str).unwrap_or_default()),
            })
            .collect();
        Ok(SvcArgs { options, letters })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

fn signal_letter(name: &str) -> Result<u8, String> {
    ostler_core::signame::parse(name).and_then(svc_client::letter_for_signal).ok_or_else(|| {
        format!(
            "-s {name}: a supervisor can only send ALRM, ABRT, QUIT, HUP, KILL, TERM, INT, USR1, USR2, STOP, CONT \
             or WINCH; pick one of those"
        )
    })
}

pub fn svc(args: SvcArgs) -> u8 {
    let letters = match args.letters {
        Ok(letters) => letters,
        Err(message) => {
            eprintln!("ostler svc: {message}");
            return exit::USAGE;
        }
    };
    let options = *args.options;
    let wait = options.wait.as_deref().and_then(|w| w.chars().next()).and_then(Target::from_letter);
    svc_client::run(&svc_client::Options { dirs: options.dirs, letters, wait, timeout: millis(options.timeout) })
}

// ---------------------------------------------------------------------------------------------
// svstat

/// Print the state of a supervised service (s6-svstat).
///
/// Without field options, prints one line such as `up (pid 1234) 56 seconds, ready 55
/// seconds` or `down (exitcode 0) 3 seconds, normally up, want up`, exactly as s6-svstat
/// does. With -o or the field shortcuts, prints the chosen fields separated by spaces, in the
/// order given. Works with ostler's supervisor and with s6-supervise.
///
/// Exit status: 0; 1 if no supervisor runs on DIR; 100 on wrong usage; 111 on a system
/// error.
#[derive(Args, Debug)]
pub struct SvstatOptions {
    /// Print these fields, comma-separated, at most 16 (shortcuts below count too): up,
    /// wantedup, normallyup, ready, paused, pid, exitcode, signal, signum, updownsince,
    /// readysince, updownfor, readyfor. Booleans print true or false; pid, exitcode and signum
    /// print -1 when they do not apply, signal prints NA; the *since fields are TAI64N labels
    /// (@ and 24 hex digits); the *for fields are whole seconds.
    #[arg(short = 'o', long = "fields", value_name = "FIELD,…", action = ArgAction::Append)]
    fields: Vec<String>,
    /// Print the `up` field: true if the service is running (and not in its finish script).
    #[arg(short = 'u', long = "up", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    up: Vec<bool>,
    /// Print the `wantedup` field: true if the supervisor restarts the service when it dies.
    #[arg(short = 'w', long = "wantedup", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    wantedup: Vec<bool>,
    /// Print the `normallyup` field: true if the service directory has no `down` file.
    #[arg(short = 'N', long = "normallyup", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    normallyup: Vec<bool>,
    /// Print the `ready` field: true if the service is up and has notified readiness.
    #[arg(short = 'r', long = "ready", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    ready: Vec<bool>,
    /// Print the `pid` field: the service's pid, or -1 when it is down.
    #[arg(short = 'p', long = "pid", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    pid: Vec<bool>,
    /// Print the `exitcode` field: how the service last exited, or -1 when it is up or was
    /// killed by a signal.
    #[arg(short = 'e', long = "exitcode", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    exitcode: Vec<bool>,
    /// Print the `signal` field: the signal that killed the service (SIGTERM…), or NA.
    #[arg(short = 's', long = "signal", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    signal: Vec<bool>,
    /// Print the `updownfor` field: seconds since the service last went up or down.
    #[arg(short = 't', long = "updownfor", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    updownfor: Vec<bool>,
    /// In the one-line output, print the signal that killed the service as a number
    /// (`down (signal 15)`) instead of a name.
    #[arg(short = 'n', long = "numeric")]
    numeric: bool,
    /// Service directory.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

/// svstat's parsed options, with the fields in command-line order.
#[derive(Debug)]
pub struct SvstatArgs {
    options: Box<SvstatOptions>,
    fields: Result<Vec<Field>, FieldError>,
}

delegate_args!(SvstatArgs, SvstatOptions);

const SVSTAT_SHORTCUTS: &[(&str, char)] = &[
    ("up", 'u'),
    ("wantedup", 'w'),
    ("normallyup", 'N'),
    ("ready", 'r'),
    ("pid", 'p'),
    ("exitcode", 'e'),
    ("signal", 's'),
    ("updownfor", 't'),
];

impl FromArgMatches for SvstatArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let options = Box::new(SvstatOptions::from_arg_matches(matches)?);
        let ids = SVSTAT_SHORTCUTS.iter().map(|(id, _)| *id).chain(["fields"]);
        let mut lists = options.fields.iter();
        let mut fields = Ok(Vec::new());
        for (_, id) in in_order(matches, ids) {
            let more = match SVSTAT_SHORTCUTS.iter().find(|(known, _)| *known == id) {
                Some((_, letter)) => Ok(Field::from_shortcut(*letter).into_iter().collect()),
                None => Field::parse_list(lists.next().map(String::as_str).unwrap_or_default()),
            };
            fields = fields.and_then(|mut all: Vec<Field>| {
                all.extend(more?);
                if all.len() > MAX_FIELDS {
                    return Err(FieldError::TooMany);
                }
                Ok(all)
            });
        }
        Ok(SvstatArgs { options, fields })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

pub fn svstat(args: SvstatArgs) -> u8 {
    let fields = match args.fields {
        Ok(fields) => fields,
        Err(e) => {
            eprintln!("ostler svstat: {e}");
            return exit::USAGE;
        }
    };
    // Invoked as s6-svstat, the line stays s6-svstat's to the byte.
    let as_s6 = std::env::args_os()
        .next()
        .is_some_and(|argv0| std::path::Path::new(&argv0).file_name().is_some_and(|name| name == "s6-svstat"));
    svstat_client::run(&svstat_client::Options {
        dir: args.options.dir,
        fields,
        numeric_signal: args.options.numeric,
        group_usage: !as_s6,
    })
}

// ---------------------------------------------------------------------------------------------
// svwait

/// Wait until services are up, ready, or down (s6-svwait).
///
/// Listens to each service's event fifodir (DIR/event, made if missing, so a service whose
/// supervisor has not started yet can be waited for), reads its status, then waits for events.
/// When several state options are given, the last one counts.
///
/// Exit status: 0 when the wait is over; otherwise the number of services that ended without
/// getting there (their supervisor exited, or finish exited 125 while waiting for up); 99 on
/// timeout; 100 on wrong usage; 111 on a system error (such as a directory that is not
/// supervised).
#[derive(Args, Debug)]
pub struct SvwaitOptions {
    /// Wait until the services are up (the default).
    #[arg(short = 'u', long = "up", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    up: Vec<bool>,
    /// Wait until the services are up and have notified readiness. A service without a
    /// notification-fd file never does, so this waits forever (or until -t) for it.
    #[arg(short = 'U', long = "ready", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    ready: Vec<bool>,
    /// Wait until the services are down.
    #[arg(short = 'd', long = "down", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    down: Vec<bool>,
    /// Wait until the services are down and their finish script is done.
    #[arg(short = 'D', long = "finished", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    finished: Vec<bool>,
    /// Wait until the services have gone down then up again.
    #[arg(short = 'r', long = "restarted", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    restarted: Vec<bool>,
    /// Wait until the services have gone down then up and ready again.
    #[arg(short = 'R', long = "restarted-ready", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    restarted_ready: Vec<bool>,
    /// Wait for all the services (the default).
    #[arg(short = 'a', long = "all", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    all: Vec<bool>,
    /// Wait for any one of the services.
    #[arg(short = 'o', long = "any", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    any: Vec<bool>,
    /// Give up after this many milliseconds and exit 99. 0, the default, waits forever.
    #[arg(short = 't', long = "timeout", value_name = "MS", default_value_t = 0)]
    timeout: u64,
    /// Service directories.
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
}

/// svwait's parsed options; the last state and quorum options win.
#[derive(Debug)]
pub struct SvwaitArgs {
    options: Box<SvwaitOptions>,
    target: Target,
    quorum: Quorum,
}

delegate_args!(SvwaitArgs, SvwaitOptions);

impl FromArgMatches for SvwaitArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let options = Box::new(SvwaitOptions::from_arg_matches(matches)?);
        let targets = [
            ("up", Target::Up),
            ("ready", Target::UpReady),
            ("down", Target::Down),
            ("finished", Target::DownReady),
            ("restarted", Target::Restarted),
            ("restarted_ready", Target::RestartedReady),
        ];
        let target = in_order(matches, targets.iter().map(|(id, _)| *id))
            .last()
            .and_then(|(_, id)| targets.iter().find(|(known, _)| known == id))
            .map_or(Target::Up, |(_, target)| *target);
        let quorum = match in_order(matches, ["all", "any"]).last() {
            Some((_, "any")) => Quorum::Any,
            _ => Quorum::All,
        };
        Ok(SvwaitArgs { options, target, quorum })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

pub fn svwait(args: SvwaitArgs) -> u8 {
    svwait_client::run(&svwait_client::Options {
        dirs: args.options.dirs,
        target: args.target,
        quorum: args.quorum,
        timeout: millis(args.options.timeout),
    })
}

// ---------------------------------------------------------------------------------------------
// svscanctl

/// Send commands to a scanner (s6-svscanctl).
///
/// Each letter option becomes one byte written to SCANDIR/.s6-svscan/control, in the order
/// given. Works with ostler's scanner and with s6-svscan.
///
/// Exit status: 0 on success; 100 if no scanner runs on SCANDIR or the usage is wrong; 111
/// on a system error.
#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct SvscanctlOptions {
    /// Reap: collect dead children now (zombies).
    #[arg(short = 'z', long = "reap", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    reap: Vec<bool>,
    /// Scan now: start supervisors for new service directories.
    #[arg(short = 'a', long = "scan", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    scan: Vec<bool>,
    /// Abort: run the scanner's finish program at once, without stopping the services or
    /// waiting for them. For emergencies.
    #[arg(short = 'b', long = "abort", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    abort: Vec<bool>,
    /// Scan and prune: like -a then -n. Note that -h is this, not help; use --help for help.
    #[arg(short = 'h', long = "rescan-prune", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    rescan_prune: Vec<bool>,
    /// Interrupt: same as -t (what SIGINT does to a scanner).
    #[arg(short = 'i', long = "interrupt", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    interrupt: Vec<bool>,
    /// Terminate: stop every service (loggers last, so no log is lost), wait for their
    /// supervisors, then run the scanner's finish program or exit.
    #[arg(short = 't', long = "terminate", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    terminate: Vec<bool>,
    /// Quit: like -t, but loggers are stopped at once with SIGTERM too.
    #[arg(short = 'q', long = "quit", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    quit: Vec<bool>,
    /// Prune: stop the supervisors of services that have left the scan directory (their
    /// loggers get SIGHUP, so they finish reading first).
    #[arg(short = 'n', long = "prune", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    prune: Vec<bool>,
    /// Prune hard: like -n, but their loggers get SIGTERM.
    #[arg(short = 'N', long = "prune-hard", num_args = 0, default_missing_value = "true", action = ArgAction::Append)]
    prune_hard: Vec<bool>,
    /// Print help (-h is scan-and-prune here).
    #[arg(long = "help", action = ArgAction::Help)]
    help: Option<bool>,
    /// Scan directory.
    #[arg(value_name = "SCANDIR")]
    dir: PathBuf,
}

const SVSCANCTL_LETTERS: &[(&str, u8)] = &[
    ("reap", b'z'),
    ("scan", b'a'),
    ("abort", b'b'),
    ("rescan_prune", b'h'),
    ("interrupt", b'i'),
    ("terminate", b't'),
    ("quit", b'q'),
    ("prune", b'n'),
    ("prune_hard", b'N'),
];

/// svscanctl's parsed options, with the letters in command-line order.
#[derive(Debug)]
pub struct SvscanctlArgs {
    options: Box<SvscanctlOptions>,
    letters: Vec<u8>,
}

delegate_args!(SvscanctlArgs, SvscanctlOptions);

impl FromArgMatches for SvscanctlArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let options = Box::new(SvscanctlOptions::from_arg_matches(matches)?);
        let letters = in_order(matches, SVSCANCTL_LETTERS.iter().map(|(id, _)| *id))
            .into_iter()
            .filter_map(|(_, id)| SVSCANCTL_LETTERS.iter().find(|(known, _)| *known == id).map(|(_, l)| *l))
            .collect();
        Ok(SvscanctlArgs { options, letters })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

pub fn svscanctl(args: SvscanctlArgs) -> u8 {
    svscanctl_client::run(&svscanctl_client::Options { dir: args.options.dir, letters: args.letters })
}
