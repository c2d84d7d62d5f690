//! `ostler ready [NAMES…]`: whether services are up and ready — for a Kubernetes exec probe, a
//! `HEALTHCHECK`, or a script that waits. A name (default: the `default` bundle) stands for its
//! services and everything they depend on; each must be up in the live state, and a longrun's
//! supervisor must report it running and, when it notifies readiness, ready.

use crate::live::{Layout, State};
use crate::model::{Db, Kind};
use std::collections::BTreeSet;

/// What is not ready, each with why; `Err` names a name that is not defined.
pub fn not_ready(layout: &Layout, db: &Db, names: &[String]) -> Result<Vec<String>, String> {
    let mut wanted = BTreeSet::new();
    for name in names {
        wanted.extend(db.atoms_of(name).ok_or_else(|| name.clone())?);
    }
    let state = State::load(layout);
    let mut missing = Vec::new();
    for name in db.up_closure(&wanted) {
        let Some(service) = db.services.get(&name) else { continue };
        let recorded = state.up.contains_key(&name);
        if service.kind != Kind::Longrun {
            if !recorded {
                missing.push(format!("{name} is not up"));
            }
            continue;
        }
        let live = layout.service_dir(service);
        let notifies = ostler_core::settings::notifies_readiness(&live);
        match ostler_core::Status::read(&live.join("supervise")) {
            Ok(status) if !status.is_up() => missing.push(format!("{name} is not running")),
            Ok(status) if notifies && !status.ready => missing.push(format!("{name} is running, not ready yet")),
            Ok(_) if !recorded => missing.push(format!("{name} is running, not yet up for the service manager")),
            Ok(_) => {}
            Err(_) => missing.push(format!("{name} is not up")),
        }
    }
    Ok(missing)
}
