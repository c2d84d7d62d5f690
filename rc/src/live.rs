//! The live state of the service manager: where things are, which services are up, and the
//! live service directories the scanner supervises.
//!
//! - `RUNDIR/rc/state`: one line per service that is up: `NAME KIND FINGERPRINT` (the
//!   fingerprint of the definition it was started from, for reload);
//! - `RUNDIR/rc/lock`: taken by every `ostler rc` that changes something;
//! - `RUNDIR/sv/NAME`: a longrun's live service directory (the definition's supervisor files),
//!   linked as `SCANDIR/NAME`; a pipeline's consumer of one producer lives in its producer's,
//!   as `log/`, so the scanner holds the pipe between them and either side restarts without
//!   losing a byte; the members of funnels and longer pipelines have directories of their own
//!   and name the pipes the scanner holds for them in `ostler-pipes`. A
//!   `down` file in it means "the service manager wants it down", so a scanner restart does not
//!   start it.

use crate::model::{Db, Kind, Service};
use crate::source::{Content, File, MANAGER_FILES};
use crate::sys::{self, EntryType};
use ostler_core::paths;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Where the service manager finds and keeps things.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The definition directories, read together (`/etc/ostler/sv`).
    pub defs: Vec<PathBuf>,
    /// The private runtime area (`/run/ostler`).
    pub run_dir: PathBuf,
    /// The scanner's directory (`/run/service`).
    pub scan_dir: PathBuf,
}

/// The definitions directory when nothing says otherwise.
pub const DEFAULT_DEFS: &str = "/etc/ostler/sv";

/// The file of the live state naming the definition directories it was made from.
const DEFS_FILE: &str = "defs";

impl Layout {
    /// The system's paths, or `OSTLER_RUNDIR`, `OSTLER_SCANDIR`; the definitions from
    /// `OSTLER_DEFS` (directories separated by `:`), else those the live state was made from
    /// (see [`Layout::record_defs`]), else `/etc/ostler/sv`.
    ///
    /// In a container whose `/run` was not writable, the init's runtime area is elsewhere
    /// (`/tmp/ostler-UID`, `/var/tmp/ostler-UID`, `/dev/shm/ostler-UID`) and a command run by
    /// `podman exec` does not inherit its variables: with neither variable set and no live state
    /// in `/run/ostler`, the first of those holding one is used.
    ///
    /// A user other than root whose own instance runs (`ostler user`; see
    /// [`paths::running_user_instance`]) gets that instance's paths.
    pub fn from_env() -> Layout {
        let dir = paths::from_env;
        let mut run_dir = dir("OSTLER_RUNDIR", paths::PRIVATE_DIR);
        let mut scan_dir = dir("OSTLER_SCANDIR", paths::SCAN_DIR);
        if let Some(user) = paths::running_user_instance() {
            (run_dir, scan_dir) = (user.private, user.scan);
        } else if run_dir == Path::new(paths::PRIVATE_DIR) && scan_dir == Path::new(paths::SCAN_DIR) {
            if let Some(area) = container_area(&run_dir) {
                (run_dir, scan_dir) = (area.join("ostler"), area.join("service"));
            }
        }
        let defs = match std::env::var_os("OSTLER_DEFS") {
            Some(list) if !list.is_empty() => split_defs(&list),
            _ => recorded_defs(&run_dir).unwrap_or_else(|| vec![PathBuf::from(DEFAULT_DEFS)]),
        };
        Layout { defs, run_dir, scan_dir }
    }

    /// The definition directories, for messages: `A`, or `A, B`.
    pub fn defs_text(&self) -> String {
        let names: Vec<String> = self.defs.iter().map(|d| d.display().to_string()).collect();
        names.join(", ")
    }

    /// The directory holding definition `name` (the first directory when none does: where a
    /// new one goes).
    pub fn def_dir(&self, name: &str) -> PathBuf {
        let found = self.defs.iter().find(|d| d.join(name).join("type").exists());
        found.or(self.defs.first()).map(|d| d.join(name)).unwrap_or_else(|| PathBuf::from(DEFAULT_DEFS).join(name))
    }

    /// Writes down, in the live state, the definition directories it is made from, so that
    /// every later command (`service`, `ostler rc`, the shutdown daemon) given none reads the
    /// same ones. Written only when it changes.
    pub fn record_defs(&self) -> Result<(), ostler_core::CoreError> {
        if recorded_defs(&self.run_dir).as_ref() == Some(&self.defs) {
            return Ok(());
        }
        let mut text = Vec::new();
        for dir in &self.defs {
            text.extend_from_slice(dir.as_os_str().as_bytes());
            text.push(b'\n');
        }
        ostler_core::atomic::write(&self.rc_dir().join(DEFS_FILE), &text, 0o644)
    }

    /// `RUNDIR/rc`.
    pub fn rc_dir(&self) -> PathBuf {
        self.run_dir.join("rc")
    }

    /// The boot timeline.
    pub fn timeline(&self) -> PathBuf {
        self.run_dir.join("timeline")
    }

    /// The live service directory of a longrun.
    pub fn service_dir(&self, service: &Service) -> PathBuf {
        match &service.consumer_of {
            Some(producer) => self.run_dir.join("sv").join(producer).join("log"),
            None => self.run_dir.join("sv").join(&service.name),
        }
    }
}

/// A container init's runtime area outside /run, when /run holds no live state (see
/// [`Layout::from_env`]).
fn container_area(run_dir: &Path) -> Option<PathBuf> {
    if run_dir.join("rc").exists() {
        return None;
    }
    let uid = nix::unistd::geteuid().as_raw();
    paths::CONTAINER_AREA_BASES
        .iter()
        .map(|base| paths::container_area(base, uid))
        .find(|area| area.join("ostler/rc").is_dir())
}

/// `A:B:C` as directories (empty parts skipped).
pub fn split_defs(list: &OsStr) -> Vec<PathBuf> {
    list.as_bytes()
        .split(|&b| b == b':')
        .filter(|d| !d.is_empty())
        .map(|d| PathBuf::from(OsStr::from_bytes(d)))
        .collect()
}

/// The definition directories the live state under `run_dir` was made from, if it says.
pub fn recorded_defs(run_dir: &Path) -> Option<Vec<PathBuf>> {
    let text = std::fs::read(run_dir.join("rc").join(DEFS_FILE)).ok()?;
    let dirs: Vec<PathBuf> =
        text.split(|&b| b == b'\n').filter(|d| !d.is_empty()).map(|d| PathBuf::from(OsStr::from_bytes(d))).collect();
    (!dirs.is_empty()).then_some(dirs)
}

/// One service that is up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Up {
    /// Longrun or oneshot.
    pub kind: Kind,
    /// The fingerprint of the definition it was started from.
    pub fingerprint: u64,
}

/// Which services are up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// By name.
    pub up: BTreeMap<String, Up>,
}

impl State {
    /// Reads the state (none yet: nothing is up).
    pub fn load(layout: &Layout) -> State {
        let text = std::fs::read_to_string(layout.rc_dir().join("state")).unwrap_or_default();
        let mut state = State::default();
        for line in text.lines() {
            let mut words = line.split(' ');
            let (Some(name), Some(kind), Some(print)) = (words.next(), words.next(), words.next()) else { continue };
            let kind = match kind {
                "longrun" => Kind::Longrun,
                "oneshot" => Kind::Oneshot,
                _ => continue,
            };
            let Ok(fingerprint) = u64::from_str_radix(print, 16) else { continue };
            state.up.insert(name.to_string(), Up { kind, fingerprint });
        }
        state
    }

    /// Writes it atomically (`state.new`, renamed over `state`).
    pub fn save(&self, layout: &Layout) -> Result<(), ostler_core::CoreError> {
        use std::fmt::Write;
        // Saved at every wake-up of a change: one buffer, no String per line.
        let mut text = String::with_capacity(self.up.len() * 48);
        for (name, up) in &self.up {
            let _ = writeln!(text, "{name} {} {:016x}", up.kind.word(), up.fingerprint);
        }
        ostler_core::atomic::write(&layout.rc_dir().join("state"), text.as_bytes(), 0o644)
    }
}

/// A longrun's live service directory, ready for the scanner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepared {
    /// The directory.
    pub dir: PathBuf,
    /// Linked into the scan directory now: the scanner must rescan to see it.
    pub linked: bool,
    /// It holds a `down` file.
    pub down: bool,
    /// The scanner starts a supervisor for it on that rescan, and the supervisor starts it:
    /// the directory is new (nothing supervised it before), its scan link too, and it has no
    /// `down` file. Telling its supervisor `u` would be for nothing.
    pub started_by_scanner: bool,
    /// Whether it has a `notification-fd` or `notify-socket` (`None`: unknown without
    /// looking, as in a directory that was there before).
    pub notifies: Option<bool>,
}

/// One change's work on the live tree. It remembers what this change made, so that it does
/// not look for what cannot be in a directory it has just created, writes each file once, and
/// knows which services the scanner will start by itself.
#[derive(Debug, Default)]
pub struct Builder {
    /// Live directories this change created (everything in them is its own).
    /// Keyed by the path's bytes: these paths are all built the same way from the layout, and
    /// `Path`'s own ordering (component by component) was a sixth of a change's instructions.
    made: BTreeMap<OsString, Made>,
    /// Service directories this change linked into the scan directory.
    linked: BTreeSet<OsString>,
    /// `ostler` and whether the log user exists, for the log companions' `run`.
    companion: Option<(PathBuf, bool)>,
    /// In a container whose services' lines are marked with their names: ostler, for their
    /// generated loggers (once known).
    marker: Option<Option<PathBuf>>,
}

#[derive(Debug, Default)]
struct Made {
    /// It holds a `down` file.
    down: bool,
    /// Filled with its service's files, and whether they include a `notification-fd`.
    filled: Option<Option<bool>>,
}

impl Builder {
    /// Makes a longrun's live service directory if it is missing, with the directories above
    /// it; returns it.
    pub fn make_dir(&mut self, layout: &Layout, service: &Service) -> std::io::Result<PathBuf> {
        let dir = layout.service_dir(service);
        self.mkdir(&dir)?;
        Ok(dir)
    }

    /// Makes (or refreshes) a longrun's live service directory and links it into the scan
    /// directory; with `down`, marks it wanted down.
    pub fn prepare(&mut self, layout: &Layout, db: &Db, service: &Service, down: bool) -> std::io::Result<Prepared> {
        let dir = layout.service_dir(service);
        let top = match &service.consumer_of {
            Some(producer) => layout.run_dir.join("sv").join(producer),
            None => dir.clone(),
        };
        self.mkdir(&dir)?;
        let notifies = self.fill(layout, service, &dir)?;
        self.mark_down(&dir, down)?;
        // A producer made before its consumer: make the consumer's directory too (down until
        // asked), so the scanner sets up the pipe when it first sees the pair.
        let nested = |c: &&Service| c.consumer_of.as_deref() == Some(service.name.as_str());
        if let Some(consumer) = service.producer_for.as_ref().and_then(|c| db.services.get(c)).filter(nested) {
            let log = layout.service_dir(consumer);
            // In a directory this change made, only what it made can be.
            let there =
                self.made.contains_key(log.as_os_str()) || (!self.made.contains_key(dir.as_os_str()) && log.exists());
            if !there {
                self.mkdir(&log)?;
                self.fill(layout, consumer, &log)?;
                self.mark_down(&log, true)?;
            }
        }
        let link = layout.scan_dir.join(top.file_name().unwrap_or_default());
        let linked = self.link(&top, &link)?;
        let started_by_scanner = !down
            && self.made.contains_key(dir.as_os_str())
            && self.made.contains_key(top.as_os_str())
            && self.linked.contains(top.as_os_str());
        Ok(Prepared { dir, linked, down, started_by_scanner, notifies })
    }

    /// `mkdir -p`, remembering what it made.
    fn mkdir(&mut self, path: &Path) -> std::io::Result<()> {
        if self.made.contains_key(path.as_os_str()) {
            return Ok(());
        }
        let made = match std::fs::create_dir(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match path.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => {
                    self.mkdir(parent)?;
                    std::fs::create_dir(path)
                }
                _ => Err(e),
            },
            made => made,
        };
        match made {
            Ok(()) => {
                self.made.insert(path.as_os_str().to_owned(), Made::default());
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Puts a longrun's supervisor files in `dir`: its definition's, or for a generated log
    /// companion, the generated ones. Returns whether it has a `notification-fd`, when known.
    fn fill(&mut self, layout: &Layout, service: &Service, dir: &Path) -> std::io::Result<Option<bool>> {
        let fresh = match self.made.get(dir.as_os_str()) {
            Some(Made { filled: Some(notifies), .. }) => return Ok(*notifies),
            Some(_) => true,
            None => false,
        };
        let notifies = match (&service.source, &service.log_dir) {
            (Some(source), _) => {
                let notifies = copy_supervisor_files(&service.files, source, dir, fresh)?;
                let marker = self.marker.get_or_insert_with(|| ostler_core::paths::marker(&layout.run_dir));
                if let (Some(ostler), true) = (marker, wants_mark(service)) {
                    ostler_core::mark_logger::write(dir, ostler)?;
                }
                notifies
            }
            (None, Some(log_dir)) => {
                let (ostler, has_user) = self.companion.get_or_insert_with(|| {
                    let ostler = ostler_core::paths::ostler_by_path(&layout.run_dir);
                    (ostler, nix::unistd::User::from_name(LOG_USER).ok().flatten().is_some())
                });
                write_log_companion(dir, log_dir, ostler, *has_user, fresh)?;
                Some(true)
            }
            (None, None) => Some(false),
        };
        write_pipes(service, dir, fresh)?;
        let notifies = if fresh { notifies } else { None };
        if let Some(made) = self.made.get_mut(dir.as_os_str()) {
            made.filled = Some(notifies);
        }
        Ok(notifies)
    }

    /// Makes sure `dir` has a `down` file, or has none.
    fn mark_down(&mut self, dir: &Path, down: bool) -> std::io::Result<()> {
        let file = dir.join("down");
        match self.made.get_mut(dir.as_os_str()) {
            Some(made) if made.down == down => return Ok(()),
            Some(made) => made.down = down,
            None => {}
        }
        if down {
            sys::write_plain(&file, b"", 0o666)
        } else {
            match std::fs::remove_file(&file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        }
    }

    /// Links `top` into the scan directory as `link`, unless it is there already (leading
    /// somewhere that was there before this change). Returns whether it linked it.
    fn link(&mut self, top: &Path, link: &Path) -> std::io::Result<bool> {
        if self.linked.contains(top.as_os_str()) {
            return Ok(false);
        }
        match std::os::unix::fs::symlink(top, link) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // A link to a directory this change made was dangling until now.
                if !self.made.contains_key(top.as_os_str()) && link.exists() {
                    return Ok(false);
                }
                let _ = std::fs::remove_file(link);
                std::os::unix::fs::symlink(top, link)?;
            }
            Err(e) => return Err(e),
        }
        self.linked.insert(top.as_os_str().to_owned());
        Ok(true)
    }
}

/// Copies the files a supervisor reads (all but the service manager's) from a definition, as
/// read. In a directory this change made (`fresh`), each is written in place: no supervisor
/// reads it yet. Returns whether there is a `notification-fd`, when that is sure.
fn copy_supervisor_files(files: &[File], source: &Path, dir: &Path, fresh: bool) -> std::io::Result<Option<bool>> {
    let mut notifies = Some(false);
    let mut skipped: Vec<&OsStr> = Vec::new();
    for file in files {
        let Some(first) = file.path.iter().next() else { continue };
        if file.path.parent() == Some(Path::new("")) {
            let name = first.to_str().unwrap_or_default();
            // A `log` directory is an s6-svscan-style logger and goes along (s6-rc would drop
            // it); a `log` file is ostler's log companion, made into its own service.
            let logger_dir = name == "log"
                && match file.content {
                    Content::Dir => true,
                    Content::Symlink(..) => file.content.leads_to() == Some(EntryType::Dir),
                    Content::Bytes(_) | Content::Other | Content::TooLarge(_) => false,
                };
            if (MANAGER_FILES.contains(&name) && !logger_dir)
                || name == "supervise"
                || name == "event"
                || name == PIPES_FILE
            {
                skipped.push(first);
                continue;
            }
            if name == "notification-fd" || name == "notify-socket" {
                // A link may lead nowhere, and then the supervisor sees none; a plain file makes
                // it sure, whatever the other one is.
                if notifies != Some(true) {
                    notifies = if matches!(file.content, Content::Symlink(..)) { None } else { Some(true) };
                }
            }
            if name == "run" || name == "finish" {
                // s6-rc-compile copies both with mode 0755 whatever the source's mode (trees are
                // committed 0644, and packages install them so), and copies what a symbolic
                // link leads to: the same here — except for a link to a program that can already
                // be executed, which the live directory links to as well: a copy would put a
                // whole binary on /run's tmpfs for each service (a megabyte each, read and
                // written at every boot: issue 15).
                let resolved = match &file.content {
                    Content::Symlink(target, led_to) => match executable_target(source, target, *led_to) {
                        Some(target) => Some(File {
                            path: file.path.clone(),
                            mode: 0o777,
                            content: Content::Symlink(target, *led_to),
                        }),
                        None => file.bytes(source).map(|bytes| File {
                            path: file.path.clone(),
                            mode: 0o755,
                            content: Content::Bytes(bytes),
                        }),
                    },
                    _ => None,
                };
                copy(resolved.as_ref().unwrap_or(file), 0o755, source, &dir.join(&file.path), fresh)?;
                continue;
            }
        } else if skipped.contains(&first) {
            continue;
        }
        copy(file, file.mode, source, &dir.join(&file.path), fresh)?;
    }
    Ok(notifies)
}

/// A top-level link's `target` in the definition `source`, made absolute (a relative one is
/// taken from `source`), when it leads to a regular file someone may execute (`led_to`, the
/// mode found when the definition was read); `None` otherwise (a script committed 0644 is
/// copied and made executable). Not canonicalised: musl's realpath reads every component's
/// link, seven calls for a path in /usr, and the kernel resolves the rest.
fn executable_target(source: &Path, target: &Path, led_to: Option<u32>) -> Option<PathBuf> {
    let mode = led_to?;
    if EntryType::of_mode(mode) != EntryType::File || mode & 0o111 == 0 {
        return None;
    }
    std::path::absolute(source.join(target)).ok()
}

/// Copies one file as `to`, a regular file with `mode`.
fn copy(file: &File, mode: u32, source: &Path, to: &Path, fresh: bool) -> std::io::Result<()> {
    let exists = |e: &std::io::Error| e.kind() == std::io::ErrorKind::AlreadyExists;
    match &file.content {
        Content::Dir => match std::fs::create_dir(to) {
            Err(e) if exists(&e) => std::fs::create_dir_all(to),
            done => done,
        },
        Content::Symlink(target, _) => {
            if fresh {
                match std::os::unix::fs::symlink(target, to) {
                    Err(e) if exists(&e) => {}
                    done => return done,
                }
            }
            let _ = std::fs::remove_file(to);
            std::os::unix::fs::symlink(target, to)
        }
        Content::Bytes(bytes) => {
            if fresh {
                match sys::write_file(to, bytes, mode, true) {
                    Err(e) if exists(&e) => {}
                    done => return done,
                }
            }
            // Write a new file and rename it over, so a running service never reads half a file.
            let staged = to.with_extension("ostler-new");
            sys::write_file(&staged, bytes, mode, false)?;
            std::fs::rename(&staged, to)
        }
        Content::Other => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{}: not a regular file, a directory or a symbolic link", source.join(&file.path).display()),
        )),
        // The model leaves such a definition out; said again should one get here.
        Content::TooLarge(size) => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{}: {size} bytes, more than a definition file may hold ({} MiB)",
                source.join(&file.path).display(),
                crate::source::DEFINITION_FILE_LIMIT >> 20
            ),
        )),
    }
}

/// The pipes a member of a funnel or longer pipeline reads and writes, for the scanner
/// (`ostler-pipes`, see the scanner's `pipes` module); none for everyone else.
fn write_pipes(service: &Service, dir: &Path, fresh: bool) -> std::io::Result<()> {
    let text = pipes_text(service);
    let path = dir.join(PIPES_FILE);
    if !text.is_empty() {
        return sys::write_plain(&path, text.as_bytes(), 0o644);
    }
    match fresh {
        true => Ok(()),
        false => match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
    }
}

/// What a longrun's `ostler-pipes` says (empty: it has none).
fn pipes_text(service: &Service) -> String {
    let mut text = String::new();
    if let Some(pipe) = &service.pipe_in {
        text.push_str(&format!("stdin {pipe}\n"));
    }
    if let Some(pipe) = &service.pipe_out {
        text.push_str(&format!("stdout {pipe}\n"));
    }
    text
}

/// Whether a longrun's live directory is where the model puts it, naming the pipes the model
/// gives it. When not, the scanner supervises it with an old shape (the pipes are read, and
/// `log/` found, when it adds a service): a reload must make it add the service again.
pub fn wired_as_modelled(layout: &Layout, db: &Db, service: &Service) -> bool {
    let dir = layout.service_dir(service);
    if !dir.is_dir() || std::fs::read_to_string(dir.join(PIPES_FILE)).unwrap_or_default() != pipes_text(service) {
        return false;
    }
    service.consumer_of.is_some() || dir.join("log").is_dir() == wants_log_dir(db, service)
}

/// Whether a top-level live directory holds a `log/`: a consumer lives in it, or the
/// definition has an s6-svscan-style logger directory.
pub fn wants_log_dir(db: &Db, service: &Service) -> bool {
    db.services.values().any(|c| c.consumer_of.as_deref() == Some(service.name.as_str()))
        || service.source.as_ref().is_some_and(|d| d.join("log").is_dir())
}

/// The file naming a service's pipes (the scanner's `ostler_supervise` reads it).
pub const PIPES_FILE: &str = "ostler-pipes";

/// The unprivileged user log companions run as, when the system has one.
pub const LOG_USER: &str = "log";

/// A generated log companion: `ostler log` into its directory, ready once it runs. As the
/// `log` user (owning the directory) when `/etc/passwd` has one, else as root.
/// Whether a longrun's output goes nowhere of its own: no consumer, no logger, not a logger.
fn wants_mark(service: &Service) -> bool {
    let has_log_dir = service.files.iter().any(|f| f.path == Path::new("log"));
    service.producer_for.is_none() && service.consumer_of.is_none() && service.log_dir.is_none() && !has_log_dir
}

fn write_log_companion(dir: &Path, log_dir: &Path, ostler: &Path, has_user: bool, fresh: bool) -> std::io::Result<()> {
    let parent = log_dir.parent().unwrap_or(Path::new("/")).display();
    let (ostler, log_dir) = (ostler.display(), log_dir.display());
    let start = if has_user {
        format!("chown {LOG_USER}:{LOG_USER} '{log_dir}' || exit 111\nexec '{ostler}' setuidgid {LOG_USER} '{ostler}'")
    } else {
        format!("exec '{ostler}'")
    };
    // A service's logs hold what it says about its users (syslogd's hold every login), so the
    // directory is made 0750 and the logger's files 0640 (umask 027): the logger's user and
    // group `log` read them, nobody else (docs/security.md). With PID 1's umask (022) they were
    // 0755 and 0644: readable by any user. The directories above it are made as usual (0755):
    // the logger's user must get through /run/log to its own. One made earlier keeps the mode
    // it has (an admin may have opened it on purpose).
    let run = format!(
        "#!/bin/sh\n# Made by ostler rc from the service's `log` file.\n[ -d '{log_dir}' ] || {{ mkdir -p '{parent}' && mkdir -m 750 '{log_dir}'; }} || exit 111\numask 027\n{start} log -d 3 t '{log_dir}'\n"
    );
    let path = dir.join("run");
    match sys::write_file(&path, run.as_bytes(), 0o755, fresh) {
        Err(e) if fresh && e.kind() == std::io::ErrorKind::AlreadyExists => {
            sys::write_file(&path, run.as_bytes(), 0o755, false)?
        }
        done => done?,
    }
    sys::write_plain(&dir.join("notification-fd"), b"3\n", 0o666)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    use crate::testing::write;

    fn scratch(name: &str) -> PathBuf {
        crate::testing::scratch(&format!("live-{name}"))
    }

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn setup(name: &str) -> (PathBuf, Layout) {
        let root = scratch(name);
        let layout = Layout { defs: vec![root.join("sv")], run_dir: root.join("run"), scan_dir: root.join("scan") };
        std::fs::create_dir_all(&layout.scan_dir).unwrap();
        (root, layout)
    }

    fn prepare(live: &mut Builder, layout: &Layout, db: &Db, name: &str, down: bool) -> Prepared {
        let service = &db.services[name];
        live.make_dir(layout, service).unwrap();
        live.prepare(layout, db, service, down).unwrap()
    }

    #[test]
    fn a_run_linked_to_a_program_is_linked_and_a_linked_script_copied_executable() {
        let (root, layout) = setup("linked-run");
        let programs = root.join("programs");
        write(&programs.join("daemon"), "\x7fELF not really", 0o755);
        write(&programs.join("finish.sh"), "#!/bin/sh\n", 0o644);
        let a = layout.defs[0].join("a");
        write(&a.join("type"), "longrun\n", 0o644);
        // Relative, as packages make them: the live link is absolute.
        std::os::unix::fs::symlink("../../programs/daemon", a.join("run")).unwrap();
        std::os::unix::fs::symlink(programs.join("finish.sh"), a.join("finish")).unwrap();
        let (db, problems) = Db::load(&layout.defs).unwrap();
        assert_eq!(problems, []);
        let dir = prepare(&mut Builder::default(), &layout, &db, "a", false).dir;
        let daemon = std::fs::canonicalize(programs.join("daemon")).unwrap();
        let link = std::fs::read_link(dir.join("run")).expect("a program is linked, not copied");
        assert!(link.is_absolute(), "{link:?}");
        assert_eq!(std::fs::canonicalize(dir.join("run")).unwrap(), daemon);
        // A script that cannot be executed as it is: copied, made executable, as s6-rc-compile.
        assert!(!std::fs::symlink_metadata(dir.join("finish")).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(dir.join("finish")).unwrap(), "#!/bin/sh\n");
        assert_eq!(mode(&dir.join("finish")), 0o755);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_new_live_directory_is_a_copy_of_the_supervisor_files_and_left_to_the_scanner() {
        let (root, layout) = setup("copy");
        let a = layout.defs[0].join("a");
        write(&a.join("type"), "longrun\n", 0o644);
        write(&a.join("run"), "#!/bin/sh\nexec sleep 100\n", 0o644);
        write(&a.join("finish"), "#!/bin/sh\n", 0o700);
        write(&a.join("data/deep/conf"), "x = 1\n", 0o640);
        write(&a.join("log/run"), "#!/bin/sh\nexec cat\n", 0o755);
        write(&a.join("dependencies.d/b"), "", 0o644);
        write(&a.join("timeout-up"), "1000\n", 0o644);
        write(&a.join("supervise/status"), "stale", 0o644);
        std::os::unix::fs::symlink("/bin/true", a.join("check")).unwrap();
        write(&layout.defs[0].join("b/type"), "longrun\n", 0o644);
        write(&layout.defs[0].join("b/run"), "#!/bin/sh\n", 0o755);
        write(&layout.defs[0].join("b/notification-fd"), "3\n", 0o644);
        let (db, problems) = Db::load(&layout.defs).unwrap();
        assert_eq!(problems, []);

        let mut live = Builder::default();
        let b = prepare(&mut live, &layout, &db, "b", true);
        assert!(b.linked && b.down && !b.started_by_scanner, "wanted down: {b:?}");
        assert_eq!(b.notifies, Some(true));
        assert!(b.dir.join("down").exists());
        let a = prepare(&mut live, &layout, &db, "a", false);
        assert!(a.linked && !a.down && a.started_by_scanner, "{a:?}");
        assert_eq!(a.notifies, Some(false));
        let dir = &a.dir;
        assert_eq!(std::fs::read_link(layout.scan_dir.join("a")).unwrap(), *dir);
        assert_eq!(std::fs::read_to_string(dir.join("run")).unwrap(), "#!/bin/sh\nexec sleep 100\n");
        // Whatever their mode, as s6-rc-compile copies them.
        assert_eq!((mode(&dir.join("run")), mode(&dir.join("finish"))), (0o755, 0o755));
        assert_eq!(std::fs::read_to_string(dir.join("data/deep/conf")).unwrap(), "x = 1\n");
        assert_eq!(mode(&dir.join("data/deep/conf")), 0o640);
        assert_eq!(std::fs::read_link(dir.join("check")).unwrap(), Path::new("/bin/true"));
        assert_eq!(std::fs::read_to_string(dir.join("log/run")).unwrap(), "#!/bin/sh\nexec cat\n");
        for absent in ["type", "dependencies.d", "timeout-up", "supervise", "down"] {
            assert!(!dir.join(absent).exists(), "{absent} was copied");
        }

        // The next change finds it there: files are replaced whole, the link is kept, and what
        // was not made by this change is looked at.
        write(&layout.defs[0].join("a/run"), "#!/bin/sh\nexec sleep 200\n", 0o755);
        let (db, _) = Db::load(&layout.defs).unwrap();
        let mut live = Builder::default();
        let again = prepare(&mut live, &layout, &db, "a", true);
        assert!(!again.linked && again.down && !again.started_by_scanner, "{again:?}");
        assert_eq!(again.notifies, None);
        assert_eq!(std::fs::read_to_string(dir.join("run")).unwrap(), "#!/bin/sh\nexec sleep 200\n");
        assert_eq!(mode(&dir.join("run")), 0o755);
        assert!(!dir.join("run.ostler-new").exists() && dir.join("down").exists());
        let again = prepare(&mut Builder::default(), &layout, &db, "a", false);
        assert!(!again.down && !again.started_by_scanner && !dir.join("down").exists(), "{again:?}");
        // A scan link left dangling by a removed live directory is made again.
        std::fs::remove_dir_all(dir).unwrap();
        let again = prepare(&mut Builder::default(), &layout, &db, "a", false);
        assert!(again.linked && again.started_by_scanner, "{again:?}");
        assert!(dir.join("run").exists());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn notify_socket_is_copied_and_counts_as_notifying() {
        let (root, layout) = setup("notify-socket");
        let a = layout.defs[0].join("a");
        write(&a.join("type"), "longrun\n", 0o644);
        write(&a.join("run"), "#!/bin/sh\n", 0o755);
        write(&a.join("notify-socket"), "", 0o644);
        let (db, problems) = Db::load(&layout.defs).unwrap();
        assert_eq!(problems, []);
        let a = prepare(&mut Builder::default(), &layout, &db, "a", false);
        assert_eq!(a.notifies, Some(true));
        assert!(a.dir.join("notify-socket").is_file());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_log_companion_lives_in_its_producer_and_is_left_to_the_scanner_with_it() {
        let (root, layout) = setup("companion");
        let web = layout.defs[0].join("web");
        write(&web.join("type"), "longrun\n", 0o644);
        write(&web.join("run"), "#!/bin/sh\n", 0o755);
        write(&web.join("log"), &format!("{}\n", root.join("logs").display()), 0o644);
        let (db, problems) = Db::load(&layout.defs).unwrap();
        assert_eq!(problems, []);
        let (producer, consumer) = (&db.services["web"], &db.services["web-log"]);
        // As a change does it: every directory first (for the subscriptions), then in name order.
        let mut live = Builder::default();
        live.make_dir(&layout, producer).unwrap();
        live.make_dir(&layout, consumer).unwrap();
        let web = live.prepare(&layout, &db, producer, true).unwrap();
        let log = live.prepare(&layout, &db, consumer, false).unwrap();
        assert!(web.linked && web.down && !web.started_by_scanner, "{web:?}");
        assert!(!log.linked && !log.down && log.started_by_scanner, "{log:?}");
        assert_eq!(log.dir, web.dir.join("log"));
        assert_eq!(log.notifies, Some(true));
        let run = std::fs::read_to_string(log.dir.join("run")).unwrap();
        assert!(run.contains(&format!("log -d 3 t '{}'", root.join("logs").display())), "{run}");
        assert!(run.contains("&& mkdir -m 750 ") && run.contains("\numask 027\n"), "logs readable by any user: {run}");
        assert_eq!(mode(&log.dir.join("run")), 0o755);
        assert_eq!(std::fs::read_to_string(log.dir.join("notification-fd")).unwrap(), "3\n");
        assert!(web.dir.join("down").exists() && !log.dir.join("down").exists());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
