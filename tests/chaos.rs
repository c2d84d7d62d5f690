//! A chaos run of the booted minimal image (issue 15): for a minute of guest time a script
//! kills services, their loggers and the shutdown daemon, writes garbage into control FIFOs and
//! settings files, fills /run and /var/log to ENOSPC, makes thousands of orphans for PID 1 to
//! reap, and moves service directories out of and back into the scan directory. Afterwards
//! PID 1 must still answer, the scanner rescan, no zombie stay, every default service be up
//! (its status naming a pid that runs in its control group), the catch-all log hold every line a
//! witness service wrote exactly once, and the disk be clean after `poweroff`.
//!
//! The image is booted from a copy of its disk (so there is a filesystem to check at the end);
//! the witness service and the chaos script are written into that copy with `debugfs` before
//! the boot. Needs QEMU and the static build, as tests/boot.rs does.

mod util;

use std::path::Path;
use std::time::{Duration, Instant};
use util::guest::*;
use util::{outcome, require, run, TempTree};

/// How long the chaos script runs, in guest seconds.
const CHAOS_SECONDS: u32 = 60;
/// From starting the chaos script to its summary (its loops end at the deadline, then it puts
/// things back; TCG is slow and the host is shared).
const CHAOS_DEADLINE: Duration = Duration::from_secs(240);
/// For services to come back, zombies to be reaped, the catch-all log to catch up.
const SETTLE: Duration = Duration::from_secs(60);

/// The witness: a longrun with no logger, so its standard output is the catch-all FIFO. It
/// writes `marker N` at a steady rate and keeps the last N in /dev/shm (a tmpfs the chaos does
/// not fill); once /dev/shm/marker.stop exists it writes no more and leaves its last N in
/// /dev/shm/marker.final. Each start is counted in /dev/shm/marker.starts (one is expected:
/// nothing in the chaos aims at it).
const MARKER_RUN: &str = r#"#!/bin/sh
# The chaos test's witness (tests/chaos.rs): numbered lines into the catch-all log.
echo start >> /dev/shm/marker.starts
n=$(cat /dev/shm/marker.last 2>/dev/null)
n=${n:-0}
while [ ! -e /dev/shm/marker.stop ]; do
    n=$((n + 1))
    echo "marker $n"
    echo "$n" > /dev/shm/marker.last
    sleep 0.05
done
echo "$n" > /dev/shm/marker.final
exec sleep 100000
"#;

/// The chaos script (busybox sh). Five loops run at once until the deadline; then everything
/// is put back (settings restored, space freed, services moved back, a rescan) and a summary
/// of what was done is printed as `chaos KEY VALUE` lines.
const CHAOS: &str = r#"#!/bin/sh
# Chaos for ostler's PID 1 (tests/chaos.rs). $1: seconds to run.
duration=${1:-60}
out=/dev/shm/chaos
rm -rf $out
mkdir -p $out/saved /run/chaos-out
end=$(( $(date +%s) + duration ))
# Every control letter of the supervisor and the scanner, and the shutdown daemon's action
# letters, are kept out of the garbage: it must be garbage, not a command.
letters='abqhkti12ypcPCKruUdDoOQxznNr'
garbage() { head -c "$1" /dev/urandom | tr -d "$letters"; }
running() { [ "$(date +%s)" -lt "$end" ]; }
pick() { shift $((RANDOM % $#)); echo "$1"; }
pid_of() { ostler svstat "/run/service/$1" 2>/dev/null | sed -n 's/^up (pid \([0-9]*\)).*/\1/p'; }
pause() { sleep "0.$((RANDOM % 5 + $1))"; }

# Killed: services, their loggers, the shutdown daemon (never getty-ttyS0, whose login shell
# runs this; never the witness; never the catch-all logger, which reads its FIFO with read(2)
# and so, like s6-log, loses what it read when killed before writing it).
victims='getty-tty1 syslogd syslogd/log klogd klogd/log ostler-shutdownd'
# Moved out of the scan directory and back (their control FIFOs get no garbage: with no
# supervisor to read them, opening one would wait).
movers='getty-tty1 klogd'
# Control FIFOs that get garbage: the rest of the services, and the scanner's.
controls='/run/service/syslogd/supervise/control /run/service/syslogd/log/supervise/control
/run/service/getty-ttyS0/supervise/control /run/service/marker/supervise/control
/run/service/ostler-log/supervise/control /run/service/ostler-shutdownd/supervise/control
/run/service/.s6-svscan/control'
# Settings files that get garbage, in the live directories of these services.
settings='notification-fd timeout-kill down-signal timeout-finish max-death-tally'
tampered='syslogd klogd getty-tty1'

for s in $tampered; do
    for f in $settings; do
        if [ -e /run/ostler/sv/$s/$f ]; then cp /run/ostler/sv/$s/$f $out/saved/$s.$f; fi
    done
done
restore() {
    for f in $settings; do
        if [ -e $out/saved/$1.$f ]; then cp $out/saved/$1.$f /run/ostler/sv/$1/$f; else rm -f /run/ostler/sv/$1/$f; fi
    done
}

kill_loop() {
    n=0
    while running; do
        v=$(pick $victims)
        p=$(pid_of "$v")
        if [ -n "$p" ] && kill -KILL "$p" 2>/dev/null; then
            n=$((n + 1))
            echo "$v $p" >> $out/kill.log
        fi
        pause 2
    done
    echo $n > $out/kills
}

garbage_loop() {
    n=0
    s=0
    while running; do
        for c in $controls; do
            garbage 64 > "$c" && n=$((n + 1))
        done
        garbage 64 > /run/service/ostler-shutdownd/fifo && n=$((n + 1))
        echo >> /run/service/ostler-shutdownd/fifo
        # A service's settings become garbage, it is killed so that it starts again on them,
        # then they are put back.
        v=$(pick $tampered)
        for f in $settings; do garbage 24 > /run/ostler/sv/$v/$f; done
        p=$(pid_of "$v")
        if [ -n "$p" ]; then kill -KILL "$p" 2>/dev/null; fi
        sleep 1.5
        restore "$v"
        s=$((s + 1))
        pause 1
    done
    echo $n > $out/garbage
    echo $s > $out/settings
}

fill_loop() {
    n=0
    while running; do
        for d in /run /var/log; do
            if dd if=/dev/zero of=$d/chaos-fill bs=65536 2> $out/dd.err; then
                echo "$d: no ENOSPC" >> $out/fill.log
            elif grep -q 'No space left' $out/dd.err; then
                n=$((n + 1))
                echo "$d full" >> $out/full.log
            fi
            # A death while the disk is full: the service restarts (a second later) with no
            # room for its supervisor's status file.
            v=$(pick $victims)
            p=$(pid_of "$v")
            if [ -n "$p" ] && kill -KILL "$p" 2>/dev/null; then echo "$v $p while $d is full" >> $out/kill.log; fi
            sleep 2
            rm -f $d/chaos-fill
            sleep 2
        done
    done
    echo $n > $out/fills
}

# At least 2000 orphans even on a slow host: past the deadline until then (a minute at most).
orphan_loop() {
    n=0
    while running || { [ $n -lt 2000 ] && [ "$(date +%s)" -lt $((end + 60)) ]; }; do
        for i in 1 2 3 4 5 6 7 8 9 10; do
            ( sleep 0.0$i & sleep 0 & : & : & )
        done
        n=$((n + 40))
    done
    echo $n > $out/orphans
}

move_loop() {
    n=0
    while running; do
        v=$(pick $movers)
        if mv /run/service/$v /run/chaos-out/$v; then
            # Rescan and prune: a service whose directory left runs on until a prune.
            ostler svscanctl -an /run/service
            pause 5
            mv /run/chaos-out/$v /run/service/$v
            ostler svscanctl -a /run/service
            n=$((n + 1))
        fi
        pause 5
    done
    echo $n > $out/moves
}

kill_loop & garbage_loop & fill_loop & orphan_loop & move_loop &
wait

# Put everything back.
for s in $tampered; do restore $s; done
rm -f /run/chaos-fill /var/log/chaos-fill
for v in $movers; do
    if [ -e /run/chaos-out/$v ]; then mv /run/chaos-out/$v /run/service/$v; fi
done
ostler svscanctl -a /run/service
for k in kills garbage settings fills orphans moves; do
    echo "chaos $k $(cat $out/$k 2>/dev/null || echo missing)"
done
echo "chaos full $(sort -u $out/full.log 2>/dev/null | tr '\n' ' ')"
echo "chaos end"
"#;

/// Checks run in the guest after the chaos, one word each (typed commands stay shorter than
/// the console's width, so their echo is never wrapped). /root/chaos-services lists the
/// default longruns and their loggers.
const CHECK: &str = r#"#!/bin/sh
# After the chaos (tests/chaos.rs).
case $1 in
zombies)
    for f in $(grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null); do
        d=${f%/status}
        echo "zombie ${d#/proc/} $(grep -E '^(Name|PPid):' $f | tr '\n' ' ')"
    done
    echo zombies-listed ;;
statuses)
    # Each service's status, and whether the pid it names runs in the service's group.
    for s in $(cat /root/chaos-services); do
        d=/run/service/$s
        line=$(ostler svstat $d 2>&1)
        p=$(echo "$line" | sed -n 's/^up (pid \([0-9]*\)).*/\1/p')
        g=$(cat $d/supervise/cgroup 2>/dev/null)
        if [ -n "$p" ] && grep -qx "$p" "$g/cgroup.procs" 2>/dev/null; then r=runs; else r="does not run"; fi
        echo "$s: $line [its pid $r]"
    done ;;
diagnose)
    d=/run/service/$2
    stat -c '%n %y %s' $d/supervise/*
    g=$(cat $d/supervise/cgroup 2>/dev/null)
    echo "control group $g:"
    for p in $(cat $g/cgroup.procs 2>/dev/null); do echo "  $p $(tr '\0' ' ' < /proc/$p/cmdline)"; done
    echo "its last lines in the catch-all log:"
    ostler logs /run/ostler/uncaught-logs | grep "svscan $2:" | tail -n 8 ;;
markers)
    ostler logs /run/ostler/uncaught-logs | sed -n 's/.* marker \([0-9][0-9]*\)$/\1/p' ;;
others)
    ostler logs /run/ostler/uncaught-logs | grep -v ' marker [0-9]*$' | tail -n 60 ;;
probe-add)
    mkdir -p /run/chaos-probe
    printf '#!/bin/sh\nexec sleep 100000\n' > /run/chaos-probe/run
    chmod 755 /run/chaos-probe/run
    ln -s /run/chaos-probe /run/service/chaos-probe
    ostler svscanctl -a /run/service
    echo svscanctl=$? ;;
probe-remove)
    rm /run/service/chaos-probe
    ostler svscanctl -an /run/service
    echo svscanctl=$? ;;
*)
    echo "usage: $0 zombies|statuses|diagnose NAME|markers|others|probe-add|probe-remove" >&2
    exit 100 ;;
esac
"#;

#[test]
fn minimal_image_survives_a_chaos_run() {
    let started = Instant::now();
    let tree = TempTree::new("chaos");
    let disk = tree.join("disk.ext4");
    let image = shared_image();
    std::fs::copy(image.join("disk.ext4"), &disk).unwrap_or_else(|e| panic!("unable to copy the disk image: {e}"));
    // The default longruns, each logger before its service.
    let mut services = Vec::new();
    for name in default_longruns() {
        if source_tree().join("skel/etc/ostler/sv").join(&name).join("log").exists() {
            services.push(format!("{name}/log"));
        }
        services.push(name);
    }
    put_into_disk(&tree, &disk, &services);
    let media = ["--disk".into(), disk.clone(), "--initramfs".into(), image.join("boot.cpio.lz4")];
    let mut guest = Guest::start(&media, "", tree);
    guest.console.expect("boot complete in ", BOOT);
    guest.login();

    // The witness comes up and its lines reach the catch-all log.
    let start = guest.sh("service marker start; ostler svstat /run/service/marker");
    assert!(start.contains("up (pid "), "the marker service did not start:\n{start}");
    guest.sh_until("the first marker lines in the catch-all log", COMMAND, "sh /root/chaos-check.sh markers", |out| {
        out.lines().count() >= 5
    });
    let ttys0 = guest.sh("ostler svstat /run/service/getty-ttyS0");
    let ttys0_pid = svstat_pid(&ttys0).unwrap_or_else(|| panic!("getty-ttyS0 has no pid: {ttys0:?}"));

    // The chaos, in the foreground; its summary comes back on the console.
    let chaos_started = Instant::now();
    let summary =
        sh_long(&mut guest, &format!("sh /root/chaos.sh {CHAOS_SECONDS} 2>&1 | grep '^chaos '"), CHAOS_DEADLINE);
    eprintln!("chaos: done in {:.0?}:\n{summary}", chaos_started.elapsed());
    let count = |key: &str| -> u64 {
        summary
            .lines()
            .find_map(|l| l.strip_prefix(&format!("chaos {key} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("the chaos script reported no {key}:\n{summary}"))
    };
    // The chaos happened: otherwise the checks below would prove nothing.
    assert!(count("kills") >= 10, "too few kills:\n{summary}");
    assert!(count("garbage") >= 30, "too little garbage written:\n{summary}");
    assert!(count("settings") >= 5, "settings files garbled too few times:\n{summary}");
    assert!(count("orphans") >= 2000, "too few orphans:\n{summary}");
    assert!(count("moves") >= 5, "too few moves out of the scan directory:\n{summary}");
    assert!(count("fills") >= 2, "the filesystems were not filled:\n{summary}");
    let full = summary.lines().find(|l| l.starts_with("chaos full ")).unwrap_or_default();
    assert!(full.contains("/run full") && full.contains("/var/log full"), "ENOSPC not reached on both:\n{summary}");

    // From here on each check that fails is noted and the others still run, so that one
    // failure does not hide another; the test fails at the end with all of them.
    let mut failures: Vec<String> = Vec::new();

    // PID 1 is ostler's scanner, alive.
    let pid1 = guest.sh("cat /proc/1/comm; tr '\\0' ' ' < /proc/1/cmdline");
    assert!(
        pid1.starts_with("ostler") && pid1.contains("svscan"),
        "PID 1 is not ostler's scanner after the chaos: {pid1:?}"
    );

    // No zombie is left once things settle.
    let zombies = "sh /root/chaos-check.sh zombies";
    if let Err(last) = poll(&mut guest, zombies, SETTLE, |out| out.trim() == "zombies-listed") {
        failures.push(format!("zombies are left {SETTLE:?} after the chaos:\n{last}"));
    }

    // Every default longrun, and its logger, is up again.
    let statuses = poll(&mut guest, "sh /root/chaos-check.sh statuses", SETTLE, |out| {
        out.lines().count() == services.len()
            && out.lines().all(|l| l.contains(": up (pid ") && l.ends_with("[its pid runs]"))
    });
    if let Err(last) = statuses {
        for service in &services {
            let prefix = format!("{service}: up (pid ");
            if last.lines().any(|l| l.starts_with(&prefix) && l.ends_with("[its pid runs]")) {
                continue;
            }
            let status = last.lines().find(|l| l.starts_with(&format!("{service}: "))).unwrap_or("(no status)");
            let detail = guest.sh(&format!("sh /root/chaos-check.sh diagnose {service}"));
            // A process in the service's group while its status says down, or a status naming
            // a pid that does not run: the status file is stale (its supervisor could not
            // write it, and never wrote it again).
            let running = detail.lines().skip_while(|l| !l.starts_with("control group ")).nth(1);
            let stale = match running {
                Some(line) if status.contains(": down ") && line.starts_with("  ") => {
                    "\nthe service runs (see its control group) although its status says down: supervise/status is stale"
                }
                _ if status.contains(": up (pid ") => {
                    "\nthe pid its status names is not in its control group: supervise/status is stale"
                }
                _ => "",
            };
            failures.push(format!("{service} is not up {SETTLE:?} after the chaos: {status}{stale}\n{detail}"));
        }
    }
    let ttys0 = guest.sh("ostler svstat /run/service/getty-ttyS0");
    if svstat_pid(&ttys0) != Some(ttys0_pid) {
        failures.push(format!("getty-ttyS0 (pid {ttys0_pid}, whose control FIFO got garbage) changed: {ttys0:?}"));
    }

    // The scanner answers and a rescan takes effect: a new service comes up, and goes when
    // removed.
    let added = guest.sh("sh /root/chaos-check.sh probe-add");
    assert!(added.ends_with("svscanctl=0"), "ostler svscanctl -a failed after the chaos:\n{added}");
    match poll(&mut guest, "ostler svstat /run/chaos-probe", COMMAND, |out| out.starts_with("up (pid ")) {
        Ok(probe) => {
            let probe_pid = svstat_pid(&probe).unwrap_or_else(|| panic!("no pid in {probe:?}"));
            let removed = guest.sh("sh /root/chaos-check.sh probe-remove");
            assert!(removed.ends_with("svscanctl=0"), "ostler svscanctl -an failed after the chaos:\n{removed}");
            let gone = format!("[ -e /proc/{probe_pid} ] && echo alive || echo gone");
            if poll(&mut guest, &gone, COMMAND, |out| out == "gone").is_err() {
                failures.push(format!("the probe service (pid {probe_pid}) still runs after its removal and a rescan"));
            }
        }
        Err(last) => failures.push(format!("a service added after the chaos did not come up after a rescan: {last}")),
    }

    // The witness: stopped, then every line it wrote must be in the catch-all log once, in
    // order.
    let last: u64 = guest
        .sh_until("the marker's final count", COMMAND, "touch /dev/shm/marker.stop; cat /dev/shm/marker.final", |out| {
            out.trim().parse::<u64>().is_ok()
        })
        .trim()
        .parse()
        .unwrap();
    let starts = guest.sh("wc -l < /dev/shm/marker.starts");
    let seen = poll(&mut guest, "sh /root/chaos-check.sh markers", SETTLE, |out| {
        out.lines().any(|l| l.trim() == last.to_string())
    })
    .unwrap_or_else(|seen| seen);
    let numbers: Vec<u64> = seen.lines().filter_map(|l| l.trim().parse().ok()).collect();
    match sequence_problem(&numbers, last) {
        Some(problem) => {
            let archives = guest.sh("ls -l /run/ostler/uncaught-logs");
            let context = guest.sh("sh /root/chaos-check.sh others");
            failures.push(format!(
                "the catch-all log does not hold the marker's lines 1..={last} exactly once each: {problem}\n\
                 (the marker started {starts} time(s))\nlogdir:\n{archives}\nother lines of the catch-all log:\n{context}"
            ));
        }
        None => eprintln!("chaos: {last} marker lines, all in the catch-all log once"),
    }
    if starts.trim() != "1" {
        failures.push(format!("the marker service, which the chaos never aims at, started {starts} times"));
    }

    guest.console.send("poweroff\n");
    let status = guest.wait_exit(POWEROFF);
    assert!(status.success(), "QEMU ended with {status} after poweroff; stderr:\n{}", guest.qemu_stderr());
    let fsck = run(require("e2fsck"), ["-fn".as_ref(), disk.as_os_str()]);
    let (code, out, err) = outcome(&fsck);
    if code != 0 {
        failures.push(format!("e2fsck -fn after the chaos and poweroff:\n{out}{err}"));
    }
    eprintln!("chaos: the whole test took {:.0?}", started.elapsed());
    assert!(failures.is_empty(), "{} check(s) failed after the chaos:\n\n{}", failures.len(), failures.join("\n\n"));
}

/// What is wrong with `numbers` as exactly 1..=last in order, if anything.
fn sequence_problem(numbers: &[u64], last: u64) -> Option<String> {
    let mut counts = std::collections::BTreeMap::new();
    for &n in numbers {
        *counts.entry(n).or_insert(0u32) += 1;
    }
    let missing: Vec<u64> = (1..=last).filter(|n| !counts.contains_key(n)).collect();
    let repeated: Vec<u64> = counts.iter().filter(|(_, &c)| c > 1).map(|(&n, _)| n).collect();
    let beyond: Vec<u64> = counts.keys().copied().filter(|&n| n == 0 || n > last).collect();
    let disorder = numbers.windows(2).position(|w| w[1] <= w[0]);
    if missing.is_empty() && repeated.is_empty() && beyond.is_empty() && disorder.is_none() {
        return None;
    }
    let few = |v: &[u64]| format!("{} {:?}", v.len(), &v[..v.len().min(20)]);
    Some(format!(
        "{} lines seen; missing {}; repeated {}; beyond the last {}; first out of order at {:?}",
        numbers.len(),
        few(&missing),
        few(&repeated),
        few(&beyond),
        disorder.map(|at| &numbers[at.saturating_sub(3)..(at + 4).min(numbers.len())])
    ))
}

/// Writes the witness service, the chaos and check scripts and the list of services to check
/// into the disk image with debugfs.
fn put_into_disk(tree: &TempTree, disk: &Path, services: &[String]) {
    let files = [
        (tree.script("marker-run", MARKER_RUN), "/etc/ostler/sv/marker/run"),
        (tree.file("marker-type", "longrun\n"), "/etc/ostler/sv/marker/type"),
        (tree.script("chaos.sh", CHAOS), "/root/chaos.sh"),
        (tree.script("chaos-check.sh", CHECK), "/root/chaos-check.sh"),
        (tree.file("chaos-services", services.join("\n") + "\n"), "/root/chaos-services"),
    ];
    let mut script = String::from("mkdir /etc/ostler/sv/marker\n");
    for (host, guest) in &files {
        script.push_str(&format!("write {} {guest}\n", host.display()));
    }
    let commands = tree.file("debugfs-commands", script);
    let output = run(require("debugfs"), ["-w".as_ref(), "-f".as_ref(), commands.as_os_str(), disk.as_os_str()]);
    let (code, out, err) = outcome(&output);
    assert_eq!(code, 0, "debugfs could not write into the disk image:\n{out}{err}");
    // debugfs reports a failed command on its output and still exits 0.
    let listing = run(require("debugfs"), ["-R".as_ref(), "ls -l /etc/ostler/sv/marker".as_ref(), disk.as_os_str()]);
    let (_, listed, _) = outcome(&listing);
    assert!(
        listed.contains(" run") && listed.contains(" type"),
        "the marker service is not on the disk:\n{listed}\n{out}{err}"
    );
}

/// Runs `command` until its output satisfies `accept` or `deadline` passes: the accepted
/// output, or the last one.
fn poll(guest: &mut Guest, command: &str, deadline: Duration, accept: impl Fn(&str) -> bool) -> Result<String, String> {
    let end = Instant::now() + deadline;
    loop {
        let output = guest.sh(command);
        if accept(&output) {
            return Ok(output);
        }
        if Instant::now() >= end {
            return Err(output);
        }
    }
}

/// As `Guest::sh`, for one long command: its output up to the next prompt, after `deadline`
/// at most.
fn sh_long(guest: &mut Guest, command: &str, deadline: Duration) -> String {
    guest.console.skip_seen();
    guest.console.send(&format!("{command}\n"));
    let text = guest.console.expect(PROMPT, deadline).replace('\r', "");
    let lines: Vec<&str> = text.lines().collect();
    match lines.iter().position(|l| l.contains(command)) {
        Some(at) => lines[at + 1..].join("\n").trim_end().to_string(),
        None => text.trim_end().to_string(),
    }
}
