//! `s6-rc`'s own command line, for ostler installed under that name: services and scripts
//! written for s6-rc call it at run time (`s6-rc -d change vlc`, `s6-rc -a list`,
//! `s6-rc listall NAME`). The same selections, the same output (one name a line: longruns,
//! then oneshots) and s6-rc's exit codes, over ostler's live state.

use crate::engine::{self, Change, Direction};
use crate::live::{Layout, State};
use crate::model::{Db, Kind};
use std::collections::BTreeSet;
use std::time::Duration;

/// Which way a command goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Way {
    /// `-u` (the default).
    Up,
    /// `-d`: essential services are kept (unless `-E`).
    Down,
    /// `-D`: essential services too.
    DownAll,
}

/// What `s6-rc` is asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// `help`.
    Help,
    /// `list`: the selection (inverted with `-d`).
    List,
    /// `listall`: the selection and what it needs (`-u`) or what needs it (`-d`).
    ListAll,
    /// `diff`: longruns whose supervisor wants otherwise than the service manager thinks.
    Diff,
    /// `change`.
    Change,
    /// `start`: `change` up, without `-p`.
    Start,
    /// `stop`: `change` down, without `-p`.
    Stop,
}

impl Command {
    /// The command of a word (`None`: not one of s6-rc's).
    pub fn from_word(word: &str) -> Option<Command> {
        Some(match word {
            "help" => Command::Help,
            "list" => Command::List,
            "listall" => Command::ListAll,
            "diff" => Command::Diff,
            "change" => Command::Change,
            "start" => Command::Start,
            "stop" => Command::Stop,
            _ => return None,
        })
    }
}

/// The options of a command line.
#[derive(Clone, Debug)]
pub struct Options {
    /// `-u`, `-d`, `-D` (the last one given).
    pub way: Way,
    /// `-a`: the services up join the selection.
    pub add: bool,
    /// `-p`: prune.
    pub prune: bool,
    /// `-n`: print the plan, change nothing.
    pub dry_run: bool,
    /// `-v`: 2 or more prints a line per service.
    pub verbosity: u32,
    /// `-t`: the whole change's time limit.
    pub timeout: Option<Duration>,
    /// `-E` (`Some(true)`) or `-e` (`Some(false)`): act on essential services, or leave them
    /// out (of lists too).
    pub essentials: Option<bool>,
}

/// `help`'s text.
const HELP: &str = "\
s6-rc (ostler) — bring services up and down, from s6-rc definitions read directly
usage: s6-rc [ -v N ] [ -n N ] [ -t MS ] [ -l LIVE ] [ -u | -d | -D ] [ -p ] [ -a ] [ -e | -E ] COMMAND [ NAMES… ]
  help          this text
  list          the selection: NAMES' services (-a: and those up; -d: every service but these)
  listall       the selection and what it depends on (-u), or what depends on it (-d)
  diff          +NAME / -NAME: longruns whose supervisor wants up / down against the live state
  change        bring the selection up (-u) or down (-d; -D: essential services too); -p prunes
  start, stop   change -u, change -d
";

/// Runs one command; returns s6-rc's exit code (0; 1 failure or difference; 2 timeout;
/// 3 unknown name; 4 unusable definitions or live state; 100 usage).
pub fn run(layout: &Layout, options: &Options, command: Command, names: &[String]) -> u8 {
    if command == Command::Help {
        print!("{HELP}");
        return 0;
    }
    let db = match Db::load(&layout.defs) {
        Ok((db, _)) => db,
        Err(e) => {
            eprintln!("s6-rc: fatal: {e}; give the definitions with OSTLER_DEFS");
            return engine::exit::LIVE;
        }
    };
    let state = State::load(layout);
    let mut selection = BTreeSet::new();
    for name in names {
        match db.atoms_of(name) {
            Some(atoms) => selection.extend(atoms),
            None => {
                eprintln!("s6-rc: fatal: {name} is not a recognized identifier in {}", layout.defs_text());
                return engine::exit::UNKNOWN;
            }
        }
    }
    if options.add {
        selection.extend(state.up.keys().filter(|n| db.services.contains_key(*n)).cloned());
    }
    let down = options.way != Way::Up;
    let hide_essential = options.essentials == Some(false) || options.way == Way::DownAll;
    match command {
        Command::Help => 0,
        Command::List => {
            let listed = if down { atoms(&db).difference(&selection).cloned().collect() } else { selection };
            print_services(&db, &listed, hide_essential);
            0
        }
        Command::ListAll => {
            let listed = if down { db.down_closure(&selection) } else { db.up_closure(&selection) };
            print_services(&db, &listed, hide_essential);
            0
        }
        Command::Diff => diff(layout, &db, &state),
        Command::Change | Command::Start | Command::Stop => {
            let way = match command {
                Command::Start => Way::Up,
                Command::Stop if options.way == Way::Up => Way::Down,
                _ => options.way,
            };
            let direction = match way {
                Way::Up => Direction::Up,
                Way::Down => Direction::Down { essential_too: options.essentials == Some(true) },
                Way::DownAll => Direction::Down { essential_too: true },
            };
            let change = Change {
                names: selection.into_iter().collect(),
                direction,
                prune: options.prune && command == Command::Change,
                dry_run: options.dry_run,
                verbose: options.verbosity >= 2,
                limit: options.timeout,
            };
            if change.names.is_empty() {
                return 0;
            }
            engine::change(layout, &db, &change)
        }
    }
}

/// Every longrun and oneshot.
fn atoms(db: &Db) -> BTreeSet<String> {
    db.services.values().filter(|s| s.kind != Kind::Bundle).map(|s| s.name.clone()).collect()
}

/// One name a line, as s6-rc orders its database: the longruns, then the oneshots.
fn print_services(db: &Db, names: &BTreeSet<String>, hide_essential: bool) {
    let mut out = String::new();
    for kind in [Kind::Longrun, Kind::Oneshot] {
        for name in names {
            match db.services.get(name) {
                Some(s) if s.kind == kind && !(hide_essential && s.essential) => {
                    out.push_str(name);
                    out.push('\n');
                }
                _ => {}
            }
        }
    }
    print!("{out}");
}

/// `diff`: `+NAME` for a longrun its supervisor wants up while the live state has it down,
/// `-NAME` for the reverse; exit 1 when there is any.
fn diff(layout: &Layout, db: &Db, state: &State) -> u8 {
    let mut differ = false;
    for service in db.services.values().filter(|s| s.kind == Kind::Longrun) {
        let status = ostler_core::Status::read(&layout.service_dir(service).join("supervise")).ok();
        let wants_up = status.is_some_and(|s| s.want_up);
        let up = state.up.contains_key(&service.name);
        if wants_up != up {
            println!("{}{}", if wants_up { '+' } else { '-' }, service.name);
            differ = true;
        }
    }
    u8::from(differ)
}
