//! `ostler rc reload`: applies the difference between the definitions on disk and the live
//! state in one step. Services that are up but no longer defined go down; longruns whose
//! definition changed are restarted from the new one; what the `default` bundle wants and is
//! not up comes up; everything else is left alone (same processes, same PIDs).

use crate::engine::{self, Change, Direction};
use crate::live::{self, Layout, State};
use crate::model::{Db, Kind, Service};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use ostler_core::fifodir::{self, Subscription};
use ostler_supervise::client::wait::{Listener, Quorum, Target};
use std::collections::BTreeSet;
use std::path::PathBuf;
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
        // Which of them changed shape: looked at before going down, since going down makes
        // directories where the new model puts them.
        let rewired = reshaped(layout, db, &changed);
        let down = Change::plain(changed.iter().cloned().collect(), Direction::Down { essential_too: true }, verbose);
        code = code.max(engine::change(layout, db, &down));
        rewire(layout, db, &rewired);
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

/// The changed longruns whose live directory is not where the model puts it, or does not name
/// the pipes the model gives it.
fn reshaped<'a>(layout: &Layout, db: &'a Db, changed: &BTreeSet<String>) -> Vec<&'a Service> {
    changed
        .iter()
        .filter_map(|name| db.services.get(name))
        .filter(|s| s.kind == Kind::Longrun && !live::wired_as_modelled(layout, db, s))
        .collect()
}

/// Changed longruns whose pipeline changed shape (a consumer gained or lost a producer, or
/// became a producer): the scanner reads a service's pipes, and finds its `log/`, when it adds
/// it, so these leave the scan directory, the scanner forgets them, and the change going up
/// links them again in their new places. Directories left where nothing belongs any more are
/// removed once their supervisors are gone. They are down already.
fn rewire(layout: &Layout, db: &Db, rewired: &[&Service]) {
    let sv = layout.run_dir.join("sv");
    if rewired.is_empty() {
        return;
    }
    // Out of the scan directory goes each one's own link; stale are a directory of its own it
    // no longer uses, and a log/ in it no consumer lives in any more.
    let mut gone: Vec<PathBuf> = Vec::new();
    let mut stale: Vec<PathBuf> = Vec::new();
    for service in rewired {
        let own = sv.join(&service.name);
        if std::fs::remove_file(layout.scan_dir.join(&service.name)).is_ok() {
            gone.push(own.clone());
        }
        if service.consumer_of.is_some() && own.is_dir() {
            // Now its producer's log/: its old directory of its own is left behind.
            stale.push(own.clone());
        }
        if !live::wants_log_dir(db, service) && own.join("log").is_dir() {
            // Its consumer of old has a directory of its own now.
            stale.push(own.join("log"));
        }
    }
    let dirs: Vec<PathBuf> = gone.into_iter().chain(stale.iter().cloned()).collect();
    prune_and_wait(layout, &dirs);
    remove_dirs(&stale);
}

/// Tells the scanner to rescan and prune, and waits (within a limit) until the supervisors of
/// `dirs` that run now are gone: each says so with `x` on its way out, and is subscribed to
/// before the prune, so no `x` is missed.
fn prune_and_wait(layout: &Layout, dirs: &[PathBuf]) {
    let supervised =
        dirs.iter().filter(|d| ostler_core::lock::path_is_locked(&d.join("supervise/lock")).unwrap_or(false));
    let mut waiting: Vec<Subscription> = supervised.filter_map(|d| Subscription::new(&d.join("event")).ok()).collect();
    let _ = ostler_supervise::client::write_control(&layout.scan_dir, ".s6-svscan", "ostler svscan", b"an");
    let deadline = Instant::now() + REMOVED_DOWN_LIMIT;
    while !waiting.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut fds: Vec<PollFd> = waiting.iter().map(|w| PollFd::new(w.fd(), PollFlags::POLLIN)).collect();
        let timeout = PollTimeout::try_from(left.as_millis().min(60_000) as i32).unwrap_or(PollTimeout::ZERO);
        if left.is_zero() || matches!(poll(&mut fds, timeout), Ok(0) | Err(_)) {
            break;
        }
        drop(fds);
        waiting.retain(|w| !w.read().is_ok_and(|bytes| bytes.contains(&fifodir::event::EXIT)));
    }
}

/// Removes live directories nothing uses any more.
fn remove_dirs(dirs: &[PathBuf]) {
    for dir in dirs {
        if let Err(e) = std::fs::remove_dir_all(dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                eprintln!("ostler rc: warning: unable to remove {}: {e}; nothing uses it any more", dir.display());
            }
        }
    }
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
        if std::fs::remove_file(layout.scan_dir.join(name)).is_ok() {
            // Out of the scanner, then out of /run: its directory goes once its supervisor has.
            prune_and_wait(layout, std::slice::from_ref(&dir));
            remove_dirs(std::slice::from_ref(&dir));
        }
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
