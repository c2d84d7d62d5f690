//! Options of the scanner and the supervisor.

use clap::Args;
use std::path::PathBuf;

/// Supervise one service directory (s6-supervise's role).
///
/// Runs DIR/run (with the service's name as its argument) in its own session, restarts it when
/// it dies, runs DIR/finish after each death, and obeys the one-letter commands written to
/// DIR/supervise/control (see `ostler svc`). Keeps DIR/supervise/status in s6's exact format and
/// posts events to DIR/event, so s6's tools and ostler's work with it alike.
///
/// Signals: TERM takes the service down then exits; HUP exits once the service is down; QUIT
/// exits at once and leaves the service running; INT sends SIGINT to the service's process
/// group, then exits. Exit codes: 0 after an exit command, 100 when another supervisor already
/// runs on DIR, 111 on a system failure.
#[derive(Args, Debug)]
pub struct SuperviseArgs {
    /// The service directory: holds `run`, and optionally `finish`, `down`, `notification-fd`,
    /// `timeout-kill`, `timeout-finish`, `max-death-tally`, `down-signal`, `lock-fd`.
    pub dir: PathBuf,
}

/// Scan a directory and supervise every service in it (s6-svscan's role).
///
/// Every subdirectory of DIR (or symlink to one) whose name does not start with a dot is a
/// service; when it has a `log` subdirectory, that is supervised too and reads what the service
/// writes on its stdout, through a pipe the scanner holds so that neither side's restart loses
/// a byte. The scanner rescans when told (`ostler svscanctl -a`, SIGALRM, SIGHUP), never by
/// polling unless -t is given, and reaps every child, orphans included.
///
/// Supervisors run inside the scanner's process by default (one process for the whole tree);
/// --supervisor runs one supervisor process per service instead, as s6-svscan does.
///
/// Control letters on DIR/.s6-svscan/control (see `ostler svscanctl`): z a b h i t q n N.
/// Signals: ALRM rescans; ABRT execs the finish program at once; HUP rescans and prunes; INT and
/// TERM terminate; QUIT quits. For HUP, INT, TERM, QUIT, USR1, USR2, PWR and WINCH, an
/// executable DIR/.s6-svscan/SIG<NAME> is run instead of the built-in action. On exit the
/// scanner execs DIR/.s6-svscan/finish when it exists; on a fatal error, DIR/.s6-svscan/crash.
#[derive(Args, Debug)]
pub struct SvscanArgs {
    /// Also rescan every MS milliseconds (0, the default, means only when told).
    #[arg(short = 't', value_name = "MS", default_value_t = 0)]
    pub rescan: u64,

    /// Supervise at most MAX services; a service and its logger count as one.
    #[arg(short = 'c', value_name = "MAX", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(2..=90000))]
    pub max: u64,

    /// Write a newline to file descriptor FD once the first scan is done, then close it.
    #[arg(short = 'd', value_name = "FD", value_parser = clap::value_parser!(i32).range(3..))]
    pub readiness_fd: Option<i32>,

    /// Run PROGRAM NAME (in the scan directory) as a separate supervisor process per service,
    /// e.g. `s6-supervise` or `ostler supervise`'s path, instead of supervising in-process.
    #[arg(long = "supervisor", value_name = "PROGRAM")]
    pub supervisor: Option<PathBuf>,

    /// The scan directory (default: the current directory).
    pub dir: Option<PathBuf>,
}

pub fn supervise(args: SuperviseArgs) -> u8 {
    ostler_supervise::supervise::run(&args.dir, Some(super::builtin_services))
}

pub fn svscan(args: SvscanArgs) -> u8 {
    let dir = args.dir.unwrap_or_else(|| PathBuf::from("."));
    ostler_supervise::scan::run(ostler_supervise::scan::Options {
        dir,
        rescan: (args.rescan > 0).then(|| std::time::Duration::from_millis(args.rescan)),
        max_services: args.max as usize,
        readiness_fd: args.readiness_fd,
        supervisor_program: args.supervisor,
        builtins: Some(super::builtin_services),
    })
}

/// Run a program as a user (s6-setuidgid's role): its uid, its group as the only group, then
/// exec. A service's run uses it to drop root, e.g. `exec ostler setuidgid log ostler log …`.
#[derive(clap::Args, Debug)]
pub struct SetuidgidArgs {
    /// The user (a name from /etc/passwd).
    pub user: String,
    /// The program and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub program: Vec<String>,
}

pub fn setuidgid(args: SetuidgidArgs) -> u8 {
    ostler_supervise::setuidgid::run(&args.user, &args.program)
}

/// Run a program with fewer capabilities (and, with --user, as a user that keeps the ambient
/// ones: a daemon binding port 80 without root). The same code applies a service's
/// `capabilities`, `ambient-capabilities`, `no-new-privs` and `user` files.
#[derive(clap::Args, Debug)]
pub struct CapsArgs {
    /// Keep only these in the bounding set (comma or space separated names such as
    /// cap_net_bind_service; `~LIST` keeps all but those; empty: none).
    #[arg(long, value_name = "LIST")]
    pub bounding: Option<String>,
    /// Raise these into the ambient set, so they survive the change of user and the exec.
    #[arg(long, value_name = "LIST")]
    pub ambient: Option<String>,
    /// Become this user (NAME or NAME:GROUP, or numbers) first, keeping the ambient set.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Set no_new_privs: no setuid bit or file capability can raise the program's privileges.
    #[arg(long)]
    pub no_new_privs: bool,
    /// The program and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub program: Vec<String>,
}

pub fn caps(args: CapsArgs) -> u8 {
    use ostler_supervise::privileges::{caps, chain, Declared};
    let list = |text: &str| caps::parse(&text.replace(',', " "));
    let parsed = (args.bounding.as_deref().map(list).transpose(), args.ambient.as_deref().map(list).transpose());
    let (bounding, ambient) = match parsed {
        (Ok(bounding), Ok(ambient)) => (bounding, ambient.unwrap_or(0)),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("ostler caps: fatal: {e}");
            return 100;
        }
    };
    let declared =
        Declared { user: args.user, bounding, ambient, no_new_privs: args.no_new_privs, ..Declared::default() };
    chain::exec("ostler caps", &declared, &args.program)
}

/// Run a program with lower soft resource limits (s6-softlimit's role and flags): each value a
/// number, `infinity`, or `=` (as high as the hard limit); a value above the hard limit is
/// lowered to it. A service's `limits` file sets soft and hard limits without this exec.
#[derive(clap::Args, Debug)]
pub struct LimitArgs {
    /// Address space (bytes).
    #[arg(short = 'a', long = "as", value_name = "N")]
    pub address_space: Option<String>,
    /// Core file size (bytes).
    #[arg(short = 'c', long, value_name = "N")]
    pub core: Option<String>,
    /// Data segment (bytes).
    #[arg(short = 'd', long, value_name = "N")]
    pub data: Option<String>,
    /// File size (bytes).
    #[arg(short = 'f', long, value_name = "N")]
    pub fsize: Option<String>,
    /// Locked memory (bytes).
    #[arg(short = 'l', long, value_name = "N")]
    pub memlock: Option<String>,
    /// Data, stack, locked memory and address space at once.
    #[arg(short = 'm', long, value_name = "N")]
    pub memory: Option<String>,
    /// Open files.
    #[arg(short = 'o', long, value_name = "N")]
    pub nofile: Option<String>,
    /// Processes of the user.
    #[arg(short = 'p', long, value_name = "N")]
    pub nproc: Option<String>,
    /// Resident set size (bytes).
    #[arg(short = 'r', long, value_name = "N")]
    pub rss: Option<String>,
    /// Stack (bytes).
    #[arg(short = 's', long, value_name = "N")]
    pub stack: Option<String>,
    /// CPU time (seconds).
    #[arg(short = 't', long, value_name = "N")]
    pub cpu: Option<String>,
    /// The program and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub program: Vec<String>,
}

pub fn limit(args: LimitArgs) -> u8 {
    use ostler_supervise::privileges::{chain, limits, Declared};
    let given = [
        ('a', &args.address_space),
        ('c', &args.core),
        ('d', &args.data),
        ('f', &args.fsize),
        ('l', &args.memlock),
        ('m', &args.memory),
        ('o', &args.nofile),
        ('p', &args.nproc),
        ('r', &args.rss),
        ('s', &args.stack),
        ('t', &args.cpu),
    ];
    let mut declared = Declared::default();
    for (flag, value) in given {
        let Some(value) = value else { continue };
        match limits::from_flag(flag, value) {
            Ok(more) => declared.limits.extend(more),
            Err(e) => {
                eprintln!("ostler limit: fatal: {e}");
                return 100;
            }
        }
    }
    chain::exec("ostler limit", &declared, &args.program)
}

/// Run a program with variables from a directory (s6-envdir's role and format): a file per
/// variable; its first line, trailing blanks removed, NULs as newlines; an empty file unsets
/// the variable. A service's `environment/` directory does the same without this exec.
#[derive(clap::Args, Debug)]
pub struct EnvdirArgs {
    /// A missing directory changes nothing (the default: it is an error).
    #[arg(short = 'I')]
    pub loose: bool,
    /// Strict: a missing directory is an error (the default).
    #[arg(short = 'i', conflicts_with = "loose")]
    pub strict: bool,
    /// The whole file, newlines included (less the last one), rather than its first line.
    #[arg(short = 'f')]
    pub verbatim: bool,
    /// Do not chomp: keep trailing blanks (or, with -f, the final newline).
    #[arg(short = 'n')]
    pub no_chomp: bool,
    /// The directory.
    pub dir: std::path::PathBuf,
    /// The program and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub program: Vec<String>,
}

pub fn envdir(args: EnvdirArgs) -> u8 {
    use ostler_supervise::privileges::{chain, envdir::Mode, Declared};
    let mode = Mode { verbatim: args.verbatim, no_chomp: args.no_chomp };
    if let Err(code) = chain::envdir("ostler envdir", &args.dir, args.loose, mode) {
        return code;
    }
    chain::exec("ostler envdir", &Declared::default(), &args.program)
}
