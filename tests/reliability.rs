//! The scanner and the supervisor under trouble: broken services, many services, orphans,
//! killed loggers, killed supervisors, garbage settings. Each test starts its own scanner in
//! a temporary tree and stops everything it started, by pid.

mod util;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use util::*;

const LONG: Duration = Duration::from_secs(20);

fn svscanctl(scan: &Path, letters: &str) {
    let (code, _, err) = cmd(Command::new(ostler()).arg("svscanctl").arg(format!("-{letters}")).arg(scan));
    assert_eq!(code, 0, "svscanctl -{letters}: {err}");
}

/// Lines a file has, or 0.
fn line_count(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |s| s.lines().count())
}

#[test]
fn broken_services_are_reported_paced_and_harm_no_other() {
    let tree = TempTree::new("broken");
    let scan = tree.dir("scan");
    let healthy = tree.service("scan/healthy", "#!/bin/sh\nexec sleep 1000");
    let missing = tree.dir("scan/missing");
    let not_executable = tree.file("scan/noexec/run", "#!/bin/sh\nexec sleep 1000");
    let not_executable = not_executable.parent().unwrap().to_path_buf();
    let counter = tree.join("crashes");
    let crashing = tree.service("scan/crashing", &format!("#!/bin/sh\necho x >> {}\nexit 1", counter.display()));
    // A service directory the supervisor cannot even set up: `supervise` is a file.
    let unusable = tree.service("scan/unusable", "#!/bin/sh\nexec sleep 1000");
    tree.file("scan/unusable/supervise", "not a directory");
    let mut procs = Processes::new();
    let err = tree.join("err");
    start_scanner(&mut procs, &scan, &[], &err);
    wait_until("healthy up", LONG, || is_up(&healthy));
    let healthy_pid = status_pid(&healthy);
    let started = Instant::now();
    wait_until("three crashes", LONG, || line_count(&counter) >= 3);
    // Crash loop: one start a second (s6's pacing), so 3 starts take at least 2 seconds.
    assert!(started.elapsed() >= Duration::from_millis(1800), "restarts not paced: {:?}", started.elapsed());
    let messages = std::fs::read_to_string(&err).unwrap();
    assert!(messages.contains("missing/run") && messages.contains("No such file"), "{messages}");
    assert!(messages.contains("noexec/run") && messages.contains("Permission denied"), "{messages}");
    assert!(messages.contains("unusable"), "{messages}");
    // The status of the unstartable ones says: down, want up. Their start does not wait for
    // the exec, so, as under s6-supervise, the child that could not exec exited 127.
    for dir in [&missing, &not_executable] {
        let status = status(dir).expect("a status is written even when run cannot start");
        assert!(!status.is_up() && status.want_up && status.pid == 0, "{}: {status:?}", dir.display());
        assert!(supervised(dir));
    }
    // s6's svstat agrees.
    let (_, line, _) = cmd(Command::new(require("s6-svstat")).arg(&missing));
    assert!(line.starts_with("down (exitcode 127)") && line.contains("want up"), "{line}");
    // Retried every 10 seconds, not at the crash loop's pace: one message so far for each.
    let reports = messages.matches("missing/run").count();
    assert_eq!(reports, 1, "{messages}");
    // Fixing the service and sending `u` starts it at once, without waiting for the retry.
    tree.script("scan/missing/run", "#!/bin/sh\nexec sleep 1000");
    assert_eq!(cmd(Command::new(ostler()).args(["svc", "-u"]).arg(&missing)).0, 0);
    wait_until("fixed service up", Duration::from_secs(3), || is_up(&missing));
    assert_eq!(status_pid(&healthy), healthy_pid, "the healthy service was disturbed");
    let crash = status(&crashing).unwrap();
    assert!(crash.want_up && supervised(&crashing), "{crash:?}");
    assert!(!supervised(&unusable));
}

#[test]
fn two_hundred_services_from_one_rescan_and_a_prune_of_half() {
    let tree = TempTree::new("many");
    let scan = tree.dir("scan");
    let stage = tree.dir("stage");
    let mut procs = Processes::new();
    start_scanner(&mut procs, &scan, &[], &tree.join("err"));
    wait_scanner(&scan);
    for i in 0..200 {
        tree.service(&format!("stage/s{i}"), "#!/bin/sh\nexec sleep 1000");
        std::fs::rename(stage.join(format!("s{i}")), scan.join(format!("s{i}"))).unwrap();
    }
    svscanctl(&scan, "a");
    let services: Vec<_> = (0..200).map(|i| scan.join(format!("s{i}"))).collect();
    wait_until("200 services up", LONG, || services.iter().all(|s| is_up(s)));
    let pids: Vec<u64> = services.iter().map(|s| status_pid(s)).collect();
    // Remove the odd ones from the scan directory (moving them out) and prune.
    let gone = tree.dir("gone");
    for i in (1..200).step_by(2) {
        std::fs::rename(scan.join(format!("s{i}")), gone.join(format!("s{i}"))).unwrap();
    }
    // s6's own client drives the prune.
    assert_eq!(cmd(Command::new(require("s6-svscanctl")).arg("-an").arg(&scan)).0, 0);
    for i in (1..200).step_by(2) {
        let dir = gone.join(format!("s{i}"));
        wait_until(&format!("s{i} stopped"), LONG, || !supervised(&dir));
        assert!(!alive(pids[i] as i32), "s{i}'s run is still alive");
    }
    for i in (0..200).step_by(2) {
        assert!(supervised(&services[i]), "s{i} lost its supervisor");
        assert_eq!(status_pid(&services[i]), pids[i], "s{i} was restarted");
    }
}

#[test]
fn orphans_of_a_service_are_reaped() {
    let tree = TempTree::new("orphans");
    let scan = tree.dir("scan");
    // 100 background children, then run exits: they become orphans of the scanner.
    let service =
        tree.service("scan/spawner", "#!/bin/sh\ni=0\nwhile [ $i -lt 100 ]; do sleep 0.3 & i=$((i+1)); done\nexit 0");
    tree.file("scan/spawner/down", "");
    let mut procs = Processes::new();
    let scanner = start_scanner(&mut procs, &scan, &[], &tree.join("err"));
    wait_until("supervised", LONG, || listening(&service));
    assert_eq!(cmd(Command::new(ostler()).args(["svc", "-o"]).arg(&service)).0, 0);
    // run has exited once its death is in the tally.
    let tally = service.join("supervise/death_tally");
    wait_until("run done", LONG, || std::fs::metadata(&tally).is_ok_and(|m| m.len() >= 14));
    // The sleeps end within 0.3 s; each is then a zombie until the scanner reaps it.
    wait_until("the orphans to finish", LONG, || children_of(scanner).is_empty());
    assert!(zombies_of(scanner).is_empty());
}

fn zombies_of(parent: u32) -> Vec<i32> {
    children_of(parent).into_iter().filter(|(_, state)| *state == 'Z').map(|(pid, _)| pid).collect()
}

#[test]
fn a_logger_killed_fifty_times_loses_no_line() {
    let tree = TempTree::new("logger");
    let scan = tree.dir("scan");
    let out = tree.join("out");
    let (bursts, burst) = (50, 2000);
    let total = bursts * burst;
    let done = tree.join("writer-done");
    // The writer writes burst N once the test creates go-N. The test kills the logger only when
    // every line released so far is in the file — then no line is inside `cat` itself (read but
    // not yet written), which no pipe can save — and releases the next burst right after the
    // kill, so it is written while the logger is dead and restarting (a second: s6's pacing for
    // a service that never notified). What this test checks is the pipe: all of it must come
    // through.
    let writer = tree.service(
        "scan/writer",
        &format!(
            "#!/bin/sh\ni=0\nb=0\nwhile [ $b -lt {bursts} ]; do\n  while [ ! -e {go}-$b ]; do sleep 0.01; done\n  j=0\n  while [ $j -lt {burst} ]; do i=$((i+1)); j=$((j+1)); echo $i; done\n  b=$((b+1))\ndone\n: > {}\nexec sleep 1000",
            done.display(),
            go = tree.join("go").display()
        ),
    );
    let logger = tree.service("scan/writer/log", &format!("#!/bin/sh\nexec cat >> {}", out.display()));
    let mut procs = Processes::new();
    start_scanner(&mut procs, &scan, &[], &tree.join("err"));
    wait_until("pair up", LONG, || is_up(&writer) && is_up(&logger));
    let mut previous = 0;
    for released in 0..bursts {
        let pid = wait_up(&logger, previous, LONG);
        wait_until("the logger to catch up", Duration::from_secs(60), || line_count(&out) == released * burst);
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
        // Only once it is dead: a killed reader that the scheduler has not run yet can still
        // take what the writer puts in the pipe meanwhile (pipe_read finds data before it
        // notices the signal) and die with it — the kernel's doing, which no supervisor can
        // prevent, and what made this test fail on a loaded machine.
        wait_until("the killed logger to be dead", LONG, || !alive(pid as i32));
        std::fs::write(tree.join(format!("go-{released}")), "").unwrap();
        previous = pid;
    }
    wait_until("the writer to finish", Duration::from_secs(180), || done.exists());
    // What is still in the pipe reaches the file within moments; a lost line never does.
    let settle = Instant::now() + Duration::from_secs(5);
    while line_count(&out) < total && Instant::now() < settle {
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = std::fs::read_to_string(&out).unwrap();
    let numbers: Vec<usize> =
        text.lines().map(|l| l.parse().unwrap_or_else(|_| panic!("garbled line {l:?}"))).collect();
    let seen: std::collections::HashSet<usize> = numbers.iter().copied().collect();
    let missing: Vec<usize> = (1..=total).filter(|n| !seen.contains(n)).collect();
    assert!(missing.is_empty(), "{} lines lost, first {:?}", missing.len(), &missing[..missing.len().min(10)]);
    assert_eq!(numbers.len(), total, "lines doubled");
    assert!(numbers.iter().enumerate().all(|(i, n)| *n == i + 1), "lines out of order");
}

#[test]
fn a_killed_supervisor_process_is_restarted_and_so_is_its_service() {
    // One supervisor process per service (ostler's own, as `s6-supervise`): kill -9 it.
    let tree = TempTree::new("killed-supervisor");
    let bin = tree.dir("bin");
    std::os::unix::fs::symlink(ostler(), bin.join("s6-supervise")).unwrap();
    let scan = tree.dir("scan");
    let service = tree.service("scan/a", "#!/bin/sh\nexec sleep 1000");
    let mut procs = Processes::new();
    let supervisor = bin.join("s6-supervise");
    let scanner = start_scanner(&mut procs, &scan, &["--supervisor", supervisor.to_str().unwrap()], &tree.join("err"));
    wait_until("up", LONG, || is_up(&service));
    let old_run = status_pid(&service);
    procs.watch(old_run as u32);
    let old_supervisor =
        children_of(scanner).into_iter().map(|(pid, _)| pid).find(|pid| *pid as u64 != old_run).unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(old_supervisor), nix::sys::signal::Signal::SIGKILL).unwrap();
    // s6-svscan's behaviour: a new supervisor a second later, which starts the service anew
    // (the old run carries on unsupervised, as under s6).
    let new_run = wait_up(&service, old_run, LONG);
    assert_ne!(new_run, old_run);
    procs.watch(new_run as u32);
    let supervisors: Vec<i32> =
        children_of(scanner).into_iter().map(|(pid, _)| pid).filter(|p| *p != old_supervisor).collect();
    assert!(!supervisors.is_empty(), "no new supervisor");
    assert!(supervised(&service));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(old_run as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
}

#[test]
fn garbage_settings_are_reported_and_supervision_goes_on() {
    let tree = TempTree::new("garbage");
    let scan = tree.dir("scan");
    let service = tree.service("scan/g", "#!/bin/sh\nexec sleep 1000");
    tree.file("scan/g/notification-fd", "x");
    tree.file("scan/g/timeout-kill", "-5");
    tree.file("scan/g/timeout-finish", vec![b'9'; 1 << 20]);
    tree.file("scan/g/down-signal", [0xffu8, 0, 0xfe, b'\n']);
    tree.file("scan/g/max-death-tally", [0u8; 64]);
    let mut procs = Processes::new();
    let err = tree.join("err");
    start_scanner(&mut procs, &scan, &[], &err);
    wait_until("up despite garbage", LONG, || is_up(&service));
    let first = status_pid(&service);
    // Stop and restart it: the settings are read again at each, and nothing dies of them.
    assert_eq!(cmd(Command::new(ostler()).args(["svc", "-wd", "-T", "5000", "-d"]).arg(&service)).0, 0);
    assert_eq!(cmd(Command::new(ostler()).args(["svc", "-wu", "-T", "5000", "-u"]).arg(&service)).0, 0);
    assert_ne!(wait_up(&service, first, LONG), first);
    let messages = std::fs::read_to_string(&err).unwrap();
    for (file, detail) in [
        ("notification-fd", "\"x\""),
        ("timeout-kill", "\"-5\""),
        ("timeout-finish", "longer than"),
        ("down-signal", "not text"),
        ("max-death-tally", "is not a whole number"),
    ] {
        assert!(
            messages.lines().any(|l| l.contains(&format!("g/{file}")) && l.contains(detail)),
            "no message about {file} ({detail}) in:\n{messages}"
        );
    }
}

#[test]
fn a_directory_moved_out_and_pruned_gets_its_last_status_where_it_went() {
    let tree = TempTree::new("moved");
    let scan = tree.dir("scan");
    let started = tree.join("started");
    let service = tree.service("scan/web", &format!("#!/bin/sh\ntouch {}\nexec sleep 1000", started.display()));
    let mut procs = Processes::new();
    start_scanner(&mut procs, &scan, &[], &tree.join("err"));
    let pid = wait_up(&service, 0, LONG);
    // Up is said at the start, before the exec (as s6 does): wait for run itself.
    wait_until("run running", LONG, || started.exists());
    let moved = tree.join("moved-web");
    std::fs::rename(&service, &moved).unwrap();
    svscanctl(&scan, "an");
    // s6-supervise writes from inside the directory, wherever it went: so do we.
    wait_until("the moved directory says down", LONG, || status(&moved).is_some_and(|s| !s.is_up() && s.pid == 0));
    assert!(!alive(pid as i32), "run {pid} still running after the prune");
    wait_until("the supervisor lets go of its lock", LONG, || !supervised(&moved));
    let messages = std::fs::read_to_string(tree.join("err")).unwrap();
    assert!(!messages.contains("status.new"), "a write under the old path: {messages}");
}

#[test]
fn a_status_that_could_not_be_written_is_written_once_there_is_room() {
    assert!(nix::unistd::geteuid().is_root(), "this test mounts a small tmpfs: run it as root (CI does)");
    let unshare = require("unshare");
    let tree = TempTree::new("full");
    // In a private mount namespace: a 512 KiB tmpfs holds the scan directory; it is filled,
    // the service killed (its restart's status cannot be written), then emptied again.
    let script = r#"
set -u
dir=$1; ostler=$2
mount -t tmpfs -o size=512k full "$dir" || exit 90
mkdir -p "$dir/scan/web"
printf '#!/bin/sh\nexec sleep 1000\n' > "$dir/scan/web/run"; chmod +x "$dir/scan/web/run"
"$ostler" svscan "$dir/scan" 2>"$dir/../err" & scanner=$!
for i in $(seq 100); do "$ostler" svstat "$dir/scan/web" 2>/dev/null | grep -q '^up' && break; sleep 0.05; done
first=$("$ostler" svstat "$dir/scan/web")
dd if=/dev/zero of="$dir/filler" bs=4k 2>/dev/null
"$ostler" svc -k "$dir/scan/web"
sleep 1.5
rm "$dir/filler"
sleep 2.5
echo "first: $first"
echo "last: $("$ostler" svstat "$dir/scan/web")"
echo "running: $(for p in /proc/[0-9]*; do [ "$(cat $p/cmdline 2>/dev/null | tr '\0' ' ')" = "sleep 1000 " ] && [ "$(awk '{print $4}' $p/stat)" = "$scanner" ] && echo ${p#/proc/}; done)"
kill $scanner; wait $scanner
umount "$dir"
"#;
    let dir = tree.dir("mnt");
    let (code, out, err) = cmd(Command::new(unshare)
        .args(["--mount", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(&dir)
        .arg(ostler()));
    assert_eq!(code, 0, "{out}\n{err}");
    let field = |name: &str| out.lines().find_map(|l| l.strip_prefix(name)).unwrap_or_default().trim().to_string();
    let pid_in = |line: &str| line.split("(pid ").nth(1).and_then(|r| r.split(')').next()).map(str::to_string);
    let (first, last, running) = (field("first:"), field("last:"), field("running:"));
    let messages = std::fs::read_to_string(tree.join("err")).unwrap_or_default();
    assert!(pid_in(&first).is_some() && last.starts_with("up"), "{out}\n{messages}");
    assert_ne!(pid_in(&first), pid_in(&last), "the status still names the killed run: {out}\n{messages}");
    assert!(
        running.split_whitespace().any(|p| Some(p.to_string()) == pid_in(&last)),
        "the status names a run that is not running: {out}\n{messages}"
    );
    assert!(messages.contains("No space left") && messages.contains("trying again"), "{messages}");
}

#[test]
fn a_full_stderr_fifo_never_stops_the_scanner() {
    use std::os::unix::fs::OpenOptionsExt;
    let tree = TempTree::new("fullfifo");
    let scan = tree.dir("scan");
    let web = tree.service("scan/web", "#!/bin/sh\nexec sleep 1000");
    let fifo = tree.join("catch-all");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    // A reader that never reads (a stuck catch-all logger), and the FIFO filled to the brim.
    let reader = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&fifo).unwrap();
    let mut filler = std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(&fifo).unwrap();
    while std::io::Write::write(&mut filler, &[b'x'; 4096]).is_ok() {}
    // The scanner's stderr is that FIFO, blocking, as PID 1's is the catch-all's.
    let stderr = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    let mut procs = Processes::new();
    let mut command = Command::new(ostler());
    command.arg("svscan").arg(&scan).stderr(stderr);
    procs.spawn(command);
    let pid = wait_up(&web, 0, LONG);
    // Something to say: a service whose settings are garbage, crashing.
    let noisy = tree.service("scan/noisy", "#!/bin/sh\nexit 1");
    tree.file("scan/noisy/timeout-kill", "garbage\n");
    svscanctl(&scan, "a");
    wait_until("noisy supervised", LONG, || listening(&noisy));
    std::thread::sleep(Duration::from_millis(1500));
    // The scanner still does its work: a killed service comes back, a rescan is heard.
    assert_eq!(cmd(Command::new(ostler()).args(["svc", "-k"]).arg(&web)).0, 0);
    let again = wait_up(&web, pid, LONG);
    assert_ne!(again, pid);
    let late = tree.service("scan/late", "#!/bin/sh\nexec sleep 1000");
    svscanctl(&scan, "a");
    wait_up(&late, 0, LONG);
    drop((reader, filler));
}
