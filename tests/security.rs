//! What PID 1 exposes to users (issue 15, part 3; docs/security.md): the minimal image booted
//! under QEMU, an unprivileged user `mallory` added to it, and from that user's shell:
//!
//! - no service can be stopped, started or signalled (svc, the control FIFO, kill);
//! - no log can be read until the admin gives it (group `log`), and then only read;
//! - no shutdown can be asked for (the commands, the daemon's FIFO, PID 1's signals);
//! - nothing can be planted where root-owned code writes: every runtime directory refuses a
//!   new entry, and a link planted under a listener's name in a fifodir opened to the user's
//!   group is not written through by PID 1;
//! - no FIFO of PID 1's can be written by path, and the one a user's own service writes (the
//!   catch-all, its stdout) costs PID 1 and the catch-all logger no memory however much goes in.
//!
//! One boot for all (TCG is slow); each step says what failed. Needs the static musl build
//! (`cargo build --release --target x86_64-unknown-linux-musl`) and qemu/setup's QEMU and kernel.

mod util;

use std::time::Duration;
use util::guest::*;

/// The unprivileged user the test adds to the guest.
const USER: &str = "mallory";
/// A service of root's the test adds, reachable without /run/ostler (a real directory in the
/// scan directory, like the early services), so what refuses the user is its own modes.
const SERVICE: &str = "/run/service/sectest";
/// Bytes the user's service pours into the catch-all FIFO.
const FLOOD_BYTES: u64 = 50_000_000;
/// How much PID 1's private memory may grow meanwhile (it never reads that FIFO).
const PID1_GROWTH_KIB: u64 = 512;
/// How much the catch-all logger's two processes may grow (8 KiB reads, at most a 1 MiB batch).
const CATCH_ALL_GROWTH_KIB: u64 = 4096;
/// The pour, under TCG.
const FLOOD_TIME: Duration = Duration::from_secs(600);

/// Runs `command` in root's shell; returns its exit code and output (stdout and stderr). The
/// markers are typed split (`@@''begin`), so the echo of a long, wrapped command line never
/// passes for them.
fn root(guest: &mut Guest, command: &str) -> (i32, String) {
    let text = guest.sh(&format!("echo @@''begin; {command}; echo @@''end $?"));
    let Some((_, rest)) = text.split_once("@@begin\n") else { panic!("no output markers around `{command}`:\n{text}") };
    let Some((output, code)) = rest.rsplit_once("@@end ") else { panic!("`{command}` did not finish:\n{text}") };
    let code = code.trim().parse().unwrap_or_else(|_| panic!("no exit code after `{command}`:\n{text}"));
    (code, output.trim_end().to_string())
}

/// Runs `command` as the user (a fresh `su`, so /etc/group is read again).
fn user(guest: &mut Guest, command: &str) -> (i32, String) {
    root(guest, &format!("su {USER} -c '{}'", command.replace('\'', r"'\''")))
}

/// The output of a root command that must succeed.
fn root_ok(guest: &mut Guest, command: &str) -> String {
    let (code, output) = root(guest, command);
    assert_eq!(code, 0, "`{command}` failed as root:\n{output}");
    output
}

/// The pid `ostler svstat` gives for a service that is up.
fn pid_of(guest: &mut Guest, service: &str) -> u32 {
    let status = root_ok(guest, &format!("ostler svstat {service}"));
    svstat_pid(&status).unwrap_or_else(|| panic!("{service} is not up: {status}"))
}

/// The private (anonymous) resident memory of a process, in KiB.
fn rss_anon_kib(guest: &mut Guest, pid: u32) -> u64 {
    let line = root_ok(guest, &format!("grep RssAnon /proc/{pid}/status"));
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("pid {pid}: {line}"))
}

#[test]
fn an_unprivileged_user_cannot_control_read_stop_or_fill_what_pid_1_runs() {
    let started = std::time::Instant::now();
    let mut guest = Guest::boot("security", "quiet");
    guest.login();
    eprintln!("guest: logged in {:.1} s after QEMU started", started.elapsed().as_secs_f64());

    // The user, and root's test service (whose event/ the admin opens to the user's group
    // later). busybox has no adduser in this image: /etc is written directly.
    root_ok(
        &mut guest,
        &format!(
            "echo '{USER}:x:1000:1000:test user:/tmp:/bin/sh' >> /etc/passwd && echo '{USER}:x:1000:' >> /etc/group"
        ),
    );
    assert_eq!(user(&mut guest, "id -u").1, "1000", "su to the test user does not work");
    root_ok(
        &mut guest,
        &format!(
            "mkdir {SERVICE} && printf '#!/bin/sh\\nexec sleep 1000000\\n' > {SERVICE}/run && chmod 755 {SERVICE}/run \
             && ostler svscanctl -a /run/service"
        ),
    );
    guest.sh_until("the test service up", COMMAND, &format!("ostler svstat {SERVICE}"), |s| s.starts_with("up "));

    cannot_control_a_root_service(&mut guest);
    cannot_read_logs_until_given(&mut guest);
    cannot_ask_for_a_shutdown(&mut guest);
    cannot_plant_a_link_pid_1_writes_through(&mut guest);
    cannot_fill_pid_1_through_a_fifo(&mut guest);

    // Nothing the user did started a shutdown: the daemon never said a word, and it is up.
    assert!(
        !guest.console.saw("taking the services down") && !guest.console.saw("going down"),
        "a shutdown was started or announced after the user's attempts:\n{}",
        guest.console.tail(3000)
    );
    assert!(root_ok(&mut guest, "ostler svstat /run/service/ostler-shutdownd").starts_with("up "));
    guest.console.send("poweroff\n");
    let status = guest.wait_exit(POWEROFF);
    assert!(status.success(), "QEMU ended with {status} after poweroff; stderr:\n{}", guest.qemu_stderr());
}

/// `svc -d/-u/-k` refused with a clear message and the pid unchanged; the control FIFO and the
/// scanner's refuse a direct write; kill(2) is refused by the kernel.
fn cannot_control_a_root_service(guest: &mut Guest) {
    let pid = pid_of(guest, SERVICE);
    let syslogd = pid_of(guest, "/run/service/syslogd");
    for (service, letter) in [(SERVICE, "-d"), (SERVICE, "-k"), (SERVICE, "-r"), ("/run/service/syslogd", "-d")] {
        let (code, output) = user(guest, &format!("ostler svc {letter} {service}"));
        assert_eq!(code, 111, "`ostler svc {letter} {service}` as {USER}: exit {code}, {output}");
        assert!(
            output.contains("permission denied") && output.contains("only the user the supervisor runs as"),
            "`ostler svc {letter} {service}` as {USER} does not say why it failed: {output}"
        );
    }
    let (code, output) = user(guest, &format!("ostler svc -u {SERVICE}"));
    assert_eq!(code, 111, "svc -u as {USER}: {output}");
    // The service manager's front end too.
    let (code, output) = user(guest, "service syslogd stop");
    assert!(
        code != 0 && output.contains("Permission denied"),
        "`service syslogd stop` as {USER}: exit {code}, {output}"
    );
    for fifo in [format!("{SERVICE}/supervise/control"), "/run/service/.s6-svscan/control".into()] {
        let (code, output) = user(guest, &format!("echo dx > {fifo}"));
        assert!(code != 0 && output.contains("Permission denied"), "{USER} wrote to {fifo}: exit {code}, {output}");
    }
    let (code, output) = user(guest, "ostler svscanctl -t /run/service");
    assert_eq!(code, 111, "svscanctl -t as {USER}: {output}");
    let (code, output) = user(guest, &format!("kill -KILL {pid}"));
    assert!(code != 0 && output.contains("not permitted"), "{USER} killed root's service: {output}");
    assert_eq!(pid_of(guest, SERVICE), pid, "the test service was restarted or stopped by {USER}");
    assert_eq!(pid_of(guest, "/run/service/syslogd"), syslogd, "syslogd was restarted or stopped by {USER}");
}

/// syslogd's logs (its log companion, as user `log`) are closed to other users; the catch-all's
/// too. Put in group `log` (docs/security.md), the user reads them, and still cannot write.
fn cannot_read_logs_until_given(guest: &mut Guest) {
    let modes = root_ok(guest, "stat -c '%a %U:%G %n' /var/log/syslogd /var/log/syslogd/current");
    assert_eq!(
        modes, "750 log:log /var/log/syslogd\n640 log:log /var/log/syslogd/current",
        "syslogd's log directory is not closed to other users"
    );
    for read in [
        "cat /var/log/syslogd/current",
        "ls /var/log/syslogd",
        "ostler logs syslogd",
        "cat /run/ostler/uncaught-logs/current",
        "ostler logs /run/ostler/uncaught-logs",
    ] {
        let (code, output) = user(guest, read);
        assert!(code != 0, "`{read}` as {USER} succeeded: the logs are readable by any user:\n{output}");
        assert!(
            output.contains("Permission denied") || output.contains("permission denied"),
            "`{read}` as {USER} failed without saying why: {output}"
        );
    }
    // What docs/security.md says: a member of group `log` reads every log companion's logs.
    root_ok(guest, &format!("sed -i 's/^log:x:90:$/log:x:90:{USER}/' /etc/group && grep '^log:' /etc/group"));
    let (code, output) = user(guest, "ostler logs syslogd | grep -c syslogd");
    assert!(code == 0 && output != "0", "{USER}, in group log, cannot read syslogd's logs: {output}");
    let (code, output) = user(guest, "echo forged >> /var/log/syslogd/current");
    assert!(code != 0 && output.contains("Permission denied"), "group log may write the logs: {output}");
    let (code, _) = user(guest, "cat /run/ostler/uncaught-logs/current");
    assert!(code != 0, "group log reads the catch-all's logs, which stay root's");
    root_ok(guest, &format!("sed -i 's/^log:x:90:{USER}$/log:x:90:/' /etc/group"));
}

/// Every way of stopping the machine is refused, before any wall message.
fn cannot_ask_for_a_shutdown(guest: &mut Guest) {
    // The full paths: busybox's shell would otherwise run its own poweroff applet.
    for command in [
        "/sbin/poweroff",
        "/sbin/reboot",
        "/sbin/halt",
        "/sbin/shutdown -r now",
        "/sbin/shutdown -h +5",
        "/sbin/shutdown -c",
        "/sbin/init 0",
        "/bin/ostler poweroff",
    ] {
        let (code, output) = user(guest, command);
        assert_eq!(code, 111, "`{command}` as {USER}: exit {code}, {output}");
        assert!(
            output.contains("Permission denied; are you root?"),
            "`{command}` as {USER} does not say why it was refused: {output}"
        );
        assert!(!output.contains("going down"), "`{command}` as {USER} announced a shutdown: {output}");
    }
    for command in ["/sbin/poweroff -f", "/sbin/reboot -f"] {
        let (code, output) = user(guest, command);
        assert!(code != 0 && output.contains("only root can"), "`{command}` as {USER}: exit {code}, {output}");
    }
    let (code, output) = user(guest, "echo p 0 0 > /run/service/ostler-shutdownd/fifo");
    assert!(code != 0 && output.contains("Permission denied"), "{USER} wrote to the shutdown FIFO: {output}");
    // PID 1's diversions: SIGINT reboots, SIGPWR and SIGUSR1 power off, SIGUSR2 halts.
    for signal in ["INT", "PWR", "USR1", "USR2", "TERM"] {
        let (code, output) = user(guest, &format!("kill -{signal} 1"));
        assert!(code != 0 && output.contains("not permitted"), "{USER} signalled PID 1 with SIG{signal}: {output}");
    }
    // The guest is up: root's shell answers and the daemon holds no request.
    assert_eq!(root_ok(guest, "echo still-up"), "still-up");
}

/// No runtime directory takes a new or replaced entry from the user; and where the admin lets
/// the user's group into an `event/` fifodir (to listen), a link planted under a listener's
/// name is not followed by PID 1's notifier, which removes it.
fn cannot_plant_a_link_pid_1_writes_through(guest: &mut Guest) {
    root_ok(guest, "echo intact > /tmp/victim && chmod 644 /tmp/victim");
    let dirs = [
        "/run",
        "/run/service",
        "/run/service/.s6-svscan",
        SERVICE,
        &format!("{SERVICE}/supervise"),
        &format!("{SERVICE}/event"),
        "/run/service/ostler-log",
        "/run/service/ostler-log/supervise",
        "/run/service/ostler-log/event",
        "/run/service/ostler-shutdownd",
        "/run/ostler",
        "/run/ostler/sv",
        "/run/ostler/uncaught-logs",
        "/var/log",
        "/var/log/syslogd",
        "/etc/ostler",
    ]
    .join(" ");
    // A new entry, and entries that are there (replaced: -f unlinks first), in one shell; each
    // try that is not refused with EACCES is printed.
    let (_, tries) = user(
        guest,
        &format!(
            "for d in {dirs}; do for e in planted supervise status lock current control; do \
             if ln -sf /tmp/victim $d/$e 2>/tmp/ln.err; then echo PLANTED $d/$e; \
             elif ! grep -q \"Permission denied\" /tmp/ln.err; then echo OTHER $d/$e: $(cat /tmp/ln.err); fi; \
             done; done; echo tried"
        ),
    );
    assert_eq!(tries, "tried", "{USER} could plant links where root's code writes, or failed otherwise:\n{tries}");
    root_ok(guest, "rm -f /tmp/ln.err");

    // The admin opens the test service's event/ to the user's group, as s6's docs suggest for
    // a listener: the user may now make entries there, and plants a link under a listener's
    // name (39 characters, as notifiers pick them).
    let link = format!("{SERVICE}/event/ftrig1:@400000000000000000000000:abcdef");
    root_ok(guest, &format!("chgrp {USER} {SERVICE}/event"));
    let (code, output) = user(guest, &format!("ln -s /tmp/victim {link}"));
    assert_eq!(code, 0, "{USER} cannot make an entry in a fifodir opened to its group: {output}");
    let pid = pid_of(guest, SERVICE);
    root_ok(guest, &format!("ostler svc -r {SERVICE}"));
    guest.sh_until("the test service restarted", COMMAND, &format!("ostler svstat {SERVICE}"), |s| {
        s.starts_with("up ") && svstat_pid(s).is_some_and(|p| p != pid)
    });
    assert_eq!(
        root_ok(guest, "cat /tmp/victim"),
        "intact",
        "PID 1 wrote its events through a link the user planted in event/"
    );
    let (code, _) = root(guest, &format!("test -L {link}"));
    assert_ne!(code, 0, "the planted link is still there: a notifier should drop what is not a listener");
    root_ok(guest, &format!("chgrp root {SERVICE}/event && rm -f /tmp/victim"));
}

/// No FIFO under /run is writable by the user by path. The one a user's service writes by its
/// stdout, the catch-all, takes 50 MB without PID 1 (which never reads it) or the catch-all
/// logger (which reads 8 KiB at a time into a bounded logdir) growing.
fn cannot_fill_pid_1_through_a_fifo(guest: &mut Guest) {
    let fifos = root_ok(guest, "find /run -type p | sort");
    assert!(fifos.contains("/run/service/ostler-log/fifo"), "no FIFO found under /run:\n{fifos}");
    let writable = root_ok(
        guest,
        &format!(
            "for f in $(find /run -type p); do su {USER} -c \"test -w $f || timeout 5 sh -c 'echo > $f' 2>/dev/null\" && echo $f; done; true"
        ),
    );
    assert_eq!(writable, "", "FIFOs under /run that {USER} may write:\n{writable}");

    // A service of the user's own, without a logger: its stdout is the catch-all FIFO.
    let flood = "/run/service/flood";
    root_ok(
        guest,
        &format!(
            "mkdir {flood} && echo {USER} > {flood}/user && touch {flood}/down && printf '#!/bin/sh\\n\
             yes 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef012345678 \
             | head -c {FLOOD_BYTES}\\ntouch /tmp/flood.done\\nexec sleep 1000000\\n' > {flood}/run && chmod 755 {flood}/run \
             && ostler svscanctl -a /run/service"
        ),
    );
    guest.sh_until("the flood service known", COMMAND, &format!("ostler svstat {flood}"), |s| s.starts_with("down "));
    let catch_all = pid_of(guest, "/run/service/ostler-log");
    let logger: u32 = root_ok(guest, &format!("cat /proc/{catch_all}/task/{catch_all}/children"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("the catch-all logger's child: {e}"));
    let before = [1, catch_all, logger].map(|pid| rss_anon_kib(guest, pid));
    root_ok(guest, &format!("ostler svc -u {flood}"));
    let pid = pid_of(guest, flood);
    assert_eq!(root_ok(guest, &format!("stat -c %U /proc/{pid}")), USER, "the flood does not run as {USER}");
    let poured = std::time::Instant::now();
    guest.sh_until("the flood poured into the catch-all FIFO", FLOOD_TIME, "sleep 2; ls /tmp/flood.done", |out| {
        out == "/tmp/flood.done"
    });
    eprintln!("guest: {FLOOD_BYTES} bytes through the catch-all FIFO in {:.1} s", poured.elapsed().as_secs_f64());
    let after = [1, catch_all, logger].map(|pid| rss_anon_kib(guest, pid));
    eprintln!("guest: RssAnon KiB before {before:?}, after {after:?} (PID 1, catch-all, its logger)");
    assert!(
        after[0] <= before[0] + PID1_GROWTH_KIB,
        "PID 1 grew from {} to {} KiB while {USER}'s service wrote {FLOOD_BYTES} bytes",
        before[0],
        after[0]
    );
    for (index, name) in [(1, "the catch-all logger"), (2, "its log writer")] {
        assert!(
            after[index] <= before[index] + CATCH_ALL_GROWTH_KIB,
            "{name} grew from {} to {} KiB while {USER}'s service wrote {FLOOD_BYTES} bytes",
            before[index],
            after[index]
        );
    }
    let kib: u64 = root_ok(guest, "du -sk /run/ostler/uncaught-logs | cut -f1").parse().unwrap_or(u64::MAX);
    assert!(kib <= 4096, "the catch-all's logs take {kib} KiB after the flood: not bounded");
    assert_eq!(pid_of(guest, "/run/service/ostler-log"), catch_all, "the catch-all logger died in the flood");
    root_ok(guest, &format!("ostler svc -d {flood} && rm -f /tmp/flood.done"));
}
