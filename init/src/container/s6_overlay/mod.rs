//! The drop-in for s6-overlay v3: an image made for s6-overlay runs with ostler as `/init`.
//!
//! Found when there is no `/etc/ostler/sv/default` (nor `OSTLER_DEFS`) but s6-overlay's
//! layout is there: `/etc/s6-overlay/{s6-rc.d,user-bundles.d}`, `/etc/cont-init.d`,
//! `/etc/services.d`, `/etc/cont-finish.d`. Then, in the runtime area:
//! - the container environment is written to `/run/s6/container_environment` and, unless
//!   `S6_KEEP_ENV`, everything started from here on gets PATH (with `/command` in front) and
//!   ostler's own variables only, as under s6-overlay;
//! - `/run/s6-linux-init-container-results/exitcode` and `/run/s6/basedir/bin/halt` are where
//!   finish scripts look for them;
//! - `/command/with-contenv`, `printcontenv` and the s6 programs are linked when the image
//!   has no `/command` of its own and the root is writable ([`links`]);
//! - the definitions: the image's `s6-rc.d` and s6-overlay's own tree, which [`sources`]
//!   writes (`base` = cont-init.d, the `user` bundle, `legacy-services` = services.d, `user2`,
//!   all in a `default` bundle), read by the service manager as any definitions.

pub mod contenv;
pub mod legacy;
pub mod links;
pub mod sources;

use std::path::{Path, PathBuf};

/// The signals that stop an s6-overlay container (s6-linux-init's), unless
/// `S6_CMD_RECEIVE_SIGNALS` gives them to CMD.
pub const STOP_SIGNALS: [nix::sys::signal::Signal; 6] = {
    use nix::sys::signal::Signal::*;
    [SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGPWR]
};

/// s6-overlay's place for the exit code a finish script sets.
pub const RESULTS_DIR: &str = "/run/s6-linux-init-container-results";

/// The s6-overlay settings ostler's init follows (the rest are read where they are used).
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// `S6_KEEP_ENV`: the environment is not reset.
    pub keep_env: bool,
    /// `S6_CMD_RECEIVE_SIGNALS`: signals go to CMD, which stops first; otherwise the services
    /// stop first and CMD with everything left.
    pub cmd_receives_signals: bool,
    /// `S6_VERBOSITY` (2).
    pub verbosity: u64,
    /// `S6_LOGGING`: 0 everything to the container's output, 1 the services' to the
    /// catch-all logger, 2 CMD's too.
    pub logging: u64,
    /// `S6_LOGGING_SCRIPT` ("n20 s1000000 T").
    pub logging_script: Vec<String>,
    /// `S6_CMD_USE_TERMINAL`: with `S6_LOGGING` 2, CMD still writes to the terminal.
    pub cmd_use_terminal: bool,
    /// `S6_CMD_ARG0`: words put in front of CMD.
    pub cmd_arg0: Vec<String>,
    /// `S6_STAGE2_HOOK`: a shell command run before the services.
    pub stage2_hook: Option<String>,
    /// `S6_SYNC_DISKS`: sync at the end.
    pub sync_disks: bool,
    /// `S6_WAIT_FOR_CLOSING_FD`: wait for this descriptor's end of file before anything.
    pub wait_for_closing_fd: Option<i32>,
}

impl Settings {
    /// From the environment.
    pub fn from_env() -> Settings {
        let text = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let number = |name: &str, default: u64| text(name).and_then(|v| v.trim().parse().ok()).unwrap_or(default);
        let words = |name: &str, default: &str| {
            text(name).unwrap_or_else(|| default.into()).split_whitespace().map(str::to_string).collect()
        };
        Settings {
            keep_env: number("S6_KEEP_ENV", 0) != 0,
            cmd_receives_signals: number("S6_CMD_RECEIVE_SIGNALS", 0) != 0,
            verbosity: number("S6_VERBOSITY", 2),
            logging: number("S6_LOGGING", 0),
            logging_script: words("S6_LOGGING_SCRIPT", "n20 s1000000 T"),
            cmd_use_terminal: number("S6_CMD_USE_TERMINAL", 0) != 0,
            cmd_arg0: words("S6_CMD_ARG0", ""),
            stage2_hook: text("S6_STAGE2_HOOK"),
            sync_disks: number("S6_SYNC_DISKS", 0) != 0,
            wait_for_closing_fd: text("S6_WAIT_FOR_CLOSING_FD")
                .and_then(|v| v.trim().parse().ok())
                .filter(|&fd| fd >= 3),
        }
    }
}

/// Where s6-overlay's directories are: `/etc`, or the profile's (`S6_RUNTIME_PROFILE`).
#[derive(Clone, Debug)]
pub struct Layout {
    /// `/etc` (cont-init.d, services.d, cont-finish.d).
    pub etc: PathBuf,
    /// `/etc/s6-overlay` (s6-rc.d, user-bundles.d).
    pub overlay: PathBuf,
    /// Where the `user` and `user2` bundles are defined when s6-rc.d has no `user`
    /// (`S6_RUNTIME_BUNDLEDIR`, else `user-bundles.d`).
    pub bundles: PathBuf,
}

impl Layout {
    /// From the environment.
    pub fn from_env() -> Layout {
        let text = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let (etc, overlay) = match text("S6_RUNTIME_PROFILE") {
            Some(profile) => {
                let etc = Path::new("/etc/cont-profile.d").join(profile);
                (etc.clone(), etc.join("s6-overlay"))
            }
            None => (PathBuf::from("/etc"), PathBuf::from("/etc/s6-overlay")),
        };
        let bundles = text("S6_RUNTIME_BUNDLEDIR").map_or_else(|| overlay.join("user-bundles.d"), PathBuf::from);
        Layout { etc, overlay, bundles }
    }

    /// Whether the image is laid out for s6-overlay.
    pub fn is_there(&self) -> bool {
        self.overlay.is_dir()
            || ["cont-init.d", "services.d", "cont-finish.d"].iter().any(|d| self.etc.join(d).is_dir())
    }
}

/// The image is laid out for s6-overlay (asked only when it has no definitions of ostler's own,
/// and `OSTLER_DEFS` names none).
pub fn find() -> Option<Layout> {
    if std::env::var_os("OSTLER_DEFS").is_some_and(|v| !v.is_empty()) {
        return None;
    }
    Some(Layout::from_env()).filter(Layout::is_there)
}

/// What [`prepare`] made.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// The definition directories to bring `default` up from.
    pub defs: Vec<PathBuf>,
    /// The exit-code file finish scripts write.
    pub exitcode: PathBuf,
}

/// Makes s6-overlay's runtime places in the runtime area (`private` is ostler's private area,
/// `/run/ostler` when /run was usable) and resets the environment. Returns the definitions.
pub fn prepare(layout: &Layout, settings: &Settings, private: &Path) -> Result<Prepared, String> {
    // s6-overlay's fixed paths when we may write there (root; a user given /run, or the
    // directories `s6-overlay links` left in the image); otherwise beside ostler's private area.
    let state = place(Path::new("/run/s6"), &private.join("s6"))?;
    let results = place(Path::new(RESULTS_DIR), &private.join("container-results"))?;
    make_fresh(&state.join("basedir/bin"))
        .map_err(|e| format!("unable to make {}: {e}", state.join("basedir/bin").display()))?;
    if state != Path::new("/run/s6") {
        std::env::set_var(contenv::STATE_VARIABLE, &state);
    }
    let ostler = ostler_core::paths::ostler_by_path(private);
    let halt = state.join("basedir/bin/halt");
    // Named `halt`, ostler is `ostler halt`: the container's orderly stop.
    let _ = std::fs::remove_file(&halt);
    std::os::unix::fs::symlink(std::env::current_exe().unwrap_or(ostler.clone()), &halt)
        .map_err(|e| format!("unable to make {}: {e}", halt.display()))?;
    let environment = state.join("container_environment");
    contenv::dump(&environment).map_err(|e| format!("unable to write {}: {e}", environment.display()))?;
    links::at_start(&ostler);
    let path = path_with_command();
    if !settings.keep_env {
        reset_environment();
    }
    std::env::set_var("PATH", path);
    let sources = state.join("sources");
    let warnings =
        sources::write(layout, &sources, &ostler).map_err(|e| format!("unable to write {}: {e}", sources.display()))?;
    for warning in warnings {
        eprintln!("ostler: warning: {warning}");
    }
    Ok(Prepared { defs: vec![sources], exitcode: results.join("exitcode") })
}

/// `fixed`, emptied of an earlier run's files, when we may write there; else `fallback`, made
/// anew.
fn place(fixed: &Path, fallback: &Path) -> Result<PathBuf, String> {
    if make_fresh(fixed).is_ok() || empty_if_writable(fixed) {
        return Ok(fixed.to_path_buf());
    }
    make_fresh(fallback).map_err(|e| format!("unable to make {}: {e}", fallback.display()))?;
    Ok(fallback.to_path_buf())
}

/// A directory we may not remove but may write in (the image's, mode 1777): its entries
/// removed. Whether it is usable.
fn empty_if_writable(dir: &Path) -> bool {
    if nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK).is_err() {
        return false;
    }
    let entries = std::fs::read_dir(dir).into_iter().flatten().flatten();
    entries.map(|e| e.path()).all(|path| match path.is_dir() && !path.is_symlink() {
        true => std::fs::remove_dir_all(&path).is_ok(),
        false => std::fs::remove_file(&path).is_ok(),
    })
}

/// `dir` made anew, mode 0755 whatever the umask.
fn make_fresh(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    crate::early::make_dir(dir, 0o755)
}

/// PATH with `/command` in front, `/usr/bin` and `/bin` behind, when missing (s6-overlay's).
fn path_with_command() -> std::ffi::OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).filter(|d| !d.as_os_str().is_empty()).collect();
    if !dirs.iter().any(|d| d == Path::new("/command")) {
        dirs.insert(0, "/command".into());
    }
    for dir in ["/usr/bin", "/bin"] {
        if !dirs.iter().any(|d| d == Path::new(dir)) {
            dirs.push(dir.into());
        }
    }
    std::env::join_paths(dirs).unwrap_or(path)
}

/// Leaves ostler's own variables only (the caller sets PATH): the environment s6-overlay
/// gives services and CMD unless `S6_KEEP_ENV`.
fn reset_environment() {
    let names: Vec<_> = std::env::vars_os()
        .map(|(name, _)| name)
        .filter(|name| !name.to_str().is_some_and(|n| n.starts_with("OSTLER_")))
        .collect();
    for name in names {
        std::env::remove_var(name);
    }
}
