//! The command line: every subcommand's options (clap derive), and the dispatch to the crate
//! that does the work. `ostler man DIR` writes a man page per subcommand from these same
//! definitions.

mod analyze;
mod boot;
mod clients;
mod completions;
mod image;
mod import_unit;
mod instance;
mod log;
mod man;
mod mount;
mod overlay;
mod rc;
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
    Setuidgid(supervision::SetuidgidArgs),
    Caps(supervision::CapsArgs),
    Limit(supervision::LimitArgs),
    Envdir(supervision::EnvdirArgs),
    Svc(clients::SvcArgs),
    Svstat(clients::SvstatArgs),
    Svwait(clients::SvwaitArgs),
    Svscanctl(clients::SvscanctlArgs),
    Log(log::LogArgs),
    Logs(log::LogsArgs),
    Tai64nlocal(log::Tai64nlocalArgs),
    Init(boot::InitArgs),
    Stage2(boot::Stage2Args),
    Analyze(analyze::AnalyzeArgs),
    Poweroff(boot::PowerArgs),
    Reboot(boot::PowerArgs),
    Halt(boot::PowerArgs),
    Shutdown(boot::ShutdownArgs),
    #[command(name = "mount-all")]
    MountAll(mount::MountAllArgs),
    #[command(name = "umount-all")]
    UmountAll(mount::UmountAllArgs),
    /// The catch-all logger of stage 1 (started by the scanner as the `ostler-log` service).
    #[command(hide = true)]
    CatchAll,
    /// The shutdown daemon (started by the scanner as the `ostler-shutdownd` service).
    #[command(hide = true)]
    Shutdownd,
    /// A scanner diversion of PID 1 (`/run/service/.s6-svscan/NAME`).
    #[command(hide = true)]
    Diversion {
        name: String,
    },
    /// A container service's logger: its lines to standard output, led by `NAME: `.
    #[command(hide = true)]
    Mark {
        name: String,
    },
    Rc(rc::RcArgs),
    #[command(name = "s6-rc")]
    S6Rc(rc::S6RcArgs),
    Service(rc::ServiceArgs),
    Ready(rc::ReadyArgs),
    #[command(name = "policy-rc.d")]
    PolicyRcD(rc::PolicyRcArgs),
    Image(image::ImageArgs),
    #[command(name = "import-unit")]
    ImportUnit(import_unit::ImportUnitArgs),
    Hosted(instance::HostedArgs),
    User(instance::UserArgs),
    Man(man::ManArgs),
    Completions(completions::CompletionsArgs),
    #[command(name = "with-contenv")]
    WithContenv(overlay::WithContenvArgs),
    Printcontenv(overlay::PrintcontenvArgs),
    #[command(name = "s6-overlay")]
    S6Overlay(overlay::S6OverlayArgs),
}

/// Parses a command line (argv[0] already turned into a subcommand).
pub fn parse(argv: &[OsString]) -> Result<Command, clap::Error> {
    /// Each subcommand by its name, parsed with a tree of its own (see [`only`]).
    macro_rules! by_name {
        ($sub:expr, $( $name:literal => $variant:ident($args:ty) ),* $(,)?) => {
            match $sub {
                $( Some($name) => only::<$args>($name, argv).map(Command::$variant), )*
                // No subcommand, an unknown one, `--help`, or a hidden one: the whole tree.
                _ => Ostler::try_parse_from(argv).map(|ostler| ostler.command),
            }
        };
    }
    by_name!(argv.get(1).and_then(|sub| sub.to_str()),
        "svscan" => Svscan(supervision::SvscanArgs),
        "supervise" => Supervise(supervision::SuperviseArgs),
        "setuidgid" => Setuidgid(supervision::SetuidgidArgs),
        "caps" => Caps(supervision::CapsArgs),
        "limit" => Limit(supervision::LimitArgs),
        "envdir" => Envdir(supervision::EnvdirArgs),
        "svc" => Svc(clients::SvcArgs),
        "svstat" => Svstat(clients::SvstatArgs),
        "svwait" => Svwait(clients::SvwaitArgs),
        "svscanctl" => Svscanctl(clients::SvscanctlArgs),
        "log" => Log(log::LogArgs),
        "logs" => Logs(log::LogsArgs),
        "tai64nlocal" => Tai64nlocal(log::Tai64nlocalArgs),
        "init" => Init(boot::InitArgs),
        "stage2" => Stage2(boot::Stage2Args),
        "analyze" => Analyze(analyze::AnalyzeArgs),
        "poweroff" => Poweroff(boot::PowerArgs),
        "reboot" => Reboot(boot::PowerArgs),
        "halt" => Halt(boot::PowerArgs),
        "shutdown" => Shutdown(boot::ShutdownArgs),
        "mount-all" => MountAll(mount::MountAllArgs),
        "umount-all" => UmountAll(mount::UmountAllArgs),
        "rc" => Rc(rc::RcArgs),
        "s6-rc" => S6Rc(rc::S6RcArgs),
        "service" => Service(rc::ServiceArgs),
        "ready" => Ready(rc::ReadyArgs),
        "policy-rc.d" => PolicyRcD(rc::PolicyRcArgs),
        "image" => Image(image::ImageArgs),
        "import-unit" => ImportUnit(import_unit::ImportUnitArgs),
        "hosted" => Hosted(instance::HostedArgs),
        "user" => User(instance::UserArgs),
        "man" => Man(man::ManArgs),
        "completions" => Completions(completions::CompletionsArgs),
        "with-contenv" => WithContenv(overlay::WithContenvArgs),
        "printcontenv" => Printcontenv(overlay::PrintcontenvArgs),
        "s6-overlay" => S6Overlay(overlay::S6OverlayArgs),
    )
}

/// Parses `ostler NAME …` with a tree that holds only subcommand `NAME`, made as the whole
/// tree makes it. Building the whole tree (every subcommand's every option) is most of the
/// work of a short-lived ostler — a third of `ostler rc change`'s instructions, ~60 fresh heap
/// pages — and a boot starts ostler a few times, scripts calling `s6-svc` many more.
fn only<A: clap::Args + clap::FromArgMatches>(name: &'static str, argv: &[OsString]) -> Result<A, clap::Error> {
    let top = clap::Command::new("ostler")
        .version(env!("CARGO_PKG_VERSION"))
        .propagate_version(true)
        .subcommand_required(true)
        .subcommand(A::augment_args(clap::Command::new(name)));
    let mut top = std::mem::ManuallyDrop::new(top);
    let matches = std::mem::ManuallyDrop::new(top.try_get_matches_from_mut(argv)?);
    // Neither the tree nor the matches are dropped: freeing them, piece by piece, was an
    // eighth of a container init's instructions (`init --container -- true`), for a few
    // kilobytes that a short command gives back at exit anyway and a long one never misses.
    match matches.subcommand() {
        Some((_, matches)) => A::from_arg_matches(matches),
        None => Err(clap::Error::new(clap::error::ErrorKind::MissingSubcommand)),
    }
}

/// Runs one parsed command; the result is the process's exit code.
pub fn run(command: Command) -> u8 {
    if prints_for_a_reader(&command) {
        // Rust ignores SIGPIPE, so `ostler rc list | head -1` met a closed pipe as a write
        // error, and println!'s panic aborted the process. A command whose output is read by
        // another dies of the signal as any Unix tool does. The daemons keep ignoring it: a
        // logger or PID 1 must survive a reader that went away.
        // SAFETY: single-threaded here; SIG_DFL is the ordinary disposition.
        let _ = unsafe { nix::sys::signal::signal(nix::sys::signal::SIGPIPE, nix::sys::signal::SigHandler::SigDfl) };
    }
    match command {
        Command::Svscan(args) => supervision::svscan(args),
        Command::Supervise(args) => supervision::supervise(args),
        Command::Setuidgid(args) => supervision::setuidgid(args),
        Command::Caps(args) => supervision::caps(args),
        Command::Limit(args) => supervision::limit(args),
        Command::Envdir(args) => supervision::envdir(args),
        Command::Svc(args) => clients::svc(args),
        Command::Svstat(args) => clients::svstat(args),
        Command::Svwait(args) => clients::svwait(args),
        Command::Svscanctl(args) => clients::svscanctl(args),
        Command::Log(args) => log::log(args),
        Command::Logs(args) => log::logs(args),
        Command::Tai64nlocal(args) => log::tai64nlocal(args),
        Command::Init(args) => boot::init(args),
        Command::Stage2(args) => boot::stage2(args),
        Command::Analyze(args) => analyze::run(args),
        Command::Poweroff(args) => boot::power(ostler_shutdown::Action::Poweroff, args),
        Command::Reboot(args) => boot::power(ostler_shutdown::Action::Reboot, args),
        Command::Halt(args) => boot::power(ostler_shutdown::Action::Halt, args),
        Command::Shutdown(args) => boot::shutdown(args),
        Command::MountAll(args) => mount::mount_all(args),
        Command::UmountAll(args) => mount::umount_all(args),
        Command::CatchAll => ostler_init::catch_all::run(),
        Command::Shutdownd => ostler_shutdown::daemon::run(),
        Command::Diversion { name } => ostler_shutdown::client::diversion(&name),
        Command::Mark { name } => ostler_log::mark::run(&name),
        Command::Rc(args) => rc::rc(args),
        Command::S6Rc(args) => rc::s6_rc(args),
        Command::Service(args) => rc::service(args),
        Command::Ready(args) => rc::ready(args),
        Command::PolicyRcD(args) => rc::policy_rc_d(args),
        Command::Image(args) => image::run(args),
        Command::ImportUnit(args) => import_unit::run(args),
        Command::Hosted(args) => instance::hosted(args),
        Command::User(args) => instance::user(args),
        Command::Man(args) => man::run(args),
        Command::Completions(args) => completions::run(args),
        Command::WithContenv(args) => overlay::with_contenv(args),
        Command::Printcontenv(args) => overlay::printcontenv(args),
        Command::S6Overlay(args) => overlay::s6_overlay(args),
    }
}

/// ostler's built-in services: a service whose `run` is ostler itself is started as
/// `./run NAME`, and the supervisor runs the built-in in its forked child without an exec.
pub fn builtin_services(name: &str) -> Option<u8> {
    match name {
        "ostler-log" => Some(ostler_init::catch_all::run()),
        "ostler-shutdownd" => Some(ostler_shutdown::daemon::run()),
        // A container service's generated logger (started in its log/ directory).
        _ => marked_service(name).map(ostler_log::mark::run),
    }
}

/// For the logger `NAME/log` of a container service, NAME — when its directory (the current
/// one, where `run` starts) says it is a marking logger.
fn marked_service(name: &str) -> Option<&str> {
    let service = name.strip_suffix("/log")?;
    match std::path::Path::new(ostler_core::paths::MARK_LOGGER).exists() {
        true => Some(service),
        false => None,
    }
}

/// Names under which ostler may be installed, and the subcommand each one means.
const ALIASES: &[(&str, &str)] = &[
    ("init", "init"),
    ("poweroff", "poweroff"),
    ("reboot", "reboot"),
    ("halt", "halt"),
    ("shutdown", "shutdown"),
    ("service", "service"),
    ("s6-svscan", "svscan"),
    ("s6-supervise", "supervise"),
    ("s6-svc", "svc"),
    ("s6-svstat", "svstat"),
    ("s6-svwait", "svwait"),
    ("s6-svscanctl", "svscanctl"),
    ("s6-setuidgid", "setuidgid"),
    ("s6-softlimit", "limit"),
    ("s6-envdir", "envdir"),
    ("s6-log", "log"),
    ("s6-rc", "s6-rc"),
    ("s6-tai64nlocal", "tai64nlocal"),
    ("with-contenv", "with-contenv"),
    ("printcontenv", "printcontenv"),
    ("policy-rc.d", "policy-rc.d"),
];

/// The subcommand a name ostler is installed under means (`service` → `service`,
/// `s6-svc` → `svc`).
pub fn subcommand_for(name: &str) -> Option<&'static str> {
    ALIASES.iter().find(|(alias, _)| *alias == name).map(|(_, sub)| *sub)
}

/// When argv[0] names a subcommand (ostler installed as `s6-supervise`, say), inserts that
/// subcommand so clap sees `ostler supervise …`. Two more names stage 1 gives ostler: a scanner
/// diversion `…/.s6-svscan/NAME`, and a service's `run` whose service is `ostler-log` (the
/// catch-all logger).
pub fn with_subcommand_from_argv0(mut args: Vec<OsString>) -> Vec<OsString> {
    let path = args.first().map(std::path::PathBuf::from).unwrap_or_default();
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let parent = path.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned());
    if parent.as_deref() == Some(".s6-svscan") {
        return vec![OsString::from("ostler"), OsString::from("diversion"), OsString::from(name)];
    }
    if name == "run" && args.get(1).is_some_and(|a| a == "ostler-log") {
        return vec![OsString::from("ostler"), OsString::from("catch-all")];
    }
    if name == "run" && args.get(1).is_some_and(|a| a == "ostler-shutdownd") {
        return vec![OsString::from("ostler"), OsString::from("shutdownd")];
    }
    if name == "run" {
        if let Some(service) = args.get(1).and_then(|a| a.to_str()).and_then(marked_service) {
            return ["ostler", "mark", service].map(OsString::from).to_vec();
        }
    }
    if let Some((_, sub)) = ALIASES.iter().find(|(alias, _)| *alias == name) {
        args[0] = OsString::from("ostler");
        args.insert(1, OsString::from(*sub));
    }
    args
}

/// Whether `command` writes listings or text made to be read by another program (and is no
/// daemon): those die of SIGPIPE when their reader goes away.
fn prints_for_a_reader(command: &Command) -> bool {
    matches!(
        command,
        Command::Svstat(_)
            | Command::Logs(_)
            | Command::Tai64nlocal(_)
            | Command::Analyze(_)
            | Command::Rc(_)
            | Command::S6Rc(_)
            | Command::Man(_)
            | Command::Completions(_)
            | Command::Printcontenv(_)
            | Command::ImportUnit(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// What the whole tree says for a command line: its parse result, or its message.
    fn whole(argv: &[&str]) -> String {
        match Ostler::try_parse_from(argv) {
            Ok(ostler) => format!("{:?}", ostler.command),
            Err(e) => format!("{:?}: {}", e.kind(), e.render()),
        }
    }

    fn fast(argv: &[&str]) -> String {
        let argv: Vec<OsString> = argv.iter().map(OsString::from).collect();
        match parse(&argv) {
            Ok(command) => format!("{command:?}"),
            Err(e) => format!("{:?}: {}", e.kind(), e.render()),
        }
    }

    #[test]
    fn the_one_subcommand_trees_parse_and_explain_as_the_whole_tree_does() {
        Ostler::command().debug_assert();
        // Every subcommand, bare, asking for help, asking for the version, with a bad option.
        for sub in Ostler::command().get_subcommands() {
            let name = sub.get_name();
            for tail in [&[][..], &["--help"], &["-h"], &["--version"], &["--no-such-option"]] {
                let argv: Vec<&str> = ["ostler", name].iter().chain(tail).copied().collect();
                assert_eq!(fast(&argv), whole(&argv), "{argv:?}");
            }
        }
        for argv in [
            &["ostler"][..],
            &["ostler", "--help"],
            &["ostler", "no-such-command"],
            &["ostler", "svscan", "-t", "500", "-c", "100", "/run/service"],
            &["ostler", "svscan", "-t"],
            &["ostler", "log", "-d", "3", "t", "/var/log/x"],
            &["ostler", "log", "-b", "n20", "s1000000", "-.*foo", "+bar", "!gzip", "/var/log/x"],
            &["ostler", "setuidgid", "log", "ostler", "log", "-d", "3", "t", "/var/log/x"],
            &["ostler", "svc", "-wU", "-T", "5000", "-u", "/run/service/a"],
            &["ostler", "svc", "-s", "HUP", "-k", "-d", "/run/service/a", "/run/service/b"],
            &["ostler", "svstat", "-o", "up,ready,pid", "/run/service/a"],
            &["ostler", "svwait", "-u", "-t", "100", "/run/service/a"],
            &["ostler", "svscanctl", "-an", "/run/service"],
            &["ostler", "rc", "change", "-u", "-p", "default"],
            &["ostler", "rc", "list", "all"],
            &["ostler", "rc", "--defs", "/a", "--defs", "/b", "check"],
            &["ostler", "s6-rc", "-v", "2", "-t", "500", "-du", "change", "a", "b"],
            &["ostler", "s6-rc", "-da", "list"],
            &["ostler", "s6-rc", "-n", "0", "-l", "/run/s6-rc", "listall", "x"],
            &["ostler", "rc", "change", "--help"],
            &["ostler", "service", "sshd", "restart"],
            &["ostler", "shutdown", "-h", "+5", "going down"],
            &["ostler", "shutdown", "-r", "now"],
            &["ostler", "poweroff", "-f"],
            &["ostler", "analyze", "blame"],
            &["ostler", "analyze", "plot", "--help"],
            &["ostler", "image", "build", "--help"],
            &["ostler", "logs", "syslogd", "-f", "-n", "20"],
            &["ostler", "catch-all"],
            &["ostler", "diversion", "SIGINT"],
        ] {
            assert_eq!(fast(argv), whole(argv), "{argv:?}");
        }
    }
}
