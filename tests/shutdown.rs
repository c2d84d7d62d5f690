//! Orderly shutdown (issue 6). Natively: the shutdown daemon under a real scanner in a
//! temporary tree (the paths moved by OSTLER_SCANDIR / OSTLER_RUNDIR / OSTLER_ETCDIR): the
//! services go down, a stubborn one is killed after the grace, rc.shutdown runs, PID 1's part
//! is handed over; a later shutdown can be cancelled. In QEMU: poweroff keeps what was written
//! to an ext4 root (checked with e2fsck -fn and debugfs on the host), twenty boot/poweroff
//! cycles stay clean, a service that ignores SIGTERM costs the grace and no more, reboot and
//! ctrl-alt-delete boot again, halt does not power off.

mod util;

use std::process::Command;
use std::time::{Duration, Instant};
use util::guest::*;
use util::*;

const LONG: Duration = Duration::from_secs(20);

/// A scan directory with the shutdown daemon (its `run` is ostler, as stage 1 makes it), a
/// service that exits on TERM, one that ignores TERM, and a `finish` that records the end.
fn shutdown_tree(tree: &TempTree) -> (std::path::PathBuf, std::path::PathBuf) {
    let scan = tree.dir("scan");
    let daemon = tree.dir("scan/ostler-shutdownd");
    std::os::unix::fs::symlink(ostler(), daemon.join("run")).unwrap();
    nix::unistd::mkfifo(&daemon.join("fifo"), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    tree.service("scan/polite", "#!/bin/sh\ntrap 'exit 0' TERM\nwhile :; do sleep 0.05; done");
    let trapped = tree.join("stubborn-trapped");
    tree.service(
        "scan/stubborn",
        &format!("#!/bin/sh\ntrap '' TERM\ntouch {}\nwhile :; do sleep 0.05; done", trapped.display()),
    );
    tree.script("scan/.s6-svscan/finish", &format!("#!/bin/sh\necho finished > {}", tree.join("finished").display()));
    let etc = tree.dir("etc");
    tree.script("etc/rc.shutdown", &format!("#!/bin/sh\necho \"rc.shutdown $1\" > {}", tree.join("hook").display()));
    tree.dir("run");
    (scan, etc)
}

fn with_layout(command: &mut Command, tree: &TempTree) {
    command
        .env("OSTLER_SCANDIR", tree.join("scan"))
        .env("OSTLER_RUNDIR", tree.join("run"))
        .env("OSTLER_ETCDIR", tree.join("etc"));
}

fn start(procs: &mut Processes, tree: &TempTree) -> u32 {
    let mut command = Command::new(ostler());
    command.arg("svscan").arg(tree.join("scan")).stderr(std::fs::File::create(tree.join("err")).unwrap());
    with_layout(&mut command, tree);
    let scanner = procs.spawn(command);
    for name in ["ostler-shutdownd", "polite", "stubborn"] {
        wait_until(name, LONG, || is_up(&tree.join("scan").join(name)));
    }
    wait_file(&tree.join("stubborn-trapped"));
    scanner
}

fn shutdown(tree: &TempTree, args: &[&str]) -> (i32, String, String) {
    let mut command = Command::new(ostler());
    command.arg("shutdown").args(args);
    with_layout(&mut command, tree);
    let output = command.output().unwrap();
    outcome(&output)
}

#[test]
fn the_daemon_takes_services_down_kills_the_stubborn_after_the_grace_and_hands_over() {
    let tree = TempTree::new("shutdownd");
    let (scan, _) = shutdown_tree(&tree);
    let mut procs = Processes::new();
    let scanner = start(&mut procs, &tree);
    let asked = Instant::now();
    let (code, _, err) = shutdown(&tree, &["-r", "-t", "1", "now"]);
    assert_eq!(code, 0, "shutdown -r -t 1 now: {err}");
    // The scanner is told to terminate once the services are down and rc.shutdown ran: it
    // then runs finish (here a script; on a machine, the final stage).
    assert_eq!(procs.wait_exit(scanner, LONG).code(), Some(0));
    let took = asked.elapsed();
    assert!(std::fs::read_to_string(tree.join("finished")).is_ok(), "finish did not run");
    assert_eq!(std::fs::read_to_string(tree.join("hook")).unwrap(), "rc.shutdown reboot\n");
    assert_eq!(std::fs::read_to_string(tree.join("run/shutdown")).unwrap(), "reboot\n1000\n");
    // The polite service went at TERM; the stubborn one was SIGKILLed after the 1 s grace.
    let stubborn = status(&scan.join("stubborn")).unwrap();
    assert_eq!(stubborn.wstat & 0x7f, 9, "stubborn killed by SIGKILL: {stubborn:?}");
    assert_eq!(status(&scan.join("polite")).unwrap().wstat, 0);
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(8), "took {took:?}");
}

#[test]
fn a_later_shutdown_is_cancelled_and_garbage_is_ignored() {
    let tree = TempTree::new("shutdown-cancel");
    let (scan, _) = shutdown_tree(&tree);
    let mut procs = Processes::new();
    let scanner = start(&mut procs, &tree);
    let (code, _, err) = shutdown(&tree, &["-h", "+1", "maintenance"]);
    assert_eq!(code, 0, "{err}");
    // Garbage on the FIFO is reported and changes nothing.
    std::fs::write(scan.join("ostler-shutdownd/fifo"), "x 1 2\n").unwrap();
    let (code, _, err) = shutdown(&tree, &["-c"]);
    assert_eq!(code, 0, "{err}");
    // A request that fires at once afterwards proves the daemon read the cancel before it:
    // the FIFO is read in order, and the halt due in a minute would otherwise stay pending.
    std::thread::sleep(Duration::from_millis(300));
    assert!(procs.running(scanner), "the cancelled halt happened");
    assert!(!tree.join("run/shutdown").exists());
    let (code, _, err) = shutdown(&tree, &["-p", "-t", "0", "now"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(procs.wait_exit(scanner, LONG).code(), Some(0));
    assert_eq!(std::fs::read_to_string(tree.join("run/shutdown")).unwrap(), "poweroff\n0\n");
    let log = std::fs::read_to_string(tree.join("err")).unwrap();
    assert!(log.contains("ignoring \"x 1 2\""), "garbage not reported: {log}");
}

#[test]
fn commands_without_a_daemon_say_what_to_do() {
    let tree = TempTree::new("no-daemon");
    tree.dir("scan");
    let (code, _, err) = shutdown(&tree, &["-r", "now"]);
    assert_eq!(code, 111);
    assert!(err.contains("shutdown daemon is not running") && err.contains("-f"), "{err}");
    let (code, _, err) = shutdown(&tree, &["-r", "25:00"]);
    assert_eq!(code, 100);
    assert!(err.contains("bad time") && err.contains("HH:MM"), "{err}");
    let mut poweroff = Command::new(ostler());
    poweroff.args(["poweroff", "-W"]);
    with_layout(&mut poweroff, &tree);
    let (code, _, err) = outcome(&poweroff.output().unwrap());
    assert_eq!(code, 111);
    assert!(err.starts_with("poweroff: "), "{err}");
}

/// The steps the console shows, with their durations in ms.
fn step_millis(console: &str, step: &str) -> u64 {
    let at = console.find(step).unwrap_or_else(|| panic!("no {step:?} on the console:\n{console}"));
    let rest = &console[at + step.len()..];
    let digits: String = rest.trim_start_matches(" (").chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or_else(|_| panic!("no duration after {step:?}: {rest:.80}"))
}

#[test]
fn poweroff_keeps_ten_megabytes_written_without_sync_and_reports_each_step() {
    let mut guest = Guest::boot_disk("poweroff-disk", "");
    guest.login();
    guest.sh("head -c 10485760 /dev/urandom > /root/ten; md5sum /root/ten > /root/ten.md5");
    let sum = guest.sh("cut -d' ' -f1 /root/ten.md5");
    guest.console.skip_seen();
    guest.console.send("poweroff\n");
    let status = guest.wait_exit(POWEROFF);
    assert!(status.success(), "QEMU ended with {status}; stderr:\n{}", guest.qemu_stderr());
    let console = guest.console.text();
    assert!(console.contains("poweroff: taking the services down"), "{console}");
    for step in
        ["poweroff: services down", "poweroff: every process stopped", "poweroff: filesystems unmounted and synced"]
    {
        let millis = step_millis(&console, step);
        eprintln!("guest: {step} in {millis} ms");
    }
    let ours: Vec<&str> = console.lines().filter(|l| l.contains("ostler: ")).collect();
    assert!(!console.contains("busy, remounted read-only"), "a filesystem stayed busy:\n{}", ours.join("\n"));

    let disk = guest.tree.join("disk.ext4");
    let (code, out, err) = outcome(&run(require("e2fsck"), ["-fn".as_ref(), disk.as_os_str()]));
    assert_eq!(code, 0, "e2fsck -fn after poweroff:\n{out}{err}");
    let copy = guest.tree.join("ten");
    let dump = run(
        require("debugfs"),
        ["-R".as_ref(), format!("dump /root/ten {}", copy.display()).as_ref(), disk.as_os_str()],
    );
    assert!(dump.status.success());
    assert_eq!(std::fs::metadata(&copy).unwrap().len(), 10 << 20);
    let (_, host_sum, _) = outcome(&run(require("md5sum"), [copy.as_os_str()]));
    assert!(host_sum.starts_with(&sum), "the file on the disk ({host_sum}) is not the one written ({sum})");
}

#[test]
fn twenty_boot_and_poweroff_cycles_leave_a_clean_filesystem() {
    let tree = TempTree::new("cycles");
    let disk = tree.join("disk.ext4");
    std::fs::copy(shared_image().join("disk.ext4"), &disk).unwrap();
    for cycle in 1..=20 {
        let mut guest = Guest::boot_disk_file("cycle", &disk, "quiet");
        guest.login();
        guest.sh(&format!("echo {cycle} >> /root/cycles; head -c 262144 /dev/urandom > /root/last"));
        guest.console.send("poweroff\n");
        let status = guest.wait_exit(POWEROFF);
        assert!(status.success(), "cycle {cycle}: QEMU ended with {status}");
        drop(guest);
        let (code, out, err) = outcome(&run(require("e2fsck"), ["-fn".as_ref(), disk.as_os_str()]));
        assert_eq!(code, 0, "cycle {cycle}: e2fsck -fn:\n{out}{err}");
    }
    let cycles = run(require("debugfs"), ["-R".as_ref(), "cat /root/cycles".as_ref(), disk.as_os_str()]);
    let expected: String = (1..=20).map(|n| format!("{n}\n")).collect();
    assert_eq!(String::from_utf8_lossy(&cycles.stdout), expected);
}

#[test]
fn a_service_that_ignores_sigterm_costs_the_grace_and_no_more() {
    let mut guest = Guest::boot("stubborn", "");
    guest.login();
    guest.sh("mkdir /run/ostler/sv/stubborn && printf '#!/bin/sh\\ntrap \"\" TERM\\nwhile :; do sleep 1; done\\n' > /run/ostler/sv/stubborn/run && chmod +x /run/ostler/sv/stubborn/run && ln -s /run/ostler/sv/stubborn /run/service/stubborn && ostler svscanctl -a /run/service");
    guest.sh_until("stubborn up", COMMAND, "ostler svstat /run/service/stubborn", |out| out.starts_with("up "));
    guest.sh("sleep 2");
    guest.console.skip_seen();
    let asked = Instant::now();
    guest.console.send("shutdown -p -t 2 now\n");
    guest.console.expect("services down (", POWEROFF);
    let rest = guest.console.expect(")", COMMAND);
    let status = guest.wait_exit(POWEROFF);
    let total = asked.elapsed();
    assert!(status.success(), "QEMU ended with {status}");
    let millis: u64 = rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap();
    assert!(rest.contains("killed after the grace: stubborn"), "{rest}");
    // The grace is 2 s; the step takes that, plus the emulated machine's own slowness.
    assert!((1900..6000).contains(&millis), "services down took {millis} ms with a 2 s grace");
    eprintln!("guest: services down in {millis} ms; shutdown -p to QEMU exit {total:?} (TCG)");
    assert!(total < Duration::from_secs(40), "shutdown took {total:?}");
}

#[test]
fn reboot_and_ctrl_alt_delete_boot_again() {
    let mut guest = Guest::boot_with_monitor("reboot", "", true);
    guest.login();
    guest.console.skip_seen();
    guest.console.send("reboot\n");
    guest.console.expect("reboot: services down", POWEROFF);
    guest.console.expect("ostler: stage 1", BOOT);
    guest.console.expect("login: ", BOOT);
    // ctrl-alt-del: the kernel's own reboot is disabled, so it becomes SIGINT to PID 1.
    guest.console.skip_seen();
    guest.monitor("sendkey ctrl-alt-delete");
    guest.console.expect("reboot: taking the services down", POWEROFF);
    guest.console.expect("ostler: stage 1", BOOT);
    guest.console.expect("login: ", BOOT);
    assert!(guest.running());
}

#[test]
fn halt_stops_without_powering_off() {
    let mut guest = Guest::boot_with_monitor("halt", "", false);
    guest.login();
    guest.console.skip_seen();
    guest.console.send("halt\n");
    guest.console.expect("System halted", POWEROFF);
    let since = Instant::now();
    while since.elapsed() < Duration::from_secs(3) {
        assert!(guest.running(), "QEMU exited after halt: the machine powered off");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn wall_reaches_the_console_and_a_scheduled_reboot_is_cancelled_in_the_guest() {
    let mut guest = Guest::boot("wall", "");
    guest.login();
    guest.console.skip_seen();
    guest.console.send("shutdown -r +1 back soon\n");
    guest.console.expect("going down for reboot in 1 minute", COMMAND);
    guest.console.expect("back soon", COMMAND);
    guest.console.expect("reboot in 60 s", COMMAND);
    guest.console.send("shutdown -c\n");
    guest.console.expect("the scheduled reboot is cancelled", COMMAND);
    guest.console.send("poweroff\n");
    let status = guest.wait_exit(POWEROFF);
    assert!(status.success());
    assert!(!guest.console.text().contains("reboot: taking"), "the cancelled reboot happened");
}

#[test]
fn services_stop_in_reverse_dependency_order() {
    let tree = TempTree::new("shutdown-order");
    shutdown_tree(&tree);
    let marks = tree.join("marks");
    // base ← middle ← top: top depends on middle, middle on base. Each notes when TERM came.
    // Two definition directories (a system and a site layer): the daemon is told neither, and
    // reads the ones the live state was made from.
    for (dir, name, deps) in
        [("etc/sv", "base", vec![]), ("site", "middle", vec!["base"]), ("site", "top", vec!["middle"])]
    {
        tree.file(format!("{dir}/{name}/type"), "longrun\n");
        tree.script(
            format!("{dir}/{name}/run"),
            &format!(
                "#!/bin/sh\ntrap 'echo {name} >> {}; exit 0' TERM\ntouch {}\nwhile :; do sleep 0.05; done",
                marks.display(),
                tree.join(format!("trapped-{name}")).display()
            ),
        );
        for dep in deps {
            tree.file(format!("{dir}/{name}/dependencies.d/{dep}"), "");
        }
    }
    let mut procs = Processes::new();
    let scanner = start(&mut procs, &tree);
    let mut up = Command::new(ostler());
    let defs = format!("{}:{}", tree.join("etc/sv").display(), tree.join("site").display());
    up.args(["rc", "change", "-u", "top"]).env("OSTLER_DEFS", defs);
    with_layout(&mut up, &tree);
    let (code, _, err) = outcome(&up.output().unwrap());
    assert_eq!(code, 0, "{err}");
    for name in ["base", "middle", "top"] {
        wait_file(&tree.join(format!("trapped-{name}")));
    }
    let (code, _, err) = shutdown(&tree, &["-p", "-t", "2", "now"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(procs.wait_exit(scanner, LONG).code(), Some(0));
    assert_eq!(std::fs::read_to_string(&marks).unwrap(), "top\nmiddle\nbase\n");
}
