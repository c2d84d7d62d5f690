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
/// Without -f: ask the running system to stop in order — every service is taken down, every
/// logger drains, then every remaining process is stopped, filesystems are unmounted and the
/// machine powers off (reboots, halts). With -f: sync and do it at once.
#[derive(Args, Debug)]
pub struct PowerArgs {
    /// At once: sync, then reboot(2), skipping the orderly shutdown.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// With -f, do not sync first.
    #[arg(short = 'n')]
    pub no_sync: bool,
}

pub fn init(args: InitArgs) -> u8 {
    ostler_init::stage1::run(args.args, |words| {
        ostler_stage2::run(&ostler_stage2::Options { args: words, ..Default::default() })
    })
}

pub fn stage2(args: Stage2Args) -> u8 {
    ostler_stage2::run(&ostler_stage2::Options {
        etc: args.etc,
        private: args.private,
        scan: args.scan,
        timeout: std::time::Duration::from_secs(args.timeout),
        args: args.args,
    })
}

pub fn power(action: ostler_init::finale::Action, args: PowerArgs) -> u8 {
    if args.force && !args.no_sync {
        nix::unistd::sync();
    }
    ostler_init::finale::request(action, args.force, action.word())
}
