//! What every crate's property tests share (issue 15): a hang detector, proptest's settings,
//! scratch directories. Included by path from each `<crate>/tests/properties.rs`
//! (`#[path = "../../tests/util/properties.rs"] mod common;`): a crate of its own for fifty
//! lines of test support would be more than they are worth.
#![allow(dead_code)]

use proptest::prelude::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A hang detector, not a speed target: every case is far below it.
pub const HANG: Duration = Duration::from_secs(2);

/// Runs `f` on another thread and fails if it does not return within [`HANG`] (a panic in it
/// fails too).
pub fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(f());
    });
    match receive.recv_timeout(HANG) {
        Ok(value) => value,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("no answer within {HANG:?}: a hang"),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("the parser panicked"),
    }
}

/// `cases` cases, and no regression files: the failing input is printed, and a fix adds a
/// plain test for it.
pub fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// A fresh directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(what: &str) -> TempDir {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let crate_name = env!("CARGO_PKG_NAME");
        let path = std::env::temp_dir().join(format!("{crate_name}-prop-{what}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Lines that are not entries: arbitrary text, huge numbers, NULs, control bytes, very long.
pub fn garbage_line() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,40}",
        "[0-9]{15,40}",
        Just("\0\0\0".to_string()),
        Just("-1".to_string()),
        Just("\u{feff}\u{7f}\x01".to_string()),
        (1usize..6000).prop_map(|n| "x".repeat(n)),
    ]
    .prop_map(|line| line.replace('\n', " "))
}

/// Up to `max - 1` lines, each a good entry (`Ok`) or a garbage line (`Err`), in any order:
/// what a parser that skips bad lines must read every good entry of.
pub fn mixed<T: std::fmt::Debug>(
    good: impl Strategy<Value = T>,
    max: usize,
) -> impl Strategy<Value = Vec<Result<T, String>>> {
    proptest::collection::vec(prop_oneof![good.prop_map(Ok), garbage_line().prop_map(Err)], 0..max)
}

/// Such lines as a file's text: each good entry as `line` writes it (newline included), each
/// garbage line with a newline.
pub fn text_of<T>(lines: &[Result<T, String>], line: impl Fn(&T) -> String) -> String {
    lines
        .iter()
        .map(|l| match l {
            Ok(entry) => line(entry),
            Err(garbage) => format!("{garbage}\n"),
        })
        .collect()
}
