//! The live state of the service manager: where things are, which services are up, and the
//! live service directories the scanner supervises.
//!
//! - `RUNDIR/rc/state`: one line per service that is up: `NAME KIND FINGERPRINT` (the
//!   fingerprint of the definition it was started from, for reload);
//! - `RUNDIR/rc/lock`: taken by every `ostler rc` that changes something;
//! - `RUNDIR/sv/NAME`: a longrun's live service directory (the definition's supervisor files),
//!   linked as `SCANDIR/NAME`; a pipeline's consumer lives in its producer's, as `log/`, so the
//!   scanner holds the pipe between them and either side restarts without losing a byte. A
//!   `down` file in it means "the service manager wants it down", so a scanner restart does not
//!   start it.

use crate::model::{Db, Kind, Service};
use crate::source::MANAGER_FILES;
use ostler_core::paths;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the service manager finds and keeps things.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The definitions (`/etc/ostler/sv`).
    pub defs: PathBuf,
    /// The private runtime area (`/run/ostler`).
    pub run_dir: PathBuf,
    /// The scanner's directory (`/run/service`).
    pub scan_dir: PathBuf,
}

impl Layout {
    /// The system's paths, or `OSTLER_DEFS`, `OSTLER_RUNDIR`, `OSTLER_SCANDIR`.
    pub fn from_env() -> Layout {
        let dir = paths::from_env;
        Layout {
            defs: dir("OSTLER_DEFS", "/etc/ostler/sv"),
            run_dir: dir("OSTLER_RUNDIR", paths::PRIVATE_DIR),
            scan_dir: dir("OSTLER_SCANDIR", paths::SCAN_DIR),
        }
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

    /// Writes it atomically.
    pub fn save(&self, layout: &Layout) -> Result<(), ostler_core::CoreError> {
        let mut text = String::new();
        for (name, up) in &self.up {
            text.push_str(&format!("{name} {} {:016x}\n", up.kind.word(), up.fingerprint));
        }
        ostler_core::atomic::write(&layout.rc_dir().join("state"), text.as_bytes(), 0o644)
    }
}

/// Makes (or refreshes) a longrun's live service directory; with `down`, marks it wanted down.
/// Returns the directory and whether the scanner must rescan to see it.
pub fn prepare(layout: &Layout, db: &Db, service: &Service, down: bool) -> std::io::Result<(PathBuf, bool)> {
    let dir = layout.service_dir(service);
    let top = match &service.consumer_of {
        Some(producer) => layout.run_dir.join("sv").join(producer),
        None => dir.clone(),
    };
    let link = layout.scan_dir.join(top.file_name().unwrap_or_default());
    let new = !link.exists();
    fill(service, &dir)?;
    let down_file = dir.join("down");
    if down {
        std::fs::write(&down_file, "")?;
    } else if down_file.exists() {
        std::fs::remove_file(&down_file)?;
    }
    // A producer made before its consumer: make the consumer's directory too (down until
    // asked), so the scanner sets up the pipe when it first sees the pair.
    if let Some(consumer) = service.producer_for.as_ref().and_then(|c| db.services.get(c)) {
        let log = layout.service_dir(consumer);
        if !log.exists() {
            fill(consumer, &log)?;
            std::fs::write(log.join("down"), "")?;
        }
    }
    if new {
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&top, &link)?;
    }
    Ok((dir, new))
}

/// Makes `dir` and puts a longrun's supervisor files in it: its definition's, or for a
/// generated log companion, the generated ones.
fn fill(service: &Service, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    match (&service.source, &service.log_dir) {
        (Some(source), _) => copy_supervisor_files(source, dir),
        (None, Some(log_dir)) => write_log_companion(dir, log_dir),
        (None, None) => Ok(()),
    }
}

/// Copies the files a supervisor reads (all but the service manager's) from a definition.
fn copy_supervisor_files(source: &Path, dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(source)? {
        let entry = entry?;
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        // A `log` directory is an s6-svscan-style logger and goes along (s6-rc would drop it);
        // a `log` file is ostler's log companion, made into its own service.
        let logger_dir = name_str == "log" && entry.path().is_dir();
        if (MANAGER_FILES.contains(&name_str.as_ref()) && !logger_dir) || name_str == "supervise" || name_str == "event"
        {
            continue;
        }
        copy_recursive(&entry.path(), &dir.join(&name))?;
    }
    Ok(())
}

fn copy_recursive(from: &Path, to: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(from)?;
    if meta.file_type().is_symlink() {
        let _ = std::fs::remove_file(to);
        std::os::unix::fs::symlink(std::fs::read_link(from)?, to)
    } else if meta.is_dir() {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_recursive(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        // Write a new file and rename it over, so a running service never reads half a file.
        let staged = to.with_extension("ostler-new");
        std::fs::copy(from, &staged)?;
        std::fs::rename(&staged, to)
    }
}

/// The unprivileged user log companions run as, when the system has one.
pub const LOG_USER: &str = "log";

/// A generated log companion: `ostler log` into its directory, ready once it runs. As the
/// `log` user (owning the directory) when `/etc/passwd` has one, else as root.
fn write_log_companion(dir: &Path, log_dir: &Path) -> std::io::Result<()> {
    let ostler = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/bin/ostler"));
    let (ostler, log_dir) = (ostler.display(), log_dir.display());
    let has_user = nix::unistd::User::from_name(LOG_USER).ok().flatten().is_some();
    let start = if has_user {
        format!("chown {LOG_USER}:{LOG_USER} '{log_dir}' || exit 111\nexec '{ostler}' setuidgid {LOG_USER} '{ostler}'")
    } else {
        format!("exec '{ostler}'")
    };
    let run = format!(
        "#!/bin/sh\n# Made by ostler rc from the service's `log` file.\nmkdir -p '{log_dir}' || exit 111\n{start} log -d 3 t '{log_dir}'\n"
    );
    let path = dir.join("run");
    std::fs::write(&path, run)?;
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    std::fs::write(dir.join("notification-fd"), "3\n")
}
