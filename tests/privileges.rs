//! A service's declared privileges (user, groups, capabilities, no_new_privs, limits,
//! environment, working directory, umask, directories), applied by the supervisor with no exec
//! of a helper; a declaration that cannot be carried out keeps the service down with a clear
//! message, never starts it with more; and the chain-loading commands `ostler caps`, `ostler
//! limit` (also as `s6-softlimit`) and `ostler envdir` (also as `s6-envdir`). Needs root, as a
//! supervisor running services as other users does.

mod util;

use std::path::Path;
use std::process::Command;
use std::time::Duration;
use util::*;

const LONG: Duration = Duration::from_secs(10);
/// A uid and gid no account has here: declared by number, they need no database.
const NOBODY_HERE: u32 = 4242;

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests change users and capabilities: run them as root, as CI does"
    );
}

fn supervise(procs: &mut Processes, tree: &TempTree, service: &Path) {
    let err = std::fs::File::create(tree.join("err")).unwrap();
    let mut command = Command::new(ostler());
    command.arg("supervise").arg(service).stderr(err).env("OSTLER_TEST_VAR", "inherited");
    procs.spawn(command);
}

/// The `Name:` lines of /proc/PID/status.
fn proc_status(pid: u64, names: &[&str]) -> Vec<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .filter(|l| names.iter().any(|n| l.starts_with(&format!("{n}:"))))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn the_supervisor_applies_every_declared_privilege_before_run() {
    require_root();
    let tree = TempTree::new("privileges");
    let service = tree.service("svc", "#!/bin/sh\nexec sleep 1000\n");
    tree.file("svc/user", format!("{NOBODY_HERE}:{NOBODY_HERE}\n"));
    tree.file("svc/groups", "4343\n");
    tree.file("svc/capabilities", "cap_net_bind_service cap_net_raw\n");
    tree.file("svc/ambient-capabilities", "cap_net_bind_service\n");
    tree.file("svc/no-new-privs", "");
    tree.file("svc/limits", "nofile 123:456\ncore 0\n");
    tree.file("svc/umask", "027\n");
    tree.file("svc/environment/GREETING", "hello there  \nsecond line\n");
    tree.file("svc/environment/OSTLER_TEST_VAR", "");
    tree.file("svc/environment-file", format!("{}\n-/nonexistent/optional\n", tree.join("defaults").display()));
    tree.file("defaults", "FROM_FILE=\"yes\"\n");
    let workdir = tree.dir("work");
    std::os::unix::fs::chown(&workdir, Some(NOBODY_HERE), Some(NOBODY_HERE)).unwrap();
    tree.file("svc/working-directory", format!("{}\n", workdir.display()));
    let mut procs = Processes::new();
    supervise(&mut procs, &tree, &service);
    wait_until("up", LONG, || is_up(&service));
    let pid = status_pid(&service);
    // The run script exec'd sleep: the pid is the service's own process.
    wait_until("run became sleep", LONG, || {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep")
    });

    let lines =
        proc_status(pid, &["Uid", "Gid", "Groups", "CapBnd", "CapAmb", "CapEff", "CapPrm", "NoNewPrivs", "Umask"]);
    let expected = [
        "Umask: 0027",
        "Uid: 4242 4242 4242 4242",
        "Gid: 4242 4242 4242 4242",
        "Groups: 4242 4343",
        "CapPrm: 0000000000000400",
        "CapEff: 0000000000000400",
        "CapBnd: 0000000000002400",
        "CapAmb: 0000000000000400",
        "NoNewPrivs: 1",
    ];
    assert_eq!(lines, expected, "the service's /proc/{pid}/status");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let open_files = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    assert_eq!(open_files.split_whitespace().collect::<Vec<_>>()[3..5], ["123", "456"], "{open_files}");
    let core = limits.lines().find(|l| l.starts_with("Max core file size")).unwrap();
    assert_eq!(core.split_whitespace().nth(4), Some("0"), "{core}");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let vars: Vec<String> = environ.split(|&b| b == 0).map(|v| String::from_utf8_lossy(v).into_owned()).collect();
    assert!(vars.contains(&"GREETING=hello there".to_string()), "{vars:?}");
    assert!(vars.contains(&"FROM_FILE=yes".to_string()), "{vars:?}");
    assert!(!vars.iter().any(|v| v.starts_with("OSTLER_TEST_VAR=")), "an empty envdir file removes the variable");
    assert_eq!(std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(), workdir);
}

#[test]
fn declared_directories_are_made_for_the_user_before_run() {
    require_root();
    let tree = TempTree::new("privileges-dirs");
    let name = format!("ostler-test-{}", std::process::id());
    let run_dir = Path::new("/run").join(&name);
    let _cleanup = RemoveOnDrop(run_dir.clone());
    let service =
        tree.service("svc", &format!("#!/bin/sh\ntouch {}/made-by-run\nexec sleep 1000\n", run_dir.display()));
    tree.file("svc/user", format!("{NOBODY_HERE}\n"));
    tree.file("svc/runtime-directory", format!("{name} 0750\n"));
    let mut procs = Processes::new();
    supervise(&mut procs, &tree, &service);
    wait_file(&run_dir.join("made-by-run"));
    use std::os::unix::fs::MetadataExt;
    let meta = run_dir.metadata().unwrap();
    assert_eq!((meta.uid(), meta.gid(), meta.mode() & 0o7777), (NOBODY_HERE, NOBODY_HERE, 0o750));
    assert_eq!(run_dir.join("made-by-run").metadata().unwrap().uid(), NOBODY_HERE, "run wrote it as the user");
}

/// A declared directory below one the service's user owns (its own, from an earlier start)
/// is walked without following a link: the user's `app -> /etc` would have root make and
/// chown `/etc/cache` to them. The link is refused by name, the service stays down, and what
/// the link leads to keeps its owner.
#[test]
fn a_declared_directory_through_a_link_the_user_planted_is_refused() {
    require_root();
    let tree = TempTree::new("privileges-dir-link");
    let name = format!("ostler-test-link-{}", std::process::id());
    let owned = Path::new("/var/lib").join(&name);
    let _cleanup = RemoveOnDrop(owned.clone());
    std::fs::create_dir_all(&owned).unwrap();
    std::os::unix::fs::chown(&owned, Some(NOBODY_HERE), Some(NOBODY_HERE)).unwrap();
    let target = tree.dir("root-owned");
    std::os::unix::fs::symlink(&target, owned.join("app")).unwrap();
    let service = tree.service("svc", "#!/bin/sh\nexec sleep 1000\n");
    tree.file("svc/user", format!("{NOBODY_HERE}\n"));
    tree.file("svc/state-directory", format!("{name}/app/cache\n"));
    let mut procs = Processes::new();
    supervise(&mut procs, &tree, &service);
    wait_until("the refusal said", LONG, || {
        std::fs::read_to_string(tree.join("err")).is_ok_and(|e| e.contains("not starting run"))
    });
    let said = std::fs::read_to_string(tree.join("err")).unwrap();
    let expected = format!(
        "{}: {name}/app/cache: {name}/app is a symbolic link; the declared directory must be a real directory",
        service.join("state-directory").display()
    );
    assert!(said.contains(&expected), "{said}");
    assert!(!is_up(&service), "started without its declared directory");
    use std::os::unix::fs::MetadataExt;
    assert!(!target.join("cache").exists(), "made through the link");
    assert_eq!(target.metadata().unwrap().uid(), 0, "the link's target changed hands");
}

#[test]
fn a_declaration_that_cannot_be_carried_out_keeps_the_service_down_and_says_why() {
    require_root();
    let tree = TempTree::new("privileges-bad");
    let service = tree.service("svc", "#!/bin/sh\nexec sleep 1000\n");
    tree.file("svc/user", "no-such-user-ostler\n");
    let good = tree.service("good", "#!/bin/sh\nexec sleep 1000\n");
    let mut procs = Processes::new();
    supervise(&mut procs, &tree, &service);
    let err = std::fs::File::create(tree.join("err-good")).unwrap();
    let mut command = Command::new(ostler());
    command.arg("supervise").arg(&good).stderr(err);
    let supervisor = procs.spawn(command);
    wait_until("the other service up", LONG, || is_up(&good));
    wait_until("the refusal said", LONG, || {
        std::fs::read_to_string(tree.join("err")).is_ok_and(|e| e.contains("unknown user"))
    });
    let said = std::fs::read_to_string(tree.join("err")).unwrap();
    assert!(said.contains("unknown user \"no-such-user-ostler\": add it to /etc/passwd"), "{said}");
    assert!(said.contains("not starting run"), "{said}");
    assert!(!is_up(&service), "started without its declared user");
    assert!(procs.running(supervisor));
}

#[test]
fn caps_gives_a_user_only_the_ambient_capabilities_named() {
    require_root();
    let (code, out, err) = cmd(Command::new(ostler()).args([
        "caps",
        "--user",
        "4242:4242",
        "--bounding",
        "cap_net_bind_service,cap_chown",
        "--ambient",
        "cap_net_bind_service",
        "--no-new-privs",
        "grep",
        "-E",
        "^(Uid|CapAmb|CapBnd|NoNewPrivs):",
        "/proc/self/status",
    ]));
    assert_eq!(code, 0, "{err}");
    let lines: Vec<String> = out.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    assert_eq!(
        lines,
        ["Uid: 4242 4242 4242 4242", "CapBnd: 0000000000000401", "CapAmb: 0000000000000400", "NoNewPrivs: 1"]
    );
    let (code, _, err) = cmd(Command::new(ostler()).args(["caps", "--ambient", "cap_fly", "true"]));
    assert_eq!(code, 100);
    assert!(err.contains("\"cap_fly\" is not a capability name"), "{err}");
}

#[test]
fn limit_and_envdir_chain_load_under_their_s6_names_too() {
    let tree = TempTree::new("chain-loaders");
    let softlimit = tree.join("s6-softlimit");
    std::os::unix::fs::symlink(ostler(), &softlimit).unwrap();
    let (code, out, err) = cmd(Command::new(&softlimit).args(["-o", "77", "sh", "-c", "ulimit -n"]));
    assert_eq!((code, out.trim()), (0, "77"), "{err}");
    let (code, out, _) = cmd(Command::new(ostler()).args(["limit", "-o", "=", "sh", "-c", "ulimit -n; ulimit -Hn"]));
    let lines: Vec<&str> = out.lines().collect();
    assert!(code == 0 && lines.len() == 2 && lines[0] == lines[1], "-o = is the hard limit: {out}");

    tree.file("env/NAME", "value \t\nignored\n");
    tree.file("env/GONE", "");
    let envdir = tree.join("s6-envdir");
    std::os::unix::fs::symlink(ostler(), &envdir).unwrap();
    let (code, out, err) = cmd(Command::new(&envdir)
        .arg(tree.join("env"))
        .args(["sh", "-c", "echo \"[$NAME] [${GONE-unset}]\""])
        .env("GONE", "here"));
    assert_eq!((code, out.as_str()), (0, "[value] [unset]\n"), "{err}");
    let (code, _, err) = cmd(Command::new(ostler()).args(["envdir", "/nonexistent", "true"]));
    assert_eq!(code, 111, "a missing directory is an error without -I");
    assert!(err.contains("/nonexistent"), "{err}");
    let (code, _, _) = cmd(Command::new(ostler()).args(["envdir", "-I", "/nonexistent", "true"]));
    assert_eq!(code, 0);
}

/// Removes a directory when dropped.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
