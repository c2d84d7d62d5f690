//! Options of the service manager (`ostler rc …`) and of its Mere-style front end (`service`).
//! The work is in the `ostler-rc` crate.

use clap::{Args, Subcommand, ValueEnum};
use ostler_rc::engine::{self, Change, Direction};
use ostler_rc::live::{Layout, State};
use ostler_rc::{Db, Kind, Level};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

/// The service manager: bring services up and down in dependency order, as parallel as the
/// graph allows, from s6-rc source definitions read directly (no compile step).
///
/// Definitions live in /etc/ostler/sv. Several directories are read together, as
/// s6-rc-compile reads its sources: --defs more than once, or OSTLER_DEFS=A:B; without either,
/// the ones the live state was made from (stage 2 writes them down). The live state is in
/// /run/ostler/rc (OSTLER_RUNDIR), the supervised services in /run/service (OSTLER_SCANDIR).
/// Every file a definition can hold is in docs/rc.md.
#[derive(Args, Debug)]
pub struct RcArgs {
    /// A definitions directory (again for more: they are read together).
    #[arg(long, value_name = "DIR", global = true)]
    pub defs: Vec<PathBuf>,
    #[command(subcommand)]
    pub command: RcCommand,
}

/// What to do.
#[derive(Subcommand, Debug)]
pub enum RcCommand {
    /// Check the definitions: report every problem at once, each with its file and the fix
    /// (unknown names, dependency and bundle cycles, bundles with dependencies, pipeline
    /// errors, bad types, a missing or non-executable run, a oneshot without up). Exits 1 when
    /// there is any.
    Check {
        /// The definition directories, read together (default: --defs, else OSTLER_DEFS,
        /// else /etc/ostler/sv).
        dirs: Vec<PathBuf>,
    },
    /// Bring services (or bundles) up or down, with what they need: going up, everything they
    /// depend on first; going down, everything that depends on them first. Each service starts
    /// the moment its last dependency is up. Exit codes: 0; 1 a service failed (what depends on
    /// it is left as it was); 2 a timeout; 3 an unknown name; 4 the live state is unusable.
    Change(ChangeArgs),
    /// List services: `active` (default: those up), `all` (every definition with its type), or
    /// the services a NAME stands for.
    List {
        /// active, all, or a service or bundle name.
        what: Option<String>,
    },
    /// Apply the difference between the definitions and the live state: services no longer
    /// defined go down, longruns whose definition changed restart from the new one, what the
    /// `default` bundle wants comes up; the rest keeps running untouched. -n: only show it.
    Reload {
        /// Only print what would change.
        #[arg(short = 'n', long)]
        dry_run: bool,
    },
}

/// Options of `ostler rc change`.
#[derive(Args, Debug)]
pub struct ChangeArgs {
    /// Bring up (the default).
    #[arg(short = 'u', group = "way")]
    pub up: bool,
    /// Bring down; essential services (flag-essential) are kept up, with what they need.
    #[arg(short = 'd', group = "way")]
    pub down: bool,
    /// Bring down, essential services too.
    #[arg(short = 'D', group = "way")]
    pub down_all: bool,
    /// Prune: going up, first bring down every service that is up and not needed by NAMES.
    #[arg(short = 'p')]
    pub prune: bool,
    /// Dry run: print what would be done, in order, and change nothing.
    #[arg(short = 'n')]
    pub dry_run: bool,
    /// Print a line per service as it comes up or goes down.
    #[arg(short = 'v')]
    pub verbose: bool,
    /// Services and bundles.
    #[arg(required = true)]
    pub names: Vec<String>,
}

fn layout(defs: Vec<PathBuf>) -> Layout {
    let mut layout = Layout::from_env();
    if !defs.is_empty() {
        layout.defs = defs;
    }
    layout
}

/// Loads the definitions, printing problems as warnings; `None` (after a message) when a
/// directory cannot be read.
fn load(layout: &Layout, quiet: bool) -> Option<Db> {
    match Db::load(&layout.defs) {
        Ok((db, problems)) => {
            if !quiet {
                for problem in &problems {
                    match problem.level {
                        Level::Error => eprintln!("ostler rc: warning: {problem} (left out)"),
                        Level::LeftOut => eprintln!("ostler rc: warning: {problem}"),
                        Level::Warning => eprintln!("ostler rc: {problem}"),
                    }
                }
            }
            Some(db)
        }
        Err(e) => {
            eprintln!("ostler rc: {e}; create it or pass --defs DIR");
            None
        }
    }
}

pub fn rc(args: RcArgs) -> u8 {
    let layout = layout(args.defs);
    match args.command {
        RcCommand::Check { dirs } => check(if dirs.is_empty() { &layout.defs } else { &dirs }),
        RcCommand::Change(change) => {
            let Some(db) = load(&layout, false) else { return engine::exit::LIVE };
            let direction = if change.down {
                Direction::Down { essential_too: false }
            } else if change.down_all {
                Direction::Down { essential_too: true }
            } else {
                Direction::Up
            };
            engine::change(
                &layout,
                &db,
                &Change {
                    names: change.names,
                    direction,
                    prune: change.prune,
                    dry_run: change.dry_run,
                    verbose: change.verbose,
                    limit: None,
                },
            )
        }
        RcCommand::List { what } => list(&layout, what.as_deref().unwrap_or("active")),
        RcCommand::Reload { dry_run } => {
            let Some(db) = load(&layout, false) else { return engine::exit::LIVE };
            if dry_run {
                let plan = ostler_rc::reload::plan(&db, &State::load(&layout));
                for (word, names) in [("remove", &plan.removed), ("restart", &plan.changed), ("start", &plan.added)] {
                    for name in names {
                        println!("{word} {name}");
                    }
                }
                return 0;
            }
            ostler_rc::reload::apply(&layout, &db, true)
        }
    }
}

/// `ostler rc check`: every root cause as `FILE: what; the fix`, then what each leaves out,
/// then the warnings; exit 1 when there is a root cause, as s6-rc-compile refuses the tree.
fn check(dirs: &[PathBuf]) -> u8 {
    let shown: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    let shown = shown.join(", ");
    match Db::load(dirs) {
        Ok((db, problems)) => {
            for problem in &problems {
                eprintln!("ostler rc: {problem}");
            }
            let errors = problems.iter().filter(|p| p.is_error()).count();
            if errors == 0 {
                println!("{shown}: {} services, no problem", db.services.len());
                0
            } else {
                eprintln!("ostler rc: {errors} problem(s) in {shown}");
                1
            }
        }
        Err(e) => {
            eprintln!("ostler rc: {e}; give the definitions directory");
            111
        }
    }
}

fn list(layout: &Layout, what: &str) -> u8 {
    match what {
        "active" => {
            for name in State::load(layout).up.keys() {
                println!("{name}");
            }
            0
        }
        "all" => {
            let Some(db) = load(layout, true) else { return engine::exit::LIVE };
            for service in db.services.values() {
                println!("{}\t{}", service.name, service.kind.word());
            }
            0
        }
        name => {
            let Some(db) = load(layout, true) else { return engine::exit::LIVE };
            match db.atoms_of(name) {
                Some(atoms) => {
                    atoms.iter().for_each(|a| println!("{a}"));
                    0
                }
                None => {
                    eprintln!("ostler rc: {name} is not defined in {}", layout.defs_text());
                    engine::exit::UNKNOWN
                }
            }
        }
    }
}

/// Start, stop and look at services (Mere Linux's front end to the service manager).
///
/// `service list` prints every service with its status and whether it starts at boot (it is
/// in the `default` bundle). `service NAME ACTION`: start and stop bring NAME up or down with
/// what it needs or what needs it; restart restarts a longrun's process (a oneshot runs down,
/// then up); status prints the s6-svstat line (up or down for a oneshot); enable and disable
/// add NAME to the `default` bundle or take it out; reload applies changed definitions
/// (ostler rc reload); logs prints its log (ostler logs NAME).
#[derive(Args, Debug)]
pub struct ServiceArgs {
    /// `list`, or the service.
    pub name: String,
    /// What to do with it.
    #[arg(value_enum)]
    pub action: Option<ServiceAction>,
}

/// What `service NAME` does.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ServiceAction {
    /// Bring it up.
    Start,
    /// Bring it down.
    Stop,
    /// Restart it.
    Restart,
    /// Print its status.
    Status,
    /// Start it at boot.
    Enable,
    /// Do not start it at boot.
    Disable,
    /// Apply changed definitions.
    Reload,
    /// Print its log.
    Logs,
}

pub fn service(args: ServiceArgs) -> u8 {
    let layout = Layout::from_env();
    let Some(action) = args.action else {
        if args.name == "list" {
            return service_list(&layout);
        }
        eprintln!(
            "service: say what to do with {}: start, stop, restart, status, enable, disable, reload or logs",
            args.name
        );
        return 100;
    };
    let name = args.name;
    let change = |direction| {
        let Some(db) = load(&layout, true) else { return engine::exit::LIVE };
        engine::change(
            &layout,
            &db,
            &Change { names: vec![name.clone()], direction, prune: false, dry_run: false, verbose: true, limit: None },
        )
    };
    match action {
        ServiceAction::Start => change(Direction::Up),
        ServiceAction::Stop => change(Direction::Down { essential_too: false }),
        ServiceAction::Restart => {
            let Some(db) = load(&layout, true) else { return engine::exit::LIVE };
            match db.services.get(&name) {
                Some(service) if service.kind == Kind::Longrun && State::load(&layout).up.contains_key(&name) => {
                    let dir = layout.service_dir(service);
                    match ostler_supervise::client::write_control(&dir, "supervise", "ostler supervise", b"t") {
                        Ok(()) => 0,
                        Err(e) => {
                            eprintln!("service: {e}");
                            e.exit_code()
                        }
                    }
                }
                Some(_) => change(Direction::Down { essential_too: false }).max(change(Direction::Up)),
                None => {
                    eprintln!("service: {name} is not defined in {}", layout.defs_text());
                    engine::exit::UNKNOWN
                }
            }
        }
        ServiceAction::Status => {
            println!("{}", status_line(&layout, &name));
            0
        }
        ServiceAction::Enable | ServiceAction::Disable => {
            enable(&layout, &name, matches!(action, ServiceAction::Enable))
        }
        ServiceAction::Reload => {
            let Some(db) = load(&layout, false) else { return engine::exit::LIVE };
            ostler_rc::reload::apply(&layout, &db, true)
        }
        ServiceAction::Logs => {
            let ostler = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/bin/ostler"));
            // Named `ostler`: installed as `/init`, its own name would mean `init`.
            match std::process::Command::new(ostler).arg0("ostler").arg("logs").arg(&name).status() {
                Ok(status) => status.code().map_or(111, |c| c as u8),
                Err(e) => {
                    eprintln!("service: unable to run ostler logs: {e}");
                    111
                }
            }
        }
    }
}

/// The status of one service: the s6-svstat line for a longrun, up/down for a oneshot.
fn status_line(layout: &Layout, name: &str) -> String {
    let Some(db) = load(layout, true) else { return "unknown".into() };
    let up = State::load(layout).up.contains_key(name);
    match db.services.get(name) {
        Some(service) if service.kind == Kind::Longrun => {
            let options = ostler_supervise::client::svstat::Options {
                dir: layout.service_dir(service),
                fields: Vec::new(),
                numeric_signal: false,
                group_usage: true,
            };
            ostler_supervise::client::svstat::query(&options).unwrap_or_else(|_| "down (not supervised)".to_string())
        }
        Some(_) => {
            if up {
                "up".into()
            } else {
                "down".into()
            }
        }
        None => "not defined".into(),
    }
}

fn service_list(layout: &Layout) -> u8 {
    let Some(db) = load(layout, true) else { return engine::exit::LIVE };
    let boot = db.atoms_of("default").map(|a| db.up_closure(&a)).unwrap_or_default();
    let rows: Vec<(String, String, &str)> = db
        .services
        .values()
        .filter(|s| s.kind != Kind::Bundle)
        .map(|s| (s.name.clone(), status_line(layout, &s.name), if boot.contains(&s.name) { "yes" } else { "no" }))
        .collect();
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(7).max(7);
    let status_width = rows.iter().map(|r| r.1.len()).max().unwrap_or(6).max(6);
    println!("{:<width$}  {:<status_width$}  OnBoot", "Service", "Status");
    for (name, status, boot) in rows {
        println!("{name:<width$}  {status:<status_width$}  {boot}");
    }
    0
}

/// Adds NAME to the `default` bundle (or takes it out).
fn enable(layout: &Layout, name: &str, on: bool) -> u8 {
    let Some(db) = load(layout, true) else { return engine::exit::LIVE };
    if on && !db.services.contains_key(name) {
        eprintln!("service: {name} is not defined in {}; define it first", layout.defs_text());
        return engine::exit::UNKNOWN;
    }
    let bundle = layout.def_dir("default");
    let contents_d = bundle.join("contents.d");
    let contents = bundle.join("contents");
    let result = if contents.is_file() && !contents_d.is_dir() {
        // The legacy one-name-per-line form: edit the list.
        std::fs::read_to_string(&contents).and_then(|text| {
            let mut lines: Vec<String> = text.lines().filter(|l| l.trim() != name).map(str::to_string).collect();
            if on {
                lines.push(name.to_string());
            }
            std::fs::write(&contents, lines.join("\n") + "\n")
        })
    } else if on {
        std::fs::create_dir_all(&contents_d).and_then(|()| std::fs::write(contents_d.join(name), ""))
    } else {
        match std::fs::remove_file(contents_d.join(name)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    };
    match result {
        Ok(()) => {
            println!("{name}: {}", if on { "enabled (starts at boot)" } else { "disabled (not started at boot)" });
            0
        }
        Err(e) => {
            eprintln!("service: unable to change {}: {e}; are you root?", bundle.display());
            111
        }
    }
}

/// s6-rc's command line, for ostler installed as `s6-rc` (services and scripts written for
/// s6-rc call it): `s6-rc [-v N] [-n N] [-t MS] [-l LIVE] [-u|-d|-D] [-p] [-a] [-e|-E]
/// help|list|listall|diff|change|start|stop [NAMES…]`, with s6-rc's exit codes (0; 1 a
/// failure or a difference; 2 a timeout; 3 an unknown name; 4 unusable definitions or live
/// state; 100 usage).
///
/// The definitions are ostler's (OSTLER_DEFS, or those the live state was made from); -l
/// names the live state (ostler's run directory, OSTLER_RUNDIR) and is ignored when it holds
/// none, as a script written for s6-rc names s6-rc's /run/s6-rc. -n prints the plan; its
/// number (s6-rc's dry-run throttle) is read and not used.
#[derive(Args, Debug)]
pub struct S6RcArgs {
    /// Verbosity: 2 or more prints a line per service.
    #[arg(short = 'v', long = "verbosity", value_name = "N", default_value_t = 1)]
    pub verbosity: u32,
    /// Dry run: print what would be done (the throttle, in ms, is not used).
    #[arg(short = 'n', long = "dry-run", value_name = "THROTTLE")]
    pub dry_run: Option<u64>,
    /// Give up after this many milliseconds (0: never); exit 2.
    #[arg(short = 't', long = "timeout", value_name = "MS")]
    pub timeout: Option<u64>,
    /// The live state (ostler's run directory).
    #[arg(short = 'l', long = "livedir", value_name = "LIVE")]
    pub live: Option<PathBuf>,
    /// Up (the default).
    #[arg(short = 'u', long = "up", overrides_with_all = ["down", "all_down"])]
    pub up: bool,
    /// Down; essential services are kept.
    #[arg(short = 'd', long = "down", overrides_with_all = ["up", "all_down"])]
    pub down: bool,
    /// Down, essential services too (they are left out of lists).
    #[arg(short = 'D', long = "all-down", overrides_with_all = ["up", "down"])]
    pub all_down: bool,
    /// Prune: going up, first bring down what is up and not selected.
    #[arg(short = 'p', long = "prune")]
    pub prune: bool,
    /// Add the services that are up to the selection.
    #[arg(short = 'a', long = "add")]
    pub add: bool,
    /// Wait for the live state's lock (ostler always does).
    #[arg(short = 'b', long = "block")]
    pub block: bool,
    /// Act on essential services too.
    #[arg(short = 'E', long = "with-essentials", overrides_with = "without_essentials")]
    pub with_essentials: bool,
    /// Leave essential services out.
    #[arg(short = 'e', long = "without-essentials", overrides_with = "with_essentials")]
    pub without_essentials: bool,
    /// help, list, listall, diff, change, start or stop.
    pub command: String,
    /// Services and bundles.
    pub names: Vec<String>,
}

pub fn s6_rc(args: S6RcArgs) -> u8 {
    use ostler_rc::s6rc::{self, Way};
    let Some(command) = s6rc::Command::from_word(&args.command) else {
        eprintln!("s6-rc: fatal: unknown command: {}; see s6-rc help", args.command);
        return 100;
    };
    let mut layout = Layout::from_env();
    if let Some(live) = args.live.filter(|l| l.join("rc").is_dir()) {
        layout.run_dir = live;
    }
    let way = match (args.down, args.all_down) {
        (true, _) => Way::Down,
        (_, true) => Way::DownAll,
        _ => Way::Up,
    };
    let essentials = match (args.with_essentials, args.without_essentials) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    let options = s6rc::Options {
        way,
        add: args.add,
        prune: args.prune,
        dry_run: args.dry_run.is_some(),
        verbosity: args.verbosity,
        timeout: args.timeout.filter(|&ms| ms > 0).map(std::time::Duration::from_millis),
        essentials,
    };
    s6rc::run(&layout, &options, command, &args.names)
}

/// Exit 0 when the services are up and ready, 1 (with a line per service) when not: for a
/// Kubernetes exec probe, a HEALTHCHECK, or a script.
///
/// A NAME stands for its services and everything they depend on (default: the `default`
/// bundle). Each must be up in the service manager's live state; a longrun must also be running
/// and, when it notifies readiness (notification-fd or notify-socket), ready. In a container whose /run was not
/// writable, the init's runtime area is found by itself (see docs/container.md).
#[derive(Args, Debug)]
pub struct ReadyArgs {
    /// Print nothing, only the exit code.
    #[arg(short, long)]
    pub quiet: bool,
    /// Services or bundles (default: default).
    pub names: Vec<String>,
}

/// Debian's policy layer, for ostler installed as `/usr/sbin/policy-rc.d`: when a package's
/// maintainer script runs `invoke-rc.d NAME ACTION`, the action is done through the service
/// manager (start, stop, restart, try-restart, force-reload = restart, reload = SIGHUP) and
/// the init script is not run (exit 101, which invoke-rc.d reports and takes as success). A
/// NAME that is not a service, or a system ostler does not run (a chroot, an image being
/// built), runs nothing at all. The service is the one named after the init script.
#[derive(Args, Debug)]
pub struct PolicyRcArgs {
    /// Say nothing.
    #[arg(long)]
    pub quiet: bool,
    /// List the policy for an init script (there is none to list: everything goes through
    /// the service manager).
    #[arg(long)]
    pub list: bool,
    /// The init script's name (`/etc/init.d/NAME`), and so the service's.
    #[arg(value_name = "INITSCRIPT")]
    pub id: Option<String>,
    /// The action (`start`, `restart`…, or several in one word to try in order), then
    /// invoke-rc.d's runlevel, which is ignored.
    #[arg(value_name = "ACTIONS", allow_hyphen_values = true)]
    pub rest: Vec<String>,
}

pub fn policy_rc_d(args: PolicyRcArgs) -> u8 {
    use ostler_rc::policy::{self, Act};
    if args.list {
        return policy::ALLOW;
    }
    let (Some(id), Some(action)) = (args.id, args.rest.first()) else {
        eprintln!("policy-rc.d: usage: policy-rc.d [--quiet] INITSCRIPT ACTIONS [RUNLEVEL]");
        return policy::SYNTAX;
    };
    let layout = Layout::from_env();
    let running = policy::ostler_runs(&layout.scan_dir);
    let db = running.then(|| load(&layout, true)).flatten();
    let defined = db.as_ref().is_some_and(|db| db.services.contains_key(&id));
    let (act, code) = policy::decide(action, defined, running);
    if act.is_none() && running && !defined && !args.quiet {
        eprintln!(
            "policy-rc.d: {id} is not a service of ostler's: /etc/init.d/{id} {action} is not run; define it in {} to run it supervised",
            layout.defs_text()
        );
    }
    let up = || State::load(&layout).up.contains_key(&id);
    let done = match act {
        None => 0,
        Some(Act::Start) => service(ServiceArgs { name: id.clone(), action: Some(ServiceAction::Start) }),
        Some(Act::Stop) => service(ServiceArgs { name: id.clone(), action: Some(ServiceAction::Stop) }),
        Some(Act::TryRestart) if !up() => 0,
        Some(Act::Restart | Act::TryRestart) => {
            service(ServiceArgs { name: id.clone(), action: Some(ServiceAction::Restart) })
        }
        Some(Act::Reload) => match db.as_ref().and_then(|db| db.services.get(&id)) {
            Some(service) if service.kind == Kind::Longrun && up() => {
                let dir = layout.service_dir(service);
                ostler_supervise::client::write_control(&dir, "supervise", "ostler supervise", b"h")
                    .map_or_else(|e| e.exit_code(), |()| 0)
            }
            _ => 0,
        },
    };
    if done != 0 && !args.quiet {
        eprintln!(
            "policy-rc.d: {action} of {id} through the service manager failed (exit {done}); see `service {id} status`"
        );
    }
    code
}

/// The directory the log companion of service `name` writes (its `log` file's), if it has one.
pub fn companion_log_dir(name: &std::path::Path) -> Option<PathBuf> {
    let name = name.to_str().filter(|n| !n.contains('/'))?;
    let layout = Layout::from_env();
    let (db, _) = Db::load(&layout.defs).ok()?;
    let companion = db.services.get(name)?.producer_for.as_ref()?;
    db.services.get(companion)?.log_dir.clone()
}

/// For the container's `--wait-for`: whether `names` are up and ready now; `Err` names one
/// that is not defined.
pub fn ready_now(
    defs: &[PathBuf],
    private: &std::path::Path,
    scan: &std::path::Path,
    names: &[String],
) -> Result<bool, String> {
    let layout = Layout { defs: defs.to_vec(), run_dir: private.to_path_buf(), scan_dir: scan.to_path_buf() };
    let db = match Db::load(&layout.defs) {
        Ok((db, _)) => db,
        Err(e) => return Err(e.to_string()),
    };
    ostler_rc::ready::not_ready(&layout, &db, names).map(|missing| missing.is_empty())
}

pub fn ready(args: ReadyArgs) -> u8 {
    let layout = Layout::from_env();
    let names = if args.names.is_empty() { vec!["default".to_string()] } else { args.names };
    let Some(db) = load(&layout, true) else { return 111 };
    match ostler_rc::ready::not_ready(&layout, &db, &names) {
        Ok(missing) if missing.is_empty() => 0,
        Ok(missing) => {
            if !args.quiet {
                missing.iter().for_each(|m| eprintln!("ostler ready: {m}"));
            }
            1
        }
        Err(name) => {
            eprintln!("ostler ready: {name} is not defined in {}; check the name", layout.defs_text());
            100
        }
    }
}
