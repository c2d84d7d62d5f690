//! The checked model of a definitions directory: every service with its kind, its direct
//! dependencies (bundles expanded to the services they contain), its pipeline partner, its
//! timeouts — and every problem found, each naming the file and the fix. A broken definition
//! is left out (and so is what depends on it); the rest stays usable.

use crate::execline;
use crate::source::{self, Content, File, Raw, Sources};
use crate::sys::EntryType;
use ostler_core::settings::PrivilegeFiles;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What a service is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A supervised process.
    Longrun,
    /// A script run once to go up (and once to go down).
    Oneshot,
    /// A name for a set of services.
    Bundle,
}

impl Kind {
    /// The word of the `type` file.
    pub fn word(self) -> &'static str {
        match self {
            Kind::Longrun => "longrun",
            Kind::Oneshot => "oneshot",
            Kind::Bundle => "bundle",
        }
    }
}

/// One service of the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: Kind,
    /// Its definition directory (`None` for what ostler generates: log companions, pipeline
    /// bundles).
    pub source: Option<PathBuf>,
    /// For a generated log companion: the log directory it writes.
    pub log_dir: Option<PathBuf>,
    /// The atoms (longruns and oneshots) it depends on directly.
    pub dependencies: BTreeSet<String>,
    /// For a bundle: the atoms it contains.
    pub contents: BTreeSet<String>,
    /// Only `-D` takes it down.
    pub essential: bool,
    /// Longest wait for it to come up (`None`: no limit).
    pub timeout_up: Option<Duration>,
    /// Longest wait for it to go down.
    pub timeout_down: Option<Duration>,
    /// The longrun this one's output goes to.
    pub producer_for: Option<String>,
    /// Set when this one reads the output of exactly one longrun and feeds no other: it lives
    /// inside that producer's live directory, as `log/`, and the scanner joins the pair.
    pub consumer_of: Option<String>,
    /// Every other consumer (of several producers, or itself a producer): the name of the
    /// pipe the scanner holds for its input (its own name), given in its `ostler-pipes`.
    pub pipe_in: Option<String>,
    /// A producer whose consumer is not its `log/`: the pipe its output goes to.
    pub pipe_out: Option<String>,
    /// A producer's consumer when, going down, the consumer waits for this one to be down (so
    /// it reads the producer's last words): unless the consumer depends on the producer.
    pub drains_into: Option<String>,
    /// A oneshot's `up`, lexed as execline: the argv to run (empty: nothing to run).
    pub up: Vec<Vec<u8>>,
    /// A oneshot's `down`, the same way (empty: none, or nothing to run).
    pub down: Vec<Vec<u8>>,
    /// Changes whenever a file of the definition changes.
    pub fingerprint: u64,
    /// A longrun's definition as read (what its live service directory gets a copy of).
    pub files: Arc<[File]>,
}

impl Service {
    fn new(name: &str, kind: Kind, source: Option<PathBuf>) -> Service {
        Service {
            name: name.to_string(),
            kind,
            source,
            log_dir: None,
            dependencies: BTreeSet::new(),
            contents: BTreeSet::new(),
            essential: false,
            timeout_up: None,
            timeout_down: None,
            producer_for: None,
            consumer_of: None,
            pipe_in: None,
            pipe_out: None,
            drains_into: None,
            up: Vec::new(),
            down: Vec::new(),
            fingerprint: 0,
            files: Arc::default(),
        }
    }
}

/// How much a [`Problem`] matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// A root cause: what s6-rc-compile refuses. The service is left out (a bundle only loses
    /// the member that is wrong).
    Error,
    /// Left out because of an error said above (a dependency, a producer): said once, as a
    /// consequence, so that one mistake reads as one problem.
    LeftOut,
    /// Accepted, as s6-rc-compile accepts it, but not what it seems to say (a bundle's
    /// dependencies, which s6-rc ignores).
    Warning,
}

/// A problem with a definition: the file, and what is wrong with the fix.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// How much it matters.
    pub level: Level,
    /// The file or directory concerned (for [`Level::LeftOut`]: the definition left out, when
    /// it has one).
    pub file: PathBuf,
    /// What is wrong, and what to do (for [`Level::LeftOut`]: `NAME left out: why`).
    pub message: String,
}

impl Problem {
    /// Whether it is a root cause ([`Level::Error`]).
    pub fn is_error(&self) -> bool {
        self.level == Level::Error
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.level {
            Level::Error => write!(f, "{}: {}", self.file.display(), self.message),
            Level::LeftOut => f.write_str(&self.message),
            Level::Warning => write!(f, "{}: warning: {}", self.file.display(), self.message),
        }
    }
}

/// The model.
#[derive(Clone, Debug, Default)]
pub struct Db {
    /// Every usable service, by name.
    pub services: BTreeMap<String, Service>,
    /// Who points at each name: made at the first question, once `services` is complete (a
    /// search of every definition per question made going down quadratic in the number of
    /// services).
    reverse: std::sync::OnceLock<Reverse>,
}

/// For each name, the services that point at it, in name order.
#[derive(Clone, Debug, Default)]
struct Reverse {
    /// Those that depend on it directly.
    dependents: BTreeMap<String, Vec<String>>,
    /// The producers that drain into it.
    drained_by: BTreeMap<String, Vec<String>>,
}

/// The suffix of a generated log companion's name.
pub const LOG_SUFFIX: &str = "-log";

impl Db {
    /// Reads and checks definition directories, together (a name may be defined in one only).
    pub fn load(dirs: &[PathBuf]) -> Result<(Db, Vec<Problem>), source::ReadError> {
        let sources = source::read_dirs(dirs)?;
        Ok(Db::from_sources(&sources))
    }

    /// Checks what was read.
    pub fn from_sources(sources: &Sources) -> (Db, Vec<Problem>) {
        let dir = sources.dirs.first().map(PathBuf::as_path).unwrap_or(Path::new(""));
        let raws = &sources.raws;
        let mut problems = Vec::new();
        // Defined, but unusable whatever else is found: defined twice, or of no known type.
        let mut refused: BTreeSet<String> = BTreeSet::new();
        for (name, first, second) in &sources.duplicates {
            problems.push(Problem {
                level: Level::Error,
                file: second.clone(),
                message: format!(
                    "{name} is defined twice, here and in {}; remove or rename one of them",
                    first.display()
                ),
            });
            refused.insert(name.clone());
        }
        let mut services: BTreeMap<String, Service> = BTreeMap::new();
        let mut bundle_members: BTreeMap<String, Vec<(String, PathBuf)>> = BTreeMap::new();
        for raw in raws.values() {
            match read_service(raw, &mut problems) {
                Some(service) => {
                    if service.kind == Kind::Bundle {
                        bundle_members.insert(raw.name.clone(), raw.contents.clone());
                    }
                    services.insert(raw.name.clone(), service);
                }
                None => {
                    refused.insert(raw.name.clone());
                }
            }
        }
        log_companions(dir, raws, &mut services, &mut problems);
        pipelines(raws, &mut services, &mut bundle_members, &mut problems);
        // Producer → consumer, as checked: to leave out a consumer whose producers all are.
        let feeds: BTreeMap<String, String> =
            services.values().filter_map(|s| s.producer_for.as_ref().map(|c| (s.name.clone(), c.clone()))).collect();

        // Bundles to atoms, reporting bundle cycles and unknown members.
        let mut expanded: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let bundles = Bundles { dir, services: &services, raws, members: &bundle_members };
        for name in bundle_members.keys() {
            bundles.expand(name, &mut Vec::new(), &mut expanded, &mut problems);
        }
        // Dependencies to atoms; unknown names reported. A name defined with a problem of its
        // own stays, so that the dependent is left out as its consequence.
        for raw in raws.values() {
            let Some(kind) = services.get(&raw.name).map(|s| s.kind) else { continue };
            if kind == Kind::Bundle {
                continue;
            }
            let mut atoms = BTreeSet::new();
            for (dep, file) in &raw.dependencies {
                match services.get(dep).map(|s| s.kind) {
                    Some(Kind::Bundle) => atoms.extend(expanded.get(dep).into_iter().flatten().cloned()),
                    Some(_) => {
                        atoms.insert(dep.clone());
                    }
                    None if raws.contains_key(dep) => {
                        atoms.insert(dep.clone());
                    }
                    None => problems.push(unknown(dir, file, dep)),
                }
            }
            if let Some(service) = services.get_mut(&raw.name) {
                service.dependencies.extend(atoms);
            }
        }
        companions_follow_their_services(&mut services);
        for (name, atoms) in expanded {
            if let Some(bundle) = services.get_mut(&name) {
                bundle.contents = atoms;
            }
        }
        // Essential bundles make their contents essential.
        let essential_contents: Vec<String> = services
            .values()
            .filter(|s| s.kind == Kind::Bundle && s.essential)
            .flat_map(|s| s.contents.iter().cloned())
            .collect();
        for name in essential_contents {
            if let Some(service) = services.get_mut(&name) {
                service.essential = true;
            }
        }
        dependency_cycles(&services, &mut problems);
        let mut db = Db { services, reverse: Default::default() };
        let mut broken: BTreeSet<String> = problems
            .iter()
            .filter(|p| p.is_error())
            .filter_map(|p| owner_of(raws, &p.file))
            .filter(|name| db.services.get(name).is_none_or(|s| s.kind != Kind::Bundle))
            .collect();
        broken.extend(refused);
        db.drop_unusable(&broken, &feeds, &mut problems);
        db.join_pipelines();
        problems.sort();
        problems.dedup();
        (db, problems)
    }

    /// Leaves out the services with problems of their own (`broken`), then, repeatedly, those
    /// that depend on one left out, and the consumers whose producers (`feeds`) all are: each
    /// of these is said once, as a consequence.
    fn drop_unusable(
        &mut self,
        broken: &BTreeSet<String>,
        feeds: &BTreeMap<String, String>,
        problems: &mut Vec<Problem>,
    ) {
        // A bundle only loses the members that are not there: one bad name in `default` must
        // not keep the whole system down.
        for name in broken {
            self.services.remove(name);
        }
        let why = |name: &str| if broken.contains(name) { "has a problem" } else { "is left out" };
        loop {
            let mut out: Vec<(String, String)> = Vec::new();
            for service in self.services.values().filter(|s| s.kind != Kind::Bundle) {
                let name = &service.name;
                if let Some(dep) = service.dependencies.iter().find(|d| !self.services.contains_key(*d)) {
                    out.push((name.clone(), format!("it depends on {dep}, which {} (above)", why(dep))));
                    continue;
                }
                let mut producers = feeds.iter().filter(|(_, c)| *c == name).map(|(p, _)| p).peekable();
                if producers.peek().is_some() {
                    let gone: Vec<&String> = producers.clone().filter(|p| !self.services.contains_key(*p)).collect();
                    if gone.len() == producers.count() {
                        let producer = gone[0];
                        out.push((name.clone(), format!("its producer {producer} {} (above)", why(producer))));
                    }
                }
            }
            if out.is_empty() {
                break;
            }
            for (name, reason) in out {
                let file = self.services.remove(&name).and_then(|s| s.source).unwrap_or_default();
                problems.push(Problem { level: Level::LeftOut, file, message: format!("{name} left out: {reason}") });
            }
        }
        let names: BTreeSet<String> = self.services.keys().cloned().collect();
        for service in self.services.values_mut() {
            service.contents.retain(|c| names.contains(c));
        }
    }

    /// Decides, among the services left, how each producer reaches its consumer: a consumer
    /// of one producer that feeds nobody lives in that producer's directory as `log/` (the
    /// scanner's own pairing, as s6-svscan's); any other consumer (a funnel's, or the middle
    /// of a longer pipeline) gets a pipe of its own name, named in each member's
    /// `ostler-pipes`. A producer whose consumer was left out writes where others do.
    fn join_pipelines(&mut self) {
        let mut producers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for service in self.services.values() {
            if let Some(consumer) = &service.producer_for {
                if self.services.contains_key(consumer) {
                    producers.entry(consumer.clone()).or_default().push(service.name.clone());
                }
            }
        }
        for service in self.services.values_mut() {
            service.consumer_of = None;
            service.pipe_in = None;
            service.pipe_out = None;
            service.drains_into = None;
            if service.producer_for.as_ref().is_some_and(|c| !producers.contains_key(c)) {
                service.producer_for = None;
            }
        }
        for (consumer, its_producers) in &producers {
            let needs = self.up_closure(&BTreeSet::from([consumer.clone()]));
            for producer in its_producers.iter().filter(|p| !needs.contains(*p)) {
                if let Some(p) = self.services.get_mut(producer) {
                    p.drains_into = Some(consumer.clone());
                }
            }
        }
        for (consumer, its_producers) in producers {
            let feeds = self.services.get(&consumer).is_some_and(|c| c.producer_for.is_some());
            if let ([only], false) = (its_producers.as_slice(), feeds) {
                if let Some(c) = self.services.get_mut(&consumer) {
                    c.consumer_of = Some(only.clone());
                }
                continue;
            }
            if let Some(c) = self.services.get_mut(&consumer) {
                c.pipe_in = Some(consumer.clone());
            }
            for producer in its_producers {
                if let Some(p) = self.services.get_mut(&producer) {
                    p.pipe_out = Some(consumer.clone());
                }
            }
        }
        // A producer's files do not change when its consumer gains a second producer, but its
        // wiring does: the fingerprint says so, and a reload rewires it.
        for service in self.services.values_mut().filter(|s| s.pipe_in.is_some() || s.pipe_out.is_some()) {
            for pipe in [&service.pipe_in, &service.pipe_out] {
                let name = pipe.as_deref().unwrap_or_default();
                let hash = source::extend_fingerprint(service.fingerprint, &(name.len() as u64).to_le_bytes());
                service.fingerprint = source::extend_fingerprint(hash, name.as_bytes());
            }
        }
    }

    /// The atoms a name stands for: itself, or a bundle's contents. `None` for an unknown name.
    pub fn atoms_of(&self, name: &str) -> Option<BTreeSet<String>> {
        let service = self.services.get(name)?;
        Some(match service.kind {
            Kind::Bundle => service.contents.clone(),
            _ => BTreeSet::from([name.to_string()]),
        })
    }

    /// `names` and everything they depend on, transitively.
    pub fn up_closure(&self, names: &BTreeSet<String>) -> BTreeSet<String> {
        let mut closure = BTreeSet::new();
        let mut pending: Vec<String> = names.iter().cloned().collect();
        while let Some(name) = pending.pop() {
            if closure.insert(name.clone()) {
                if let Some(service) = self.services.get(&name) {
                    pending.extend(service.dependencies.iter().cloned());
                }
            }
        }
        closure
    }

    /// `names` and everything that depends on them, transitively.
    pub fn down_closure(&self, names: &BTreeSet<String>) -> BTreeSet<String> {
        let mut closure = BTreeSet::new();
        let mut pending: Vec<String> = names.iter().cloned().collect();
        while let Some(name) = pending.pop() {
            if closure.insert(name.clone()) {
                pending.extend(self.dependents(&name));
            }
        }
        closure
    }

    /// Going down, what `name` waits for: what depends on it, and the producers it drains.
    pub fn down_waits(&self, name: &str) -> Vec<String> {
        let reverse = self.reverse();
        let producers = reverse.drained_by.get(name).into_iter().flatten();
        let mut waits: BTreeSet<String> = self.dependents(name).into_iter().collect();
        waits.extend(producers.cloned());
        waits.into_iter().collect()
    }

    /// Going down, who waits for `name`: what it depends on, and the consumer it drains into.
    pub fn down_waited_by(&self, name: &str) -> Vec<String> {
        let Some(service) = self.services.get(name) else { return Vec::new() };
        let mut waited: BTreeSet<String> = service.dependencies.clone();
        waited.extend(service.drains_into.iter().cloned());
        waited.into_iter().collect()
    }

    /// The atoms that depend directly on `name`.
    pub fn dependents(&self, name: &str) -> Vec<String> {
        self.reverse().dependents.get(name).cloned().unwrap_or_default()
    }

    fn reverse(&self) -> &Reverse {
        self.reverse.get_or_init(|| {
            let mut reverse = Reverse::default();
            for service in self.services.values() {
                for dependency in &service.dependencies {
                    reverse.dependents.entry(dependency.clone()).or_default().push(service.name.clone());
                }
                if let Some(consumer) = &service.drains_into {
                    reverse.drained_by.entry(consumer.clone()).or_default().push(service.name.clone());
                }
            }
            reverse
        })
    }
}

/// The definition whose directory holds `file`.
fn owner_of(raws: &BTreeMap<String, Raw>, file: &Path) -> Option<String> {
    raws.values().find(|raw| file.starts_with(&raw.dir)).map(|raw| raw.name.clone())
}

fn unknown(dir: &Path, file: &Path, name: &str) -> Problem {
    Problem {
        level: Level::Error,
        file: file.to_path_buf(),
        message: format!("{name} is not defined; define {} or remove the name", dir.join(name).display()),
    }
}

/// The service of one raw definition, or `None` (with problems) when it cannot be one.
fn read_service(raw: &Raw, problems: &mut Vec<Problem>) -> Option<Service> {
    let mut said = Vec::new();
    let mut problem =
        |file: &str, message: String| said.push(Problem { level: Level::Error, file: raw.dir.join(file), message });
    if raw.name.starts_with("s6rc-") || raw.name.starts_with("s6-rc-") {
        problem("", "names starting with s6rc- or s6-rc- are reserved; rename the directory".into());
        problems.append(&mut said);
        return None;
    }
    // Not read, so not judged further: the size is the problem.
    for (path, size) in &raw.too_large {
        let message = format!(
            "{size} bytes, more than a definition file may hold ({} MiB); keep large data outside the definition (name its path in run) or make the file smaller",
            source::DEFINITION_FILE_LIMIT >> 20
        );
        problems.push(Problem { level: Level::Error, file: raw.dir.join(path), message });
    }
    if raw.too_large.iter().any(|(path, _)| path == Path::new("type")) {
        return None;
    }
    let kind = match (raw.kind, &raw.type_text) {
        (Some("longrun"), _) => Kind::Longrun,
        (Some("oneshot"), _) => Kind::Oneshot,
        (Some(_), _) => Kind::Bundle,
        (None, Some(text)) => {
            let text = text.strip_suffix('\n').unwrap_or(text);
            problem(
                "type",
                format!("{text:?} is not a service type; write longrun, oneshot or bundle (exactly: a newline after it at most)"),
            );
            problems.append(&mut said);
            return None;
        }
        (None, None) => {
            problem("type", "missing; write longrun, oneshot or bundle in it".into());
            problems.append(&mut said);
            return None;
        }
    };
    for (file, message) in &raw.malformed {
        problem(file, message.clone());
    }
    let mut service = Service::new(&raw.name, kind, Some(raw.dir.clone()));
    service.essential = raw.essential;
    service.fingerprint = raw.fingerprint;
    service.files = raw.files.clone();
    if kind == Kind::Bundle {
        // s6-rc-compile reads only a bundle's contents and flags: said, and ignored.
        if let Some((_, file)) = raw.dependencies.first() {
            let message = format!(
                "{} is a bundle, and a bundle's dependencies are ignored (as s6-rc does); put them on its members",
                raw.name
            );
            problems.push(Problem { level: Level::Warning, file: file.clone(), message });
        }
        problems.append(&mut said);
        return Some(service);
    }
    for (file, text, slot) in [
        ("timeout-up", &raw.timeout_up, &mut service.timeout_up),
        ("timeout-down", &raw.timeout_down, &mut service.timeout_down),
    ] {
        let Some(text) = text.as_deref() else { continue };
        // s6-rc-compile drops the newlines at the end, nothing else.
        match number(text.trim_end_matches('\n')) {
            Some(0) => {}
            Some(ms) => *slot = Some(Duration::from_millis(ms.into())),
            None => problem(
                file,
                format!("{text:?} is not a number of milliseconds; write one, such as 5000 (0 = no limit)"),
            ),
        }
    }
    match kind {
        Kind::Bundle => {}
        Kind::Oneshot => {
            for (file, script, argv) in [("up", &raw.up, &mut service.up), ("down", &raw.down, &mut service.down)] {
                if script.as_ref().is_some_and(|f| matches!(f.content, Content::TooLarge(_))) {
                    continue;
                }
                match script.as_ref().map(|f| f.bytes(&raw.dir)) {
                    None if file == "up" => problem(
                        file,
                        "missing; a oneshot needs an up file: an execline command line, such as the path of a script"
                            .into(),
                    ),
                    None => {}
                    Some(None) => problem(
                        file,
                        "not a file that can be read; make it a plain file holding an execline command line".into(),
                    ),
                    Some(Some(bytes)) => match execline::lex(&bytes) {
                        Ok(words) => *argv = words,
                        Err(error) => problem(file, format!("not an execline command line: {error}")),
                    },
                }
            }
        }
        Kind::Longrun => check_longrun(raw, &mut problem, problems),
    }
    problems.append(&mut said);
    // A service with a problem is kept for now: its kind is known, so that what names it is
    // told apart from what names nothing (the model leaves both out in the end).
    Some(service)
}

/// A longrun's supervisor files, as s6-rc-compile checks them: `run` a regular file (any
/// mode: the live copy is made executable, as s6-rc-compile copies it with mode 0755), the
/// numbers numbers, `notification-fd` and `lock-fd` apart, `data/`, `env/`, `template/`
/// directories.
fn check_longrun(raw: &Raw, problem: &mut impl FnMut(&str, String), problems: &mut Vec<Problem>) {
    match raw.file("run").map(|f| &f.content) {
        None => problem("run", "missing; a longrun needs a run file".into()),
        Some(Content::Bytes(_) | Content::TooLarge(_)) => {}
        // What a link leads to was asked when the definition was read.
        Some(content) if content.leads_to() == Some(EntryType::File) => {}
        Some(content) => {
            // A regular file that could not be read is one still.
            if matches!(content, Content::Symlink(..)) || !raw.dir.join("run").is_file() {
                problem("run", "not a regular file; make run a plain file (a script or a program)".into());
            }
        }
    }
    let mut fds = [None, None];
    for (file, slot) in [
        ("notification-fd", Some(0)),
        ("lock-fd", Some(1)),
        ("timeout-kill", None),
        ("timeout-finish", None),
        ("max-death-tally", None),
    ] {
        let Some(text) = raw.text(file) else { continue };
        // s6-rc-compile reads up to the first newline.
        let first = text.split('\n').next().unwrap_or_default();
        match number(first) {
            Some(value) => {
                if let Some(slot) = slot {
                    fds[slot] = Some(value);
                }
            }
            None => problem(file, format!("{first:?} is not a number; write a decimal number in it")),
        }
    }
    // The control-group limits (ostler's own), as the supervisor reads them.
    for (file, _, _) in ostler_core::settings::LIMIT_FILES {
        if let Some(Err(message)) = raw.text(file).map(|text| ostler_core::settings::parse_limit(file, &text)) {
            problem(file, message);
        }
    }
    for (file, fd) in [("notification-fd", fds[0]), ("lock-fd", fds[1])] {
        if let Some(fd @ 0..=2) = fd {
            let message = format!("{fd} is standard input, output or error, not a free descriptor; use 3 or more");
            problems.push(Problem { level: Level::Warning, file: raw.dir.join(file), message });
        }
    }
    if fds[0].is_some() && raw.file("notify-socket").is_some() {
        let message = "notify-socket is ignored beside notification-fd (s6's file wins); keep one of the two".into();
        problems.push(Problem { level: Level::Warning, file: raw.dir.join("notify-socket"), message });
    }
    if let [Some(notify @ 3..), Some(lock)] = fds {
        if notify == lock {
            problem("lock-fd", format!("the same fd ({lock}) as notification-fd; give them different numbers"));
        }
    }
    // ostler's privilege files, as the supervisor reads them at each start: a file it cannot
    // use keeps the service from starting, so it is said now.
    let top = raw.files.iter().filter(|f| f.path.parent() == Some(Path::new(""))).map(|f| f.path.as_os_str());
    if let Err(refused) = ostler_supervise::privileges::Declared::read(&raw.dir, PrivilegeFiles::among(top)) {
        let message = format!("{}; the service will not start until this is fixed", refused.message);
        problems.push(Problem { level: Level::Warning, file: refused.file, message });
    }
    for dir in ["data", "env", "template"] {
        if let Some(file) = raw.file(dir) {
            let is_dir = match file.content {
                Content::Dir => true,
                Content::Symlink(..) => file.content.leads_to() == Some(EntryType::Dir),
                Content::Bytes(_) | Content::Other | Content::TooLarge(_) => false,
            };
            if !is_dir {
                problem(dir, format!("not a directory; {dir} must be one (or be removed)"));
            }
        }
    }
}

/// An unsigned 32-bit decimal number, digits only, as s6-rc reads one.
fn number(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `log` files: a NAME-log longrun reading NAME's output into the given directory.
fn log_companions(
    dir: &Path,
    raws: &BTreeMap<String, Raw>,
    services: &mut BTreeMap<String, Service>,
    problems: &mut Vec<Problem>,
) {
    for raw in raws.values().filter(|r| r.log.is_some()) {
        let Some(service) = services.get(&raw.name) else { continue };
        let file = raw.dir.join("log");
        if service.kind != Kind::Longrun {
            problems.push(Problem {
                level: Level::Error,
                file,
                message: "only a longrun has a log companion; remove the file".into(),
            });
            continue;
        }
        if raw.producer_for.is_some() {
            problems.push(Problem {
                level: Level::Error,
                file,
                message: "the service already has producer-for; keep one of the two".into(),
            });
            continue;
        }
        let name = format!("{}{LOG_SUFFIX}", raw.name);
        if services.contains_key(&name) {
            problems.push(Problem {
                level: Level::Error,
                file,
                message: format!(
                    "{} is defined already; remove the log file or that definition",
                    dir.join(&name).display()
                ),
            });
            continue;
        }
        let log_dir = match raw.log.as_deref() {
            Some("") | None => ostler_core::paths::log_root().join(&raw.name),
            Some(path) => PathBuf::from(path),
        };
        let mut companion = Service::new(&name, Kind::Longrun, None);
        companion.log_dir = Some(log_dir);
        companion.essential = service.essential;
        companion.fingerprint = raw.fingerprint;
        services.insert(name.clone(), companion);
        if let Some(service) = services.get_mut(&raw.name) {
            service.producer_for = Some(name.clone());
            // The logger reads before the service writes, and goes down after it.
            service.dependencies.insert(name);
        }
    }
}

/// A generated log companion waits for what its service waits for: its log directory may be
/// on a filesystem that one of them makes writable or mounts (a root checked, then remounted
/// read-write; `/var/log` from fstab).
fn companions_follow_their_services(services: &mut BTreeMap<String, Service>) {
    let follow: Vec<(String, BTreeSet<String>)> = services
        .values()
        .filter_map(|service| {
            let companion =
                service.producer_for.as_ref().filter(|c| services.get(*c).is_some_and(|c| c.log_dir.is_some()))?;
            let mut dependencies = service.dependencies.clone();
            dependencies.remove(companion);
            Some((companion.clone(), dependencies))
        })
        .collect();
    for (companion, dependencies) in follow {
        if let Some(companion) = services.get_mut(&companion) {
            companion.dependencies.extend(dependencies);
        }
    }
}

/// `producer-for` / `consumer-for` / `pipeline-name`: reciprocal, between longruns; a
/// producer feeds one consumer, a consumer may read several producers (a funnel) and feed a
/// consumer of its own (a longer pipeline), but a pipeline never loops back. The pipeline's
/// name, on its last consumer, becomes a bundle of every member upstream.
fn pipelines(
    raws: &BTreeMap<String, Raw>,
    services: &mut BTreeMap<String, Service>,
    bundles: &mut BTreeMap<String, Vec<(String, PathBuf)>>,
    problems: &mut Vec<Problem>,
) {
    let is_longrun =
        |services: &BTreeMap<String, Service>, name: &str| services.get(name).is_some_and(|s| s.kind == Kind::Longrun);
    // Producer → consumer, for the pairs that name each other.
    let mut feeds: BTreeMap<String, String> = BTreeMap::new();
    for raw in raws.values() {
        let Some(consumer) = &raw.producer_for else { continue };
        let file = raw.dir.join("producer-for");
        // A definition of no known type, or a consumer of none, was reported already.
        if !services.contains_key(&raw.name) || (raws.contains_key(consumer) && !services.contains_key(consumer)) {
            continue;
        }
        if !is_longrun(services, &raw.name) {
            problems.push(Problem {
                level: Level::Error,
                file,
                message: "only a longrun can be a producer; remove the file".into(),
            });
            continue;
        }
        let Some(other) = raws.get(consumer) else {
            problems.push(Problem {
                level: Level::Error,
                file,
                message: format!("{consumer} is not defined; define it or remove the file"),
            });
            continue;
        };
        if !is_longrun(services, consumer) {
            problems.push(Problem {
                level: Level::Error,
                file,
                message: format!("{consumer} is not a longrun; a pipeline joins longruns"),
            });
            continue;
        }
        if !other.consumer_for.contains(&raw.name) {
            problems.push(Problem {
                level: Level::Error,
                file: other.dir.join("consumer-for"),
                message: format!(
                    "{} names {consumer} in producer-for, but this file does not name {}; add it",
                    raw.name, raw.name
                ),
            });
            continue;
        }
        feeds.insert(raw.name.clone(), consumer.clone());
    }
    for (producer, consumer) in &feeds {
        if let Some(s) = services.get_mut(producer) {
            s.producer_for = Some(consumer.clone());
        }
    }
    pipeline_cycles(raws, &feeds, problems);
    for raw in raws.values() {
        let file = raw.dir.join("consumer-for");
        let known = |name: &str| services.contains_key(name) || !raws.contains_key(name);
        for producer in raw.consumer_for.iter().filter(|p| known(&raw.name) && known(p)) {
            let reciprocal = raws.get(producer).is_some_and(|p| p.producer_for.as_deref() == Some(raw.name.as_str()));
            if !raws.contains_key(producer) {
                problems.push(Problem {
                    level: Level::Error,
                    file: file.clone(),
                    message: format!("{producer} is not defined; define it or remove the name"),
                });
            } else if !reciprocal {
                problems.push(Problem {
                    level: Level::Error,
                    file: raws[producer].dir.join("producer-for"),
                    message: format!(
                        "{} names {producer} in consumer-for, but this file does not name {}; write {} in it",
                        raw.name, raw.name, raw.name
                    ),
                });
            }
        }
        if let Some(pipeline) = &raw.pipeline_name {
            let file = raw.dir.join("pipeline-name");
            if raw.consumer_for.is_empty() || raw.producer_for.is_some() {
                // s6-rc-compile warns and goes on: the name is not made.
                problems.push(Problem {
                    level: Level::Warning,
                    file,
                    message: "ignored: pipeline-name belongs to the last consumer of a pipeline; move it there".into(),
                });
            } else if raws.contains_key(pipeline) || bundles.contains_key(pipeline) {
                problems.push(Problem {
                    level: Level::Error,
                    file,
                    message: format!("{pipeline} is already a service name; choose another pipeline name"),
                });
            } else {
                let members = upstream(&raw.name, &feeds).into_iter().map(|m| (m, file.clone())).collect();
                bundles.insert(pipeline.clone(), members);
                services.insert(pipeline.clone(), Service::new(pipeline, Kind::Bundle, None));
            }
        }
    }
}

/// Reports each loop of producer → consumer pairs once, on the `producer-for` of each member
/// (so all of them are left out): `pipeline cycle: a → b → a`.
fn pipeline_cycles(raws: &BTreeMap<String, Raw>, feeds: &BTreeMap<String, String>, problems: &mut Vec<Problem>) {
    let mut reported: BTreeSet<String> = BTreeSet::new();
    for start in feeds.keys() {
        if reported.contains(start) {
            continue;
        }
        let mut path = vec![start.clone()];
        let mut at = start;
        while let Some(next) = feeds.get(at) {
            if next == start {
                path.push(start.clone());
                let cycle = path.join(" → ");
                for member in &path[..path.len() - 1] {
                    reported.insert(member.clone());
                    problems.push(Problem {
                        level: Level::Error,
                        file: raws[member].dir.join("producer-for"),
                        message: format!(
                            "pipeline cycle: {cycle}; a pipeline must end in a consumer that feeds nobody"
                        ),
                    });
                }
                break;
            }
            if path.contains(next) {
                // A loop further down, not through `start`: reported from one of its members.
                break;
            }
            path.push(next.clone());
            at = next;
        }
    }
}

/// `last` and every service whose output reaches it, sorted.
fn upstream(last: &str, feeds: &BTreeMap<String, String>) -> BTreeSet<String> {
    let mut members = BTreeSet::from([last.to_string()]);
    let mut pending = vec![last.to_string()];
    while let Some(consumer) = pending.pop() {
        for (producer, _) in feeds.iter().filter(|(_, c)| **c == consumer) {
            if members.insert(producer.clone()) {
                pending.push(producer.clone());
            }
        }
    }
    members
}

/// What bundles are made of, to expand them to atoms.
struct Bundles<'a> {
    /// The first definitions directory (for messages).
    dir: &'a Path,
    services: &'a BTreeMap<String, Service>,
    raws: &'a BTreeMap<String, Raw>,
    /// Each bundle's members, with the file naming each.
    members: &'a BTreeMap<String, Vec<(String, PathBuf)>>,
}

impl Bundles<'_> {
    /// Puts bundle `name`'s atoms in `expanded` (unless it is in a cycle), with those of the
    /// bundles it holds, each expanded once; reports bundle cycles and unknown members.
    /// `path`: the bundles being expanded, outermost first.
    fn expand(
        &self,
        name: &str,
        path: &mut Vec<String>,
        expanded: &mut BTreeMap<String, BTreeSet<String>>,
        problems: &mut Vec<Problem>,
    ) {
        if expanded.contains_key(name) {
            return;
        }
        if let Some(at) = path.iter().position(|p| p == name) {
            let mut cycle = path[at..].to_vec();
            cycle.push(name.to_string());
            let file = self.services.get(name).and_then(|s| s.source.clone()).unwrap_or_default().join("contents.d");
            problems.push(Problem {
                level: Level::Error,
                file,
                message: format!(
                    "bundle cycle: {}; remove one of these names from the other's contents",
                    cycle.join(" → ")
                ),
            });
            return;
        }
        path.push(name.to_string());
        let mut atoms = BTreeSet::new();
        for (member, file) in self.members.get(name).map(Vec::as_slice).unwrap_or_default() {
            match self.services.get(member).map(|s| s.kind) {
                Some(Kind::Bundle) => {
                    self.expand(member, path, expanded, problems);
                    atoms.extend(expanded.get(member).into_iter().flatten().cloned());
                }
                Some(_) => {
                    atoms.insert(member.clone());
                }
                // Defined, with a problem of its own (said already): the bundle loses it.
                None if self.raws.contains_key(member) => {}
                None => problems.push(unknown(self.dir, file, member)),
            }
        }
        path.pop();
        expanded.insert(name.to_string(), atoms);
    }
}

/// Reports every dependency cycle once, as `a → b → c → a`.
fn dependency_cycles(services: &BTreeMap<String, Service>, problems: &mut Vec<Problem>) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut marks: BTreeMap<&str, Mark> = services.keys().map(|k| (k.as_str(), Mark::New)).collect();
    let mut seen_cycles = BTreeSet::new();
    for start in services.keys() {
        if marks[start.as_str()] != Mark::New {
            continue;
        }
        // Iterative depth-first search keeping the current path.
        let mut stack: Vec<(&str, Vec<&str>)> = vec![(start.as_str(), deps_of(services, start))];
        marks.insert(start.as_str(), Mark::Open);
        while let Some((node, pending)) = stack.last_mut() {
            let node = *node;
            match pending.pop() {
                Some(next) => match marks.get(next).copied() {
                    Some(Mark::New) => {
                        marks.insert(next, Mark::Open);
                        stack.push((next, deps_of(services, next)));
                    }
                    Some(Mark::Open) => {
                        let at = stack.iter().position(|(n, _)| *n == next).unwrap_or(0);
                        let mut cycle: Vec<&str> = stack[at..].iter().map(|(n, _)| *n).collect();
                        let mut key = cycle.clone();
                        key.sort();
                        cycle.push(next);
                        if seen_cycles.insert(key) {
                            let file = services[next].source.clone().unwrap_or_default().join("dependencies.d");
                            problems.push(Problem {
                                level: Level::Error,
                                file,
                                message: format!(
                                    "dependency cycle: {}; remove one of these dependencies",
                                    cycle.join(" → ")
                                ),
                            });
                        }
                    }
                    _ => {}
                },
                None => {
                    marks.insert(node, Mark::Done);
                    stack.pop();
                }
            }
        }
    }
}

fn deps_of<'a>(services: &'a BTreeMap<String, Service>, name: &str) -> Vec<&'a str> {
    let mut deps: Vec<&str> =
        services.get(name).map(|s| s.dependencies.iter().map(String::as_str).collect()).unwrap_or_default();
    deps.reverse();
    deps
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::{scratch, write};

    fn longrun(defs: &Path, name: &str, files: &[(&str, &str)]) {
        let dir = defs.join(name);
        write(&dir.join("type"), "longrun\n", 0o644);
        write(&dir.join("run"), "#!/bin/sh\nexec cat\n", 0o755);
        for (file, text) in files {
            write(&dir.join(file), text, 0o644);
        }
    }

    #[test]
    fn a_log_companion_waits_for_what_its_service_waits_for() {
        let defs = scratch("model-companion-deps");
        write(&defs.join("root-rw/type"), "oneshot\n", 0o644);
        write(&defs.join("root-rw/up"), "true\n", 0o644);
        write(&defs.join("mounts/type"), "bundle\n", 0o644);
        write(&defs.join("mounts/contents"), "root-rw\n", 0o644);
        longrun(&defs, "web", &[("log", ""), ("dependencies", "mounts\n")]);
        let (db, problems) = Db::load(std::slice::from_ref(&defs)).unwrap();
        assert_eq!(problems, []);
        let deps = |name: &str| db.services[name].dependencies.iter().cloned().collect::<Vec<_>>();
        assert_eq!(deps("web"), ["root-rw", "web-log"]);
        assert_eq!(deps("web-log"), ["root-rw"], "the companion's log directory may need the root read-write");
    }

    #[test]
    fn pipelines_nest_a_lone_consumer_and_pipe_the_rest() {
        let defs = scratch("model-pipes");
        // a, b → f (a funnel) → s (f is also a producer), s with a log companion; p → q alone.
        longrun(&defs, "a", &[("producer-for", "f\n")]);
        longrun(&defs, "b", &[("producer-for", "f\n")]);
        longrun(&defs, "f", &[("consumer-for", "a\nb\n"), ("producer-for", "s\n")]);
        longrun(&defs, "s", &[("consumer-for", "f\n"), ("log", "/var/log/s\n")]);
        longrun(&defs, "p", &[("producer-for", "q\n")]);
        longrun(&defs, "q", &[("consumer-for", "p\n")]);
        // A consumer that depends on its producer: no down-order edge the other way (no deadlock).
        longrun(&defs, "x", &[("producer-for", "y\n")]);
        longrun(&defs, "y", &[("consumer-for", "x\n"), ("dependencies", "x\n")]);
        let (db, problems) = Db::load(std::slice::from_ref(&defs)).unwrap();
        assert_eq!(db.services["x"].drains_into, None);
        assert_eq!(db.down_waits("x"), ["y"], "y depends on x: x waits for y, as any dependency");
        assert_eq!(problems, []);
        let wiring = |name: &str| {
            let s = &db.services[name];
            (s.consumer_of.as_deref(), s.pipe_in.as_deref(), s.pipe_out.as_deref())
        };
        assert_eq!(wiring("a"), (None, None, Some("f")));
        assert_eq!(wiring("b"), (None, None, Some("f")));
        assert_eq!(wiring("f"), (None, Some("f"), Some("s")), "a funnel's consumer has a pipe of its own");
        assert_eq!(wiring("s"), (None, Some("s"), None), "one producer, but a producer itself (of s-log)");
        assert_eq!(wiring("s-log"), (Some("s"), None, None), "the companion is s's log/");
        assert_eq!(wiring("p"), (None, None, None));
        assert_eq!(wiring("q"), (Some("p"), None, None), "a lone consumer is its producer's log/");
        // Going down, a consumer waits for its producers, a companion for its service.
        assert_eq!(db.down_waits("f"), ["a", "b"]);
        assert_eq!(db.down_waits("s-log"), ["s"]);
        assert_eq!(db.down_waited_by("a"), ["f"]);
        // The wiring is in the fingerprint: a producer whose files did not change still restarts
        // when its consumer gains a producer.
        let before = db.services["p"].fingerprint;
        longrun(&defs, "r", &[("producer-for", "q\n")]);
        std::fs::write(defs.join("q/consumer-for"), "p\nr\n").unwrap();
        let (db, problems) = Db::load(std::slice::from_ref(&defs)).unwrap();
        assert_eq!(problems, []);
        assert_eq!(db.services["p"].pipe_out.as_deref(), Some("q"));
        assert_ne!(db.services["p"].fingerprint, before);
        std::fs::remove_dir_all(&defs).unwrap();
    }

    #[test]
    fn links_and_privilege_files_are_judged_from_the_one_reading() {
        use std::os::unix::fs::symlink;
        let defs = scratch("model-links");
        let programs = defs.join("programs");
        write(&programs.join("daemon"), "#!/bin/sh\n", 0o755);
        std::fs::create_dir_all(programs.join("data")).unwrap();
        for name in ["program", "dangling", "directory", "data-file"] {
            write(&defs.join(name).join("type"), "longrun\n", 0o644);
        }
        symlink("../programs/daemon", defs.join("program/run")).unwrap();
        symlink("../programs/data", defs.join("program/data")).unwrap();
        symlink("../programs/nothing", defs.join("dangling/run")).unwrap();
        symlink("../programs/data", defs.join("directory/run")).unwrap();
        symlink("../programs/daemon", defs.join("data-file/run")).unwrap();
        symlink("../programs/daemon", defs.join("data-file/data")).unwrap();
        // A privilege file the supervisor would refuse, found by the listing the model made.
        longrun(&defs, "two-users", &[("user", "root daemon\n")]);
        let (_, problems) = Db::load(std::slice::from_ref(&defs)).unwrap();
        let said = |name: &str, file: &str| {
            problems
                .iter()
                .filter(|p| p.file == defs.join(name).join(file))
                .map(|p| p.message.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(said("program", "run"), Vec::<String>::new(), "a link to a program is a regular file");
        assert_eq!(said("program", "data"), Vec::<String>::new(), "a link to a directory is one");
        for name in ["dangling", "directory"] {
            assert!(said(name, "run").iter().any(|m| m.contains("not a regular file")), "{name}: {problems:?}");
        }
        assert!(said("data-file", "data").iter().any(|m| m.contains("not a directory")), "{problems:?}");
        assert!(said("two-users", "user").iter().any(|m| m.contains("will not start")), "{problems:?}");
        std::fs::remove_dir_all(&defs).unwrap();
    }
}
