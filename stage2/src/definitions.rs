//! Reading the `default` bundle out of `/etc/ostler/sv` (s6-rc's source format): which
//! services it names, and what each one is.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What a definition is (its `type` file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A supervised process.
    Longrun,
    /// A script run once.
    Oneshot,
}

/// One service to bring up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Definition {
    /// Its name (the directory's).
    pub name: String,
    /// Its definition directory.
    pub dir: PathBuf,
    /// Longrun or oneshot.
    pub kind: Kind,
}

/// The services of a bundle, flattened, with the problems met on the way.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Each service once, in name order.
    pub services: Vec<Definition>,
    /// One message per broken definition (the others are still brought up).
    pub problems: Vec<String>,
}

impl Plan {
    /// The `default` bundle of a definitions directory.
    pub fn default_bundle(sv: &Path) -> Result<Plan, String> {
        if !sv.join("default").is_dir() {
            return Err(format!(
                "{}: there is no default bundle; make {}/default with `type` = bundle and a contents.d/",
                sv.display(),
                sv.display()
            ));
        }
        let mut plan = Plan::default();
        let mut seen = BTreeSet::new();
        plan.add(sv, "default", &mut seen, &mut Vec::new());
        plan.services.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(plan)
    }

    /// The services of one kind.
    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &Definition> {
        self.services.iter().filter(move |d| d.kind == kind)
    }

    fn add(&mut self, sv: &Path, name: &str, seen: &mut BTreeSet<String>, path: &mut Vec<String>) {
        if path.iter().any(|p| p == name) {
            path.push(name.to_string());
            self.problems
                .push(format!("bundle cycle: {}; remove one of these from the other's contents", path.join(" → ")));
            path.pop();
            return;
        }
        if !seen.insert(name.to_string()) {
            return;
        }
        let dir = sv.join(name);
        let type_file = dir.join("type");
        let kind = match std::fs::read_to_string(&type_file) {
            Ok(text) => text.trim().to_string(),
            Err(_) if !dir.is_dir() => {
                let from = path.last().map_or(String::new(), |b| format!(" (named by {b})"));
                self.problems.push(format!("{}: no such service{from}; define it or remove the name", dir.display()));
                return;
            }
            Err(e) => {
                self.problems.push(format!("{}: {e}; write longrun, oneshot or bundle in it", type_file.display()));
                return;
            }
        };
        match kind.as_str() {
            "longrun" => self.services.push(Definition { name: name.to_string(), dir, kind: Kind::Longrun }),
            "oneshot" => self.services.push(Definition { name: name.to_string(), dir, kind: Kind::Oneshot }),
            "bundle" => {
                path.push(name.to_string());
                for member in contents(&dir) {
                    self.add(sv, &member, seen, path);
                }
                path.pop();
            }
            other => self.problems.push(format!(
                "{}: {other:?} is not a service type; write longrun, oneshot or bundle",
                type_file.display()
            )),
        }
    }
}

/// A bundle's members: the names in `contents.d/`, or the lines of `contents` (blank lines and
/// `#` comments skipped), as s6-rc reads them.
fn contents(bundle: &Path) -> Vec<String> {
    if let Ok(entries) = std::fs::read_dir(bundle.join("contents.d")) {
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        return names;
    }
    std::fs::read_to_string(bundle.join("contents"))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// How to run an s6-rc script (`up`, `down`): directly when it has a `#!` line, through
/// `execlineb -P` (s6-rc's language) when execline is installed; otherwise an error saying so.
pub fn script_command(path: &Path) -> Result<Command, String> {
    let head = std::fs::read(path).map_err(|e| format!("unable to read {}: {e}", path.display()))?;
    if head.starts_with(b"#!") {
        return Ok(Command::new(path));
    }
    for dir in ["/usr/bin", "/bin", "/usr/local/bin"] {
        let execlineb = Path::new(dir).join("execlineb");
        if execlineb.exists() {
            let mut command = Command::new(execlineb);
            command.arg("-P").arg(path);
            return Ok(command);
        }
    }
    Err(format!(
        "{} is execline (no #! line) and execlineb is not installed; add a #!/bin/sh line or install execline",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> PathBuf {
        let root = std::env::temp_dir().join(format!(
            "ostler-stage2-defs-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&root);
        let write = |rel: &str, text: &str| {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("default/type", "bundle\n");
        write("default/contents.d/getty", "");
        write("default/contents.d/base", "");
        write("default/contents.d/ghost", "");
        write("base/type", "bundle");
        write("base/contents", "# the basics\nhostname\n\n  getty\nbase\n");
        write("getty/type", "longrun\n");
        write("hostname/type", "oneshot");
        root
    }

    #[test]
    fn flattens_bundles_and_reports_what_is_wrong() {
        let root = tree();
        let plan = Plan::default_bundle(&root).unwrap();
        let names: Vec<(&str, Kind)> = plan.services.iter().map(|d| (d.name.as_str(), d.kind)).collect();
        assert_eq!(names, [("getty", Kind::Longrun), ("hostname", Kind::Oneshot)]);
        assert_eq!(plan.problems.len(), 2, "{:?}", plan.problems);
        assert!(plan.problems.iter().any(|p| p.contains("ghost") && p.contains("no such service")));
        assert!(plan.problems.iter().any(|p| p.contains("default → base → base")));
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn no_default_bundle_is_an_error_that_says_what_to_do() {
        let err = Plan::default_bundle(Path::new("/nonexistent-ostler")).unwrap_err();
        assert!(err.contains("no default bundle") && err.contains("contents.d"));
    }
}
