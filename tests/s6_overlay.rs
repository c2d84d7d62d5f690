//! ostler's s6-overlay v3 drop-in (issue 11): an image made for s6-overlay runs with the static
//! ostler as `/init` and no other change. The image here is a Debian bookworm minbase root with
//! Debian's execline, s6 and bash, `/init` as its entrypoint and `/command` made by `ostler
//! s6-overlay links` (a Containerfile's `RUN ["/init", "s6-overlay", "links"]`); each test
//! bind-mounts its own s6-overlay tree over it, read-only, and gives CMD.
//!
//! The trees, in s6-overlay's shapes:
//! - the full tree ([`full_tree`]): a web application's image. `/etc/cont-init.d` with a
//!   `with-contenv` script and a plain one; in `/etc/s6-overlay/s6-rc.d` the oneshots
//!   `prepare` (execline, from `base`) and `migrate` (a script in `/etc/s6-overlay/scripts`),
//!   the longrun `web` that notifies readiness on fd 3; the `user` bundle as s6-overlay's
//!   quickstart makes it (`s6-rc.d/user/contents.d`, no type) or in `user-bundles.d`; a legacy
//!   `/etc/services.d/side`. CMD reports what it sees and exits 3. Run plain, `--read-only`,
//!   `--user 1000:1000` (no passwd entry) and both, and with `S6_KEEP_ENV=1`;
//! - the exit-code trees: a longrun (legacy, or s6-rc with `run` and `finish` not executable,
//!   as s6-rc-compile allows) whose `finish` writes the container's exit code and halts it,
//!   at s6-overlay's fixed paths, as root and as user 1000 on a read-only root with a `/run`
//!   it owns (as s6-overlay requires);
//! - the stop tree: s6-rc longruns `a` ← `b`, a legacy `side`, a `cont-finish.d` script, each
//!   saying when it has stopped (the finishes take 0.15 s, so a stop that does not wait for a
//!   finish shows); stopped by `podman stop`, CMD `sleep` or a shell trapping TERM, with and
//!   without `S6_CMD_RECEIVE_SIGNALS`;
//! - failing stage 2: a `cont-init.d` script or an s6-rc oneshot that fails, under each
//!   `S6_BEHAVIOUR_IF_STAGE2_FAILS`; the waits for services before CMD
//!   (`S6_CMD_WAIT_FOR_SERVICES`, `S6_CMD_WAIT_FOR_SERVICES_MAXTIME`);
//! - an empty `/command` (a tmpfs) that ostler fills at start; and the tree in a pod that
//!   shares its PID namespace, where ostler is not PID 1 (s6-overlay refuses to run there).
//!
//! A service's lines may reach the container's output prefixed with its name (`web: …`): the
//! checks look for what a script printed with `contains`. Each service's lines go through a
//! relay of its own, so lines of different services may come out of order: the order things
//! ran in is recorded in a file where it matters (the full tree), and the stop tests' finishes
//! wait 0.15 s before they print.
//!
//! Needs podman, runc and mmdebstrap (tools/setup), root (the Debian root is built once with
//! `mmdebstrap --mode=root` and cached in `~/.cache/ostler`), and the static build (`cargo
//! build --release --target x86_64-unknown-linux-musl`). The harness: tests/util/container.rs
//! and tests/util/debian.rs.

mod util;

use std::time::Duration;
use util::container::*;

/// Where s6-overlay reads the s6-rc source definitions.
const S6_RC_D: &str = "/etc/s6-overlay/s6-rc.d";
/// Where a finish script writes the container's exit code under s6-overlay.
const EXITCODE: &str = "/run/s6-linux-init-container-results/exitcode";
/// s6-overlay's halt: the container's orderly stop.
const HALT: &str = "/run/s6/basedir/bin/halt";

/// An s6-overlay tree under construction, over the Debian image.
struct Tree {
    layer: Layer,
}

/// Where the `user` bundle is defined.
#[derive(Clone, Copy, Debug)]
enum UserBundle {
    /// `s6-rc.d/user/contents.d/NAME` with no type file: s6-overlay's quickstart (its own
    /// tree defines `user`).
    Quickstart,
    /// `/etc/s6-overlay/user-bundles.d/user/{type,contents.d/NAME}`.
    BundlesDir,
}

impl Tree {
    fn new() -> Tree {
        Tree { layer: Layer::over(Base::Debian) }
    }

    fn file(&mut self, path: &str, contents: &str, mode: u32) -> &mut Tree {
        self.layer.file_mode(path, contents, mode);
        self
    }

    /// `s6-rc.d/NAME/dependencies.d/DEP` for each of `dependencies`.
    fn depends(&mut self, name: &str, dependencies: &[&str]) -> &mut Tree {
        for dependency in dependencies {
            self.file(&format!("{S6_RC_D}/{name}/dependencies.d/{dependency}"), "", 0o644);
        }
        self
    }

    /// An s6-rc oneshot whose `up` is this execline command line.
    fn oneshot(&mut self, name: &str, up: &str, dependencies: &[&str]) -> &mut Tree {
        self.file(&format!("{S6_RC_D}/{name}/type"), "oneshot\n", 0o644);
        self.file(&format!("{S6_RC_D}/{name}/up"), &format!("{up}\n"), 0o644);
        self.depends(name, dependencies)
    }

    /// An s6-rc longrun with this `run` (mode 0755).
    fn longrun(&mut self, name: &str, run: &str, dependencies: &[&str]) -> &mut Tree {
        self.file(&format!("{S6_RC_D}/{name}/type"), "longrun\n", 0o644);
        self.file(&format!("{S6_RC_D}/{name}/run"), run, 0o755);
        self.depends(name, dependencies)
    }

    /// The `user` bundle, holding `names`.
    fn user(&mut self, shape: UserBundle, names: &[&str]) -> &mut Tree {
        let dir = match shape {
            UserBundle::Quickstart => format!("{S6_RC_D}/user"),
            UserBundle::BundlesDir => {
                self.file("/etc/s6-overlay/user-bundles.d/user/type", "bundle\n", 0o644);
                "/etc/s6-overlay/user-bundles.d/user".to_string()
            }
        };
        for name in names {
            self.file(&format!("{dir}/contents.d/{name}"), "", 0o644);
        }
        self
    }

    /// `/etc/cont-init.d/NAME`.
    fn cont_init(&mut self, name: &str, script: &str) -> &mut Tree {
        self.file(&format!("/etc/cont-init.d/{name}"), script, 0o755)
    }

    /// `/etc/cont-finish.d/NAME`.
    fn cont_finish(&mut self, name: &str, script: &str) -> &mut Tree {
        self.file(&format!("/etc/cont-finish.d/{name}"), script, 0o755)
    }

    /// A legacy longrun `/etc/services.d/NAME` with this `run`, and a `finish` when given.
    fn legacy(&mut self, name: &str, run: &str, finish: Option<&str>) -> &mut Tree {
        self.file(&format!("/etc/services.d/{name}/run"), run, 0o755);
        if let Some(finish) = finish {
            self.file(&format!("/etc/services.d/{name}/finish"), finish, 0o755);
        }
        self
    }

    fn done(self) -> Layer {
        self.layer
    }
}

/// Each of `texts` is in `output`, the first occurrences in this order.
fn assert_in_order(what: &str, output: &str, texts: &[&str], context: &dyn std::fmt::Display) {
    let mut last: Option<(usize, &str)> = None;
    for text in texts {
        let Some(at) = output.find(text) else {
            panic!("{what}: {text:?} missing (expected in order {texts:?})\n{context}");
        };
        if let Some((before, previous)) = last {
            assert!(at > before, "{what}: {text:?} came before {previous:?} (expected in order {texts:?})\n{context}");
        }
        last = Some((at, text));
    }
}

/// The shell text that counts one more event in the container and stands for the count: the
/// stop tree's events end their lines with ` #N`. Each service's lines reach the output through
/// a marker process of its own, so the order of lines there is not the order of events; the count
/// is. /dev/shm is a tmpfs in every podman container.
const COUNT: &str = "$(echo x >> /dev/shm/order; grep -c . /dev/shm/order)";

/// Each of `texts` is in `output` as `TEXT #N`, N growing in this order.
fn assert_counted_in_order(what: &str, output: &str, texts: &[&str], context: &dyn std::fmt::Display) {
    let mut last: Option<(u32, &str)> = None;
    for text in texts {
        let marked = format!("{text} #");
        let Some(at) = output.find(&marked) else {
            panic!("{what}: {marked:?}N missing (expected in order {texts:?})\n{context}");
        };
        let digits: String = output[at + marked.len()..].chars().take_while(char::is_ascii_digit).collect();
        let count: u32 = digits.parse().unwrap_or_else(|_| panic!("{what}: {text:?} without its count\n{context}"));
        if let Some((before, previous)) = last {
            assert!(
                count > before,
                "{what}: {text:?} came before {previous:?} (expected in order {texts:?})\n{context}"
            );
        }
        last = Some((count, text));
    }
}

fn assert_contains(what: &str, output: &str, texts: &[&str], context: &dyn std::fmt::Display) {
    for text in texts {
        assert!(output.contains(text), "{what}: {text:?} missing\n{context}");
    }
}

/// `-e NAME=VALUE` for each, then `options`.
fn with_env<'a>(env: &[&'a str], options: &[&'a str]) -> Vec<&'a str> {
    env.iter().flat_map(|variable| ["-e", variable]).chain(options.iter().copied()).collect()
}

// 1–2. The full tree ----------------------------------------------------------------------------

/// The full tree (see the module's doc), its `user` bundle in `shape`.
fn full_tree(shape: UserBundle) -> Layer {
    let mut tree = Tree::new();
    // Each step also appends its name to /tmp/order, which CMD prints: the order in which they
    // ran (their lines reach the output through a marker each, which may reorder them).
    tree.cont_init(
        "10-greet",
        "#!/command/with-contenv bash\necho \"cont-init GREETING=$GREETING\"\necho cont-init >> /tmp/order\n",
    )
    .cont_init("20-plain", "#!/bin/bash\necho \"plain GREETING=${GREETING:-unset}\"\n")
    .oneshot("prepare", "foreground { echo prepare ran } redirfd -a 1 /tmp/order echo prepare", &["base"])
    .file("/etc/s6-overlay/scripts/migrate", "#!/bin/bash\necho migrate ran\necho migrate >> /tmp/order\n", 0o755)
    .oneshot("migrate", "/etc/s6-overlay/scripts/migrate", &["base", "prepare"])
    .longrun(
        "web",
        "#!/bin/bash\necho web starting\necho web >> /tmp/order\nsleep 0.2\necho >&3\nexec 3>&-\nexec sleep infinity\n",
        &["base", "migrate"],
    )
    .file(&format!("{S6_RC_D}/web/notification-fd"), "3\n", 0o644)
    .user(shape, &["migrate", "web"])
    .legacy("side", "#!/bin/bash\necho side running\ntouch /tmp/side-up\nexec sleep infinity\n", None);
    tree.done()
}

/// CMD of the full tree: what it sees of GREETING directly and through printcontenv, its PATH
/// and the names in its environment (less bash's own and ostler's OSTLER_*), whether web is up
/// (its scan directory is ostler's, `/run/service` as root), then exit 3. It waits (bounded)
/// for side's mark first, so that side's line is out before the container stops.
const FULL_CMD: &str = r#"echo "cmd order: $(tr '\n' ' ' < /tmp/order)cmd"
echo "cmd GREETING=${GREETING:-unset}"
echo "cmd contenv GREETING=$(printcontenv GREETING)"
echo "cmd PATH=$PATH"
echo "cmd environment:" $(env | cut -d= -f1 | grep -v -x -e PWD -e SHLVL -e _ -e 'OSTLER_.*' | sort) "(end)"
n=0; while [ ! -e /tmp/side-up ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done
echo "cmd svstat web=$(s6-svstat "${OSTLER_SCANDIR:-/run/service}/web" 2>&1)"
exit 3"#;

fn check_full_tree(shape: UserBundle, env: &[&str], options: &[&str]) {
    let keep_env = env.contains(&"S6_KEEP_ENV=1");
    let layer = full_tree(shape);
    let mut all_env = vec!["GREETING=hello"];
    all_env.extend_from_slice(env);
    let options = with_env(&all_env, options);
    let outcome = podman_run(&layer, &options, &["bash", "-c", FULL_CMD], RUN);
    let what = format!("{shape:?} user bundle, podman run {options:?}");
    eprintln!("{what}: {:?}", outcome.elapsed);
    assert_eq!(outcome.code, 3, "{what}: CMD's status\n{outcome}");
    let out = &outcome.stdout;
    let direct = if keep_env { "hello" } else { "unset" };
    assert_contains(
        &what,
        out,
        &[
            "cont-init GREETING=hello",
            &format!("plain GREETING={direct}"),
            "side running",
            &format!("cmd GREETING={direct}"),
            "cmd contenv GREETING=hello",
            "cmd svstat web=up",
            "cmd PATH=/command:",
        ],
        &outcome,
    );
    if !keep_env {
        // s6-overlay v3's reset: PATH and (ours) OSTLER_* only; podman's HOSTNAME, HOME,
        // container=podman and GREETING are gone.
        assert_contains(&what, out, &["cmd environment: PATH (end)"], &outcome);
    }
    assert_contains(&what, out, &["prepare ran", "migrate ran", "web starting"], &outcome);
    assert_contains(&what, out, &["cmd order: cont-init prepare migrate web cmd"], &outcome);
}

#[test]
fn full_tree_runs_in_order_with_the_container_environment_kept_aside() {
    check_full_tree(UserBundle::Quickstart, &[], &[]);
}

#[test]
fn full_tree_on_a_read_only_root() {
    check_full_tree(UserBundle::Quickstart, &[], &["--read-only"]);
}

#[test]
fn full_tree_as_user_1000_without_a_passwd_entry() {
    check_full_tree(UserBundle::Quickstart, &[], &["--user", "1000:1000"]);
}

#[test]
fn full_tree_on_a_read_only_root_as_user_1000() {
    check_full_tree(UserBundle::Quickstart, &[], &["--read-only", "--user", "1000:1000"]);
}

#[test]
fn user_bundle_in_user_bundles_d_and_s6_keep_env_keeps_the_environment() {
    check_full_tree(UserBundle::BundlesDir, &["S6_KEEP_ENV=1"], &[]);
}

// 3. A finish script sets the exit code and halts ------------------------------------------------

/// A legacy longrun that prints, exits 0, and whose finish writes 42 and halts.
fn legacy_ender() -> Layer {
    let mut tree = Tree::new();
    tree.legacy(
        "ender",
        "#!/bin/bash\necho ender ran\nexit 0\n",
        Some(&format!("#!/bin/bash\necho 42 > {EXITCODE}\nexec {HALT}\n")),
    );
    tree.done()
}

/// The same as an s6-rc longrun in `user`, `run` and `finish` of mode 0644 (s6-rc-compile
/// makes them executable), `finish` in execline as s6-overlay's README writes it.
fn s6_rc_ender() -> Layer {
    let mut tree = Tree::new();
    tree.file(&format!("{S6_RC_D}/ender/type"), "longrun\n", 0o644)
        .file(&format!("{S6_RC_D}/ender/run"), "#!/bin/bash\necho ender ran\nexit 0\n", 0o644)
        .file(
            &format!("{S6_RC_D}/ender/finish"),
            &format!("#!/command/execlineb -S0\nforeground {{ redirfd -w 1 {EXITCODE} echo 42 }}\n{HALT}\n"),
            0o644,
        )
        .depends("ender", &["base"])
        .user(UserBundle::Quickstart, &["ender"]);
    tree.done()
}

/// As root, and as user 1000 on a read-only root with a `/run` of its own: s6-overlay's fixed
/// paths are in `/run`, which only root may write in otherwise (s6-overlay itself needs "/run
/// owned by the container user"; `--tmpfs /run:U` is podman's way, an `emptyDir` Kubernetes').
fn check_finish_sets_the_exit_code(what: &str, layer: &Layer) {
    for options in [&[][..], &["--read-only", "--user", "1000:1000", "--tmpfs", "/run:U,exec"][..]] {
        let outcome = podman_run(layer, options, &[], RUN);
        eprintln!("{what}, podman run {options:?}: {:?}", outcome.elapsed);
        assert_eq!(outcome.code, 42, "{what}, podman run {options:?}: the code finish wrote\n{outcome}");
        assert!(outcome.stdout.contains("ender ran"), "{what}, podman run {options:?}\n{outcome}");
    }
}

#[test]
fn a_legacy_services_finish_writes_the_exit_code_and_halts() {
    check_finish_sets_the_exit_code("services.d", &legacy_ender());
}

#[test]
fn an_s6_rc_longruns_finish_writes_the_exit_code_and_halts() {
    check_finish_sets_the_exit_code("s6-rc.d", &s6_rc_ender());
}

// 4. podman stop -------------------------------------------------------------------------------

/// What each finish of the stop tree does before it says it has stopped: a service is down
/// when its finish has ended (s6-rc's `s6-svc -dwD`, s6-overlay's `s6-svwait -D` for
/// services.d), so the next one goes down only then, and a stop that does not wait shows.
const FINISHING: &str = "sleep 0.15";

/// Longruns `a` ← `b` (s6-rc), `side` (services.d), a cont-finish.d script: each says when it
/// has started and stopped.
fn stop_tree() -> Layer {
    let mut tree = Tree::new();
    for (name, dependencies) in [("a", &["base"][..]), ("b", &["base", "a"][..])] {
        tree.longrun(name, &format!("#!/bin/bash\necho longrun {name} up\nexec sleep infinity\n"), dependencies).file(
            &format!("{S6_RC_D}/{name}/finish"),
            &format!("#!/bin/bash\n{FINISHING}\necho \"{name} stopped #{COUNT}\"\n"),
            0o755,
        );
    }
    tree.user(UserBundle::Quickstart, &["a", "b"])
        .legacy(
            "side",
            "#!/bin/bash\necho longrun side up\nexec sleep infinity\n",
            Some(&format!("#!/bin/bash\n{FINISHING}\necho \"side stopped #{COUNT}\"\n")),
        )
        .cont_finish("10-bye", &format!("#!/bin/bash\necho \"cont-finish ran #{COUNT}\"\n"));
    tree.done()
}

/// Starts the stop tree with `env` and `cmd`, waits for everything, `podman stop`s it; returns
/// stdout and the whole output for messages (checked: exit 0, the stop under 2 s).
fn stop_and_check(env: &[&str], cmd: &str) -> (String, String) {
    let options = with_env(env, &[]);
    let container = Container::start(stop_tree(), &options, &["bash", "-c", cmd]);
    container.wait_logs("the services and CMD up", RUN, |out, _| {
        ["longrun a up", "longrun b up", "longrun side up", "cmd started"].iter().all(|t| out.contains(t))
    });
    let took = container.stop(10);
    eprintln!("podman stop of the s6-overlay tree, {env:?}: {took:?}");
    let (out, err) = container.logs();
    let context = format!("--- stdout\n{out}--- stderr\n{err}");
    assert!(took < Duration::from_secs(2), "{env:?}: podman stop took {took:?}\n{context}");
    assert_eq!(container.exit_code(), 0, "{env:?}: podman stop in s6-overlay mode exits 0\n{context}");
    (out, context)
}

/// CMD that says it got TERM (counted) and exits 0.
fn trapping_cmd() -> String {
    format!("sleep infinity & trap 'echo \"cmd got TERM #{COUNT}\"; exit 0' TERM; echo cmd started; wait")
}

#[test]
fn podman_stop_takes_services_down_in_reverse_order_then_cont_finish_and_exits_0() {
    // CMD is sleep: dead of the TERM, 143 but for s6-overlay's rule.
    let (out, context) = stop_and_check(&[], "echo cmd started; exec sleep infinity");
    assert_counted_in_order(
        "podman stop",
        &out,
        &["side stopped", "b stopped", "a stopped", "cont-finish ran"],
        &context,
    );
}

#[test]
fn without_s6_cmd_receive_signals_cmd_is_stopped_last() {
    let (out, context) = stop_and_check(&[], &trapping_cmd());
    assert_counted_in_order(
        "podman stop",
        &out,
        &["side stopped", "b stopped", "a stopped", "cont-finish ran", "cmd got TERM"],
        &context,
    );
}

#[test]
fn with_s6_cmd_receive_signals_cmd_gets_term_first() {
    let (out, context) = stop_and_check(&["S6_CMD_RECEIVE_SIGNALS=1"], &trapping_cmd());
    assert_counted_in_order(
        "podman stop, S6_CMD_RECEIVE_SIGNALS=1",
        &out,
        &["cmd got TERM", "side stopped", "b stopped", "a stopped", "cont-finish ran"],
        &context,
    );
}

// 5. A failing stage 2 -------------------------------------------------------------------------

const MARKED_CMD: &[&str] = &["bash", "-c", "echo cmd ran; exit 5"];

fn failing_cont_init() -> Layer {
    let mut tree = Tree::new();
    tree.cont_init("10-fail", "#!/bin/bash\necho cont-init failing\nexit 1\n");
    tree.done()
}

fn failing_oneshot() -> Layer {
    let mut tree = Tree::new();
    tree.oneshot("broken", "/bin/sh -c \"echo oneshot failing; exit 1\"", &["base"])
        .user(UserBundle::Quickstart, &["broken"]);
    tree.done()
}

#[test]
fn stage2_fails_with_behaviour_2_the_container_stops_before_cmd() {
    for (what, layer) in [("cont-init.d", failing_cont_init()), ("s6-rc oneshot", failing_oneshot())] {
        let outcome = podman_run(&layer, &["-e", "S6_BEHAVIOUR_IF_STAGE2_FAILS=2"], MARKED_CMD, RUN);
        assert_ne!(outcome.code, 0, "{what} fails, S6_BEHAVIOUR_IF_STAGE2_FAILS=2: a nonzero exit\n{outcome}");
        assert!(outcome.stdout.contains("failing"), "{what}: the failing script did not run\n{outcome}");
        assert!(!outcome.stdout.contains("cmd ran"), "{what}: CMD must never start\n{outcome}");
    }
}

/// Lines of the whole output that say "warning", in any case.
fn warnings(outcome: &Outcome) -> usize {
    outcome.stdout.lines().chain(outcome.stderr.lines()).filter(|l| l.to_lowercase().contains("warning")).count()
}

#[test]
fn stage2_fails_by_default_or_with_behaviour_1_cmd_runs_on() {
    for (what, layer) in [("cont-init.d", failing_cont_init()), ("s6-rc oneshot", failing_oneshot())] {
        let silent = podman_run(&layer, &[], MARKED_CMD, RUN);
        assert_eq!(silent.code, 5, "{what} fails, no S6_BEHAVIOUR_IF_STAGE2_FAILS: CMD's status\n{silent}");
        assert!(silent.stdout.contains("cmd ran"), "{what}\n{silent}");
        let warned = podman_run(&layer, &["-e", "S6_BEHAVIOUR_IF_STAGE2_FAILS=1"], MARKED_CMD, RUN);
        assert_eq!(warned.code, 5, "{what} fails, S6_BEHAVIOUR_IF_STAGE2_FAILS=1: CMD's status\n{warned}");
        assert!(warned.stdout.contains("cmd ran"), "{what}\n{warned}");
        // What fails may warn by itself (s6-overlay's cont-init and s6-rc do, whatever the
        // setting); 1 adds a warning of its own.
        assert!(
            warnings(&warned) > warnings(&silent),
            "{what} fails: S6_BEHAVIOUR_IF_STAGE2_FAILS=1 warns, 0 (unset) goes on silently; the same warnings\n\
             --- unset: {silent}--- 1: {warned}"
        );
    }
}

// The waits before CMD ---------------------------------------------------------------------------

#[test]
fn s6_cmd_wait_for_services_waits_for_a_legacy_service_to_be_ready() {
    let mut tree = Tree::new();
    tree.legacy(
        "slow",
        "#!/bin/bash\necho slow starting\nsleep 0.3\necho slow ready\necho >&3\nexec 3>&-\nexec sleep infinity\n",
        None,
    )
    .file("/etc/services.d/slow/notification-fd", "3\n", 0o644);
    let layer = tree.done();
    let outcome = podman_run(&layer, &["-e", "S6_CMD_WAIT_FOR_SERVICES=1"], MARKED_CMD, RUN);
    assert_eq!(outcome.code, 5, "{outcome}");
    assert_in_order("S6_CMD_WAIT_FOR_SERVICES=1", &outcome.stdout, &["slow ready", "cmd ran"], &outcome);
}

#[test]
fn s6_cmd_wait_for_services_maxtime_bounds_the_wait_for_a_slow_oneshot() {
    let mut tree = Tree::new();
    tree.oneshot("sluggish", "/bin/sh -c \"echo sluggish started; exec sleep 30\"", &["base"])
        .user(UserBundle::Quickstart, &["sluggish"]);
    let layer = tree.done();
    let outcome = podman_run(&layer, &["-e", "S6_CMD_WAIT_FOR_SERVICES_MAXTIME=500"], MARKED_CMD, RUN);
    eprintln!("a 30 s oneshot, S6_CMD_WAIT_FOR_SERVICES_MAXTIME=500: {:?}", outcome.elapsed);
    assert_eq!(outcome.code, 5, "CMD starts after 500 ms and its status is the container's\n{outcome}");
    assert_in_order(
        "S6_CMD_WAIT_FOR_SERVICES_MAXTIME=500",
        &outcome.stdout,
        &["sluggish started", "cmd ran"],
        &outcome,
    );
    assert!(outcome.elapsed < Duration::from_secs(10), "CMD waited for the oneshot\n{outcome}");
}

// 6. /command made at start ----------------------------------------------------------------------

#[test]
fn an_empty_command_directory_is_filled_at_start() {
    // An empty writable /command over the image's (no copy-up of its links; exec so that only
    // what ostler makes there matters).
    let tmpfs = "/command:rw,exec,mode=0755,notmpcopyup";
    let probe = podman_run(
        &Layer::over(Base::Debian),
        &["--tmpfs", tmpfs, "--entrypoint", "/bin/ls"],
        &["-A", "/command"],
        RUN,
    );
    assert!(probe.code == 0 && probe.stdout.trim().is_empty(), "the tmpfs on /command should be empty\n{probe}");
    let mut tree = Tree::new();
    // Each step also appends its name to /tmp/order, which CMD prints: the order in which they
    // ran (their lines reach the output through a marker each, which may reorder them).
    tree.cont_init(
        "10-greet",
        "#!/command/with-contenv bash\necho \"cont-init GREETING=$GREETING\"\necho cont-init >> /tmp/order\n",
    );
    let layer = tree.done();
    let options = ["-e", "GREETING=hello", "--tmpfs", tmpfs];
    let outcome = podman_run(&layer, &options, &["bash", "-c", "echo cmd ran; exit 5"], RUN);
    assert_eq!(outcome.code, 5, "{outcome}");
    assert_contains("empty /command", &outcome.stdout, &["cont-init GREETING=hello", "cmd ran"], &outcome);
}

// 7. Not PID 1 ---------------------------------------------------------------------------------

#[test]
fn in_a_pod_sharing_its_pid_namespace_the_tree_runs_without_being_pid_1() {
    let pod = Pod::create();
    let mut tree = Tree::new();
    // Each step also appends its name to /tmp/order, which CMD prints: the order in which they
    // ran (their lines reach the output through a marker each, which may reorder them).
    tree.cont_init(
        "10-greet",
        "#!/command/with-contenv bash\necho \"cont-init GREETING=$GREETING\"\necho cont-init >> /tmp/order\n",
    )
    .oneshot("prepare", "foreground { echo prepare ran }", &["base"])
    .longrun("web", "#!/bin/bash\necho web starting\nexec sleep infinity\n", &["base", "prepare"])
    .user(UserBundle::Quickstart, &["prepare", "web"])
    .legacy("side", "#!/bin/bash\necho side running\ntouch /tmp/side-up\nexec sleep infinity\n", None);
    let layer = tree.done();
    let cmd = r#"n=0; while [ ! -e /tmp/side-up ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done
echo "cmd pid1=[$(cat /proc/1/comm)] ppid=$PPID"; exit 4"#;
    let outcome = podman_run(&layer, &["--pod", pod.name(), "-e", "GREETING=hello"], &["bash", "-c", cmd], RUN);
    eprintln!("in a pod: {:?}", outcome.elapsed);
    assert_eq!(outcome.code, 4, "CMD's status\n{outcome}");
    assert_contains(
        "in a pod",
        &outcome.stdout,
        &["cont-init GREETING=hello", "prepare ran", "web starting", "side running", "cmd pid1=["],
        &outcome,
    );
    assert!(!outcome.stdout.contains("cmd pid1=[init]"), "ostler should not be PID 1 in the pod\n{outcome}");
    assert_in_order("in a pod", &outcome.stdout, &["prepare ran", "cmd pid1="], &outcome);
}
