//! `ostler rc reload`: applies the difference between the definitions on disk and the live
//! state in one step. Services that are up but no longer defined go down; longruns whose
//! definition changed are restarted from the new one; what the `default` bundle wants and is
//! not up comes up; everything else is left alone (same processes, same PIDs).

use crate::engine::{self, Change, Direction};
use crate::live::{Layout, State};
use crate::model::{Db, Kind};
use ostler_supervise::client::wait::{Listener, Quorum, Target};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// How long a removed longrun gets to go down before it leaves the scan directory anyway.
const REMOVED_DOWN_LIMIT: Duration = Duration::from_secs(10);

/// What a reload will do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Up, but gone from the definitions.
    pub removed: Vec<String>,
    /// Up longruns whose definition changed.
    pub changed: Vec<String>,
    /// Wanted by `default`, not up.
    pub added: Vec<String>,
}

/// Compares the definitions with the live state.
pub fn plan(db: &Db, state: &State) -> Plan {
    let mut plan = Plan::default();
    for (name, up) in &state.up {
        match db.services.get(name) {
            None => plan.removed.push(name.clone()),
            Some(service) if service.kind == Kind::Longrun && service.fingerprint != up.fingerprint => {
                plan.changed.push(name.clone())
            }
            Some(_) => {}
        }
    }
    let wanted = db.atoms_of("default").map(|atoms| db.up_closure(&atoms)).unwrap_or_default();
    plan.added = wanted.into_iter().filter(|n| !state.up.contains_key(n)).collect();
    plan
}

/// Applies the plan: removed ones go down (their live directories leave the scan directory),
/// changed ones are restarted, added ones come up.
pub fn apply(layout: &Layout, db: &Db, verbose: bool) -> u8 {
    let state = State::load(layout);
    let plan = plan(db, &state);
    if plan == Plan::default() {
        if verbose {
            eprintln!("ostler rc: reload: nothing to do");
        }
        return 0;
    }
    let mut code = 0;
    for name in &plan.removed {
        code = code.max(take_down_removed(layout, &state, name, verbose));
    }
    if !plan.changed.is_empty() {
        let changed: BTreeSet<String> = plan.changed.iter().cloned().collect();
        // Down with what depends on them, then everything back up from the new definitions.
        let down = Change::plain(changed.iter().cloned().collect(), Direction::Down { essential_too: true }, verbose);
        code = code.max(engine::change(layout, db, &down));
        let again: BTreeSet<String> =
            db.down_closure(&changed).into_iter().filter(|n| state.up.contains_key(n)).collect();
        let up = Change::plain(again.into_iter().collect(), Direction::Up, verbose);
        code = code.max(engine::change(layout, db, &up));
    }
    if !plan.added.is_empty() {
        let up = Change::plain(plan.added.clone(), Direction::Up, verbose);
        code = code.max(engine::change(layout, db, &up));
    }
    code
}

/// A service no longer defined: a longrun is stopped and unlinked (the scanner forgets it),
/// a oneshot is just marked down (its `down` script went with its definition).
fn take_down_removed(layout: &Layout, state: &State, name: &str, verbose: bool) -> u8 {
    let dir = layout.run_dir.join("sv").join(name);
    if state.up.get(name).is_some_and(|u| u.kind == Kind::Longrun) {
        // Down first, waiting for it, then out of the scanner: the prune finds nothing running.
        let _ = std::fs::write(dir.join("down"), "");
        let listener = Listener::subscribe(std::slice::from_ref(&dir));
        let _ = ostler_supervise::client::write_control(&dir, "supervise", "ostler supervise", b"d");
        if let Ok(listener) = listener {
            let _ = listener.wait(Target::Down, Quorum::All, Some(Instant::now() + REMOVED_DOWN_LIMIT));
        }
        let _ = std::fs::remove_file(layout.scan_dir.join(name));
        let _ = ostler_supervise::client::write_control(&layout.scan_dir, ".s6-svscan", "ostler svscan", b"an");
    }
    let mut state = State::load(layout);
    state.up.remove(name);
    if let Err(e) = state.save(layout) {
        eprintln!("ostler rc: warning: {e}");
        return engine::exit::LIVE;
    }
    if verbose {
        eprintln!("ostler rc: {name}: removed");
    }
    0
}
