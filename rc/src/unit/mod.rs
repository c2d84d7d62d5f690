//! `ostler import-unit`: systemd service units made into service definitions. Each unit becomes
//! a definition named after it (`ssh.service` → `ssh`): ostler's privilege and control-group
//! files where they say the same thing, a `run` script (or a oneshot's `up`) for the rest, a
//! `finish` script for `Restart=`, and a warning with the file and line for every line that is
//! not carried over. The mapping is in docs/import-unit.md.
//!
//! - [`parse`]: the unit file syntax, drop-ins, lists that an empty value resets;
//! - [`locate`]: where units are in a root (precedence, aliases, masks, templates, enabled units);
//! - [`specifiers`]: `%i`, `%n`…;
//! - [`command`]: `Exec*=` lines, and the same commands for `/bin/sh`;
//! - [`values`]: time spans, sizes, signals, limits, exit statuses;
//! - [`convert`]: one unit → one definition, with its warnings ([`script`] writes the scripts,
//!   [`deps`] the dependencies);
//! - [`write`]: a definition written atomically into a definitions directory.

pub mod command;
pub mod conditions;
pub mod convert;
pub mod deps;
pub mod locate;
pub mod parse;
pub mod script;
pub mod specifiers;
pub mod values;
pub mod write;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A line that is not carried over (or not read): `FILE:LINE: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The file.
    pub file: PathBuf,
    /// The line, from 1 (`None`: about the whole file).
    pub line: Option<usize>,
    /// What, why, and what to do.
    pub message: String,
}

impl Warning {
    /// A warning about one line.
    pub fn at(file: &Path, line: usize, message: String) -> Warning {
        Warning { file: file.to_path_buf(), line: Some(line), message }
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Why a unit could not be imported at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// No unit file of that name.
    #[error("{name}: no such unit in {searched}; give its path, or --root for another system")]
    NotFound {
        /// The unit.
        name: String,
        /// The directories looked in.
        searched: String,
    },
    /// Linked to /dev/null.
    #[error("{}: {name} is masked (a link to /dev/null); unmask it or give the unit file's path", path.display())]
    Masked {
        /// The unit.
        name: String,
        /// The link.
        path: PathBuf,
    },
    /// A file that cannot be read.
    #[error("unable to read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A unit ostler cannot run.
    #[error("{}: {message}", file.display())]
    Unsupported {
        /// The unit file.
        file: PathBuf,
        /// Why, and what to do.
        message: String,
    },
    /// The definition exists already.
    #[error("{}: exists already; remove it, or give --force to replace it", path.display())]
    Exists {
        /// The definition.
        path: PathBuf,
    },
    /// A definition that cannot be written.
    #[error("unable to write {}: {source}", path.display())]
    Write {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A definition, made: its name and files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Definition {
    /// Its name (the unit's, without `.service`).
    pub name: String,
    /// The unit it was made from (`ssh.service`).
    pub unit: String,
    /// Its files: path inside the definition → contents and mode. Directories are implied.
    pub files: BTreeMap<String, (Vec<u8>, u32)>,
    /// What it depends on (written as `dependencies.d/NAME`).
    pub dependencies: BTreeSet<String>,
}

impl Definition {
    /// A file's text (for tests and messages).
    pub fn text(&self, path: &str) -> Option<&str> {
        self.files.get(path).and_then(|(bytes, _)| std::str::from_utf8(bytes).ok())
    }
}

/// What to import, and where to.
#[derive(Clone, Debug)]
pub struct Request {
    /// The definitions directory.
    pub defs: PathBuf,
    /// The root the units are found in (`/`).
    pub root: PathBuf,
    /// Units: names (`ssh`, `getty@tty1.service`) or paths of unit files.
    pub units: Vec<String>,
    /// Also every unit the root enables, and add what is written to the `default` bundle.
    pub enabled: bool,
    /// Replace definitions that exist.
    pub force: bool,
}

/// What an import did.
#[derive(Debug, Default)]
pub struct Report {
    /// Every warning, in order.
    pub warnings: Vec<Warning>,
    /// The units that could not be imported.
    pub failed: Vec<ImportError>,
    /// The definitions written (their directories).
    pub written: Vec<PathBuf>,
}

/// Imports the units of `request` into its definitions directory.
pub fn import(request: &Request) -> Report {
    let mut report = Report::default();
    let root = locate::Root { dir: request.root.clone() };
    let mut wanted: Vec<(String, Option<PathBuf>)> = request.units.iter().map(|u| (u.clone(), None)).collect();
    if request.enabled {
        for (name, link) in root.enabled() {
            if name.ends_with(".service") {
                wanted.push((name, Some(link)));
            } else if !name.ends_with(".target") {
                let kind = name.rsplit('.').next().unwrap_or_default();
                let message = format!(
                    "{name} is not imported: ostler imports services, not .{kind} units; \
                     write a definition that does its work (a cron line for a timer, a daemon opening its own socket)"
                );
                report.warnings.push(Warning { file: link, line: None, message });
            }
        }
    }
    // Read every unit first: each one's dependencies are kept when they name another.
    let mut loaded = Vec::new();
    let mut seen = BTreeSet::new();
    for (unit, _) in wanted {
        match load(&root, &unit) {
            Ok(unit) => {
                if seen.insert(unit.names.full.clone()) {
                    loaded.push(unit);
                }
            }
            Err(error) => report.failed.push(error),
        }
    }
    let existing: BTreeSet<String> =
        crate::source::read_all(&request.defs).map(|all| all.into_keys().collect()).unwrap_or_default();
    let batch: BTreeSet<String> = loaded.iter().map(|u| convert::definition_name(&u.names.full)).collect();
    let context = deps::Context { root: &root, existing: &existing, batch: &batch, defs: &request.defs };
    let mut made = Vec::new();
    for unit in &loaded {
        let mut warnings = unit.warnings.clone();
        match convert::convert(unit, &context) {
            Ok(converted) => {
                warnings.extend(converted.warnings);
                made.push((converted.definition, converted.before));
            }
            Err(error) => report.failed.push(error),
        }
        // In the order of the files (the unit's, then its drop-ins') and their lines.
        let files: Vec<PathBuf> = unit.unit.assignments.iter().map(|a| a.file.clone()).collect();
        warnings.sort_by_key(|w| (files.iter().position(|f| *f == w.file).unwrap_or(0), w.line));
        report.warnings.extend(warnings);
    }
    // Before=X on a unit imported with it: X depends on this one.
    let edges: Vec<(String, String)> =
        made.iter().flat_map(|(d, before)| before.iter().map(|b| (b.clone(), d.name.clone()))).collect();
    for (later, earlier) in edges {
        if let Some((definition, _)) = made.iter_mut().find(|(d, _)| d.name == later) {
            definition.dependencies.insert(earlier);
        }
    }
    for (definition, _) in &made {
        match write::write(&request.defs, definition, request.force) {
            Ok(path) => report.written.push(path),
            Err(error) => report.failed.push(error),
        }
    }
    if request.enabled {
        let names: Vec<&str> = made.iter().map(|(d, _)| d.name.as_str()).collect();
        if let Err(error) = write::enable(&request.defs, &names) {
            report.failed.push(error);
        }
    }
    report
}

/// A unit read: its names, its assignments (specifiers replaced), and the warnings so far.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// Its names, for the specifiers and the definition's name.
    pub names: specifiers::Names,
    /// The unit file.
    pub file: PathBuf,
    /// Its assignments.
    pub unit: parse::Unit,
    /// What reading it said.
    pub warnings: Vec<Warning>,
}

/// Finds and reads a unit: a path (with `/`) or a name looked up in the root.
pub fn load(root: &locate::Root, unit: &str) -> Result<Loaded, ImportError> {
    let found = if unit.contains('/') {
        let file = PathBuf::from(unit);
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        locate::Found { name, drop_ins: locate::drop_ins_beside(&file), file }
    } else {
        root.find(unit)?
    };
    if !found.name.ends_with(".service") {
        let message = "not a service unit; ostler imports .service units".to_string();
        return Err(ImportError::Unsupported { file: found.file, message });
    }
    if locate::template_of(&found.name).is_none() && found.name.contains("@.") {
        let message =
            format!("{} is a template; name an instance, such as {}", found.name, found.name.replace("@.", "@NAME."));
        return Err(ImportError::Unsupported { file: found.file, message });
    }
    let names = specifiers::Names::of(&found.name);
    let mut warnings = Vec::new();
    let mut unit = parse::Unit::default();
    for file in std::iter::once(&found.file).chain(&found.drop_ins) {
        let text = std::fs::read_to_string(file).map_err(|source| ImportError::Read { path: file.clone(), source })?;
        unit.extend(&text, file, &mut warnings);
    }
    for assignment in &mut unit.assignments {
        let (value, left) = specifiers::expand(&assignment.value, &names);
        for spec in left {
            warnings.push(assignment.warning(format!(
                "%{spec} in {}= is not carried over: it stands for something of the running machine, \
                 or nothing ostler knows; it is written as it is — replace it by its value",
                assignment.key
            )));
        }
        assignment.value = value;
    }
    Ok(Loaded { names, file: found.file, unit, warnings })
}
