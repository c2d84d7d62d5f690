//! Options of stage 1, stage 2 and the power commands.

use clap::Args;
use std::path::PathBuf;

/// Stage 1: start the system as PID 1 (installed as /sbin/init).
///
/// Mounts /proc, /sys, /dev, /dev/pts, /dev/shm and /run where nothing is mounted yet, builds
/// /run/ostler and the scan directory /run/service with the catch-all logger, forks stage 2,
/// and becomes the scanner. Kernel command-line words: `quiet`; `ostler.debug` (print each
/// step); `emergency`, `single` or `ostler.emergency` (a root shell on the console before
/// stage 2). Other plain words are passed to stage 2 and rc.init.
///
/// Not as PID 1: `init 0` powers off and `init 6` reboots the running system.
///
/// In a container (`--container`, a command after `--`, or found by itself: a PID namespace
/// other than the kernel's first, `container=` in the environment, /run/.containerenv,
/// /.dockerenv; OSTLER_CONTAINER=1|0 decides when set): the container's init. The services of
/// /etc/ostler/sv (its `default` bundle) come up, then CMD with the container's terminal;
/// signals go to CMD; the stop signal (SIGTERM) stops CMD, then the services in reverse
/// dependency order, then everything left, KILLed at the grace. Exits with CMD's status
/// (128+N when killed by signal N; 127 not found, 126 not executable), 0 without CMD.
/// Works as PID 1 or not (then as a subreaper), as any user, on a read-only root.
#[derive(Args, Debug)]
pub struct InitArgs {
    /// Be the init of a container, even when nothing says this is one.
    #[arg(long)]
    pub container: bool,
    /// Container: milliseconds the whole stop may take before what is left is KILLed
    /// [env: OSTLER_GRACE_MS, S6_KILL_GRACETIME].
    #[arg(long, value_name = "MS")]
    pub grace: Option<u64>,
    /// Container: the signal that means stop [env: OSTLER_STOP_SIGNAL; default TERM].
    #[arg(long, value_name = "SIG")]
    pub stop_signal: Option<String>,
    /// Container: send signals to CMD's process group, not CMD alone, as `tini -g`
    /// [env: OSTLER_PROCESS_GROUP=1].
    #[arg(short = 'g', long)]
    pub process_group: bool,
    /// Container: start CMD once these services (and what they depend on) are up and ready,
    /// not the whole `default` bundle; stage 2 goes on with the rest [env: OSTLER_WAIT_FOR,
    /// names separated by commas or spaces].
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub wait_for: Vec<String>,
    /// Container: the longest the services may take to come up before CMD starts, in
    /// milliseconds; 0 = no limit [env: OSTLER_WAIT_MAX_MS, S6_CMD_WAIT_FOR_SERVICES_MAXTIME].
    #[arg(long, value_name = "MS")]
    pub wait_max: Option<u64>,
    /// Container: when a service fails or the wait is over, `go-on` (start CMD, the default) or
    /// `stop` the container with exit code 1 [env: OSTLER_ON_FAILURE].
    #[arg(long, value_name = "WHAT", value_parser = ["go-on", "stop"])]
    pub on_failure: Option<String>,
    /// Words from the kernel, or `0` / `6` when not PID 1. In a container, CMD when no `--`
    /// comes first (as s6-overlay's `/init` takes it): every word from the first on.
    #[arg(allow_hyphen_values = true)]
    pub args: Vec<String>,
    /// Container: the main program and its arguments.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<std::ffi::OsString>,
}

/// Stage 2: bring the system up once the scanner runs.
///
/// Runs /etc/ostler/rc.init if it exists, then the `default` bundle of /etc/ostler/sv:
/// oneshots run their `up`; longruns are copied to /run/ostler/sv, linked into /run/service and
/// started with one rescan. Prints a line per service and `ostler: boot complete in N ms`.
/// Exits 1 when anything failed (the rest is still brought up).
#[derive(Args, Debug)]
pub struct Stage2Args {
    /// Configuration directory (rc.init and sv/).
    #[arg(long, default_value = "/etc/ostler")]
    pub etc: PathBuf,
    /// A definitions directory, instead of ETC/sv (again for more: they are read together).
    /// Without it, OSTLER_DEFS=A:B when set.
    #[arg(long, value_name = "DIR")]
    pub defs: Vec<PathBuf>,
    /// Private runtime directory (live copies go into sv/).
    #[arg(long, default_value = "/run/ostler")]
    pub private: PathBuf,
    /// The scan directory of the running scanner.
    #[arg(long, default_value = "/run/service")]
    pub scan: PathBuf,
    /// Seconds to wait for the longruns to be up.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Words passed on by stage 1 (from the kernel command line); given to rc.init.
    pub args: Vec<String>,
}

/// Power off, reboot or halt the machine.
///
/// Without -f: a wall message, then the shutdown daemon is asked to stop the system in
/// order — every service taken down (SIGKILL after the grace), /etc/ostler/rc.shutdown, every
/// logger drained, every remaining process stopped, filesystems unmounted, / read-only,
/// /etc/ostler/rc.shutdown.final — and to power off (reboot, halt). Each step is reported on
/// the console. With -f: sync and do it at once.
#[derive(Args, Debug)]
pub struct PowerArgs {
    /// At once: sync, then reboot(2), skipping the orderly shutdown.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// With -f, do not sync first.
    #[arg(short = 'n')]
    pub no_sync: bool,
    /// Only write the wtmp record, do not stop anything. ostler keeps no wtmp, so this does
    /// nothing (accepted for scripts written for sysvinit and s6-linux-init).
    #[arg(short = 'w')]
    pub wtmp_only: bool,
    /// No wall message to logged-in terminals.
    #[arg(short = 'W')]
    pub no_wall: bool,
}

/// Bring the system down at a given time, with a message to every terminal.
///
/// TIME is `now`, `+MINUTES` (or `MINUTES`), or `HH:MM` (local time, the next time the clock
/// shows it). A later request replaces a pending one; `shutdown -c` cancels it. The shutdown
/// itself is `poweroff`'s (see poweroff --help), carried out by the shutdown daemon when the
/// time comes.
#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct ShutdownArgs {
    /// Print help (-h means halt here, as in every shutdown).
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Halt at the end.
    #[arg(short = 'h', group = "action")]
    pub halt: bool,
    /// Power off at the end (the default).
    #[arg(short = 'p', group = "action")]
    pub poweroff: bool,
    /// Reboot at the end.
    #[arg(short = 'r', group = "action")]
    pub reboot: bool,
    /// Only send the warning to every terminal; shut nothing down.
    #[arg(short = 'k', group = "action")]
    pub warn_only: bool,
    /// Cancel the pending shutdown (TIME is then not needed).
    #[arg(short = 'c', conflicts_with = "action")]
    pub cancel: bool,
    /// Seconds between SIGTERM and SIGKILL, for services and then for every process left
    /// (at most 300).
    #[arg(short = 't', value_name = "SECONDS", default_value_t = 3, value_parser = clap::value_parser!(u64).range(0..=300))]
    pub grace: u64,
    /// When: now, +MINUTES, or HH:MM.
    #[arg(required_unless_present = "cancel")]
    pub time: Option<String>,
    /// The message sent to every terminal with the warning.
    #[arg(trailing_var_arg = true)]
    pub message: Vec<String>,
}

pub fn init(args: InitArgs) -> u8 {
    use ostler_init::container;
    let telinit = matches!(args.args.first().map(String::as_str), Some("0" | "6"));
    let told_not = std::env::var("OSTLER_CONTAINER").as_deref() == Ok("0");
    let container_mode = args.container
        || (!told_not && !args.command.is_empty())
        || (!telinit && container::detect::find().is_container());
    if container_mode {
        // Stage 2's figures count from here, not from the machine's boot.
        if let Some(ms) = ostler_stage2::boottime_ms() {
            std::env::set_var(ostler_stage2::STARTED_VARIABLE, ms.to_string());
        }
        return match container_options(&args) {
            Ok(options) => {
                container::run(&options, container::Hooks { stage2: container_stage2, ready: super::rc::ready_now })
            }
            Err(e) => {
                eprintln!("ostler init: {e}");
                2
            }
        };
    }
    ostler_init::stage1::run(args.args, |words| {
        ostler_stage2::run(&ostler_stage2::Options { args: words, ..Default::default() })
    })
}

/// Stage 2 of a container: its runtime area, its verbosity.
pub fn container_stage2(defs: Vec<std::path::PathBuf>, private: std::path::PathBuf, scan: std::path::PathBuf) -> u8 {
    // The init sets it from s6-overlay's S6_VERBOSITY (2: a line per service).
    let verbose = std::env::var("OSTLER_VERBOSITY").map_or(true, |v| v.trim().parse().unwrap_or(2) >= 2);
    ostler_stage2::run(&ostler_stage2::Options { defs, private, scan, verbose, ..Default::default() })
}

pub fn stage2(args: Stage2Args) -> u8 {
    ostler_stage2::run(&ostler_stage2::Options {
        etc: args.etc,
        defs: args.defs,
        private: args.private,
        scan: args.scan,
        timeout: std::time::Duration::from_secs(args.timeout),
        args: args.args,
        verbose: true,
    })
}

pub fn power(action: ostler_shutdown::Action, args: PowerArgs) -> u8 {
    let options = ostler_shutdown::client::PowerOptions {
        force: args.force,
        no_sync: args.no_sync,
        wtmp_only: args.wtmp_only,
        no_wall: args.no_wall,
    };
    ostler_shutdown::client::power(action, options)
}

pub fn shutdown(args: ShutdownArgs) -> u8 {
    use ostler_shutdown::Action;
    let action = match (args.halt, args.reboot, args.warn_only) {
        (true, _, _) => Some(Action::Halt),
        (_, true, _) => Some(Action::Reboot),
        (_, _, true) => None,
        _ => Some(Action::Poweroff),
    };
    ostler_shutdown::client::shutdown(&ostler_shutdown::client::ShutdownOptions {
        action,
        cancel: args.cancel,
        grace: std::time::Duration::from_secs(args.grace),
        time: args.time.unwrap_or_else(|| "now".into()),
        message: args.message.join(" "),
    })
}

/// The container's options: flags first, then the environment (ostler's names, then
/// s6-overlay's where they mean the same).
fn container_options(args: &InitArgs) -> Result<ostler_init::container::Options, String> {
    let env = |names: &[&str]| names.iter().find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()));
    let millis = |flag: Option<u64>, names: &[&str], what: &str| -> Result<Option<u64>, String> {
        match (flag, env(names)) {
            (Some(ms), _) => Ok(Some(ms)),
            (None, Some(text)) => text
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| format!("{}={text:?} is not a number of milliseconds ({what}); fix it", names[0])),
            (None, None) => Ok(None),
        }
    };
    let grace = millis(args.grace, &["OSTLER_GRACE_MS", "S6_KILL_GRACETIME"], "the grace")?.unwrap_or(5000);
    let wait_max = millis(args.wait_max, &["OSTLER_WAIT_MAX_MS", "S6_CMD_WAIT_FOR_SERVICES_MAXTIME"], "the wait")?
        .filter(|&ms| ms > 0);
    let wait_for = match args.wait_for.is_empty() {
        false => args.wait_for.clone(),
        true => env(&["OSTLER_WAIT_FOR"])
            .map(|v| v.split([',', ' ']).filter(|n| !n.is_empty()).map(str::to_string).collect())
            .unwrap_or_default(),
    };
    let signal_text =
        args.stop_signal.clone().or_else(|| env(&["OSTLER_STOP_SIGNAL"])).unwrap_or_else(|| "TERM".into());
    let stop_signal = ostler_core::signame::parse(&signal_text)
        .ok_or_else(|| format!("{signal_text:?} is not a signal name or number; use e.g. TERM, INT or 15"))?;
    let on_failure = args.on_failure.clone().or_else(|| env(&["OSTLER_ON_FAILURE"]));
    let stop_on_failure = match on_failure.as_deref() {
        None | Some("go-on") => env(&["S6_BEHAVIOUR_IF_STAGE2_FAILS"]).as_deref() == Some("2"),
        Some("stop") => true,
        Some(other) => return Err(format!("OSTLER_ON_FAILURE={other:?}: use go-on or stop")),
    };
    // `/init CMD…` (an image's ENTRYPOINT ["/init"] with its CMD): the words are CMD.
    let command = match args.command.is_empty() {
        true => args.args.iter().map(std::ffi::OsString::from).collect(),
        false => args.command.clone(),
    };
    Ok(ostler_init::container::Options {
        command,
        grace: std::time::Duration::from_millis(grace),
        stop_signal,
        process_group: args.process_group || env(&["OSTLER_PROCESS_GROUP"]).as_deref() == Some("1"),
        wait_for,
        wait_max: wait_max.map(std::time::Duration::from_millis),
        stop_on_failure,
        instance: None,
    })
}
