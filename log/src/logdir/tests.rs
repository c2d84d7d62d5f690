//! The logdir's steps on real directories: the startup salvage in each state a kill can
//! leave, rotation, processors, trimming, cutting back after a kill.

use super::*;
use crate::script::{LogdirSpec, Processor, ProcessorKind, Rotation};
use std::os::unix::fs::PermissionsExt;

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("ostler-logdir-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        Dir(path)
    }

    fn file(&self, name: &str, contents: &str, mode: u32) {
        std::fs::create_dir_all(&self.0).unwrap();
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        std::fs::set_permissions(&path, Permissions::from_mode(mode)).unwrap();
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.0.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn exists(&self, name: &str) -> bool {
        self.0.join(name).exists()
    }

    fn mode(&self, name: &str) -> u32 {
        std::fs::metadata(self.0.join(name)).unwrap().mode() & 0o777
    }

    /// Archives, oldest first, with their contents.
    fn archives(&self) -> Vec<(String, String)> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| is_archive_name(n.as_bytes()))
            .collect();
        names.sort();
        names.into_iter().map(|n| (n[26..].to_string(), self.read(&n))).collect()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn open(dir: &Dir, rotation: Rotation, processor: Option<Processor>) -> Logdir {
    let spec = LogdirSpec { path: dir.0.clone(), rotation, processor };
    let mut logdir = Logdir::lock(spec, Verbosity::Quiet).unwrap();
    logdir.start().unwrap();
    logdir
}

fn small(keep: u32) -> Rotation {
    Rotation { keep, size: 4096, total: 0, tolerance: 0, retry_ms: 10 }
}

fn write(logdir: &mut Logdir, text: &str) {
    logdir.push(text.as_bytes());
    assert!(logdir.flush(Instant::now()));
}

/// Takes rotation steps until the rotation is over (waiting for a processor if need be).
fn rotate(logdir: &mut Logdir) {
    logdir.want_rotation();
    logdir.begin_rotation();
    let end = Instant::now() + Duration::from_secs(10);
    while !logdir.phase.is_idle() {
        assert!(Instant::now() < end, "rotation did not end: {:?}", logdir.phase);
        logdir.advance(Instant::now());
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_new_logdir_gets_lock_state_and_current() {
    let dir = Dir::new("new");
    let logdir = open(&dir, Rotation::default(), None);
    assert!(dir.exists("lock") && dir.exists("state") && dir.exists("current"));
    assert_eq!(dir.mode("current") & DONE_BIT, 0, "in use: not complete");
    assert_eq!(std::fs::metadata(&dir.0).unwrap().mode() & 0o777, 0o700);
    drop(logdir);
}

#[test]
fn a_clean_current_is_appended_to_and_state_kept() {
    let dir = Dir::new("clean");
    dir.file("current", "old\n", 0o744);
    dir.file("state", "st", 0o644);
    let mut logdir = open(&dir, Rotation::default(), None);
    write(&mut logdir, "new\n");
    logdir.finish().unwrap();
    assert_eq!(dir.read("current"), "old\nnew\n");
    assert_eq!(dir.read("state"), "st");
    assert_eq!(dir.mode("current") & DONE_BIT, DONE_BIT);
    assert!(dir.archives().is_empty());
}

#[test]
fn an_unclean_current_and_previous_become_unfinished_archives() {
    let dir = Dir::new("unclean");
    dir.file("current", "cur\n", 0o644);
    dir.file("previous", "prev\n", 0o744);
    dir.file("processed", "half", 0o644);
    dir.file("state", "st", 0o644);
    dir.file("newstate", "ns", 0o644);
    let _logdir = open(&dir, Rotation::default(), None);
    let archives = dir.archives();
    assert_eq!(archives, vec![("u".into(), "prev\n".into()), ("u".into(), "cur\n".into())]);
    assert!(!dir.exists("processed") && !dir.exists("previous") && !dir.exists("newstate"));
    assert_eq!(dir.read("state"), "");
    assert_eq!(dir.read("current"), "");
}

#[test]
fn a_finished_processed_wins_over_previous() {
    let dir = Dir::new("processed");
    dir.file("previous", "raw\n", 0o744);
    dir.file("processed", "cooked\n", 0o744);
    let _logdir = open(&dir, Rotation::default(), None);
    assert_eq!(dir.archives(), vec![("s".into(), "cooked\n".into())]);
    assert!(!dir.exists("previous"));
}

#[test]
fn a_file_already_linked_as_an_archive_is_not_archived_twice() {
    let dir = Dir::new("linked");
    dir.file("previous", "prev\n", 0o744);
    std::fs::hard_link(dir.0.join("previous"), dir.0.join("@400000006b04c7ca2e2800a8.s")).unwrap();
    let _logdir = open(&dir, Rotation::default(), None);
    assert_eq!(dir.archives(), vec![("s".into(), "prev\n".into())]);
}

#[test]
fn an_empty_unclean_current_is_archived_too() {
    let dir = Dir::new("empty");
    dir.file("current", "", 0o644);
    let _logdir = open(&dir, Rotation::default(), None);
    assert_eq!(dir.archives(), vec![("u".into(), String::new())]);
}

#[test]
fn rotation_archives_and_trims_to_n() {
    let dir = Dir::new("rotate");
    let mut logdir = open(&dir, small(2), None);
    for round in 0..4 {
        write(&mut logdir, &format!("round {round}\n"));
        rotate(&mut logdir);
    }
    let archives = dir.archives();
    assert_eq!(archives, vec![("s".into(), "round 2\n".into()), ("s".into(), "round 3\n".into())]);
    assert_eq!(dir.read("current"), "");
    assert!(!dir.exists("previous"));
    assert_eq!(dir.mode("current") & DONE_BIT, 0);
}

#[test]
fn trimming_by_total_size() {
    let dir = Dir::new("total");
    let mut logdir = open(&dir, Rotation { total: 25, ..small(100) }, None);
    for round in 0..5 {
        write(&mut logdir, &format!("{round}: ten b\n"));
        rotate(&mut logdir);
    }
    // Each archive is 10 bytes: 25 bytes hold two.
    assert_eq!(dir.archives().len(), 2);
    assert_eq!(dir.archives()[1].1, "4: ten b\n");
}

#[test]
fn the_size_threshold_asks_for_rotation() {
    let dir = Dir::new("threshold");
    let mut logdir = open(&dir, Rotation { tolerance: 96, ..small(10) }, None);
    let line = "x".repeat(999) + "\n";
    for _ in 0..3 {
        assert!(!logdir.push(line.as_bytes()));
    }
    assert!(logdir.push(line.as_bytes()), "4000 >= 4096 - 96");
    assert!(logdir.flush(Instant::now()));
    logdir.begin_rotation();
    let end = Instant::now() + Duration::from_secs(5);
    while !logdir.phase.is_idle() {
        assert!(Instant::now() < end);
        logdir.advance(Instant::now());
    }
    assert_eq!(dir.archives()[0].1.len(), 4000);
}

#[test]
fn a_processor_output_replaces_the_archive_and_its_state_is_kept() {
    let dir = Dir::new("processor");
    let processor = Processor { kind: ProcessorKind::Shell, command: "tr a-z A-Z; cat <&4 >&5; echo more >&5".into() };
    let mut logdir = open(&dir, small(10), Some(processor));
    write(&mut logdir, "hello\n");
    rotate(&mut logdir);
    write(&mut logdir, "again\n");
    rotate(&mut logdir);
    let archives = dir.archives();
    assert_eq!(archives, vec![("s".into(), "HELLO\n".into()), ("s".into(), "AGAIN\n".into())]);
    assert_eq!(dir.read("state"), "more\nmore\n");
    assert!(!dir.exists("previous") && !dir.exists("processed") && !dir.exists("newstate"));
}

#[test]
fn a_failing_processor_is_retried() {
    let dir = Dir::new("retry");
    let marker = dir.0.join("tried");
    let processor = Processor {
        kind: ProcessorKind::Shell,
        // Fails the first time, succeeds the second.
        command: format!("if [ -e {m} ]; then cat; else touch {m}; exit 1; fi", m = marker.display()).into(),
    };
    let mut logdir = open(&dir, small(10), Some(processor));
    write(&mut logdir, "line\n");
    let started = Instant::now();
    rotate(&mut logdir);
    assert!(started.elapsed() >= Duration::from_millis(10), "the retry waited r");
    assert_eq!(dir.archives(), vec![("s".into(), "line\n".into())]);
}

#[test]
fn cut_back_drops_what_the_journal_did_not_commit() {
    let dir = Dir::new("cut");
    let mut logdir = open(&dir, Rotation::default(), None);
    write(&mut logdir, "committed\n");
    let mark = logdir.mark();
    write(&mut logdir, "not committed\n");
    drop(logdir);
    let spec = LogdirSpec { path: dir.0.clone(), rotation: Rotation::default(), processor: None };
    let logdir = Logdir::lock(spec, Verbosity::Quiet).unwrap();
    logdir.cut_back(&[mark]).unwrap();
    assert_eq!(dir.read("current"), "committed\n");
    // Another file's mark leaves it alone.
    logdir.cut_back(&[journal::Mark { ino: mark.ino + 1, size: 0, ..mark }]).unwrap();
    assert_eq!(dir.read("current"), "committed\n");
}
