//! A unit's dependencies as definitions. s6-rc has one kind of dependency: "start after, and
//! only once it is up". So `Requires=`, `BindsTo=`, `Requisite=`, `Wants=` and `After=` on a
//! unit that has a definition all become `dependencies.d/NAME` (ordering alone does not exist;
//! `After=` on something that is defined pulls it in too). A `.target` is a synchronisation
//! point ostler does not need: it becomes the definition named after it when there is one, a
//! few well-known ones the definitions that do their work (`network`, `mount-all`), or nothing.

use super::locate::Root;
use super::parse::Assignment;
use super::Warning;
use std::collections::BTreeSet;
use std::path::Path;

/// Targets and the definitions (when they exist) that do their work.
const TARGETS: &[(&str, &str)] = &[
    ("network.target", "network"),
    ("network-online.target", "network"),
    ("local-fs.target", "mount-all"),
    ("remote-fs.target", "mount-all"),
    ("sysinit.target", "mount-all"),
    ("basic.target", "mount-all"),
];

/// What the converter knows of other definitions.
pub struct Context<'a> {
    /// The root the units come from (for aliases).
    pub root: &'a Root,
    /// Definitions that exist in the definitions directory.
    pub existing: &'a BTreeSet<String>,
    /// Definitions being imported together.
    pub batch: &'a BTreeSet<String>,
    /// The definitions directory, for messages.
    pub defs: &'a Path,
}

impl Context<'_> {
    fn defined(&self, name: &str) -> bool {
        self.existing.contains(name) || self.batch.contains(name)
    }
}

/// What a unit named as a dependency becomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// A definition.
    Definition(String),
    /// Nothing, and nothing is lost (a target ostler needs no counterpart of).
    Nothing,
    /// Nothing, and something is lost: why, and what to do.
    Lost(String),
}

/// What unit `name` becomes as a dependency; `soft` for `After=`, `Before=`, `Wants=` (which
/// mean nothing when the unit does not exist).
pub fn resolve(name: &str, soft: bool, context: &Context) -> Resolved {
    let canonical = context.root.canonical(name);
    let Some((stem, kind)) = canonical.rsplit_once('.') else {
        return Resolved::Lost(format!("{name:?} is not a unit name"));
    };
    match kind {
        "target" => {
            if context.defined(stem) {
                return Resolved::Definition(stem.to_string());
            }
            match TARGETS.iter().find(|(target, def)| *target == canonical && context.defined(def)) {
                Some((_, def)) => Resolved::Definition(def.to_string()),
                None => Resolved::Nothing,
            }
        }
        "service" if context.defined(stem) => Resolved::Definition(stem.to_string()),
        // Ordering on, or wanting, a unit that does not exist is nothing to systemd either.
        "service" if soft && context.root.find(&canonical).is_err() => Resolved::Nothing,
        "service" => Resolved::Lost(format!(
            "{stem} has no definition in {}; import it too (`ostler import-unit {canonical}`), then import this one again with --force",
            context.defs.display()
        )),
        "socket" => Resolved::Lost(
            "ostler has no socket activation: the daemon must open its socket itself (most have an option or a \
             default for it)"
                .into(),
        ),
        "slice" => Resolved::Nothing,
        other => Resolved::Lost(format!(
            ".{other} units are not imported; depend on the definition that does its work instead (mount-all for mounts)"
        )),
    }
}

/// The dependencies of the names on one dependency line (`After=a.service b.target`).
pub fn line(assignment: &Assignment, self_name: &str, context: &Context, warnings: &mut Vec<Warning>) -> Vec<String> {
    let mut found = Vec::new();
    for name in assignment.value.split_whitespace() {
        let soft = matches!(assignment.key.as_str(), "After" | "Before" | "Wants" | "Upholds");
        match resolve(name, soft, context) {
            Resolved::Definition(def) if def == self_name => {}
            Resolved::Definition(def) => found.push(def),
            Resolved::Nothing => {}
            Resolved::Lost(why) => warnings.push(Warning::at(
                &assignment.file,
                assignment.line,
                format!("{}={name} is not carried over: {why}", assignment.key),
            )),
        }
    }
    found
}

/// The implicit dependencies of a service with `DefaultDependencies=yes`: after `sysinit.target`
/// and `basic.target` (the local file systems mounted).
pub fn defaults(self_name: &str, context: &Context) -> Vec<String> {
    ["sysinit.target", "basic.target"]
        .iter()
        .filter_map(|t| match resolve(t, true, context) {
            Resolved::Definition(def) if def != self_name => Some(def),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn targets_services_sockets() {
        let root = Root { dir: PathBuf::from("/nonexistent") };
        let existing: BTreeSet<String> = ["network", "db"].map(String::from).into();
        let batch: BTreeSet<String> = ["web".to_string()].into();
        let context = Context { root: &root, existing: &existing, batch: &batch, defs: Path::new("/defs") };
        assert_eq!(resolve("network-online.target", false, &context), Resolved::Definition("network".into()));
        assert_eq!(resolve("local-fs.target", false, &context), Resolved::Nothing);
        assert_eq!(resolve("multi-user.target", false, &context), Resolved::Nothing);
        assert_eq!(resolve("db.service", false, &context), Resolved::Definition("db".into()));
        assert_eq!(resolve("web.service", false, &context), Resolved::Definition("web".into()));
        assert!(
            matches!(resolve("auditd.service", false, &context), Resolved::Lost(why) if why.contains("auditd has no definition in /defs"))
        );
        assert!(
            matches!(resolve("syslog.socket", false, &context), Resolved::Lost(why) if why.contains("socket activation"))
        );
        assert!(matches!(resolve("home.mount", false, &context), Resolved::Lost(_)));
    }
}
