//! ostler as the init of OCI containers (issue 11), through real runc and podman: `ostler init
//! --container [OPTIONS] [-- CMD…]` (and `/init`, `/sbin/init` chosen by themselves) in a
//! busybox-static image, checked by exit statuses, the container's output, `ps` inside it and
//! the time `podman stop` takes.
//!
//! Needs runc, podman and busybox-static (tools/setup) and the static musl build of ostler
//! (`cargo build --release --target x86_64-unknown-linux-musl`, or OSTLER_GUEST_BINARY); the
//! harness is tests/util/container.rs. Each test removes what it made; waits poll a condition
//! under a deadline, in the container (a shell loop with a bound) or from here.

mod util;

use std::time::Duration;
use util::container::*;

/// `/sbin/ostler init --container OPTIONS… [-- CMD…]`.
fn ostler<'a>(options: &[&'a str], cmd: &[&'a str]) -> Vec<&'a str> {
    let mut argv = vec!["/sbin/ostler", "init", "--container"];
    argv.extend_from_slice(options);
    if !cmd.is_empty() {
        argv.push("--");
        argv.extend_from_slice(cmd);
    }
    argv
}

/// A longrun that says `start NAME`, and on SIGTERM `stop NAME #N` and exits, N counting the
/// stops in the container so far. Each service's lines reach the container's output through a
/// marker process of its own, so the order of the lines there is not the order of the stops; the
/// count, kept in /dev/shm (writable on a read-only root too), is. Its sleep is forked before
/// the trap: a child forked after it has the shell's handler until its exec, and a TERM that
/// comes then is lost (busybox ash), leaving a sleep that holds the stop until the grace.
fn polite(name: &str) -> String {
    format!(
        "#!/bin/sh\nsleep 1000 &\nchild=$!\ntrap 'echo {name} >> /dev/shm/stops; echo \"stop {name} #$(grep -c . /dev/shm/stops)\"; kill $child; exit 0' TERM\necho start {name}\nwait\n"
    )
}

/// A longrun that ignores SIGTERM.
const STUBBORN: &str = "#!/bin/sh\ntrap '' TERM\necho start stubborn\nexec sleep 1000\n";

/// Longruns a ← b ← c (c depends on b, b on a), all in `default`.
fn chain() -> Layer {
    let mut layer = Layer::new();
    for name in ["a", "b", "c"] {
        layer.longrun(name, &polite(name));
    }
    layer.depends("b", "a").depends("c", "b").default_bundle(&["a", "b", "c"]);
    layer
}

/// The CMD of the stop tests: says it started, then is `sleep` (TERM ends it: 143).
const SLEEPER: &[&str] = &["sh", "-c", "echo cmd started; exec sleep 1000"];

fn has_all(text: &str, words: &[&str]) -> bool {
    words.iter().all(|w| text.contains(w))
}

/// The `polite` services `names` stopped in this order (the first one first).
fn assert_stopped_in_order(text: &str, names: &[&str]) {
    for (n, name) in names.iter().enumerate() {
        let line = format!("stop {name} #{}", n + 1);
        assert!(text.contains(&line), "{line:?} missing: the services did not stop in the order {names:?}:\n{text}");
    }
}

/// A line of ostler's that names `what`.
fn ostler_line_naming(stderr: &str, what: &str) -> bool {
    stderr.lines().any(|l| l.trim_start().starts_with("ostler") && l.contains(what))
}

// 1. Exit statuses ------------------------------------------------------------------------------

/// (CMD, expected status), and for exec failures the program the message must name.
const EXITS: &[(&[&str], i32, Option<&str>)] = &[
    (&["true"], 0, None),
    (&["sh", "-c", "exit 3"], 3, None),
    (&["sh", "-c", "kill -KILL $$"], 137, None),
    (&["sh", "-c", "kill -TERM $$"], 143, None),
    (&["/nonexistent"], 127, Some("/nonexistent")),
    (&["/test/not-executable"], 126, Some("/test/not-executable")),
];

fn exit_layer() -> Layer {
    let mut layer = Layer::new();
    layer.file_mode("/test/not-executable", "#!/bin/sh\nexit 0\n", 0o644);
    layer
}

fn check_exit(engine: &str, cmd: &[&str], outcome: &Outcome, expected: i32, named: Option<&str>) {
    assert_eq!(outcome.code, expected, "{engine}, CMD {cmd:?}: {outcome}");
    if let Some(program) = named {
        assert!(
            ostler_line_naming(&outcome.stderr, program),
            "{engine}, CMD {cmd:?}: no ostler message naming {program}: {outcome}"
        );
    }
}

#[test]
fn exit_statuses_through_runc() {
    let layer = exit_layer();
    for (cmd, expected, named) in EXITS {
        let outcome = Runc::new(&layer, &RuncSpec::new(&ostler(&[], cmd))).run(RUN);
        check_exit("runc", cmd, &outcome, *expected, *named);
    }
    // As /init and /sbin/init, container mode is ostler's own choice (the PID namespace).
    for (init, code) in [("/init", "5"), ("/sbin/init", "6")] {
        let script = format!("exit {code}");
        let outcome = Runc::new(&layer, &RuncSpec::new(&[init, "--", "sh", "-c", &script])).run(RUN);
        assert_eq!(outcome.code.to_string(), code, "runc, {init} -- sh -c '{script}': {outcome}");
    }
}

#[test]
fn exit_statuses_through_podman() {
    let layer = exit_layer();
    for (cmd, expected, named) in EXITS {
        let outcome = podman_run(&layer, &[], &ostler(&[], cmd), RUN);
        check_exit("podman", cmd, &outcome, *expected, *named);
    }
    for (init, code) in [("/init", "5"), ("/sbin/init", "6")] {
        let script = format!("exit {code}");
        let outcome = podman_run(&layer, &[], &[init, "--", "sh", "-c", &script], RUN);
        assert_eq!(outcome.code.to_string(), code, "podman, {init} -- sh -c '{script}': {outcome}");
    }
}

// 2. podman stop: the orderly stop -------------------------------------------------------------

#[test]
fn podman_stop_takes_the_services_down_in_reverse_order_at_once() {
    let container = Container::start(chain(), &[], &ostler(&[], SLEEPER));
    container.wait_logs("the services and CMD up", RUN, |out, _| {
        has_all(out, &["start a", "start b", "start c", "cmd started"])
    });
    let took = container.stop(10);
    eprintln!("podman stop with three services: {took:?}");
    let (out, err) = container.logs();
    assert_stopped_in_order(&out, &["c", "b", "a"]);
    assert!(took < Duration::from_secs(2), "podman stop took {took:?}\n{out}{err}");
    assert_eq!(container.exit_code(), 143, "CMD (sleep) was ended by SIGTERM\n{out}{err}");
}

#[test]
fn a_service_that_ignores_sigterm_is_killed_at_the_grace_and_named() {
    let mut layer = chain();
    layer.longrun("stubborn", STUBBORN).default_bundle(&["stubborn"]);
    let container = Container::start(layer, &[], &ostler(&["--grace", "1000"], SLEEPER));
    container.wait_logs("the services and CMD up", RUN, |out, _| {
        has_all(out, &["start a", "start b", "start c", "start stubborn", "cmd started"])
    });
    let took = container.stop(10);
    eprintln!("podman stop with a service ignoring SIGTERM, --grace 1000: {took:?}");
    let (out, err) = container.logs();
    assert_stopped_in_order(&out, &["c", "b", "a"]);
    assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(4), "podman stop took {took:?}\n{out}{err}");
    assert!(
        err.lines().any(|l| l.contains("stubborn") && l.contains("killed")),
        "stderr does not name stubborn as killed:\n{err}"
    );
    assert_eq!(container.exit_code(), 143, "{out}{err}");
}

#[test]
fn without_a_cmd_the_services_run_until_stopped_and_the_status_is_0() {
    let mut layer = Layer::new();
    layer.longrun("a", &polite("a")).default_bundle(&["a"]);
    let container = Container::start(layer, &[], &ostler(&[], &[]));
    container.wait_logs("a up", RUN, |out, _| out.contains("start a"));
    assert!(container.running(), "no CMD: ostler must keep running");
    let took = container.stop(10);
    eprintln!("podman stop without CMD: {took:?}");
    let (out, err) = container.logs();
    assert!(out.contains("stop a"), "{out}{err}");
    assert!(took < Duration::from_secs(2), "podman stop took {took:?}\n{out}{err}");
    assert_eq!(container.exit_code(), 0, "{out}{err}");
}

#[test]
fn stop_signal_int_goes_to_cmd_and_gives_130() {
    let container = Container::start(
        chain(),
        &["--stop-signal", "SIGINT"],
        &ostler(&["--stop-signal", "INT"], &["sh", "-c", "echo cmd started; exec sleep 1000"]),
    );
    container.wait_logs("CMD up", RUN, |out, _| has_all(out, &["start c", "cmd started"]));
    let took = container.stop(10);
    let (out, err) = container.logs();
    assert_stopped_in_order(&out, &["c", "b", "a"]);
    assert!(took < Duration::from_secs(2), "podman stop (SIGINT) took {took:?}\n{out}{err}");
    assert_eq!(container.exit_code(), 130, "{out}{err}");
}

// 3. Signals to CMD ----------------------------------------------------------------------------

const TRAPPER: &str =
    "#!/bin/sh\nfor s in USR1 HUP WINCH; do trap \"echo got $s\" $s; done\necho ready\nwhile :; do sleep 0.1; done\n";

#[test]
fn usr1_hup_and_winch_reach_cmd_and_it_keeps_running() {
    let mut layer = Layer::new();
    layer.script("/test/trapper", TRAPPER);
    let container = Container::start(layer, &[], &ostler(&[], &["/test/trapper"]));
    container.wait_logs("CMD ready", RUN, |out, _| out.contains("ready"));
    for signal in ["USR1", "HUP", "WINCH"] {
        container.kill(signal);
        let line = format!("got {signal}");
        container.wait_logs(&line, RUN, |out, _| out.contains(&line));
        assert!(container.running(), "the container stopped after SIG{signal}");
    }
    container.stop(10);
    assert_eq!(container.exit_code(), 143, "{:?}", container.logs());
}

#[test]
fn with_process_group_a_signal_reaches_the_whole_group_of_cmd() {
    // CMD forks a sleep, then traps USR1, and waits for the sleep, which dies of USR1 only if the
    // whole group is signalled. (Trapped first, the child could still have the shell's handler
    // when the signal comes, before its exec resets it, and lose the signal.)
    let script = "sleep 1000 & child=$!; trap 'echo cmd got USR1' USR1; echo ready; \
                  while kill -0 $child 2>/dev/null; do wait $child; done; echo sleep ended";
    let container = Container::start(Layer::new(), &[], &ostler(&["-g"], &["sh", "-c", script]));
    container.wait_logs("CMD ready", RUN, |out, _| out.contains("ready"));
    container.kill("USR1");
    assert_eq!(container.wait_exit(RUN), 0, "{:?}", container.logs());
    let (out, err) = container.logs();
    assert!(has_all(&out, &["cmd got USR1", "sleep ended"]), "{out}{err}");
}

#[test]
fn with_a_terminal_cmd_has_it_in_its_own_group_and_ctrl_c_gives_130() {
    let script = "read -r pid comm state ppid pgrp session tty tpgid rest < /proc/$$/stat; \
                  [ \"$pgrp\" = \"$$\" ] && echo own-group; [ \"$tpgid\" = \"$$\" ] && echo foreground; \
                  [ -t 0 ] && echo has-tty; echo ready; while :; do sleep 0.1; done";
    let mut terminal = Terminal::start(Layer::new(), &[], &ostler(&[], &["sh", "-c", script]));
    terminal.expect("ready", RUN);
    let seen = terminal.seen();
    assert!(has_all(&seen, &["own-group", "foreground", "has-tty"]), "{seen}");
    terminal.send(b"\x03");
    let code = terminal.wait(RUN);
    assert_eq!(code, 130, "Ctrl-C; the terminal:\n{}", terminal.seen());
}

// 4. Reaping -----------------------------------------------------------------------------------

/// Makes 1000 orphans, then waits (bounded) until they and their zombies are gone.
const ORPHANS: &str = "#!/bin/sh
( i=0; while [ $i -lt 1000 ]; do sleep 0.01 & i=$((i+1)); done; exit 0 )
echo made 1000 orphans
n=0
while ps -o stat,args | grep -q -e '^Z' -e 'sleep 0.01'; do
    n=$((n+1))
    if [ $n -gt 400 ]; then echo zombies left; ps -o pid,ppid,stat,args; exit 1; fi
    sleep 0.05
done
echo no zombies
";

#[test]
fn a_thousand_orphans_of_cmd_are_reaped() {
    let mut layer = Layer::new();
    layer.script("/test/orphans", ORPHANS);
    // 1000 forks and execs: seconds on a busy two-core host.
    let outcome = podman_run(&layer, &[], &ostler(&[], &["/test/orphans"]), Duration::from_secs(60));
    assert_eq!(outcome.code, 0, "{outcome}");
    assert!(outcome.stdout.contains("no zombies"), "{outcome}");
}

#[test]
fn an_orphan_of_podman_exec_is_reaped() {
    let container = Container::start(Layer::new(), &[], &ostler(&[], SLEEPER));
    container.wait_logs("CMD up", RUN, |out, _| out.contains("cmd started"));
    let exec = container.exec(&["sh", "-c", "(sleep 0.2 &); exit 0"]);
    assert_eq!(exec.code, 0, "{exec}");
    let mut last = String::new();
    util::wait_until("the orphan sleep to be reaped", Duration::from_secs(5), || {
        last = container.exec(&["ps", "-o", "pid,ppid,stat,args"]).stdout;
        !last
            .lines()
            .any(|l| l.contains("sleep 0.2") || l.split_whitespace().nth(2).is_some_and(|s| s.starts_with('Z')))
    });
    assert!(container.running(), "{last}");
}

// 5. Supervision -------------------------------------------------------------------------------

#[test]
fn a_longrun_killed_with_sigkill_comes_back_while_cmd_runs_on() {
    let mut layer = Layer::new();
    layer.longrun("a", "#!/bin/sh\necho $$ > /tmp/a.pid\nexec sleep 1000\n").default_bundle(&["a"]);
    let container =
        Container::start(layer, &[], &ostler(&[], &["sh", "-c", "echo $$ > /tmp/cmd.pid; exec sleep 1000"]));
    let read_pid = |file: &str| -> Option<u32> { container.exec(&["cat", file]).stdout.trim().parse().ok() };
    let alive = |pid: u32| container.exec(&["kill", "-0", &pid.to_string()]).code == 0;
    let first = util::wait_for("a's pid", RUN, || read_pid("/tmp/a.pid").filter(|p| alive(*p)));
    let cmd = util::wait_for("CMD's pid", RUN, || read_pid("/tmp/cmd.pid"));
    let kill = container.exec(&["kill", "-KILL", &first.to_string()]);
    assert_eq!(kill.code, 0, "{kill}");
    let second = util::wait_for("a back with a new pid", util::DEADLINE, || {
        read_pid("/tmp/a.pid").filter(|p| *p != first && alive(*p))
    });
    eprintln!("a: pid {first} killed, back as {second}");
    assert!(alive(cmd), "CMD (pid {cmd}) is gone: {:?}", container.logs());
    assert!(container.running());
}

// 6. Read-only root, other users --------------------------------------------------------------

/// A service that says who it runs as and leaves a mark; CMD waits for the mark (bounded),
/// says who it runs as, exits 4.
fn who_layer() -> Layer {
    let mut layer = Layer::new();
    layer
        .longrun("s", "#!/bin/sh\necho \"service as $(id -u):$(id -g)\"\ntouch /tmp/s.up\nexec sleep 1000\n")
        .default_bundle(&["s"]);
    layer.script(
        "/test/who",
        "#!/bin/sh\nn=0\nwhile [ ! -e /tmp/s.up ]; do n=$((n+1)); [ $n -gt 400 ] && exit 99; sleep 0.05; done\necho \"cmd as $(id -u):$(id -g)\"\nexit 4\n",
    );
    layer
}

#[test]
fn read_only_root_and_other_users_through_podman() {
    let cases: &[(&[&str], &str)] = &[
        (&["--read-only"], "0:0"),
        (&["--user", "1000"], "1000:1000"),
        (&["--user", "12345:12345"], "12345:12345"),
        (&["--read-only", "--user", "12345:12345"], "12345:12345"),
        (&["--read-only", "--user", "1000"], "1000:1000"),
    ];
    let layer = who_layer();
    for (options, ids) in cases {
        let outcome = podman_run(&layer, options, &ostler(&[], &["/test/who"]), RUN);
        assert_eq!(outcome.code, 4, "podman run {options:?}: {outcome}");
        for line in [format!("service as {ids}"), format!("cmd as {ids}")] {
            assert!(outcome.stdout.contains(&line), "podman run {options:?}: no {line:?}: {outcome}");
        }
    }
}

#[test]
fn read_only_root_and_a_user_through_runc() {
    // /run is a root-owned tmpfs the user cannot write: the runtime area goes elsewhere.
    let layer = who_layer();
    for (uid, gid) in [(0, 0), (1000, 1000), (12345, 12345)] {
        let spec = RuncSpec::new(&ostler(&[], &["/test/who"])).read_only().user(uid, gid);
        let outcome = Runc::new(&layer, &spec).run(RUN);
        assert_eq!(outcome.code, 4, "runc as {uid}:{gid}: {outcome}");
        for line in [format!("service as {uid}:{gid}"), format!("cmd as {uid}:{gid}")] {
            assert!(outcome.stdout.contains(&line), "runc as {uid}:{gid}: no {line:?}: {outcome}");
        }
    }
}

// 7. Not PID 1 ----------------------------------------------------------------------------------

#[test]
fn in_a_pod_sharing_its_pid_namespace_ostler_is_a_subreaper_and_stops_cleanly() {
    let pod = Pod::create();
    let mut layer = Layer::new();
    layer.longrun("a", &polite("a")).default_bundle(&["a"]);
    let cmd = ["sh", "-c", "(sleep 2000 &); echo cmd started; exec sleep 2000"];
    let container = Container::start(layer, &["--pod", pod.name()], &ostler(&[], &cmd));
    container.wait_logs("a and CMD up", RUN, |out, _| has_all(out, &["start a", "cmd started"]));

    // PID 1 is the pod's infra; ostler is the entrypoint (its parent outside the namespace),
    // and both sleeps, CMD and the orphan, are its children.
    let ps = container.exec(&["ps", "-o", "pid,ppid,args"]).stdout;
    let rows: Vec<(u32, u32, String)> = ps
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?, words.collect::<Vec<_>>().join(" ")))
        })
        .collect();
    let ostler_pid = rows
        .iter()
        .find(|(_, ppid, args)| *ppid == 0 && args.contains("ostler"))
        .map(|(pid, _, _)| *pid)
        .unwrap_or_else(|| panic!("no ostler entrypoint in ps:\n{ps}"));
    assert_ne!(ostler_pid, 1, "ostler should not be PID 1 in the pod:\n{ps}");
    let sleeps: Vec<_> = rows.iter().filter(|(_, _, args)| args == "sleep 2000").collect();
    assert_eq!(sleeps.len(), 2, "CMD and the orphan:\n{ps}");
    assert!(sleeps.iter().all(|(_, ppid, _)| *ppid == ostler_pid), "the orphan was not reparented to ostler:\n{ps}");

    // `podman stop` of the container: the orderly stop, as PID 1 would do it.
    let took = container.stop(10);
    eprintln!("podman stop in a pod: {took:?}");
    let (out, err) = container.logs();
    assert!(out.contains("stop a"), "{out}{err}");
    assert!(took < Duration::from_secs(5), "podman stop took {took:?}\n{out}{err}");
    assert_eq!(container.exit_code(), 143, "{out}{err}");
    // `podman pod stop` (podman 4.3) TERMs the pod's infra, PID 1 of the shared namespace, at
    // the same moment: when it exits the kernel KILLs every process left in the namespace, so
    // no entrypoint that takes a few ms to stop can report its own status (a shell trapping
    // TERM gets 137 too). What ostler can promise there: the pod stops at once.
    let second = Container::start(
        {
            let mut layer = Layer::new();
            layer.longrun("a", &polite("a")).default_bundle(&["a"]);
            layer
        },
        &["--pod", pod.name()],
        &ostler(&[], &cmd),
    );
    second.wait_logs("a and CMD up", RUN, |out, _| has_all(out, &["start a", "cmd started"]));
    let took = pod.stop(10);
    eprintln!("podman pod stop: {took:?}");
    assert!(took < Duration::from_secs(5), "podman pod stop took {took:?}");
}

// 8. runc directly -----------------------------------------------------------------------------

#[test]
fn runc_kill_term_ends_cmd_at_once_with_143() {
    let mut container =
        Runc::new(&Layer::new(), &RuncSpec::new(&ostler(&[], &["sh", "-c", "echo ready; exec sleep 1000"])));
    container.start();
    container.wait_output("CMD ready", RUN, |out, _| out.contains("ready"));
    let sent = std::time::Instant::now();
    container.kill("TERM");
    let outcome = container.wait(RUN);
    let took = sent.elapsed();
    eprintln!("runc kill TERM to exit: {took:?}");
    assert_eq!(outcome.code, 143, "{outcome}");
    assert!(took < Duration::from_secs(2), "{took:?}: {outcome}");
}

#[test]
fn runc_kill_term_stops_the_services_in_reverse_order() {
    let mut container = Runc::new(&chain(), &RuncSpec::new(&ostler(&[], SLEEPER)).read_only());
    container.start();
    container.wait_output("the services and CMD up", RUN, |out, _| {
        has_all(out, &["start a", "start b", "start c", "cmd started"])
    });
    let sent = std::time::Instant::now();
    container.kill("TERM");
    let outcome = container.wait(RUN);
    let took = sent.elapsed();
    eprintln!("runc kill TERM with three services: {took:?}");
    assert_eq!(outcome.code, 143, "{outcome}");
    assert_stopped_in_order(&outcome.stdout, &["c", "b", "a"]);
    assert!(took < Duration::from_secs(2), "{took:?}: {outcome}");
}

#[test]
fn runc_grace_from_the_environment_kills_the_stubborn_service() {
    let mut layer = chain();
    layer.longrun("stubborn", STUBBORN).default_bundle(&["stubborn"]);
    let spec = RuncSpec::new(&ostler(&[], SLEEPER)).env("OSTLER_GRACE_MS=1000");
    let mut container = Runc::new(&layer, &spec);
    container.start();
    container.wait_output("the services and CMD up", RUN, |out, _| has_all(out, &["start stubborn", "cmd started"]));
    let sent = std::time::Instant::now();
    container.kill("TERM");
    let outcome = container.wait(RUN);
    let took = sent.elapsed();
    eprintln!("runc kill TERM, a service ignoring it, OSTLER_GRACE_MS=1000: {took:?}");
    assert_eq!(outcome.code, 143, "{outcome}");
    assert_stopped_in_order(&outcome.stdout, &["c", "b", "a"]);
    assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(4), "{took:?}: {outcome}");
    assert!(
        outcome.stderr.lines().any(|l| l.contains("stubborn") && l.contains("killed")),
        "stderr does not name stubborn as killed: {outcome}"
    );
}

// 9. Readiness for orchestrators ---------------------------------------------------------------

#[test]
fn ostler_ready_answers_a_probe_as_the_services_become_ready() {
    // As root with podman's writable /run, and as a user on a read-only root, where the runtime
    // area falls back to /tmp/ostler-1000 and `podman exec` (no inherited variables) must find it.
    for options in [&[][..], &["--read-only", "--user", "1000"][..]] {
        let mut layer = Layer::new();
        let gate =
            "#!/bin/sh\necho start gate\nwhile [ ! -e /tmp/go ]; do sleep 0.05; done\necho >&3\nexec sleep 1000\n";
        layer.longrun("gate", gate).file("/etc/ostler/sv/gate/notification-fd", "3\n").default_bundle(&["gate"]);
        let container = Container::start(layer, options, &ostler(&[], SLEEPER));
        container.wait_logs("gate started", RUN, |out, _| out.contains("start gate"));
        let probe = container.exec(&["/sbin/ostler", "ready"]);
        assert_eq!(probe.code, 1, "{options:?}: before readiness: {probe}");
        assert!(probe.stderr.contains("gate is running, not ready yet"), "{options:?}: {probe}");
        let unknown = container.exec(&["/sbin/ostler", "ready", "nosuch"]);
        assert_eq!(unknown.code, 100, "{options:?}: {unknown}");
        assert_eq!(container.exec(&["touch", "/tmp/go"]).code, 0);
        container.wait_logs("CMD after readiness", RUN, |out, _| out.contains("cmd started"));
        let probe = container.exec(&["/sbin/ostler", "ready"]);
        assert_eq!(probe.code, 0, "{options:?}: after readiness: {probe}");
        assert_eq!(container.exec(&["/sbin/ostler", "ready", "-q", "gate"]).code, 0, "{options:?}");
    }
}

// 10. A service or CMD ends the container with its own code -------------------------------------

#[test]
fn halt_inside_the_container_stops_it_with_the_code_written_to_exitcode() {
    let mut layer = Layer::new();
    // CMD halts at once, so `a` must have its trap set before CMD starts: it says it is ready
    // after `start a` (without notification-fd it would count as up once forked).
    let ready = polite("a").replace("echo start a\n", "echo start a\necho >&3\n");
    layer.longrun("a", &ready).file("/etc/ostler/sv/a/notification-fd", "3\n").default_bundle(&["a"]);
    let cmd = ["sh", "-c", "echo 7 > \"$OSTLER_RUNDIR/exitcode\"; /sbin/ostler halt; exec sleep 1000"];
    let outcome = podman_run(&layer, &[], &ostler(&[], &cmd), RUN);
    assert_eq!(outcome.code, 7, "{outcome}");
    assert!(outcome.stdout.contains("stop a"), "the services go down in order: {outcome}");
    assert!(outcome.elapsed < Duration::from_secs(5), "{outcome}");
}

// Output marks and --wait-for ---------------------------------------------------------------

#[test]
fn each_service_line_reaches_the_container_output_led_by_its_name() {
    let mut layer = Layer::new();
    let talker = "#!/bin/sh\necho hello from talker\necho trouble in talker >&2\nexec sleep 1000\n";
    layer.longrun("talker", talker);
    // A service with a log directory of its own keeps it: nothing of it on the output.
    layer.longrun("quiet", "#!/bin/sh\necho kept in the log\nexec sleep 1000\n");
    layer.file("/etc/ostler/sv/quiet/log", "/tmp/quiet-log\n");
    layer.oneshot("setup", "/bin/sh -c \"echo setting up; echo setup warning >&2\"\n");
    layer.default_bundle(&["talker", "quiet", "setup"]);
    // `ostler logs` reads the companion's directory inside the container as on a machine.
    let wait = "for i in $(seq 1 200); do grep -q kept /tmp/quiet-log/current 2>/dev/null && break; sleep 0.05; done; \
                /sbin/ostler logs quiet";
    let outcome = podman_run(&layer, &[], &ostler(&[], &["sh", "-c", wait]), RUN);
    assert_eq!(outcome.code, 0, "{outcome}");
    let out = &outcome.stdout;
    for line in ["talker: hello from talker", "talker: trouble in talker", "setup: setting up", "setup: setup warning"]
    {
        assert!(out.lines().any(|l| l == line), "no line {line:?} on the container's stdout: {outcome}");
    }
    // The log companion has it (`ostler logs`, CMD's own output, is unmarked), the output not.
    assert!(out.contains("kept in the log"), "ostler logs quiet lacks the line: {outcome}");
    assert!(!out.contains("quiet: kept in the log"), "quiet has a logger; its line must not be marked out: {outcome}");
    // CMD's own output stays as it is.
    assert!(!out.lines().any(|l| l.starts_with("talker: ") && l.contains("kept")), "{outcome}");
}

#[test]
fn with_wait_for_cmd_starts_once_those_are_ready_while_the_rest_comes_up() {
    let mut layer = Layer::new();
    // `db` is ready at once; `slow` takes its time and `web` waits for it. Each step appends
    // its name to /tmp/order, which CMD prints at the end: the order they ran in (their lines
    // reach the output through relays of their own, which may reorder them).
    let db = "#!/bin/sh\necho db >> /tmp/order\necho >&3\nexec sleep 1000\n";
    layer.longrun("db", db).file("/etc/ostler/sv/db/notification-fd", "3\n");
    layer.oneshot("slow", "/bin/sh -c \"while [ ! -e /tmp/go ]; do sleep 0.05; done; echo slow >> /tmp/order\"\n");
    layer.longrun("web", "#!/bin/sh\necho web >> /tmp/order\nexec sleep 1000\n").depends("web", "slow");
    layer.default_bundle(&["db", "slow", "web"]);
    // CMD lets `slow` finish, then waits for web: it ran before web was up.
    let cmd = "echo cmd >> /tmp/order; touch /tmp/go; for i in $(seq 1 200); do /sbin/ostler ready -q web && break; sleep 0.05; done; \
               /sbin/ostler ready web && echo \"order: $(tr '\\n' ' ' < /tmp/order)\"";
    for (options, env) in [(&["--wait-for", "db"][..], None), (&[][..], Some("OSTLER_WAIT_FOR=db"))] {
        let mut run_options = vec![];
        if let Some(variable) = env {
            run_options.extend(["-e", variable]);
        }
        let outcome = podman_run(&layer, &run_options, &ostler(options, &["sh", "-c", cmd]), RUN);
        assert_eq!(outcome.code, 0, "{options:?} {env:?}: {outcome}");
        assert!(outcome.stdout.contains("order: db cmd slow web "), "{options:?} {env:?}: {outcome}");
    }
    // A name that is not defined: with --on-failure stop, the container stops (1), CMD never runs.
    let outcome =
        podman_run(&layer, &[], &ostler(&["--wait-for", "nosuch", "--on-failure", "stop"], &["echo", "ran"]), RUN);
    assert_eq!(outcome.code, 1, "{outcome}");
    assert!(!outcome.stdout.contains("ran"), "{outcome}");
    assert!(ostler_line_naming(&outcome.stderr, "nosuch"), "{outcome}");
}
