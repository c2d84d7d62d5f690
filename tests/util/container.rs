//! OCI containers for the container tests (issue 11): a busybox-static root filesystem with the
//! static ostler as `/sbin/ostler` (`/sbin/init`, `/init`), run through runc directly (an OCI
//! bundle per test) and through podman (one image per test binary and base; a test's own files
//! are bind-mounted read-only).
//!
//! The s6-overlay tests choose another base ([`Base::Debian`]): a Debian bookworm minbase root
//! with execline, s6 and bash ([`super::debian`]), the static ostler as `/init` (the image's
//! entrypoint, as s6-overlay's), and `/command` made by `ostler s6-overlay links` as an
//! image's Containerfile would. A [`Layer`] says which base it goes over; everything else
//! (names, mounts, [`podman_run`], [`Container`], [`Pod`], the clean-up) is shared.
//!
//! This host needs two things the facts sheet (docs/facts/containers.md, part B) found: podman
//! is pointed at a private containers.conf (runtime runc — crun fails on the hybrid cgroup
//! layout — and ulimits root may set without CAP_SYS_RESOURCE), and podman containers get
//! `--network=none`. Everything a test makes is removed when its guard drops: runc containers
//! (`runc delete -f`, their state in the test's tree), podman containers and pods (by name),
//! and, when the test binary exits, the shared images.

use super::debian;
use super::guest::{deb_cache, guest_ostler};
use super::{TempTree, POLL_EVERY};
use std::collections::HashSet;
use std::io::Read;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a container may take to start and do a short job (a podman run takes ≈ 0.2 s;
/// allow for a busy host).
pub const RUN: Duration = Duration::from_secs(20);
/// One engine command (`podman exec`, `inspect`, `kill`, `logs`…).
const ENGINE_COMMAND: Duration = Duration::from_secs(30);
/// How often the waiters that run an engine command look again (each costs tens of ms).
const POLL_ENGINE: Duration = Duration::from_millis(50);

/// The busybox applets linked in /bin (shell builtins such as `trap` need none).
pub const APPLETS: &[&str] = &[
    "sh", "sleep", "echo", "cat", "kill", "ps", "id", "touch", "ls", "true", "false", "env", "test", "[", "mkdir",
    "grep", "rm", "printf", "head", "tail", "wc", "sed", "tr", "pidof", "readlink",
];

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n";
const GROUP: &str = "root:x:0:\nuser:x:1000:\n";

/// Panics, naming the program and `tools/setup`, unless runc and podman are installed.
pub fn require_engines() {
    for program in ["runc", "podman"] {
        program_path(program);
    }
}

/// The path of an engine program: PATH, then the sbin directories root's PATH may lack.
fn program_path(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(PathBuf::from));
    for dir in dirs {
        let candidate = dir.join(program);
        if candidate.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0) {
            return candidate;
        }
    }
    panic!(
        "the container tests need `{program}`, which is not installed; run tools/setup as root \
         (it installs podman, runc, busybox-static and the rest with apt-get)"
    );
}

/// A unique name for something this process makes: `ostler-test-PID-N`.
pub fn unique_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!("ostler-test-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// What a container did: its exit code (128+N when the engine itself died of signal N), its
/// output, and how long it took.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {} after {:?}\n--- stdout\n{}--- stderr\n{}", self.code, self.elapsed, self.stdout, self.stderr)
    }
}

fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// Runs an engine command to completion under `deadline` (stdin null, output captured).
fn engine(program: &str, args: &[&str], deadline: Duration) -> Outcome {
    let mut command = Command::new(program_path(program));
    command.args(args);
    if program == "podman" {
        command.env("CONTAINERS_CONF", containers_conf());
    }
    run_captured(command, deadline, &format!("{program} {}", args.join(" ")), |_| {})
}

/// Runs `command` with stdout and stderr in temporary files; on the deadline `on_timeout` is
/// called with the child's pid, then the child is killed by pid, and the test panics.
fn run_captured(mut command: Command, deadline: Duration, what: &str, on_timeout: impl FnOnce(u32)) -> Outcome {
    let tree = TempTree::new("engine");
    let (out, err) = (tree.join("stdout"), tree.join("stderr"));
    command
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap());
    let start = Instant::now();
    let mut child = command.spawn().unwrap_or_else(|e| panic!("unable to start {what}: {e}"));
    let status = wait_child(&mut child, deadline);
    let read = |path: &Path| String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned();
    match status {
        Some(status) => {
            Outcome { code: exit_code(status), stdout: read(&out), stderr: read(&err), elapsed: start.elapsed() }
        }
        None => {
            on_timeout(child.id());
            kill_child(&mut child);
            panic!("`{what}` did not finish within {deadline:?}\n--- stdout\n{}--- stderr\n{}", read(&out), read(&err));
        }
    }
}

/// Waits for `child` under `deadline`; None if it is still running then.
fn wait_child(child: &mut Child, deadline: Duration) -> Option<ExitStatus> {
    let end = Instant::now() + deadline;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(POLL_EVERY);
    }
}

/// SIGKILL by pid, then wait (a child of ours: no reuse of the pid before that).
fn kill_child(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

// ---------------------------------------------------------------------------------------------
// The root filesystem

/// Debian's busybox-static binary, unpacked once per test binary from the .deb in
/// [`deb_cache`] (downloaded there with `apt-get download` when missing, as the image builder
/// does).
fn busybox() -> &'static [u8] {
    static BUSYBOX: OnceLock<Vec<u8>> = OnceLock::new();
    BUSYBOX.get_or_init(|| {
        let cache = deb_cache();
        let find = || -> Option<PathBuf> {
            let mut debs: Vec<PathBuf> = std::fs::read_dir(&cache)
                .ok()?
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let name = p.file_name().unwrap_or_default().to_string_lossy();
                    name.starts_with("busybox-static_") && name.ends_with(".deb")
                })
                .collect();
            debs.sort();
            debs.pop()
        };
        let deb = find().unwrap_or_else(|| {
            // Into a private directory first: two test binaries may share the cache.
            let staging = TempTree::new("apt-download");
            let output = Command::new("apt-get")
                .args(["download", "busybox-static"])
                .current_dir(staging.path())
                .output()
                .unwrap_or_else(|e| panic!("unable to run apt-get: {e}"));
            assert!(
                output.status.success(),
                "apt-get download busybox-static failed (check the network and `apt-get update`):\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            std::fs::create_dir_all(&cache).unwrap();
            for entry in std::fs::read_dir(staging.path()).unwrap().flatten() {
                std::fs::rename(entry.path(), cache.join(entry.file_name())).unwrap();
            }
            find().expect("apt-get download busybox-static left no busybox-static_*.deb")
        });
        let unpacked = TempTree::new("busybox-deb");
        let output = Command::new("dpkg-deb").arg("-x").arg(&deb).arg(unpacked.path()).output().unwrap();
        assert!(
            output.status.success(),
            "dpkg-deb -x {} failed: {}",
            deb.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::read(unpacked.join("bin/busybox"))
            .unwrap_or_else(|e| panic!("{} has no bin/busybox: {e}", deb.display()))
    })
}

/// The static ostler ([`guest_ostler`]: fails when missing or stale), read once.
fn ostler_static() -> &'static [u8] {
    static OSTLER: OnceLock<Vec<u8>> = OnceLock::new();
    OSTLER.get_or_init(|| std::fs::read(guest_ostler()).unwrap())
}

fn write_mode(path: &Path, contents: &[u8], mode: u32) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, contents).unwrap_or_else(|e| panic!("unable to write {}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Fills the empty directory `root` with the base root filesystem: busybox and its applets in
/// /bin, ostler as /sbin/ostler (and /sbin/init, /init), the empty mount points, /etc/passwd
/// and /etc/group with root and user 1000, /tmp mode 1777.
pub fn write_base_rootfs(root: &Path) {
    write_mode(&root.join("bin/busybox"), busybox(), 0o755);
    for applet in APPLETS {
        symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    write_mode(&root.join("sbin/ostler"), ostler_static(), 0o755);
    symlink("ostler", root.join("sbin/init")).unwrap();
    symlink("/sbin/ostler", root.join("init")).unwrap();
    for dir in ["proc", "sys", "dev", "run", "tmp", "etc"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    write_mode(&root.join("etc/passwd"), PASSWD.as_bytes(), 0o644);
    write_mode(&root.join("etc/group"), GROUP.as_bytes(), 0o644);
}

/// The root filesystem a container's image is made from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Base {
    /// busybox-static, ostler as /sbin/ostler, /sbin/init and /init ([`write_base_rootfs`]);
    /// no entrypoint: the test gives ostler's command line.
    Busybox,
    /// Debian bookworm minbase with execline, s6 and bash, the static ostler as `/init`, the
    /// entrypoint, and `/command` from `ostler s6-overlay links`: an image made for s6-overlay,
    /// with ostler in its place. The test gives CMD. podman only.
    Debian,
}

/// Files a test puts into its container, by their path in the container, over a [`Base`].
/// With runc they are written into the container's root; with podman, bind-mounted read-only
/// over the shared image (the topmost directory the image lacks, or the file itself).
#[derive(Debug)]
pub struct Layer {
    base: Base,
    tree: TempTree,
    paths: Vec<PathBuf>,
}

impl Default for Layer {
    fn default() -> Layer {
        Layer::new()
    }
}

impl Layer {
    /// No files: the busybox root filesystem alone.
    pub fn new() -> Layer {
        Layer::over(Base::Busybox)
    }

    /// No files: `base` alone.
    pub fn over(base: Base) -> Layer {
        Layer { base, tree: TempTree::new("layer"), paths: Vec::new() }
    }

    /// The base it goes over.
    pub fn base(&self) -> Base {
        self.base
    }

    fn relative(path: &str) -> &Path {
        let relative = Path::new(path.trim_start_matches('/'));
        assert!(
            relative.components().all(|c| matches!(c, Component::Normal(_))),
            "{path}: give a plain absolute path in the container"
        );
        relative
    }

    /// A file at `path` (absolute, in the container) with `mode`.
    pub fn file_mode(&mut self, path: &str, contents: impl AsRef<[u8]>, mode: u32) -> &mut Layer {
        let relative = Layer::relative(path);
        write_mode(&self.tree.join(relative), contents.as_ref(), mode);
        self.paths.push(relative.to_path_buf());
        self
    }

    /// A file of mode 0644.
    pub fn file(&mut self, path: &str, contents: impl AsRef<[u8]>) -> &mut Layer {
        self.file_mode(path, contents, 0o644)
    }

    /// An executable (mode 0755).
    pub fn script(&mut self, path: &str, contents: &str) -> &mut Layer {
        self.file_mode(path, contents, 0o755)
    }

    /// A longrun `/etc/ostler/sv/NAME` with this `run` script.
    pub fn longrun(&mut self, name: &str, run: &str) -> &mut Layer {
        self.file(&format!("/etc/ostler/sv/{name}/type"), "longrun\n");
        self.script(&format!("/etc/ostler/sv/{name}/run"), run)
    }

    /// A oneshot `/etc/ostler/sv/NAME` with this `up` (execline syntax, as s6-rc's).
    pub fn oneshot(&mut self, name: &str, up: &str) -> &mut Layer {
        self.file(&format!("/etc/ostler/sv/{name}/type"), "oneshot\n");
        self.file(&format!("/etc/ostler/sv/{name}/up"), up)
    }

    /// `NAME` depends on `other` (`dependencies.d/OTHER`).
    pub fn depends(&mut self, name: &str, other: &str) -> &mut Layer {
        self.file(&format!("/etc/ostler/sv/{name}/dependencies.d/{other}"), "")
    }

    /// The `default` bundle, holding `names`.
    pub fn default_bundle(&mut self, names: &[&str]) -> &mut Layer {
        self.file("/etc/ostler/sv/default/type", "bundle\n");
        for name in names {
            self.file(&format!("/etc/ostler/sv/default/contents.d/{name}"), "");
        }
        self
    }

    /// Copies the files into a root filesystem (modes kept).
    fn write_into(&self, root: &Path) {
        for relative in &self.paths {
            let source = self.tree.join(relative);
            let target = root.join(relative);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            let _ = std::fs::remove_file(&target);
            std::fs::copy(&source, &target).unwrap();
        }
    }

    /// `-v HOST:CONTAINER:ro` options over an image holding `base` (its relative paths): for
    /// each file, its topmost directory that the image lacks, else the file itself.
    fn podman_volumes(&self, base: &HashSet<PathBuf>) -> Vec<String> {
        let mut mounts: Vec<PathBuf> = Vec::new();
        for relative in &self.paths {
            let mut prefix = PathBuf::new();
            for component in relative.components() {
                prefix.push(component);
                if !base.contains(&prefix) {
                    break;
                }
            }
            if !mounts.iter().any(|m| prefix.starts_with(m)) {
                mounts.push(prefix);
            }
        }
        mounts.iter().map(|m| format!("{}:/{}:ro", self.tree.join(m).display(), m.display())).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// runc

/// The process and root of a runc container, made into config.json.
#[derive(Debug, Clone)]
pub struct RuncSpec {
    args: Vec<String>,
    env: Vec<String>,
    read_only: bool,
    uid: u32,
    gid: u32,
    tmpfs: Vec<(&'static str, &'static str)>,
}

impl RuncSpec {
    /// `args` as the container's process, as root, on a writable root, with PATH set and
    /// tmpfs on /run (mode 0755) and /tmp (1777), as podman gives.
    pub fn new(args: &[&str]) -> RuncSpec {
        RuncSpec {
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec!["PATH=/usr/sbin:/usr/bin:/sbin:/bin".into()],
            read_only: false,
            uid: 0,
            gid: 0,
            tmpfs: vec![("/run", "mode=755"), ("/tmp", "mode=1777")],
        }
    }

    /// One more `NAME=VALUE`.
    pub fn env(mut self, variable: &str) -> RuncSpec {
        self.env.push(variable.into());
        self
    }

    /// The root read-only (`root.readonly`, runc spec's default).
    pub fn read_only(mut self) -> RuncSpec {
        self.read_only = true;
        self
    }

    /// The process's uid and gid.
    pub fn user(mut self, uid: u32, gid: u32) -> RuncSpec {
        self.uid = uid;
        self.gid = gid;
        self
    }

    /// No tmpfs on /run and /tmp: the image's directories as they are.
    pub fn no_tmpfs(mut self) -> RuncSpec {
        self.tmpfs.clear();
        self
    }

    /// config.json: what `runc spec` (runc 1.1.5) prints, with terminal false and our process,
    /// root and mounts.
    fn config_json(&self) -> String {
        let strings = |items: &[String]| items.iter().map(|s| json_string(s)).collect::<Vec<_>>().join(", ");
        let caps = r#"["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]"#;
        let tmpfs: String = self
            .tmpfs
            .iter()
            .map(|(target, mode)| {
                format!(
                    r#"{{"destination": "{target}", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "{mode}"]}},
        "#
                )
            })
            .collect();
        format!(
            r#"{{
  "ociVersion": "1.0.2-dev",
  "process": {{
    "terminal": false,
    "user": {{"uid": {uid}, "gid": {gid}}},
    "args": [{args}],
    "env": [{env}],
    "cwd": "/",
    "capabilities": {{"bounding": {caps}, "effective": {caps}, "permitted": {caps}, "ambient": {caps}}},
    "rlimits": [{{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}}],
    "noNewPrivileges": true
  }},
  "root": {{"path": "rootfs", "readonly": {read_only}}},
  "hostname": "runc",
  "mounts": [
    {{"destination": "/proc", "type": "proc", "source": "proc"}},
    {{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}},
    {{"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}},
    {{"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}},
    {{"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}},
    {tmpfs}{{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}},
    {{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}}
  ],
  "linux": {{
    "resources": {{"devices": [{{"allow": false, "access": "rwm"}}]}},
    "namespaces": [{{"type": "pid"}}, {{"type": "network"}}, {{"type": "ipc"}}, {{"type": "uts"}}, {{"type": "mount"}}],
    "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  }}
}}
"#,
            uid = self.uid,
            gid = self.gid,
            args = strings(&self.args),
            env = strings(&self.env),
            read_only = self.read_only,
        )
    }
}

/// A JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A runc container: its bundle, root and runc state in a tree of its own, its output in files
/// there. On drop the container is killed and deleted, the `runc run` process stopped by pid.
#[derive(Debug)]
pub struct Runc {
    id: String,
    child: Option<Child>,
    started: Option<Instant>,
    tree: TempTree,
}

impl Runc {
    /// Writes the bundle: the base root filesystem plus `layer`, and config.json from `spec`.
    pub fn new(layer: &Layer, spec: &RuncSpec) -> Runc {
        require_engines();
        assert_eq!(
            layer.base,
            Base::Busybox,
            "runc bundles are made from the busybox root only; run the Debian base through podman"
        );
        let tree = TempTree::new("runc");
        let root = tree.dir("bundle/rootfs");
        write_base_rootfs(&root);
        layer.write_into(&root);
        std::fs::write(tree.join("bundle/config.json"), spec.config_json()).unwrap();
        Runc { id: unique_name(), child: None, started: None, tree }
    }

    /// The container's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn runc(&self) -> Command {
        let mut command = Command::new(program_path("runc"));
        command.arg("--root").arg(self.tree.join("runc-state"));
        command
    }

    /// Starts `runc run` in the background; stdin null, output into the tree.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "{} already started", self.id);
        let mut command = self.runc();
        command
            .arg("run")
            .arg("-b")
            .arg(self.tree.join("bundle"))
            .arg(&self.id)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(self.tree.join("stdout")).unwrap())
            .stderr(std::fs::File::create(self.tree.join("stderr")).unwrap());
        self.started = Some(Instant::now());
        self.child = Some(command.spawn().unwrap_or_else(|e| panic!("unable to start runc run: {e}")));
    }

    /// Runs the container to its end under `deadline`.
    pub fn run(&mut self, deadline: Duration) -> Outcome {
        self.start();
        self.wait(deadline)
    }

    /// The output so far: (stdout, stderr).
    pub fn output(&self) -> (String, String) {
        let read =
            |name| String::from_utf8_lossy(&std::fs::read(self.tree.join(name)).unwrap_or_default()).into_owned();
        (read("stdout"), read("stderr"))
    }

    /// Polls the output until `accept(stdout, stderr)`; panics naming `what` with the output
    /// after `deadline`, or at once when the container has ended without it.
    pub fn wait_output(&mut self, what: &str, deadline: Duration, accept: impl Fn(&str, &str) -> bool) {
        let end = Instant::now() + deadline;
        loop {
            let ended = self.child.as_mut().and_then(|c| c.try_wait().unwrap());
            let (out, err) = self.output();
            if accept(&out, &err) {
                return;
            }
            if let Some(status) = ended {
                panic!(
                    "runc {} ended (exit {}) before {what}\n--- stdout\n{out}--- stderr\n{err}",
                    self.id,
                    exit_code(status)
                );
            }
            assert!(
                Instant::now() < end,
                "runc {}: timed out after {deadline:?} waiting for {what}\n--- stdout\n{out}--- stderr\n{err}",
                self.id
            );
            std::thread::sleep(POLL_ENGINE);
        }
    }

    /// `runc kill ID SIGNAL` (to the container's PID 1).
    pub fn kill(&self, signal: &str) {
        let output = self.runc().args(["kill", &self.id, signal]).stdin(Stdio::null()).output().unwrap();
        assert!(output.status.success(), "runc kill {} {signal}: {}", self.id, String::from_utf8_lossy(&output.stderr));
    }

    /// `runc exec ID ARGS…` to completion.
    pub fn exec(&self, args: &[&str]) -> Outcome {
        let mut command = self.runc();
        command.arg("exec").arg(&self.id).args(args);
        run_captured(command, ENGINE_COMMAND, &format!("runc exec {} {}", self.id, args.join(" ")), |_| {})
    }

    /// The host pid of the container's PID 1, from `runc state` (None once it has stopped).
    pub fn pid(&self) -> Option<i32> {
        let output = self.runc().args(["state", &self.id]).stdin(Stdio::null()).output().ok()?;
        let text = String::from_utf8_lossy(&output.stdout);
        let after = text.split("\"pid\":").nth(1)?;
        let pid: i32 = after.trim_start().split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()?;
        (pid > 0).then_some(pid)
    }

    /// Waits for `runc run` to end; on the deadline the container is killed and the test panics.
    pub fn wait(&mut self, deadline: Duration) -> Outcome {
        let child = self.child.as_mut().expect("the container was not started");
        let status = wait_child(child, deadline);
        let elapsed = self.started.map(|s| s.elapsed()).unwrap_or_default();
        let (stdout, stderr) = self.output();
        match status {
            Some(status) => {
                self.child = None;
                Outcome { code: exit_code(status), stdout, stderr, elapsed }
            }
            None => {
                self.stop_everything();
                panic!("runc {} did not end within {deadline:?}\n--- stdout\n{stdout}--- stderr\n{stderr}", self.id);
            }
        }
    }

    /// Kills the container's PID 1 (the kernel ends the rest of its PID namespace), stops
    /// `runc run` by pid, and deletes the container.
    fn stop_everything(&mut self) {
        if let Some(pid) = self.pid() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        if let Some(mut child) = self.child.take() {
            if wait_child(&mut child, Duration::from_secs(5)).is_none() {
                kill_child(&mut child);
            }
        }
        let _ = self.runc().args(["delete", "-f", &self.id]).stdin(Stdio::null()).output();
    }
}

impl Drop for Runc {
    fn drop(&mut self) {
        self.stop_everything();
    }
}

// ---------------------------------------------------------------------------------------------
// podman

/// The shared image: its name and the paths it holds (relative, for [`Layer`]'s mounts).
struct Image {
    name: String,
    paths: HashSet<PathBuf>,
}

/// containers.conf for this host (facts sheet B.2): runc, and ulimits root may set without
/// CAP_SYS_RESOURCE. Written once into the target directory (it is the same for every run).
pub fn containers_conf() -> &'static Path {
    static CONF: OnceLock<PathBuf> = OnceLock::new();
    CONF.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let path = dir.join("containers.conf");
        let text = "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=4096:4096\"]\n[engine]\nruntime = \"runc\"\n";
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text) {
            let staging = dir.join(format!("containers.conf.{}", std::process::id()));
            std::fs::write(&staging, text).unwrap();
            std::fs::rename(&staging, &path).unwrap();
        }
        path
    })
}

/// Runs podman under [`ENGINE_COMMAND`]; panics with its output unless it succeeds.
fn podman_ok(args: &[&str]) -> Outcome {
    let outcome = engine("podman", args, ENGINE_COMMAND);
    assert_eq!(outcome.code, 0, "podman {} failed: {outcome}", args.join(" "));
    outcome
}

/// podman's clean-up, done once per test binary before its first image or pod: the engines
/// are there, what an earlier, killed run left (names with a pid no longer running) is
/// removed, and the removal of this run's images is registered for its exit (atexit), with
/// the pod infra image if this run is what made podman build it.
fn podman_setup() {
    static SETUP: OnceLock<()> = OnceLock::new();
    SETUP.get_or_init(|| {
        require_engines();
        remove_leftovers();
        *CLEANUP.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Cleanup { images: Vec::new(), pause_images_before: pause_images() });
        // SAFETY: registers a plain extern "C" function taking nothing; it runs at exit.
        unsafe { libc::atexit(remove_image_at_exit) };
    });
}

/// The image of `base`, made once per test binary: its root filesystem as a tar, `podman
/// import`ed as `localhost/ostler-test-PID-N` (with `/init` as the entrypoint for
/// [`Base::Debian`]). Removed when the test binary exits.
fn image(base: Base) -> &'static Image {
    static BUSYBOX: OnceLock<Image> = OnceLock::new();
    static DEBIAN: OnceLock<Image> = OnceLock::new();
    let cell = match base {
        Base::Busybox => &BUSYBOX,
        Base::Debian => &DEBIAN,
    };
    cell.get_or_init(|| {
        podman_setup();
        let tree = TempTree::new("image");
        let root = tree.dir("rootfs");
        let start = Instant::now();
        let changes: &[&str] = match base {
            Base::Busybox => {
                write_base_rootfs(&root);
                &[]
            }
            Base::Debian => {
                write_debian_rootfs(&root);
                &["--change", "ENTRYPOINT [\"/init\"]"]
            }
        };
        let mut paths = HashSet::new();
        let mut pending = vec![root.clone()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                paths.insert(path.strip_prefix(&root).unwrap().to_path_buf());
                if entry.file_type().unwrap().is_dir() {
                    pending.push(path);
                }
            }
        }
        let tar = tree.join("rootfs.tar");
        let output = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .args(["--numeric-owner", "-cf"])
            .arg(&tar)
            .arg(".")
            .output()
            .unwrap_or_else(|e| panic!("unable to run tar: {e}"));
        assert!(output.status.success(), "tar failed: {}", String::from_utf8_lossy(&output.stderr));
        let made = start.elapsed();
        let name = format!("localhost/{}", unique_name());
        if let Some(cleanup) = CLEANUP.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            cleanup.images.push(name.clone());
        }
        let tar = tar.to_string_lossy();
        let mut args = vec!["import", "-q"];
        args.extend_from_slice(changes);
        args.extend([tar.as_ref(), name.as_str()]);
        podman_ok(&args);
        if base == Base::Debian {
            eprintln!("the Debian image: root filesystem in {made:?}, podman import in {:?}", start.elapsed() - made);
        }
        Image { name, paths }
    })
}

/// Fills the empty directory `root` with the Debian root ([`debian::root_tarball`]), the
/// static ostler as `/init` (mode 0755), and `/command` as `ostler s6-overlay links --root`
/// makes it (what `RUN ["/init", "s6-overlay", "links"]` does in a Containerfile).
pub fn write_debian_rootfs(root: &Path) {
    let tarball = debian::root_tarball();
    let output = Command::new("tar")
        .arg("-C")
        .arg(root)
        .args(["--numeric-owner", "-xpf"])
        .arg(tarball)
        .output()
        .unwrap_or_else(|e| panic!("unable to run tar: {e}"));
    assert!(
        output.status.success(),
        "tar -xpf {} failed (remove it to build it again): {}",
        tarball.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    write_mode(&root.join("init"), ostler_static(), 0o755);
    let ostler = guest_ostler();
    let output = Command::new(&ostler)
        .args(["s6-overlay", "links", "--root"])
        .arg(root)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("unable to run {}: {e}", ostler.display()));
    assert!(
        output.status.success(),
        "`{} s6-overlay links --root {}` failed ({}): the image's /command is made by it\n{}{}",
        ostler.display(),
        root.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

struct Cleanup {
    images: Vec<String>,
    pause_images_before: Vec<String>,
}

static CLEANUP: Mutex<Option<Cleanup>> = Mutex::new(None);

extern "C" fn remove_image_at_exit() {
    let Some(cleanup) = CLEANUP.lock().unwrap_or_else(|e| e.into_inner()).take() else { return };
    // Ours by their unique names: forced. The infra image without force: a pod someone else
    // made meanwhile may use it, and `rmi -f` would remove that pod's containers.
    let mut removals: Vec<Vec<String>> =
        cleanup.images.into_iter().map(|image| vec!["rmi".to_string(), "-f".into(), image]).collect();
    for image in pause_images().into_iter().filter(|i| !cleanup.pause_images_before.contains(i)) {
        removals.push(vec!["rmi".into(), image]);
    }
    for args in removals {
        let _ = Command::new(program_path("podman"))
            .env("CONTAINERS_CONF", containers_conf())
            .args(args)
            .stdin(Stdio::null())
            .output();
    }
}

/// podman's pod infra images (`localhost/podman-pause:VERSION`), built locally the first time
/// a pod is made.
fn pause_images() -> Vec<String> {
    let outcome = engine("podman", &["images", "--format", "{{.Repository}}:{{.Tag}}"], ENGINE_COMMAND);
    outcome.stdout.lines().filter(|l| l.starts_with("localhost/podman-pause:")).map(str::to_string).collect()
}

/// Removes the containers, pods and images named `ostler-test-PID-…` whose PID is gone.
fn remove_leftovers() {
    let stale = |name: &str| {
        let name = name.trim_start_matches("localhost/");
        let Some(rest) = name.strip_prefix("ostler-test-") else { return false };
        let pid = rest.split('-').next().unwrap_or_default();
        !pid.is_empty() && !Path::new("/proc").join(pid).exists()
    };
    let list = |args: &[&str]| -> Vec<String> {
        engine("podman", args, ENGINE_COMMAND).stdout.lines().filter(|l| stale(l)).map(str::to_string).collect()
    };
    for pod in list(&["pod", "ps", "--format", "{{.Name}}"]) {
        let _ = engine("podman", &["pod", "rm", "-f", &pod], ENGINE_COMMAND);
    }
    for container in list(&["ps", "-a", "--format", "{{.Names}}"]) {
        let _ = engine("podman", &["rm", "-f", &container], ENGINE_COMMAND);
    }
    for image in list(&["images", "--format", "{{.Repository}}"]) {
        let _ = engine("podman", &["rmi", "-f", &image], ENGINE_COMMAND);
    }
}

/// The arguments of `podman run` before the command: a unique name, no network, the layer's
/// mounts, the test's options, the image.
fn run_arguments(name: &str, layer: &Layer, options: &[&str]) -> Vec<String> {
    let image = image(layer.base);
    let mut args: Vec<String> = vec!["run".into(), "--name".into(), name.into()];
    // A container joining a pod has the pod's network (made with --network=none).
    if !options.contains(&"--pod") {
        args.push("--network=none".into());
    }
    for volume in layer.podman_volumes(&image.paths) {
        args.push("-v".into());
        args.push(volume);
    }
    args.extend(options.iter().map(|s| s.to_string()));
    args.push(image.name.clone());
    args
}

/// `podman run --rm` in the foreground to the end under `deadline` (the container removed by
/// name if it is still there then).
pub fn podman_run(layer: &Layer, options: &[&str], command: &[&str], deadline: Duration) -> Outcome {
    let name = unique_name();
    let mut args = run_arguments(&name, layer, options);
    args.insert(1, "--rm".into());
    args.extend(command.iter().map(|s| s.to_string()));
    let mut podman = Command::new(program_path("podman"));
    podman.env("CONTAINERS_CONF", containers_conf()).args(&args);
    let remove = || {
        let _ = engine("podman", &["rm", "-f", "-t", "0", &name], ENGINE_COMMAND);
    };
    let outcome = run_captured(podman, deadline, &format!("podman {}", args.join(" ")), |_| remove());
    remove();
    outcome
}

/// A podman container started with `-d`; removed (`podman rm -f`) on drop.
#[derive(Debug)]
pub struct Container {
    name: String,
    // Dropped after the container is removed: its files are mounted there.
    _layer: Layer,
}

impl Container {
    /// `podman run -d --name UNIQUE --network=none OPTIONS… IMAGE COMMAND…`.
    pub fn start(layer: Layer, options: &[&str], command: &[&str]) -> Container {
        let name = unique_name();
        let mut args = run_arguments(&name, &layer, options);
        args.insert(1, "-d".into());
        args.extend(command.iter().map(|s| s.to_string()));
        let container = Container { name, _layer: layer };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        podman_ok(&args);
        container
    }

    /// The container's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `podman stop -t SECONDS`: returns how long it took.
    pub fn stop(&self, seconds: u32) -> Duration {
        let outcome = engine(
            "podman",
            &["stop", "-t", &seconds.to_string(), &self.name],
            Duration::from_secs(u64::from(seconds)) + ENGINE_COMMAND,
        );
        assert_eq!(outcome.code, 0, "podman stop {}: {outcome}", self.name);
        outcome.elapsed
    }

    /// `podman kill -s SIGNAL`.
    pub fn kill(&self, signal: &str) {
        podman_ok(&["kill", "-s", signal, &self.name]);
    }

    /// `podman exec NAME ARGS…` to completion.
    pub fn exec(&self, args: &[&str]) -> Outcome {
        let mut all = vec!["exec", &self.name];
        all.extend_from_slice(args);
        engine("podman", &all, ENGINE_COMMAND)
    }

    /// `podman inspect --format FORMAT`, trimmed.
    pub fn inspect(&self, format: &str) -> String {
        podman_ok(&["inspect", "--format", format, &self.name]).stdout.trim().to_string()
    }

    /// Whether the container is running.
    pub fn running(&self) -> bool {
        self.inspect("{{.State.Status}}") == "running"
    }

    /// The exit code recorded by podman (`{{.State.ExitCode}}`).
    pub fn exit_code(&self) -> i32 {
        let text = self.inspect("{{.State.ExitCode}}");
        text.parse().unwrap_or_else(|_| panic!("podman inspect gave {text:?} as the exit code of {}", self.name))
    }

    /// Waits until the container has exited; returns its exit code.
    pub fn wait_exit(&self, deadline: Duration) -> i32 {
        let end = Instant::now() + deadline;
        while self.running() {
            let (out, err) = self.logs();
            assert!(
                Instant::now() < end,
                "{} still runs after {deadline:?}\n--- stdout\n{out}--- stderr\n{err}",
                self.name
            );
            std::thread::sleep(POLL_ENGINE);
        }
        self.exit_code()
    }

    /// `podman logs`: (stdout, stderr).
    pub fn logs(&self) -> (String, String) {
        let outcome = podman_ok(&["logs", &self.name]);
        (outcome.stdout, outcome.stderr)
    }

    /// Polls the logs until `accept(stdout, stderr)`; returns them. Panics after `deadline`, or
    /// at once when the container has exited without it.
    pub fn wait_logs(&self, what: &str, deadline: Duration, accept: impl Fn(&str, &str) -> bool) -> (String, String) {
        let end = Instant::now() + deadline;
        loop {
            let running = self.running();
            let (out, err) = self.logs();
            if accept(&out, &err) {
                return (out, err);
            }
            if !running {
                panic!(
                    "{} exited (exit {}) before {what}\n--- stdout\n{out}--- stderr\n{err}",
                    self.name,
                    self.exit_code()
                );
            }
            assert!(
                Instant::now() < end,
                "{}: timed out after {deadline:?} waiting for {what}\n--- stdout\n{out}--- stderr\n{err}",
                self.name
            );
            std::thread::sleep(POLL_ENGINE);
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = engine("podman", &["rm", "-f", "-t", "0", &self.name], ENGINE_COMMAND);
    }
}

/// A podman pod sharing its PID, IPC and UTS namespaces (`--network=none`); removed with its
/// containers on drop.
#[derive(Debug)]
pub struct Pod {
    name: String,
}

impl Pod {
    pub fn create() -> Pod {
        podman_setup();
        let pod = Pod { name: unique_name() };
        podman_ok(&["pod", "create", "--name", &pod.name, "--share", "pid,ipc,uts", "--network=none"]);
        pod
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `podman pod stop -t SECONDS`: returns how long it took.
    pub fn stop(&self, seconds: u32) -> Duration {
        let outcome = engine(
            "podman",
            &["pod", "stop", "-t", &seconds.to_string(), &self.name],
            Duration::from_secs(u64::from(seconds)) + ENGINE_COMMAND,
        );
        assert_eq!(outcome.code, 0, "podman pod stop {}: {outcome}", self.name);
        outcome.elapsed
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        let _ = engine("podman", &["pod", "rm", "-f", "-t", "0", &self.name], ENGINE_COMMAND);
    }
}

/// `podman run -it --rm` under `script -qec` (a pty for podman's stdin), so the container has
/// a terminal; bytes written here are typed at it. On drop: the container removed by name,
/// `script` stopped by pid.
pub struct Terminal {
    name: String,
    child: Option<Child>,
    output: Arc<Mutex<Vec<u8>>>,
    _layer: Layer,
}

impl Terminal {
    pub fn start(layer: Layer, options: &[&str], command: &[&str]) -> Terminal {
        let name = unique_name();
        let mut args = run_arguments(&name, &layer, options);
        args.splice(1..1, ["--rm".to_string(), "-it".to_string()]);
        args.extend(command.iter().map(|s| s.to_string()));
        let line = std::iter::once(program_path("podman").to_string_lossy().into_owned())
            .chain(args)
            .map(|word| format!("'{}'", word.replace('\'', r"'\''")))
            .collect::<Vec<_>>()
            .join(" ");
        let mut child = Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .env("CONTAINERS_CONF", containers_conf())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("unable to run script (util-linux): {e}"));
        let output = Arc::new(Mutex::new(Vec::new()));
        for stream in
            [Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>, Box::new(child.stderr.take().unwrap())]
        {
            let output = Arc::clone(&output);
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buffer = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    output.lock().unwrap().extend_from_slice(&buffer[..n]);
                }
            });
        }
        Terminal { name, child: Some(child), output, _layer: layer }
    }

    /// Everything seen on the terminal so far (stdout and stderr of `script`).
    pub fn seen(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Types `bytes`.
    pub fn send(&mut self, bytes: &[u8]) {
        use std::io::Write;
        let stdin = self.child.as_mut().unwrap().stdin.as_mut().unwrap();
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    /// Waits until the terminal shows `text`; panics after `deadline`, or at once when podman
    /// has ended without it.
    pub fn expect(&mut self, text: &str, deadline: Duration) {
        let end = Instant::now() + deadline;
        while !self.seen().contains(text) {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                // The reader threads may still hold the last bytes.
                let drained = Instant::now() + Duration::from_secs(1);
                while Instant::now() < drained {
                    if self.seen().contains(text) {
                        return;
                    }
                    std::thread::sleep(POLL_EVERY);
                }
                panic!("podman -it ended (exit {}) before {text:?}; the terminal:\n{}", exit_code(status), self.seen());
            }
            assert!(
                Instant::now() < end,
                "timed out after {deadline:?} waiting for {text:?} on the terminal:\n{}",
                self.seen()
            );
            std::thread::sleep(POLL_EVERY);
        }
    }

    /// Waits for `script` (and so podman) to end; its exit code is the container's.
    pub fn wait(&mut self, deadline: Duration) -> i32 {
        let child = self.child.as_mut().unwrap();
        match wait_child(child, deadline) {
            Some(status) => {
                self.child = None;
                exit_code(status)
            }
            None => panic!("podman -it did not end within {deadline:?}; the terminal:\n{}", self.seen()),
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = engine("podman", &["rm", "-f", "-t", "0", &self.name], ENGINE_COMMAND);
        if let Some(mut child) = self.child.take() {
            if wait_child(&mut child, Duration::from_secs(5)).is_none() {
                kill_child(&mut child);
            }
        }
    }
}
