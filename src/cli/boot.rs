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
#[derive(Args, Debug)]
pub struct InitArgs {
    /// Words from the kernel, or `0` / `6` when not PID 1.
    #[arg(allow_hyphen_values = true)]
    pub args: Vec<String>,
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
    ostler_init::stage1::run(args.args, |words| {
        ostler_stage2::run(&ostler_stage2::Options { args: words, ..Default::default() })
    })
}

pub fn stage2(args: Stage2Args) -> u8 {
    ostler_stage2::run(&ostler_stage2::Options {
        etc: args.etc,
        defs: args.defs,
        private: args.private,
        scan: args.scan,
        timeout: std::time::Duration::from_secs(args.timeout),
        args: args.args,
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
