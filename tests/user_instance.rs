//! One user's own ostler, without root (issue 14): `ostler user start|stop|status` with the
//! XDG base directories. Run as root (as CI does), the user's side drops to an unused uid and
//! gid (4242, no passwd entry, no groups) before exec; as another user, it runs as that user.
//! The instance starts two services with a dependency in order (the second only once the first
//! is ready), everything of it runs as the user, a service killed with SIGKILL is started
//! again, the clients (`service list`, `ostler rc list`, `ostler ready`, `ostler logs`) find the
//! instance with no variable of ostler's set, and `ostler user stop` ends every process of it.

mod util;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use util::{wait_for, wait_until, TempTree};

/// The uid and gid the user's side runs as when the test runs as root.
const USER: u32 = 4242;

/// The user's world: a home with the definitions, a private runtime directory, ostler itself
/// where the user may run it.
struct World {
    tree: TempTree,
    uid: u32,
    ostler: PathBuf,
}

impl World {
    fn new() -> World {
        let tree = TempTree::new("user-instance");
        let uid = if nix::unistd::geteuid().is_root() { USER } else { nix::unistd::geteuid().as_raw() };
        let sv = tree.dir("home/.config/ostler/sv");
        let file = |relative: &str, text: &str, mode: u32| {
            use std::os::unix::fs::PermissionsExt;
            let path = sv.join(relative);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        file("default/type", "bundle\n", 0o644);
        file("default/contents.d/db", "", 0o644);
        file("default/contents.d/web", "", 0o644);
        // db says it is ready (notification-fd) only after writing its line: web, which
        // depends on it, starts after that.
        file("db/type", "longrun\n", 0o644);
        file("db/notification-fd", "3\n", 0o644);
        file("db/run", "#!/bin/sh\necho \"db $$\" >> \"$HOME/order\"\necho >&3\nexec sleep 1000\n", 0o755);
        file("web/type", "longrun\n", 0o644);
        file("web/dependencies.d/db", "", 0o644);
        file("web/run", "#!/bin/sh\necho \"web $$\" >> \"$HOME/order\"\necho web says hello\nexec sleep 1001\n", 0o755);
        let run = tree.dir("run");
        let ostler = tree.join("ostler");
        std::fs::copy(util::ostler(), &ostler).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tree.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(&ostler, std::fs::Permissions::from_mode(0o755)).unwrap();
        if nix::unistd::geteuid().is_root() {
            chown_tree(&tree.join("home"), uid);
            chown_tree(&run, uid);
        }
        World { tree, uid, ostler }
    }

    fn home(&self) -> PathBuf {
        self.tree.join("home")
    }

    fn runtime(&self) -> PathBuf {
        self.tree.join("run")
    }

    /// `ostler ARGS…` as the user: its uid and gid, no supplementary group, HOME and
    /// XDG_RUNTIME_DIR its own, no variable of ostler's.
    fn ostler(&self, args: &[&str]) -> (i32, String, String) {
        let mut command = Command::new(&self.ostler);
        command.args(args).current_dir(self.home()).env("HOME", self.home()).env("XDG_RUNTIME_DIR", self.runtime());
        for variable in ["XDG_CONFIG_HOME", "XDG_STATE_HOME", "NOTIFY_SOCKET"] {
            command.env_remove(variable);
        }
        for (variable, _) in std::env::vars_os() {
            if variable.to_string_lossy().starts_with("OSTLER_") {
                command.env_remove(variable);
            }
        }
        if nix::unistd::geteuid().is_root() {
            let id = self.uid;
            // SAFETY: only the three id calls between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    nix::unistd::setgroups(&[]).map_err(std::io::Error::from)?;
                    nix::unistd::setgid(nix::unistd::Gid::from_raw(id)).map_err(std::io::Error::from)?;
                    nix::unistd::setuid(nix::unistd::Uid::from_raw(id)).map_err(std::io::Error::from)?;
                    Ok(())
                });
            }
        }
        util::cmd(&mut command)
    }

    /// The pid `ostler svstat` shows for service `name` while it is up.
    fn service_pid(&self, name: &str) -> Option<u32> {
        let dir = self.runtime().join("ostler/service").join(name);
        let (_, out, _) = self.ostler(&["svstat", &dir.to_string_lossy()]);
        out.starts_with("up ").then(|| util::guest::svstat_pid(&out)).flatten()
    }
}

/// Owner `uid` (and the same gid) for `dir` and everything in it.
fn chown_tree(dir: &Path, uid: u32) {
    std::os::unix::fs::lchown(dir, Some(uid), Some(uid)).unwrap();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        std::os::unix::fs::lchown(&path, Some(uid), Some(uid)).unwrap();
        if entry.file_type().unwrap().is_dir() {
            chown_tree(&path, uid);
        }
    }
}

/// `pid` and every process below it, by /proc's parent links.
fn family(pid: u32) -> Vec<u32> {
    let mut found = vec![pid];
    let mut index = 0;
    while index < found.len() {
        let parent = found[index];
        found.extend(util::children_of(parent).into_iter().map(|(child, _)| child as u32));
        index += 1;
    }
    found
}

/// The real, effective, saved and filesystem uids of `pid` (/proc/PID/status).
fn uids(pid: u32) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:")).unwrap_or_default();
    line.split_whitespace().filter_map(|n| n.parse().ok()).collect()
}

/// Kills what is left of the instance (by pid) when the test fails half-way.
struct Leftovers(Vec<u32>);

impl Drop for Leftovers {
    fn drop(&mut self) {
        for &pid in &self.0 {
            if util::alive(pid as i32) {
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            }
        }
    }
}

#[test]
fn a_user_runs_services_without_root() {
    let world = World::new();
    let (code, out, err) = world.ostler(&["user", "start"]);
    assert_eq!(code, 0, "ostler user start: {out}{err}");
    assert!(out.contains("started (pid "), "{out}");
    let (code, status, _) = world.ostler(&["user", "status"]);
    assert_eq!(code, 0, "{status}");
    let instance: u32 = status
        .split("(pid ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid in ostler user status: {status}"));
    let mut leftovers = Leftovers(family(instance));
    let (code, again, _) = world.ostler(&["user", "start"]);
    assert_eq!((code, again.trim()), (0, format!("ostler user: already running (pid {instance})").as_str()));

    // Both up, db first, web once db was ready.
    let db = wait_for("db up", util::DEADLINE, || world.service_pid("db"));
    let web = wait_for("web up", util::DEADLINE, || world.service_pid("web"));
    let order = std::fs::read_to_string(world.home().join("order")).unwrap();
    assert_eq!(order, format!("db {db}\nweb {web}\n"));

    // Nothing of it runs as root: every process of the instance is the user's.
    let everything = family(instance);
    leftovers.0.clone_from(&everything);
    assert!(everything.len() >= 5, "the instance, its logger, its scanner, two services: {everything:?}");
    for pid in &everything {
        let ids = uids(*pid);
        assert!(!ids.is_empty() && ids.iter().all(|&id| id == world.uid), "process {pid} runs as {ids:?}");
    }

    // The clients find the instance by themselves.
    let (code, list, err) = world.ostler(&["service", "list"]);
    assert_eq!(code, 0, "service list: {list}{err}");
    for name in ["db", "web"] {
        assert!(list.lines().any(|l| l.starts_with(name) && l.contains("up (pid")), "{list}");
    }
    let (code, _, err) = world.ostler(&["ready", "db", "web"]);
    assert_eq!(code, 0, "ostler ready: {err}");
    let (code, out, err) = world.ostler(&["rc", "list"]);
    assert!(code == 0 && out.contains("db") && out.contains("web"), "ostler rc list: {out}{err}");
    let (code, log, err) = world.ostler(&["logs", "ostler"]);
    assert!(code == 0 && log.contains("web: web says hello"), "ostler logs ostler: {log}{err}");

    // kill -9 of a service: started again, a new pid.
    kill(Pid::from_raw(web as i32), Signal::SIGKILL).unwrap();
    let respawned = wait_for("web again", util::DEADLINE, || world.service_pid("web").filter(|&pid| pid != web));
    assert!(util::alive(db as i32));
    leftovers.0.push(respawned);

    // The user's stop ends everything.
    let (code, out, err) = world.ostler(&["user", "stop"]);
    assert_eq!(code, 0, "ostler user stop: {out}{err}");
    let everything: Vec<u32> = leftovers.0.clone();
    wait_until("every process of the instance gone", Duration::from_secs(2), || {
        everything.iter().all(|&pid| !util::alive(pid as i32))
    });
    assert!(!world.runtime().join("ostler/service").exists(), "the runtime area is left behind");
    let (code, status, _) = world.ostler(&["user", "status"]);
    assert_eq!(code, 3, "{status}");
}
