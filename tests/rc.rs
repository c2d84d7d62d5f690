//! The service manager (issue 5): `ostler rc check` on broken trees, a DAG of oneshots started
//! as parallel as the graph allows (checked on the timeline), s6-rc-style trees of longruns with
//! a log companion, a pipeline and essential services under a real scanner, reload, and the
//! `service` front end. Everything runs unprivileged in a temporary tree (OSTLER_DEFS,
//! OSTLER_RUNDIR, OSTLER_SCANDIR).

mod util;

use ostler_core::timeline;
use std::process::Command;
use std::time::Duration;
use util::*;

const LONG: Duration = Duration::from_secs(20);

/// A definitions tree under construction.
struct Defs<'a> {
    tree: &'a TempTree,
}

impl Defs<'_> {
    fn file(&self, path: &str, text: &str) {
        self.tree.file(format!("sv/{path}"), text);
    }
    /// A oneshot whose `up` names a shell script doing `up` (s6-rc reads `up` as execline: a
    /// bare path to a script is the common shape).
    fn oneshot(&self, name: &str, up: &str, deps: &[&str]) {
        self.file(&format!("{name}/type"), "oneshot\n");
        let script = self.tree.script(format!("sv/{name}/up.sh"), &format!("#!/bin/sh\n{up}\n"));
        self.file(&format!("{name}/up"), &format!("{}\n", script.display()));
        for dep in deps {
            self.file(&format!("{name}/dependencies.d/{dep}"), "");
        }
    }
    fn longrun(&self, name: &str, run: &str, deps: &[&str]) {
        self.file(&format!("{name}/type"), "longrun\n");
        self.tree.script(format!("sv/{name}/run"), &format!("#!/bin/sh\n{run}\n"));
        for dep in deps {
            self.file(&format!("{name}/dependencies.d/{dep}"), "");
        }
    }
    fn bundle(&self, name: &str, members: &[&str]) {
        self.file(&format!("{name}/type"), "bundle\n");
        for member in members {
            self.file(&format!("{name}/contents.d/{member}"), "");
        }
    }
}

fn rc(tree: &TempTree, args: &[&str]) -> (i32, String, String) {
    let mut command = Command::new(ostler());
    command.args(args);
    layout(&mut command, tree);
    outcome(&command.output().unwrap())
}

fn layout(command: &mut Command, tree: &TempTree) {
    command
        .env("OSTLER_DEFS", tree.join("sv"))
        .env("OSTLER_RUNDIR", tree.join("run"))
        .env("OSTLER_SCANDIR", tree.join("scan"));
}

fn scanner(procs: &mut Processes, tree: &TempTree) -> u32 {
    tree.dir("scan");
    tree.dir("run");
    let pid = start_scanner(procs, &tree.join("scan"), &[], &tree.join("scanner.err"));
    wait_scanner(&tree.join("scan"));
    pid
}

#[test]
fn check_reports_every_problem_with_its_file_and_fix() {
    let tree = TempTree::new("rc-check");
    let defs = Defs { tree: &tree };
    defs.oneshot("a", "true", &["b"]);
    defs.oneshot("b", "true", &["c"]);
    defs.oneshot("c", "true", &["a"]);
    defs.oneshot("lonely", "true", &["ghost"]);
    defs.bundle("pack", &["lonely", "nobody"]);
    defs.file("pack/dependencies.d/a", "");
    defs.file("odd/type", "daemon\n");
    defs.file("lazy/type", "longrun\n");
    defs.file("lazy/run", "#!/bin/sh\nexec sleep 100\n");
    defs.file("empty/type", "oneshot\n");
    defs.longrun("prod", "exec sleep 100", &[]);
    defs.file("prod/producer-for", "cons\n");
    defs.longrun("cons", "exec cat", &[]);
    defs.oneshot("fine", "true", &[]);
    let sv = tree.join("sv");
    let (code, out, err) = rc(&tree, &["rc", "check", sv.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    let expect = [
        "dependency cycle: a → b → c → a; remove one of these dependencies".to_string(),
        format!(
            "{}: ghost is not defined; define {} or remove the name",
            sv.join("lonely/dependencies.d/ghost").display(),
            sv.join("ghost").display()
        ),
        format!("{}: nobody is not defined", sv.join("pack/contents.d/nobody").display()),
        format!(
            "{}: warning: pack is a bundle, and a bundle's dependencies are ignored (as s6-rc does)",
            sv.join("pack/dependencies.d/a").display()
        ),
        format!(
            "{}: \"daemon\" is not a service type; write longrun, oneshot or bundle",
            sv.join("odd/type").display()
        ),
        format!("{}: missing; a oneshot needs an up file", sv.join("empty/up").display()),
        format!(
            "{}: prod names cons in producer-for, but this file does not name prod; add it",
            sv.join("cons/consumer-for").display()
        ),
    ];
    for message in expect {
        assert!(err.contains(&message), "missing {message:?} in:\n{err}");
    }
    assert!(err.contains("6 problem(s)"), "{err}");
    // One message per root cause: the cycle is one problem, its other members consequences.
    assert_eq!(err.matches("dependency cycle").count(), 1, "{err}");
    assert_eq!(err.matches(" left out: it depends on ").count(), 2, "{err}");
    // A run without the execute bit is fine: its live copy is made executable, as s6-rc does.
    assert!(!err.contains("lazy"), "{err}");
    // The good ones are still usable: `fine` comes up though the tree is broken.
    tree.dir("run");
    tree.dir("scan");
    let (code, _, err) = rc(&tree, &["rc", "change", "-u", "fine"]);
    assert_eq!(code, 0, "{err}");
    let (_, active, _) = rc(&tree, &["rc", "list", "active"]);
    assert_eq!(active, "fine\n");
    let (code, _, err) = rc(&tree, &["rc", "change", "-u", "nosuch"]);
    assert_eq!(code, 3, "{err}");
    let (code, out, _) = rc(&tree, &["rc", "check", tree.dir("empty-defs").to_str().unwrap()]);
    assert_eq!(code, 0, "an empty directory has no problem: {out}");
}

/// A DAG of oneshots with known durations: each records when it starts and ends.
#[test]
fn a_dag_of_thirty_oneshots_starts_each_the_moment_its_dependencies_are_done() {
    let tree = TempTree::new("rc-dag");
    let defs = Defs { tree: &tree };
    // Layers of a fixed pseudo-random DAG: node i depends on up to 3 earlier nodes.
    let mut seed: u64 = 7;
    let mut next = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    let mut durations = Vec::new();
    let mut deps_of: Vec<Vec<usize>> = Vec::new();
    for i in 0..30 {
        let ms = 20 + next() % 120;
        let deps: Vec<usize> = if i == 0 { Vec::new() } else { (0..(next() % 4)).map(|_| next() % i).collect() };
        let names: Vec<String> = deps.iter().map(|d| format!("n{d:02}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        defs.oneshot(&format!("n{i:02}"), &format!("sleep {}", ms as f64 / 1000.0), &names);
        durations.push(ms as f64);
        deps_of.push(deps);
    }
    let all: Vec<String> = (0..30).map(|i| format!("n{i:02}")).collect();
    defs.bundle("all", &all.iter().map(String::as_str).collect::<Vec<_>>());
    tree.dir("run");
    tree.dir("scan");
    let (code, _, err) = rc(&tree, &["rc", "change", "-u", "all"]);
    assert_eq!(code, 0, "{err}");
    let entries = timeline::parse(&std::fs::read_to_string(tree.join("run/timeline")).unwrap());
    assert_eq!(entries.len(), 30);
    let get = |name: &str| entries.iter().find(|e| e.name == name).unwrap();
    // Each started after its last dependency was done, and promptly (sh's start-up under a
    // loaded machine included).
    let mut worst_lag: f64 = 0.0;
    for (i, deps) in deps_of.iter().enumerate() {
        let me = get(&format!("n{i:02}"));
        assert_eq!(me.result, "ok");
        let started = me.started.unwrap();
        let ready_deps = deps.iter().map(|d| get(&format!("n{d:02}")).ready.unwrap()).fold(me.asked, f64::max);
        assert!(
            started >= ready_deps - 0.01,
            "n{i:02} started at {started} before a dependency was done ({ready_deps})"
        );
        worst_lag = worst_lag.max(started - ready_deps);
    }
    assert!(worst_lag < 150.0, "a service waited {worst_lag:.1} ms after its last dependency");
    // The critical path (sum of durations along the longest chain) bounds the makespan.
    let mut finish = vec![0.0f64; 30];
    for i in 0..30 {
        let start = deps_of[i].iter().map(|&d| finish[d]).fold(0.0, f64::max);
        finish[i] = start + durations[i];
    }
    let critical = finish.iter().cloned().fold(0.0, f64::max);
    let first = entries.iter().map(|e| e.asked).fold(f64::MAX, f64::min);
    let last = entries.iter().filter_map(|e| e.ready).fold(0.0, f64::max);
    let makespan = last - first;
    eprintln!("30-oneshot DAG: makespan {makespan:.1} ms, critical path {critical:.1} ms (sleeps only)");
    assert!(makespan >= critical, "faster than the critical path? {makespan} < {critical}");
    assert!(makespan < critical * 1.5 + 400.0, "makespan {makespan:.1} ms vs critical path {critical:.1} ms");
    // Down mirrors it: everything goes, and nothing is left up.
    let (code, _, err) = rc(&tree, &["rc", "change", "-d", "all"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(rc(&tree, &["rc", "list"]).1, "");
}

#[test]
fn a_failure_stops_only_what_depends_on_it() {
    let tree = TempTree::new("rc-fail");
    let defs = Defs { tree: &tree };
    let marks = tree.join("marks");
    defs.oneshot("bad", "echo bad-ran >> MARKS; exit 3".replace("MARKS", marks.to_str().unwrap()).as_str(), &[]);
    defs.oneshot("after-bad", &format!("echo after-bad >> {}", marks.display()), &["bad"]);
    defs.oneshot("other", &format!("echo other >> {}", marks.display()), &[]);
    defs.oneshot("slow", "sleep 5", &[]);
    defs.file("slow/timeout-up", "300\n");
    defs.bundle("all", &["after-bad", "other"]);
    tree.dir("run");
    tree.dir("scan");
    let (code, _, err) = rc(&tree, &["rc", "change", "-u", "all"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("bad: failed: exit 3"), "{err}");
    let ran = std::fs::read_to_string(&marks).unwrap();
    assert!(ran.contains("bad-ran") && ran.contains("other") && !ran.contains("after-bad"), "{ran}");
    assert_eq!(rc(&tree, &["rc", "list"]).1, "other\n");
    let entries = timeline::parse(&std::fs::read_to_string(tree.join("run/timeline")).unwrap());
    assert_eq!(entries.iter().find(|e| e.name == "after-bad").unwrap().result, "skipped");
    let (code, _, err) = rc(&tree, &["rc", "change", "-u", "slow"]);
    assert_eq!(code, 2, "a timeout: {err}");
}

fn pid_of(tree: &TempTree, live: &str) -> u64 {
    status(&tree.join("run/sv").join(live)).map_or(0, |s| s.pid)
}

#[test]
fn longruns_log_companion_pipeline_and_essential_under_a_real_scanner() {
    let tree = TempTree::new("rc-longruns");
    let defs = Defs { tree: &tree };
    let logs = tree.join("logs");
    // webapp + nginx + default, as an s6-rc tree would have them; db is a oneshot.
    defs.oneshot("db", &format!("touch {}", tree.join("db-ran").display()), &[]);
    defs.longrun("webapp", "echo webapp says hello\nexec sleep 1000", &["db"]);
    defs.file("webapp/log", &format!("{}\n", logs.join("webapp").display()));
    defs.longrun("nginx", "echo >&3\nexec sleep 1000", &["webapp"]);
    defs.file("nginx/notification-fd", "3\n");
    // An s6-rc pipeline: srv → log, named.
    defs.longrun("webapp-srv", "echo from the producer\nexec sleep 1000", &[]);
    defs.file("webapp-srv/producer-for", "webapp-logger\n");
    defs.longrun("webapp-logger", &format!("exec cat >> {}", tree.join("pipeline.out").display()), &[]);
    defs.file("webapp-logger/consumer-for", "webapp-srv\n");
    defs.file("webapp-logger/pipeline-name", "webapp-pipe\n");
    defs.longrun("keeper", "exec sleep 1000", &[]);
    defs.file("keeper/flag-essential", "");
    defs.bundle("default", &["nginx", "webapp-pipe", "keeper"]);
    let mut procs = Processes::new();
    scanner(&mut procs, &tree);
    let (code, _, err) = rc(&tree, &["rc", "change", "-u", "-v", "default"]);
    assert_eq!(code, 0, "{err}");
    for name in ["webapp", "nginx", "webapp-srv", "keeper"] {
        assert!(is_up(&tree.join("run/sv").join(name)), "{name} not up: {err}");
    }
    assert!(is_up(&tree.join("run/sv/webapp/log")), "the log companion");
    assert!(is_up(&tree.join("run/sv/webapp-srv/log")), "the pipeline's consumer");
    assert!(tree.join("db-ran").exists());
    wait_until("webapp's line in its log", LONG, || {
        std::fs::read_to_string(logs.join("webapp/current")).is_ok_and(|t| t.contains("webapp says hello"))
    });
    wait_until("the pipeline", LONG, || {
        std::fs::read_to_string(tree.join("pipeline.out")).is_ok_and(|t| t.contains("from the producer"))
    });
    // The pipe outlives the consumer's restart.
    let logger = pid_of(&tree, "webapp-srv/log");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(logger as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
    wait_until("consumer back", LONG, || {
        pid_of(&tree, "webapp-srv/log") != logger && is_up(&tree.join("run/sv/webapp-srv/log"))
    });
    // -d keeps the essential service; -D takes it.
    let (code, _, err) = rc(&tree, &["rc", "change", "-d", "default"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("keeper is essential"), "{err}");
    assert!(is_up(&tree.join("run/sv/keeper")));
    assert!(!is_up(&tree.join("run/sv/nginx")) && !is_up(&tree.join("run/sv/webapp-srv")), "{err}");
    // webapp is not in `default`, only a dependency of nginx: as with s6-rc, it stays up.
    assert!(is_up(&tree.join("run/sv/webapp")));
    let (code, _, err) = rc(&tree, &["rc", "change", "-d", "db"]);
    assert_eq!(code, 0, "{err}");
    assert!(!is_up(&tree.join("run/sv/webapp")), "webapp depends on db: it goes first");
    let (code, _, err) = rc(&tree, &["rc", "change", "-D", "keeper"]);
    assert_eq!(code, 0, "{err}");
    assert!(!is_up(&tree.join("run/sv/keeper")));
}

#[test]
fn a_funnel_into_a_filter_into_a_sink_under_a_real_scanner() {
    // s6-rc's longer pipelines: a and b both feed `filter` (a funnel), which feeds `sink`.
    let tree = TempTree::new("rc-funnel");
    let defs = Defs { tree: &tree };
    let out = tree.join("sink.out");
    for name in ["a", "b"] {
        defs.longrun(name, &format!("echo from-{name}\nexec sleep 1000"), &[]);
        defs.file(&format!("{name}/producer-for"), "filter\n");
    }
    defs.longrun("filter", "while read -r line; do echo \"filtered:$line\"; done", &[]);
    defs.file("filter/consumer-for", "a\nb\n");
    defs.file("filter/producer-for", "sink\n");
    defs.longrun("sink", &format!("exec cat >> {}", out.display()), &[]);
    defs.file("sink/consumer-for", "filter\n");
    defs.file("sink/pipeline-name", "funnel\n");
    let (code, out_check, err) = rc(&tree, &["rc", "check", tree.join("sv").to_str().unwrap()]);
    assert_eq!(code, 0, "{out_check}{err}");
    let (_, members, _) = rc(&tree, &["rc", "list", "funnel"]);
    assert_eq!(members, "a\nb\nfilter\nsink\n", "the pipeline's bundle holds every member upstream");
    let mut procs = Processes::new();
    scanner(&mut procs, &tree);
    let (code, _, err) = rc(&tree, &["rc", "change", "-u", "funnel"]);
    assert_eq!(code, 0, "{err}");
    let live = tree.join("run/sv");
    // The funnel's members have their own directories and name the scanner's pipes; the sink,
    // fed by one producer, is the filter's log/ as a two-member pipeline's consumer is.
    assert_eq!(std::fs::read_to_string(live.join("a/ostler-pipes")).unwrap(), "stdout filter\n");
    assert_eq!(std::fs::read_to_string(live.join("b/ostler-pipes")).unwrap(), "stdout filter\n");
    assert_eq!(std::fs::read_to_string(live.join("filter/ostler-pipes")).unwrap(), "stdin filter\n");
    for dir in ["a", "b", "filter", "filter/log"] {
        assert!(is_up(&live.join(dir)), "{dir} not up: {err}");
    }
    let count = |what: &str| std::fs::read_to_string(&out).unwrap_or_default().lines().filter(|l| *l == what).count();
    wait_until("both producers through the filter", LONG, || {
        count("filtered:from-a") == 1 && count("filtered:from-b") == 1
    });
    // The pipe outlives the filter: killed, restarted, it reads what a writes next.
    let filter = pid_of(&tree, "filter");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(filter as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
    wait_until("filter back", LONG, || pid_of(&tree, "filter") != filter && is_up(&live.join("filter")));
    let a = pid_of(&tree, "a");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(a as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
    wait_until("a's second line through the new filter", LONG, || count("filtered:from-a") == 2);
    assert_eq!(count("filtered:from-b"), 1, "nothing repeated");
    // Going down, each consumer waits for its producers, so it reads their last words.
    let (_, plan, _) = rc(&tree, &["rc", "change", "-d", "-n", "funnel"]);
    assert_eq!(
        plan,
        "down a (longrun)\ndown b (longrun)\ndown filter (longrun) after a b\ndown sink (longrun) after filter\n"
    );
    let (code, _, err) = rc(&tree, &["rc", "change", "-d", "funnel"]);
    assert_eq!(code, 0, "{err}");
    for dir in ["a", "b", "filter", "filter/log"] {
        assert!(!is_up(&live.join(dir)), "{dir} still up");
    }
}

#[test]
fn a_pipeline_that_loops_is_refused_and_left_out() {
    let tree = TempTree::new("rc-pipe-loop");
    let defs = Defs { tree: &tree };
    for (name, next) in [("x", "y"), ("y", "z"), ("z", "x")] {
        defs.longrun(name, "exec cat", &[]);
        defs.file(&format!("{name}/producer-for"), &format!("{next}\n"));
        defs.file(&format!("{next}/consumer-for"), &format!("{name}\n"));
    }
    defs.longrun("fine", "exec sleep 1000", &[]);
    let sv = tree.join("sv");
    let (code, _, err) = rc(&tree, &["rc", "check", sv.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!(
            "{}: pipeline cycle: x → y → z → x; a pipeline must end in a consumer that feeds nobody",
            sv.join("x/producer-for").display()
        )),
        "{err}"
    );
    assert!(err.contains("3 problem(s)"), "one report per member: {err}");
    let (_, all, _) = rc(&tree, &["rc", "list", "all"]);
    assert!(all.contains("fine") && !all.contains('x'), "the loop is left out, the rest kept: {all}");
}

#[test]
fn reload_turns_a_pipeline_into_a_funnel_and_back() {
    let tree = TempTree::new("rc-reshape");
    let defs = Defs { tree: &tree };
    let out = tree.join("c.out");
    let producer = |name: &str| {
        defs.longrun(name, &format!("echo from-{name}\nexec sleep 1000"), &[]);
        defs.file(&format!("{name}/producer-for"), "c\n");
        defs.file(&format!("default/contents.d/{name}"), "");
    };
    producer("p");
    defs.longrun("c", &format!("exec cat >> {}", out.display()), &[]);
    defs.file("c/consumer-for", "p\n");
    defs.bundle("default", &["c"]);
    let mut procs = Processes::new();
    scanner(&mut procs, &tree);
    assert_eq!(rc(&tree, &["rc", "change", "-u", "default"]).0, 0);
    let live = tree.join("run/sv");
    let count = |what: &str| std::fs::read_to_string(&out).unwrap_or_default().lines().filter(|l| *l == what).count();
    assert!(is_up(&live.join("p/log")), "one producer: c is p's log/");
    wait_until("p through c", LONG, || count("from-p") == 1);
    // A second producer: c gets a directory and a pipe of its own, p writes to that pipe.
    producer("q");
    defs.file("c/consumer-for", "p\nq\n");
    assert_eq!(rc(&tree, &["rc", "reload", "-n"]).1, "restart c\nrestart p\nstart q\n");
    let (code, _, err) = rc(&tree, &["rc", "reload"]);
    assert_eq!(code, 0, "{err}");
    assert!(is_up(&live.join("c")) && is_up(&live.join("p")) && is_up(&live.join("q")), "{err}");
    assert!(!live.join("p/log").exists(), "c's old place under p is gone");
    assert_eq!(std::fs::read_to_string(live.join("p/ostler-pipes")).unwrap(), "stdout c\n");
    wait_until("p again and q, through c's own pipe", LONG, || count("from-p") == 2 && count("from-q") == 1);
    // And back: q goes, c is p's log/ again.
    std::fs::remove_dir_all(tree.join("sv/q")).unwrap();
    std::fs::remove_file(tree.join("sv/default/contents.d/q")).unwrap();
    defs.file("c/consumer-for", "p\n");
    let (code, _, err) = rc(&tree, &["rc", "reload"]);
    assert_eq!(code, 0, "{err}");
    assert!(is_up(&live.join("p/log")) && is_up(&live.join("p")), "{err}");
    assert!(!live.join("c").exists() && !tree.join("scan/c").exists(), "c's own directory is gone");
    assert!(!live.join("p/ostler-pipes").exists());
    wait_until("p through c, nested again", LONG, || count("from-p") == 3);
    assert!(!live.join("q").exists(), "a removed service's live directory goes");
    assert_eq!(rc(&tree, &["rc", "reload", "-n"]).1, "");
    // c goes altogether: p's log/ goes with it, and so does c's process.
    let cat = pid_of(&tree, "p/log");
    std::fs::remove_dir_all(tree.join("sv/c")).unwrap();
    std::fs::remove_file(tree.join("sv/p/producer-for")).unwrap();
    let (code, _, err) = rc(&tree, &["rc", "reload"]);
    assert_eq!(code, 0, "{err}");
    assert!(!live.join("p/log").exists() && is_up(&live.join("p")), "{err}");
    wait_until("c's process gone", LONG, || !alive(cat as i32));
    // And back: a consumer added to a running producer is its log/ again.
    defs.longrun("c", &format!("exec cat >> {}", out.display()), &[]);
    defs.file("c/consumer-for", "p\n");
    defs.file("p/producer-for", "c\n");
    let (code, _, err) = rc(&tree, &["rc", "reload"]);
    assert_eq!(code, 0, "{err}");
    assert!(is_up(&live.join("p/log")), "{err}");
    wait_until("p through the new c", LONG, || count("from-p") == 4);
}

#[test]
fn reload_adds_removes_and_restarts_only_what_changed() {
    let tree = TempTree::new("rc-reload");
    let defs = Defs { tree: &tree };
    defs.longrun("steady", "exec sleep 1000", &[]);
    defs.longrun("edited", "exec sleep 1000", &[]);
    defs.longrun("doomed", "exec sleep 1000", &[]);
    defs.bundle("default", &["steady", "edited", "doomed"]);
    let mut procs = Processes::new();
    scanner(&mut procs, &tree);
    assert_eq!(rc(&tree, &["rc", "change", "-u", "default"]).0, 0);
    let steady = pid_of(&tree, "steady");
    let edited = pid_of(&tree, "edited");
    // Change one, remove one, add one.
    tree.script("sv/edited/run", "#!/bin/sh\nexec sleep 2000\n");
    std::fs::remove_dir_all(tree.join("sv/doomed")).unwrap();
    std::fs::remove_file(tree.join("sv/default/contents.d/doomed")).unwrap();
    defs.longrun("newcomer", "exec sleep 1000", &[]);
    defs.file("default/contents.d/newcomer", "");
    let (_, plan, _) = rc(&tree, &["rc", "reload", "-n"]);
    assert_eq!(plan, "remove doomed\nrestart edited\nstart newcomer\n");
    let (code, _, err) = rc(&tree, &["rc", "reload"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(pid_of(&tree, "steady"), steady, "an untouched service was restarted");
    let now = status(&tree.join("run/sv/edited"));
    assert!(now.is_some_and(|s| s.pid != edited && s.is_up()), "before {edited}, now {now:?}; {err}");
    // Up means forked: the shell running `run` may not have reached its exec yet.
    let cmdline = || std::fs::read_to_string(format!("/proc/{}/cmdline", pid_of(&tree, "edited"))).unwrap_or_default();
    wait_until("edited to exec its program", LONG, || cmdline().contains("sleep"));
    assert!(cmdline().contains("2000"), "edited runs its new definition: {:?}", cmdline());
    assert!(is_up(&tree.join("run/sv/newcomer")));
    wait_until("doomed stopped", LONG, || !is_up(&tree.join("run/sv/doomed")));
    assert!(!tree.join("scan/doomed").exists());
    assert_eq!(rc(&tree, &["rc", "list"]).1, "edited\nnewcomer\nsteady\n");
    assert_eq!(rc(&tree, &["rc", "reload", "-n"]).1, "");
}

#[test]
fn service_front_end_round_trip() {
    let tree = TempTree::new("service");
    let defs = Defs { tree: &tree };
    defs.longrun("web", "exec sleep 1000", &[]);
    defs.oneshot("setup", "true", &[]);
    defs.bundle("default", &["setup"]);
    let mut procs = Processes::new();
    scanner(&mut procs, &tree);
    let service = |args: &[&str]| {
        let mut all = vec!["service"];
        all.extend_from_slice(args);
        rc(&tree, &all)
    };
    let (code, out, _) = service(&["web", "enable"]);
    assert_eq!((code, out.as_str()), (0, "web: enabled (starts at boot)\n"));
    assert!(tree.join("sv/default/contents.d/web").exists());
    let (code, _, err) = service(&["web", "start"]);
    assert_eq!(code, 0, "{err}");
    let (_, status, _) = service(&["web", "status"]);
    assert!(status.starts_with("up (pid "), "{status}");
    let (_, list, _) = service(&["list"]);
    let lines: Vec<&str> = list.lines().collect();
    assert!(lines[0].starts_with("Service") && lines[0].contains("Status") && lines[0].ends_with("OnBoot"), "{list}");
    let web = lines.iter().find(|l| l.starts_with("web ")).unwrap();
    assert!(web.contains("up (pid ") && web.ends_with("yes"), "{web}");
    let setup = lines.iter().find(|l| l.starts_with("setup ")).unwrap();
    assert!(setup.contains("down") && setup.ends_with("yes"), "{setup}");
    let before = pid_of(&tree, "web");
    assert_eq!(service(&["web", "restart"]).0, 0);
    wait_until("web restarted", LONG, || pid_of(&tree, "web") != before && is_up(&tree.join("run/sv/web")));
    assert_eq!(service(&["web", "stop"]).0, 0);
    assert!(service(&["web", "status"]).1.starts_with("down "));
    assert_eq!(service(&["web", "disable"]).1, "web: disabled (not started at boot)\n");
    assert!(!tree.join("sv/default/contents.d/web").exists());
    let (code, _, err) = service(&["nosuch", "enable"]);
    assert_eq!(code, 3, "{err}");
}

/// ostler installed as `s6-rc`: s6-rc's command line over ostler's live state, with its
/// selections, its output (longruns, then oneshots) and its exit codes.
#[test]
fn s6_rc_command_line_by_argv0() {
    let tree = TempTree::new("rc-s6-rc");
    let defs = Defs { tree: &tree };
    defs.oneshot("mount", "true", &[]);
    defs.oneshot("net", "true", &["mount"]);
    defs.longrun("web", "exec sleep 1000", &["net"]);
    defs.longrun("keeper", "exec sleep 1000", &[]);
    defs.file("keeper/flag-essential", "");
    defs.oneshot("slow", "exec sleep 5", &[]);
    defs.bundle("default", &["web", "keeper"]);
    let s6_rc = tree.join("s6-rc");
    std::os::unix::fs::symlink(ostler(), &s6_rc).unwrap();
    let mut procs = Processes::new();
    scanner(&mut procs, &tree);
    let run = |args: &[&str]| {
        let mut command = Command::new(&s6_rc);
        command.args(args);
        layout(&mut command, &tree);
        outcome(&command.output().unwrap())
    };
    // -n: the plan, nothing changed.
    let (code, out, err) = run(&["-n", "0", "-u", "change", "default"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("up web (longrun) after net"), "{out}");
    assert_eq!(run(&["-a", "list"]).1, "", "a dry run changes nothing");

    let (code, _, err) = run(&["-v", "2", "-u", "change", "default"]);
    assert_eq!(code, 0, "{err}");
    assert!(is_up(&tree.join("run/sv/web")) && is_up(&tree.join("run/sv/keeper")), "{err}");
    assert_eq!(run(&["-a", "list"]).1, "keeper\nweb\nmount\nnet\n", "longruns first, then oneshots");
    assert_eq!(run(&["-da", "list"]).1, "slow\n", "-d inverts the selection");
    assert_eq!(run(&["list", "default"]).1, "keeper\nweb\n", "a bundle stands for its atoms; no closure");
    assert_eq!(run(&["listall", "web"]).1, "web\nmount\nnet\n", "with what it depends on");
    assert_eq!(run(&["-d", "listall", "mount"]).1, "web\nmount\nnet\n", "with what depends on it");
    assert_eq!(run(&["-e", "-a", "list"]).1, "web\nmount\nnet\n", "-e leaves essential services out");
    assert_eq!(run(&["-D", "list", "slow"]).1, "web\nmount\nnet\n", "so does -D (down: the rest)");
    assert_eq!(run(&["diff"]).0, 0, "the supervisors agree with the live state");

    // Down: the essential one stays, with a warning; -D takes it.
    let (code, _, err) = run(&["-d", "change", "default", "mount"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("keeper is essential"), "{err}");
    assert_eq!(run(&["-a", "list"]).1, "keeper\n");
    assert!(!is_up(&tree.join("run/sv/web")));
    // A longrun its supervisor runs while the live state has it down: diff says +, exits 1.
    let (code, _, err) = rc(&tree, &["svc", "-u", tree.join("run/sv/web").to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    // svc only sends the letter: wait for the supervisor to have taken it.
    wait_status(&tree.join("run/sv/web"), "wanted up", |s| s.want_up);
    let (code, out, _) = run(&["diff"]);
    assert_eq!((code, out.as_str()), (1, "+web\n"));
    let (code, _, err) = rc(&tree, &["svc", "-d", tree.join("run/sv/web").to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(&["-D", "stop", "keeper"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(run(&["-a", "list"]).1, "");

    // Exit codes: 2 past -t, 3 for an unknown name, 100 for an unknown command or option.
    let (code, _, err) = run(&["-t", "300", "start", "slow"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(&["change", "nosuch"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("s6-rc: fatal: nosuch is not a recognized identifier"), "{err}");
    assert_eq!(run(&["frobnicate"]).0, 100);
    assert_eq!(run(&["-z", "list"]).0, 100);
    let (code, out, _) = run(&["help"]);
    assert_eq!(code, 0);
    assert!(out.contains("listall"), "{out}");
}

/// Stage 2 given two definition directories (OSTLER_DEFS=A:B) brings up a `default` that
/// spans both; afterwards `service`, `ostler rc list` and `rc reload` — told nothing — read
/// the same two (the live state names them), and `service enable` edits `default` where it is.
#[test]
fn stage2_service_and_reload_follow_the_same_definition_directories() {
    let tree = TempTree::new("rc-layers");
    let (system, site) = (tree.dir("system"), tree.dir("site"));
    tree.file("system/base/type", "oneshot\n");
    tree.file("system/base/up", format!("redirfd -w 1 {} echo based\n", tree.join("base-ran").display()));
    tree.file("system/default/type", "bundle\n");
    tree.file("system/default/contents", "# the site's service, from the other directory\nweb\n");
    tree.file("site/web/type", "longrun\n");
    tree.file("site/web/run", "#!/bin/sh\nexec sleep 1000\n");
    tree.file("site/web/dependencies.d/base", "");
    tree.file("site/extra/type", "longrun\n");
    tree.file("site/extra/run", "#!/bin/sh\nexec sleep 1000\n");
    let mut procs = Processes::new();
    scanner(&mut procs, &tree);
    let told_nothing = |args: &[&str]| {
        let mut command = Command::new(ostler());
        command.args(args).env("OSTLER_RUNDIR", tree.join("run")).env("OSTLER_SCANDIR", tree.join("scan"));
        command.env_remove("OSTLER_DEFS");
        outcome(&command.output().unwrap())
    };
    let mut stage2 = Command::new(ostler());
    stage2
        .args(["stage2", "--etc", tree.join("etc").to_str().unwrap()])
        .args(["--private", tree.join("run").to_str().unwrap(), "--scan", tree.join("scan").to_str().unwrap()])
        .env("OSTLER_DEFS", format!("{}:{}", system.display(), site.display()));
    let (code, _, err) = outcome(&stage2.output().unwrap());
    assert_eq!(code, 0, "{err}");
    assert!(is_up(&tree.join("run/sv/web")), "{err}");
    assert_eq!(std::fs::read_to_string(tree.join("base-ran")).unwrap(), "based\n", "execline's redirfd ran");

    assert_eq!(told_nothing(&["rc", "list", "active"]).1, "base\nweb\n");
    let (_, list, _) = told_nothing(&["service", "list"]);
    assert!(list.lines().any(|l| l.starts_with("extra ") && l.ends_with("no")), "{list}");
    let (code, out, err) = told_nothing(&["service", "extra", "enable"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(std::fs::read_to_string(system.join("default/contents")).unwrap().lines().last(), Some("extra"));
    let (code, out, err) = told_nothing(&["rc", "reload", "-n"]);
    assert_eq!((code, out.as_str()), (0, "start extra\n"), "{err}");
    let (code, _, err) = told_nothing(&["rc", "reload"]);
    assert_eq!(code, 0, "{err}");
    assert!(is_up(&tree.join("run/sv/extra")));
    // A name in both directories: refused, with both files named.
    tree.file("site/base/type", "oneshot\n");
    tree.file("site/base/up", "true\n");
    let (code, _, err) = told_nothing(&["rc", "check"]);
    assert_eq!(code, 1, "{err}");
    let message = format!(
        "{}: base is defined twice, here and in {}; remove or rename one of them",
        site.join("base").display(),
        system.join("base").display()
    );
    assert!(err.contains(&message), "{err}");
    assert!(err.contains("web left out: it depends on base, which has a problem (above)"), "{err}");
    assert!(err.contains("1 problem(s)"), "{err}");
    std::fs::remove_dir_all(site.join("base")).unwrap();
    let (code, _, err) = told_nothing(&["rc", "change", "-D", "web", "extra", "base"]);
    assert_eq!(code, 0, "{err}");
}
