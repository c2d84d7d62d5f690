//! `ostler log`, `ostler logs` and `ostler tai64nlocal` against Debian's s6-log and
//! s6-tai64nlocal: the same files for the same input, each adopting the other's logdirs
//! (including ones left half-rotated by a kill), no line lost or repeated across SIGKILLs,
//! rotation, processors, retries on a full disk, and reading logs back.

mod util;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use util::*;

/// Processes a test started with its own stdio: each is SIGKILLed (by pid) and reaped on drop.
#[derive(Default)]
struct Started(Vec<Child>);

impl Started {
    fn add(&mut self, child: Child) -> u32 {
        let pid = child.id();
        self.0.push(child);
        pid
    }

    fn wait(&mut self, pid: u32, within: Duration) -> ExitStatus {
        let index = self.0.iter().position(|c| c.id() == pid).expect("not started here");
        let end = Instant::now() + within;
        loop {
            if self.0[index].try_wait().unwrap().is_some() {
                // Reaped already: wait() hands back the status it kept.
                return self.0.remove(index).wait().unwrap();
            }
            assert!(Instant::now() < end, "process {pid} did not exit within {within:?}");
            std::thread::sleep(POLL_EVERY);
        }
    }

    fn child(&mut self, pid: u32) -> &mut Child {
        self.0.iter_mut().find(|c| c.id() == pid).expect("not started here")
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let _ = child.wait();
        }
    }
}

fn signal(pid: u32, signal: Signal) {
    kill(Pid::from_raw(pid as i32), signal).unwrap();
}

/// A pipe: (read end, write end), both closed on exec (so no other child holds them).
fn pipe() -> (OwnedFd, std::fs::File) {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    (read, std::fs::File::from(write))
}

/// The logger program: ostler's, or s6's.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Logger {
    Ostler,
    S6,
}

impl Logger {
    fn command(self) -> Command {
        match self {
            Logger::Ostler => {
                let mut command = Command::new(ostler());
                command.arg("log");
                command
            }
            Logger::S6 => Command::new(require("s6-log")),
        }
    }

    /// Its alert prefix.
    fn alert(self) -> &'static [u8] {
        match self {
            Logger::Ostler => b"ostler log: alert: ",
            Logger::S6 => b"s6-log: alert: ",
        }
    }
}

/// Starts a logger in `cwd` reading `input`, its stderr into `cwd/../NAME.err`.
fn start(started: &mut Started, logger: Logger, cwd: &Path, input: &OwnedFd, args: &[&str]) -> u32 {
    let err = std::fs::File::create(cwd.with_extension("err")).unwrap();
    let mut command = logger.command();
    command.args(args).current_dir(cwd).stdin(input.try_clone().unwrap()).stdout(Stdio::null()).stderr(err);
    started.add(command.spawn().unwrap())
}

/// Runs a logger to the end of `input`: (exit code, stdout, stderr).
fn run_logger(logger: Logger, cwd: &Path, args: &[&str], input: &[u8]) -> (i32, Vec<u8>, Vec<u8>) {
    let mut child = logger
        .command()
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    (output.status.code().unwrap_or(-1), output.stdout, output.stderr)
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn text(path: &Path) -> String {
    String::from_utf8_lossy(&read(path)).into_owned()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The archives of a logdir, oldest first.
fn archives(dir: &Path) -> Vec<PathBuf> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with('@'))
        .collect();
    names.sort();
    names
}

/// Everything a logdir holds, archives in order then `current`.
fn all_lines(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for archive in archives(dir) {
        all.extend(read(&archive));
    }
    all.extend(read(&dir.join("current")));
    all
}

/// A directory tree as name → (contents, mode), archives renamed by their rank and suffix,
/// lock files and ostler's journal left out: what must be equal between s6-log and ostler.
fn snapshot(root: &Path) -> BTreeMap<String, (Vec<u8>, u32)> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let mut archive_rank = 0;
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for path in entries {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if name == "lock" || name == "ostler-input" {
                continue;
            }
            let relative = path.parent().unwrap().strip_prefix(root).unwrap().join(if name.starts_with('@') {
                archive_rank += 1;
                format!("@{archive_rank:04}{}", &name[25..])
            } else {
                name
            });
            out.insert(relative.display().to_string(), (read(&path), mode(&path)));
        }
    }
    out
}

/// Like [`snapshot`], but each logdir's archives and `current` joined: where s6-log rotates
/// depends on how its reads happen to cut the input (it checks the size after each write of
/// up to 8 KiB), ostler rotates after the line that reaches the size.
fn joined(root: &Path) -> BTreeMap<String, (Vec<u8>, u32)> {
    let mut out = BTreeMap::new();
    for (name, (contents, mode)) in snapshot(root) {
        let path = Path::new(&name);
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let dir = path.parent().unwrap();
        let is_logdir = root.join(dir).join("lock").exists();
        if is_logdir && (file.starts_with('@') || file == "current") {
            assert!(file == "current" || file.ends_with(".s"), "{name}: only rotated archives here");
            assert_eq!(mode & 0o100, 0o100, "{name}: complete");
            let entry = out.entry(dir.join("(archives and current)").display().to_string()).or_insert((Vec::new(), 0));
            entry.0.extend(contents);
        } else {
            out.insert(name, (contents, mode));
        }
    }
    out
}

fn wait_contains(path: &Path, needle: &str) {
    wait_until(&format!("{} to hold {needle:?}", path.display()), DEADLINE, || {
        std::fs::read(path).is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
    });
}

/// Asserts equal bytes, showing where they first differ.
fn assert_same_bytes(ours: &[u8], theirs: &[u8], what: &str) {
    if ours == theirs {
        return;
    }
    let at = ours.iter().zip(theirs).position(|(a, b)| a != b).unwrap_or(ours.len().min(theirs.len()));
    let around =
        |bytes: &[u8]| String::from_utf8_lossy(&bytes[at.saturating_sub(40)..(at + 40).min(bytes.len())]).into_owned();
    panic!(
        "{what}: ostler's {} bytes and s6's {} bytes differ at byte {at}:\n ostler: {:?}\n s6:     {:?}",
        ours.len(),
        theirs.len(),
        around(ours),
        around(theirs)
    );
}

/// The first lines of `input`, at most `bytes` long, ending at a newline.
fn whole_lines(input: &[u8], bytes: usize) -> &[u8] {
    let end = input[..bytes].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    &input[..end]
}

/// Runs the same script over the same input with s6-log and with ostler, each in its own
/// directory, and asserts the same exit code, output, alerts (prefix aside) and files.
fn same_as_s6(script: &[&str], input: &[u8]) {
    let tree = TempTree::new("same");
    let s6 = tree.dir("s6");
    let ours = tree.dir("ours");
    let (code_s6, out_s6, err_s6) = run_logger(Logger::S6, &s6, script, input);
    let (code, out, err) = run_logger(Logger::Ostler, &ours, script, input);
    assert_eq!(code, code_s6, "{script:?}: exit codes; ostler said {}", String::from_utf8_lossy(&err));
    assert_same_bytes(&out, &out_s6, &format!("{script:?}: standard output"));
    // Alerts, with each logger's prefix taken off.
    let alerts = |err: &[u8], logger: Logger| -> Vec<u8> {
        err.split(|&b| b == b'\n')
            .filter(|l| l.starts_with(logger.alert()))
            .flat_map(|l| l[logger.alert().len()..].iter().copied().chain([b'\n']))
            .collect()
    };
    assert_same_bytes(&alerts(&err, Logger::Ostler), &alerts(&err_s6, Logger::S6), &format!("{script:?}: alerts"));
    let (ours_files, s6_files) = (joined(&ours), joined(&s6));
    let names: std::collections::BTreeSet<&String> = s6_files.keys().chain(ours_files.keys()).collect();
    for name in names {
        let (ours_file, s6_file) = (ours_files.get(name), s6_files.get(name));
        assert!(ours_file.is_some() && s6_file.is_some(), "{script:?}: {name} only in one of them");
        if let (Some((ours_bytes, ours_mode)), Some((s6_bytes, s6_mode))) = (ours_file, s6_file) {
            assert_same_bytes(ours_bytes, s6_bytes, &format!("{script:?}: {name}"));
            assert_eq!(ours_mode, s6_mode, "{script:?}: {name}: mode");
        }
    }
}

fn numbered(count: usize, width: usize) -> Vec<u8> {
    (0..count).flat_map(|i| format!("{i:0width$}\n").into_bytes()).collect()
}

// ---------------------------------------------------------------------------------------
// No line lost or written twice across SIGKILLs.

#[test]
fn sigkill_storm_loses_no_line_and_repeats_none() {
    const LINES: usize = 1_000_000;
    let tree = TempTree::new("storm");
    let cwd = tree.dir("run");
    let (input, mut writer) = pipe();
    let feeder = std::thread::spawn(move || {
        let mut chunk = Vec::new();
        for i in 0..LINES {
            chunk.extend_from_slice(format!("{i:07}\n").as_bytes());
            if chunk.len() >= 8000 {
                writer.write_all(&chunk).unwrap();
                chunk.clear();
            }
        }
        writer.write_all(&chunk).unwrap();
        // Dropping the writer: the pipe ends once the logger has read everything.
    });
    let mut started = Started::default();
    let args = ["s100000", "n1000", "./dir"];
    let begin = Instant::now();
    let mut kills = 0;
    while !feeder.is_finished() {
        let pid = start(&mut started, Logger::Ostler, &cwd, &input, &args);
        // The kill period is the experiment, not a wait for something; short enough that even
        // a fast run of the million lines (≈ 0.2 s) sees several kills.
        std::thread::sleep(Duration::from_millis(20));
        signal(pid, Signal::SIGKILL);
        started.wait(pid, DEADLINE);
        kills += 1;
        assert!(begin.elapsed() < Duration::from_secs(60), "the storm takes too long");
    }
    feeder.join().unwrap();
    let pid = start(&mut started, Logger::Ostler, &cwd, &input, &args);
    drop(input);
    let status = started.wait(pid, Duration::from_secs(30));
    assert!(status.success(), "the last logger: {status:?}, {}", text(&cwd.with_extension("err")));
    assert!(kills >= 5, "only {kills} kills: the test proves little");
    let dir = cwd.join("dir");
    let all = all_lines(&dir);
    let mut expected = 0;
    for line in all.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let value: usize = std::str::from_utf8(line).unwrap().parse().unwrap();
        assert_eq!(value, expected, "after {kills} kills: line {expected} is followed by {value}");
        expected += 1;
    }
    assert_eq!(expected, LINES, "after {kills} kills: lines missing at the end");
    assert!(archives(&dir).iter().any(|a| a.to_string_lossy().ends_with(".u")), "kills leave .u archives");
    assert!(!dir.join("ostler-input").exists(), "a clean exit removes the journal");
}

// ---------------------------------------------------------------------------------------
// Rotation, trimming, processors.

#[test]
fn rotation_keeps_n_archives() {
    let tree = TempTree::new("rotate-n");
    let cwd = tree.dir("run");
    let input = numbered(300, 99);
    let (code, _, err) = run_logger(Logger::Ostler, &cwd, &["n3", "s4096", "l0", "./d"], &input);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    let dir = cwd.join("d");
    let archives = archives(&dir);
    // 41 lines of 100 bytes reach 4096: 7 rotations, the last 3 archives kept.
    assert_eq!(archives.len(), 3, "{archives:?}");
    for archive in &archives {
        assert_eq!(read(archive).len(), 4100);
        assert!(archive.to_string_lossy().ends_with(".s"));
        assert_eq!(mode(archive) & 0o100, 0o100, "archives are complete files");
    }
    assert_eq!(read(&dir.join("current")).len(), 300 * 100 - 7 * 4100);
    let kept = all_lines(&dir);
    assert_eq!(kept, input[input.len() - kept.len()..], "the newest lines are kept, in order");
    assert_eq!(mode(&dir.join("current")) & 0o100, 0o100, "clean exit marks current complete");
}

#[test]
fn rotation_keeps_at_most_s_bytes_of_archives() {
    let tree = TempTree::new("rotate-total");
    let cwd = tree.dir("run");
    let (code, _, _) = run_logger(Logger::Ostler, &cwd, &["n100", "s4096", "l0", "S9000", "./d"], &numbered(300, 99));
    assert_eq!(code, 0);
    let archives = archives(&cwd.join("d"));
    let total: usize = archives.iter().map(|a| read(a).len()).sum();
    assert_eq!(archives.len(), 2, "two archives of 4100 bytes fit in 9000");
    assert!(total <= 9000);
}

/// Feeds `line`, waits for it in `current`, rotates with SIGALRM, waits for the archive.
fn rotate_with(dir: &Path, writer: &mut std::fs::File, pid: u32, line: &str, archives_after: usize) {
    writer.write_all(format!("{line}\n").as_bytes()).unwrap();
    wait_contains(&dir.join("current"), line);
    signal(pid, Signal::SIGALRM);
    wait_until(&format!("{archives_after} archives in {}", dir.display()), DEADLINE, || {
        archives(dir).len() == archives_after && !dir.join("previous").exists() && !dir.join("processed").exists()
    });
}

#[test]
fn processor_output_replaces_the_archive_with_execline_and_sh() {
    require("execlineb");
    let tree = TempTree::new("processor");
    let cwd = tree.dir("run");
    let (input, mut writer) = pipe();
    let mut started = Started::default();
    let pid = start(
        &mut started,
        Logger::Ostler,
        &cwd,
        &input,
        &["!tr a-z A-Z", "./exec", "?sed s/^/sh:/; cat <&4 >&5; echo seen >&5", "./sh"],
    );
    let (exec, sh) = (cwd.join("exec"), cwd.join("sh"));
    for (round, word) in ["first", "second"].iter().enumerate() {
        rotate_with(&exec, &mut writer, pid, word, round + 1);
        wait_until("sh archive", DEADLINE, || archives(&sh).len() == round + 1);
    }
    let exec_archives: Vec<String> = archives(&exec).iter().map(|a| text(a)).collect();
    assert_eq!(exec_archives, ["FIRST\n", "SECOND\n"]);
    let sh_archives: Vec<String> = archives(&sh).iter().map(|a| text(a)).collect();
    assert_eq!(sh_archives, ["sh:first\n", "sh:second\n"]);
    assert_eq!(text(&sh.join("state")), "seen\nseen\n", "fd 4 reads the old state, fd 5 writes the new");
    assert!(!sh.join("newstate").exists());
}

#[test]
fn a_failing_processor_is_retried_after_r() {
    let tree = TempTree::new("processor-retry");
    let cwd = tree.dir("run");
    let marker = tree.join("failed-once");
    let processor = format!("?if [ -e {m} ]; then cat; else touch {m}; exit 3; fi", m = marker.display());
    let (input, mut writer) = pipe();
    let mut started = Started::default();
    let pid = start(&mut started, Logger::Ostler, &cwd, &input, &["r400", &processor, "./d"]);
    let dir = cwd.join("d");
    writer.write_all(b"kept\n").unwrap();
    wait_contains(&dir.join("current"), "kept");
    signal(pid, Signal::SIGALRM);
    wait_file(&marker);
    let failed_at = Instant::now();
    wait_until("the retried processor's archive", DEADLINE, || archives(&dir).len() == 1);
    let took = failed_at.elapsed();
    assert!(took >= Duration::from_millis(350), "retried after {took:?}, not r400");
    assert_eq!(text(&archives(&dir)[0]), "kept\n");
    let err = text(&cwd.with_extension("err"));
    assert!(
        err.contains("ostler log: warning: processor failed in ./d") && err.contains("retrying in 400 ms"),
        "{err}"
    );
}

#[test]
fn a_full_disk_is_retried_and_no_line_is_dropped() {
    let tree = TempTree::new("full");
    let cwd = tree.dir("run");
    let (input, mut writer) = pipe();
    let mut started = Started::default();
    let err = std::fs::File::create(cwd.with_extension("err")).unwrap();
    // A file-size limit makes writes fail with EFBIG, like a full disk, without privileges.
    let mut command = Command::new(require("prlimit"));
    command
        .args(["--fsize=60000:unlimited", "--"])
        .arg(ostler())
        .args(["log", "r100", "./d"])
        .current_dir(&cwd)
        .stdin(input.try_clone().unwrap())
        .stdout(Stdio::null())
        .stderr(err);
    let pid = started.add(command.spawn().unwrap());
    let input_lines = numbered(2000, 99);
    let data = input_lines.clone();
    // From a thread: the pipe fills while the logger cannot write.
    let feeder = std::thread::spawn(move || writer.write_all(&data).unwrap());
    let err_path = cwd.with_extension("err");
    wait_until("a warning about the failed write", DEADLINE, || {
        let err = std::fs::read_to_string(&err_path).unwrap_or_default();
        err.contains("ostler log: warning: unable to write") && err.contains("File too large: retrying in 100 ms")
    });
    let (code, _, err) = cmd(Command::new("prlimit").args(["--pid", &pid.to_string(), "--fsize=unlimited"]));
    assert_eq!(code, 0, "{err}");
    wait_until("the logger to take all the input", DEADLINE, || {
        feeder.is_finished() || started.child(pid).try_wait().unwrap().is_some()
    });
    assert!(feeder.is_finished(), "the logger died: {}", text(&err_path));
    feeder.join().unwrap();
    drop(input);
    let status = started.wait(pid, DEADLINE);
    assert!(status.success(), "{status:?}");
    assert_eq!(all_lines(&cwd.join("d")), input_lines, "every line, once, in order");
}

// ---------------------------------------------------------------------------------------
// Taking over from s6-log, and s6-log taking over from ostler.

/// Builds a logdir by hand: (name, contents, owner-execute bit).
fn handmade(dir: &Path, files: &[(&str, &str, bool)]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    for (name, contents, done) in files {
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(if *done { 0o744 } else { 0o644 })).unwrap();
    }
}

#[test]
fn handmade_states_are_adopted_as_s6_log_adopts_them() {
    let states: &[&[(&str, &str, bool)]] = &[
        &[("current", "clean\n", true), ("state", "st", false)],
        &[("current", "unclean\n", false), ("state", "st", false), ("newstate", "ns", false)],
        &[("current", "cur\n", false), ("previous", "prev\n", true), ("processed", "done\n", true)],
        &[("previous", "prev\n", false), ("processed", "half", false)],
        &[("previous", "prev\n", true)],
        &[("processed", "done\n", true), ("newstate", "ns", false)],
        &[("current", "", false)],
        &[("current", "clean\n", true), ("previous", "left\n", false)],
        &[],
    ];
    for files in states {
        let tree = TempTree::new("handmade");
        let (s6, ours) = (tree.dir("s6"), tree.dir("ours"));
        handmade(&s6.join("d"), files);
        handmade(&ours.join("d"), files);
        let (code_s6, _, err_s6) = run_logger(Logger::S6, &s6, &["./d"], b"new\n");
        let (code, _, err) = run_logger(Logger::Ostler, &ours, &["./d"], b"new\n");
        assert_eq!(
            (code, code_s6),
            (0, 0),
            "{files:?}: {} / {}",
            String::from_utf8_lossy(&err),
            String::from_utf8_lossy(&err_s6)
        );
        assert_eq!(snapshot(&ours), snapshot(&s6), "{files:?}");
    }
}

#[test]
fn previous_and_an_unclean_current_both_become_unfinished_archives() {
    // s6-log 2.11 gives both archives the same name and stops (exit 111); ostler keeps both.
    let tree = TempTree::new("two-u");
    let cwd = tree.dir("run");
    handmade(&cwd.join("d"), &[("current", "cur\n", false), ("previous", "prev\n", false)]);
    let (code, _, err) = run_logger(Logger::Ostler, &cwd, &["./d"], b"new\n");
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    let names: Vec<String> = archives(&cwd.join("d")).iter().map(|a| text(a)).collect();
    assert_eq!(names, ["prev\n", "cur\n"]);
    assert_eq!(text(&cwd.join("d/current")), "new\n");
}

/// Starts `logger` with a slow processor, rotates, and SIGKILLs it (and the processor) while
/// the processor runs: a half-rotated logdir.
fn half_rotated(logger: Logger, cwd: &Path) {
    let (input, mut writer) = pipe();
    let mut started = Started::default();
    let pid = start(&mut started, logger, cwd, &input, &["?cat; exec sleep 30", "./d"]);
    let dir = cwd.join("d");
    writer.write_all(b"before the rotation\n").unwrap();
    wait_contains(&dir.join("current"), "before the rotation");
    signal(pid, Signal::SIGALRM);
    wait_until("the processor to have copied previous", DEADLINE, || {
        std::fs::read(dir.join("processed")).is_ok_and(|p| !p.is_empty())
    });
    let processor: Vec<i32> = children_of(pid).into_iter().map(|(child, _)| child).collect();
    assert!(!processor.is_empty(), "the processor runs");
    signal(pid, Signal::SIGKILL);
    for child in processor {
        let _ = kill(Pid::from_raw(child), Signal::SIGKILL);
    }
    started.wait(pid, DEADLINE);
    assert!(dir.join("previous").exists() && dir.join("processed").exists());
    assert_eq!(mode(&dir.join("processed")) & 0o100, 0, "processed is not complete");
}

#[test]
fn ostler_adopts_logdirs_left_by_s6_log() {
    let tree = TempTree::new("adopt-s6");
    // A clean exit: appended to.
    let clean = tree.dir("clean");
    run_logger(Logger::S6, &clean, &["./d"], b"from s6\n");
    let (code, _, _) = run_logger(Logger::Ostler, &clean, &["./d"], b"from ostler\n");
    assert_eq!(code, 0);
    assert_eq!(text(&clean.join("d/current")), "from s6\nfrom ostler\n");
    assert!(archives(&clean.join("d")).is_empty());

    // Killed while its processor ran.
    let killed = tree.dir("killed");
    half_rotated(Logger::S6, &killed);
    let (code, _, err) = run_logger(Logger::Ostler, &killed, &["./d"], b"after\n");
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    let dir = killed.join("d");
    let contents: Vec<String> = archives(&dir).iter().map(|a| text(a)).collect();
    assert_eq!(contents, ["before the rotation\n", ""], "previous and the empty current, as .u");
    assert!(archives(&dir).iter().all(|a| a.to_string_lossy().ends_with(".u")));
    assert!(!dir.join("previous").exists() && !dir.join("processed").exists());
    assert_eq!(text(&dir.join("current")), "after\n");
}

#[test]
fn s6_log_adopts_logdirs_left_by_ostler() {
    let tree = TempTree::new("adopt-ostler");
    let clean = tree.dir("clean");
    run_logger(Logger::Ostler, &clean, &["./d"], b"from ostler\n");
    let (code, _, _) = run_logger(Logger::S6, &clean, &["./d"], b"from s6\n");
    assert_eq!(code, 0);
    assert_eq!(text(&clean.join("d/current")), "from ostler\nfrom s6\n");

    let killed = tree.dir("killed");
    half_rotated(Logger::Ostler, &killed);
    let (mut code, _, mut err) = run_logger(Logger::S6, &killed, &["./d"], b"after\n");
    if code == 111 && String::from_utf8_lossy(&err).contains("unable to finish current .u for logdir ./d: File exists")
    {
        // s6-log 2.11 gives previous and current the same archive name and stops; its next
        // start goes on (it is s6-log's bug: ostler's own salvage names them apart).
        (code, _, err) = run_logger(Logger::S6, &killed, &["./d"], b"after\n");
    }
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    let dir = killed.join("d");
    let contents: Vec<String> = archives(&dir).iter().map(|a| text(a)).collect();
    assert_eq!(contents, ["before the rotation\n", ""]);
    assert_eq!(text(&dir.join("current")), "after\n");

    // And back: ostler takes the directory over again, journal and all.
    let (code, _, _) = run_logger(Logger::Ostler, &killed, &["./d"], b"ostler again\n");
    assert_eq!(code, 0);
    assert_eq!(text(&dir.join("current")), "after\nostler again\n");
}

// ---------------------------------------------------------------------------------------
// The same bytes as s6-log.

#[test]
fn same_files_and_alerts_as_s6_log() {
    let lines: Vec<u8> =
        (0..3000).flat_map(|i| format!("line {i} {}\n", if i % 3 == 0 { "foo" } else { "bar" }).into_bytes()).collect();
    same_as_s6(&["./d"], &lines);
    same_as_s6(&["-foo", "./d"], &lines);
    same_as_s6(&["--", "-foo", "./d", "+foo", "-bar", "./e", "f", "1"], &lines);
    same_as_s6(&["--", "-.*", "+^line 1", "+7 bar$", "1", "f", "2"], &lines);
    same_as_s6(&["pPRE", "./d", "p", "2", "E5", "2", "=st", "^0", "=st2", "^10", "=st3", "E0", "2"], &lines);
    same_as_s6(&["p", "pa b c", "./d", "1", "^3", "=st"], whole_lines(&lines, 500));
    same_as_s6(&["n3", "s4096", "./d", "./e"], whole_lines(&lines, 2000));
    same_as_s6(&["+a{2}b", "-^x", "1"], b"aab\nxaab\nab\na+b\n\n");
    same_as_s6(&["s5000", "l1000", "n100", "./d"], &lines);
}

#[test]
fn same_archives_as_s6_log_when_rotated_by_sigalrm() {
    let tree = TempTree::new("same-rotation");
    let mut started = Started::default();
    let mut feeds = Vec::new();
    let script = ["?sed s/^/p:/", "./p", "?", "n2", "./plain", "=st"];
    for (logger, name) in [(Logger::S6, "s6"), (Logger::Ostler, "ours")] {
        let cwd = tree.dir(name);
        let (input, writer) = pipe();
        let pid = start(&mut started, logger, &cwd, &input, &script);
        feeds.push((cwd, writer, pid));
    }
    for round in 0..4 {
        for (cwd, writer, pid) in &mut feeds {
            let plain = cwd.join("plain");
            writer.write_all(format!("round {round} a\n").as_bytes()).unwrap();
            rotate_with(&plain, writer, *pid, &format!("round {round} b"), (round + 1).min(2));
            wait_until("the processed archive", DEADLINE, || archives(&cwd.join("p")).len() == round + 1);
        }
    }
    let snapshots: Vec<_> = feeds
        .into_iter()
        .map(|(cwd, writer, pid)| {
            drop(writer);
            let _ = pid;
            cwd
        })
        .collect();
    for (cwd, name) in snapshots.iter().zip(["s6", "ours"]) {
        wait_until(&format!("{name} to exit"), DEADLINE, || {
            std::fs::metadata(cwd.join("plain/current")).is_ok_and(|m| m.permissions().mode() & 0o100 != 0)
        });
    }
    assert_eq!(snapshot(&snapshots[1]), snapshot(&snapshots[0]));
}

#[test]
fn long_lines_are_cut_as_s6_log_cuts_them() {
    let mut input = Vec::new();
    for length in [0, 1, 47, 48, 49, 95, 96, 97, 100, 8191, 8192, 8193, 20000, 300000] {
        input.extend(vec![b'a' + (length % 26) as u8; length]);
        input.push(b'\n');
    }
    same_as_s6(&["./d"], &input);
    same_as_s6(&["-l", "48", "--", "-^a", "./d", "f", "1"], &input);
    same_as_s6(&["-l", "0", "./d"], &input);
    same_as_s6(&["-l", "47", "./d"], whole_lines(&input, 2000));
}

#[test]
fn binary_input_and_nul_bytes_as_s6_log() {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut input: Vec<u8> = (0..200_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    input.extend_from_slice(b"a\0b\n\0\n\xff\xfe\n");
    same_as_s6(&["./d", "1"], &input);
    same_as_s6(&["-l", "100", "--", "-\x01", "./d", "+[[:cntrl:]]", "2"], &input);
}

// ---------------------------------------------------------------------------------------
// Stamps, readiness, locks, bad scripts, signals.

#[test]
fn t_and_t_capital_stamps_parse() {
    let tree = TempTree::new("stamps");
    let cwd = tree.dir("run");
    let before = std::time::SystemTime::now();
    let mut child = Command::new(ostler())
        .args(["log", "t", "./a", "T", "./b", "T", "t", "pP", "1"])
        .current_dir(&cwd)
        .env("TZ", "UTC")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let output = child.wait_with_output().unwrap();
    let after = std::time::SystemTime::now();
    let unix = |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let a = text(&cwd.join("a/current"));
    let label = &a[..25];
    let tain = ostler_core::Tain::parse_text(label).unwrap_or_else(|| panic!("{a:?}"));
    let stamped = unix(tain.to_system());
    assert!(unix(before) <= stamped && stamped <= unix(after), "{a:?}");
    assert_eq!(&a[25..], " hello\n");
    let b = text(&cwd.join("b/current"));
    let local = local_utc(unix(tain.to_system()) as i64);
    assert_eq!(&b[..20], format!("{local}."), "{b:?}");
    assert!(b[20..29].bytes().all(|c| c.is_ascii_digit()), "{b:?}");
    assert_eq!(&b[29..], "  hello\n");
    let out = String::from_utf8(output.stdout).unwrap();
    assert_eq!(out, format!("{label} {}P hello\n", &b[..31]), "t, then T, then the prefix");
}

/// `YYYY-MM-DD HH:MM:SS` of a Unix second in UTC (civil-from-days).
fn local_utc(unix: i64) -> String {
    let days = unix.div_euclid(86400);
    let secs = unix.rem_euclid(86400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

#[test]
fn readiness_is_a_newline_once_the_logdirs_are_open() {
    let tree = TempTree::new("ready");
    let cwd = tree.dir("run");
    let fifo = tree.join("ready");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let (input, _writer) = pipe();
    let mut started = Started::default();
    // The shell puts the FIFO on fd 3, then becomes the logger.
    let mut command = Command::new("/bin/sh");
    command
        .args(["-c", "exec \"$0\" log -d 3 ./d 3>\"$1\""])
        .arg(ostler())
        .arg(&fifo)
        .current_dir(&cwd)
        .stdin(input.try_clone().unwrap());
    let pid = started.add(command.spawn().unwrap());
    let mut got = Vec::new();
    std::fs::File::open(&fifo).unwrap().read_to_end(&mut got).unwrap();
    assert_eq!(got, b"\n", "one newline, then the descriptor is closed");
    assert!(cwd.join("d/current").exists() && cwd.join("d/lock").exists());
    assert!(started.child(pid).try_wait().unwrap().is_none(), "still logging");
    let (code, _, err) = run_logger(Logger::Ostler, &cwd, &["-d", "7", "./e"], b"");
    assert_eq!(code, 100, "a closed -d descriptor is a usage error");
    assert!(String::from_utf8_lossy(&err).contains("-d 7: file descriptor 7 is not open"));
}

#[test]
fn a_locked_logdir_exits_111() {
    let tree = TempTree::new("locked");
    let cwd = tree.dir("run");
    let (input, _writer) = pipe();
    let mut started = Started::default();
    start(&mut started, Logger::Ostler, &cwd, &input, &["./d"]);
    wait_until("the first logger's lock", DEADLINE, || {
        ostler_core::lock::path_is_locked(&cwd.join("d/lock")).unwrap_or(false)
    });
    let (code, _, err) = run_logger(Logger::Ostler, &cwd, &["./d"], b"x\n");
    let err = String::from_utf8_lossy(&err);
    assert_eq!(code, 111, "{err}");
    assert!(err.contains("ostler log: fatal: unable to lock ./d/lock: another logger holds it"), "{err}");
    // s6-log sees ostler's lock too.
    let (code, _, _) = run_logger(Logger::S6, &cwd, &["./d"], b"x\n");
    assert_eq!(code, 111);
}

#[test]
fn bad_scripts_exit_100_naming_the_directive() {
    let tree = TempTree::new("bad");
    let cwd = tree.dir("run");
    for (script, wanted) in [
        (&["x3", "./d"][..], "unrecognized directive \"x3\": see ostler log --help"),
        (&["nabc", "./d"], "directive \"nabc\": n takes the number of archives to keep, such as n20"),
        (&["s4096", "l2049", "./d"], "directive \"l2049\""),
        (&["tt", "./d"], "directive \"tt\": t stands alone"),
        (&["--", "-(", "./d"], "directive \"-(\": bad regular expression"),
        (&["=", "./d"], "directive \"=\": = needs a file name"),
        (&["n3"], "no action directive"),
        (&["./d", "./d/"], "same directory as logdir ./d"),
    ] {
        let (code, _, err) = run_logger(Logger::Ostler, &cwd, script, b"");
        let err = String::from_utf8_lossy(&err);
        assert_eq!(code, 100, "{script:?}: {err}");
        assert!(err.starts_with("ostler log: fatal: ") && err.contains(wanted), "{script:?}: {err}");
    }
    let (code, _, _) = run_logger(Logger::Ostler, &cwd, &[], b"");
    assert_eq!(code, 100, "no script is a usage error");
}

#[test]
fn sigterm_and_sighup_stop_after_the_current_line_and_p_protects() {
    let tree = TempTree::new("signals");
    let cwd = tree.dir("run");
    let mut started = Started::default();
    for (sig, protect) in [(Signal::SIGTERM, false), (Signal::SIGHUP, false), (Signal::SIGHUP, true)] {
        let (input, mut writer) = pipe();
        let args: &[&str] = if protect { &["-p", "./d"] } else { &["./d"] };
        let pid = start(&mut started, Logger::Ostler, &cwd, &input, args);
        writer.write_all(b"whole\nhalf").unwrap();
        wait_contains(&cwd.join("d/current"), "whole");
        signal(pid, sig);
        // Not before the half line is whole.
        assert!(started.child(pid).try_wait().unwrap().is_none());
        writer.write_all(b" line\nnot read\n").unwrap();
        let status = started.wait(pid, DEADLINE);
        assert!(status.success(), "{sig:?}: {status:?}");
        assert!(
            text(&cwd.join("d/current")).ends_with("whole\nhalf line\nnot read\n")
                || text(&cwd.join("d/current")).ends_with("whole\nhalf line\n")
        );
        std::fs::remove_dir_all(cwd.join("d")).unwrap();
    }
    // -p: SIGTERM is ignored.
    let (input, mut writer) = pipe();
    let pid = start(&mut started, Logger::Ostler, &cwd, &input, &["-p", "./d"]);
    writer.write_all(b"one\n").unwrap();
    wait_contains(&cwd.join("d/current"), "one");
    signal(pid, Signal::SIGTERM);
    writer.write_all(b"two\n").unwrap();
    wait_contains(&cwd.join("d/current"), "two");
    assert!(started.child(pid).try_wait().unwrap().is_none(), "-p: still running after SIGTERM");
    drop(writer);
    drop(input);
    assert!(started.wait(pid, DEADLINE).success());
}

// ---------------------------------------------------------------------------------------
// ostler logs and ostler tai64nlocal.

fn label(unix: u64, nanos: u32) -> String {
    format!("@{:016x}{nanos:08x}", (1u64 << 62) + unix + 37)
}

fn logs(args: &[&str]) -> (i32, String, String) {
    cmd(Command::new(ostler()).arg("logs").args(args).env("TZ", "UTC"))
}

#[test]
fn logs_shows_archives_then_current_in_local_time() {
    let tree = TempTree::new("logs");
    let dir = tree.dir("var/log/svc");
    std::fs::write(dir.join(format!("{}.s", label(1_700_000_100, 0))), format!("{} second\n", label(1_700_000_050, 5)))
        .unwrap();
    std::fs::write(
        dir.join(format!("{}.u", label(1_700_000_000, 0))),
        format!("{} first\nplain\n", label(1_700_000_000, 1)),
    )
    .unwrap();
    std::fs::write(
        dir.join("current"),
        format!("{} third\n{} fourth\n", label(1_700_000_200, 0), label(1_700_000_300, 0)),
    )
    .unwrap();
    std::fs::write(dir.join("state"), "not a log\n").unwrap();
    std::fs::write(dir.join("ostler-input"), "not a log either\n").unwrap();
    let all = "2023-11-14 22:13:20.000000001 first\nplain\n2023-11-14 22:14:10.000000005 second\n\
               2023-11-14 22:16:40.000000000 third\n2023-11-14 22:18:20.000000000 fourth\n";
    let root = tree.join("var/log");
    assert_eq!(logs(&["svc", "--dir", root.to_str().unwrap()]), (0, all.to_string(), String::new()));
    assert_eq!(logs(&[dir.to_str().unwrap()]).1, all, "a NAME with a / is a path");
    let (code, out, _) = logs(&[dir.to_str().unwrap(), "-n", "3"]);
    assert_eq!((code, out.as_str()), (0, "2023-11-14 22:14:10.000000005 second\n2023-11-14 22:16:40.000000000 third\n2023-11-14 22:18:20.000000000 fourth\n"));
    let (_, out, _) = logs(&[dir.to_str().unwrap(), "-n", "1"]);
    assert_eq!(out, "2023-11-14 22:18:20.000000000 fourth\n");
    let (_, out, _) = logs(&[dir.to_str().unwrap(), "--since", "2023-11-14 22:16:00"]);
    assert_eq!(out, "2023-11-14 22:16:40.000000000 third\n2023-11-14 22:18:20.000000000 fourth\n");
    let (_, out, _) = logs(&[dir.to_str().unwrap(), "--since", &label(1_700_000_250, 0)]);
    assert_eq!(out, "2023-11-14 22:18:20.000000000 fourth\n");
    let (code, _, err) = logs(&[dir.to_str().unwrap(), "--since", "yesterday"]);
    assert_eq!(code, 100);
    assert!(err.contains("--since \"yesterday\""), "{err}");
    let (code, _, err) = logs(&[tree.join("nothing").to_str().unwrap()]);
    assert_eq!(code, 111);
    assert!(err.contains("ostler logs: fatal: unable to read the log directory"), "{err}");
}

#[test]
fn logs_follows_current_across_a_rotation() {
    let tree = TempTree::new("logs-follow");
    let cwd = tree.dir("run");
    let (input, mut writer) = pipe();
    let mut started = Started::default();
    let logger = start(&mut started, Logger::Ostler, &cwd, &input, &["./d"]);
    let dir = cwd.join("d");
    writer.write_all(b"old 1\nold 2\n").unwrap();
    wait_contains(&dir.join("current"), "old 2");
    let mut follower =
        Command::new(ostler()).args(["logs", "-f", "-n", "1"]).arg(&dir).stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(follower.stdout.take().unwrap()).lines();
    let follower = started.add(follower);
    assert_eq!(lines.next().unwrap().unwrap(), "old 2");
    writer.write_all(b"before\n").unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "before");
    signal(logger, Signal::SIGALRM);
    wait_until("the rotation", DEADLINE, || archives(&dir).len() == 1);
    writer.write_all(b"after 1\nafter 2\n").unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "after 1");
    assert_eq!(lines.next().unwrap().unwrap(), "after 2");
    signal(logger, Signal::SIGALRM);
    wait_until("the second rotation", DEADLINE, || archives(&dir).len() == 2);
    writer.write_all(b"later\n").unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "later");
    assert!(started.child(follower).try_wait().unwrap().is_none());
}

#[test]
fn tai64nlocal_prints_what_s6_tai64nlocal_prints() {
    let s6 = require("s6-tai64nlocal");
    let mut input = Vec::new();
    for unix in
        [0u64, 1, 315_360_000, 1_230_767_999, 1_230_768_000, 1_483_228_799, 1_483_228_800, 1_700_000_000, 4_000_000_000]
    {
        for offset in [10u64, 33, 34, 36, 37] {
            input.extend(
                format!("@{:016x}{:08x} u={unix} off={offset}\n", (1u64 << 62) + unix + offset, 123_456_789)
                    .into_bytes(),
            );
        }
    }
    for line in [
        "@400000006B04C7CA2E2800A8 upper case",
        "x@400000006b04c7ca2e2800a8 not at the start",
        "@400000006b04c7ca2e2800a",
        "@400000006b04c7ca2e2800a8@400000006b04c7ca2e2800a8 two",
        "@3fffffffffffffff00000000 below 2^62",
        "@400000000000000900000000 before 1970",
        "@400fffffffffffff00000000 far",
        "@ffffffffffffffffffffffff max",
        "@400000006b04c7ca3b9aca00 a billion nanoseconds",
        "@400000006b04c7caffffffff",
        "",
        "plain",
    ] {
        input.extend(line.as_bytes());
        input.push(b'\n');
    }
    input.extend(b"@400000006b04c7ca2e2800a8\0nul\n\0@400000006b04c7ca2e2800a8\n");
    input.extend(vec![b'y'; 70_000]);
    input.extend(b"\n@400000006b04c7ca2e2800a8 no newline at the end");
    for tz in ["UTC", "Europe/Paris", "America/New_York"] {
        let run = |program: &Path, args: &[&str]| {
            let mut child = Command::new(program)
                .args(args)
                .env("TZ", tz)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let data = input.clone();
            let feeder = std::thread::spawn(move || stdin.write_all(&data).unwrap());
            let out = child.wait_with_output().unwrap();
            feeder.join().unwrap();
            assert!(out.status.success());
            out.stdout
        };
        let theirs = run(&s6, &[]);
        let ours = run(&ostler(), &["tai64nlocal"]);
        assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs), "TZ={tz}");
        assert_eq!(ours, theirs, "TZ={tz}");
    }
    // The s6 name selects it too.
    let tree = TempTree::new("alias");
    let link = tree.join("s6-tai64nlocal");
    std::os::unix::fs::symlink(ostler(), &link).unwrap();
    let mut child = Command::new(&link).env("TZ", "UTC").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"@400000000000000a00000000 x\n").unwrap();
    assert_eq!(child.wait_with_output().unwrap().stdout, b"1970-01-01 00:00:00.000000000 x\n");
}

#[test]
fn the_s6_log_name_runs_the_logger() {
    let tree = TempTree::new("alias-log");
    let link = tree.join("s6-log");
    std::os::unix::fs::symlink(ostler(), &link).unwrap();
    let (code, out, _) = cmd(Command::new(&link).args(["-l", "0", "1"]));
    assert_eq!((code, out.as_str()), (0, ""), "an empty input, a clean exit");
    let mut child =
        Command::new(&link).args(["--", "-b", "1"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"a\nb\n").unwrap();
    assert_eq!(child.wait_with_output().unwrap().stdout, b"a\n");
}

#[test]
fn an_unterminated_last_line_is_kept() {
    // s6-log 2.11 drops it at the end of the input; ostler writes it, with a newline.
    let tree = TempTree::new("unterminated");
    let cwd = tree.dir("run");
    let (code, out, _) = run_logger(Logger::Ostler, &cwd, &["./d", "1"], b"one\ntwo");
    assert_eq!(code, 0);
    assert_eq!(out, b"one\ntwo\n");
    assert_eq!(text(&cwd.join("d/current")), "one\ntwo\n");
}
