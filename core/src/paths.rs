//! The runtime paths of a booted system (design.md, "Runtime paths"): a contract.

/// The scan directory.
pub const SCAN_DIR: &str = "/run/service";
/// The private runtime area, root only.
pub const PRIVATE_DIR: &str = "/run/ostler";
/// The catch-all logger's directory.
pub const UNCAUGHT_LOGS: &str = "/run/ostler/uncaught-logs";
/// The catch-all logger's service directory, in the scan directory.
pub const CATCH_ALL_SERVICE: &str = "/run/service/ostler-log";
/// The FIFO everything without a logger of its own writes into.
pub const CATCH_ALL_FIFO: &str = "/run/service/ostler-log/fifo";
/// Where a shutdown request records what to do at the end (`poweroff`, `reboot`, `halt`).
pub const SHUTDOWN_REQUEST: &str = "/run/ostler/shutdown";
/// The shutdown daemon's service directory, in the scan directory.
pub const SHUTDOWN_SERVICE: &str = "/run/service/ostler-shutdownd";
/// The shutdown daemon's FIFO, where `poweroff`, `reboot`, `halt` and `shutdown` write.
pub const SHUTDOWN_FIFO: &str = "/run/service/ostler-shutdownd/fifo";
/// The admin's configuration.
pub const ETC_DIR: &str = "/etc/ostler";
/// The line stage 2 prints last; the catch-all logger stops copying to the console after it.
pub const BOOT_COMPLETE: &str = "ostler: boot complete";
/// The boot timeline the service manager appends to (see `timeline`).
pub const TIMELINE: &str = "/run/ostler/timeline";

/// A runtime path moved by an environment variable (`OSTLER_SCANDIR`, `OSTLER_RUNDIR`…), so the
/// whole tree also runs unprivileged in a temporary directory; `default` when it is unset or
/// empty.
pub fn from_env(variable: &str, default: &str) -> std::path::PathBuf {
    std::env::var_os(variable).filter(|v| !v.is_empty()).map_or_else(|| default.into(), Into::into)
}

/// Where services' log directories go when nothing says otherwise (a `log` file left empty).
pub const LOG_ROOT: &str = "/var/log";

/// The log root: `OSTLER_LOGDIR`, else the caller's own instance's (see
/// [`running_user_instance`]; also once stopped, when its log root is there and the caller's),
/// else `/var/log`.
pub fn log_root() -> std::path::PathBuf {
    use std::os::unix::fs::MetadataExt;
    if let Some(dir) = std::env::var_os("OSTLER_LOGDIR").filter(|v| !v.is_empty()) {
        return dir.into();
    }
    if let Some(user) = running_user_instance() {
        return user.logs;
    }
    let uid = nix::unistd::geteuid().as_raw();
    let given = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if uid != 0 && !given("OSTLER_SCANDIR") && !given("OSTLER_RUNDIR") {
        let logs = UserInstance::for_user(uid).logs;
        if std::fs::metadata(&logs).is_ok_and(|m| m.is_dir() && m.uid() == uid) {
            return logs;
        }
    }
    LOG_ROOT.into()
}

/// Where a user's own instance (`ostler user`) keeps its parts, from the XDG base directories.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInstance {
    /// The definitions: `$XDG_CONFIG_HOME/ostler/sv` (`~/.config/ostler/sv`).
    pub defs: std::path::PathBuf,
    /// The runtime base, `$XDG_RUNTIME_DIR/ostler`, holding `service/`, `ostler/` and `lock`;
    /// `/tmp/ostler-user-UID` (0700, ours) when `XDG_RUNTIME_DIR` is unset.
    pub runtime: std::path::PathBuf,
    /// The scan directory: `RUNTIME/service`.
    pub scan: std::path::PathBuf,
    /// The private area: `RUNTIME/ostler`.
    pub private: std::path::PathBuf,
    /// The log root: `$XDG_STATE_HOME/ostler/log` (`~/.local/state/ostler/log`).
    pub logs: std::path::PathBuf,
    /// `XDG_RUNTIME_DIR` was unset: the runtime base is the fallback in /tmp.
    pub fallback: bool,
}

impl UserInstance {
    /// The paths of user `uid`'s instance, from `XDG_CONFIG_HOME`, `XDG_STATE_HOME`,
    /// `XDG_RUNTIME_DIR` and `HOME` (relative values are ignored, as the XDG specification says).
    pub fn for_user(uid: u32) -> UserInstance {
        use std::path::PathBuf;
        let absolute = |name: &str| std::env::var_os(name).map(PathBuf::from).filter(|p| p.is_absolute());
        let home = absolute("HOME").unwrap_or_else(|| PathBuf::from("/"));
        let config = absolute("XDG_CONFIG_HOME").unwrap_or_else(|| home.join(".config"));
        let state = absolute("XDG_STATE_HOME").unwrap_or_else(|| home.join(".local/state"));
        let (runtime, fallback) = match absolute("XDG_RUNTIME_DIR") {
            Some(dir) => (dir.join("ostler"), false),
            None => (PathBuf::from(format!("/tmp/ostler-user-{uid}")), true),
        };
        UserInstance {
            defs: config.join("ostler/sv"),
            scan: runtime.join("service"),
            private: runtime.join("ostler"),
            runtime,
            logs: state.join("ostler/log"),
            fallback,
        }
    }
}

/// The user instance a client run by a user other than root belongs to: with neither
/// `OSTLER_SCANDIR` nor `OSTLER_RUNDIR` set, the caller's own instance when its live state is
/// there and the caller owns it. Clients (`service`, `ostler rc`, `ostler logs`, `ostler ready`)
/// look here before the system's paths.
pub fn running_user_instance() -> Option<UserInstance> {
    use std::os::unix::fs::MetadataExt;
    let given = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if given("OSTLER_SCANDIR") || given("OSTLER_RUNDIR") {
        return None;
    }
    let uid = nix::unistd::geteuid().as_raw();
    if uid == 0 {
        return None;
    }
    let user = UserInstance::for_user(uid);
    let owned = std::fs::symlink_metadata(user.private.join("rc")).is_ok_and(|m| m.is_dir() && m.uid() == uid);
    owned.then_some(user)
}

/// Where a container's init puts its runtime area when `/run` is not writable, in this order
/// (each as `BASE/ostler-UID`, holding `service/` and `ostler/`); clients look there too.
pub const CONTAINER_AREA_BASES: [&str; 3] = ["/tmp", "/var/tmp", "/dev/shm"];

/// A container runtime area under `base` for the effective user `uid`.
pub fn container_area(base: &str, uid: u32) -> std::path::PathBuf {
    std::path::Path::new(base).join(format!("ostler-{uid}"))
}

/// A path that runs this binary as `ostler`, for scripts and command lines that start it by
/// path. Installed as `/init` (s6-overlay's place) its own path would be taken for the `init`
/// command (the name picks the command), so a link named `ostler` is made in `dir` (a runtime
/// directory we own) and that is given instead.
pub fn ostler_by_path(dir: &std::path::Path) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|_| "/bin/ostler".into());
    if exe.file_name().is_some_and(|name| name == "ostler") {
        return exe;
    }
    let link = dir.join("ostler");
    if std::fs::read_link(&link).ok().as_deref() != Some(exe.as_path()) {
        let _ = std::fs::remove_file(&link);
        let _ = std::os::unix::fs::symlink(&exe, &link);
    }
    link
}

/// In the private area (`/run/ostler`): present when each service's lines go to the
/// container's output led by its name (ostler as a container's init).
pub const MARK_LINES: &str = "mark-lines";

/// When the container's init asked for marked lines ([`MARK_LINES`] in `run_dir`), the path
/// that runs ostler as `ostler mark` ([`ostler_by_path`]); otherwise none.
pub fn marker(run_dir: &std::path::Path) -> Option<std::path::PathBuf> {
    run_dir.join(MARK_LINES).exists().then(|| ostler_by_path(run_dir))
}

/// In a service's generated `log/` directory: its logger is `ostler mark NAME`.
pub const MARK_LOGGER: &str = "ostler-mark";
