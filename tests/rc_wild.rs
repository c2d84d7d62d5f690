//! s6-rc trees as they are found in the wild, accepted and run exactly as s6-rc runs them
//! (issue 10): several definition directories read together (`rc check A B C`, `--defs` more
//! than once, `OSTLER_DEFS=A:B:C`); every file mode 0644 (`run` and `finish` still run);
//! s6-overlay's layout (`.empty` files, `#!/command/execlineb -P` oneshots, readiness on fd 3);
//! nested bundles that carry dependencies (warnings, ignored as s6-rc ignores them); a router
//! tree (a funnel into a named pipeline, `env/`, `down-signal`, essential and recommended flags,
//! a long execline `up` with nested blocks); a demo tree (a pipeline, `finish` and its
//! arguments, a `down` file in a longrun's definition that must not keep it down); the problems
//! `rc check` must report, each once, with its file and what it leaves out; and ostler's execline
//! lexer against Debian's `execlineb` on hand-written and pseudo-random scripts.
//!
//! Every tree is written here by the test, in a temporary directory, and run unprivileged
//! (OSTLER_DEFS, OSTLER_RUNDIR, OSTLER_SCANDIR) under a real `ostler svscan`. The `up` and
//! `down` scripts use Debian's execline programs (`/usr/lib/execline/bin`): a test fails, never
//! skips, when execline is missing.

mod util;

use ostler_rc::execline;
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use util::*;

/// How long one `ostler` command may take before the test gives up on it (it normally takes
/// milliseconds; a change waits for services that come up at once).
const COMMAND_DEADLINE: Duration = Duration::from_secs(20);

/// One test's world: definition directories ("layers"), a run directory, a scan directory and
/// the scanner. On drop, whatever is up is taken down (`rc change -D`), then the scanner is
/// stopped (the `Processes` guard), then the tree is removed.
struct Rig {
    layers: Vec<PathBuf>,
    procs: Processes,
    tree: TempTree,
}

impl Rig {
    fn new(label: &str) -> Rig {
        let tree = TempTree::new(label);
        tree.dir("marks");
        Rig { layers: Vec::new(), procs: Processes::new(), tree }
    }

    /// A new definitions directory, read after those made before it.
    fn layer(&mut self, name: &str) -> PathBuf {
        let dir = self.tree.dir(name);
        self.layers.push(dir.clone());
        dir
    }

    /// Writes `text` at `path` (absolute, inside the tree) with mode 0644.
    fn write(&self, path: impl AsRef<Path>, text: &str) -> PathBuf {
        self.write_mode(path, text, 0o644)
    }

    /// Writes `text` at `path` with `mode` (the umask does not apply).
    fn write_mode(&self, path: impl AsRef<Path>, text: &str, mode: u32) -> PathBuf {
        let path = path.as_ref();
        assert!(path.starts_with(self.tree.path()), "{} is outside the test's tree", path.display());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap_or_else(|e| panic!("unable to write {}: {e}", path.display()));
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        path.to_path_buf()
    }

    /// A script outside the definitions (what a oneshot's `up` names by its path), mode 0755.
    fn libexec(&self, name: &str, body: &str) -> PathBuf {
        self.write_mode(self.tree.join("libexec").join(name), &format!("#!/bin/sh\n{body}\n"), 0o755)
    }

    /// A path in the tree for a marker file a service writes.
    fn mark(&self, name: &str) -> PathBuf {
        self.tree.join("marks").join(name)
    }

    /// A marker file's contents (empty when it is not there yet).
    fn read_mark(&self, name: &str) -> String {
        std::fs::read_to_string(self.mark(name)).unwrap_or_default()
    }

    /// `ostler ARGS…` with the layers in OSTLER_DEFS and the tree's run and scan directories.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(ostler());
        command
            .args(args)
            .env("OSTLER_DEFS", std::env::join_paths(&self.layers).unwrap())
            .env("OSTLER_RUNDIR", self.tree.join("run"))
            .env("OSTLER_SCANDIR", self.tree.join("scan"));
        command
    }

    /// Runs `ostler ARGS…` to completion: (exit code, stdout, stderr).
    fn ostler(&self, args: &[&str]) -> (i32, String, String) {
        let mut command = self.command(args);
        bounded(&mut command, &self.tree).unwrap_or_else(|e| panic!("ostler {args:?}: {e}"))
    }

    /// `ostler rc ARGS…`.
    fn rc(&self, args: &[&str]) -> (i32, String, String) {
        let mut all = vec!["rc"];
        all.extend_from_slice(args);
        self.ostler(&all)
    }

    /// `ostler rc change ARGS…`, which must succeed; returns its stderr.
    fn change(&self, args: &[&str]) -> String {
        let mut all = vec!["change"];
        all.extend_from_slice(args);
        let (code, out, err) = self.rc(&all);
        assert_eq!(code, 0, "rc change {args:?} exited {code}:\n{out}{err}");
        err
    }

    /// `ostler rc check` over the layers, named on its command line.
    fn check(&self) -> (i32, String, String) {
        let mut args = vec!["check".to_string()];
        args.extend(self.layers.iter().map(|l| l.display().to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.rc(&args)
    }

    /// What `rc check` says when there is no problem: `A, B: N services, no problem`.
    fn no_problem(&self, services: usize) -> String {
        let dirs: Vec<String> = self.layers.iter().map(|l| l.display().to_string()).collect();
        format!("{}: {services} services, no problem\n", dirs.join(", "))
    }

    /// The services up, as `rc list active` prints them.
    fn active(&self) -> String {
        let (code, out, err) = self.rc(&["list", "active"]);
        assert_eq!(code, 0, "{err}");
        out
    }

    /// Starts a scanner on the scan directory and waits until it listens.
    fn scanner(&mut self) {
        self.tree.dir("scan");
        self.tree.dir("run");
        start_scanner(&mut self.procs, &self.tree.join("scan"), &[], &self.tree.join("scanner.err"));
        wait_scanner(&self.tree.join("scan"));
    }

    /// A longrun's live service directory (`RUNDIR/sv/NAME`, or `RUNDIR/sv/PRODUCER/log`).
    fn live(&self, path: &str) -> PathBuf {
        self.tree.join("run/sv").join(path)
    }

    /// `ostler svstat` of a live service directory.
    fn svstat(&self, path: &str) -> String {
        let live = self.live(path);
        let (code, out, err) = self.ostler(&["svstat", live.to_str().unwrap()]);
        assert_eq!(code, 0, "svstat {path}: {err}");
        out
    }

    /// Asserts `svstat` says `path` is up (and ready, when `ready`).
    fn assert_up(&self, path: &str, ready: Readiness) {
        let line = self.svstat(path);
        assert!(line.starts_with("up (pid "), "{path} is not up: {line}");
        if ready == Readiness::Ready {
            assert!(line.contains(", ready "), "{path} is up but not ready: {line}");
        }
    }
}

/// Whether a longrun must also be ready (it has a `notification-fd`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Readiness {
    Up,
    Ready,
}

impl Drop for Rig {
    fn drop(&mut self) {
        // Take down what is up (essential services too), so no service outlives the test;
        // then the Processes guard stops the scanner, and the TempTree goes.
        let Ok((0, active, _)) = bounded(&mut self.command(&["rc", "list", "active"]), &self.tree) else { return };
        let names: Vec<&str> = active.lines().collect();
        if !names.is_empty() {
            let mut args = vec!["rc", "change", "-D"];
            args.extend(names);
            let _ = bounded(&mut self.command(&args), &self.tree);
        }
    }
}

/// Runs `command` with stdout and stderr in files of `tree`, killing it past
/// [`COMMAND_DEADLINE`]: a hung change fails the test instead of hanging it.
fn bounded(command: &mut Command, tree: &TempTree) -> Result<(i32, String, String), String> {
    static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (out_path, err_path) = (tree.join(format!(".out-{n}")), tree.join(format!(".err-{n}")));
    let out = std::fs::File::create(&out_path).map_err(|e| e.to_string())?;
    let err = std::fs::File::create(&err_path).map_err(|e| e.to_string())?;
    let mut child = command.stdin(Stdio::null()).stdout(out).stderr(err).spawn().map_err(|e| e.to_string())?;
    let end = Instant::now() + COMMAND_DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            let err = std::fs::read_to_string(&err_path).unwrap_or_default();
            return Err(format!(
                "still running after {COMMAND_DEADLINE:?}; killed. stderr:\n{err}{}",
                where_things_are(tree)
            ));
        }
        std::thread::sleep(POLL_EVERY);
    };
    let read = |path: &Path| String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned();
    let result = (status.code().unwrap_or(-1), read(&out_path), read(&err_path));
    let _ = std::fs::remove_file(out_path);
    let _ = std::fs::remove_file(err_path);
    Ok(result)
}

/// For a command that hung: each supervised service's status and the scanner's messages, so
/// that a rare hang says where it stood.
fn where_things_are(tree: &TempTree) -> String {
    let mut report = String::from("\nservices:\n");
    let mut names: Vec<_> =
        std::fs::read_dir(tree.join("scan")).into_iter().flatten().flatten().map(|e| e.path()).collect();
    names.sort();
    for dir in names.iter().filter(|d| !d.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))) {
        let out = Command::new(ostler()).arg("svstat").arg(dir).output();
        let text = out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default();
        report.push_str(&format!("  {}: {text}\n", dir.display()));
    }
    let scanner = std::fs::read_to_string(tree.join("scanner.err")).unwrap_or_default();
    report.push_str(&format!("scanner:\n{scanner}"));
    report
}

/// Asserts `first` is a line of `lines` before `then`.
fn assert_before(lines: &str, first: &str, then: &str) {
    let all: Vec<&str> = lines.lines().collect();
    let at = |name: &str| all.iter().position(|l| *l == name).unwrap_or_else(|| panic!("no {name:?} in {lines:?}"));
    assert!(at(first) < at(then), "{first} should come before {then}: {lines:?}");
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o7777
}

/// `rc check`'s stderr sorted by kind: (root causes, consequences, warnings, summaries), each
/// line without the `ostler rc: ` prefix.
fn findings(err: &str) -> (Vec<String>, Vec<String>, Vec<String>, Vec<String>) {
    let (mut causes, mut consequences, mut warnings, mut summaries) = (vec![], vec![], vec![], vec![]);
    for line in err.lines() {
        let line = line.strip_prefix("ostler rc: ").unwrap_or_else(|| panic!("not an rc line: {line:?} in:\n{err}"));
        let line = line.to_string();
        if line.contains(" left out: ") {
            consequences.push(line);
        } else if line.contains(": warning: ") {
            warnings.push(line);
        } else if line.contains(" problem(s) in ") {
            summaries.push(line);
        } else {
            causes.push(line);
        }
    }
    (causes, consequences, warnings, summaries)
}

/// A system layer and a site layer of about eight services where every file is mode 0644:
/// `run`, `finish`, `type`, `up`, `dependencies`, `contents` (only the scripts a oneshot's `up`
/// names by path are executable, as they must be to be exec'd). Flat `dependencies` with
/// comments and indented names; `contents` in one bundle, `contents.d/` in another (winning
/// over a flat file beside it); `type` with and without its newline.
#[test]
fn a_package_set_in_two_layers_with_every_file_0644() {
    require_execline();
    let mut rig = Rig::new("wild-packages");
    let system = rig.layer("system");
    let site = rig.layer("site");
    let order = rig.mark("order");
    let order = order.display();
    let sh_run = |body: &str| format!("#!/bin/sh\n{body}\nexec sleep 1000\n");

    rig.write(system.join("syslogd/type"), "longrun");
    // Three longruns wait for syslogd: it says it is ready once its line is written, since a
    // longrun without notification-fd counts as up as soon as it is forked, before its run
    // has written anything.
    rig.write(system.join("syslogd/run"), &sh_run(&format!("echo syslogd >> {order}\necho >&3")));
    rig.write(system.join("syslogd/notification-fd"), "3\n");
    rig.write(system.join("klogd/type"), "longrun\n");
    rig.write(system.join("klogd/run"), &sh_run(&format!("echo klogd >> {order}")));
    let finished = rig.mark("klogd-finish");
    rig.write(system.join("klogd/finish"), &format!("#!/bin/sh\necho \"finish $1 $2\" >> {}\n", finished.display()));
    rig.write(
        system.join("klogd/dependencies"),
        "# klogd reads the kernel's log into syslogd\n\n   syslogd\n\t# indented comment\n",
    );
    let mount = rig.libexec("mount-fs", &format!("echo mount-fs >> {order}"));
    let umount = rig.libexec("umount-fs", &format!("echo umount-fs >> {order}"));
    rig.write(system.join("mount-fs/type"), "oneshot\n");
    rig.write(system.join("mount-fs/up"), &format!("{}\n", mount.display()));
    rig.write(system.join("mount-fs/down"), &format!("{}\n", umount.display()));
    let hostname = rig.libexec("hostname", &format!("echo hostname >> {order}"));
    rig.write(system.join("hostname/type"), "oneshot");
    rig.write(system.join("hostname/up"), &format!("{}\n", hostname.display()));
    rig.write(system.join("hostname/dependencies.d/mount-fs"), "");
    rig.write(system.join("base/type"), "bundle\n");
    rig.write(system.join("base/contents"), "# the system's own\nmount-fs\n  hostname\nsyslogd\n\n");

    rig.write(site.join("web/type"), "longrun\n");
    rig.write(site.join("web/run"), &sh_run(&format!("echo web >> {order}")));
    rig.write(site.join("web/dependencies.d/base"), "");
    rig.write(site.join("web/dependencies.d/syslogd"), "");
    // dependencies.d/ wins over a flat file beside it.
    rig.write(site.join("web/dependencies"), "nosuch\n");
    rig.write(site.join("cron/type"), "longrun\n");
    rig.write(site.join("cron/run"), &sh_run(&format!("echo cron >> {order}")));
    rig.write(site.join("cron/dependencies"), "\t mount-fs\n# and logging, from the system layer\nsyslogd\n");
    let setup = rig.libexec("site-setup", &format!("echo site-setup >> {order}"));
    rig.write(site.join("site-setup/type"), "oneshot\n");
    rig.write(site.join("site-setup/up"), &format!("#!/bin/sh\n{}\n", setup.display()));
    rig.write(site.join("site-setup/dependencies.d/hostname"), "");
    rig.write(site.join("default/type"), "bundle\n");
    for member in ["base", "klogd", "web", "cron", "site-setup"] {
        rig.write(site.join("default/contents.d").join(member), "");
    }
    // contents.d/ wins: this flat file would name an undefined service.
    rig.write(site.join("default/contents"), "nosuch\n");

    let (code, out, err) = rig.check();
    assert_eq!((code, out.as_str(), err.as_str()), (0, rig.no_problem(9).as_str(), ""));

    rig.scanner();
    let err = rig.change(&["-u", "default"]);
    for longrun in ["syslogd", "klogd", "web", "cron"] {
        rig.assert_up(longrun, Readiness::Up);
    }
    assert_eq!(rig.active(), "cron\nhostname\nklogd\nmount-fs\nsite-setup\nsyslogd\nweb\n", "{err}");
    // The live copies of a 0644 run and finish are executable, as s6-rc-compile makes them.
    assert_eq!(mode_of(&rig.live("klogd/run")), 0o755);
    assert_eq!(mode_of(&rig.live("klogd/finish")), 0o755);
    // A longrun counts as up once its run is started: wait for what each writes first.
    wait_until("every service's line", DEADLINE, || {
        let lines = rig.read_mark("order");
        ["syslogd", "klogd", "web", "cron", "mount-fs", "hostname", "site-setup"]
            .iter()
            .all(|name| lines.lines().any(|l| l == *name))
    });
    let lines = rig.read_mark("order");
    for (first, then) in [
        ("mount-fs", "hostname"),
        ("hostname", "site-setup"),
        ("hostname", "web"),
        ("syslogd", "web"),
        ("syslogd", "klogd"),
        ("mount-fs", "cron"),
        ("syslogd", "cron"),
    ] {
        assert_before(&lines, first, then);
    }

    rig.change(&["-d", "default"]);
    assert_eq!(rig.active(), "");
    for longrun in ["syslogd", "klogd", "web", "cron"] {
        assert!(rig.svstat(longrun).starts_with("down "), "{longrun} still up");
    }
    assert!(rig.read_mark("order").lines().any(|l| l == "umount-fs"), "mount-fs's down did not run");
    // klogd's 0644 finish ran, with s6's arguments: killed by SIGTERM is "256 15".
    wait_until("klogd's finish", DEADLINE, || rig.read_mark("klogd-finish") == "finish 256 15\n");
}

/// s6-overlay's shape over three directories: a `base` bundle of oneshots, a `user` bundle
/// whose `contents.d/` and `dependencies.d/` hold `.empty` files, an empty `user2` bundle;
/// `#!/command/execlineb -P` oneshots (there is no /command here: the first line is a comment)
/// using `foreground`, `redirfd` and `importas` with RC_NAME; a longrun ready on fd 3.
#[test]
fn an_s6_overlay_layout_from_three_directories() {
    require_execline();
    let mut rig = Rig::new("wild-overlay");
    let overlay = rig.layer("overlay");
    let user = rig.layer("user");
    let user2 = rig.layer("user2");
    let order = rig.mark("order");
    let order = order.display();
    let execlineb = "#!/command/execlineb -P\n";

    rig.write(overlay.join("base/type"), "bundle\n");
    for member in [".empty", "fix-attrs", "legacy-cont-init"] {
        rig.write(overlay.join("base/contents.d").join(member), "");
    }
    rig.write(overlay.join("fix-attrs/type"), "oneshot\n");
    rig.write(overlay.join("fix-attrs/up"), &format!("{execlineb}redirfd -a 1 {order} echo fix-attrs\n"));
    rig.write(overlay.join("legacy-cont-init/type"), "oneshot\n");
    rig.write(overlay.join("legacy-cont-init/dependencies.d/fix-attrs"), "");
    rig.write(
        overlay.join("legacy-cont-init/up"),
        &format!("{execlineb}foreground {{ redirfd -a 1 {order} echo legacy-cont-init }}\n"),
    );
    // A hidden directory at the top level is skipped, however broken.
    rig.write(overlay.join(".trash/type"), "garbage\n");

    rig.write(user.join("user/type"), "bundle\n");
    for member in [".empty", "init-app", "app"] {
        rig.write(user.join("user/contents.d").join(member), "");
    }
    rig.write(user.join("init-app/type"), "oneshot\n");
    rig.write(user.join("init-app/dependencies.d/.empty"), "");
    rig.write(user.join("init-app/dependencies.d/base"), "");
    let script = format!(
        "{execlineb}\
         foreground {{ redirfd -w 1 {initialised} echo initialised }}\n\
         foreground {{ redirfd -a 1 {order} echo init-app }}\n\
         importas -i name RC_NAME\n\
         foreground {{ redirfd -w 1 {rc_name} echo ${{name}} }}\n\
         redirfd -w 1 {cwd} pwd\n",
        initialised = rig.mark("initialised").display(),
        rc_name = rig.mark("rc-name").display(),
        cwd = rig.mark("cwd").display(),
    );
    rig.write(user.join("init-app/up"), &script);
    rig.write(user.join("app/type"), "longrun\n");
    for dependency in [".empty", "base", "init-app"] {
        rig.write(user.join("app/dependencies.d").join(dependency), "");
    }
    rig.write(user.join("app/notification-fd"), "3\n");
    rig.write(user.join("app/run"), &format!("#!/bin/sh\necho app >> {order}\necho >&3\nexec 3>&-\nexec sleep 1000\n"));

    rig.write(user2.join("user2/type"), "bundle\n");
    rig.write(user2.join("user2/contents.d/.empty"), "");
    rig.write(user2.join("late/type"), "oneshot\n");
    rig.write(user2.join("late/dependencies.d/.empty"), "");
    rig.write(user2.join("late/dependencies.d/user"), "");
    rig.write(user2.join("late/dependencies.d/noop"), "");
    // Only comments: nothing to run, and it succeeds.
    rig.write(user2.join("noop/type"), "oneshot\n");
    rig.write(user2.join("noop/up"), &format!("{execlineb}# nothing to do here\n  # really nothing\n"));
    rig.write(user2.join("late/up"), &format!("{execlineb}redirfd -a 1 {order} echo late\n"));

    // Checked with --defs three times (OSTLER_DEFS says nothing here).
    let mut check = rig.command(&[]);
    check.env_remove("OSTLER_DEFS").arg("rc");
    for layer in &rig.layers {
        check.arg("--defs").arg(layer);
    }
    check.arg("check");
    let (code, out, err) = bounded(&mut check, &rig.tree).unwrap();
    assert_eq!((code, out.as_str(), err.as_str()), (0, rig.no_problem(9).as_str(), ""));

    // Changed through OSTLER_DEFS=A:B:C.
    rig.scanner();
    rig.change(&["-u", "user"]);
    assert_eq!(rig.read_mark("order"), "fix-attrs\nlegacy-cont-init\ninit-app\napp\n");
    assert_eq!(rig.read_mark("initialised"), "initialised\n");
    assert_eq!(rig.read_mark("rc-name"), "init-app\n", "RC_NAME is the service's name");
    assert_eq!(rig.read_mark("cwd"), format!("{}\n", user.join("init-app").display()), "the definition's directory");
    rig.assert_up("app", Readiness::Ready);
    rig.change(&["-u", "user2"]);
    rig.change(&["-u", "late"]);
    assert_eq!(rig.read_mark("order").lines().last(), Some("late"));
    assert_eq!(rig.active(), "app\nfix-attrs\ninit-app\nlate\nlegacy-cont-init\nnoop\n");
    let (code, _, err) = rig.rc(&["change", "-u", "nosuch"]);
    assert_eq!(code, 3, "an unknown name: {err}");

    rig.change(&["-d", "user"]);
    // late depends on user: it went down too; noop, only late's dependency, stays up.
    assert_eq!(rig.active(), "fix-attrs\nlegacy-cont-init\nnoop\n");
    assert!(rig.svstat("app").starts_with("down "));
    rig.change(&["-d", "base", "noop"]);
    assert_eq!(rig.active(), "");
}

/// A boot tree of bundles in bundles, some carrying dependencies (`dependencies.d/` or a flat
/// `dependencies`): warnings only, and the dependencies ignored, as s6-rc ignores them. The dry
/// run's plan respects every atom's dependencies; the real run follows it.
#[test]
fn nested_bundles_that_carry_dependencies() {
    require_execline();
    let mut rig = Rig::new("wild-boot");
    let boot = rig.layer("boot");
    let order = rig.mark("order");
    let order = order.display();
    let oneshot = |name: &str, deps: &[&str]| {
        rig.write(boot.join(name).join("type"), "oneshot\n");
        rig.write(boot.join(name).join("up"), &format!("redirfd -a 1 {order} echo {name}\n"));
        for dep in deps {
            rig.write(boot.join(name).join("dependencies.d").join(dep), "");
        }
    };
    oneshot("early", &[]);
    oneshot("mounts", &["early"]);
    oneshot("net", &["mounts"]);
    oneshot("motd", &[]);
    oneshot("stray", &[]);
    for (name, dep) in [("sshd", "net"), ("getty", "early")] {
        rig.write(boot.join(name).join("type"), "longrun\n");
        rig.write(boot.join(name).join("run"), &format!("#!/bin/sh\necho {name} >> {order}\nexec sleep 1000\n"));
        rig.write(boot.join(name).join("dependencies.d").join(dep), "");
    }
    let bundle = |name: &str, members: &[&str]| {
        rig.write(boot.join(name).join("type"), "bundle\n");
        for member in members {
            rig.write(boot.join(name).join("contents.d").join(member), "");
        }
    };
    bundle("sysinit", &["early", "mounts"]);
    bundle("network", &["net"]);
    rig.write(boot.join("network/dependencies.d/sysinit"), "");
    rig.write(boot.join("daemons/type"), "bundle\n");
    rig.write(boot.join("daemons/contents"), "sshd\ngetty\n");
    bundle("services", &["daemons"]);
    rig.write(boot.join("services/dependencies"), "# services need the network\nnetwork\n");
    bundle("top", &["sysinit", "network", "services"]);
    bundle("extras", &["motd"]);
    rig.write(boot.join("extras/dependencies.d/stray"), "");

    let (code, out, err) = rig.check();
    assert_eq!((code, out.as_str()), (0, rig.no_problem(13).as_str()), "{err}");
    let (causes, consequences, warnings, summaries) = findings(&err);
    assert!(causes.is_empty() && consequences.is_empty() && summaries.is_empty(), "{err}");
    let warning = |file: &str, name: &str| {
        format!(
            "{}: warning: {name} is a bundle, and a bundle's dependencies are ignored (as s6-rc does); put them on its members",
            boot.join(file).display()
        )
    };
    let expected = BTreeSet::from([
        warning("network/dependencies.d/sysinit", "network"),
        warning("services/dependencies", "services"),
        warning("extras/dependencies.d/stray", "extras"),
    ]);
    assert_eq!(warnings.into_iter().collect::<BTreeSet<_>>(), expected, "{err}");

    // The plan: every atom of top, each after what it depends on, nothing else.
    rig.scanner();
    let (code, plan, err) = rig.rc(&["change", "-n", "-u", "top"]);
    assert_eq!(code, 0, "{err}");
    let mut seen: Vec<String> = Vec::new();
    for line in plan.lines() {
        let (head, after) = match line.split_once(" after ") {
            Some((head, after)) => (head, after.split(' ').collect::<Vec<_>>()),
            None => (line, Vec::new()),
        };
        let words: Vec<&str> = head.split(' ').collect();
        assert!(words.len() == 3 && words[0] == "up", "not a plan line: {line:?} in:\n{plan}");
        for dep in after {
            assert!(seen.iter().any(|s| s == dep), "{line:?} before its dependency {dep} in:\n{plan}");
        }
        seen.push(words[1].to_string());
    }
    for (first, then) in [("early", "mounts"), ("mounts", "net"), ("net", "sshd"), ("early", "getty")] {
        assert_before(&seen.join("\n"), first, then);
    }
    seen.sort();
    assert_eq!(seen, ["early", "getty", "mounts", "net", "sshd"], "{plan}");
    assert!(plan.contains("up sshd (longrun) after net"), "{plan}");
    assert!(plan.contains("up net (oneshot) after mounts"), "{plan}");
    assert_eq!(rig.active(), "", "a dry run changes nothing");

    let change_err = rig.change(&["-u", "top"]);
    assert_eq!(rig.active(), "early\ngetty\nmounts\nnet\nsshd\n");
    wait_until("sshd's and getty's lines", DEADLINE, || {
        let lines = rig.read_mark("order");
        lines.lines().any(|l| l == "sshd") && lines.lines().any(|l| l == "getty")
    });
    rig.assert_up("sshd", Readiness::Up);
    rig.assert_up("getty", Readiness::Up);
    let lines = rig.read_mark("order");
    for (first, then) in [("early", "mounts"), ("mounts", "net"), ("net", "sshd"), ("early", "getty")] {
        assert_before(&lines, first, then);
    }
    // extras' dependency on stray is ignored: stray stays down.
    rig.change(&["-u", "extras"]);
    assert_eq!(rig.active(), "early\ngetty\nmotd\nmounts\nnet\nsshd\n");
    assert!(!rig.read_mark("order").lines().any(|l| l == "stray"));
    // A change says the bundles' warnings too, each as rc check says it: "warning:" once.
    for line in change_err.lines().filter(|l| l.contains("is a bundle")) {
        assert_eq!(line.matches("warning:").count(), 1, "a warning said twice over: {line}");
    }
}

/// A router: two producers funnelled into one consumer whose `pipeline-name` makes a bundle;
/// `env/` copied into the live directory and read by the service; `down-signal` SIGHUP;
/// `flag-essential` (kept by `-d`, taken by `-D`) and `flag-recommended`; a long execline `up`
/// with comments and nested `foreground { if { … } … }` blocks.
#[test]
fn a_router_tree_with_a_funnel_env_down_signal_and_nested_execline() {
    require_execline();
    let mut rig = Rig::new("wild-router");
    let router = rig.layer("router");
    let netlog = rig.mark("netconf");
    let netlog = netlog.display();
    rig.write(router.join("netconf/type"), "oneshot\n");
    let up = format!(
        r#"#!/command/execlineb -P
# Bring the interfaces up, in order.
# Every step appends its name to the log.
foreground {{
  # the loopback first
  redirfd -a 1 {netlog} echo lo
}}
foreground {{
  if {{ redirfd -a 1 {netlog} echo eth0 }}
  if {{ test -e /nonexistent/ostler-wild }}   # fails: what follows in this block is not run
  redirfd -a 1 {netlog} echo never
}}
foreground {{
  if {{
    if {{ true }}
    redirfd -a 1 {netlog} echo "nested if"
  }}
  redirfd -a 1 {netlog} echo "wan \"up\""
}}
# the end
redirfd -a 1 {netlog} echo done
"#
    );
    rig.write(router.join("netconf/up"), &up);
    rig.write(router.join("netconf/down"), &format!("#!/command/execlineb -P\nredirfd -a 1 {netlog} echo down\n"));

    let pipe_out = rig.mark("pipeline");
    for (name, says) in [("dnsmasq", "serving"), ("hostapd", "beaconing")] {
        rig.write(router.join(name).join("type"), "longrun\n");
        rig.write(router.join(name).join("run"), &format!("#!/bin/sh\necho {name}: {says}\nexec sleep 1000\n"));
        rig.write(router.join(name).join("producer-for"), "router-log\n");
        rig.write(router.join(name).join("dependencies.d/netconf"), "");
    }
    rig.write(router.join("router-log/type"), "longrun\n");
    rig.write(router.join("router-log/run"), &format!("#!/bin/sh\nexec cat >> {}\n", pipe_out.display()));
    rig.write(router.join("router-log/consumer-for"), "dnsmasq\nhostapd\n");
    rig.write(router.join("router-log/pipeline-name"), "router-pipe\n");

    rig.write(router.join("firewall/type"), "longrun\n");
    rig.write(router.join("firewall/flag-essential"), "");
    rig.write(router.join("firewall/env/ZONE"), "lan\n");
    rig.write(router.join("firewall/env/POLICY"), "drop\n");
    rig.write(router.join("firewall/data/rules.v4"), "-P INPUT DROP\n");
    rig.write_mode(router.join("firewall/data/reload"), "#!/bin/sh\n", 0o755);
    rig.write(router.join("firewall/template/run"), "#!/bin/sh\nexec sleep 1000\n");
    let rules = rig.mark("firewall");
    rig.write(
        router.join("firewall/run"),
        &format!("#!/bin/sh\ncat ./env/ZONE ./env/POLICY > {}\nexec sleep 1000\n", rules.display()),
    );

    rig.write(router.join("ntpd/type"), "longrun\n");
    rig.write(router.join("ntpd/flag-recommended"), "");
    rig.write(router.join("ntpd/down-signal"), "SIGHUP\n");

    rig.write(router.join("ntpd/notification-fd"), "3\n");
    let ntp_signal = rig.mark("ntpd-signal");
    let ntp_signal = ntp_signal.display();
    rig.write(
        router.join("ntpd/run"),
        &format!(
            "#!/bin/sh\n\
             sleep 1000 3>&- &\nchild=$!\n\
             trap 'echo HUP > {ntp_signal}; kill $child; exit 0' HUP\n\
             trap 'echo TERM > {ntp_signal}; kill $child; exit 0' TERM\n\
             echo >&3\nexec 3>&-\nwait\n"
        ),
    );

    rig.write(router.join("router/type"), "bundle\n");
    for member in ["router-pipe", "firewall", "ntpd"] {
        rig.write(router.join("router/contents.d").join(member), "");
    }

    let (code, out, err) = rig.check();
    assert_eq!((code, out.as_str(), err.as_str()), (0, rig.no_problem(8).as_str(), ""));
    assert_eq!(rig.rc(&["list", "router-pipe"]).1, "dnsmasq\nhostapd\nrouter-log\n");

    rig.scanner();
    rig.change(&["-u", "router"]);
    assert_eq!(rig.active(), "dnsmasq\nfirewall\nhostapd\nnetconf\nntpd\nrouter-log\n");
    assert_eq!(std::fs::read_to_string(rig.mark("netconf")).unwrap(), "lo\neth0\nnested if\nwan \"up\"\ndone\n");
    // The funnel's consumer has a live directory of its own.
    for longrun in ["dnsmasq", "hostapd", "router-log", "firewall"] {
        rig.assert_up(longrun, Readiness::Up);
    }
    rig.assert_up("ntpd", Readiness::Ready);
    wait_until("both producers' lines through the funnel", DEADLINE, || {
        let text = rig.read_mark("pipeline");
        text.contains("dnsmasq: serving\n") && text.contains("hostapd: beaconing\n")
    });
    assert!(!rig.live("dnsmasq/log").exists() && !rig.live("hostapd/log").exists(), "a funnel's consumer");
    assert_eq!(std::fs::read_to_string(rig.live("firewall/env/ZONE")).unwrap(), "lan\n");
    assert_eq!(std::fs::read_to_string(rig.live("firewall/data/rules.v4")).unwrap(), "-P INPUT DROP\n");
    assert_eq!(mode_of(&rig.live("firewall/data/reload")), 0o755, "data/ is copied with its modes");
    assert!(rig.live("firewall/template/run").is_file(), "template/ is copied");
    wait_until("firewall's rules from its env/", DEADLINE, || rig.read_mark("firewall") == "lan\ndrop\n");
    assert_eq!(std::fs::read_to_string(rig.live("ntpd/down-signal")).unwrap(), "SIGHUP\n");

    // -d keeps the essential firewall up; ntpd is stopped by its down-signal.
    let err = rig.change(&["-d", "router"]);
    assert!(err.contains("firewall is essential"), "{err}");
    rig.assert_up("firewall", Readiness::Up);
    for longrun in ["dnsmasq", "hostapd", "router-log", "ntpd"] {
        assert!(rig.svstat(longrun).starts_with("down "), "{longrun} still up: {err}");
    }
    wait_until("ntpd's trap", DEADLINE, || !rig.read_mark("ntpd-signal").is_empty());
    assert_eq!(rig.read_mark("ntpd-signal"), "HUP\n", "ntpd was stopped by its down-signal");
    // netconf is only a dependency of router's members: as with s6-rc, it stays up.
    assert_eq!(rig.active(), "firewall\nnetconf\n");
    rig.change(&["-D", "router"]);
    assert!(rig.svstat("firewall").starts_with("down "));
    rig.change(&["-d", "netconf"]);
    assert_eq!(rig.active(), "");
    assert_eq!(rig.read_mark("netconf").lines().last(), Some("down"));
}

/// A demo tree: 0644 `run` files, readiness on fd 3, a producer → consumer pipeline (the
/// consumer lives in the producer's `log/`), a `finish` reading its arguments, essential and
/// recommended flags, and a longrun whose definition holds a `down` file — it comes up anyway,
/// as under s6-rc.
#[test]
fn a_demo_tree_with_a_pipeline_finish_arguments_and_a_down_file() {
    require_execline();
    let mut rig = Rig::new("wild-demo");
    let demo = rig.layer("demo");
    let longrun = |name: &str, run: &str| {
        rig.write(demo.join(name).join("type"), "longrun\n");
        rig.write(demo.join(name).join("run"), &format!("#!/bin/sh\n{run}\n"));
    };
    longrun("ticker", "echo >&3\nexec 3>&-\necho tick 1\necho tick 2\nexec sleep 1000");
    rig.write(demo.join("ticker/notification-fd"), "3\n");
    rig.write(demo.join("ticker/producer-for"), "ticker-log\n");
    longrun("ticker-log", &format!("exec cat >> {}", rig.mark("ticks").display()));
    rig.write(demo.join("ticker-log/consumer-for"), "ticker\n");
    longrun("worker", "exec sleep 1000");
    rig.write(demo.join("worker/finish"), &format!("#!/bin/sh\necho \"$1 $2\" >> {}\n", rig.mark("finish").display()));
    longrun("keeper", "exec sleep 1000");
    rig.write(demo.join("keeper/flag-essential"), "");
    longrun("helper", "exec sleep 1000");
    rig.write(demo.join("helper/flag-recommended"), "");
    longrun("stubborn", "exec sleep 1000");
    rig.write(demo.join("stubborn/down"), "");
    rig.write(demo.join("demo/type"), "bundle\n");
    rig.write(demo.join("demo/contents"), "ticker\nticker-log\nworker\nkeeper\nhelper\nstubborn\n");

    let (code, out, err) = rig.check();
    assert_eq!((code, out.as_str(), err.as_str()), (0, rig.no_problem(7).as_str(), ""));

    rig.scanner();
    rig.change(&["-u", "demo"]);
    assert_eq!(rig.active(), "helper\nkeeper\nstubborn\nticker\nticker-log\nworker\n");
    rig.assert_up("ticker", Readiness::Ready);
    rig.assert_up("ticker/log", Readiness::Up);
    for name in ["worker", "keeper", "helper", "stubborn"] {
        rig.assert_up(name, Readiness::Up);
    }
    assert!(!rig.live("stubborn/down").exists(), "a down file in a definition is not copied");
    assert!(!rig.live("ticker-log").exists(), "one producer's consumer lives in its log/");
    wait_until("the ticks through the pipeline", DEADLINE, || rig.read_mark("ticks") == "tick 1\ntick 2\n");

    // finish gets s6's arguments: 256 and the signal when killed.
    let worker = status_pid(&rig.live("worker"));
    let (code, _, err) = rig.ostler(&["svc", "-k", rig.live("worker").to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    wait_until("worker's finish", DEADLINE, || rig.read_mark("finish") == "256 9\n");
    wait_up(&rig.live("worker"), worker, DEADLINE);

    let err = rig.change(&["-d", "demo"]);
    assert!(err.contains("keeper is essential"), "{err}");
    assert_eq!(rig.active(), "keeper\n");
    assert!(rig.svstat("stubborn").starts_with("down "));
    wait_until("worker's second finish", DEADLINE, || rig.read_mark("finish") == "256 9\n256 15\n");
    rig.change(&["-D", "keeper"]);
    assert_eq!(rig.active(), "");
}

/// Each broken tree gives exactly one root cause, on the file at fault, counted once; what it
/// takes with it comes as `left out` lines.
fn one_problem(rig: &Rig, cause: &str, left_out: &[&str]) {
    let (code, out, err) = rig.check();
    assert_eq!(code, 1, "{out}{err}");
    let (causes, consequences, warnings, summaries) = findings(&err);
    assert_eq!(causes, [cause], "{err}");
    let dirs: Vec<String> = rig.layers.iter().map(|l| l.display().to_string()).collect();
    assert_eq!(summaries, [format!("1 problem(s) in {}", dirs.join(", "))], "{err}");
    assert!(warnings.is_empty(), "{err}");
    let expected: BTreeSet<String> = left_out.iter().map(|l| l.to_string()).collect();
    assert_eq!(consequences.into_iter().collect::<BTreeSet<_>>(), expected, "{err}");
}

/// The problems s6-rc-compile refuses, one tree each: a name defined in two directories, a
/// pipeline named after a service, an `up` with a `{` never closed, a `down` with a `}` never
/// opened, a dependency cycle, and a producer without `run` taking its consumer and their
/// dependents with it.
#[test]
fn check_says_each_root_cause_once_with_its_file() {
    // A name defined in two directories: on the second, both paths named.
    let mut rig = Rig::new("wild-twice");
    let (first, second) = (rig.layer("first"), rig.layer("second"));
    for layer in [&first, &second] {
        rig.write(layer.join("web/type"), "longrun\n");
        rig.write(layer.join("web/run"), "#!/bin/sh\nexec sleep 1000\n");
    }
    rig.write(first.join("proxy/type"), "longrun\n");
    rig.write(first.join("proxy/run"), "#!/bin/sh\nexec sleep 1000\n");
    rig.write(first.join("proxy/dependencies"), "web\n");
    one_problem(
        &rig,
        &format!(
            "{}: web is defined twice, here and in {}; remove or rename one of them",
            second.join("web").display(),
            first.join("web").display()
        ),
        &["proxy left out: it depends on web, which has a problem (above)"],
    );
    drop(rig);

    // A pipeline named after a service.
    let mut rig = Rig::new("wild-pipename");
    let dir = rig.layer("sv");
    for name in ["p", "c", "other"] {
        rig.write(dir.join(name).join("type"), "longrun\n");
        rig.write(dir.join(name).join("run"), "#!/bin/sh\nexec sleep 1000\n");
    }
    rig.write(dir.join("p/producer-for"), "c\n");
    rig.write(dir.join("c/consumer-for"), "p\n");
    rig.write(dir.join("c/pipeline-name"), "other\n");
    one_problem(
        &rig,
        &format!(
            "{}: other is already a service name; choose another pipeline name",
            dir.join("c/pipeline-name").display()
        ),
        &[],
    );
    drop(rig);

    // An up with a { never closed, a down with a } never opened.
    let mut rig = Rig::new("wild-braces");
    let dir = rig.layer("sv");
    rig.write(dir.join("open/type"), "oneshot\n");
    rig.write(dir.join("open/up"), "#!/command/execlineb -P\nforeground {\n  echo a\n");
    rig.write(dir.join("after/type"), "oneshot\n");
    rig.write(dir.join("after/up"), "true\n");
    rig.write(dir.join("after/dependencies.d/open"), "");
    one_problem(
        &rig,
        &format!(
            "{}: not an execline command line: unmatched {{ (line 2); add the }} that ends its block",
            dir.join("open/up").display()
        ),
        &["after left out: it depends on open, which has a problem (above)"],
    );
    drop(rig);
    let mut rig = Rig::new("wild-braces");
    let dir = rig.layer("sv");
    rig.write(dir.join("close/type"), "oneshot\n");
    rig.write(dir.join("close/up"), "true\n");
    rig.write(dir.join("close/down"), "foreground { echo a }\necho b\n}\n");
    one_problem(
        &rig,
        &format!(
            "{}: not an execline command line: unmatched }} on line 3; remove it or add the {{ it closes",
            dir.join("close/down").display()
        ),
        &[],
    );
    drop(rig);

    // A dependency cycle: one problem, its other members consequences.
    let mut rig = Rig::new("wild-cycle");
    let dir = rig.layer("sv");
    for (name, dep) in [("a", "b"), ("b", "c"), ("c", "a")] {
        rig.write(dir.join(name).join("type"), "oneshot\n");
        rig.write(dir.join(name).join("up"), "true\n");
        rig.write(dir.join(name).join("dependencies.d").join(dep), "");
    }
    let (code, _, err) = rig.check();
    assert_eq!(code, 1, "{err}");
    let (causes, consequences, _, summaries) = findings(&err);
    assert_eq!(causes.len(), 1, "{err}");
    assert!(causes[0].ends_with("dependency cycle: a → b → c → a; remove one of these dependencies"), "{err}");
    assert_eq!(summaries.len(), 1, "{err}");
    assert!(summaries[0].starts_with("1 problem(s) in "), "{err}");
    let left_out: BTreeSet<&str> = consequences.iter().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(left_out, BTreeSet::from(["b", "c"]), "{err}");
    drop(rig);

    // The cascade: a producer without run. Its consumer and what depends on either are left
    // out; one problem.
    let mut rig = Rig::new("wild-cascade");
    let dir = rig.layer("sv");
    for name in ["prod", "cons", "svc"] {
        rig.write(dir.join(name).join("type"), "longrun\n");
    }
    for name in ["cons", "svc"] {
        rig.write(dir.join(name).join("run"), "#!/bin/sh\nexec sleep 1000\n");
    }
    rig.write(dir.join("prod/producer-for"), "cons\n");
    rig.write(dir.join("cons/consumer-for"), "prod\n");
    rig.write(dir.join("svc/dependencies.d/prod"), "");
    rig.write(dir.join("dash/type"), "oneshot\n");
    rig.write(dir.join("dash/up"), "true\n");
    rig.write(dir.join("dash/dependencies.d/cons"), "");
    one_problem(
        &rig,
        &format!("{}: missing; a longrun needs a run file", dir.join("prod/run").display()),
        &[
            "cons left out: its producer prod has a problem (above)",
            "svc left out: it depends on prod, which has a problem (above)",
            "dash left out: it depends on cons, which is left out (above)",
        ],
    );
}

/// What a script lexes to: its words, or `Err(())` when it is refused.
type Lexed = Result<Vec<Vec<u8>>, ()>;

/// Runs `script` through Debian's execlineb after a line naming `dumper`: `Err(())` when
/// execlineb refuses it (exit 100), else the words the script gave.
fn execlineb(execlineb: &Path, dumper: &Path, script: &[u8]) -> Lexed {
    use std::os::unix::ffi::OsStrExt;
    let mut text = format!("{}\n", dumper.display()).into_bytes();
    text.extend_from_slice(script);
    let output = Command::new(execlineb)
        .arg("-P")
        .arg("-c")
        .arg(std::ffi::OsStr::from_bytes(&text))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    match output.status.code() {
        Some(100) => Err(()),
        Some(0) => {
            let mut words: Vec<Vec<u8>> = output.stdout.split(|&b| b == 0).map(<[u8]>::to_vec).collect();
            assert_eq!(words.pop(), Some(Vec::new()), "the dumper ends every word with a NUL");
            Ok(words)
        }
        other => panic!(
            "execlineb exited {other:?} on {:?}: {}",
            String::from_utf8_lossy(script),
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

/// ostler's execline lexer gives the argv Debian's execlineb gives, and refuses what it
/// refuses: hand-written cases (with the argv written out), then 300 pseudo-random scripts.
#[test]
fn the_execline_lexer_agrees_with_execlineb() {
    let execlineb_path = require_execline();
    let tree = TempTree::new("wild-lexer");
    // Prints its arguments, each ended by a NUL; the words before it (the dumper's own path)
    // are not printed.
    let dumper = tree.script("dump", "#!/bin/sh\nfor word; do printf '%s\\0' \"$word\"; done\n");
    // Every difference is kept and reported at the end, all together.
    let mut differences: Vec<String> = Vec::new();
    let mut compare = |script: &[u8]| -> Lexed {
        let ours = execline::lex(script);
        let theirs = execlineb(&execlineb_path, &dumper, script);
        let same = match (&ours, &theirs) {
            (Ok(a), Ok(b)) => a == b,
            (Err(_), Err(())) => true,
            _ => false,
        };
        if !same {
            let show = |argv: &Vec<Vec<u8>>| -> Vec<String> {
                argv.iter().map(|w| String::from_utf8_lossy(w).into_owned()).collect()
            };
            differences.push(format!(
                "{:?}: execlineb {}, ostler {}",
                String::from_utf8_lossy(script),
                theirs.as_ref().map_or("refuses it".to_string(), |argv| format!("gives {:?}", show(argv))),
                ours.as_ref().map_or_else(|e| format!("refuses it ({e})"), |argv| format!("gives {:?}", show(argv))),
            ));
        }
        theirs
    };
    let words = |list: &[&str]| -> Lexed { Ok(list.iter().map(|w| w.as_bytes().to_vec()).collect()) };
    let cases: &[(&str, Lexed)] = &[
        ("if { if { true } } x", words(&["if", " if", "  true", " ", "", "x"])),
        ("foreground { echo a } echo b", words(&["foreground", " echo", " a", "", "echo", "b"])),
        ("x { \"\" }", words(&["x", " ", ""])),
        ("#!/bin/sh\nexec /some/script\n", words(&["exec", "/some/script"])),
        ("# only\n  # comments\n", words(&[])),
        ("a#b c", words(&["a#b", "c"])),
        ("c\"d e\"f", words(&["cd ef"])),
        ("\"\\1234\"", words(&["{4"])),
        ("\"\\x41\" \"\\0x41\" \"\\101\" \"\\t\"", words(&["x41", "A", "e", "\t"])),
        ("{a a{ {} a} {#", words(&["{a", "a{", "{}", "a}", "{#"])),
        ("x \\\n y \\# \\{", words(&["x", "y", "#", "{"])),
        ("\"a\\\nb\" a\\ b", words(&["ab", "a b"])),
        ("tab\there\r\n", words(&["tab", "here"])),
        ("\\", words(&[])),
        ("x }", Err(())),
        ("}", Err(())),
        ("x {", Err(())),
        ("x { y", Err(())),
        ("\"never closed", Err(())),
        ("x\\", Err(())),
        ("\"\\256\"", Err(())),
        ("\"\\0\"", Err(())),
        ("\"\\0x\"", Err(())),
        // A quote left open right after a numeric escape: execline's parser ends the word
        // there (its states after an escape's digits end the word on the script's end).
        ("\"\\1", words(&["\u{1}"])),
        ("a\"b\\101", words(&["abe"])),
        ("\"\\0x41", words(&["A"])),
        ("\"\\012", words(&["\n"])),
        // `{` or `}` then a backslash: execline goes to its between-words backslash state
        // without ending the word: the end of the script drops it, a newline continues it,
        // another character is added after the block level's spaces.
        ("{\\", words(&[])),
        ("}\\", words(&[])),
        ("{\\\nx", words(&["{x"])),
        ("}\\\nx", words(&["}x"])),
        ("{\\\n} ", Err(())),
        ("x { {\\b }", words(&["x", " { b", ""])),
    ];
    for (script, expected) in cases {
        let theirs = compare(script.as_bytes());
        assert_eq!(&theirs, expected, "execlineb on {script:?} (the test's expectation is wrong)");
    }
    // Which error ostler names, for the two rc check reports by name.
    assert_eq!(execline::lex(b"x }").unwrap_err().what, execline::Wrong::Close);
    assert_eq!(execline::lex(b"a {\nb\n").unwrap_err(), execline::SyntaxError { line: 1, what: execline::Wrong::Open });

    // Pseudo-random scripts over the characters that matter, with blocks (`{` and `}` between
    // blanks) and words weighted up so that accepted, refused and nested scripts are all common.
    const TOKENS: &[&[u8]] = &[
        b"a", b"b", b"x", b"0", b"1", b"9", b" ", b"\t", b"\n", b"\r", b"#", b"\"", b"\\", b"{", b"}", b" { ", b" } ",
        b" ", b"a",
    ];
    let mut seed: u64 = 0x0005_71e7;
    let mut next = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    let (mut accepted, mut refused, mut with_blocks) = (0, 0, 0);
    for _ in 0..300 {
        let length = next() % 20;
        let script: Vec<u8> = (0..length).flat_map(|_| TOKENS[next() % TOKENS.len()].iter().copied()).collect();
        match compare(&script) {
            Ok(argv) => {
                accepted += 1;
                if argv.iter().any(|w| w.first() == Some(&b' ') || w.is_empty()) {
                    with_blocks += 1;
                }
            }
            Err(()) => refused += 1,
        }
    }
    eprintln!("execline lexer: {accepted} accepted, {refused} refused, {with_blocks} with blocks or empty words");
    assert!(accepted >= 60 && refused >= 60 && with_blocks >= 10, "{accepted} {refused} {with_blocks}");
    assert!(
        differences.is_empty(),
        "ostler's lexer and execlineb differ on {} script(s):\n{}",
        differences.len(),
        differences.join("\n")
    );
}
